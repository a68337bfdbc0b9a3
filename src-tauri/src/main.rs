//! Realms Desktop: a tray app around `realms_core`. At launch it starts the gateway on
//! `127.0.0.1:<port>` in self mode over its own data directory, shows the tray and the console
//! window, and keeps one instance; Quit (or SIGTERM/SIGINT) stops the gateway with the usage
//! flush and exits 0. All behaviour is core's; this shell only wires it to the desktop.

// Release builds on Windows are GUI programs: no console window behind the tray app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod actions;
mod gateway;
mod keychain;
mod settings;
mod tray;
mod window;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use realms_core::config::LogFormat;
use tauri::{AppHandle, Manager, RunEvent};
use tauri_plugin_autostart::MacosLauncher;

use crate::gateway::{Gateway, Phase};
use crate::settings::DesktopSettings;

/// Passed by the login item: start in the tray without opening the window.
const HIDDEN_FLAG: &str = "--hidden";

fn main() -> ExitCode {
    let launch = match prepare() {
        Ok(launch) => launch,
        Err(err) => {
            realms_core::telemetry::init("info", LogFormat::Text);
            tracing::error!(error = %format!("{err:#}"), "realms desktop cannot start");
            return ExitCode::FAILURE;
        }
    };
    let app = match build(launch) {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = %err, "realms desktop cannot start its window system");
            return ExitCode::FAILURE;
        }
    };
    let code = app.run_return(on_event);
    tracing::info!(code, "realms desktop exited");
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// What is decided before any window exists.
struct Launch {
    data_dir: PathBuf,
    port: u16,
    hidden: bool,
    gateway: Gateway,
}

/// Data directory, logging, preferences and the per-launch console secret.
fn prepare() -> anyhow::Result<Launch> {
    let data_dir = settings::data_dir()?;
    realms_core::crypto::ensure_private_dir(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    // `.env` and relative paths in `realms.toml` resolve in the data directory, never in
    // whatever directory the app happened to be started from.
    std::env::set_current_dir(&data_dir)
        .with_context(|| format!("entering {}", data_dir.display()))?;
    let settings = DesktopSettings::load(&data_dir);
    let (log, format) = settings::core_config(&data_dir, settings::DEFAULT_PORT)
        .map(|c| (c.log, c.log_format))
        .unwrap_or_else(|_| ("info".into(), LogFormat::Text));
    realms_core::telemetry::init(&log, format);
    let port = settings.unwrap_or_else(|err| {
        tracing::warn!(error = %format!("{err:#}"), "ignoring the desktop settings file");
        DesktopSettings::default()
    });
    let console_secret = realms_core::desktop::new_console_secret()?;
    tracing::info!(data_dir = %data_dir.display(), port = port.port, "realms desktop starting");
    Ok(Launch {
        gateway: Gateway::new(data_dir.clone(), console_secret),
        data_dir,
        port: port.port,
        hidden: std::env::args().any(|arg| arg == HIDDEN_FLAG),
    })
}

fn build(launch: Launch) -> tauri::Result<tauri::App> {
    let Launch {
        data_dir,
        port,
        hidden,
        gateway,
    } = launch;
    tauri::Builder::default()
        // First, so a second launch is handed to this instance before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            tracing::info!("another launch handed over to this instance");
            if let Err(err) = actions::open_console(app) {
                tracing::info!(error = %err, "the console cannot be shown");
            }
        }))
        .plugin(tauri_plugin_autostart::init(
            MacosLauncher::LaunchAgent,
            Some(vec![HIDDEN_FLAG]),
        ))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .manage(gateway)
        .manage(tray::StatusItem::default())
        .setup(move |app| {
            let handle = app.handle().clone();
            if let Err(err) = tray::create(&handle) {
                // Without a tray the app cannot be used or quit: stop rather than linger.
                tracing::error!(error = %format!("{err:#}"), "cannot create the tray icon");
                handle.exit(1);
                return Ok(());
            }
            tracing::debug!(data_dir = %data_dir.display(), "tray ready");
            tauri::async_runtime::spawn(start_gateway(handle.clone(), port, !hidden));
            tauri::async_runtime::spawn(tray::keep_status_fresh(handle.clone()));
            tauri::async_runtime::spawn(quit_on_signal(handle));
            Ok(())
        })
        .build(context())
}

/// The app's `tauri.conf.json`, icons and metadata, embedded at build time.
#[expect(
    clippy::disallowed_methods,
    reason = "`generate_context!` expands to Tauri's own `std::process::exit` call"
)]
fn context() -> tauri::Context {
    tauri::generate_context!()
}

/// Starts the gateway on the remembered port, then shows the window unless started hidden.
async fn start_gateway(app: AppHandle, port: u16, show_window: bool) {
    let phase = app.state::<Gateway>().start_on(port).await;
    tray::refresh(&app).await;
    if show_window
        && matches!(phase, Phase::Running { .. })
        && let Err(err) = actions::open_console(&app)
    {
        tracing::warn!(error = %format!("{err:#}"), "could not open the console window");
    }
}

/// SIGTERM and SIGINT are Quit: the same graceful stop, exit status 0.
async fn quit_on_signal(app: AppHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for SIGTERM/SIGINT");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    tracing::info!("signal received: quitting");
    app.exit(0);
}

fn on_event(app: &AppHandle, event: RunEvent) {
    match event {
        // The last window closed (it only hides, but a rebuild destroys it): stay in the tray.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            window::hide(app);
            let gateway = app.state::<Gateway>();
            match tauri::async_runtime::block_on(gateway.stop()) {
                Ok(()) => tracing::info!("gateway stopped, usage flushed"),
                Err(err) => tracing::error!(error = %err, "the gateway did not stop cleanly"),
            }
        }
        _ => {}
    }
}
