//! [`StreamObserver`]: a side parser on the bytes of a streamed answer. It never changes the
//! bytes (the passthrough forwards them as they came); it reads, per protocol, the usage, the
//! upstream model, the first content event (time to first token), in-band errors and whether
//! the stream reached its proper end.
//!
//! Hot-path rule: most events are text deltas that matter only as "content arrived". An event is
//! JSON-parsed only when its name (Responses, Anthropic) or a cheap key prefilter
//! (`super::scan`) says it carries usage, the model, an error or the end; the first content
//! event of Chat and Gemini, which have no event names, is the only other parse.

use std::borrow::Cow;

use serde::Deserialize;

use super::gemini::GeminiStream;
use super::json_array::ArrayDecoder;
use super::sse::{SseDecoder, SseEvent};
use super::{Observed, Protocol, anthropic, openai};

/// What one [`StreamObserver::feed`] call saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedOutcome {
    /// This chunk completed the stream's first SSE event of any kind (comments do not count).
    pub first_event: bool,
    /// This chunk completed the stream's first event that is more than a preamble (Responses'
    /// `response.created`/`response.in_progress`/`response.queued`, Anthropic's `message_start`
    /// and `ping` say only that the upstream took the request): the moment the relay commits to
    /// this upstream. An error right after a preamble can still fail over.
    pub committable: bool,
    /// This chunk completed the first *content* event: a text, refusal, tool-call or reasoning
    /// delta, not `response.created`, `message_start`, `ping` or a comment (time to first token).
    pub first_content: bool,
    /// An error event arrived in this chunk (it is kept in [`Observed::error`]).
    pub error: bool,
    /// The protocol's proper end arrived in this chunk.
    pub completed: bool,
}

/// What handling one event did; folded into [`FeedOutcome`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Effect {
    pub(crate) content: bool,
    /// The event only announces the answer (see [`FeedOutcome::committable`]).
    pub(crate) preamble: bool,
    pub(crate) error: bool,
    pub(crate) completed: bool,
}

/// The state every protocol handler updates.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Accumulated result; `usage` is filled from `raw_usage` only at the end.
    pub(crate) observed: Observed,
    /// A content event was seen already, so deltas need no more looking at.
    pub(crate) content_seen: bool,
}

#[derive(Debug)]
enum Handler {
    Responses,
    Chat,
    /// Embeddings never stream; events are ignored.
    Embeddings,
    Messages,
    Gemini(GeminiStream),
}

/// How the stream's bytes divide into events.
#[derive(Debug)]
enum Decoder {
    /// Server-sent events.
    Sse(SseDecoder),
    /// A JSON array written element by element (Gemini without `alt=sse`); each element is
    /// handled as the data of one unnamed event.
    JsonArray(ArrayDecoder),
}

impl Decoder {
    fn push(&mut self, chunk: &[u8]) {
        match self {
            Self::Sse(sse) => sse.push(chunk),
            Self::JsonArray(array) => array.push(chunk),
        }
    }

    fn at_boundary(&self) -> bool {
        match self {
            Self::Sse(sse) => sse.at_boundary(),
            Self::JsonArray(array) => array.at_boundary(),
        }
    }

    fn unfinished_len(&self) -> u64 {
        match self {
            Self::Sse(sse) => sse.unfinished_len(),
            Self::JsonArray(array) => array.unfinished_len(),
        }
    }

    fn finish(&mut self) {
        if let Self::Sse(sse) = self {
            sse.finish();
        }
    }

    fn next_event(&mut self) -> Option<SseEvent<'_>> {
        match self {
            Self::Sse(sse) => sse.next_event(),
            Self::JsonArray(array) => array
                .next_element()
                .map(|data| SseEvent { event: b"", data }),
        }
    }
}

