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

/// Whether `json` has `key` with a value starting with a byte `accept` allows.
fn has_value(json: &[u8], key: &Key, accept: impl Fn(u8) -> bool) -> bool {
    let finder: &Finder<'static> = key;
    let needle = finder.needle().len();
    let mut from = 0;
    while let Some(found) = finder.find(&json[from..]) {
        let after = from + found + needle;
        if let Some(first) = value_start(json, after)
            && accept(first)
        {
            return true;
        }
        from = after;
    }
    false
}

/// Whether `json` has `key` with an object value (`"usage": {`).
pub(crate) fn has_object(json: &[u8], key: &Key) -> bool {
    has_value(json, key, |b| b == b'{')
}

/// Whether `json` has `key` with any value but `null`.
pub(crate) fn has_non_null(json: &[u8], key: &Key) -> bool {
    has_value(json, key, |b| b != b'n')
}

/// Whether `json` has `key` with an empty array value (`"choices": []`).
pub(crate) fn has_empty_array(json: &[u8], key: &Key) -> bool {
    let finder: &Finder<'static> = key;
    let needle = finder.needle().len();
    let mut from = 0;
    while let Some(found) = finder.find(&json[from..]) {
        let after = from + found + needle;
        if value_start(json, after) == Some(b'[') {
            let opened = json[after..]
                .iter()
                .position(|&b| b == b'[')
                .map(|i| after + i + 1);
            let closes_at_once = opened.and_then(|open| {
                json[open..]
                    .iter()
                    .copied()
                    .find(|b| !b.is_ascii_whitespace())
            }) == Some(b']');
            if closes_at_once {
                return true;
            }
        }
        from = after;
    }
    false
}

/// The first byte of the value after a key ending at `at`, if a `:` follows the key.
fn value_start(json: &[u8], at: usize) -> Option<u8> {
    let mut rest = json
        .get(at..)?
        .iter()
        .copied()
        .skip_while(u8::is_ascii_whitespace);
    if rest.next()? != b':' {
        return None;
    }
    rest.find(|b| !b.is_ascii_whitespace())
}

pub(crate) static USAGE: Key = LazyLock::new(|| Finder::new(b"\"usage\""));
pub(crate) static CHOICES: Key = LazyLock::new(|| Finder::new(b"\"choices\""));
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
