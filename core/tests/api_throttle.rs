//! Login throttling: after `auth.login_max_failures` failures for one account, or from one IP,
//! further attempts get 429 `too_many_attempts` with `Retry-After`, even with the right password.

pub mod common;

use axum::http::StatusCode;
use common::{PASSWORD, Req, Resp, TestApp, test_config};
use serde_json::json;

const MAX_FAILURES: u32 = 3;
const WINDOW_SECS: u64 = 600;

async fn app() -> TestApp {
    let mut config = test_config();
    config.auth.login_max_failures = MAX_FAILURES;
    config.auth.login_window_secs = WINDOW_SECS;
    TestApp::with_config(config).await
}

#[track_caller]
fn assert_throttled(resp: &Resp) {
    resp.assert_error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    let retry = resp.header("retry-after").map(str::parse::<u64>);
    assert!(
        matches!(retry, Some(Ok(secs)) if (1..=WINDOW_SECS).contains(&secs)),
        "Retry-After must be whole seconds within the window: {retry:?}"
    );
    assert!(
        resp.header("set-cookie").is_none(),
        "no session when throttled"
    );
}

#[tokio::test]
async fn one_account_is_throttled_after_n_failures_from_any_ip() {
    let app = app().await;
    app.register("alice").await;
    app.register("bob").await;
    for i in 0..MAX_FAILURES {
        app.send(Req::login("alice", "wrong password").peer(&format!("10.0.0.{i}:1000")))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    // The right password from a fresh address is still refused while the account is throttled.
    let resp = app
        .send(Req::login("alice", PASSWORD).peer("10.9.9.9:1000"))
        .await;
    assert_throttled(&resp);
    // Another account from that address is not affected.
    app.send(Req::login("bob", PASSWORD).peer("10.9.9.9:1000"))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn username_email_and_case_variants_count_as_one_account() {
    let app = app().await;
    app.register("alice").await;
    let variants = ["alice", "alice@example.test", "ALICE@Example.Test"];
    assert_eq!(variants.len() as u32, MAX_FAILURES);
    for (i, login) in variants.iter().enumerate() {
        app.send(Req::login(login, "wrong password").peer(&format!("10.0.1.{i}:1000")))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    for login in ["alice", "alice@example.test"] {
        let resp = app
            .send(Req::login(login, PASSWORD).peer("10.9.9.9:1000"))
            .await;
        assert_throttled(&resp);
    }
}

#[tokio::test]
async fn one_ip_is_throttled_across_accounts() {
    let app = app().await;
    app.register("alice").await;
    app.register("bob").await;
    for login in ["carol", "dave", "alice"] {
        app.send(Req::login(login, "wrong password").peer("10.2.2.2:1000"))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let resp = app
        .send(Req::login("bob", PASSWORD).peer("10.2.2.2:4000"))
        .await;
    assert_throttled(&resp);
    // Bob himself is not throttled from elsewhere.
    app.send(Req::login("bob", PASSWORD).peer("10.3.3.3:1000"))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_dodge_the_ip_limit() {
    let app = app().await;
    app.register("bob").await;
    for i in 0..MAX_FAILURES {
        app.send(
            Req::login(&format!("nobody{i}"), "wrong password")
                .peer("192.0.2.1:1000")
                .header("x-forwarded-for", &format!("198.51.100.{i}")),
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let resp = app
        .send(
            Req::login("bob", PASSWORD)
                .peer("192.0.2.1:1000")
                .header("x-forwarded-for", "198.51.100.200"),
        )
        .await;
    assert_throttled(&resp);
}

#[tokio::test]
async fn a_trusted_proxy_gets_each_client_counted_separately() {
    let app = app().await;
    app.register("bob").await;
    app.set_settings(json!({
        "trust_proxy_headers": true,
        "trusted_proxy_cidrs": ["10.0.0.1/32"],
    }))
    .await;
    for i in 0..MAX_FAILURES {
        app.send(
            Req::login(&format!("nobody{i}"), "wrong password")
                .peer("10.0.0.1:1000")
                .header("x-forwarded-for", "198.51.100.1"),
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let throttled = app
        .send(
            Req::login("bob", PASSWORD)
                .peer("10.0.0.1:1000")
                .header("x-forwarded-for", "198.51.100.1"),
        )
        .await;
    assert_throttled(&throttled);
    // Another client behind the same proxy is its own address.
    app.send(
        Req::login("bob", PASSWORD)
            .peer("10.0.0.1:1000")
            .header("x-forwarded-for", "198.51.100.2"),
    )
    .await
    .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn a_successful_login_resets_the_account_count() {
    let app = app().await;
    app.register("alice").await;
    for round in 0..2 {
        for i in 0..MAX_FAILURES - 1 {
            app.send(Req::login("alice", "wrong password").peer(&format!("10.4.{round}.{i}:1000")))
                .await
                .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
        }
        app.send(Req::login("alice", PASSWORD).peer(&format!("10.5.{round}.1:1000")))
            .await
            .assert_status(StatusCode::OK);
    }
}

#[tokio::test]
async fn failures_are_stored_and_the_window_expires() {
    let app = app().await;
    app.register("alice").await;
    for i in 0..MAX_FAILURES {
        app.send(Req::login("alice", "wrong password").peer(&format!("10.6.0.{i}:1000")))
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    assert_throttled(&app.send(Req::login("alice", PASSWORD)).await);
    // Move every failure out of the window: the account works again.
    app.state
        .store
        .write(move |tx| {
            tx.execute(
                "UPDATE login_failures SET time = time - ?1",
                [(WINDOW_SECS as i64 + 1) * 1000],
            )?;
            Ok(())
        })
        .await
        .expect("age failures");
    app.send(Req::login("alice", PASSWORD))
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_entry_does_not_dodge_the_ip_limit() {
    let app = app().await;
    app.register("bob").await;
    app.set_settings(json!({
        "trust_proxy_headers": true,
        "trusted_proxy_cidrs": ["10.0.0.0/24"],
    }))
    .await;
    // The client makes up the first entry each time; the trusted proxy appends the real address.
    for i in 0..MAX_FAILURES {
        app.send(
            Req::login(&format!("nobody{i}"), "wrong password")
                .peer("10.0.0.1:1000")
                .header("x-forwarded-for", &format!("198.51.100.{i}, 203.0.113.9")),
        )
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let resp = app
        .send(
            Req::login("bob", PASSWORD)
                .peer("10.0.0.1:1000")
                .header("x-forwarded-for", "198.51.100.77, 203.0.113.9"),
        )
        .await;
    assert_throttled(&resp);
    // Hops through a second trusted proxy are skipped the same way.
    let resp = app
        .send(
            Req::login("bob", PASSWORD)
                .peer("10.0.0.1:1000")
                .header("x-forwarded-for", "198.51.100.78, 203.0.113.9, 10.0.0.2"),
        )
        .await;
    assert_throttled(&resp);
}
