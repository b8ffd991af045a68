//! The intake function: website forms post here (docs/api.md §1). Parses the request, checks the
//! origin, hands the submission to the domain and maps the outcome to JSON or a redirect.

use std::sync::Arc;

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use zgoda_aws::access::{Access, ITEM_READ_WRITE_BATCH_GET};
use zgoda_domain::ids::FormId;
use zgoda_domain::keys::KeyFamily;
use zgoda_domain::lang::Lang;
use zgoda_domain::mail::{MailStream, Mailer};
use zgoda_domain::service::{Origin, ReceiptStatus};
use zgoda_domain::store::{FormStore, Store, StoredForm, WorkQueue};
use zgoda_domain::{Error, Time, Zgoda};
use zgoda_web::body::{self, Encoding};
use zgoda_web::request::{self, segments};
use zgoda_web::routes::{self, Route};
use zgoda_web::{ApiError, respond};

/// [`handle`] over the deployed adapters, compiled once, here: the Lambda binary, the local stack
/// and the tests call this rather than each compiling its own copy of the handler (an optimized
/// build instantiates a generic anew in each crate that names it).
pub async fn handle_app(app: &zgoda_web::App, req: Request, now: Time) -> Response<Body> {
    handle(app, req, now).await
}

/// Answers one request on a deployed instance (the Lambda binary). On the instance's first, the
/// form the request names is read while the key rings are still on their way
/// ([`zgoda_web::app::Starting`]), and held: the post then finds it, instead of reading it after
/// the rings, one round trip later.
pub async fn answer(starting: &zgoda_web::app::Starting, req: Request, now: Time) -> Response<Body> {
    let named = Routed::of(&req).form();
    starting
        .answer_reading_early(
            |store| async move { store.load_form(&named?).await.ok().flatten() },
            |app, read| async move {
                if let Some(form) = read {
                    app.hold_form(form, now);
                }
                handle(app, req, now).await
            },
        )
        .await
}

/// Routes one request. `now` is the request's time, read once by the caller.
pub async fn handle<S, M, Q>(app: &Zgoda<S, M, Q>, req: Request, now: Time) -> Response<Body>
where
    S: Store,
    M: Mailer,
    Q: WorkQueue,
{
    match Routed::of(&req) {
        Routed::Submit(id) => submit(app, &req, id, now).await,
        Routed::Preflight(id) => preflight(app, &req, id, now).await,
        Routed::Thanks(id) => thanks(app, &req, id, now).await,
        Routed::Health => zgoda_web::respond::health(&app.store).await,
        Routed::Unrouted => routes::not_routed(ROUTES, &req).to_json_response(),
    }
}

/// Which of intake's routes a request takes, with the form id its path names (as written).
enum Routed<'r> {
    Submit(&'r str),
    Preflight(&'r str),
    Thanks(&'r str),
    Health,
    Unrouted,
}

impl<'r> Routed<'r> {
    fn of(req: &'r Request) -> Self {
        match (req.method(), segments(req).as_slice()) {
            (&Method::POST, ["v1", "forms", id, "submissions"]) => Self::Submit(id),
            (&Method::OPTIONS, ["v1", "forms", id, "submissions"]) => Self::Preflight(id),
            (&Method::GET | &Method::HEAD, ["v1", "forms", id, "thanks"]) => Self::Thanks(id),
            (&Method::GET, ["healthz"]) => Self::Health,
            _ => Self::Unrouted,
        }
    }

    /// The form the route serves, if its id is well formed.
    fn form(&self) -> Option<FormId> {
        match self {
            Self::Submit(id) | Self::Preflight(id) | Self::Thanks(id) => FormId::parse(id),
            Self::Health | Self::Unrouted => None,
        }
    }
}

/// What API Gateway routes here (`infra/template.yaml`, held to this table by a test).
pub const ROUTES: &[Route] = &[
    Route::new("POST", "/v1/forms/{form_id}/submissions"),
    Route::new("OPTIONS", "/v1/forms/{form_id}/submissions"),
    Route::new("GET", "/v1/forms/{form_id}/thanks"),
    Route::new("GET", "/healthz"),
];

/// The form as this instance holds it (`Settings::form_max_age`).
async fn load_form<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, id: &str, now: Time) -> Result<Arc<StoredForm>, ApiError> {
    let id = FormId::parse(id).ok_or(Error::FormNotFound)?;
    Ok(app.form_for_post(&id, now).await?)
}

async fn preflight<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, id: &str, now: Time) -> Response<Body> {
    let form = match load_form(app, id, now).await {
        Ok(f) => f,
        Err(e) => return e.to_json_response(),
    };
    match request::origin(req).filter(|o| form.form.allows_origin(o)) {
        None => ApiError::OriginNotAllowed.to_json_response(),
        Some(origin) => {
            let mut resp = respond::empty(StatusCode::NO_CONTENT);
            respond::allow_origin(&mut resp, &origin);
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("Content-Type, Accept, Accept-Language"));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            resp
        }
    }
}

