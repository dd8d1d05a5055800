//! The `floe` command: parses arguments and configuration, then calls the library.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use floe_broker::admin;
use floe_broker::config::{Config, Flags, Sources};

#[global_allocator]
static ALLOCATOR: floe_broker::alloc::Allocator = floe_broker::alloc::Allocator;

#[derive(Debug, Parser)]
#[command(
    name = "floe",
    version,
    about = "A Kafka-compatible broker whose every byte lives in object storage"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// Built-in profile (local, minio, aws, alibaba, gcs, azure) or a profile file.
    #[arg(long, env = "FLOE_PROFILE")]
    profile: Option<String>,
    /// Configuration file (default: ./floe.toml if present).
    #[arg(long, env = "FLOE_CONFIG")]
    config: Option<PathBuf>,
    /// Kafka listener address (server.listen).
    #[arg(long)]
    listen: Option<String>,
    /// Metrics listener address (server.metrics_listen); "" disables it.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Broker id (server.node_id).
    #[arg(long)]
    node_id: Option<i32>,
    /// Directory (fs) or prefix (object stores) of Floe's data (storage.root).
    #[arg(long)]
    storage_root: Option<String>,
}

impl ConfigArgs {
    fn load(self) -> anyhow::Result<Config> {
        let sources = Sources {
            profile: self.profile,
            file: self.config,
            flags: Flags {
                listen: self.listen,
                metrics_listen: self.metrics_listen,
                node_id: self.node_id,
                storage_root: self.storage_root,
            },
        };
        Ok(Config::load(&sources)?)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Kafka protocol.
    Serve(ConfigArgs),
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage topics on a running broker (Floe or Kafka).
    Topics {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: admin::TopicsCommand,
    },
    /// Inspect and delete consumer groups on a running broker.
    Groups {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: admin::GroupsCommand,
    },
    /// Inspect and change topic configs on a running broker.
    Configs {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        command: admin::ConfigsCommand,
    },
}

#[derive(Debug, clap::Args)]
struct Target {
    /// The broker to talk to.
    #[arg(long, short = 'b', global = true, default_value = "127.0.0.1:9092", env = "FLOE_BOOTSTRAP")]
    bootstrap: String,
}

fn admin<F: Future<Output = floe_broker::Result<String>>>(run: F) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    print!("{}", runtime.block_on(run)?);
    Ok(())
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the merged configuration, secrets redacted.
    Show(ConfigArgs),
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Config { command: ConfigCommand::Show(args) } => {
            print!("{}", args.load()?.show()?);
            Ok(())
        }
        Command::Topics { target, command } => admin(admin::topics(&target.bootstrap, command)),
        Command::Groups { target, command } => admin(admin::groups(&target.bootstrap, command)),
        Command::Configs { target, command } => admin(admin::configs(&target.bootstrap, command)),
        Command::Serve(args) => {
            let config = args.load()?;
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&config.server.log)
                        .context("server.log is not a valid log filter")?,
                )
                .with_writer(std::io::stderr)
                .init();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            runtime.block_on(floe_broker::run(config, shutdown_signal()))?;
            Ok(())
        }
    }
}
