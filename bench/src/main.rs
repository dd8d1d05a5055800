//! The `floe-bench` binary: parses the command line and calls the library.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    floe_bench::cli::Cli::parse().run()
}
