//! The operator request signature (docs/api.md §4): HMAC-SHA256 over the timestamp, method, host,
//! path and query, `Idempotency-Key` and the body's SHA-256, keyed by the operator's key. Shared by
//! the server and every client (CLI, tests, benchmarks) so all build the same string.

use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::keys::{KeyRing, SecretKey};

/// The scheme name in the `Authorization` header.
pub const SCHEME: &str = "Zgoda-HMAC-SHA256";
/// How far a request's timestamp may be from the server's clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// What a signature covers: every part of a request that decides what it does. The host binds it
/// to one stack (a request signed for staging does nothing on production), and the
/// `Idempotency-Key` to one escalation run: without it a captured request could be replayed under
/// another key inside the skew window and start a second run (security review L6).
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The `Host` header as sent (`api.sklep.example.pl`, `127.0.0.1:8080`); compared without case.
    pub host: &'a str,
    pub path_and_query: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub body: &'a [u8],
}

impl<'a> SignedRequest<'a> {
    pub fn new(method: &'a str, host: &'a str, path_and_query: &'a str, body: &'a [u8]) -> Self {
        Self { method, host, path_and_query, idempotency_key: None, body }
    }

    /// A request a client sends to `base_url` (the stack's URL): the host is the URL's.
    pub fn to(method: &'a str, base_url: &'a str, path_and_query: &'a str, body: &'a [u8]) -> Self {
        Self::new(method, Self::host_of(base_url), path_and_query, body)
    }

    pub fn with_idempotency_key(self, key: Option<&'a str>) -> Self {
        Self { idempotency_key: key, ..self }
    }

    /// The host of a base URL (`https://api.sklep.example.pl/` → `api.sklep.example.pl`), as an
    /// HTTP client sends it in `Host`.
    pub fn host_of(url: &str) -> &str {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    }

    fn string_to_sign(&self, ts: i64) -> String {
        format!(
            "{ts}\n{}\n{}\n{}\n{}\n{}",
            self.method.to_ascii_uppercase(),
            self.host.to_ascii_lowercase(),
            self.path_and_query,
            self.idempotency_key.unwrap_or("").trim(),
            hex::encode(Sha256::digest(self.body))
        )
    }
}

