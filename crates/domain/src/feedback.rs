//! What the mail provider reports back (SES bounce, complaint and delivery notifications):
//! delivery status for breach notices, undeliverable addresses, and complaints as withdrawals.

use serde::Deserialize;

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
/// notifications `notificationType`; both are read). Only what zgoda acts on is read; every other
/// field SES sends, and every event type zgoda does not act on, is ignored.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesNotification {
    #[serde(alias = "notificationType")]
    pub event_type: SesEventType,
    pub mail: SesMail,
    #[serde(default)]
    pub bounce: Option<Bounce>,
    #[serde(default)]
    pub complaint: Option<Complaint>,
}

/// The kinds of notification zgoda acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum SesEventType {
    /// SES accepted the mail.
    Send,
    Delivery,
    Bounce,
    Complaint,
    /// Opens, clicks, rejects, delays, rendering failures, subscriptions: nothing to do.
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bounce {
    #[serde(default)]
    pub bounce_type: BounceType,
    #[serde(default)]
    pub bounced_recipients: Vec<SesRecipient>,
}

/// A permanent bounce means the address cannot receive mail; the others may pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum BounceType {
    Permanent,
    Transient,
    #[default]
    #[serde(other)]
    Undetermined,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Complaint {
    #[serde(default)]
    pub complained_recipients: Vec<SesRecipient>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SesRecipient {
    pub email_address: String,
}

impl SesRecipient {
    /// The address, if it is one (SES may wrap it in angle brackets).
    fn address(&self) -> Option<EmailAddress> {
        EmailAddress::parse(self.email_address.trim_matches(['<', '>'])).ok()
    }
}

impl SesEventType {
    fn as_str(self) -> &'static str {
        match self {
            SesEventType::Send => "Send",
            SesEventType::Delivery => "Delivery",
            SesEventType::Bounce => "Bounce",
            SesEventType::Complaint => "Complaint",
            SesEventType::Other => "other",
        }
    }
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

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    pub async fn mail_feedback(&self, n: &SesNotification, now: Time) -> Result<FeedbackOutcome, Error> {
        let mut out = FeedbackOutcome::default();
        if let Some(run) = n.mail.smoke_run() {
            // The end-to-end check's own mail: its events are what the check waits for.
            let step = match n.event_type {
                SesEventType::Send => Some(SmokeStep::SendEvent),
                SesEventType::Delivery => Some(SmokeStep::DeliveryEvent),
                _ => None,
            };
            if let Some(step) = step {
                self.store.record_smoke(&run, &step, now).await?;
                out.smoke_recorded = true;
            }
            tracing::info!(event = n.event_type.as_str(), message_id = %n.mail.message_id, ?out, "mail feedback");
            return Ok(out);
        }
        match n.event_type {
            // SES accepted a breach notice. Usually the notifier has recorded it already; if the
            // notifier died between SES's answer and its record, this records it, and the
            // recipient is not sent a second notice when the lease runs out.
            SesEventType::Send => {
                if let Some(job) = n.mail.delivery() {
                    out.outbox_updated = self.store.record_accepted(&job, &n.mail.message_id, now).await?;
                }
            }
            SesEventType::Delivery => out.outbox_updated = self.record_on_notice(&n.mail, "delivered", now).await?,
            SesEventType::Bounce => {
                let bounced = n.bounce.as_ref();
                let permanent = bounced.is_some_and(|b| b.bounce_type == BounceType::Permanent);
                let kind = if permanent { "hard_bounce" } else { "soft_bounce" };
                out.outbox_updated = self.record_on_notice(&n.mail, kind, now).await?;
                if permanent {
                    for email in bounced.into_iter().flat_map(|b| &b.bounced_recipients).filter_map(SesRecipient::address) {
                        self.store.mark_undeliverable(&self.subject_id(&email), now).await?;
                        out.undeliverable += 1;
                    }
                }
            }
            SesEventType::Complaint => {
                out.outbox_updated = self.record_on_notice(&n.mail, "complaint", now).await?;
                for email in n.complaint.iter().flat_map(|c| &c.complained_recipients).filter_map(SesRecipient::address) {
                    out.withdrawn += self.withdraw_marketing(&email, now).await?;
                }
            }
            SesEventType::Other => {}
        }
        tracing::info!(event = n.event_type.as_str(), message_id = %n.mail.message_id, ?out, "mail feedback");
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

/// The provider's reports over the in-memory adapters.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PurposeId;
    use crate::memory::{self, MemoryApp, fixtures::*};
    use crate::store::BreachStore;
    use serde_json::json;

    fn notification(body: serde_json::Value) -> SesNotification {
        serde_json::from_value(body).unwrap()
    }

    async fn single_opt_in(app: &MemoryApp) {
        let form = form(app, single_opt_in_input()).await;
        post(app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
    }

    #[tokio::test]
    async fn art21_a_spam_complaint_withdraws_every_consent_and_keeps_the_contract() {
        let app = memory::app();
        single_opt_in(&app).await;
        let n = notification(json!({"eventType": "Complaint", "mail": {"messageId": "m1"},
            "complaint": {"complainedRecipients": [{"emailAddress": "<anna@example.pl>"}], "complaintFeedbackType": "abuse"}}));
        let out = app.mail_feedback(&n, now()).await.unwrap();
        assert_eq!(out.withdrawn, 1);
        let state = app.lookup(&email("anna@example.pl"), now()).await.unwrap().state;
        assert_eq!(state[&PurposeId::parse("newsletter").unwrap()], PurposeStatus::Withdrawn);
        assert_eq!(state[&PurposeId::parse("contact_reply").unwrap()], PurposeStatus::Informed, "a contract is not a consent to withdraw");
        let channel = app.lookup(&email("anna@example.pl"), now()).await.unwrap().events.last().unwrap().facts.channel;
        assert_eq!(channel, Channel::MailComplaint);
    }

    #[tokio::test]
    async fn only_a_permanent_bounce_marks_the_address_undeliverable() {
        let app = memory::app();
        single_opt_in(&app).await;
        let subject = app.subject_id(&email("anna@example.pl"));
        let bounce = |kind: &str| {
            notification(json!({"notificationType": "Bounce", "mail": {"messageId": "m1", "destination": ["anna@example.pl"]},
                "bounce": {"bounceType": kind, "bounceSubType": "General", "bouncedRecipients": [{"emailAddress": "anna@example.pl"}]}}))
        };
        let undeliverable = || async { app.store.contacts(std::slice::from_ref(&subject)).await.unwrap()[&subject].undeliverable };
        assert_eq!(app.mail_feedback(&bounce("Transient"), now()).await.unwrap().undeliverable, 0);
        assert!(!undeliverable().await);
        assert_eq!(app.mail_feedback(&bounce("Permanent"), now()).await.unwrap().undeliverable, 1);
        assert!(undeliverable().await);
    }

    #[test]
    fn events_zgoda_does_not_act_on_and_fields_it_does_not_read_still_parse() {
        let n = notification(json!({"eventType": "Open", "mail": {"messageId": "m1", "commonHeaders": {}}, "open": {"ipAddress": "x"}}));
        assert_eq!(n.event_type, SesEventType::Other);
        let n = notification(json!({"eventType": "Bounce", "mail": {"messageId": "m1"}, "bounce": {"bounceType": "Something new"}}));
        assert_eq!(n.bounce.map(|b| b.bounce_type), Some(BounceType::Undetermined));
    }
}
