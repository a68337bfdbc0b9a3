//! The body of a committed stream. Upstream bytes go to the client as they arrive, untouched,
//! while a side observer reads usage from them. It also sends each protocol's keepalive while the
//! upstream is idle (only between events), ends the stream with an in-band error event when the
//! upstream breaks, stalls past the idle timeout or the server shuts down (a JSON-array stream,
//! which has no place for one, just ends there), and records usage exactly once — also when the
//! client goes away and the body is dropped.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::dialect::Dialect;
use super::error::RelayError;
use super::protocol::StreamObserver;
use super::record::Draft;
use super::routing::health::InflightGuard;
use super::upstream::transport::UpstreamBody;
use crate::usage::recorder::UsageSink;

/// The usage record's `error_class` of a stream the upstream ended with an error of its own.
const UPSTREAM_ERROR_CLASS: &str = "upstream_error";

/// Timing of a stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamTiming {
    /// Longest silence from the upstream before the stream is ended.
    pub idle_timeout: Duration,
    /// Silence after which a keepalive goes to the client.
    pub keepalive_every: Duration,
}

/// A committed stream from upstream to client.
pub struct RelayStream {
    upstream: UpstreamBody,
    pending: Option<Bytes>,
    observer: Option<StreamObserver>,
    dialect: Dialect,
    keepalive: Option<&'static [u8]>,
    /// A failure is told to the client as a last event in its dialect (SSE streams only; a
    /// JSON array has no place for one and just ends).
    in_band_errors: bool,
    timing: StreamTiming,
    last_upstream: Instant,
    last_sent: Instant,
    timer: Pin<Box<Sleep>>,
    stop: Pin<Box<WaitForCancellationFutureOwned>>,
    done: bool,
    /// The protocol's proper end was seen.
    completed: bool,
    /// The upstream reported an error in the stream (Responses `response.failed`, an `error`
    /// event): when it then closes, the client already has the error in its own protocol.
    upstream_error: bool,
    draft: Option<Draft>,
    sink: UsageSink,
    /// Counts the stream against its credential's load until it ends.
    inflight: Option<InflightGuard>,
}

/// What a new stream starts from.
pub struct StreamParts {
    /// The rest of the upstream body.
    pub upstream: UpstreamBody,
    /// Bytes already read while peeking, sent first.
    pub peeked: Bytes,
    /// The observer that read the peeked bytes.
    pub observer: StreamObserver,
    /// Whether the peeked bytes already held the protocol's proper end.
    pub completed: bool,
    /// The client's dialect (error events, keepalives).
    pub dialect: Dialect,
    /// The keepalive bytes of the client's protocol, if it has one (sent only in SSE streams).
    pub keepalive: Option<&'static [u8]>,
    /// Timeouts.
    pub timing: StreamTiming,
    /// Cancelled when open streams must end (shutdown).
    pub stop: tokio_util::sync::CancellationToken,
    /// The usage record, completed when the stream ends.
    pub draft: Draft,
    /// Where the record goes.
    pub sink: UsageSink,
    /// The credential's in-flight count, held until the stream ends.
    pub inflight: InflightGuard,
}

impl RelayStream {
    /// Starts forwarding.
    pub fn new(parts: StreamParts) -> Self {
        let completed = parts.completed;
        let upstream_error = parts.observer.reported_error();
        let sse = parts.observer.is_sse();
        let now = Instant::now();
        let first_wake = now + parts.timing.keepalive_every.min(parts.timing.idle_timeout);
        Self {
            upstream: parts.upstream,
            pending: (!parts.peeked.is_empty()).then_some(parts.peeked),
            observer: Some(parts.observer),
            dialect: parts.dialect,
            keepalive: parts.keepalive.filter(|_| sse),
            in_band_errors: sse,
            timing: parts.timing,
            last_upstream: now,
            last_sent: now,
            timer: Box::pin(tokio::time::sleep_until(first_wake)),
            stop: Box::pin(parts.stop.cancelled_owned()),
            done: false,
            completed,
            upstream_error,
            draft: Some(parts.draft),
            sink: parts.sink,
            inflight: Some(parts.inflight),
        }
    }

    fn sent(&mut self, bytes: &Bytes) {
        self.last_sent = Instant::now();
        if let Some(draft) = self.draft.as_mut() {
            draft.response_bytes += bytes.len() as u64;
        }
    }

    fn feed(&mut self, bytes: &Bytes) {
        let Some(observer) = self.observer.as_mut() else {
            return;
        };
        let outcome = observer.feed(bytes);
        self.completed |= outcome.completed;
        self.upstream_error |= outcome.error;
        if outcome.first_content
            && let Some(draft) = self.draft.as_mut()
            && draft.first_token_ms.is_none()
        {
            draft.first_token_ms = Some(draft.elapsed_ms());
        }
    }

