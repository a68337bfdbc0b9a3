//! Codex account quota: reading the `x-codex-primary-*` / `x-codex-secondary-*` headers of every
//! Codex answer and the `wham/usage` JSON, the wait a usage-limit error imposes, and the small
//! writer task that stores reports off the hot path (the relay only `try_send`s).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::codex_accounts::{self, Quota, QuotaWindow};
use crate::store::{Store, now_ms};

/// Reports queued for the writer; a full queue drops a report (the next answer brings another).
const QUEUE: usize = 1024;
/// How long the writer gathers reports before one write transaction.
const BATCH_WINDOW: Duration = Duration::from_millis(500);
/// Time allowed for one `wham/usage` call.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// One window from the headers of `prefix` (`primary` or `secondary`).
fn header_window(headers: &HeaderMap, prefix: &str, now: i64) -> Option<QuotaWindow> {
    let get = |name: &str| {
        headers
            .get(format!("x-codex-{prefix}-{name}"))
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let used_percent = get("used-percent")?.parse::<f64>().ok()?;
    if !used_percent.is_finite() {
        return None;
    }
    let reset_after = get("reset-after-seconds").and_then(|v| v.parse::<f64>().ok());
    let reset_at = get("reset-at").and_then(|v| v.parse::<i64>().ok());
    Some(QuotaWindow {
        used_percent,
        reset_at: reset_at
            .map(|secs| secs.saturating_mul(1000))
            .or_else(|| reset_after.map(|secs| now + secs_to_ms(secs))),
        window_minutes: get("window-minutes").and_then(|v| v.parse::<i64>().ok()),
    })
}

fn secs_to_ms(secs: f64) -> i64 {
    if secs.is_finite() && secs > 0.0 {
        (secs * 1000.0).min(i64::MAX as f64 / 2.0) as i64
    } else {
        0
    }
}

/// The quota in a Codex answer's headers, if it carries any.
pub fn from_headers(headers: &HeaderMap, now: i64) -> Option<Quota> {
    let quota = Quota {
        primary: header_window(headers, "primary", now),
        secondary: header_window(headers, "secondary", now),
    };
    (quota.primary.is_some() || quota.secondary.is_some()).then_some(quota)
}

/// The quota and plan in a `GET {origin}/backend-api/wham/usage` answer.
pub fn from_usage_json(body: &Value, now: i64) -> (Quota, Option<String>) {
    let window = |w: &Value| -> Option<QuotaWindow> {
        let used_percent = w.get("used_percent")?.as_f64()?;
        let reset_at = w
            .get("reset_at")
            .and_then(Value::as_i64)
            .map(|secs| secs.saturating_mul(1000))
            .or_else(|| {
                w.get("reset_after_seconds")
                    .and_then(Value::as_f64)
                    .map(|s| now + secs_to_ms(s))
            });
        Some(QuotaWindow {
            used_percent,
            reset_at,
            window_minutes: w
                .get("limit_window_seconds")
                .and_then(Value::as_i64)
                .map(|s| s / 60),
        })
    };
    let limits = &body["rate_limit"];
    let quota = Quota {
        primary: window(&limits["primary_window"]),
        secondary: window(&limits["secondary_window"]),
    };
    let plan = body["plan_type"]
        .as_str()
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    (quota, plan)
}

/// The usage endpoint of a channel: the Codex base `…/backend-api/codex` becomes
/// `…/backend-api/wham/usage`; any other base uses its origin's `/backend-api/wham/usage`.
pub fn usage_url(base_url: &str) -> Option<String> {
    let base = base_url.trim_end_matches('/');
    if let Some(root) = base.strip_suffix("/codex") {
        return Some(format!("{root}/wham/usage"));
    }
    let url = url::Url::parse(base).ok()?;
    Some(format!(
        "{}/backend-api/wham/usage",
        url.origin().ascii_serialization()
    ))
}

/// How long a usage-limit answer cools the account, in seconds: the body's `resets_in_seconds`
/// (or `resets_at`) when its error is `usage_limit_reached`; else, for a 429, the reset of an
/// exhausted window in the headers. `None` when the answer is not about the usage limit.
pub fn usage_limit_wait(status: u16, headers: &HeaderMap, body: &[u8], now: i64) -> Option<u64> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &value["error"];
    let kind = error["type"].as_str().or_else(|| error["code"].as_str());
    if kind == Some("usage_limit_reached") {
        let wait = error["resets_in_seconds"].as_u64().or_else(|| {
            let at = error["resets_at"].as_i64()?;
            u64::try_from(at.saturating_sub(now / 1000)).ok()
        });
        return Some(wait.or_else(|| exhausted_wait(headers, now)).unwrap_or(0));
    }
    if status == 429 {
        return exhausted_wait(headers, now);
    }
    None
}

/// Seconds until the latest reset of a window the headers say is used up.
fn exhausted_wait(headers: &HeaderMap, now: i64) -> Option<u64> {
    let quota = from_headers(headers, now)?;
    [quota.primary, quota.secondary]
        .into_iter()
        .flatten()
        .filter(|w| w.used_percent >= 100.0)
        .filter_map(|w| w.reset_at)
        .max()
        .and_then(|at| u64::try_from((at - now).max(0) / 1000).ok())
        .filter(|secs| *secs > 0)
}

