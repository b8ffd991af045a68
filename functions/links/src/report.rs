//! The incident pages (the seed's first step), and a processor's signed report: a reporting link's page, where staff and partners
//! report a suspected incident, and the page where a reporter answers the DPO's question. Both are
//! reached by a signed link and need no login; neither is a dead end: a wrong or withdrawn link
//! says whom to write to instead.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use zgoda_domain::incidents::ReportForm;
use zgoda_domain::lang::Lang;
use zgoda_domain::mail::Mailer;
use zgoda_domain::processors::WebhookHeaders;
use zgoda_domain::store::{Store, WorkQueue};
use zgoda_domain::{Error, Time, Zgoda};
use zgoda_web::ApiError;
use zgoda_web::body::{self, Encoding};
use zgoda_web::pages::{render, text};
use zgoda_web::request;
use zgoda_web::respond;

use crate::page_lang;

/// The form fields of a POST, urlencoded or multipart.
async fn form_pairs(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    let bytes = body::bytes(req)?;
    match body::encoding(req) {
        Some(Encoding::UrlEncoded) => body::parse_urlencoded(bytes),
        Some(Encoding::Multipart) => body::parse_multipart(request::header(req, "content-type").unwrap_or(""), bytes).await,
        _ if bytes.is_empty() => Ok(Vec::new()),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A page that ends a visit: what happened, the reference, and where to go next.
fn done(app_controller: &zgoda_domain::controller::ControllerProfile, lang: Lang, status: StatusCode, ctx: Value) -> Response<Body> {
    respond::html(status, render("report_done.html", lang, Some(app_controller), ctx))
}

/// A link that is not (or no longer) a reporting or answer link: whom to write to instead.
fn link_problem<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, err: Error, lang: Lang) -> Response<Body> {
    let err = ApiError::Domain(err);
    let status = match &err {
        ApiError::Domain(Error::InvalidLink | Error::LinkExpired { .. }) => err.status(),
        _ => return zgoda_web::pages::error(&err, lang),
    };
    err.log();
    let contact = app.settings.controller.privacy_contact().as_str();
    let ctx = json!({
        "title": text(lang, "report.invalid_title", &[]),
        "message": text(lang, "report.invalid", &[("contact", contact)]),
        "outcome": err.code(),
    });
    done(&app.settings.controller, lang, status, ctx)
}

fn report_form(lang: Lang, channel: &str, values: &Value, errors: &[zgoda_domain::FieldError]) -> Value {
    let errors: Vec<Value> = errors
        .iter()
        .map(|e| {
            let message = zgoda_web::pages::texts(lang, "codes")[e.code].as_str().unwrap_or(e.code).to_owned();
            json!({"field": e.field, "label": text(lang, &format!("report.{}", e.field), &[]), "message": message})
        })
        .collect();
    json!({"channel": channel, "values": values, "errors": errors})
}

pub(crate) async fn report_page<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    req: &Request,
    token: &str,
    now: Time,
) -> Response<Body> {
    let asked = crate::asked_lang(req);
    match app.reporting_page(token, now).await {
        Ok(page) => {
            let lang = asked.unwrap_or(page.channel.lang);
            let ctx = report_form(lang, &page.channel.name, &json!({}), &[]);
            respond::html(StatusCode::OK, render("report.html", lang, Some(&app.settings.controller), ctx))
        }
        Err(e) => link_problem(app, e, asked.unwrap_or(Lang::Pl)),
    }
}

