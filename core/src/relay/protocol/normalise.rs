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

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Protocol;
use crate::usage::TokenUsage;

/// Normalises `raw`, the upstream's own usage object of `protocol`, as it arrived (JSON text).
/// Read with typed visitors (no map is built): only the members below are looked at.
pub fn normalise(protocol: Protocol, raw: &str) -> TokenUsage {
    let members = serde_json::from_str::<Members>(raw).unwrap_or_default();
    reduce(protocol, &members)
}

/// Reads the usage object that starts `json` (more text may follow it) and normalises it:
/// the counts and the length of the object's text. `None` unless an object starts there.
pub(crate) fn normalise_leading(protocol: Protocol, json: &str) -> Option<(TokenUsage, usize)> {
    if !json.starts_with('{') {
        return None;
    }
    let mut values = serde_json::Deserializer::from_str(json).into_iter::<Members>();
    let members = values.next()?.ok()?;
    Some((reduce(protocol, &members), values.byte_offset()))
}

/// The token counts of the members read.
fn reduce(protocol: Protocol, members: &Members) -> TokenUsage {
    match protocol {
        Protocol::Responses | Protocol::Chat | Protocol::Embeddings => openai(members),
        Protocol::Messages => anthropic(members),
        Protocol::Gemini => gemini(members),
    }
}

/// One count as written: whether the member is present (even as `null` or junk) and its value,
/// 0 unless it is a non-negative whole number. Some OpenAI-compatible servers write counts as
/// `12.0`; a whole float is accepted.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    present: bool,
    value: u64,
}

/// An OpenAI `*_details` object; its counts are present only when it is an object.
#[derive(Debug, Default, Clone, Copy)]
struct Details {
    cached_tokens: Count,
    reasoning_tokens: Count,
}

/// Every member any of the three vendors reports, read in one pass.
#[derive(Debug, Default, Clone, Copy)]
struct Members {
    input_tokens: Count,
    prompt_tokens: Count,
    output_tokens: Count,
    completion_tokens: Count,
    input_tokens_details: Details,
    prompt_tokens_details: Details,
    output_tokens_details: Details,
    completion_tokens_details: Details,
    cache_read_input_tokens: Count,
    cache_creation_input_tokens: Count,
    prompt_token_count: Count,
    tool_use_prompt_token_count: Count,
    cached_content_token_count: Count,
    candidates_token_count: Count,
    thoughts_token_count: Count,
}

/// The first of two alternative spellings that is present (Responses vs Chat).
fn either(primary: Count, alternative: Count) -> u64 {
    if primary.present {
        primary.value
    } else {
        alternative.value
    }
}

fn openai(m: &Members) -> TokenUsage {
    TokenUsage {
        input_tokens: either(m.input_tokens, m.prompt_tokens),
        cached_input_tokens: either(
            m.input_tokens_details.cached_tokens,
            m.prompt_tokens_details.cached_tokens,
        ),
        cache_write_tokens: 0,
        output_tokens: either(m.output_tokens, m.completion_tokens),
        reasoning_tokens: either(
            m.output_tokens_details.reasoning_tokens,
            m.completion_tokens_details.reasoning_tokens,
        ),
    }
}

fn anthropic(m: &Members) -> TokenUsage {
    let cache_read = m.cache_read_input_tokens.value;
    let cache_write = m.cache_creation_input_tokens.value;
    TokenUsage {
        input_tokens: m
            .input_tokens
            .value
            .saturating_add(cache_read)
            .saturating_add(cache_write),
        cached_input_tokens: cache_read,
        cache_write_tokens: cache_write,
        output_tokens: m.output_tokens.value,
        reasoning_tokens: 0,
    }
}

fn gemini(m: &Members) -> TokenUsage {
    let thoughts = m.thoughts_token_count.value;
    TokenUsage {
        input_tokens: m
            .prompt_token_count
            .value
            .saturating_add(m.tool_use_prompt_token_count.value),
        cached_input_tokens: m.cached_content_token_count.value,
        cache_write_tokens: 0,
        output_tokens: m.candidates_token_count.value.saturating_add(thoughts),
        reasoning_tokens: thoughts,
    }
}

/// A member name: borrowed from the text, copied only when it was written with escapes.
struct Name<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_identifier(NameVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CountVisitor)
    }
}

/// Any JSON value as a [`Count`]: numbers are read, everything else is present with 0.
struct CountVisitor;

impl CountVisitor {
    fn of(value: u64) -> Count {
        Count {
            present: true,
            value,
        }
    }
}

