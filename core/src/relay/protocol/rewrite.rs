//! The body rewrites the hot path needs. Each returns new bytes only when something changes, so
//! the common case forwards the client's bytes untouched. A rewrite goes through
//! `serde_json::Value` with `preserve_order`: every other member keeps its value and place; only
//! insignificant whitespace and equivalent escapes (`\u00e9` → `é`) may change.

use serde_json::{Map, Value};

/// Chat streams: turns `stream_options.include_usage` on so the upstream sends a final usage
/// chunk. `None` when the body is not a streaming request (`stream: true`; OpenAI rejects
/// `stream_options` otherwise), already has it on, or is not a JSON object.
pub fn force_include_usage(body: &[u8]) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object_mut()?;
    if object.get("stream") != Some(&Value::Bool(true)) {
        return None;
    }
    match object.get_mut("stream_options") {
        Some(Value::Object(options)) => {
            if options.get("include_usage") == Some(&Value::Bool(true)) {
                return None;
            }
            options.insert("include_usage".to_owned(), Value::Bool(true));
        }
        _ => {
            let mut options = Map::new();
            options.insert("include_usage".to_owned(), Value::Bool(true));
            object.insert("stream_options".to_owned(), Value::Object(options));
        }
    }
    serde_json::to_vec(&value).ok()
}

/// Renames the top-level `model` to `new_model` (a binding's upstream name). `None` when it is
/// already that, when the body has no string `model` (Gemini names the model in the URL), or
/// when the body is not a JSON object.
pub fn replace_model(body: &[u8], new_model: &str) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let model = value.as_object_mut()?.get_mut("model")?;
    if model.as_str()? == new_model {
        return None;
    }
    *model = Value::String(new_model.to_owned());
    serde_json::to_vec(&value).ok()
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use rstest::rstest;

    use super::*;

    fn text(bytes: Option<Vec<u8>>) -> Option<String> {
        bytes.map(|bytes| String::from_utf8(bytes).expect("utf-8"))
    }

    #[rstest]
    #[case::adds_options_at_the_end(
        r#"{"stream":true,"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.7}"#,
        Some(r#"{"stream":true,"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.7,"stream_options":{"include_usage":true}}"#)
    )]
    #[case::keeps_other_options_in_place(
        r#"{"model":"m","stream_options":{"include_obfuscation":false,"include_usage":false},"stream":true}"#,
        Some(r#"{"model":"m","stream_options":{"include_obfuscation":false,"include_usage":true},"stream":true}"#)
    )]
    #[case::replaces_a_non_object(
        r#"{"model":"m","stream":true,"stream_options":null}"#,
        Some(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#)
    )]
    #[case::already_on(
        r#"{"model":"m","stream":true,"stream_options":{"include_usage":true}}"#,
        None
    )]
    #[case::not_streaming(r#"{"model":"m","stream":false}"#, None)]
    #[case::stream_absent(r#"{"model":"m"}"#, None)]
    #[case::not_json("nope", None)]
    #[case::not_object("[true]", None)]
    fn include_usage(#[case] body: &str, #[case] expected: Option<&str>) {
        assert_eq!(
            text(force_include_usage(body.as_bytes())).as_deref(),
            expected
        );
    }

    #[rstest]
    #[case::renames_in_place(
        r#"{"messages":[],"model":"public-name","zeta":1,"alpha":{"b":2,"a":1}}"#,
        "gpt-4o-2024-08-06",
        Some(r#"{"messages":[],"model":"gpt-4o-2024-08-06","zeta":1,"alpha":{"b":2,"a":1}}"#)
    )]
    #[case::same_name(r#"{"model":"gpt-4o"}"#, "gpt-4o", None)]
    #[case::no_model(r#"{"contents":[]}"#, "gemini-2.5-pro", None)]
    #[case::model_not_string(r#"{"model":5}"#, "x", None)]
    #[case::not_json("{", "x", None)]
    fn rename(#[case] body: &str, #[case] new_model: &str, #[case] expected: Option<&str>) {
        assert_eq!(
            text(replace_model(body.as_bytes(), new_model)).as_deref(),
            expected
        );
    }

    #[test]
    fn rewrite_keeps_numbers_and_unicode() {
        let body = r#"{"model":"a","temperature":0.1,"seed":18446744073709551615,"n":-3,"text":"é 😀 \"q\""}"#;
        let renamed = text(replace_model(body.as_bytes(), "b")).expect("renamed");
        assert_eq!(
            renamed,
            r#"{"model":"b","temperature":0.1,"seed":18446744073709551615,"n":-3,"text":"é 😀 \"q\""}"#
        );
    }
}
