//! Codex CLI: `~/.codex/config.toml` gets `model_provider = "realms"` and a
//! `[model_providers.realms]` table pointing at Realms' `/v1` over the Responses API. Edited with
//! `toml_edit`, so the person's comments, order and other settings stay as they were.
//!
//! The token goes in `experimental_bearer_token`, which Codex sends as `Authorization: Bearer`.
//! Codex's usual `env_key` names an environment variable instead, and apps started from a
//! desktop (not a shell) would not have it.

use toml_edit::{DocumentMut, InlineTable, Item, Table, Value, value};

/// The provider id Realms adds under `model_providers`.
pub const PROVIDER_ID: &str = "realms";

/// `existing` (possibly empty) with Realms as the model provider; an error names the problem
/// (line and reason, never the file's text, which may hold secrets).
pub fn merge(existing: &str, api_base: &str, token: &str) -> Result<String, String> {
    let mut doc: DocumentMut = existing.parse().map_err(|e: toml_edit::TomlError| {
        let line = e.span().map(|span| {
            existing[..span.start.min(existing.len())]
                .lines()
                .count()
                .max(1)
        });
        match line {
            Some(line) => format!("line {line}: {}", e.message().trim()),
            None => e.message().trim().to_owned(),
        }
    })?;
    let fields = [
        ("name", "Realms"),
        ("base_url", api_base),
        ("wire_api", "responses"),
        ("experimental_bearer_token", token),
    ];
    match doc.get_mut("model_providers") {
        None => {
            let mut providers = Table::new();
            // Only `[model_providers.realms]` is printed, not an empty `[model_providers]`.
            providers.set_implicit(true);
            providers.insert(PROVIDER_ID, Item::Table(provider_table(&fields)));
            doc.insert("model_providers", Item::Table(providers));
        }
        Some(Item::Table(providers)) => {
            providers.insert(PROVIDER_ID, Item::Table(provider_table(&fields)));
        }
        Some(Item::Value(Value::InlineTable(providers))) => {
            let mut provider = InlineTable::new();
            for (key, text) in fields {
                provider.insert(key, text.into());
            }
            providers.insert(PROVIDER_ID, Value::InlineTable(provider));
        }
        Some(_) => return Err("`model_providers` is not a table".into()),
    }
    doc.insert("model_provider", value(PROVIDER_ID));
    Ok(doc.to_string())
}

fn provider_table(fields: &[(&str, &str)]) -> Table {
    let mut provider = Table::new();
    for (key, text) in fields {
        provider.insert(key, value(*text));
    }
    provider
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:8080/v1";
    const TOKEN: &str = "sk_test-token";

    fn parsed(text: &str) -> toml::Table {
        toml::from_str(text).expect("valid TOML")
    }

    #[test]
    fn a_fresh_file_gets_the_provider() {
        let out = merge("", BASE, TOKEN).expect("merged");
        let config = parsed(&out);
        assert_eq!(config["model_provider"].as_str(), Some("realms"));
        let realms = &config["model_providers"]["realms"];
        assert_eq!(realms["base_url"].as_str(), Some(BASE));
        assert_eq!(realms["wire_api"].as_str(), Some("responses"));
        assert_eq!(realms["experimental_bearer_token"].as_str(), Some(TOKEN));
        assert!(!out.contains("[model_providers]\n"), "{out}");
    }

    #[test]
    fn comments_order_and_other_settings_are_kept() {
        let existing = "# my settings\nmodel = \"gpt-5\" # the default model\nmodel_provider = \"openai\"\n\n[model_providers.other]\nname = \"Other\" # keep me\nbase_url = \"https://other.example/v1\"\n\n[tui]\nnotifications = true\n";
        let out = merge(existing, BASE, TOKEN).expect("merged");
        assert!(
            out.starts_with("# my settings\nmodel = \"gpt-5\" # the default model\n"),
            "{out}"
        );
        assert!(out.contains("name = \"Other\" # keep me"), "{out}");
        let config = parsed(&out);
        assert_eq!(config["model"].as_str(), Some("gpt-5"));
        assert_eq!(config["model_provider"].as_str(), Some("realms"));
        assert_eq!(config["tui"]["notifications"].as_bool(), Some(true));
        assert_eq!(
            config["model_providers"]["other"]["base_url"].as_str(),
            Some("https://other.example/v1")
        );
        assert_eq!(
            config["model_providers"]["realms"]["base_url"].as_str(),
            Some(BASE)
        );
    }

    #[test]
    fn merging_again_changes_nothing_and_an_inline_table_stays_inline() {
        let once = merge("", BASE, TOKEN).expect("once");
        assert_eq!(merge(&once, BASE, TOKEN).expect("twice"), once);
        let inline = "model_providers = { other = { name = \"O\" } }\n";
        let out = merge(inline, BASE, TOKEN).expect("merged");
        let config = parsed(&out);
        assert_eq!(
            config["model_providers"]["realms"]["experimental_bearer_token"].as_str(),
            Some(TOKEN)
        );
        assert_eq!(
            config["model_providers"]["other"]["name"].as_str(),
            Some("O")
        );
    }

    #[test]
    fn malformed_files_are_refused_without_quoting_them() {
        let err = merge("a = 1\nsecret = \"sk-leak\nb = 2\n", BASE, TOKEN).expect_err("refused");
        assert!(err.starts_with("line "), "{err}");
        assert!(!err.contains("sk-leak"), "{err}");
        let err = merge("model_providers = 3\n", BASE, TOKEN).expect_err("refused");
        assert!(err.contains("model_providers"), "{err}");
    }
}
