//! Cost of observing a streamed answer on the hot path: a 20-event Responses stream and a
//! 20-event Chat stream (with `include_usage`), fed to `StreamObserver` the way a socket hands
//! them over. Criterion reports time per stream and events per second (`Throughput::Elements`);
//! ns per event = time per stream / 20.
//!
//! Two chunkings: one event per read (a model trickling tokens), and 512-byte reads that cut
//! events anywhere (a fast upstream whose events coalesce). `sse_decoder_only` is the SSE layer
//! alone, to show how much of the cost is framing and how much protocol reading.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use realms_core::relay::protocol::sse::SseDecoder;
use realms_core::relay::protocol::{Protocol, StreamObserver};

const EVENTS: u64 = 20;

/// `response.created` … 12 `response.output_text.delta` … `response.completed`: 20 events.
fn responses_stream() -> String {
    let response = |status: &str, usage: &str| {
        format!(
            r#"{{"id":"resp_0c3f4d5e6a7b8c9d","object":"response","created_at":1757600000,"status":"{status}","error":null,"incomplete_details":null,"instructions":"You are Codex, a coding agent running in the Codex CLI.","model":"gpt-5-codex","output":[],"parallel_tool_calls":false,"prompt_cache_key":"0199a2b1-5c3d-7e8f-9a0b-1c2d3e4f5a6b","reasoning":{{"effort":"medium","summary":"auto"}},"store":false,"text":{{"format":{{"type":"text"}},"verbosity":"medium"}},"tool_choice":"auto","tools":[],"usage":{usage}}}"#
        )
    };
    let mut events = vec![
        ("response.created", format!(r#"{{"type":"response.created","sequence_number":0,"response":{}}}"#, response("in_progress", "null"))),
        ("response.in_progress", format!(r#"{{"type":"response.in_progress","sequence_number":1,"response":{}}}"#, response("in_progress", "null"))),
        ("response.output_item.added", r#"{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}}"#.to_owned()),
        ("response.content_part.added", r#"{"type":"response.content_part.added","sequence_number":3,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}"#.to_owned()),
    ];
    for n in 0..12 {
        events.push((
            "response.output_text.delta",
            format!(r#"{{"type":"response.output_text.delta","sequence_number":{},"item_id":"msg_1","output_index":0,"content_index":0,"delta":" token{n} café","logprobs":[],"obfuscation":"k3Jx9"}}"#, n + 4),
        ));
    }
    events.push(("response.output_text.done", r#"{"type":"response.output_text.done","sequence_number":16,"item_id":"msg_1","output_index":0,"content_index":0,"text":"token0 … token11","logprobs":[]}"#.to_owned()));
    events.push(("response.content_part.done", r#"{"type":"response.content_part.done","sequence_number":17,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":"token0 … token11"}}"#.to_owned()));
    events.push(("response.output_item.done", r#"{"type":"response.output_item.done","sequence_number":18,"output_index":0,"item":{"id":"msg_1","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"token0 … token11"}],"role":"assistant"}}"#.to_owned()));
    let usage = r#"{"input_tokens":10240,"input_tokens_details":{"cached_tokens":9984},"output_tokens":321,"output_tokens_details":{"reasoning_tokens":192},"total_tokens":10561}"#;
    events.push((
        "response.completed",
        format!(
            r#"{{"type":"response.completed","sequence_number":19,"response":{}}}"#,
            response("completed", usage)
        ),
    ));
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// Role chunk, 16 content chunks, finish chunk, usage chunk, `[DONE]`: 20 events.
fn chat_stream() -> String {
    let chunk = |delta: &str, finish: &str, usage: &str| {
        format!(
            r#"data: {{"id":"chatcmpl-CBx4aR7n3wY8iZ2oU6sM9qX5tE7hH","object":"chat.completion.chunk","created":1757001300,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_560af6e559","choices":[{delta}],"usage":{usage},"obfuscation":"Qz"}}{finish}"#
        ) + "\n\n"
    };
    let choice = |delta: &str, finish: &str| {
        format!(r#"{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}"#)
    };
    let mut stream = chunk(
        &choice(
            r#"{"role":"assistant","content":"","refusal":null}"#,
            "null",
        ),
        "",
        "null",
    );
    for n in 0..16 {
        stream += &chunk(
            &choice(&format!(r#"{{"content":" word{n}"}}"#), "null"),
            "",
            "null",
        );
    }
    stream += &chunk(&choice("{}", r#""stop""#), "", "null");
    stream += &chunk(
        "",
        "",
        r#"{"prompt_tokens":19,"completion_tokens":17,"total_tokens":36,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#,
    );
    stream += "data: [DONE]\n\n";
    stream
}

/// One chunk per event.
fn per_event(stream: &str) -> Vec<&[u8]> {
    stream.split_inclusive("\n\n").map(str::as_bytes).collect()
}

/// Fixed 512-byte reads, cutting events anywhere.
fn coalesced(stream: &str) -> Vec<&[u8]> {
    stream.as_bytes().chunks(512).collect()
}

fn observe(protocol: Protocol, chunks: &[&[u8]]) {
    let mut observer = StreamObserver::new(protocol);
    for chunk in chunks {
        black_box(observer.feed(black_box(chunk)));
    }
    black_box(observer.finish());
}

fn decode_only(chunks: &[&[u8]]) {
    let mut decoder = SseDecoder::new();
    for chunk in chunks {
        decoder.push(black_box(chunk));
        while let Some(event) = decoder.next_event() {
            black_box(event);
        }
    }
}

fn bench(c: &mut Criterion) {
    let responses = responses_stream();
    let chat = chat_stream();
    assert_eq!(per_event(&responses).len() as u64, EVENTS);
    assert_eq!(per_event(&chat).len() as u64, EVENTS);

    let mut group = c.benchmark_group("stream_observer");
    group.throughput(Throughput::Elements(EVENTS));
    for (name, protocol, stream) in [
        ("responses", Protocol::Responses, &responses),
        ("chat", Protocol::Chat, &chat),
    ] {
        let events = per_event(stream);
        let reads = coalesced(stream);
        group.bench_function(format!("{name}/per_event_chunks"), |b| {
            b.iter(|| observe(protocol, &events));
        });
        group.bench_function(format!("{name}/512_byte_chunks"), |b| {
            b.iter(|| observe(protocol, &reads));
        });
        group.bench_function(format!("{name}/sse_decoder_only"), |b| {
            b.iter(|| decode_only(&reads))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
