//! `sk_` API token keys: generation, hint, hash and sealed copy.

use crate::crypto::{CryptoError, Sealer, random_secret, sha256};

/// The prefix every Realms token key starts with.
pub const KEY_PREFIX: &str = "sk_";

/// A freshly generated key with what the store keeps of it.
pub struct GeneratedKey {
    /// The key itself: shown once to the caller, never stored in plain text.
    pub key: String,
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    /// The key sealed with the master key, for an explicit reveal.
    pub sealed: Vec<u8>,
    /// `sk_...abcd`.
    pub hint: String,
}

/// Generates `sk_` + 32 random bytes as base64url.
pub fn generate(sealer: &Sealer) -> Result<GeneratedKey, CryptoError> {
    let key = format!("{KEY_PREFIX}{}", random_secret::<32>()?);
    Ok(GeneratedKey {
        hash: sha256(key.as_bytes()),
        sealed: sealer.seal_str(&key)?,
        hint: hint(&key),
        key,
    })
}

/// Longest prefix a hint repeats. Upstream keys (Gemini `AIza…`, arbitrary vendors) may hold a
/// `_` anywhere, and everything before it would otherwise be shown.
const MAX_HINT_PREFIX_CHARS: usize = 4;

/// The hint shown in lists: a short prefix (`sk` when there is none) and the last four characters.
pub fn hint(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let prefix = key
        .split_once('_')
        .map(|(p, _)| p)
        .filter(|p| p.chars().count() <= MAX_HINT_PREFIX_CHARS)
        .unwrap_or("sk");
    format!("{prefix}...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hinted() {
        let sealer = Sealer::random().expect("key");
        let a = generate(&sealer).expect("a");
        let b = generate(&sealer).expect("b");
        assert!(
            a.key.starts_with("sk_") && a.key.len() == 3 + 43,
            "{}",
            a.key.len()
        );
        assert_ne!(a.key, b.key);
        assert_eq!(a.hint, format!("sk...{}", &a.key[a.key.len() - 4..]));
        assert_eq!(sealer.open_str(&a.sealed).expect("open"), a.key);
        assert_eq!(hint("abcd"), "sk...abcd");
        assert_eq!(
            hint("AIzaSyB0secretpart_tail9876"),
            "sk...9876",
            "a long part before `_` is never shown"
        );
    }
}