    /// Ends the stream: completes and submits the record. `error` is the in-band error sent.
    fn finish(&mut self, error: Option<&RelayError>) {
        self.done = true;
        self.inflight = None;
        let Some(mut draft) = self.draft.take() else {
            return;
        };
        if let Some(observer) = self.observer.take() {
            draft.observed = observer.finish();
        }
        draft.partial = !draft.observed.completed;
        if let Some(error) = error {
            draft.error_class = Some(error.class().to_owned());
        } else if draft.observed.error.is_some() {
            draft.error_class = Some(UPSTREAM_ERROR_CLASS.to_owned());
        } else if draft.partial {
            draft.error_class = Some("stream_incomplete".to_owned());
        }
        draft.submit(&self.sink);
    }

    fn end_with(&mut self, error: RelayError) -> Poll<Option<Result<Bytes, Infallible>>> {
        if !self.in_band_errors {
            self.finish(Some(&error));
            return Poll::Ready(None);
        }
        let event = error.stream_event_for(self.dialect);
        self.sent(&event);
        self.finish(Some(&error));
        Poll::Ready(Some(Ok(event)))
    }

    fn rearm(&mut self) {
        let keepalive_due = self.last_sent.max(self.last_upstream) + self.timing.keepalive_every;
        let idle_due = self.last_upstream + self.timing.idle_timeout;
        let next = if self.keepalive.is_some() {
            keepalive_due.min(idle_due)
        } else {
            idle_due
        };
        self.timer.as_mut().reset(next);
    }
}

