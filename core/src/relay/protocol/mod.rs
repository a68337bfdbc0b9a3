//! What the relay's hot path must know about each wire protocol, with no I/O and no HTTP types:
//! request inspection ([`inspect_request`]), the few body rewrites ([`force_include_usage`],
//! [`replace_model`]), usage and outcome extraction from JSON answers ([`observe_json`]) and from
//! SSE streams ([`StreamObserver`]), and each protocol's keepalive and end-of-stream form.
//!
//! Everything here reads only what routing and accounting need and ignores every field, event or
//! role it does not know. Protocol conversion and the pipeline itself live elsewhere in `relay`.

mod anthropic;
mod gemini;
mod json_array;
pub mod normalise;
mod observed;
mod openai;
mod request;
mod rewrite;
mod scan;
mod skim;
pub mod sse;
mod stream;

#[cfg(test)]
mod fixture_tests;

use std::fmt;

pub use observed::{Observed, StreamError, observe_json};
pub use request::{InspectError, RequestFacts, SessionKey, SessionSource, inspect_request};
pub use rewrite::{force_include_usage, replace_model};
pub use stream::{FeedOutcome, StreamObserver};

/// The inbound (or upstream) API a body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// OpenAI Responses (`/v1/responses`), also spoken by Codex OAuth accounts.
    Responses,
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    Chat,
    /// OpenAI embeddings (`/v1/embeddings`); never streamed.
    Embeddings,
    /// Anthropic Messages (`/v1/messages`).
    Messages,
    /// Gemini native (`/v1beta/models/{model}:{action}`).
    Gemini,
}

/// How a protocol's stream says it reached its proper end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// A final `data: [DONE]` event (Chat Completions).
    DoneSentinel,
    /// An event of this type (`response.completed`, `message_stop`).
    Event(&'static str),
    /// A chunk whose candidate carries a `finishReason` (Gemini); the stream then just closes.
    FinishReason,
    /// The protocol has no streamed form.
    NotStreamed,
}

/// OpenAI clients accept SSE comments; the official SDKs skip them.
const OPENAI_KEEPALIVE: &[u8] = b": keepalive\n\n";
/// Anthropic's own idle event; its SDKs know it and ignore it.
const ANTHROPIC_KEEPALIVE: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";

impl Protocol {
    /// Every protocol, for tables and tests.
    pub const ALL: [Protocol; 5] = [
        Self::Responses,
        Self::Chat,
        Self::Embeddings,
        Self::Messages,
        Self::Gemini,
    ];

    /// A stable lower-case name for logs, metrics and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Responses => "responses",
            Self::Chat => "chat",
            Self::Embeddings => "embeddings",
            Self::Messages => "messages",
            Self::Gemini => "gemini",
        }
    }

    /// The bytes to send while a stream of this protocol is idle, or `None` where nothing may be
    /// sent: Gemini's official SDK rejects any line that is not `data:`, and embeddings never
    /// stream.
    pub fn keepalive_bytes(self) -> Option<&'static [u8]> {
        match self {
            Self::Responses | Self::Chat => Some(OPENAI_KEEPALIVE),
            Self::Messages => Some(ANTHROPIC_KEEPALIVE),
            Self::Gemini | Self::Embeddings => None,
        }
    }

    /// How a stream of this protocol ends when it ends properly.
    pub fn stream_end(self) -> StreamEnd {
        match self {
            Self::Responses => StreamEnd::Event("response.completed"),
            Self::Chat => StreamEnd::DoneSentinel,
            Self::Messages => StreamEnd::Event("message_stop"),
            Self::Gemini => StreamEnd::FinishReason,
            Self::Embeddings => StreamEnd::NotStreamed,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalives_are_whole_sse_blocks_each_client_ignores() {
        let mut decoder = sse::SseDecoder::new();
        for protocol in Protocol::ALL {
            let Some(bytes) = protocol.keepalive_bytes() else {
                assert!(matches!(protocol, Protocol::Gemini | Protocol::Embeddings));
                continue;
            };
            assert!(
                bytes.ends_with(b"\n\n"),
                "{protocol} keepalive ends its block"
            );
            decoder.push(bytes);
            let event = decoder.next_event();
            match protocol {
                // a comment dispatches nothing
                Protocol::Responses | Protocol::Chat => assert_eq!(event, None),
                Protocol::Messages => {
                    let event = event.expect("ping is an event");
                    assert_eq!(event.event, b"ping");
                    assert_eq!(event.data, br#"{"type": "ping"}"#);
                }
                Protocol::Gemini | Protocol::Embeddings => unreachable!(),
            }
        }
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<_> = Protocol::ALL.iter().map(|p| p.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Protocol::ALL.len());
    }
}
