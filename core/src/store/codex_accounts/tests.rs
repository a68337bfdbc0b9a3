//! Store tests of `codex_accounts` on in-memory SQLite.

use super::*;
use crate::store::Store;
use crate::store::channels::{self, ChannelKind, NewChannel};
use crate::store::credentials;

fn channel(c: &Conn, name: &str) -> Result<i64, StoreError> {
    let ch = channels::insert(
        c,
        &NewChannel {
            kind: ChannelKind::CodexOauth,
            name: name.into(),
            base_url: "https://chatgpt.com/backend-api/codex".into(),
            status: Status::Enabled,
            priority: 0,
            weight: 1,
            promoted: false,
            settings: serde_json::json!({}),
        },
    )?;
    Ok(ch.id)
}

fn new_account(channel_id: i64, account_id: &str, expires_at: Option<i64>) -> NewAccount {
    NewAccount {
        channel_id,
        account_id: account_id.into(),
        email: "a@example.test".into(),
        plan: "plus".into(),
        access_sealed: vec![1],
        access_hint: "ey...1234".into(),
        refresh_sealed: vec![2],
        id_token_sealed: None,
        expires_at,
        fresh: true,
    }
}

#[tokio::test]
async fn an_account_is_a_credential_of_its_channel_and_goes_with_it() {
    let store = Store::open_in_memory().expect("store");
    let (a, b, account) = store
        .write(|tx| {
            let a = channel(tx, "a")?;
            let b = channel(tx, "b")?;
            let account = insert(tx, &new_account(a, "acct-1", Some(5)))?;
            Ok((a, b, account))
        })
        .await
        .expect("seed");
    assert_eq!(account.status, Status::Enabled);
    assert!(account.last_refresh_at.is_some(), "fresh tokens count");
    let credential = store
        .read(move |c| credentials::get(c, a, account.id))
        .await
        .expect("credential row");
    assert_eq!(credential.name, "a@example.test");
    let other = store.read(move |c| get(c, b, account.id)).await;
    assert!(matches!(other, Err(StoreError::NotFound)));
    let duplicate = store
        .write(move |tx| insert(tx, &new_account(a, "acct-1", None)))
        .await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    store
        .write(move |tx| credentials::delete(tx, a, account.id))
        .await
        .expect("delete");
    let listed = store
        .read(move |c| list_for_channel(c, a))
        .await
        .expect("list");
    assert!(listed.is_empty(), "the account goes with its credential");
}

#[tokio::test]
async fn refresh_bookkeeping_and_due_accounts() {
    let store = Store::open_in_memory().expect("store");
    let (soon, later, unknown) = store
        .write(|tx| {
            let ch = channel(tx, "a")?;
            let soon = insert(tx, &new_account(ch, "soon", Some(1_000)))?.id;
            let later = insert(tx, &new_account(ch, "later", Some(10_000)))?.id;
            let mut stale = new_account(ch, "'; DROP TABLE codex_accounts; --", None);
            stale.fresh = false;
            let unknown = insert(tx, &stale)?.id;
            Ok((soon, later, unknown))
        })
        .await
        .expect("seed");
    let now = now_ms();
    let due = store
        .read(move |c| due_for_refresh(c, now, now + 2_000, 0))
        .await
        .expect("due");
    assert_eq!(due, vec![soon, later], "expiring ones, not the unknown one");
    store
        .write(move |tx| {
            record_refresh_failure(tx, soon, "upstream 500", Some(now + 60_000), false)
        })
        .await
        .expect("failure");
    store
        .write(move |tx| record_refresh_failure(tx, later, "invalid_grant", None, true))
        .await
        .expect("disable");
    let due = store
        .read(move |c| due_for_refresh(c, now, now + 2_000, now + 1))
        .await
        .expect("due");
    assert_eq!(
        due,
        vec![unknown],
        "backed off, disabled, stale unknown expiry"
    );
    store
        .write(move |tx| {
            record_refresh(
                tx,
                soon,
                &Refreshed {
                    refresh_sealed: Some(vec![9]),
                    expires_at: Some(now + 3_600_000),
                    ..Refreshed::default()
                },
            )
        })
        .await
        .expect("refresh");
    let sealed = store.read(move |c| sealed(c, soon)).await.expect("sealed");
    assert_eq!(
        (
            sealed.refresh_sealed,
            sealed.access_sealed,
            sealed.refresh_failures
        ),
        (vec![9], vec![1], 0)
    );
}

#[tokio::test]
async fn quota_windows_keep_what_a_report_omits() {
    let store = Store::open_in_memory().expect("store");
    let (ch, id) = store
        .write(|tx| {
            let ch = channel(tx, "a")?;
            Ok((ch, insert(tx, &new_account(ch, "q", None))?.id))
        })
        .await
        .expect("seed");
    let window = |used| QuotaWindow {
        used_percent: used,
        reset_at: Some(42),
        window_minutes: Some(300),
    };
    store
        .write(move |tx| {
            set_quota(
                tx,
                id,
                &Quota {
                    primary: Some(window(25.0)),
                    secondary: Some(window(10.0)),
                },
                Some("pro"),
            )?;
            set_quota(
                tx,
                id,
                &Quota {
                    primary: Some(window(30.5)),
                    secondary: None,
                },
                None,
            )
        })
        .await
        .expect("quota");
    let account = store.read(move |c| get(c, ch, id)).await.expect("get");
    assert_eq!(account.quota.primary.map(|w| w.used_percent), Some(30.5));
    assert_eq!(account.quota.secondary.map(|w| w.used_percent), Some(10.0));
    assert_eq!(account.plan, "pro");
    assert!(account.quota_updated_at.is_some());
}
