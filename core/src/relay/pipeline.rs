//! The request pipeline, as named phases: authenticate → inspect → resolve the model → (select a
//! route → build the upstream request → send → peek the first event) with failover → respond →
//! record. Failover loops over the bracketed phases only, within `routing.max_attempts` and
//! `routing.max_failover_secs`; once the first upstream event is forwarded there is no retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderName;
use axum::response::Response;
use rust_decimal::Decimal;

use super::attempt::{self, Failure};
use super::error::RelayError;
use super::inbound::Inbound;
use super::protocol::{RequestFacts, SessionSource, inspect_request};
use super::record::Draft;
use super::routing::failover::Scope;
use super::routing::select::{self, NoTarget};
use super::routing::table::{RoutingTable, TokenRoute};
use crate::state::AppState;
use crate::store::response_owners::ResponseOwner;
use crate::store::unbilled_responses::Unbilled;
use crate::usage::recorder::UsageSink;

/// Prompt tokens a body of this many bytes is assumed to hold, for the hold's estimate only.
const BYTES_PER_TOKEN: u64 = 4;

/// The cost held against the balance before the call: the body's bytes as prompt and, for a
/// call that generates, the output cap it names (else `usage.hold_output_tokens`) as output,
/// at the model's prices times the largest multiplier of the token's groups (which group
/// serves is not known yet).
fn hold_estimate(
    state: &AppState,
    table: &RoutingTable,
    inbound: &Inbound,
    facts: &RequestFacts,
    draft: &Draft,
    token: &TokenRoute,
) -> Decimal {
    let multiplier = token
        .groups
        .iter()
        .filter_map(|id| table.groups.get(id))
        .map(|group| group.multiplier)
        .max()
        .unwrap_or(Decimal::ONE);
    let usage = crate::usage::TokenUsage {
        input_tokens: draft.request_bytes / BYTES_PER_TOKEN,
        output_tokens: if inbound.generates() {
            facts
                .max_output_tokens
                .unwrap_or(state.relay.hold_output_tokens)
        } else {
            0
        },
        ..crate::usage::TokenUsage::default()
    };
    crate::usage::cost(&usage, &draft.prices, multiplier)
}

/// The request's usage record until it is handed over. If the handler is dropped first — the
/// client went away while an attempt was still in flight, before anything was committed — the
/// request is still recorded, as `client_closed`.
struct Recording<'a> {
    draft: Draft,
    sink: &'a UsageSink,
    handed_over: bool,
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        if self.handed_over {
            return;
        }
        let mut draft = self.draft.clone();
        draft.status_code = 499;
        draft.error_class = Some("client_closed".to_owned());
        draft.partial = true;
        draft.submit(self.sink);
    }
}

impl<'a> Recording<'a> {
    /// The record of `inbound`, submitted as `client_closed` unless handed over.
    fn new(state: &'a AppState, inbound: &Inbound) -> Self {
        Self {
            draft: Draft::new(
                inbound.request_id.clone(),
                inbound.endpoint,
                inbound.body.len() as u64,
            ),
            sink: &state.relay.usage,
            handed_over: false,
        }
    }

    /// Hands the record over with the request's outcome: an answer records itself (a whole
    /// one at once, a stream when it ends); a failure is recorded here and answered in the
    /// client's protocol. Nothing may await between the outcome and this call.
    fn hand_over(
        mut self,
        state: &AppState,
        inbound: &Inbound,
        result: Result<Response, RelayError>,
    ) -> Response {
        self.handed_over = true;
        match result {
            Ok(response) => response,
            Err(error) => {
                let mut draft = self.draft.clone();
                draft.fail(&error);
                draft.submit(&state.relay.usage);
                error.into_response_for(inbound.dialect())
            }
        }
    }
}

/// Serves one data-plane request and records it.
pub async fn handle(state: AppState, inbound: Inbound) -> Response {
    let mut recording = Recording::new(&state, &inbound);
    // An attempt still waiting when the shutdown grace is over ends like a committed stream
    // does, so a slow upstream cannot hold the shutdown (and the usage flush) back.
    let result = tokio::select! {
        biased;
        // Boxed: the attempt's future is several KB, and this one is moved (into the select,
        // then up through the service layers); behind a box each move copies a pointer.
        result = Box::pin(run(&state, &inbound, &mut recording.draft)) => result,
        () = state.streams_stop.local().cancelled() => Err(RelayError::UpstreamFailed {
            status: 503,
            summary: "the server is shutting down".into(),
        }),
    };
    // From here nothing awaits, so the record is handed over exactly once.
    recording.hand_over(&state, &inbound, result)
}

