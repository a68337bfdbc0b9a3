//! One attempt at one upstream: shape and send the request, classify a failure, and — on success
//! — peek at the first event of a stream before committing the answer, or read a whole JSON
//! answer. A failure here is returned with its verdict, so the pipeline can cool the target down
//! and try the next one; nothing has reached the client yet.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;

use super::error::RelayError;
use super::gather::Gathered;
use super::inbound::Inbound;
use super::protocol::{Protocol, RequestFacts, SessionSource, StreamObserver, observe_json};
use super::record::Draft;
use super::routing::failover::{
    InBandFault, Scope, Verdict, classify_status, classify_transport, in_band_fault, judged_status,
    lacks_endpoint, retry_after_secs, retry_hint,
};
use super::routing::health::{CooldownCaps, InflightGuard, Target};
use super::routing::select::Pick;
use super::routing::table::ChannelKind;
use super::shaping::{Shaped, UsageAsked, rename_gemini_body_models, shape_body};
use super::stream::{RelayStream, StreamParts, StreamTiming};
use super::upstream::transport::{TransportError, UpstreamBody, UpstreamRequest, UpstreamResponse};
use super::upstream::{auth, headers, url};
use crate::state::AppState;

/// Most bytes of an upstream error body read (to relay it or to classify it).
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// A failed attempt and what it says about the upstream.
#[derive(Debug)]
pub struct Failure {
    /// What the client gets if this was the last attempt.
    pub error: RelayError,
    /// Scope, retry and cooldown.
    pub verdict: Verdict,
}

/// The next read of an upstream body, waiting until `deadline`: `None` at the body's end. A
/// timeout becomes `UpstreamTimeout(silent)`, a broken connection a 502.
pub(super) async fn next_read(
    body: &mut UpstreamBody,
    deadline: tokio::time::Instant,
    silent: &str,
) -> Result<Option<Bytes>, RelayError> {
    match tokio::time::timeout_at(deadline, body.next()).await {
        Err(_) => Err(RelayError::UpstreamTimeout(silent.to_owned())),
        Ok(None) => Ok(None),
        Ok(Some(Err(_))) => Err(RelayError::UpstreamFailed {
            status: 502,
            summary: "the upstream connection broke".into(),
        }),
        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
    }
}

/// The next read of a body that must go on: its end here is the failure `ended` (a 502), a
/// timeout or broken connection the failure [`next_read`] maps it to.
pub(super) async fn next_required_read(
    state: &AppState,
    body: &mut UpstreamBody,
    deadline: tokio::time::Instant,
    silent: &str,
    ended: &str,
) -> Result<Bytes, Failure> {
    next_read(body, deadline, silent)
        .await
        .map_err(|error| transport(state, error))?
        .ok_or_else(|| {
            transport(
                state,
                RelayError::UpstreamFailed {
                    status: 502,
                    summary: ended.to_owned(),
                },
            )
        })
}

/// An answer over `routing.max_response_bytes`. The limit is Realms' own, not a fault of the
/// upstream: nothing cools down, and no other upstream is tried (it would send the same answer).
pub(super) fn answer_too_large(limit: usize) -> Failure {
    refused(RelayError::UpstreamFailed {
        status: 502,
        summary: format!("the upstream answer is larger than {limit} bytes"),
    })
}

/// A failure of the request itself: no other channel or key would do better, and nothing
/// cools down.
fn refused(error: RelayError) -> Failure {
    Failure {
        error,
        verdict: Verdict {
            scope: Scope::Request,
            retry: false,
            cooldown: None,
        },
    }
}

/// A failure with no HTTP answer to judge (connect, timeout, broken or cut stream).
pub(super) fn transport(state: &AppState, error: RelayError) -> Failure {
    Failure {
        error,
        verdict: classify_transport(&state.config.routing),
    }
}

/// The address guard refused the channel's address. Another channel may be public, so the next
/// one is tried, but nothing cools down: the refusal follows the operator's setting, not the
/// upstream's health, and must end the moment `allow_private_upstreams` is turned on. The
/// address itself goes to the log, not to the client.
fn guard_refusal(summary: &str) -> Failure {
    tracing::warn!(reason = summary, "refused an upstream address");
    Failure {
        error: RelayError::UpstreamFailed {
            status: 502,
            summary: "the channel's upstream address is private or internal, which \
                      `allow_private_upstreams` does not allow"
                .into(),
        },
        verdict: Verdict {
            scope: Scope::Channel,
            retry: true,
            cooldown: None,
        },
    }
}

