//! Input checks and small helpers shared by the admin catalogue handlers: URLs, model ids,
//! descriptions, secrets, settings objects, prices, two-id paths and audit records. No handlers.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use url::Url;

use crate::api::money::Money;
use crate::error::{ApiError, ApiResult};
use crate::relay::shaping::ChannelSettings;
use crate::state::AppState;
use crate::store::audit::{Actor, AuditEvent};
use crate::store::{Conn, Page, StoreError, audit, channels};

/// Longest description, in characters; a paragraph or two for the console.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Longest public model id (fixed by the API).
pub const MAX_PUBLIC_ID_CHARS: usize = 128;
/// Longest upstream model name; vendors' names are longer than ours (`accounts/…/models/…`).
pub const MAX_UPSTREAM_MODEL_CHARS: usize = 256;
/// Longest `base_url`; real API roots are far shorter, this only bounds storage.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest upstream API key; vendor keys are under 200 characters, JWT-shaped ones a few KB.
pub const MAX_API_KEY_CHARS: usize = 4096;
/// Highest price per 1M tokens accepted; a guard against a misplaced decimal point.
pub const MAX_PRICE_USD_PER_1M: i64 = 1_000_000;

/// A description: trimmed, bounded; line breaks and tabs allowed, other control characters not.
pub fn check_description(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(format!(
            "`description` must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::invalid(
            "`description` must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A model id (public or upstream): 1..=`max` characters, no whitespace or control characters.
pub fn check_model_id(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let count = value.chars().count();
    if count == 0 || count > max {
        return Err(ApiError::invalid(format!(
            "`{field}` must be 1 to {max} characters"
        )));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(format!(
            "`{field}` must not contain spaces or control characters"
        )));
    }
    Ok(value.to_owned())
}

/// A channel's `base_url`, checked for syntax only (no DNS, so offline set-up works): http or
/// https, a host, no user info, query or fragment. Returned normalised without a trailing `/`.
pub fn check_base_url(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::invalid(format!(
            "`base_url` must be at most {MAX_URL_CHARS} characters"
        )));
    }
    // The URL parser silently drops tabs and line breaks; a pasted value with any is a mistake.
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid("`base_url` must not contain spaces"));
    }
    let url = Url::parse(value)
        .map_err(|_| ApiError::invalid("`base_url` must be an absolute http or https URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::invalid("`base_url` must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid("`base_url` must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::invalid(
            "`base_url` must not contain a user name or password; add credentials instead",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ApiError::invalid(
            "`base_url` must not have a query string or fragment",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An upstream API key: trimmed, non-empty, bounded, no inner whitespace (a paste gone wrong).
/// `field` names it in errors, e.g. `api_keys[1]`; the key itself is never echoed.
pub fn check_api_key(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(format!("`{field}` must not be empty")));
    }
    if value.chars().count() > MAX_API_KEY_CHARS {
        return Err(ApiError::invalid(format!(
            "`{field}` must be at most {MAX_API_KEY_CHARS} characters"
        )));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(format!(
            "`{field}` must not contain spaces or control characters"
        )));
    }
    Ok(value.to_owned())
}

/// A channel's `settings`: a JSON object of at most [`MAX_SETTINGS_BYTES`](crate::relay::shaping::settings::MAX_SETTINGS_BYTES) serialized, every key
/// one the relay knows (`relay::shaping::ChannelSettings`), every value valid.
pub fn check_settings(value: Value) -> Result<Value, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid("`settings` must be a JSON object"));
    }
    ChannelSettings::parse(&value).map_err(ApiError::invalid)?;
    Ok(value)
}

/// A price per 1M tokens: at least 0, at most [`MAX_PRICE_USD_PER_1M`].
pub fn check_price(field: &str, value: Money) -> Result<Decimal, ApiError> {
    let price = value.0;
    if price.is_sign_negative() && !price.is_zero() {
        return Err(ApiError::invalid(format!("`{field}` must not be negative")));
    }
    if price > Decimal::from(MAX_PRICE_USD_PER_1M) {
        return Err(ApiError::invalid(format!(
            "`{field}` must be at most {MAX_PRICE_USD_PER_1M}"
        )));
    }
    Ok(price.normalize())
}

/// A closure for `map_err` that names the missing object and passes other errors on.
pub fn or_not_found(what: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |err| match err {
        StoreError::NotFound => ApiError::not_found(what),
        other => other.into(),
    }
}

