//! The ChatGPT/Codex backend: `POST /backend-api/codex/responses` (always a Responses stream,
//! with `x-codex-*` quota headers) and `GET /backend-api/wham/usage` (quota JSON). The OAuth
//! issuer that mints its tokens lives in `oauth.rs`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::answer::{self, Head, Knobs, StreamSpec};
use crate::errors::openai_error;
use crate::record::lock;
use crate::responses::responses_events;
use crate::script::{json_response, with_headers};
use crate::server::Shared;
use crate::usage::{DEFAULT_USAGE, FAKE_CREATED};

/// The account's quota as the Codex backend reports it, per window.
#[derive(Clone, Debug, PartialEq)]
pub struct CodexQuota {
    /// ChatGPT plan (`plus`, `pro`, …).
    pub plan_type: String,
    /// Percent used of the short (primary) window.
    pub primary_used_percent: f64,
    /// Seconds until the primary window resets.
    pub primary_reset_after_seconds: u64,
    /// Length of the primary window in minutes.
    pub primary_window_minutes: u64,
    /// Percent used of the long (secondary) window.
    pub secondary_used_percent: f64,
    /// Seconds until the secondary window resets.
    pub secondary_reset_after_seconds: u64,
    /// Length of the secondary window in minutes.
    pub secondary_window_minutes: u64,
}

impl Default for CodexQuota {
    /// 25 % of a 5-hour window (resets in an hour), 10 % of a weekly window (resets in 3 days).
    fn default() -> Self {
        Self {
            plan_type: "plus".to_owned(),
            primary_used_percent: 25.0,
            primary_reset_after_seconds: 3_600,
            primary_window_minutes: 300,
            secondary_used_percent: 10.0,
            secondary_reset_after_seconds: 259_200,
            secondary_window_minutes: 10_080,
        }
    }
}

impl CodexQuota {
    /// The `x-codex-{primary,secondary}-{used-percent,reset-after-seconds,window-minutes}`
    /// response headers.
    pub fn headers(&self) -> Vec<(String, String)> {
        let h = |k: &str, v: String| (format!("x-codex-{k}"), v);
        vec![
            h(
                "primary-used-percent",
                self.primary_used_percent.to_string(),
            ),
            h(
                "primary-reset-after-seconds",
                self.primary_reset_after_seconds.to_string(),
            ),
            h(
                "primary-window-minutes",
                self.primary_window_minutes.to_string(),
            ),
            h(
                "secondary-used-percent",
                self.secondary_used_percent.to_string(),
            ),
            h(
                "secondary-reset-after-seconds",
                self.secondary_reset_after_seconds.to_string(),
            ),
            h(
                "secondary-window-minutes",
                self.secondary_window_minutes.to_string(),
            ),
        ]
    }

    /// The `GET /backend-api/wham/usage` body.
    pub fn usage_json(&self) -> Value {
        let window = |used: f64, reset: u64, minutes: u64| {
            let reset_i = i64::try_from(reset).unwrap_or(i64::MAX);
            json!({
                "used_percent": used,
                "limit_window_seconds": minutes * 60,
                "reset_after_seconds": reset,
                "reset_at": FAKE_CREATED.saturating_add(reset_i),
            })
        };
        let limit_reached =
            self.primary_used_percent >= 100.0 || self.secondary_used_percent >= 100.0;
        json!({
            "plan_type": self.plan_type,
            "rate_limit": {
                "allowed": !limit_reached,
                "limit_reached": limit_reached,
                "primary_window": window(
                    self.primary_used_percent,
                    self.primary_reset_after_seconds,
                    self.primary_window_minutes,
                ),
                "secondary_window": window(
                    self.secondary_used_percent,
                    self.secondary_reset_after_seconds,
                    self.secondary_window_minutes,
                ),
            },
            "credits": null,
        })
    }
}

/// The 429 body the Codex backend sends when the account's usage limit is reached; script it
/// with `Script::json(429, usage_limit_body(..))`.
pub fn usage_limit_body(plan_type: &str, resets_in_seconds: u64) -> Value {
    json!({
        "error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": plan_type,
            "resets_in_seconds": resets_in_seconds,
        }
    })
}

/// `POST /backend-api/codex/responses`: a Responses stream whatever `stream` says.
pub(crate) async fn responses(
    State(shared): State<Arc<Shared>>,
    Extension(knobs): Extension<Knobs>,
    body: Bytes,
) -> Response {
    let head = match Head::parse(&body) {
        Ok(h) => h,
        Err(e) => return answer::bad_request(openai_error, &e),
    };
    let model = head.model_or("gpt-5-codex");
    let spec = StreamSpec {
        route: "codex",
        model,
        flag: false,
        content_type: "text/event-stream",
    };
    let resp = answer::stream(&shared, knobs, &spec, |d| {
        responses_events(model, d, DEFAULT_USAGE)
    });
    let headers = lock(&shared.codex).headers();
    with_headers(resp, &headers)
}

/// `GET /backend-api/wham/usage`.
pub(crate) async fn usage(State(shared): State<Arc<Shared>>) -> Response {
    let quota = lock(&shared.codex).clone();
    with_headers(json_response(200, &quota.usage_json()), &quota.headers())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_headers_and_json_agree() {
        let q = CodexQuota::default();
        let h = q.headers();
        assert!(h.contains(&("x-codex-primary-used-percent".into(), "25".into())));
        assert!(h.contains(&("x-codex-secondary-window-minutes".into(), "10080".into())));
        let j = q.usage_json();
        assert_eq!(
            j["rate_limit"]["primary_window"]["limit_window_seconds"],
            18_000
        );
        assert_eq!(j["rate_limit"]["limit_reached"], false);
    }
}
