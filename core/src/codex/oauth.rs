//! The OAuth side of Codex accounts, as the Codex CLI's public client does it: PKCE (S256), the
//! authorize URL, reading the callback an admin pastes back, the code and refresh grants against
//! `{issuer}/oauth/token`, and the claims of the JWT-shaped tokens. No database and no state here;
//! token values never reach an error message or a log line.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Secret;
use crate::crypto::{self, CryptoError};

/// The Codex CLI's public OAuth client id (the issuer knows Realms by it).
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
/// Scopes of the sign-in; `offline_access` brings the refresh token.
pub const SCOPE: &str = "openid profile email offline_access";
/// Scopes asked for on refresh, as the Codex CLI does.
const REFRESH_SCOPE: &str = "openid profile email";
/// The path of the redirect registered for the public client.
pub const CALLBACK_PATH: &str = "/auth/callback";
/// The claim holding the ChatGPT account facts.
const AUTH_CLAIM: &str = "https://api.openai.com/auth";
/// The claim of access tokens holding the email.
const PROFILE_CLAIM: &str = "https://api.openai.com/profile";
/// Time allowed for one call to the token endpoint.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest OAuth error code repeated to the admin; real ones are a few words.
const MAX_ERROR_CODE_CHARS: usize = 64;
/// Longest callback input read; a real callback URL is well under 2 KB.
pub const MAX_CALLBACK_CHARS: usize = 8 * 1024;

/// The redirect URI for a callback listener on `port` (1455 for the public client).
pub fn redirect_uri(port: u16) -> String {
    format!("http://localhost:{port}{CALLBACK_PATH}")
}

/// A PKCE pair: the secret verifier (kept, sealed) and its S256 challenge (sent).
pub struct Pkce {
    /// The verifier, 86 base64url characters (64 random bytes), as the Codex CLI makes it.
    pub verifier: String,
    /// `base64url(sha256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn generate() -> Result<Self, CryptoError> {
        let verifier = crypto::random_secret::<64>()?;
        let challenge = challenge_of(&verifier);
        Ok(Self {
            verifier,
            challenge,
        })
    }
}

/// The S256 challenge of a verifier.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::sha256(verifier.as_bytes()))
}

/// The URL the admin opens to sign in.
pub fn authorize_url(issuer: &str, redirect_uri: &str, challenge: &str, state: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", SCOPE)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("id_token_add_organizations", "true")
        .append_pair("codex_cli_simplified_flow", "true")
        .append_pair("state", state)
        .finish();
    format!("{}/oauth/authorize?{query}", issuer.trim_end_matches('/'))
}

/// The `code` and `state` an issuer sent back.
#[derive(Clone, PartialEq, Eq)]
pub struct Callback {
    /// The authorization code (single use, short-lived).
    pub code: String,
    /// The state Realms issued.
    pub state: String,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Callback([redacted])")
    }
}

/// Why a pasted callback could not be read; each message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Nothing usable was pasted.
    #[error(
        "`callback_url` must be the full URL the browser was sent to, its query string, or `code#state`"
    )]
    Malformed,
    /// A part is missing.
    #[error("`callback_url` has no `{0}`")]
    Missing(&'static str),
    /// The issuer reported an error instead of a code (e.g. the sign-in was cancelled).
    #[error("the sign-in did not succeed: the issuer answered `{0}`")]
    Denied(String),
}

/// Reads what an admin pasted: the whole callback URL
/// (`http://localhost:1455/auth/callback?code=..&state=..`), just its query string (with or
/// without `?`), or `code#state`.
pub fn parse_callback(input: &str) -> Result<Callback, CallbackError> {
    let input = input.trim();
    if input.is_empty()
        || input.chars().count() > MAX_CALLBACK_CHARS
        || input.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(CallbackError::Malformed);
    }
    let query = if input.contains("://") {
        let url = url::Url::parse(input).map_err(|_| CallbackError::Malformed)?;
        url.query().unwrap_or_default().to_owned()
    } else if input.contains('=') {
        input.trim_start_matches('?').to_owned()
    } else if let Some((code, state)) = input.split_once('#') {
        return callback_of(Some(code.to_owned()), Some(state.to_owned()));
    } else {
        return Err(CallbackError::Malformed);
    };
    let mut code = None;
    let mut state = None;
    let mut error = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "code" => code = Some(value.into_owned()),
            "state" => state = Some(value.into_owned()),
            "error" => error = Some(value.into_owned()),
            _ => {}
        }
    }
    if let Some(error) = error {
        return Err(CallbackError::Denied(safe_code(&error)));
    }
    callback_of(code, state)
}