/// Hex signature of a request.
pub fn sign(key: &SecretKey, ts: i64, request: &SignedRequest) -> String {
    let mut mac = key.mac();
    mac.update(request.string_to_sign(ts).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The full `Authorization` header value.
pub fn authorization(kid: &str, key: &SecretKey, ts: i64, request: &SignedRequest) -> String {
    format!("{SCHEME} kid={kid}, ts={ts}, sig={}", sign(key, ts, request))
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeader {
    pub kid: String,
    pub ts: i64,
    pub sig: String,
}

pub fn parse_header(value: &str) -> Option<SignedHeader> {
    let rest = value.strip_prefix(SCHEME)?.strip_prefix(' ')?;
    let (mut kid, mut ts, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "kid" if kid.is_none() => kid = Some(v.to_owned()),
            "ts" if ts.is_none() => ts = Some(v.parse::<i64>().ok()?),
            "sig" if sig.is_none() => sig = Some(v.to_owned()),
            _ => return None,
        }
    }
    Some(SignedHeader { kid: kid?, ts: ts?, sig: sig? })
}

/// Why a signed request was refused. All of them answer the same 401; the variant is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingOrMalformed,
    UnknownKey,
    ClockSkew,
    BadSignature,
    Replayed,
}

/// Checks everything but replay: the header, the key id, the clock, and the MAC (constant time).
/// Returns the operator's key id on success.
pub fn verify(ring: &KeyRing, header: Option<&str>, now_unix: i64, request: &SignedRequest) -> Result<SignedHeader, AuthFailure> {
    let h = header.and_then(parse_header).ok_or(AuthFailure::MissingOrMalformed)?;
    let (_, key) = ring.get_str(&h.kid).ok_or(AuthFailure::UnknownKey)?;
    if (now_unix - h.ts).abs() > MAX_SKEW_SECS {
        return Err(AuthFailure::ClockSkew);
    }
    // One spelling per signature: the replay guard keys on the text, so an upper-case copy of a
    // used signature must not pass as a new one.
    if h.sig.len() != 64 || !h.sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(AuthFailure::BadSignature);
    }
    let given = hex::decode(&h.sig).map_err(|_| AuthFailure::BadSignature)?;
    let mut mac = key.mac();
    mac.update(request.string_to_sign(h.ts).as_bytes());
    mac.verify_slice(&given).map_err(|_| AuthFailure::BadSignature)?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "api.sklep.example.pl";

    fn req<'a>(method: &'a str, path: &'a str, body: &'a [u8]) -> SignedRequest<'a> {
        SignedRequest::new(method, HOST, path, body)
    }

    #[test]
    fn signature_binds_method_path_body_and_time() {
        let key = SecretKey::new(vec![9; 32]);
        let ring = KeyRing::single("ops", key.clone());
        let h = authorization("ops", &key, 1000, &req("PUT", "/v1/admin/forms/demo", b"{}"));
        assert!(verify(&ring, Some(&h), 1100, &req("PUT", "/v1/admin/forms/demo", b"{}")).is_ok());
        assert_eq!(verify(&ring, Some(&h), 1100, &req("GET", "/v1/admin/forms/demo", b"{}")), Err(AuthFailure::BadSignature));
        assert_eq!(verify(&ring, Some(&h), 1100, &req("PUT", "/v1/admin/forms/other", b"{}")), Err(AuthFailure::BadSignature));
        assert_eq!(verify(&ring, Some(&h), 1100, &req("PUT", "/v1/admin/forms/demo", b"{ }")), Err(AuthFailure::BadSignature));
        assert_eq!(verify(&ring, Some(&h), 1301, &req("PUT", "/v1/admin/forms/demo", b"{}")), Err(AuthFailure::ClockSkew));
        assert_eq!(verify(&ring, Some("Bearer x"), 1000, &req("PUT", "/", b"")), Err(AuthFailure::MissingOrMalformed));
        let other = authorization("nobody", &key, 1000, &req("PUT", "/", b""));
        assert_eq!(verify(&ring, Some(&other), 1000, &req("PUT", "/", b"")), Err(AuthFailure::UnknownKey));
    }

    /// Security review L6: a request signed for one stack does nothing on another, and an
    /// escalation signed under one idempotency key cannot be replayed under another.
    #[test]
    fn l6_signature_binds_the_host_and_the_idempotency_key() {
        let key = SecretKey::new(vec![9; 32]);
        let ring = KeyRing::single("ops", key.clone());
        let path = "/v1/breaches/B1/escalations";
        let signed = req("POST", path, b"{}").with_idempotency_key(Some("run-1"));
        let h = authorization("ops", &key, 1000, &signed);
        assert!(verify(&ring, Some(&h), 1000, &signed).is_ok());
        let upper_host = SignedRequest { host: "API.Sklep.Example.PL", ..signed };
        assert!(verify(&ring, Some(&h), 1000, &upper_host).is_ok(), "a host name has no case");
        let staging = SignedRequest { host: "staging.sklep.example.pl", ..signed };
        assert_eq!(verify(&ring, Some(&h), 1000, &staging), Err(AuthFailure::BadSignature));
        assert_eq!(verify(&ring, Some(&h), 1000, &signed.with_idempotency_key(Some("run-2"))), Err(AuthFailure::BadSignature));
        assert_eq!(verify(&ring, Some(&h), 1000, &signed.with_idempotency_key(None)), Err(AuthFailure::BadSignature));
        assert_eq!(SignedRequest::host_of("https://api.sklep.example.pl/"), HOST);
        assert_eq!(SignedRequest::host_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
    }

    #[test]
    fn a_signature_has_one_spelling_so_a_recased_copy_is_not_a_new_one() {
        let key = SecretKey::new(vec![3; 32]);
        let ring = KeyRing::single("ops", key.clone());
        let h = authorization("ops", &key, 1000, &req("GET", "/v1/breaches", b""));
        let (head, sig) = h.rsplit_once("sig=").unwrap();
        let upper = format!("{head}sig={}", sig.to_uppercase());
        assert_eq!(verify(&ring, Some(&upper), 1000, &req("GET", "/v1/breaches", b"")), Err(AuthFailure::BadSignature));
        let short = format!("{head}sig={}", &sig[..62]);
        assert_eq!(verify(&ring, Some(&short), 1000, &req("GET", "/v1/breaches", b"")), Err(AuthFailure::BadSignature));
    }
}
