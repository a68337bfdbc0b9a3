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
mod tests {
    use super::*;

    /// [`shape_body`] of a body it can read.
    fn shape(
        protocol: Protocol,
        body: &[u8],
        settings: &ChannelSettings,
        body_model: Option<&str>,
        upstream_model: &str,
        stream: Option<UsageAsked>,
        generates: bool,
    ) -> Shaped {
        shape_body(
            protocol,
            body,
            settings,
            body_model,
            upstream_model,
            stream,
            generates,
        )
        .expect("a readable body")
    }

    #[test]
    fn a_body_that_must_change_but_cannot_be_read_is_refused_not_forwarded_unshaped() {
        // `inspect_request` skips the message's text, so only shaping reads the lone surrogate
        let body = br#"{"model":"public","stream":true,"messages":[{"role":"user","content":"hi \ud800"}]}"#;
        let plain = ChannelSettings::default();
        let result = shape_body(
            Protocol::Chat,
            body,
            &plain,
            Some("public"),
            "upstream",
            Some(UsageAsked::No),
            true,
        );
        let err = result.expect_err("the rename and the usage report cannot be applied");
        assert!(err.to_string().contains("escape"), "{err}");
        // nothing to change: the bytes go as they are, read or not
        let same = shape_body(
            Protocol::Chat,
            body,
            &plain,
            Some("public"),
            "public",
            None,
            true,
        );
        assert_eq!(same.expect("untouched").body, None);
        let gemini = settings(json!({"system_prompt": {"mode": "set", "text": "x"}}));
        assert!(shape_body(Protocol::Gemini, b"[1]", &gemini, None, "g", None, true).is_err());
    }

    fn settings(value: Value) -> ChannelSettings {
        ChannelSettings::parse(&value).expect("settings")
    }

    fn shaped_json(shaped: &Shaped) -> Value {
        serde_json::from_slice(shaped.body.as_ref().expect("a new body")).expect("json")
    }

    #[test]
    fn a_reasoning_suffix_fills_settings_the_client_sent_as_null() {
        let s = settings(json!({"reasoning_suffixes": true}));
        let responses = shaped_json(&shape(
            Protocol::Responses,
            br#"{"model":"gpt-5-high","input":"x","reasoning":null}"#,
            &s,
            Some("gpt-5-high"),
            "gpt-5-high",
            None,
            true,
        ));
        assert_eq!(responses["reasoning"], json!({"effort": "high"}));
        let gemini = shaped_json(&shape(
            Protocol::Gemini,
            br#"{"contents":[],"generationConfig":null}"#,
            &s,
            None,
            "g-high",
            None,
            true,
        ));
        assert_eq!(
            gemini["generationConfig"],
            json!({"thinkingConfig": {"thinkingBudget": effort_budget("high")}})
        );
    }

    #[test]
    fn gemini_thinking_goes_into_the_config_the_client_spelled_in_snake_case() {
        let s = settings(json!({"reasoning_suffixes": true}));
        let gemini = shaped_json(&shape(
            Protocol::Gemini,
            br#"{"contents":[],"generation_config":{"temperature":0.2,"thinking_config":{"thinking_budget":5}}}"#,
            &s,
            None,
            "g-low",
            None,
            true,
        ));
        assert_eq!(
            gemini.get("generationConfig"),
            None,
            "no second copy: {gemini}"
        );
        assert_eq!(
            gemini["generation_config"],
            json!({"temperature": 0.2, "thinking_config": {"thinkingBudget": effort_budget("low")}})
        );
    }

    #[test]
    fn gemini_embeddings_and_token_counts_get_no_system_instruction() {
        let s = settings(json!({"system_prompt": {"mode": "set", "text": "Be brief."}}));
        let body = br#"{"content":{"parts":[{"text":"hi"}]}}"#;
        let embed = shape(Protocol::Gemini, body, &s, None, "g", None, false);
        assert!(
            embed
                .body
                .as_ref()
                .is_none_or(|b| !String::from_utf8_lossy(b).contains("Be brief.")),
            "{embed:?}"
        );
        let generate = shaped_json(&shape(
            Protocol::Gemini,
            br#"{"contents":[]}"#,
            &s,
            None,
            "g",
            None,
            true,
        ));
        assert!(generate.to_string().contains("Be brief."), "{generate}");
    }

