//! The cost of one call: per-model prices × normalised tokens × the request's multiplier, in exact
//! decimals. Pure and total (never panics, never floats); where prices come from and which
//! multiplier applies (payment × channel group) is decided by the caller.

use rust_decimal::{Decimal, RoundingStrategy};

use super::TokenUsage;

/// Decimal places a cost is rounded to: far below a cent, so sums of millions of tiny calls stay
/// exact to well under a cent, and within `Decimal`'s 28 digits for any realistic total.
pub const COST_DECIMAL_PLACES: u32 = 10;

/// Prices are quoted per this many tokens.
const TOKENS_PER_PRICE_UNIT: u32 = 1_000_000;

/// A model's prices in USD per one million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prices {
    /// Plain (uncached) prompt tokens.
    pub input_usd_per_1m: Decimal,
    /// All output tokens, reasoning included.
    pub output_usd_per_1m: Decimal,
    /// Prompt tokens read from the upstream's cache.
    pub cached_input_usd_per_1m: Decimal,
    /// Prompt tokens written to the upstream's cache (Anthropic cache creation).
    pub cache_write_usd_per_1m: Decimal,
}

/// The cost in USD of `usage` at `prices`, times `multiplier`.
///
/// Each prompt token is billed once, at exactly one price: uncached input at the input price,
/// cache reads at the cached price, cache writes at the cache-write price (the seed billed them at
/// the cache-read price). Reasoning is part of `output_tokens` and so billed once, as output.
/// The result is rounded to [`COST_DECIMAL_PLACES`] with banker's rounding (midpoint to even).
/// An arithmetic overflow, which only absurd inputs can cause, saturates at `Decimal::MAX`
/// rather than making the call free.
pub fn cost(usage: &TokenUsage, prices: &Prices, multiplier: Decimal) -> Decimal {
    let parts = [
        (usage.uncached_input_tokens(), prices.input_usd_per_1m),
        (usage.cached_input_tokens, prices.cached_input_usd_per_1m),
        (usage.cache_write_tokens, prices.cache_write_usd_per_1m),
        (usage.output_tokens, prices.output_usd_per_1m),
    ];
    let total = parts
        .iter()
        .try_fold(Decimal::ZERO, |sum, &(tokens, price)| {
            Decimal::from(tokens)
                .checked_mul(price)
                .and_then(|part| sum.checked_add(part))
        });
    let Some(scaled) = total
        .and_then(|sum| sum.checked_mul(multiplier))
        .and_then(|sum| sum.checked_div(Decimal::from(TOKENS_PER_PRICE_UNIT)))
    else {
        return Decimal::MAX;
    };
    scaled.round_dp_with_strategy(COST_DECIMAL_PLACES, RoundingStrategy::MidpointNearestEven)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use rstest::rstest;

    use super::*;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).expect("decimal literal")
    }

    /// Anthropic Sonnet-like prices: cache reads at 0.1×, cache writes at 1.25× the input price.
    fn sonnet() -> Prices {
        Prices {
            input_usd_per_1m: d("3"),
            output_usd_per_1m: d("15"),
            cached_input_usd_per_1m: d("0.30"),
            cache_write_usd_per_1m: d("3.75"),
        }
    }

    /// OpenAI-like prices with no cache-write price (OpenAI does not charge for cache writes).
    fn gpt() -> Prices {
        Prices {
            input_usd_per_1m: d("1.25"),
            output_usd_per_1m: d("10"),
            cached_input_usd_per_1m: d("0.125"),
            cache_write_usd_per_1m: Decimal::ZERO,
        }
    }

    fn tokens(input: u64, cached: u64, write: u64, output: u64, reasoning: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            cached_input_tokens: cached,
            cache_write_tokens: write,
            output_tokens: output,
            reasoning_tokens: reasoning,
        }
    }

    #[rstest]
    #[case::nothing_used(tokens(0, 0, 0, 0, 0), sonnet(), "1", "0")]
    #[case::plain_input_and_output(tokens(1_000, 0, 0, 500, 0), sonnet(), "1", "0.0105")]
    // 200 uncached × 3 + 800 read × 0.30 = 600 + 240 → 0.00084
    #[case::cache_read_at_cached_price(tokens(1_000, 800, 0, 0, 0), sonnet(), "1", "0.00084")]
    // 1 000 written × 3.75 (not 0.30, the seed's bug) → 0.00375
    #[case::anthropic_cache_write_at_write_price(
        tokens(1_000, 0, 1_000, 0, 0),
        sonnet(),
        "1",
        "0.00375"
    )]
    // 100 × 3 + 2 000 × 0.30 + 3 000 × 3.75 + 50 × 15 = 300 + 600 + 11 250 + 750
    #[case::anthropic_read_write_and_plain(
        tokens(5_100, 2_000, 3_000, 50, 0),
        sonnet(),
        "1",
        "0.0129"
    )]
    // 1 000 output of which 800 reasoning: 1 000 × 10 once, not 1 800 × 10
    #[case::reasoning_billed_once_as_output(tokens(0, 0, 0, 1_000, 800), gpt(), "1", "0.01")]
    #[case::multiplier_applies_to_the_total(
        tokens(1_000, 0, 0, 500, 0),
        sonnet(),
        "1.5",
        "0.01575"
    )]
    #[case::zero_multiplier_is_free(tokens(1_000, 0, 0, 500, 0), sonnet(), "0", "0")]
    // 1 cached × 0.125 / 1e6 = 0.000000125, exact at 10 places
    #[case::tiny_cached_cost_is_exact(tokens(1, 1, 0, 0, 0), gpt(), "1", "0.000000125")]
    // 1 × 0.00005 / 1e6 = 0.5e-10: the midpoint rounds to the even 0; 3 × … = 1.5e-10 → 2e-10
    #[case::bankers_rounding_midpoint_to_even(
        tokens(1, 0, 0, 0, 0),
        Prices { input_usd_per_1m: d("0.00005"), ..Prices::default() },
        "1",
        "0"
    )]
    #[case::bankers_rounding_midpoint_to_even_up(
        tokens(3, 0, 0, 0, 0),
        Prices { input_usd_per_1m: d("0.00005"), ..Prices::default() },
        "1",
        "0.0000000002"
    )]
    // cache counts larger than the prompt: uncached saturates at 0 instead of going negative
    #[case::inconsistent_cache_counts_saturate(tokens(10, 50, 0, 0, 0), gpt(), "1", "0.00000625")]
    fn cost_table(
        #[case] usage: TokenUsage,
        #[case] prices: Prices,
        #[case] multiplier: &str,
        #[case] expected: &str,
    ) {
        assert_eq!(cost(&usage, &prices, d(multiplier)), d(expected));
    }

    #[test]
    fn result_never_has_more_than_ten_places() {
        let prices = Prices {
            input_usd_per_1m: d("0.333333333333"),
            ..Prices::default()
        };
        let result = cost(&tokens(7, 0, 0, 0, 0), &prices, d("1.1"));
        assert_eq!(result.scale(), COST_DECIMAL_PLACES);
        assert_eq!(result, d("0.0000025667"));
    }

    #[test]
    fn overflow_saturates_instead_of_panicking() {
        let prices = Prices {
            output_usd_per_1m: Decimal::MAX,
            ..Prices::default()
        };
        let result = cost(&tokens(0, 0, 0, u64::MAX, 0), &prices, d("1"));
        assert_eq!(result, Decimal::MAX);
    }
}
