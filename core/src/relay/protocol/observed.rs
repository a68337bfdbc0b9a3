//! What the relay learned from an upstream answer ([`Observed`]) and how a whole JSON answer is
//! read ([`observe_json`]). The per-protocol wire shapes live in the protocol files; the shared
//! error shape ([`WireError`]) lives here because all three vendors use a variant of it.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::normalise::normalise;
use super::{Protocol, anthropic, gemini, openai};
use crate::usage::{RawUsage, TokenUsage};

/// Usage, model and outcome of one upstream answer, streamed or not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The usage normalised for the usage event; `None` when the upstream reported none.
    pub usage: Option<TokenUsage>,
    /// The upstream's usage object verbatim: the JSON text as it arrived. For an Anthropic
    /// stream it is `message_start`'s usage with `message_delta`'s non-null values laid over it.
    pub raw_usage: Option<RawUsage>,
    /// The model the upstream says answered (`model`, or Gemini's `modelVersion`).
    pub upstream_model: Option<String>,
    /// Whether the protocol's proper end was seen: a whole JSON answer that is not an error or
    /// still in progress; `[DONE]`, `response.completed`, `message_stop`, or a Gemini chunk
    /// with a `finishReason` for streams.
    pub completed: bool,
    /// The error the upstream reported in the body or in-band, if any (the last one wins).
    pub error: Option<StreamError>,
    /// The id of a Responses answer (`resp_...`), so later calls about it reach the same place.
    pub response_id: Option<String>,
    /// The Responses object says `"store": false`: nothing can continue it later.
    pub response_unstored: bool,
    /// A whole Responses object whose `status` is final (`completed`, `incomplete`, `failed`,
    /// `cancelled`): the usage it reports, if any, will not change.
    pub response_final: bool,
}

impl Observed {
    /// Sets both usage fields from the upstream's raw usage object (a JSON `null` is read as
    /// none before it gets here).
    pub(crate) fn set_raw_usage(&mut self, protocol: Protocol, raw: Option<&RawValue>) {
        self.raw_usage = raw.map(RawUsage::new);
        self.count_usage(protocol);
    }

    /// Drops the usage read: the answer repeats usage that another request is recorded with.
    pub fn forget_usage(&mut self) {
        self.usage = None;
        self.raw_usage = None;
    }

    /// Reads the token counts from the raw usage kept so far (streams keep the newest and
    /// count once, at the end).
    pub(crate) fn count_usage(&mut self, protocol: Protocol) {
        self.usage = self
            .raw_usage
            .as_ref()
            .map(|raw| normalise(protocol, raw.text()));
    }

    /// Records a Responses id unless one is known already, and whether the object is stored
    /// (`store` absent counts as stored, as OpenAI's default).
    pub(crate) fn note_response_id(&mut self, id: Option<Cow<'_, str>>, store: Option<bool>) {
        self.response_unstored |= store == Some(false);
        if self.response_id.is_none()
            && let Some(id) = id.filter(|id| !id.is_empty())
        {
            self.response_id = Some(id.into_owned());
        }
    }

    /// The Responses id a later turn may name in `previous_response_id`: only a stored one.
    pub fn continuable_response_id(&self) -> Option<&str> {
        self.response_id
            .as_deref()
            .filter(|_| !self.response_unstored)
    }

    /// Records the upstream model unless one is known already (the first report wins: later
    /// chunks repeat it).
    pub(crate) fn note_model(&mut self, model: Option<Cow<'_, str>>) {
        if self.upstream_model.is_none()
            && let Some(model) = model.filter(|model| !model.is_empty())
        {
            self.upstream_model = Some(model.into_owned());
        }
    }
}

/// An error the upstream reported inside a 200 answer or a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// The most specific machine-readable kind given: Gemini's `status`, else a string `code`,
    /// else `type`, else a numeric `code` (e.g. `overloaded_error`, `rate_limit_exceeded`,
    /// `RESOURCE_EXHAUSTED`).
    pub kind: String,
    /// The upstream's human message (may be empty).
    pub message: String,
}

/// The error object all three vendors use, in its union form: OpenAI `{message, type, code,
/// param}`, Anthropic `{type, message}`, Gemini `{code, message, status}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireError<'a> {
    #[serde(borrow, default)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
}

impl WireError<'_> {
    /// The error as a [`StreamError`], `fallback` naming the kind when the upstream gave none.
    pub(crate) fn into_stream_error(self, fallback: &str) -> StreamError {
        let kind = match (self.status, self.code, self.kind) {
            (Some(status), _, _) if !status.is_empty() => status.into_owned(),
            (_, Some(Value::String(code)), _) if !code.is_empty() => code,
            (_, _, Some(kind)) if !kind.is_empty() => kind.into_owned(),
            (_, Some(Value::Number(code)), _) => code.to_string(),
            _ => fallback.to_owned(),
        };
        StreamError {
            kind,
            message: self.message.map(Cow::into_owned).unwrap_or_default(),
        }
    }
}

