//! Codex account tokens over real HTTP against the fake issuer: refresh on demand with quota,
//! rotation of the refresh token, the background refresh of tokens about to expire (one refresh
//! per account even when asked twice at once), `invalid_grant` disabling the account, and no
//! token readable in the database file.
#![cfg(test)]

pub mod codex_common;

use codex_common::{Env, contains_any};
use fake_upstream::CodexQuota;
use fake_upstream::oauth::invalid_grant;
use realms_core::codex::tokens::{self, Outcome, Trigger};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_fetches_quota() {
    let env = Env::start().await;
    let account = env.sign_in().await;
    let id = account["id"].as_i64().expect("id");
    env.fake.set_codex_quota(CodexQuota {
        primary_used_percent: 61.5,
        ..CodexQuota::default()
    });
    let path = env.channel_path(&format!("/codex-accounts/{id}/refresh"));
    for round in 0..3 {
        let refreshed = env.admin_ok(Method::POST, &path, Value::Null).await;
        let account = &refreshed["account"];
        assert_eq!(account["status"], "enabled", "round {round}: {refreshed}");
        assert!(
            account["last_error"].is_null(),
            "round {round}: {refreshed}"
        );
        assert_eq!(
            account["quota"]["primary"]["used_percent"], 61.5,
            "{refreshed}"
        );
        assert_eq!(account["quota"]["primary"]["window_minutes"], 300);
        assert_eq!(account["quota"]["secondary"]["window_minutes"], 10080);
        assert!(account["quota"]["secondary"]["reset_at"].is_string());
    }
    // each refresh used the token the previous one returned (the fake refuses a reused one)
    let grants: Vec<Value> = env
        .fake
        .requests_to("/oauth/token")
        .iter()
        .skip(1)
        .map(|r| r.json().expect("json refresh body"))
        .collect();
    assert_eq!(grants.len(), 3);
    for grant in &grants {
        assert_eq!(grant["grant_type"], "refresh_token");
        assert_eq!(grant["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    }
    assert_ne!(grants[0]["refresh_token"], grants[1]["refresh_token"]);
    assert_ne!(grants[1]["refresh_token"], grants[2]["refresh_token"]);
    // the usage endpoint got the account's headers
    let usage = env.fake.requests_to("/backend-api/wham/usage");
    let last = usage.last().expect("a usage call");
    assert_eq!(
        last.header("chatgpt-account-id"),
        Some(fake_upstream::OAuthAccount::default().account_id.as_str())
    );
    assert!(
        last.header("authorization")
            .is_some_and(|v| v.starts_with("Bearer "))
    );
}

#[tokio::test]
async fn tokens_about_to_expire_are_refreshed_once_in_the_background() {
    let env = Env::start().await;
    let id = env.sign_in().await["id"].as_i64().expect("id");
    let before = env.fake.count("/oauth/token");
    assert_eq!(
        tokens::refresh_due(&env.state).await,
        0,
        "a fresh token is not due"
    );
    let soon = realms_core::store::now_ms() + 60_000;
    env.state
        .store
        .write(move |tx| {
            Ok(tx.execute(
                "UPDATE codex_accounts SET expires_at = ?1 WHERE id = ?2",
                [soon, id],
            )?)
        })
        .await
        .expect("expire soon");
    let (a, b) = tokio::join!(
        tokens::refresh_account(&env.state, id, Trigger::Due),
        tokens::refresh_account(&env.state, id, Trigger::Due),
    );
    let outcomes = [a.expect("first"), b.expect("second")];
    assert!(
        outcomes.contains(&Outcome::Refreshed) && outcomes.contains(&Outcome::Skipped),
        "single flight: {outcomes:?}"
    );
    assert_eq!(env.fake.count("/oauth/token"), before + 1);
    assert_eq!(
        tokens::refresh_due(&env.state).await,
        0,
        "now good for an hour"
    );

    env.state
        .store
        .write(move |tx| {
            Ok(tx.execute(
                "UPDATE codex_accounts SET expires_at = ?1 WHERE id = ?2",
                [soon, id],
            )?)
        })
        .await
        .expect("expire soon again");
    assert_eq!(
        tokens::refresh_due(&env.state).await,
        1,
        "the upkeep scan finds it"
    );
    // the relay uses the newest access token
    let table = env.state.relay.table.load_full();
    let secret = table.channels[&env.channel].credentials[0]
        .secret
        .expose()
        .to_owned();
    let resp = env.ask().await;
    assert_eq!(resp.status().as_u16(), 200);
    let sent = env.fake.last_request().expect("codex call");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {secret}").as_str())
    );
}

#[tokio::test]
async fn invalid_grant_disables_the_account_and_takes_it_out_of_routing() {
    let env = Env::start().await;
    let id = env.sign_in().await["id"].as_i64().expect("id");
    env.fake.push(invalid_grant());
    let path = env.channel_path(&format!("/codex-accounts/{id}/refresh"));
    let (status, body) = env.admin(Method::POST, &path, Value::Null).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("m")
            .contains("disabled"),
        "{body}"
    );
    let accounts = env.accounts().await;
    let account = &accounts[0];
    assert_eq!(account["status"], "disabled");
    assert!(
        account["last_error"]
            .as_str()
            .expect("error")
            .contains("invalid_grant"),
        "{account}"
    );
    let resp = env.ask().await;
    assert_eq!(resp.status().as_u16(), 503, "no account left to serve");
    assert_eq!(env.fake.count("/backend-api/codex/responses"), 0);

    // other refresh failures back off instead
    let id2 = {
        env.fake.set_oauth_account(fake_upstream::OAuthAccount {
            account_id: "acct-2".into(),
            ..fake_upstream::OAuthAccount::default()
        });
        env.sign_in().await["id"].as_i64().expect("id")
    };
    env.fake
        .push(fake_upstream::Script::status(500, "down").on_path("/oauth/token"));
    let outcome = tokens::refresh_account(&env.state, id2, Trigger::Forced).await;
    assert!(outcome.is_err());
    let second = env
        .accounts()
        .await
        .into_iter()
        .find(|a| a["id"] == id2)
        .expect("second");
    assert_eq!(second["status"], "enabled");
    assert_eq!(second["refresh_failures"], 1);
    assert!(second["next_refresh_at"].is_string(), "{second}");
}

#[tokio::test]
async fn no_token_is_readable_in_the_database_file() {
    let env = Env::start().await;
    let id = env.sign_in().await["id"].as_i64().expect("id");
    let path = env.channel_path(&format!("/codex-accounts/{id}/refresh"));
    env.admin_ok(Method::POST, &path, Value::Null).await;
    let resp = env.ask().await;
    assert_eq!(resp.status().as_u16(), 200);
    let sent = env.fake.last_request().expect("codex call");
    let access = sent
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("bearer")
        .to_owned();
    // the refresh tokens the issuer handed out, and the id token's payload segment
    let grants = env.fake.requests_to("/oauth/token");
    let refresh: Vec<String> = grants
        .iter()
        .filter_map(|r| r.json())
        .filter_map(|v| v["refresh_token"].as_str().map(str::to_owned))
        .collect();
    assert!(!refresh.is_empty());
    let payload = access.split('.').nth(1).expect("jwt").to_owned();
    let db = env.state.store.path().expect("file").to_path_buf();
    let mut bytes = std::fs::read(&db).expect("db");
    if let Ok(wal) = std::fs::read(db.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    let mut needles = vec![access.as_str(), payload.as_str(), "rt_fake_", "ac_fake_"];
    needles.extend(refresh.iter().map(String::as_str));
    assert_eq!(
        contains_any(&bytes, &needles),
        None,
        "a token is stored in plain text"
    );
}
