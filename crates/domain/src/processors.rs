//! The processors the business entrusts personal data to (Art. 28(3); the first seed's sixth
//! pillar), and how they report a breach back (Art. 33(2), 28(3)(f)): through a reporting link of
//! their own, or machine to machine with a signed webhook under a key of their own (the Standard
//! Webhooks scheme, so that a processor's platform signs with an off-the-shelf library).
//!
//! Either way the report lands in triage with the processor named; the controller's awareness is
//! counted from when the DPO accepts it as credible (`incidents::incident_to_breach`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, NaiveDate};
use hmac::Mac;
use serde::{Deserialize, Serialize};

use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::{ChannelId, ProcessorId, PurposeId};
use crate::incidents::{Incident, ReportForm, ReportingChannel, text};
use crate::lang::Lang;
use crate::mail::Mailer;
use crate::proof::{millis, opt_millis};
use crate::service::Zgoda;
use crate::store::{GuardKey, Store, WorkQueue};
use crate::{Fields, Time};

/// How far a webhook's timestamp may be from now, either way (the scheme's five minutes).
pub const WEBHOOK_TOLERANCE: Duration = Duration::minutes(5);
/// How long the secret a rotation replaced still verifies, so the processor can switch over.
pub const SECRET_OVERLAP: Duration = Duration::hours(24);
const SECRET_PREFIX: &str = "whsec_";

/// A processor as the register holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processor {
    pub processor_id: ProcessorId,
    pub name: String,
    /// Its contact for data protection matters.
    pub contact_email: EmailAddress,
    /// What it processes (categories of data, and what it does with them).
    pub processes: String,
    /// The purposes it processes for.
    pub purposes: Vec<PurposeId>,
    /// When the processing agreement (Art. 28(3)) was signed.
    pub agreement_date: NaiveDate,
    #[serde(with = "millis")]
    pub created_at: Time,
    #[serde(with = "millis")]
    pub updated_at: Time,
    /// Bumped by every change; a write succeeds only over the revision it read.
    pub revision: u64,
}

/// What the operator sends to register or update a processor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorInput {
    pub name: String,
    pub contact_email: String,
    pub processes: String,
    #[serde(default)]
    pub purposes: Vec<String>,
    pub agreement_date: String,
}

/// A processor with its reporting link, as the operator sees it; `webhook_secret` only in the
/// answer that created or rotated it (it is shown once, and never listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorView {
    #[serde(flatten)]
    pub processor: Processor,
    pub reporting_url: String,
    /// Where its platform posts a signed report.
    pub webhook_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorList {
    pub items: Vec<ProcessorView>,
}

/// A processor's webhook key (`whsec_` and base64 of 32 random bytes), with the one a rotation
/// replaced while it still verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSecrets {
    pub current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub previous_until: Option<Time>,
}

impl WebhookSecrets {
    /// A first secret.
    pub(crate) fn first() -> Self {
        Self { current: new_secret(), previous: None, previous_until: None }
    }

    /// A new current secret; the one it replaces stays in force for `overlap`.
    pub(crate) fn rotated(old: Option<WebhookSecrets>, overlap: Duration, now: Time) -> Self {
        Self { current: new_secret(), previous: old.map(|o| o.current), previous_until: Some(crate::proof::to_millis(now + overlap)) }
    }

    /// The secrets that sign or verify at `now`: the current one, and the replaced one during its
    /// overlap.
    pub(crate) fn in_force(&self, now: Time) -> Vec<&str> {
        let mut keys = vec![self.current.as_str()];
        if let (Some(previous), Some(until)) = (&self.previous, self.previous_until)
            && now < until
        {
            keys.push(previous);
        }
        keys
    }
}

pub(crate) fn new_secret() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("the OS random source is available");
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The key bytes of a `whsec_` secret.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret)).ok()
}

/// The `v1,<base64>` signature of one delivery under `secret`: HMAC-SHA256 over
/// `id.timestamp.body` (none for a secret that is not base64).
pub(crate) fn sign_webhook(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let mut mac = crate::keys::HmacSha256::new_from_slice(&key_of(secret)?).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The Standard Webhooks headers of one delivery, as received.
#[derive(Debug, Clone, Default)]
pub struct WebhookHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Why a webhook is refused. Each is answered alike (401, nothing stored), so a caller learns
/// nothing about which processors exist; the log says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRefusal {
    UnknownProcessor,
    MissingHeader,
    StaleTimestamp,
    BadSignature,
    Replayed,
}

