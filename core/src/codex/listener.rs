//! The local callback listener of Codex sign-ins: while a sign-in is pending (and the
//! `codex_oauth_listener` setting is on), Realms listens on `127.0.0.1:{codex_oauth_callback_port}`
//! (1455, the public client's redirect) for `/auth/callback`, completes the sign-in itself and
//! shows a small page, so nothing needs pasting. One listener serves every pending sign-in; it
//! closes when none is left, when the last one expires, or on shutdown.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::accounts::{self, FLOW_TTL_MS, ListenerStatus};
use super::oauth::{self, CALLBACK_PATH};
use crate::state::AppState;
use crate::store::{now_ms, oauth_flows};

/// How long a stopped listener is waited for before its port is bound again.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// A running listener.
pub struct Handle {
    port: u16,
    stop: CancellationToken,
    deadline: Arc<Mutex<Instant>>,
    join: JoinHandle<()>,
}

fn flow_ttl() -> Duration {
    Duration::from_millis(u64::try_from(FLOW_TTL_MS).unwrap_or(0))
}

/// Makes sure a listener runs for a sign-in starting now; returns where, or why not.
pub async fn ensure(state: &AppState) -> ListenerStatus {
    let mut slot = state.codex.listener.lock().await;
    if let Some(handle) = slot.as_ref()
        && !handle.stop.is_cancelled()
        && !handle.join.is_finished()
    {
        if let Ok(mut deadline) = handle.deadline.lock() {
            *deadline = Instant::now() + flow_ttl();
        }
        return ListenerStatus::Listening(handle.port);
    }
    if let Some(old) = slot.take() {
        old.stop.cancel();
        let _ = tokio::time::timeout(STOP_WAIT, old.join).await;
    }
    let port = state.config.codex_oauth_callback_port;
    let listener = match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::warn!(port, error = %err, "the Codex sign-in listener could not bind");
            return ListenerStatus::Unavailable(format!(
                "127.0.0.1:{port} is not available ({}); paste the callback URL instead",
                err.kind()
            ));
        }
    };
    let Ok(bound) = listener.local_addr() else {
        return ListenerStatus::Unavailable("the listener has no address".into());
    };
    let stop = CancellationToken::new();
    let deadline = Arc::new(Mutex::new(Instant::now() + flow_ttl()));
    let join = state.tasks.spawn(serve(
        state.clone(),
        listener,
        stop.clone(),
        Arc::clone(&deadline),
    ));
    tracing::info!(
        port = bound.port(),
        "listening for the Codex sign-in redirect"
    );
    *slot = Some(Handle {
        port: bound.port(),
        stop,
        deadline,
        join,
    });
    ListenerStatus::Listening(bound.port())
}

/// Stops the listener when no sign-in is pending any more.
pub async fn release_if_idle(state: &AppState) {
    let mut slot = state.codex.listener.lock().await;
    if slot.is_none() {
        return;
    }
    let now = now_ms();
    let pending = state
        .store
        .read(move |c| oauth_flows::count_pending(c, now))
        .await
        .unwrap_or(1);
    if pending == 0
        && let Some(handle) = slot.take()
    {
        handle.stop.cancel();
    }
}

async fn serve(
    state: AppState,
    listener: TcpListener,
    stop: CancellationToken,
    deadline: Arc<Mutex<Instant>>,
) {
    let shutdown = state.shutdown.clone();
    let app = Router::new()
        .route(CALLBACK_PATH, get(callback))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(state);
    let until = {
        let stop = stop.clone();
        async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = shutdown.cancelled() => {}
                () = expiry(deadline) => {}
            }
        }
    };
    if let Err(err) = axum::serve(listener, app)
        .with_graceful_shutdown(until)
        .await
    {
        tracing::warn!(error = %err, "the Codex sign-in listener failed");
    }
    stop.cancel();
    tracing::info!("the Codex sign-in listener is closed");
}

/// Completes when the (movable) deadline has passed.
async fn expiry(deadline: Arc<Mutex<Instant>>) {
    loop {
        let at = deadline
            .lock()
            .map(|d| *d)
            .unwrap_or_else(|_| Instant::now());
        if at <= Instant::now() {
            return;
        }
        tokio::time::sleep_until(at).await;
    }
}

async fn callback(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let result = match oauth::parse_callback(&format!("?{query}")) {
        Ok(callback) => accounts::complete_from_listener(&state, &callback)
            .await
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    release_if_idle(&state).await;
    match result {
        Ok(added) => {
            let who = if added.account.email.is_empty() {
                "The ChatGPT account".to_owned()
            } else {
                format!("The ChatGPT account {}", escape(&added.account.email))
            };
            page(
                StatusCode::OK,
                "Signed in",
                &format!("{who} was added to Realms. You can close this window."),
            )
        }
        Err(message) => page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            &format!(
                "{}. Close this window and start the sign-in again in Realms.",
                escape(&message)
            ),
        ),
    }
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Realms: {title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;\
         padding:0 1rem;color:#222}}</style></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    );
    (status, Html(html)).into_response()
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_text_is_escaped() {
        assert_eq!(
            escape("<b>\"a\" & 'b'</b>"),
            "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;"
        );
    }
}