/// Observes one upstream stream fed chunk by chunk; see the module docs.
#[derive(Debug)]
pub struct StreamObserver {
    protocol: Protocol,
    decoder: Decoder,
    handler: Handler,
    progress: Progress,
    seen_event: bool,
    seen_committable: bool,
    hide_usage_chunk: bool,
}

impl StreamObserver {
    /// An observer for an SSE stream of `protocol`.
    pub fn new(protocol: Protocol) -> Self {
        Self::with_decoder(protocol, Decoder::Sse(SseDecoder::new()))
    }

    /// An observer for a stream of `protocol` written as one JSON array, element by element
    /// (Gemini's `streamGenerateContent` without `alt=sse`).
    pub fn json_array(protocol: Protocol) -> Self {
        Self::with_decoder(protocol, Decoder::JsonArray(ArrayDecoder::default()))
    }

    fn with_decoder(protocol: Protocol, decoder: Decoder) -> Self {
        let handler = match protocol {
            Protocol::Responses => Handler::Responses,
            Protocol::Chat => Handler::Chat,
            Protocol::Embeddings => Handler::Embeddings,
            Protocol::Messages => Handler::Messages,
            Protocol::Gemini => Handler::Gemini(GeminiStream::default()),
        };
        Self {
            protocol,
            decoder,
            handler,
            progress: Progress::default(),
            seen_event: false,
            seen_committable: false,
            hide_usage_chunk: false,
        }
    }

    /// The same observer, whose client copy of a Chat stream leaves out the usage-only chunk
    /// Realms asked for (see [`Self::client_copy`]).
    pub fn hiding_usage_chunk(mut self) -> Self {
        self.hide_usage_chunk = self.protocol == Protocol::Chat;
        self
    }

    /// What of `events` (whole events already fed) the client gets: all of it, but for the
    /// usage-only chunk of a Chat stream whose client did not ask for usage.
    pub fn client_copy(&self, events: bytes::Bytes) -> bytes::Bytes {
        if self.hide_usage_chunk {
            super::openai::chat::without_usage_chunk(events)
        } else {
            events
        }
    }

    /// The protocol this observer reads.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Reads the next chunk of upstream bytes, exactly as received (events, lines, `\r\n` and
    /// UTF-8 sequences may be split anywhere).
    pub fn feed(&mut self, chunk: &[u8]) -> FeedOutcome {
        self.decoder.push(chunk);
        self.drain()
    }

    /// Whether the stream is server-sent events (not a JSON array).
    pub fn is_sse(&self) -> bool {
        matches!(self.decoder, Decoder::Sse(_))
    }

    /// The id of the stored Responses object the stream is making, once an event has named it
    /// (see [`Observed::continuable_response_id`]).
    pub fn continuable_response_id(&self) -> Option<&str> {
        self.progress.observed.continuable_response_id()
    }

    /// Whether the upstream has reported an error in the events fed so far.
    pub fn reported_error(&self) -> bool {
        self.progress.observed.error.is_some()
    }

    /// Whether everything fed so far ended between two events (see [`SseDecoder::at_boundary`]
    /// and [`ArrayDecoder::at_boundary`]).
    pub fn at_boundary(&self) -> bool {
        self.decoder.at_boundary()
    }

    /// How many of the bytes fed so far belong to an event (or array element) not yet complete:
    /// what the relay holds back, so that the client's copy always ends between events and an
    /// error event or keepalive can follow it cleanly.
    pub fn unfinished_len(&self) -> u64 {
        self.decoder.unfinished_len()
    }

    /// For a JSON-array stream still open for elements, whether one more element must be
    /// preceded by a `,`; `None` for SSE, or an array closed or no longer read.
    pub fn array_open_for_element(&self) -> Option<bool> {
        match &self.decoder {
            Decoder::JsonArray(array) => array.open_for_element(),
            Decoder::Sse(_) => None,
        }
    }

    /// Marks the end of the upstream's bytes and reads a last event that lacked only its blank
    /// line (its `data:` lines all arrived).
    pub fn end_input(&mut self) -> FeedOutcome {
        self.decoder.finish();
        self.drain()
    }

