//! `X-Request-Id` on every request and response: the caller's, if it sent a sane one, else a
//! random one, set on the request (handlers read it from there) and copied to the response. One
//! layer does all three steps, without the request extension tower-http's pair of layers adds
//! (an allocation per request). Request ids are for correlation, not secrets, so a fast
//! non-cryptographic generator is used.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderName, HeaderValue, Request, Response};

/// The header name.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-supplied request id kept.
pub const MAX_CALLER_ID_CHARS: usize = 128;

/// A random 128-bit id as 32 lowercase hex digits.
fn make_id() -> HeaderValue {
    let mut hex = [0u8; 32];
    // 16 bytes always fit 32 digits, and hex digits are a valid header value
    let _ = hex::encode_to_slice(fastrand::u128(..).to_be_bytes(), &mut hex);
    HeaderValue::from_bytes(&hex).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// Whether a caller's id is worth keeping: short, and only characters safe in logs.
fn is_sane(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_CALLER_ID_CHARS
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Gives every request an id (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = WithRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithRequestId { inner }
    }
}

/// The service of [`RequestIdLayer`].
#[derive(Clone, Debug)]
pub struct WithRequestId<S> {
    inner: S,
}

impl<S, B, R> tower::Service<Request<B>> for WithRequestId<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = IdOnResponse<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(&HEADER) {
            Some(id) if is_sane(id) => id.clone(),
            _ => {
                let id = make_id();
                request.headers_mut().insert(HEADER.clone(), id.clone());
                id
            }
        };
        IdOnResponse {
            inner: self.inner.call(request),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, with the request's id added unless the answer has one.
    pub struct IdOnResponse<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for IdOnResponse<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            response.headers_mut().entry(HEADER.clone()).or_insert(id);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{Service, ServiceExt};

    use super::*;

    /// Answers with the request id it saw in the response body; `preset` is a response header
    /// the inner service sets itself.
    fn echo(
        preset: Option<&'static str>,
    ) -> impl Service<Request<()>, Response = Response<String>, Error = Infallible, Future: Send> + Clone
    {
        tower::service_fn(move |request: Request<()>| async move {
            let seen = request
                .headers()
                .get(&HEADER)
                .map(|v| v.to_str().expect("ascii").to_owned())
                .unwrap_or_default();
            let mut response = Response::new(seen);
            if let Some(preset) = preset {
                response
                    .headers_mut()
                    .insert(HEADER.clone(), HeaderValue::from_static(preset));
            }
            Ok::<_, Infallible>(response)
        })
    }

    async fn call(caller_id: Option<&str>, preset: Option<&'static str>) -> Response<String> {
        let mut request = Request::new(());
        if let Some(id) = caller_id {
            request
                .headers_mut()
                .insert(HEADER.clone(), HeaderValue::from_str(id).expect("header"));
        }
        let mut service = tower::Layer::layer(&RequestIdLayer, echo(preset));
        service
            .ready()
            .await
            .expect("ready")
            .call(request)
            .await
            .expect("answer")
    }

    fn response_id(response: &Response<String>) -> &str {
        response
            .headers()
            .get(&HEADER)
            .expect("an id on the response")
            .to_str()
            .expect("ascii")
    }

    #[tokio::test]
    async fn a_sane_caller_id_is_kept_on_the_request_and_the_response() {
        let response = call(Some("req_abc-123.x:y"), None).await;
        assert_eq!(response.body(), "req_abc-123.x:y");
        assert_eq!(response_id(&response), "req_abc-123.x:y");
    }

    #[tokio::test]
    async fn a_missing_or_insane_id_is_replaced_by_a_random_one_seen_by_both_sides() {
        let long = "a".repeat(MAX_CALLER_ID_CHARS + 1);
        for caller in [None, Some("has space"), Some(long.as_str())] {
            let response = call(caller, None).await;
            let id = response_id(&response).to_owned();
            assert_eq!(id.len(), 32, "{caller:?}");
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{id}"
            );
            assert_eq!(response.body(), &id, "the handler saw the same id");
        }
        let (a, b) = (call(None, None).await, call(None, None).await);
        assert_ne!(response_id(&a), response_id(&b));
    }

    #[tokio::test]
    async fn an_id_the_handler_set_on_its_answer_is_not_overwritten() {
        let response = call(Some("from-caller"), Some("from-handler")).await;
        assert_eq!(response_id(&response), "from-handler");
    }

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(is_sane(&HeaderValue::from_static("req_abc-123.x:y")));
        assert!(!is_sane(&HeaderValue::from_static("has space")));
        assert!(!is_sane(&HeaderValue::from_static("")));
        let long = "a".repeat(MAX_CALLER_ID_CHARS + 1);
        assert!(!is_sane(&HeaderValue::from_str(&long).expect("header")));
    }
}
