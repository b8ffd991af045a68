//! The operator function: the authenticated API for the business (API.md §4). Every route is
//! signed; the key id that signed names the operator in the logs.

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use zgoda_domain::email::EmailAddress;
use zgoda_domain::form::FormInput;
use zgoda_domain::ids::FormId;
use zgoda_domain::mail::Mailer;
use zgoda_domain::store::{Store, StoredForm};
use zgoda_domain::{Error, Time, Zgoda};
use zgoda_web::auth::authenticate;
use zgoda_web::request::segments;
use zgoda_web::{ApiError, body, respond};

pub async fn handle<S: Store, M: Mailer>(app: &Zgoda<S, M>, req: Request, now: Time) -> Response<Body> {
    if segments(&req).as_slice() == ["healthz"] {
        return respond::health(&app.store).await;
    }
    match route(app, &req, now).await {
        Ok(resp) => resp,
        Err(e) => e.to_json_response(),
    }
}

async fn route<S: Store, M: Mailer>(app: &Zgoda<S, M>, req: &Request, now: Time) -> Result<Response<Body>, ApiError> {
    // Authenticate before routing, so an unsigned caller learns nothing about which routes exist.
    let operator = authenticate(app, req, now).await?;
    let segs = segments(req);
    let (status, value) = match (req.method().clone(), segs.as_slice()) {
        (Method::PUT, ["v1", "admin", "forms", id]) => {
            let id = FormId::parse(id).ok_or_else(|| Error::field("form_id", "invalid"))?;
            let input: FormInput = body::json(req)?;
            let stored = app.save_form(id, input, now).await?;
            tracing::info!(operator = %operator.0, form = %stored.form.id, notice = %stored.form.notice_version, "form saved");
            (StatusCode::OK, form_view(&stored))
        }
        (Method::GET, ["v1", "admin", "forms", id]) => {
            let id = FormId::parse(id).ok_or(Error::FormNotFound)?;
            (StatusCode::OK, form_view(&app.form(&id).await?))
        }
        (Method::POST, ["v1", "admin", "subjects", "lookup"]) => {
            let body: EmailBody = body::json(req)?;
            let email = EmailAddress::parse(&body.email).map_err(|_| Error::field("email", "invalid"))?;
            let view = app.lookup(&email, now).await?;
            tracing::info!(operator = %operator.0, subject = %view.subject_id, verified = view.proof.verified, "subject looked up");
            (StatusCode::OK, json!(view))
        }
        (_, ["v1", "admin", "forms", _] | ["v1", "admin", "subjects", "lookup"]) => return Err(ApiError::MethodNotAllowed),
        _ => return Err(ApiError::NotFound),
    };
    Ok(respond::json(status, &value))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

/// The stored form as the operator API shows it: the configuration, the current notice with the
/// SHA-256 of each text, and every version ever stored.
pub fn form_view(stored: &StoredForm) -> Value {
    let f = &stored.form;
    let current = stored.notices.iter().find(|n| n.version == f.notice_version);
    let mut notices: Vec<_> = stored
        .notices
        .iter()
        .map(|n| json!({"version": n.version, "sha256": n.sha256, "retired": f.retired_notices.contains(&n.version)}))
        .collect();
    notices.sort_by(|a, b| a["version"].as_str().cmp(&b["version"].as_str()));
    json!({
        "id": f.id, "name": f.name, "allowed_origins": f.allowed_origins,
        "success_url": f.success_url, "error_url": f.error_url, "default_lang": f.default_lang,
        "fields": f.fields, "purposes": f.purposes, "notify": f.notify, "retention_days": f.retention_days,
        "notice": current.map(|n| json!({"version": n.version, "texts": n.texts, "sha256": n.sha256})),
        "retired_notices": f.retired_notices, "notices": notices,
        "updated_at": zgoda_domain::proof::format_time(&f.updated_at),
    })
}
