//! A scripted fake of the upstreams Realms relays to (OpenAI Responses/Chat/embeddings,
//! Anthropic Messages, Gemini, the ChatGPT Codex backend and its OAuth issuer), served over real
//! HTTP on `127.0.0.1`, for the end-to-end, client, browser and benchmark tests.
//!
//! ```no_run
//! # async fn demo() {
//! use fake_upstream::{FakeUpstream, Script, SseScript, responses_sse, DEFAULT_USAGE};
//! use std::time::Duration;
//!
//! let fake = FakeUpstream::start().await;          // http://127.0.0.1:PORT
//! fake.push(Script::rate_limited(3).on_path("/v1/chat/completions"));
//! let events = responses_sse("gpt-5", "Hi there", DEFAULT_USAGE);
//! fake.push(Script::new(SseScript::new(events).gap(Duration::from_millis(50)).cut_after(4)));
//! // ... drive Realms against fake.url() ...
//! assert_eq!(fake.count("/v1/chat/completions"), 1);
//! # }
//! ```
//!
//! Every request is recorded; scripts (queued one-shot, or lasting defaults) decide the answer,
//! else each route gives its built-in, realistic answer echoing the requested `model` and
//! reporting [`DEFAULT_USAGE`]. Built-in answers also obey knobs for load generators and manual
//! use: `?events=N` (stream N text deltas), `?pace_ms=X`, `?cut_after=N`, `?first_byte_ms=X`,
//! `?status=CODE`, or the same as `x-fake-events`, `x-fake-pace-ms`, … headers.

mod answer;
mod record;
mod routes;
mod script;
mod server;
mod sse;

pub mod anthropic;
pub mod codex;
pub mod errors;
pub mod gemini;
pub mod oauth;
pub mod openai;
pub mod responses;
pub mod usage;

pub use codex::CodexQuota;
pub use oauth::OAuthAccount;
pub use record::RecordedRequest;
pub use responses::{RESPONSE_ID, responses_json, responses_sse};
pub use script::{Behaviour, Match, Script, SseScript};
pub use server::FakeUpstream;
pub use sse::{DONE, data_event, named_event};
pub use usage::{COUNT_TOKENS, DEFAULT_MODEL, DEFAULT_TEXT, DEFAULT_USAGE, Usage};
