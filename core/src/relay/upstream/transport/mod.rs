//! How a request reaches its upstream, behind one interface: plain `http://` and `https://`
//! upstreams without a proxy go through the direct HTTP/1.1 transport (`direct`), whose
//! connection is driven by the task that reads the answer; channels with a proxy (HTTP or
//! SOCKS5) go through reqwest (`super::client`). Either way the pipeline gets an
//! [`UpstreamResponse`] whose body forwards each upstream read as it arrives.

mod connect;
mod direct;
mod pool;
#[cfg(test)]
mod tests;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

use super::client::{ClientError, Clients};
use super::origin::Origin;
use crate::config::LimitsConfig;

pub use direct::DirectBody;

/// Why a request got no answer from its upstream. The texts never contain the URL or a key.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The address guard refused every address of the upstream.
    #[error("{0}")]
    Guard(String),
    /// No connection could be opened (DNS, TCP or TLS).
    #[error("could not connect to the upstream")]
    Connect,
    /// The connection could not be opened in time.
    #[error("the upstream did not answer in time")]
    Timeout,
    /// The request failed after the connection was open.
    #[error("the upstream request failed")]
    Failed,
    /// The channel's transport settings are unusable (e.g. its proxy URL).
    #[error("{0}")]
    Setup(String),
}

/// The upstream connection broke while its body was being read.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the upstream connection broke")]
pub struct BodyError;

/// A request for an upstream.
#[derive(Debug)]
pub struct UpstreamRequest<'a> {
    /// The method.
    pub method: Method,
    /// The channel's origin.
    pub origin: &'a Origin,
    /// The path and query at the origin (origin-form, from [`Origin::target`]).
    pub target: String,
    /// Headers, without `Host` and framing headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// Whether internal addresses are refused (`allow_private_upstreams` off).
    pub guarded: bool,
    /// The channel's proxy URL, if it has one.
    pub proxy: Option<&'a str>,
}

/// An upstream's answer: status and headers read, the body still to come.
pub struct UpstreamResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, read as it arrives.
    pub body: UpstreamBody,
}

/// An upstream answer's body. Each item is what one read from the upstream delivered (possibly
/// several protocol frames at once); dropping it before its end closes the upstream connection,
/// which cancels the upstream request.
pub enum UpstreamBody {
    /// A body read on this task from a direct connection.
    Direct(DirectBody),
    /// Any other body (reqwest's, or a test's).
    Boxed(BoxStream<'static, Result<Bytes, BodyError>>),
}

impl UpstreamBody {
    /// A body from any stream of chunks.
    pub fn from_stream(
        stream: impl Stream<Item = Result<Bytes, BodyError>> + Send + 'static,
    ) -> Self {
        Self::Boxed(stream.boxed())
    }
}

impl Stream for UpstreamBody {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            Self::Direct(body) => Pin::new(body).poll_next(cx),
            Self::Boxed(body) => body.as_mut().poll_next(cx),
        }
    }
}

/// The transports, built once per process.
#[derive(Debug)]
pub struct Upstreams {
    direct: direct::Direct,
    clients: Clients,
}

impl Upstreams {
    /// The transports for these limits (connect timeout, idle pool).
    pub fn new(limits: &LimitsConfig) -> Self {
        Self {
            direct: direct::Direct::new(limits, Vec::new()),
            clients: Clients::new(limits),
        }
    }

    /// The reqwest clients (proxies, and callers off the hot path).
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Sends a request and returns the answer once its status and headers are read.
    pub async fn send(
        &self,
        request: UpstreamRequest<'_>,
    ) -> Result<UpstreamResponse, TransportError> {
        if request.proxy.is_none() && request.origin.authority().is_some() {
            self.direct.send(request).await
        } else {
            self.via_reqwest(request).await
        }
    }

    async fn via_reqwest(
        &self,
        request: UpstreamRequest<'_>,
    ) -> Result<UpstreamResponse, TransportError> {
        let client = self
            .clients
            .get(request.guarded, request.proxy)
            .map_err(|e: ClientError| TransportError::Setup(e.to_string()))?;
        let response = client
            .request(request.method, request.origin.url(&request.target))
            .headers(request.headers)
            .body(request.body)
            .send()
            .await
            .map_err(|err| from_reqwest(&err))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = UpstreamBody::from_stream(
            response
                .bytes_stream()
                .map(|chunk| chunk.map_err(|_| BodyError)),
        );
        Ok(UpstreamResponse {
            status,
            headers,
            body,
        })
    }
}

/// The transport error a reqwest error stands for (the guard's refusal kept word for word).
fn from_reqwest(err: &reqwest::Error) -> TransportError {
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains("allow_private_upstreams") {
            return TransportError::Guard(text);
        }
        source = e.source();
    }
    if err.is_connect() {
        TransportError::Connect
    } else if err.is_timeout() {
        TransportError::Timeout
    } else {
        TransportError::Failed
    }
}

/// The `Accept` reqwest sends when the client named none, kept so upstreams see the same request
/// whichever transport carries it.
fn default_accept(headers: &mut HeaderMap) {
    if !headers.contains_key(header::ACCEPT) {
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    }
}
