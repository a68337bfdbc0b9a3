//! The embedded console (`ui/dist`): page paths get `index.html` (not cached, strict CSP), hashed
//! assets are cached for good with their MIME type, and API or relay paths never fall back to
//! the app.

#![cfg(test)]

pub mod common;

use axum::http::StatusCode;
use common::{Req, TestApp};

/// The first `/assets/…` path `index.html` references with `attr="`.
fn asset_path(index: &str, attr: &str) -> String {
    let start = index
        .find(&format!("{attr}=\"/assets/"))
        .map(|i| i + attr.len() + 2)
        .expect("index.html references a hashed asset");
    let end = index[start..].find('"').expect("closing quote") + start;
    index[start..end].to_owned()
}

#[tokio::test]
async fn page_paths_answer_the_app_uncached_with_a_strict_csp() {
    let app = TestApp::new().await;
    for path in [
        "/",
        "/login",
        "/dashboard",
        "/admin/channels",
        "/usage?range=7d",
    ] {
        let resp = app.send(Req::get(path)).await;
        resp.assert_status(StatusCode::OK);
        assert_eq!(resp.header("cache-control"), Some("no-cache"), "{path}");
        assert!(
            resp.header("content-type")
                .is_some_and(|v| v.starts_with("text/html")),
            "{path}"
        );
        let csp = resp.header("content-security-policy").expect("CSP");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(csp.contains("style-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let body = String::from_utf8_lossy(&resp.body);
        assert!(body.contains("<div id=\"root\">"), "{path}: {body}");
        // Nothing inline: the CSP would block it.
        assert!(!body.contains("<style"), "{body}");
        assert!(!body.contains("<script>"), "{body}");
    }
}

#[tokio::test]
async fn hashed_assets_are_cached_for_good_with_their_type() {
    let app = TestApp::new().await;
    let index = String::from_utf8_lossy(&app.send(Req::get("/")).await.body).into_owned();
    for (attr, mime) in [("src", "text/javascript"), ("href", "text/css")] {
        let path = asset_path(&index, attr);
        let resp = app.send(Req::get(&path)).await;
        resp.assert_status(StatusCode::OK);
        assert_eq!(
            resp.header("cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{path}"
        );
        assert!(
            resp.header("content-type")
                .is_some_and(|v| v.starts_with(mime)),
            "{path}: {:?}",
            resp.header("content-type")
        );
    }
    let missing = app.send(Req::get("/assets/missing-0000.js")).await;
    missing.assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_and_relay_paths_never_get_the_app() {
    let app = TestApp::new().await;
    let resp = app.send(Req::get("/api/no-such-route")).await;
    resp.assert_error(StatusCode::NOT_FOUND, "not_found");
    for path in ["/v1/no-such-route", "/v1beta/models/x", "/healthz/x"] {
        let resp = app.send(Req::get(path)).await;
        // The relay may answer first (401 without a key); whatever it says, it is not the app.
        assert!(resp.status.is_client_error(), "{path}: {}", resp.status);
        assert!(
            !String::from_utf8_lossy(&resp.body).contains("<div id=\"root\">"),
            "{path}"
        );
    }
}
