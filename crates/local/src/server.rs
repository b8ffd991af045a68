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
use zgoda_aws::access::{Access, AccessCheck};
use zgoda_aws::{Clients, Config, LocalEndpoints};
use zgoda_web::request::PeerAddr;
use zgoda_web::{ApiError, App, routes};

/// API Gateway's own payload limit is far above ours; this only bounds local memory.
const MAX_LOCAL_BODY: usize = 1024 * 1024;

/// What the local server serves: each function's app, plus the emulator for the /dev pages
/// (absent in tests that do not need them).
pub struct Local {
    pub apps: Apps,
    /// The emulator process that serves SES, whose mailbox the /dev pages read.
    pub emulator: Option<String>,
}

/// Every function, by its binary's name, with what it may do in AWS.
pub const FUNCTIONS: [(&str, Access); 8] = [
    ("intake", intake::ACCESS),
    ("links", links::ACCESS),
    ("operator", operator::ACCESS),
    ("notifier", notifier::ACCESS),
    ("deadline-watch", deadline_watch::ACCESS),
    ("retention-sweep", retention_sweep::ACCESS),
    ("ses-events", ses_events::ACCESS),
    ("webhooks", webhooks::ACCESS),
];

/// One app per function, as in AWS: each loads only its own key rings, and each reaches AWS
/// through clients that refuse any call its `ACCESS` does not list (what its IAM policy would
/// refuse in AWS). A route that needs another function's keys or grants fails here, not there.
pub struct Apps {
    pub intake: Arc<App>,
    pub links: Arc<App>,
    pub operator: Arc<App>,
    pub notifier: Arc<App>,
    pub deadline_watch: Arc<App>,
    pub retention_sweep: Arc<App>,
    pub ses_events: Arc<App>,
    pub webhooks: Arc<App>,
    /// The webhook queue, through webhook delivery's clients.
    pub webhook_queue: Arc<zgoda_aws::SqsWebhookQueue>,
    checks: Vec<AccessCheck>,
}

impl Apps {
    /// Builds every function's app over the emulator at `endpoints` (or a proxy in front of it).
    pub async fn build(config: &Config, endpoints: &LocalEndpoints, region: &str) -> Result<Self, String> {
        let checks: Vec<AccessCheck> = FUNCTIONS.into_iter().map(|(name, access)| AccessCheck::new(name, access, config)).collect();
        let mut apps = Vec::with_capacity(checks.len());
        let mut webhook_queue = None;
        for check in &checks {
            let clients = Clients::local_checked(endpoints, region, Some(check.clone())).await;
            if check.function() == "webhooks" {
                let queue =
                    zgoda_aws::SqsWebhookQueue::new(clients.sqs.clone(), &config.webhook_queue_url, &config.webhook_dead_letter_url);
                webhook_queue = Some(Arc::new(queue));
            }
            let app = zgoda_web::app::build(config, &clients, &check.access()).await.map_err(|e| format!("{}: {e}", check.function()))?;
            apps.push(Arc::new(app));
        }
        let [intake, links, operator, notifier, deadline_watch, retention_sweep, ses_events, webhooks] =
            apps.try_into().map_err(|_| "eight functions")?;
        let webhook_queue = webhook_queue.ok_or("webhooks is one of the functions")?;
        Ok(Self { intake, links, operator, notifier, deadline_watch, retention_sweep, ses_events, webhooks, webhook_queue, checks })
    }

    /// Every AWS call any function made that its `ACCESS` does not list (and AWS would refuse).
    pub fn refusals(&self) -> Vec<String> {
        self.checks.iter().flat_map(AccessCheck::refusals).collect()
    }
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

/// Whether a request names this machine's loopback as its host. A page on another site can point
/// its own name at 127.0.0.1 (DNS rebinding) and so reach the local stack; its requests still
/// carry that name, and are refused (security review L12: `/dev/mailbox` shows live links).
fn loopback_host(req: &hyper::Request<Incoming>) -> bool {
    let host = req.headers().get(hyper::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let name = host.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(host, |(name, _)| name);
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

async fn handle(local: &Local, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
    if !loopback_host(&req) {
        return to_hyper(ApiError::NotFound.to_json_response());
    }
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

/// Which function owns a path: the one whose route table holds it, as API Gateway routes it.
pub async fn dispatch(local: &Local, req: Request) -> Response<Body> {
    let span = tracing::info_span!("request", request_id = %zgoda_web::request::request_id(&req), method = %req.method());
    route(local, req, chrono::Utc::now()).instrument(span).await
}

async fn route(local: &Local, req: Request, now: zgoda_domain::Time) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if routes::holds(intake::ROUTES, &path) {
        intake::handle_app(&local.apps.intake, req, now).await
    } else if routes::holds(links::ROUTES, &path) {
        links::handle_app(&local.apps.links, req, now).await
    } else if routes::holds(operator::ROUTES, &path) {
        operator::handle_app(&local.apps.operator, req, now).await
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