pub(crate) async fn report_post<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    req: &Request,
    token: &str,
    now: Time,
) -> Response<Body> {
    let lang = page_lang(req);
    let pairs = match form_pairs(req).await {
        Ok(p) => p,
        Err(e) => return zgoda_web::pages::error(&e, lang),
    };
    let form = ReportForm {
        what: get(&pairs, "what"),
        when: get(&pairs, "when"),
        data: get(&pairs, "data"),
        noticed_by: get(&pairs, "noticed_by"),
        contact_email: get(&pairs, "contact_email"),
        contact_phone: get(&pairs, "contact_phone"),
    };
    match app.report_incident(token, &form, lang, now).await {
        Ok(incident) => {
            let ctx = json!({
                "title": text(lang, "report.received_title", &[]),
                "message": text(lang, "report.received", &[]),
                "outcome": "received",
                "reference": incident.incident_id,
                "again": format!("?lang={lang}"),
            });
            done(&app.settings.controller, lang, StatusCode::CREATED, ctx)
        }
        Err(Error::Validation(errors)) => {
            // The page again, with what was typed and each problem named: nothing is lost.
            let channel = app.reporting_page(token, now).await.map(|p| p.channel.name).unwrap_or_default();
            let values: serde_json::Map<String, Value> = pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            let ctx = report_form(lang, &channel, &Value::Object(values), &errors);
            respond::html(StatusCode::UNPROCESSABLE_ENTITY, render("report.html", lang, Some(&app.settings.controller), ctx))
        }
        Err(e) => link_problem(app, e, lang),
    }
}

pub(crate) async fn answer_page<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    req: &Request,
    token: &str,
    now: Time,
) -> Response<Body> {
    let asked = crate::asked_lang(req);
    match app.answer_page(token, now).await {
        Ok(page) => {
            let lang = asked.unwrap_or(page.lang);
            let ctx = json!({"reference": page.incident_id, "question": page.question});
            respond::html(StatusCode::OK, render("answer.html", lang, Some(&app.settings.controller), ctx))
        }
        Err(e) => link_problem(app, e, asked.unwrap_or(Lang::Pl)),
    }
}

pub(crate) async fn answer_post<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    req: &Request,
    token: &str,
    now: Time,
) -> Response<Body> {
    let lang = page_lang(req);
    let pairs = match form_pairs(req).await {
        Ok(p) => p,
        Err(e) => return zgoda_web::pages::error(&e, lang),
    };
    match app.answer_incident(token, get(&pairs, "answer"), now).await {
        Ok(page) => {
            let ctx = json!({
                "title": text(lang, "report.answered_title", &[]),
                "message": text(lang, "report.answered", &[]),
                "outcome": "answered",
                "reference": page.incident_id,
            });
            done(&app.settings.controller, lang, StatusCode::OK, ctx)
        }
        Err(Error::Validation(errors)) if errors.iter().all(|e| e.code == "required") => {
            let page = app.answer_page(token, now).await.ok();
            let ctx = json!({
                "reference": page.as_ref().map(|p| p.incident_id.to_string()),
                "question": page.and_then(|p| p.question),
                "errors": true,
            });
            respond::html(StatusCode::UNPROCESSABLE_ENTITY, render("answer.html", lang, Some(&app.settings.controller), ctx))
        }
        Err(e) => link_problem(app, e, lang),
    }
}

/// A processor's breach report, machine to machine (Art. 33(2), 28(3)(f)): signed under its own
/// key in the Standard Webhooks scheme. Anything unsigned, wrongly signed, stale, replayed or for
/// an unknown processor is 401 and stores nothing; the answer never says which.
pub(crate) async fn processor_webhook<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    req: &Request,
    processor: &str,
    now: Time,
) -> Response<Body> {
    let answer = async {
        let bytes = body::bytes(req)?;
        if body::encoding(req) != Some(Encoding::Json) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let headers = WebhookHeaders {
            id: request::header(req, "webhook-id"),
            timestamp: request::header(req, "webhook-timestamp"),
            signature: request::header(req, "webhook-signature"),
        };
        match app.processor_report(processor, &headers, bytes, now).await {
            Err(_) => Err(ApiError::Unauthorized),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(incident)) => Ok(respond::json(
                StatusCode::CREATED,
                &json!({"incident_id": incident.incident_id, "status": incident.status(), "reported_at": zgoda_domain::proof::format_time(&incident.reported_at)}),
            )),
        }
    };
    answer.await.unwrap_or_else(|e| e.to_json_response())
}
