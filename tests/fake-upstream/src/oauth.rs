//! A fake OpenAI OAuth issuer for the Codex login flow: `GET /oauth/authorize` redirects back
//! with a code, `POST /oauth/token` exchanges it (checking the PKCE verifier) or a refresh token
//! for JWT-shaped tokens. State is per instance; the Codex backend itself is in `codex.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::errors::oauth_error;
use crate::record::lock;
use crate::script::{Script, json_response};
use crate::server::Shared;

/// `iss` of the minted tokens (the real issuer, in case the relay checks it).
pub const ISSUER: &str = "https://auth.openai.com";

/// The ChatGPT account the issuer logs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthAccount {
    /// `email` claim of the `id_token`.
    pub email: String,
    /// `chatgpt_account_id` inside the `https://api.openai.com/auth` claim.
    pub account_id: String,
    /// `chatgpt_plan_type` inside the same claim.
    pub plan_type: String,
    /// `expires_in` of each access token, in seconds.
    pub expires_in: u64,
}

impl Default for OAuthAccount {
    fn default() -> Self {
        Self {
            email: "fake.user@example.com".to_owned(),
            account_id: "7f6b3c1e-2d4a-4b8c-9e0f-00000000fa4e".to_owned(),
            plan_type: "plus".to_owned(),
            expires_in: 3_600,
        }
    }
}

/// The PKCE S256 challenge of a verifier: base64url (no padding) of its SHA-256.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A JWT-shaped string (`header.payload.signature`, base64url) around this payload. The
/// signature is a fixed fake: relays read these claims, they do not verify them.
pub fn jwt(payload: &Value) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default());
    let head = json!({ "alg": "RS256", "typ": "JWT", "kid": "fake-upstream" });
    format!(
        "{}.{}.{}",
        enc(&head),
        enc(payload),
        URL_SAFE_NO_PAD.encode("fake-upstream-signature")
    )
}

/// The payload of a JWT-shaped string, if it decodes.
pub fn jwt_payload(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// A script making the next `POST /oauth/token` fail with `invalid_grant`.
pub fn invalid_grant() -> Script {
    Script::json(
        400,
        oauth_error(
            "invalid_grant",
            "refresh token is invalid, expired or revoked",
        ),
    )
    .on_path("/oauth/token")
}

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
}

#[derive(Default)]
struct Inner {
    account: OAuthAccount,
    codes: HashMap<String, PendingCode>,
    /// Refresh tokens seen: `true` while usable, `false` once rotated or revoked. Unknown
    /// tokens are accepted, so tokens imported by hand can be refreshed too.
    refresh: HashMap<String, bool>,
    serial: u64,
}

/// Per-instance issuer state.
#[derive(Default)]
pub(crate) struct OAuthState(Mutex<Inner>);

impl OAuthState {
    pub(crate) fn set_account(&self, account: OAuthAccount) {
        lock(&self.0).account = account;
    }

    pub(crate) fn revoke(&self, refresh_token: &str) {
        lock(&self.0)
            .refresh
            .insert(refresh_token.to_owned(), false);
    }
}

fn params(pairs: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(pairs).into_owned().collect()
}

fn json_params(body: &[u8]) -> HashMap<String, String> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return HashMap::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect()
}

fn bad(status: u16, error: &str, description: &str) -> Response {
    json_response(status, &oauth_error(error, description))
}

