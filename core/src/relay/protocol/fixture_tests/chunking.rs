//! Any chunking of a stream (byte by byte, random, every two-chunk split) and any line ending
//! give the same result, and the outcome flags fire on the byte that completes their event.

use pretty_assertions::assert_eq;

use super::*;

/// Index (among the stream's events) of the first content event of each fixture.
fn first_content_event(protocol: Protocol) -> usize {
    match protocol {
        Protocol::Responses => 4, // the first `response.reasoning_summary_text.delta`
        Protocol::Chat => 1,      // chunk 0 is the role with `content: ""`
        Protocol::Messages => 3,  // after message_start, content_block_start, ping
        Protocol::Gemini => 0,
        Protocol::Embeddings => unreachable!(),
    }
}

#[test]
fn byte_by_byte_matches_whole_and_flags_fire_on_the_right_byte() {
    for (protocol, stream) in STREAMS {
        let whole = observe_whole(protocol, stream);
        let (observed, outcomes) = observe(protocol, stream.as_bytes().chunks(1));
        assert_eq!(observed, whole, "{protocol}");

        let fired = |flag: fn(&FeedOutcome) -> bool| -> Vec<usize> {
            outcomes
                .iter()
                .enumerate()
                .filter(|(_, o)| flag(o))
                .map(|(at, _)| at)
                .collect()
        };
        let ends = event_ends(stream);
        assert_eq!(
            fired(|o| o.first_event),
            vec![ends[0]],
            "{protocol} first event"
        );
        assert_eq!(
            fired(|o| o.first_content),
            vec![ends[first_content_event(protocol)]],
            "{protocol} first content"
        );
        assert_eq!(fired(|o| o.error), Vec::<usize>::new(), "{protocol}");
        assert!(
            fired(|o| o.completed).contains(ends.last().expect("events")),
            "{protocol}"
        );
    }
}

/// A small deterministic generator so the random splits are reproducible without a crate.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

#[test]
fn random_splits_match_whole() {
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    for (protocol, stream) in STREAMS {
        let whole = observe_whole(protocol, stream);
        let bytes = stream.as_bytes();
        let first_content_at = event_ends(stream)[first_content_event(protocol)];
        for round in 0..200 {
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let len = 1 + random.below(if round % 2 == 0 { 7 } else { 300 });
                let end = (at + len).min(bytes.len());
                chunks.push(at..end);
                at = end;
            }
            let (observed, outcomes) = observe(protocol, chunks.iter().map(|r| &bytes[r.clone()]));
            assert_eq!(observed, whole, "{protocol} round {round}");
            let fired: Vec<_> = chunks
                .iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| outcome.first_content)
                .map(|(range, _)| range.clone())
                .collect();
            assert_eq!(fired.len(), 1, "{protocol} round {round}");
            assert!(
                fired[0].contains(&first_content_at),
                "{protocol} round {round}"
            );
        }
    }
}

#[test]
fn every_split_point_of_two_chunks_matches_whole() {
    for (protocol, stream) in STREAMS {
        let whole = observe_whole(protocol, stream);
        let bytes = stream.as_bytes();
        for at in 0..=bytes.len() {
            let (head, tail) = bytes.split_at(at);
            assert_eq!(
                observe(protocol, [head, tail]).0,
                whole,
                "{protocol} split at {at}"
            );
        }
    }
}

#[test]
fn crlf_and_cr_line_endings_observe_the_same() {
    for (protocol, stream) in STREAMS {
        let whole = observe_whole(protocol, stream);
        let lf = stream.replace("\r\n", "\n");
        for converted in [lf.replace('\n', "\r\n"), lf.replace('\n', "\r"), lf.clone()] {
            assert_eq!(observe_whole(protocol, &converted), whole, "{protocol}");
            let bytes = converted.as_bytes();
            assert_eq!(
                observe(protocol, bytes.chunks(1)).0,
                whole,
                "{protocol} byte by byte"
            );
        }
    }
}
