//! What handlers need to know about a request, read the same way in Lambda and locally.

use std::net::IpAddr;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use zgoda_domain::lang::Lang;
use zgoda_domain::origin::WebOrigin;

/// The peer address, inserted by the local server (API Gateway supplies its own in the context).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

/// The client's IP as the edge saw it. `X-Forwarded-For` is never read: anyone can write it.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(ip) = ctx.http.source_ip.as_deref().and_then(|s| s.parse().ok())
    {
        return Some(ip);
    }
    req.extensions().get::<PeerAddr>().map(|p| p.0)
}

/// The request id for logs: Lambda's, else a fresh one.
pub fn request_id(req: &Request) -> String {
    req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_else(|| ulid::Ulid::new().to_string())
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The origin of a request: `Origin`, else the origin part of `Referer`.
pub fn origin(req: &Request) -> Option<WebOrigin> {
    match header(req, "origin") {
        Some(o) => WebOrigin::parse(o),
        None => WebOrigin::of_url(header(req, "referer")?),
    }
}

/// Whether the client wants JSON back.
pub fn wants_json(req: &Request) -> bool {
    header(req, "accept").is_some_and(|a| a.contains("application/json"))
}

/// Whether the client is a browser asking for a page (as a form's button does).
pub fn wants_html(req: &Request) -> bool {
    header(req, "accept").is_some_and(|a| a.contains("text/html"))
}

pub fn accept_language(req: &Request) -> Option<Lang> {
    header(req, "accept-language").and_then(Lang::from_accept_language)
}

/// A query parameter from the URI (works the same in Lambda, where the URI carries the raw query).
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    let q = req.uri().query()?;
    form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The path split into segments, without empty ones.
pub fn segments(req: &Request) -> Vec<&str> {
    req.uri().path().split('/').filter(|s| !s.is_empty()).collect()
}

pub fn path_and_query(req: &Request) -> String {
    req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into())
}
