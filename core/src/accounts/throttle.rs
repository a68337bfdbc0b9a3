//! Login throttling: after `login_max_failures` failures for one account or from one IP within
//! `login_window_secs`, further attempts are refused until the oldest failure leaves the window.
//! Counted in the database so instances sharing it agree.

use crate::config::AuthConfig;
use crate::store::users::User;
use crate::store::{Conn, StoreError, login_failures};

/// What failures are counted under: the account's username when the login names an existing
/// account, so that its username, its email and any case of either share one count; otherwise
/// the login as typed. Usernames never contain `@`, so an unknown email cannot take one's place.
pub fn account_key(login: &str, user: Option<&User>) -> String {
    user.map_or(login, |u| u.username.as_str()).to_lowercase()
}

/// Seconds to wait before trying again, if the login or IP is throttled now.
pub fn retry_after(
    c: &Conn,
    auth: &AuthConfig,
    login: &str,
    ip: &str,
    now_ms: i64,
) -> Result<Option<u64>, StoreError> {
    let window_ms = (auth.login_window_secs * 1000) as i64;
    let (by_login, by_ip) = login_failures::recent(c, login, ip, now_ms - window_ms)?;
    let max = auth.login_max_failures;
    let wait = |f: login_failures::FailureCount| -> Option<i64> {
        (f.count >= max).then(|| f.oldest.unwrap_or(now_ms) + window_ms - now_ms)
    };
    let longest = [wait(by_login), wait(by_ip)].into_iter().flatten().max();
    Ok(longest.map(|ms| (ms.max(1000) as u64).div_ceil(1000)))
}

/// Records a failure and drops rows that left the window.
pub fn record_failure(
    c: &Conn,
    auth: &AuthConfig,
    login: &str,
    ip: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    login_failures::insert(c, login, ip, now_ms)?;
    login_failures::prune(c, now_ms - (auth.login_window_secs * 1000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn throttles_by_account_and_by_ip_and_expires() {
        let store = Store::open_in_memory().expect("store");
        let auth = AuthConfig {
            login_max_failures: 3,
            login_window_secs: 60,
            ..AuthConfig::default()
        };
        let a = auth.clone();
        store
            .write(move |tx| {
                for i in 0..3 {
                    record_failure(tx, &a, "Alice", &format!("10.0.0.{i}"), 1_000 + i)?;
                }
                Ok(())
            })
            .await
            .expect("record");
        let a = auth.clone();
        let (account, other_ip_other_user, later) = store
            .read(move |c| {
                Ok((
                    retry_after(c, &a, "alice", "10.9.9.9", 2_000)?,
                    retry_after(c, &a, "bob", "10.9.9.9", 2_000)?,
                    retry_after(c, &a, "alice", "10.9.9.9", 62_000)?,
                ))
            })
            .await
            .expect("read");
        assert_eq!(
            account,
            Some(59),
            "the oldest failure leaves the window after 59 s"
        );
        assert_eq!(other_ip_other_user, None);
        assert_eq!(later, None, "the window has passed");

        let a = auth.clone();
        store
            .write(move |tx| {
                for i in 0..3 {
                    record_failure(tx, &a, &format!("user{i}"), "10.1.1.1", 5_000)?;
                }
                Ok(())
            })
            .await
            .expect("record");
        let by_ip = store
            .read(move |c| retry_after(c, &auth, "newcomer", "10.1.1.1", 6_000))
            .await
            .expect("read");
        assert!(
            by_ip.is_some(),
            "one IP trying many accounts is throttled too"
        );
    }
}
