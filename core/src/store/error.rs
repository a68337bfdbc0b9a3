//! Errors of the store layer; the HTTP layer decides what each means to a caller.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A unique or foreign-key rule refused the write; the text names what clashed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be decoded (bad JSON, bad decimal, unknown enum text).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A sealed secret could not be sealed or opened.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    /// Any other SQLite failure.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] refinery::Error),
    /// File-system failure (creating the directory, backups).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A task or lock failed.
    #[error("internal store error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match &err {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(e, msg) if e.code == ErrorCode::ConstraintViolation => {
                // "UNIQUE constraint failed: users.username" -> "users.username"
                let what = msg.as_deref().unwrap_or("constraint");
                let what = what.rsplit(": ").next().unwrap_or(what);
                StoreError::Conflict(what.to_owned())
            }
            _ => StoreError::Sqlite(err),
        }
    }
}
