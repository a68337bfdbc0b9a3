//! The numbers and text the default answers carry, so tests know what to expect, and how each
//! protocol spells a token count. Nothing here does I/O; the protocol modules render these values.

use serde_json::{Value, json};

/// Model echoed when a request names none (Gemini always names one in its path).
pub const DEFAULT_MODEL: &str = "fake-model";

/// Text of every default answer; streams send it split into words (see [`split_deltas`]).
pub const DEFAULT_TEXT: &str = "Hello from the fake upstream.";

/// `created`/`created_at` of every default answer. Fixed so that identical requests get
/// byte-identical answers, which lets the benchmark path serve pre-rendered bytes.
pub const FAKE_CREATED: i64 = 1_750_000_000;

/// Token counts reported by every default answer.
pub const DEFAULT_USAGE: Usage = Usage {
    input: 120,
    cached: 32,
    cache_creation: 8,
    output: 48,
    reasoning: 16,
};

/// What the token-counting endpoints answer (`input_tokens`, `totalTokens`): the default input.
pub const COUNT_TOKENS: u64 = DEFAULT_USAGE.input;

/// Length of the default embedding vectors when the request asks for no `dimensions`.
pub const EMBEDDING_DIMENSIONS: usize = 8;

/// Token counts in one protocol-neutral form; each protocol renders them its own way.
///
/// `input` counts every prompt token, cached or not (as OpenAI's `input_tokens`/`prompt_tokens`
/// and Gemini's `promptTokenCount` do); `cached` and `cache_creation` are parts of it. `output`
/// counts every generated token; `reasoning` is part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// All prompt tokens, cached ones included.
    pub input: u64,
    /// Prompt tokens read from the prompt cache (OpenAI `cached_tokens`, Anthropic
    /// `cache_read_input_tokens`, Gemini `cachedContentTokenCount`).
    pub cached: u64,
    /// Prompt tokens written to the prompt cache (Anthropic `cache_creation_input_tokens` only).
    pub cache_creation: u64,
    /// All generated tokens, reasoning included.
    pub output: u64,
    /// Generated tokens spent on reasoning (OpenAI `reasoning_tokens`, Gemini
    /// `thoughtsTokenCount`; Anthropic folds them into `output_tokens`).
    pub reasoning: u64,
}

impl Default for Usage {
    fn default() -> Self {
        DEFAULT_USAGE
    }
}

impl Usage {
    /// `input + output`, the `total_tokens`/`totalTokenCount` every protocol reports.
    pub const fn total(&self) -> u64 {
        self.input + self.output
    }

    /// Anthropic's `input_tokens`: only the prompt tokens that neither hit nor filled the cache.
    pub const fn anthropic_input(&self) -> u64 {
        self.input
            .saturating_sub(self.cached)
            .saturating_sub(self.cache_creation)
    }

    /// Gemini's `candidatesTokenCount`, which excludes the thoughts.
    pub const fn gemini_candidates(&self) -> u64 {
        self.output.saturating_sub(self.reasoning)
    }

    /// The Responses API `usage` object.
    pub fn responses_json(&self) -> Value {
        json!({
            "input_tokens": self.input,
            "input_tokens_details": { "cached_tokens": self.cached },
            "output_tokens": self.output,
            "output_tokens_details": { "reasoning_tokens": self.reasoning },
            "total_tokens": self.total(),
        })
    }

    /// The Chat Completions `usage` object.
    pub fn chat_json(&self) -> Value {
        json!({
            "prompt_tokens": self.input,
            "completion_tokens": self.output,
            "total_tokens": self.total(),
            "prompt_tokens_details": { "cached_tokens": self.cached, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        })
    }

    /// The Anthropic Messages `usage` object of a finished message.
    pub fn anthropic_json(&self) -> Value {
        json!({
            "input_tokens": self.anthropic_input(),
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cached,
            "output_tokens": self.output,
            "service_tier": "standard",
        })
    }

    /// The Gemini `usageMetadata` object.
    pub fn gemini_json(&self) -> Value {
        json!({
            "promptTokenCount": self.input,
            "candidatesTokenCount": self.gemini_candidates(),
            "totalTokenCount": self.total(),
            "cachedContentTokenCount": self.cached,
            "thoughtsTokenCount": self.reasoning,
            "promptTokensDetails": [{ "modality": "TEXT", "tokenCount": self.input }],
        })
    }
}

/// Splits a text into the deltas a stream sends: one word each, a space leading every word but
/// the first, so that concatenating the deltas gives the text back exactly.
pub fn split_deltas(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c == ' ' && !current.is_empty() && !current.ends_with(' ') {
            out.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `n` deltas for the benchmark knob `events=n`: the default text's words, cycled (each
/// repeat of the first word gets its leading space, so the text still reads as words).
pub(crate) fn bench_deltas(n: usize) -> Vec<String> {
    let words = split_deltas(DEFAULT_TEXT);
    (0..n)
        .zip(words.iter().cycle())
        .map(|(i, w)| {
            if i > 0 && !w.starts_with(' ') {
                format!(" {w}")
            } else {
                w.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_concatenate_to_the_text() {
        let deltas = split_deltas(DEFAULT_TEXT);
        assert_eq!(deltas, ["Hello", " from", " the", " fake", " upstream."]);
        assert_eq!(deltas.concat(), DEFAULT_TEXT);
        assert_eq!(split_deltas("  a  b"), ["  a", "  b"]);
    }

    #[test]
    fn bench_deltas_has_the_asked_count() {
        let d = bench_deltas(12);
        assert_eq!(d.len(), 12);
        assert_eq!(d[5], " Hello");
        assert!(bench_deltas(0).is_empty());
    }

    #[test]
    fn anthropic_input_excludes_cache() {
        assert_eq!(DEFAULT_USAGE.anthropic_input(), 80);
        assert_eq!(DEFAULT_USAGE.gemini_candidates(), 32);
        assert_eq!(DEFAULT_USAGE.total(), 168);
    }
}
