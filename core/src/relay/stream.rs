//! The body of a committed stream. Upstream bytes go to the client as they arrive, untouched,
//! while a side observer reads usage from them; only the unfinished tail of an event (a read
//! that ended mid-event) waits for the rest of its event, so the client's copy always ends
//! between events. It also sends each protocol's keepalive while the upstream is idle, ends the
//! stream with an in-band error in the client's protocol when the upstream breaks, stalls past
//! the idle timeout or the server shuts down (an SSE error event; `,{"error": ...}]` closing a
//! JSON array), and records usage exactly once — also when the client goes away and the body is
//! dropped.

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
    /// The start of an event not yet complete, held back until the rest arrives.
    held: Option<Bytes>,
    /// Largest unfinished event held back (`limits.max_held_event_bytes`).
    max_held: usize,
    /// The upstream ended the stream properly; what is held goes out, then the stream ends.
    upstream_ended: bool,
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
    /// Largest unfinished event held back (`limits.max_held_event_bytes`).
    pub max_held: usize,
}

impl RelayStream {
    /// Starts forwarding.
    pub fn new(parts: StreamParts) -> Self {
        let completed = parts.completed;
        let upstream_error = parts.observer.reported_error();
        let sse = parts.observer.is_sse();
        let now = Instant::now();
        let first_wake = now + parts.timing.keepalive_every.min(parts.timing.idle_timeout);
        let mut stream = Self {
            upstream: parts.upstream,
            pending: None,
            held: None,
            max_held: parts.max_held,
            upstream_ended: false,
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
        };
        stream.pending = stream.forwardable(parts.peeked);
        stream
    }

    /// What of `bytes` (already fed to the observer) may go to the client now: everything up to
    /// the last place between events, after what was held before. The unfinished rest is held,
    /// unless it outgrew `max_held` (or began in bytes already sent), when it goes as it is.
    fn forwardable(&mut self, bytes: Bytes) -> Option<Bytes> {
        let bytes = match self.held.take() {
            Some(held) => {
                let mut joined = bytes::BytesMut::with_capacity(held.len() + bytes.len());
                joined.extend_from_slice(&held);
                joined.extend_from_slice(&bytes);
                joined.freeze()
            }
            None => bytes,
        };
        let tail = self.unfinished_len();
        let send = if tail > 0 && tail <= bytes.len() && tail <= self.max_held {
            let mut send = bytes;
            self.held = Some(send.split_off(send.len() - tail));
            send
        } else {
            bytes
        };
        let send = match &self.observer {
            Some(observer) => observer.client_copy(send),
            None => send,
        };
        (!send.is_empty()).then_some(send)
    }

    /// Bytes of the upstream's unfinished event (0 without an observer).
    fn unfinished_len(&self) -> usize {
        self.observer.as_ref().map_or(0, |observer| {
            usize::try_from(observer.unfinished_len()).unwrap_or(usize::MAX)
        })
    }

    /// Whether what the client got so far ends between events: all of an unfinished event is
    /// held back (a keepalive or an error event may follow).
    fn client_at_boundary(&self) -> bool {
        self.unfinished_len() == self.held.as_ref().map_or(0, Bytes::len)
    }

    fn sent(&mut self, bytes: &Bytes) {
        self.sent_at(bytes, Instant::now());
    }

