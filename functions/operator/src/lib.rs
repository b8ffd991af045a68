//! The operator function: the authenticated API for the business (docs/api.md §4). Every route is
//! signed; the key id that signed names the operator in the logs.

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zgoda_aws::access::Access;
use zgoda_domain::audience::AudiencePage;
use zgoda_domain::breach::BreachInput;
use zgoda_domain::choices::ObjectionAnswer;
use zgoda_domain::email::EmailAddress;
use zgoda_domain::erasure::{ErasureAnswer, ErasureStatus};
use zgoda_domain::form::{FormInput, FormView};
use zgoda_domain::ids::{
    BreachId, ChannelId, EscalationId, EventId, FormId, IdempotencyKey, IncidentId, OperatorId, ProcessorId, PurposeId, RequestId,
    SubjectId,
};
use zgoda_domain::incidents::IncidentFilter;
use zgoda_domain::keys::KeyFamily;
use zgoda_domain::lang::Lang;
use zgoda_domain::links::LinkOutcome;
use zgoda_domain::mail::{MailStream, Mailer};
use zgoda_domain::proof::Channel;
use zgoda_domain::rectification::Correction;
use zgoda_domain::requests::RequestFilter;
use zgoda_domain::restriction::Ground;
use zgoda_domain::smoke::SmokeRunId;
use zgoda_domain::store::{Store, WorkQueue};
use zgoda_domain::timeline::{NewEntry, TimelineInput};
use zgoda_domain::token::LinkAction;
use zgoda_domain::{Error, Fields, Time, Zgoda};
use zgoda_web::auth::{authenticate, refuse_unsigned};
use zgoda_web::request::{self, segments};
use zgoda_web::routes::{self, Route};
use zgoda_web::{ApiError, body, respond};

/// [`handle`] over the deployed adapters, compiled once, here: the Lambda binary, the local stack
/// and the tests call this rather than each compiling its own copy of the handler (an optimized
/// build instantiates a generic anew in each crate that names it).
pub async fn handle_app(app: &zgoda_web::App, req: Request, now: Time) -> Response<Body> {
    handle(app, req, now).await
}

/// Answers one request on a deployed instance (the Lambda binary). What needs no key
/// ([`keyless`]: the console's static files, the refusal of an unsigned request) is answered at
/// once, on a cold instance too, without waiting for the key rings ([`zgoda_web::app::Starting`]).
pub async fn answer(starting: &zgoda_web::app::Starting, req: Request, now: Time) -> Response<Body> {
    match keyless(&req) {
        Some(resp) => resp,
        None => starting.answer(|app| keyed(app, req, now)).await,
    }
}

/// The answers that need no key: the console's files, and a request without a signature's 401
/// (which [`authenticate`] gives the same way).
fn keyless(req: &Request) -> Option<Response<Body>> {
    console(req).or_else(|| refuse_unsigned(req).err().map(|e| e.to_json_response()))
}

/// The console is static and public: it holds no data, and signs every request it makes.
fn console(req: &Request) -> Option<Response<Body>> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    match segments(req).as_slice() {
        ["console"] => Some(respond::console_page(zgoda_web::pages::CONSOLE_PAGE)),
        ["console", "console.js"] => Some(respond::script(zgoda_web::pages::CONSOLE_SCRIPT)),
        ["console", "console.css"] => Some(respond::stylesheet(zgoda_web::pages::CONSOLE_STYLE)),
        _ => None,
    }
}

pub async fn handle<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: Request, now: Time) -> Response<Body> {
    match keyless(&req) {
        Some(resp) => resp,
        None => keyed(app, req, now).await,
    }
}

/// The routes that need the app: every signed one.
async fn keyed<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: Request, now: Time) -> Response<Body> {
    match route(app, &req, now).await {
        Ok(resp) => resp,
        Err(e) => e.to_json_response(),
    }
}

/// Every route answers with a status and a body the web layer serializes.
type Answer = Result<Response<Body>, ApiError>;

fn ok<T: Serialize>(status: StatusCode, body: &T) -> Answer {
    Ok(respond::json(status, body))
}