/// The failure a transport error stands for; its text never contains the upstream URL or key.
fn transport_failure(state: &AppState, err: TransportError) -> Failure {
    match err {
        TransportError::Guard(summary) => guard_refusal(&summary),
        other => transport(
            state,
            RelayError::UpstreamFailed {
                status: 502,
                summary: other.to_string(),
            },
        ),
    }
}

/// Sends the request to `pick` and returns the client's answer, or the failure.
///
/// The error, Codex and streaming continuations are awaited behind a box: a future is as large
/// as its largest state, and this one is moved on every request, so the states only some
/// requests reach would otherwise make every whole JSON answer pay to copy them
/// (`bench/README.md`, "Future sizes").
pub async fn send(
    state: &AppState,
    inbound: &Inbound,
    facts: &RequestFacts,
    pick: &Pick<'_>,
    draft: &mut Draft,
    inflight: InflightGuard,
) -> Result<Response, Failure> {
    let channel = &pick.channel;
    let settings = &channel.settings;
    let stream =
        (inbound.protocol == Protocol::Chat && facts.stream).then_some(if facts.include_usage {
            UsageAsked::Yes
        } else {
            UsageAsked::No
        });
    // A call about a stored Responses object names no model: its body (a cancel's `{}`) goes
    // as the client sent it, with nothing renamed or added.
    let shaped = if pick.upstream_model.is_empty() {
        Shaped {
            body: None,
            model: String::new(),
        }
    } else {
        shape_body(
            inbound.protocol,
            &inbound.body,
            settings,
            facts.model.as_deref(),
            &pick.upstream_model,
            stream,
            inbound.generates(),
        )
        .map_err(|unreadable| refused(RelayError::BadRequest(unreadable.to_string())))?
    };
    // on the request's own record too, so a failed attempt's record names what was sent
    draft.forwarded_model = Some(shaped.model.clone()).filter(|model| !model.is_empty());
    let draft = draft.clone();
    let body = shaped.body.unwrap_or_else(|| inbound.body.clone());
    let body = match &inbound.gemini {
        Some((public, _)) if *public != shaped.model && !settings.raw_passthrough => {
            rename_gemini_body_models(&body, public, &shaped.model).unwrap_or(body)
        }
        _ => body,
    };
    let codex = channel.kind == ChannelKind::CodexOauth;
    let body = if codex && inbound.endpoint == "/v1/responses" {
        super::codex::shape_body(body)
    } else {
        body
    };

    let query = url::strip_credential_params(inbound.query.as_deref());
    let mut path = inbound.upstream_path(&shaped.model);
    if codex {
        path = super::codex::upstream_path(&path);
    }
    let origin = channel.origin.as_ref().ok_or_else(|| {
        transport(
            state,
            RelayError::UpstreamFailed {
                status: 502,
                summary: "the channel's base URL is invalid".into(),
            },
        )
    })?;
    let guarded = !state.settings.load().allow_private_upstreams;
    if guarded && let Some(refusal) = origin.literal_refusal() {
        return Err(guard_refusal(refusal));
    }
    let target = origin.target(&path, query.as_deref());
    let mut upstream_headers = headers::to_upstream(&inbound.headers);
    auth::apply(
        channel.kind,
        pick.credential().secret.expose(),
        settings,
        &mut upstream_headers,
    );
    if codex {
        let prompt_cache_key = facts
            .session_keys
            .iter()
            .find(|k| k.source == SessionSource::PromptCacheKey)
            .map(|k| k.value.as_str());
        auth::codex(
            &mut upstream_headers,
            pick.credential().account_id.as_deref(),
            prompt_cache_key,
        );
    }

    // The whole first-byte timeout, whatever is left of the failover budget: that budget only
    // decides whether another attempt starts. A long answer (a reasoning model's, not
    // streamed) sends its headers only when it is done.
    let first_byte = Duration::from_secs(state.config.limits.first_byte_timeout_secs);
    let first_byte_deadline = tokio::time::Instant::now() + first_byte;
    let request = UpstreamRequest {
        method: inbound.method.clone(),
        origin,
        target,
        headers: upstream_headers,
        body,
        guarded,
        proxy: settings.proxy.as_deref(),
    };
    let sent = state.relay.upstreams.send(request);
    let response = match tokio::time::timeout_at(first_byte_deadline, sent).await {
        Err(_) => {
            return Err(transport(
                state,
                RelayError::UpstreamTimeout("the upstream did not answer in time".into()),
            ));
        }
        Ok(Err(err)) => return Err(transport_failure(state, err)),
        Ok(Ok(response)) => response,
    };
    if codex {
        super::codex::note_quota(state, pick.credential().id, &response.headers);
    }
    let status = response.status;
    if !status.is_success() {
        if codex && status.as_u16() == 401 {
            // the access token may have been revoked or rotated elsewhere: refresh it now
            crate::codex::tokens::refresh_rejected(state, pick.credential().id);
        }
        let new_request = !pick.upstream_model.is_empty();
        return Err(Box::pin(failed_status(state, settings, response, codex, new_request)).await);
    }
    let streamed = headers::is_event_stream(&response.headers);
    if codex && streamed && !facts.stream {
        return Box::pin(super::codex::collect(
            state,
            response,
            draft,
            first_byte_deadline,
        ))
        .await;
    }
    let observer = if streamed {
        let observer = StreamObserver::new(inbound.protocol);
        // the usage-only chunk was asked for on the client's behalf: it does not see it
        if stream == Some(UsageAsked::No) && !settings.raw_passthrough {
            observer.hiding_usage_chunk()
        } else {
            observer
        }
    } else if inbound.gemini_stream() {
        // `streamGenerateContent` without `alt=sse`: one JSON array, written as it is generated
        StreamObserver::json_array(inbound.protocol)
    } else {
        return whole_answer(state, inbound, response, draft).await;
    };
    Box::pin(peek_and_stream(
        state,
        inbound,
        response,
        draft,
        first_byte_deadline,
        observer,
        inflight,
    ))
    .await
}

