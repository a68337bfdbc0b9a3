//! A channel's upstream origin, worked out once when the routing table is built ([`Origin`]):
//! the parsed base URL, where the direct transport connects (scheme, host, port and the `Host`
//! value) and the address guard's verdict on a literal IP host. A request then only joins its
//! path and query to the base path ([`Origin::target`]); no URL is parsed or copied per request.

use std::sync::Arc;

use axum::http::HeaderValue;

use super::{guard, url as join};

/// A channel's base URL, taken apart once.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The base as parsed (from the stored text without its trailing slash).
    base: url::Url,
    /// Where a direct connection goes; `None` for a scheme other than `http`/`https`.
    authority: Option<Authority>,
    /// Why the address guard refuses this origin, when its host is an internal IP literal.
    literal_refusal: Option<String>,
}

/// Where a direct connection goes.
#[derive(Debug, Clone)]
pub struct Authority {
    /// `https` (TLS) or `http`.
    pub https: bool,
    /// The host as in the URL (`[..]` around IPv6 literals).
    pub host: Arc<str>,
    /// The port, default ones filled in.
    pub port: u16,
    /// The `Host` header: the URL's host and explicit port.
    pub host_header: HeaderValue,
}

impl Origin {
    /// The origin of `base_url`, or `None` when it is not a valid absolute URL.
    pub fn parse(base_url: &str) -> Option<Self> {
        let base: url::Url = base_url.trim_end_matches('/').parse().ok()?;
        let authority = authority_of(&base);
        let literal_refusal = guard::check_literal_host(&base).err();
        Some(Self {
            base,
            authority,
            literal_refusal,
        })
    }

    /// Where a direct connection goes; `None` when only the general client can reach it.
    pub fn authority(&self) -> Option<&Authority> {
        self.authority.as_ref()
    }

    /// The guard's refusal of this origin's IP literal, if it is an internal address.
    pub fn literal_refusal(&self) -> Option<&str> {
        self.literal_refusal.as_deref()
    }

    /// The origin-form target (path and query) of the client's `path` and `query` at this
    /// origin, joined as [`join::join`] joins texts. The same text as the whole URL's path and
    /// query after parsing: anything a URL parser would change (a character it encodes, a dot
    /// segment) goes through the parser.
    pub fn target(&self, path: &str, query: Option<&str>) -> String {
        let joined = join::join(self.base.path(), path, query);
        if is_canonical(&joined) {
            return joined;
        }
        let url = join::join_parsed(&self.base, path, query);
        url[url::Position::BeforePath..url::Position::AfterQuery].to_owned()
    }

    /// The whole URL of a `target` from [`Self::target`].
    pub fn url(&self, target: &str) -> url::Url {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (target, None),
        };
        let mut url = self.base.clone();
        url.set_path(path);
        url.set_query(query);
        url
    }
}

fn authority_of(base: &url::Url) -> Option<Authority> {
    let https = match base.scheme() {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let host = base.host_str()?;
    let port = base.port_or_known_default()?;
    let host_header =
        HeaderValue::from_str(&base[url::Position::BeforeHost..url::Position::AfterPort]).ok()?;
    Some(Authority {
        https,
        host: host.into(),
        port,
        host_header,
    })
}

/// Whether a joined path-and-query is already what a URL parser would make of it: only
/// characters it keeps as they are, and no `.`/`..` segment (which it resolves).
fn is_canonical(target: &str) -> bool {
    let kept = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'%'
                    | b'?'
            )
    };
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    target.starts_with('/')
        && !target.starts_with("//")
        && target.bytes().all(kept)
        && !path.contains("/.")
        && !path.contains("%2e")
        && !path.contains("%2E")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASES: &[&str] = &[
        "https://api.openai.com",
        "https://api.openai.com/v1/",
        "http://127.0.0.1:9000/proxy/vendor",
        "http://v1:8080/api/v1/",
        "https://[::1]:8443/v1beta",
    ];

    const PATHS: &[(&str, Option<&str>)] = &[
        ("/v1/chat/completions", None),
        ("/v1/responses", Some("")),
        (
            "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
            Some("alt=sse"),
        ),
        ("/v1/messages", Some("beta=true&x=a:b@c")),
        ("/v1/a/../b c", Some("x=1 2")),
        ("/v1/%7Bid%7D/./items", Some("")),
        ("/v1/%2e%2E/items", None),
        ("/v1/models/m'q\"{}", Some("q='x'&y=<z>")),
        ("/v1/models/模型", Some("名=値")),
        ("/v1/x/.", Some("a=/b?c")),
    ];

    /// The target is exactly the path and query of the whole URL parsed from the joined text,
    /// whichever way it was made.
    #[test]
    fn targets_match_the_parsed_whole_url() {
        for base in BASES {
            let origin = Origin::parse(base).expect("origin");
            for (path, query) in PATHS {
                let whole: url::Url = join::join(base, path, *query).parse().expect("whole");
                let target = origin.target(path, *query);
                assert_eq!(
                    target,
                    &whole[url::Position::BeforePath..url::Position::AfterQuery],
                    "{base} {path} {query:?}"
                );
                assert_eq!(origin.url(&target), whole, "{base} {path} {query:?}");
            }
        }
    }

    #[test]
    fn plain_targets_are_kept_and_others_are_not() {
        assert!(is_canonical("/v1/chat/completions?alt=sse&key"));
        assert!(is_canonical("/v1beta/models/g-2.5:generateContent"));
        for changed in [
            "/v1/../x",
            "/v1/./x",
            "/v1/%2E%2e/x",
            "/a b",
            "/a?b c",
            "//host/x",
        ] {
            assert!(!is_canonical(changed), "{changed}");
        }
    }

    #[test]
    fn authority_and_guard_verdict_are_read_once() {
        let origin = Origin::parse("https://api.example.com/v1/").expect("origin");
        let authority = origin.authority().expect("direct");
        assert!(authority.https);
        assert_eq!(&*authority.host, "api.example.com");
        assert_eq!(authority.port, 443);
        assert_eq!(authority.host_header, "api.example.com");
        assert!(origin.literal_refusal().is_none());

        let origin = Origin::parse("http://127.0.0.1:9000").expect("origin");
        let authority = origin.authority().expect("direct");
        assert_eq!((authority.https, authority.port), (false, 9000));
        assert_eq!(authority.host_header, "127.0.0.1:9000");
        assert!(
            origin
                .literal_refusal()
                .is_some_and(|why| why.contains("allow_private_upstreams"))
        );

        let origin = Origin::parse("https://[::1]:8443").expect("origin");
        assert_eq!(
            &*origin.authority().expect("direct").host,
            "[::1]",
            "IPv6 hosts keep their brackets"
        );
        assert!(Origin::parse("unix:/run/socket").is_some_and(|o| o.authority().is_none()));
        assert!(Origin::parse("not a url").is_none());
    }
}
