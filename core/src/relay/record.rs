//! The usage record of one data-plane request, filled in as the request goes through the
//! pipeline and handed to the recorder exactly once: when the answer is complete, when the
//! request fails, or when a stream is dropped (client gone, shutdown) — whatever comes first.

use std::time::Instant;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::error::RelayError;
use super::protocol::Observed;
use crate::store::response_owners::ResponseOwner;
use crate::store::unbilled_responses::Unbilled;
use crate::store::usage::UsageEvent;
use crate::usage::recorder::{Deferred, Recorded, UsageSink};
use crate::usage::{Prices, TokenUsage, cost};

/// A usage record in the making.
#[derive(Debug, Clone)]
pub struct Draft {
    /// When the request arrived (wall clock, for the record).
    pub time: DateTime<Utc>,
    /// When the request arrived (monotonic, for latencies).
    pub received: Instant,
    /// Our request id.
    pub request_id: String,
    /// The route template, e.g. `/v1/chat/completions`.
    pub endpoint: &'static str,
    /// Client request body size.
    pub request_bytes: u64,
    /// Filled by authentication.
    pub user_id: Option<i64>,
    /// Filled by authentication.
    pub token_id: Option<i64>,
    /// The model the client asked for.
    pub model: String,
    /// Whether the client asked for a stream.
    pub is_stream: bool,
    /// A `background` Responses call: what it creates is billed by a later fetch when its own
    /// answer reports no usage.
    pub background: bool,
    /// The model name sent upstream.
    pub forwarded_model: Option<String>,
    /// The channel that served (or last failed).
    pub channel_id: Option<i64>,
    /// The credential that served (or last failed).
    pub credential_id: Option<i64>,
    /// Status answered.
    pub status_code: u16,
    /// Failure class, if any.
    pub error_class: Option<String>,
    /// Milliseconds to the first content event sent to the client.
    pub first_token_ms: Option<u64>,
    /// Bytes sent to the client.
    pub response_bytes: u64,
    /// What the upstream reported.
    pub observed: Observed,
    /// Whether the answer ended early.
    pub partial: bool,
    /// Prices of the model.
    pub prices: Prices,
    /// Channel group multiplier.
    pub multiplier: Decimal,
    /// Whether the cost is charged to the user's balance.
    pub charge: bool,
    /// What the call holds against the user's balance until its record is written.
    pub held: Decimal,
    /// The Responses object whose deferred billing this fetch settles (see [`Deferred`]).
    pub settles: Option<String>,
    /// The Responses object this call deletes: once it is gone, nothing can bill it any more
    /// (see [`Deferred::Drop`]).
    pub deletes: Option<String>,
    /// A call about a stored Responses object (retrieve, cancel, …): the usage its answer
    /// repeats is the creation's, recorded again only by the fetch that pays for it.
    pub about_stored: bool,
}