impl WebhookRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookRefusal::UnknownProcessor => "unknown_processor",
            WebhookRefusal::MissingHeader => "missing_header",
            WebhookRefusal::StaleTimestamp => "stale_timestamp",
            WebhookRefusal::BadSignature => "bad_signature",
            WebhookRefusal::Replayed => "replayed",
        }
    }
}

/// Checks a delivery's signature as the Standard Webhooks scheme defines it: HMAC-SHA256 under
/// the secret's key over `id.timestamp.body`, base64, as one of the space-separated `v1,…`
/// signatures; the timestamp within five minutes of `now`.
///
/// Written here rather than taken from the `standardwebhooks` crate, which reads the wall clock
/// itself (the domain is handed its time, so replays and stale deliveries can be tested) and
/// brings a second HMAC implementation; a unit test holds this to the crate's own signatures.
pub fn verify_webhook(secrets: &[&str], headers: &WebhookHeaders<'_>, body: &[u8], now: Time) -> Result<(), WebhookRefusal> {
    let (Some(id), Some(ts), Some(signatures)) = (headers.id, headers.timestamp, headers.signature) else {
        return Err(WebhookRefusal::MissingHeader);
    };
    let ts: i64 = ts.parse().map_err(|_| WebhookRefusal::StaleTimestamp)?;
    if (now.timestamp() - ts).abs() > WEBHOOK_TOLERANCE.num_seconds() {
        return Err(WebhookRefusal::StaleTimestamp);
    }
    let given: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|s| s.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, sig)| STANDARD.decode(sig).ok())
        .collect();
    for key in secrets.iter().filter_map(|s| key_of(s)) {
        for sig in &given {
            let mut mac = crate::keys::HmacSha256::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(format!("{id}.{ts}.").as_bytes());
            mac.update(body);
            if mac.verify_slice(sig).is_ok() {
                return Ok(());
            }
        }
    }
    Err(WebhookRefusal::BadSignature)
}

