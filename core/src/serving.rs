//! How connections are served: the caller's runtime accepts them and hands each one, round
//! robin, to one of `serve_threads` serving threads. Each serving thread runs its own
//! single-threaded Tokio runtime, so a connection's request, its upstream call and its answer
//! stay on one thread from start to end: no work stealing, no worker parking and waking between
//! threads (on a multi-threaded runtime that cost a futex call and a context switch per request),
//! and the upstream connection pool is kept per thread. This is the event-loop-per-core design
//! of nginx; the hand-over costs one cross-thread wake per connection, not per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::App;
use crate::idle_watch::{Activity, Closed, ConnectionLimits, Tracked, Watched};

/// Binds `addr` for serving with a listen queue of `backlog` connections (the kernel caps it at
/// `net.core.somaxconn`). Tokio's `TcpListener::bind` queues 128, like the standard library's:
/// under a burst of new connections (thousands of streams opening within seconds) the rest were
/// dropped, and their clients waited a second to retry.
pub fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // as `TcpListener::bind` does: a restarted server can bind while old connections linger
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// A connection accepted by the acceptor, on its way to a serving thread.
struct Accepted {
    stream: std::net::TcpStream,
    peer: SocketAddr,
}

/// One serving thread as the acceptor sees it.
struct Worker {
    connections: mpsc::UnboundedSender<Accepted>,
    /// Completes when the thread's connections have all closed after `drain`; `None` once seen.
    drained: Option<oneshot::Receiver<()>>,
    thread: JoinHandle<()>,
}

/// The serving threads of one `serve` call.
pub(crate) struct Workers {
    workers: Vec<Worker>,
    next: usize,
    /// Ends the threads' runtimes (after the usage flush, or when shutdown gives up waiting).
    finish: CancellationToken,
}

impl Workers {
    /// Starts `count` serving threads (at least one), each serving an app of its own from
    /// `app_for_thread` (its clones per request then count references only that thread
    /// changes; see `AppState::for_another_thread`). `drain` stops them taking new
    /// connections and closes each open one once its requests are answered. A connection idle for
    /// `limits.idle` (no request in flight, none started), or whose client has not read for
    /// `limits.unread` while an answer waited, is closed (see `idle_watch`).
    pub(crate) fn start(
        count: usize,
        app_for_thread: impl Fn() -> App,
        limits: ConnectionLimits,
        drain: &CancellationToken,
    ) -> std::io::Result<Self> {
        // Built as it goes, so a failure part-way ends the threads already started (`Drop`).
        let mut started = Self {
            workers: Vec::with_capacity(count.max(1)),
            next: 0,
            finish: CancellationToken::new(),
        };
        for index in 0..count.max(1) {
            let (connections, inbox) = mpsc::unbounded_channel();
            let (drained_tx, drained) = oneshot::channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("realms-serve-{index}"))
                .build()?;
            let serve = serve_thread(inbox, app_for_thread(), limits, drain.clone(), drained_tx);
            let finished = started.finish.clone();
            let thread = std::thread::Builder::new()
                .name(format!("realms-serve-{index}"))
                .spawn(move || {
                    crate::per_thread::claim(index);
                    runtime.block_on(async move {
                        tokio::select! {
                            () = serve => {}
                            // connections that never close (a client that stopped reading) are
                            // dropped with the runtime, their answers' records handed over
                            () = finished.cancelled() => return,
                        }
                        // Tasks that requests started (a token refresh, a record waiting for
                        // room in the queue) keep running here until the shell is done with them.
                        finished.cancelled().await;
                    });
                })?;
            started.workers.push(Worker {
                connections,
                drained: Some(drained),
                thread,
            });
        }
        Ok(started)
    }

    /// Hands a connection to the next thread in turn.
    fn hand_over(&mut self, stream: TcpStream, peer: SocketAddr) {
        // Without TCP_NODELAY the last small write of every answer (a stream's final chunk)
        // waits for the client's delayed ACK: ~40 ms added to each stream.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY on a connection");
        }
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(error = %err, "could not hand a connection over; closed it");
                return;
            }
        };
        let index = self.next % self.workers.len();
        self.next = self.next.wrapping_add(1);
        if self.workers[index]
            .connections
            .send(Accepted { stream, peer })
            .is_err()
        {
            tracing::error!("a serving thread has stopped; closed a new connection");
        }
    }

    /// Accepts connections on `listener` until `drain` is cancelled.
    pub(crate) async fn accept(
        &mut self,
        listener: tokio::net::TcpListener,
        drain: &CancellationToken,
    ) {
        loop {
            let accepted = tokio::select! {
                biased;
                () = drain.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => self.hand_over(stream, peer),
                Err(err) if is_connection_error(&err) => {}
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::error!(error = %err, "accepting a connection failed");
                    tokio::select! {
                        () = drain.cancelled() => return,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                    }
                }
            }
        }
    }

    /// Waits until every thread's connections have closed (call after cancelling `drain`).
    pub(crate) async fn drained(&mut self) {
        for worker in &mut self.workers {
            if let Some(drained) = worker.drained.as_mut() {
                // An error means the thread has already ended: nothing of it is open.
                let _ = drained.await;
                worker.drained = None;
            }
        }
    }

    /// Ends the threads' runtimes (dropping whatever still runs there) and waits for the threads.
    pub(crate) async fn finish(mut self) {
        self.finish.cancel();
        let workers = std::mem::take(&mut self.workers);
        let threads: Vec<_> = workers.into_iter().map(|w| w.thread).collect();
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                if thread.join().is_err() {
                    tracing::error!("a serving thread panicked");
                }
            }
        });
        if joined.await.is_err() {
            tracing::error!("could not wait for the serving threads");
        }
    }
}

