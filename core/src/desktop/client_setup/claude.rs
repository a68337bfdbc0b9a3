//! Claude Code: `~/.claude/settings.json` gets `env.ANTHROPIC_BASE_URL` (Realms' root; Claude
//! Code appends `/v1/messages`) and `env.ANTHROPIC_AUTH_TOKEN` (sent as `Authorization:
//! Bearer`). An `env.ANTHROPIC_API_KEY` is taken out while Realms is set up, so the person's
//! Anthropic key is not sent along as `x-api-key`; undo brings it back. Every other key stays,
//! in its order; the file is rewritten as indented JSON.

use serde_json::{Map, Value};

/// The variables written.
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";
/// The token variable.
pub const TOKEN_VAR: &str = "ANTHROPIC_AUTH_TOKEN";
/// The variable removed while set up.
pub const API_KEY_VAR: &str = "ANTHROPIC_API_KEY";

/// `existing` (possibly empty) with Realms in its `env`; an error names the problem.
pub fn merge(existing: &str, root_url: &str, token: &str) -> Result<String, String> {
    let mut settings = if existing.trim().is_empty() {
        Map::new()
    } else {
        match serde_json::from_str::<Value>(existing).map_err(|e| e.to_string())? {
            Value::Object(map) => map,
            _ => return Err("the file is not a JSON object".into()),
        }
    };
    let env = settings
        .entry("env")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(env) = env else {
        return Err("`env` is not a JSON object".into());
    };
    env.insert(BASE_URL_VAR.into(), Value::from(root_url));
    env.insert(TOKEN_VAR.into(), Value::from(token));
    env.remove(API_KEY_VAR);
    let mut out =
        serde_json::to_string_pretty(&Value::Object(settings)).map_err(|e| e.to_string())?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOT: &str = "http://127.0.0.1:8080";
    const TOKEN: &str = "sk_test-token";

    #[test]
    fn env_is_merged_and_other_keys_stay_in_order() {
        let existing = r#"{"model": "opus", "env": {"FOO": "1", "ANTHROPIC_API_KEY": "sk-ant-x"}, "permissions": {"allow": ["Bash(ls)"]}}"#;
        let out = merge(existing, ROOT, TOKEN).expect("merged");
        let value: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(
            value,
            json!({"model": "opus",
                   "env": {"FOO": "1", "ANTHROPIC_BASE_URL": ROOT, "ANTHROPIC_AUTH_TOKEN": TOKEN},
                   "permissions": {"allow": ["Bash(ls)"]}})
        );
        let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["model", "env", "permissions"]);
        assert_eq!(merge(&out, ROOT, TOKEN).expect("again"), out, "idempotent");
    }

    #[test]
    fn a_fresh_file_gets_an_env_block() {
        let out = merge("", ROOT, TOKEN).expect("merged");
        let value: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(value["env"][BASE_URL_VAR], json!(ROOT));
        assert_eq!(value["env"][TOKEN_VAR], json!(TOKEN));
    }

    #[test]
    fn malformed_files_are_refused() {
        for (bad, says) in [
            ("{\"env\": ", "EOF"),
            ("[1, 2]", "not a JSON object"),
            ("{\"env\": \"x\"}", "`env`"),
        ] {
            let err = merge(bad, ROOT, TOKEN).expect_err("refused");
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
