//! Secrets at rest and secret comparison: the master key, sealing with XChaCha20-Poly1305, SHA-256
//! hashes of tokens and session ids, and random secrets. Nothing here touches the database.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

/// Length of the master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;
/// Name of the key file created in the data directory when no key is configured.
pub const MASTER_KEY_FILE: &str = "master.key";
/// First byte of every sealed value, so the format can change later without guessing.
const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Why a secret could not be sealed or opened, or the master key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The configured or stored key is not 32 bytes of base64 or hex.
    #[error("the master key is malformed: expected 32 bytes as base64 or hex")]
    MalformedKey,
    /// Reading or writing the key file failed.
    #[error("master key file `{path}`: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A sealed value does not open with this key: wrong key, or corrupted data.
    #[error("a stored secret could not be decrypted with this master key")]
    Open,
    /// The operating system's random source failed.
    #[error("no randomness available")]
    Random,
}

/// Fills a buffer from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| CryptoError::Random)?;
    Ok(buf)
}

/// A random secret of `N` bytes, base64url without padding.
pub fn random_secret<const N: usize>() -> Result<String, CryptoError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<N>()?))
}

/// SHA-256 of a secret; tokens and session ids are stored and looked up by this.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Compares two byte strings in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The master key and the cipher built from it. Cheap to clone.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer from raw key bytes.
    pub fn new(key: &[u8; MASTER_KEY_LEN]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A sealer from a configured key: 32 bytes as standard/url-safe base64 or 64 hex digits.
    pub fn from_encoded(text: &str) -> Result<Self, CryptoError> {
        Ok(Self::new(&decode_key(text)?))
    }

    /// A sealer with a fresh random key; for tests.
    pub fn random() -> Result<Self, CryptoError> {
        Ok(Self::new(&random_bytes::<MASTER_KEY_LEN>()?))
    }

    /// Encrypts `plain` under a fresh random nonce: `version || nonce || ciphertext+tag`.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let nonce = XNonce::from_slice(&nonce_bytes);
        let body = self
            .cipher
            .encrypt(nonce, plain)
            .map_err(|_| CryptoError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + body.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts a value made by [`Sealer::seal`].
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Some((&SEAL_VERSION, rest)) = sealed.split_first() else {
            return Err(CryptoError::Open);
        };
        if rest.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| CryptoError::Open)
    }

    /// Seals a UTF-8 string.
    pub fn seal_str(&self, plain: &str) -> Result<Vec<u8>, CryptoError> {
        self.seal(plain.as_bytes())
    }

    /// Opens a value sealed by [`Sealer::seal_str`].
    pub fn open_str(&self, sealed: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.open(sealed)?).map_err(|_| CryptoError::Open)
    }
}

fn decode_key(text: &str) -> Result<[u8; MASTER_KEY_LEN], CryptoError> {
    let text = text.trim();
    let bytes = if text.len() == MASTER_KEY_LEN * 2 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| CryptoError::MalformedKey)?
    } else {
        STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| CryptoError::MalformedKey)?
    };
    bytes.try_into().map_err(|_| CryptoError::MalformedKey)
}

/// Where the master key came from, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `REALMS_MASTER_KEY` or the config file.
    Configured,
    /// An existing key file in the data directory.
    File,
    /// A key file created now, on first start.
    Created,
}

/// Reads the master key file from `dir`, creating it (0600, directory 0700) when it does not
/// exist and `may_create` is true. A missing key with `may_create` false is an error the caller
/// reports: it means the secrets already stored can no longer be read.
pub fn load_or_create_key_file(
    dir: &Path,
    may_create: bool,
) -> Result<Option<(Sealer, KeySource)>, CryptoError> {
    let path = dir.join(MASTER_KEY_FILE);
    let file_err = |source| CryptoError::KeyFile {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(Some((Sealer::from_encoded(&text)?, KeySource::File))),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(file_err(e)),
        Err(_) => {}
    }
    if !may_create {
        return Ok(None);
    }
    let key = random_bytes::<MASTER_KEY_LEN>()?;
    write_private_file(&path, STANDARD.encode(key).as_bytes()).map_err(file_err)?;
    Ok(Some((Sealer::new(&key), KeySource::Created)))
}

/// Writes a file readable by its owner only, creating it exclusively (never overwriting a key).
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Creates the data directory if needed; on Unix it is made readable by its owner only.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_hides_plaintext() {
        let sealer = Sealer::random().expect("key");
        let sealed = sealer.seal_str("sk-upstream-secret").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            sealer.open_str(&sealed).expect("open"),
            "sk-upstream-secret"
        );
    }

    #[test]
    fn wrong_key_or_tampering_fails_to_open() {
        let a = Sealer::random().expect("key");
        let b = Sealer::random().expect("key");
        let mut sealed = a.seal(b"value").expect("seal");
        assert!(matches!(b.open(&sealed), Err(CryptoError::Open)));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(a.open(&sealed), Err(CryptoError::Open)));
        assert!(matches!(a.open(&[]), Err(CryptoError::Open)));
    }

    #[test]
    fn keys_decode_from_hex_and_base64() {
        let hex_key = "00".repeat(32);
        assert!(Sealer::from_encoded(&hex_key).is_ok());
        assert!(Sealer::from_encoded(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(matches!(
            Sealer::from_encoded("short"),
            Err(CryptoError::MalformedKey)
        ));
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            load_or_create_key_file(dir.path(), false)
                .expect("read")
                .is_none()
        );
        let (first, source) = load_or_create_key_file(dir.path(), true)
            .expect("create")
            .expect("key");
        assert_eq!(source, KeySource::Created);
        let (again, source) = load_or_create_key_file(dir.path(), true)
            .expect("read")
            .expect("key");
        assert_eq!(source, KeySource::File);
        let sealed = first.seal(b"x").expect("seal");
        assert_eq!(again.open(&sealed).expect("same key"), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
