//! The `users` table: accounts of people who sign in to the console and own tokens.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::row::{decimal, decode_err, time};
use super::{Conn, Page, StoreError, now_ms};

/// What a user may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including `/api/admin/*`.
    Root,
    /// Own tokens and usage only.
    User,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::User => "user",
        }
    }
}

/// Whether a user may sign in and use tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// Normal.
    Active,
    /// Cannot sign in; tokens stop working.
    Disabled,
}

impl UserStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// A user account. The password hash never leaves the store except for verification.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Unique, case-insensitive.
    pub username: String,
    /// Unique, case-insensitive.
    pub email: String,
    /// Root or user.
    pub role: Role,
    /// Active or disabled.
    pub status: UserStatus,
    /// The user group that decides which channel groups the user may use.
    pub user_group_id: i64,
    /// Prepaid balance in USD.
    #[serde(with = "rust_decimal::serde::str")]
    pub balance_usd: Decimal,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The argon2id PHC string.
    #[serde(skip)]
    pub password_hash: String,
}

/// Fields of a new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Username.
    pub username: String,
    /// Email.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// User group; `None` means the default group.
    pub user_group_id: Option<i64>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New username.
    pub username: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New status.
    pub status: Option<UserStatus>,
    /// New user group.
    pub user_group_id: Option<i64>,
}

const COLUMNS: &str = "id, username, email, role, status, user_group_id, balance_usd, created_at, \
                       updated_at, password_hash";

fn from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let role = match row.get_ref(3)?.as_str()? {
        "root" => Role::Root,
        _ => Role::User,
    };
    let status = match row.get_ref(4)?.as_str()? {
        "disabled" => UserStatus::Disabled,
        _ => UserStatus::Active,
    };
    Ok(User {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        role,
        status,
        user_group_id: row.get(5)?,
        balance_usd: decimal(row.get_ref(6)?.as_str()?).map_err(|e| decode_err(6, e))?,
        created_at: time(row.get(7)?),
        updated_at: time(row.get(8)?),
        password_hash: row.get(9)?,
    })
}

/// Inserts a user and returns it.
pub fn insert(c: &Conn, new: &NewUser) -> Result<User, StoreError> {
    let now = now_ms();
    c.execute(
        "INSERT INTO users (username, email, password_hash, role, user_group_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![new.username, new.email, new.password_hash, new.role.as_str(), new.user_group_id.unwrap_or(1), now],
    )?;
    get(c, c.last_insert_rowid())
}

/// The user with this id.
pub fn get(c: &Conn, id: i64) -> Result<User, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = ?1");
    Ok(c.query_row(&sql, [id], from_row)?)
}

/// The user whose username or email equals `login` (case-insensitive).
pub fn find_by_login(c: &Conn, login: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = ?1 OR email = ?1 LIMIT 1");
    Ok(c.query_row(&sql, [login], from_row).optional()?)
}

/// Whether any root user exists.
pub fn root_exists(c: &Conn) -> Result<bool, StoreError> {
    Ok(c.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'root')",
        [],
        |r| r.get(0),
    )?)
}

/// The active root user with the lowest id, if any.
pub fn first_active_root(c: &Conn) -> Result<Option<User>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM users WHERE role = 'root' AND status = 'active' ORDER BY id LIMIT 1"
    );
    Ok(c.query_row(&sql, [], from_row).optional()?)
}

/// Number of active root users.
pub fn active_root_count(c: &Conn) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM users WHERE role = 'root' AND status = 'active'",
        [],
        |r| r.get(0),
    )?)
}

/// Number of users.
pub fn count(c: &Conn) -> Result<i64, StoreError> {
    Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
}

/// Users by ascending id, after `cursor`.
pub fn list(c: &Conn, cursor: Option<i64>, limit: usize) -> Result<Page<User>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT ?2");
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt
        .query_map(params![cursor.unwrap_or(0), limit as i64 + 1], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_overfetch(rows, limit, |u| u.id))
}

