//! The local stack's own pages: the demo form (a real page posting to the intake route) and the
//! mailbox (every mail the emulator's SES accepted, newest first, links clickable).

use std::sync::LazyLock;

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use mail_parser::MessageParser;
use minijinja::Environment;
use serde_json::{Value, json};
use zgoda_domain::ids::FormId;
use zgoda_web::{ApiError, request, respond};

use crate::server::Local;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_template("form.html", include_str!("../templates/form.html")).expect("compiles");
    env.add_template("mailbox.html", include_str!("../templates/mailbox.html")).expect("compiles");
    env
});

pub async fn handle(local: &Local, req: &Request) -> Response<Body> {
    match request::segments(req).as_slice() {
        ["dev", "form"] => form_page(local, req).await,
        ["dev", "mailbox"] => match &local.emulator {
            Some(endpoint) => mailbox_page(endpoint, request::query_param(req, "to")).await,
            None => ApiError::NotFound.to_json_response(),
        },
        _ => ApiError::NotFound.to_json_response(),
    }
}

async fn form_page(local: &Local, req: &Request) -> Response<Body> {
    let id = FormId::parse(&request::query_param(req, "form").unwrap_or_else(|| crate::provision::DEMO_FORM.into()));
    let Some(id) = id else { return ApiError::Domain(zgoda_domain::Error::FormNotFound).to_json_response() };
    let stored = match local.apps.intake.form(&id).await {
        Ok(s) => s,
        Err(e) => return ApiError::from(e).to_json_response(),
    };
    let lang = request::query_param(req, "lang").and_then(|l| l.parse().ok()).unwrap_or(stored.form.default_lang);
    let notice = stored.notices.iter().find(|n| n.version == stored.form.notice_version).expect("current notice stored");
    let (_, text, _) = notice.shown_in(lang, stored.form.default_lang);
    let form = &stored.form;
    let fields: Vec<_> = form
        .fields
        .iter()
        .map(|f| json!({"name": f.name, "label": form.field_label(&f.name, lang), "kind": f.kind, "max_len": f.max_len, "required": f.required}))
        .collect();
    let purposes: Vec<_> = form
        .purposes
        .iter()
        .map(|p| {
            let basis = zgoda_web::pages::text(lang, &format!("basis.{}", p.lawful_basis.as_str()), &[]);
            json!({"id": p.id, "label": form.purpose_label(p, lang), "basis": basis, "required": p.required})
        })
        .collect();
    let page = TEMPLATES
        .get_template("form.html")
        .and_then(|t| t.render(json!({"form": stored.form, "lang": lang, "notice_text": text, "fields": fields, "purposes": purposes})))
        .expect("form page renders");
    let mut resp = respond::html_posting_form(StatusCode::OK, page);
    // The demo page posts to the intake route; its CSP allows that and nothing else.
    resp.headers_mut().insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"),
    );
    resp
}

/// Escapes text for HTML, then makes every http(s) URL a link.
fn linkify(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut out = String::with_capacity(escaped.len());
    for (i, word) in escaped.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut rest = word;
        while let Some(pos) = rest.find("http") {
            let (before, from) = rest.split_at(pos);
            out.push_str(before);
            if from.starts_with("http://") || from.starts_with("https://") {
                let end = from.find(|c: char| c.is_whitespace()).unwrap_or(from.len());
                let url = &from[..end];
                out.push_str(&format!("<a href=\"{url}\">{url}</a>"));
                rest = &from[end..];
            } else {
                out.push_str("http");
                rest = &from[4..];
            }
        }
        out.push_str(rest);
    }
    out
}

/// The mails the emulator holds, newest first, parsed back from their raw MIME.
pub async fn fetch_mails(endpoint: &str) -> anyhow::Result<Vec<Value>> {
    // The emulator's state dump occasionally fails while other requests change that state: retry.
    let mut attempt = 0;
    let data: Value = loop {
        attempt += 1;
        match reqwest::get(format!("{endpoint}/moto-api/data.json")).await?.json().await {
            Ok(v) => break v,
            Err(e) if attempt >= 5 => return Err(e.into()),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await,
        }
    };
    let raw = data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default();
    Ok(raw
        .iter()
        .rev()
        .map(|m| {
            let bytes = m["raw_data"].as_str().unwrap_or("").as_bytes();
            let parsed = MessageParser::default().parse(bytes);
            let subject = parsed.as_ref().and_then(|p| p.subject()).unwrap_or("").to_owned();
            let body = parsed.as_ref().and_then(|p| p.body_text(0)).map(|b| b.into_owned()).unwrap_or_default();
            let lang = parsed.as_ref().and_then(|p| p.header_raw("Content-Language")).unwrap_or("").trim().to_owned();
            let to = m["destinations"].as_array().and_then(|d| d.first()).and_then(Value::as_str).unwrap_or("");
            // The From header as a mail client shows it: the controller's name, then the address.
            let sender = parsed.as_ref().and_then(|p| p.from()).and_then(|f| f.first());
            let from = match sender.map(|a| (a.name(), a.address())) {
                Some((Some(name), Some(address))) => format!("{name} <{address}>"),
                _ => m["source"].as_str().unwrap_or("").to_owned(),
            };
            json!({"id": m["id"], "to": to, "from": from, "subject": subject, "lang": lang, "text": body, "raw": m["raw_data"]})
        })
        .collect())
}

/// The newest mails shown at once; `?to=` narrows the page to one recipient.
const MAILBOX_PAGE: usize = 200;

async fn mailbox_page(endpoint: &str, to: Option<String>) -> Response<Body> {
    let mails = match fetch_mails(endpoint).await {
        Ok(m) => m,
        Err(e) => return ApiError::Domain(zgoda_domain::Error::Unavailable(e.to_string())).to_json_response(),
    };
    let to = to.map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty());
    let messages: Vec<Value> = mails
        .into_iter()
        .filter(|m| to.as_deref().is_none_or(|t| m["to"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(t))))
        .take(MAILBOX_PAGE)
        .map(|mut m| {
            m["body"] = Value::String(linkify(m["text"].as_str().unwrap_or("")));
            m
        })
        .collect();
    let page =
        TEMPLATES.get_template("mailbox.html").and_then(|t| t.render(json!({ "messages": messages, "to": to }))).expect("mailbox renders");
    let mut resp = respond::html(StatusCode::OK, page);
    resp.headers_mut().remove("x-robots-tag");
    resp
}

#[cfg(test)]
mod tests {
    use super::linkify;

    #[test]
    fn linkify_escapes_then_links() {
        assert_eq!(
            linkify("go <b> http://x/y?a=1&b=2 now"),
            "go &lt;b&gt; <a href=\"http://x/y?a=1&amp;b=2\">http://x/y?a=1&amp;b=2</a> now"
        );
    }
}
