//! Each request's span and its access events. A request runs inside a `request` span (method,
//! path and HTTP version; never the query string, where Gemini clients put their API key), with
//! a DEBUG event as it starts, a DEBUG `finished processing request` event (status, latency) when
//! its answer's head is ready, and an ERROR `response failed` event for a 5xx answer — the
//! events tower-http's `TraceLayer` wrote, under this module's target.
//!
//! Unlike `TraceLayer` it leaves the response body alone: that layer wrapped every body and read
//! the clock twice on each poll of it, which for a stream is twice per event and per wait.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{Request, Response, StatusCode};
use tracing::Span;

/// Adds the span and the access events to every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLogLayer;

impl<S> tower::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

/// The service of [`AccessLogLayer`].
#[derive(Clone, Debug)]
pub struct AccessLog<S> {
    inner: S,
}

/// The span of one request (see the module docs).
fn request_span<B>(request: &Request<B>) -> Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        version = ?request.version(),
    )
}

impl<S, B, R> tower::Service<Request<B>> for AccessLog<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let span = request_span(&request);
        let inner = {
            let _entered = span.enter();
            tracing::debug!("started processing request");
            self.inner.call(request)
        };
        Logged {
            inner,
            span,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, polled inside the request's span and logged when ready.
    pub struct Logged<F> {
        #[pin]
        inner: F,
        span: Span,
        started: Instant,
    }
}

impl<F, R, E> Future for Logged<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            answered(response.status(), this.started);
        }
        Poll::Ready(result)
    }
}

/// The events for an answer's head; the clock is read only when one of them is written.
fn answered(status: StatusCode, started: &Instant) {
    let failed = status.is_server_error();
    if !failed && !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let latency = Latency(started.elapsed());
    tracing::debug!(%latency, status = status.as_u16(), "finished processing request");
    if failed {
        tracing::error!(%latency, status = status.as_u16(), "response failed");
    }
}

/// A latency as whole milliseconds (`12 ms`), as tower-http wrote it.
struct Latency(Duration);

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ms", self.0.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tower::{Service, ServiceExt};

    use super::*;

    /// Log lines written while a test runs (JSON, one event per line).
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_or(Ok(0), |mut buffer| {
                buffer.extend_from_slice(bytes);
                Ok(bytes.len())
            })
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn events(&self) -> Vec<serde_json::Value> {
            let text = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&text)
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect()
        }
    }

    /// Calls a service answering `status` with `body` through the layer, at `level`, and
    /// returns what was logged and the body the caller got.
    async fn call(
        level: tracing::Level,
        uri: &str,
        status: u16,
    ) -> (Vec<serde_json::Value>, String) {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(level)
            .with_current_span(true)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let inner = tower::service_fn(move |_request: Request<()>| async move {
            tracing::info!("inside the handler");
            let mut response = Response::new("the body".to_owned());
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or_default();
            Ok::<_, Infallible>(response)
        });
        let mut service = tower::Layer::layer(&AccessLogLayer, inner);
        let request = Request::post(uri).body(()).unwrap_or_default();
        let response = match service.ready().await {
            Ok(ready) => ready.call(request).await,
            Err(never) => match never {},
        };
        let body = match response {
            Ok(response) => response.into_body(),
            Err(never) => match never {},
        };
        (lines.events(), body)
    }

    fn messages(events: &[serde_json::Value]) -> Vec<&str> {
        events
            .iter()
            .filter_map(|e| e["fields"]["message"].as_str())
            .collect()
    }

    #[tokio::test]
    async fn events_carry_the_span_without_the_query_string() {
        let (events, body) = call(
            tracing::Level::DEBUG,
            "/v1beta/models/g:generateContent?key=secret-key",
            200,
        )
        .await;
        assert_eq!(body, "the body", "the answer passes unchanged");
        assert_eq!(
            messages(&events),
            [
                "started processing request",
                "inside the handler",
                "finished processing request"
            ]
        );
        for event in &events {
            assert_eq!(event["span"]["name"], "request");
            assert_eq!(event["span"]["method"], "POST");
            assert_eq!(event["span"]["path"], "/v1beta/models/g:generateContent");
        }
        let finished = &events[2]["fields"];
        assert_eq!(finished["status"], 200);
        assert!(
            finished["latency"]
                .as_str()
                .is_some_and(|l| l.ends_with(" ms")),
            "{finished}"
        );
        let all = events.iter().map(ToString::to_string).collect::<String>();
        assert!(!all.contains("secret-key"), "{all}");
    }

    #[tokio::test]
    async fn a_server_error_is_logged_at_error_level_even_when_debug_is_off() {
        let (events, _) = call(tracing::Level::WARN, "/v1/chat/completions", 502).await;
        assert_eq!(messages(&events), ["response failed"]);
        assert_eq!(events[0]["level"], "ERROR");
        assert_eq!(events[0]["fields"]["status"], 502);

        let (events, _) = call(tracing::Level::WARN, "/v1/chat/completions", 429).await;
        assert!(events.is_empty(), "{events:?}");
    }
}