/// Reads what routing needs from the body (and the URL for Gemini).
fn inspect(inbound: &Inbound) -> Result<(RequestFacts, String), RelayError> {
    let facts = inspect_request(inbound.protocol, &inbound.body)
        .map_err(|e| RelayError::BadRequest(e.to_string()))?;
    let model = match (&inbound.gemini, &facts.model) {
        (Some((model, _)), _) => model.clone(),
        (None, Some(model)) if !model.trim().is_empty() => model.clone(),
        (None, _) => return Err(RelayError::BadRequest("the request has no `model`".into())),
    };
    Ok((facts, model))
}

async fn run(
    state: &AppState,
    inbound: &Inbound,
    draft: &mut Draft,
) -> Result<Response, RelayError> {
    let table = state.relay.table.load_full();
    let token = &inbound.token;
    draft.user_id = Some(token.user_id);
    draft.token_id = Some(token.token_id);

    let (facts, model) = match inspect(inbound) {
        Err(error) if inbound.endpoint == "/v1/responses/input_tokens" => {
            return match Box::pin(count_continuing(state, inbound, draft)).await? {
                Some(response) => Ok(response),
                None => Err(error),
            };
        }
        inspected => inspected?,
    };
    draft.model = model.clone();
    draft.is_stream = facts.stream || inbound.gemini_stream();
    draft.background = facts.background;

    let (passthrough, billing) = {
        let settings = state.settings.load();
        (
            settings.feature_disable_models,
            !settings.feature_disable_billing,
        )
    };
    let model_route = table.models.get(&model);
    match model_route {
        Some(route) if !route.enabled => {
            return Err(RelayError::ModelNotFound(format!(
                "the model `{model}` is disabled"
            )));
        }
        None if !passthrough => {
            return Err(RelayError::ModelNotFound(format!(
                "the model `{model}` does not exist"
            )));
        }
        _ => {}
    }
    if !token.allows_model(&model) {
        return Err(RelayError::Forbidden(format!(
            "this API key may not use the model `{model}`"
        )));
    }
    if let Some(route) = model_route {
        draft.prices = route.prices;
    }
    if billing {
        draft.charge = true;
        draft.held = state
            .relay
            .balances
            .hold(
                token.user_id,
                hold_estimate(state, &table, inbound, &facts, draft, token),
            )
            .ok_or_else(|| {
                RelayError::InsufficientQuota(
                    "your balance is used up (or held by calls in flight); top up to continue"
                        .into(),
                )
            })?;
    }

    // A continuation goes where the response it continues is kept (no other upstream account
    // knows it), however long ago that was: the owner's row outlives the session table.
    let mut continued = None;
    if let Some(previous) = facts
        .session_keys
        .iter()
        .find(|key| key.source == SessionSource::PreviousResponseId)
    {
        // boxed, and only here: most requests name no previous response
        continued = Box::pin(check_previous_response(
            state,
            &previous.value,
            token.user_id,
        ))
        .await?
        .map(|owner| (owner.channel_id, owner.credential_id));
    }
    let session = facts
        .session_key()
        .map(|key| key.value.clone())
        .or_else(|| session_header(inbound));
    let now = Instant::now();
    let sticky = continued.or_else(|| {
        session
            .as_deref()
            .and_then(|s| state.relay.sticky.get(s, now))
    });
    let request = select::Request {
        token,
        model: &model,
        protocol: inbound.protocol,
        session: session.as_deref(),
        passthrough,
        sticky,
    };
    let routing = &state.config.routing;
    let deadline = now + Duration::from_secs(routing.max_failover_secs);
    // (channel, credential) pairs already tried, every key of a channel that failed as a whole
    let mut tried = Vec::with_capacity(1);
    let mut last: Option<RelayError> = None;
    for _ in 0..routing.max_attempts {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let pick = match select::pick(&table, &request, &state.relay.health, &tried, now) {
            Ok(pick) => pick,
            Err(NoTarget::NoChannel) => {
                if last.is_none()
                    && let Some(error) = super::codex::protocol_mismatch(&table, &request)
                {
                    return Err(error);
                }
                return Err(last.unwrap_or_else(|| {
                    RelayError::NoRoute(format!(
                        "no channel can serve the model `{model}` for this API key right now"
                    ))
                }));
            }
            Err(NoTarget::AllCooling { secs, rate_limited }) => {
                return Err(last.unwrap_or(if rate_limited {
                    RelayError::RateLimited(Some(secs))
                } else {
                    RelayError::Cooling(secs)
                }));
            }
        };
        tried.push((pick.channel.id, pick.credential().id));
        draft.channel_id = Some(pick.channel.id);
        draft.credential_id = Some(pick.credential().id);
        draft.multiplier = table
            .groups
            .get(&pick.group_id)
            .map_or(rust_decimal::Decimal::ONE, |g| g.multiplier);
        // held by the answer: a stream counts against its credential until its body ends
        let inflight = state.relay.health.start(pick.credential().id);
        match attempt::send(state, inbound, &facts, &pick, draft, inflight).await {
            Ok(response) => {
                state.relay.health.record_success(
                    pick.channel.id,
                    pick.credential().id,
                    &model,
                    Instant::now(),
                );
                if let Some(session) = &session {
                    state.relay.sticky.bind(
                        session,
                        pick.channel.id,
                        pick.credential().id,
                        Instant::now(),
                    );
                }
                return Ok(response);
            }
            Err(Failure { error, verdict }) => {
                attempt::cool_down(state, &pick, &model, &verdict, &error);
                if !verdict.retry {
                    return Err(error);
                }
                if matches!(verdict.scope, Scope::Channel | Scope::ChannelModel) {
                    // The channel failed as a whole (its address, its server): its other keys
                    // would fail the same way, cooled down or not, so the next try is elsewhere.
                    let channel = pick.channel.id;
                    tried.extend(pick.channel.credentials.iter().map(|c| (channel, c.id)));
                }
                tracing::debug!(
                    channel_id = pick.channel.id,
                    class = error.class(),
                    "attempt failed; trying the next upstream"
                );
                last = Some(error);
            }
        }
    }
    Err(last.unwrap_or_else(|| RelayError::UpstreamTimeout("no upstream answered in time".into())))
}

