//! Incremental, synchronous SSE decoding: push bytes as they arrive, pull whole events.
//!
//! Line splitting is `sseer`'s public line parser (`sseer::parser::parse_line_from_buffer`,
//! memchr-based, handles `\n`, `\r\n` and a lone `\r`, and waits when a chunk ends in `\r` in case
//! an `\n` follows). The maintained SSE crates only offer a `Stream` of events (`sse-stream`,
//! `eventsource-stream`, `sseer`'s own `EventStream`); feeding those synchronously would need a
//! channel and a no-op waker on every chunk. So this file only assembles lines into events as the
//! WHATWG rules say: `event:` names the event, `data:` lines join with `\n`, a blank line
//! dispatches, comments and `id:`/`retry:`/unknown fields are ignored, one leading BOM is dropped.
//!
//! Bytes are never rewritten or validated as UTF-8 here: the passthrough forwards the originals,
//! and whoever parses an event's data as JSON validates it then.

use bytes::{BufMut, Bytes, BytesMut};
use sseer::parser::{RawEventLineOwned, parse_line_from_buffer};

/// The UTF-8 byte order mark a stream may start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest unfinished line kept in memory. A line this long without an end is not an SSE
/// stream any upstream sends (the largest real ones, base64 images inside `response.completed`,
/// are a few MiB); past it the line is dropped so a broken or hostile upstream cannot make the
/// relay buffer without bound.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, empty when the event had none (SSE's default type `message`).
    pub event: Bytes,
    /// The `data:` lines joined with `\n`.
    pub data: Bytes,
}

/// The `data:` buffer of the event being assembled. Almost every event has exactly one `data:`
/// line, which is kept as a zero-copy slice of the input; only a second line copies.
#[derive(Debug, Default)]
enum DataBuffer {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl DataBuffer {
    fn push(&mut self, line: Bytes) {
        match self {
            Self::Empty => *self = Self::One(line),
            Self::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + 1 + line.len());
                joined.extend_from_slice(first);
                joined.put_u8(b'\n');
                joined.extend_from_slice(&line);
                *self = Self::Many(joined);
            }
            Self::Many(joined) => {
                joined.put_u8(b'\n');
                joined.extend_from_slice(&line);
            }
        }
    }

    fn take(&mut self) -> Option<Bytes> {
        match std::mem::take(self) {
            Self::Empty => None,
            Self::One(line) => Some(line),
            Self::Many(joined) => Some(joined.freeze()),
        }
    }
}

