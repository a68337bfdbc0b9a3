//! Catching a handler's panic: the bug is logged, and the caller gets a 500 in its own protocol.
//! A relay client's SDK reads its vendor's error shape (Anthropic's `{"type":"error",...}`,
//! Gemini's `{"error":{"code",...}}`), the console reads the console API's; the shape is chosen
//! from the request before the handler runs, because the panic leaves nothing else to go by.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use futures_util::future::CatchUnwind;

use crate::error::{ApiError, ErrorCode};
use crate::relay::dialect::Dialect;
use crate::relay::error::RelayError;
use crate::relay::pause::{dialect_of, is_data_plane};

/// Whose error shape a failed request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A data-plane client, in its protocol.
    Relay(Dialect),
    /// The console and everything else: the console API's JSON error.
    Console,
}

impl Shape {
    fn of(request: &Request) -> Self {
        if is_data_plane(request.uri().path()) {
            Self::Relay(dialect_of(request))
        } else {
            Self::Console
        }
    }

    /// The 500 for a panic (its message is never shown: it may name internals).
    fn answer(self, _panic: &(dyn Any + Send)) -> Response {
        tracing::error!("a request handler panicked");
        match self {
            Self::Relay(dialect) => {
                RelayError::Internal("a request handler panicked".into()).into_response_for(dialect)
            }
            Self::Console => ApiError::new(ErrorCode::Internal, "internal error").into_response(),
        }
    }
}

/// Wraps a service so a panic in it becomes a 500 in the caller's error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct PanicGuardLayer;

impl<S> tower::Layer<S> for PanicGuardLayer {
    type Service = PanicGuard<S>;

    fn layer(&self, inner: S) -> PanicGuard<S> {
        PanicGuard { inner }
    }
}

/// See [`PanicGuardLayer`].
#[derive(Debug, Clone)]
pub struct PanicGuard<S> {
    inner: S,
}

impl<S> tower::Service<Request> for PanicGuard<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Guarded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let shape = Shape::of(&request);
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => Guarded::Running {
                future: AssertUnwindSafe(future).catch_unwind(),
                shape,
            },
            Err(panic) => Guarded::Answered {
                response: Some(shape.answer(&*panic)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, or the 500 its panic became.
    #[project = GuardedProjection]
    pub enum Guarded<F> {
        Running { #[pin] future: CatchUnwind<AssertUnwindSafe<F>>, shape: Shape },
        Answered { response: Option<Response> },
    }
}

impl<F> Future for Guarded<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardedProjection::Running { future, shape } => {
                match std::task::ready!(future.poll(cx)) {
                    Ok(answer) => Poll::Ready(answer),
                    Err(panic) => Poll::Ready(Ok(shape.answer(&*panic))),
                }
            }
            GuardedProjection::Answered { response } => {
                // polled again after Ready only by a broken caller: an empty 500 then
                Poll::Ready(Ok(response.take().unwrap_or_else(|| {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt;
    use rstest::rstest;
    use serde_json::Value;
    use tower::{Layer, Service, ServiceExt};

    use super::*;

    /// Calls `service` with a POST to `path` carrying `headers`; the status and the JSON body.
    async fn call<S>(service: S, path: &str, headers: &[(&str, &str)]) -> (u16, Value)
    where
        S: tower::Service<Request, Response = Response, Error = Infallible>,
    {
        let mut request = Request::builder().method("POST").uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).expect("request");
        let response = PanicGuardLayer
            .layer(service)
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&body).expect("a JSON error"))
    }

    fn panics_when_polled() -> impl tower::Service<Request, Response = Response, Error = Infallible>
    {
        tower::service_fn(|_request: Request| async move {
            if std::hint::black_box(true) {
                panic!("a bug");
            }
            Ok::<Response, Infallible>(Response::default())
        })
    }

    #[rstest]
    #[case::openai("/v1/chat/completions", &[], "/error/type", "server_error")]
    #[case::anthropic("/v1/messages", &[], "/type", "error")]
    #[case::gemini("/v1beta/models/g:generateContent", &[], "/error/status", "INTERNAL")]
    #[case::anthropic_model_list("/v1/models", &[("anthropic-version", "2023-06-01")], "/type", "error")]
    #[case::console("/api/user/self", &[], "/error/code", "internal")]
    #[tokio::test]
    async fn a_panic_answers_500_in_the_callers_shape(
        #[case] path: &str,
        #[case] headers: &[(&str, &str)],
        #[case] pointer: &str,
        #[case] expected: &str,
    ) {
        let (status, body) = call(panics_when_polled(), path, headers).await;
        assert_eq!(status, 500);
        assert_eq!(
            body.pointer(pointer).and_then(Value::as_str),
            Some(expected),
            "{body}"
        );
        assert!(
            !body.to_string().contains("a bug"),
            "the panic message stays in"
        );
    }

    /// A service whose `call` itself panics, before any future exists.
    #[derive(Clone)]
    struct PanicsInCall;

    impl tower::Service<Request> for PanicsInCall {
        type Response = Response;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request) -> Self::Future {
            panic!("a bug in call");
        }
    }

    #[tokio::test]
    async fn a_panic_in_call_is_caught_too() {
        let (status, body) = call(PanicsInCall, "/v1/messages", &[]).await;
        assert_eq!(status, 500);
        assert_eq!(
            body.pointer("/error/type").and_then(Value::as_str),
            Some("api_error")
        );
    }

    #[tokio::test]
    async fn an_answer_passes_unchanged() {
        let mut service = PanicGuardLayer.layer(tower::service_fn(|_request: Request| async {
            Ok::<Response, Infallible>((axum::http::StatusCode::IM_A_TEAPOT, "tea").into_response())
        }));
        let request = Request::builder()
            .uri("/v1/models")
            .body(Body::empty())
            .expect("request");
        let response = service.call(request).await.expect("infallible");
        assert_eq!(response.status(), 418);
    }
}