async fn route<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, now: Time) -> Answer {
    let segs = segments(req);
    // Authenticate before routing, so an unsigned caller learns nothing about which routes exist.
    let op = &authenticate(app, req, now).await?;
    match (req.method().clone(), segs.as_slice()) {
        (Method::PUT, ["v1", "admin", "forms", id]) => save_form(app, req, op, id, now).await,
        (Method::GET, ["v1", "admin", "forms", id]) => show_form(app, id).await,
        (Method::POST, ["v1", "admin", "subjects", "lookup"]) => lookup(app, req, op, now).await,
        (Method::POST, ["v1", "admin", "subjects", "erase"]) => erase(app, req, op, now).await,
        (Method::POST, ["v1", "admin", "subjects", "rectify"]) => rectify(app, req, op, now).await,
        (Method::POST, ["v1", "admin", "subjects", "object"]) => object(app, req, op, now).await,
        (Method::POST, ["v1", "admin", "subjects", "restrict"]) => restrict(app, req, op, now).await,
        (Method::POST, ["v1", "admin", "subjects", "lift-restriction"]) => lift_restriction(app, req, op, now).await,
        (Method::GET, ["v1", "admin", "audiences", purpose]) => audience(app, req, op, purpose, now).await,
        (Method::POST, ["v1", "admin", "smoke"]) => start_smoke(app, req, op, now).await,
        (Method::GET, ["v1", "admin", "smoke", run]) => show_smoke(app, run).await,
        (Method::POST, ["v1", "admin", "links"]) => issue_link(app, req, op, now).await,
        (Method::GET, ["v1", "admin", "requests"]) => list_requests(app, req, now).await,
        (Method::GET, ["v1", "admin", "records"]) => records(app, req).await,
        (Method::GET, ["v1", "admin", "requests", id]) => ok(StatusCode::OK, &app.request(&request_id(id)?, now).await?),
        (Method::POST, ["v1", "admin", "requests", id, "extend"]) => {
            ok(StatusCode::OK, &app.extend_request(&request_id(id)?, body::json(req)?, op, now).await?)
        }
        (Method::POST, ["v1", "admin", "requests", id, "close"]) => {
            ok(StatusCode::OK, &app.close_request(&request_id(id)?, body::json(req)?, op, now).await?)
        }
        (Method::POST, ["v1", "breaches"]) => register_breach(app, req, op, now).await,
        (Method::GET, ["v1", "breaches"]) => ok(StatusCode::OK, &app.breaches(drills_asked(req)?, now).await?),
        (Method::GET, ["v1", "breaches", id]) => ok(StatusCode::OK, &app.breach(&breach_id(id)?, now).await?),
        (Method::POST, ["v1", "breaches", id, "events"]) => add_timeline(app, req, op, id, now).await,
        (Method::POST, ["v1", "breaches", id, "escalations"]) => escalate(app, req, op, id, now).await,
        (Method::POST, ["v1", "breaches", id, "escalation-preview"]) => preview_escalation(app, req, id).await,
        (Method::GET, ["v1", "breaches", id, "escalations", escalation]) => escalation_progress(app, id, escalation).await,
        (Method::GET, ["v1", "breaches", id, "report"]) => report(app, req, id, now).await,
        (Method::POST, ["v1", "admin", "reporting-links"]) => ok(StatusCode::CREATED, &app.create_channel(body::json(req)?, now).await?),
        (Method::GET, ["v1", "admin", "reporting-links"]) => ok(StatusCode::OK, &app.channels(now).await?),
        (Method::POST, ["v1", "admin", "reporting-links", id, "rotate"]) => {
            let id = ChannelId::parse(id).ok_or(Error::ChannelNotFound)?;
            ok(StatusCode::OK, &app.rotate_channel(&id, now).await?)
        }
        (Method::PUT, ["v1", "admin", "processors", id]) => {
            let (created, view) = app.save_processor(id, body::json(req)?, now).await?;
            tracing::info!(operator = %op, processor = %view.processor.processor_id, created, "processor saved");
            ok(if created { StatusCode::CREATED } else { StatusCode::OK }, &view)
        }
        (Method::GET, ["v1", "admin", "processors"]) => ok(StatusCode::OK, &app.processors(now).await?),
        (Method::GET, ["v1", "admin", "processors", id]) => ok(StatusCode::OK, &app.processor(&processor_id(id)?, now).await?),
        (Method::POST, ["v1", "admin", "processors", id, "rotate-secret"]) => {
            ok(StatusCode::OK, &app.rotate_webhook_secret(&processor_id(id)?, now).await?)
        }
        (Method::POST, ["v1", "admin", "webhooks"]) => {
            let view = app.add_endpoint(body::json(req)?, now).await?;
            tracing::info!(operator = %op, endpoint = %view.endpoint.endpoint_id, "webhook endpoint added");
            ok(StatusCode::CREATED, &view)
        }
        (Method::GET, ["v1", "admin", "webhooks"]) => ok(StatusCode::OK, &app.endpoints().await?),
        (Method::GET, ["v1", "admin", "webhooks", id]) => ok(StatusCode::OK, &app.endpoint(id).await?),
        (Method::POST, ["v1", "admin", "webhooks", id, switch @ ("enable" | "disable")]) => {
            ok(StatusCode::OK, &app.set_endpoint_enabled(id, *switch == "enable", now).await?)
        }
        (Method::POST, ["v1", "admin", "webhooks", id, "rotate-secret"]) => ok(StatusCode::OK, &app.rotate_endpoint_secret(id, now).await?),
        (Method::GET, ["v1", "admin", "webhooks", id, "deliveries"]) => {
            ok(StatusCode::OK, &app.deliveries(id, page_limit(req, 50)?).await?)
        }
        (Method::POST, ["v1", "admin", "webhooks", id, "redeliver"]) => {
            let body: RedeliverBody = body::json(req)?;
            tracing::info!(operator = %op, endpoint = %id, "webhook redelivery asked");
            ok(StatusCode::OK, &app.redeliver(id, &body.change_id, now).await?)
        }
        (Method::GET, ["v1", "admin", "changes"]) => {
            let after = request::query_param(req, "after").unwrap_or_default();
            ok(StatusCode::OK, &app.changes(&after, page_limit(req, 100)?, now).await?)
        }
        (Method::GET, ["v1", "incidents"]) => ok(StatusCode::OK, &app.incidents(incident_filter(req)?).await?),
        (Method::GET, ["v1", "incidents", id]) => ok(StatusCode::OK, &app.incident(&incident_id(id)?).await?),
        (Method::POST, ["v1", "incidents", id, "close"]) => {
            let body: TriageBody = body::json(req)?;
            ok(StatusCode::OK, &app.dismiss_incident(&incident_id(id)?, body.reasons.as_deref(), op, now).await?)
        }
        (Method::POST, ["v1", "incidents", id, "ask"]) => {
            let body: TriageBody = body::json(req)?;
            ok(StatusCode::OK, &app.ask_reporter(&incident_id(id)?, body.question.as_deref(), op, now).await?)
        }
        (Method::POST, ["v1", "incidents", id, "breach"]) => {
            ok(StatusCode::CREATED, &app.incident_to_breach(&incident_id(id)?, body::json(req)?, op, now).await?)
        }
        _ => Err(routes::not_routed(ROUTES, req)),
    }
}

