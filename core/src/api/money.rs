//! Money and price input: decimal strings (`"0.012345"`), also accepting JSON numbers, which are
//! read through their shortest decimal text so `0.1` stays exactly `0.1`.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

/// Most decimal places kept for money and prices.
pub const MAX_SCALE: u32 = 12;

/// An exact decimal amount from a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money(pub Decimal);

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match &value {
            serde_json::Value::String(s) => s.trim().to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => {
                return Err(serde::de::Error::custom(
                    "expected a decimal string such as \"1.25\"",
                ));
            }
        };
        let decimal = Decimal::from_str_exact(&text)
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a decimal number")))?;
        if decimal.scale() > MAX_SCALE {
            return Err(serde::de::Error::custom(format!(
                "at most {MAX_SCALE} decimal places"
            )));
        }
        Ok(Self(decimal.normalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers_parse_exactly() {
        let m: Money = serde_json::from_str("\"0.012345\"").expect("string");
        assert_eq!(m.0.to_string(), "0.012345");
        let m: Money = serde_json::from_str("0.1").expect("number");
        assert_eq!(m.0.to_string(), "0.1");
        assert!(serde_json::from_str::<Money>("\"abc\"").is_err());
        assert!(serde_json::from_str::<Money>("true").is_err());
        assert!(serde_json::from_str::<Money>("\"0.0000000000001\"").is_err());
    }
}
