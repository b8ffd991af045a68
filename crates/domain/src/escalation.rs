//! The breach register's use cases (API.md §4): register, timeline, view, report; escalation to
//! the affected people (idempotent, one notice per person, at most once), delivery by the
//! notifier, and the 72-hour deadline watch.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::breach::{self, Breach, BreachInput, TimelineEvent, TimelineInput, TimelineKind};
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::{FormId, PurposeId, SubjectId};
use crate::lang::Lang;
use crate::mail::{Mailer, Message};
use crate::proof::{GENESIS_HASH, format_time};
use crate::report::{self, Report};
use crate::service::Zgoda;
use crate::store::{
    AppendError, BreachRecord, Claim, Delivery, DeliveryCounts, EscalationRecord, IdempotencyStart, Job, JobBatch, PublicNotice, Recipient,
    Store, WorkQueue,
};
use crate::{FieldError, Time};

/// How long a claimed recipient stays with one worker before another may take it over.
pub const SEND_LEASE: i64 = 60;
/// How long a completed escalation answers repeats of its key.
const IDEMPOTENCY_KEEP_HOURS: i64 = 72;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectionInput {
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub forms: Vec<String>,
    #[serde(default)]
    pub purposes: Vec<String>,
    #[serde(default)]
    pub collected_from: Option<String>,
    #[serde(default)]
    pub collected_to: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationInput {
    pub subjects: SelectionInput,
    pub message: BTreeMap<Lang, String>,
    #[serde(default)]
    pub public_notice: bool,
}

/// A checked escalation request: who, and what they are told.
struct Escalation {
    selection: Selection,
    message: BTreeMap<Lang, String>,
    public_notice: bool,
}

/// A checked selection.
struct Selection {
    emails: Vec<EmailAddress>,
    forms: Vec<FormId>,
    purposes: Vec<PurposeId>,
    from: Option<Time>,
    to: Option<Time>,
}

fn parse_selection(s: SelectionInput, errors: &mut Vec<FieldError>) -> Selection {
    let mut emails = Vec::new();
    for (i, e) in s.emails.iter().enumerate() {
        match EmailAddress::parse(e) {
            Ok(e) => emails.push(e),
            Err(_) => errors.push(FieldError::new(format!("subjects.emails[{i}]"), "invalid")),
        }
    }
    let ids = |v: &[String], field: &str, errors: &mut Vec<FieldError>| -> Vec<String> {
        v.iter()
            .enumerate()
            .filter_map(|(i, x)| {
                if FormId::parse(x).is_some() {
                    Some(x.clone())
                } else {
                    errors.push(FieldError::new(format!("subjects.{field}[{i}]"), "invalid"));
                    None
                }
            })
            .collect()
    };
    let forms = ids(&s.forms, "forms", errors).iter().filter_map(|f| FormId::parse(f)).collect();
    let purposes = ids(&s.purposes, "purposes", errors).iter().filter_map(|p| PurposeId::parse(p)).collect();
    let time = |v: &Option<String>, field: &str, errors: &mut Vec<FieldError>| {
        v.as_deref().and_then(|t| match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(t.to_utc()),
            Err(_) => {
                errors.push(FieldError::new(format!("subjects.{field}"), "invalid"));
                None
            }
        })
    };
    let from = time(&s.collected_from, "collected_from", errors);
    let to = time(&s.collected_to, "collected_to", errors);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errors.push(FieldError::new("subjects.collected_to", "before_collected_from"));
    }
    Selection { emails, forms, purposes, from, to }
}

/// The same key and breach always name the same escalation, so a retried request that takes over
/// an expired lease writes into the same outbox instead of starting a second one.
fn derived_id(prefix: &str, breach: &str, key: &str) -> String {
    let h = Sha256::digest(format!("zgoda/{prefix}/v1\n{breach}\n{key}"));
    format!("{}{}", prefix.chars().next().unwrap_or('x').to_ascii_uppercase(), &hex::encode(h)[..25])
}

/// The request's fingerprint for the idempotency record: the JSON, keys sorted.
fn request_hash(body: &Value) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(body).expect("serializes")))
}

/// What a notifier needs to write every notice of an escalation; loaded once per escalation.
#[derive(Debug, Clone)]
pub struct NoticeContent {
    pub breach: Breach,
    pub escalation: EscalationRecord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Finished (sent, failed for good, or done before): delete the message.
    Done,
    /// Try again later (SQS redelivers after the visibility timeout).
    Retry,
    /// The provider refused the send for its rate or quota: the recipient is handed back, to be
    /// sent later without spending one of its attempts, for as long as the throttling lasts
    /// (security review M6).
    Throttled,
}