/// What API Gateway routes here (`infra/template.yaml`, held to this table by a test).
pub const ROUTES: &[Route] = &[
    Route::new("GET", "/console"),
    Route::new("GET", "/console/console.js"),
    Route::new("GET", "/console/console.css"),
    Route::new("PUT", "/v1/admin/forms/{form_id}"),
    Route::new("GET", "/v1/admin/forms/{form_id}"),
    Route::new("POST", "/v1/admin/subjects/lookup"),
    Route::new("POST", "/v1/admin/subjects/erase"),
    Route::new("POST", "/v1/admin/subjects/rectify"),
    Route::new("POST", "/v1/admin/subjects/object"),
    Route::new("POST", "/v1/admin/subjects/restrict"),
    Route::new("POST", "/v1/admin/subjects/lift-restriction"),
    Route::new("GET", "/v1/admin/audiences/{purpose}"),
    Route::new("POST", "/v1/admin/links"),
    Route::new("POST", "/v1/admin/smoke"),
    Route::new("GET", "/v1/admin/smoke/{run_id}"),
    Route::new("GET", "/v1/admin/requests"),
    Route::new("GET", "/v1/admin/records"),
    Route::new("GET", "/v1/admin/requests/{request_id}"),
    Route::new("POST", "/v1/admin/requests/{request_id}/extend"),
    Route::new("POST", "/v1/admin/requests/{request_id}/close"),
    Route::new("POST", "/v1/breaches"),
    Route::new("GET", "/v1/breaches"),
    Route::new("GET", "/v1/breaches/{id}"),
    Route::new("POST", "/v1/breaches/{id}/events"),
    Route::new("POST", "/v1/breaches/{id}/escalations"),
    Route::new("POST", "/v1/breaches/{id}/escalation-preview"),
    Route::new("GET", "/v1/breaches/{id}/escalations/{escalation_id}"),
    Route::new("GET", "/v1/breaches/{id}/report"),
    Route::new("POST", "/v1/admin/reporting-links"),
    Route::new("GET", "/v1/admin/reporting-links"),
    Route::new("POST", "/v1/admin/reporting-links/{channel_id}/rotate"),
    Route::new("PUT", "/v1/admin/processors/{processor_id}"),
    Route::new("GET", "/v1/admin/processors"),
    Route::new("GET", "/v1/admin/processors/{processor_id}"),
    Route::new("POST", "/v1/admin/processors/{processor_id}/rotate-secret"),
    Route::new("POST", "/v1/admin/webhooks"),
    Route::new("GET", "/v1/admin/webhooks"),
    Route::new("GET", "/v1/admin/webhooks/{endpoint_id}"),
    Route::new("POST", "/v1/admin/webhooks/{endpoint_id}/enable"),
    Route::new("POST", "/v1/admin/webhooks/{endpoint_id}/disable"),
    Route::new("POST", "/v1/admin/webhooks/{endpoint_id}/rotate-secret"),
    Route::new("GET", "/v1/admin/webhooks/{endpoint_id}/deliveries"),
    Route::new("POST", "/v1/admin/webhooks/{endpoint_id}/redeliver"),
    Route::new("GET", "/v1/admin/changes"),
    Route::new("GET", "/v1/incidents"),
    Route::new("GET", "/v1/incidents/{id}"),
    Route::new("POST", "/v1/incidents/{id}/close"),
    Route::new("POST", "/v1/incidents/{id}/ask"),
    Route::new("POST", "/v1/incidents/{id}/breach"),
];

