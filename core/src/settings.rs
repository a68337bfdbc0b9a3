//! Runtime settings the console edits: the list of known keys with their types and defaults, the
//! typed snapshot the rest of the code reads, and environment overrides that lock a key.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::Config;

/// The type of a setting's value, checked on every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    /// An `http(s)` URL or the empty string.
    Url,
    /// A list of CIDR ranges.
    Cidrs,
}

/// One known setting.
struct Spec {
    key: &'static str,
    kind: Kind,
    /// Default when nothing is stored; `None` means "derived" (see [`Settings::resolve`]).
    default: Option<fn() -> Value>,
}

const SPECS: &[Spec] = &[
    Spec {
        key: "self_mode",
        kind: Kind::Bool,
        default: Some(|| json!(false)),
    },
    Spec {
        key: "site_base_url",
        kind: Kind::Url,
        default: Some(|| json!("")),
    },
    Spec {
        key: "allow_open_registration",
        kind: Kind::Bool,
        default: Some(|| json!(true)),
    },
    Spec {
        key: "feature_disable_billing",
        kind: Kind::Bool,
        default: Some(|| json!(false)),
    },
    Spec {
        key: "feature_disable_models",
        kind: Kind::Bool,
        default: Some(|| json!(false)),
    },
    // Follows self mode unless set: local models on 127.0.0.1 work out of the box in self mode.
    Spec {
        key: "allow_private_upstreams",
        kind: Kind::Bool,
        default: None,
    },
    // Follows self mode unless set: the desktop app catches the Codex sign-in redirect itself.
    Spec {
        key: "codex_oauth_listener",
        kind: Kind::Bool,
        default: None,
    },
    Spec {
        key: "trust_proxy_headers",
        kind: Kind::Bool,
        default: Some(|| json!(false)),
    },
    Spec {
        key: "trusted_proxy_cidrs",
        kind: Kind::Cidrs,
        default: Some(|| json!([])),
    },
];

/// Why a settings change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// No such key.
    #[error("unknown setting `{0}`")]
    Unknown(String),
    /// The value has the wrong type or format.
    #[error("setting `{key}` {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The environment fixes this key.
    #[error("setting `{0}` is fixed by the environment")]
    Overridden(String),
}

/// The typed, effective settings. Built whole and swapped atomically; readers never lock.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// One person or a small team: billing, subscriptions and tickets off.
    pub self_mode: bool,
    /// The public URL of this site, used in links and the guide; empty when unknown.
    pub site_base_url: String,
    /// Whether anyone may register.
    pub allow_open_registration: bool,
    /// Free mode: no balance or subscription checks on the data plane.
    pub feature_disable_billing: bool,
    /// Model passthrough: any model name goes to the channels; `GET /v1/models` answers 404.
    pub feature_disable_models: bool,
    /// Whether upstream URLs may resolve to private, loopback or link-local addresses.
    pub allow_private_upstreams: bool,
    /// Whether a Codex sign-in listens on `127.0.0.1:1455` for the OAuth redirect itself.
    pub codex_oauth_listener: bool,
    /// Whether `X-Forwarded-For` / `X-Forwarded-Proto` from trusted proxies are believed.
    pub trust_proxy_headers: bool,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxy_cidrs: Vec<IpNet>,
    /// Keys fixed by the environment (locked in the console).
    #[serde(skip)]
    pub overridden: Vec<&'static str>,
}

