//! The command line: `floe-bench run` (measure, then write the report) and
//! `floe-bench report` (redraw the report from a run's `results.json`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::cost::PriceBook;
use crate::machine::{Machine, describe_verbatim};
use crate::report;
use crate::results::RunResults;
use crate::run::run_target;
use crate::target::{Programs, Target};
use crate::workload::Workload;

/// Throughput, latency and cost of Floe beside a peer broker.
#[derive(Debug, Parser)]
#[command(name = "floe-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the workload against each target in turn, then writes the report.
    Run(Box<RunArgs>),
    /// Writes the Markdown report and PNG charts from a run's results.json.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Targets, in order: floe-fs, floe-memory, floe-s3, tansu-s3, tansu-memory.
    #[arg(long, value_delimiter = ',', default_value = "floe-fs,floe-memory,floe-s3,tansu-s3")]
    targets: Vec<Target>,
    #[command(flatten)]
    workload: Workload,
    /// The `floe` binary.
    #[arg(long, default_value = "target/release/floe")]
    floe: PathBuf,
    /// The `tansu` binary.
    #[arg(long, default_value = "tansu")]
    tansu: PathBuf,
    /// The S3 server.
    #[arg(long, default_value = "moto_server")]
    moto: PathBuf,
    /// Scratch space for brokers' data (each target's is removed when the next starts).
    #[arg(long, default_value = "/tmp/floe-bench")]
    scratch: PathBuf,
    #[command(flatten)]
    report: ReportArgs,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Directory for results.json, README.md and the charts.
    #[arg(long)]
    out: PathBuf,
    /// The price file of the cost model.
    #[arg(long, default_value = "bench/prices.toml")]
    prices: PathBuf,
    /// A TrueType font for the charts' text.
    #[arg(long, default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    font: PathBuf,
}

impl ReportArgs {
    fn write(&self, results: &RunResults) -> Result<()> {
        let text = std::fs::read_to_string(&self.prices)
            .with_context(|| format!("read {}", self.prices.display()))?;
        let prices = PriceBook::parse(&text).with_context(|| format!("parse {}", self.prices.display()))?;
        report::write(results, &prices, &self.out, &self.font)?;
        eprintln!("report: {}", self.out.join("README.md").display());
        Ok(())
    }
}

/// A program given as a path is made absolute, as brokers start in their own directory;
/// a bare name is left for PATH.
fn resolve(program: PathBuf) -> PathBuf {
    if program.components().count() > 1 { std::path::absolute(&program).unwrap_or(program) } else { program }
}

impl Cli {
    /// Does what the command line says.
    pub fn run(self) -> Result<()> {
        match self.command {
            Command::Run(args) => {
                let command = std::env::args().collect::<Vec<_>>().join(" ");
                let args = *args;
                let programs = Programs {
                    floe: resolve(args.floe),
                    tansu: resolve(args.tansu),
                    moto: resolve(args.moto),
                };
                let machine = Machine::describe();
                std::fs::create_dir_all(&args.report.out)?;
                std::fs::write(args.report.out.join("machine.txt"), describe_verbatim())?;
                let mut results =
                    RunResults { command, machine, workload: args.workload, targets: Vec::new() };
                for target in args.targets {
                    eprintln!("{target}: running");
                    let result = run_target(target, &results.workload, &programs, &args.scratch)?;
                    eprintln!(
                        "{target}: produced {:.2} GiB in {:.1} s, consumed {} records, caught up {} records in {:.1} s",
                        result.produced_gib(),
                        result.tail.produce_secs,
                        result.tail.consumed_records,
                        result.catch_up.consumed_records,
                        result.catch_up.consume_secs
                    );
                    results.targets.push(result);
                    // after every target, so an interrupted run keeps what it measured
                    results.save(&args.report.out.join("results.json"))?;
                }
                std::fs::remove_dir_all(&args.scratch).ok();
                args.report.write(&results)
            }
            Command::Report(args) => args.write(&RunResults::load(&args.out.join("results.json"))?),
        }
    }
}
