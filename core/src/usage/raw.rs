//! [`RawUsage`]: an upstream's usage object kept as the JSON text that arrived. It is stored
//! and served as that text, so the hot path never builds (or re-serialises) a JSON map for it.

use serde::Serialize;
use serde_json::value::RawValue;

/// An upstream usage object, verbatim: key order, numbers and members as the upstream wrote
/// them. Equal when the texts are equal.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct RawUsage(Box<RawValue>);

impl RawUsage {
    /// Keeps `raw` (a value already parsed as JSON).
    pub fn new(raw: &RawValue) -> Self {
        Self(raw.to_owned())
    }

    /// Checks that `text` is one JSON value and keeps it.
    ///
    /// # Errors
    /// serde_json's error when it is not.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(Self)
    }

    /// The value as a [`RawValue`], for reading it.
    pub fn raw(&self) -> &RawValue {
        &self.0
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawUsage {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl From<&serde_json::Value> for RawUsage {
    /// The compact text of `value` (tests, and usage merged from several events).
    fn from(value: &serde_json::Value) -> Self {
        // writing a `Value` cannot fail: it holds only JSON
        serde_json::value::to_raw_value(value).map_or_else(|_| Self::new(RawValue::NULL), Self)
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
    }

    #[test]
    fn from_a_value_is_compact_json_in_key_order() {
        let value = serde_json::json!({"z": 1, "a": [true, null]});
        assert_eq!(RawUsage::from(&value).text(), r#"{"z":1,"a":[true,null]}"#);
    }
}