/// `POST /v1/responses/input_tokens` may name no model (it is optional there) when it continues
/// a response (`previous_response_id`): it goes where that response lives, as the calls about a
/// stored response do, its body as sent. `None` unless it names no model and continues a
/// response Realms relayed (another user's is refused as the upstream would).
async fn count_continuing(
    state: &AppState,
    inbound: &Inbound,
    draft: &mut Draft,
) -> Result<Option<Response>, RelayError> {
    let Ok(facts) = inspect_request(inbound.protocol, &inbound.body) else {
        return Ok(None);
    };
    let previous = facts
        .session_keys
        .iter()
        .find(|key| key.source == SessionSource::PreviousResponseId);
    let (None, Some(previous)) = (&facts.model, previous) else {
        return Ok(None);
    };
    if check_previous_response(state, &previous.value, inbound.token.user_id)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    run_stored(state, inbound, &previous.value, draft)
        .await
        .map(Some)
}

/// Where a Responses object Realms relayed lives and whose it is: noted in memory as soon as it
/// was seen created, in `response_owners` once its request's record is written. `None` for an
/// id Realms never relayed.
async fn response_owner(
    state: &AppState,
    response_id: &str,
) -> Result<Option<ResponseOwner>, RelayError> {
    let kept = state.relay.usage.pending_owner(response_id);
    kept_or_stored(state, kept, response_id, crate::store::response_owners::get).await
}

/// Refuses a continuation of another user's Responses object (the request names it in
/// `previous_response_id`); an id Realms never relayed is the upstream's to judge. Returns the
/// owner when Realms relayed it.
async fn check_previous_response(
    state: &AppState,
    previous: &str,
    user_id: i64,
) -> Result<Option<ResponseOwner>, RelayError> {
    match response_owner(state, previous).await? {
        Some(owner) if owner.user_id != user_id => Err(RelayError::BadRequest(format!(
            "Previous response with id '{previous}' not found."
        ))),
        owner => Ok(owner),
    }
}

/// Serves a call about a stored Responses object (`GET/DELETE /v1/responses/{id}`, `cancel`,
/// `input_items`): only its creator may ask, and it goes to the channel and credential that hold
/// it. No failover: no other upstream knows the object.
pub async fn handle_stored(state: AppState, inbound: Inbound, response_id: String) -> Response {
    if inbound.method == axum::http::Method::DELETE {
        // boxed: the retrieve is a whole stored call of its own, and deletes are rare
        Box::pin(bill_before_delete(&state, &inbound, &response_id)).await;
    }
    let mut recording = Recording::new(&state, &inbound);
    let result = run_stored(&state, &inbound, &response_id, &mut recording.draft).await;
    recording.hand_over(&state, &inbound, result)
}

async fn run_stored(
    state: &AppState,
    inbound: &Inbound,
    response_id: &str,
    draft: &mut Draft,
) -> Result<Response, RelayError> {
    let table = state.relay.table.load_full();
    let token = Arc::clone(&inbound.token);
    draft.user_id = Some(token.user_id);
    draft.token_id = Some(token.token_id);
    let owner = response_owner(state, response_id)
        .await?
        .filter(|owner| owner.user_id == token.user_id)
        .ok_or_else(|| RelayError::NotFound(format!("no response with id `{response_id}`")))?;
    let channel = table.channels.get(&owner.channel_id).ok_or_else(|| {
        RelayError::NotFound(format!("the channel that holds `{response_id}` is gone"))
    })?;
    let credential = channel
        .credentials
        .iter()
        .position(|c| c.id == owner.credential_id)
        .ok_or_else(|| {
            RelayError::NotFound(format!("the credential that holds `{response_id}` is gone"))
        })?;
    draft.channel_id = Some(channel.id);
    draft.credential_id = Some(owner.credential_id);
    draft.about_stored = true;
    if reports_the_response(inbound) {
        bill_if_deferred(state, &table, response_id, draft).await?;
    }
    if inbound.method == axum::http::Method::DELETE {
        draft.deletes = Some(response_id.to_owned());
    }
    let pick = select::Pick {
        channel,
        credential,
        group_id: 0,
        upstream_model: String::new(),
    };
    let inflight = state.relay.health.start(owner.credential_id);
    attempt::send(
        state,
        inbound,
        &RequestFacts::default(),
        &pick,
        draft,
        inflight,
    )
    .await
    .map_err(|failure| failure.error)
}

