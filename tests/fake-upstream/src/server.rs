//! `FakeUpstream`: one fake server on its own port with its own scripts, log and account state,
//! so tests run in parallel without sharing anything. Routes are assembled in `routes.rs`.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::{TcpSocket, ToSocketAddrs};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::answer::BodyCache;
use crate::codex::CodexQuota;
use crate::oauth::{OAuthAccount, OAuthState};
use crate::record::{RecordedRequest, Recorder, lock};
use crate::routes;
use crate::script::{Script, ScriptBook};

/// How long `shutdown` waits for open connections (a stalled stream) before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Connections the kernel queues for the fake before it accepts them: the benchmark opens
/// thousands of streams within seconds, and the usual 128 dropped some (their clients then
/// waited a second to retry, which is not what the benchmark measures).
const LISTEN_BACKLOG: u32 = 4096;

/// State shared by the handlers of one fake.
pub(crate) struct Shared {
    pub(crate) recorder: Recorder,
    pub(crate) scripts: ScriptBook,
    pub(crate) cache: BodyCache,
    pub(crate) oauth: OAuthState,
    pub(crate) codex: Mutex<CodexQuota>,
    /// Cancelled on shutdown: pending delays and streams end at once.
    pub(crate) cancel: CancellationToken,
}

/// A running fake upstream on `127.0.0.1`. Dropping it (or [`FakeUpstream::shutdown`]) stops
/// the server: the port closes and running streams are cut.
///
/// Tests use [`FakeUpstream::url`] as the channel base URL; every OpenAI and Anthropic route is
/// served both with and without the `/v1` prefix, Gemini under `/v1beta` (and `/v1`).
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tracker: TaskTracker,
}

impl FakeUpstream {
    /// Starts a fake on `127.0.0.1:0` (a free port).
    ///
    /// # Panics
    /// If the loopback interface cannot be bound, which leaves a test nothing to run against.
    #[expect(
        clippy::expect_used,
        reason = "test-support entry point: a test cannot proceed without its fake upstream"
    )]
    pub async fn start() -> Self {
        Self::bind("127.0.0.1:0")
            .await
            .expect("fake-upstream binds 127.0.0.1:0")
    }

    /// Starts a fake on the given address (`"127.0.0.1:9000"`, or port 0 for a free one).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let addr = tokio::net::lookup_host(addr)
            .await?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind"))?;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(LISTEN_BACKLOG)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            recorder: Recorder::new(true),
            scripts: ScriptBook::default(),
            cache: BodyCache::default(),
            oauth: OAuthState::default(),
            codex: Mutex::new(CodexQuota::default()),
            cancel: CancellationToken::new(),
        });
        let app = routes::router(shared.clone());
        // Small SSE writes must leave at once; Nagle would hold them behind unacknowledged ones.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY not set: {e}");
            }
        });
        let tracker = TaskTracker::new();
        let stop = shared.cancel.clone().cancelled_owned();
        tracker.spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!("fake-upstream stopped: {e}");
            }
        });
        tracker.close();
        tracing::debug!(%addr, "fake-upstream listening");
        Ok(Self {
            addr,
            shared,
            tracker,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `url()` followed by `path` (which starts with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The Codex backend base URL, `http://127.0.0.1:PORT/backend-api/codex`.
    pub fn codex_base_url(&self) -> String {
        self.url_for("/backend-api/codex")
    }

    /// Queues a one-shot script: the first request it matches consumes it (scripts are tried
    /// in push order, before any default).
    pub fn push(&self, script: Script) {
        self.shared.scripts.push(script);
    }

    /// Adds a lasting script for the requests its matcher selects (usually a path). The most
    /// recently set matching default wins; queued scripts come first.
    pub fn set_default(&self, script: Script) {
        self.shared.scripts.set_default(script);
    }

    /// Removes every queued script and default.
    pub fn clear_scripts(&self) {
        self.shared.scripts.clear();
    }

    /// How many queued script uses are left (assert 0 at the end to prove all were used).
    pub fn pending_scripts(&self) -> usize {
        self.shared.scripts.pending()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.all()
    }

    /// The requests to exactly this path (no query).
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.shared.recorder.filtered(path)
    }

    /// How many requests this path received.
    pub fn count(&self, path: &str) -> usize {
        self.shared.recorder.count(path)
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.recorder.last()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.recorder.clear();
    }

    /// Turns recording on or off (on by default; the benchmark turns it off).
    pub fn set_recording(&self, on: bool) {
        self.shared.recorder.set_enabled(on);
    }

    /// Sets the quota the Codex backend reports in headers and in `wham/usage`.
    pub fn set_codex_quota(&self, quota: CodexQuota) {
        *lock(&self.shared.codex) = quota;
    }

    /// Sets the account the OAuth issuer logs in (claims and token lifetime).
    pub fn set_oauth_account(&self, account: OAuthAccount) {
        self.shared.oauth.set_account(account);
    }

    /// Makes a refresh token fail with `invalid_grant` from now on.
    pub fn revoke_refresh_token(&self, refresh_token: &str) {
        self.shared.oauth.revoke(refresh_token);
    }

    /// Stops the server and waits (up to 2 s) for its connections to close.
    pub async fn shutdown(self) {
        self.shared.cancel.cancel();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait()).await;
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

impl std::fmt::Debug for FakeUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