/// Reads an error answer and classifies it; `new_request` unless the call is about a stored
/// object (whose 404 says the object is not there).
async fn failed_status(
    state: &AppState,
    settings: &crate::relay::shaping::ChannelSettings,
    response: UpstreamResponse,
    codex: bool,
    new_request: bool,
) -> Failure {
    let status = response.status.as_u16();
    let upstream_headers = codex.then(|| response.headers.clone());
    let retry_after = retry_after_secs(&response.headers, std::time::SystemTime::now());
    let content_type = response.headers.get(header::CONTENT_TYPE).cloned();
    let idle = Duration::from_secs(state.config.limits.idle_timeout_secs);
    // A body that is not all there within one idle timeout (stopped, or trickling) is judged
    // by the status alone, so the failover goes on.
    let body = read_limited(response.body, MAX_ERROR_BODY_BYTES, idle)
        .await
        .unwrap_or_default();
    let mentions_model = status == 404 && body.windows(5).any(|w| w.eq_ignore_ascii_case(b"model"));
    // A Codex usage limit cools the account until its window resets, whatever the status says.
    let usage_limit = upstream_headers
        .as_ref()
        .and_then(|h| super::codex::usage_limit_wait(status, h, &body));
    let (judged, retry_after) = match usage_limit {
        Some(wait) => (429, Some(wait).filter(|w| *w > 0).or(retry_after)),
        // without `retry-after`, the wait the error's message names ("try again in 1.898s")
        None if status == 429 => (
            status,
            retry_after.or_else(|| retry_hint(&String::from_utf8_lossy(&body))),
        ),
        None => (judged_status(status, &body), retry_after),
    };
    let verdict = new_request
        .then(|| lacks_endpoint(judged, mentions_model))
        .flatten()
        .unwrap_or_else(|| {
            classify_status(judged, retry_after, mentions_model, &state.config.routing)
        });
    let mapped = settings.status_map.get(&status).copied();
    let error = match verdict.scope {
        Scope::Request => RelayError::UpstreamRejected {
            status: mapped.unwrap_or(status),
            body,
            content_type,
        },
        // a channel that maps 429 (to a 503, say) answers that instead of a rate limit
        Scope::Credential if status == 429 && mapped.is_none() => {
            RelayError::RateLimited(retry_after)
        }
        _ => RelayError::UpstreamFailed {
            status: mapped.unwrap_or(502),
            summary: format!("the upstream answered {status}"),
        },
    };
    Failure { error, verdict }
}

