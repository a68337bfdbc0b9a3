//! `fake-upstream` binary: serves the built-in answers on a fixed address for manual testing,
//! the client and browser tests, and the benchmark (recording off unless `--record`).

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use fake_upstream::FakeUpstream;

/// Scripted fake of the OpenAI, Anthropic, Gemini and Codex upstreams.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free one; the log says which).
    #[arg(long, env = "FAKE_UPSTREAM_ADDR", default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// Record requests (visible at `GET /__fake/requests`); off by default so memory stays flat
    /// under load.
    #[arg(long)]
    record: bool,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = args.workers {
        runtime.worker_threads(n.max(1));
    }
    let runtime = runtime.build().context("building the tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let fake = FakeUpstream::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    fake.set_recording(args.record);
    tracing::info!(url = %fake.url(), record = args.record, "fake-upstream listening");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    tracing::info!("shutting down");
    fake.shutdown().await;
    Ok(())
}
