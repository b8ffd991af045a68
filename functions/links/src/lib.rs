//! The links function: pages and actions behind the signed links in e-mails (docs/api.md §2), and the
//! public privacy-request page (§3). GET and HEAD only ever read; POST acts. The token is the
//! whole authorization, so nothing here needs a cookie or a login.

mod report;

use http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use zgoda_aws::access::{Access, ITEM_READ_WRITE};
use zgoda_domain::choices::{Choice, ChoiceItem, Objection, Right};
use zgoda_domain::controller::ControllerProfile;
use zgoda_domain::email::EmailAddress;
use zgoda_domain::form::FieldKind;
use zgoda_domain::ids::{FormId, NoticeId, PurposeId};
use zgoda_domain::keys::KeyFamily;
use zgoda_domain::lang::Lang;
use zgoda_domain::links::{LinkInput, LinkOutcome};
use zgoda_domain::mail::{MailStream, Mailer};
use zgoda_domain::origin::WebOrigin;
use zgoda_domain::privacy_requests::Asked;
use zgoda_domain::proof_of_work;
use zgoda_domain::rectification::{Correction, HeldField};
use zgoda_domain::restriction::Ground;
use zgoda_domain::service::Settings;
use zgoda_domain::store::{PrivacyRequestKind, Store, WorkQueue};
use zgoda_domain::token::LinkAction;
use zgoda_domain::{Error, Fields, Time, Zgoda};
use zgoda_web::body::{self, Encoding};
use zgoda_web::pages::{render, text};
use zgoda_web::request::{self, segments};
use zgoda_web::routes::{self, Route};
use zgoda_web::{ApiError, respond};

/// [`handle`] over the deployed adapters, compiled once, here: the Lambda binary, the local stack
/// and the tests call this rather than each compiling its own copy of the handler (an optimized
/// build instantiates a generic anew in each crate that names it).
pub async fn handle_app(app: &zgoda_web::App, req: Request, now: Time) -> Response<Body> {
    handle(app, req, now).await
}

/// Answers one request on a deployed instance (the Lambda binary). A page that needs no key
/// ([`keyless`]: the privacy page, where anyone may start a request) is answered at once, on a
/// cold instance too, without waiting for the key rings ([`zgoda_web::app::Starting`]).
pub async fn answer(starting: &zgoda_web::app::Starting, req: Request, now: Time) -> Response<Body> {
    match keyless(starting.settings(), &req) {
        Some(page) => page,
        None => starting.answer(|app| keyed(app, req, now)).await,
    }
}

pub async fn handle<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: Request, now: Time) -> Response<Body> {
    match keyless(&app.settings, &req) {
        Some(page) => page,
        None => keyed(app, req, now).await,
    }
}

/// The routes that need the app: every one but [`keyless`]'s.
async fn keyed<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: Request, now: Time) -> Response<Body> {
    let segs = segments(&req);
    match (req.method().clone(), segs.as_slice()) {
        (Method::GET | Method::HEAD, ["v1", "links", token]) => link_page(app, &req, token, now).await,
        (Method::POST, ["v1", "links", token]) => link_post(app, &req, token, now).await,
        (Method::GET | Method::HEAD, ["v1", "privacy", "challenge"]) => privacy_challenge(app, &req, now),
        (Method::POST, ["v1", "privacy", "requests"]) => privacy_request(app, &req, now).await,
        (Method::GET | Method::HEAD, ["v1", "notices", id]) => public_notice(app, &req, id).await,
        (Method::GET | Method::HEAD, ["v1", "report", token]) => report::report_page(app, &req, token, now).await,
        (Method::POST, ["v1", "report", token]) => report::report_post(app, &req, token, now).await,
        (Method::GET | Method::HEAD, ["v1", "report", "answer", token]) => report::answer_page(app, &req, token, now).await,
        (Method::POST, ["v1", "report", "answer", token]) => report::answer_post(app, &req, token, now).await,
        (Method::POST, ["v1", "processors", id, "incidents"]) => report::processor_webhook(app, &req, id, now).await,
        _ => routes::not_routed(ROUTES, &req).to_json_response(),
    }
}

