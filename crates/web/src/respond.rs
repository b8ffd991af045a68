//! Response builders with the headers every response of a kind carries.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use zgoda_domain::origin::WebOrigin;

/// Pages are self-contained: inline styles only, no scripts, posts only to themselves.
pub const PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The privacy page runs its proof of work: its own script, and fetches to its own origin only.
pub const SCRIPTED_PAGE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The DPO's console: its own script and stylesheet, requests to its own origin only, no inline
/// script or style, no form posted anywhere (its script signs and sends every request).
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The console's page (static: the script fills it in, in the browser's language).
pub fn console_page(page: &'static str) -> Response<Body> {
    let mut r = html(StatusCode::OK, page.to_owned());
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONSOLE_CSP));
    r
}

/// One of zgoda's own stylesheets; like [`script`], it changes only with a deploy.
pub fn stylesheet(source: &'static str) -> Response<Body> {
    asset(source, "text/css; charset=utf-8")
}

/// A response carrying `headers`, its header map sized once for them and the few a caller adds
/// (CORS, `Vary`, `Retry-After`, `Content-Disposition`): filled one insert at a time from empty,
/// the map grew twice for every page, 8 % of a link page's CPU (perf).
fn with_headers(status: StatusCode, body: Body, headers: &[(HeaderName, &'static str)]) -> Response<Body> {
    let mut map = HeaderMap::with_capacity(headers.len() + 4);
    for (name, value) in headers {
        map.insert(name.clone(), HeaderValue::from_static(value));
    }
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = map;
    r
}

pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    with_headers(
        status,
        Body::Text(serde_json::to_string(value).expect("a response body serializes")),
        &[(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
    )
}

pub fn html(status: StatusCode, page: String) -> Response<Body> {
    with_headers(
        status,
        Body::Text(page),
        &[
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (HeaderName::from_static("x-robots-tag"), "noindex"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
    )
}

/// For a page whose form posts to an origin-checked route: `no-referrer` would make browsers send
/// `Origin: null` with the POST, which the check must refuse. This policy still hides paths.
pub fn html_posting_form(status: StatusCode, page: String) -> Response<Body> {
    let mut r = html(status, page);
    r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    r
}

/// [`html_posting_form`] for a page that runs zgoda's own script ([`SCRIPTED_PAGE_CSP`]).
pub fn html_posting_form_with_script(status: StatusCode, page: String) -> Response<Body> {
    let mut r = html_posting_form(status, page);
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(SCRIPTED_PAGE_CSP));
    r
}

/// One of zgoda's own scripts. It changes only with a deploy, so a browser may keep it an hour.
pub fn script(source: &'static str) -> Response<Body> {
    asset(source, "text/javascript; charset=utf-8")
}

fn asset(source: &'static str, content_type: &'static str) -> Response<Body> {
    with_headers(
        StatusCode::OK,
        Body::Text(source.to_owned()),
        &[
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
    )
}

/// CORS: echo an allowed origin, never `*`; caches must key on `Origin`.
pub fn allow_origin(resp: &mut Response<Body>, origin: &WebOrigin) {
    if let Ok(v) = HeaderValue::from_str(origin.as_str()) {
        resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
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

/// `GET /healthz`: 200 when the table answers, 503 when it does not.
pub async fn health<S: zgoda_domain::store::Health>(store: &S) -> Response<Body> {
    match store.ping().await {
        Ok(()) => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        Err(e) => crate::ApiError::Domain(e.into()).to_json_response(),
    }
}
