//! The secrets inside a channel's `settings`: its proxy URL when it holds credentials, and the
//! values of header overrides that carry credentials. They are sealed under the master key in
//! the stored settings (as upstream API keys are), shown masked in answers (secrets are
//! write-only), and a save that sends a masked value back unchanged keeps the stored secret, so
//! the console can edit the other settings without knowing it.

use std::convert::Infallible;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::crypto::{CryptoError, Sealer};

/// How a sealed secret starts in stored settings; base64 of the sealed bytes follows.
const SEALED_PREFIX: &str = "sealed:v1:";

/// What a proxy URL's password reads as in answers.
pub const PROXY_PASSWORD_MASK: &str = "****";

/// How a masked header value starts: `…` is not allowed in a header value, so a hint that comes
/// back without a stored secret behind it is refused rather than sent upstream as a value.
pub const HEADER_HINT_PREFIX: char = '…';

/// Shortest header value whose hint shows its last characters.
const MIN_CHARS_FOR_TAIL: usize = 16;
/// How many of its last characters a long header value's hint shows.
const TAIL_CHARS: usize = 4;

/// Header names whose values are credentials: the standard ones, and any name with one of
/// `CREDENTIAL_WORDS` in it (`x-api-key`, `x-goog-api-key`, `api-key`, `x-auth-token`…).
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];
const CREDENTIAL_WORDS: &[&str] = &[
    "key",
    "token",
    "secret",
    "auth",
    "password",
    "session",
    "signature",
    "credential",
];

/// Whether the value of header `name` is a credential, masked in answers.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    CREDENTIAL_HEADERS.contains(&name.as_str())
        || CREDENTIAL_WORDS.iter().any(|word| name.contains(word))
}

/// The hint shown for a secret header value: its last few characters when it is long enough
/// for them to give nothing away.
pub fn header_hint(value: &str) -> String {
    let count = value.chars().count();
    let tail: String = if count >= MIN_CHARS_FOR_TAIL {
        value.chars().skip(count - TAIL_CHARS).collect()
    } else {
        String::new()
    };
    format!("{HEADER_HINT_PREFIX}{tail}")
}

/// `settings` as answers show them, and the JSON Pointers of what was masked.
pub fn masked(settings: &Value) -> (Value, Vec<String>) {
    let mut shown = settings.clone();
    let mut paths = Vec::new();
    let _ = for_each_secret(&mut shown, every, |slot, value| {
        let Some(text) = value.as_str() else {
            return Ok::<(), Infallible>(());
        };
        match slot {
            Slot::Proxy => {
                paths.push("/proxy".to_owned());
                if let Ok(mut url) = url::Url::parse(text) {
                    // the password, or a credential given as the user name alone
                    // (`http://KEY:@host`); an http(s)/socks URL with a host takes both
                    let _ = if url.password().is_some() {
                        url.set_password(Some(PROXY_PASSWORD_MASK))
                    } else {
                        url.set_username(PROXY_PASSWORD_MASK)
                    };
                    *value = Value::String(url.into());
                }
            }
            Slot::Header(name) => {
                paths.push(format!("/headers/{}", pointer_token(name)));
                *value = Value::String(header_hint(text));
            }
        }
        Ok(())
    });
    (shown, paths)
}

/// Puts the stored secrets back where `incoming` (settings sent to be saved) still holds the
/// masked form [`masked`] showed for them.
pub fn keep_masked(incoming: &mut Value, stored: &Value) {
    let stored_headers = stored.get("headers").and_then(Value::as_object);
    let _ = for_each_secret(incoming, every, |slot, value| {
        let Some(text) = value.as_str() else {
            return Ok::<(), Infallible>(());
        };
        let kept = match slot {
            Slot::Proxy => proxy_with_stored_password(text, stored),
            Slot::Header(name) => stored_headers
                .and_then(|headers| {
                    headers
                        .iter()
                        .find(|(stored_name, _)| stored_name.eq_ignore_ascii_case(name))
                })
                .and_then(|(_, secret)| secret.as_str())
                .filter(|secret| header_hint(secret) == text)
                .map(str::to_owned),
        };
        if let Some(kept) = kept {
            *value = Value::String(kept);
        }
        Ok(())
    });
}

