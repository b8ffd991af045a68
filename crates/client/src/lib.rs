//! The operator API's client: each request signed exactly as the server checks it
//! (`zgoda_domain::operator_sig`), for the CLI, the benchmarks and the tests alike (code review W7:
//! one signed client, not four). It only builds requests; each caller sends them and reads the
//! answer its own way.

use reqwest::{Method, RequestBuilder};
use zgoda_domain::keys::SecretKey;
use zgoda_domain::operator_sig::{self, SignedRequest};

/// An operator's key, and the API it signs requests for.
#[derive(Clone)]
pub struct OperatorClient {
    url: String,
    kid: String,
    key: SecretKey,
    http: reqwest::Client,
}

impl OperatorClient {
    /// `url` is the API's base (`https://api.example.pl`); a trailing slash is dropped.
    pub fn new(url: &str, kid: impl Into<String>, key: SecretKey, http: reqwest::Client) -> Self {
        Self { url: url.trim_end_matches('/').to_owned(), kid: kid.into(), key, http }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A request signed now. `path` carries its query; `body` is JSON (empty: none).
    pub fn request(&self, method: Method, path: &str, body: Vec<u8>, idempotency_key: Option<&str>) -> RequestBuilder {
        self.request_at(method, path, body, idempotency_key, chrono::Utc::now().timestamp())
    }

    /// [`Self::request`] signed at `ts` (Unix seconds). The server refuses a signature it has seen,
    /// so two identical requests must differ in time or query.
    pub fn request_at(&self, method: Method, path: &str, body: Vec<u8>, idempotency_key: Option<&str>, ts: i64) -> RequestBuilder {
        let signed = SignedRequest::to(method.as_str(), &self.url, path, &body).with_idempotency_key(idempotency_key);
        let authorization = operator_sig::authorization(&self.kid, &self.key, ts, &signed);
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("authorization", authorization)
            .header("accept", "application/json");
        if let Some(key) = idempotency_key {
            req = req.header("idempotency-key", key);
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/json").body(body);
        }
        req
    }
}