/// Which change a redelivery replays from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeliverBody {
    change_id: String,
}

/// `?limit=` (1–500), or `default`.
fn page_limit(req: &Request, default: usize) -> Result<usize, ApiError> {
    match request::query_param(req, "limit") {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| (1..=500).contains(n)).ok_or_else(|| Error::field("limit", "invalid").into()),
    }
}

/// What triage sends: the reasons an incident is not a breach, or the question to its reporter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriageBody {
    #[serde(default)]
    reasons: Option<String>,
    #[serde(default)]
    question: Option<String>,
}

/// A processor id from the path; one that cannot be an id names no processor.
fn processor_id(text: &str) -> Result<ProcessorId, Error> {
    ProcessorId::parse(text).ok_or(Error::ProcessorNotFound)
}

/// An incident id from the path; one that cannot be an id names no incident.
fn incident_id(text: &str) -> Result<IncidentId, Error> {
    IncidentId::parse(text).ok_or(Error::IncidentNotFound)
}

/// `?status=open|closed|all` (default `open`).
fn incident_filter(req: &Request) -> Result<IncidentFilter, Error> {
    match request::query_param(req, "status").as_deref() {
        None | Some("open") => Ok(IncidentFilter::Open),
        Some("closed") => Ok(IncidentFilter::Closed),
        Some("all") => Ok(IncidentFilter::All),
        Some(_) => Err(Error::field("status", "invalid")),
    }
}

/// A request id from the path; one that cannot be an id names no request.
fn request_id(text: &str) -> Result<RequestId, Error> {
    RequestId::parse(text).ok_or(Error::RequestNotFound)
}

/// `?status=open|closed` (default `open`) and, for open ones, `?due_within_days=N`.
async fn list_requests<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, now: Time) -> Answer {
    let due_within = match request::query_param(req, "due_within_days") {
        None => None,
        Some(days) => match days.parse::<i64>() {
            Ok(days @ 0..=3660) => Some(chrono::Duration::days(days)),
            _ => return Err(Error::field("due_within_days", "invalid").into()),
        },
    };
    let filter = match request::query_param(req, "status").as_deref() {
        None | Some("open") => RequestFilter::Open { due_within },
        Some("closed") if due_within.is_none() => RequestFilter::Closed,
        Some("closed") => return Err(Error::field("due_within_days", "only_for_open").into()),
        Some(_) => return Err(Error::field("status", "invalid").into()),
    };
    ok(StatusCode::OK, &app.requests(filter, now).await?)
}

