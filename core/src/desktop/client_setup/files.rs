//! The file work under every client set-up: reading what is there, writing atomically with
//! owner-only permissions, the backup copy and the manifest that lets undo put back exactly what
//! was there (or remove what was not). Knows nothing about any tool's format.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SetupError;
use crate::crypto::sha256;

/// The folder, beside the tool's file, holding the backup and the manifest while set up.
pub const BACKUP_DIR: &str = "realms-backup";
/// The manifest's file name inside [`BACKUP_DIR`].
const MANIFEST_FILE: &str = "manifest.json";
/// Suffix of the copy undo keeps of a file that was edited after the set-up.
pub const SET_ASIDE_SUFFIX: &str = ".before-realms-undo";
/// Mode of every file written here that may hold a token: owner read and write only.
#[cfg(unix)]
const PRIVATE_FILE_MODE: u32 = 0o600;
/// Mode of the backup folder.
#[cfg(unix)]
const PRIVATE_DIR_MODE: u32 = 0o700;

/// What undo needs to know about the file as it was before the first apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of this record.
    pub version: u32,
    /// The tool's file name (the backup has the same name inside [`BACKUP_DIR`]).
    pub file: String,
    /// Whether the file existed; if not, undo removes it.
    pub existed: bool,
    /// Its unix permission bits, restored by undo.
    pub mode: Option<u32>,
    /// Whether apply created the tool's folder; undo removes it again if it is empty.
    pub created_dir: bool,
    /// SHA-256 (hex) of what apply last wrote, to notice edits made after it.
    pub written_sha256: String,
}

/// The current manifest version.
pub const MANIFEST_VERSION: u32 = 1;

/// A file's bytes and permission bits, if it exists.
pub struct Existing {
    /// Contents.
    pub bytes: Vec<u8>,
    /// Unix permission bits (`None` elsewhere).
    pub mode: Option<u32>,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SetupError + '_ {
    move |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The path to write for `path`: a symbolic link is followed, so a dotfiles manager's link stays
/// a link and its target gets the change.
pub fn resolve(path: &Path) -> Result<PathBuf, SetupError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path).map_err(io_error(path)),
        Ok(_) => Ok(path.to_path_buf()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(err) => Err(io_error(path)(err)),
    }
}

/// Reads a file, `None` if it does not exist.
pub fn read_existing(path: &Path) -> Result<Option<Existing>, SetupError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(path)(err)),
    };
    let mode = permission_bits(&fs::metadata(path).map_err(io_error(path))?);
    Ok(Some(Existing { bytes, mode }))
}

#[cfg(unix)]
fn permission_bits(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn permission_bits(_meta: &fs::Metadata) -> Option<u32> {
    None
}

/// Replaces `path` with `bytes` in one rename, so a reader never sees half a file. The new file
/// gets `mode` (unix), by default owner-only.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), SetupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    file.write_all(bytes).map_err(io_error(path))?;
    file.as_file().sync_all().map_err(io_error(path))?;
    set_mode(file.path(), mode)?;
    file.persist(path).map_err(|e| io_error(path)(e.error))?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: Option<u32>) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = mode.unwrap_or(PRIVATE_FILE_MODE);
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: Option<u32>) -> Result<(), SetupError> {
    Ok(())
}

/// Creates `dir` (and its parents) if missing; returns whether it had to.
pub fn ensure_dir(dir: &Path) -> Result<bool, SetupError> {
    if dir.is_dir() {
        return Ok(false);
    }
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    Ok(true)
}

/// Creates the backup folder (owner-only on unix).
pub fn create_backup_dir(dir: &Path) -> Result<(), SetupError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR_MODE))
            .map_err(io_error(dir))?;
    }
    Ok(())
}

/// The manifest in `backup_dir`, if a set-up is in place.
pub fn read_manifest(backup_dir: &Path) -> Result<Option<Manifest>, SetupError> {
    let path = backup_dir.join(MANIFEST_FILE);
    let Some(existing) = read_existing(&path)? else {
        return Ok(None);
    };
    let manifest: Manifest =
        serde_json::from_slice(&existing.bytes).map_err(|e| SetupError::Manifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    if manifest.version != MANIFEST_VERSION {
        return Err(SetupError::Manifest {
            path,
            reason: format!("unknown version {}", manifest.version),
        });
    }
    Ok(Some(manifest))
}

/// Writes the manifest into `backup_dir`.
pub fn write_manifest(backup_dir: &Path, manifest: &Manifest) -> Result<(), SetupError> {
    let path = backup_dir.join(MANIFEST_FILE);
    let mut text = serde_json::to_vec_pretty(manifest).map_err(|e| SetupError::Manifest {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    text.push(b'\n');
    write_atomic(&path, &text, None)
}

/// SHA-256 of `bytes` as hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(sha256(bytes))
}

/// Removes a file; a missing one is fine.
pub fn remove_file(path: &Path) -> Result<(), SetupError> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != ErrorKind::NotFound => Err(io_error(path)(err)),
        _ => Ok(()),
    }
}

/// Removes the backup folder and everything in it.
pub fn remove_backup_dir(dir: &Path) -> Result<(), SetupError> {
    match fs::remove_dir_all(dir) {
        Err(err) if err.kind() != ErrorKind::NotFound => Err(io_error(dir)(err)),
        _ => Ok(()),
    }
}

/// Removes `dir` if it is empty; a folder the person has since put things in stays.
pub fn remove_dir_if_empty(dir: &Path) {
    if fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none()) {
        let _ = fs::remove_dir(dir);
    }
}
