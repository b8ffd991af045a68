//! Messages to MIME: render the pl/en templates, build a multipart text+HTML message with
//! `mail-builder`, and hand the bytes to a transport. Header values are checked for CR/LF before
//! anything is built, so no value, whatever its origin, can add a header.

use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;
use serde_json::{Value, json};
use zgoda_domain::controller::ControllerProfile;
use zgoda_domain::email::EmailAddress;
use zgoda_domain::lang::Lang;
use zgoda_domain::mail::{FollowUp, MailError, MailTransport, Mailer, Message, OwnerCopy};
use zgoda_domain::store::PrivacyRequestKind;

use crate::pages::{render, text};

/// A message ready for MIME: every header value is plain text of one line.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub to: EmailAddress,
    pub subject: String,
    pub lang: Lang,
    pub text: String,
    pub html: String,
    pub reply_to: Option<EmailAddress>,
}

/// One of the incident mails (report, question, answer), from the shared template.
fn incident_mail(to: &EmailAddress, lang: Lang, subject: String, ctx: Value, c: Option<&ControllerProfile>) -> Rendered {
    Rendered {
        to: to.clone(),
        subject,
        lang,
        text: render("mail/incident.txt", lang, c, ctx.clone()),
        html: render("mail/incident.html", lang, c, ctx),
        reply_to: None,
    }
}

/// How to reach an incident's reporter, on one line.
fn contact_line(report: &zgoda_domain::incidents::IncidentReport) -> String {
    match &report.contact_phone {
        Some(phone) => format!("{}, {phone}", report.contact_email.as_str()),
        None => report.contact_email.as_str().to_owned(),
    }
}

/// A drill's mail says so before anything else, in its subject and its first line.
fn drill_subject(lang: Lang, drill: bool, subject: String) -> String {
    if drill { format!("[{}] {subject}", text(lang, "drill.label", &[])) } else { subject }
}

fn one_line(value: &str) -> Result<&str, MailError> {
    if value.contains(['\r', '\n']) {
        return Err(MailError::new("a header value contains a line break"));
    }
    Ok(value)
}

