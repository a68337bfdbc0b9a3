//! The direct transport: HTTP/1.1 with hyper's low-level client connection, driven by the task
//! that reads the answer — no connection task, no channel hop between the upstream socket and
//! the client's response. The body yields whatever one pass over the socket decoded, as one
//! chunk, and never waits to fill a buffer. A connection goes back to the pool only after a
//! clean, complete body; an error or a body dropped early closes it.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Request, Uri, header};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::TrySendError;
use hyper_util::rt::TokioIo;

use super::connect::Connector;
use super::pool::{Key, Pool, Pooled, RequestBody};
use super::{BodyError, TransportError, UpstreamBody, UpstreamRequest, UpstreamResponse};
use crate::config::LimitsConfig;

/// Most bytes gathered into one chunk from what the socket already delivered; past it the chunk
/// is handed on and the rest follows in the next one.
const MAX_GATHERED_BYTES: usize = 64 * 1024;

/// The direct transport: connector and idle pool.
#[derive(Debug)]
pub struct Direct {
    connector: Connector,
    pool: Arc<Pool>,
}

/// A connection checked out for one request.
struct Lease {
    connection: Box<Pooled>,
    /// The connection future finished (closed or failed); it must not be polled again.
    closed: bool,
    key: Key,
    pool: Arc<Pool>,
}

impl Lease {
    /// Lets the connection do its I/O (write the request, read the answer into the body).
    fn drive(&mut self, cx: &mut Context<'_>) {
        if !self.closed && Pin::new(&mut self.connection.conn).poll(cx).is_ready() {
            self.closed = true;
        }
    }

    /// Whether an idle connection can take a request now: still open and ready to send.
    fn ready(&mut self, cx: &mut Context<'_>) -> bool {
        self.drive(cx);
        !self.closed && matches!(self.connection.sender.poll_ready(cx), Poll::Ready(Ok(())))
    }

    /// Returns the connection to the pool after a complete answer, if it stays open.
    fn release(mut self, cx: &mut Context<'_>) {
        self.drive(cx);
        if !self.closed && !self.connection.sender.is_closed() {
            self.pool.put(self.key, self.connection);
        }
    }
}

impl Direct {
    /// The transport for these limits; `extra_roots` are trusted besides the platform's (tests).
    pub fn new(
        limits: &LimitsConfig,
        extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    ) -> Self {
        Self {
            connector: Connector::new(
                Duration::from_secs(limits.connect_timeout_secs),
                extra_roots,
            ),
            pool: Arc::new(Pool::new(
                limits.upstream_pool_max_idle_per_host,
                Duration::from_secs(limits.upstream_pool_idle_timeout_secs),
            )),
        }
    }

    /// The idle pool (tests).
    #[cfg(test)]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Sends `request` on an idle connection to its host or a new one.
    pub async fn send(
        &self,
        request: UpstreamRequest<'_>,
    ) -> Result<UpstreamResponse, TransportError> {
        let key = key_of(&request)?;
        let mut request = request_of(request)?;
        if let Some(mut lease) = self.checkout(&key).await {
            match exchange(&mut lease, request).await {
                Ok(response) => return Ok(answer(response, lease)),
                Err(mut err) => match err.take_message() {
                    // The connection closed before the request went out (the upstream ended an
                    // idle connection): nothing was sent, so a new connection may carry it.
                    Some(unsent) => request = unsent,
                    None => return Err(TransportError::Failed),
                },
            }
        }
        // Boxed: connecting (DNS, TCP, TLS) is the largest state of this future and happens
        // once per connection, while every request's future is moved several times on its way
        // down the pipeline; unboxed, it would make every one of those copies larger.
        let io = Box::pin(self.connector.connect(&key)).await?;
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(|_| TransportError::Connect)?;
        let mut lease = Lease {
            connection: Pooled::new(sender, conn),
            closed: false,
            key,
            pool: Arc::clone(&self.pool),
        };
        match exchange(&mut lease, request).await {
            Ok(response) => Ok(answer(response, lease)),
            Err(_) => Err(TransportError::Failed),
        }
    }

    /// An idle connection to `key` that is ready for a request; closed ones are dropped.
    async fn checkout(&self, key: &Key) -> Option<Lease> {
        while let Some(connection) = self.pool.take(key) {
            let mut lease = Lease {
                connection,
                closed: false,
                key: key.clone(),
                pool: Arc::clone(&self.pool),
            };
            if poll_fn(|cx| Poll::Ready(lease.ready(cx))).await {
                return Some(lease);
            }
        }
        None
    }
}

