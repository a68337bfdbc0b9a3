//! OpenAI Responses, whole and streamed. A stream is named events (`event: response.created`,
//! `response.output_text.delta`, …) ending with `response.completed`, whose `response` holds the
//! final `model`, `status` and `usage`. `response.incomplete` (the output limit or a content
//! filter was reached) is a proper end too: the client gets the response as the upstream
//! finished it. `response.failed` ends it with an error; a bare `error` event reports one.
//! Every `*.delta` event is content.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::relay::protocol::observed::{ErrorMember, StreamError, WireError};
use crate::relay::protocol::sse::SseEvent;
use crate::relay::protocol::stream::{Effect, Progress, event_type};
use crate::relay::protocol::{Observed, Protocol};
use crate::usage::RawUsage;

/// The members of a response object that accounting reads; `output`, `instructions` and
/// `tools` (often the largest parts) are skipped unparsed.
#[derive(Debug, Default, Deserialize)]
struct ResponseObject<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    store: Option<bool>,
    #[serde(borrow, default)]
    usage: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<ErrorMember<'a>>,
}

impl ResponseObject<'_> {
    /// The error a finished response carries, if it failed.
    fn into_error(self, status: &str) -> Option<StreamError> {
        if let Some(error) = self.error {
            return Some(error.into_stream_error("response_failed"));
        }
        (status == "failed").then(|| StreamError {
            kind: "response_failed".into(),
            message: String::new(),
        })
    }
}

/// Whether a response with this `status` has finished as the upstream meant it to:
/// `completed`, or `incomplete` (stopped at `max_output_tokens` or by a content filter).
fn finished(status: &str) -> bool {
    matches!(status, "completed" | "incomplete")
}

/// `response.*` lifecycle events wrap the response object.
#[derive(Debug, Deserialize)]
struct LifecycleEvent<'a> {
    #[serde(borrow, default)]
    response: Option<ResponseObject<'a>>,
}

/// The `error` event: `{type, code, message, param}` at top level (read as a [`WireError`]:
/// `code` may be a string or a number), or (Codex backend) an `error` member.
#[derive(Debug, Deserialize)]
struct ErrorEvent<'a> {
    #[serde(borrow, default)]
    error: Option<ErrorMember<'a>>,
}

/// Reads a whole Responses answer (or a Responses error body).
pub(crate) fn observe_json(body: &[u8]) -> Observed {
    let mut observed = Observed::default();
    let Ok(mut response) = serde_json::from_slice::<ResponseObject<'_>>(body) else {
        return observed;
    };
    observed.note_model(response.model.take());
    observed.note_response_id(response.id.take(), response.store);
    observed.set_raw_usage(Protocol::Responses, response.usage.take());
    let status = response.status.take();
    // no status: a compatible server's plain answer; "queued"/"in_progress": a background
    // response that has not finished
    let status = status.as_deref().unwrap_or("completed");
    observed.response_final = finished(status) || matches!(status, "failed" | "cancelled");
    observed.error = response.into_error(status);
    observed.completed = finished(status) && observed.error.is_none();
    observed
}

/// Handles one Responses stream event.
pub(crate) fn on_event(progress: &mut Progress, event: &SseEvent) -> Effect {
    let kind = event_type(event);
    match &kind[..] {
        b"response.completed" => finish_event(progress, event.data, "completed"),
        b"response.failed" => finish_event(progress, event.data, "failed"),
        b"response.incomplete" => finish_event(progress, event.data, "incomplete"),
        b"error" => {
            let Ok(error) = serde_json::from_slice::<ErrorEvent<'_>>(event.data) else {
                return Effect::default();
            };
            let error = match error.error {
                Some(member) => member.into_stream_error("error"),
                None => serde_json::from_slice::<WireError<'_>>(event.data)
                    .unwrap_or_default()
                    .into_stream_error("error"),
            };
            progress.observed.error = Some(error);
            Effect {
                error: true,
                ..Effect::default()
            }
        }
        // the model as early as possible, so a stream cut later still records it
        b"response.created" | b"response.in_progress"
            if progress.observed.upstream_model.is_none() =>
        {
            if let Ok(LifecycleEvent {
                response: Some(response),
            }) = serde_json::from_slice::<LifecycleEvent<'_>>(event.data)
            {
                progress.observed.note_model(response.model);
                progress
                    .observed
                    .note_response_id(response.id, response.store);
            }
            Effect {
                preamble: true,
                ..Effect::default()
            }
        }
        b"response.created" | b"response.in_progress" | b"response.queued" => Effect {
            preamble: true,
            ..Effect::default()
        },
        kind => Effect {
            content: kind.ends_with(b".delta"),
            ..Effect::default()
        },
    }
}

/// `response.completed`, `response.failed` or `response.incomplete`; the event's name, not the
/// embedded `status`, says which.
fn finish_event(progress: &mut Progress, data: &[u8], status: &str) -> Effect {
    let Ok(LifecycleEvent {
        response: Some(mut response),
    }) = serde_json::from_slice::<LifecycleEvent<'_>>(data)
    else {
        return Effect::default();
    };
    let observed = &mut progress.observed;
    observed.note_model(response.model.take());
    observed.note_response_id(response.id.take(), response.store);
    if let Some(usage) = response.usage.take() {
        observed.raw_usage = Some(RawUsage::new(usage));
    }
    match response.into_error(status) {
        Some(error) => {
            observed.error = Some(error);
            Effect {
                error: true,
                ..Effect::default()
            }
        }
        None => {
            observed.completed = true;
            Effect {
                completed: true,
                ..Effect::default()
            }
        }
    }
}