/// The reporting channel a processor's reporting link belongs to.
fn processor_channel(id: &ProcessorId) -> ChannelId {
    ChannelId::parse(&format!("processor-{id}")).expect("a processor id makes a channel id")
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    async fn processor_view(&self, processor: Processor, secret: Option<String>, now: Time) -> Result<ProcessorView, Error> {
        let channel = self.store.load_channel(&processor_channel(&processor.processor_id)).await?;
        let reporting_url = match channel {
            Some(c) => self.channel_view(c, now).url,
            None => String::new(),
        };
        Ok(ProcessorView {
            webhook_url: self.settings.public_url.join(&format!("/v1/processors/{}/incidents", processor.processor_id)),
            processor,
            reporting_url,
            webhook_secret: secret,
        })
    }

    /// Registers a processor (201, with its webhook secret, shown once, and its reporting link)
    /// or updates one; `true` when it was created.
    pub async fn save_processor(&self, id: &str, input: ProcessorInput, now: Time) -> Result<(bool, ProcessorView), Error> {
        let mut fields = Fields::default();
        let id = fields.check("processor_id", ProcessorId::parse(id).ok_or("invalid"));
        let name = fields.required("name", text(Some(&input.name), 200));
        let email = fields.check("contact_email", EmailAddress::parse(input.contact_email.trim()).map_err(|_| "invalid"));
        let processes = fields.required("processes", text(Some(&input.processes), 4_000));
        let mut purposes = Vec::new();
        for (i, p) in input.purposes.iter().enumerate() {
            let field = format!("purposes[{i}]");
            match PurposeId::parse(p) {
                None => {
                    fields.check::<()>(&field, Err("invalid"));
                }
                Some(p) if purposes.contains(&p) => {
                    fields.check::<()>(&field, Err("duplicate"));
                }
                Some(p) if self.store.declared_purpose(&p).await?.is_none() => {
                    fields.check::<()>(&field, Err("unknown_purpose"));
                }
                Some(p) => purposes.push(p),
            }
        }
        let date = NaiveDate::parse_from_str(input.agreement_date.trim(), "%Y-%m-%d").map_err(|_| "invalid");
        let date = fields.check("agreement_date", date.and_then(|d| if d > now.date_naive() { Err("in_future") } else { Ok(d) }));
        let (((((id, name), contact_email), processes), agreement_date), _) =
            fields.finish(id.zip(name).zip(email).zip(processes).zip(date).zip(Some(())))?;
        let stored = self.store.load_processor(&id).await?;
        let created = stored.is_none();
        let processor = Processor {
            processor_id: id.clone(),
            name,
            contact_email,
            processes,
            purposes,
            agreement_date,
            created_at: stored.as_ref().map_or(crate::proof::to_millis(now), |p| p.created_at),
            updated_at: crate::proof::to_millis(now),
            revision: stored.as_ref().map_or(1, |p| p.revision + 1),
        };
        let secrets = created.then(WebhookSecrets::first);
        if let Some(secrets) = &secrets {
            // The key first: a processor is never listed without one.
            self.store.save_webhook_secrets(&id, secrets).await?;
        }
        let secret = secrets.map(|s| s.current);
        if !self.store.save_processor(&processor).await? {
            return Err(Error::Unavailable("the processor changed while it was saved".into()));
        }
        let channel_id = processor_channel(&id);
        let channel = ReportingChannel::new(channel_id.clone(), processor.name.clone(), Lang::Pl, Some(id.clone()), now);
        match self.store.load_channel(&channel_id).await? {
            None => {
                self.store.save_channel(&channel, None).await?;
            }
            Some(c) if c.name != processor.name => {
                let renamed = ReportingChannel { name: processor.name.clone(), ..c.clone() };
                self.store.save_channel(&renamed, Some(c.generation)).await?;
            }
            Some(_) => {}
        }
        tracing::info!(processor = %id, created, "processor saved");
        Ok((created, self.processor_view(processor, secret, now).await?))
    }

    pub async fn processor(&self, id: &ProcessorId, now: Time) -> Result<ProcessorView, Error> {
        let p = self.store.load_processor(id).await?.ok_or(Error::ProcessorNotFound)?;
        self.processor_view(p, None, now).await
    }

    pub async fn processors(&self, now: Time) -> Result<ProcessorList, Error> {
        let mut items = Vec::new();
        for p in self.store.list_processors().await? {
            items.push(self.processor_view(p, None, now).await?);
        }
        items.sort_by(|a, b| a.processor.processor_id.cmp(&b.processor.processor_id));
        Ok(ProcessorList { items })
    }

    /// A new webhook secret, shown once; the one it replaces verifies for [`SECRET_OVERLAP`] more.
    pub async fn rotate_webhook_secret(&self, id: &ProcessorId, now: Time) -> Result<ProcessorView, Error> {
        let p = self.store.load_processor(id).await?.ok_or(Error::ProcessorNotFound)?;
        let secrets = WebhookSecrets::rotated(self.store.load_webhook_secrets(id).await?, SECRET_OVERLAP, now);
        self.store.save_webhook_secrets(id, &secrets).await?;
        tracing::info!(processor = %id, "processor webhook secret rotated");
        self.processor_view(p, Some(secrets.current), now).await
    }

    /// A processor's signed report: verified, deduplicated by its `webhook-id`, then an incident
    /// in triage with the processor named, as a report through its link would be.
    pub async fn processor_report(
        &self,
        id: &str,
        headers: &WebhookHeaders<'_>,
        body: &[u8],
        now: Time,
    ) -> Result<Result<Incident, Error>, WebhookRefusal> {
        let refused = |r: WebhookRefusal| {
            tracing::warn!(reason = r.as_str(), "processor webhook refused");
            r
        };
        let processor = match ProcessorId::parse(id) {
            Some(id) => match self.store.load_processor(&id).await {
                Ok(p) => p,
                // The store failing is no reason to call the caller unknown: 503, and it retries.
                Err(e) => return Ok(Err(e.into())),
            },
            None => None,
        };
        let Some(processor) = processor else { return Err(refused(WebhookRefusal::UnknownProcessor)) };
        let secrets = match self.store.load_webhook_secrets(&processor.processor_id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(refused(WebhookRefusal::UnknownProcessor)),
            Err(e) => return Ok(Err(e.into())),
        };
        verify_webhook(&secrets.in_force(now), headers, body, now).map_err(refused)?;
        // Accepted once per message id, for as long as its timestamp could still pass.
        let msg = GuardKey::WebhookMessage(processor.processor_id.clone(), headers.id.unwrap_or_default().to_owned());
        match self.store.first_use(&msg, now + WEBHOOK_TOLERANCE * 2, now).await {
            Ok(true) => {}
            Ok(false) => return Err(refused(WebhookRefusal::Replayed)),
            Err(e) => return Ok(Err(e.into())),
        }
        let report: WebhookReport = match crate::from_value(match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return Ok(Err(Error::field("body", "invalid"))),
        }) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e.into())),
        };
        let form = ReportForm {
            what: report.what.as_deref(),
            when: report.when.as_deref(),
            data: report.data.as_deref(),
            noticed_by: report.noticed_by.as_deref(),
            contact_email: report.contact_email.as_deref(),
            contact_phone: report.contact_phone.as_deref(),
        };
        let channel = match self.store.load_channel(&processor_channel(&processor.processor_id)).await {
            Ok(Some(channel)) => channel,
            Ok(None) => return Ok(Err(Error::Unavailable("the processor has no reporting channel".into()))),
            Err(e) => return Ok(Err(e.into())),
        };
        Ok(self.record_incident(&channel, &form, Lang::Pl, now).await)
    }
}

