//! Classifying an upstream failure: whose fault it is, what it cools down and for how long, and
//! whether the next candidate should be tried. Pure; the relay applies the verdict.

use std::time::Duration;

use crate::config::RoutingConfig;

/// What a failure says about the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This credential is refused or limited (401, 403, 402, 429).
    Credential,
    /// The channel is failing (5xx, redirects, timeouts, connection errors).
    Channel,
    /// The channel lacks this model (404 naming the model).
    ChannelModel,
    /// The request itself is at fault; nothing cools down and nothing else is tried.
    Request,
}

/// The verdict on one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// What it says about the upstream.
    pub scope: Scope,
    /// Whether another candidate should be tried.
    pub retry: bool,
    /// How long the failed target cools down; `explicit` when the upstream said so.
    pub cooldown: Option<(Duration, bool)>,
}

/// Classifies an upstream HTTP status (with its `retry-after` seconds, if any, and whether the
/// body names the model as unknown).
pub fn classify_status(
    status: u16,
    retry_after: Option<u64>,
    body_mentions_model: bool,
    config: &RoutingConfig,
) -> Verdict {
    let secs = Duration::from_secs;
    match status {
        401..=403 => Verdict {
            scope: Scope::Credential,
            retry: true,
            cooldown: Some((secs(config.auth_failure_cooldown_secs), false)),
        },
        429 => Verdict {
            scope: Scope::Credential,
            retry: true,
            cooldown: Some(match retry_after {
                Some(wait) if wait > 0 => (secs(wait), true),
                _ => (secs(config.rate_limit_cooldown_secs), false),
            }),
        },
        404 if body_mentions_model => Verdict {
            scope: Scope::ChannelModel,
            retry: true,
            cooldown: Some((secs(config.channel_cooldown_secs), false)),
        },
        // A redirect is never followed (nor relayed): the channel's URL is wrong or moved.
        300..=399 | 408 | 500..=599 => Verdict {
            scope: Scope::Channel,
            retry: true,
            cooldown: Some(match retry_after {
                Some(wait) if wait > 0 && status == 503 => (secs(wait), true),
                _ => (secs(config.channel_cooldown_secs), false),
            }),
        },
        _ => Verdict {
            scope: Scope::Request,
            retry: false,
            cooldown: None,
        },
    }
}

/// The verdict on a new request's 404 that is not about the model, or its 405: the upstream
/// lacks the endpoint (a server without `/v1/responses`, a base URL one path off), which the
/// next channel may have. Nothing cools down: the channel still serves its other endpoints.
/// (A 404 about a stored object is the client's: [`classify_status`] judges those.)
pub fn lacks_endpoint(status: u16, body_mentions_model: bool) -> Option<Verdict> {
    (status == 405 || (status == 404 && !body_mentions_model)).then_some(Verdict {
        scope: Scope::Channel,
        retry: true,
        cooldown: None,
    })
}

/// Markers of a dead or unpaid key in a 400 answer: Gemini answers an invalid or expired key
/// with 400 `INVALID_ARGUMENT` (reason `API_KEY_INVALID`), Anthropic an empty account with 400
/// "Your credit balance is too low". Matched without regard to case.
const CREDENTIAL_FAULTS_IN_400: [&str; 4] = [
    "api_key_invalid",
    "api key not valid",
    "api key expired",
    "credit balance is too low",
];

/// The status a failure is judged by: a 400 whose body says the key is dead or unpaid is a
/// credential's failure (judged as 401), not the client's; any other status is itself.
pub fn judged_status(status: u16, body: &[u8]) -> u16 {
    if status != 400 {
        return status;
    }
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    if CREDENTIAL_FAULTS_IN_400
        .iter()
        .any(|marker| text.contains(marker))
    {
        401
    } else {
        status
    }
}

/// What an error the upstream reported inside a 200 answer (a stream's first event, a
/// `response.failed`) says, judged by its kind the way [`classify_status`] judges a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InBandFault {
    /// A rate or quota limit of the credential.
    RateLimited,
    /// The credential is refused (authentication, permission).
    Credential,
    /// The request itself: invalid, too long, refused by a content policy. Relayed, not retried.
    Request,
    /// Anything else: the channel failed.
    Channel,
}

