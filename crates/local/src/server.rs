//! Every route on one loopback port. A hyper request becomes the same `lambda_http::Request` the
//! Lambda runtime would build, and is dispatched to the function that owns its path.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::{Body, Request, Response};
use tokio::net::TcpListener;
use tracing::Instrument;
use zgoda_web::request::PeerAddr;
use zgoda_web::{ApiError, App, respond};

/// API Gateway's own payload limit is far above ours; this only bounds local memory.
const MAX_LOCAL_BODY: usize = 1024 * 1024;

/// What the local server serves: the app, plus the emulator for the /dev pages (absent in tests
/// that do not need them).
pub struct Local {
    pub app: Arc<App>,
    /// The emulator process that serves SES, whose mailbox the /dev pages read.
    pub emulator: Option<String>,
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, local: Arc<Local>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else { continue };
        let local = local.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let local = local.clone();
                async move { Ok::<_, Infallible>(handle(&local, req, peer).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(local: &Local, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_LOCAL_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return to_hyper(ApiError::PayloadTooLarge.to_json_response()),
    };
    let body = if bytes.is_empty() { Body::Empty } else { Body::Binary(bytes.to_vec()) };
    let mut req = Request::from_parts(parts, body);
    req.extensions_mut().insert(PeerAddr(peer.ip()));
    to_hyper(dispatch(local, req).await)
}

/// Which function owns a path; the same split as the API Gateway routes in `infra/template.yaml`.
pub async fn dispatch(local: &Local, req: Request) -> Response<Body> {
    let span = tracing::info_span!("request", request_id = %zgoda_web::request::request_id(&req), method = %req.method());
    route(local, req, chrono::Utc::now()).instrument(span).await
}

async fn route(local: &Local, req: Request, now: zgoda_domain::Time) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path.starts_with("/v1/forms/") {
        intake::handle_app(&local.app, req, now).await
    } else if path.starts_with("/v1/links/") || path.starts_with("/v1/notices/") || path == "/v1/privacy" || path == "/v1/privacy/requests"
    {
        links::handle_app(&local.app, req, now).await
    } else if path.starts_with("/v1/admin/") || path == "/v1/breaches" || path.starts_with("/v1/breaches/") {
        operator::handle_app(&local.app, req, now).await
    } else if path == "/healthz" {
        respond::healthz(req.method(), &local.app.store).await
    } else if path.starts_with("/dev/") {
        crate::dev::handle(local, &req).await
    } else {
        ApiError::NotFound.to_json_response()
    }
}

fn to_hyper(resp: Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}
