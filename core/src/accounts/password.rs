//! Password hashing with argon2id, run on the blocking pool (it is deliberately slow).

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AuthConfig;
use crate::store::StoreError;

/// A hash that never matches, verified against when the login names no user, so that both cases
/// take the same time and do not reveal which accounts exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$tVw5T0HrbYnOs1mfLeSHnSnhYGyD4aAUhQk2rWh3d7A";

fn hasher(auth: &AuthConfig) -> Argon2<'static> {
    let params = if auth.fast_password_hashing {
        Params::new(256, 1, 1, None)
    } else {
        // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
        Params::new(19 * 1024, 2, 1, None)
    };
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        params.unwrap_or_default(),
    )
}

/// Hashes a password into a PHC string.
pub async fn hash(password: &str, auth: &AuthConfig) -> Result<String, StoreError> {
    let password = password.to_owned();
    let argon = hasher(auth);
    tokio::task::spawn_blocking(move || {
        argon
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| StoreError::Internal(format!("hash task failed: {e}")))?
}

/// Checks a password against a stored PHC string; `None` checks against a dummy hash and fails.
pub async fn verify(password: &str, stored: Option<String>) -> bool {
    let password = password.to_owned();
    let found = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
    let ok = tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
    .await
    .unwrap_or(false);
    ok && found
}

/// Checks a new password against the configured rules; returns the problem as a sentence.
pub fn check_strength(password: &str, auth: &AuthConfig) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < auth.min_password_chars {
        return Err(format!(
            "password must be at least {} characters",
            auth.min_password_chars
        ));
    }
    if chars > 256 {
        return Err("password must be at most 256 characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_only_the_right_password() {
        let auth = AuthConfig {
            fast_password_hashing: true,
            ..AuthConfig::default()
        };
        let hashed = hash("correct horse", &auth).await.expect("hash");
        assert!(hashed.starts_with("$argon2id$"));
        assert!(verify("correct horse", Some(hashed.clone())).await);
        assert!(!verify("wrong horse", Some(hashed)).await);
        assert!(!verify("anything", None).await);
    }

    #[test]
    fn strength_rules_apply() {
        let auth = AuthConfig::default();
        assert!(check_strength("short", &auth).is_err());
        assert!(check_strength("long enough", &auth).is_ok());
    }
}
