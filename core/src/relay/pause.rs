//! Pausing the data plane (the desktop tray's Pause/Resume). While paused, every `/v1/*` and
//! `/v1beta/*` call is answered 503 in the caller's own error shape before authentication,
//! routing or any upstream call, and nothing is recorded; the console API keeps working. The
//! switch is one atomic flag in [`super::state::RelayState`]: the check costs one load per call.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use futures_util::future::Either;

use super::dialect::Dialect;
use super::error::RelayError;
use super::http::dialect_of_path;
use super::models::list_dialect;
use crate::state::AppState;

/// Pauses (`true`) or resumes (`false`) the data plane. Calls already in flight finish.
pub fn set_paused(state: &AppState, paused: bool) {
    let was = state.relay.paused.swap(paused, Ordering::SeqCst);
    if was != paused {
        tracing::info!(
            paused,
            "data plane {}",
            if paused { "paused" } else { "resumed" }
        );
    }
}

/// Whether the data plane is paused.
pub fn is_paused(state: &AppState) -> bool {
    state.relay.paused.load(Ordering::SeqCst)
}

/// The paths of the data plane: `/v1`, `/v1/*`, `/v1beta` and `/v1beta/*`.
pub(crate) fn is_data_plane(path: &str) -> bool {
    ["/v1", "/v1beta"].iter().any(|root| {
        path.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Wraps the application: a 503 `realms_paused` for data-plane calls while paused, else the
/// inner service. A plain layer (not `axum::middleware::from_fn`, which boxes the inner service
/// on every call), since every relay request passes here.
#[derive(Clone)]
pub struct PauseGateLayer {
    state: AppState,
}

impl PauseGateLayer {
    /// The gate for `state`'s pause switch.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> tower::Layer<S> for PauseGateLayer {
    type Service = PauseGate<S>;

    fn layer(&self, inner: S) -> PauseGate<S> {
        PauseGate {
            inner,
            state: self.state.clone(),
        }
    }
}

/// See [`PauseGateLayer`].
#[derive(Clone)]
pub struct PauseGate<S> {
    inner: S,
    state: AppState,
}

impl<S> tower::Service<Request> for PauseGate<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if is_data_plane(request.uri().path()) && is_paused(&self.state) {
            let refusal = RelayError::Paused.into_response_for(dialect_of(&request));
            let refusal = super::http::closing_if_body(request.headers(), refusal);
            return Either::Left(std::future::ready(Ok(refusal)));
        }
        Either::Right(self.inner.call(request))
    }
}

/// The caller's dialect: by path, and for the shared model-list paths by its headers.
pub(crate) fn dialect_of(request: &Request) -> Dialect {
    let path = request.uri().path();
    let by_path = dialect_of_path(path);
    if by_path == Dialect::OpenAi && (path == "/v1/models" || path.starts_with("/v1/models/")) {
        return list_dialect(request.headers(), request.uri().query());
    }
    by_path
}

#[cfg(test)]
mod tests {
    use super::is_data_plane;

    #[test]
    fn the_data_plane_is_v1_and_v1beta_only() {
        for path in [
            "/v1",
            "/v1/chat/completions",
            "/v1/models",
            "/v1beta",
            "/v1beta/models/x:generateContent",
        ] {
            assert!(is_data_plane(path), "{path}");
        }
        for path in [
            "/",
            "/api/user/self",
            "/v1x",
            "/v1betax",
            "/healthz",
            "/v10/models",
        ] {
            assert!(!is_data_plane(path), "{path}");
        }
    }
}
