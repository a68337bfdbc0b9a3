//! Codex OAuth accounts: ChatGPT accounts signed in with the Codex CLI's public OAuth client and
//! used as the credentials of `codex_oauth` channels. Here live the sign-in flow (`accounts`,
//! `oauth`, the local callback `listener`), token refresh (`tokens`), quota (`quota`) and the
//! background upkeep (`upkeep`). The console routes are in `api/admin/codex.rs`; what the relay
//! does with a Codex request (headers, body, collecting a stream) is in `relay/codex.rs`.

pub mod accounts;
pub mod listener;
pub mod oauth;
pub mod quota;
pub mod tokens;
pub mod upkeep;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::crypto::CryptoError;
use crate::store::{Store, StoreError};

/// Time allowed to connect to the OAuth issuer.
const ISSUER_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a Codex account operation failed; each message is safe to show and holds no token.
#[derive(Debug, thiserror::Error)]
pub enum CodexError {
    /// The channel does not exist.
    #[error("channel not found")]
    ChannelNotFound,
    /// The channel is not a `codex_oauth` channel.
    #[error("channel {0} is not a `codex_oauth` channel")]
    NotCodexChannel(i64),
    /// The account does not exist (in this channel).
    #[error("codex account not found")]
    AccountNotFound,
    /// The input is malformed or refers to nothing usable (400).
    #[error("{0}")]
    Invalid(String),
    /// The input is well-formed but cannot be used, or the issuer refused it (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something on our side failed; logged where it is answered.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for CodexError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<CryptoError> for CodexError {
    fn from(err: CryptoError) -> Self {
        Self::Internal(err.to_string())
    }
}

/// The Codex part of the application state.
pub struct CodexState {
    /// The client for the OAuth issuer (configured by the operator, so not address-guarded).
    http: Result<reqwest::Client, String>,
    /// One lock per account, so concurrent refreshes of one account become one.
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Where the relay drops quota reports.
    pub quota: quota::QuotaSink,
    /// The local callback listener, while one runs.
    listener: tokio::sync::Mutex<Option<listener::Handle>>,
}

impl CodexState {
    /// Builds the state and starts the quota writer on `tasks`.
    pub fn new(store: Store, tasks: &TaskTracker, shutdown: CancellationToken) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(ISSUER_CONNECT_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| e.to_string());
        Self {
            http,
            locks: Mutex::new(HashMap::new()),
            quota: quota::start(store, tasks, shutdown),
            listener: tokio::sync::Mutex::new(None),
        }
    }

    /// The issuer client.
    fn http(&self) -> Result<&reqwest::Client, CodexError> {
        self.http
            .as_ref()
            .map_err(|e| CodexError::Internal(format!("HTTP client: {e}")))
    }

    /// The refresh lock of one account.
    fn account_lock(&self, id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let Ok(mut locks) = self.locks.lock() else {
            return Arc::new(tokio::sync::Mutex::new(()));
        };
        Arc::clone(locks.entry(id).or_default())
    }
}
