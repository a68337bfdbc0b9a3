//! Cheap byte-level prefilters that decide whether a stream event is worth a JSON parse.
//!
//! They rely on one property of JSON: a `"` inside a string is always escaped, so the bytes
//! `"usage"` followed by optional whitespace and `:` can only be a key, never text inside a
//! string (model output, tool arguments). A hit may still be a nested key; that only costs a
//! parse, which then reads the real structure. A miss is exact.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// A quoted JSON key (quotes included) with its prebuilt SIMD finder.
pub(crate) type Key = LazyLock<Finder<'static>>;

/// Whether `json` has `key` with a value `accept` allows; it sees the value's bytes from its
/// first (non-blank) byte to the end of `json`.
fn has_value(json: &[u8], key: &Key, accept: impl Fn(&[u8]) -> bool) -> bool {
    let finder: &Finder<'static> = key;
    let needle = finder.needle().len();
    let mut from = 0;
    while let Some(found) = finder.find(&json[from..]) {
        let after = from + found + needle;
        if let Some(value) = value_at(json, after)
            && accept(value)
        {
            return true;
        }
        from = after;
    }
    false
}

/// Whether `json` has `key` with an object value (`"usage": {`).
pub(crate) fn has_object(json: &[u8], key: &Key) -> bool {
    has_value(json, key, |value| value[0] == b'{')
}

/// Whether `json` has `key` with any value but `null`.
pub(crate) fn has_non_null(json: &[u8], key: &Key) -> bool {
    has_value(json, key, |value| value[0] != b'n')
}

/// Whether `json` has `key` with an empty array value (`"choices": []`).
pub(crate) fn has_empty_array(json: &[u8], key: &Key) -> bool {
    has_value(json, key, |value| {
        value[0] == b'[' && first_non_blank(&value[1..]).is_some_and(|i| value[1 + i] == b']')
    })
}

/// The value after a key ending at `at` (from its first byte on), if a `:` follows the key
/// and a value starts after it.
fn value_at(json: &[u8], at: usize) -> Option<&[u8]> {
    json.get(value_start(json, at)?..)
        .filter(|value| !value.is_empty())
}

/// Where the value after a key ending at `after` starts (the end of `json` when nothing
/// follows the colon), if a `:` follows the key.
pub(crate) fn value_start(json: &[u8], after: usize) -> Option<usize> {
    let colon = after
        + json
            .get(after..)?
            .iter()
            .take_while(|&&b| is_blank(b))
            .count();
    if json.get(colon) != Some(&b':') {
        return None;
    }
    let value = colon + 1;
    Some(value + json[value..].iter().take_while(|&&b| is_blank(b)).count())
}

/// Where the first byte that is not JSON whitespace is.
fn first_non_blank(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| !is_blank(b))
}

/// Whether `byte` is JSON whitespace (space, tab, line feed, carriage return; not form feed).
fn is_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

pub(crate) static USAGE: Key = LazyLock::new(|| Finder::new(b"\"usage\""));
pub(crate) static CHOICES: Key = LazyLock::new(|| Finder::new(b"\"choices\""));
pub(crate) static MODEL: Key = LazyLock::new(|| Finder::new(b"\"model\""));
pub(crate) static ERROR: Key = LazyLock::new(|| Finder::new(b"\"error\""));
pub(crate) static USAGE_METADATA: Key = LazyLock::new(|| Finder::new(b"\"usageMetadata\""));
pub(crate) static FINISH_REASON: Key = LazyLock::new(|| Finder::new(b"\"finishReason\""));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_with_object_values_only() {
        assert!(has_object(br#"{"a":1,"usage":{"x":1}}"#, &USAGE));
        assert!(has_object(b"{\"usage\" :\n {}}", &USAGE));
        assert!(!has_object(br#"{"usage":null}"#, &USAGE));
        assert!(!has_object(br#"{"usage": 5}"#, &USAGE));
        // inside a string the quotes are escaped, so this is text, not a key
        assert!(!has_object(
            br#"{"content":"the \"usage\": {x} word"}"#,
            &USAGE
        ));
        // a value "usage" is never followed by a colon
        assert!(!has_object(br#"{"kind":"usage","usage":null}"#, &USAGE));
        // a later real key is still found after a false start
        assert!(has_object(br#"{"kind":"usage","usage":{}}"#, &USAGE));
    }

    #[test]
    fn empty_arrays_are_told_from_full_ones() {
        assert!(has_empty_array(br#"{"choices":[],"usage":{}}"#, &CHOICES));
        assert!(has_empty_array(b"{\"choices\" : [ \n ]}", &CHOICES));
        assert!(!has_empty_array(br#"{"choices":[{"index":0}]}"#, &CHOICES));
        assert!(!has_empty_array(br#"{"choices":null}"#, &CHOICES));
        assert!(!has_empty_array(br#"{"text":"\"choices\":[]"}"#, &CHOICES));
    }

    #[test]
    fn non_null_accepts_any_value_but_null() {
        assert!(has_non_null(br#"{"finishReason": "STOP"}"#, &FINISH_REASON));
        assert!(!has_non_null(br#"{"finishReason":null}"#, &FINISH_REASON));
        assert!(!has_non_null(br#"{"finishReason""#, &FINISH_REASON));
        assert!(!has_non_null(br#"{"finishReason":"#, &FINISH_REASON));
    }
}
