//! What the desktop shell (`src-tauri`) needs from Realms, so the shell itself holds no business
//! logic (STYLE.md C8): desktop mode of the console API (the per-launch console secret and the
//! password-less sign-in of the local person), the desktop owner account and its `sk_` token,
//! the tray's "requests today", pausing the data plane, and setting up Codex CLI, Claude Code
//! and Gemini CLI to use Realms ([`client_setup`]).
//!
//! Desktop mode is on when [`crate::Config::desktop_console_secret`] is `Some`. Then every
//! `/api/*` call must carry [`CONSOLE_SECRET_HEADER`], and `POST /api/desktop/session` signs the
//! desktop owner in with a normal console session. `/healthz`, the console's static files and
//! the data plane (`/v1/*` with `sk_` tokens) are unaffected. No CORS header is ever sent, so a
//! page on another origin cannot read console answers.
//!
//! Pausing ([`set_relay_paused`]) answers every `/v1/*` and `/v1beta/*` call with 503 in the
//! caller's protocol until resumed; the console keeps working.
//!
//! This module never depends on `tauri`; the shell calls these functions.

pub mod client_setup;
pub mod console_secret;
pub mod owner;
pub mod today;
pub mod token;

pub use console_secret::new_console_secret;
pub use owner::ensure_owner;
pub use today::requests_today;
pub use token::{DESKTOP_TOKEN_NAME, ensure_desktop_token};

use crate::state::AppState;

use crate::crypto::CryptoError;
use crate::store::StoreError;

/// The header that carries the per-launch console secret on every `/api/*` call in desktop mode.
pub const CONSOLE_SECRET_HEADER: &str = "x-realms-console";

/// Why a desktop operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// Sealing, opening or randomness failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Pauses (`true`) or resumes (`false`) the data plane. While paused every `/v1/*` and
/// `/v1beta/*` call gets 503 "Realms is paused" in its own protocol's error shape, with no
/// upstream call and no usage record; calls already running finish. Not persisted: a restart
/// starts unpaused.
pub fn set_relay_paused(state: &AppState, paused: bool) {
    crate::relay::pause::set_paused(state, paused);
}

/// Whether the data plane is paused.
pub fn relay_paused(state: &AppState) -> bool {
    crate::relay::pause::is_paused(state)
}
