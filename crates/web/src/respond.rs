//! Response builders with the headers every response of a kind carries.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

/// Pages are self-contained: inline styles only, no scripts, posts only to themselves.
pub const PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::Text(value.to_string()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut r = Response::new(Body::Text(page));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// For a page whose form posts to an origin-checked route: `no-referrer` would make browsers send
/// `Origin: null` with the POST, which the check must refuse. This policy still hides paths.
pub fn html_posting_form(status: StatusCode, page: String) -> Response<Body> {
    let mut r = html(status, page);
    r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    r
}

/// A Markdown document (the breach report draft).
pub fn markdown(text: String) -> Response<Body> {
    let mut r = Response::new(Body::Text(text));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/markdown; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `303 See Other` to a target that came from configuration, never from the request.
pub fn see_other(location: &str) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = status;
    r
}

/// `/healthz` for any method: GET and HEAD are answered, anything else is 405.
pub async fn healthz<S: zgoda_domain::store::Health>(method: &lambda_http::http::Method, store: &S) -> Response<Body> {
    if method == lambda_http::http::Method::GET || method == lambda_http::http::Method::HEAD {
        health(store).await
    } else {
        crate::ApiError::MethodNotAllowed.to_json_response()
    }
}

/// `GET /healthz`: 200 when the table answers, 503 when it does not.
pub async fn health<S: zgoda_domain::store::Health>(store: &S) -> Response<Body> {
    match store.ping().await {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        Err(e) => crate::ApiError::Domain(e.into()).to_json_response(),
    }
}
