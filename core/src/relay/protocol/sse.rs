//! Incremental, synchronous SSE decoding: push bytes as they arrive, pull whole events.
//!
//! Line splitting is `sseer`'s public borrowed line parser (`sseer::parser::parse_line`:
//! memchr-based; `\n`, `\r\n` and a lone `\r` each end a line, and a chunk ending in `\r` waits
//! for a possible `\n`), except that a `\r` starting a line is a blank line at once: either way
//! it ends one, so an event of a `\r`-only stream is not held until the next chunk. The maintained SSE crates only offer a `Stream` of events
//! (`sse-stream`, `eventsource-stream`, `sseer`'s own `EventStream`); feeding those synchronously
//! would need a channel and a no-op waker per chunk. `sseer`'s `Bytes`-based line API was tried
//! first and cost about twice as much per event (reference-count atomics per line), so lines are
//! read from one reusable buffer and events are handed out as borrowed slices.
//!
//! This file only assembles lines into events as the WHATWG rules say: `event:` names the event,
//! `data:` lines join with `\n`, a blank line dispatches (an event without data is not), comments
//! and `id:`/`retry:`/unknown fields are ignored, one leading BOM is dropped. Bytes are never
//! rewritten or validated as UTF-8 here: the passthrough forwards the originals, and whoever
//! parses an event's data as JSON validates it then.

use sseer::parser::{RawEventLine, parse_line};

/// The UTF-8 byte order mark a stream may start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest unfinished line, and the most `data:` one event gathers, kept in memory. A line
/// or an event this long is not an SSE stream any upstream sends (the largest real ones, base64
/// images inside `response.completed`, are a few MiB); past it the line or the event is dropped
/// so a broken or hostile upstream cannot make the relay buffer without bound.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// One dispatched SSE event, borrowed from the decoder until its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` name, empty when the event had none (SSE's default type `message`).
    pub event: &'a [u8],
    /// The `data:` lines joined with `\n`.
    pub data: &'a [u8],
}

/// Input not yet split into lines.
#[derive(Debug, Default)]
struct Input {
    buffer: Vec<u8>,
    /// Stream offset of `buffer[0]`: every byte pushed before it, kept or dropped.
    origin: u64,
    /// Bytes pushed in all.
    pushed: u64,
    /// Bytes at the front of `buffer` already split into lines.
    consumed: usize,
    /// `buffer[consumed..clean_to]` is known to hold no line end, so a long line is not
    /// rescanned on every chunk.
    clean_to: usize,
    bom_checked: bool,
    /// Dropping the rest of a line longer than [`MAX_LINE_BYTES`].
    discarding_line: bool,
    ended: bool,
}

/// The event being assembled and the last one handed out (both reused, so a stream allocates
/// only while its events keep growing).
#[derive(Debug, Default)]
struct Assembly {
    event: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    /// The event being assembled outgrew [`MAX_LINE_BYTES`]: it is dropped at its blank line.
    oversized: bool,
    out_event: Vec<u8>,
    out_data: Vec<u8>,
}

impl Assembly {
    fn apply(&mut self, line: RawEventLine<'_>) -> bool {
        match line {
            RawEventLine::Empty => return self.dispatch(),
            RawEventLine::Comment => {}
            RawEventLine::Field {
                field_name: b"event",
                field_value,
            } => {
                self.event.clear();
                self.event
                    .extend_from_slice(field_value.unwrap_or_default());
            }
            RawEventLine::Field {
                field_name: b"data",
                field_value,
            } => {
                let value = field_value.unwrap_or_default();
                if self.oversized || self.data.len() + value.len() >= MAX_LINE_BYTES {
                    self.oversized = true;
                    self.data = Vec::new();
                    return false;
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            RawEventLine::Field { .. } => {}
        }
        false
    }

    /// Ends the event being assembled; `true` when it is dispatched (the spec drops an event
    /// without `data:`, and its name with it).
    fn dispatch(&mut self) -> bool {
        let dispatched = std::mem::take(&mut self.has_data) && !std::mem::take(&mut self.oversized);
        if dispatched {
            std::mem::swap(&mut self.event, &mut self.out_event);
            std::mem::swap(&mut self.data, &mut self.out_data);
        }
        self.event.clear();
        self.data.clear();
        dispatched
    }

    /// Nothing of an event is waiting for its blank line.
    fn is_empty(&self) -> bool {
        self.event.is_empty() && !self.has_data
    }

    fn reset(&mut self) {
        self.event.clear();
        self.data.clear();
        self.has_data = false;
        self.oversized = false;
    }

    fn out(&self) -> SseEvent<'_> {
        SseEvent {
            event: &self.out_event,
            data: &self.out_data,
        }
    }
}

/// A push parser for one SSE stream: [`push`](Self::push) each chunk as it arrives, then call
/// [`next_event`](Self::next_event) until it returns `None`; at the end of the input call
/// [`finish`](Self::finish) and drain once more.
#[derive(Debug, Default)]
pub struct SseDecoder {
    input: Input,
    assembly: Assembly,
    /// Stream offset just after the last line that left no event half-assembled (a dispatched
    /// event's blank line, a comment, an ignored field): a place where another event may go.
    boundary: u64,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the next chunk of the stream; chunks may split lines, events, `\r\n` pairs and
    /// UTF-8 sequences anywhere.
    pub fn push(&mut self, chunk: &[u8]) {
        let input = &mut self.input;
        let start = input.pushed;
        input.pushed += chunk.len() as u64;
        let chunk = if input.discarding_line {
            let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) else {
                input.origin = input.pushed;
                return;
            };
            input.discarding_line = false;
            input.origin = start + end as u64;
            &chunk[end..]
        } else {
            chunk
        };
        if input.consumed > 0 {
            input.buffer.drain(..input.consumed);
            input.clean_to -= input.consumed;
            input.origin += input.consumed as u64;
            input.consumed = 0;
        }
        input.buffer.extend_from_slice(chunk);
    }

