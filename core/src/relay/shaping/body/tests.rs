//! Tests of request body shaping: renames, prompts, efforts, policies, rules, lists.

use super::*;

/// [`shape`] of a non-streamed call that generates, its body naming `body_model`.
fn shape_call(
    protocol: Protocol,
    body: &[u8],
    settings: &ChannelSettings,
    body_model: &str,
    upstream_model: &str,
) -> Shaped {
    shape(
        protocol,
        body,
        settings,
        Some(body_model),
        upstream_model,
        None,
        true,
    )
}

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
    let body =
        br#"{"model":"public","stream":true,"messages":[{"role":"user","content":"hi \ud800"}]}"#;
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
    let responses = shaped_json(&shape_call(
        Protocol::Responses,
        br#"{"model":"gpt-5-high","input":"x","reasoning":null}"#,
        &s,
        "gpt-5-high",
        "gpt-5-high",
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
        let shaped = shaped_json(&shape_call(
            Protocol::Chat,
            body,
            &rule(equals.clone()),
            "m",
            "m",
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
    let chat = shaped_json(&shape_call(
        Protocol::Chat,
        br#"{"model":"m","messages":[]}"#,
        &s,
        "m",
        "m",
    ));
    assert_eq!(
        (
            &chat["service_tier"],
            &chat["store"],
            &chat["safety_identifier"]
        ),
        (&json!("flex"), &json!(false), &json!("team-a"))
    );
    let claude = shaped_json(&shape_call(
        Protocol::Messages,
        br#"{"model":"m","max_tokens":8,"messages":[]}"#,
        &s,
        "m",
        "m",
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
    let shaped = shape_call(
        Protocol::Responses,
        body,
        &ChannelSettings::default(),
        "gpt",
        "gpt",
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
    let shaped = shape_call(
        Protocol::Responses,
        body,
        &ChannelSettings::default(),
        "gpt",
        "gpt-up",
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
    let shaped = shape_call(
        Protocol::Responses,
        br#"{"model":"gpt-5-high","input":"x"}"#,
        &s,
        "gpt-5-high",
        "gpt-5-high",
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
    let chat = shape_call(
        Protocol::Chat,
        br#"{"model":"o4-mini-low"}"#,
        &s,
        "o4-mini-low",
        "o4-mini-low",
    );
    assert_eq!(shaped_json(&chat)["reasoning_effort"], "low");

    // Anthropic: a thinking budget below max_tokens, or thinking off
    let claude = |model: &str, body: &[u8]| {
        shaped_json(&shape_call(Protocol::Messages, body, &s, model, model))
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
    let plain = shape_call(
        Protocol::Chat,
        br#"{"model":"gpt-4o"}"#,
        &s,
        "gpt-4o",
        "gpt-4o",
    );
    assert!(plain.body.is_some() && plain.model == "gpt-4o");
}

#[test]
fn system_prompts_per_protocol() {
    let prepend = settings(json!({"system_prompt": {"mode": "prepend", "text": "RULES"}}));
    let set = settings(json!({"system_prompt": {"mode": "set", "text": "ONLY"}}));
    let responses = shape_call(
        Protocol::Responses,
        br#"{"model":"m","instructions":"mine"}"#,
        &prepend,
        "m",
        "m",
    );
    assert_eq!(shaped_json(&responses)["instructions"], "RULES\n\nmine");
    // set: the client's `developer`/`system` input items go too, the rest stays
    let responses_set = shape_call(
        Protocol::Responses,
        br#"{"model":"m","instructions":"mine","input":[{"role":"developer","content":"dev"},{"type":"message","role":"system","content":"sys"},{"role":"user","content":"q"},{"type":"function_call_output","call_id":"c","output":"o"}]}"#,
        &set,
        "m",
        "m",
    );
    let shaped = shaped_json(&responses_set);
    assert_eq!(shaped["instructions"], "ONLY");
    assert_eq!(
        shaped["input"],
        json!([{"role":"user","content":"q"},{"type":"function_call_output","call_id":"c","output":"o"}])
    );
    // a string input is left as it is
    let responses_text = shape_call(
        Protocol::Responses,
        br#"{"model":"m","input":"q"}"#,
        &set,
        "m",
        "m",
    );
    assert_eq!(shaped_json(&responses_text)["input"], "q");
    let chat = shape(Protocol::Chat, br#"{"model":"m","messages":[{"role":"system","content":"mine"},{"role":"user","content":"q"}]}"#, &set, Some("m"), "m", None, true);
    assert_eq!(
        shaped_json(&chat)["messages"],
        json!([{"role":"system","content":"ONLY"},{"role":"user","content":"q"}])
    );
    let anthropic = shape_call(
        Protocol::Messages,
        br#"{"model":"m","system":[{"type":"text","text":"mine"}]}"#,
        &prepend,
        "m",
        "m",
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
    let body =
        br#"{"model":"m","service_tier":"priority","store":true,"metadata":{"a":1},"input":"x"}"#;
    let value = shaped_json(&shape_call(Protocol::Responses, body, &s, "m", "m"));
    assert!(value.get("service_tier").is_none() && value.get("metadata").is_none());
    assert_eq!(value["store"], false);
    assert_eq!(value["temperature"], 0.2);
    assert!(value.get("never").is_none(), "condition not met");
    assert!(
        value.get("half").is_none(),
        "a failing rule is skipped whole"
    );
    let allow = settings(json!({"body_allow": ["input"]}));
    let value = shaped_json(&shape_call(Protocol::Responses, body, &allow, "m", "m"));
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
        let value: Value = serde_json::from_slice(&shaped.body.expect("reshaped")).expect("json");
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
