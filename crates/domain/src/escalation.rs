//! Telling the affected people (Art. 34): an escalation selects them, writes one outbox entry per
//! person and queues them (idempotent by the caller's key); the notifier delivers each notice at
//! most once. Also the public notice of Art. 34(3)(c).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::breach::{Breach, Party};
use crate::deadline;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::{BreachId, EscalationId, EventId, FormId, IdempotencyKey, NoticeId, OperatorId, PurposeId, SubjectId};
use crate::lang::Lang;
use crate::mail::{Mailer, Message};
use crate::notice_text::{Facts, LanguageFallback, NoticeText, NoticeTexts};
use crate::proof::{millis, opt_millis};
use crate::service::Zgoda;
use crate::store::{
    BreachRecord, BreachStore, Claim, Delivery, DeliveryCounts, EscalationRecord, FormStore, IdempotencyStart, Job, JobBatch, PublicNotice,
    Recipient, WorkQueue,
};
use crate::timeline::{NewEntry, TimelineEntry};
use crate::{FieldError, Time, canonical};

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
    /// Per language: the advice alone (a string), or the advice with the facts in that language.
    pub message: BTreeMap<Lang, NoticeText>,
    /// The language to tell recipients in whose own has no texts here; without it they are refused.
    #[serde(default)]
    pub fallback_lang: Option<Lang>,
    #[serde(default)]
    pub public_notice: bool,
}

/// What starting an escalation answers (and what its timeline entry records): repeats of the
/// request with the same key get the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationStarted {
    pub escalation_id: EscalationId,
    pub recipients: u64,
    /// A drill's: how many people the selection named, whom the drill team stands in for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_selected: Option<u64>,
    pub unreachable_erased: u64,
    pub public_notice_url: Option<String>,
    /// The recipients' languages this escalation had no texts for, and the one they are told in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language_fallbacks: Vec<LanguageFallback>,
}

/// An escalation's progress, counted from its outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationProgress {
    pub escalation_id: EscalationId,
    pub total: u64,
    pub sent: u64,
    pub failed: u64,
    pub pending: u64,
    pub unreachable_erased: u64,
    #[serde(with = "millis")]
    pub started_at: Time,
    #[serde(with = "opt_millis")]
    pub finished_at: Option<Time>,
    pub public_id: Option<NoticeId>,
}

/// What an escalation would do, from [`Zgoda::preview_escalation`].
#[derive(Debug, Clone, Serialize)]
pub struct EscalationPreview {
    pub recipients: u64,
    /// How many would be told in each language (after any fallback).
    pub by_lang: BTreeMap<Lang, u64>,
    pub drill_selected: Option<u64>,
    pub unreachable_erased: u64,
    pub public_notice: bool,
    pub language_fallbacks: Vec<LanguageFallback>,
    /// One notice per language in `by_lang`, addressed to the breach's contact point; rendered
    /// by the adapter that answers (the domain does not render mail).
    #[serde(skip)]
    pub notices: Vec<Message>,
}

/// Who an escalation tells, decided before anything is written.
struct Plan {
    current: Breach,
    recipients: Vec<Recipient>,
    unreachable: u64,
    default_lang: Lang,
    drill_selected: Option<u64>,
    language_fallbacks: Vec<LanguageFallback>,
}

