//! The brokers under test and the stores under them, as child processes on loopback:
//! `floe serve` over fs, memory or S3; Tansu over S3 or memory; moto_server as the S3
//! store. Each is killed and its scratch directory removed when dropped.

use std::fmt;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::machine::{ProcessStats, command_output, process_stats};
use crate::metrics::{StoreCounts, access_log_counts, floe_store_counts, http_get};

/// The S3 bucket every S3 target uses (a fresh S3 server per target).
pub const BUCKET: &str = "floe-bench";

/// A broker and the store under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Floe over a local directory.
    FloeFs,
    /// Floe over its in-memory store.
    FloeMemory,
    /// Floe over S3 (moto_server on loopback).
    FloeS3,
    /// Tansu over S3 (moto_server on loopback).
    TansuS3,
    /// Tansu over its in-memory store.
    TansuMemory,
}

const NAMES: [(Target, &str); 5] = [
    (Target::FloeFs, "floe-fs"),
    (Target::FloeMemory, "floe-memory"),
    (Target::FloeS3, "floe-s3"),
    (Target::TansuS3, "tansu-s3"),
    (Target::TansuMemory, "tansu-memory"),
];

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = NAMES.iter().find(|(t, _)| t == self).map_or("?", |(_, n)| n);
        f.write_str(name)
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        NAMES.iter().find(|(_, n)| *n == s).map(|(t, _)| *t).ok_or_else(|| {
            let known: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
            format!("unknown target {s:?}; known: {}", known.join(", "))
        })
    }
}

impl Target {
    fn uses_s3(self) -> bool {
        matches!(self, Target::FloeS3 | Target::TansuS3)
    }

    /// Whether this is Floe (which counts its own store requests).
    pub fn is_floe(self) -> bool {
        matches!(self, Target::FloeFs | Target::FloeMemory | Target::FloeS3)
    }
}

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// The `floe` binary.
    pub floe: PathBuf,
    /// The `tansu` binary.
    pub tansu: PathBuf,
    /// The `moto_server` command.
    pub moto: PathBuf,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(20).collect();
            bail!("{what} exited with {status}:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{what}: nothing listening on port {port} after 60 s")
}

