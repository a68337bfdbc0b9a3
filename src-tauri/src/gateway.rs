//! The gateway's lifecycle inside the desktop app: bind `127.0.0.1:<port>`, `realms_core::start`,
//! serve on a task, stop with the usage flush, start again on another port. A port in use or a
//! failed start becomes a [`Phase`] the tray shows, never a panic. What the gateway does is
//! core's; this file only starts and stops it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use realms_core::config::Secret;
use realms_core::{AppState, Config, StartError};
use tauri::async_runtime::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::keychain::{self, KeySource};
use crate::settings;

/// How many ports after a taken one are probed for a free one to offer.
const FREE_PORT_PROBES: u16 = 50;
/// Added to twice the configured shutdown grace (streams, then background tasks) before a stop
/// gives up waiting.
const STOP_MARGIN: Duration = Duration::from_secs(5);

/// Why the gateway did not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Another program listens on the port.
    #[error("port {0} is in use")]
    PortInUse(u16),
    /// Binding failed for another reason (permissions, no loopback).
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port.
        port: u16,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Core could not start (database, master key, configuration).
    #[error(transparent)]
    Start(#[from] StartError),
    /// The configuration could not be read.
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// Serving ended with an error, or the task failed.
    #[error("the gateway stopped with an error: {0}")]
    Serve(String),
    /// The gateway did not stop within its grace period.
    #[error("the gateway did not stop within {0:?}")]
    StopTimeout(Duration),
}

/// A running gateway: its address, its state, and how to stop it.
pub struct GatewayHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Core's state, for the tray's questions (requests today, token, pause).
    pub state: AppState,
    shutdown: CancellationToken,
    join: JoinHandle<Result<(), StartError>>,
}

/// Binds `config.addr` and starts core on it. A taken port is [`GatewayError::PortInUse`].
pub async fn start(config: Config) -> Result<GatewayHandle, GatewayError> {
    let port = config.addr.port();
    let listener = realms_core::listen(config.addr, config.listen_backlog).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AddrInUse {
            GatewayError::PortInUse(port)
        } else {
            GatewayError::Bind { port, source }
        }
    })?;
    let addr = listener
        .local_addr()
        .map_err(|source| GatewayError::Bind { port, source })?;
    let state = realms_core::start(config).await?;
    let shutdown = CancellationToken::new();
    let join = tauri::async_runtime::spawn(realms_core::serve_state(
        state.clone(),
        listener,
        shutdown.clone().cancelled_owned(),
    ));
    tracing::info!(%addr, version = realms_core::build_info::VERSION, "realms desktop gateway is listening");
    Ok(GatewayHandle {
        addr,
        state,
        shutdown,
        join,
    })
}

impl GatewayHandle {
    /// Stops serving: no new connections, open requests finish, usage is flushed. Waits at most
    /// twice the configured shutdown grace plus a margin.
    pub async fn stop(self) -> Result<(), GatewayError> {
        let limit =
            Duration::from_secs(self.state.config.limits.shutdown_grace_secs) * 2 + STOP_MARGIN;
        self.shutdown.cancel();
        match tokio::time::timeout(limit, self.join).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(err))) => Err(GatewayError::Serve(err.to_string())),
            Ok(Err(err)) => Err(GatewayError::Serve(err.to_string())),
            Err(_) => Err(GatewayError::StopTimeout(limit)),
        }
    }
}

/// The first port after `taken` that can be bound on 127.0.0.1 now, if any of the next few is.
pub fn next_free_port(taken: u16) -> Option<u16> {
    (1..=FREE_PORT_PROBES)
        .filter_map(|step| taken.checked_add(step))
        .find(|&port| StdTcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok())
}

/// What the gateway is doing, as the tray shows it.
#[derive(Clone)]
pub enum Phase {
    /// Opening the database on this port.
    Starting(u16),
    /// Serving.
    Running {
        /// Where.
        addr: SocketAddr,
        /// Core's state.
        state: AppState,
    },
    /// The port is taken; `free` is a port that was free a moment ago.
    PortInUse {
        /// The configured port.
        port: u16,
        /// A suggestion.
        free: Option<u16>,
    },
    /// Starting failed; the message says why (never a secret).
    Failed(String),
    /// Stopped (quitting).
    Stopped,
}

/// The desktop's one gateway: starts it on the configured port, restarts it on another, stops it
/// at exit. Managed by Tauri; every method takes `&self`.
pub struct Gateway {
    data_dir: PathBuf,
    console_secret: Secret,
    master_key: OnceLock<Option<Secret>>,
    phase: Mutex<Phase>,
    handle: tokio::sync::Mutex<Option<GatewayHandle>>,
}