/// A push parser for one SSE stream: [`push`](Self::push) each chunk as it arrives, then call
/// [`next_event`](Self::next_event) until it returns `None`; at the end of the input call
/// [`finish`](Self::finish) and drain once more.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buffer: BytesMut,
    /// Where `sseer` resumes scanning for a line end, so a long line is not rescanned per chunk.
    /// Reset whenever `buffer` is emptied by hand: `sseer` indexes the buffer with it.
    scan_from: usize,
    bom_checked: bool,
    /// Dropping the rest of a line longer than [`MAX_LINE_BYTES`].
    discarding_line: bool,
    ended: bool,
    event: Bytes,
    data: DataBuffer,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next chunk of the stream; chunks may split lines, events, `\r\n` pairs and
    /// UTF-8 sequences anywhere.
    pub fn push(&mut self, chunk: &[u8]) {
        let chunk = if self.discarding_line {
            let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) else {
                return;
            };
            self.discarding_line = false;
            &chunk[end..]
        } else {
            chunk
        };
        self.buffer.extend_from_slice(chunk);
    }

    /// Whether the input so far ended exactly between events: no partial line, no `event:` or
    /// `data:` line waiting for its blank line. Only then may a keepalive be written into the
    /// client's copy of the stream without corrupting an event.
    pub fn at_boundary(&self) -> bool {
        self.buffer.is_empty() && self.event.is_empty() && matches!(self.data, DataBuffer::Empty)
    }

    /// Marks the end of the input. An unfinished last line is dropped (it was cut mid-way: its
    /// JSON is truncated, or an `event:` name lacks the data that would confirm it), but an
    /// event whose `data:` lines all arrived is dispatched even without its blank line: a usage
    /// count or an end marker that reached us whole is real.
    pub fn finish(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        if self.buffer.ends_with(b"\r") {
            // a lone `\r` is a complete line end; the parser only waited for a possible `\n`
            self.buffer.put_u8(b'\n');
        }
    }

    /// The next complete event, or `None` when more input is needed (or, after
    /// [`finish`](Self::finish), when the stream is exhausted).
    pub fn next_event(&mut self) -> Option<SseEvent> {
        if !self.skip_bom() {
            return None;
        }
        while let Some(line) = parse_line_from_buffer(&mut self.buffer, &mut self.scan_from) {
            if let Some(event) = self.apply(line) {
                return Some(event);
            }
        }
        if self.ended {
            // the cut last line; `scan_from` must never point past the buffer (`sseer` slices
            // from it)
            self.buffer.clear();
            self.scan_from = 0;
            return self.dispatch();
        }
        if self.buffer.len() > MAX_LINE_BYTES {
            self.buffer = BytesMut::new();
            self.scan_from = 0;
            self.discarding_line = true;
            self.event = Bytes::new();
            self.data = DataBuffer::Empty;
        }
        None
    }

    /// Drops one byte order mark at the very start; `false` while the first bytes could still
    /// turn out to be one.
    fn skip_bom(&mut self) -> bool {
        if self.bom_checked {
            return true;
        }
        if self.buffer.len() < BOM.len() && BOM.starts_with(&self.buffer) && !self.ended {
            return false;
        }
        if self.buffer.starts_with(BOM) {
            let _bom = self.buffer.split_to(BOM.len());
        }
        self.bom_checked = true;
        true
    }

    fn apply(&mut self, line: RawEventLineOwned) -> Option<SseEvent> {
        match line {
            RawEventLineOwned::Empty => self.dispatch(),
            RawEventLineOwned::Comment => None,
            RawEventLineOwned::Field {
                field_name,
                field_value,
            } => {
                match &field_name[..] {
                    b"event" => self.event = field_value.unwrap_or_default(),
                    b"data" => self.data.push(field_value.unwrap_or_default()),
                    _ => {}
                }
                None
            }
        }
    }

    /// Ends the event being assembled; per the spec an event without `data:` is not dispatched.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        let data = self.data.take()?;
        Some(SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        let mut drain = |decoder: &mut SseDecoder| {
            while let Some(event) = decoder.next_event() {
                events.push((
                    String::from_utf8_lossy(&event.event).into_owned(),
                    String::from_utf8_lossy(&event.data).into_owned(),
                ));
            }
        };
        for chunk in chunks {
            decoder.push(chunk);
            drain(&mut decoder);
        }
        decoder.finish();
        drain(&mut decoder);
        events
    }

    fn pair(event: &str, data: &str) -> (String, String) {
        (event.to_owned(), data.to_owned())
    }

    #[test]
    fn every_line_ending_form_is_one_line_end() {
        let expected = vec![pair("a", "1"), pair("", "2")];
        for input in [
            &b"event: a\ndata: 1\n\ndata: 2\n\n"[..],
            b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n",
            b"event: a\rdata: 1\r\rdata: 2\r\r",
        ] {
            assert_eq!(
                decode_all(&[input]),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn crlf_split_between_chunks_is_not_two_line_ends() {
        // a `\r` at a chunk's end followed by `\n` must not produce an extra blank line, which
        // would dispatch `data: 1` early and lose the event name of the next line
        let events = decode_all(&[b"data: 1\r", b"\nevent: b\r", b"\ndata: 2\r\n\r\n"]);
        assert_eq!(events, vec![pair("b", "1\n2")]);
    }

    #[test]
    fn multi_line_data_joins_with_newline_and_comments_are_ignored() {
        let input = b": keepalive\n\ndata: {\"a\":\ndata: 1}\n: mid-event comment\nid: 7\nretry: 10\nfoo: bar\n\n";
        assert_eq!(decode_all(&[input]), vec![pair("", "{\"a\":\n1}")]);
    }

    #[test]
    fn value_without_colon_or_space_is_handled() {
        let input = b"data\n\ndata:x\n\ndata:  two spaces\n\n";
        assert_eq!(
            decode_all(&[input]),
            vec![pair("", ""), pair("", "x"), pair("", " two spaces")]
        );
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_its_name_does_not_leak() {
        let input = b"event: lonely\n\ndata: next\n\n";
        assert_eq!(decode_all(&[input]), vec![pair("", "next")]);
    }

    #[test]
    fn leading_bom_is_dropped_even_split_across_chunks() {
        let events = decode_all(&[b"\xEF", b"\xBB", b"\xBFdata: 1\n\n"]);
        assert_eq!(events, vec![pair("", "1")]);
    }

    #[test]
    fn end_of_input_dispatches_complete_lines_and_drops_a_cut_one() {
        assert_eq!(decode_all(&[b"data: [DONE]\n"]), vec![pair("", "[DONE]")]);
        assert_eq!(decode_all(&[b"data: 1\r"]), vec![pair("", "1")]);
        assert_eq!(decode_all(&[b"data: [DO"]), vec![]);
        assert_eq!(decode_all(&[b"data: 1\ndata: {\"cut"]), vec![pair("", "1")]);
        assert_eq!(decode_all(&[b"event: message_stop\ndata: {\"ty"]), vec![]);
        assert_eq!(decode_all(&[b""]), vec![]);
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let input: &[u8] = "event: x\r\ndata: é€😀\r\ndata: b\r\r\n: c\n\rdata: d\n\n".as_bytes();
        let whole = decode_all(&[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(decode_all(&bytes), whole);
        assert_eq!(whole, vec![pair("x", "é€😀\nb"), pair("", "d")]);
    }

    #[test]
    fn an_endless_line_is_dropped_and_decoding_resumes_after_it() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: 1\n\ndata: ");
        assert_eq!(
            decoder.next_event().map(|e| e.data),
            Some(Bytes::from_static(b"1"))
        );
        let junk = vec![b'x'; 1024 * 1024];
        for _ in 0..(MAX_LINE_BYTES / junk.len() + 1) {
            decoder.push(&junk);
            assert_eq!(decoder.next_event(), None);
        }
        assert!(decoder.buffer.len() <= MAX_LINE_BYTES + junk.len());
        decoder.push(b"still junk\n\ndata: 2\n\n");
        assert_eq!(
            decoder.next_event().map(|e| e.data),
            Some(Bytes::from_static(b"2"))
        );
    }
}
