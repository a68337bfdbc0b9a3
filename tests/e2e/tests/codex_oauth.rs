//! Adding Codex accounts over real HTTP against the fake OAuth issuer: the paste flow in every
//! pasted form, the local listener flow, a taken listener port, manual import, and every bad
//! input (wrong, expired or foreign state, malformed callback, issuer errors, unreadable
//! `id_token`, wrong channel) with nothing half-created and no token in any answer.
#![cfg(test)]

pub mod codex_common;

use codex_common::{Env, Options, contains_any};
use fake_upstream::oauth::{invalid_grant, jwt};
use fake_upstream::{OAuthAccount, Script};
use reqwest::Method;
use serde_json::{Value, json};

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn the_paste_flow_adds_an_account_from_the_id_token() {
    let env = Env::start().await;
    let started = env.start_sign_in().await;
    let auth_url = started["auth_url"].as_str().expect("auth_url");
    assert!(auth_url.starts_with(&format!("{}/oauth/authorize?", env.fake.url())));
    let q = query_of(auth_url);
    assert_eq!(q["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    assert_eq!(q["scope"], "openid profile email offline_access");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "base64url of a SHA-256");
    assert_eq!(q["id_token_add_organizations"], "true");
    assert_eq!(q["codex_cli_simplified_flow"], "true");
    assert_eq!(q["state"], started["state"].as_str().expect("state"));
    assert_eq!(
        q["redirect_uri"],
        started["redirect_uri"].as_str().expect("redirect")
    );
    assert_eq!(started["listener"]["status"], "off");
    assert!(started["expires_at"].is_string());

    let location = env.authorize(auth_url).await;
    let (status, body) = env.complete(&location).await;
    assert_eq!(status, 201, "{body}");
    let account = &body["account"];
    let fake = OAuthAccount::default();
    assert_eq!(account["account_id"], fake.account_id.as_str());
    assert_eq!(account["email"], fake.email.as_str());
    assert_eq!(account["plan"], "plus");
    assert_eq!(account["status"], "enabled");
    assert!(account["expires_at"].is_string() && account["last_refresh_at"].is_string());
    let text = body.to_string();
    assert!(
        contains_any(text.as_bytes(), &["rt_fake_", "eyJ", "ac_fake_"]).is_none(),
        "no token in the answer: {text}"
    );

    // the token exchange sent the verifier whose challenge was in the authorize URL
    let exchange = env.fake.requests_to("/oauth/token");
    assert_eq!(exchange.len(), 1);
    let form: std::collections::HashMap<String, String> = url_form(&exchange[0].body_text());
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["client_id"], "app_EMoamEEZ73f0CkXaXp7hrann");
    assert_eq!(form["redirect_uri"], q["redirect_uri"]);
    assert_eq!(
        fake_upstream::oauth::pkce_challenge(&form["code_verifier"]),
        q["code_challenge"]
    );

    let listed = env.accounts().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], account["id"]);
    // the account is the channel's credential, shown as a hint only
    let channel = env
        .admin_ok(Method::GET, &env.channel_path(""), Value::Null)
        .await;
    assert_eq!(channel["channel"]["credentials"][0]["id"], account["id"]);
    assert!(
        contains_any(channel.to_string().as_bytes(), &["rt_fake_", "eyJ"]).is_none(),
        "{channel}"
    );
}

fn url_form(body: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x.test/?{body}"))
        .expect("form")
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn a_query_string_or_code_hash_state_completes_too_and_signing_in_again_replaces_tokens() {
    let env = Env::start().await;
    let started = env.start_sign_in().await;
    let location = env
        .authorize(started["auth_url"].as_str().expect("url"))
        .await;
    let query = location.split_once('?').expect("query").1.to_owned();
    let (status, first) = env.complete(&query).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["created"], true);

    let started = env.start_sign_in().await;
    let location = env
        .authorize(started["auth_url"].as_str().expect("url"))
        .await;
    let q = query_of(&location);
    let (status, again) = env.complete(&format!("{}#{}", q["code"], q["state"])).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again["created"], false,
        "the same ChatGPT account signs in again"
    );
    assert_eq!(again["account"]["id"], first["account"]["id"]);
    assert_eq!(env.accounts().await.len(), 1);

    env.fake.set_oauth_account(OAuthAccount {
        email: "second@example.com".into(),
        account_id: "acct-second".into(),
        plan_type: "pro".into(),
        ..OAuthAccount::default()
    });
    let second = env.sign_in().await;
    assert_eq!(
        (second["email"].as_str(), second["plan"].as_str()),
        (Some("second@example.com"), Some("pro"))
    );
    assert_eq!(env.accounts().await.len(), 2);
}