/// Renders a message in its language, with the controller named in its footer (and, for a
/// confirmation, in its text).
pub fn render_message(m: &Message, controller: &ControllerProfile) -> Rendered {
    let c = Some(controller);
    match m {
        Message::ConfirmRequest { to, lang, form_name, links, expires_at } => {
            let lang = *lang;
            let ctx = json!({
                "intro": text(lang, "confirm_intro", &[("form", form_name), ("controller", &controller.name)]),
                "expires": text(lang, "confirm_expires", &[("date", &expires_at.format("%Y-%m-%d %H:%M UTC").to_string())]),
                "links": links.iter().map(|(p, url)| json!({"purpose": p.label, "url": url})).collect::<Vec<_>>(),
            });
            Rendered {
                to: to.clone(),
                // The subject never carries the form's name, which the business chooses and may
                // make promotional: a mail asking for consent must not be marketing (PKE art. 398).
                subject: text(lang, "confirm_subject", &[]),
                lang,
                text: render("mail/confirm_request.txt", lang, c, ctx.clone()),
                html: render("mail/confirm_request.html", lang, c, ctx),
                reply_to: None,
            }
        }
        Message::ActionLink { to, lang, action, purpose, url, expires_at } => {
            let lang = *lang;
            let kind = action.as_str();
            let purpose = purpose.as_ref().map_or("", |p| p.label.as_str());
            let ctx = json!({
                "intro": text(lang, &format!("mail_link.intro_{kind}"), &[("purpose", purpose)]),
                "url": url,
                "expires": text(lang, "mail_link.expires", &[("date", &expires_at.format("%Y-%m-%d %H:%M UTC").to_string())]),
            });
            Rendered {
                to: to.clone(),
                subject: text(lang, &format!("mail_link.{kind}_subject"), &[]),
                lang,
                text: render("mail/action_link.txt", lang, c, ctx.clone()),
                html: render("mail/action_link.html", lang, c, ctx),
                reply_to: None,
            }
        }
        Message::BreachNotice { to, lang, delivery: _, breach_id, nature, likely_consequences, measures, advice, contact, drill } => {
            let lang = *lang;
            let ctx = json!({
                "breach_id": breach_id, "nature": nature, "consequences": likely_consequences, "measures": measures, "advice": advice,
                "contact": {"name": contact.name, "email": contact.email.as_str(), "phone": contact.phone}, "drill": drill,
            });
            Rendered {
                to: to.clone(),
                subject: drill_subject(lang, *drill, text(lang, "breach.subject", &[])),
                lang,
                text: render("mail/breach_notice.txt", lang, c, ctx.clone()),
                html: render("mail/breach_notice.html", lang, c, ctx),
                reply_to: Some(contact.email.clone()),
            }
        }
        Message::DeadlineReminder { to, lang, breach_id, title, which, deadline, controller: to_controller, drill } => {
            let lang = *lang;
            let deadline = zgoda_domain::proof::format_time(deadline);
            let name = to_controller.as_deref().unwrap_or_default();
            let args = [("title", title.as_str()), ("id", breach_id.as_str()), ("deadline", deadline.as_str()), ("controller", name)];
            // A processor's reminder is about telling its controller, never the authority (Art. 33(2)).
            let key = if to_controller.is_some() { "reminder.controller_" } else { "reminder." };
            let ctx = json!({
                "which": which, "drill": drill, "processor": to_controller.is_some(),
                "body": text(lang, &format!("{key}body"), &args), "how": text(lang, &format!("{key}how"), &args),
            });
            Rendered {
                to: to.clone(),
                subject: drill_subject(lang, *drill, text(lang, &format!("{key}subject_{which}"), &args)),
                lang,
                text: render("mail/deadline_reminder.txt", lang, c, ctx.clone()),
                html: render("mail/deadline_reminder.html", lang, c, ctx),
                reply_to: None,
            }
        }
        Message::PrivacyLinks { to, lang, links } => {
            let lang = *lang;
            let links: Vec<Value> = links
                .iter()
                .map(|(action, url, expires_at)| {
                    let date = expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
                    json!({
                        "intro": text(lang, &format!("mail_links.{}", action.as_str()), &[]),
                        "url": url,
                        "expires": text(lang, "mail_links.valid_until", &[("date", &date)]),
                    })
                })
                .collect();
            let ctx = json!({"intro": text(lang, "mail_links.intro", &[]), "links": links, "outro": text(lang, "mail_links.outro", &[])});
            Rendered {
                to: to.clone(),
                subject: text(lang, "mail_links.subject", &[]),
                lang,
                text: render("mail/privacy_links.txt", lang, c, ctx.clone()),
                html: render("mail/privacy_links.html", lang, c, ctx),
                reply_to: None,
            }
        }
        Message::SmokeTest { to, run, .. } => {
            let body = text(Lang::En, "smoke.body", &[("run", run)]);
            Rendered {
                to: to.clone(),
                subject: text(Lang::En, "smoke.subject", &[("run", run)]),
                lang: Lang::En,
                html: format!("<!doctype html><html lang=\"en\"><body><p>{body}</p></body></html>"),
                text: body,
                reply_to: None,
            }
        }
        Message::RequestExtended { to, lang, kind, received_at, due_at, reasons } => {
            let args = [("kind", request_kind(*lang, *kind)), ("received", day(received_at)), ("due", day(due_at))];
            let ctx = json!({"body": text(*lang, "request_mail.extended_body", &as_args(&args)), "reasons": reasons});
            request_mail(to, *lang, text(*lang, "request_mail.extended_subject", &[]), c, ctx)
        }
        Message::RequestRefused { to, lang, kind, received_at, reasons } => {
            let args = [("kind", request_kind(*lang, *kind)), ("received", day(received_at))];
            let body = text(*lang, "request_mail.refused_body", &as_args(&args));
            let ctx = json!({"body": body, "reasons": reasons, "rights": text(*lang, "request_mail.rights", &[])});
            request_mail(to, *lang, text(*lang, "request_mail.refused_subject", &[]), c, ctx)
        }
        Message::RequestReminder { to, lang, request_id, kind, due_at, which } => {
            let args =
                [("id", request_id.to_string()), ("kind", request_kind(*lang, *kind)), ("due", zgoda_domain::proof::format_time(due_at))];
            let args = as_args(&args);
            let ctx =
                json!({"body": text(*lang, "request_mail.reminder_body", &args), "how": text(*lang, "request_mail.reminder_how", &args)});
            request_mail(to, *lang, text(*lang, &format!("request_mail.reminder_subject_{}", which.as_str()), &[]), c, ctx)
        }
        Message::AddressChanged { to, lang, at } => {
            let ctx = json!({"body": text(*lang, "address_changed.body", &[("date", &at.format("%Y-%m-%d %H:%M UTC").to_string())])});
            Rendered {
                to: to.clone(),
                subject: text(*lang, "address_changed.subject", &[]),
                lang: *lang,
                text: render("mail/address_changed.txt", *lang, c, ctx.clone()),
                html: render("mail/address_changed.html", *lang, c, ctx),
                reply_to: None,
            }
        }
        Message::RestrictionLifted { to, lang, reasons } => {
            let ctx = json!({"body": text(*lang, "request_mail.lifted_body", &[]), "reasons": reasons, "rights": text(*lang, "request_mail.rights", &[])});
            request_mail(to, *lang, text(*lang, "request_mail.lifted_subject", &[]), c, ctx)
        }
        Message::IncidentReported { to, lang, incident_id, channel, report } => {
            let lang = *lang;
            let id = incident_id.as_str();
            let mut items = vec![
                json!({"label": text(lang, "incident.what", &[]), "value": report.what}),
                json!({"label": text(lang, "incident.noticed_by", &[]), "value": report.noticed_by}),
                json!({"label": text(lang, "incident.contact", &[]), "value": contact_line(report)}),
            ];
            for (label, value) in [("incident.when", &report.when), ("incident.data", &report.data)] {
                if let Some(v) = value {
                    items.insert(1, json!({"label": text(lang, label, &[]), "value": v}));
                }
            }
            let ctx = json!({
                "intro": text(lang, "incident.reported_intro", &[("channel", channel), ("id", id)]),
                "items": items,
                "how": text(lang, "incident.reported_how", &[("id", id)]),
            });
            incident_mail(to, lang, text(lang, "incident.reported_subject", &[("id", id)]), ctx, c)
        }
        Message::IncidentQuestion { to, lang, incident_id, question, url, expires_at } => {
            let lang = *lang;
            let id = incident_id.as_str();
            let ctx = json!({
                "intro": text(lang, "incident.question_intro", &[("id", id)]),
                "items": [{"label": text(lang, "incident.question", &[]), "value": question}],
                "url_intro": text(lang, "incident.question_answer", &[]),
                "url": url,
                "expires": text(lang, "mail_link.expires", &[("date", &expires_at.format("%Y-%m-%d %H:%M UTC").to_string())]),
            });
            incident_mail(to, lang, text(lang, "incident.question_subject", &[("id", id)]), ctx, c)
        }
        Message::IncidentWaiting { to, lang, incident_id, since } => {
            let lang = *lang;
            let id = incident_id.as_str();
            let since = zgoda_domain::proof::format_time(since);
            let ctx = json!({
                "intro": text(lang, "incident.waiting_intro", &[("id", id), ("since", &since)]),
                "items": [],
                "how": text(lang, "incident.reported_how", &[("id", id)]),
            });
            incident_mail(to, lang, text(lang, "incident.waiting_subject", &[("id", id)]), ctx, c)
        }
        Message::BreachFollowUp { to, lang, breach_id, title, follow_up, drill } => {
            let lang = *lang;
            let id = breach_id.as_str();
            let (key, intro_args, items) = match follow_up {
                FollowUp::SubjectsWaiting { since, public_notice } => {
                    let key = if *public_notice { "followup.public_notice" } else { "followup.subjects" };
                    (key, vec![("since", zgoda_domain::proof::format_time(since))], json!([]))
                }
                FollowUp::ActionOverdue { description, due_at } => (
                    "followup.action",
                    vec![("due", zgoda_domain::proof::format_time(due_at))],
                    json!([{"label": text(lang, "followup.action_label", &[]), "value": description}]),
                ),
            };
            let mut args: Vec<(&str, &str)> = vec![("id", id), ("title", title.as_str())];
            args.extend(intro_args.iter().map(|(k, v)| (*k, v.as_str())));
            let ctx = json!({
                "intro": text(lang, &format!("{key}_intro"), &args),
                "items": items,
                "how": text(lang, &format!("{key}_how"), &args),
            });
            incident_mail(to, lang, drill_subject(lang, *drill, text(lang, &format!("{key}_subject"), &args)), ctx, c)
        }
        Message::IncidentAnswered { to, lang, incident_id } => {
            let lang = *lang;
            let id = incident_id.as_str();
            let ctx = json!({
                "intro": text(lang, "incident.answered_intro", &[("id", id)]),
                "items": [],
                "how": text(lang, "incident.reported_how", &[("id", id)]),
            });
            incident_mail(to, lang, text(lang, "incident.answered_subject", &[("id", id)]), ctx, c)
        }
        Message::NoDataHeld { to, lang } => Rendered {
            to: to.clone(),
            subject: text(*lang, "nodata_subject", &[]),
            lang: *lang,
            text: render("mail/no_data_held.txt", *lang, c, json!({})),
            html: render("mail/no_data_held.html", *lang, c, json!({})),
            reply_to: None,
        },
        Message::OwnerNotice { to, lang, form_name, receipt_id, at, purposes, copy } => {
            let lang = *lang;
            let mut ctx = json!({
                "intro": text(lang, "owner_intro", &[("form", form_name)]),
                "receipt_id": receipt_id,
                "at": zgoda_domain::proof::format_time(at),
                "purposes": purposes.iter().map(|(p, k)| json!({"purpose": p.label, "status": k.as_str()})).collect::<Vec<_>>(),
            });
            let reply_to = match copy {
                OwnerCopy::Values { submitter, fields } => {
                    ctx["submitter"] = json!(submitter.as_str());
                    ctx["fields"] = fields.iter().map(|(n, v)| json!({"name": n, "value": v})).collect();
                    Some(submitter.clone())
                }
                OwnerCopy::Summary { subject, fields } => {
                    ctx["summary"] = json!(true);
                    ctx["filled"] = json!(fields);
                    ctx["lookup"] = json!(format!("zgoda subjects lookup --subject {subject}"));
                    None
                }
            };
            Rendered {
                to: to.clone(),
                subject: text(lang, "owner_subject", &[("form", form_name)]),
                lang,
                text: render("mail/owner_notice.txt", lang, c, ctx.clone()),
                html: render("mail/owner_notice.html", lang, c, ctx),
                reply_to,
            }
        }
    }
}

