//! Opening a direct upstream connection: resolve the host (through the address guard when it is
//! on), connect over TCP with `TCP_NODELAY` (racing the addresses, RFC 8305 style), and for
//! `https` do the TLS handshake with rustls (ALPN `http/1.1`, the platform's roots as reqwest
//! uses them), all within the connect timeout.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::TransportError;
use super::pool::Key;
use crate::relay::upstream::guard;

/// A connected upstream socket, plain or TLS.
pub enum Io {
    /// `http://`
    Plain(TcpStream),
    /// `https://`
    Tls(Box<TlsStream<TcpStream>>),
}

/// What opens connections: the connect timeout and the TLS settings (built on first use).
pub struct Connector {
    timeout: Duration,
    extra_roots: Vec<CertificateDer<'static>>,
    tls: OnceLock<Result<TlsConnector, String>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// A connector; `extra_roots` are trusted besides the platform's (tests).
    pub fn new(timeout: Duration, extra_roots: Vec<CertificateDer<'static>>) -> Self {
        Self {
            timeout,
            extra_roots,
            tls: OnceLock::new(),
        }
    }

    /// Opens a connection to `key`'s host within the connect timeout.
    pub async fn connect(&self, key: &Key) -> Result<Io, TransportError> {
        match tokio::time::timeout(self.timeout, self.open(key)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout),
        }
    }

    async fn open(&self, key: &Key) -> Result<Io, TransportError> {
        let addrs = resolve(key).await?;
        let tcp = connect_first(addrs).await.ok_or(TransportError::Connect)?;
        // Small requests and SSE reads must not wait behind Nagle.
        tcp.set_nodelay(true).map_err(|_| TransportError::Connect)?;
        if !key.https {
            return Ok(Io::Plain(tcp));
        }
        let connector = self
            .tls
            .get_or_init(|| tls_connector(&self.extra_roots))
            .as_ref()
            .map_err(|e| TransportError::Setup(e.clone()))?;
        let name = server_name(&key.host)?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|_| TransportError::Connect)?;
        Ok(Io::Tls(Box::new(tls)))
    }
}

/// How long an address has to connect before the next one is tried beside it (RFC 8305's
/// "connection attempt delay"; reqwest waits 300 ms).
const NEXT_ADDRESS_DELAY: Duration = Duration::from_millis(250);

/// The first of `addrs` to accept a TCP connection. One that has not connected within
/// [`NEXT_ADDRESS_DELAY`] (a route that drops packets: broken IPv6, a firewall) gets the next
/// address started beside it, and a refusal starts the next at once; the families alternate,
/// so one family's dead addresses cannot hold back the other's.
async fn connect_first(addrs: Vec<SocketAddr>) -> Option<TcpStream> {
    use futures_util::StreamExt;
    use futures_util::stream::FuturesUnordered;

    let mut waiting = alternate_families(addrs).into_iter();
    let mut attempts = FuturesUnordered::new();
    attempts.push(TcpStream::connect(waiting.next()?));
    loop {
        let more = waiting.len() > 0;
        tokio::select! {
            Some(attempt) = attempts.next() => match attempt {
                Ok(stream) => return Some(stream),
                Err(_) => {
                    if let Some(addr) = waiting.next() {
                        attempts.push(TcpStream::connect(addr));
                    } else if attempts.is_empty() {
                        return None;
                    }
                }
            },
            () = tokio::time::sleep(NEXT_ADDRESS_DELAY), if more => {
                if let Some(addr) = waiting.next() {
                    attempts.push(TcpStream::connect(addr));
                }
            }
            else => return None,
        }
    }
}

/// `addrs` reordered to alternate between IPv6 and IPv4, starting with the first's family and
/// otherwise in the resolver's order.
fn alternate_families(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_v6 = first.is_ipv6();
    let (mut preferred, mut other): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    preferred.reverse();
    other.reverse();
    let mut out = Vec::with_capacity(preferred.len() + other.len());
    while !preferred.is_empty() || !other.is_empty() {
        out.extend(preferred.pop());
        out.extend(other.pop());
    }
    out
}

/// The addresses to try: an IP literal as it is, a name through DNS; with the guard on, only
/// public ones (an IP literal was already checked before sending, and is checked again here).
async fn resolve(key: &Key) -> Result<Vec<SocketAddr>, TransportError> {
    let host = key.host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, key.port)],
        Err(_) => tokio::net::lookup_host((host, key.port))
            .await
            .map_err(|_| TransportError::Connect)?
            .collect(),
    };
    if found.is_empty() {
        return Err(TransportError::Connect);
    }
    if key.guarded {
        return guard::public_only(host, found).map_err(TransportError::Guard);
    }
    Ok(found)
}

fn server_name(host: &str) -> Result<ServerName<'static>, TransportError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).map_err(|_| TransportError::Connect)
}

/// The TLS client settings: reqwest's provider (aws-lc-rs unless the process installed
/// another) and verifier (the platform's), HTTP/1.1 only.
fn tls_connector(extra_roots: &[CertificateDer<'static>]) -> Result<TlsConnector, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = if extra_roots.is_empty() {
        rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots.iter().cloned(),
            Arc::clone(&provider),
        )
    }
    .map_err(|e| format!("TLS certificate verifier: {e}"))?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A listener whose accept queue is full: a connection to it waits, its SYNs dropped, as
    /// through a route that loses packets. Kept alive with the listener and the queued client.
    async fn black_hole() -> (SocketAddr, tokio::net::TcpListener, TcpStream) {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let listener = socket.listen(0).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let queued = TcpStream::connect(addr).await.expect("fills the queue");
        (addr, listener, queued)
    }

    #[tokio::test]
    async fn an_address_that_does_not_answer_does_not_hold_back_the_next() {
        let (dead, _listener, _queued) = black_hole().await;
        let alive = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let alive_addr = alive.local_addr().expect("addr");
        let started = Instant::now();
        let stream = tokio::time::timeout(
            Duration::from_secs(5),
            connect_first(vec![dead, alive_addr]),
        )
        .await
        .expect("connected before the timeout")
        .expect("connected");
        assert_eq!(stream.peer_addr().expect("peer"), alive_addr);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn refused_addresses_fall_through_and_none_left_is_none() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr")
        };
        assert!(connect_first(vec![closed]).await.is_none());
        assert!(connect_first(Vec::new()).await.is_none());
        let alive = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let alive_addr = alive.local_addr().expect("addr");
        let stream = connect_first(vec![closed, alive_addr])
            .await
            .expect("the second answers");
        assert_eq!(stream.peer_addr().expect("peer"), alive_addr);
    }

    #[test]
    fn families_alternate_from_the_first() {
        let a = |s: &str| s.parse::<SocketAddr>().expect("addr");
        let ordered = alternate_families(vec![
            a("[::1]:1"),
            a("[::2]:1"),
            a("[::3]:1"),
            a("1.0.0.1:1"),
            a("1.0.0.2:1"),
        ]);
        assert_eq!(
            ordered,
            [
                a("[::1]:1"),
                a("1.0.0.1:1"),
                a("[::2]:1"),
                a("1.0.0.2:1"),
                a("[::3]:1")
            ]
        );
    }
}