/// What API Gateway routes here (`infra/template.yaml`, held to this table by a test).
pub const ROUTES: &[Route] = &[
    Route::new("GET", "/v1/links/{token}"),
    Route::new("HEAD", "/v1/links/{token}"),
    Route::new("POST", "/v1/links/{token}"),
    Route::new("GET", "/v1/privacy"),
    Route::new("GET", "/v1/privacy/challenge"),
    Route::new("GET", "/v1/privacy/script.js"),
    Route::new("POST", "/v1/privacy/requests"),
    Route::new("GET", "/v1/notices/{public_id}"),
    Route::new("GET", "/v1/report/{token}"),
    Route::new("HEAD", "/v1/report/{token}"),
    Route::new("POST", "/v1/report/{token}"),
    Route::new("GET", "/v1/report/answer/{token}"),
    Route::new("HEAD", "/v1/report/answer/{token}"),
    Route::new("POST", "/v1/report/answer/{token}"),
    Route::new("POST", "/v1/processors/{processor_id}/incidents"),
];

/// The language a request asks for: `?lang=` wins, then `Accept-Language`.
pub(crate) fn asked_lang(req: &Request) -> Option<Lang> {
    request::query_param(req, "lang").and_then(|l| l.parse().ok()).or(request::accept_language(req))
}

/// The language a request asks for, else Polish (a link's page adds the person's own between).
pub(crate) fn page_lang(req: &Request) -> Lang {
    asked_lang(req).unwrap_or(Lang::Pl)
}

/// A link's error page: what went wrong, what to do, and (no page is a dead end) the way to the
/// privacy page, where a new link can be asked for.
fn link_error(err: ApiError, lang: Lang, settings: &Settings) -> Response<Body> {
    err.log();
    let (title, message, renew) = match &err {
        ApiError::Domain(Error::InvalidLink) => (text(lang, "link.invalid_title", &[]), text(lang, "link.invalid_body", &[]), false),
        ApiError::Domain(Error::LinkExpired { renewable: true }) => {
            (text(lang, "link.expired_title", &[]), text(lang, "link.expired_body", &[]), true)
        }
        ApiError::Domain(Error::LinkUsed) => (text(lang, "link.used_title", &[]), text(lang, "link.used_body", &[]), false),
        ApiError::Domain(Error::LinkExpired { renewable: false }) => {
            (text(lang, "link.expired_title", &[]), text(lang, "link.expired_confirm", &[]), false)
        }
        _ => return zgoda_web::pages::error(&err, lang),
    };
    let privacy = settings.public_url.join(&format!("/v1/privacy?lang={lang}"));
    let ctx = json!({"title": title, "message": message, "code": err.code(), "renew": renew, "privacy_url": privacy});
    let page = render("link_error.html", lang, Some(&settings.controller), ctx);
    respond::html(err.status(), page)
}

async fn link_page<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, token: &str, now: Time) -> Response<Body> {
    let preview = match app.preview_link(token, asked_lang(req), now).await {
        Ok(p) => p,
        Err(e) => return link_error(e.into(), page_lang(req), &app.settings),
    };
    let lang = preview.lang.unwrap_or(Lang::Pl);
    if preview.claims.action == LinkAction::Choices {
        return match app.choices(&preview.claims.subject, lang, now).await {
            Ok(items) => respond::html(StatusCode::OK, choices_page(&items, lang, &app.settings.controller)),
            Err(e) => link_error(e.into(), lang, &app.settings),
        };
    }
    if preview.claims.action == LinkAction::Rectify {
        return match app.held_fields(&preview.claims.subject, lang).await {
            Ok(fields) => respond::html(StatusCode::OK, rectify_page(&fields, lang, &app.settings.controller)),
            Err(e) => link_error(e.into(), lang, &app.settings),
        };
    }
    let purpose = purpose_label(app, preview.claims.purpose.as_ref(), lang, now).await;
    respond::html(StatusCode::OK, zgoda_web::pages::link_page(lang, preview.claims.action, &purpose, &app.settings.controller))
}

/// The person's choices page: each purpose, its state in words, and the one button it offers.
fn choices_page(items: &[ChoiceItem], lang: Lang, controller: &ControllerProfile) -> String {
    let items: Vec<_> = items
        .iter()
        .map(|i| {
            json!({
                "id": i.purpose.id,
                "label": i.purpose.label,
                "status": i.status.as_str(),
                "state": text(lang, &format!("status.{}", i.status.as_str()), &[]),
                "offers": i.offers.map(Right::as_str),
            })
        })
        .collect();
    // Restriction (Art. 18(1)(a)–(c)) stops what is in use: offered while anything is.
    let restrictable = items.iter().any(|i| matches!(i["status"].as_str(), Some("given" | "informed")));
    render("choices.html", lang, Some(controller), json!({ "items": items, "restrictable": restrictable }))
}