/// Whether a proxy URL carries credentials: a password, or a user name alone.
fn has_credentials(url: &url::Url) -> bool {
    url.password().is_some() || !url.username().is_empty()
}

/// Whether a proxy URL (as sent to be saved) still holds the mask [`masked`] showed.
pub fn proxy_is_masked(proxy: &str) -> bool {
    url::Url::parse(proxy).is_ok_and(|url| match url.password() {
        Some(password) => password == PROXY_PASSWORD_MASK,
        None => url.username() == PROXY_PASSWORD_MASK,
    })
}

/// `incoming` with the stored proxy's credential in place of the mask, when it has the mask and
/// the stored proxy has that credential.
fn proxy_with_stored_password(incoming: &str, stored: &Value) -> Option<String> {
    let mut url = url::Url::parse(incoming).ok()?;
    let stored = url::Url::parse(stored.get("proxy")?.as_str()?).ok()?;
    // `password()`/`username()` are percent-encoded as written, and the setters leave `%`
    // escapes as they are: the stored bytes go over unchanged
    if url.password() == Some(PROXY_PASSWORD_MASK) {
        url.set_password(Some(stored.password()?)).ok()?;
    } else if url.password().is_none() && url.username() == PROXY_PASSWORD_MASK {
        if stored.password().is_some() || stored.username().is_empty() {
            return None;
        }
        url.set_username(stored.username()).ok()?;
    } else {
        return None;
    }
    Some(url.into())
}

/// Seals the secrets of plain `settings` (as a save sends them, masks replaced) before they are
/// stored. A value that happens to look sealed is sealed too: it is what the admin wrote.
pub fn seal(settings: &mut Value, sealer: &Sealer) -> Result<(), CryptoError> {
    for_each_secret(settings, every, |_, value| seal_value(value, sealer))
}

/// Seals the plain secrets of stored `settings` (written before secrets were sealed); sealed
/// ones stay as they are. Whether any was sealed.
pub fn seal_plain(settings: &mut Value, sealer: &Sealer) -> Result<bool, CryptoError> {
    let mut sealed = false;
    for_each_secret(settings, unsealed, |_, value| {
        sealed = true;
        seal_value(value, sealer)
    })?;
    Ok(sealed)
}

fn seal_value(value: &mut Value, sealer: &Sealer) -> Result<(), CryptoError> {
    if let Some(text) = value.as_str() {
        let sealed = sealer.seal_str(text)?;
        *value = Value::String(format!("{SEALED_PREFIX}{}", STANDARD.encode(sealed)));
    }
    Ok(())
}

/// Every secret value.
fn every(_: &str) -> bool {
    true
}

/// A stored secret not sealed yet.
fn unsealed(text: &str) -> bool {
    !text.starts_with(SEALED_PREFIX)
}

/// Opens the sealed secrets of stored `settings`. A value stored before secrets were sealed is
/// plain and stays as it is.
pub fn open(settings: &mut Value, sealer: &Sealer) -> Result<(), CryptoError> {
    for_each_secret(settings, every, |_, value| {
        let Some(sealed) = value.as_str().and_then(|t| t.strip_prefix(SEALED_PREFIX)) else {
            return Ok(());
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| CryptoError::Open)?;
        *value = Value::String(sealer.open_str(&bytes)?);
        Ok(())
    })
}

/// Where a secret sits in a channel's settings.
#[derive(Debug, Clone, Copy)]
enum Slot<'a> {
    /// `proxy`, a URL with credentials.
    Proxy,
    /// `headers.{name}`, a credential header's value.
    Header(&'a str),
}

