//! [`RawUsage`]: an upstream's usage object kept as the JSON text that arrived. It is stored
//! and served as that text, so the hot path never builds (or re-serialises) a JSON map for it.

use serde::ser::Error as _;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// An upstream usage object, verbatim: key order, numbers and members as the upstream wrote
/// them. Always one JSON value (every constructor has it parsed). Equal when the texts are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUsage(Box<str>);

impl RawUsage {
    /// Keeps `raw` (a value already parsed as JSON).
    pub fn new(raw: &RawValue) -> Self {
        Self(raw.get().into())
    }

    /// Keeps `text`, which the caller has just parsed whole as one JSON value (the hot path
    /// reads the counts and keeps the text in one pass).
    pub(crate) fn parsed(text: &str) -> Self {
        Self(text.into())
    }

    /// Checks that `text` is one JSON value and keeps it.
    ///
    /// # Errors
    /// serde_json's error when it is not.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        let raw = serde_json::from_str::<&RawValue>(&text)?;
        // the value without the blanks around it, as `RawValue` keeps it
        Ok(if raw.get().len() == text.len() {
            Self(text.into_boxed_str())
        } else {
            Self(raw.get().into())
        })
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        &self.0
    }
}

impl Serialize for RawUsage {
    /// Embedded as the JSON it is, not as a string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::from_str::<&RawValue>(&self.0)
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}

impl From<&serde_json::Value> for RawUsage {
    /// The compact text of `value` (tests, and usage merged from several events).
    fn from(value: &serde_json::Value) -> Self {
        // writing a `Value` cannot fail: it holds only JSON
        Self(serde_json::to_string(value).map_or_else(|_| "null".into(), String::into_boxed_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_and_served_as_the_text_that_arrived() {
        let text = r#"{"prompt_tokens": 12,"details":{"b":1,"a":2}}"#;
        let raw = RawUsage::from_text(text.to_owned()).expect("json");
        assert_eq!(raw.text(), text);
        assert_eq!(
            serde_json::to_string(&[&raw]).expect("serialise"),
            format!("[{text}]"),
            "embedded as is"
        );
        assert!(RawUsage::from_text("{\"a\":".to_owned()).is_err());
        assert!(RawUsage::from_text("1 2".to_owned()).is_err());
        assert_eq!(
            RawUsage::from_text(" {} \n".to_owned())
                .expect("json")
                .text(),
            "{}"
        );
    }

    #[test]
    fn from_a_value_is_compact_json_in_key_order() {
        let value = serde_json::json!({"z": 1, "a": [true, null]});
        assert_eq!(RawUsage::from(&value).text(), r#"{"z":1,"a":[true,null]}"#);
    }
}
