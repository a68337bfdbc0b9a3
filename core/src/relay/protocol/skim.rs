//! Reading a few top-level members of a whole JSON answer without walking the rest of it.
//!
//! A Chat completion or an embeddings list puts `usage` after `choices` or `data`, which is most
//! of the answer (megabytes of floats for embeddings); a full parse spends nearly all its time
//! skipping them. Here the member is found by a byte search, and the text from it to the end is
//! parsed as an object of its own (`{` + that text). That parse succeeding is the proof: the
//! text then closes exactly one object and ends the document, so the member belongs to the
//! outermost object. Any doubt (the key is not found, is escaped, or the parse fails) gives
//! `None`, and the caller parses the whole answer as before.
//!
//! Like the prefilters in `scan`, this relies on a `"` inside a JSON string always being
//! escaped: the bytes `"usage"` with an unescaped first quote are a string token `usage`, so
//! nothing a model writes (always inside strings) can pose as a member. Two things are assumed
//! of the upstream's encoder rather than checked, as every JSON encoder in use does them: key
//! names are written as plain text (not `"\u0075sage"`), and the answer is well-formed before
//! its `usage` too (that text is what is not walked; an answer broken there has its usage
//! recorded where a whole parse would have recorded none).

use std::borrow::Cow;

use memchr::memmem::Finder;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::normalise::normalise_leading;
use super::scan::{ERROR, Key, MODEL, USAGE, value_start};
use super::{Observed, Protocol};
use crate::usage::RawUsage;

/// Bytes searched first, from the end of an answer, for its last `usage` or `model`; each
/// further window back is twice as large as the one before. The forward finder is vectorised
/// and the reverse one is not (about six instructions a byte), and both members sit near the
/// end of an answer.
const TAIL_WINDOW: usize = 512;

/// Every place `key` starts in `hay`, the last first, overlapping ones included (`"usage"` and
/// `"model"` may share a quote with a copy of themselves): the forward finder run over windows
/// from the end back, each window's matches gathered in order and handed out from its last.
/// A match across a window's start is in the next window, which overlaps it by the key's
/// length less one byte. Each byte is searched once, each match visited once.
fn matches_from_the_end<'h>(hay: &'h [u8], key: &'static Key) -> impl Iterator<Item = usize> + 'h {
    let finder: &'static Finder<'static> = key;
    let overlap = finder.needle().len().saturating_sub(1);
    let mut end = hay.len();
    let mut window = TAIL_WINDOW;
    let mut searched_all = false;
    let mut window_matches: Vec<usize> = Vec::new();
    std::iter::from_fn(move || {
        loop {
            if let Some(at) = window_matches.pop() {
                return Some(at);
            }
            if searched_all {
                return None;
            }
            let start = end.saturating_sub(window);
            let mut from = start;
            while let Some(at) = hay.get(from..end).and_then(|rest| finder.find(rest)) {
                window_matches.push(from + at);
                from += at + 1;
            }
            searched_all = start == 0;
            end = start + overlap;
            window = window.saturating_mul(2);
        }
    })
}

