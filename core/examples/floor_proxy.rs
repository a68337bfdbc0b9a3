//! The benchmark's floor: what Realms' own HTTP pieces cost with none of the product around them.
//! hyper's HTTP/1 server on one single-threaded runtime per core (as Realms serves) in front of
//! Realms' direct upstream transport, forwarding every request to one upstream as it is: no
//! router, no authentication, no JSON, no routing, no usage record. `bench/ab.sh` runs it beside
//! nginx and Realms (`NAME=floor:PATH`), so the distance between it and Realms is the product's
//! own cost and the distance between it and nginx is hyper's and Tokio's.
//!
//! usage: floor_proxy LISTEN_ADDR UPSTREAM_BASE_URL [THREADS]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use realms_core::config::LimitsConfig;
use realms_core::relay::upstream::origin::Origin;
use realms_core::relay::upstream::transport::{
    BodyError, UpstreamBody, UpstreamRequest, Upstreams,
};

/// What every request needs: the transport and the upstream.
struct Floor {
    upstreams: Upstreams,
    origin: Origin,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: floor_proxy LISTEN_ADDR UPSTREAM_BASE_URL [THREADS]";
    let addr: SocketAddr = args.next().ok_or(usage)?.parse()?;
    let origin = Origin::parse(&args.next().ok_or(usage)?).ok_or("unusable upstream URL")?;
    let threads = match args.next() {
        Some(n) => n.parse()?,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let floor = Arc::new(Floor {
        upstreams: Upstreams::new(&LimitsConfig::default()),
        origin,
    });
    let mut handles = Vec::with_capacity(threads);
    for _ in 0..threads {
        let listener = listener.try_clone()?;
        let floor = Arc::clone(&floor);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        handles.push(std::thread::spawn(move || {
            runtime.block_on(serve(listener, floor))
        }));
    }
    for handle in handles {
        handle.join().map_err(|_| "a serving thread panicked")??;
    }
    Ok(())
}

/// Accepts connections on this thread and serves each one on it.
async fn serve(listener: std::net::TcpListener, floor: Arc<Floor>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let floor = Arc::clone(&floor);
        let service = hyper::service::service_fn(move |request| {
            let floor = Arc::clone(&floor);
            async move { Ok::<_, Infallible>(forward(&floor, request).await) }
        });
        #[expect(
            clippy::disallowed_methods,
            reason = "a benchmark tool: connections end with the process"
        )]
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Forwards one request and streams the answer back.
async fn forward(floor: &Floor, request: Request<Incoming>) -> Response<Answer> {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return status_only(StatusCode::BAD_REQUEST);
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let mut headers = parts.headers;
    strip_framing(&mut headers);
    let sent = floor
        .upstreams
        .send(UpstreamRequest {
            method: parts.method,
            origin: &floor.origin,
            target,
            headers,
            body,
            guarded: false,
            proxy: None,
        })
        .await;
    let Ok(answer) = sent else {
        return status_only(StatusCode::BAD_GATEWAY);
    };
    let mut response = Response::new(Answer(Some(answer.body)));
    *response.status_mut() = answer.status;
    *response.headers_mut() = answer.headers;
    strip_framing(response.headers_mut());
    response
}

/// Removes the headers that describe one hop's framing; hyper frames each side itself.
fn strip_framing(headers: &mut HeaderMap) {
    for name in [
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONNECTION,
    ] {
        headers.remove(name);
    }
}

fn status_only(status: StatusCode) -> Response<Answer> {
    let mut response = Response::new(Answer(None));
    *response.status_mut() = status;
    response
}

/// The upstream's body as the client's response body: each upstream read is one frame.
struct Answer(Option<UpstreamBody>);

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let Some(body) = self.get_mut().0.as_mut() else {
            return Poll::Ready(None);
        };
        Pin::new(body)
            .poll_next(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }
}
