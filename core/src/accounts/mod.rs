//! Accounts: password hashing, console sessions, `sk_` token keys, login throttling and the root
//! bootstrap. Domain logic only; the HTTP handlers in `api/` call these.

pub mod keys;
pub mod password;
pub mod session;
pub mod throttle;

use crate::config::Config;
use crate::crypto::Sealer;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::users::{self, NewUser, Role};
use crate::store::{Store, StoreError};

/// Creates the root user from `REALMS_ROOT_PASSWORD` when one is configured and no root exists.
/// Returns the new user's id, if one was created.
pub async fn bootstrap_root(store: &Store, config: &Config) -> Result<Option<i64>, StoreError> {
    let Some(password) = &config.root_password else {
        return Ok(None);
    };
    if store.read(users::root_exists).await? {
        return Ok(None);
    }
    let hash = password::hash(password.expose(), &config.auth).await?;
    let username = config.root_username.clone();
    store
        .write(move |tx| {
            if users::root_exists(tx)? {
                return Ok(None);
            }
            if users::find_by_login(tx, &username)?.is_some() {
                tracing::warn!(
                    username = %username,
                    "`REALMS_ROOT_PASSWORD` is set but a user with the root username already \
                     exists and is not root; no root user was created (promote that user or pick \
                     another `REALMS_ROOT_USERNAME`)"
                );
                return Ok(None);
            }
            let new = NewUser {
                email: format!("{username}@localhost"),
                username,
                password_hash: hash,
                role: Role::Root,
                user_group_id: None,
            };
            let user = users::insert(tx, &new)?;
            audit::insert(
                tx,
                &AuditEvent {
                    actor: Actor::System,
                    action: "user.bootstrap_root",
                    target_kind: "user",
                    target_id: Some(user.id),
                    detail: serde_json::json!({ "username": user.username }),
                    ip: None,
                },
            )?;
            Ok(Some(user.id))
        })
        .await
}

/// The sealer used for one process; re-exported so callers need not know the crypto module.
pub type SecretSealer = Sealer;