/// Whether the `"` at `at` is a real quote: not preceded by an odd run of backslashes.
fn unescaped(json: &[u8], at: usize) -> bool {
    json[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
}

/// The last member named by `key` that starts in `body[from..]`: where its quoted key and
/// where its value start. It is the last occurrence of the quoted key that is a real key
/// (unescaped, judged on the whole of `body`; a colon after it); whether it is a member of the
/// outermost object is for a parse of [`reopened`] text to prove.
pub(crate) fn last_member(body: &[u8], from: usize, key: &'static Key) -> Option<(usize, usize)> {
    let needle = key.needle().len();
    matches_from_the_end(body.get(from..)?, key)
        .map(|at| from + at)
        .find_map(|at| {
            unescaped(body, at)
                .then(|| value_start(body, at + needle))
                .flatten()
                .map(|value| (at, value))
        })
}

/// `members`, text that runs from one member's key to the next member's key of the same
/// object, closed as an object: `{` + `members` + `"":0}`. It parses only when `members` is
/// whole members each followed by a comma, so the first of them is in the same object as the
/// member after them.
pub(crate) fn enclosed(members: &str) -> String {
    const CLOSING: &str = r#""":0}"#;
    let mut text = String::with_capacity(1 + members.len() + CLOSING.len());
    text.push('{');
    text.push_str(members);
    text.push_str(CLOSING);
    text
}

/// `rest`, the text after a member's value, re-opened as an object: `{"":null` + `rest`
/// (`null`, which no text can continue: after a number, `rest` = `.5}` would parse). It
/// parses only when `rest` is the remaining members of the object the member is in, its `}`,
/// and the end of the document: then that object is the outermost one.
pub(crate) fn reopened(rest: &str) -> String {
    const OPENING: &str = r#"{"":null"#;
    let mut text = String::with_capacity(OPENING.len() + rest.len());
    text.push_str(OPENING);
    text.push_str(rest);
    text
}

/// The text of the object `body` up to the end of the value of the first member named by
/// `key`, closed: `{"id":"x","object":"chat.completion","model":"gpt-4o"}`. Only a parse of
/// the result proves the member is top-level (one more `}` closes exactly one object).
pub(crate) fn head_through(body: &str, key: &Key) -> Option<String> {
    let bytes = body.as_bytes();
    let needle = key.needle().len();
    let mut from = 0;
    loop {
        let at = from + key.find(&bytes[from..])?;
        if unescaped(bytes, at)
            && let Some(value) = value_start(bytes, at + needle)
        {
            let mut values =
                serde_json::Deserializer::from_str(body.get(value..)?).into_iter::<IgnoredAny>();
            values.next()?.ok()?;
            let end = value + values.byte_offset();
            let mut head = String::with_capacity(end + 1);
            head.push_str(body.get(..end)?);
            head.push('}');
            return Some(head);
        }
        from = at + needle;
    }
}

/// Reads a whole answer of `protocol` (a Chat completion, an embeddings list, an Anthropic
/// message) from its ends: `usage` (and `model`, when it follows) from its end and, if `model`
/// comes first, `model` from its head; never `choices`, `data` or `content`. The usage object
/// is read once, for its counts and its text together. `None` when the answer holds the bytes
/// `"error"` anywhere (an error member must be read where it is), when `usage` is not an
/// object, or when either end does not prove to be top-level.
pub(crate) fn answer(protocol: Protocol, body: &[u8]) -> Option<Observed> {
    if ERROR.find(body).is_some() {
        return None;
    }
    // validated once as a whole: the parses below then take its strings as they are
    let text = std::str::from_utf8(body).ok()?;
    let (usage_key, start) = last_member(body, 0, &USAGE)?;
    let (usage, length) = normalise_leading(protocol, text.get(start..)?)?;
    let end = start + length;
    let rest = reopened(text.get(end..)?);
    let rest = serde_json::from_str::<Ends<'_>>(&rest).ok()?;
    let mut observed = Observed::default();
    match rest.model {
        Some(model) => observed.note_model(Some(model)),
        None => observed.note_model(model_before(text, usage_key)?),
    }
    observed.raw_usage = Some(RawUsage::parsed(text.get(start..end)?));
    observed.usage = Some(usage);
    observed.completed = true;
    Some(observed)
}

/// The top-level `model` of an answer whose top-level `usage` key is at `usage_key` and has
/// no `model` after it: `Some(None)` when there is none at all. Read from whichever text is
/// shorter to parse: the head up to the first `model` (Chat, Anthropic: `model` comes before
/// the content), or the members from the last `model` to `usage` (embeddings: `model` comes
/// after `data`). `None` when the one chosen does not prove to be top-level.
fn model_before(body: &str, usage_key: usize) -> Option<Option<Cow<'_, str>>> {
    let Some(first) = MODEL.find(body.as_bytes()) else {
        return Some(None);
    };
    // only a `model` nearer to `usage` than the first one is to the start is worth looking for
    let near = usage_key.saturating_sub(first);
    let text = match last_member(&body.as_bytes()[..usage_key], near, &MODEL) {
        Some((last, _)) => enclosed(body.get(last..usage_key)?),
        None => head_through(body, &MODEL)?,
    };
    let ends = serde_json::from_str::<Ends<'_>>(&text).ok()?;
    Some(ends.model.map(|model| Cow::Owned(model.into_owned())))
}

