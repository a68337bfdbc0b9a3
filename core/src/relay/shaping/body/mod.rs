//! Applying a channel's shaping to one request body. The body is parsed only when something must
//! change (a rename, forced usage reporting, or a shaping option); otherwise the client's bytes go
//! upstream untouched.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::settings::{ChannelSettings, FieldPolicy, PromptMode};
use crate::relay::protocol::Protocol;

/// Reasoning-effort suffixes recognised on model names, longest first.
const EFFORT_SUFFIXES: &[&str] = &["minimal", "xhigh", "medium", "high", "low", "none"];

/// A body the channel's settings must change that is not a JSON object Realms can read (one
/// that only the request's own checks skipped over, e.g. a lone UTF-16 surrogate escape):
/// forwarding it unchanged would skip the rename, the forced usage report and every policy.
#[derive(Debug, thiserror::Error)]
#[error("the request body cannot be read as a JSON object: {0}")]
pub struct Unreadable(String);

/// The shaped request.
#[derive(Debug, Clone, PartialEq)]
pub struct Shaped {
    /// The new body, or `None` when the client's bytes go as they are.
    pub body: Option<Bytes>,
    /// The model name sent upstream (after a reasoning suffix was taken off).
    pub model: String,
}

/// Splits `model-high` into (`model`, `high`) when the suffix is a reasoning effort.
fn split_effort(model: &str) -> Option<(&str, &str)> {
    let (base, suffix) = model.rsplit_once('-')?;
    (!base.is_empty() && EFFORT_SUFFIXES.contains(&suffix)).then_some((base, suffix))
}

/// Whether a streamed Chat request asks for usage (`stream_options.include_usage`) itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageAsked {
    /// It does: the body needs no change for it (unless the channel reshapes it anyway).
    Yes,
    /// It does not: the body is rewritten to ask.
    No,
}

/// Shapes `body` for a channel. `upstream_model` is the binding's name for the model;
/// `stream` is set for a streamed Chat request, saying whether the client asked for usage
/// itself: a Chat stream is always made to report usage in its last chunk. `generates` says
/// whether the call generates an answer (not Gemini's `countTokens` or an embedding): only such
/// a body takes a reasoning suffix's thinking settings where they are generation settings.
pub fn shape_body(
    protocol: Protocol,
    body: &[u8],
    settings: &ChannelSettings,
    body_model: Option<&str>,
    upstream_model: &str,
    stream: Option<UsageAsked>,
    generates: bool,
) -> Result<Shaped, Unreadable> {
    if settings.raw_passthrough {
        // The body goes as the client sent it, so the model sent is the client's; only Gemini,
        // whose model is in the path, is still renamed (there, see `Inbound::upstream_path`).
        let model = match body_model {
            Some(model) if protocol != Protocol::Gemini => model,
            _ => upstream_model,
        };
        return Ok(Shaped {
            body: None,
            model: model.to_owned(),
        });
    }
    let effort = settings
        .reasoning_suffixes
        .then(|| split_effort(upstream_model))
        .flatten();
    let model = effort.map_or(upstream_model, |(base, _)| base).to_owned();
    let rename = protocol != Protocol::Gemini && body_model != Some(model.as_str());
    let chat_stream = protocol == Protocol::Chat && stream.is_some();
    let force_usage = stream == Some(UsageAsked::No);
    if !rename && !force_usage && !settings.shapes_body() {
        return Ok(Shaped { body: None, model });
    }
    let mut map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(Unreadable("it is not an object".into())),
        Err(err) => return Err(Unreadable(err.to_string())),
    };
    // The allow and deny lists filter what the client sent; what the channel adds below (its
    // system prompt, policies, rules) is not filtered away again.
    if !settings.body_allow.is_empty() {
        map.retain(|key, _| key == "model" || key == "stream" || settings.body_allow.contains(key));
    }
    map.retain(|key, _| !settings.body_deny.contains(key));
    if rename {
        map.insert("model".into(), Value::String(model.clone()));
    }
    if let Some((_, effort)) = effort {
        set_effort(protocol, &mut map, effort, generates);
    }
    // not into Gemini's embeddings or token counts, whose bodies have no system instruction
    if let Some(prompt) = &settings.system_prompt
        && (generates || protocol != Protocol::Gemini)
    {
        apply_system_prompt(protocol, &mut map, prompt.mode, &prompt.text);
    }
    // Request options of the calls that generate: an embedding or a token count takes none
    // (OpenAI refuses parameters it does not know), and of the other vendors only Anthropic
    // has one of them (`service_tier`).
    if generates {
        match protocol {
            Protocol::Responses | Protocol::Chat => {
                apply_policy(&mut map, "service_tier", &settings.service_tier);
                apply_policy(&mut map, "store", &settings.store);
                apply_policy(&mut map, "safety_identifier", &settings.safety_identifier);
            }
            Protocol::Messages => apply_policy(&mut map, "service_tier", &settings.service_tier),
            Protocol::Embeddings | Protocol::Gemini => {}
        }
    }
    let mut value = Value::Object(map);
    for rule in &settings.body_rules {
        if rule.when.iter().all(|c| holds(&value, c)) {
            let mut candidate = value.clone();
            if json_patch::patch(&mut candidate, &rule.patch).is_ok() {
                value = candidate;
            }
        }
    }
    // Last, so no list or rule can take it away: a Chat stream reports usage only when asked.
    if chat_stream && let Some(map) = value.as_object_mut() {
        let options = map.entry("stream_options").or_insert_with(|| json!({}));
        if !options.is_object() {
            *options = json!({});
        }
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".into(), Value::Bool(true));
        }
    }
    let body = serde_json::to_vec(&value).ok().map(Bytes::from);
    Ok(Shaped { body, model })
}

