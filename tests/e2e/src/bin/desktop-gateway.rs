//! Realms in desktop mode without the desktop window, for the browser tests
//! (`tests/browser/run.sh`): what the desktop shell does at launch. It loads the configuration as
//! `realms` does (`REALMS_*` environment), adds a fresh per-launch console secret, writes that
//! secret to the file named by its only argument (mode 0600) for the test's browser to inject,
//! and serves on `REALMS_ADDR` until interrupted. A test tool, not part of the product.
#![expect(
    clippy::print_stderr,
    reason = "a test tool reports its failure on stderr"
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use realms_core::Config;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("desktop-gateway: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let secret_file: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: desktop-gateway <file to write the console secret to>")?;
    let mut config = Config::load(None, &serde_json::json!({})).map_err(|e| e.to_string())?;
    let secret = realms_core::desktop::new_console_secret().map_err(|e| e.to_string())?;
    write_private(&secret_file, secret.expose())
        .map_err(|e| format!("writing `{}`: {e}", secret_file.display()))?;
    config.desktop_console_secret = Some(secret);
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|e| format!("binding {}: {e}", config.addr))?;
    realms_core::serve(config, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| e.to_string())
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
