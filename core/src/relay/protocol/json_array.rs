//! Incremental splitting of a streamed JSON array: push bytes as they arrive, pull each whole
//! element. Gemini's `streamGenerateContent` without `alt=sse` answers this way — `[`, then one
//! `GenerateContentResponse` per step of the generation separated by `,`, then `]` — written as
//! the model produces it, so the relay forwards it as it comes and reads the elements on the side.
//!
//! Where an element ends is serde_json's call: a streaming deserializer over the unread bytes
//! either reports the end of the first complete value or that the input ended inside it. This
//! file only steps over the array's own punctuation. A parse is tried only after a chunk brought
//! a `}` or `]` (the bytes an element can end with), so an element that arrives in many small
//! reads is not parsed again on each of them. Bytes are never rewritten.

use serde::de::IgnoredAny;

/// The most bytes of one unfinished element kept in memory. Past it the decoder stops reading
/// (the bytes still go to the client): no real answer chunk comes near it, and a broken or
/// hostile upstream cannot make the relay buffer without bound.
pub const MAX_ELEMENT_BYTES: usize = 64 * 1024 * 1024;

/// Splits one streamed JSON array; see the module docs.
#[derive(Debug, Default)]
pub struct ArrayDecoder {
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already handed out or stepped over.
    consumed: usize,
    /// A `}` or `]` arrived since the last try that found the element unfinished.
    worth_trying: bool,
    /// The opening `[` (or a lone top-level value) was seen.
    opened: bool,
    /// Nothing more is read: the closing `]` was seen, the input is not JSON, or an element
    /// outgrew [`MAX_ELEMENT_BYTES`].
    stopped: bool,
    /// The last punctuation stepped over since the last element was a `,`.
    after_comma: bool,
}