impl Settings {
    /// Merges stored values over defaults and environment overrides over both.
    pub fn resolve(stored: &BTreeMap<String, Value>, config: &Config) -> Self {
        let mut values = Self::raw_values(stored, config);
        let overridden = Self::overrides(config);
        for (key, value) in &overridden {
            values.insert((*key).to_owned(), value.clone());
        }
        let bool_of = |key: &str| values.get(key).and_then(Value::as_bool).unwrap_or(false);
        let self_mode = bool_of("self_mode");
        let allow_private = values
            .get("allow_private_upstreams")
            .and_then(Value::as_bool)
            .unwrap_or(self_mode);
        let cidrs = values
            .get("trusted_proxy_cidrs")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        Self {
            self_mode,
            site_base_url: values
                .get("site_base_url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            allow_open_registration: bool_of("allow_open_registration"),
            feature_disable_billing: bool_of("feature_disable_billing") || self_mode,
            feature_disable_models: bool_of("feature_disable_models"),
            allow_private_upstreams: allow_private,
            codex_oauth_listener: values
                .get("codex_oauth_listener")
                .and_then(Value::as_bool)
                .unwrap_or(self_mode),
            trust_proxy_headers: bool_of("trust_proxy_headers"),
            trusted_proxy_cidrs: cidrs,
            overridden: overridden.into_iter().map(|(k, _)| k).collect(),
        }
    }

    fn raw_values(stored: &BTreeMap<String, Value>, _config: &Config) -> BTreeMap<String, Value> {
        let mut values = BTreeMap::new();
        for spec in SPECS {
            if let Some(value) = stored.get(spec.key) {
                values.insert(spec.key.to_owned(), value.clone());
            } else if let Some(default) = spec.default {
                values.insert(spec.key.to_owned(), default());
            }
        }
        values
    }

    fn overrides(config: &Config) -> Vec<(&'static str, Value)> {
        let mut out = Vec::new();
        if let Some(self_mode) = config.self_mode {
            out.push(("self_mode", json!(self_mode)));
        }
        if let Some(listener) = config.codex_oauth_listener {
            out.push(("codex_oauth_listener", json!(listener)));
        }
        out
    }

    /// The settings as the console shows them: every known key with its effective value.
    pub fn to_json(&self) -> Value {
        json!({
            "self_mode": self.self_mode,
            "site_base_url": self.site_base_url,
            "allow_open_registration": self.allow_open_registration,
            "feature_disable_billing": self.feature_disable_billing,
            "feature_disable_models": self.feature_disable_models,
            "allow_private_upstreams": self.allow_private_upstreams,
            "codex_oauth_listener": self.codex_oauth_listener,
            "trust_proxy_headers": self.trust_proxy_headers,
            "trusted_proxy_cidrs": self.trusted_proxy_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
    }

    /// The feature switches `GET /api/me` reports.
    pub fn features(&self) -> Value {
        json!({
            "self_mode": self.self_mode,
            "billing": !self.feature_disable_billing,
            "models": !self.feature_disable_models,
            "registration": self.allow_open_registration,
        })
    }
}

/// Checks a requested change before anything is written: every key known, every value valid,
/// no locked key. Returns the normalised values to store.
pub fn validate_patch(
    patch: &serde_json::Map<String, Value>,
    current: &Settings,
) -> Result<Vec<(String, Value)>, SettingsError> {
    let mut out = Vec::with_capacity(patch.len());
    for (key, value) in patch {
        let spec = SPECS
            .iter()
            .find(|s| s.key == key)
            .ok_or_else(|| SettingsError::Unknown(key.clone()))?;
        if current.overridden.contains(&spec.key) {
            return Err(SettingsError::Overridden(key.clone()));
        }
        let invalid = |reason: &str| SettingsError::Invalid {
            key: key.clone(),
            reason: reason.into(),
        };
        let normalised = match spec.kind {
            Kind::Bool => Value::Bool(
                value
                    .as_bool()
                    .ok_or_else(|| invalid("must be true or false"))?,
            ),
            Kind::Url => {
                let text = value
                    .as_str()
                    .ok_or_else(|| invalid("must be a string"))?
                    .trim();
                let text = text.trim_end_matches('/');
                let valid = text.is_empty()
                    || url::Url::parse(text).is_ok_and(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.host().is_some()
                            && u.query().is_none()
                    });
                if !valid {
                    return Err(invalid("must be an http(s) URL with a host, or empty"));
                }
                Value::String(text.to_owned())
            }
            Kind::Cidrs => {
                let list = value
                    .as_array()
                    .ok_or_else(|| invalid("must be a list of CIDR ranges"))?;
                let mut cidrs = Vec::with_capacity(list.len());
                for item in list {
                    let text = item
                        .as_str()
                        .ok_or_else(|| invalid("must be a list of strings"))?;
                    let net: IpNet = text
                        .parse()
                        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| invalid(&format!("has an invalid range `{text}`")))?;
                    cidrs.push(Value::String(net.to_string()));
                }
                Value::Array(cidrs)
            }
        };
        out.push((key.clone(), normalised));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    #[test]
    fn defaults_follow_the_mode() {
        let config = Config::default();
        let server = Settings::resolve(&BTreeMap::new(), &config);
        assert!(
            !server.self_mode && !server.allow_private_upstreams && server.allow_open_registration
        );
        let mut stored = BTreeMap::new();
        stored.insert("self_mode".to_owned(), json!(true));
        let desktop = Settings::resolve(&stored, &config);
        assert!(desktop.allow_private_upstreams && desktop.feature_disable_billing);
        assert!(!server.codex_oauth_listener && desktop.codex_oauth_listener);
        let locked = Settings::resolve(
            &stored,
            &Config {
                codex_oauth_listener: Some(false),
                ..Config::default()
            },
        );
        assert!(!locked.codex_oauth_listener);
        assert!(locked.overridden.contains(&"codex_oauth_listener"));
    }

    #[test]
    fn environment_locks_a_key() {
        let config = Config {
            self_mode: Some(true),
            ..Config::default()
        };
        let settings = Settings::resolve(&BTreeMap::new(), &config);
        assert!(settings.self_mode);
        let err =
            validate_patch(&patch(json!({"self_mode": false})), &settings).expect_err("locked");
        assert_eq!(err, SettingsError::Overridden("self_mode".into()));
    }

    #[test]
    fn patches_are_checked_whole() {
        let settings = Settings::resolve(&BTreeMap::new(), &Config::default());
        let unknown = validate_patch(&patch(json!({"self_mode": true, "nope": 1})), &settings);
        assert_eq!(unknown, Err(SettingsError::Unknown("nope".into())));
        let wrong = validate_patch(&patch(json!({"self_mode": "yes"})), &settings);
        assert!(matches!(wrong, Err(SettingsError::Invalid { .. })));
        for bad in [
            "ftp://x",
            "https://",
            "http://",
            "not a url",
            "https://x.test/?q=1",
        ] {
            let url = validate_patch(&patch(json!({ "site_base_url": bad })), &settings);
            assert!(matches!(url, Err(SettingsError::Invalid { .. })), "{bad}");
        }
        let ok = validate_patch(
            &patch(json!({"trusted_proxy_cidrs": ["10.0.0.0/8", "127.0.0.1"], "site_base_url": "https://r.example/"})),
            &settings,
        )
        .expect("valid");
        assert!(ok.contains(&("site_base_url".into(), json!("https://r.example"))));
        assert!(ok.contains(&(
            "trusted_proxy_cidrs".into(),
            json!(["10.0.0.0/8", "127.0.0.1/32"])
        )));
    }
}