/// `GET /oauth/authorize`: redirects to `redirect_uri?code=..&state=..` at once (the user
/// "logs in" instantly).
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = params(query.unwrap_or_default().as_bytes());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code" {
        return bad(
            400,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    let (client_id, redirect_uri) = (get("client_id"), get("redirect_uri"));
    if client_id.is_empty() || redirect_uri.is_empty() {
        return bad(
            400,
            "invalid_request",
            "client_id and redirect_uri are required",
        );
    }
    let challenge = q.get("code_challenge").map(|c| {
        let method = q.get("code_challenge_method").cloned();
        (c.clone(), method.unwrap_or_else(|| "plain".to_owned()))
    });
    let code = {
        let mut inner = lock(&shared.oauth.0);
        inner.serial += 1;
        let code = format!("ac_fake_{:06}", inner.serial);
        let pending = PendingCode {
            client_id,
            redirect_uri: redirect_uri.clone(),
            challenge,
        };
        inner.codes.insert(code.clone(), pending);
        code
    };
    let mut back = form_urlencoded::Serializer::new(String::new());
    back.append_pair("code", &code);
    if let Some(state) = q.get("state") {
        back.append_pair("state", state);
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{redirect_uri}{sep}{}", back.finish());
    let Ok(location) = HeaderValue::from_str(&location) else {
        return bad(
            400,
            "invalid_request",
            "redirect_uri is not a valid header value",
        );
    };
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `POST /oauth/token`, form-encoded (as the Codex login sends) or JSON (as its refresh sends).
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let p = if is_json {
        json_params(&body)
    } else {
        params(&body)
    };
    let get = |k: &str| p.get(k).map(String::as_str);
    let mut inner = lock(&shared.oauth.0);
    let client_id = match get("grant_type") {
        Some("authorization_code") => {
            let Some(code) = get("code") else {
                return bad(400, "invalid_request", "code is required");
            };
            let Some(pending) = inner.codes.remove(code) else {
                return bad(
                    400,
                    "invalid_grant",
                    "authorization code is invalid or used",
                );
            };
            if let Err(why) = check_code(
                &pending,
                get("client_id"),
                get("redirect_uri"),
                get("code_verifier"),
            ) {
                return bad(400, "invalid_grant", why);
            }
            pending.client_id
        }
        Some("refresh_token") => {
            let Some(rt) = get("refresh_token") else {
                return bad(400, "invalid_request", "refresh_token is required");
            };
            if inner.refresh.insert(rt.to_owned(), false) == Some(false) {
                return bad(
                    400,
                    "invalid_grant",
                    "refresh token was already used or revoked",
                );
            }
            get("client_id").unwrap_or_default().to_owned()
        }
        _ => return bad(400, "unsupported_grant_type", "grant_type is not supported"),
    };
    inner.serial += 1;
    let serial = inner.serial;
    let refresh_token = format!("rt_fake_{serial:06}");
    inner.refresh.insert(refresh_token.clone(), true);
    let account = inner.account.clone();
    drop(inner);
    json_response(200, &tokens(&account, &client_id, serial, &refresh_token))
}

fn check_code(
    pending: &PendingCode,
    client_id: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<(), &'static str> {
    if client_id.is_some_and(|c| c != pending.client_id) {
        return Err("code was issued to another client");
    }
    if redirect_uri.is_some_and(|r| r != pending.redirect_uri) {
        return Err("redirect_uri does not match the authorization request");
    }
    let Some((challenge, method)) = &pending.challenge else {
        return Ok(());
    };
    let Some(verifier) = verifier else {
        return Err("code_verifier is required");
    };
    let ok = match method.as_str() {
        "S256" => pkce_challenge(verifier) == *challenge,
        _ => verifier == challenge,
    };
    if ok {
        Ok(())
    } else {
        Err("code_verifier does not match the code_challenge")
    }
}

fn tokens(account: &OAuthAccount, client_id: &str, serial: u64, refresh_token: &str) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exp = now.saturating_add(account.expires_in);
    let auth = json!({
        "chatgpt_account_id": account.account_id,
        "chatgpt_plan_type": account.plan_type,
        "chatgpt_user_id": "user-fake0001",
        "user_id": "user-fake0001",
    });
    let id_token = jwt(&json!({
        "iss": ISSUER, "aud": [client_id], "sub": "auth0|fake-user-0001",
        "iat": now, "auth_time": now, "exp": exp,
        "email": account.email, "email_verified": true,
        "https://api.openai.com/auth": auth,
    }));
    let access_token = jwt(&json!({
        "iss": ISSUER, "aud": ["https://api.openai.com/v1"], "client_id": client_id,
        "sub": "auth0|fake-user-0001", "iat": now, "exp": exp, "jti": format!("at_fake_{serial:06}"),
        "scp": ["openid", "profile", "email", "offline_access"],
        "https://api.openai.com/auth": auth,
        "https://api.openai.com/profile": { "email": account.email, "email_verified": true },
    }));
    json!({
        "access_token": access_token,
        "refresh_token": refresh_token,
        "id_token": id_token,
        "token_type": "Bearer",
        "expires_in": account.expires_in,
        "scope": "openid profile email offline_access",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_a_challenge_computed_with_python_hashlib() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mJ92K1cMRmBTDhl5hLpqYjuc-kqPOO4PfxAmaU"),
            "fYGhI2qi128FSTRnBkeltp5QNTddUkbMs8S4HLL6yPM"
        );
    }

    #[test]
    fn jwt_round_trips() {
        let t = jwt(&json!({ "email": "a@b" }));
        assert_eq!(t.split('.').count(), 3);
        assert_eq!(jwt_payload(&t).expect("decodes")["email"], "a@b");
    }
}
