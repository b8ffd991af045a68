//! Request bodies: size, content type, and the three encodings a form may post (docs/api.md §1).
//! Every decoding is strict: invalid UTF-8 or a broken encoding is a 400, never a lossy guess.

use bytes::Bytes;
use lambda_http::Request;
use percent_encoding::percent_decode;
use serde_json::Value;
use zgoda_domain::FieldError;
use zgoda_domain::intake::RawSubmission;

use crate::error::ApiError;
use crate::request::header;

/// docs/api.md: bodies over 64 KiB get 413.
pub const MAX_BODY: usize = 64 * 1024;
/// More name/value pairs than any real form has: the rest is refused rather than processed.
const MAX_PAIRS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    UrlEncoded,
    Multipart,
    Json,
}

/// The body's bytes once its size is known to be acceptable.
pub fn bytes(req: &Request) -> Result<&[u8], ApiError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(body)
}

fn media_type(req: &Request) -> Option<String> {
    header(req, "content-type").map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// Every text body is UTF-8: a declared charset other than that is refused, not guessed at.
fn charset_is_utf8(content_type: &str) -> bool {
    content_type.split(';').skip(1).filter_map(|p| p.split_once('=')).all(|(name, value)| {
        !name.trim().eq_ignore_ascii_case("charset")
            || matches!(value.trim().trim_matches('"').to_ascii_lowercase().as_str(), "utf-8" | "utf8")
    })
}

pub fn encoding(req: &Request) -> Option<Encoding> {
    if !charset_is_utf8(header(req, "content-type")?) {
        return None;
    }
    match media_type(req)?.as_str() {
        "application/x-www-form-urlencoded" => Some(Encoding::UrlEncoded),
        "multipart/form-data" => Some(Encoding::Multipart),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

fn decode_component(raw: &[u8]) -> Result<String, ApiError> {
    let plus: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let decoded: Vec<u8> = percent_decode(&plus).collect();
    String::from_utf8(decoded).map_err(|_| ApiError::MalformedBody("not UTF-8"))
}

/// `application/x-www-form-urlencoded`, strictly UTF-8.
pub fn parse_urlencoded(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        out.push((decode_component(k)?, decode_component(v)?));
        if out.len() > MAX_PAIRS {
            return Err(ApiError::MalformedBody("too many fields"));
        }
    }
    Ok(out)
}

/// `multipart/form-data` with text parts only; a file part is 415.
pub async fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| ApiError::MalformedBody("no multipart boundary"))?;
    let data = Bytes::copy_from_slice(body);
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(data) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut out = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Err(ApiError::MalformedBody("broken multipart body")),
        };
        let is_text = field.content_type().is_none_or(|m| m.type_() == "text" && m.subtype() == "plain");
        if field.file_name().is_some() || !is_text {
            return Err(ApiError::UnsupportedMediaType);
        }
        let name = field.name().ok_or(ApiError::MalformedBody("multipart part without a name"))?.to_owned();
        let value = field.bytes().await.map_err(|_| ApiError::MalformedBody("broken multipart body"))?;
        let value = String::from_utf8(value.to_vec()).map_err(|_| ApiError::MalformedBody("not UTF-8"))?;
        out.push((name, value));
        if out.len() > MAX_PAIRS {
            return Err(ApiError::MalformedBody("too many fields"));
        }
    }
    Ok(out)
}

/// Fails on the first object, at any depth, that names a key twice. Parsers disagree on which
/// copy wins (first, last, both), so a body that depends on it is refused rather than read one way.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(self)
    }
}

/// JSON syntax and the duplicate-key rule, before the body is read for its meaning.
fn check_json(body: &[u8]) -> Result<(), ApiError> {
    serde_json::from_slice::<UniqueKeys>(body).map(|_| ()).map_err(|e| {
        if e.to_string().starts_with("duplicate key") {
            ApiError::MalformedBody("duplicate key")
        } else {
            ApiError::MalformedBody("invalid JSON")
        }
    })
}

/// A JSON object of strings; arrays of strings only for `consent`.
pub fn parse_json_form(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    check_json(body)?;
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::MalformedBody("invalid JSON"))?;
    let Value::Object(map) = value else { return Err(ApiError::MalformedBody("JSON body must be an object")) };
    if map.len() > MAX_PAIRS {
        return Err(ApiError::MalformedBody("too many fields"));
    }
    let mut out = Vec::new();
    let mut wrong = Vec::new();
    for (k, v) in map {
        match v {
            Value::String(s) => out.push((k, s)),
            Value::Array(items) if k == "consent" => {
                for item in items {
                    match item {
                        Value::String(s) => out.push((k.clone(), s)),
                        _ => wrong.push(FieldError::new(k.clone(), "invalid_type")),
                    }
                }
            }
            Value::Null => {}
            _ => wrong.push(FieldError::new(k, "invalid_type")),
        }
    }
    if !wrong.is_empty() {
        wrong.dedup();
        return Err(zgoda_domain::Error::Validation(wrong).into());
    }
    Ok(out)
}