/// The person's rectify page: each form's fields with their current values, to correct, and a
/// way to change the address.
fn rectify_page(fields: &[HeldField], lang: Lang, controller: &ControllerProfile) -> String {
    let mut forms: Vec<(&FormId, Vec<serde_json::Value>)> = Vec::new();
    for f in fields {
        let input = match f.kind {
            FieldKind::Email => "email",
            FieldKind::Phone => "tel",
            FieldKind::Text | FieldKind::Textarea => "text",
        };
        let field = json!({"name": f.name, "label": f.label, "kind": f.kind, "input": input, "required": f.required, "max_len": f.max_len, "value": f.value});
        match forms.iter_mut().find(|(id, _)| *id == &f.form_id) {
            Some((_, list)) => list.push(field),
            None => forms.push((&f.form_id, vec![field])),
        }
    }
    let forms: Vec<_> = forms.into_iter().map(|(id, fields)| json!({"id": id, "fields": fields})).collect();
    render("rectify.html", lang, Some(controller), json!({ "forms": forms }))
}

/// The words a link page uses for its purpose (none for access and erasure links).
async fn purpose_label<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    purpose: Option<&PurposeId>,
    lang: Lang,
    now: Time,
) -> String {
    match purpose {
        Some(id) => app.purpose_name(id, lang, now).await,
        None => String::new(),
    }
}

/// What a link POST carried: a request to renew an expired link, or what a choices or rectify
/// page's button sent.
#[derive(Default)]
struct LinkBody {
    renew: bool,
    input: LinkInput,
}

/// Names a rectify page's form posts beside its fields.
const RECTIFY_RESERVED: &[&str] = &["form_id", "lang", "renew"];

/// The body a link POST may carry: nothing, the page's button, or RFC 8058's
/// `List-Unsubscribe=One-Click`, urlencoded or multipart.
async fn link_body(req: &Request, lang: Lang) -> Result<LinkBody, ApiError> {
    let bytes = body::bytes(req)?;
    if bytes.is_empty() {
        return Ok(LinkBody::default());
    }
    let pairs = match body::encoding(req) {
        Some(Encoding::UrlEncoded) => body::parse_urlencoded(bytes)?,
        Some(Encoding::Multipart) => body::parse_multipart(request::header(req, "content-type").unwrap_or(""), bytes).await?,
        _ => return Err(ApiError::UnsupportedMediaType),
    };
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let input = if let Some(form_id) = get("form_id") {
        let form_id = FormId::parse(form_id).ok_or_else(|| Error::field("form_id", "invalid"))?;
        let values = pairs.iter().filter(|(k, _)| !RECTIFY_RESERVED.contains(&k.as_str())).cloned().collect();
        LinkInput::Correction(Correction { form_id, values })
    } else if let Some(ground) = get("ground") {
        LinkInput::Restrict(Ground::parse(ground).ok_or_else(|| Error::field("ground", "invalid"))?)
    } else if let Some(email) = get("email") {
        LinkInput::NewAddress(EmailAddress::parse(email.trim()).map_err(|e| Error::field("email", e.code()))?, Some(lang))
    } else {
        match (get("purpose"), get("right")) {
            (None, None) => LinkInput::Nothing,
            (purpose, right) => {
                let mut fields = Fields::default();
                let purpose = fields.required("purpose", purpose.map(|p| PurposeId::parse(p).ok_or("invalid")));
                let right = fields.required("right", right.map(|r| Right::parse(r).ok_or("invalid")));
                let (purpose, right) = fields.finish(purpose.zip(right))?;
                LinkInput::Choice(Choice { purpose, right })
            }
        }
    };
    Ok(LinkBody { renew: get("renew") == Some("1"), input })
}

