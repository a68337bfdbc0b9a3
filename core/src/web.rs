//! The embedded console (`ui/dist`): hashed assets cached for good, `index.html` never cached,
//! and every page path answered with the app (SPA fallback). API and relay paths never fall back.

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::{ApiError, ErrorCode};
use crate::relay::dialect::Dialect;
use crate::relay::error::RelayError;

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/../ui/dist"]
struct Assets;

/// Path prefixes that belong to the API or relay; they get a 404 of their own, never the app.
const NOT_PAGES: &[&str] = &["/api", "/v1", "/v1beta", "/healthz"];

/// Content-Security-Policy for the console: everything from this origin, nothing inline.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

/// Answers a request that no route matched: an asset, the app for a page path, or a 404.
/// Pages are read, never posted to: any other method gets an OpenAI-style 404, so an SDK whose
/// base URL lacks `/v1` (posting to `/chat/completions`) learns why instead of parsing HTML.
pub async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if method != Method::GET && method != Method::HEAD && !is_api(path) {
        return RelayError::NotFound(format!(
            "no API at `{method} {path}`: the relay's routes are under `/v1` (a base URL \
             ending in `/v1`) and `/v1beta`"
        ))
        .into_response_for(Dialect::OpenAi);
    }
    // `/api/` itself misses the nested API router's fallback; it still gets the API's envelope.
    if is_api(path) {
        return ApiError::new(ErrorCode::NotFound, "no such API route").into_response();
    }
    if NOT_PAGES
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
    {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let file = path.trim_start_matches('/');
    if !file.is_empty()
        && let Some(asset) = Assets::get(file)
    {
        let immutable = file.starts_with("assets/");
        return asset_response(file, asset.data.into_owned(), immutable);
    }
    // A missing file with an extension is a real 404, not a page.
    if file
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
    {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    match Assets::get("index.html") {
        Some(index) => asset_response("index.html", index.data.into_owned(), false),
        None => (StatusCode::NOT_FOUND, "the console is not built").into_response(),
    }
}

/// Whether a path belongs to the console's API.
fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn asset_response(file: &str, data: Vec<u8>, immutable: bool) -> Response {
    let mime = mime_guess::from_path(file).first_or_octet_stream();
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = Response::new(Body::from(data));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}
