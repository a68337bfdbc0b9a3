//! Cost of reading usage from a whole (non-streamed) answer on the hot path: `observe_json` on
//! a short Chat completion (the load benchmark's), a Chat completion with ~4 KB of text, and an
//! embeddings list of 100 × 1536 floats (~2 MB). Beside each, the baseline of the same run:
//! serde_json skipping the whole answer (`IgnoredAny`), which is what reading it member by
//! member costs at least. The skimmed reading (`protocol::skim`) should stay near the
//! baseline for the short answer and far below it for the long ones.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use realms_core::relay::protocol::{Protocol, observe_json};
use serde::de::IgnoredAny;

const USAGE: &str = r#""usage":{"prompt_tokens":120,"completion_tokens":48,"total_tokens":168,"prompt_tokens_details":{"cached_tokens":32,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":16,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#;

fn chat(content: &str) -> String {
    format!(
        r#"{{"id":"chatcmpl-fake0000000000000001","object":"chat.completion","created":1750000000,"model":"gpt-4o-mini-2024-07-18","choices":[{{"index":0,"message":{{"role":"assistant","content":"{content}","refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"stop"}}],{USAGE},"service_tier":"default","system_fingerprint":"fp_560af6e559"}}"#
    )
}

fn embeddings(inputs: usize, dimensions: usize) -> String {
    let mut body = String::from(r#"{"object":"list","data":["#);
    for index in 0..inputs {
        if index > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"object":"embedding","index":{index},"embedding":["#
        );
        for d in 0..dimensions {
            if d > 0 {
                body.push(',');
            }
            let _ = write!(body, "-0.0{}{}", (index * 7 + d) % 97, d % 10);
        }
        body.push_str("]}");
    }
    body.push_str(
        r#"],"model":"text-embedding-3-small","usage":{"prompt_tokens":800,"total_tokens":800}}"#,
    );
    body
}

fn bench(c: &mut Criterion) {
    let long_text = "A sentence of an answer, with \\\"quotes\\\" and a newline.\\n".repeat(70);
    let answers = [
        (
            "chat_short",
            Protocol::Chat,
            chat("Hello from the fake upstream."),
        ),
        ("chat_4kb", Protocol::Chat, chat(&long_text)),
        (
            "embeddings_2mb",
            Protocol::Embeddings,
            embeddings(100, 1536),
        ),
    ];
    let mut group = c.benchmark_group("answer_reading");
    for (name, protocol, body) in &answers {
        let observed = observe_json(*protocol, body.as_bytes());
        assert!(
            observed.completed && observed.usage.is_some(),
            "{name} reads"
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{name}/observe_json"), |b| {
            b.iter(|| observe_json(*protocol, black_box(body.as_bytes())));
        });
        group.bench_function(format!("{name}/baseline_skip_all"), |b| {
            b.iter(|| serde_json::from_slice::<IgnoredAny>(black_box(body.as_bytes())));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
