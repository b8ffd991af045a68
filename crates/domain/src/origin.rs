//! Web origins and zgoda's public base URL, each parsed and normalised once (code review W4): an
//! origin is compared exactly, and every URL zgoda hands out is joined onto one base.

use std::fmt;

/// A web origin (`https://sklep.example.pl`, `http://127.0.0.1:8080`): a scheme, a host and
/// perhaps a port, lower-cased, without a trailing slash. Only `https`, or `http` on loopback.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct WebOrigin(String);

impl WebOrigin {
    /// An origin as configured or as a browser sends it; `None` if it is not a clean one.
    pub fn parse(text: &str) -> Option<Self> {
        let o = text.trim().trim_end_matches('/').to_ascii_lowercase();
        let (scheme, host_port) = o.split_once("://")?;
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        };
        let local = host == "localhost" || host == "127.0.0.1";
        let valid = (scheme == "https" || (scheme == "http" && local))
            && !host.is_empty()
            && host.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
        valid.then_some(Self(o))
    }

    /// The origin of an absolute URL, if it is a clean one: no user info
    /// (`https://shop.pl@evil.example`), no backslashes or white space.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.len() > 2000 || url.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
            return None;
        }
        let (scheme, rest) = url.split_once("://")?;
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        if authority.contains('@') || authority.is_empty() {
            return None;
        }
        Self::parse(&format!("{scheme}://{authority}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The public base URL every link, page and notice zgoda hands out starts with
/// (`https://api.example.pl`, or an API Gateway stage such as `https://…/Prod`): a clean origin,
/// perhaps a path, no query or fragment, kept without its trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    base: String,
    origin: WebOrigin,
}

impl PublicUrl {
    pub fn parse(text: &str) -> Option<Self> {
        let base = text.trim().trim_end_matches('/');
        if base.contains(['?', '#']) {
            return None;
        }
        let origin = WebOrigin::of_url(base)?;
        let path = &base[base.find("://")? + 3..];
        let path = &path[path.find('/').unwrap_or(path.len())..];
        Some(Self { base: format!("{origin}{path}"), origin })
    }

    /// The URL of `path` (which starts with `/`) under this base.
    pub fn join(&self, path: &str) -> String {
        debug_assert!(path.starts_with('/'), "{path} is not absolute");
        format!("{}{path}", self.base)
    }

    /// The origin of zgoda's own pages, which may always post to it.
    pub fn origin(&self) -> &WebOrigin {
        &self.origin
    }

    pub fn as_str(&self) -> &str {
        &self.base
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_normalised_once_and_only_clean_ones_parse() {
        assert_eq!(WebOrigin::parse("https://SKLEP.example.pl/").unwrap().as_str(), "https://sklep.example.pl");
        assert_eq!(WebOrigin::parse("http://127.0.0.1:8080").unwrap().as_str(), "http://127.0.0.1:8080");
        for bad in ["http://sklep.example.pl", "javascript:alert(1)", "https://", "https://a b.pl", "https://x.pl:", "https://x.pl/path"] {
            assert_eq!(WebOrigin::parse(bad), None, "{bad}");
        }
        assert_eq!(WebOrigin::of_url("https://Sklep.example.pl/dziekujemy?x=1").unwrap().as_str(), "https://sklep.example.pl");
        assert_eq!(WebOrigin::of_url("https://sklep.pl@evil.example/"), None);
        assert_eq!(WebOrigin::of_url("//evil.example"), None);
    }

    #[test]
    fn the_public_url_joins_paths_without_doubling_a_slash_and_keeps_a_stage() {
        let own = PublicUrl::parse("https://API.example.pl/").unwrap();
        assert_eq!(own.join("/v1/links/t"), "https://api.example.pl/v1/links/t");
        assert_eq!(own.origin().as_str(), "https://api.example.pl");
        let stage = PublicUrl::parse("https://abc.execute-api.eu-central-1.amazonaws.com/Prod/").unwrap();
        assert_eq!(stage.join("/v1/privacy"), "https://abc.execute-api.eu-central-1.amazonaws.com/Prod/v1/privacy");
        assert_eq!(stage.origin().as_str(), "https://abc.execute-api.eu-central-1.amazonaws.com");
        for bad in [
            "api.example.pl",
            "http://api.example.pl",
            "https://api.example.pl/?x",
            "https://api.example.pl?x",
            "https://api.example.pl#x",
            "https://u@api.example.pl",
        ] {
            assert_eq!(PublicUrl::parse(bad), None, "{bad}");
        }
    }
}