/// A child process with its log, killed on drop.
#[derive(Debug)]
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(mut command: Command, log: PathBuf, port: u16, what: &str) -> Result<Process> {
        let out = std::fs::File::create(&log)?;
        command.stdin(Stdio::null()).stdout(out.try_clone()?).stderr(out);
        let child = command.spawn().with_context(|| format!("start {what} ({:?})", command.get_program()))?;
        let mut process = Process { child, log };
        wait_for_port(port, &mut process.child, what, &process.log)?;
        Ok(process)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto_server speaking S3 on a loopback port, with the bench bucket.
#[derive(Debug)]
struct S3Server {
    process: Process,
    port: u16,
}

impl S3Server {
    fn start(program: &Path, dir: &Path) -> Result<S3Server> {
        let port = free_port()?;
        let mut command = Command::new(program);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        let process = Process::spawn(command, dir.join("moto.log"), port, "moto_server")?;
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        std::io::Write::write_all(
            &mut stream,
            format!("PUT /{BUCKET} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        )?;
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer)?;
        if !answer.starts_with("HTTP/1.0 200") && !answer.starts_with("HTTP/1.1 200") {
            bail!("create bucket: {}", answer.lines().next().unwrap_or_default());
        }
        Ok(S3Server { process, port })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A running broker under test.
#[derive(Debug)]
pub struct Running {
    /// Which target.
    pub target: Target,
    /// The broker's Kafka port on 127.0.0.1.
    pub port: u16,
    metrics_port: Option<u16>,
    // Field order is drop order: the broker stops before its store.
    broker: Process,
    s3: Option<S3Server>,
}

impl Running {
    /// Starts `target` in a fresh scratch directory under `scratch`.
    pub fn start(target: Target, programs: &Programs, scratch: &Path) -> Result<Running> {
        let dir = scratch.join(target.to_string());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let s3 = if target.uses_s3() { Some(S3Server::start(&programs.moto, &dir)?) } else { None };
        let port = free_port()?;
        let (command, metrics_port) = match target {
            Target::FloeFs | Target::FloeMemory | Target::FloeS3 => {
                let metrics_port = free_port()?;
                let mut c = Command::new(&programs.floe);
                c.arg("serve")
                    .current_dir(&dir)
                    .env("FLOE_SERVER__LISTEN", format!("127.0.0.1:{port}"))
                    .env("FLOE_SERVER__METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"))
                    .env("FLOE_SERVER__LOG", "warn");
                match (target, &s3) {
                    (Target::FloeFs, _) => {
                        c.env("FLOE_STORAGE__SCHEME", "fs").env("FLOE_STORAGE__ROOT", dir.join("bucket"));
                    }
                    (_, Some(s3)) => {
                        c.env("FLOE_STORAGE__SCHEME", "s3")
                            .env("FLOE_STORAGE__BUCKET", BUCKET)
                            .env("FLOE_STORAGE__ROOT", "/floe/")
                            .env("FLOE_STORAGE__ENDPOINT", s3.endpoint())
                            .env("FLOE_STORAGE__PATH_STYLE", "true")
                            .env("AWS_ACCESS_KEY_ID", "bench")
                            .env("AWS_SECRET_ACCESS_KEY", "bench");
                    }
                    _ => {
                        c.env("FLOE_STORAGE__SCHEME", "memory").env("FLOE_STORAGE__ROOT", "/");
                    }
                }
                (c, Some(metrics_port))
            }
            Target::TansuS3 | Target::TansuMemory => {
                let url = format!("tcp://127.0.0.1:{port}");
                let mut c = Command::new(&programs.tansu);
                c.arg("broker")
                    .args(["--listener-url", &url, "--advertised-listener-url", &url])
                    .current_dir(&dir)
                    .env("RUST_LOG", "warn");
                match &s3 {
                    // object_store's S3 settings, from the environment
                    Some(s3) => {
                        c.args(["--storage-engine", &format!("s3://{BUCKET}/")])
                            .env("AWS_ENDPOINT", s3.endpoint())
                            .env("AWS_ALLOW_HTTP", "true")
                            .env("AWS_ACCESS_KEY_ID", "bench")
                            .env("AWS_SECRET_ACCESS_KEY", "bench")
                            .env("AWS_DEFAULT_REGION", "us-east-1")
                            .env("AWS_REGION", "us-east-1");
                    }
                    None => {
                        c.args(["--storage-engine", "memory://tansu/"]);
                    }
                }
                (c, None)
            }
        };
        let broker = Process::spawn(command, dir.join("broker.log"), port, &target.to_string())?;
        Ok(Running { target, port, metrics_port, broker, s3 })
    }

    /// `host:port` for clients.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's CPU time and peak memory so far.
    pub fn stats(&self) -> Result<ProcessStats> {
        process_stats(self.broker.child.id())
    }

    /// Store requests so far, by the broker's own count (Floe only).
    pub fn own_store_counts(&self) -> Result<Option<StoreCounts>> {
        let Some(port) = self.metrics_port else { return Ok(None) };
        Ok(Some(floe_store_counts(&http_get(port, "/metrics")?)))
    }

    /// Store requests so far, by the S3 server's access log (S3 targets only).
    pub fn s3_server_counts(&self) -> Result<Option<StoreCounts>> {
        let Some(s3) = &self.s3 else { return Ok(None) };
        let log = std::fs::read_to_string(&s3.process.log).context("read moto_server's log")?;
        Ok(Some(access_log_counts(&log, BUCKET)))
    }

    /// The broker's version line, for the report.
    pub fn version(&self, programs: &Programs) -> String {
        let program = if self.target.is_floe() { &programs.floe } else { &programs.tansu };
        let out = command_output(&program.to_string_lossy(), &["--version"]);
        if out.is_empty() { "unknown".into() } else { out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_round_trip() {
        for (target, name) in NAMES {
            assert_eq!(target.to_string(), name);
            assert_eq!(name.parse::<Target>(), Ok(target));
        }
        assert!("kafka".parse::<Target>().unwrap_err().contains("floe-fs"));
    }
}
