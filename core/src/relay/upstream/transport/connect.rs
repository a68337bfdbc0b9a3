//! Opening a direct upstream connection: resolve the host (through the address guard when it is
//! on), connect over TCP with `TCP_NODELAY`, and for `https` do the TLS handshake with rustls
//! (ALPN `http/1.1`, the platform's roots as reqwest uses them), all within the connect timeout.

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
        let mut tcp = None;
        for addr in addrs {
            if let Ok(stream) = TcpStream::connect(addr).await {
                tcp = Some(stream);
                break;
            }
        }
        let tcp = tcp.ok_or(TransportError::Connect)?;
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