impl<'de> Visitor<'de> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a token count")
    }

    fn visit_u64<E>(self, value: u64) -> Result<Count, E> {
        Ok(Self::of(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Count, E> {
        Ok(Self::of(u64::try_from(value).unwrap_or(0)))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Count, E> {
        let whole = value.is_finite() && value >= 0.0 && value.fract() == 0.0;
        // a whole, non-negative float below 2^64 converts exactly; above, it saturates
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked whole and non-negative; saturating is the intent"
        )]
        Ok(Self::of(if whole { value as u64 } else { 0 }))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Count, E> {
        Ok(Self::of(0))
    }

    fn visit_str<E>(self, _: &str) -> Result<Count, E> {
        Ok(Self::of(0))
    }

    fn visit_unit<E>(self) -> Result<Count, E> {
        Ok(Self::of(0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::of(0))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::of(0))
    }
}

/// Where a member's value goes.
enum Slot<'a> {
    Count(&'a mut Count),
    Details(&'a mut Details),
}

/// An object read member by member: each member's name is offered to [`Object::slot`].
trait Object: Default {
    /// Where the member `name` is kept, `None` for members not read.
    fn slot(&mut self, name: &str) -> Option<Slot<'_>>;
}

impl Object for Members {
    fn slot(&mut self, name: &str) -> Option<Slot<'_>> {
        Some(match name {
            "input_tokens" => Slot::Count(&mut self.input_tokens),
            "prompt_tokens" => Slot::Count(&mut self.prompt_tokens),
            "output_tokens" => Slot::Count(&mut self.output_tokens),
            "completion_tokens" => Slot::Count(&mut self.completion_tokens),
            "cache_read_input_tokens" => Slot::Count(&mut self.cache_read_input_tokens),
            "cache_creation_input_tokens" => Slot::Count(&mut self.cache_creation_input_tokens),
            "promptTokenCount" => Slot::Count(&mut self.prompt_token_count),
            "toolUsePromptTokenCount" => Slot::Count(&mut self.tool_use_prompt_token_count),
            "cachedContentTokenCount" => Slot::Count(&mut self.cached_content_token_count),
            "candidatesTokenCount" => Slot::Count(&mut self.candidates_token_count),
            "thoughtsTokenCount" => Slot::Count(&mut self.thoughts_token_count),
            "input_tokens_details" => Slot::Details(&mut self.input_tokens_details),
            "prompt_tokens_details" => Slot::Details(&mut self.prompt_tokens_details),
            "output_tokens_details" => Slot::Details(&mut self.output_tokens_details),
            "completion_tokens_details" => Slot::Details(&mut self.completion_tokens_details),
            _ => return None,
        })
    }
}

impl Object for Details {
    fn slot(&mut self, name: &str) -> Option<Slot<'_>> {
        Some(match name {
            "cached_tokens" => Slot::Count(&mut self.cached_tokens),
            "reasoning_tokens" => Slot::Count(&mut self.reasoning_tokens),
            _ => return None,
        })
    }
}

/// Reads any JSON value as `T`: an object member by member (a repeated member overwrites the
/// earlier one, as in a JSON object), anything else as `T::default()` (nothing present).
struct Loose<T>(std::marker::PhantomData<T>);

impl<'de, T: Object> Visitor<'de> for Loose<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a usage object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut object = T::default();
        while let Some(Name(name)) = map.next_key::<Name<'de>>()? {
            match object.slot(&name) {
                Some(Slot::Count(count)) => *count = map.next_value()?,
                Some(Slot::Details(details)) => *details = map.next_value()?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }

    fn visit_u64<E>(self, _: u64) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_i64<E>(self, _: i64) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_str<E>(self, _: &str) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }
}

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Loose(std::marker::PhantomData))
    }
}

impl<'de> serde::Deserialize<'de> for Details {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Loose(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::{Value, json};

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
    #[case::null_primary_spelling_is_present(
        Protocol::Chat,
        json!({"input_tokens": null, "prompt_tokens": 9, "completion_tokens": 2}),
        usage(0, 0, 0, 2, 0)
    )]
    #[case::details_that_are_not_objects_are_absent(
        Protocol::Responses,
        json!({"input_tokens": 4, "input_tokens_details": [1], "prompt_tokens_details": {"cached_tokens": 3},
               "output_tokens_details": "x", "completion_tokens_details": {"reasoning_tokens": 2}}),
        usage(4, 3, 0, 0, 2)
    )]
    #[case::junk_counts_and_deep_values_are_skipped(
        Protocol::Messages,
        json!({"input_tokens": {"a": [1, {"b": 2}]}, "output_tokens": [3], "server_tool_use": {"web_search_requests": 1},
               "cache_read_input_tokens": true, "cache_creation_input_tokens": 1e300}),
        usage(u64::MAX, 0, u64::MAX, 0, 0)
    )]
    fn normalise_table(
        #[case] protocol: Protocol,
        #[case] raw: Value,
        #[case] expected: TokenUsage,
    ) {
        let raw = raw.to_string();
        assert_eq!(normalise(protocol, &raw), expected);
        let followed = format!("{raw} ,\"next\":1}}");
        let leading = raw.starts_with('{').then_some((expected, raw.len()));
        assert_eq!(
            normalise_leading(protocol, &followed),
            leading,
            "an object is read in one pass where more text follows"
        );
    }

    /// Text only a raw reading sees: a repeated member (the last one counts, as when the
    /// object was a map) and an escaped member name.
    #[test]
    fn repeated_and_escaped_member_names() {
        let raw = r#"{"prompt_tokens": 1, "prompt_tokens": 7, "completion_\u0074okens": 5}"#;
        assert_eq!(normalise(Protocol::Chat, raw), usage(7, 0, 0, 5, 0));
    }
}