impl Stream for RelayStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(bytes) = this.pending.take() {
            this.sent(&bytes);
            return Poll::Ready(Some(Ok(bytes)));
        }
        if this.stop.as_mut().poll(cx).is_ready() {
            return this.end_with(RelayError::UpstreamFailed {
                status: 503,
                summary: "the server is shutting down; the stream was ended".into(),
            });
        }
        match Pin::new(&mut this.upstream).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => {
                // The timer is not reset per chunk (that cost a timer-wheel update per event);
                // when it fires, the times below decide whether anything is really due.
                this.last_upstream = Instant::now();
                this.feed(&bytes);
                this.sent(&bytes);
                Poll::Ready(Some(Ok(bytes)))
            }
            Poll::Ready(Some(Err(_))) => this.end_with(RelayError::UpstreamFailed {
                status: 502,
                summary: "the upstream connection broke in the middle of the stream".into(),
            }),
            // After the protocol's end, or an error the upstream reported in band and then
            // closed on, the stream is over as the upstream ended it: nothing to add.
            Poll::Ready(None) if this.completed || this.upstream_error => {
                this.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(None) => this.end_with(RelayError::UpstreamFailed {
                status: 502,
                summary: "the upstream ended the stream before it was complete".into(),
            }),
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let now = Instant::now();
                let idle_due = this.last_upstream + this.timing.idle_timeout;
                let keepalive_due =
                    this.last_sent.max(this.last_upstream) + this.timing.keepalive_every;
                let keepalive_now = this.keepalive.is_some() && now >= keepalive_due;
                if now < idle_due && !keepalive_now {
                    // Bytes flowed since the timer was set: nothing is due yet.
                    this.rearm();
                    let _ = this.timer.as_mut().poll(cx);
                    return Poll::Pending;
                }
                if now >= idle_due {
                    return this.end_with(RelayError::UpstreamTimeout(format!(
                        "the upstream sent nothing for {} s",
                        this.timing.idle_timeout.as_secs()
                    )));
                }
                let at_boundary = this
                    .observer
                    .as_ref()
                    .is_none_or(StreamObserver::at_boundary);
                if let Some(keepalive) = this.keepalive
                    && at_boundary
                {
                    let bytes = Bytes::from_static(keepalive);
                    this.sent(&bytes);
                    this.rearm();
                    return Poll::Ready(Some(Ok(bytes)));
                }
                // Mid-event: no keepalive possible; wait for the idle deadline or more bytes.
                this.last_sent = now;
                this.rearm();
                let _ = this.timer.as_mut().poll(cx);
                Poll::Pending
            }
        }
    }
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        if self.draft.is_none() {
            return;
        }
        if self.completed {
            // The client hung up after the protocol's proper end (Codex closes as soon as it
            // reads `response.completed`): it got everything, so this is a normal finish.
            self.finish(None);
            return;
        }
        // The client went away before the end: record what was seen, as partial.
        let Some(mut draft) = self.draft.take() else {
            return;
        };
        if let Some(observer) = self.observer.take() {
            draft.observed = observer.finish();
        }
        draft.error_class = Some("client_closed".to_owned());
        draft.status_code = 499;
        draft.partial = true;
        draft.submit(&self.sink);
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::relay::protocol::Protocol;
    use crate::relay::routing::health::Health;
    use crate::relay::upstream::transport::BodyError;

    const CREATED: &[u8] = b"event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"m\"}}\n\n";
    const COMPLETED: &[u8] = b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"model\":\"m\",\"status\":\"completed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n\n";

    /// A stream whose upstream sends `chunks` and then stays open.
    fn stream(
        chunks: &[&'static [u8]],
    ) -> (
        RelayStream,
        tokio::sync::mpsc::Receiver<crate::usage::recorder::Recorded>,
    ) {
        stream_on(&Health::default(), chunks)
    }

    /// [`stream`], counted in flight on credential 7 of `health`.
    fn stream_on(
        health: &Health,
        chunks: &[&'static [u8]],
    ) -> (
        RelayStream,
        tokio::sync::mpsc::Receiver<crate::usage::recorder::Recorded>,
    ) {
        let (sink, rx) = UsageSink::for_tests();
        let items: Vec<Result<Bytes, BodyError>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        let upstream = UpstreamBody::from_stream(
            futures_util::stream::iter(items).chain(futures_util::stream::pending()),
        );
        let mut draft = Draft::new("req".into(), "/v1/responses", 0);
        draft.user_id = Some(1);
        let relay = RelayStream::new(StreamParts {
            upstream,
            peeked: Bytes::new(),
            observer: StreamObserver::new(Protocol::Responses),
            completed: false,
            dialect: Dialect::OpenAi,
            keepalive: Protocol::Responses.keepalive_bytes(),
            timing: StreamTiming {
                idle_timeout: Duration::from_secs(60),
                keepalive_every: Duration::from_secs(60),
            },
            stop: tokio_util::sync::CancellationToken::new(),
            draft,
            sink,
            inflight: health.start(7),
        });
        (relay, rx)
    }

    #[tokio::test]
    async fn a_stream_counts_against_its_credential_until_it_ends() {
        let health = Health::default();
        let (mut relay, _rx) = stream_on(&health, &[CREATED, COMPLETED]);
        assert_eq!(health.inflight(7), 1, "committed, body not sent yet");
        assert!(relay.next().await.is_some());
        assert_eq!(health.inflight(7), 1, "still streaming");
        assert!(relay.next().await.is_some());
        assert_eq!(health.inflight(7), 1, "the upstream has not closed yet");
        drop(relay);
        assert_eq!(health.inflight(7), 0);
    }

    #[tokio::test]
    async fn hanging_up_after_the_proper_end_is_a_normal_finish() {
        let (mut relay, mut rx) = stream(&[CREATED, COMPLETED]);
        assert_eq!(
            relay.next().await.and_then(Result::ok).as_deref(),
            Some(CREATED)
        );
        assert_eq!(
            relay.next().await.and_then(Result::ok).as_deref(),
            Some(COMPLETED)
        );
        drop(relay); // the client read `response.completed` and closed
        let record = rx.recv().await.expect("a record");
        assert_eq!(record.event.status_code, 200);
        assert!(!record.event.partial);
        assert_eq!(record.event.error_class, None);
        assert_eq!(record.event.input_tokens, 5);
    }

    #[tokio::test]
    async fn hanging_up_before_the_end_is_partial() {
        let (mut relay, mut rx) = stream(&[CREATED]);
        assert!(relay.next().await.is_some());
        drop(relay);
        let record = rx.recv().await.expect("a record");
        assert_eq!(record.event.status_code, 499);
        assert!(record.event.partial);
        assert_eq!(record.event.error_class.as_deref(), Some("client_closed"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_json_array_stream_gets_no_keepalive_and_ends_bare_when_it_stalls() {
        const FIRST: &[u8] = b"[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}";
        let (sink, mut rx) = UsageSink::for_tests();
        let upstream = UpstreamBody::from_stream(
            futures_util::stream::iter([Ok(Bytes::from_static(FIRST))])
                .chain(futures_util::stream::pending()),
        );
        let mut draft = Draft::new(
            "req".into(),
            "/v1beta/models/{model}:streamGenerateContent",
            0,
        );
        draft.user_id = Some(1);
        let mut relay = RelayStream::new(StreamParts {
            upstream,
            peeked: Bytes::new(),
            observer: StreamObserver::json_array(Protocol::Gemini),
            completed: false,
            dialect: Dialect::Gemini,
            // offered, but an SSE comment would corrupt the array
            keepalive: Protocol::Responses.keepalive_bytes(),
            timing: StreamTiming {
                idle_timeout: Duration::from_secs(10),
                keepalive_every: Duration::from_secs(1),
            },
            stop: tokio_util::sync::CancellationToken::new(),
            draft,
            sink,
            inflight: Health::default().start(7),
        });
        assert_eq!(
            relay.next().await.and_then(Result::ok).as_deref(),
            Some(FIRST)
        );
        assert!(
            relay.next().await.is_none(),
            "no keepalive and no error event: the stream just ends at the idle timeout"
        );
        let record = rx.recv().await.expect("a record");
        assert!(record.event.partial);
        assert_eq!(
            record.event.error_class.as_deref(),
            Some("upstream_timeout")
        );
    }
}