async fn assert_refused(env: &Env, pasted: &str, status: u16, code: &str, needle: &str) {
    let (got, body) = env.complete(pasted).await;
    assert_eq!(got, status, "{pasted}: {body}");
    assert_eq!(body["error"]["code"], code, "{pasted}: {body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(needle), "{pasted}: {message}");
}

#[tokio::test]
async fn bad_callbacks_and_states_are_refused_and_create_nothing() {
    let env = Env::start().await;
    assert_refused(&env, "garbage", 400, "invalid_request", "callback_url").await;
    assert_refused(
        &env,
        "http://localhost:1455/auth/callback?state=x",
        400,
        "invalid_request",
        "code",
    )
    .await;
    assert_refused(
        &env,
        "http://localhost:1455/auth/callback?error=access_denied&state=x",
        400,
        "invalid_request",
        "access_denied",
    )
    .await;
    assert_refused(
        &env,
        "code=ac_x&state=never-issued",
        400,
        "invalid_request",
        "unknown",
    )
    .await;

    // expired: the flow is there but past its 30 minutes
    let started = env.start_sign_in().await;
    let location = env
        .authorize(started["auth_url"].as_str().expect("url"))
        .await;
    env.state
        .store
        .write(|tx| Ok(tx.execute("UPDATE oauth_flows SET expires_at = 1", [])?))
        .await
        .expect("expire");
    assert_refused(&env, &location, 400, "invalid_request", "expired").await;
    assert_refused(&env, &location, 400, "invalid_request", "unknown").await;
    assert!(env.accounts().await.is_empty());
    assert_eq!(
        env.fake.count("/oauth/token"),
        0,
        "no exchange for a refused state"
    );
}

#[tokio::test]
async fn a_state_started_by_another_admin_is_refused_and_stays_theirs() {
    let env = Env::start().await;
    // a root user with a session, beside the admin key
    let client = reqwest::Client::new();
    let resp = client
        .post(env.url("/api/auth/register"))
        .json(&json!({ "username": "root2", "email": "root2@example.test", "password": "a long password" }))
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status().as_u16(), 201);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_owned();
    let user: Value = resp.json().await.expect("json");
    let user_id = user["user"]["id"].as_i64().expect("id");
    env.admin_ok(
        Method::PATCH,
        &format!("/api/admin/users/{user_id}"),
        json!({ "role": "root" }),
    )
    .await;

    let started = env.start_sign_in().await; // by the admin key
    let location = env
        .authorize(started["auth_url"].as_str().expect("url"))
        .await;
    let resp = client
        .post(env.url(&env.channel_path("/codex-oauth/complete")))
        .header("cookie", &cookie)
        .header("realms-user", user_id.to_string())
        .json(&json!({ "callback_url": location }))
        .send()
        .await
        .expect("complete");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("another administrator"),
        "{body}"
    );
    assert!(env.accounts().await.is_empty());
    let (status, body) = env.complete(&location).await;
    assert_eq!(status, 201, "the admin who started it still can: {body}");
}