    /// How many of the bytes pushed so far come after the last place another event could go
    /// (see `boundary`): the unfinished event a relay holds back, so that what it has forwarded
    /// always ends between events. 0 exactly when [`at_boundary`](Self::at_boundary) holds,
    /// once [`next_event`](Self::next_event) has drained the input.
    pub fn unfinished_len(&self) -> u64 {
        self.input.pushed - self.boundary
    }

    /// Whether the input so far ended exactly between events: no partial line, no `event:` or
    /// `data:` line waiting for its blank line. Only then may a keepalive be written into the
    /// client's copy of the stream without corrupting an event.
    pub fn at_boundary(&self) -> bool {
        self.input.buffer.len() == self.input.consumed && self.assembly.is_empty()
    }

    /// Marks the end of the input. An unfinished last line is dropped (it was cut mid-way: its
    /// JSON is truncated, or an `event:` name lacks the data that would confirm it), but an
    /// event whose `data:` lines all arrived is dispatched even without its blank line: a usage
    /// count or an end marker that reached us whole is real.
    pub fn finish(&mut self) {
        let input = &mut self.input;
        if input.ended {
            return;
        }
        input.ended = true;
        if input.buffer.ends_with(b"\r") {
            // a lone `\r` is a complete line end; the parser only waited for a possible `\n`
            input.buffer.push(b'\n');
        }
    }

    /// The next complete event, or `None` when more input is needed (or, after
    /// [`finish`](Self::finish), when the stream is exhausted).
    pub fn next_event(&mut self) -> Option<SseEvent<'_>> {
        let Self {
            input,
            assembly,
            boundary,
        } = self;
        if !input.skip_bom() {
            return None;
        }
        if input.consumed > 0 && assembly.is_empty() {
            // after a byte order mark
            *boundary = input.origin + input.consumed as u64;
        }
        loop {
            let rest = &input.buffer[input.consumed..];
            let clean = input.clean_to.saturating_sub(input.consumed);
            let has_line_end = memchr::memchr2(b'\n', b'\r', &rest[clean..]).is_some();
            let parsed = match rest {
                // A `\r` at the start of a line ends a blank line whether or not a `\n`
                // follows (`\r` and `\r\n` both end one): the event is complete now, and a
                // `\n` that follows is one more blank line, which dispatches nothing.
                b"\r" => Some((RawEventLine::Empty, &rest[1..])),
                _ if has_line_end => parse_line(rest),
                _ => None,
            };
            let Some((line, remainder)) = parsed else {
                // no complete line: remember how far is clean (a final `\r` is rechecked)
                input.clean_to = input.buffer.len() - usize::from(has_line_end);
                break;
            };
            input.consumed = input.buffer.len() - remainder.len();
            input.clean_to = input.consumed;
            let dispatched = assembly.apply(line);
            if assembly.is_empty() {
                *boundary = input.origin + input.consumed as u64;
            }
            if dispatched {
                return Some(assembly.out());
            }
        }
        if input.ended {
            // the cut last line, if any, is dropped
            input.consumed = input.buffer.len();
            return assembly.dispatch().then(|| assembly.out());
        }
        if input.buffer.len() - input.consumed > MAX_LINE_BYTES {
            *input = Input {
                origin: input.pushed,
                pushed: input.pushed,
                bom_checked: true,
                discarding_line: true,
                ..Input::default()
            };
            assembly.reset();
        }
        None
    }
}