/// Sends the request and drives the connection until the answer's head is read. An unsent
/// request comes back in the error.
async fn exchange(
    lease: &mut Lease,
    request: Request<RequestBody>,
) -> Result<hyper::Response<Incoming>, TrySendError<Request<RequestBody>>> {
    let mut response = std::pin::pin!(lease.connection.sender.try_send_request(request));
    poll_fn(|cx| {
        lease.drive(cx);
        response.as_mut().poll(cx)
    })
    .await
}

fn answer(response: hyper::Response<Incoming>, lease: Lease) -> UpstreamResponse {
    let (parts, incoming) = response.into_parts();
    UpstreamResponse {
        status: parts.status,
        headers: parts.headers,
        body: UpstreamBody::Direct(DirectBody {
            incoming,
            lease: Some(lease),
            broken: false,
        }),
    }
}

/// The pool key of a request's origin.
fn key_of(request: &UpstreamRequest<'_>) -> Result<Key, TransportError> {
    let authority = request.origin.authority().ok_or(TransportError::Connect)?;
    Ok(Key {
        https: authority.https,
        host: Arc::clone(&authority.host),
        port: authority.port,
        guarded: request.guarded,
        home: std::thread::current().id(),
        slot: crate::per_thread::slot(),
    })
}

/// The request as hyper sends it: origin-form target, `Host` and the default `Accept` added to
/// the caller's headers.
fn request_of(request: UpstreamRequest<'_>) -> Result<Request<RequestBody>, TransportError> {
    let authority = request.origin.authority().ok_or(TransportError::Connect)?;
    // The target text becomes the URI without a copy.
    let uri =
        Uri::from_maybe_shared(Bytes::from(request.target)).map_err(|_| TransportError::Failed)?;
    let mut headers = request.headers;
    headers.insert(header::HOST, authority.host_header.clone());
    super::default_accept(&mut headers);
    let mut out = Request::new(RequestBody::new(request.body));
    *out.method_mut() = request.method;
    *out.uri_mut() = uri;
    *out.headers_mut() = headers;
    Ok(out)
}

/// The body of a direct answer, read on the polling task. Holds the connection until the body
/// ends; dropping it early closes the connection.
pub struct DirectBody {
    incoming: Incoming,
    /// Small: the connection itself is boxed.
    lease: Option<Lease>,
    /// The body failed after some bytes were handed on; the error comes next.
    broken: bool,
}

impl DirectBody {
    /// The body failed: the connection is closed, never reused.
    fn fail(&mut self) {
        self.lease = None;
    }
}

impl Stream for DirectBody {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.broken {
            this.broken = false;
            return Poll::Ready(Some(Err(BodyError)));
        }
        let mut gathered = Gathered::default();
        loop {
            if let Some(lease) = this.lease.as_mut() {
                lease.drive(cx);
            }
            match Pin::new(&mut this.incoming).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        gathered.push(data);
                        if gathered.len() >= MAX_GATHERED_BYTES {
                            return Poll::Ready(gathered.take().map(Ok));
                        }
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    this.fail();
                    return match gathered.take() {
                        Some(bytes) => {
                            this.broken = true;
                            Poll::Ready(Some(Ok(bytes)))
                        }
                        None => Poll::Ready(Some(Err(BodyError))),
                    };
                }
                Poll::Ready(None) => {
                    if let Some(lease) = this.lease.take() {
                        lease.release(cx);
                    }
                    return Poll::Ready(gathered.take().map(Ok));
                }
                Poll::Pending => {
                    return match gathered.take() {
                        Some(bytes) => Poll::Ready(Some(Ok(bytes))),
                        None => Poll::Pending,
                    };
                }
            }
        }
    }
}

/// Chunks decoded in one pass, joined without a copy when there is only one.
#[derive(Default)]
struct Gathered {
    first: Option<Bytes>,
    joined: Option<BytesMut>,
}

impl Gathered {
    fn push(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        if let Some(joined) = self.joined.as_mut() {
            joined.extend_from_slice(&data);
            return;
        }
        match self.first.take() {
            None => self.first = Some(data),
            Some(first) => {
                let mut joined = BytesMut::with_capacity((first.len() + data.len()) * 2);
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                self.joined = Some(joined);
            }
        }
    }

    fn len(&self) -> usize {
        self.joined
            .as_ref()
            .map_or_else(|| self.first.as_ref().map_or(0, Bytes::len), BytesMut::len)
    }

    fn take(&mut self) -> Option<Bytes> {
        match self.joined.take() {
            Some(joined) => Some(joined.freeze()),
            None => self.first.take(),
        }
    }
}