    /// Notes `bytes` as handed to the client at `now` (a time just read by the caller: one clock
    /// read per chunk, not two).
    fn sent_at(&mut self, bytes: &Bytes, now: Instant) {
        self.last_sent = now;
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

    /// Ends a failed stream with the error in the client's protocol: an SSE error event, or the
    /// last element of a JSON array. An event the upstream left unfinished is dropped; one that
    /// outgrew the hold and went out in part is ended first, so the error is an event of its own.
    fn end_with(&mut self, error: RelayError) -> Poll<Option<Result<Bytes, Infallible>>> {
        let at_boundary = self.client_at_boundary();
        self.held = None;
        let tail = if self.in_band_errors {
            let event = error.stream_event_for(self.dialect);
            Some(if at_boundary {
                event
            } else {
                [&b"\n\n"[..], &event].concat().into()
            })
        } else {
            let comma = self
                .observer
                .as_ref()
                .filter(|_| at_boundary)
                .and_then(StreamObserver::array_open_for_element);
            comma.map(|comma| {
                let element = error.array_element_for(self.dialect);
                let mut out = Vec::with_capacity(element.len() + 2);
                if comma {
                    out.push(b',');
                }
                out.extend_from_slice(&element);
                out.push(b']');
                Bytes::from(out)
            })
        };
        self.finish(Some(&error));
        match tail {
            Some(bytes) => {
                self.sent(&bytes);
                Poll::Ready(Some(Ok(bytes)))
            }
            None => Poll::Ready(None),
        }
    }

    /// Whether the upstream has said all it will: the protocol's proper end, or its own error.
    fn ended_by_upstream(&self) -> bool {
        self.completed || self.upstream_error
    }

    /// Whether keepalives go out while the upstream is quiet: the protocol has one, and the
    /// stream has not reached its end.
    fn keepalive_wanted(&self) -> bool {
        self.keepalive.is_some() && !self.ended_by_upstream()
    }

    /// The upstream closed the stream. Properly ended (or ended on an error of its own): what
    /// is held goes out and the stream ends. Otherwise it was cut short.
    fn upstream_closed(&mut self) -> Poll<Option<Result<Bytes, Infallible>>> {
        if let Some(observer) = self.observer.as_mut() {
            // a last event may lack only its blank line
            let outcome = observer.end_input();
            self.completed |= outcome.completed;
            self.upstream_error |= outcome.error;
        }
        if !self.ended_by_upstream() {
            return self.end_with(RelayError::UpstreamFailed {
                status: 502,
                summary: "the upstream ended the stream before it was complete".into(),
            });
        }
        match self.held.take() {
            Some(held) => {
                self.upstream_ended = true;
                self.sent(&held);
                Poll::Ready(Some(Ok(held)))
            }
            None => {
                self.finish(None);
                Poll::Ready(None)
            }
        }
    }

    fn rearm(&mut self) {
        let keepalive_due = self.last_sent.max(self.last_upstream) + self.timing.keepalive_every;
        let idle_due = self.last_upstream + self.timing.idle_timeout;
        let next = if self.keepalive_wanted() {
            keepalive_due.min(idle_due)
        } else {
            idle_due
        };
        self.timer.as_mut().reset(next);
    }

    /// Nothing from the upstream right now: a keepalive, the idle timeout, or wait.
    fn idle(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        if self.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        let idle_due = self.last_upstream + self.timing.idle_timeout;
        let keepalive_due = self.last_sent.max(self.last_upstream) + self.timing.keepalive_every;
        let keepalive_now = self.keepalive_wanted() && now >= keepalive_due;
        if now < idle_due && !keepalive_now {
            // Bytes flowed since the timer was set: nothing is due yet.
            self.rearm();
            let _ = self.timer.as_mut().poll(cx);
            return Poll::Pending;
        }
        if now >= idle_due && self.ended_by_upstream() {
            // The end was sent; the upstream only failed to close its side.
            return self.upstream_closed();
        }
        if now >= idle_due {
            return self.end_with(RelayError::UpstreamTimeout(format!(
                "the upstream sent nothing for {} s",
                self.timing.idle_timeout.as_secs()
            )));
        }
        if let Some(keepalive) = self.keepalive
            && self.client_at_boundary()
        {
            let bytes = Bytes::from_static(keepalive);
            self.sent_at(&bytes, now);
            self.rearm();
            return Poll::Ready(Some(Ok(bytes)));
        }
        // Mid-event: no keepalive possible; wait for the idle deadline or more bytes.
        self.last_sent = now;
        self.rearm();
        let _ = self.timer.as_mut().poll(cx);
        Poll::Pending
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
        if this.upstream_ended {
            this.finish(None);
            return Poll::Ready(None);
        }
        if this.stop.as_mut().poll(cx).is_ready() {
            return this.end_with(RelayError::UpstreamFailed {
                status: 503,
                summary: "the server is shutting down; the stream was ended".into(),
            });
        }
        loop {
            return match Pin::new(&mut this.upstream).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => {
                    // The timer is not reset per chunk (that cost a timer-wheel update per
                    // event); when it fires, the times below decide whether anything is due.
                    let now = Instant::now();
                    this.last_upstream = now;
                    this.feed(&bytes);
                    match this.forwardable(bytes) {
                        Some(bytes) => {
                            this.sent_at(&bytes, now);
                            Poll::Ready(Some(Ok(bytes)))
                        }
                        // all of it is the start of an unfinished event: read on
                        None => continue,
                    }
                }
                // After the protocol's end (or the upstream's own error event) a broken
                // connection loses nothing: the stream ends as if the upstream had closed it.
                Poll::Ready(Some(Err(_))) if this.ended_by_upstream() => this.upstream_closed(),
                Poll::Ready(Some(Err(_))) => this.end_with(RelayError::UpstreamFailed {
                    status: 502,
                    summary: "the upstream connection broke in the middle of the stream".into(),
                }),
                Poll::Ready(None) => this.upstream_closed(),
                Poll::Pending => this.idle(cx),
            };
        }
    }
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        if self.draft.is_none() {
            return;
        }
        if self.ended_by_upstream() {
            // The client hung up after the protocol's proper end (Codex closes as soon as it
            // reads `response.completed`) or after the upstream's own error event: it got
            // everything the upstream had to say, so the stream finished as the upstream ended it.
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
        let items = chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        relay_from(
            items,
            true,
            StreamObserver::new(Protocol::Responses),
            health,
        )
    }