async fn link_post<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, token: &str, now: Time) -> Response<Body> {
    // The page's button posts to its own URL, `?lang=` included, so the answer stays in its language.
    let lang = page_lang(req);
    let body = match link_body(req, lang).await {
        Ok(b) => b,
        Err(e) => return link_error(e, lang, &app.settings),
    };
    if body.renew {
        return match app.renew_link(token, now).await {
            Ok(()) => {
                done_page(lang, &app.settings.controller, text(lang, "link.expired_title", &[]), text(lang, "link.renewed", &[]), "renewed")
            }
            Err(e) => link_error(e.into(), lang, &app.settings),
        };
    }
    let (claims, outcome) = match app.act_on_link_with(token, &body.input, request::client_ip(req), now).await {
        Ok(r) => r,
        Err(e) => return link_error(e.into(), lang, &app.settings),
    };
    // A choices link names its purpose in the choice, not in the token.
    let chosen = match &body.input {
        LinkInput::Choice(c) => Some(&c.purpose),
        _ => None,
    };
    let purpose = purpose_label(app, claims.purpose.as_ref().or(chosen), lang, now).await;
    let action = claims.action.as_str();
    let title = text(lang, &format!("link.{action}.title"), &[]);
    match outcome {
        // The page's button (a browser) gets the page, with the file in it; any other client the file.
        LinkOutcome::Export(export) if request::wants_html(req) => {
            respond::html(StatusCode::OK, zgoda_web::access_page::page(&export, lang, &app.settings.controller))
        }
        LinkOutcome::Export(export) => attachment(&export, lang),
        LinkOutcome::Withdrawn { already, .. }
        | LinkOutcome::Confirmed { already, .. }
        | LinkOutcome::Erased { already }
        | LinkOutcome::AddressChanged { already } => {
            let key = if already { "already" } else { "done" };
            done_page(lang, &app.settings.controller, title, text(lang, &format!("link.{action}.{key}"), &[("purpose", &purpose)]), key)
        }
        LinkOutcome::Rectified(rectified) => {
            let (key, labels) = match rectified.changed.is_empty() {
                true => ("unchanged", String::new()),
                false => ("done", field_labels(app, &body.input, &rectified.changed, lang).await),
            };
            done_page(lang, &app.settings.controller, title, text(lang, &format!("link.rectify.{key}"), &[("fields", &labels)]), key)
        }
        LinkOutcome::Restricted(restriction) => {
            let key = if restriction.already { "restricted_already" } else { "restricted_all" };
            done_page(lang, &app.settings.controller, title, text(lang, &format!("link.choices.{key}"), &[]), key)
        }
        LinkOutcome::AddressChangeSent => {
            done_page(lang, &app.settings.controller, title, text(lang, "link.rectify.address_sent", &[]), "address_sent")
        }
        LinkOutcome::Objected(objection) => {
            let (key, due) = match objection {
                Objection::Stopped { already: false } => ("stopped", String::new()),
                Objection::Stopped { already: true } => ("stopped_already", String::new()),
                Objection::Restricted { due_at, .. } => ("restricted", due_at.format("%Y-%m-%d").to_string()),
            };
            let message = text(lang, &format!("link.choices.{key}"), &[("purpose", &purpose), ("due", &due)]);
            done_page(lang, &app.settings.controller, title, message, key)
        }
    }
}

/// The fields a correction changed, as the person's form calls them in `lang`.
async fn field_labels<S: Store, M: Mailer, Q: WorkQueue>(
    app: &Zgoda<S, M, Q>,
    input: &LinkInput,
    changed: &[String],
    lang: Lang,
) -> String {
    let form = match input {
        LinkInput::Correction(c) => app.form(&c.form_id).await.ok(),
        _ => None,
    };
    let label = |name: &String| form.as_ref().map_or(name.as_str(), |f| f.form.field_label(name, lang)).to_owned();
    changed.iter().map(label).collect::<Vec<_>>().join(", ")
}

fn done_page(lang: Lang, controller: &ControllerProfile, title: String, message: String, outcome: &str) -> Response<Body> {
    respond::html(
        StatusCode::OK,
        render("link_done.html", lang, Some(controller), json!({"title": title, "message": message, "outcome": outcome})),
    )
}

/// The Art. 15/20 export as a file download, explained in `lang`.
fn attachment(export: &zgoda_domain::access::AccessExport, lang: Lang) -> Response<Body> {
    let mut resp = respond::json(StatusCode::OK, &zgoda_web::access_page::document(export, lang));
    let name = format!("attachment; filename=\"{}\"", zgoda_web::access_page::file_name(export));
    resp.headers_mut().insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&name).expect("ASCII"));
    resp.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// An Art. 34(3)(c) public communication.
async fn public_notice<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, id: &str) -> Response<Body> {
    let lang = page_lang(req);
    let found = match NoticeId::parse(id) {
        Some(id) => app.public_notice(&id).await,
        None => Err(Error::NoticeNotFound),
    };
    match found {
        Ok(notice) => {
            // The page speaks the language its facts are written in, whichever was asked for.
            let told = notice.told_in(lang);
            let ctx = json!({"notice": &notice, "told": &told});
            let mut page = respond::html(StatusCode::OK, render("notice.html", told.lang, Some(&app.settings.controller), ctx));
            // A public notice is meant to be found (Art. 34(3)(c): "equally effective"); a drill's is not.
            if !notice.drill {
                page.headers_mut().remove("x-robots-tag");
            }
            page
        }
        Err(e) => zgoda_web::pages::error(&e.into(), lang),
    }
}

