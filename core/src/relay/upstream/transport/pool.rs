//! Idle direct connections, per upstream host: a connection is owned by the request that checked
//! it out and comes back only after a clean, complete answer. Bounded per host; a connection idle
//! longer than the idle timeout is closed instead of reused (checked on every check-in and
//! check-out, so nothing runs in the background). Connections are kept apart per thread.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;

use super::connect::Io;
use crate::fast_hash::FastMap;

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
}

/// One open connection between requests.
pub struct Idle {
    /// Sends the next request.
    pub sender: Sender,
    /// Drives the connection.
    pub conn: Conn,
    since: Instant,
}

/// The idle connections.
pub struct Pool {
    max_per_host: usize,
    idle_timeout: Duration,
    idle: Mutex<FastMap<Key, Vec<Idle>>>,
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
            idle: Mutex::new(FastMap::default()),
        }
    }

    /// The most recently returned connection to `key` that has not been idle too long.
    pub fn take(&self, key: &Key) -> Option<Idle> {
        let now = Instant::now();
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(key)?;
        let found = loop {
            let candidate = list.pop()?;
            if now.duration_since(candidate.since) < self.idle_timeout {
                break candidate;
            }
        };
        // the rest is older still: drop what expired
        list.retain(|c| now.duration_since(c.since) < self.idle_timeout);
        Some(found)
    }

    /// Keeps a connection for the next request to `key`, unless the host already has its
    /// share of idle connections.
    pub fn put(&self, key: Key, sender: Sender, conn: Conn) {
        if self.max_per_host == 0 {
            return;
        }
        let now = Instant::now();
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        let list = idle.entry(key).or_default();
        list.retain(|c| now.duration_since(c.since) < self.idle_timeout);
        if list.len() < self.max_per_host {
            list.push(Idle {
                sender,
                conn,
                since: now,
            });
        }
    }

    /// Idle connections to `key` (tests).
    #[cfg(test)]
    pub fn idle_count(&self, key: &Key) -> usize {
        self.idle
            .lock()
            .map(|idle| idle.get(key).map_or(0, Vec::len))
            .unwrap_or(0)
    }
}
