//! How each channel kind authenticates upstream, and the channel's header overrides.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::headers::{bearer, insert_if_absent, sensitive};
use crate::relay::routing::table::ChannelKind;
use crate::relay::shaping::ChannelSettings;

/// The Anthropic API version sent when the client did not name one.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The beta switch the Codex backend requires on `/responses`.
pub const CODEX_BETA: &str = "responses=experimental";
/// The `originator` sent to the Codex backend when the client named none (the Codex CLI's).
pub const CODEX_ORIGINATOR: &str = "codex_cli_rs";

/// Adds the credential in the form the upstream expects, then applies the channel's header
/// overrides (set, or remove with `null`). The overrides come last so an operator can fix a
/// vendor quirk, but they can never remove the credential itself.
pub fn apply(kind: ChannelKind, secret: &str, settings: &ChannelSettings, headers: &mut HeaderMap) {
    for (name, value) in &settings.headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        match value.as_deref().map(HeaderValue::from_str) {
            Some(Ok(value)) => {
                headers.insert(name, value);
            }
            Some(Err(_)) => {}
            None => {
                headers.remove(name);
            }
        }
    }
    match kind {
        ChannelKind::OpenAiCompatible | ChannelKind::CodexOauth => {
            if let Some(value) = bearer(secret) {
                headers.insert(axum::http::header::AUTHORIZATION, value);
            }
            if let Some(org) = settings
                .organization
                .as_deref()
                .and_then(|o| HeaderValue::from_str(o).ok())
            {
                headers.insert(HeaderName::from_static("openai-organization"), org);
            }
        }
        ChannelKind::Anthropic => {
            if let Some(value) = sensitive(secret) {
                headers.insert(HeaderName::from_static("x-api-key"), value);
            }
            insert_if_absent(
                headers,
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(ANTHROPIC_VERSION),
            );
        }
        ChannelKind::Gemini => {
            if let Some(value) = sensitive(secret) {
                headers.insert(HeaderName::from_static("x-goog-api-key"), value);
            }
        }
    }
}

/// The Codex backend's headers, added after [`apply`] for a `codex_oauth` account: the
/// `chatgpt-account-id` of the account, `OpenAI-Beta: responses=experimental`, an `originator`
/// when the client sent none, and `session_id` = the request's `prompt_cache_key` (so the
/// backend's prompt cache follows the session; without one the client's header is kept).
pub fn codex(headers: &mut HeaderMap, account_id: Option<&str>, prompt_cache_key: Option<&str>) {
    if let Some(value) = account_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        headers.insert(HeaderName::from_static("chatgpt-account-id"), value);
    }
    headers.insert(
        HeaderName::from_static("openai-beta"),
        HeaderValue::from_static(CODEX_BETA),
    );
    insert_if_absent(
        headers,
        HeaderName::from_static("originator"),
        HeaderValue::from_static(CODEX_ORIGINATOR),
    );
    if let Some(value) = prompt_cache_key.and_then(|key| HeaderValue::from_str(key).ok()) {
        headers.insert(HeaderName::from_static("session_id"), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_sends_its_own_credential_header() {
        let settings = ChannelSettings::default();
        let mut h = HeaderMap::new();
        apply(ChannelKind::OpenAiCompatible, "sk-up", &settings, &mut h);
        assert_eq!(h["authorization"], "Bearer sk-up");
        let mut h = HeaderMap::new();
        h.insert("anthropic-version", HeaderValue::from_static("2024-01-01"));
        apply(ChannelKind::Anthropic, "sk-ant", &settings, &mut h);
        assert_eq!(
            (
                h["x-api-key"].to_str().ok(),
                h["anthropic-version"].to_str().ok()
            ),
            (Some("sk-ant"), Some("2024-01-01"))
        );
        let mut h = HeaderMap::new();
        apply(ChannelKind::Gemini, "AIza", &settings, &mut h);
        assert_eq!(h["x-goog-api-key"], "AIza");
        assert!(h["x-goog-api-key"].is_sensitive());
    }

    #[test]
    fn codex_accounts_send_the_backend_headers() {
        let settings = ChannelSettings::default();
        let mut h = HeaderMap::new();
        h.insert("openai-beta", HeaderValue::from_static("other"));
        h.insert("originator", HeaderValue::from_static("codex_exec"));
        h.insert("session_id", HeaderValue::from_static("client-session"));
        apply(ChannelKind::CodexOauth, "at-1", &settings, &mut h);
        codex(&mut h, Some("acct-9"), Some("cache-key-1"));
        assert_eq!(h["authorization"], "Bearer at-1");
        assert_eq!(h["chatgpt-account-id"], "acct-9");
        assert_eq!(h["openai-beta"], "responses=experimental");
        assert_eq!(
            h["originator"], "codex_exec",
            "the client's own originator is kept"
        );
        assert_eq!(h["session_id"], "cache-key-1");
        let mut h = HeaderMap::new();
        codex(&mut h, Some("acct-9"), None);
        assert_eq!(h["originator"], "codex_cli_rs");
        assert!(!h.contains_key("session_id"));
    }

    #[test]
    fn overrides_apply_but_cannot_drop_the_credential() {
        let settings = ChannelSettings::parse(&serde_json::json!({
            "headers": {"x-extra": "1", "user-agent": null, "authorization": null},
            "organization": "org-9"
        }))
        .expect("settings");
        let mut h = HeaderMap::new();
        h.insert("user-agent", HeaderValue::from_static("sdk"));
        apply(ChannelKind::OpenAiCompatible, "k", &settings, &mut h);
        assert_eq!(h["x-extra"], "1");
        assert!(!h.contains_key("user-agent"));
        assert_eq!(h["authorization"], "Bearer k");
        assert_eq!(h["openai-organization"], "org-9");
    }
}