impl Drop for Workers {
    /// Dropped without [`Workers::finish`] (a failed start, a panic): the threads still end, once
    /// their connections have (closing the hand-over channels ends their accept loops).
    fn drop(&mut self) {
        self.finish.cancel();
    }
}

/// How long the acceptor pauses after an accept error that is not about one connection.
const ACCEPT_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// Errors that concern only the connection being accepted.
fn is_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// One serving thread: serves the connections it is handed until `drain`, then lets the open
/// ones finish their requests and reports when all have closed.
async fn serve_thread(
    mut inbox: mpsc::UnboundedReceiver<Accepted>,
    app: App,
    limits: ConnectionLimits,
    drain: CancellationToken,
    drained: oneshot::Sender<()>,
) {
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let accepted = tokio::select! {
            biased;
            () = drain.cancelled() => break,
            accepted = inbox.recv() => accepted,
        };
        let Some(Accepted { stream, peer }) = accepted else {
            break;
        };
        let stream = match stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream))
        {
            Ok(stream) => stream,
            Err(err) => {
                tracing::debug!(error = %err, "could not take over a connection; closed it");
                continue;
            }
        };
        let app = app.clone();
        let activity = Arc::new(Activity::default());
        let requests = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = requests.request_started();
            let answer =
                tower::ServiceExt::oneshot(app.clone(), request.map(axum::body::Body::new));
            futures_util::FutureExt::map(answer, move |answer| {
                answer.map(|response| response.map(|body| Tracked::new(body, in_flight)))
            })
        });
        let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
        let connection = builder.serve_connection_with_upgrades(io, service);
        let connection = graceful.watch(connection.into_owned());
        #[expect(
            clippy::disallowed_methods,
            reason = "connections are tracked by `graceful`, which shutdown waits on"
        )]
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(err) = ended {
                    tracing::trace!(error = %err, "connection ended with an error");
                },
                // a silent client, half a request head, a kept-alive connection unused, or a
                // client that stopped reading its answer
                closed = activity.watch(limits) => match closed {
                    Closed::Idle => tracing::trace!("closed a connection idle for the header timeout"),
                    Closed::Unread => tracing::debug!("closed a connection whose client stopped reading"),
                },
            }
        });
    }
    // Connections handed over but not yet taken are closed unanswered, as a listener's backlog
    // would be.
    drop(inbox);
    graceful.shutdown().await;
    let _ = drained.send(());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::routing::get;

    use super::*;

    /// An app that answers with the serving thread's name and the peer it was told of.
    fn app() -> App {
        let router = Router::new()
            .route(
                "/where",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    let thread = std::thread::current().name().unwrap_or_default().to_owned();
                    format!("{thread} {peer}")
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            )
            .route(
                "/drip",
                get(|| async { axum::body::Body::from_stream(drip()) }),
            );
        App::new(router)
    }

    /// Three chunks 150 ms apart, the first at once.
    fn drip() -> impl futures_util::Stream<Item = Result<&'static str, std::io::Error>> {
        futures_util::stream::unfold(0, |sent| async move {
            if sent == 3 {
                return None;
            }
            if sent > 0 {
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            Some((Ok("drop "), sent + 1))
        })
    }

    /// The header timeout of the tests that do not test it.
    const HEADER_TIMEOUT: Duration = Duration::from_secs(60);

    /// Connections closed after `header_timeout` idle, or a minute unread.
    fn limits(header_timeout: Duration) -> ConnectionLimits {
        ConnectionLimits {
            idle: header_timeout,
            unread: Duration::from_secs(60),
        }
    }

    /// Serving threads and a port-0 listener for them.
    async fn setup(
        threads: usize,
        header_timeout: Duration,
    ) -> (
        tokio::net::TcpListener,
        SocketAddr,
        Workers,
        CancellationToken,
    ) {
        setup_serving(threads, header_timeout, app).await
    }

    /// Serving threads of apps from `app_for_thread` and a port-0 listener for them.
    async fn setup_serving(
        threads: usize,
        header_timeout: Duration,
        app_for_thread: impl Fn() -> App,
    ) -> (
        tokio::net::TcpListener,
        SocketAddr,
        Workers,
        CancellationToken,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let drain = CancellationToken::new();
        let workers = Workers::start(threads, app_for_thread, limits(header_timeout), &drain)
            .expect("threads start");
        (listener, addr, workers, drain)
    }

    /// A client that opens a new connection for every request.
    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client")
    }

    /// The bodies of `count` GETs of `path`, each on a new connection; then drains.
    async fn bodies_then_drain(
        addr: SocketAddr,
        path: &str,
        count: usize,
        drain: &CancellationToken,
    ) -> Vec<String> {
        let client = client();
        let mut bodies = Vec::with_capacity(count);
        for _ in 0..count {
            let body = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .expect("answer")
                .text()
                .await
                .expect("body");
            bodies.push(body);
        }
        drain.cancel();
        bodies
    }

    #[tokio::test]
    async fn connections_are_spread_over_the_serving_threads_with_their_peer() {
        let (listener, addr, mut workers, drain) = setup(2, HEADER_TIMEOUT).await;
        let calls = bodies_then_drain(addr, "/where", 4, &drain);
        let ((), bodies) = tokio::join!(workers.accept(listener, &drain), calls);
        let mut threads = std::collections::BTreeSet::new();
        for body in &bodies {
            let (thread, peer) = body.split_once(' ').expect("thread and peer");
            let peer: SocketAddr = peer.parse().expect("a socket address");
            assert_eq!(peer.ip(), addr.ip());
            assert_ne!(peer.port(), addr.port());
            threads.insert(thread.to_owned());
        }
        assert_eq!(
            threads.into_iter().collect::<Vec<_>>(),
            ["realms-serve-0", "realms-serve-1"]
        );
        workers.drained().await;
        workers.finish().await;
    }

    /// Each serving thread serves the app built for it (with a state handle of its own in
    /// Realms), not clones of one app.
    #[tokio::test]
    async fn each_serving_thread_serves_an_app_of_its_own() {
        let built = std::sync::atomic::AtomicUsize::new(0);
        let app_for_thread = || {
            let index = built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let router = Router::new().route(
                "/which",
                get(move || async move {
                    let thread = std::thread::current().name().unwrap_or_default().to_owned();
                    format!("{thread} app-{index}")
                }),
            );
            App::new(router)
        };
        let (listener, addr, mut workers, drain) =
            setup_serving(2, HEADER_TIMEOUT, app_for_thread).await;
        assert_eq!(built.load(std::sync::atomic::Ordering::Relaxed), 2);
        let calls = bodies_then_drain(addr, "/which", 4, &drain);
        let ((), bodies) = tokio::join!(workers.accept(listener, &drain), calls);
        let answers: std::collections::BTreeSet<String> = bodies.into_iter().collect();
        assert_eq!(
            answers.into_iter().collect::<Vec<_>>(),
            ["realms-serve-0 app-0", "realms-serve-1 app-1"]
        );
        workers.drained().await;
        workers.finish().await;
    }

    #[tokio::test]
    async fn draining_finishes_requests_in_flight_and_refuses_new_connections() {
        let (listener, addr, mut workers, drain) = setup(1, HEADER_TIMEOUT).await;
        let slow = client().get(format!("http://{addr}/slow")).send();
        let drain_soon = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drain.cancel();
        };
        let ((), answer, ()) = tokio::join!(workers.accept(listener, &drain), slow, drain_soon);
        let answer = answer.expect("the request in flight is answered");
        assert_eq!(answer.text().await.expect("body"), "done");
        tokio::time::timeout(Duration::from_secs(5), workers.drained())
            .await
            .expect("the thread reports its connections closed");
        assert!(
            client()
                .get(format!("http://{addr}/where"))
                .send()
                .await
                .is_err(),
            "the listener is closed"
        );
        workers.finish().await;
    }

    #[tokio::test]
    async fn threads_end_when_the_workers_are_dropped_unfinished() {
        let drain = CancellationToken::new();
        let mut workers =
            Workers::start(2, app, limits(HEADER_TIMEOUT), &drain).expect("threads start");
        let threads: Vec<_> = std::mem::take(&mut workers.workers)
            .into_iter()
            .map(|worker| worker.thread)
            .collect();
        drop(workers);
        for _ in 0..500 {
            if threads.iter().all(JoinHandle::is_finished) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("serving threads still run after their workers were dropped");
    }

    /// Reads what the server sends until it closes the connection; `None` when it is still
    /// open after `limit`.
    async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
        use tokio::io::AsyncReadExt;
        let mut received = Vec::new();
        tokio::time::timeout(limit, stream.read_to_end(&mut received))
            .await
            .ok()?
            .ok()?;
        Some(String::from_utf8_lossy(&received).into_owned())
    }

    /// Serves on one thread with `header_timeout` while `clients` runs against its address,
    /// then drains and ends the thread.
    async fn serve_while<F: std::future::Future<Output = ()>>(
        header_timeout: Duration,
        clients: impl FnOnce(SocketAddr) -> F,
    ) {
        let (listener, addr, mut workers, drain) = setup(1, header_timeout).await;
        let clients = async {
            clients(addr).await;
            drain.cancel();
        };
        let ((), ()) = tokio::join!(workers.accept(listener, &drain), clients);
        workers.drained().await;
        workers.finish().await;
    }

    /// Connects, sends `bytes` and nothing more; returns what the server sent before it closed
    /// the connection, which must be no sooner than `timeout`.
    async fn closed_after_sending(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> String {
        use tokio::io::AsyncWriteExt;
        let mut quiet = TcpStream::connect(addr).await.expect("connect");
        quiet.write_all(bytes).await.expect("write");
        let started = std::time::Instant::now();
        let answer = read_until_closed(&mut quiet, Duration::from_secs(5))
            .await
            .expect("the server closes the connection");
        assert!(started.elapsed() >= timeout - Duration::from_millis(50));
        answer
    }

    #[tokio::test]
    async fn a_client_too_slow_with_its_request_head_is_disconnected() {
        use tokio::io::AsyncWriteExt;
        let timeout = Duration::from_millis(300);
        serve_while(timeout, |addr| async move {
            // half a request head, then silence
            let half_head = b"GET /where HTTP/1.1\r\nhost: x\r\n";
            let answer = closed_after_sending(addr, half_head, timeout).await;
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "nothing or a 408, got {answer:?}"
            );

            // a whole request in time is answered; the kept-alive connection is closed once it
            // has been idle for the timeout
            let mut prompt = TcpStream::connect(addr).await.expect("connect");
            prompt
                .write_all(b"GET /where HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .expect("write");
            let answer = read_until_closed(&mut prompt, Duration::from_secs(5))
                .await
                .expect("the idle connection is closed");
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
            assert!(answer.ends_with(&format!("{}", prompt.local_addr().expect("addr"))));
        })
        .await;
    }

    #[tokio::test]
    async fn answers_slower_than_the_header_timeout_are_not_cut() {
        serve_while(Duration::from_millis(100), |addr| async move {
            let slow = client().get(format!("http://{addr}/slow")).send().await;
            let slow = slow.expect("the slow answer arrives").text().await;
            assert_eq!(slow.expect("its body"), "done");
            let drip = client().get(format!("http://{addr}/drip")).send().await;
            let drip = drip.expect("the streamed answer starts").text().await;
            assert_eq!(drip.expect("its whole body"), "drop drop drop ");
        })
        .await;
    }

    #[tokio::test]
    async fn an_idle_http2_connection_is_closed_after_the_header_timeout() {
        let timeout = Duration::from_millis(300);
        serve_while(timeout, |addr| async move {
            // the HTTP/2 preface and an empty SETTINGS frame, then no stream at all
            let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
            closed_after_sending(addr, preface, timeout).await;
        })
        .await;
    }

    /// How many of `attempts` simultaneous connections to a listener that accepts none complete
    /// within a short wait.
    async fn connections_queued(backlog: u32, attempts: usize) -> usize {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)), backlog).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let connects = (0..attempts).map(|_| async move {
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr))
                .await
                .is_ok_and(|connected| connected.is_ok())
        });
        let done = futures_util::future::join_all(connects).await;
        drop(listener);
        done.into_iter().filter(|&queued| queued).count()
    }

    #[tokio::test]
    async fn the_listen_queue_holds_the_configured_backlog() {
        // Linux queues backlog + 1 completed connections and drops the SYNs beyond them
        let small = connections_queued(4, 24).await;
        assert!(
            (1..=8).contains(&small),
            "{small} queued with a backlog of 4"
        );
        assert_eq!(connections_queued(64, 24).await, 24);
    }
}