#[tokio::test]
async fn issuer_errors_and_unreadable_id_tokens_are_422_with_nothing_created() {
    let env = Env::start().await;
    let started = env.start_sign_in().await;
    let location = env
        .authorize(started["auth_url"].as_str().expect("url"))
        .await;
    env.fake.push(invalid_grant());
    let (status, body) = env.complete(&location).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("m")
            .contains("invalid_grant"),
        "{body}"
    );

    for (case, tokens) in [
        (
            "not a jwt",
            json!({"access_token": "at", "refresh_token": "rt_x", "id_token": "not-a-jwt"}),
        ),
        (
            "no account claim",
            json!({"access_token": "at", "refresh_token": "rt_x", "id_token": jwt(&json!({"email": "a@b.test"}))}),
        ),
        (
            "no id token",
            json!({"access_token": "at", "refresh_token": "rt_x"}),
        ),
    ] {
        let started = env.start_sign_in().await;
        let location = env
            .authorize(started["auth_url"].as_str().expect("url"))
            .await;
        env.fake
            .push(Script::json(200, tokens).on_path("/oauth/token"));
        let (status, body) = env.complete(&location).await;
        assert_eq!(status, 422, "case {case}: {body}");
        assert_eq!(body["error"]["code"], "unprocessable", "case {case}");
        assert!(!body.to_string().contains("rt_x"), "case {case}: {body}");
    }
    assert!(env.accounts().await.is_empty(), "nothing half-created");
}

#[tokio::test]
async fn only_codex_channels_take_accounts() {
    let env = Env::start().await;
    let other = env
        .admin_ok(
            Method::POST,
            "/api/admin/channels",
            json!({ "type": "openai_compatible", "name": "plain", "base_url": env.fake.url(), "api_keys": ["sk-up"] }),
        )
        .await;
    let id = other["channel"]["id"].as_i64().expect("id");
    for (method, rest, body) in [
        (Method::POST, "/codex-oauth/start", Value::Null),
        (
            Method::POST,
            "/codex-oauth/complete",
            json!({ "callback_url": "a#b" }),
        ),
        (Method::GET, "/codex-accounts", Value::Null),
        (
            Method::POST,
            "/codex-accounts",
            json!({ "access_token": "a", "refresh_token": "b", "account_id": "c" }),
        ),
    ] {
        let (status, answer) = env
            .admin(
                method.clone(),
                &format!("/api/admin/channels/{id}{rest}"),
                body.clone(),
            )
            .await;
        assert_eq!(status, 422, "{method} {rest}: {answer}");
        let (status, _) = env
            .admin(
                method.clone(),
                &format!("/api/admin/channels/999999{rest}"),
                body,
            )
            .await;
        assert_eq!(status, 404, "{method} {rest} on a missing channel");
    }
}

#[tokio::test]
async fn the_listener_completes_the_sign_in_and_closes() {
    let env = Env::start_with(Options {
        listener: true,
        callback_port: 0,
    })
    .await;
    let started = env.start_sign_in().await;
    assert_eq!(started["listener"]["status"], "listening", "{started}");
    let port = started["listener"]["port"].as_u64().expect("port");
    assert_ne!(port, 0);
    assert_eq!(
        started["redirect_uri"],
        format!("http://localhost:{port}/auth/callback")
    );

    let location = env
        .authorize(started["auth_url"].as_str().expect("url"))
        .await;
    let local = location.replace("://localhost:", "://127.0.0.1:");
    let page = env.http.get(&local).send().await.expect("callback");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("You can close this window"), "{html}");
    assert!(html.contains(&OAuthAccount::default().email), "{html}");
    assert_eq!(env.accounts().await.len(), 1, "nothing was pasted");

    // the flow is used up and the listener is gone
    let (status, _) = env.complete(&location).await;
    assert_eq!(status, 400);
    let mut closed = false;
    for _ in 0..100 {
        if env.http.get(&local).send().await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(closed, "the listener closes when no sign-in is pending");
}