    #[test]
    fn conditions_compare_numbers_by_value() {
        let rule = |equals: Value| {
            settings(json!({"body_rules": [{
                "when": [{"path": "/temperature", "equals": equals}],
                "patch": [{"op": "add", "path": "/matched", "value": true}],
            }]}))
        };
        let body = br#"{"model":"m","temperature":1.0,"stop":[1,2.0]}"#;
        for (equals, matched) in [
            (json!(1), true),
            (json!(1.0), true),
            (json!(2), false),
            (json!("1"), false),
        ] {
            let shaped = shaped_json(&shape(
                Protocol::Chat,
                body,
                &rule(equals.clone()),
                Some("m"),
                "m",
                None,
                true,
            ));
            assert_eq!(shaped.get("matched").is_some(), matched, "equals {equals}");
        }
        assert!(same_value(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn request_option_policies_apply_only_where_the_option_exists() {
        let s = settings(json!({
            "service_tier": {"action": "set", "value": "flex"},
            "store": {"action": "set", "value": false},
            "safety_identifier": {"action": "set", "value": "team-a"},
        }));
        let chat = shaped_json(&shape(
            Protocol::Chat,
            br#"{"model":"m","messages":[]}"#,
            &s,
            Some("m"),
            "m",
            None,
            true,
        ));
        assert_eq!(
            (
                &chat["service_tier"],
                &chat["store"],
                &chat["safety_identifier"]
            ),
            (&json!("flex"), &json!(false), &json!("team-a"))
        );
        let claude = shaped_json(&shape(
            Protocol::Messages,
            br#"{"model":"m","max_tokens":8,"messages":[]}"#,
            &s,
            Some("m"),
            "m",
            None,
            true,
        ));
        assert_eq!(claude["service_tier"], "flex");
        assert_eq!(
            (claude.get("store"), claude.get("safety_identifier")),
            (None, None)
        );
        // embeddings and token counts take no request options
        for (protocol, body) in [
            (Protocol::Embeddings, &br#"{"model":"m","input":"x"}"#[..]),
            (Protocol::Responses, &br#"{"model":"m","input":"x"}"#[..]),
            (Protocol::Messages, &br#"{"model":"m","messages":[]}"#[..]),
        ] {
            let counted = shape(protocol, body, &s, Some("m"), "m", None, false);
            let sent = counted.body.unwrap_or_else(|| Bytes::copy_from_slice(body));
            let sent: Value = serde_json::from_slice(&sent).expect("json");
            for option in ["service_tier", "store", "safety_identifier"] {
                assert_eq!(sent.get(option), None, "{protocol}: {sent}");
            }
        }
    }

    #[test]
    fn nothing_to_do_keeps_the_clients_bytes() {
        let body = br#"{"model":"gpt","input":"hi","future_field":{"x":1}}"#;
        let shaped = shape(
            Protocol::Responses,
            body,
            &ChannelSettings::default(),
            Some("gpt"),
            "gpt",
            None,
            true,
        );
        assert_eq!(
            shaped,
            Shaped {
                body: None,
                model: "gpt".into()
            }
        );
    }

    #[test]
    fn rename_keeps_every_other_field() {
        let body = br#"{"model":"gpt","input":"hi","future_field":{"x":1}}"#;
        let shaped = shape(
            Protocol::Responses,
            body,
            &ChannelSettings::default(),
            Some("gpt"),
            "gpt-up",
            None,
            true,
        );
        let value = shaped_json(&shaped);
        assert_eq!(value["model"], "gpt-up");
        assert_eq!(value["future_field"]["x"], 1);
    }

    #[test]
    fn raw_passthrough_changes_nothing_even_a_rename() {
        let s = settings(json!({"raw_passthrough": true, "store": {"action": "remove"}}));
        let shaped = shape(
            Protocol::Chat,
            br#"{"model":"a"}"#,
            &s,
            Some("a"),
            "b",
            Some(UsageAsked::No),
            true,
        );
        assert!(shaped.body.is_none());
        assert_eq!(shaped.model, "a", "the model actually sent, for the record");
        let gemini = shape(Protocol::Gemini, b"{}", &s, None, "b", None, true);
        assert_eq!(gemini.model, "b", "Gemini's model is renamed in the path");
    }

    #[test]
    fn reasoning_suffix_becomes_an_effort() {
        let s = settings(json!({"reasoning_suffixes": true}));
        let shaped = shape(
            Protocol::Responses,
            br#"{"model":"gpt-5-high","input":"x"}"#,
            &s,
            Some("gpt-5-high"),
            "gpt-5-high",
            None,
            true,
        );
        assert_eq!(shaped.model, "gpt-5");
        let value = shaped_json(&shaped);
        assert_eq!(
            (
                value["model"].as_str(),
                value["reasoning"]["effort"].as_str()
            ),
            (Some("gpt-5"), Some("high"))
        );
        let chat = shape(
            Protocol::Chat,
            br#"{"model":"o4-mini-low"}"#,
            &s,
            Some("o4-mini-low"),
            "o4-mini-low",
            None,
            true,
        );
        assert_eq!(shaped_json(&chat)["reasoning_effort"], "low");

        // Anthropic: a thinking budget below max_tokens, or thinking off
        let claude = |model: &str, body: &[u8]| {
            shaped_json(&shape(
                Protocol::Messages,
                body,
                &s,
                Some(model),
                model,
                None,
                true,
            ))
        };
        let high = claude(
            "claude-x-high",
            br#"{"model":"claude-x-high","max_tokens":32000,"messages":[]}"#,
        );
        assert_eq!(high["model"], "claude-x");
        assert_eq!(
            high["thinking"],
            json!({"type": "enabled", "budget_tokens": 4096})
        );
        let tight = claude(
            "claude-x-xhigh",
            br#"{"model":"claude-x-xhigh","max_tokens":3000,"messages":[]}"#,
        );
        assert_eq!(tight["thinking"]["budget_tokens"], 2999);
        let minimal = claude(
            "claude-x-minimal",
            br#"{"model":"claude-x-minimal","max_tokens":4000,"messages":[]}"#,
        );
        assert_eq!(minimal["thinking"]["budget_tokens"], 1024);
        let no_room = claude(
            "claude-x-low",
            br#"{"model":"claude-x-low","max_tokens":1024,"messages":[]}"#,
        );
        assert_eq!(no_room.get("thinking"), None);
        assert_eq!(no_room["model"], "claude-x");
        let off = claude(
            "claude-x-none",
            br#"{"model":"claude-x-none","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":2000}}"#,
        );
        assert_eq!(off["thinking"], json!({"type": "disabled"}));

        // Gemini: a thinking budget in the generation config, for generating calls only
        let gemini = |model: &str, body: &[u8], generates: bool| {
            shape(Protocol::Gemini, body, &s, None, model, None, generates)
        };
        let shaped = gemini(
            "gemini-x-medium",
            br#"{"contents":[],"generationConfig":{"temperature":0.5,"thinkingConfig":{"thinkingLevel":"low","includeThoughts":true}}}"#,
            true,
        );
        assert_eq!(shaped.model, "gemini-x");
        assert_eq!(
            shaped_json(&shaped)["generationConfig"],
            json!({"temperature": 0.5, "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 2048}})
        );
        let none = gemini("gemini-x-none", br#"{"contents":[]}"#, true);
        assert_eq!(
            shaped_json(&none)["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            0
        );
        let count = gemini("gemini-x-high", br#"{"contents":[]}"#, false);
        assert_eq!(count.model, "gemini-x");
        assert!(
            count
                .body
                .as_ref()
                .is_none_or(|b| !String::from_utf8_lossy(b).contains("generationConfig")),
            "countTokens takes no generation settings"
        );
        let plain = shape(
            Protocol::Chat,
            br#"{"model":"gpt-4o"}"#,
            &s,
            Some("gpt-4o"),
            "gpt-4o",
            None,
            true,
        );
        assert!(plain.body.is_some() && plain.model == "gpt-4o");
    }

    #[test]
    fn system_prompts_per_protocol() {
        let prepend = settings(json!({"system_prompt": {"mode": "prepend", "text": "RULES"}}));
        let set = settings(json!({"system_prompt": {"mode": "set", "text": "ONLY"}}));
        let responses = shape(
            Protocol::Responses,
            br#"{"model":"m","instructions":"mine"}"#,
            &prepend,
            Some("m"),
            "m",
            None,
            true,
        );
        assert_eq!(shaped_json(&responses)["instructions"], "RULES\n\nmine");
        // set: the client's `developer`/`system` input items go too, the rest stays
        let responses_set = shape(
            Protocol::Responses,
            br#"{"model":"m","instructions":"mine","input":[{"role":"developer","content":"dev"},{"type":"message","role":"system","content":"sys"},{"role":"user","content":"q"},{"type":"function_call_output","call_id":"c","output":"o"}]}"#,
            &set,
            Some("m"),
            "m",
            None,
            true,
        );
        let shaped = shaped_json(&responses_set);
        assert_eq!(shaped["instructions"], "ONLY");
        assert_eq!(
            shaped["input"],
            json!([{"role":"user","content":"q"},{"type":"function_call_output","call_id":"c","output":"o"}])
        );
        // a string input is left as it is
        let responses_text = shape(
            Protocol::Responses,
            br#"{"model":"m","input":"q"}"#,
            &set,
            Some("m"),
            "m",
            None,
            true,
        );
        assert_eq!(shaped_json(&responses_text)["input"], "q");
        let chat = shape(Protocol::Chat, br#"{"model":"m","messages":[{"role":"system","content":"mine"},{"role":"user","content":"q"}]}"#, &set, Some("m"), "m", None, true);
        assert_eq!(
            shaped_json(&chat)["messages"],
            json!([{"role":"system","content":"ONLY"},{"role":"user","content":"q"}])
        );
        let anthropic = shape(
            Protocol::Messages,
            br#"{"model":"m","system":[{"type":"text","text":"mine"}]}"#,
            &prepend,
            Some("m"),
            "m",
            None,
            true,
        );
        assert_eq!(shaped_json(&anthropic)["system"][0]["text"], "RULES");
        let gemini = shape(
            Protocol::Gemini,
            br#"{"contents":[]}"#,
            &set,
            None,
            "m",
            None,
            true,
        );
        assert_eq!(
            shaped_json(&gemini)["systemInstruction"]["parts"][0]["text"],
            "ONLY"
        );
    }

    #[test]
    fn policies_lists_and_rules() {
        let s = settings(json!({
            "service_tier": {"action": "remove"},
            "store": {"action": "set", "value": false},
            "body_deny": ["metadata"],
            "body_rules": [
                {"when": [{"path": "/temperature", "exists": false}], "patch": [{"op": "add", "path": "/temperature", "value": 0.2}]},
                {"when": [{"path": "/model", "equals": "other"}], "patch": [{"op": "add", "path": "/never", "value": 1}]},
                {"patch": [{"op": "remove", "path": "/missing"}, {"op": "add", "path": "/half", "value": 1}]}
            ]
        }));
        let body = br#"{"model":"m","service_tier":"priority","store":true,"metadata":{"a":1},"input":"x"}"#;
        let value = shaped_json(&shape(
            Protocol::Responses,
            body,
            &s,
            Some("m"),
            "m",
            None,
            true,
        ));
        assert!(value.get("service_tier").is_none() && value.get("metadata").is_none());
        assert_eq!(value["store"], false);
        assert_eq!(value["temperature"], 0.2);
        assert!(value.get("never").is_none(), "condition not met");
        assert!(
            value.get("half").is_none(),
            "a failing rule is skipped whole"
        );
        let allow = settings(json!({"body_allow": ["input"]}));
        let value = shaped_json(&shape(
            Protocol::Responses,
            body,
            &allow,
            Some("m"),
            "m",
            None,
            true,
        ));
        let mut keys: Vec<&String> = value.as_object().expect("object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["input", "model"]);
    }

    #[test]
    fn chat_streams_are_asked_for_usage() {
        let shaped = shape(
            Protocol::Chat,
            br#"{"model":"m","stream":true,"stream_options":{"x":1}}"#,
            &ChannelSettings::default(),
            Some("m"),
            "m",
            Some(UsageAsked::No),
            true,
        );
        let value = shaped_json(&shaped);
        assert_eq!(
            value["stream_options"],
            json!({"x": 1, "include_usage": true})
        );
    }

    #[test]
    fn a_chat_stream_reports_usage_whatever_the_lists_and_rules_leave() {
        let chat =
            br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#;
        for settings_json in [
            json!({"body_allow": ["messages"]}),
            json!({"body_deny": ["stream_options"]}),
            json!({"body_rules": [{"patch": [{"op": "replace", "path": "/stream_options/include_usage", "value": false}]}]}),
        ] {
            let s = settings(settings_json.clone());
            let shaped = shape(
                Protocol::Chat,
                chat,
                &s,
                Some("m"),
                "m",
                Some(UsageAsked::Yes),
                true,
            );
            let value: Value =
                serde_json::from_slice(&shaped.body.expect("reshaped")).expect("json");
            assert_eq!(
                value["stream_options"]["include_usage"], true,
                "{settings_json}"
            );
        }
        // `null` in place of the options object
        let null_options = br#"{"model":"m","stream":true,"stream_options":null,"messages":[]}"#;
        let shaped = shape(
            Protocol::Chat,
            null_options,
            &ChannelSettings::default(),
            Some("m"),
            "m",
            Some(UsageAsked::No),
            true,
        );
        let value: Value = serde_json::from_slice(&shaped.body.expect("reshaped")).expect("json");
        assert_eq!(value["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn the_allow_list_filters_the_client_fields_not_what_the_channel_adds() {
        let s = settings(json!({
            "system_prompt": {"mode": "set", "text": "S"},
            "service_tier": {"action": "set", "value": "standard_only"},
            "body_allow": ["messages", "max_tokens"],
        }));
        let body = br#"{"model":"m","max_tokens":5,"temperature":1,"messages":[{"role":"user","content":"q"}]}"#;
        let shaped = shape(Protocol::Messages, body, &s, Some("m"), "m", None, true);
        let value: Value = serde_json::from_slice(&shaped.body.expect("reshaped")).expect("json");
        assert_eq!(value["system"], "S", "the channel's prompt stays");
        assert_eq!(value["service_tier"], "standard_only", "and its policy");
        assert_eq!(
            value.get("temperature"),
            None,
            "the client's other fields go"
        );
        assert_eq!(value["max_tokens"], 5);
    }

    #[test]
    fn gemini_body_models_follow_the_renamed_url() {
        let batch = br#"{"requests":[{"model":"models/alias","content":{"parts":[{"text":"a"}]}},{"model":"alias","content":{}},{"model":"models/other"}]}"#;
        let renamed = rename_gemini_body_models(batch, "alias", "real").expect("renamed");
        let value: Value = serde_json::from_slice(&renamed).expect("json");
        assert_eq!(value["requests"][0]["model"], "models/real");
        assert_eq!(value["requests"][1]["model"], "real");
        assert_eq!(
            value["requests"][2]["model"], "models/other",
            "another model stays"
        );
        let count = br#"{"generateContentRequest":{"model":"models/alias","contents":[]}}"#;
        let renamed = rename_gemini_body_models(count, "alias", "real").expect("renamed");
        let value: Value = serde_json::from_slice(&renamed).expect("json");
        assert_eq!(value["generateContentRequest"]["model"], "models/real");
        // a generateContent body names no model (a `"role":"model"` is not one)
        let chat = br#"{"contents":[{"role":"model","parts":[{"text":"alias"}]}]}"#;
        assert_eq!(rename_gemini_body_models(chat, "alias", "real"), None);
    }

    #[test]
    fn a_condition_can_ask_for_null() {
        let s = settings(json!({"body_rules": [{
            "when": [{"path": "/instructions", "equals": null}],
            "patch": [{"op": "replace", "path": "/instructions", "value": "set"}]
        }]}));
        let apply = |body: &[u8]| -> Value {
            let shaped = shape(Protocol::Responses, body, &s, Some("m"), "m", None, true);
            serde_json::from_slice(&shaped.body.expect("reshaped")).expect("json")
        };
        assert_eq!(
            apply(br#"{"model":"m","instructions":null}"#)["instructions"],
            "set"
        );
        assert_eq!(
            apply(br#"{"model":"m","instructions":"x"}"#)["instructions"],
            "x"
        );
        // and the setting reads back as it was written
        let text = serde_json::to_value(&s).expect("serialise");
        assert_eq!(ChannelSettings::parse(&text).expect("parses"), s);
    }

    #[test]
    fn a_gemini_system_instruction_in_either_spelling_is_one_field() {
        let prepend = settings(json!({"system_prompt": {"mode": "prepend", "text": "S"}}));
        let set = settings(json!({"system_prompt": {"mode": "set", "text": "S"}}));
        let snake = br#"{"system_instruction":{"parts":[{"text":"cat"}]},"contents":[]}"#;
        let value = shaped_json(&shape(
            Protocol::Gemini,
            snake,
            &prepend,
            None,
            "g",
            None,
            true,
        ));
        assert_eq!(value.get("system_instruction"), None, "{value}");
        assert_eq!(
            value["systemInstruction"]["parts"],
            json!([{"text": "S"}, {"text": "cat"}])
        );
        let value = shaped_json(&shape(Protocol::Gemini, snake, &set, None, "g", None, true));
        assert_eq!(value.get("system_instruction"), None, "{value}");
        assert_eq!(value["systemInstruction"]["parts"], json!([{"text": "S"}]));
        // `parts` as one object
        let object = br#"{"systemInstruction":{"parts":{"text":"cat"}},"contents":[]}"#;
        let value = shaped_json(&shape(
            Protocol::Gemini,
            object,
            &prepend,
            None,
            "g",
            None,
            true,
        ));
        assert_eq!(
            value["systemInstruction"]["parts"],
            json!([{"text": "S"}, {"text": "cat"}])
        );
    }
}