/// A response still to be billed is retrieved before it is deleted, as a call of its own
/// (recorded under the request's id + `-billing`): once deleted, no fetch can report its usage.
/// Whatever the retrieve answers, the delete goes on; if it goes through, the response is no
/// longer to be billed and its creation's hold is released (`Draft::deletes`).
async fn bill_before_delete(state: &AppState, inbound: &Inbound, response_id: &str) {
    let owned = matches!(
        response_owner(state, response_id).await,
        Ok(Some(owner)) if owner.user_id == inbound.token.user_id
    );
    if !owned {
        return; // the delete itself answers that there is no such response
    }
    if !matches!(still_unbilled(state, response_id).await, Ok(Some(_))) {
        return;
    }
    let retrieve = Inbound {
        method: axum::http::Method::GET,
        endpoint: "/v1/responses/{id}",
        query: None,
        body: bytes::Bytes::new(),
        request_id: format!("{}-billing", inbound.request_id),
        ..inbound.clone()
    };
    let answer = handle_stored(state.clone(), retrieve, response_id.to_owned()).await;
    tracing::debug!(
        status = answer.status().as_u16(),
        "retrieved a response still to be billed before deleting it"
    );
}

/// Whether a stored-response call answers with the response object itself (and so its usage):
/// a retrieve or a cancel.
fn reports_the_response(inbound: &Inbound) -> bool {
    (inbound.method == axum::http::Method::GET && inbound.endpoint == "/v1/responses/{id}")
        || inbound.endpoint == "/v1/responses/{id}/cancel"
}

/// A fetch of a response whose billing was put off (created `background`, without usage) is
/// priced as its creation would have been; the recorder charges it if it is the first fetch to
/// report the usage (see [`crate::usage::recorder::Deferred`]).
async fn bill_if_deferred(
    state: &AppState,
    table: &crate::relay::routing::table::RoutingTable,
    response_id: &str,
    draft: &mut Draft,
) -> Result<(), RelayError> {
    let Some(unbilled) = still_unbilled(state, response_id).await? else {
        return Ok(());
    };
    if let Some(route) = table.models.get(&unbilled.model) {
        draft.prices = route.prices;
    }
    draft.model = unbilled.model;
    draft.multiplier = unbilled.multiplier;
    draft.charge = !state.settings().feature_disable_billing;
    draft.settles = Some(response_id.to_owned());
    Ok(())
}

/// What the `background` response `response_id` is to be billed at, while no fetch has billed
/// it. Looked up in memory first: a fetch right after the creation may come before the
/// creation's record is written, and the recorder forgets it there only once it is.
async fn still_unbilled(
    state: &AppState,
    response_id: &str,
) -> Result<Option<Unbilled>, RelayError> {
    let kept = state.relay.usage.pending_unbilled(response_id);
    kept_or_stored(
        state,
        kept,
        response_id,
        crate::store::unbilled_responses::get,
    )
    .await
}

/// `kept`, what memory holds of a response until the recorder has written its row, or else
/// that row, which `read` finds by the response's id.
async fn kept_or_stored<V: Send + 'static>(
    state: &AppState,
    kept: Option<V>,
    response_id: &str,
    read: fn(&crate::store::Conn, &str) -> Result<Option<V>, crate::store::StoreError>,
) -> Result<Option<V>, RelayError> {
    if kept.is_some() {
        return Ok(kept);
    }
    let id = response_id.to_owned();
    state
        .store
        .read(move |c| read(c, &id))
        .await
        .map_err(|err| RelayError::Internal(err.to_string()))
}

/// Session headers clients send (Codex's `session_id`, others' `x-session-id`).
fn session_header(inbound: &Inbound) -> Option<String> {
    // names made once, so a lookup does not parse them again on every request
    static NAMES: [HeaderName; 3] = [
        HeaderName::from_static("session_id"),
        HeaderName::from_static("x-session-id"),
        HeaderName::from_static("conversation_id"),
    ];
    NAMES
        .iter()
        .find_map(|name| inbound.headers.get(name))
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}
