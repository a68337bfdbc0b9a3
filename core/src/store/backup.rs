//! Consistent copies of a live database (`VACUUM INTO`, safe with WAL, unlike copying files).

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;

/// Writes a consistent copy of the database to `target`, which must not exist yet.
pub fn backup_to(conn: &Connection, target: &Path) -> Result<(), StoreError> {
    if target.exists() {
        return Err(StoreError::Conflict(format!(
            "`{}` already exists",
            target.display()
        )));
    }
    let target = target
        .to_str()
        .ok_or_else(|| StoreError::Internal("backup path is not valid UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    Ok(())
}
