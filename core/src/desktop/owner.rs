//! The desktop owner: the one account the local person is signed in as, without a password, in
//! desktop mode. It is the existing root (the active one with the lowest id) or, on a fresh
//! install, a root created here with a random password nobody is told. Nothing else lives here.

use serde_json::json;

use super::DesktopError;
use crate::accounts::password;
use crate::crypto::{random_bytes, random_secret};
use crate::state::AppState;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::users::{self, NewUser, Role, User};
use crate::store::{Conn, StoreError};

/// Username tried after `root_username` when that one is taken by an account that is not root.
const FALLBACK_USERNAME: &str = "desktop";

/// Returns the desktop owner, creating it on first use. Safe to call concurrently: the check and
/// the creation run in one transaction, so two first calls never make two owners.
pub async fn ensure_owner(state: &AppState) -> Result<User, DesktopError> {
    if let Some(owner) = state.store.read(users::first_active_root).await? {
        return Ok(owner);
    }
    // Nobody signs in with this password: the desktop signs in through its console secret. It
    // only has to exist because every account has one; the owner can set one in the console.
    let unknown_password = random_secret::<32>()?;
    let hash = password::hash(&unknown_password, &state.config.auth).await?;
    let suffix = hex::encode(random_bytes::<3>()?);
    let preferred = state.config.root_username.clone();
    let (owner, created) = state
        .store
        .write(move |tx| {
            if let Some(owner) = users::first_active_root(tx)? {
                return Ok((owner, false));
            }
            let username = free_username(tx, &preferred, &suffix)?;
            let owner = users::insert(
                tx,
                &NewUser {
                    email: format!("{username}@localhost"),
                    username,
                    password_hash: hash,
                    role: Role::Root,
                    user_group_id: None,
                },
            )?;
            audit::insert(
                tx,
                &AuditEvent {
                    actor: Actor::System,
                    action: "user.desktop_owner",
                    target_kind: "user",
                    target_id: Some(owner.id),
                    detail: json!({ "username": owner.username }),
                    ip: None,
                },
            )?;
            Ok((owner, true))
        })
        .await?;
    if created {
        tracing::info!(user_id = owner.id, username = %owner.username, "created the desktop owner");
        // Balances and users feed the routing table.
        state.routing_changed().await;
    }
    Ok(owner)
}

/// The first of `preferred`, [`FALLBACK_USERNAME`] and `desktop-<suffix>` that no account uses as
/// a username or (with `@localhost`) as an email.
fn free_username(c: &Conn, preferred: &str, suffix: &str) -> Result<String, StoreError> {
    let candidates = [
        preferred.to_owned(),
        FALLBACK_USERNAME.to_owned(),
        format!("{FALLBACK_USERNAME}-{suffix}"),
    ];
    for name in candidates {
        if users::find_by_login(c, &name)?.is_none()
            && users::find_by_login(c, &format!("{name}@localhost"))?.is_none()
        {
            return Ok(name);
        }
    }
    Err(StoreError::Conflict("users.username".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[tokio::test]
    async fn a_fresh_install_gets_one_root_owner_and_keeps_it() {
        let state = AppState::for_tests(Config::test_default()).await;
        let first = ensure_owner(&state).await.expect("owner");
        assert_eq!(first.role, Role::Root);
        assert_eq!(first.username, "root");
        let again = ensure_owner(&state).await.expect("owner again");
        assert_eq!(again.id, first.id, "the owner is created once");
        let count = state.store.read(users::count).await.expect("count");
        assert_eq!(count, 1);
    }

    #[tokio::test]
    async fn an_existing_root_is_the_owner() {
        let mut config = Config::test_default();
        config.root_password = Some(crate::config::Secret::new("a root password here"));
        config.root_username = "admin".into();
        let state = AppState::for_tests(config).await;
        let owner = ensure_owner(&state).await.expect("owner");
        assert_eq!(owner.username, "admin");
        let count = state.store.read(users::count).await.expect("count");
        assert_eq!(count, 1, "no second account");
    }

    #[tokio::test]
    async fn a_taken_username_falls_back() {
        let state = AppState::for_tests(Config::test_default()).await;
        state
            .store
            .write(|tx| {
                for name in ["root", "desktop"] {
                    users::insert(
                        tx,
                        &NewUser {
                            username: name.into(),
                            email: format!("{name}@example.test"),
                            password_hash: "x".into(),
                            role: Role::User,
                            user_group_id: None,
                        },
                    )?;
                }
                Ok(())
            })
            .await
            .expect("users");
        let owner = ensure_owner(&state).await.expect("owner");
        assert!(owner.username.starts_with("desktop-"), "{}", owner.username);
        assert_eq!(owner.role, Role::Root);
    }
}