/// Calls `f` on each secret value of `settings` (a string) that `pick` keeps: the proxy (when it
/// holds credentials, or is sealed) and each credential header's value. The one place that says
/// what in the settings is secret.
fn for_each_secret<E>(
    settings: &mut Value,
    pick: fn(&str) -> bool,
    mut f: impl FnMut(Slot<'_>, &mut Value) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(proxy) = settings.get_mut("proxy")
        && proxy.as_str().filter(|p| pick(p)).is_some_and(|p| {
            p.starts_with(SEALED_PREFIX) || url::Url::parse(p).is_ok_and(|u| has_credentials(&u))
        })
    {
        f(Slot::Proxy, proxy)?;
    }
    if let Some(headers) = settings.get_mut("headers").and_then(Value::as_object_mut) {
        for (name, value) in headers.iter_mut() {
            if value.as_str().is_some_and(pick) && is_secret_header(name) {
                f(Slot::Header(name), value)?;
            }
        }
    }
    Ok(())
}

/// A member name as one JSON Pointer token (RFC 6901).
fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_sealed_for_storage_and_open_to_the_same_settings() {
        let sealer = Sealer::random().expect("key");
        let plain = json!({
            "proxy": "http://me:s3cret@proxy.example:3128/",
            "headers": { "x-api-key": "azure-key-0123456789abcdef", "anthropic-beta": "b" },
            "organization": "org-1",
        });
        let mut stored = plain.clone();
        seal(&mut stored, &sealer).expect("seal");
        let text = stored.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("azure-key"),
            "{text}"
        );
        assert_eq!(stored["headers"]["anthropic-beta"], "b");
        assert_eq!(stored["organization"], "org-1");
        // the start's pass seals only what is plain
        let mut again = stored.clone();
        assert!(!seal_plain(&mut again, &sealer).expect("seal"));
        assert_eq!(again, stored);
        let mut legacy_sealed = plain.clone();
        assert!(seal_plain(&mut legacy_sealed, &sealer).expect("seal"));
        let text = legacy_sealed.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("azure-key"),
            "{text}"
        );
        // a save's value that merely looks sealed is sealed as it is, and opens to itself
        let mut lookalike = json!({ "headers": { "x-api-key": "sealed:v1:AAAA" } });
        seal(&mut lookalike, &sealer).expect("seal");
        open(&mut lookalike, &sealer).expect("open");
        assert_eq!(lookalike["headers"]["x-api-key"], "sealed:v1:AAAA");
        let mut opened = stored.clone();
        open(&mut opened, &sealer).expect("open");
        assert_eq!(opened, plain);
        // another key cannot open them
        let other = Sealer::random().expect("key");
        assert!(open(&mut stored.clone(), &other).is_err());
        // settings stored before sealing open as they are
        let mut legacy = plain.clone();
        open(&mut legacy, &sealer).expect("open");
        assert_eq!(legacy, plain);
    }

    #[test]
    fn a_credential_given_as_the_proxy_user_name_alone_is_a_secret() {
        let sealer = Sealer::random().expect("key");
        let stored = json!({ "proxy": "http://APIKEY123:@proxy.example:8011/" });
        let (shown, paths) = masked(&stored);
        assert_eq!(shown["proxy"], "http://****@proxy.example:8011/");
        assert_eq!(paths, ["/proxy"]);
        assert!(proxy_is_masked("http://****@proxy.example:8011/"));
        let mut incoming = shown.clone();
        keep_masked(&mut incoming, &stored);
        assert_eq!(incoming["proxy"], "http://APIKEY123@proxy.example:8011/");
        let mut sealed = stored.clone();
        seal(&mut sealed, &sealer).expect("seal");
        assert!(!sealed.to_string().contains("APIKEY123"));
    }

    #[test]
    fn a_proxy_mask_with_nothing_stored_behind_it_stays_a_mask() {
        let stored = json!({ "proxy": "http://proxy.example:3128" });
        let mut incoming = json!({ "proxy": "http://me:****@proxy.example:3128/" });
        keep_masked(&mut incoming, &stored);
        assert!(proxy_is_masked(incoming["proxy"].as_str().expect("proxy")));
    }

    #[test]
    fn a_proxy_without_password_is_not_sealed() {
        let sealer = Sealer::random().expect("key");
        let mut settings = json!({ "proxy": "socks5h://127.0.0.1:1080" });
        seal(&mut settings, &sealer).expect("seal");
        assert_eq!(settings["proxy"], "socks5h://127.0.0.1:1080");
        assert!(
            !seal_plain(&mut settings, &sealer).expect("seal"),
            "nothing to seal"
        );
    }

    #[test]
    fn credential_headers_are_recognised_by_name() {
        for name in [
            "Authorization",
            "x-api-key",
            "X-Goog-Api-Key",
            "api-key",
            "x-auth-token",
            "Cookie",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in [
            "anthropic-beta",
            "OpenAI-Organization",
            "x-title",
            "user-agent",
        ] {
            assert!(!is_secret_header(name), "{name}");
        }
    }

    #[test]
    fn answers_mask_the_proxy_password_and_credential_headers_only() {
        let stored = json!({
            "proxy": "http://me:s3cret@proxy.example:3128",
            "headers": {
                "x-api-key": "azure-key-0123456789abcdef",
                "authorization": "short",
                "anthropic-beta": "prompt-caching-2024-07-31",
                "x-remove-me": null,
            },
            "organization": "org-1",
        });
        let (shown, paths) = masked(&stored);
        assert_eq!(shown["proxy"], "http://me:****@proxy.example:3128/");
        assert_eq!(shown["headers"]["x-api-key"], "…cdef");
        assert_eq!(shown["headers"]["authorization"], "…");
        assert_eq!(
            shown["headers"]["anthropic-beta"],
            "prompt-caching-2024-07-31"
        );
        assert_eq!(shown["headers"]["x-remove-me"], Value::Null);
        assert_eq!(shown["organization"], "org-1");
        assert_eq!(
            paths,
            ["/proxy", "/headers/x-api-key", "/headers/authorization"]
        );
        let text = shown.to_string();
        assert!(!text.contains("s3cret") && !text.contains("azure-key") && !text.contains("short"));
    }

    #[test]
    fn a_proxy_without_password_is_shown_as_is() {
        let stored = json!({ "proxy": "socks5://proxy.example:1080" });
        let (shown, paths) = masked(&stored);
        assert_eq!(shown, stored);
        assert!(paths.is_empty());
    }

    #[test]
    fn masked_values_sent_back_keep_the_stored_secrets() {
        let stored = json!({
            "proxy": "http://me:p%40s%25s@proxy.example:3128",
            "headers": { "X-Api-Key": "azure-key-0123456789abcdef", "cookie": "a=b" },
        });
        let (mut incoming, _) = masked(&stored);
        incoming["organization"] = json!("org-2");
        keep_masked(&mut incoming, &stored);
        assert_eq!(incoming["proxy"], "http://me:p%40s%25s@proxy.example:3128/");
        assert_eq!(
            incoming["headers"]["X-Api-Key"],
            "azure-key-0123456789abcdef"
        );
        assert_eq!(incoming["headers"]["cookie"], "a=b");
        assert_eq!(incoming["organization"], "org-2");
    }

    #[test]
    fn new_values_replace_the_stored_secrets() {
        let stored = json!({
            "proxy": "http://me:old@proxy.example:3128",
            "headers": { "x-api-key": "azure-key-0123456789abcdef" },
        });
        let mut incoming = json!({
            "proxy": "http://me:new@other.example:8080",
            "headers": { "x-api-key": "a-new-key" },
        });
        keep_masked(&mut incoming, &stored);
        assert_eq!(incoming["proxy"], "http://me:new@other.example:8080");
        assert_eq!(incoming["headers"]["x-api-key"], "a-new-key");
        // the mask with a new host keeps the password for the new host
        let mut moved = json!({ "proxy": "http://me:****@other.example:8080" });
        keep_masked(&mut moved, &stored);
        assert_eq!(moved["proxy"], "http://me:old@other.example:8080/");
    }

    #[test]
    fn a_hint_with_nothing_stored_behind_it_stays_a_hint() {
        let stored = json!({ "headers": { "x-api-key": "azure-key-0123456789abcdef" } });
        // a different header, or a hint that is not this value's
        let mut incoming = json!({ "headers": { "api-key": "…cdef", "x-api-key": "…zzzz" } });
        keep_masked(&mut incoming, &stored);
        assert_eq!(incoming["headers"]["api-key"], "…cdef");
        assert_eq!(incoming["headers"]["x-api-key"], "…zzzz");
    }
}
