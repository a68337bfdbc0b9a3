//! OpenAI wire knowledge: Responses ([`responses`]), Chat Completions ([`chat`]) and the whole
//! JSON answers of Chat and embeddings, which share one reading (`model`, `usage`, `error`).

pub(crate) mod chat;
pub(crate) mod responses;

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::observed::ErrorMember;
use super::{Observed, Protocol, skim};

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

/// Reads a whole Chat completion or embeddings answer: from its ends when they suffice
/// ([`skim::answer`]), else the whole text.
pub(crate) fn observe_json(protocol: Protocol, body: &[u8]) -> Observed {
    skim::answer(protocol, body).unwrap_or_else(|| read_whole_answer(protocol, body))
}

/// Reads `model`, `usage` and `error` by parsing the whole answer (skipping the rest).
fn read_whole_answer(protocol: Protocol, body: &[u8]) -> Observed {
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

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const CHAT: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024","choices":[{"index":0,"message":{"role":"assistant","content":"a \"usage\": {} and \"model\": \"x\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}},"system_fingerprint":"fp"}"#;

    /// Answers the ends decide: the skimmed reading must equal the whole one.
    #[rstest]
    #[case::chat(CHAT)]
    #[case::model_after_usage(r#"{"choices":[],"usage":{"prompt_tokens":1},"model":"m"}"#)]
    #[case::model_between(r#"{"object":"list","data":[{"embedding":[0.5,1e-3],"index":0},{"embedding":[0.25],"index":1}],"model":"text-embedding-3-small" ,"usage":{"prompt_tokens":7,"total_tokens":7}}"#)]
    // the escaped quote of `x\"model` is exactly where the search for a `model` near `usage`
    // begins: the backslash before it must still count
    #[case::escaped_key_near_usage(r#"{"id":"chatcmpl-0123456789abcdefghij0123","object":"chat.completion","model":"real","choices":[],"x\"model":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","usage":{"prompt_tokens":1}}"#)]
    #[case::no_model(r#"{"object":"list","data":[{"embedding":[0.1,-2e-3]}],"usage":{"prompt_tokens":7,"total_tokens":7}}"#)]
    #[case::blanks(" {\n \"model\" : \"m\" ,\"data\":[], \"usage\" : {\"prompt_tokens\" : 3} }\n")]
    #[case::model_escaped("{\"model\":\"g\\u00e9\\\"x\",\"usage\":{\"prompt_tokens\":2}}")]
    fn skimming_reads_what_the_whole_answer_says(#[case] body: &str) {
        let skimmed = skim::answer(Protocol::Chat, body.as_bytes()).expect("the ends decide");
        assert_eq!(skimmed, read_whole_answer(Protocol::Chat, body.as_bytes()));
        assert!(skimmed.completed);
    }

    /// Answers whose ends do not decide fall back to the whole reading, and still read right.
    #[rstest]
    #[case::error_member(
        r#"{"error":{"message":"no","type":"server_error"},"usage":{"prompt_tokens":1}}"#,
        None,
        false
    )]
    #[case::nested_usage_last(
        r#"{"model":"m","usage":{"prompt_tokens":1},"meta":{"usage":{"prompt_tokens":9}}}"#,
        Some("m"),
        true
    )]
    #[case::nested_model_first(
        r#"{"choices":[{"model":"inner"}],"model":"outer","usage":{"prompt_tokens":1}}"#,
        Some("outer"),
        true
    )]
    #[case::no_usage(r#"{"model":"m","choices":[]}"#, Some("m"), true)]
    #[case::null_usage(r#"{"model":"m","choices":[],"usage":null}"#, Some("m"), true)]
    #[case::nested_model_nearer(r#"{"id":"chatcmpl-0123456789abcdef0123456789","model":"outer","data":[[1]],"meta":{"model":"inner"},"usage":{"prompt_tokens":1}}"#, Some("outer"), true)]
    #[case::trailing_text(r#"{"model":"m","usage":{"prompt_tokens":1}} x"#, None, false)]
    #[case::not_json(r#"{"model":"m","usage":{"prompt_tokens":1}"#, None, false)]
    fn other_answers_are_read_whole(
        #[case] body: &str,
        #[case] model: Option<&str>,
        #[case] completed: bool,
    ) {
        assert_eq!(skim::answer(Protocol::Chat, body.as_bytes()), None);
        let observed = observe_json(Protocol::Chat, body.as_bytes());
        assert_eq!(observed, read_whole_answer(Protocol::Chat, body.as_bytes()));
        assert_eq!(
            (observed.upstream_model.as_deref(), observed.completed),
            (model, completed)
        );
    }

    #[test]
    fn the_chat_answer_counts_its_usage() {
        let observed = observe_json(Protocol::Chat, CHAT.as_bytes());
        let usage = observed.usage.expect("usage");
        assert_eq!(
            (
                usage.input_tokens,
                usage.cached_input_tokens,
                usage.output_tokens
            ),
            (12, 4, 3)
        );
        assert_eq!(observed.upstream_model.as_deref(), Some("gpt-4o-2024"));
        assert_eq!(
            observed
                .raw_usage
                .map(|raw| raw.text().to_owned())
                .as_deref(),
            Some(
                r#"{"prompt_tokens":12,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}"#
            )
        );
    }
}
