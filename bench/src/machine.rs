//! The machine a run happened on, and a broker process's CPU time and peak memory, read
//! from /proc (Linux only, as the benchmark's brokers are).

use std::process::Command;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// What a reader needs to judge a result: where and when it was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `nproc`.
    pub cpus: usize,
    /// The CPU's model name, as `lscpu` shows it.
    pub cpu_model: String,
    /// Total memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// Operating system.
    pub os: String,
    /// The librdkafka the clients ran.
    pub librdkafka: String,
    /// UTC start of the run.
    pub started: String,
    /// Load averages (1, 5, 15 min) at the start: other work on the machine skews results.
    pub load: String,
}

fn first_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix(':').map(str::trim))
}

/// Standard output of a command, trimmed; empty when it cannot run.
pub fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

impl Machine {
    /// Describes this machine now.
    pub fn describe() -> Machine {
        let read = |path| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        let os_release = read("/etc/os-release");
        let mem_kib: f64 = first_value(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            cpu_model: first_value(&cpuinfo, "model name").unwrap_or("unknown").to_string(),
            memory_gib: mem_kib / (1024.0 * 1024.0),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            os: os_release
                .lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .unwrap_or("unknown")
                .trim_matches('"')
                .to_string(),
            librdkafka: rdkafka::util::get_rdkafka_version().1,
            started: command_output("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]),
            load: read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        }
    }
}

/// `nproc`, `lscpu`, `free -g` and `uname -a`, verbatim, for the results directory.
pub fn describe_verbatim() -> String {
    let commands: [(&str, &[&str]); 4] =
        [("nproc", &[]), ("lscpu", &[]), ("free", &["-g"]), ("uname", &["-a"])];
    commands
        .iter()
        .map(|(program, args)| format!("$ {program} {}\n{}\n", args.join(" "), command_output(program, args)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// CPU time and peak resident memory of a process so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessStats {
    /// User plus system CPU seconds.
    pub cpu_seconds: f64,
    /// Peak resident set (VmHWM), bytes.
    pub peak_rss_bytes: u64,
}

/// Parses utime + stime (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks). The
/// command name (field 2) may hold spaces and parentheses, so fields are counted from
/// the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // after_comm starts at field 3 (state): field n is at index n - 3
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn peak_rss_kib(status: &str) -> Option<u64> {
    first_value(status, "VmHWM")?.split_whitespace().next()?.parse().ok()
}

/// Reads a running process's stats.
pub fn process_stats(pid: u32) -> Result<ProcessStats> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("read /proc/<pid>/stat")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("read /proc/<pid>/status")?;
    let ticks_per_second: f64 = command_output("getconf", &["CLK_TCK"]).parse().unwrap_or(100.0);
    Ok(ProcessStats {
        cpu_seconds: cpu_ticks(&stat).context("parse /proc/<pid>/stat")? as f64 / ticks_per_second,
        peak_rss_bytes: peak_rss_kib(&status).context("parse VmHWM")? * 1024,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_survive_odd_command_names() {
        let stat =
            "4242 (floe (x) y) S 1 4242 4242 0 -1 4194560 5000 0 0 0 731 269 0 0 20 0 9 0 100 1000 500";
        assert_eq!(cpu_ticks(stat), Some(1000));
    }

    #[test]
    fn peak_rss_from_status() {
        let status = "Name:\tfloe\nVmPeak:\t  900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t 100000 kB\n";
        assert_eq!(peak_rss_kib(status), Some(123456));
    }

    #[test]
    fn this_process_has_stats() {
        let s = process_stats(std::process::id()).unwrap();
        assert!(s.peak_rss_bytes > 0);
    }
}