/// Gemini names the model in the URL, and some bodies name it again: each request of a
/// `batchEmbedContents` (`requests[].model`, which the `google-genai` SDK always sends) and the
/// request inside a `countTokens` (`generateContentRequest.model`). Gemini refuses a body whose
/// model differs from the URL's, so when a binding renames `public` to `upstream` those are
/// renamed too, keeping their `models/` prefix or its absence. `None` when nothing changed.
pub fn rename_gemini_body_models(body: &[u8], public: &str, upstream: &str) -> Option<Bytes> {
    memchr::memmem::find(body, b"\"model\"")?;
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let mut renamed = false;
    let mut rename = |member: Option<&mut Value>| {
        let Some(Value::String(name)) = member else {
            return;
        };
        let (prefix, bare) = match name.strip_prefix("models/") {
            Some(bare) => ("models/", bare),
            None => ("", name.as_str()),
        };
        if bare == public {
            *name = format!("{prefix}{upstream}");
            renamed = true;
        }
    };
    if let Some(requests) = value.get_mut("requests").and_then(Value::as_array_mut) {
        for request in requests {
            rename(request.get_mut("model"));
        }
    }
    rename(value.pointer_mut("/generateContentRequest/model"));
    renamed
        .then(|| serde_json::to_vec(&value).ok().map(Bytes::from))
        .flatten()
}

fn holds(value: &Value, condition: &super::settings::Condition) -> bool {
    let found = value.pointer(&condition.path);
    condition.exists.is_none_or(|want| found.is_some() == want)
        && condition
            .equals
            .as_ref()
            .is_none_or(|want| found.is_some_and(|found| same_value(found, want)))
}

/// JSON equality as JSON Patch's `test` defines it (RFC 6902 §4.6): numbers are equal when
/// their values are (`1` and `1.0`), however they are written.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| same_value(x, y)))
        }
        _ => a == b,
    }
}

fn apply_policy(map: &mut Map<String, Value>, field: &str, policy: &FieldPolicy) {
    match policy {
        FieldPolicy::Passthrough => {}
        FieldPolicy::Remove => {
            map.remove(field);
        }
        FieldPolicy::Set(value) => {
            map.insert(field.to_owned(), value.clone());
        }
    }
}

/// Thinking budgets (tokens) for the efforts on upstreams that take a budget rather than an
/// effort (Anthropic's `thinking.budget_tokens`, Gemini's `thinkingBudget`); `none` turns
/// thinking off. The same budgets as LiteLLM's defaults, so a model name means the same thing
/// through either.
const EFFORT_BUDGETS: &[(&str, u64)] = &[
    ("minimal", 512),
    ("low", 1024),
    ("medium", 2048),
    ("high", 4096),
    ("xhigh", 8192),
];

/// Anthropic's smallest thinking budget.
const ANTHROPIC_MIN_BUDGET: u64 = 1024;

fn effort_budget(effort: &str) -> Option<u64> {
    EFFORT_BUDGETS
        .iter()
        .find(|(name, _)| *name == effort)
        .map(|(_, budget)| *budget)
}

fn set_effort(protocol: Protocol, map: &mut Map<String, Value>, effort: &str, generates: bool) {
    match protocol {
        Protocol::Responses => {
            if let Some(reasoning) = object_member(map, "reasoning") {
                reasoning.insert("effort".into(), Value::String(effort.to_owned()));
            }
        }
        Protocol::Chat => {
            map.insert("reasoning_effort".into(), Value::String(effort.to_owned()));
        }
        Protocol::Messages => set_anthropic_thinking(map, effort),
        Protocol::Gemini if generates => set_gemini_thinking(map, effort),
        Protocol::Embeddings | Protocol::Gemini => {}
    }
}