async fn submit<S, M, Q>(app: &Zgoda<S, M, Q>, req: &Request, id: &str, now: Time) -> Response<Body>
where
    S: Store,
    M: Mailer,
    Q: WorkQueue,
{
    let lang_hint = request::accept_language(req);
    let json_client = request::wants_json(req) || body::encoding(req) == Some(Encoding::Json);
    let stored = match load_form(app, id, now).await {
        Ok(f) => f,
        Err(e) if json_client => return e.to_json_response(),
        Err(e) => return zgoda_web::pages::error(&e, lang_hint.unwrap_or(Lang::Pl)),
    };
    let form = &stored.form;
    let origin = request::origin(req).filter(|o| form.allows_origin(o));
    let outcome = match &origin {
        None => Err(ApiError::OriginNotAllowed),
        Some(_) => match body::submission(req).await {
            Err(e) => Err(e),
            Ok((raw, _)) => {
                let from = Origin { ip: request::client_ip(req), lang: lang_hint };
                app.submit(&stored, raw, from, now).await.map_err(ApiError::from)
            }
        },
    };
    let lang = lang_hint.unwrap_or(form.default_lang);
    let mut resp = match outcome {
        Ok(receipt) if json_client => respond::json(StatusCode::CREATED, &json!(receipt)),
        Ok(receipt) => {
            let pending = receipt.status == ReceiptStatus::PendingConfirmation;
            let target = form.success_url.clone().unwrap_or_else(|| {
                let status = if pending { "pending_confirmation" } else { "recorded" };
                app.settings.public_url.join(&format!("/v1/forms/{}/thanks?status={status}&lang={}", form.id, receipt.lang))
            });
            respond::see_other(&target)
        }
        Err(e) if json_client => e.to_json_response(),
        Err(e) => match &form.error_url {
            Some(url) => {
                e.log();
                let sep = if url.contains('?') { '&' } else { '?' };
                respond::see_other(&format!("{url}{sep}error={}", e.code()))
            }
            None => zgoda_web::pages::error(&e, lang),
        },
    };
    if let Some(o) = origin {
        respond::allow_origin(&mut resp, &o);
    }
    resp
}

async fn thanks<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, id: &str, now: Time) -> Response<Body> {
    let query_lang = request::query_param(req, "lang").and_then(|l| l.parse().ok());
    let fallback = query_lang.or(request::accept_language(req)).unwrap_or(Lang::Pl);
    match load_form(app, id, now).await {
        Err(e) => zgoda_web::pages::error(&e, fallback),
        Ok(stored) => {
            let lang = query_lang.or(request::accept_language(req)).unwrap_or(stored.form.default_lang);
            let pending = request::query_param(req, "status").as_deref() == Some("pending_confirmation");
            zgoda_web::pages::thanks(lang, pending, &app.settings.controller)
        }
    }
}

/// When the function reads its key rings ([`zgoda_web::app::Starting`]).
/// Every post seals its proof: the rings are read as the function starts.
pub const RINGS: zgoda_web::app::ReadRings = zgoda_web::app::ReadRings::AtStart;

/// What the intake may do in AWS, and no more (`zgoda_aws::access` says how it is held to it).
pub const ACCESS: Access = Access {
    table: ITEM_READ_WRITE_BATCH_GET,
    key_rings: &[KeyFamily::Links, KeyFamily::Seals, KeyFamily::Pepper],
    mail: &[MailStream::Public],
    ..Access::NONE
};
