//! OpenAI wire knowledge: Responses ([`responses`]), Chat Completions ([`chat`]) and the whole
//! JSON answers of Chat and embeddings, which share one reading (`model`, `usage`, `error`).

pub(crate) mod chat;
pub(crate) mod responses;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::observed::ErrorMember;
use super::{Observed, Protocol};

/// The members of a Chat completion or an embeddings list that accounting reads; `choices`
/// and `data` (which may be megabytes of floats) are skipped unparsed.
#[derive(Debug, Deserialize)]
struct AnswerBody<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<ErrorMember<'a>>,
}

/// Reads a whole Chat completion or embeddings answer.
pub(crate) fn observe_json(protocol: Protocol, body: &[u8]) -> Observed {
    let mut observed = Observed::default();
    let Ok(answer) = serde_json::from_slice::<AnswerBody<'_>>(body) else {
        return observed;
    };
    observed.note_model(answer.model);
    observed.set_raw_usage(protocol, answer.usage);
    match answer.error {
        Some(error) => observed.error = Some(error.into_stream_error("error")),
        None => observed.completed = true,
    }
    observed
}