/// A checked escalation request: who, and what they are told.
struct Escalation {
    selection: Selection,
    texts: NoticeTexts,
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
fn derived_id(prefix: &str, breach: &BreachId, key: &IdempotencyKey) -> String {
    let h = Sha256::digest(format!("zgoda/{prefix}/v1\n{breach}\n{}", key.as_str()));
    format!("{}{}", prefix.chars().next().unwrap_or('x').to_ascii_uppercase(), &hex::encode(h)[..25])
}

fn escalation_id(breach: &BreachId, key: &IdempotencyKey) -> EscalationId {
    EscalationId::parse(&derived_id("escalation", breach, key)).expect("a letter and hex digits")
}

fn notice_id(breach: &BreachId, key: &IdempotencyKey) -> NoticeId {
    NoticeId::parse(&derived_id("notice", breach, key)).expect("a letter and hex digits")
}

/// The request's fingerprint for the idempotency record, over its canonical bytes: the same body
/// with its keys in another order is the same request.
fn request_hash(body: &Value) -> String {
    hex::encode(Sha256::digest(canonical::json_bytes(body)))
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

/// The facts as the register states them, in `REGISTER_LANG`.
pub fn register_facts(b: &Breach) -> Facts {
    Facts { nature: b.nature.clone(), consequences: b.likely_consequences.clone(), measures: b.measures.clone() }
}

/// The notice one recipient gets: the breach's facts and the escalation's advice in their
/// language (or the fallback the operator chose), tagged with the outbox entry it is sent for.
pub fn breach_notice(job: &Job, recipient: &Recipient, content: &NoticeContent) -> Message {
    notice(job, recipient, &content.breach, &content.escalation.texts)
}

fn notice(job: &Job, recipient: &Recipient, b: &Breach, texts: &NoticeTexts) -> Message {
    let told = texts.resolve(recipient.lang, &register_facts(b));
    Message::BreachNotice {
        to: recipient.email.clone(),
        lang: told.lang,
        delivery: job.clone(),
        breach_id: b.id.clone(),
        nature: told.facts.nature,
        likely_consequences: told.facts.consequences,
        measures: told.facts.measures,
        advice: told.advice,
        contact: b.contact_point.clone(),
        drill: b.is_drill(),
    }
}

impl<S: BreachStore + FormStore, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// Starts (or answers a repeat of) an escalation: one notice per affected person, at most once.
    pub async fn escalate(
        &self,
        id: &BreachId,
        key: Option<IdempotencyKey>,
        raw: &Value,
        operator: &OperatorId,
        now: Time,
    ) -> Result<EscalationStarted, Error> {
        let key = key.ok_or_else(|| Error::field("Idempotency-Key", "required"))?;
        let (record, request) = self.escalation_request(id, raw).await?;
        let idem_key = format!("escalation#{id}#{}", key.as_str());
        let hash = request_hash(raw);
        match self.store.begin_idempotent(&idem_key, &hash, now, now + self.settings.escalation_lease).await? {
            IdempotencyStart::Completed(answer) => return Ok(answer),
            IdempotencyStart::Mismatch => return Err(Error::IdempotencyConflict),
            IdempotencyStart::InProgress => return Err(Error::IdempotencyInProgress),
            IdempotencyStart::Started => {}
        }
        let run = Run { breach: id, key: &key, idem_key: &idem_key, operator, now };
        let result = self.run_escalation(&run, record, request).await;
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

    async fn run_escalation(&self, run: &Run<'_>, record: BreachRecord, input: Escalation) -> Result<EscalationStarted, Error> {
        let (id, now) = (run.breach, run.now);
        let escalation_id = escalation_id(id, run.key);
        let Plan { current, recipients, unreachable, default_lang, drill_selected, language_fallbacks } =
            self.plan(id, &record, &input).await?;
        let notice = input.public_notice.then(|| PublicNotice {
            public_id: notice_id(id, run.key),
            breach_id: id.clone(),
            title: current.title.clone(),
            nature: current.nature.clone(),
            likely_consequences: current.likely_consequences.clone(),
            measures: current.measures.clone(),
            contact_point: current.contact_point.clone(),
            texts: input.texts.clone(),
            published_at: crate::proof::to_millis(now),
            drill: current.is_drill(),
        });
        let escalation = EscalationRecord {
            escalation_id: escalation_id.clone(),
            breach_id: id.clone(),
            total: recipients.len() as u64,
            unreachable_erased: unreachable,
            started_at: crate::proof::to_millis(now),
            public_id: notice.as_ref().map(|n| n.public_id.clone()),
            texts: input.texts.clone(),
            default_lang,
        };
        // Outbox first, queue second: a crash in between leaves recipients a retry will enqueue.
        self.store.create_escalation(&escalation, &recipients, notice.as_ref()).await?;
        let batches: Vec<JobBatch> = recipients
            .chunks(JobBatch::MAX)
            .map(|c| JobBatch {
                breach_id: id.clone(),
                escalation_id: escalation_id.clone(),
                subjects: c.iter().map(|r| r.subject.clone()).collect(),
                throttled: 0,
            })
            .collect();
        self.queue.enqueue(&batches).await?;
        let answer = EscalationStarted {
            escalation_id: escalation_id.clone(),
            recipients: recipients.len() as u64,
            drill_selected,
            unreachable_erased: unreachable,
            public_notice_url: notice.as_ref().map(|n| self.settings.public_url.join(&format!("/v1/notices/{}", n.public_id))),
            language_fallbacks,
        };
        let already_logged =
            record.timeline.iter().any(|e| matches!(&e.entry, TimelineEntry::Escalated(s) if s.escalation_id == escalation_id));
        if !already_logged {
            // The entry's id comes from the escalation's, so a retry that logs it names the same entry.
            let event_id = EventId::parse(escalation_id.as_str()).expect("an escalation id is an entry id");
            let new = NewEntry { event_id, breach_id: id, by: run.operator, at: now };
            self.append_entry(new, &|_, _| Ok(TimelineEntry::Escalated(answer.clone()))).await?;
        }
        self.store.finish_idempotent(run.idem_key, &answer, now + Duration::hours(IDEMPOTENCY_KEEP_HOURS)).await?;
        tracing::info!(operator = %run.operator, breach = %id, escalation = %escalation_id, recipients = recipients.len(), unreachable, "escalation started");
        Ok(answer)
    }

    /// The breach and the checked request, or why the request cannot be taken: shared by the
    /// escalation and its preview, so a preview is refused exactly where the escalation would be.
    async fn escalation_request(&self, id: &BreachId, raw: &Value) -> Result<(BreachRecord, Escalation), Error> {
        let record = self.breach_record(id).await?;
        if record.breach.notifies() == Party::Controller && !deadline::instructed(&record.timeline) {
            // Art. 33(2), 28(3)(f): a processor tells the people only on its controller's instruction.
            return Err(Error::ControllerInstructionRequired);
        }
        let input: EscalationInput = crate::from_value(raw.clone())?;
        let mut errors = Vec::new();
        let selection = parse_selection(input.subjects, &mut errors);
        if selection.emails.is_empty() && selection.forms.is_empty() {
            errors.push(FieldError::new("subjects", "required"));
        }
        let texts = NoticeTexts::parse(input.message, input.fallback_lang, &mut errors);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok((record, Escalation { selection, texts, public_notice: input.public_notice }))
    }

    /// Who an escalation tells and whether every language they read has its texts; nothing written.
    async fn plan(&self, id: &BreachId, record: &BreachRecord, input: &Escalation) -> Result<Plan, Error> {
        let (mut recipients, unreachable, default_lang) = self.select(&input.selection).await?;
        let current = record.breach.as_of(&record.timeline);
        // Every language the people read must have its texts (or an avowed fallback) before
        // anything is written; a drill checks the people it stands in for and its team.
        let mut wanted: BTreeMap<Lang, u64> = BTreeMap::new();
        for r in &recipients {
            *wanted.entry(r.lang).or_default() += 1;
        }
        if current.drill.is_some() {
            wanted.entry(default_lang).or_default();
        }
        let language_fallbacks = input.texts.cover(&wanted, &register_facts(&current)).map_err(Error::Validation)?;
        let drill_selected = current.drill.as_ref().map(|drill| {
            // A drill selects as a real escalation would, and mails the team instead.
            let selected = recipients.len() as u64;
            recipients = drill_team(id, drill, default_lang);
            selected
        });
        Ok(Plan { current, recipients, unreachable, default_lang, drill_selected, language_fallbacks })
    }

    /// What an escalation with this body would do, without doing it: how many people it would
    /// tell, in which languages, and the notice each language gets (addressed to the breach's
    /// contact point, never to a recipient), so the console can ask "send 2,113 notices in pl
    /// and en?" before the click that cannot be taken back.
    pub async fn preview_escalation(&self, id: &BreachId, raw: &Value) -> Result<EscalationPreview, Error> {
        let (record, request) = self.escalation_request(id, raw).await?;
        let plan = self.plan(id, &record, &request).await?;
        let facts = register_facts(&plan.current);
        let mut by_lang: BTreeMap<Lang, u64> = BTreeMap::new();
        for r in &plan.recipients {
            *by_lang.entry(request.texts.resolve(r.lang, &facts).lang).or_default() += 1;
        }
        // The notice of each language as the notifier would write it; the job is a stand-in
        // (it only tags a real notice with its outbox entry).
        let contact = plan.current.contact_point.email.clone();
        let stand_in = Job {
            breach_id: id.clone(),
            escalation_id: EscalationId::parse("preview").expect("letters"),
            subject: SubjectId::from_digest(&[0; 32]),
        };
        let notices = by_lang
            .keys()
            .map(|&lang| {
                let to = Recipient { subject: stand_in.subject.clone(), email: contact.clone(), lang };
                notice(&stand_in, &to, &plan.current, &request.texts)
            })
            .collect();
        Ok(EscalationPreview {
            recipients: plan.recipients.len() as u64,
            by_lang,
            drill_selected: plan.drill_selected,
            unreachable_erased: plan.unreachable,
            public_notice: request.public_notice,
            language_fallbacks: plan.language_fallbacks,
            notices,
        })
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

    pub async fn escalation_progress(&self, breach_id: &BreachId, escalation_id: &EscalationId) -> Result<EscalationProgress, Error> {
        let r = self.breach_record(breach_id).await?;
        let e = r.escalations.iter().find(|e| &e.escalation_id == escalation_id).ok_or(Error::EscalationNotFound)?;
        Ok(progress(e, self.store.delivery_counts(escalation_id).await?))
    }

    /// What every notice of an escalation is written from.
    pub async fn notice_content(&self, breach_id: &BreachId, escalation_id: &EscalationId) -> Result<NoticeContent, Error> {
        let r = self.breach_record(breach_id).await?;
        let escalation = r.escalations.iter().find(|e| &e.escalation_id == escalation_id).cloned().ok_or(Error::EscalationNotFound)?;
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

    pub async fn public_notice(&self, public_id: &NoticeId) -> Result<PublicNotice, Error> {
        self.store.public_notice(public_id).await?.ok_or(Error::NoticeNotFound)
    }
}

/// A drill's recipients: its team, each under an id of its own for this breach (never a real
/// person's, so a team member who is also a customer gets the drill notice beside, not instead of,
/// anything real).
fn drill_team(breach: &BreachId, drill: &crate::breach::Drill, lang: Lang) -> Vec<Recipient> {
    drill
        .team
        .iter()
        .map(|email| {
            let digest = Sha256::digest(format!("zgoda/drill-recipient/v1\n{breach}\n{}", email.as_str()));
            Recipient { subject: SubjectId::from_digest(&digest), email: email.clone(), lang }
        })
        .collect()
}

/// One run of an escalation: whose, under which key, by whom, when.
struct Run<'a> {
    breach: &'a BreachId,
    key: &'a IdempotencyKey,
    idem_key: &'a str,
    operator: &'a OperatorId,
    now: Time,
}

/// An escalation's progress as the API shows it.
pub fn progress(e: &EscalationRecord, c: DeliveryCounts) -> EscalationProgress {
    let pending = e.total.saturating_sub(c.sent + c.failed);
    EscalationProgress {
        escalation_id: e.escalation_id.clone(),
        total: e.total,
        sent: c.sent,
        failed: c.failed,
        pending,
        unreachable_erased: e.unreachable_erased,
        started_at: e.started_at,
        finished_at: (pending == 0).then(|| c.last_finished_at.unwrap_or(e.started_at)),
        public_id: e.public_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_body_with_its_keys_in_another_order_is_the_same_request() {
        let a: Value = serde_json::from_str(r#"{"subjects":{"forms":["newsletter"],"emails":["a@example.pl"]},"message":{"pl":"Zmień hasło","en":"Change your password"},"public_notice":true}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"public_notice":true,"message":{"en":"Change your password","pl":"Zmień hasło"},"subjects":{"emails":["a@example.pl"],"forms":["newsletter"]}}"#).unwrap();
        assert_eq!(request_hash(&a), request_hash(&b));
        // Pinned from the code before the canonical encoding: stored idempotency records still match.
        assert_eq!(request_hash(&a), "4efbf2df1cfc286acbba192e7ac4959859c5552515b634d6c5a3db5a00900be2");
    }
}

/// Escalation and delivery over the in-memory adapters.
#[cfg(test)]
mod use_cases {
    use super::*;
    use crate::breach::tests::{input, now, ops};
    use crate::memory::{self, MemoryApp};
    use crate::register::tests::registered;
    use crate::store::{Contact, Profile};
    use serde_json::json;

    fn person(app: &MemoryApp, address: &str, lang: Lang) -> (SubjectId, EmailAddress) {
        let email = EmailAddress::parse(address).unwrap();
        let subject = app.subject_id(&email);
        let profile = Profile { email: email.clone(), lang, updated_at: now(), expires_at: None };
        app.store.add_contact(subject.clone(), Contact { profile: Some(profile), ..Contact::default() });
        (subject, email)
    }

    fn erased(app: &MemoryApp, address: &str) -> SubjectId {
        let subject = app.subject_id(&EmailAddress::parse(address).unwrap());
        app.store.add_contact(subject.clone(), Contact { suppressed: true, ..Contact::default() });
        subject
    }

    async fn escalate(app: &MemoryApp, key: &str, body: &Value) -> Result<EscalationStarted, Error> {
        app.escalate(&BreachId::parse("B1").unwrap(), IdempotencyKey::parse(key), body, &ops(), now()).await
    }

    /// The notice's texts in English: the advice and each fact the register states.
    fn english() -> Value {
        json!({"advice": "Change your password.", "nature": "A copy of the database was exposed",
            "consequences": "phishing", "measures": "access blocked"})
    }

    #[tokio::test]
    async fn art34_2_an_english_reader_without_english_facts_is_refused_before_anything_is_written_or_told_in_the_fallback() {
        let app = memory::app();
        registered(&app, input()).await;
        person(&app, "john@example.com", Lang::En);
        let polish_facts =
            json!({"subjects": {"emails": ["john@example.com"]}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}});
        let refused = escalate(&app, "k1", &polish_facts).await;
        assert!(matches!(&refused, Err(Error::Validation(f)) if f == &vec![FieldError::new("message.en", "missing_texts")]), "{refused:?}");
        assert!(app.queue.batches().is_empty(), "nothing queued");
        let view = app.breach(&BreachId::parse("B1").unwrap(), now()).await.unwrap();
        assert!(view.escalations.is_empty(), "nothing written");
        let mut fallback = polish_facts.clone();
        fallback["fallback_lang"] = json!("pl");
        let started = escalate(&app, "k1", &fallback).await.unwrap();
        assert_eq!(started.language_fallbacks, vec![LanguageFallback { lang: Lang::En, told_in: Lang::Pl, recipients: 1 }]);
        let batch = app.queue.batches().remove(0);
        let content = app.notice_content(&batch.breach_id, &batch.escalation_id).await.unwrap();
        let job = batch.jobs().next().unwrap();
        app.deliver(&job, &content, false, now()).await.unwrap();
        let sent = app.mailer.sent();
        assert!(
            matches!(&sent[0], Message::BreachNotice { lang: Lang::Pl, advice, nature, .. } if advice == "Zmień hasło." && nature == "Kopia bazy wystawiona publicznie"),
            "the whole notice is in Polish: {sent:?}"
        );
    }

    #[tokio::test]
    async fn art34_1_selection_takes_each_person_once_from_forms_and_addresses_and_counts_the_erased() {
        let app = memory::app();
        registered(&app, input()).await;
        let form = FormId::parse("newsletter").unwrap();
        let purpose = PurposeId::parse("news").unwrap();
        let (anna, _) = person(&app, "anna@example.pl", Lang::Pl);
        let (john, _) = person(&app, "john@example.com", Lang::En);
        let gone = erased(&app, "gone@example.pl");
        for s in [&anna, &john, &gone] {
            app.store.add_collected(form.clone(), s.clone(), purpose.clone(), now() - chrono::Duration::days(1));
        }
        let outside = person(&app, "old@example.pl", Lang::Pl).0;
        app.store.add_collected(form.clone(), outside, purpose.clone(), now() - chrono::Duration::days(100));
        let body = json!({"subjects": {"forms": ["newsletter"], "emails": ["anna@example.pl", "stranger@example.pl"],
            "collected_from": "2026-11-01T00:00:00Z"}, "message": {"pl": "Zmień hasło.", "en": english()}});
        let started = escalate(&app, "k1", &body).await.unwrap();
        assert_eq!((started.recipients, started.unreachable_erased), (3, 1), "anna once, john, and the stranger named by address");
        let queued: usize = app.queue.batches().iter().map(|b| b.subjects.len()).sum();
        assert_eq!(queued, 3);
        let view = app.breach(&BreachId::parse("B1").unwrap(), now()).await.unwrap();
        assert!(
            matches!(&view.timeline.last().unwrap().entry, TimelineEntry::Escalated(s) if s == &started),
            "the escalation is on the timeline"
        );
    }

    #[tokio::test]
    async fn the_same_key_and_body_answer_the_same_and_queue_nothing_more_and_another_body_is_a_conflict() {
        let app = memory::app();
        registered(&app, input()).await;
        person(&app, "anna@example.pl", Lang::Pl);
        let body = json!({"subjects": {"emails": ["anna@example.pl"]}, "message": {"pl": "Zmień hasło."}});
        let first = escalate(&app, "k1", &body).await.unwrap();
        let reordered = json!({"message": {"pl": "Zmień hasło."}, "subjects": {"emails": ["anna@example.pl"]}});
        assert_eq!(escalate(&app, "k1", &reordered).await.unwrap(), first);
        assert_eq!(app.queue.batches().len(), 1);
        let other = json!({"subjects": {"emails": ["anna@example.pl"]}, "message": {"pl": "Inna treść."}});
        assert!(matches!(escalate(&app, "k1", &other).await, Err(Error::IdempotencyConflict)));
        assert!(matches!(escalate(&app, "", &body).await, Err(Error::Validation(f)) if f[0].field == "Idempotency-Key"));
    }

    #[tokio::test]
    async fn art34_1_each_notice_is_sent_once_in_the_persons_language_and_an_erased_person_gets_none() {
        let app = memory::app();
        registered(&app, input()).await;
        person(&app, "anna@example.pl", Lang::Pl);
        person(&app, "john@example.com", Lang::En);
        let body =
            json!({"subjects": {"emails": ["anna@example.pl", "john@example.com"]}, "message": {"pl": "Zmień hasło.", "en": english()}});
        let started = escalate(&app, "k1", &body).await.unwrap();
        let batch = app.queue.batches().remove(0);
        let content = app.notice_content(&batch.breach_id, &batch.escalation_id).await.unwrap();
        let john = app.subject_id(&EmailAddress::parse("john@example.com").unwrap());
        // John is erased after the escalation started: his notice is never sent.
        app.store.add_contact(john.clone(), Contact { suppressed: true, ..Contact::default() });
        for job in batch.jobs() {
            assert_eq!(app.deliver(&job, &content, false, now()).await.unwrap(), JobOutcome::Done);
            assert_eq!(app.deliver(&job, &content, false, now()).await.unwrap(), JobOutcome::Done, "a redelivered job sends nothing");
        }
        let sent = app.mailer.sent();
        assert_eq!(sent.len(), 1);
        assert!(matches!(&sent[0], Message::BreachNotice { lang: Lang::Pl, advice, .. } if advice == "Zmień hasło."));
        let progress = app.escalation_progress(&batch.breach_id, &started.escalation_id).await.unwrap();
        assert_eq!((progress.sent, progress.failed, progress.pending), (1, 1, 0));
        assert!(matches!(app.store.deliveries(&started.escalation_id)[&john], Some(Delivery::Failed { ref reason }) if reason == "erased"));
    }

    #[tokio::test]
    async fn art34_2_a_preview_counts_the_people_by_language_shows_each_languages_notice_and_writes_nothing() {
        let app = memory::app();
        registered(&app, input()).await;
        person(&app, "anna@example.pl", Lang::Pl);
        person(&app, "john@example.com", Lang::En);
        erased(&app, "gone@example.pl");
        let body = json!({"subjects": {"emails": ["anna@example.pl", "john@example.com", "gone@example.pl", "new@example.pl"]},
            "message": {"pl": "Zmień hasło.", "en": english()}});
        let breach = BreachId::parse("B1").unwrap();
        let preview = app.preview_escalation(&breach, &body).await.unwrap();
        assert_eq!(preview.recipients, 3, "anna, john and the address given; the erased one is counted apart");
        assert_eq!(preview.unreachable_erased, 1);
        assert_eq!(preview.by_lang, BTreeMap::from([(Lang::Pl, 2), (Lang::En, 1)]));
        let contact = app.breach(&breach, now()).await.unwrap().breach.contact_point.email;
        assert!(
            matches!(&preview.notices[..], [Message::BreachNotice { lang: Lang::Pl, advice: pl, to: a, .. }, Message::BreachNotice { lang: Lang::En, advice: en, to: b, .. }]
                if en == "Change your password." && pl == "Zmień hasło." && a == &contact && b == &contact),
            "one notice per language, to the contact point: {:?}",
            preview.notices
        );
        assert!(app.queue.batches().is_empty(), "nothing queued");
        assert!(app.breach(&breach, now()).await.unwrap().escalations.is_empty(), "nothing written");
        let polish_only = json!({"subjects": {"emails": ["john@example.com"]}, "message": {"pl": "Zmień hasło."}});
        let refused = app.preview_escalation(&breach, &polish_only).await;
        assert!(
            matches!(&refused, Err(Error::Validation(f)) if f[0].field == "message.en"),
            "refused as the escalation would be: {refused:?}"
        );
    }

    async fn add(app: &MemoryApp, id: &str, entry: Value) -> Result<crate::timeline::TimelineEvent, Error> {
        let breach = BreachId::parse("B1").unwrap();
        let new = NewEntry { event_id: EventId::parse(id).unwrap(), breach_id: &breach, by: &ops(), at: now() };
        app.add_timeline(new, serde_json::from_value(entry).unwrap()).await
    }

    #[tokio::test]
    async fn art28_3f_a_processor_tells_the_people_only_on_its_controllers_recorded_instruction() {
        let app = memory::app();
        let view = registered(&app, crate::register::tests::as_processor(24)).await;
        assert!(!view.assessment.subjects_notification_required, "high band, but the controller decides");
        person(&app, "anna@example.pl", Lang::Pl);
        let body = json!({"subjects": {"emails": ["anna@example.pl"]}, "message": {"pl": "Zmień hasło."}});
        assert!(matches!(escalate(&app, "k1", &body).await, Err(Error::ControllerInstructionRequired)));
        assert!(app.queue.batches().is_empty(), "nothing queued");
        let on_controller = json!({"type": "controller_instruction"});
        assert!(matches!(add(&app, "E2", on_controller).await, Err(Error::Validation(f)) if f[0].field == "instruction"));
        add(&app, "E3", json!({"type": "controller_instruction", "instruction": "Zawiadomcie klientów po polsku, treść w załączniku."}))
            .await
            .unwrap();
        let view = app.breach(&BreachId::parse("B1").unwrap(), now()).await.unwrap();
        assert!(view.assessment.subjects_notification_required && view.assessment.controller_instruction);
        assert_eq!(escalate(&app, "k1", &body).await.unwrap().recipients, 1);
    }

    #[tokio::test]
    async fn art33_2_a_controllers_breach_takes_no_controller_instruction() {
        let app = memory::app();
        registered(&app, input()).await;
        let err = add(&app, "E2", json!({"type": "controller_instruction", "instruction": "x"})).await.unwrap_err();
        assert!(matches!(err, Error::Validation(f) if f == vec![FieldError::new("type", "wrong_role")]));
    }

    #[tokio::test]
    async fn seed_drill_a_drill_selects_as_usual_mails_only_its_team_and_stays_out_of_the_register() {
        let app = memory::app();
        let mut body = input();
        body["drill"] = json!({"team": ["iod@example.pl", "it@example.pl"]});
        registered(&app, body).await;
        for i in 0..5 {
            person(&app, &format!("klient{i}@example.pl"), Lang::Pl);
        }
        let emails: Vec<String> = (0..5).map(|i| format!("klient{i}@example.pl")).collect();
        let started = escalate(&app, "k1", &json!({"subjects": {"emails": emails}, "message": {"pl": "Zmień hasło."}})).await.unwrap();
        assert_eq!((started.recipients, started.drill_selected), (2, Some(5)), "the team stands in for the five selected");
        let batch = app.queue.batches().remove(0);
        let content = app.notice_content(&batch.breach_id, &batch.escalation_id).await.unwrap();
        for job in batch.jobs() {
            app.deliver(&job, &content, false, now()).await.unwrap();
        }
        let to: Vec<(String, bool)> = app
            .mailer
            .sent()
            .iter()
            .map(|m| match m {
                Message::BreachNotice { to, drill, .. } => (to.as_str().to_owned(), *drill),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(to, [("iod@example.pl".to_owned(), true), ("it@example.pl".to_owned(), true)]);
        assert!(app.breaches(false, now()).await.unwrap().items.is_empty(), "the register holds no drill");
        let drills = app.breaches(true, now()).await.unwrap().items;
        let review = drills[0].drill_review.clone().unwrap();
        let steps: Vec<&str> = review.steps.iter().map(|s| s.step.as_str()).collect();
        assert_eq!(steps, ["registered", "escalated", "notices_finished"]);
        assert_eq!(review.steps[0].after_seconds, 24 * 3600, "detected 2026-11-20 10:00, registered a day later");
        assert_eq!(review.notes, None);
        add(&app, "E9", json!({"type": "drill_ended", "notes": "Nikt nie wiedział, gdzie jest szablon zawiadomienia."})).await.unwrap();
        let review = app.breach(&BreachId::parse("B1").unwrap(), now()).await.unwrap().drill_review.unwrap();
        assert_eq!(review.notes.as_deref(), Some("Nikt nie wiedział, gdzie jest szablon zawiadomienia."));
    }

    #[tokio::test]
    async fn seed_drill_only_a_drill_ends_and_its_team_is_checked() {
        let app = memory::app();
        registered(&app, input()).await;
        let err = add(&app, "E2", json!({"type": "drill_ended", "notes": "x"})).await.unwrap_err();
        assert!(matches!(err, Error::Validation(f) if f == vec![FieldError::new("type", "not_a_drill")]));
        let mut body = input();
        body["drill"] = json!({"team": ["iod@example.pl", "nie-adres", "iod@example.pl"]});
        let parsed: crate::breach::BreachInput = crate::from_value(body).unwrap();
        let err = parsed.parse(BreachId::parse("B2").unwrap(), &ops(), now()).unwrap_err();
        assert_eq!(err, vec![FieldError::new("drill.team[1]", "invalid"), FieldError::new("drill.team[2]", "duplicate")]);
    }

    #[tokio::test]
    async fn m6_a_throttled_notice_is_handed_back_and_a_failed_one_retried_until_the_last_attempt() {
        let app = memory::app();
        registered(&app, input()).await;
        person(&app, "anna@example.pl", Lang::Pl);
        escalate(&app, "k1", &json!({"subjects": {"emails": ["anna@example.pl"]}, "message": {"pl": "x"}})).await.unwrap();
        let batch = app.queue.batches().remove(0);
        let job = batch.jobs().next().unwrap();
        let content = app.notice_content(&batch.breach_id, &batch.escalation_id).await.unwrap();
        app.mailer.fail_next(crate::mail::MailError::throttled("Throttling"));
        assert_eq!(app.deliver(&job, &content, true, now()).await.unwrap(), JobOutcome::Throttled, "never final, even on the last attempt");
        app.mailer.fail_next(crate::mail::MailError::new("MessageRejected"));
        assert_eq!(app.deliver(&job, &content, false, now()).await.unwrap(), JobOutcome::Retry);
        app.mailer.fail_next(crate::mail::MailError::new("MessageRejected"));
        assert_eq!(app.deliver(&job, &content, true, now()).await.unwrap(), JobOutcome::Done);
        assert!(
            matches!(&app.store.deliveries(&batch.escalation_id)[&job.subject], Some(Delivery::Failed { reason }) if reason == "MessageRejected")
        );
        assert!(app.mailer.sent().is_empty());
    }
}
