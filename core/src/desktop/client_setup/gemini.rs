//! Gemini CLI: `~/.gemini/.env` (which Gemini CLI loads when the project has no `.env`) gets
//! `GOOGLE_GEMINI_BASE_URL` (Realms' root) and `GEMINI_API_KEY`. Lines are edited in place:
//! the first line setting one of them is replaced, later ones are dropped (dotenv readers differ
//! on which wins), and every other line, comments and blank lines included, stays byte for byte.

/// The base URL variable.
pub const BASE_URL_VAR: &str = "GOOGLE_GEMINI_BASE_URL";
/// The key variable.
pub const API_KEY_VAR: &str = "GEMINI_API_KEY";

/// One logical entry of a `.env` file: the lines it spans and the key it sets, if any.
struct Entry<'a> {
    key: Option<&'a str>,
    lines: Vec<&'a str>,
}

/// `existing` (possibly empty) with the two variables set; an error names the line.
pub fn merge(existing: &str, root_url: &str, token: &str) -> Result<String, String> {
    let entries = parse(existing)?;
    let wanted = [(BASE_URL_VAR, root_url), (API_KEY_VAR, token)];
    let mut written = [false; 2];
    let mut out = String::with_capacity(existing.len() + 128);
    for entry in &entries {
        let slot = entry
            .key
            .and_then(|key| wanted.iter().position(|(name, _)| *name == key));
        match slot {
            Some(i) if written[i] => {}
            Some(i) => {
                let (name, text) = wanted[i];
                out.push_str(&format!("{name}={text}\n"));
                written[i] = true;
            }
            None => {
                for line in &entry.lines {
                    out.push_str(line);
                }
            }
        }
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for (i, (name, text)) in wanted.iter().enumerate() {
        if !written[i] {
            out.push_str(&format!("{name}={text}\n"));
        }
    }
    Ok(out)
}

/// Splits a `.env` text into entries (lines keep their line endings). A value opened with a
/// quote runs to the matching quote, across lines. A line that is neither blank, a comment nor
/// `[export ]KEY=VALUE` is an error naming its number only (the line may hold a secret).
fn parse(text: &str) -> Result<Vec<Entry<'_>>, String> {
    let mut entries = Vec::new();
    let mut lines = text.split_inclusive('\n').enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            entries.push(Entry {
                key: None,
                lines: vec![line],
            });
            continue;
        }
        let body = trimmed
            .strip_prefix("export ")
            .unwrap_or(trimmed)
            .trim_start();
        let Some((key, value)) = body.split_once('=') else {
            return Err(format!("line {}: expected `KEY=value`", index + 1));
        };
        let key = key.trim();
        let valid_key = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid_key {
            return Err(format!(
                "line {}: the variable name is not valid",
                index + 1
            ));
        }
        let mut entry = Entry {
            key: Some(key),
            lines: vec![line],
        };
        if let Some(quote) = open_quote(value.trim_start()) {
            loop {
                let Some((_, next)) = lines.next() else {
                    return Err(format!(
                        "line {}: the quoted value is never closed",
                        index + 1
                    ));
                };
                entry.lines.push(next);
                if closes(next, quote) {
                    break;
                }
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// The quote character of a value that opens a quote and does not close it on its line.
fn open_quote(value: &str) -> Option<char> {
    let quote = value
        .chars()
        .next()
        .filter(|c| matches!(c, '"' | '\'' | '`'))?;
    let rest = &value[quote.len_utf8()..];
    (!closes(rest, quote)).then_some(quote)
}

/// Whether `text` holds a closing `quote` (a `\"` inside double quotes does not close).
fn closes(text: &str, quote: char) -> bool {
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote == '"' {
            escaped = true;
        } else if c == quote {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "http://127.0.0.1:8080";
    const TOKEN: &str = "sk_test-token";

    #[test]
    fn a_fresh_file_gets_both_lines() {
        assert_eq!(
            merge("", ROOT, TOKEN).expect("merged"),
            format!("GOOGLE_GEMINI_BASE_URL={ROOT}\nGEMINI_API_KEY={TOKEN}\n")
        );
    }

    #[test]
    fn other_lines_stay_and_existing_keys_are_replaced_in_place() {
        let existing = "# mine\nGEMINI_MODEL=gemini-2.5-pro\nexport GEMINI_API_KEY=\"AIza-old\"\nCERT=\"-----BEGIN\nGEMINI_API_KEY=inside-a-quoted-value\n-----END\"\n\nGEMINI_API_KEY=dup\nLAST=1";
        let out = merge(existing, ROOT, TOKEN).expect("merged");
        assert_eq!(
            out,
            format!(
                "# mine\nGEMINI_MODEL=gemini-2.5-pro\nGEMINI_API_KEY={TOKEN}\nCERT=\"-----BEGIN\nGEMINI_API_KEY=inside-a-quoted-value\n-----END\"\n\nLAST=1\nGOOGLE_GEMINI_BASE_URL={ROOT}\n"
            )
        );
        assert_eq!(merge(&out, ROOT, TOKEN).expect("again"), out, "idempotent");
    }

    #[test]
    fn malformed_files_are_refused_by_line_number_only() {
        let err = merge("A=1\nsk-secret-without-equals\n", ROOT, TOKEN).expect_err("refused");
        assert_eq!(err, "line 2: expected `KEY=value`");
        let err = merge("A=\"never closed\nB=2\n", ROOT, TOKEN).expect_err("refused");
        assert!(err.contains("line 1"), "{err}");
        let err = merge("1A=x\n", ROOT, TOKEN).expect_err("refused");
        assert!(err.contains("line 1"), "{err}");
    }
}