/// A top-level `error` member that is either an object or, from some compatible servers, a
/// bare string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorMember<'a> {
    Object(#[serde(borrow)] WireError<'a>),
    Text(String),
}

impl ErrorMember<'_> {
    /// The member as a [`StreamError`], `fallback` naming the kind when the upstream gave none.
    pub(crate) fn into_stream_error(self, fallback: &str) -> StreamError {
        match self {
            Self::Object(error) => error.into_stream_error(fallback),
            Self::Text(message) => StreamError {
                kind: fallback.to_owned(),
                message,
            },
        }
    }
}

/// Whether a member holds something: a non-empty string or array, any object, number or `true`.
/// It accepts every JSON type, so a provider that sends an unexpected shape (content as an array
/// of parts, a `null`) never makes the surrounding chunk unreadable.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonEmpty(pub(crate) bool);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = NonEmpty;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<NonEmpty, E> {
                Ok(NonEmpty(v))
            }
            fn visit_i64<E>(self, _: i64) -> Result<NonEmpty, E> {
                Ok(NonEmpty(true))
            }
            fn visit_u64<E>(self, _: u64) -> Result<NonEmpty, E> {
                Ok(NonEmpty(true))
            }
            fn visit_f64<E>(self, _: f64) -> Result<NonEmpty, E> {
                Ok(NonEmpty(true))
            }
            fn visit_str<E>(self, v: &str) -> Result<NonEmpty, E> {
                Ok(NonEmpty(!v.is_empty()))
            }
            fn visit_unit<E>(self) -> Result<NonEmpty, E> {
                Ok(NonEmpty(false))
            }
            fn visit_none<E>(self) -> Result<NonEmpty, E> {
                Ok(NonEmpty(false))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<NonEmpty, A::Error> {
                let mut any = false;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    any = true;
                }
                Ok(NonEmpty(any))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NonEmpty, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(NonEmpty(true))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Reads a whole (non-streamed) JSON answer of `protocol`: Responses, Chat, embeddings,
/// Anthropic Messages, or Gemini `generateContent` (its JSON-array stream, without `alt=sse`,
/// goes through [`super::StreamObserver::json_array`]). A body that is not the expected JSON
/// yields an empty [`Observed`] (`completed == false`): the answer was cut or is not ours to read.
pub fn observe_json(protocol: Protocol, body: &[u8]) -> Observed {
    match protocol {
        Protocol::Responses => openai::responses::observe_json(body),
        Protocol::Chat | Protocol::Embeddings => openai::observe_json(protocol, body),
        Protocol::Messages => anthropic::observe_json(body),
        Protocol::Gemini => gemini::observe_json(body),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::openai(
        r#"{"message":"Rate limit","type":"requests","param":null,"code":"rate_limit_exceeded"}"#,
        "rate_limit_exceeded",
        "Rate limit"
    )]
    #[case::openai_null_code(
        r#"{"message":"bad","type":"invalid_request_error","param":null,"code":null}"#,
        "invalid_request_error",
        "bad"
    )]
    #[case::anthropic(
        r#"{"type":"overloaded_error","message":"Overloaded"}"#,
        "overloaded_error",
        "Overloaded"
    )]
    #[case::gemini(
        r#"{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}"#,
        "RESOURCE_EXHAUSTED",
        "Quota"
    )]
    #[case::numeric_code_only(r#"{"code":500,"message":"x"}"#, "500", "x")]
    #[case::nothing_known(r#"{"detail":"?"}"#, "fallback", "")]
    fn wire_error_kind_precedence(#[case] json: &str, #[case] kind: &str, #[case] message: &str) {
        let wire: WireError<'_> = serde_json::from_str(json).expect("wire error parses");
        let error = wire.into_stream_error("fallback");
        assert_eq!(
            (error.kind.as_str(), error.message.as_str()),
            (kind, message)
        );
    }

    #[rstest]
    #[case::text("\"hi\"", true)]
    #[case::empty_text("\"\"", false)]
    #[case::null("null", false)]
    #[case::empty_array("[]", false)]
    #[case::array("[{\"index\":0}]", true)]
    #[case::object("{}", true)]
    #[case::number("0", true)]
    #[case::false_("false", false)]
    fn non_empty_accepts_every_type(#[case] json: &str, #[case] expected: bool) {
        let value: NonEmpty = serde_json::from_str(json).expect("any JSON value");
        assert_eq!(value, NonEmpty(expected), "{json}");
    }

    #[test]
    fn error_member_may_be_a_string() {
        let member: ErrorMember<'_> = serde_json::from_str(r#""upstream down""#).expect("parses");
        assert_eq!(
            member.into_stream_error("error"),
            StreamError {
                kind: "error".into(),
                message: "upstream down".into()
            }
        );
    }
}
