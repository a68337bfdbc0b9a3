//! Request inspection: the few facts routing and accounting need from a client's body, read
//! through a borrowed struct that skips everything else unparsed (`input`, `messages`,
//! `tools`…). Unknown members, roles and shapes are never an error: only a body that is not a
//! JSON object, or a `model`/`stream` of the wrong type, is. The body itself is forwarded as is.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::Protocol;

/// What routing and accounting read from a request body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// The `model` asked for; always `None` for Gemini, whose model is in the URL path.
    pub model: Option<String>,
    /// Whether the client asked for a stream (`stream: true`); for Gemini the action in the URL
    /// (`streamGenerateContent`) decides instead, so this is `false`.
    pub stream: bool,
    /// Session keys found in the body, highest priority first (see [`SessionSource`]).
    pub session_keys: Vec<SessionKey>,
    /// Chat only: `stream_options.include_usage` is already `true`, so no rewrite is needed.
    pub include_usage: bool,
    /// Responses only: the call runs in the background (`background: true`), so its answer
    /// comes before its usage, which only a later fetch reports.
    pub background: bool,
    /// The most output tokens the call may generate, when it says (`max_output_tokens` for
    /// Responses, `max_completion_tokens` or `max_tokens` for Chat, `max_tokens` for Anthropic).
    pub max_output_tokens: Option<u64>,
}

impl RequestFacts {
    /// The session key to stick on: the highest-priority one present.
    pub fn session_key(&self) -> Option<&SessionKey> {
        self.session_keys.first()
    }
}

/// One session key candidate from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// Where it came from.
    pub source: SessionSource,
    /// The key itself (never empty).
    pub value: String,
}

/// Body members that identify a conversation, in priority order (earlier wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionSource {
    /// `previous_response_id` (Responses continuation): first, because only the channel and
    /// credential that created that response can continue it (the relay binds every response
    /// id it sees to where it was made).
    PreviousResponseId,
    /// `prompt_cache_key` (Codex CLI sends one per session; OpenAI routes its cache by it).
    PromptCacheKey,
    /// `conversation` (a string id or `{ "id": … }`) or `conversation_id`.
    Conversation,
    /// Anthropic `metadata.user_id`. Claude Code writes `user_…_account_…_session_<uuid>` (or, in
    /// newer versions, a JSON object string with `session_id`); the session part is taken.
    MetadataUserId,
}

/// Why a body could not be inspected; the relay answers 400 in the protocol's error shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// The bytes are not UTF-8, so not JSON.
    #[error("request body is not valid UTF-8 (invalid byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// The body is not JSON at all (or is empty).
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("request body must be a JSON object")]
    NotObject,
    /// A member Realms reads has the wrong type.
    #[error("invalid `{field}` in request body: {message}")]
    InvalidField {
        /// The member's path, e.g. `stream`.
        field: String,
        /// What was wrong with it.
        message: String,
    },
}

/// The members read from OpenAI and Anthropic bodies. Session members are kept as loose
/// `Value`s (they are small) so an unexpected shape is ignored rather than rejected.
#[derive(Debug, Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    prompt_cache_key: Option<Value>,
    #[serde(default)]
    previous_response_id: Option<Value>,
    #[serde(default)]
    conversation: Option<Value>,
    #[serde(default)]
    conversation_id: Option<Value>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    stream_options: Option<Value>,
    #[serde(default)]
    background: Option<Value>,
    #[serde(default)]
    max_output_tokens: Option<Value>,
    #[serde(default)]
    max_completion_tokens: Option<Value>,
    #[serde(default)]
    max_tokens: Option<Value>,
}

/// Gemini bodies carry nothing Realms reads; they are only checked to be a JSON object.
#[derive(Debug, Deserialize)]
struct AnyObject {}