impl Input {
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
            self.consumed = BOM.len();
            self.clean_to = BOM.len();
        }
        self.bom_checked = true;
        true
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
                    String::from_utf8_lossy(event.event).into_owned(),
                    String::from_utf8_lossy(event.data).into_owned(),
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
            decoder.next_event().map(|e| e.data.to_vec()),
            Some(b"1".to_vec())
        );
        let junk = vec![b'x'; 1024 * 1024];
        for _ in 0..(MAX_LINE_BYTES / junk.len() + 1) {
            decoder.push(&junk);
            assert_eq!(decoder.next_event(), None);
        }
        assert!(decoder.input.buffer.len() <= MAX_LINE_BYTES + junk.len());
        decoder.push(b"still junk\n\ndata: 2\n\n");
        assert_eq!(
            decoder.next_event().map(|e| e.data.to_vec()),
            Some(b"2".to_vec())
        );
    }

    #[test]
    fn an_event_of_endless_data_lines_is_dropped_and_decoding_resumes_after_it() {
        let mut decoder = SseDecoder::new();
        let line = [b"data: ".as_slice(), &vec![b'x'; 1024 * 1024], b"\n"].concat();
        for _ in 0..(MAX_LINE_BYTES / (1024 * 1024) + 2) {
            decoder.push(&line);
            assert_eq!(decoder.next_event(), None);
        }
        assert!(
            decoder.assembly.data.len() < MAX_LINE_BYTES,
            "{} bytes held",
            decoder.assembly.data.len()
        );
        decoder.push(b"\ndata: 2\n\n");
        assert_eq!(
            decoder.next_event().map(|e| e.data.to_vec()),
            Some(b"2".to_vec()),
            "the oversized event is dropped, the next one comes through"
        );
    }

    #[test]
    fn a_long_line_in_many_chunks_is_scanned_once() {
        // not a timing test: checks that the clean prefix bookkeeping survives compaction
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: 0\n\n");
        assert!(decoder.next_event().is_some());
        decoder.push(b"data: ");
        for _ in 0..1000 {
            decoder.push(b"abcdefgh");
            assert_eq!(decoder.next_event(), None);
            assert_eq!(decoder.input.clean_to, decoder.input.buffer.len());
        }
        decoder.push(b"\r");
        assert_eq!(
            decoder.next_event(),
            None,
            "a final `\\r` may still be half of `\\r\\n`"
        );
        decoder.push(b"\r");
        let event = decoder
            .next_event()
            .expect("a `\\r` starting a line ends a blank line, `\\n` or not");
        assert_eq!(event.data.len(), 8000);
        decoder.push(b"\n");
        assert_eq!(
            decoder.next_event(),
            None,
            "the `\\n` is an empty blank line"
        );
        assert!(decoder.at_boundary());
    }

    #[test]
    fn an_event_ended_by_a_lone_carriage_return_is_dispatched_without_waiting() {
        // `\r` line endings (allowed by the SSE grammar): the event's blank line is its last
        // byte, so it must not wait for the next chunk to rule out `\r\n`
        let mut decoder = SseDecoder::new();
        decoder.push(b"event: a\rdata: 1\r\r");
        let event = decoder.next_event().expect("dispatched at once");
        assert_eq!((event.event, event.data), (&b"a"[..], &b"1"[..]));
        assert_eq!(decoder.unfinished_len(), 0);
        assert!(decoder.at_boundary());
        // and with `\r\n` split after its `\r`: one event, no extra one
        decoder.push(b"data: 2\r\n\r");
        assert_eq!(
            decoder.next_event().map(|e| e.data.to_vec()),
            Some(b"2".to_vec())
        );
        decoder.push(b"\ndata: 3\r\n\r\n");
        assert_eq!(
            decoder.next_event().map(|e| e.data.to_vec()),
            Some(b"3".to_vec())
        );
        assert_eq!(decoder.next_event(), None);
    }

    /// Drains the decoder after each chunk and returns `unfinished_len` after each.
    fn unfinished_after(chunks: &[&[u8]]) -> Vec<u64> {
        let mut decoder = SseDecoder::new();
        chunks
            .iter()
            .map(|chunk| {
                decoder.push(chunk);
                while decoder.next_event().is_some() {}
                assert_eq!(
                    decoder.unfinished_len() == 0,
                    decoder.at_boundary(),
                    "after {:?}",
                    String::from_utf8_lossy(chunk)
                );
                decoder.unfinished_len()
            })
            .collect()
    }

    #[test]
    fn the_unfinished_event_is_what_came_after_the_last_place_between_events() {
        assert_eq!(
            unfinished_after(&[
                b"event: a\ndata: 1\n\nevent: b\nda",
                b"ta: 2",
                b"\n\n",
                b": comment\n",
                b"data: 3\r",
                b"\n\r\n",
            ]),
            [11, 16, 0, 0, 8, 0]
        );
        // a byte order mark, and a line split inside `\r\n`
        assert_eq!(
            unfinished_after(&[b"\xEF\xBB", b"\xBFdata: x\n\n", b"data: y\r"]),
            [2, 0, 8]
        );
    }

    #[test]
    fn an_overlong_line_keeps_the_offsets() {
        let mut decoder = SseDecoder::new();
        decoder.push(b"data: a\n\n");
        while decoder.next_event().is_some() {}
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        decoder.push(&long);
        while decoder.next_event().is_some() {}
        assert_eq!(decoder.unfinished_len(), long.len() as u64);
        decoder.push(b"x\n\ndata: b\n\n");
        let mut seen = Vec::new();
        while let Some(event) = decoder.next_event() {
            seen.push(event.data.to_vec());
        }
        assert_eq!(seen, [b"b".to_vec()]);
        assert_eq!(decoder.unfinished_len(), 0);
    }
}
