//! Idle direct connections, per upstream host: a connection is owned by the request that checked
//! it out and comes back only after a clean, complete answer. Bounded per host; a connection idle
//! longer than the idle timeout is closed instead of reused (checked on every check-in and
//! check-out, so nothing runs in the background). Connections are kept apart per thread, each
//! thread's in a map of its own (`crate::per_thread`): a check-out and check-in per request
//! then never write memory another serving thread writes too.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;

use super::connect::Io;
use crate::fast_hash::FastMap;
use crate::per_thread::PerThread;

/// The request body type of direct connections.
pub type RequestBody = http_body_util::Full<bytes::Bytes>;
/// The sending half of a direct connection.
pub type Sender = SendRequest<RequestBody>;
/// The I/O half of a direct connection, polled by whoever holds it.
pub type Conn = Connection<TokioIo<Io>, RequestBody>;

/// Which connections may serve a request: same scheme, host, port and guard setting (a
/// connection opened while private upstreams were allowed is not reused once they are not).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// `https` (TLS) or `http`.
    pub https: bool,
    /// The host as in the URL (`[..]` around IPv6 literals).
    pub host: std::sync::Arc<str>,
    /// The port, default ones filled in.
    pub port: u16,
    /// Whether the address guard applied when connecting.
    pub guarded: bool,
    /// The thread that opened the connection. Its socket is registered with that thread's
    /// runtime: on a serving thread (see `crate::serving`) a request elsewhere would be woken
    /// across threads, so each serving thread reuses only its own connections.
    pub home: std::thread::ThreadId,
    /// That thread's slot (`crate::per_thread`), whose map keeps its idle connections.
    pub slot: usize,
}

/// One open connection. Boxed while it lives: the connection state is large (buffers, parser
/// state), and it passes between the pool and the requests using it without being copied.
pub struct Pooled {
    /// Sends the next request.
    pub sender: Sender,
    /// Drives the connection.
    pub conn: Conn,
    /// When it was last returned to the pool.
    since: Instant,
}

impl Pooled {
    /// A connection just opened.
    pub fn new(sender: Sender, conn: Conn) -> Box<Self> {
        Box::new(Self {
            sender,
            conn,
            since: Instant::now(),
        })
    }
}

/// The idle connections.
pub struct Pool {
    max_per_host: usize,
    idle_timeout: Duration,
    /// Per key, oldest first: a connection is pushed when it comes back, so the ones idle too
    /// long are always a prefix of the list.
    #[expect(
        clippy::vec_box,
        reason = "the boxes go in and out whole: a connection never moves while it lives"
    )]
    idle: PerThread<Mutex<FastMap<Key, Vec<Box<Pooled>>>>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max_per_host", &self.max_per_host)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// An empty pool.
    pub fn new(max_per_host: usize, idle_timeout: Duration) -> Self {
        Self {
            max_per_host,
            idle_timeout,
            idle: PerThread::default(),
        }
    }

    /// The most recently returned connection to `key`, if it has not been idle too long (then
    /// none has: the others are older).
    pub fn take(&self, key: &Key) -> Option<Box<Pooled>> {
        let mut idle = self.idle.at(key.slot).lock().ok()?;
        let list = idle.get_mut(key)?;
        let newest = list.pop()?;
        if newest.since.elapsed() < self.idle_timeout {
            return Some(newest);
        }
        list.clear();
        None
    }

    /// Keeps a connection for the next request to `key`, unless the host already has its
    /// share of idle connections. Connections idle too long are closed first; only the front
    /// of the list is looked at, so a check-in costs the same with one idle connection or
    /// hundreds.
    pub fn put(&self, key: Key, mut connection: Box<Pooled>) {
        if self.max_per_host == 0 {
            return;
        }
        let Ok(mut idle) = self.idle.at(key.slot).lock() else {
            return;
        };
        let now = Instant::now();
        connection.since = now;
        let list = idle.entry(key).or_default();
        let expired = list.partition_point(|c| now.duration_since(c.since) >= self.idle_timeout);
        list.drain(..expired);
        if list.len() < self.max_per_host {
            list.push(connection);
        }
    }

    /// Idle connections to `key` (tests).
    #[cfg(test)]
    pub fn idle_count(&self, key: &Key) -> usize {
        self.idle
            .at(key.slot)
            .lock()
            .map(|idle| idle.get(key).map_or(0, Vec::len))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::upstream::transport::connect::Io;

    /// Short enough for the tests to wait it out.
    const IDLE_TIMEOUT: Duration = Duration::from_millis(200);

    fn key() -> Key {
        Key {
            https: false,
            host: "127.0.0.1".into(),
            port: 1,
            guarded: false,
            home: std::thread::current().id(),
            slot: crate::per_thread::slot(),
        }
    }

    /// A fresh connection to `listener` (nothing is sent on it).
    async fn connection(listener: &tokio::net::TcpListener) -> Box<Pooled> {
        let addr = listener.local_addr().expect("addr");
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(Io::Plain(tcp)))
            .await
            .expect("handshake");
        Pooled::new(sender, conn)
    }

    /// Where a boxed connection lives: the same box in and out of the pool.
    fn address(connection: &Pooled) -> usize {
        std::ptr::from_ref(connection) as usize
    }

    async fn listener() -> tokio::net::TcpListener {
        tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind")
    }

    #[tokio::test]
    async fn the_most_recently_returned_connection_goes_out_first() {
        let listener = listener().await;
        let pool = Pool::new(8, IDLE_TIMEOUT);
        let (older, newer) = (connection(&listener).await, connection(&listener).await);
        let (older_at, newer_at) = (address(&older), address(&newer));
        pool.put(key(), older);
        pool.put(key(), newer);
        let taken: Vec<usize> = std::iter::from_fn(|| pool.take(&key()))
            .map(|c| address(&c))
            .collect();
        assert_eq!(taken, [newer_at, older_at]);
    }

    #[tokio::test]
    async fn connections_idle_too_long_are_closed_at_the_next_check_in_or_out() {
        let listener = listener().await;
        let pool = Pool::new(8, IDLE_TIMEOUT);
        pool.put(key(), connection(&listener).await);
        pool.put(key(), connection(&listener).await);
        tokio::time::sleep(IDLE_TIMEOUT + Duration::from_millis(50)).await;
        pool.put(key(), connection(&listener).await);
        assert_eq!(pool.idle_count(&key()), 1, "the two expired ones are gone");
        tokio::time::sleep(IDLE_TIMEOUT + Duration::from_millis(50)).await;
        assert!(pool.take(&key()).is_none(), "expired meanwhile");
        assert_eq!(pool.idle_count(&key()), 0);
        pool.put(key(), connection(&listener).await);
        assert!(pool.take(&key()).is_some(), "a fresh one goes out");
    }

    #[tokio::test]
    async fn a_connection_checked_in_on_another_thread_goes_back_to_its_own_threads_map() {
        let listener = listener().await;
        let pool = Pool::new(8, IDLE_TIMEOUT);
        let connection = connection(&listener).await;
        let at = address(&connection);
        let opened_here = key();
        crate::per_thread::on_the_next_slot(|| pool.put(opened_here, connection));
        assert_eq!(pool.take(&key()).map(|c| address(&c)), Some(at));
    }

    #[tokio::test]
    async fn the_pool_keeps_at_most_its_share_per_host() {
        let listener = listener().await;
        let pool = Pool::new(2, IDLE_TIMEOUT);
        for _ in 0..3 {
            pool.put(key(), connection(&listener).await);
        }
        assert_eq!(pool.idle_count(&key()), 2);
    }
}