/// Anthropic: `thinking` enabled with the effort's budget (at least Anthropic's 1,024, and below
/// the request's `max_tokens` as Anthropic requires), or disabled for `none`. A request whose
/// `max_tokens` leaves no room for the smallest budget (or that has none, as `count_tokens`) is
/// left as the client sent it.
fn set_anthropic_thinking(map: &mut Map<String, Value>, effort: &str) {
    let Some(budget) = effort_budget(effort) else {
        map.insert("thinking".into(), json!({ "type": "disabled" }));
        return;
    };
    let Some(max_tokens) = map.get("max_tokens").and_then(Value::as_u64) else {
        return;
    };
    let budget = budget
        .max(ANTHROPIC_MIN_BUDGET)
        .min(max_tokens.saturating_sub(1));
    if budget >= ANTHROPIC_MIN_BUDGET {
        map.insert(
            "thinking".into(),
            json!({ "type": "enabled", "budget_tokens": budget }),
        );
    }
}

/// Gemini: `generationConfig.thinkingConfig.thinkingBudget` (0 for `none`), in place of a
/// `thinkingLevel` (Gemini refuses both); the config's other members stay.
fn set_gemini_thinking(map: &mut Map<String, Value>, effort: &str) {
    let budget = effort_budget(effort).unwrap_or(0);
    let config_key = spelled(map, "generationConfig", "generation_config");
    let Some(config) = object_member(map, config_key) else {
        return;
    };
    let thinking_key = spelled(config, "thinkingConfig", "thinking_config");
    if let Some(thinking) = object_member(config, thinking_key) {
        for replaced in ["thinkingLevel", "thinking_level", "thinking_budget"] {
            thinking.remove(replaced);
        }
        thinking.insert("thinkingBudget".into(), json!(budget));
    }
}

/// The spelling of a Gemini member the client used: Gemini reads `generation_config` as
/// `generationConfig`, so a second copy under the other name would be a duplicate field.
/// The snake_case one when only it is present, else the camelCase one.
fn spelled<'k>(map: &Map<String, Value>, camel: &'k str, snake: &'k str) -> &'k str {
    if !map.contains_key(camel) && map.contains_key(snake) {
        snake
    } else {
        camel
    }
}

/// The object member `key` of `map`, made an empty object when absent or `null` (a client's
/// `"reasoning": null` means no settings, not "leave none"); `None` when the client sent
/// something else there.
fn object_member<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let member = map.entry(key).or_insert(Value::Null);
    if member.is_null() {
        *member = json!({});
    }
    member.as_object_mut()
}

/// A Chat message or Responses input item carrying a system prompt (`system` or `developer`).
fn is_system_message(item: &Value) -> bool {
    matches!(
        item.get("role").and_then(Value::as_str),
        Some("system" | "developer")
    )
}

fn apply_system_prompt(
    protocol: Protocol,
    map: &mut Map<String, Value>,
    mode: PromptMode,
    text: &str,
) {
    match protocol {
        Protocol::Responses => {
            let joined = match (mode, map.get("instructions").and_then(Value::as_str)) {
                (PromptMode::Prepend, Some(existing)) if !existing.is_empty() => {
                    format!("{text}\n\n{existing}")
                }
                _ => text.to_owned(),
            };
            map.insert("instructions".into(), Value::String(joined));
            // set replaces the client's system prompt wherever it put it, as for Chat
            if mode == PromptMode::Set
                && let Some(Value::Array(items)) = map.get_mut("input")
            {
                items.retain(|item| !is_system_message(item));
            }
        }
        Protocol::Chat => {
            let Some(Value::Array(messages)) = map.get_mut("messages") else {
                return;
            };
            if mode == PromptMode::Set {
                messages.retain(|m| !is_system_message(m));
            }
            messages.insert(0, json!({ "role": "system", "content": text }));
        }
        Protocol::Messages => {
            let next = match (mode, map.remove("system")) {
                (PromptMode::Prepend, Some(Value::String(existing))) if !existing.is_empty() => {
                    Value::String(format!("{text}\n\n{existing}"))
                }
                (PromptMode::Prepend, Some(Value::Array(mut blocks))) => {
                    blocks.insert(0, json!({ "type": "text", "text": text }));
                    Value::Array(blocks)
                }
                _ => Value::String(text.to_owned()),
            };
            map.insert("system".into(), next);
        }
        Protocol::Gemini => {
            // Google's REST examples spell it `system_instruction`; both are one field, so the
            // client's is taken over under the camelCase name (never both in one body).
            let snake = map.remove("system_instruction");
            let mut instruction = map.remove("systemInstruction").or(snake);
            let part = json!({ "text": text });
            let parts = match (mode, instruction.as_mut()) {
                (PromptMode::Prepend, Some(Value::Object(existing))) => {
                    let parts = existing.entry("parts").or_insert_with(|| json!([]));
                    if parts.is_object() {
                        // one part given as an object
                        *parts = json!([parts.take()]);
                    }
                    parts
                        .as_array_mut()
                        .map(|parts| parts.insert(0, part.clone()))
                }
                _ => None,
            };
            if parts.is_none() {
                instruction = Some(json!({ "parts": [part] }));
            }
            if let Some(instruction) = instruction {
                map.insert("systemInstruction".into(), instruction);
            }
        }
        Protocol::Embeddings => {}
    }
}

#[cfg(test)]
mod tests;