/// A processor's report as its webhook sends it: the report page's fields, as JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookReport {
    #[serde(default)]
    what: Option<String>,
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    noticed_by: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
    #[serde(default)]
    contact_phone: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{self, MemoryApp};
    use crate::store::{IncidentStore, ProcessorStore};
    use chrono::TimeZone;
    use serde_json::json;

    fn input() -> ProcessorInput {
        ProcessorInput {
            name: "Biuro Rachunkowe Ala".into(),
            contact_email: "iod@biuro.example.pl".into(),
            processes: "dane klientów do faktur".into(),
            purposes: vec![],
            agreement_date: "2026-01-15".into(),
        }
    }

    fn signed(secret: &str, id: &str, at: Time, body: &[u8]) -> (String, String) {
        let sig = standardwebhooks::Webhook::new(secret).unwrap().sign(id, at.timestamp(), body).unwrap();
        (at.timestamp().to_string(), sig)
    }

    async fn report(
        app: &MemoryApp,
        processor: &str,
        secret: &str,
        msg: &str,
        at: Time,
    ) -> Result<Result<Incident, Error>, WebhookRefusal> {
        let body = serde_json::to_vec(
            &json!({"what": "Wyciek z systemu księgowego", "noticed_by": "SOC biura", "contact_email": "soc@biuro.example.pl"}),
        )
        .unwrap();
        let (ts, sig) = signed(secret, msg, at, &body);
        let headers = WebhookHeaders { id: Some(msg), timestamp: Some(&ts), signature: Some(&sig) };
        app.processor_report(processor, &headers, &body, now()).await
    }

    #[tokio::test]
    async fn art28_3f_a_processors_signed_report_lands_in_triage_with_the_processor_named_and_every_bad_one_stores_nothing() {
        let app = memory::app();
        let (created, view) = app.save_processor("biuro", input(), now()).await.unwrap();
        let secret = view.webhook_secret.clone().expect("shown once, on creation");
        assert!(created && secret.starts_with("whsec_") && view.reporting_url.contains("/v1/report/"));
        assert_eq!(app.processors(now()).await.unwrap().items[0].webhook_secret, None, "never listed");

        let incident = report(&app, "biuro", &secret, "msg_1", now()).await.unwrap().unwrap();
        assert_eq!(
            (incident.processor_id.as_ref().map(|p| p.as_str()), incident.channel_name.as_str()),
            (Some("biuro"), "Biuro Rachunkowe Ala")
        );
        assert_eq!(report(&app, "biuro", &secret, "msg_1", now()).await.unwrap_err(), WebhookRefusal::Replayed);
        assert_eq!(report(&app, "biuro", &new_secret(), "msg_2", now()).await.unwrap_err(), WebhookRefusal::BadSignature);
        let stale = now() - WEBHOOK_TOLERANCE - Duration::seconds(1);
        assert_eq!(report(&app, "biuro", &secret, "msg_3", stale).await.unwrap_err(), WebhookRefusal::StaleTimestamp);
        assert_eq!(report(&app, "nikt", &secret, "msg_4", now()).await.unwrap_err(), WebhookRefusal::UnknownProcessor);
        assert_eq!(app.store.list_incidents().await.unwrap().len(), 1, "only the good one");

        let rotated = app.rotate_webhook_secret(&ProcessorId::parse("biuro").unwrap(), now()).await.unwrap().webhook_secret.unwrap();
        assert!(report(&app, "biuro", &secret, "msg_5", now()).await.unwrap().is_ok(), "the old key still verifies during the overlap");
        assert!(report(&app, "biuro", &rotated, "msg_6", now()).await.unwrap().is_ok());
        let secrets = app.store.load_webhook_secrets(&ProcessorId::parse("biuro").unwrap()).await.unwrap().unwrap();
        assert_eq!(secrets.previous_until, Some(now() + SECRET_OVERLAP));
    }

    #[tokio::test]
    async fn art33_2_a_processors_report_makes_the_controller_aware_when_the_dpo_accepts_it_with_a_justification() {
        let app = memory::app();
        let secret = app.save_processor("biuro", input(), now()).await.unwrap().1.webhook_secret.unwrap();
        let body = serde_json::to_vec(&json!({"what": "Wyciek", "noticed_by": "SOC", "contact_email": "soc@biuro.example.pl"})).unwrap();
        let (ts, sig) = signed(&secret, "m1", now(), &body);
        let headers = WebhookHeaders { id: Some("m1"), timestamp: Some(&ts), signature: Some(&sig) };
        let incident = app.processor_report("biuro", &headers, &body, now()).await.unwrap().unwrap();
        let accepted = now() + Duration::hours(2);
        let mut registration = crate::breach::tests::input();
        for key in ["detected_at", "aware_at", "occurred_at"] {
            registration.as_object_mut().unwrap().remove(key);
        }
        let ops = crate::breach::tests::ops();
        let err = app.incident_to_breach(&incident.incident_id, registration.clone(), &ops, accepted).await.unwrap_err();
        assert!(matches!(err, Error::Validation(f) if f == vec![crate::FieldError::new("aware_justification", "required")]));
        registration["aware_justification"] = json!("Raport biura potwierdzony telefonicznie.");
        let breach = app.incident_to_breach(&incident.incident_id, registration, &ops, accepted).await.unwrap().breach;
        assert_eq!((breach.detected_at, breach.aware_at), (now(), accepted), "aware when accepted, not when the processor knew");
        assert_eq!(breach.other_entities.as_deref(), Some("Biuro Rachunkowe Ala (processor)"));
    }

    #[tokio::test]
    async fn art28_3f_the_register_of_processors_names_each_wrong_field() {
        let app = memory::app();
        let bad = ProcessorInput {
            name: " ".into(),
            contact_email: "x".into(),
            processes: "".into(),
            purposes: vec!["nie ma".into(), "newsletter".into()],
            agreement_date: "2027-13-01".into(),
        };
        let err = app.save_processor("Biuro!", bad, now()).await.unwrap_err();
        let fields: Vec<(String, &str)> = match err {
            Error::Validation(f) => f.into_iter().map(|f| (f.field, f.code)).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            fields,
            [
                ("processor_id".into(), "invalid"),
                ("name".into(), "required"),
                ("contact_email".into(), "invalid"),
                ("processes".into(), "required"),
                ("purposes[0]".into(), "invalid"),
                ("purposes[1]".into(), "unknown_purpose"),
                ("agreement_date".into(), "invalid"),
            ]
        );
        assert!(app.store.list_processors().await.unwrap().is_empty());
    }

    fn now() -> Time {
        chrono::Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
    }

    /// Held to the official crate: what it signs, this verifies; anything else, it refuses.
    #[test]
    fn art28_3f_a_signature_made_by_the_official_standard_webhooks_crate_verifies_and_nothing_else_does() {
        let secret = new_secret();
        let official = standardwebhooks::Webhook::new(&secret).unwrap();
        let body = br#"{"what":"wyciek"}"#;
        let ts = now().timestamp();
        let sig = official.sign("msg_1", ts, body).unwrap();
        let ts_text = ts.to_string();
        let headers = WebhookHeaders { id: Some("msg_1"), timestamp: Some(&ts_text), signature: Some(&sig) };
        assert_eq!(verify_webhook(&[&secret], &headers, body, now()), Ok(()));
        let two = format!("v1,AAAA {sig}");
        assert_eq!(verify_webhook(&[&secret], &WebhookHeaders { signature: Some(&two), ..headers.clone() }, body, now()), Ok(()));
        assert_eq!(verify_webhook(&[&secret], &headers, br#"{"what":"inny"}"#, now()), Err(WebhookRefusal::BadSignature));
        assert_eq!(verify_webhook(&[&new_secret()], &headers, body, now()), Err(WebhookRefusal::BadSignature));
        let late = now() + WEBHOOK_TOLERANCE + Duration::seconds(1);
        assert_eq!(verify_webhook(&[&secret], &headers, body, late), Err(WebhookRefusal::StaleTimestamp));
        assert_eq!(
            verify_webhook(&[&secret], &WebhookHeaders { signature: None, ..headers }, body, now()),
            Err(WebhookRefusal::MissingHeader)
        );
    }
}