impl Draft {
    /// A draft for a request that just arrived.
    pub fn new(request_id: String, endpoint: &'static str, request_bytes: u64) -> Self {
        Self {
            time: Utc::now(),
            received: Instant::now(),
            request_id,
            endpoint,
            request_bytes,
            user_id: None,
            token_id: None,
            model: String::new(),
            is_stream: false,
            background: false,
            forwarded_model: None,
            channel_id: None,
            credential_id: None,
            status_code: 200,
            error_class: None,
            first_token_ms: None,
            response_bytes: 0,
            observed: Observed::default(),
            partial: false,
            prices: Prices::default(),
            multiplier: Decimal::ONE,
            charge: false,
            held: Decimal::ZERO,
            settles: None,
            deletes: None,
            about_stored: false,
        }
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.received.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Notes the failure that ends the request.
    pub fn fail(&mut self, error: &RelayError) {
        self.status_code = error.status().as_u16();
        self.error_class = Some(error.class().to_owned());
    }

    /// Whether this request belongs to someone (unauthenticated calls are not recorded).
    pub fn is_attributable(&self) -> bool {
        self.user_id.is_some()
    }

    /// The finished usage event, cost computed from the observed usage.
    pub fn into_event(self) -> (UsageEvent, bool) {
        let latency_ms = self.elapsed_ms();
        let tokens = self.observed.usage.unwrap_or_default();
        let cost_usd = cost(&tokens, &self.prices, self.multiplier);
        let TokenUsage {
            input_tokens,
            cached_input_tokens,
            cache_write_tokens,
            output_tokens,
            reasoning_tokens,
        } = tokens;
        let event = UsageEvent {
            id: 0,
            time: self.time,
            request_id: self.request_id,
            user_id: self.user_id,
            token_id: self.token_id,
            model: self.model,
            forwarded_model: self.forwarded_model,
            upstream_model: self.observed.upstream_model,
            channel_id: self.channel_id,
            credential_id: self.credential_id,
            endpoint: self.endpoint.to_owned(),
            is_stream: self.is_stream,
            status_code: self.status_code,
            error_class: self.error_class,
            latency_ms,
            first_token_latency_ms: self.first_token_ms,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            input_tokens,
            cached_input_tokens,
            cache_write_tokens,
            output_tokens,
            reasoning_tokens,
            cost_usd,
            upstream_usage: self.observed.raw_usage,
            partial: self.partial,
        };
        (event, self.charge)
    }

    /// Who owns a Responses object this request makes, and where it lives: its user, channel
    /// and credential, once all three are known.
    pub fn response_owner(&self) -> Option<ResponseOwner> {
        Some(ResponseOwner {
            user_id: self.user_id?,
            channel_id: self.channel_id?,
            credential_id: self.credential_id?,
        })
    }

    /// Hands the finished record to the recorder (attributable requests only).
    pub fn submit(mut self, sink: &UsageSink) {
        if !self.is_attributable() {
            return;
        }
        if self.about_stored && self.settles.is_none() {
            self.observed.forget_usage();
        }
        // only a stored response can be fetched or continued later: an unstored one (every
        // Codex turn) needs no owner row, nor a binding restored from it at start
        let response_owner = self
            .observed
            .continuable_response_id()
            .map(str::to_owned)
            .zip(self.response_owner());
        let deferred = self.deferred(response_owner.as_ref().map(|(id, _)| id.as_str()));
        let held = self.held;
        let (event, charge) = self.into_event();
        sink.record(Recorded {
            event,
            charge,
            held,
            response_owner,
            deferred,
        });
    }

    /// A fetch that reports the usage of a response still to be billed, or its final status,
    /// settles it (one before the response finished leaves it to a later fetch); a `background`
    /// call that created a stored response (`created`) without reporting its usage puts its
    /// billing off (any other call is billed for the usage it saw, even none: a stream the
    /// client stopped or the upstream cut is not fetched later); a delete that went through,
    /// or a fetch the upstream answers 404, drops it. Boxed: the records of almost every
    /// request have none.
    fn deferred(&self, created: Option<&str>) -> Option<Box<Deferred>> {
        let reported = self.observed.usage.is_some_and(|usage| usage.is_reported());
        let gone = match (&self.deletes, &self.settles) {
            (Some(response_id), _) if (200..300).contains(&self.status_code) => Some(response_id),
            (_, Some(response_id)) if self.status_code == 404 => Some(response_id),
            _ => None,
        };
        if let Some(response_id) = gone {
            return Some(Box::new(Deferred::Drop {
                response_id: response_id.clone(),
            }));
        }
        if let Some(response_id) = &self.settles {
            return (reported || self.observed.response_final).then(|| {
                Box::new(Deferred::Settle {
                    response_id: response_id.clone(),
                })
            });
        }
        let response_id = created.filter(|_| self.charge && self.background && !reported)?;
        Some(Box::new(Deferred::Defer {
            response_id: response_id.to_owned(),
            unbilled: Unbilled {
                model: self.model.clone(),
                multiplier: self.multiplier,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A draft as a served Responses call leaves it, the response's `store` flag as given.
    fn served(store: Option<bool>) -> Draft {
        let mut draft = Draft::new("req".into(), "/v1/responses", 10);
        draft.user_id = Some(1);
        draft.channel_id = Some(2);
        draft.credential_id = Some(3);
        draft
            .observed
            .note_response_id(Some(Cow::Borrowed("resp_1")), store);
        draft
    }

    #[test]
    fn billing_is_put_off_by_a_creation_without_usage_and_settled_by_a_fetch_with_it() {
        let usage = |input_tokens| {
            Some(TokenUsage {
                input_tokens,
                ..TokenUsage::default()
            })
        };
        let mut created = served(None);
        created.charge = true;
        created.background = true;
        created.model = "gpt".into();
        assert!(matches!(
            created.deferred(Some("resp_1")).as_deref(),
            Some(Deferred::Defer { response_id, unbilled }) if response_id == "resp_1"
                && unbilled.model == "gpt"
        ));
        created.observed.usage = usage(5);
        assert_eq!(created.deferred(Some("resp_1")), None, "billed as it is");
        created.observed.usage = None;
        created.charge = false;
        assert_eq!(created.deferred(Some("resp_1")), None, "billing is off");
        created.charge = true;
        created.background = false;
        assert_eq!(
            created.deferred(Some("resp_1")),
            None,
            "a call in the foreground that saw no usage (a stream stopped early) is billed now"
        );

        let mut fetch = served(None);
        fetch.settles = Some("resp_1".into());
        fetch.observed.usage = usage(0);
        assert_eq!(
            fetch.deferred(None),
            None,
            "not finished: a later fetch pays"
        );
        fetch.observed.usage = usage(5);
        assert_eq!(
            fetch.deferred(None).as_deref(),
            Some(&Deferred::Settle {
                response_id: "resp_1".into()
            })
        );
    }

    #[test]
    fn a_final_status_settles_and_a_response_gone_is_dropped() {
        let settle = Some(Deferred::Settle {
            response_id: "resp_1".into(),
        });
        let drop = Some(Deferred::Drop {
            response_id: "resp_1".into(),
        });
        // cancelled before it ran: no usage will ever be reported
        let mut fetch = served(None);
        fetch.settles = Some("resp_1".into());
        fetch.observed.response_final = true;
        assert_eq!(fetch.deferred(None).map(|d| *d), settle);
        // the upstream no longer knows it
        fetch.observed.response_final = false;
        fetch.status_code = 404;
        assert_eq!(fetch.deferred(None).map(|d| *d), drop);

        let mut delete = served(None);
        delete.deletes = Some("resp_1".into());
        assert_eq!(delete.deferred(None).map(|d| *d), drop);
        delete.status_code = 500;
        assert_eq!(
            delete.deferred(None),
            None,
            "not deleted: still to be billed"
        );
    }

    #[tokio::test]
    async fn only_a_stored_response_gets_an_owner() {
        let (sink, mut records) = UsageSink::for_tests();
        served(Some(true)).submit(&sink);
        served(Some(false)).submit(&sink);
        let stored = records.recv().await.expect("record");
        let unstored = records.recv().await.expect("record");
        let owner = ResponseOwner {
            user_id: 1,
            channel_id: 2,
            credential_id: 3,
        };
        assert_eq!(stored.response_owner, Some(("resp_1".to_owned(), owner)));
        assert_eq!(unstored.response_owner, None);
    }
}