/// A mail about a privacy request: a body, and the reasons, rights or commands it carries.
fn request_mail(to: &EmailAddress, lang: Lang, subject: String, c: Option<&ControllerProfile>, ctx: Value) -> Rendered {
    Rendered {
        to: to.clone(),
        subject,
        lang,
        text: render("mail/privacy_request.txt", lang, c, ctx.clone()),
        html: render("mail/privacy_request.html", lang, c, ctx),
        reply_to: None,
    }
}

fn request_kind(lang: Lang, kind: PrivacyRequestKind) -> String {
    let key = match kind {
        PrivacyRequestKind::Access => "request_mail.kind_access",
        PrivacyRequestKind::Erasure => "request_mail.kind_erasure",
        PrivacyRequestKind::Objection => "request_mail.kind_objection",
        PrivacyRequestKind::Rectification => "request_mail.kind_rectification",
        PrivacyRequestKind::Restriction => "request_mail.kind_restriction",
    };
    text(lang, key, &[])
}

/// A date as a person reads it in a letter.
fn day(t: &zgoda_domain::Time) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn as_args<'a>(args: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    args.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Builds the MIME bytes of a rendered message, from `from` under the controller's name: the
/// person sees who writes to them before opening the mail (Art. 12(1)), not the tool's name.
pub fn to_mime(controller: &ControllerProfile, from: &str, r: &Rendered) -> Result<Vec<u8>, MailError> {
    let mut builder = MessageBuilder::new()
        .from((one_line(&controller.name)?, one_line(from)?))
        .to(one_line(r.to.as_str())?)
        .subject(one_line(&r.subject)?)
        .header("Content-Language", Raw::new(r.lang.code()))
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .text_body(r.text.as_str())
        .html_body(r.html.as_str());
    if let Some(reply) = &r.reply_to {
        builder = builder.reply_to(one_line(reply.as_str())?);
    }
    builder.write_to_vec().map_err(|e| MailError::new(e.to_string()))
}