fn callback_of(code: Option<String>, state: Option<String>) -> Result<Callback, CallbackError> {
    let code = code
        .filter(|c| !c.is_empty())
        .ok_or(CallbackError::Missing("code"))?;
    let state = state
        .filter(|s| !s.is_empty())
        .ok_or(CallbackError::Missing("state"))?;
    Ok(Callback { code, state })
}

/// An OAuth error code reduced to characters that are safe to repeat.
pub fn safe_code(code: &str) -> String {
    let cleaned: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(MAX_ERROR_CODE_CHARS)
        .collect();
    if cleaned.is_empty() {
        "unknown_error".into()
    } else {
        cleaned
    }
}

/// Tokens from the token endpoint. `Debug` shows no value.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The bearer token for the Codex backend.
    pub access_token: Secret,
    /// The refresh token (rotated on refresh by the real issuer).
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// The OpenID token with the account claims.
    #[serde(default)]
    pub id_token: Option<Secret>,
    /// Lifetime of the access token, in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Why a token request failed; each message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The issuer refused the grant. `permanent` when the refresh token (or code) can never work
    /// again (`invalid_grant`, an expired, reused or revoked refresh token).
    #[error("the OAuth issuer refused the request (`{code}`)")]
    Refused {
        /// The issuer's error code, sanitised.
        code: String,
        /// Whether retrying is pointless.
        permanent: bool,
    },
    /// The issuer could not be reached, did not answer in time, or failed (5xx).
    #[error("the OAuth issuer could not be reached or failed; try again")]
    Unreachable,
    /// The issuer answered something that is not a token response.
    #[error("the OAuth issuer's answer could not be read")]
    Malformed,
}

impl TokenError {
    /// Whether this failure disables the account.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                permanent: true,
                ..
            }
        )
    }
}

/// Exchanges an authorization code (form-encoded, as the Codex CLI does).
pub async fn exchange_code(
    http: &reqwest::Client,
    issuer: &str,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<TokenResponse, TokenError> {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("client_id", CLIENT_ID)
        .append_pair("code_verifier", verifier)
        .finish();
    let request = http
        .post(token_url(issuer))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form);
    send(request).await
}

/// Uses a refresh token (JSON, as the Codex CLI does).
pub async fn refresh(
    http: &reqwest::Client,
    issuer: &str,
    refresh_token: &str,
) -> Result<TokenResponse, TokenError> {
    let body = json!({
        "client_id": CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": REFRESH_SCOPE,
    });
    send(http.post(token_url(issuer)).json(&body)).await
}

fn token_url(issuer: &str) -> String {
    format!("{}/oauth/token", issuer.trim_end_matches('/'))
}

async fn send(request: reqwest::RequestBuilder) -> Result<TokenResponse, TokenError> {
    let response = request
        .timeout(TOKEN_TIMEOUT)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|_| TokenError::Unreachable)?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|_| TokenError::Unreachable)?;
    if status.is_success() {
        return serde_json::from_slice::<TokenResponse>(&body).map_err(|_| TokenError::Malformed);
    }
    if status.is_server_error() {
        return Err(TokenError::Unreachable);
    }
    Err(refusal(status.as_u16(), &body))
}