/// Kind fragments of each in-band fault, checked in this order against the lowercased kind
/// (OpenAI's `code`/`type`, Anthropic's `type`, Gemini's `status`).
const IN_BAND_FAULTS: [(InBandFault, &[&str]); 3] = [
    (
        InBandFault::RateLimited,
        &[
            "rate_limit",
            "resource_exhausted",
            "usage_limit",
            "429",
            "quota",
        ],
    ),
    (
        InBandFault::Credential,
        &[
            "authentication",
            "unauthenticated",
            "permission",
            "api_key",
            "billing",
        ],
    ),
    (
        InBandFault::Request,
        &[
            "invalid",
            "context_length",
            "too_large",
            "too_long",
            "content_policy",
            "content_filter",
            "safety",
        ],
    ),
];

/// Judges an in-band error by its kind.
pub fn in_band_fault(kind: &str) -> InBandFault {
    let kind = kind.to_ascii_lowercase();
    IN_BAND_FAULTS
        .iter()
        .find(|(_, fragments)| fragments.iter().any(|f| kind.contains(f)))
        .map_or(InBandFault::Channel, |(fault, _)| *fault)
}

/// Classifies a failure with no HTTP answer: connect error, timeout, broken stream.
pub fn classify_transport(config: &RoutingConfig) -> Verdict {
    Verdict {
        scope: Scope::Channel,
        retry: true,
        cooldown: Some((Duration::from_secs(config.channel_cooldown_secs), false)),
    }
}

/// The wait an answer's headers ask for, in whole seconds rounded up: `retry-after-ms` (OpenAI
/// and Anthropic send it beside `retry-after`), else `retry-after` as seconds or as an HTTP date
/// (counted from `now`). A date already past asks for no wait.
pub fn retry_after_secs(
    headers: &axum::http::HeaderMap,
    now: std::time::SystemTime,
) -> Option<u64> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "finite, non-negative, and capped at a day before the cast"
        )]
        return Some(((ms / 1000.0).min(86_400.0).ceil() as u64).max(1));
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .map_or(0, |wait| wait.as_secs_f64().ceil() as u64),
    )
}

