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

/// Classifies a failure with no HTTP answer: connect error, timeout, broken stream.
pub fn classify_transport(config: &RoutingConfig) -> Verdict {
    Verdict {
        scope: Scope::Channel,
        retry: true,
        cooldown: Some((Duration::from_secs(config.channel_cooldown_secs), false)),
    }
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