/// The members read from the ends of an answer besides `usage`.
#[derive(Debug, Deserialize)]
struct Ends<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last `usage` value's text, if the text after it proves it top-level.
    fn top_level_usage(body: &str) -> Option<&str> {
        let (_, start) = last_member(body.as_bytes(), 0, &USAGE)?;
        let mut values =
            serde_json::Deserializer::from_str(&body[start..]).into_iter::<IgnoredAny>();
        values.next()?.ok()?;
        let end = start + values.byte_offset();
        serde_json::from_str::<IgnoredAny>(&reopened(&body[end..])).ok()?;
        Some(&body[start..end])
    }

    /// Every match, last first, wherever it lies against the windows: at the very end,
    /// across a window's start, in the first window back and far before it, sharing a quote
    /// with another, or nowhere.
    #[test]
    fn matches_come_from_the_end_like_a_reverse_search() {
        let key = br#""usage""#;
        let reverse = memchr::memmem::FinderRev::new(key);
        let all_from_the_end = |hay: &[u8]| -> Vec<usize> {
            let mut found = Vec::new();
            let mut end = hay.len();
            while let Some(at) = reverse.rfind(&hay[..end]) {
                found.push(at);
                end = at + key.len() - 1;
            }
            found
        };
        let mut places: Vec<usize> = (0..12).collect();
        for edge in [TAIL_WINDOW, 3 * TAIL_WINDOW, 7 * TAIL_WINDOW] {
            places.extend(edge.saturating_sub(key.len() + 8)..edge + 2);
        }
        // a second copy sharing the first one's closing quote: `"usage"usage"`
        let shared = br#""usage"usage""#;
        for len in [0, 5, 7, 300, TAIL_WINDOW, TAIL_WINDOW + 3, 5000] {
            let mut hay = vec![b'x'; len];
            assert_eq!(matches_from_the_end(&hay, &USAGE).next(), None, "len {len}");
            for &from_end in &places {
                for piece in [&key[..], &shared[..]] {
                    if from_end + piece.len() > len {
                        continue;
                    }
                    hay.fill(b'x');
                    let at = len - from_end - piece.len();
                    hay[at..at + piece.len()].copy_from_slice(piece);
                    if at >= key.len() {
                        hay[..key.len()].copy_from_slice(key);
                    }
                    let found: Vec<usize> = matches_from_the_end(&hay, &USAGE).collect();
                    assert_eq!(found, all_from_the_end(&hay), "len {len}, at {at}");
                    let last = at + piece.len() - key.len();
                    assert_eq!(found.first(), Some(&last), "len {len}, at {at}");
                }
            }
        }
    }

    #[test]
    fn a_key_sharing_its_quote_with_escaped_text_before_it_is_found() {
        // `\"usage"` ends a string whose text is `say "usage`; its closing quote opens the key
        let body = br#"{"note":"say \"usage"usage":{"a":1}}"#;
        let (at, value) = last_member(body, 0, &USAGE).expect("the key");
        assert_eq!(&body[at..value], br#""usage":"#);
        assert_eq!(&body[value..], br#"{"a":1}}"#);
    }

    #[test]
    fn a_top_level_member_is_proved_by_the_text_after_it() {
        let body =
            r#"{"choices":[{"message":{"content":"hi"}}],"usage": {"a":1} , "x":[1,{"b":2}]}"#;
        assert_eq!(top_level_usage(body), Some(r#"{"a":1}"#));
        assert_eq!(
            top_level_usage("{\"usage\":{\"a\":2}}\n"),
            Some(r#"{"a":2}"#)
        );
        assert_eq!(top_level_usage(r#"{"usage":3}"#), Some("3"));
    }

    #[test]
    fn a_nested_member_last_is_not() {
        // the last "usage" is inside `meta`: the text after it closes two objects
        assert_eq!(
            top_level_usage(r#"{"usage":{"a":1},"meta":{"usage":{"a":9}}}"#),
            None
        );
        assert_eq!(top_level_usage(r#"[{"usage":{"a":9}}]"#), None);
        assert_eq!(top_level_usage(r#"{"usage":{"a":9}} trailing"#), None);
        // text that only a number before it would make valid
        assert_eq!(top_level_usage(r#"{"usage":{"a":9}.5}"#), None);
        assert_eq!(top_level_usage(r#"{"usage":{"a":9}e5}"#), None);
        // form feed is not JSON whitespace
        assert_eq!(top_level_usage("{\"usage\"\x0c:{\"a\":9}}"), None);
    }

    #[test]
    fn text_that_looks_like_the_key_is_passed_over() {
        // an escaped quote starts the last match: text in a string, passed over for the key
        let body = r#"{"usage":{"a":1},"note":"say \"usage"}"#;
        assert_eq!(last_member(body.as_bytes(), 0, &USAGE), Some((1, 9)));
        assert_eq!(top_level_usage(body), Some(r#"{"a":1}"#));
        // escaping is judged on the whole body, not on the part searched
        let escaped = br#"{"x\"usage":1}"#;
        assert_eq!(last_member(escaped, 3, &USAGE), None);
        // a value "usage" has no colon after it
        assert_eq!(
            top_level_usage(r#"{"usage":{"a":1},"kind":"usage"}"#),
            Some(r#"{"a":1}"#)
        );
        // an even run of backslashes leaves the quote real
        assert!(unescaped(br#""a\\"#, 4));
        assert!(!unescaped(br#""a\"#, 3));
        assert_eq!(top_level_usage(r#"{"kind":"x"}"#), None);
    }

    #[test]
    fn the_head_closes_one_object_only_for_a_top_level_member() {
        let head = |body: &str| head_through(body, &USAGE);
        assert_eq!(
            head(r#"{"id":"x","usage" : {"a":[1]},"rest":[]}"#).as_deref(),
            Some(r#"{"id":"x","usage" : {"a":[1]}}"#)
        );
        assert_eq!(
            head(r#"{"usage":12,"x":1}"#).as_deref(),
            Some(r#"{"usage":12}"#)
        );
        // nested first: the head is cut inside `meta` and will not parse
        let nested = head(r#"{"meta":{"usage":1},"usage":2}"#).expect("found");
        assert!(serde_json::from_str::<IgnoredAny>(&nested).is_err());
        // a value that does not end: nothing
        assert_eq!(head(r#"{"usage":"unterminated"#), None);
        assert_eq!(head(r#"{"a":"\"usage\""}"#), None);
    }
}
