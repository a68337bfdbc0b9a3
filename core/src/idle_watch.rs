//! Closing client connections that sit idle: one that has had no request in flight and started
//! no new one for `limit` is closed, whether it is an HTTP/1.1 connection kept alive between
//! requests, one whose client sends half a request head and goes quiet, or an HTTP/2 connection
//! with no streams. Also closed: one whose client stopped reading, a write having waited for
//! room in its buffers for `unread` ([`Watched`] notes the writes).
//!
//! Each connection has an [`Activity`]: a request marks itself started when its head has
//! arrived and finished when its response body is done or dropped ([`Tracked`]). A watch per
//! connection looks at it every quarter of `limit`. This replaces hyper's header-read timer,
//! which put a boxed timer in the runtime's wheel for every request head (600 instructions a
//! request more in `bench/instructions.sh`) and covered HTTP/1.1 only; the watch costs a wake-up
//! per connection every `limit / 4`, and a request two atomic counts.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Looks at a connection's activity per `limit`: a connection is closed between `limit` and
/// `limit * (1 + 1 / LOOKS_PER_LIMIT)` after its last request ended.
const LOOKS_PER_LIMIT: u32 = 4;

/// When a client connection is closed for what its client does not do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// No request in flight and none started for this long (`limits.client_header_timeout_secs`).
    pub idle: Duration,
    /// A write waiting this long for the client to read (`limits.client_write_timeout_secs`).
    pub unread: Duration,
}

/// Why a watched connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// It was idle for [`ConnectionLimits::idle`].
    Idle,
    /// Its client read nothing for [`ConnectionLimits::unread`] while a write waited.
    Unread,
}

/// What one connection's requests are doing.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Requests whose head has arrived, in all.
    started: AtomicU64,
    /// Requests whose response is not done yet.
    in_flight: AtomicUsize,
    /// Writes to the client that went through, in all.
    written: AtomicU64,
    /// Whether the last write had to wait for room (the client's buffers were full).
    write_waiting: AtomicBool,
}

impl Activity {
    /// Marks a request started; it counts as in flight until the returned guard is dropped.
    pub(crate) fn request_started(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Completes once the connection has been idle for at least `limits.idle` (no request in
    /// flight and none started), or a write to it has waited for the client to read, with no
    /// write going through, for at least `limits.unread`.
    pub(crate) async fn watch(&self, limits: ConnectionLimits) -> Closed {
        let look = limits.idle.min(limits.unread) / LOOKS_PER_LIMIT;
        // What happened may have changed just before the first look that saw none of it, so
        // one look more than the limit holds makes sure of a whole limit.
        let looks_in = |limit: Duration| limit.as_nanos().div_ceil(look.as_nanos().max(1)) + 1;
        let (idle_needed, unread_needed) = (looks_in(limits.idle), looks_in(limits.unread));
        let mut seen = self.started.load(Ordering::Relaxed);
        let mut seen_written = self.written.load(Ordering::Relaxed);
        let (mut idle_looks, mut unread_looks) = (0, 0);
        loop {
            tokio::time::sleep(look).await;
            let started = self.started.load(Ordering::Relaxed);
            let busy = started != seen || self.in_flight.load(Ordering::Relaxed) > 0;
            seen = started;
            idle_looks = if busy { 0 } else { idle_looks + 1 };
            if idle_looks >= idle_needed {
                return Closed::Idle;
            }
            let written = self.written.load(Ordering::Relaxed);
            let stuck = written == seen_written && self.write_waiting.load(Ordering::Relaxed);
            seen_written = written;
            unread_looks = if stuck { unread_looks + 1 } else { 0 };
            if unread_looks >= unread_needed {
                return Closed::Unread;
            }
        }
    }

    /// Notes how a write to the client went.
    fn wrote<T>(&self, polled: &Poll<io::Result<T>>) {
        match polled {
            Poll::Pending => self.write_waiting.store(true, Ordering::Relaxed),
            Poll::Ready(_) => {
                self.written.fetch_add(1, Ordering::Relaxed);
                if self.write_waiting.load(Ordering::Relaxed) {
                    self.write_waiting.store(false, Ordering::Relaxed);
                }
            }
        }
    }
}

/// A client connection whose writes are noted in its [`Activity`].
#[derive(Debug)]
pub(crate) struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    pub(crate) fn new(io: T, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.activity.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.activity.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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

    /// Idle after [`LIMIT`]; a write may wait a long time.
    const IDLE_ONLY: ConnectionLimits = ConnectionLimits {
        idle: LIMIT,
        unread: Duration::from_secs(3600),
    };

    #[tokio::test(start_paused = true)]
    async fn a_write_that_waits_for_the_reader_closes_the_connection_after_its_limit() {
        let activity = Arc::new(Activity::default());
        let limits = ConnectionLimits {
            idle: Duration::from_secs(3600),
            unread: LIMIT,
        };
        let _in_flight = activity.request_started();
        activity.wrote(&Poll::<io::Result<()>>::Pending);
        let started = tokio::time::Instant::now();
        assert_eq!(activity.watch(limits).await, Closed::Unread);
        let waited = started.elapsed();
        assert!(waited >= LIMIT && waited <= LIMIT + LIMIT / 4, "{waited:?}");

        // writes that go through, however slowly, keep it open
        let writes = async {
            for _ in 0..10 {
                activity.wrote(&Poll::Ready(Ok(())));
                activity.wrote(&Poll::<io::Result<()>>::Pending);
                tokio::time::sleep(LIMIT / 2).await;
            }
            activity.wrote(&Poll::Ready(Ok(())));
        };
        let watched = async {
            tokio::select! {
                closed = activity.watch(limits) => Some(closed),
                () = tokio::time::sleep(LIMIT * 6) => None,
            }
        };
        let ((), closed) = tokio::join!(writes, watched);
        assert_eq!(closed, None, "never closed while writes went through");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_requests_is_idle_after_the_limit() {
        let activity = Arc::new(Activity::default());
        let started = tokio::time::Instant::now();
        assert_eq!(activity.watch(IDLE_ONLY).await, Closed::Idle);
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
        let (ended, _) = tokio::join!(finish, activity.watch(IDLE_ONLY));
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
        let (last, _) = tokio::join!(requests, activity.watch(IDLE_ONLY));
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
