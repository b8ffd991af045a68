//! The operator request signature (docs/api.md §4): HMAC-SHA256 over the timestamp, method, path and
//! query, and the body's SHA-256, keyed by the operator's key. Shared by the server and the CLI so
//! both sides build the same string.

use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::keys::{KeyRing, SecretKey};

/// The scheme name in the `Authorization` header.
pub const SCHEME: &str = "Zgoda-HMAC-SHA256";
/// How far a request's timestamp may be from the server's clock.
pub const MAX_SKEW_SECS: i64 = 300;

fn string_to_sign(ts: i64, method: &str, path_and_query: &str, body: &[u8]) -> String {
    format!("{ts}\n{}\n{path_and_query}\n{}", method.to_ascii_uppercase(), hex::encode(Sha256::digest(body)))
}

/// Hex signature of a request.
pub fn sign(key: &SecretKey, ts: i64, method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut mac = key.mac();
    mac.update(string_to_sign(ts, method, path_and_query, body).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The full `Authorization` header value.
pub fn authorization(kid: &str, key: &SecretKey, ts: i64, method: &str, path_and_query: &str, body: &[u8]) -> String {
    format!("{SCHEME} kid={kid}, ts={ts}, sig={}", sign(key, ts, method, path_and_query, body))
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
pub fn verify(
    ring: &KeyRing,
    header: Option<&str>,
    now_unix: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Result<SignedHeader, AuthFailure> {
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
    mac.update(string_to_sign(h.ts, method, path_and_query, body).as_bytes());
    mac.verify_slice(&given).map_err(|_| AuthFailure::BadSignature)?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_binds_method_path_body_and_time() {
        let key = SecretKey::new(vec![9; 32]);
        let ring = KeyRing::single("ops", key.clone());
        let h = authorization("ops", &key, 1000, "PUT", "/v1/admin/forms/demo", b"{}");
        assert!(verify(&ring, Some(&h), 1100, "PUT", "/v1/admin/forms/demo", b"{}").is_ok());
        assert_eq!(verify(&ring, Some(&h), 1100, "GET", "/v1/admin/forms/demo", b"{}"), Err(AuthFailure::BadSignature));
        assert_eq!(verify(&ring, Some(&h), 1100, "PUT", "/v1/admin/forms/other", b"{}"), Err(AuthFailure::BadSignature));
        assert_eq!(verify(&ring, Some(&h), 1100, "PUT", "/v1/admin/forms/demo", b"{ }"), Err(AuthFailure::BadSignature));
        assert_eq!(verify(&ring, Some(&h), 1301, "PUT", "/v1/admin/forms/demo", b"{}"), Err(AuthFailure::ClockSkew));
        assert_eq!(verify(&ring, Some("Bearer x"), 1000, "PUT", "/", b""), Err(AuthFailure::MissingOrMalformed));
        let other = authorization("nobody", &key, 1000, "PUT", "/", b"");
        assert_eq!(verify(&ring, Some(&other), 1000, "PUT", "/", b""), Err(AuthFailure::UnknownKey));
    }

    #[test]
    fn a_signature_has_one_spelling_so_a_recased_copy_is_not_a_new_one() {
        let key = SecretKey::new(vec![3; 32]);
        let ring = KeyRing::single("ops", key.clone());
        let h = authorization("ops", &key, 1000, "GET", "/v1/breaches", b"");
        let (head, sig) = h.rsplit_once("sig=").unwrap();
        let upper = format!("{head}sig={}", sig.to_uppercase());
        assert_eq!(verify(&ring, Some(&upper), 1000, "GET", "/v1/breaches", b""), Err(AuthFailure::BadSignature));
        let short = format!("{head}sig={}", &sig[..62]);
        assert_eq!(verify(&ring, Some(&short), 1000, "GET", "/v1/breaches", b""), Err(AuthFailure::BadSignature));
    }
}