/// Reads the routing and accounting facts of a `protocol` request body.
///
/// # Errors
/// [`InspectError`] when the body is not UTF-8, not JSON, not an object, or has a `model` that
/// is not a string or a `stream` that is not a boolean.
pub fn inspect_request(protocol: Protocol, body: &[u8]) -> Result<RequestFacts, InspectError> {
    // validated once as a whole: the parses below then take its strings as they are
    let body = std::str::from_utf8(body).map_err(|error| InspectError::InvalidUtf8 {
        valid_up_to: error.valid_up_to(),
    })?;
    if protocol == Protocol::Gemini {
        parse::<AnyObject>(body)?;
        return Ok(RequestFacts::default());
    }
    let body_facts: Body<'_> = parse(body)?;
    let mut session_keys = Vec::new();
    let mut add = |source, value: Option<String>| {
        if let Some(value) = value.filter(|value| !value.is_empty()) {
            session_keys.push(SessionKey { source, value });
        }
    };
    add(
        SessionSource::PreviousResponseId,
        string(body_facts.previous_response_id.as_ref()),
    );
    add(
        SessionSource::PromptCacheKey,
        string(body_facts.prompt_cache_key.as_ref()),
    );
    let conversation = body_facts.conversation.as_ref();
    add(
        SessionSource::Conversation,
        string(conversation)
            .or_else(|| string(conversation.and_then(|c| c.get("id"))))
            .or_else(|| string(body_facts.conversation_id.as_ref())),
    );
    if protocol == Protocol::Messages {
        let user_id = body_facts.metadata.as_ref().and_then(|m| m.get("user_id"));
        add(
            SessionSource::MetadataUserId,
            string(user_id).map(claude_code_session),
        );
    }
    let include_usage = protocol == Protocol::Chat
        && body_facts
            .stream_options
            .as_ref()
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    Ok(RequestFacts {
        model: body_facts.model.map(Cow::into_owned),
        stream: body_facts.stream.unwrap_or(false),
        session_keys,
        include_usage,
        background: protocol == Protocol::Responses
            && body_facts.background.as_ref().and_then(Value::as_bool) == Some(true),
        max_output_tokens: [
            body_facts.max_output_tokens,
            body_facts.max_completion_tokens,
            body_facts.max_tokens,
        ]
        .iter()
        .find_map(|cap| cap.as_ref().and_then(Value::as_u64)),
    })
}

/// Parses `body` and classifies a failure.
fn parse<'a, T: Deserialize<'a>>(body: &'a str) -> Result<T, InspectError> {
    if body.trim_ascii().is_empty() {
        return Err(InspectError::NotJson("the body is empty".into()));
    }
    // checked first: serde's derived structs would also accept an array
    if !body.trim_ascii_start().starts_with('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(body) {
            Ok(_) => Err(InspectError::NotObject),
            Err(error) => Err(InspectError::NotJson(error.to_string())),
        };
    }
    let error = match serde_json::from_str::<T>(body) {
        Ok(parsed) => return Ok(parsed),
        Err(error) => error,
    };
    if !error.is_data() {
        return Err(InspectError::NotJson(error.to_string()));
    }
    // a type error inside the object: run again with path tracking (only on this error path,
    // it costs too much for every request) to name the member
    let mut deserializer = serde_json::Deserializer::from_str(body);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(_) => Err(InspectError::NotJson(error.to_string())),
        Err(error) => Err(InspectError::InvalidField {
            field: error.path().to_string(),
            message: error.into_inner().to_string(),
        }),
    }
}