/// The pages made from the settings alone, which need no key and no store: the privacy page
/// and its script. `None` for every other request.
fn keyless(settings: &Settings, req: &Request) -> Option<Response<Body>> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    match segments(req).as_slice() {
        ["v1", "privacy"] => Some(privacy_page(settings, req)),
        ["v1", "privacy", "script.js"] => Some(respond::script(zgoda_web::pages::PRIVACY_SCRIPT)),
        _ => None,
    }
}

fn privacy_page(settings: &Settings, req: &Request) -> Response<Body> {
    let lang = page_lang(req);
    let base = &settings.public_url;
    let ctx = json!({
        "action": base.join("/v1/privacy/requests"),
        "challenge": base.join("/v1/privacy/challenge"),
        "script": base.join("/v1/privacy/script.js"),
    });
    respond::html_posting_form_with_script(StatusCode::OK, render("privacy.html", lang, Some(&settings.controller), ctx))
}

/// A proof-of-work challenge for one privacy request (security review H2). Readable from the
/// origins that may post privacy requests, so their own pages can solve one too.
fn privacy_challenge<S, M, Q>(app: &Zgoda<S, M, Q>, req: &Request, now: Time) -> Response<Body> {
    let mut resp = respond::json(StatusCode::OK, &app.privacy_challenge(now));
    if let Some(origin) = request::origin(req).filter(|o| privacy_origin_allowed(app, o)) {
        respond::allow_origin(&mut resp, &origin);
    }
    resp
}

/// The origins allowed to post privacy requests: zgoda's own page, plus any configured.
fn privacy_origin_allowed<S, M, Q>(app: &Zgoda<S, M, Q>, origin: &WebOrigin) -> bool {
    origin == app.settings.public_url.origin() || app.settings.privacy_origins.contains(origin)
}

async fn privacy_request<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, req: &Request, now: Time) -> Response<Body> {
    let json_client = request::wants_json(req) || body::encoding(req) == Some(Encoding::Json);
    let lang_hint = page_lang(req);
    let result = async {
        let origin = request::origin(req).filter(|o| privacy_origin_allowed(app, o)).ok_or(ApiError::OriginNotAllowed)?;
        let (raw, _) = body::submission(req).await?;
        let get = |name: &str| raw.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned());
        let mut fields = Fields::default();
        let email = fields.required("email", get("email").map(|e| EmailAddress::parse(&e).map_err(|e| e.code())));
        let kind = fields.check("kind", get("kind").as_deref().and_then(PrivacyRequestKind::parse).ok_or("invalid"));
        let proof =
            fields.check(proof_of_work::FIELD, app.check_privacy_proof(get(proof_of_work::FIELD).as_deref(), now).map_err(|e| e.code()));
        let lang = get("lang").and_then(|l| l.parse().ok()).unwrap_or(lang_hint);
        let (email, (kind, proof)) = fields.finish(email.zip(kind.zip(proof)))?;
        app.privacy_request(Asked::new(email, kind, lang), &proof, request::client_ip(req), now).await?;
        Ok::<_, ApiError>((origin, lang))
    }
    .await;
    match result {
        Ok((origin, lang)) => {
            let mut resp = if json_client {
                respond::json(StatusCode::ACCEPTED, &json!({"status": "accepted"}))
            } else {
                let ctx = json!({"title": text(lang, "privacy.accepted_title", &[]), "message": text(lang, "privacy.accepted_body", &[]), "outcome": "accepted"});
                respond::html(StatusCode::ACCEPTED, render("link_done.html", lang, Some(&app.settings.controller), ctx))
            };
            respond::allow_origin(&mut resp, &origin);
            resp
        }
        Err(e) if json_client => e.to_json_response(),
        Err(e) => zgoda_web::pages::error(&e, lang_hint),
    }
}

/// When the function reads its key rings ([`zgoda_web::app::Starting`]).
/// Every link is verified with a key: the rings are read as the function starts.
pub const RINGS: zgoda_web::app::ReadRings = zgoda_web::app::ReadRings::AtStart;

/// What the links function may do in AWS, and no more (`zgoda_aws::access` says how it is held to it).
pub const ACCESS: Access = Access {
    table: ITEM_READ_WRITE,
    // An erasure finishes the person's unsent breach notices, found through the breach list.
    index: true,
    key_rings: &[KeyFamily::Links, KeyFamily::Seals, KeyFamily::Pepper],
    mail: &[MailStream::Public],
    // An erasure link: SES's copy of the address goes too.
    suppression_list: true,
    ..Access::NONE
};
