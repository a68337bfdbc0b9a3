//! `X-Request-Id` on every response: the caller's, if it sent a sane one, else a random one.
//! Request ids are for correlation, not secrets, so a fast non-cryptographic generator is used
//! (this runs on every request).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The header name.
pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-supplied request id kept.
pub const MAX_CALLER_ID_CHARS: usize = 128;

/// Makes random 128-bit hex request ids.
#[derive(Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let mut hex = [0u8; 32];
        hex::encode_to_slice(fastrand::u128(..).to_be_bytes(), &mut hex).ok()?;
        HeaderValue::from_bytes(&hex).ok().map(RequestId::new)
    }
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

/// Drops a caller-supplied request id that is not sane, so a fresh one is made instead.
pub fn drop_insane(mut request: Request) -> Request {
    if request.headers().get(&HEADER).is_some_and(|v| !is_sane(v)) {
        request.headers_mut().remove(&HEADER);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_ids_are_32_lowercase_hex_digits_and_differ() {
        let request = axum::http::Request::new(());
        let make = || {
            MakeId
                .make_request_id(&request)
                .expect("an id")
                .header_value()
                .to_str()
                .expect("ascii")
                .to_owned()
        };
        let (a, b) = (make(), make());
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
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
