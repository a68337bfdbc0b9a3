//! The OAuth issuer: authorize redirect, PKCE S256 code exchange, refresh rotation, failures.

use fake_upstream::oauth::{self, jwt_payload, pkce_challenge};
use fake_upstream::{FakeUpstream, OAuthAccount};
use serde_json::Value;

use crate::common::client;

const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
const REDIRECT: &str = "http://localhost:1455/auth/callback";
const VERIFIER: &str = "a-verifier-of-enough-length-0123456789-abcdefghijklmnop";

/// Runs the authorize step and returns `(code, state)` from the redirect.
async fn authorize(fake: &FakeUpstream) -> (String, String) {
    let url = reqwest::Url::parse_with_params(
        &fake.url_for("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile email offline_access"),
            ("code_challenge", &pkce_challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
            ("state", "st a/te"),
        ],
    )
    .expect("url");
    let resp = client().get(url).send().await.expect("authorize");
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let query = location
        .strip_prefix(&format!("{REDIRECT}?"))
        .expect("redirects to redirect_uri");
    let params: std::collections::HashMap<String, String> =
        form_urlencoded_pairs(query).into_iter().collect();
    (params["code"].clone(), params["state"].clone())
}

fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{q}")).expect("url");
    url.query_pairs().into_owned().collect()
}

async fn exchange(fake: &FakeUpstream, code: &str, verifier: &str) -> reqwest::Response {
    client()
        .post(fake.url_for("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            reqwest::Url::parse_with_params(
                "http://x/",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("client_id", CLIENT_ID),
                    ("code_verifier", verifier),
                ],
            )
            .expect("url")
            .query()
            .unwrap_or_default()
            .to_owned(),
        )
        .send()
        .await
        .expect("token")
}

async fn refresh(fake: &FakeUpstream, token: &str) -> reqwest::Response {
    client()
        .post(fake.url_for("/oauth/token"))
        .json(&serde_json::json!({
            "client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": token,
            "scope": "openid profile email",
        }))
        .send()
        .await
        .expect("refresh")
}

#[tokio::test]
async fn code_exchange_checks_the_s256_verifier() {
    let fake = FakeUpstream::start().await;
    let (code, state) = authorize(&fake).await;
    assert_eq!(state, "st a/te");

    let (bad_code, _) = authorize(&fake).await;
    let bad = exchange(&fake, &bad_code, "not-the-verifier").await;
    assert_eq!(bad.status(), 400);
    let v: Value = bad.json().await.expect("json");
    assert_eq!(v["error"], "invalid_grant");

    let ok = exchange(&fake, &code, VERIFIER).await;
    assert_eq!(ok.status(), 200);
    let t: Value = ok.json().await.expect("json");
    assert_eq!(t["expires_in"], 3600);
    assert!(t["refresh_token"].as_str().is_some_and(|s| !s.is_empty()));
    let id = jwt_payload(t["id_token"].as_str().expect("id_token")).expect("JWT-shaped");
    let defaults = OAuthAccount::default();
    assert_eq!(id["email"], defaults.email.as_str());
    assert_eq!(
        id["https://api.openai.com/auth"]["chatgpt_account_id"],
        defaults.account_id.as_str()
    );
    assert_eq!(
        id["https://api.openai.com/auth"]["chatgpt_plan_type"],
        "plus"
    );
    assert!(jwt_payload(t["access_token"].as_str().expect("access_token")).is_some());

    let again = exchange(&fake, &code, VERIFIER).await;
    assert_eq!(again.status(), 400, "a code is single-use");
    assert_eq!(fake.count("/oauth/token"), 3);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_or_revocation_is_invalid_grant() {
    let fake = FakeUpstream::start().await;
    fake.set_oauth_account(OAuthAccount {
        account_id: "acct-42".into(),
        plan_type: "pro".into(),
        expires_in: 60,
        ..Default::default()
    });
    let (code, _) = authorize(&fake).await;
    let first: Value = exchange(&fake, &code, VERIFIER)
        .await
        .json()
        .await
        .expect("json");
    let rt1 = first["refresh_token"].as_str().expect("rt").to_owned();
    assert_eq!(first["expires_in"], 60);

    let second = refresh(&fake, &rt1).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.expect("json");
    let rt2 = second["refresh_token"].as_str().expect("rt").to_owned();
    assert_ne!(rt1, rt2, "refresh tokens rotate");
    let id = jwt_payload(second["id_token"].as_str().expect("id")).expect("jwt");
    assert_eq!(
        id["https://api.openai.com/auth"]["chatgpt_account_id"],
        "acct-42"
    );

    let reused = refresh(&fake, &rt1).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(
        reused.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );

    fake.revoke_refresh_token(&rt2);
    assert_eq!(refresh(&fake, &rt2).await.status(), 400);

    assert_eq!(
        refresh(&fake, "imported-by-hand").await.status(),
        200,
        "unknown tokens are accepted"
    );
    fake.push(oauth::invalid_grant());
    let scripted = refresh(&fake, "another").await;
    assert_eq!(scripted.status(), 400);
    assert_eq!(
        scripted.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn authorize_requires_its_parameters() {
    let fake = FakeUpstream::start().await;
    let r = client()
        .get(fake.url_for("/oauth/authorize?response_type=code&client_id=x"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let r = client()
        .post(fake.url_for("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"],
        "unsupported_grant_type"
    );
}