    /// Ends the stream (normally, on a cut, or on a client disconnect) and returns everything
    /// seen; an event whose lines all arrived before the end still counts.
    pub fn finish(mut self) -> Observed {
        self.decoder.finish();
        self.drain();
        if let Handler::Gemini(gemini) = &mut self.handler {
            gemini.finish(&mut self.progress);
        }
        let mut observed = self.progress.observed;
        observed.count_usage(self.protocol);
        observed
    }

    fn drain(&mut self) -> FeedOutcome {
        let mut outcome = FeedOutcome::default();
        while let Some(event) = self.decoder.next_event() {
            if !self.seen_event {
                self.seen_event = true;
                outcome.first_event = true;
            }
            let effect = match &mut self.handler {
                Handler::Responses => openai::responses::on_event(&mut self.progress, &event),
                Handler::Chat => openai::chat::on_event(&mut self.progress, &event),
                Handler::Embeddings => Effect::default(),
                Handler::Messages => anthropic::on_event(&mut self.progress, &event),
                Handler::Gemini(gemini) => gemini.on_event(&mut self.progress, &event),
            };
            if !effect.preamble && !self.seen_committable {
                self.seen_committable = true;
                outcome.committable = true;
            }
            if effect.content && !self.progress.content_seen {
                self.progress.content_seen = true;
                outcome.first_content = true;
            }
            outcome.error |= effect.error;
            outcome.completed |= effect.completed;
        }
        outcome
    }
}

/// An event's type: its `event:` name, or, for upstreams that send none, the `type` member of
/// its data (the slow path: a full parse).
pub(crate) fn event_type<'a>(event: &SseEvent<'a>) -> Cow<'a, [u8]> {
    if !event.event.is_empty() && event.event != b"message" {
        return Cow::Borrowed(event.event);
    }
    #[derive(Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, default, rename = "type")]
        kind: Option<Cow<'a, str>>,
    }
    match serde_json::from_slice::<Typed<'_>>(event.data) {
        Ok(Typed { kind: Some(kind) }) => Cow::Owned(kind.as_bytes().to_vec()),
        _ => Cow::Borrowed(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_events_are_not_the_commit_point() {
        let mut anthropic = StreamObserver::new(Protocol::Messages);
        let start = anthropic.feed(
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\"}}\n\n\
              event: ping\ndata: {\"type\": \"ping\"}\n\n",
        );
        assert!(start.first_event && !start.committable);
        let block = anthropic.feed(
            b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0}\n\n",
        );
        assert!(!block.first_event && block.committable && !block.first_content);

        let mut responses = StreamObserver::new(Protocol::Responses);
        let created = responses.feed(
            b"event: response.created\ndata: {\"response\":{\"model\":\"m\"}}\n\n\
              event: response.in_progress\ndata: {\"response\":{\"model\":\"m\"}}\n\n",
        );
        assert!(created.first_event && !created.committable);
        let error = responses.feed(b"event: error\ndata: {\"code\":\"server_error\"}\n\n");
        assert!(error.committable && error.error);

        // Chat has no preamble: its first chunk commits
        let mut chat = StreamObserver::new(Protocol::Chat);
        let first = chat.feed(b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n");
        assert!(first.first_event && first.committable);
    }

    #[test]
    fn event_type_prefers_the_name_and_falls_back_to_data() {
        let named = SseEvent {
            event: b"message_stop",
            data: br#"{"type":"other"}"#,
        };
        assert_eq!(&event_type(&named)[..], b"message_stop");
        let unnamed = SseEvent {
            event: b"",
            data: br#"{"type":"ping"}"#,
        };
        assert_eq!(&event_type(&unnamed)[..], b"ping");
        let junk = SseEvent {
            event: b"message",
            data: b"[DONE]",
        };
        assert_eq!(&event_type(&junk)[..], b"");
    }
}