impl Gateway {
    /// A gateway over `data_dir` whose console API only answers the window holding `console_secret`.
    pub fn new(data_dir: PathBuf, console_secret: Secret) -> Self {
        Self {
            data_dir,
            console_secret,
            master_key: OnceLock::new(),
            phase: Mutex::new(Phase::Stopped),
            handle: tokio::sync::Mutex::new(None),
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The per-launch console secret, for the window only.
    pub fn console_secret(&self) -> &Secret {
        &self.console_secret
    }

    /// A snapshot of what the gateway is doing.
    pub fn phase(&self) -> Phase {
        self.phase
            .lock()
            .map(|phase| phase.clone())
            .unwrap_or(Phase::Stopped)
    }

    fn set_phase(&self, phase: Phase) {
        if let Ok(mut slot) = self.phase.lock() {
            *slot = phase;
        }
    }

    /// (Re)starts the gateway on `port`, stopping a running one first. The outcome is the new
    /// [`Phase`]; errors are logged and kept there for the tray.
    pub async fn start_on(&self, port: u16) -> Phase {
        let mut slot = self.handle.lock().await;
        if let Some(running) = slot.take() {
            self.set_phase(Phase::Stopped);
            if let Err(err) = running.stop().await {
                tracing::warn!(error = %err, "stopping the gateway before a restart");
            }
        }
        self.set_phase(Phase::Starting(port));
        let phase = match self.config_for(port).await {
            Ok(config) => match start(config).await {
                Ok(handle) => {
                    let phase = Phase::Running {
                        addr: handle.addr,
                        state: handle.state.clone(),
                    };
                    *slot = Some(handle);
                    phase
                }
                Err(GatewayError::PortInUse(port)) => {
                    tracing::warn!(port, "the gateway's port is in use");
                    Phase::PortInUse {
                        port,
                        free: next_free_port(port),
                    }
                }
                Err(err) => failed(&err),
            },
            Err(err) => failed(&err),
        };
        self.set_phase(phase.clone());
        phase
    }

    /// Stops the gateway, if it runs, flushing usage.
    pub async fn stop(&self) -> Result<(), GatewayError> {
        let mut slot = self.handle.lock().await;
        self.set_phase(Phase::Stopped);
        match slot.take() {
            Some(running) => running.stop().await,
            None => Ok(()),
        }
    }

    /// The configuration for `port`: files and environment, the master key (resolved once per
    /// launch, off the async workers since the keychain may block) and the console secret.
    async fn config_for(&self, port: u16) -> Result<Config, GatewayError> {
        let mut config =
            settings::core_config(&self.data_dir, port).map_err(GatewayError::Config)?;
        let master_key = match self.master_key.get() {
            Some(key) => key.clone(),
            None => {
                let configured = config.master_key.clone();
                let dir = self.data_dir.clone();
                let (key, source) = tauri::async_runtime::spawn_blocking(move || {
                    keychain::resolve_master_key(configured.as_ref(), &dir)
                })
                .await
                .map_err(|err| GatewayError::Serve(err.to_string()))?;
                log_key_source(&source);
                self.master_key.get_or_init(|| key).clone()
            }
        };
        config.master_key = master_key;
        config.desktop_console_secret = Some(self.console_secret.clone());
        Ok(config)
    }
}

fn failed(err: &GatewayError) -> Phase {
    tracing::error!(error = %err, "the gateway could not start");
    Phase::Failed(err.to_string())
}

fn log_key_source(source: &KeySource) {
    match source {
        KeySource::KeyFileFallback(why) => {
            tracing::info!(reason = %why, "no usable OS keychain; the master key is kept in the data directory's key file");
        }
        other => tracing::info!(source = ?other, "master key source"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A raw HTTP/1.0 GET on 127.0.0.1, returning the status code and the whole answer.
    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        (status, answer)
    }

    fn gateway(dir: &std::path::Path) -> Gateway {
        // A key of its own, so no test touches the machine's keychain.
        let key = realms_core::crypto::random_secret::<32>().expect("key");
        let gateway = Gateway::new(dir.to_path_buf(), Secret::new("console-secret-for-tests"));
        let _ = gateway.master_key.set(Some(Secret::new(key)));
        gateway
    }

    #[test]
    fn serves_healthz_then_stops_and_frees_the_port() {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = next_free_port(20_000).expect("a free port");
        let gateway = gateway(dir.path());
        tauri::async_runtime::block_on(async {
            let Phase::Running { addr, state } = gateway.start_on(port).await else {
                panic!("not running");
            };
            assert_eq!(addr, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
            let settings = state.settings();
            assert!(settings.self_mode, "the desktop runs in self mode");
            assert!(
                settings.codex_oauth_listener,
                "Codex sign-ins from the window are caught on 127.0.0.1:1455"
            );
            let (status, answer) =
                tauri::async_runtime::spawn_blocking(move || get(addr, "/healthz"))
                    .await
                    .expect("join");
            assert_eq!(status, 200, "{answer}");
            let (status, answer) =
                tauri::async_runtime::spawn_blocking(move || get(addr, "/api/admin/channels"))
                    .await
                    .expect("join");
            assert_eq!(status, 401, "no console secret: {answer}");
            gateway.stop().await.expect("clean stop");
        });
        assert!(matches!(gateway.phase(), Phase::Stopped));
        StdTcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the port is free again");
    }

    #[test]
    fn a_taken_port_is_reported_with_a_free_one_and_a_restart_moves_there() {
        let dir = tempfile::tempdir().expect("temp dir");
        let taken = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let gateway = gateway(dir.path());
        tauri::async_runtime::block_on(async {
            let Phase::PortInUse {
                port: reported,
                free,
            } = gateway.start_on(port).await
            else {
                panic!("expected port in use");
            };
            assert_eq!(reported, port);
            let free = free.expect("a free port nearby");
            assert!(free > port);
            let Phase::Running { addr, .. } = gateway.start_on(free).await else {
                panic!("not running on the free port");
            };
            assert_eq!(addr.port(), free);
            gateway.stop().await.expect("clean stop");
        });
    }
}