/// The domain's `Mailer`: renders, builds MIME and sends through any transport, from the sender
/// of the message's stream.
#[derive(Debug, Clone)]
pub struct TemplatedMailer<T> {
    transport: T,
    controller: ControllerProfile,
}

impl<T> TemplatedMailer<T> {
    /// A mailer whose every message names `controller` (from the configuration: no function
    /// starts without one, so no mail goes out unnamed).
    pub fn new(transport: T, controller: ControllerProfile) -> Self {
        Self { transport, controller }
    }
}

impl<T: MailTransport> Mailer for TemplatedMailer<T> {
    async fn send(&self, message: &Message) -> Result<String, MailError> {
        let rendered = render_message(message, &self.controller);
        let stream = message.stream();
        let mime = to_mime(&self.controller, self.transport.sender(stream), &rendered)?;
        self.transport.send_raw(stream, &rendered.to, mime, &message.tags()).await
    }

    async fn forget_address(&self, address: &zgoda_domain::email::EmailAddress) -> Result<(), MailError> {
        self.transport.forget_address(address).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zgoda_domain::ids::PurposeId;
    use zgoda_domain::proof::EventKind;

    #[test]
    fn owner_notice_carries_fields_in_the_body_only() {
        let m = Message::OwnerNotice {
            to: EmailAddress::parse("biuro@example.pl").unwrap(),
            lang: Lang::Pl,
            form_name: "Kontakt".into(),
            receipt_id: "R1".into(),
            at: chrono::Utc::now(),
            purposes: vec![(
                zgoda_domain::labels::PurposeName { id: PurposeId::parse("newsletter").unwrap(), label: "Newsletter".into() },
                EventKind::Requested,
            )],
            copy: OwnerCopy::Values {
                submitter: EmailAddress::parse("jan@example.pl").unwrap(),
                fields: vec![("name".into(), "Jan\r\nBcc: victim@example.com".into())],
            },
        };
        let mime = to_mime(&ControllerProfile::example(), "zgoda@example.pl", &render_message(&m, &ControllerProfile::example())).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&mime).unwrap();
        assert!(parsed.bcc().is_none());
        assert_eq!(parsed.header_raw("Content-Language").map(str::trim), Some("pl"));
        assert!(parsed.body_text(0).unwrap().contains("victim@example.com"));
        assert_eq!(parsed.reply_to().and_then(|a| a.first()).and_then(|a| a.address()), Some("jan@example.pl"));
    }

    #[test]
    fn a_line_break_in_a_header_value_is_refused() {
        let mut r = render_message(
            &Message::ConfirmRequest {
                to: EmailAddress::parse("a@example.pl").unwrap(),
                lang: Lang::En,
                form_name: "x".into(),
                links: vec![],
                expires_at: chrono::Utc::now(),
            },
            &ControllerProfile::example(),
        );
        r.subject = "Hi\r\nBcc: x@example.com".into();
        assert!(to_mime(&ControllerProfile::example(), "zgoda@example.pl", &r).is_err());
    }
}
