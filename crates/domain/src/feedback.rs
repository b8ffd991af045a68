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

impl SesNotification {
    /// Whether acting on it needs the function's keys: only a permanent bounce or a complaint
    /// naming an address does, since finding that address's person takes the pepper and a
    /// complaint's withdrawal is sealed. Everything else it asks for (a smoke check's step, the
    /// feedback on a breach notice) is named by the mail's tags, so a function can act on it
    /// before its key rings have arrived (`ses-events` on a cold start).
    pub fn needs_keys(&self) -> bool {
        self.about_addresses().is_some_and(|(_, addresses)| !addresses.is_empty())
    }

    /// What it asks zgoda to do about the people it names, and their addresses: nothing for a
    /// smoke check's mail, nor for feedback other than a permanent bounce or a complaint.
    fn about_addresses(&self) -> Option<(AddressAction, Vec<EmailAddress>)> {
        if self.mail.smoke_run().is_some() {
            return None;
        }
        let (action, recipients) = match self.event_type {
            SesEventType::Bounce => {
                (AddressAction::Undeliverable, &self.bounce.as_ref().filter(|b| b.bounce_type == BounceType::Permanent)?.bounced_recipients)
            }
            SesEventType::Complaint => (AddressAction::WithdrawMarketing, &self.complaint.as_ref()?.complained_recipients),
            _ => return None,
        };
        Some((action, recipients.iter().filter_map(SesRecipient::address).collect()))
    }
}

/// What a bounce or a complaint makes of the addresses it names.
enum AddressAction {
    /// A permanent bounce: no further mail is attempted.
    Undeliverable,
    /// A spam complaint: every consent-based purpose is withdrawn.
    WithdrawMarketing,
}

/// The part of a notification's handling that needs no key: the smoke check's step, or the
/// feedback on the breach notice the mail was (its tags name the outbox entry). The rest is
/// [`Zgoda::act_on_addresses`]; [`Zgoda::mail_feedback`] does both.
pub async fn record_on_mail<S: Store>(store: &S, n: &SesNotification, now: Time) -> Result<FeedbackOutcome, Error> {
    let mut out = FeedbackOutcome::default();
    if let Some(run) = n.mail.smoke_run() {
        // The end-to-end check's own mail: its events are what the check waits for.
        let step = match n.event_type {
            SesEventType::Send => Some(SmokeStep::SendEvent),
            SesEventType::Delivery => Some(SmokeStep::DeliveryEvent),
            _ => None,
        };
        if let Some(step) = step {
            store.record_smoke(&run, &step, now).await?;
            out.smoke_recorded = true;
        }
        return Ok(out);
    }
    let feedback = match n.event_type {
        // SES accepted a breach notice. Usually the notifier has recorded it already; if the
        // notifier died between SES's answer and its record, this records it, and the
        // recipient is not sent a second notice when the lease runs out.
        SesEventType::Send => {
            if let Some(job) = n.mail.delivery() {
                out.outbox_updated = store.record_accepted(&job, &n.mail.message_id, now).await?;
            }
            return Ok(out);
        }
        SesEventType::Delivery => "delivered",
        SesEventType::Bounce if n.bounce.as_ref().is_some_and(|b| b.bounce_type == BounceType::Permanent) => "hard_bounce",
        SesEventType::Bounce => "soft_bounce",
        SesEventType::Complaint => "complaint",
        SesEventType::Other => return Ok(out),
    };
    // Feedback on other mail than a breach notice (confirmations, owner notices) reads and
    // writes nothing here.
    if let Some(job) = n.mail.delivery() {
        out.outbox_updated = store.record_feedback(&job, &n.mail.message_id, feedback, now).await?;
    }
    Ok(out)
}

impl FeedbackOutcome {
    /// The one log line a handled notification leaves.
    pub fn log(&self, n: &SesNotification) {
        tracing::info!(event = n.event_type.as_str(), message_id = %n.mail.message_id, out = ?self, "mail feedback");
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// Acts on one notification: [`record_on_mail`], then [`Self::act_on_addresses`].
    pub async fn mail_feedback(&self, n: &SesNotification, now: Time) -> Result<FeedbackOutcome, Error> {
        let recorded = record_on_mail(&self.store, n, now).await?;
        let out = self.act_on_addresses(n, recorded, now).await?;
        out.log(n);
        Ok(out)
    }

    /// The part of a notification's handling that needs the keys ([`SesNotification::needs_keys`]),
    /// after [`record_on_mail`] has given `out`: a permanent bounce's addresses become
    /// undeliverable, a complaint's withdraw their consents.
    pub async fn act_on_addresses(&self, n: &SesNotification, mut out: FeedbackOutcome, now: Time) -> Result<FeedbackOutcome, Error> {
        let Some((action, addresses)) = n.about_addresses() else { return Ok(out) };
        for email in &addresses {
            match action {
                AddressAction::Undeliverable => {
                    self.store.mark_undeliverable(&self.subject_id(email), now).await?;
                    out.undeliverable += 1;
                }
                AddressAction::WithdrawMarketing => out.withdrawn += self.withdraw_marketing(email, now).await?,
            }
        }
        Ok(out)
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

    #[test]
    fn only_a_permanent_bounce_or_a_complaint_naming_an_address_needs_the_keys() {
        let bounce = |kind: &str, to: &str| json!({"bounceType": kind, "bouncedRecipients": [{"emailAddress": to}]});
        let complaint = json!({"complainedRecipients": [{"emailAddress": "<anna@example.pl>"}]});
        let smoke = json!({"messageId": "m1", "tags": {"zgoda-smoke": ["01KAWQ5V0Y8M2E7Q6ZJ3N4P5R6"]}});
        let needs = |event: &str, mail: serde_json::Value, body: Option<(&str, serde_json::Value)>| {
            let mut n = json!({"eventType": event, "mail": mail});
            if let Some((field, value)) = body {
                n[field] = value;
            }
            notification(n).needs_keys()
        };
        let mail = || json!({"messageId": "m1"});
        assert!(needs("Bounce", mail(), Some(("bounce", bounce("Permanent", "anna@example.pl")))));
        assert!(needs("Complaint", mail(), Some(("complaint", complaint.clone()))));
        assert!(!needs("Bounce", mail(), Some(("bounce", bounce("Transient", "anna@example.pl")))), "a transient bounce changes no one");
        assert!(!needs("Bounce", mail(), Some(("bounce", bounce("Permanent", "not an address")))), "no address, no person to find");
        assert!(!needs("Complaint", smoke.clone(), Some(("complaint", complaint))), "the smoke check's own mail");
        for event in ["Send", "Delivery", "Open"] {
            assert!(!needs(event, mail(), None), "{event}: its tags name all it changes");
        }
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