    /// A Responses stream (or, with a JSON-array observer, a Gemini one) whose upstream yields
    /// `items`, then stays open (`then_pending`) or closes.
    fn relay_from(
        items: Vec<Result<Bytes, BodyError>>,
        then_pending: bool,
        observer: StreamObserver,
        health: &Health,
    ) -> (
        RelayStream,
        tokio::sync::mpsc::Receiver<crate::usage::recorder::Recorded>,
    ) {
        let (sink, rx) = UsageSink::for_tests();
        let upstream = futures_util::stream::iter(items);
        let upstream = if then_pending {
            UpstreamBody::from_stream(upstream.chain(futures_util::stream::pending()))
        } else {
            UpstreamBody::from_stream(upstream)
        };
        let sse = observer.is_sse();
        let mut draft = Draft::new("req".into(), "/v1/responses", 0);
        draft.user_id = Some(1);
        let relay = RelayStream::new(StreamParts {
            upstream,
            peeked: Bytes::new(),
            observer,
            completed: false,
            dialect: if sse {
                Dialect::OpenAi
            } else {
                Dialect::Gemini
            },
            // offered to JSON arrays too, where an SSE comment would corrupt the array
            keepalive: Protocol::Responses.keepalive_bytes(),
            timing: StreamTiming {
                idle_timeout: Duration::from_secs(10),
                keepalive_every: Duration::from_secs(1),
            },
            stop: tokio_util::sync::CancellationToken::new(),
            draft,
            sink,
            inflight: health.start(7),
            max_held: 1024,
        });
        (relay, rx)
    }

    /// Everything the client gets, as text.
    async fn received(relay: RelayStream) -> String {
        let chunks: Vec<Bytes> = relay.map(|chunk| chunk.unwrap_or_default()).collect().await;
        String::from_utf8_lossy(&chunks.concat()).into_owned()
    }

