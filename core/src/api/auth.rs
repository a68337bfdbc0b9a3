//! `/api/auth/*`: register, login, logout.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::extract::{ApiJson, ClientInfo, SignedIn};
use super::me::user_json;
use crate::accounts::{password, session, throttle};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::audit::{self, Actor, AuditEvent};
use crate::store::users::{self, NewUser, Role, User, UserStatus};
use crate::store::{login_failures, now_ms, sessions};

/// The auth routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/logout", post(logout))
}

/// Longest username.
const MAX_USERNAME_CHARS: usize = 32;
/// Longest email address (RFC 5321 path limit).
const MAX_EMAIL_CHARS: usize = 254;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    username: String,
    email: String,
    password: String,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for API compatibility; email verification arrives with SMTP"
    )]
    verification_code: Option<String>,
}

/// Checks a username: 3–32 of letters, digits, `_`, `-`, `.`; returns it.
pub fn check_username(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    let len = value.chars().count();
    if !(3..=MAX_USERNAME_CHARS).contains(&len) {
        return Err(ApiError::invalid(format!(
            "`username` must be 3 to {MAX_USERNAME_CHARS} characters"
        )));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(ApiError::invalid(
            "`username` may use letters, digits, `_`, `-` and `.` only",
        ));
    }
    Ok(value.to_owned())
}

/// Checks an email address's shape; returns it trimmed.
pub fn check_email(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    let valid = value.chars().count() <= MAX_EMAIL_CHARS
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if !valid {
        return Err(ApiError::invalid("`email` must be a valid email address"));
    }
    Ok(value.to_owned())
}

async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<Response> {
    let username = check_username(&body.username)?;
    let email = check_email(&body.email)?;
    password::check_strength(&body.password, &state.config.auth).map_err(ApiError::invalid)?;
    let open = state.settings().allow_open_registration;
    let hash = password::hash(&body.password, &state.config.auth).await?;
    let ip = client.ip.clone();
    let user = state
        .store
        .write(move |tx| {
            // Only the very first account becomes root. Were it "any registrant while no root
            // exists", deleting or demoting the last root would hand root to whoever registers
            // next; an install without a root recovers through `REALMS_ROOT_PASSWORD` instead.
            let first_root = users::count(tx)? == 0;
            if !first_root && !open {
                return Ok(None);
            }
            let role = if first_root { Role::Root } else { Role::User };
            let user = users::insert(
                tx,
                &NewUser {
                    username,
                    email,
                    password_hash: hash,
                    role,
                    user_group_id: None,
                },
            )?;
            audit::insert(
                tx,
                &AuditEvent {
                    actor: Actor::User(user.id),
                    action: "user.register",
                    target_kind: "user",
                    target_id: Some(user.id),
                    detail: json!({ "role": user.role }),
                    ip: Some(&ip),
                },
            )?;
            Ok(Some(user))
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::RegistrationClosed,
                "registration is closed on this site",
            )
        })?;
    let cookie = start_session(&state, &user, &client, None).await?;
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "user": user_json(&user, &state) })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct LoginRequest {
    login: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let login = body.login.trim().to_owned();
    if login.is_empty() || login.chars().count() > MAX_EMAIL_CHARS {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "wrong login or password",
        ));
    }
    let auth = state.config.auth.clone();
    let (l, ip, a) = (login, client.ip.clone(), auth.clone());
    let now = now_ms();
    let (wait, user, account) = state
        .store
        .read(move |c| {
            let user = users::find_by_login(c, &l)?;
            let account = throttle::account_key(&l, user.as_ref());
            let wait = throttle::retry_after(c, &a, &account, &ip, now)?;
            Ok((wait, user, account))
        })
        .await?;
    if let Some(secs) = wait {
        let mut err = ApiError::new(
            ErrorCode::TooManyAttempts,
            "too many failed sign-ins; try again later",
        );
        err.retry_after = Some(secs);
        return Err(err);
    }
    let ok = password::verify(
        &body.password,
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await;
    let Some(user) = user.filter(|_| ok) else {
        let ip = client.ip.clone();
        state
            .store
            .write(move |tx| throttle::record_failure(tx, &auth, &account, &ip, now_ms()))
            .await?;
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "wrong login or password",
        ));
    };
    if user.status == UserStatus::Disabled {
        return Err(ApiError::new(
            ErrorCode::AccountDisabled,
            "this account is disabled",
        ));
    }
    state
        .store
        .write(move |tx| login_failures::clear_login(tx, &account))
        .await?;
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(256).collect());
    let cookie = start_session(&state, &user, &client, agent).await?;
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(json!({ "user": user_json(&user, &state) })),
    )
        .into_response())
}

/// Creates a session for `user` and returns its `Set-Cookie` value (also the desktop sign-in's).
pub(crate) async fn start_session(
    state: &AppState,
    user: &User,
    client: &ClientInfo,
    user_agent: Option<String>,
) -> ApiResult<axum::http::HeaderValue> {
    let secret = session::new_secret().map_err(ApiError::internal)?;
    let ttl_secs = state.config.auth.session_ttl_hours * 3600;
    let expires_at = now_ms() + (ttl_secs * 1000) as i64;
    let (hash, user_id, ip) = (secret.hash, user.id, client.ip.clone());
    state
        .store
        .write(move |tx| {
            sessions::prune(tx, now_ms())?;
            sessions::insert(
                tx,
                &hash,
                user_id,
                expires_at,
                Some(&ip),
                user_agent.as_deref(),
            )
        })
        .await?;
    session::set_cookie(&secret.secret, ttl_secs, client.https)
        .ok_or_else(|| ApiError::internal("session cookie is not a valid header"))
}

async fn logout(
    State(state): State<AppState>,
    client: ClientInfo,
    signed_in: SignedIn,
) -> ApiResult<Response> {
    let id = signed_in.session_id;
    state
        .store
        .write(move |tx| sessions::delete(tx, id))
        .await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session::clear_cookie(client.https))],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails_are_checked() {
        assert!(check_username("ab").is_err());
        assert!(check_username("alice_01").is_ok());
        assert!(check_username("al ice").is_err());
        assert!(check_username(&"a".repeat(33)).is_err());
        assert!(check_email("a@b.co").is_ok());
        for bad in ["a@b", "@b.co", "a b@c.co", "a@.co", "a@b.co."] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
