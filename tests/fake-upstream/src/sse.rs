//! Server-sent events: framing helpers for raw event text, and the streaming body that writes
//! events one by one with pauses and faults. Protocol contents live in the protocol modules.

use std::io;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// The Chat Completions terminator, sent as its own event.
pub const DONE: &str = "data: [DONE]\n\n";

/// Pause before cutting a connection, so the events already produced leave the socket first:
/// hyper flushes its write buffer only when the body is pending.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

/// An event with a name, as Responses and Anthropic send them: `event: {name}` then
/// `data: {json}` and a blank line.
pub fn named_event(name: &str, data: &impl Serialize) -> String {
    let json = serde_json::to_string(data).unwrap_or_default();
    format!("event: {name}\ndata: {json}\n\n")
}

/// A bare `data: {json}` event, as Chat Completions sends them.
pub fn data_event(data: &impl Serialize) -> String {
    let json = serde_json::to_string(data).unwrap_or_default();
    format!("data: {json}\n\n")
}

/// Ensures a raw event ends with a blank line, so scripts may give events without one.
pub(crate) fn terminate(event: String) -> Bytes {
    if event.ends_with("\n\n") || event.ends_with("\r\n\r\n") {
        Bytes::from(event)
    } else if event.ends_with('\n') {
        Bytes::from(event + "\n")
    } else {
        Bytes::from(event + "\n\n")
    }
}

/// When and how a stream pauses or breaks.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Pacing {
    /// Pause before every event but the first.
    pub gap: Duration,
    /// `(n, d)`: pause `d` once `n` events have been sent (`n = 0`: before the first event).
    pub stall: Option<(usize, Duration)>,
    /// Drop the connection once this many events have been sent, without the stream's end.
    pub cut_after: Option<usize>,
}

struct Feed {
    events: std::vec::IntoIter<Bytes>,
    sent: usize,
    pacing: Pacing,
    cancel: CancellationToken,
    finished: bool,
}

/// A body that produces each event as its own frame, pausing as `pacing` says. A cut or a
/// server shutdown ends the body with an error, which makes hyper drop the connection without
/// the final empty chunk: the client sees a truncated stream.
pub(crate) fn body(events: Vec<Bytes>, pacing: Pacing, cancel: CancellationToken) -> Body {
    let feed = Feed {
        events: events.into_iter(),
        sent: 0,
        pacing,
        cancel,
        finished: false,
    };
    Body::from_stream(stream::unfold(feed, next_frame))
}

async fn next_frame(mut feed: Feed) -> Option<(io::Result<Bytes>, Feed)> {
    if feed.finished {
        return None;
    }
    if feed.pacing.cut_after == Some(feed.sent) {
        feed.finished = true;
        tokio::time::sleep(FLUSH_BEFORE_CUT).await;
        return Some((Err(io::Error::other("fake-upstream: cut mid-stream")), feed));
    }
    let event = feed.events.next()?;
    let mut wait = if feed.sent == 0 {
        Duration::ZERO
    } else {
        feed.pacing.gap
    };
    if let Some((after, stall)) = feed.pacing.stall
        && after == feed.sent
    {
        wait += stall;
    }
    if !wait.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = feed.cancel.cancelled() => {
                feed.finished = true;
                return Some((Err(io::Error::other("fake-upstream: shutting down")), feed));
            }
        }
    }
    feed.sent += 1;
    Some((Ok(event), feed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminate_adds_the_blank_line_once() {
        assert_eq!(terminate("data: 1".into()), "data: 1\n\n");
        assert_eq!(terminate("data: 1\n".into()), "data: 1\n\n");
        assert_eq!(terminate("data: 1\n\n".into()), "data: 1\n\n");
        assert_eq!(terminate("data: 1\r\n\r\n".into()), "data: 1\r\n\r\n");
    }

    #[test]
    fn events_are_framed() {
        let v = serde_json::json!({"a": 1});
        assert_eq!(named_event("x", &v), "event: x\ndata: {\"a\":1}\n\n");
        assert_eq!(data_event(&v), "data: {\"a\":1}\n\n");
    }
}
