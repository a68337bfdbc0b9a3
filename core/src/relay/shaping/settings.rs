//! `ChannelSettings`: every shaping option a channel can carry, validated when the console saves
//! it (unknown keys refused, so a typo never silently does nothing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most bytes a channel's settings may take when serialised.
pub const MAX_SETTINGS_BYTES: usize = 64 * 1024;

/// Which client APIs an OpenAI-compatible channel answers (all by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capabilities {
    /// `/v1/responses`.
    pub responses: bool,
    /// `/v1/chat/completions`.
    pub chat: bool,
    /// `/v1/embeddings`.
    pub embeddings: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self {
            responses: true,
            chat: true,
            embeddings: true,
        }
    }
}

/// How the channel's system prompt combines with the client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptMode {
    /// Replace the client's system prompt.
    Set,
    /// Put the channel's before the client's.
    Prepend,
}

/// A system prompt the channel adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemPrompt {
    /// Set or prepend.
    pub mode: PromptMode,
    /// The text.
    pub text: String,
}

/// What to do with one top-level request field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action", content = "value")]
pub enum FieldPolicy {
    /// Forward as the client sent it.
    #[default]
    Passthrough,
    /// Remove it.
    Remove,
    /// Always send this value.
    Set(serde_json::Value),
}

/// When a body rule applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// A JSON Pointer (`/model`, `/reasoning/effort`).
    pub path: String,
    /// Applies when the value there equals this; `"equals": null` asks for a JSON `null`
    /// there (absent, it tests nothing).
    #[serde(
        default,
        deserialize_with = "present_value",
        skip_serializing_if = "Option::is_none"
    )]
    pub equals: Option<serde_json::Value>,
    /// Applies when a value exists there (`true`) or does not (`false`).
    #[serde(default)]
    pub exists: Option<bool>,
}

/// Whether a status may be mapped, from or to: an error status.
fn mappable(status: u16) -> bool {
    (400..=599).contains(&status)
}

/// A member that is present, `null` included (serde reads an `Option` member's `null` as absent).
fn present_value<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// A JSON Patch (RFC 6902: add, remove, replace, move, copy, test) applied when its conditions
/// hold; a rule whose patch fails (e.g. removing a missing field) is skipped whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyRule {
    /// All must hold.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// The operations.
    pub patch: json_patch::Patch,
}

/// A channel's settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSettings {
    /// Client APIs answered.
    pub capabilities: Capabilities,
    /// `OpenAI-Organization` sent upstream.
    pub organization: Option<String>,
    /// `http://`, `https://`, `socks5://` or `socks5h://` proxy for this channel.
    pub proxy: Option<String>,
    /// System prompt set or prepended.
    pub system_prompt: Option<SystemPrompt>,
    /// `model-high` style names become the base model plus that reasoning effort.
    pub reasoning_suffixes: bool,
    /// Policy for `service_tier`.
    pub service_tier: FieldPolicy,
    /// Policy for `store`.
    pub store: FieldPolicy,
    /// Policy for `safety_identifier`.
    pub safety_identifier: FieldPolicy,
    /// Headers set (a string) or removed (`null`) on the way upstream.
    pub headers: BTreeMap<String, Option<String>>,
    /// Conditional JSON patches.
    pub body_rules: Vec<BodyRule>,
    /// When not empty, only these top-level fields are forwarded.
    pub body_allow: Vec<String>,
    /// These top-level fields are never forwarded.
    pub body_deny: Vec<String>,
    /// Upstream status → status answered to the client (e.g. `{"429": 503}`).
    pub status_map: BTreeMap<u16, u16>,
    /// Forward the client's body byte for byte: no rename, no shaping, no usage forcing.
    pub raw_passthrough: bool,
}

impl ChannelSettings {
    /// Parses and checks settings from the console; the error names the problem.
    pub fn parse(value: &serde_json::Value) -> Result<Self, String> {
        if value.to_string().len() > MAX_SETTINGS_BYTES {
            return Err(format!(
                "`settings` must be at most {MAX_SETTINGS_BYTES} bytes"
            ));
        }
        let settings: Self = serde_path_to_error::deserialize(value)
            .map_err(|e| format!("`settings.{}`: {}", e.path(), e.inner()))?;
        settings.check()?;
        settings.check_for_writes()?;
        Ok(settings)
    }