/// Reads an OAuth error body: `{"error": "invalid_grant", ...}` (RFC 6749) or OpenAI's
/// `{"error": {"code": "refresh_token_expired", ...}}`.
fn refusal(status: u16, body: &[u8]) -> TokenError {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = match &value["error"] {
        Value::String(code) => code.clone(),
        Value::Object(map) => map
            .get("code")
            .or_else(|| map.get("type"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    let code = if code.is_empty() {
        format!("http_{status}")
    } else {
        safe_code(&code)
    };
    let permanent = matches!(
        code.as_str(),
        "invalid_grant"
            | "refresh_token_expired"
            | "refresh_token_reused"
            | "refresh_token_invalidated"
    );
    TokenError::Refused { code, permanent }
}

/// What Realms reads from a JWT-shaped token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// `https://api.openai.com/auth` → `chatgpt_account_id`.
    pub account_id: Option<String>,
    /// `email` (id token) or `https://api.openai.com/profile` → `email` (access token).
    pub email: Option<String>,
    /// `https://api.openai.com/auth` → `chatgpt_plan_type`.
    pub plan: Option<String>,
    /// `exp`, unix seconds.
    pub expires_at: Option<i64>,
}

/// Why a token's claims could not be read; the token is never repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// Not three dot-separated base64url parts with a JSON object in the middle.
    #[error("is not a readable JWT")]
    NotJwt,
}

/// The claims of a JWT-shaped token. The signature is not checked: the token came straight from
/// the issuer over TLS (or from an admin), and the upstream checks it on every call.
pub fn claims(token: &str) -> Result<Claims, ClaimsError> {
    let mut parts = token.trim().split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ClaimsError::NotJwt);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| ClaimsError::NotJwt)?;
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(ClaimsError::NotJwt);
    };
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let auth = map.get(AUTH_CLAIM);
    Ok(Claims {
        account_id: text(auth.and_then(|a| a.get("chatgpt_account_id"))),
        email: text(map.get("email"))
            .or_else(|| text(map.get(PROFILE_CLAIM).and_then(|p| p.get("email")))),
        plan: text(auth.and_then(|a| a.get("chatgpt_plan_type"))),
        expires_at: map.get("exp").and_then(Value::as_i64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
        format!("{}.{}.sig", enc(&json!({"alg": "RS256"})), enc(payload))
    }

    #[test]
    fn pkce_challenge_matches_python_hashlib() {
        // python3: base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b'=')
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mJ92K1cMRmBTDhl5hLpqYjuc-kqPOO4PfxAmaU"),
            "fYGhI2qi128FSTRnBkeltp5QNTddUkbMs8S4HLL6yPM"
        );
        let pkce = Pkce::generate().expect("pkce");
        assert_eq!(pkce.verifier.len(), 86);
        assert_eq!(pkce.challenge, challenge_of(&pkce.verifier));
    }

    #[test]
    fn the_authorize_url_carries_every_codex_parameter() {
        let url = authorize_url(
            "https://auth.openai.com/",
            &redirect_uri(1455),
            "chal",
            "st",
        );
        let parsed = url::Url::parse(&url).expect("url");
        assert_eq!(parsed.path(), "/oauth/authorize");
        let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], CLIENT_ID);
        assert_eq!(q["redirect_uri"], "http://localhost:1455/auth/callback");
        assert_eq!(q["scope"], "openid profile email offline_access");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["id_token_add_organizations"], "true");
        assert_eq!(q["codex_cli_simplified_flow"], "true");
        assert_eq!(
            (q["state"].as_str(), q["response_type"].as_str()),
            ("st", "code")
        );
    }

    #[test]
    fn callbacks_are_read_in_every_pasted_form() {
        let want = Callback {
            code: "ac_1".into(),
            state: "s-2".into(),
        };
        for input in [
            "http://localhost:1455/auth/callback?code=ac_1&state=s-2",
            "  http://localhost:1455/auth/callback?state=s-2&scope=x&code=ac_1 ",
            "?code=ac_1&state=s-2",
            "code=ac_1&state=s-2",
            "ac_1#s-2",
        ] {
            assert_eq!(parse_callback(input).as_ref(), Ok(&want), "case {input}");
        }
        let cases: &[(&str, CallbackError)] = &[
            ("", CallbackError::Malformed),
            ("just some text", CallbackError::Malformed),
            ("nothing-here", CallbackError::Malformed),
            ("http://[::1", CallbackError::Malformed),
            (
                "http://localhost:1455/auth/callback",
                CallbackError::Missing("code"),
            ),
            ("code=ac_1", CallbackError::Missing("state")),
            ("#s-2", CallbackError::Missing("code")),
            (
                "http://localhost:1455/auth/callback?error=access_denied<script>&state=s",
                CallbackError::Denied("access_deniedscript".into()),
            ),
        ];
        for (input, err) in cases {
            assert_eq!(parse_callback(input).as_ref(), Err(err), "case {input:?}");
        }
    }

    #[test]
    fn claims_come_from_the_openai_auth_claim() {
        let id = jwt(&json!({
            "email": "a@example.test", "exp": 1_900_000_000,
            "https://api.openai.com/auth": {"chatgpt_account_id": "acct-1", "chatgpt_plan_type": "pro"},
        }));
        assert_eq!(
            claims(&id),
            Ok(Claims {
                account_id: Some("acct-1".into()),
                email: Some("a@example.test".into()),
                plan: Some("pro".into()),
                expires_at: Some(1_900_000_000),
            })
        );
        let access = jwt(&json!({"https://api.openai.com/profile": {"email": "b@example.test"}}));
        assert_eq!(
            claims(&access).expect("claims").email.as_deref(),
            Some("b@example.test")
        );
        for bad in [
            "opaque-token",
            "a.b",
            "a.!!!.c",
            "a.b.c.d",
            &jwt(&json!([1])),
        ] {
            assert_eq!(claims(bad), Err(ClaimsError::NotJwt), "case {bad}");
        }
    }

    #[test]
    fn refusals_say_whether_they_are_permanent() {
        let rfc = refusal(400, br#"{"error":"invalid_grant","error_description":"x"}"#);
        assert!(rfc.is_permanent());
        let openai = refusal(
            401,
            br#"{"error":{"code":"refresh_token_reused","message":"m"}}"#,
        );
        assert!(openai.is_permanent());
        let other = refusal(400, b"not json");
        assert_eq!(
            other,
            TokenError::Refused {
                code: "http_400".into(),
                permanent: false
            }
        );
    }
}