/// The notice one recipient gets: the breach's facts and the escalation's advice in their
/// language (or the first one written), tagged with the outbox entry it is sent for.
pub fn breach_notice(job: &Job, recipient: &Recipient, content: &NoticeContent) -> Message {
    let messages = &content.escalation.messages;
    let advice = messages.get(&recipient.lang).or_else(|| messages.values().next()).cloned().unwrap_or_default();
    let b = &content.breach;
    Message::BreachNotice {
        to: recipient.email.clone(),
        lang: recipient.lang,
        delivery: job.clone(),
        breach_id: b.id.clone(),
        nature: b.nature.clone(),
        likely_consequences: b.likely_consequences.clone(),
        measures: b.measures.clone(),
        advice,
        contact: b.contact_point.clone(),
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    async fn breach_record(&self, id: &str) -> Result<BreachRecord, Error> {
        self.store.load_breach(id).await?.ok_or(Error::BreachNotFound)
    }

    /// Registers a breach (Art. 33(5)) with a sealed first timeline entry.
    pub async fn register_breach(&self, input: BreachInput, raw: &Value, operator: &str, now: Time) -> Result<Value, Error> {
        let id = ulid::Ulid::new().to_string();
        let breach = input.parse(id.clone(), operator, now).map_err(Error::Validation)?;
        let first =
            TimelineEvent::seal_new(self.keys.seals(), &id, (0, GENESIS_HASH), TimelineKind::Registered, raw.clone(), operator, now);
        self.store.create_breach(&breach, &first).await?;
        tracing::info!(operator, breach = %id, band = %breach.severity.band, "breach registered");
        self.breach(&id, now).await
    }

    /// A breach as the API shows it: the latest facts, the deadline state, the timeline and the
    /// progress of each escalation.
    pub async fn breach_view(&self, r: &BreachRecord, now: Time) -> Result<Value, Error> {
        let current = r.breach.as_of(&r.timeline);
        let assessment = breach::assess(&current, &r.timeline, now);
        let verified = breach::verify_timeline(self.keys.seals(), &r.timeline, Some((r.head.0, &r.head.1)));
        let mut v = serde_json::to_value(&current).expect("serializes");
        v["authority_deadline"] = json!(format_time(&current.authority_deadline()));
        v["authority_notification_required"] = json!(assessment.authority_notification_required);
        v["subjects_notification_required"] = json!(assessment.subjects_notification_required);
        v["exemption"] = json!(assessment.exemption);
        v["deadline"] = json!(assessment.deadline);
        v["timeline"] = json!(r.timeline);
        v["timeline_proof"] = json!({"verified": verified.is_ok(), "entries": r.timeline.len(), "broken_at": verified.err().flatten()});
        let mut escalations = Vec::with_capacity(r.escalations.len());
        for e in &r.escalations {
            escalations.push(progress(e, self.store.delivery_counts(&e.escalation_id).await?));
        }
        v["escalations"] = json!(escalations);
        Ok(v)
    }

    pub async fn breach(&self, id: &str, now: Time) -> Result<Value, Error> {
        self.breach_view(&self.breach_record(id).await?, now).await
    }

    pub async fn breaches(&self, now: Time) -> Result<Value, Error> {
        let mut all = self.store.list_breaches().await?;
        all.sort_by_key(|r| std::cmp::Reverse(r.breach.aware_at));
        let mut items = Vec::with_capacity(all.len());
        for r in &all {
            items.push(self.breach_view(r, now).await?);
        }
        Ok(json!({ "items": items }))
    }

    /// Appends to a breach's timeline (append-only; retried if a concurrent entry got there first).
    pub async fn add_timeline(&self, id: &str, input: TimelineInput, operator: &str, now: Time) -> Result<TimelineEvent, Error> {
        for _ in 0..4 {
            let r = self.breach_record(id).await?;
            let current = r.breach.as_of(&r.timeline);
            let (kind, body) = input.clone().parse(&current, now).map_err(Error::Validation)?;
            let event = TimelineEvent::seal_new(self.keys.seals(), id, (r.head.0, &r.head.1), kind, body, operator, now);
            match self.store.append_timeline(r.head.clone(), &event).await {
                Ok(()) => {
                    tracing::info!(operator, breach = %id, kind = ?event.kind, "breach timeline entry added");
                    return Ok(event);
                }
                Err(AppendError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable("the breach timeline kept moving".into()))
    }

    pub async fn report(&self, id: &str, lang: Lang, now: Time) -> Result<Report, Error> {
        let r = self.breach_record(id).await?;
        let current = r.breach.as_of(&r.timeline);
        let assessment = breach::assess(&current, &r.timeline, now);
        Ok(report::draft(&current, &r.timeline, &assessment, lang, now))
    }

    /// Starts (or answers a repeat of) an escalation: one notice per affected person, at most once.
    pub async fn escalate(&self, id: &str, key: &str, raw: &Value, operator: &str, now: Time) -> Result<Value, Error> {
        if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::field("Idempotency-Key", "required"));
        }
        let record = self.breach_record(id).await?;
        let input: EscalationInput =
            serde_json::from_value(raw.clone()).map_err(|e| Error::field(crate::serde_field(&e.to_string()), "invalid"))?;
        let mut errors = Vec::new();
        let selection = parse_selection(input.subjects, &mut errors);
        if selection.emails.is_empty() && selection.forms.is_empty() {
            errors.push(FieldError::new("subjects", "required"));
        }
        if input.message.is_empty() || input.message.values().any(|m| m.trim().is_empty() || m.chars().count() > 10_000) {
            errors.push(FieldError::new("message", "required"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let idem_key = format!("escalation#{id}#{key}");
        let hash = request_hash(raw);
        match self.store.begin_idempotent(&idem_key, &hash, now, now + self.settings.escalation_lease).await? {
            IdempotencyStart::Completed(answer) => return Ok(answer),
            IdempotencyStart::Mismatch => return Err(Error::IdempotencyConflict),
            IdempotencyStart::InProgress => return Err(Error::IdempotencyInProgress),
            IdempotencyStart::Started => {}
        }
        let request = Escalation { selection, message: input.message, public_notice: input.public_notice };
        let result = self.run_escalation(id, key, &idem_key, record, request, operator, now).await;
        if result.is_err() {
            // Every step of a run is safe to repeat, so a failed run hands its lease back at once and
            // the caller's retry takes over. If the store is what failed, this fails too, and the
            // retry waits for the lease to run out instead.
            if let Err(e) = self.store.abandon_idempotent(&idem_key, &hash).await {
                tracing::warn!(breach = %id, error = %e, "escalation lease not released; a retry waits for it to expire");
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_escalation(
        &self,
        id: &str,
        key: &str,
        idem_key: &str,
        record: BreachRecord,
        input: Escalation,
        operator: &str,
        now: Time,
    ) -> Result<Value, Error> {
        let selection = &input.selection;
        let escalation_id = derived_id("escalation", id, key);
        let (recipients, unreachable, default_lang) = self.select(selection).await?;
        let current = record.breach.as_of(&record.timeline);
        let notice = input.public_notice.then(|| PublicNotice {
            public_id: derived_id("notice", id, key),
            breach_id: id.to_owned(),
            title: current.title.clone(),
            nature: current.nature.clone(),
            likely_consequences: current.likely_consequences.clone(),
            measures: current.measures.clone(),
            contact_point: current.contact_point.clone(),
            messages: input.message.clone(),
            published_at: crate::proof::to_millis(now),
        });
        let escalation = EscalationRecord {
            escalation_id: escalation_id.clone(),
            breach_id: id.to_owned(),
            total: recipients.len() as u64,
            unreachable_erased: unreachable,
            started_at: crate::proof::to_millis(now),
            public_id: notice.as_ref().map(|n| n.public_id.clone()),
            messages: input.message.clone(),
            default_lang,
        };
        // Outbox first, queue second: a crash in between leaves recipients a retry will enqueue.
        self.store.create_escalation(&escalation, &recipients, notice.as_ref()).await?;
        let batches: Vec<JobBatch> = recipients
            .chunks(JobBatch::MAX)
            .map(|c| JobBatch {
                breach_id: id.to_owned(),
                escalation_id: escalation_id.clone(),
                subjects: c.iter().map(|r| r.subject.clone()).collect(),
                throttled: 0,
            })
            .collect();
        self.queue.enqueue(&batches).await?;
        let answer = json!({
            "escalation_id": escalation_id, "recipients": recipients.len(), "unreachable_erased": unreachable,
            "public_notice_url": notice.as_ref().map(|n| format!("{}/v1/notices/{}", self.settings.public_url.trim_end_matches('/'), n.public_id)),
        });
        let already_logged =
            record.timeline.iter().any(|e| e.kind == TimelineKind::Escalated && e.body["escalation_id"] == json!(escalation_id));
        if !already_logged {
            self.log_escalation(id, &answer, operator, now).await?;
        }
        self.store.finish_idempotent(idem_key, &answer, now + Duration::hours(IDEMPOTENCY_KEEP_HOURS)).await?;
        tracing::info!(operator, breach = %id, escalation = %escalation_id, recipients = recipients.len(), unreachable, "escalation started");
        Ok(answer)
    }

    async fn log_escalation(&self, id: &str, answer: &Value, operator: &str, now: Time) -> Result<(), Error> {
        for _ in 0..4 {
            let r = self.breach_record(id).await?;
            let e = TimelineEvent::seal_new(
                self.keys.seals(),
                id,
                (r.head.0, &r.head.1),
                TimelineKind::Escalated,
                answer.clone(),
                operator,
                now,
            );
            match self.store.append_timeline(r.head.clone(), &e).await {
                Ok(()) => return Ok(()),
                Err(AppendError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable("the breach timeline kept moving".into()))
    }

    /// Who gets a notice: explicit addresses, plus subjects collected through the forms (by
    /// purpose and time). One per person; erased people cannot be reached and are counted.
    async fn select(&self, s: &Selection) -> Result<(Vec<Recipient>, u64, Lang), Error> {
        let mut default_lang = Lang::Pl;
        let mut from_forms: BTreeSet<SubjectId> = BTreeSet::new();
        for (i, form) in s.forms.iter().enumerate() {
            if i == 0
                && let Some(f) = self.store.load_form(form).await?
            {
                default_lang = f.form.default_lang;
            }
            from_forms.extend(self.store.subjects_collected(form, s.from, s.to, &s.purposes).await?);
        }
        let explicit: BTreeMap<SubjectId, &EmailAddress> = s.emails.iter().map(|e| (self.subject_id(e), e)).collect();
        let all: Vec<SubjectId> = from_forms.iter().chain(explicit.keys()).cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let contacts = self.store.contacts(&all).await?;
        let mut recipients = Vec::new();
        let mut unreachable = 0;
        for sid in all {
            let c = contacts.get(&sid).cloned().unwrap_or_default();
            if c.suppressed && c.profile.is_none() {
                unreachable += 1;
                continue;
            }
            let email = match (&c.profile, explicit.get(&sid)) {
                (Some(p), _) => p.email.clone(),
                (None, Some(e)) => (*e).clone(),
                (None, None) => continue,
            };
            let lang = c.profile.as_ref().map(|p| p.lang).unwrap_or(default_lang);
            recipients.push(Recipient { subject: sid, email, lang });
        }
        Ok((recipients, unreachable, default_lang))
    }

    pub async fn escalation_progress(&self, breach_id: &str, escalation_id: &str) -> Result<Value, Error> {
        let r = self.breach_record(breach_id).await?;
        let e = r.escalations.iter().find(|e| e.escalation_id == escalation_id).ok_or(Error::EscalationNotFound)?;
        Ok(progress(e, self.store.delivery_counts(escalation_id).await?))
    }

    /// What every notice of an escalation is written from.
    pub async fn notice_content(&self, breach_id: &str, escalation_id: &str) -> Result<NoticeContent, Error> {
        let r = self.breach_record(breach_id).await?;
        let escalation = r.escalations.iter().find(|e| e.escalation_id == escalation_id).cloned().ok_or(Error::EscalationNotFound)?;
        Ok(NoticeContent { breach: r.breach.as_of(&r.timeline), escalation })
    }

    /// Sends one recipient's notice, at most once: claim with a lease, re-check erasure, send,
    /// record. The only window for a duplicate is a crash after SES accepted the mail and before
    /// `finish_recipient` stored it (which keeps trying through a short outage); the lease then
    /// expires and another worker sends again.
    pub async fn deliver(&self, job: &Job, content: &NoticeContent, final_attempt: bool, now: Time) -> Result<JobOutcome, Error> {
        let recipient = match self.store.claim(job, now, now + Duration::seconds(SEND_LEASE)).await? {
            Claim::Finished => return Ok(JobOutcome::Done),
            Claim::Busy => return Ok(JobOutcome::Retry),
            Claim::Claimed(r) => r,
        };
        let contact = match self.store.contacts(std::slice::from_ref(&recipient.subject)).await {
            Ok(mut found) => found.remove(&recipient.subject).unwrap_or_default(),
            Err(e) => {
                // Nothing was sent: hand the claim back so the retry need not wait out the lease
                // (if the store is gone for this too, the lease runs out instead).
                if let Err(release) = self.store.release(job).await {
                    tracing::warn!(escalation = %job.escalation_id, subject = %job.subject, error = %release, "claim not released");
                }
                return Err(e.into());
            }
        };
        if contact.suppressed && contact.profile.is_none() {
            // Erased after the escalation started: never mail them.
            self.store.finish_recipient(job, &Delivery::Failed { reason: "erased".into() }, now).await?;
            return Ok(JobOutcome::Done);
        }
        if contact.undeliverable {
            // The address hard-bounced before: a notice cannot arrive, and resending hurts the sender's reputation.
            self.store.finish_recipient(job, &Delivery::Failed { reason: "undeliverable".into() }, now).await?;
            return Ok(JobOutcome::Done);
        }
        let message = breach_notice(job, &recipient, content);
        match self.mailer.send(&message).await {
            Ok(message_id) => {
                self.store.finish_recipient(job, &Delivery::Sent { message_id }, now).await?;
                Ok(JobOutcome::Done)
            }
            Err(e) if e.throttled => {
                // Not the notice's failure but the sending rate's, which passes: never final.
                tracing::warn!(escalation = %job.escalation_id, subject = %job.subject, error = %e, "breach notice throttled; will send later");
                self.store.release(job).await?;
                Ok(JobOutcome::Throttled)
            }
            Err(e) if final_attempt => {
                tracing::error!(escalation = %job.escalation_id, subject = %job.subject, error = %e, "breach notice failed for good");
                self.store.finish_recipient(job, &Delivery::Failed { reason: e.reason }, now).await?;
                Ok(JobOutcome::Done)
            }
            Err(e) => {
                tracing::warn!(escalation = %job.escalation_id, subject = %job.subject, error = %e, "breach notice failed; will retry");
                self.store.release(job).await?;
                Ok(JobOutcome::Retry)
            }
        }
    }

    /// The deadline watch: for every open breach, the reminder current at `now`, once each.
    pub async fn deadline_watch(&self, now: Time) -> Result<Vec<(String, &'static str)>, Error> {
        let mut sent = Vec::new();
        for r in self.store.list_breaches().await? {
            let current = r.breach.as_of(&r.timeline);
            let Some(which) = breach::due_reminder(&current, &r.timeline, now) else { continue };
            let deadline = current.authority_deadline();
            let marker = format!("reminder#{}#{which}", current.id);
            // Claimed for this run only: a send that fails leaves the reminder to the next run,
            // 15 minutes on, rather than losing it (security review L1); a sent one is kept.
            if !self.store.first_use(&marker, now + REMINDER_CLAIM, now).await? {
                continue;
            }
            let message = Message::DeadlineReminder {
                to: current.contact_point.email.clone(),
                lang: Lang::Pl,
                breach_id: current.id.clone(),
                title: current.title.clone(),
                which,
                deadline,
            };
            match self.mailer.send(&message).await {
                Ok(message_id) => {
                    self.store.keep_use(&marker, deadline + Duration::days(400)).await?;
                    tracing::info!(breach = %current.id, which, message_id = %message_id, "deadline reminder sent");
                    sent.push((current.id.clone(), which));
                }
                Err(e) => tracing::error!(breach = %current.id, which, error = %e, "deadline reminder not sent; the next run tries again"),
            }
        }
        Ok(sent)
    }

    pub async fn public_notice(&self, public_id: &str) -> Result<PublicNotice, Error> {
        self.store.public_notice(public_id).await?.ok_or(Error::NoticeNotFound)
    }
}

/// How long a deadline reminder is claimed by the run sending it: less than the 15 minutes between
/// runs, so the next run finds it free if the send failed.
pub const REMINDER_CLAIM: Duration = Duration::minutes(10);

/// An escalation's progress as the API shows it.
pub fn progress(e: &EscalationRecord, c: DeliveryCounts) -> Value {
    let pending = e.total.saturating_sub(c.sent + c.failed);
    let finished_at = (pending == 0).then(|| c.last_finished_at.unwrap_or(e.started_at));
    json!({
        "escalation_id": e.escalation_id, "total": e.total, "sent": c.sent, "failed": c.failed, "pending": pending,
        "unreachable_erased": e.unreachable_erased, "started_at": format_time(&e.started_at),
        "finished_at": finished_at.map(|t| format_time(&t)),
        "public_id": e.public_id,
    })
}