/// `?drills=true` lists the drills, which the register (the default) leaves out.
fn drills_asked(req: &Request) -> Result<bool, Error> {
    match request::query_param(req, "drills").as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(Error::field("drills", "invalid")),
    }
}

/// A breach id from the path; one that cannot be an id names no breach.
fn breach_id(text: &str) -> Result<BreachId, Error> {
    BreachId::parse(text).ok_or(Error::BreachNotFound)
}

async fn save_form<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, id: &str, now: Time) -> Answer {
    let id = FormId::parse(id).ok_or_else(|| Error::field("form_id", "invalid"))?;
    let input: FormInput = body::json(req)?;
    let stored = app.save_form(id, input, now).await?;
    tracing::info!(operator = %op, form = %stored.form.id, notice = %stored.form.notice_version, "form saved");
    ok(StatusCode::OK, &FormView::of(&stored))
}

async fn show_form<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, id: &str) -> Answer {
    let id = FormId::parse(id).ok_or(Error::FormNotFound)?;
    ok(StatusCode::OK, &FormView::of(&app.form(&id).await?))
}

async fn lookup<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let body: LookupBody = body::json(req)?;
    let view = match (body.email, body.subject_id) {
        (Some(email), None) => app.lookup(&EmailAddress::parse(&email).map_err(|_| Error::field("email", "invalid"))?, now).await?,
        (None, Some(id)) => app.lookup_subject(&SubjectId::parse(&id).ok_or(Error::field("subject_id", "invalid"))?, now).await?,
        (None, None) => return Err(Error::field("email", "required").into()),
        (Some(_), Some(_)) => return Err(Error::field("subject_id", "not_with_email").into()),
    };
    tracing::info!(operator = %op, subject = %view.subject_id, verified = view.proof.verified, "subject looked up");
    ok(StatusCode::OK, &view)
}

async fn erase<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let body: EraseBody = body::json(req)?;
    let email = EmailAddress::parse(&body.email).map_err(|_| Error::field("email", "invalid"))?;
    let reason = body.reason.as_deref().map(str::trim).filter(|r| !r.is_empty() && r.len() <= 500);
    let reason = reason.ok_or_else(|| Error::field("reason", "required"))?;
    let subject = app.subject_id(&email);
    let already = matches!(app.erase_by_email(&email, now).await?, LinkOutcome::Erased { already: true });
    // The reason is the operator's own words and may name the person: it is not logged.
    tracing::info!(operator = %op, subject = %subject, already, reason_len = reason.len(), "subject erased by operator");
    let status = if already { ErasureStatus::AlreadyErased } else { ErasureStatus::Erased };
    ok(StatusCode::OK, &ErasureAnswer { subject_id: subject, status })
}

/// A correction the person asked the business for (Art. 16), entered by the operator.
async fn rectify<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let body: RectifyBody = body::json(req)?;
    let mut fields = Fields::default();
    let email = fields.check("email", EmailAddress::parse(&body.email).map_err(|_| "invalid"));
    let form_id = fields.check("form_id", FormId::parse(&body.form_id).ok_or("invalid"));
    let values = fields.check("fields", if body.fields.is_empty() { Err("required") } else { Ok(body.fields) });
    let (email, (form_id, values)) = fields.finish(email.zip(form_id.zip(values)))?;
    let correction = Correction { form_id, values: values.into_iter().collect() };
    let rectified = app.rectify(&app.subject_id(&email), &correction, Channel::Operator, None, now).await?;
    // The values are the person's data: only how many fields changed is logged.
    tracing::info!(operator = %op, subject = %rectified.subject_id, changed = rectified.changed.len(), "subject rectified by operator");
    ok(StatusCode::OK, &rectified)
}

/// An objection the person made to the business directly (Art. 21), recorded by the operator.
async fn object<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let body: ObjectBody = body::json(req)?;
    let mut fields = Fields::default();
    let email = fields.check("email", EmailAddress::parse(&body.email).map_err(|_| "invalid"));
    let purpose = fields.check("purpose", PurposeId::parse(&body.purpose).ok_or("invalid"));
    let (email, purpose) = fields.finish(email.zip(purpose))?;
    let subject = app.subject_id(&email);
    let objection = app.object(&subject, &purpose, Channel::Operator, None, now).await?;
    tracing::info!(operator = %op, subject = %subject, purpose = %purpose, "objection recorded by operator");
    ok(StatusCode::OK, &ObjectionAnswer { subject_id: subject, purpose, objection })
}

