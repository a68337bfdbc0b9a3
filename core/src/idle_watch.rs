//! Closing client connections that sit idle: one that has had no request in flight and started
//! no new one for `limit` is closed, whether it is an HTTP/1.1 connection kept alive between
//! requests, one whose client sends half a request head and goes quiet, or an HTTP/2 connection
//! with no streams.
//!
//! Each connection has an [`Activity`]: a request marks itself started when its head has
//! arrived and finished when its response body is done or dropped ([`Tracked`]). A watch per
//! connection looks at it every quarter of `limit`. This replaces hyper's header-read timer,
//! which put a boxed timer in the runtime's wheel for every request head (600 instructions a
//! request more in `bench/instructions.sh`) and covered HTTP/1.1 only; the watch costs a wake-up
//! per connection every `limit / 4`, and a request two atomic counts.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};

/// Looks at a connection's activity per `limit`: a connection is closed between `limit` and
/// `limit * (1 + 1 / LOOKS_PER_LIMIT)` after its last request ended.
const LOOKS_PER_LIMIT: u32 = 4;

/// What one connection's requests are doing.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Requests whose head has arrived, in all.
    started: AtomicU64,
    /// Requests whose response is not done yet.
    in_flight: AtomicUsize,
}

impl Activity {
    /// Marks a request started; it counts as in flight until the returned guard is dropped.
    pub(crate) fn request_started(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Completes once the connection has been idle for at least `limit`: no request in flight
    /// and none started.
    pub(crate) async fn idle_for(&self, limit: Duration) {
        let look = limit / LOOKS_PER_LIMIT;
        let mut seen = self.started.load(Ordering::Relaxed);
        let mut idle_looks = 0;
        // Activity may have ended just before the first idle look, so `LOOKS_PER_LIMIT` idle
        // looks after that one make sure of a whole `limit`.
        while idle_looks <= LOOKS_PER_LIMIT {
            tokio::time::sleep(look).await;
            let started = self.started.load(Ordering::Relaxed);
            let busy = started != seen || self.in_flight.load(Ordering::Relaxed) > 0;
            seen = started;
            idle_looks = if busy { 0 } else { idle_looks + 1 };
        }
    }
}

/// A request in flight on its connection (see [`Activity::request_started`]).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request in flight until it is done or dropped.
#[derive(Debug)]
pub(crate) struct Tracked<B> {
    body: B,
    in_flight: Option<InFlight>,
}

impl<B> Tracked<B> {
    pub(crate) fn new(body: B, in_flight: InFlight) -> Self {
        Self {
            body,
            in_flight: Some(in_flight),
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.in_flight = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};

    use super::*;

    const LIMIT: Duration = Duration::from_millis(400);

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_requests_is_idle_after_the_limit() {
        let activity = Arc::new(Activity::default());
        let started = tokio::time::Instant::now();
        activity.idle_for(LIMIT).await;
        let waited = started.elapsed();
        assert!(waited >= LIMIT && waited <= LIMIT + LIMIT / 4, "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_keeps_the_connection_open() {
        let activity = Arc::new(Activity::default());
        let in_flight = activity.request_started();
        let started = tokio::time::Instant::now();
        let finish = async {
            tokio::time::sleep(LIMIT * 3).await;
            drop(in_flight);
            tokio::time::Instant::now()
        };
        let (ended, ()) = tokio::join!(finish, activity.idle_for(LIMIT));
        let idle = started.elapsed() - (ended - started);
        assert!(idle >= LIMIT && idle <= LIMIT + LIMIT / 4, "{idle:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn requests_that_keep_coming_keep_the_connection_open() {
        let activity = Arc::new(Activity::default());
        let started = tokio::time::Instant::now();
        let requests = async {
            for _ in 0..10 {
                drop(activity.request_started());
                tokio::time::sleep(LIMIT / 2).await;
            }
            tokio::time::Instant::now()
        };
        let (last, ()) = tokio::join!(requests, activity.idle_for(LIMIT));
        assert!(started.elapsed() >= (last - started) + LIMIT / 2);
    }

    #[tokio::test]
    async fn a_tracked_body_ends_its_request_when_done_or_dropped() {
        let activity = Arc::new(Activity::default());
        let mut body = Tracked::new(
            Full::new(Bytes::from_static(b"hi")),
            activity.request_started(),
        );
        let dropped = Tracked::new(Full::new(Bytes::new()), activity.request_started());
        assert_eq!(activity.in_flight.load(Ordering::Relaxed), 2);
        let data = body.frame().await.expect("a frame").expect("data");
        assert_eq!(data.into_data().expect("data"), "hi");
        assert_eq!(
            activity.in_flight.load(Ordering::Relaxed),
            2,
            "not done yet"
        );
        assert!(body.frame().await.is_none());
        assert_eq!(
            activity.in_flight.load(Ordering::Relaxed),
            1,
            "done, still held"
        );
        drop(dropped);
        assert_eq!(activity.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(activity.started.load(Ordering::Relaxed), 2);
    }
}