/// Reads up to `limit` bytes of a body, all of it within `within`; `None` when it is longer,
/// breaks or takes longer.
async fn read_limited(mut stream: UpstreamBody, limit: usize, within: Duration) -> Option<Bytes> {
    let mut out = Gathered::default();
    let silent = "the upstream stopped sending its error";
    let deadline = tokio::time::Instant::now() + within;
    while let Some(chunk) = next_read(&mut stream, deadline, silent).await.ok()? {
        if out.len() + chunk.len() > limit {
            return None;
        }
        out.push(chunk);
    }
    Some(out.into_bytes())
}

/// Reads a whole JSON answer, records it and builds the client's response.
async fn whole_answer(
    state: &AppState,
    inbound: &Inbound,
    response: UpstreamResponse,
    mut draft: Draft,
) -> Result<Response, Failure> {
    let status = response.status;
    let client_headers = headers::to_client(&response.headers);
    let limit = state.config.routing.max_response_bytes;
    let idle = Duration::from_secs(state.config.limits.idle_timeout_secs);
    let mut stream = response.body;
    let mut body = Gathered::default();
    let silent = "the upstream stopped sending its answer";
    while let Some(chunk) = next_read(&mut stream, tokio::time::Instant::now() + idle, silent)
        .await
        .map_err(|error| transport(state, error))?
    {
        if body.len() + chunk.len() > limit {
            return Err(answer_too_large(limit));
        }
        body.push(chunk);
    }
    let body = body.into_bytes();
    draft.observed = observe_json(inbound.protocol, &body);
    remember_response(state, &draft, draft.observed.continuable_response_id());
    draft.status_code = status.as_u16();
    draft.response_bytes = body.len() as u64;
    draft.first_token_ms = Some(draft.elapsed_ms());
    draft.submit(&state.relay.usage);
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    *out.headers_mut() = client_headers;
    Ok(out)
}

/// Remembers a stored Responses object as soon as it is seen created. Its id is bound to the
/// channel and credential that made it, so a later turn naming it in `previous_response_id`
/// (its first session key) is sent where it can be continued; and its owner is noted, so a
/// call about it (a poll of a background response, a cancel while it streams) finds it before
/// the recorder writes its row. An unstored one (`store: false`, every Codex turn) is neither:
/// nothing can name it, and it would take a place in the bounded session table.
fn remember_response(state: &AppState, draft: &Draft, id: Option<&str>) {
    let (Some(id), Some(owner)) = (id, draft.response_owner()) else {
        return;
    };
    state
        .relay
        .sticky
        .bind(id, owner.channel_id, owner.credential_id, Instant::now());
    state.relay.usage.note_owner(id, owner);
}