/// Fetches an account's quota from the Codex backend.
pub async fn fetch(
    client: &reqwest::Client,
    base_url: &str,
    access_token: &str,
    account_id: &str,
) -> Result<(Quota, Option<String>), String> {
    let url = usage_url(base_url).ok_or("the channel's base URL is invalid")?;
    let response = client
        .get(url)
        .bearer_auth(access_token)
        .header("chatgpt-account-id", account_id)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|_| "the Codex usage endpoint could not be reached".to_owned())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "the Codex usage endpoint answered {}",
            status.as_u16()
        ));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|_| "the Codex usage answer could not be read".to_owned())?;
    Ok(from_usage_json(&body, now_ms()))
}

/// Where the relay drops quota reports; cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct QuotaSink {
    tx: mpsc::Sender<(i64, Quota)>,
}

impl QuotaSink {
    /// Queues a report for an account; dropped when the queue is full.
    pub fn note(&self, account: i64, quota: Quota) {
        if self.tx.try_send((account, quota)).is_err() {
            tracing::debug!(account, "quota report dropped; the writer is behind");
        }
    }
}

/// Starts the writer task: it gathers reports for a moment and stores the last one per account
/// in one transaction; on shutdown it stores what is queued and ends.
pub fn start(store: Store, tasks: &TaskTracker, shutdown: CancellationToken) -> QuotaSink {
    let (tx, mut rx) = mpsc::channel::<(i64, Quota)>(QUEUE);
    tasks.spawn(async move {
        loop {
            let first = tokio::select! {
                item = rx.recv() => item,
                () = shutdown.cancelled() => None,
            };
            let Some((id, quota)) = first else {
                break;
            };
            let mut batch = HashMap::from([(id, quota)]);
            let deadline = tokio::time::sleep(BATCH_WINDOW);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    item = rx.recv() => match item {
                        Some((id, quota)) => { batch.insert(id, quota); }
                        None => break,
                    },
                    () = &mut deadline => break,
                }
            }
            write(&store, batch).await;
        }
        let mut rest = HashMap::new();
        while let Ok((id, quota)) = rx.try_recv() {
            rest.insert(id, quota);
        }
        if !rest.is_empty() {
            write(&store, rest).await;
        }
    });
    QuotaSink { tx }
}

async fn write(store: &Store, batch: HashMap<i64, Quota>) {
    let result = store
        .write(move |tx| {
            for (id, quota) in &batch {
                codex_accounts::set_quota(tx, *id, quota, None)?;
            }
            Ok(())
        })
        .await;
    if let Err(err) = result {
        tracing::warn!(error = %err, "storing Codex quota reports failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn headers_give_both_windows() {
        let h = headers(&[
            ("x-codex-primary-used-percent", "25"),
            ("x-codex-primary-reset-after-seconds", "3600"),
            ("x-codex-primary-window-minutes", "300"),
            ("x-codex-secondary-used-percent", "10.5"),
            ("x-codex-secondary-reset-after-seconds", "259200"),
            ("x-codex-secondary-window-minutes", "10080"),
        ]);
        let quota = from_headers(&h, 1_000).expect("quota");
        assert_eq!(
            quota.primary,
            Some(QuotaWindow {
                used_percent: 25.0,
                reset_at: Some(1_000 + 3_600_000),
                window_minutes: Some(300),
            })
        );
        assert_eq!(quota.secondary.map(|w| w.used_percent), Some(10.5));
        assert_eq!(from_headers(&HeaderMap::new(), 0), None);
        let junk = headers(&[("x-codex-primary-used-percent", "lots")]);
        assert_eq!(from_headers(&junk, 0), None);
    }

    #[test]
    fn the_usage_json_gives_windows_and_plan() {
        let body = json!({
            "plan_type": "pro",
            "rate_limit": {
                "primary_window": {"used_percent": 40.0, "limit_window_seconds": 18000, "reset_after_seconds": 60, "reset_at": 2_000},
                "secondary_window": {"used_percent": 5, "limit_window_seconds": 604800, "reset_after_seconds": 120},
            },
        });
        let (quota, plan) = from_usage_json(&body, 10_000);
        assert_eq!(plan.as_deref(), Some("pro"));
        let primary = quota.primary.expect("primary");
        assert_eq!(
            (primary.reset_at, primary.window_minutes),
            (Some(2_000_000), Some(300))
        );
        let secondary = quota.secondary.expect("secondary");
        assert_eq!(
            (secondary.reset_at, secondary.window_minutes),
            (Some(130_000), Some(10_080))
        );
    }

    #[test]
    fn usage_urls_follow_the_codex_layout() {
        assert_eq!(
            usage_url("https://chatgpt.com/backend-api/codex").as_deref(),
            Some("https://chatgpt.com/backend-api/wham/usage")
        );
        assert_eq!(
            usage_url("http://127.0.0.1:9/backend-api/codex/").as_deref(),
            Some("http://127.0.0.1:9/backend-api/wham/usage")
        );
        assert_eq!(
            usage_url("https://mirror.example/api").as_deref(),
            Some("https://mirror.example/backend-api/wham/usage")
        );
    }

    #[test]
    fn usage_limits_cool_until_the_reset() {
        let body = json!({"error": {"type": "usage_limit_reached", "resets_in_seconds": 1800}});
        let body = serde_json::to_vec(&body).expect("json");
        assert_eq!(
            usage_limit_wait(429, &HeaderMap::new(), &body, 0),
            Some(1800)
        );
        let exhausted = headers(&[
            ("x-codex-primary-used-percent", "100"),
            ("x-codex-primary-reset-after-seconds", "600"),
        ]);
        assert_eq!(usage_limit_wait(429, &exhausted, b"{}", 0), Some(600));
        assert_eq!(usage_limit_wait(429, &HeaderMap::new(), b"{}", 0), None);
        assert_eq!(usage_limit_wait(500, &exhausted, b"{}", 0), None);
    }
}