    /// Reads settings stored earlier. Rules that only new writes must follow (added since they
    /// were stored) do not make them unreadable: a status mapping they no longer allow is left
    /// out, with a warning, rather than the channel losing its proxy and every other setting.
    pub fn load(value: &serde_json::Value) -> Result<Self, String> {
        let mut settings: Self = serde_path_to_error::deserialize(value)
            .map_err(|e| format!("`settings.{}`: {}", e.path(), e.inner()))?;
        settings.check()?;
        let before = settings.status_map.len();
        settings
            .status_map
            .retain(|from, to| mappable(*from) && mappable(*to));
        if settings.status_map.len() < before {
            tracing::warn!("a channel's status_map maps statuses other than 400-599; ignored");
        }
        let before = settings.headers.len();
        settings.headers.retain(|name, _| !sets_itself(name));
        if settings.headers.len() < before {
            tracing::warn!("a channel's header overrides set framing headers; ignored");
        }
        Ok(settings)
    }

    /// What new settings must follow besides [`check`](Self::check).
    fn check_for_writes(&self) -> Result<(), String> {
        if let Some(name) = self.headers.keys().find(|name| sets_itself(name)) {
            return Err(format!(
                "`settings.headers` cannot set `{name}`: Realms sets it on each request itself"
            ));
        }
        if self
            .organization
            .as_deref()
            .is_some_and(|org| axum::http::HeaderValue::from_str(org).is_err())
        {
            return Err("`settings.organization` is not a valid header value".into());
        }
        if self
            .proxy
            .as_deref()
            .is_some_and(super::secrets::proxy_is_masked)
        {
            return Err(
                "`settings.proxy` holds a masked credential with no stored one behind it; \
                 write the credential itself"
                    .into(),
            );
        }
        for (from, to) in &self.status_map {
            // only failures are mapped: a success is never a failure, and hyper cannot answer
            // a 1xx as a final status
            if !mappable(*from) || !mappable(*to) {
                return Err(
                    "`settings.status_map` maps error statuses (400-599) to error statuses only"
                        .into(),
                );
            }
        }
        for condition in self.body_rules.iter().flat_map(|rule| &rule.when) {
            if condition.equals.is_none() && condition.exists.is_none() {
                return Err(format!(
                    "`settings.body_rules` condition on `{}` needs `equals` or `exists`",
                    condition.path
                ));
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        if let Some(proxy) = &self.proxy {
            let url =
                url::Url::parse(proxy).map_err(|_| "`settings.proxy` is not a URL".to_owned())?;
            if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h")
                || url.host().is_none()
            {
                return Err(
                    "`settings.proxy` must be an http(s):// or socks5(h):// URL with a host".into(),
                );
            }
        }
        for name in self.headers.keys() {
            if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!(
                    "`settings.headers` has an invalid header name `{name}`"
                ));
            }
        }
        for (name, value) in &self.headers {
            let Some(value) = value else { continue };
            if value.starts_with(super::secrets::HEADER_HINT_PREFIX) {
                return Err(format!(
                    "`settings.headers.{name}` is a masked value with no stored secret behind it; \
                     write the value itself"
                ));
            }
            if axum::http::HeaderValue::from_str(value).is_err() {
                return Err(
                    "`settings.headers` has a value that is not a valid header value".into(),
                );
            }
        }
        for rule in &self.body_rules {
            for condition in &rule.when {
                if !condition.path.is_empty() && !condition.path.starts_with('/') {
                    return Err(format!(
                        "`settings.body_rules` path `{}` must be a JSON Pointer",
                        condition.path
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether the request body needs parsing for this channel at all.
    pub fn shapes_body(&self) -> bool {
        !self.raw_passthrough
            && (self.system_prompt.is_some()
                || self.reasoning_suffixes
                || self.service_tier != FieldPolicy::Passthrough
                || self.store != FieldPolicy::Passthrough
                || self.safety_identifier != FieldPolicy::Passthrough
                || !self.body_rules.is_empty()
                || !self.body_allow.is_empty()
                || !self.body_deny.is_empty())
    }
}

/// Headers Realms sets on every upstream request itself, which an override would break: the
/// framing (a wrong `content-length` cuts the body short or leaves the upstream waiting), the
/// connection's own, and `accept-encoding` (Realms asks for an answer it can read usage from).
const SET_BY_REALMS: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "accept-encoding",
];

/// Whether `name` is one of [`SET_BY_REALMS`] (header names are case-insensitive).
fn sets_itself(name: &str) -> bool {
    SET_BY_REALMS
        .iter()
        .any(|own| own.eq_ignore_ascii_case(name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_settings_are_defaults_and_shape_nothing() {
        let settings = ChannelSettings::parse(&json!({})).expect("parse");
        assert_eq!(settings, ChannelSettings::default());
        assert!(!settings.shapes_body());
    }

    #[test]
    fn every_option_parses() {
        let settings = ChannelSettings::parse(&json!({
            "capabilities": {"embeddings": false},
            "organization": "org-1",
            "proxy": "socks5://127.0.0.1:1080",
            "system_prompt": {"mode": "prepend", "text": "Be brief."},
            "reasoning_suffixes": true,
            "service_tier": {"action": "remove"},
            "store": {"action": "set", "value": false},
            "headers": {"x-extra": "1", "x-drop": null},
            "body_rules": [{"when": [{"path": "/model", "equals": "a"}], "patch": [{"op": "add", "path": "/temperature", "value": 0}]}],
            "body_deny": ["metadata"],
            "status_map": {"429": 503},
            "raw_passthrough": false
        }))
        .expect("parse");
        assert!(!settings.capabilities.embeddings && settings.capabilities.chat);
        assert_eq!(settings.status_map.get(&429), Some(&503));
        assert!(settings.shapes_body());
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("unknown key", json!({"sytem_prompt": {}}), "sytem_prompt"),
            ("bad proxy", json!({"proxy": "ftp://x"}), "proxy"),
            (
                "bad header",
                json!({"headers": {"bad header": "1"}}),
                "headers",
            ),
            (
                "bad status",
                json!({"status_map": {"429": 999}}),
                "status_map",
            ),
            (
                "a success mapped",
                json!({"status_map": {"200": 500}}),
                "status_map",
            ),
            (
                "mapped to an interim status",
                json!({"status_map": {"429": 101}}),
                "status_map",
            ),
            (
                "bad op",
                json!({"body_rules": [{"patch": [{"op": "explode", "path": "/a"}]}]}),
                "body_rules",
            ),
            (
                "bad pointer",
                json!({"body_rules": [{"when": [{"path": "model", "exists": true}], "patch": []}]}),
                "JSON Pointer",
            ),
            (
                "a condition testing nothing",
                json!({"body_rules": [{"when": [{"path": "/model"}], "patch": []}]}),
                "needs `equals` or `exists`",
            ),
            (
                "a framing header override",
                json!({"headers": {"Content-Length": "10"}}),
                "cannot set `Content-Length`",
            ),
            (
                "an accept-encoding override",
                json!({"headers": {"accept-encoding": "gzip"}}),
                "cannot set",
            ),
            (
                "an organization that is no header value",
                json!({"organization": "org\nx"}),
                "`settings.organization`",
            ),
        ];
        for (name, value, needle) in cases {
            let err = ChannelSettings::parse(&value).expect_err(name);
            assert!(err.contains(needle), "case {name}: {err}");
        }
    }

    #[test]
    fn stored_settings_from_before_a_stricter_rule_still_load() {
        let stored = json!({
            "proxy": "socks5h://127.0.0.1:1080",
            "status_map": {"200": 500, "429": 503},
            "body_rules": [{"when": [{"path": "/model"}], "patch": []}],
        });
        assert!(
            ChannelSettings::parse(&stored).is_err(),
            "refused as a new write"
        );
        let loaded = ChannelSettings::load(&stored).expect("still readable");
        assert_eq!(loaded.proxy.as_deref(), Some("socks5h://127.0.0.1:1080"));
        assert_eq!(loaded.status_map.len(), 1, "only the mapping still allowed");
        assert_eq!(loaded.status_map.get(&429), Some(&503));

        let stored = json!({"headers": {"Content-Length": "10", "x-team": "a"}});
        assert!(
            ChannelSettings::parse(&stored).is_err(),
            "refused as a new write"
        );
        let loaded = ChannelSettings::load(&stored).expect("still readable");
        let names: Vec<&String> = loaded.headers.keys().collect();
        assert_eq!(names, ["x-team"], "the framing override is left out");
    }
}