    fn bytes(text: &'static str) -> Result<Bytes, BodyError> {
        Ok(Bytes::from_static(text.as_bytes()))
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

    /// After the proper end, a connection that breaks or never closes ends the stream as a
    /// close would: no keepalive, no error event, a complete record.
    #[tokio::test(start_paused = true)]
    async fn after_the_proper_end_a_broken_or_lingering_upstream_is_a_normal_close() {
        for (items, then_pending) in [
            (
                vec![
                    Ok(Bytes::from_static(CREATED)),
                    Ok(Bytes::from_static(COMPLETED)),
                    Err(BodyError),
                ],
                false,
            ),
            (
                vec![
                    Ok(Bytes::from_static(CREATED)),
                    Ok(Bytes::from_static(COMPLETED)),
                ],
                true,
            ),
        ] {
            let (relay, mut rx) = relay_from(
                items,
                then_pending,
                StreamObserver::new(Protocol::Responses),
                &Health::default(),
            );
            let text = received(relay).await;
            let sent = [CREATED, COMPLETED].concat();
            assert_eq!(text.as_bytes(), sent.as_slice(), "{text}");
            let record = rx.recv().await.expect("a record");
            assert_eq!(record.event.status_code, 200);
            assert!(!record.event.partial);
            assert_eq!(record.event.error_class, None, "pending: {then_pending}");
        }
    }

    #[tokio::test]
    async fn hanging_up_after_the_upstreams_own_error_event_records_that_error() {
        const FAILED: &[u8] = b"event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_1\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n";
        let (mut relay, mut rx) = stream(&[CREATED, FAILED]);
        assert!(relay.next().await.is_some());
        assert_eq!(
            relay.next().await.and_then(Result::ok).as_deref(),
            Some(FAILED)
        );
        drop(relay); // the client read `response.failed` and closed
        let record = rx.recv().await.expect("a record");
        assert_eq!(
            record.event.error_class.as_deref(),
            Some(UPSTREAM_ERROR_CLASS)
        );
        assert_ne!(
            record.event.status_code, 499,
            "the client did not cut it short"
        );
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
    async fn a_json_array_stream_gets_no_keepalive_and_ends_with_an_error_element_when_it_stalls() {
        let first = "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]}}]}";
        let (relay, mut rx) = relay_from(
            vec![bytes(first)],
            true,
            StreamObserver::json_array(Protocol::Gemini),
            &Health::default(),
        );
        let text = received(relay).await;
        let rest = text.strip_prefix(first).expect("the element as it came");
        assert!(!rest.contains("keepalive"), "{rest}");
        let closed: serde_json::Value =
            serde_json::from_str(&format!("[{}", &rest[1..])).expect("the array closes as JSON");
        assert_eq!(closed[0]["error"]["code"], 504, "{rest}");
        serde_json::from_str::<serde_json::Value>(&text).expect("the whole answer is JSON");
        let record = rx.recv().await.expect("a record");
        assert!(record.event.partial);
        assert_eq!(
            record.event.error_class.as_deref(),
            Some("upstream_timeout")
        );
    }

    #[tokio::test]
    async fn a_json_array_cut_after_a_comma_or_mid_element_still_closes_as_json() {
        for items in [
            vec![bytes("[{\"a\":1},"), Err(BodyError)],
            vec![bytes("[{\"a\":1},{\"b\":"), Err(BodyError)],
            vec![bytes("[{\"a\":1}\n"), bytes(",{\"b\""), Err(BodyError)],
        ] {
            let (relay, _rx) = relay_from(
                items,
                false,
                StreamObserver::json_array(Protocol::Gemini),
                &Health::default(),
            );
            let text = received(relay).await;
            let value: serde_json::Value = serde_json::from_str(&text).expect(&text);
            assert_eq!(value[0]["a"], 1, "{text}");
            assert_eq!(value[1]["error"]["code"], 502, "{text}");
        }
    }

    #[tokio::test]
    async fn a_cut_mid_event_drops_the_unfinished_event_and_sends_the_error_on_its_own() {
        let (relay, mut rx) = relay_from(
            vec![
                Ok(Bytes::from_static(CREATED)),
                bytes("event: response.output_text.delta\ndata: {\"type\":\"response.out"),
                Err(BodyError),
            ],
            false,
            StreamObserver::new(Protocol::Responses),
            &Health::default(),
        );
        let text = received(relay).await;
        let rest = text
            .strip_prefix(std::str::from_utf8(CREATED).expect("utf-8"))
            .expect("the whole first event");
        assert!(rest.starts_with("event: error\ndata: {"), "{rest}");
        let mut decoder = crate::relay::protocol::sse::SseDecoder::new();
        decoder.push(rest.as_bytes());
        let event = decoder.next_event().expect("one event");
        let error: serde_json::Value =
            serde_json::from_slice(event.data).expect("its data is JSON");
        assert_eq!(error["type"], "error");
        let record = rx.recv().await.expect("a record");
        assert_eq!(record.event.error_class.as_deref(), Some("upstream_failed"));
    }

    #[tokio::test]
    async fn an_event_split_across_reads_goes_out_whole_and_a_last_one_without_its_blank_line_ends_the_stream()
     {
        let completed = std::str::from_utf8(COMPLETED).expect("utf-8");
        let (head, tail) = completed.split_at(40);
        // its last line ends, but the blank line after it never comes
        let tail = tail.strip_suffix('\n').expect("a blank line");
        let tail: &'static str = Box::leak(tail.to_owned().into_boxed_str());
        let head: &'static str = Box::leak(head.to_owned().into_boxed_str());
        let (mut relay, mut rx) = relay_from(
            vec![Ok(Bytes::from_static(CREATED)), bytes(head), bytes(tail)],
            false,
            StreamObserver::new(Protocol::Responses),
            &Health::default(),
        );
        let mut chunks = Vec::new();
        while let Some(chunk) = relay.next().await {
            chunks.push(String::from_utf8_lossy(&chunk.expect("bytes")).into_owned());
        }
        assert_eq!(
            chunks,
            [
                std::str::from_utf8(CREATED).expect("utf-8").to_owned(),
                format!("{head}{tail}")
            ],
            "the split event went out in one piece, and nothing was added"
        );
        let record = rx.recv().await.expect("a record");
        assert!(!record.event.partial);
        assert_eq!(record.event.error_class, None);
        assert_eq!(record.event.input_tokens, 5);
    }
}
