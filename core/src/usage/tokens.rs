//! `TokenUsage`: the token counts of one call, normalised across protocols as `spec/API.md`
//! defines them for a usage event. How each upstream's usage object maps onto it lives in
//! `relay::protocol::normalise`; this file only holds the shape and its invariants.

use serde::{Deserialize, Serialize};

/// Token counts of one call, the same meaning whatever protocol served it.
///
/// The parts overlap on purpose, exactly as the usage event reports them:
/// `cached_input_tokens` and `cache_write_tokens` are parts of `input_tokens`, and
/// `reasoning_tokens` is a part of `output_tokens`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TokenUsage {
    /// The whole prompt, cache reads and cache writes included.
    pub input_tokens: u64,
    /// The part of the prompt read from the upstream's prompt cache.
    pub cached_input_tokens: u64,
    /// The part of the prompt written to the upstream's prompt cache (Anthropic cache creation).
    pub cache_write_tokens: u64,
    /// All output, reasoning included.
    pub output_tokens: u64,
    /// The reasoning (thinking) part of the output.
    pub reasoning_tokens: u64,
}

impl TokenUsage {
    /// Whether any tokens were reported (an answer still `queued` reports none).
    pub fn is_reported(&self) -> bool {
        self.input_tokens + self.output_tokens > 0
    }

    /// The prompt tokens that were neither read from nor written to a cache, billed at the plain
    /// input price. Saturates at zero so an upstream that reports inconsistent parts (cache
    /// counts larger than the prompt) is never billed a negative amount.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cached_input_tokens)
            .saturating_sub(self.cache_write_tokens)
    }

    /// Whether every count is zero (an answer that reported no usage at all looks like this).
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncached_input_subtracts_both_cache_parts_and_saturates() {
        let usage = TokenUsage {
            input_tokens: 1000,
            cached_input_tokens: 600,
            cache_write_tokens: 300,
            ..TokenUsage::default()
        };
        assert_eq!(usage.uncached_input_tokens(), 100);

        let inconsistent = TokenUsage {
            input_tokens: 10,
            cached_input_tokens: 50,
            ..usage
        };
        assert_eq!(inconsistent.uncached_input_tokens(), 0);
    }

    #[test]
    fn is_zero_only_for_the_default() {
        assert!(TokenUsage::default().is_zero());
        assert!(
            !TokenUsage {
                reasoning_tokens: 1,
                ..TokenUsage::default()
            }
            .is_zero()
        );
    }
}