/// A restriction the person asked the business for directly (Art. 18(1)(a)–(c)).
async fn restrict<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let body: RestrictBody = body::json(req)?;
    let mut fields = Fields::default();
    let email = fields.check("email", EmailAddress::parse(&body.email).map_err(|_| "invalid"));
    let ground = fields.check("ground", Ground::parse(&body.ground).ok_or("invalid"));
    let (email, ground) = fields.finish(email.zip(ground))?;
    let restriction = app.restrict(&app.subject_id(&email), ground, Channel::Operator, None, now).await?;
    tracing::info!(operator = %op, subject = %restriction.subject_id, ground = ground.as_str(), "restriction recorded by operator");
    ok(StatusCode::OK, &restriction)
}

/// Lifts a restriction, telling the person first why (Art. 18(3)).
async fn lift_restriction<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let body: LiftBody = body::json(req)?;
    let email = EmailAddress::parse(&body.email).map_err(|_| Error::field("email", "invalid"))?;
    let lifted = app.lift_restriction(&app.subject_id(&email), body.reasons.as_deref().unwrap_or(""), now).await?;
    // The reasons are the operator's words and may name the person: not logged.
    tracing::info!(operator = %op, subject = %lifted.subject_id, purposes = lifted.purposes.len(), "restriction lifted by operator");
    ok(StatusCode::OK, &lifted)
}

async fn audience<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    req: &Request,
    op: &OperatorId,
    purpose: &str,
    now: Time,
) -> Answer {
    let purpose = PurposeId::parse(purpose).ok_or_else(|| Error::field("purpose", "invalid"))?;
    let cursor = request::query_param(req, "cursor");
    let (rows, next) = app.audience(&purpose, cursor.as_deref(), now).await?;
    tracing::info!(operator = %op, purpose = %purpose, rows = rows.len(), "audience exported");
    ok(StatusCode::OK, &AudiencePage::new(rows, next))
}

/// `?stream=public|notices` (default `notices`, the stream that must never fail) picks the sender
/// and configuration set the mail checks.
async fn start_smoke<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let stream = match request::query_param(req, "stream") {
        None => MailStream::Notices,
        Some(name) => MailStream::parse(&name).ok_or_else(|| Error::field("stream", "invalid"))?,
    };
    let run = SmokeRunId::new(ulid::Ulid::new());
    let sent = app.smoke_send(&run, stream, now).await?;
    tracing::info!(operator = %op, run = run.as_str(), stream = stream.as_str(), "smoke mail sent");
    ok(StatusCode::ACCEPTED, &sent)
}

async fn show_smoke<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, run: &str) -> Answer {
    let run = SmokeRunId::parse(run).ok_or(Error::SmokeRunNotFound)?;
    ok(StatusCode::OK, &app.smoke_run(&run).await?)
}

async fn issue_link<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let body: LinkBody = body::json(req)?;
    let mut fields = Fields::default();
    let email = fields.check("email", EmailAddress::parse(&body.email).map_err(|_| "invalid"));
    let action = fields.check("action", LinkAction::parse(&body.action).filter(|a| a.is_personal()).ok_or("invalid"));
    let purpose = match body.purpose.as_deref() {
        None => Some(None),
        Some(p) => fields.check("purpose", PurposeId::parse(p).ok_or("invalid")).map(Some),
    };
    let (email, (action, purpose)) = fields.finish(email.zip(action.zip(purpose)))?;
    let link = app.issue_link(&email, action, purpose, now).await?;
    tracing::info!(operator = %op, action = action.as_str(), "link issued");
    ok(StatusCode::OK, &link)
}

async fn register_breach<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, now: Time) -> Answer {
    let raw: Value = body::json(req)?;
    let input: BreachInput = body::from_value(raw.clone())?;
    ok(StatusCode::CREATED, &app.register_breach(BreachId::new(ulid::Ulid::new()), input, &raw, op, now).await?)
}

async fn add_timeline<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    req: &Request,
    op: &OperatorId,
    id: &str,
    now: Time,
) -> Answer {
    let id = breach_id(id)?;
    let input: TimelineInput = body::json(req)?;
    let new = NewEntry { event_id: EventId::new(ulid::Ulid::new()), breach_id: &id, by: op, at: now };
    ok(StatusCode::CREATED, &app.add_timeline(new, input).await?)
}