/// Reads a form submission in any of the three encodings.
pub async fn submission(req: &Request) -> Result<(RawSubmission, Encoding), ApiError> {
    let body = bytes(req)?;
    let encoding = encoding(req).ok_or(ApiError::UnsupportedMediaType)?;
    let pairs = match encoding {
        Encoding::UrlEncoded => parse_urlencoded(body)?,
        Encoding::Multipart => parse_multipart(header(req, "content-type").unwrap_or(""), body).await?,
        Encoding::Json => parse_json_form(body)?,
    };
    Ok((RawSubmission(pairs), encoding))
}

/// A JSON body for the operator API into a typed value: syntax errors are 400, shape errors 422.
pub fn json<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let body = bytes(req)?;
    if encoding(req) != Some(Encoding::Json) {
        return Err(ApiError::UnsupportedMediaType);
    }
    check_json(body)?;
    // `check_json` has refused every syntax error, so what fails here is the shape.
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = zgoda_domain::from_json(&mut de).map_err(zgoda_domain::Error::from)?;
    de.end().map_err(|_| ApiError::MalformedBody("invalid JSON"))?;
    Ok(value)
}

/// A JSON value already read into a typed input, with the same field errors as [`json`].
pub fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    Ok(zgoda_domain::from_value(value).map_err(zgoda_domain::Error::from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_named_twice_at_any_depth_is_refused() {
        for body in [&br#"{"email": "a@b.pl", "email": "c@d.pl"}"#[..], br#"{"a": {"b": 1, "b": 2}}"#, br#"[{"x": 1}, {"x": 1, "x": 2}]"#] {
            assert!(matches!(check_json(body), Err(ApiError::MalformedBody("duplicate key"))), "{}", String::from_utf8_lossy(body));
        }
        assert!(check_json(br#"{"a": {"b": 1}, "b": [{"a": 2}, {"a": 3}]}"#).is_ok());
        assert!(matches!(check_json(b"{"), Err(ApiError::MalformedBody("invalid JSON"))));
    }

    #[test]
    fn a_charset_other_than_utf8_is_not_taken() {
        assert!(charset_is_utf8("application/json"));
        assert!(charset_is_utf8("application/json; charset=UTF-8"));
        assert!(charset_is_utf8("application/x-www-form-urlencoded; charset=\"utf-8\""));
        assert!(charset_is_utf8("multipart/form-data; boundary=x"));
        assert!(!charset_is_utf8("application/x-www-form-urlencoded; charset=utf-16"));
        assert!(!charset_is_utf8("application/json; charset=latin1"));
    }

    #[test]
    fn urlencoded_is_strict_utf8_and_keeps_repeats() {
        let pairs = parse_urlencoded(b"email=a%40b.pl&consent=a&consent=b&name=Zo%C5%9Bka+K").unwrap();
        assert_eq!(pairs[0], ("email".into(), "a@b.pl".into()));
        assert_eq!(pairs.iter().filter(|(k, _)| k == "consent").count(), 2);
        assert_eq!(pairs[3].1, "Zośka K");
        assert!(parse_urlencoded(b"name=%C5").is_err());
        assert!(parse_urlencoded(b"name=\xff").is_err());
    }

    #[test]
    fn json_takes_strings_and_consent_arrays_only() {
        let pairs = parse_json_form(br#"{"email":"a@b.pl","consent":["x","y"]}"#).unwrap();
        assert_eq!(pairs.len(), 3);
        assert!(matches!(parse_json_form(br#"{"email":{"a":1}}"#), Err(ApiError::Domain(_))));
        assert!(matches!(parse_json_form(b"[1]"), Err(ApiError::MalformedBody(_))));
        assert!(matches!(parse_json_form(b"{"), Err(ApiError::MalformedBody(_))));
    }

    #[tokio::test]
    async fn multipart_refuses_file_parts() {
        let ct = "multipart/form-data; boundary=XyZ";
        let ok = b"--XyZ\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.pl\r\n--XyZ--\r\n";
        assert_eq!(parse_multipart(ct, ok).await.unwrap(), vec![("email".to_string(), "a@b.pl".to_string())]);
        let file = b"--XyZ\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--XyZ--\r\n";
        assert!(matches!(parse_multipart(ct, file).await, Err(ApiError::UnsupportedMediaType)));
    }

    proptest::proptest! {
        #[test]
        fn urlencoded_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_urlencoded(&b);
        }
        #[test]
        fn json_form_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_json_form(&b);
        }
    }
}