/// Deletes one object that belongs to a channel (a credential, a binding): 404 naming what is
/// missing (the channel or the object), audited in the same transaction, then the routing table
/// is rebuilt.
pub async fn delete_channel_child(
    state: &AppState,
    actor: Actor,
    (channel_id, id): (i64, i64),
    what: &'static str,
    action: &'static str,
    delete: fn(&Conn, i64, i64) -> Result<(), StoreError>,
) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| {
            if !channels::exists(tx, channel_id)? {
                return Ok(Err(ApiError::not_found("channel")));
            }
            delete(tx, channel_id, id)?;
            let detail = json!({ "channel_id": channel_id });
            audit::insert(tx, &audit_event(actor, action, what, id, detail))?;
            Ok(Ok(()))
        })
        .await
        .map_err(or_not_found(what))??;
    super::catalog_changed(state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one catalogue object by id with `delete`, which returns the audit detail (the
/// object's name as it was): 404 naming `what` when missing, audited in the same transaction,
/// then the routing table is rebuilt.
pub async fn delete_catalog_object(
    state: &AppState,
    actor: Actor,
    id: i64,
    what: &'static str,
    action: &'static str,
    delete: fn(&Conn, i64) -> Result<Value, StoreError>,
) -> ApiResult<StatusCode> {
    state
        .store
        .write(move |tx| {
            let detail = delete(tx, id)?;
            audit::insert(tx, &audit_event(actor, action, what, id, detail))
        })
        .await
        .map_err(or_not_found(what))?;
    super::catalog_changed(state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// An audit record of an admin action on one object.
pub fn audit_event(
    actor: Actor,
    action: &'static str,
    target_kind: &'static str,
    target_id: i64,
    detail: Value,
) -> AuditEvent<'static> {
    AuditEvent {
        actor,
        action,
        target_kind,
        target_id: Some(target_id),
        detail,
        ip: None,
    }
}

/// The `{items, next_cursor}` answer of a list route.
pub fn page_json<T>(page: &Page<T>, to_json: impl Fn(&T) -> Value) -> Value {
    json!({
        "items": page.items.iter().map(to_json).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor.map(|c| c.to_string()),
    })
}

/// Two ids in the path (`/channels/{id}/credentials/{cred_id}`), with our error envelope.
pub struct IdPair(pub i64, pub i64);

impl<S: Send + Sync> FromRequestParts<S> for IdPair {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<(i64, i64)>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path((a, b))| Self(a, b))
            .map_err(|_| ApiError::invalid("the ids in the path must be integers"))
    }
}

/// `null` and absent differ in a PATCH: absent keeps the value, `null` clears it.
pub mod double_option {
    use serde::{Deserialize, Deserializer};

    /// Deserializes a present field (even `null`) as `Some`.
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised_or_refused() {
        const GOOD: &[(&str, &str)] = &[
            ("https://api.openai.com", "https://api.openai.com"),
            ("https://api.openai.com/v1/", "https://api.openai.com/v1"),
            ("  http://127.0.0.1:8000/ ", "http://127.0.0.1:8000"),
            (
                "https://API.Example.com/Path",
                "https://api.example.com/Path",
            ),
        ];
        for (input, want) in GOOD {
            assert_eq!(
                check_base_url(input).expect(input).as_str(),
                *want,
                "case {input}"
            );
        }
        const BAD: &[&str] = &[
            "",
            "api.openai.com",
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/?a=1",
            "https://example.com/#x",
            "https://exa mple.com",
            "https://example.com/\tv1",
            "http://",
            "file:///etc/passwd",
        ];
        for input in BAD {
            assert!(check_base_url(input).is_err(), "case {input:?}");
        }
    }

    #[test]
    fn model_ids_refuse_spaces_and_length() {
        assert!(check_model_id("public_id", "gpt-4o", 128).is_ok());
        assert!(check_model_id("public_id", "models/gemini-1.5-pro", 128).is_ok());
        assert!(check_model_id("public_id", "", 128).is_err());
        assert!(check_model_id("public_id", "gpt 4o", 128).is_err());
        assert!(check_model_id("public_id", "gpt\u{7}", 128).is_err());
        assert!(check_model_id("public_id", &"m".repeat(129), 128).is_err());
    }

    #[test]
    fn prices_must_be_non_negative_and_sane() {
        let money = |text: &str| Money(text.parse().expect("decimal"));
        assert_eq!(
            check_price("p", money("2.50")).expect("ok").to_string(),
            "2.5"
        );
        assert!(check_price("p", money("0")).is_ok());
        assert!(check_price("p", money("-0.01")).is_err());
        assert!(check_price("p", money("1000001")).is_err());
    }

    #[test]
    fn settings_must_be_a_small_object() {
        assert!(check_settings(json!({ "reasoning_suffixes": true })).is_ok());
        assert!(
            check_settings(json!({ "a": 1 })).is_err(),
            "unknown keys are refused"
        );
        assert!(check_settings(json!([1])).is_err());
        let big = json!({ "organization": "x".repeat(crate::relay::shaping::settings::MAX_SETTINGS_BYTES) });
        assert!(check_settings(big).is_err());
    }

    #[test]
    fn api_key_errors_never_echo_the_key() {
        let err = check_api_key("api_keys[0]", "sk-abc def").expect_err("space");
        assert!(!err.message.contains("sk-abc"), "{}", err.message);
        assert_eq!(
            check_api_key("api_key", "  sk-abc  ").expect("trimmed"),
            "sk-abc"
        );
    }
}