async fn escalate<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, op: &OperatorId, id: &str, now: Time) -> Answer {
    let id = breach_id(id)?;
    let key = request::header(req, "idempotency-key").and_then(|k| IdempotencyKey::parse(k.trim()));
    let raw: Value = body::json(req)?;
    ok(StatusCode::ACCEPTED, &app.escalate(&id, key, &raw, op, now).await?)
}

/// What an escalation would do, with each language's notice rendered as the notifier renders it.
async fn preview_escalation<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, id: &str) -> Answer {
    let id = breach_id(id)?;
    let raw: Value = body::json(req)?;
    let preview = app.preview_escalation(&id, &raw).await?;
    let notices = preview
        .notices
        .iter()
        .map(|m| {
            let mail = zgoda_web::mailer::render_message(m, &app.settings.controller);
            PreviewedNotice { lang: mail.lang, subject: mail.subject, text: mail.text }
        })
        .collect();
    ok(StatusCode::OK, &PreviewAnswer { preview: &preview, notices })
}

/// What `POST /v1/breaches/{id}/escalation-preview` answers: the domain's preview, with each
/// language's notice rendered exactly as the notifier will send it.
#[derive(Serialize)]
struct PreviewAnswer<'a> {
    #[serde(flatten)]
    preview: &'a zgoda_domain::escalation::EscalationPreview,
    notices: Vec<PreviewedNotice>,
}

#[derive(Serialize)]
struct PreviewedNotice {
    lang: Lang,
    subject: String,
    text: String,
}

async fn escalation_progress<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, id: &str, escalation: &str) -> Answer {
    let id = breach_id(id)?;
    let escalation = EscalationId::parse(escalation).ok_or(Error::EscalationNotFound)?;
    ok(StatusCode::OK, &app.escalation_progress(&id, &escalation).await?)
}

/// A document's language (`?lang=`, Polish unless asked) for the authority or the DPO.
fn document_lang(req: &Request) -> Result<Lang, Error> {
    match request::query_param(req, "lang").as_deref() {
        None => Ok(Lang::Pl),
        Some(l) => l.parse().map_err(|_| Error::field("lang", "invalid")),
    }
}

/// A document as Markdown (the default) or as its JSON (`?format=json`).
fn document<T: serde::Serialize>(req: &Request, doc: &T, markdown: impl FnOnce(&T) -> String) -> Answer {
    match request::query_param(req, "format").as_deref() {
        None | Some("md") => Ok(respond::markdown(markdown(doc))),
        Some("json") => ok(StatusCode::OK, doc),
        Some(_) => Err(Error::field("format", "invalid").into()),
    }
}

async fn report<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, id: &str, now: Time) -> Answer {
    let id = breach_id(id)?;
    let report = app.report(&id, document_lang(req)?, now).await?;
    document(req, &report, |r| r.to_markdown())
}

/// The record of processing activities (Art. 30(1)) from the forms and processors.
async fn records<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request) -> Answer {
    let record = app.records(document_lang(req)?).await?;
    document(req, &record, zgoda_domain::records::markdown)
}

/// A lookup names the person by address, or by the keyed-hash id a summary owner notice gives.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupBody {
    email: Option<String>,
    subject_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    email: String,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RectifyBody {
    email: String,
    form_id: String,
    /// New values by field name; an empty one removes a field the form does not require.
    fields: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestrictBody {
    email: String,
    ground: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LiftBody {
    email: String,
    reasons: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectBody {
    email: String,
    purpose: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    email: String,
    action: String,
    purpose: Option<String>,
}

/// When the function reads its key rings ([`zgoda_web::app::Starting`]).
/// Every request is verified with an operator key: the rings are read as the function starts.
pub const RINGS: zgoda_web::app::ReadRings = zgoda_web::app::ReadRings::AtStart;

/// What the operator API may do in AWS, and no more (`zgoda_aws::access` says how it is held to it).
pub const ACCESS: Access = Access {
    table: &[
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:DescribeTable",
    ],
    // The breach list, audiences, events by form; and an erasure's unsent breach notices.
    index: true,
    key_rings: &KeyFamily::ALL,
    // The end-to-end check's mail to SES's mailbox simulator (`zgoda doctor`), on either stream.
    mail: &MailStream::ALL,
    notice_queue: &["sqs:SendMessage"],
    // The operator's erasure: SES's copy of the address goes too.
    suppression_list: true,
    ..Access::NONE
};