/// Applies a patch and returns the updated user.
pub fn update(c: &Conn, id: i64, patch: &UserPatch) -> Result<User, StoreError> {
    let changed = c.execute(
        "UPDATE users SET username = COALESCE(?2, username), email = COALESCE(?3, email), \
         role = COALESCE(?4, role), status = COALESCE(?5, status), \
         user_group_id = COALESCE(?6, user_group_id), updated_at = ?7 WHERE id = ?1",
        params![
            id,
            patch.username,
            patch.email,
            patch.role.map(Role::as_str),
            patch.status.map(UserStatus::as_str),
            patch.user_group_id,
            now_ms()
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    get(c, id)
}

/// Replaces the password hash.
pub fn set_password_hash(c: &Conn, id: i64, hash: &str) -> Result<(), StoreError> {
    let changed = c.execute(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, hash, now_ms()],
    )?;
    if changed == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Adds `delta` (may be negative) to the balance; refuses to go below zero.
pub fn add_balance(c: &Conn, id: i64, delta: Decimal) -> Result<Decimal, StoreError> {
    let user = get(c, id)?;
    let next = user.balance_usd + delta;
    if next.is_sign_negative() && !next.is_zero() {
        return Err(StoreError::Conflict("balance would be negative".into()));
    }
    c.execute(
        "UPDATE users SET balance_usd = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, next.normalize().to_string(), now_ms()],
    )?;
    Ok(next.normalize())
}

/// Charges `amount` to the balance, stopping at zero (the usage row keeps the full cost); returns
/// the new balance.
pub fn charge(c: &Conn, id: i64, amount: Decimal) -> Result<Decimal, StoreError> {
    // cached statements: the usage recorder runs this in every batch
    let balance: String = c
        .prepare_cached("SELECT balance_usd FROM users WHERE id = ?1")?
        .query_row([id], |r| r.get(0))?;
    let next = (decimal(&balance)? - amount).max(Decimal::ZERO).normalize();
    c.prepare_cached("UPDATE users SET balance_usd = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, next.to_string(), now_ms()])?;
    Ok(next)
}

/// Every user's balance, for the relay's in-memory check.
pub fn balances(c: &Conn) -> Result<Vec<(i64, Decimal)>, StoreError> {
    let mut stmt = c.prepare("SELECT id, balance_usd FROM users")?;
    let rows = stmt.query_map([], |r| {
        let text: String = r.get(1)?;
        Ok((r.get::<_, i64>(0)?, text))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, text) = row?;
        out.push((id, decimal(&text)?));
    }
    Ok(out)
}

/// Deletes a user (their sessions and tokens go with them, and their responses still to be
/// billed: there is no one left to bill). Their id is never given to another user.
pub fn delete(c: &Conn, id: i64) -> Result<(), StoreError> {
    if c.execute("DELETE FROM users WHERE id = ?1", [id])? == 0 {
        return Err(StoreError::NotFound);
    }
    c.execute("DELETE FROM unbilled_responses WHERE user_id = ?1", [id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn new_user(name: &str) -> NewUser {
        NewUser {
            username: name.into(),
            email: format!("{name}@example.test"),
            password_hash: "hash".into(),
            role: Role::User,
            user_group_id: None,
        }
    }

    /// A deleted user's responses still to be billed go with them: no one is left to bill.
    #[tokio::test]
    async fn deleting_a_user_forgets_their_responses_to_bill() {
        use crate::store::unbilled_responses::{self, Hold, Unbilled};
        let store = Store::open_in_memory().expect("store");
        let holds = store
            .write(|tx| {
                let gone = insert(tx, &new_user("gone"))?;
                let kept = insert(tx, &new_user("kept"))?;
                let unbilled = Unbilled {
                    model: "gpt".into(),
                    multiplier: Decimal::ONE,
                };
                for (response, user) in [("resp_a", gone.id), ("resp_b", kept.id)] {
                    let hold = Hold {
                        user_id: user,
                        amount: Decimal::ONE,
                    };
                    unbilled_responses::insert(tx, response, &unbilled, Some(hold))?;
                }
                delete(tx, gone.id)?;
                Ok((unbilled_responses::holds(tx)?, kept.id))
            })
            .await
            .expect("write");
        let (holds, kept) = holds;
        assert_eq!(holds.len(), 1);
        assert_eq!(holds[0].user_id, kept);
    }

    #[tokio::test]
    async fn usernames_and_emails_are_unique_case_insensitively() {
        let store = Store::open_in_memory().expect("store");
        store
            .write(|tx| insert(tx, &new_user("alice")))
            .await
            .expect("first");
        let mut other = new_user("ALICE");
        other.email = "other@example.test".into();
        let err = store
            .write(move |tx| insert(tx, &other))
            .await
            .expect_err("dup");
        assert!(
            matches!(err, StoreError::Conflict(ref w) if w.contains("username")),
            "{err}"
        );
        let found = store
            .read(|c| find_by_login(c, "Alice@Example.test"))
            .await
            .expect("find");
        assert_eq!(found.map(|u| u.username).as_deref(), Some("alice"));
    }

    #[tokio::test]
    async fn injection_shaped_login_is_just_a_string() {
        let store = Store::open_in_memory().expect("store");
        store
            .write(|tx| insert(tx, &new_user("bob")))
            .await
            .expect("insert");
        let found = store
            .read(|c| find_by_login(c, "' OR '1'='1"))
            .await
            .expect("query runs");
        assert!(found.is_none());
        assert_eq!(store.read(count).await.expect("count"), 1);
    }

    #[tokio::test]
    async fn balance_never_goes_negative() {
        let store = Store::open_in_memory().expect("store");
        let user = store
            .write(|tx| insert(tx, &new_user("carol")))
            .await
            .expect("insert");
        let id = user.id;
        let after = store
            .write(move |tx| add_balance(tx, id, "1.50".parse().expect("decimal")))
            .await
            .expect("top up");
        assert_eq!(after.to_string(), "1.5");
        let err = store
            .write(move |tx| add_balance(tx, id, "-2".parse().expect("decimal")))
            .await
            .expect_err("refused");
        assert!(matches!(err, StoreError::Conflict(_)));
        assert_eq!(
            store
                .read(move |c| get(c, id))
                .await
                .expect("get")
                .balance_usd
                .to_string(),
            "1.5"
        );
    }

    #[tokio::test]
    async fn pages_follow_the_cursor() {
        let store = Store::open_in_memory().expect("store");
        for name in ["u1", "u2", "u3"] {
            store
                .write(move |tx| insert(tx, &new_user(name)))
                .await
                .expect("insert");
        }
        let first = store.read(|c| list(c, None, 2)).await.expect("page 1");
        assert_eq!(first.items.len(), 2);
        let second = store
            .read(move |c| list(c, first.next_cursor, 2))
            .await
            .expect("page 2");
        assert_eq!(second.items.len(), 1);
        assert!(second.next_cursor.is_none());
    }
}
