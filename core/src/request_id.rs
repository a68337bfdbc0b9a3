//! `X-Request-Id` on every response: the caller's, if it sent a sane one, else a random one.

use axum::http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The header name.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Makes random 16-byte hex request ids.
#[derive(Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let bytes = crate::crypto::random_bytes::<16>().ok()?;
        HeaderValue::from_str(&hex::encode(bytes))
            .ok()
            .map(RequestId::new)
    }
}
