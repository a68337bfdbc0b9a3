//! Upstream URLs: a channel's `base_url` as its vendor documents it (with or without a trailing
//! version such as `/v1`) joined with the path the client called, never doubling the version.
//! The relay takes each channel's base apart once, when the routing table is built
//! (`super::origin`), and joins texts per request; [`join_parsed`] is the parser's reading
//! for the paths that need one.

/// Whether a path segment is an API version such as `v1`, `v1beta`, `v4` or `v2alpha`.
fn is_version_segment(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    tail.is_empty() || tail.starts_with("beta") || tail.starts_with("alpha")
}

/// Joins `base_url` (no trailing slash) and the client's `path` (starting with `/`) and `query`.
///
/// When the base's path already names a version (`https://api.openai.com/v1`,
/// `https://open.example/api/paas/v4`, Google's OpenAI-compatible
/// `https://generativelanguage.googleapis.com/v1beta/openai`, a gateway's
/// `https://gateway.example/v1/acct/openai`), the client's own leading version (`/v1`,
/// `/v1beta`) is dropped, so the vendor's documented base always works.
pub fn join(base_url: &str, path: &str, query: Option<&str>) -> String {
    let base = base_url.trim_end_matches('/');
    let base_path = match base.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, path)| path),
        None => base,
    };
    let base_names_version = base_path.split('/').any(is_version_segment);
    let mut path = path;
    if base_names_version
        && let Some(rest) = path.strip_prefix('/')
        && let Some((first, _)) = rest.split_once('/')
        && is_version_segment(first)
    {
        path = &path[first.len() + 1..];
    }
    let mut url = String::with_capacity(base.len() + path.len() + query.map_or(0, |q| q.len() + 1));
    url.push_str(base);
    url.push_str(path);
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Joins a parsed base with the client's `path` and `query`, as [`join`] joins the texts.
pub fn join_parsed(base: &url::Url, path: &str, query: Option<&str>) -> url::Url {
    let mut url = base.clone();
    url.set_path(&join(base.path(), path, None));
    url.set_query(query.filter(|q| !q.is_empty()));
    url
}

/// The client's query string without the parameters that carried the client's own credential
/// (`key=` for Gemini clients): that is Realms' token, never the upstream's.
pub fn strip_credential_params(query: Option<&str>) -> Option<std::borrow::Cow<'_, str>> {
    let query = query?;
    let is_credential = |pair: &str| pair.is_empty() || pair.split('=').next() == Some("key");
    if !query.split('&').any(is_credential) {
        // the common case: nothing to take out, nothing to copy
        return Some(std::borrow::Cow::Borrowed(query));
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !is_credential(pair))
        .collect();
    (!kept.is_empty()).then(|| std::borrow::Cow::Owned(kept.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &[(&str, &str, &str, Option<&str>, &str)] = &[
        (
            "root",
            "https://api.openai.com",
            "/v1/chat/completions",
            None,
            "https://api.openai.com/v1/chat/completions",
        ),
        (
            "root with v1",
            "https://api.openai.com/v1",
            "/v1/chat/completions",
            None,
            "https://api.openai.com/v1/chat/completions",
        ),
        (
            "trailing slash",
            "https://api.openai.com/v1/",
            "/v1/responses",
            None,
            "https://api.openai.com/v1/responses",
        ),
        (
            "vendor v4",
            "https://open.example/api/paas/v4",
            "/v1/chat/completions",
            None,
            "https://open.example/api/paas/v4/chat/completions",
        ),
        (
            "gemini root",
            "https://generativelanguage.googleapis.com",
            "/v1beta/models/g:generateContent",
            Some("alt=sse"),
            "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent?alt=sse",
        ),
        (
            "gemini with v1beta",
            "https://generativelanguage.googleapis.com/v1beta",
            "/v1beta/models",
            None,
            "https://generativelanguage.googleapis.com/v1beta/models",
        ),
        (
            "anthropic beta query",
            "https://api.anthropic.com",
            "/v1/messages",
            Some("beta=true"),
            "https://api.anthropic.com/v1/messages?beta=true",
        ),
        (
            "google's openai-compatible base",
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "/v1/chat/completions",
            None,
            "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
        ),
        (
            "a gateway with the version before the vendor",
            "https://gateway.example/v1/acct/gw/openai",
            "/v1/chat/completions",
            None,
            "https://gateway.example/v1/acct/gw/openai/chat/completions",
        ),
        (
            "a host named like a version",
            "http://v1:9000",
            "/v1/chat/completions",
            None,
            "http://v1:9000/v1/chat/completions",
        ),
        (
            "not a version",
            "http://127.0.0.1:9000/proxy/vendor",
            "/v1/messages",
            None,
            "http://127.0.0.1:9000/proxy/vendor/v1/messages",
        ),
        (
            "port only",
            "http://127.0.0.1:9000",
            "/v1/embeddings",
            Some(""),
            "http://127.0.0.1:9000/v1/embeddings",
        ),
    ];

    #[test]
    fn joins_without_doubling_the_version() {
        for (name, base, path, query, want) in CASES {
            assert_eq!(join(base, path, *query), *want, "case {name}");
            let parsed: url::Url = base.parse().expect("base");
            assert_eq!(
                join_parsed(&parsed, path, *query).as_str(),
                *want,
                "case {name}, parsed base"
            );
        }
    }

    #[test]
    fn a_parsed_base_normalises_the_path_as_parsing_the_whole_url_does() {
        let base: url::Url = "http://v1:8080/api/v1/".parse().expect("base");
        for (path, query) in [
            ("/v1/a/../b c", Some("x=1 2")),
            ("/v1beta/models/m:generateContent", None),
            ("/v1/%7Bid%7D/./items", Some("")),
        ] {
            let whole: url::Url = join(base.as_str(), path, query).parse().expect("whole");
            assert_eq!(join_parsed(&base, path, query), whole, "{path}");
        }
    }

    #[test]
    fn credential_params_are_dropped_and_the_rest_kept() {
        assert_eq!(
            strip_credential_params(Some("key=sk_x&alt=sse")),
            Some("alt=sse".into())
        );
        assert_eq!(strip_credential_params(Some("key=sk_x")), None);
        assert_eq!(
            strip_credential_params(Some("beta=true")),
            Some("beta=true".into())
        );
        assert_eq!(strip_credential_params(None), None);
        assert_eq!(
            strip_credential_params(Some("alt=sse&&keys=1&key")),
            Some("alt=sse&keys=1".into()),
            "empty pairs and a bare `key` go, look-alike names stay"
        );
        assert!(
            is_version_segment("v1beta")
                && is_version_segment("v4")
                && !is_version_segment("vendor")
        );
    }
}
