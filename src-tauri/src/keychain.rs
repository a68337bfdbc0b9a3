//! Where the desktop's master key comes from: `REALMS_MASTER_KEY`, else an existing key file in
//! the data directory, else the OS keychain (service `Realms`, user `master-key`; a new key is
//! made and stored there on first launch), else — no usable keychain, as on a headless Linux
//! without a secret service — core's key file (0600 in the 0700 data directory). Only the
//! choice lives here; sealing and the key file belong to `realms_core::crypto`.

use std::path::Path;

use keyring::Entry;
use realms_core::config::Secret;
use realms_core::crypto::{MASTER_KEY_FILE, MASTER_KEY_LEN, random_secret};

/// The keychain service name of the master key.
pub const KEYCHAIN_SERVICE: &str = "Realms";
/// The keychain user name of the master key.
pub const KEYCHAIN_USER: &str = "master-key";

/// Where the master key came from; logged at start (the key itself never is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `REALMS_MASTER_KEY` (or `master_key` in `realms.toml`).
    Configured,
    /// The key file already in the data directory; core reads it.
    KeyFile,
    /// The key stored in the OS keychain.
    Keychain,
    /// A key made now and stored in the OS keychain.
    KeychainCreated,
    /// The keychain could not be used; core reads or creates its key file.
    KeyFileFallback(String),
}

/// Decides the master key for a gateway on `data_dir`: returns the key to put in
/// `Config::master_key` (`None` leaves it to core's key file) and where it came from. Talks to
/// the keychain, which may block (a D-Bus round trip, an unlock prompt): call it off the async
/// runtime's worker threads.
pub fn resolve_master_key(
    configured: Option<&Secret>,
    data_dir: &Path,
) -> (Option<Secret>, KeySource) {
    if let Some(key) = configured {
        return (Some(key.clone()), KeySource::Configured);
    }
    if data_dir.join(MASTER_KEY_FILE).exists() {
        return (None, KeySource::KeyFile);
    }
    match Entry::new(KEYCHAIN_SERVICE, KEYCHAIN_USER) {
        Ok(entry) => from_keychain(&entry),
        Err(err) => (None, KeySource::KeyFileFallback(err.to_string())),
    }
}

/// The key in `entry`, or a new one stored there; any keychain failure falls back to the file.
fn from_keychain(entry: &Entry) -> (Option<Secret>, KeySource) {
    match entry.get_password() {
        Ok(key) => (Some(Secret::new(key)), KeySource::Keychain),
        Err(keyring::Error::NoEntry) => {
            let key = match random_secret::<MASTER_KEY_LEN>() {
                Ok(key) => key,
                Err(err) => return (None, KeySource::KeyFileFallback(err.to_string())),
            };
            match entry.set_password(&key) {
                Ok(()) => (Some(Secret::new(key)), KeySource::KeychainCreated),
                Err(err) => (None, KeySource::KeyFileFallback(err.to_string())),
            }
        }
        Err(err) => (None, KeySource::KeyFileFallback(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use keyring::mock::MockCredential;
    use realms_core::crypto::Sealer;

    use super::*;

    /// An entry in keyring's own in-memory credential store (the crate's test store).
    fn memory_entry() -> Entry {
        Entry::new_with_credential(Box::new(MockCredential::default()))
    }

    #[test]
    fn a_configured_key_wins_and_an_existing_key_file_is_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let configured = Secret::new("configured");
        let (key, source) = resolve_master_key(Some(&configured), dir.path());
        assert_eq!(source, KeySource::Configured);
        assert_eq!(
            key.map(|k| k.expose().to_owned()).as_deref(),
            Some("configured")
        );

        std::fs::write(dir.path().join(MASTER_KEY_FILE), "x").expect("write");
        let (key, source) = resolve_master_key(None, dir.path());
        assert_eq!(source, KeySource::KeyFile);
        assert!(key.is_none(), "core reads the key file itself");
    }

    #[test]
    fn an_empty_keychain_gets_a_new_valid_key_that_is_read_back_next_time() {
        let entry = memory_entry();
        let (created, source) = from_keychain(&entry);
        assert_eq!(source, KeySource::KeychainCreated);
        let created = created.expect("a key");
        Sealer::from_encoded(created.expose()).expect("core accepts the new key");

        let (again, source) = from_keychain(&entry);
        assert_eq!(source, KeySource::Keychain);
        assert_eq!(again.expect("stored").expose(), created.expose());
    }

    #[test]
    fn a_failing_keychain_falls_back_to_the_key_file() {
        let entry = memory_entry();
        let mock: &MockCredential = entry.get_credential().downcast_ref().expect("mock");
        mock.set_error(keyring::Error::NoStorageAccess("locked".into()));
        let (key, source) = from_keychain(&entry);
        assert!(key.is_none());
        assert!(matches!(source, KeySource::KeyFileFallback(ref why) if why.contains("locked")));
    }
}
