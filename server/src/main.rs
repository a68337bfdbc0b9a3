//! `realms`: the headless server. Parses the command line, loads the configuration, sets up
//! logging and runs `realms_core::serve` (or one of the maintenance subcommands).

mod admin;

/// jemalloc serves the relay's many small per-request allocations with less CPU than the system
/// allocator (measured with `bench/ab.sh`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use realms_core::{Config, build_info, store::Store, telemetry};
use serde_json::json;

#[derive(Parser)]
#[command(name = "realms", version = build_info::VERSION, long_version = build_info::LONG_VERSION, about)]
struct Cli {
    /// Config file (default: `realms.toml` in the working directory, if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Address to listen on (overrides `REALMS_ADDR`).
    #[arg(long, global = true)]
    addr: Option<String>,
    /// Data directory (overrides `REALMS_DATA_DIR`).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Log filter (overrides `REALMS_LOG`).
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit (a backup is taken first when upgrading).
    Migrate,
    /// Write a consistent copy of the database to FILE.
    Backup {
        /// Target file; must not exist.
        file: PathBuf,
    },
    /// Print the effective configuration with secrets redacted.
    Config,
    /// Print version, commit and build date.
    Version,
    /// User administration without the web console.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

fn overrides(cli: &Cli) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Some(addr) = &cli.addr {
        out.insert("addr".into(), json!(addr));
    }
    if let Some(dir) = &cli.data_dir {
        out.insert("data_dir".into(), json!(dir));
    }
    if let Some(log) = &cli.log {
        out.insert("log".into(), json!(log));
    }
    serde_json::Value::Object(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref(), &overrides(&cli))?;
    telemetry::init(&config.log, config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let path = config.resolved_sqlite_path()?;
            let (_, report) = Store::open(&path).await.context("opening the database")?;
            say(&format!(
                "{}: {} migration(s) applied",
                path.display(),
                report.applied.len()
            ));
            Ok(())
        }
        Command::Backup { file } => {
            let path = config.resolved_sqlite_path()?;
            let (store, _) = Store::open(&path).await.context("opening the database")?;
            store
                .backup(&file)
                .await
                .with_context(|| format!("writing {}", file.display()))?;
            say(&format!(
                "backed up {} to {}",
                path.display(),
                file.display()
            ));
            Ok(())
        }
        Command::Config => {
            say(&serde_json::to_string_pretty(&config.redacted())?);
            Ok(())
        }
        Command::Version => {
            say(&format!("realms {}", build_info::LONG_VERSION));
            Ok(())
        }
        Command::Admin(command) => admin::run(config, command).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.addr;
    let listener = realms_core::listen(addr, config.listen_backlog)
        .with_context(|| format!("binding {addr}"))?;
    realms_core::serve(config, listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

/// Writes a line for the operator on standard output.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}