/// Reads until the first event (SSE event or array element) that is more than a preamble, or
/// until `routing.preamble_hold_ms` after the preamble; an error before then (or no event at
/// all) is a failure the pipeline may fail over from. Then commits: the client gets the
/// upstream's status and headers and a body that forwards everything as it arrives.
async fn peek_and_stream(
    state: &AppState,
    inbound: &Inbound,
    response: UpstreamResponse,
    mut draft: Draft,
    deadline: tokio::time::Instant,
    mut observer: StreamObserver,
    inflight: InflightGuard,
) -> Result<Response, Failure> {
    let status = response.status;
    let mut client_headers = headers::to_client(&response.headers);
    let mut upstream = response.body;
    let mut peeked = Gathered::default();
    let mut completed = false;
    // Set once the preamble arrived: past it, the stream is committed as it is.
    let mut hold_until: Option<tokio::time::Instant> = None;
    loop {
        let limit = hold_until.map_or(deadline, |hold| hold.min(deadline));
        let chunk =
            match next_read(&mut upstream, limit, "the upstream sent no event in time").await {
                Ok(Some(chunk)) => chunk,
                // the upstream answered with its preamble: past the hold it is committed as it is
                Err(RelayError::UpstreamTimeout(_)) if hold_until.is_some() => break,
                Err(error) => return Err(transport(state, error)),
                Ok(None) => {
                    return Err(transport(
                        state,
                        RelayError::UpstreamFailed {
                            status: 502,
                            summary: "the upstream closed the stream before its first event".into(),
                        },
                    ));
                }
            };
        // Everything before the commit is held in memory: no more than a whole answer may be.
        // That much without a first event is the upstream's fault (never real content).
        let max_held = state.config.routing.max_response_bytes;
        if peeked.len() + chunk.len() > max_held {
            return Err(transport(state, answer_too_large(max_held).error));
        }
        let outcome = observer.feed(&chunk);
        peeked.push(chunk);
        completed |= outcome.completed;
        if outcome.first_content && draft.first_token_ms.is_none() {
            draft.first_token_ms = Some(draft.elapsed_ms());
        }
        if outcome.error && !outcome.first_content {
            return Err(first_event_error(state, observer));
        }
        let hold = state.config.routing.preamble_hold_ms;
        if outcome.committable || (outcome.first_event && hold == 0) {
            break;
        }
        if outcome.first_event {
            hold_until = Some(tokio::time::Instant::now() + Duration::from_millis(hold));
        }
    }
    draft.status_code = status.as_u16();
    remember_response(state, &draft, observer.continuable_response_id());
    client_headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    client_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let timing = StreamTiming {
        idle_timeout: Duration::from_secs(state.config.limits.idle_timeout_secs),
        keepalive_every: Duration::from_secs(state.config.routing.keepalive_secs),
    };
    let stream = RelayStream::new(StreamParts {
        upstream,
        peeked: peeked.into_bytes(),
        observer,
        completed,
        dialect: inbound.dialect(),
        keepalive: inbound.protocol.keepalive_bytes(),
        timing,
        stop: state.streams_stop.local().clone(),
        draft,
        sink: state.relay.usage.clone(),
        inflight,
        max_held: state.config.limits.max_held_event_bytes,
    });
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = client_headers;
    Ok(out)
}

/// An error event before any content, judged by its kind ([`in_band_fault`]): a rate limit
/// cools the credential (for the wait its message names, if any), a refused credential cools
/// that credential, the request's own fault (invalid, too long, refused by a content policy)
/// goes back to the client as a 400 with nothing cooled or retried, and the rest cools the
/// channel.
pub(super) fn first_event_error(state: &AppState, observer: StreamObserver) -> Failure {
    let observed = observer.finish();
    let (kind, message) = observed
        .error
        .map(|e| (e.kind, e.message))
        .unwrap_or_default();
    let summary = if message.is_empty() {
        format!("the upstream reported `{kind}`")
    } else {
        format!("the upstream reported `{kind}`: {message}")
    };
    let routing = &state.config.routing;
    let failed = |summary| RelayError::UpstreamFailed {
        status: 502,
        summary,
    };
    let (error, verdict) = match in_band_fault(&kind) {
        InBandFault::RateLimited => {
            let retry_after = retry_hint(&message);
            (
                RelayError::RateLimited(retry_after),
                classify_status(429, retry_after, false, routing),
            )
        }
        InBandFault::Credential => (failed(summary), classify_status(401, None, false, routing)),
        InBandFault::Request => (
            RelayError::BadRequest(summary),
            classify_status(400, None, false, routing),
        ),
        InBandFault::Channel => (failed(summary), classify_transport(routing)),
    };
    Failure { error, verdict }
}

/// Applies a failure's cooldown to what it scopes.
pub fn cool_down(
    state: &AppState,
    pick: &Pick<'_>,
    model: &str,
    verdict: &Verdict,
    error: &RelayError,
) {
    let Some((wait, explicit)) = verdict.cooldown else {
        return;
    };
    let target = match verdict.scope {
        Scope::Credential => Target::Credential(pick.credential().id),
        Scope::Channel => Target::Channel(pick.channel.id),
        Scope::ChannelModel => Target::ChannelModel(pick.channel.id, model.to_owned()),
        Scope::Request => return,
    };
    tracing::warn!(channel = %pick.channel.name, channel_id = pick.channel.id, scope = ?verdict.scope, class = error.class(), wait_secs = wait.as_secs(), "upstream failed; cooling down");
    state.relay.health.cool_down(
        target,
        wait,
        CooldownCaps::of(&state.config.routing),
        explicit,
        error.class().to_owned(),
        Instant::now(),
    );
}