impl ArrayDecoder {
    /// Takes the next bytes of the answer, split anywhere.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.stopped || chunk.is_empty() {
            return;
        }
        if self.consumed == self.buffer.len() {
            self.buffer.clear();
            self.consumed = 0;
        } else if self.consumed > self.buffer.len() / 2 {
            self.buffer.drain(..self.consumed);
            self.consumed = 0;
        }
        if self.buffer.len() - self.consumed + chunk.len() > MAX_ELEMENT_BYTES {
            self.stop();
            return;
        }
        self.worth_trying |= chunk.iter().any(|b| matches!(b, b'}' | b']'));
        self.buffer.extend_from_slice(chunk);
    }

    /// The next whole element, borrowed until the next call; `None` until more bytes arrive.
    pub fn next_element(&mut self) -> Option<&[u8]> {
        self.skip_punctuation();
        if self.stopped || !self.worth_trying || self.consumed == self.buffer.len() {
            return None;
        }
        let rest = &self.buffer[self.consumed..];
        let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<IgnoredAny>();
        match values.next() {
            Some(Ok(IgnoredAny)) => {
                self.after_comma = false;
                let start = self.consumed;
                self.consumed += values.byte_offset();
                Some(&self.buffer[start..self.consumed])
            }
            Some(Err(error)) if error.is_eof() => {
                self.worth_trying = false;
                None
            }
            _ => {
                self.stop();
                None
            }
        }
    }

    /// Whether everything pushed so far ended between two elements.
    pub fn at_boundary(&self) -> bool {
        self.stopped
            || self.buffer[self.consumed..]
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']'))
    }

    /// How many bytes pushed so far belong to an element not yet complete (what a relay holds
    /// back so that what it forwarded always ends between elements); 0 once reading stopped.
    pub fn unfinished_len(&self) -> u64 {
        if self.stopped {
            return 0;
        }
        let rest = &self.buffer[self.consumed..];
        rest.iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'[' | b']'))
            .map_or(0, |start| (rest.len() - start) as u64)
    }

    /// The array is open and may take one more element: its `[` was seen, its `]` was not,
    /// and reading has not stopped. Returns whether a `,` must precede that element.
    pub fn open_for_element(&self) -> Option<bool> {
        (self.opened && !self.stopped).then_some(!self.after_comma)
    }

    /// Steps over whitespace and the array's `[`, `,` and `]`.
    fn skip_punctuation(&mut self) {
        while !self.stopped {
            let Some(&byte) = self.buffer.get(self.consumed) else {
                return;
            };
            match byte {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'[' if !self.opened => self.opened = true,
                b',' if self.opened => self.after_comma = true,
                b']' if self.opened => self.stop(),
                _ => {
                    // a value: an element, or a lone object in place of the array (an error)
                    self.opened = true;
                    return;
                }
            }
            self.consumed += 1;
        }
    }

    fn stop(&mut self) {
        self.stopped = true;
        self.buffer = Vec::new();
        self.consumed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARRAY: &[u8] = b"[{\"a\":\"x}]\"},\r\n{\"b\":[1,{\"c\":2}]}\r\n,\r\n{\"d\":\"\\\"}\"}]";
    const ELEMENTS: [&[u8]; 3] = [
        b"{\"a\":\"x}]\"}",
        b"{\"b\":[1,{\"c\":2}]}",
        b"{\"d\":\"\\\"}\"}",
    ];

    fn elements(decoder: &mut ArrayDecoder) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| decoder.next_element().map(<[u8]>::to_vec)).collect()
    }

    #[test]
    fn elements_come_out_whole_however_the_bytes_are_split() {
        for size in 1..=ARRAY.len() {
            let mut decoder = ArrayDecoder::default();
            let mut seen = Vec::new();
            for chunk in ARRAY.chunks(size) {
                decoder.push(chunk);
                seen.extend(elements(&mut decoder));
            }
            assert_eq!(seen, ELEMENTS, "chunks of {size}");
            assert!(decoder.at_boundary());
        }
    }

    #[test]
    fn an_unfinished_element_waits_and_is_not_a_boundary() {
        let mut decoder = ArrayDecoder::default();
        decoder.push(b"[{\"a\":1},{\"b\":");
        assert_eq!(elements(&mut decoder), [b"{\"a\":1}".to_vec()]);
        assert!(!decoder.at_boundary());
        decoder.push(b"2}");
        assert_eq!(elements(&mut decoder), [b"{\"b\":2}".to_vec()]);
        assert!(decoder.at_boundary());
    }

    #[test]
    fn a_lone_object_is_read_as_the_only_element() {
        let mut decoder = ArrayDecoder::default();
        decoder.push(b" {\"error\":{\"code\":500}}");
        assert_eq!(
            elements(&mut decoder),
            [b"{\"error\":{\"code\":500}}".to_vec()]
        );
    }

    #[test]
    fn what_is_not_json_stops_the_reading() {
        let mut decoder = ArrayDecoder::default();
        decoder.push(b"[{\"a\":1},nope}]");
        assert_eq!(elements(&mut decoder), [b"{\"a\":1}".to_vec()]);
        decoder.push(b"{\"b\":2}]");
        assert!(elements(&mut decoder).is_empty());
    }

    #[test]
    fn nothing_after_the_closing_bracket_is_read() {
        let mut decoder = ArrayDecoder::default();
        decoder.push(b"[{\"a\":1}]{\"b\":2}");
        assert_eq!(elements(&mut decoder), [b"{\"a\":1}".to_vec()]);
    }

    #[test]
    fn the_unfinished_element_is_held_and_the_array_knows_what_may_follow() {
        let mut decoder = ArrayDecoder::default();
        decoder.push(b"[{\"a\":1}\r\n,{\"b\":");
        assert_eq!(elements(&mut decoder), [b"{\"a\":1}".to_vec()]);
        assert_eq!(decoder.unfinished_len(), 5);
        assert_eq!(decoder.open_for_element(), Some(false), "after a comma");
        decoder.push(b"2}");
        elements(&mut decoder);
        assert_eq!(decoder.unfinished_len(), 0);
        assert_eq!(decoder.open_for_element(), Some(true), "a comma first");
        decoder.push(b"\n]");
        elements(&mut decoder);
        assert_eq!(decoder.open_for_element(), None, "closed");
        assert_eq!(decoder.unfinished_len(), 0);
    }
}