fn string(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

/// The session part of a Claude Code `metadata.user_id`, or the whole value when it has none.
fn claude_code_session(user_id: String) -> String {
    const MARKER: &str = "_session_";
    if let Some(at) = user_id.rfind(MARKER) {
        let session = &user_id[at + MARKER.len()..];
        if !session.is_empty() {
            return session.to_owned();
        }
    }
    if user_id.starts_with('{')
        && let Ok(parsed) = serde_json::from_str::<Value>(&user_id)
        && let Some(session) = parsed.get("session_id").and_then(Value::as_str)
        && !session.is_empty()
    {
        return session.to_owned();
    }
    user_id
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    use super::*;

    fn keys(facts: &RequestFacts) -> Vec<(SessionSource, &str)> {
        facts
            .session_keys
            .iter()
            .map(|key| (key.source, key.value.as_str()))
            .collect()
    }

    #[test]
    fn responses_body_like_codex_cli() {
        let body = br#"{"model":"gpt-5-codex","instructions":"You are Codex","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi \"there\""}]}],"tools":[],"tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"medium","summary":"auto"},"store":false,"stream":true,"include":["reasoning.encrypted_content"],"prompt_cache_key":"0199a2b1-5c3d-7e8f-9a0b-1c2d3e4f5a6b","some_future_field":{"x":[1,2,3]}}"#;
        let facts = inspect_request(Protocol::Responses, body).expect("inspects");
        assert_eq!(facts.model.as_deref(), Some("gpt-5-codex"));
        assert!(facts.stream);
        assert!(!facts.include_usage);
        assert_eq!(
            keys(&facts),
            vec![(
                SessionSource::PromptCacheKey,
                "0199a2b1-5c3d-7e8f-9a0b-1c2d3e4f5a6b"
            )]
        );
    }

    /// Only a Responses call asks to run in the background, and only `true` says so; any other
    /// value is the upstream's to judge, not a reason to refuse the body.
    #[test]
    fn a_background_call_is_a_responses_body_with_background_true() {
        let background = |protocol, body: &str| {
            inspect_request(protocol, body.as_bytes())
                .expect("inspects")
                .background
        };
        assert!(background(
            Protocol::Responses,
            r#"{"model":"m","background":true}"#
        ));
        assert!(!background(
            Protocol::Responses,
            r#"{"model":"m","background":false}"#
        ));
        assert!(!background(
            Protocol::Responses,
            r#"{"model":"m","background":"yes"}"#
        ));
        assert!(!background(Protocol::Responses, r#"{"model":"m"}"#));
        assert!(!background(
            Protocol::Chat,
            r#"{"model":"m","background":true}"#
        ));
    }

    /// Each protocol's own name for the output cap is read; one that is not a whole number of
    /// tokens is left to the upstream to judge.
    #[test]
    fn the_output_cap_is_read_under_each_protocols_name() {
        let cap = |protocol, body: &str| {
            inspect_request(protocol, body.as_bytes())
                .expect("inspects")
                .max_output_tokens
        };
        assert_eq!(
            cap(Protocol::Responses, r#"{"max_output_tokens":64}"#),
            Some(64)
        );
        assert_eq!(
            cap(Protocol::Chat, r#"{"max_completion_tokens":65}"#),
            Some(65)
        );
        assert_eq!(cap(Protocol::Chat, r#"{"max_tokens":66}"#), Some(66));
        assert_eq!(cap(Protocol::Messages, r#"{"max_tokens":67}"#), Some(67));
        assert_eq!(cap(Protocol::Chat, r#"{"max_tokens":-1}"#), None);
        assert_eq!(cap(Protocol::Chat, r#"{"max_tokens":"many"}"#), None);
        assert_eq!(cap(Protocol::Chat, r#"{"model":"m"}"#), None);
    }

    #[test]
    fn session_keys_come_in_priority_order() {
        let body = br#"{"model":"m","conversation":{"id":"conv_1"},"previous_response_id":"resp_1","prompt_cache_key":"pck","conversation_id":"ignored_when_conversation_set"}"#;
        let facts = inspect_request(Protocol::Responses, body).expect("inspects");
        assert_eq!(
            keys(&facts),
            vec![
                (SessionSource::PreviousResponseId, "resp_1"),
                (SessionSource::PromptCacheKey, "pck"),
                (SessionSource::Conversation, "conv_1"),
            ]
        );
        assert_eq!(
            facts.session_key().map(|key| key.value.as_str()),
            Some("resp_1")
        );
    }

    #[rstest]
    #[case::conversation_string(r#"{"conversation":"conv_s"}"#, Some("conv_s"))]
    #[case::conversation_object(r#"{"conversation":{"id":"conv_o"}}"#, Some("conv_o"))]
    #[case::conversation_id(r#"{"conversation_id":"conv_i"}"#, Some("conv_i"))]
    #[case::empty_is_none(r#"{"prompt_cache_key":""}"#, None)]
    #[case::wrong_type_is_ignored_not_rejected(
        r#"{"prompt_cache_key":42,"conversation":[1]}"#,
        None
    )]
    fn single_session_key(#[case] body: &str, #[case] expected: Option<&str>) {
        let facts = inspect_request(Protocol::Responses, body.as_bytes()).expect("inspects");
        assert_eq!(facts.session_key().map(|key| key.value.as_str()), expected);
    }

    #[rstest]
    #[case::claude_code(
        "user_2f1b6c0e9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b_account_7c9e6679-7425-40de-944b-e07fc1f90ae7_session_5b2f8c1e-3d4a-4b6c-9e7f-1a2b3c4d5e6f",
        "5b2f8c1e-3d4a-4b6c-9e7f-1a2b3c4d5e6f"
    )]
    #[case::claude_code_json(
        r#"{\"device_id\":\"d1\",\"account_uuid\":\"a1\",\"session_id\":\"s-json\"}"#,
        "s-json"
    )]
    #[case::other_user_id("customer-42", "customer-42")]
    fn anthropic_metadata_user_id(#[case] user_id: &str, #[case] expected: &str) {
        let body = format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"metadata":{{"user_id":"{user_id}"}},"messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let facts = inspect_request(Protocol::Messages, body.as_bytes()).expect("inspects");
        assert_eq!(
            keys(&facts),
            vec![(SessionSource::MetadataUserId, expected)]
        );
        assert_eq!(facts.model.as_deref(), Some("claude-sonnet-4-5"));
    }

    #[test]
    fn metadata_user_id_only_counts_for_anthropic() {
        let body = br#"{"model":"gpt-4o","metadata":{"user_id":"u"}}"#;
        let facts = inspect_request(Protocol::Chat, body).expect("inspects");
        assert_eq!(facts.session_key(), None);
    }

    #[rstest]
    #[case::absent(r#"{"model":"m","stream":true}"#, false)]
    #[case::false_(
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":false}}"#,
        false
    )]
    #[case::true_(
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#,
        true
    )]
    #[case::odd_shape(r#"{"model":"m","stream":true,"stream_options":"yes"}"#, false)]
    fn chat_include_usage(#[case] body: &str, #[case] expected: bool) {
        let facts = inspect_request(Protocol::Chat, body.as_bytes()).expect("inspects");
        assert_eq!(facts.include_usage, expected);
    }

    #[test]
    fn gemini_has_no_model_or_session_in_the_body() {
        let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"model":"ignored","prompt_cache_key":"ignored"}"#;
        let facts = inspect_request(Protocol::Gemini, body).expect("inspects");
        assert_eq!(facts, RequestFacts::default());
    }

    #[test]
    fn unknown_roles_and_members_are_never_rejected() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"developer","content":"x"},{"role":"some_new_role","content":[{"type":"new_part"}]}],"stream":null,"brand_new":true}"#;
        let facts = inspect_request(Protocol::Chat, body).expect("inspects");
        assert_eq!(facts.model.as_deref(), Some("gpt-4o"));
        assert!(!facts.stream);
    }

    #[test]
    fn escaped_model_is_unescaped() {
        let facts =
            inspect_request(Protocol::Chat, br#"{"model":"a\/b\u00e9"}"#).expect("inspects");
        assert_eq!(facts.model.as_deref(), Some("a/bé"));
    }

    #[rstest]
    #[case::invalid_utf8(&b"{\"model\":\"\xff\"}"[..], InspectError::InvalidUtf8 { valid_up_to: 10 })]
    #[case::empty(&b"  "[..], InspectError::NotJson("the body is empty".into()))]
    #[case::not_json(&b"model=gpt-4o"[..], InspectError::NotJson("expected value at line 1 column 1".into()))]
    #[case::truncated(&b"{\"model\":\"gpt"[..], InspectError::NotJson("EOF while parsing a string at line 1 column 13".into()))]
    #[case::array(&b"[1,2]"[..], InspectError::NotObject)]
    #[case::empty_array(&b" []"[..], InspectError::NotObject)]
    #[case::broken_array(&b"[1,"[..], InspectError::NotJson("EOF while parsing a value at line 1 column 3".into()))]
    #[case::null(&b"null"[..], InspectError::NotObject)]
    #[case::string(&b"\"hi\""[..], InspectError::NotObject)]
    #[case::model_not_string(
        &b"{\"model\":5}"[..],
        InspectError::InvalidField { field: "model".into(), message: "invalid type: integer `5`, expected a string at line 1 column 10".into() }
    )]
    #[case::stream_not_bool(
        &b"{\"model\":\"m\",\"stream\":\"yes\"}"[..],
        InspectError::InvalidField { field: "stream".into(), message: "invalid type: string \"yes\", expected a boolean at line 1 column 27".into() }
    )]
    fn bad_bodies(#[case] body: &[u8], #[case] expected: InspectError) {
        assert_eq!(inspect_request(Protocol::Chat, body), Err(expected));
    }

    #[test]
    fn gemini_bad_bodies_are_rejected_too() {
        assert_eq!(
            inspect_request(Protocol::Gemini, b"[]"),
            Err(InspectError::NotObject)
        );
        assert!(matches!(
            inspect_request(Protocol::Gemini, b"\xfe"),
            Err(InspectError::InvalidUtf8 { valid_up_to: 0 })
        ));
    }

    #[test]
    fn error_messages_are_human_sentences() {
        let error = InspectError::InvalidField {
            field: "stream".into(),
            message: "bad".into(),
        };
        assert_eq!(error.to_string(), "invalid `stream` in request body: bad");
        assert_eq!(
            InspectError::InvalidUtf8 { valid_up_to: 3 }.to_string(),
            "request body is not valid UTF-8 (invalid byte at offset 3)"
        );
    }
}