/// The wait a rate-limit message names, in whole seconds rounded up: OpenAI's in-band errors
/// say "Please try again in 1.898s" (or "in 20ms", "in 3 seconds"), Gemini's "Please retry in
/// 23.5s", where an HTTP answer would carry `retry-after`.
pub fn retry_hint(message: &str) -> Option<u64> {
    let lower = message.to_ascii_lowercase();
    let rest = ["try again in ", "retry in "]
        .iter()
        .find_map(|phrase| Some(&lower[lower.find(phrase)? + phrase.len()..]))?;
    let number_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    let amount: f64 = rest[..number_len].parse().ok()?;
    let unit = rest[number_len..].trim_start();
    let secs = if unit.starts_with("ms") {
        amount / 1000.0
    } else if unit.starts_with('s') {
        amount
    } else {
        return None;
    };
    // an upstream's own figure, at most a day: anything larger is not a wait worth believing
    (secs.is_finite() && (0.0..=86_400.0).contains(&secs)).then(|| (secs.ceil() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_messages_name_their_wait() {
        let cases = [
            (
                "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): \
                 Limit 30000, Used 29000, Requested 1500. Please try again in 1.898s. Visit ...",
                Some(2),
            ),
            ("Please try again in 20ms.", Some(1)),
            ("Try again in 3 seconds", Some(3)),
            ("Please TRY AGAIN IN 12s", Some(12)),
            (
                "You exceeded your current quota, please check your plan and billing details. \
                 Please retry in 23.345345s.",
                Some(24),
            ),
            ("try again in a moment", None),
            ("try again in 5 minutes", None),
            ("try again in 99999999s", None),
            ("the server is overloaded", None),
        ];
        for (message, wait) in cases {
            assert_eq!(retry_hint(message), wait, "{message}");
        }
    }

    #[test]
    fn a_400_naming_a_dead_or_unpaid_key_is_the_credentials_failure() {
        let gemini = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}"#;
        let anthropic = br#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}"#;
        assert_eq!(judged_status(400, gemini), 401);
        assert_eq!(judged_status(400, anthropic), 401);
        let client = br#"{"error":{"message":"Invalid 'messages': empty array.","type":"invalid_request_error"}}"#;
        assert_eq!(judged_status(400, client), 400, "the client's own fault");
        assert_eq!(judged_status(500, gemini), 500, "only a 400 is looked into");
    }

    #[test]
    fn retry_after_is_read_in_every_form() {
        use axum::http::{HeaderMap, HeaderValue};
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_static(value));
            }
            headers
        };
        assert_eq!(
            retry_after_secs(&with(&[("retry-after", "7")]), now),
            Some(7)
        );
        assert_eq!(
            retry_after_secs(
                &with(&[("retry-after", "7"), ("retry-after-ms", "1500")]),
                now
            ),
            Some(2),
            "the finer figure wins, rounded up"
        );
        assert_eq!(
            retry_after_secs(&with(&[("retry-after-ms", "20")]), now),
            Some(1)
        );
        // 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT
        assert_eq!(
            retry_after_secs(
                &with(&[("retry-after", "Tue, 14 Nov 2023 22:14:00 GMT")]),
                now
            ),
            Some(40)
        );
        assert_eq!(
            retry_after_secs(
                &with(&[("retry-after", "Tue, 14 Nov 2023 22:00:00 GMT")]),
                now
            ),
            Some(0),
            "a date already past"
        );
        assert_eq!(
            retry_after_secs(&with(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(retry_after_secs(&HeaderMap::new(), now), None);
    }

    #[test]
    fn in_band_errors_are_judged_by_their_kind() {
        let cases = [
            ("rate_limit_exceeded", InBandFault::RateLimited),
            ("RESOURCE_EXHAUSTED", InBandFault::RateLimited),
            ("usage_limit_reached", InBandFault::RateLimited),
            ("insufficient_quota", InBandFault::RateLimited),
            ("authentication_error", InBandFault::Credential),
            ("PERMISSION_DENIED", InBandFault::Credential),
            ("invalid_api_key", InBandFault::Credential),
            ("context_length_exceeded", InBandFault::Request),
            ("invalid_request_error", InBandFault::Request),
            ("INVALID_ARGUMENT", InBandFault::Request),
            ("invalid_prompt", InBandFault::Request),
            ("request_too_large", InBandFault::Request),
            ("server_error", InBandFault::Channel),
            ("overloaded_error", InBandFault::Channel),
            ("response_failed", InBandFault::Channel),
            ("", InBandFault::Channel),
        ];
        for (kind, fault) in cases {
            assert_eq!(in_band_fault(kind), fault, "{kind}");
        }
    }

    #[test]
    fn statuses_map_to_scopes() {
        let config = RoutingConfig::default();
        let cases = [
            ("bad key", 401, None, false, Scope::Credential, true),
            ("no credit", 402, None, false, Scope::Credential, true),
            ("rate limited", 429, Some(7), false, Scope::Credential, true),
            ("model missing", 404, None, true, Scope::ChannelModel, true),
            ("path missing", 404, None, false, Scope::Request, false),
            ("bad request", 400, None, false, Scope::Request, false),
            ("too large", 413, None, false, Scope::Request, false),
            ("server error", 500, None, false, Scope::Channel, true),
            ("redirect", 302, None, false, Scope::Channel, true),
            ("permanent redirect", 308, None, false, Scope::Channel, true),
            ("overloaded", 529, None, false, Scope::Channel, true),
        ];
        for (name, status, retry_after, mentions, scope, retry) in cases {
            let verdict = classify_status(status, retry_after, mentions, &config);
            assert_eq!(
                (verdict.scope, verdict.retry),
                (scope, retry),
                "case {name}"
            );
        }
        let limited = classify_status(429, Some(7), false, &config);
        assert_eq!(
            limited.cooldown,
            Some((Duration::from_secs(7), true)),
            "retry-after honoured"
        );
        let limited = classify_status(429, None, false, &config);
        assert_eq!(
            limited.cooldown,
            Some((Duration::from_secs(config.rate_limit_cooldown_secs), false))
        );
    }
}
