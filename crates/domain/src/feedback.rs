//! What the mail provider reports back (SES bounce, complaint and delivery notifications):
//! delivery status for breach notices, undeliverable addresses, and complaints as withdrawals.

use serde::Deserialize;
use serde_json::Value;

use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::form::LawfulBasis;
use crate::ids::{BreachId, EscalationId, SubjectId};
use crate::mail::{Mailer, TAG_BREACH, TAG_ESCALATION, TAG_SUBJECT};
use crate::proof::Channel;
use crate::service::{PurposeStatus, Zgoda, derive_state};
use crate::smoke::{SmokeRunId, SmokeStep, TAG_SMOKE};
use crate::store::{Job, Store, WorkQueue};

/// One notification, as SES publishes it (event publishing uses `eventType`, identity
/// notifications `notificationType`; both are read).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesNotification {
    #[serde(alias = "notificationType")]
    pub event_type: String,
    pub mail: SesMail,
    #[serde(default)]
    pub bounce: Option<Value>,
    #[serde(default)]
    pub complaint: Option<Value>,
    #[serde(default)]
    pub delivery: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesMail {
    pub message_id: String,
    #[serde(default)]
    pub destination: Vec<String>,
    /// The message's tags (SES's own and those it was sent with), each name with its values.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, Vec<String>>,
}

impl SesMail {
    /// The outbox entry a breach notice was sent for, from its tags ([`crate::mail::Message::tags`]).
    /// The smoke run a mail was sent for, from its tag ([`crate::smoke`]).
    pub fn smoke_run(&self) -> Option<SmokeRunId> {
        self.tags.get(TAG_SMOKE).and_then(|v| v.first()).and_then(|run| SmokeRunId::parse(run))
    }

    pub fn delivery(&self) -> Option<Job> {
        let tag = |name: &str| self.tags.get(name).and_then(|v| v.first());
        Some(Job {
            breach_id: BreachId::parse(tag(TAG_BREACH)?)?,
            escalation_id: EscalationId::parse(tag(TAG_ESCALATION)?)?,
            subject: SubjectId::parse(tag(TAG_SUBJECT)?)?,
        })
    }
}

/// What one notification changed, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FeedbackOutcome {
    pub outbox_updated: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub smoke_recorded: bool,
    pub undeliverable: usize,
    pub withdrawn: usize,
}

fn addresses(v: &Option<Value>, list: &str) -> Vec<EmailAddress> {
    v.as_ref()
        .and_then(|v| v[list].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|r| r["emailAddress"].as_str())
                .filter_map(|e| EmailAddress::parse(e.trim_matches(['<', '>'])).ok())
                .collect()
        })
        .unwrap_or_default()
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    pub async fn mail_feedback(&self, n: &SesNotification, now: Time) -> Result<FeedbackOutcome, Error> {
        let mut out = FeedbackOutcome::default();
        if let Some(run) = n.mail.smoke_run() {
            // The end-to-end check's own mail: its events are what the check waits for.
            let step = match n.event_type.as_str() {
                "Send" => Some(SmokeStep::SendEvent),
                "Delivery" => Some(SmokeStep::DeliveryEvent),
                _ => None,
            };
            if let Some(step) = step {
                self.store.record_smoke(&run, &step, now).await?;
                out.smoke_recorded = true;
            }
            tracing::info!(event = %n.event_type, message_id = %n.mail.message_id, ?out, "mail feedback");
            return Ok(out);
        }
        match n.event_type.as_str() {
            // SES accepted a breach notice. Usually the notifier has recorded it already; if the
            // notifier died between SES's answer and its record, this records it, and the
            // recipient is not sent a second notice when the lease runs out.
            "Send" => {
                if let Some(job) = n.mail.delivery() {
                    out.outbox_updated = self.store.record_accepted(&job, &n.mail.message_id, now).await?;
                }
            }
            "Delivery" => out.outbox_updated = self.record_on_notice(&n.mail, "delivered", now).await?,
            "Bounce" => {
                let permanent = n.bounce.as_ref().and_then(|b| b["bounceType"].as_str()) == Some("Permanent");
                let kind = if permanent { "hard_bounce" } else { "soft_bounce" };
                out.outbox_updated = self.record_on_notice(&n.mail, kind, now).await?;
                if permanent {
                    for email in addresses(&n.bounce, "bouncedRecipients") {
                        self.store.mark_undeliverable(&self.subject_id(&email), now).await?;
                        out.undeliverable += 1;
                    }
                }
            }
            "Complaint" => {
                out.outbox_updated = self.record_on_notice(&n.mail, "complaint", now).await?;
                for email in addresses(&n.complaint, "complainedRecipients") {
                    out.withdrawn += self.withdraw_marketing(&email, now).await?;
                }
            }
            _ => {}
        }
        tracing::info!(event = %n.event_type, message_id = %n.mail.message_id, ?out, "mail feedback");
        Ok(out)
    }

    /// Records feedback on the breach notice a mail was, if it was one. Its tags name the outbox
    /// entry, so nothing is looked up by message id, and feedback on other mail (confirmations,
    /// owner notices) reads and writes nothing.
    async fn record_on_notice(&self, mail: &SesMail, feedback: &str, now: Time) -> Result<bool, Error> {
        let Some(job) = mail.delivery() else { return Ok(false) };
        Ok(self.store.record_feedback(&job, &mail.message_id, feedback, now).await?)
    }

    /// A spam complaint withdraws every consent-based purpose currently given or requested.
    async fn withdraw_marketing(&self, email: &EmailAddress, now: Time) -> Result<usize, Error> {
        let subject = self.subject_id(email);
        let record = self.store.load_subject(&subject).await?;
        let mut events = record.events;
        events.sort_by_key(|e| e.facts.seq);
        let state = derive_state(&events, self.settings.confirm_ttl, now);
        let mut withdrawn = 0;
        for (purpose, status) in state {
            let consent_based = events.iter().rev().find(|e| e.facts.purpose.as_ref() == Some(&purpose)).and_then(|e| e.facts.lawful_basis)
                == Some(LawfulBasis::Consent);
            if consent_based && matches!(status, PurposeStatus::Given | PurposeStatus::Requested) {
                let outcome = self.withdraw(&subject, &purpose, Channel::MailComplaint, None, now).await?;
                if matches!(outcome, crate::links::LinkOutcome::Withdrawn { already: false, .. }) {
                    withdrawn += 1;
                }
            }
        }
        Ok(withdrawn)
    }
}
