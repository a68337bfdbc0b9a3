//! What the desktop shell (`src-tauri`) needs from Realms, so the shell itself holds no business
//! logic (STYLE.md C8): desktop mode of the console API (the per-launch console secret and the
//! password-less sign-in of the local person), and the desktop owner account.
//!
//! Desktop mode is on when [`crate::Config::desktop_console_secret`] is `Some`. Then every
//! `/api/*` call must carry [`CONSOLE_SECRET_HEADER`], and `POST /api/desktop/session` signs the
//! desktop owner in with a normal console session. `/healthz`, the console's static files and
//! the data plane (`/v1/*` with `sk_` tokens) are unaffected. No CORS header is ever sent, so a
//! page on another origin cannot read console answers.
//!
//! This module never depends on `tauri`; the shell calls these functions.

pub mod console_secret;
pub mod owner;

pub use console_secret::new_console_secret;
pub use owner::ensure_owner;

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