#[tokio::test]
async fn a_taken_listener_port_is_reported_and_pasting_still_works() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let env = Env::start_with(Options {
        listener: true,
        callback_port: port,
    })
    .await;
    let started = env.start_sign_in().await;
    assert_eq!(started["listener"]["status"], "unavailable", "{started}");
    assert!(
        started["listener"]["message"]
            .as_str()
            .expect("message")
            .contains("paste"),
        "{started}"
    );
    assert_eq!(
        started["redirect_uri"],
        format!("http://localhost:{port}/auth/callback")
    );
    let location = env
        .authorize(started["auth_url"].as_str().expect("url"))
        .await;
    let (status, body) = env.complete(&location).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn imported_tokens_make_an_account_and_bad_imports_are_refused() {
    let env = Env::start().await;
    let path = env.channel_path("/codex-accounts");
    let auth = json!({"chatgpt_account_id": "acct-imp", "chatgpt_plan_type": "team"});
    let id_token = jwt(&json!({"email": "imp@example.test", "https://api.openai.com/auth": auth}));
    let access = jwt(&json!({"exp": 4_000_000_000_i64, "https://api.openai.com/auth": auth}));
    let (status, body) = env
        .admin(
            Method::POST,
            &path,
            json!({ "access_token": access, "refresh_token": "rt_imported_1", "id_token": id_token }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let account = &body["account"];
    assert_eq!(
        (
            account["account_id"].as_str(),
            account["email"].as_str(),
            account["plan"].as_str()
        ),
        (Some("acct-imp"), Some("imp@example.test"), Some("team"))
    );
    assert_eq!(
        account["expires_at"], "2096-10-02T07:06:40Z",
        "from the access token's `exp`"
    );
    assert!(!body.to_string().contains("rt_imported_1"));

    // opaque tokens with the account id given
    let (status, body) = env
        .admin(
            Method::POST,
            &path,
            json!({ "access_token": "opaque", "refresh_token": "rt_2", "account_id": "acct-plain", "email": "p@example.test", "expires_at": "2030-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["account"]["expires_at"], "2030-01-01T00:00:00Z");

    let bad = [
        (
            "no account id",
            json!({ "access_token": "a", "refresh_token": "b" }),
            422,
        ),
        (
            "unreadable id token",
            json!({ "access_token": "a", "refresh_token": "b", "id_token": "x.y" }),
            422,
        ),
        (
            "contradiction",
            json!({ "access_token": "a", "refresh_token": "b", "id_token": id_token, "account_id": "other" }),
            422,
        ),
        (
            "empty token",
            json!({ "access_token": " ", "refresh_token": "b", "account_id": "c" }),
            400,
        ),
        (
            "spaces",
            json!({ "access_token": "a b", "refresh_token": "b", "account_id": "c" }),
            400,
        ),
        (
            "missing refresh",
            json!({ "access_token": "a", "account_id": "c" }),
            400,
        ),
        (
            "unknown field",
            json!({ "access_token": "a", "refresh_token": "b", "account_id": "c", "x": 1 }),
            400,
        ),
    ];
    for (case, body, want) in bad {
        let (status, answer) = env.admin(Method::POST, &path, body).await;
        assert_eq!(status, want, "case {case}: {answer}");
        assert!(!answer.to_string().contains("a b"), "case {case}");
    }
    assert_eq!(env.accounts().await.len(), 2);
}

#[tokio::test]
async fn accounts_can_be_disabled_enabled_and_deleted() {
    let env = Env::start().await;
    let account = env.sign_in().await;
    let path = env.channel_path(&format!("/codex-accounts/{}", account["id"]));
    let patched = env
        .admin_ok(Method::PATCH, &path, json!({ "status": "disabled" }))
        .await;
    assert_eq!(patched["account"]["status"], "disabled");
    let table = env.state.relay.table.load_full();
    assert!(
        !table.channels.contains_key(&env.channel)
            || table.channels[&env.channel].credentials.is_empty(),
        "a disabled account is not routed"
    );
    let patched = env
        .admin_ok(Method::PATCH, &path, json!({ "status": "enabled" }))
        .await;
    assert_eq!(patched["account"]["status"], "enabled");
    assert_eq!(
        env.state.relay.table.load_full().channels[&env.channel]
            .credentials
            .len(),
        1
    );
    let (status, _) = env.admin(Method::DELETE, &path, Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = env.admin(Method::GET, &path, Value::Null).await;
    assert_eq!(status, 404);
    assert!(env.accounts().await.is_empty());
    let audits: i64 = env
        .state
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM audit_events WHERE action LIKE 'codex_%'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("audit");
    assert_eq!(audits, 5, "start, create, two updates, delete");
}
