//! Each upstream's usage object reduced to [`TokenUsage`], exactly as `spec/API.md` defines the
//! usage event's token fields:
//!
//! | field | OpenAI (Responses / Chat / embeddings) | Anthropic | Gemini |
//! |---|---|---|---|
//! | `input_tokens` (whole prompt) | `input_tokens` / `prompt_tokens` (already include cached) | `input_tokens + cache_read_input_tokens + cache_creation_input_tokens` | `promptTokenCount + toolUsePromptTokenCount` |
//! | `cached_input_tokens` | `input_tokens_details.cached_tokens` / `prompt_tokens_details.cached_tokens` | `cache_read_input_tokens` | `cachedContentTokenCount` |
//! | `cache_write_tokens` | 0 | `cache_creation_input_tokens` | 0 |
//! | `output_tokens` (reasoning included) | `output_tokens` / `completion_tokens` | `output_tokens` | `candidatesTokenCount + thoughtsTokenCount` |
//! | `reasoning_tokens` | `output_tokens_details.reasoning_tokens` / `completion_tokens_details.reasoning_tokens` | 0 (not reported apart) | `thoughtsTokenCount` |
//!
//! Gemini's `toolUsePromptTokenCount` (results of built-in tools fed back as prompt) is prompt
//! that Google bills as input, so it counts in the whole prompt. Missing, `null` or non-numeric
//! counts read as 0: an upstream that omits a part has none of it.

use serde_json::Value;

use super::Protocol;
use crate::usage::TokenUsage;

/// Normalises `raw`, the upstream's own usage object of `protocol`.
pub fn normalise(protocol: Protocol, raw: &Value) -> TokenUsage {
    match protocol {
        Protocol::Responses | Protocol::Chat | Protocol::Embeddings => openai(raw),
        Protocol::Messages => anthropic(raw),
        Protocol::Gemini => gemini(raw),
    }
}

/// A non-negative integer count at `path`, 0 when absent or not a count. Some OpenAI-compatible
/// servers write counts as `12.0`; a whole float is accepted.
fn count(raw: &Value, path: &[&str]) -> u64 {
    let value = path.iter().try_fold(raw, |value, key| value.get(key));
    let Some(value) = value else {
        return 0;
    };
    if let Some(count) = value.as_u64() {
        return count;
    }
    match value.as_f64() {
        Some(float) if float.is_finite() && float >= 0.0 && float.fract() == 0.0 => {
            // a whole, non-negative float below 2^64 converts exactly; above, it saturates
            float as u64
        }
        _ => 0,
    }
}

/// The first of two alternative keys that is present (Responses vs Chat spelling).
fn either(raw: &Value, primary: &[&str], alternative: &[&str]) -> u64 {
    let present = primary
        .iter()
        .try_fold(raw, |value, key| value.get(key))
        .is_some();
    if present {
        count(raw, primary)
    } else {
        count(raw, alternative)
    }
}

fn openai(raw: &Value) -> TokenUsage {
    TokenUsage {
        input_tokens: either(raw, &["input_tokens"], &["prompt_tokens"]),
        cached_input_tokens: either(
            raw,
            &["input_tokens_details", "cached_tokens"],
            &["prompt_tokens_details", "cached_tokens"],
        ),
        cache_write_tokens: 0,
        output_tokens: either(raw, &["output_tokens"], &["completion_tokens"]),
        reasoning_tokens: either(
            raw,
            &["output_tokens_details", "reasoning_tokens"],
            &["completion_tokens_details", "reasoning_tokens"],
        ),
    }
}

fn anthropic(raw: &Value) -> TokenUsage {
    let cache_read = count(raw, &["cache_read_input_tokens"]);
    let cache_write = count(raw, &["cache_creation_input_tokens"]);
    TokenUsage {
        input_tokens: count(raw, &["input_tokens"])
            .saturating_add(cache_read)
            .saturating_add(cache_write),
        cached_input_tokens: cache_read,
        cache_write_tokens: cache_write,
        output_tokens: count(raw, &["output_tokens"]),
        reasoning_tokens: 0,
    }
}

fn gemini(raw: &Value) -> TokenUsage {
    let thoughts = count(raw, &["thoughtsTokenCount"]);
    TokenUsage {
        input_tokens: count(raw, &["promptTokenCount"])
            .saturating_add(count(raw, &["toolUsePromptTokenCount"])),
        cached_input_tokens: count(raw, &["cachedContentTokenCount"]),
        cache_write_tokens: 0,
        output_tokens: count(raw, &["candidatesTokenCount"]).saturating_add(thoughts),
        reasoning_tokens: thoughts,
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn usage(input: u64, cached: u64, write: u64, output: u64, reasoning: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            cached_input_tokens: cached,
            cache_write_tokens: write,
            output_tokens: output,
            reasoning_tokens: reasoning,
        }
    }

    #[rstest]
    #[case::responses(
        Protocol::Responses,
        json!({"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1024},
               "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 128},
               "total_tokens": 1500}),
        usage(1200, 1024, 0, 300, 128)
    )]
    #[case::chat(
        Protocol::Chat,
        json!({"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70,
               "prompt_tokens_details": {"cached_tokens": 10, "audio_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 5}}),
        usage(50, 10, 0, 20, 5)
    )]
    #[case::chat_minimal_with_nulls(
        Protocol::Chat,
        json!({"prompt_tokens": 7, "completion_tokens": 3, "prompt_tokens_details": null}),
        usage(7, 0, 0, 3, 0)
    )]
    #[case::embeddings(
        Protocol::Embeddings,
        json!({"prompt_tokens": 8, "total_tokens": 8}),
        usage(8, 0, 0, 0, 0)
    )]
    #[case::anthropic_whole_prompt_adds_cache_parts(
        Protocol::Messages,
        json!({"input_tokens": 10, "cache_creation_input_tokens": 2000,
               "cache_read_input_tokens": 30000, "output_tokens": 400}),
        usage(32010, 30000, 2000, 400, 0)
    )]
    #[case::gemini_output_includes_thoughts(
        Protocol::Gemini,
        json!({"promptTokenCount": 500, "candidatesTokenCount": 40, "thoughtsTokenCount": 60,
               "cachedContentTokenCount": 256, "totalTokenCount": 600}),
        usage(500, 256, 0, 100, 60)
    )]
    #[case::gemini_tool_use_prompt_is_input(
        Protocol::Gemini,
        json!({"promptTokenCount": 100, "toolUsePromptTokenCount": 25, "candidatesTokenCount": 5}),
        usage(125, 0, 0, 5, 0)
    )]
    #[case::whole_floats_accepted_junk_ignored(
        Protocol::Chat,
        json!({"prompt_tokens": 12.0, "completion_tokens": -3, "total_tokens": "15"}),
        usage(12, 0, 0, 0, 0)
    )]
    #[case::not_an_object(Protocol::Responses, json!(42), usage(0, 0, 0, 0, 0))]
    fn normalise_table(
        #[case] protocol: Protocol,
        #[case] raw: Value,
        #[case] expected: TokenUsage,
    ) {
        assert_eq!(normalise(protocol, &raw), expected);
    }
}
