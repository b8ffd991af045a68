//! Erasure (Art. 17): a person's personal data deleted in one transaction, keeping the PII-free
//! sealed events and a suppression entry (Art. 17(3)(e)), by the person's link or the operator.
//! Their unsent breach notices are finished too, so no address outlives the erasure.

use crate::Time;
use crate::changes::Change;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::SubjectId;
use crate::lang::Lang;
use crate::links::LinkOutcome;
use crate::mail::Mailer;
use crate::proof::{self, ChainHead, Channel, EventFacts, EventKind};
use crate::service::{APPEND_ATTEMPTS, Zgoda};
use crate::store::{Append, AppendError, Erasure, GuardKey, SubjectRecord};
use crate::store::{Store, WorkQueue};
use crate::token::LinkClaims;

/// Logged when SES's suppression list could not be told to forget an erased address; the operator
/// removes it by hand (README, "Security review (December 2026)", L9).
pub const SUPPRESSION_NOT_CLEARED: &str = "the erased address could not be removed from SES's suppression list";

/// What the operator's erasure answers, and the CLI reads.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErasureAnswer {
    pub subject_id: SubjectId,
    pub status: ErasureStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    Erased,
    /// Nothing personal was held any more: an earlier erasure (or the sweep) got there first.
    AlreadyErased,
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// Erases a subject's personal data in one transaction (Art. 17), keeping the PII-free sealed
    /// events and a suppression entry (Art. 17(3)(e)). A repeat is "already erased".
    /// `address` is the person's address where the caller knows it (the operator's erase names it),
    /// for the provider's copy when no profile holds it any more.
    pub async fn erase(
        &self,
        subject: &SubjectId,
        address: Option<&EmailAddress>,
        channel: Channel,
        link: Option<&LinkClaims>,
        now: Time,
    ) -> Result<LinkOutcome, Error> {
        let now = proof::to_millis(now);
        for _ in 0..APPEND_ATTEMPTS {
            let record = self.store.load_subject(subject).await?;
            if !record.holds_personal_data() {
                // Erasing again is how an operator retries what the first erasure could not
                // finish at SES.
                if let Some(address) = address {
                    self.forget_at_provider(subject, address).await;
                }
                return Ok(LinkOutcome::Erased { already: true });
            }
            let erasure = self.erasure(subject, &record, channel, link, now);
            match self.store.erase(erasure).await {
                Ok(()) => {
                    self.after_erasure(subject, record.profile.as_ref().map(|p| &p.email).or(address), channel, now).await;
                    return Ok(LinkOutcome::Erased { already: false });
                }
                Err(AppendError::Conflict) => continue,
                Err(AppendError::Spent) => {
                    // A double click (the first erased the person: "already erased"), or an old
                    // erase link used again after the person came back: that one is spent, and
                    // says so, rather than erasing them a second time (security review L5).
                    return match self.store.load_subject(subject).await?.holds_personal_data() {
                        false => Ok(LinkOutcome::Erased { already: true }),
                        true => Err(Error::LinkUsed),
                    };
                }
                Err(AppendError::Store(e)) => return Err(e.into()),
            }
        }
        // The chain kept moving: if a concurrent erasure moved it, the person is erased.
        match self.store.load_subject(subject).await?.holds_personal_data() {
            false => Ok(LinkOutcome::Erased { already: true }),
            true => Err(Error::Unavailable("the subject's chain kept moving".into())),
        }
    }

    /// Erases the subject `record` describes if nothing was appended since it was read: the
    /// storage-limitation sweep's erasure, which must not take away a consent given meanwhile.
    /// False when the chain moved (the new state is judged on the next run).
    pub(crate) async fn erase_as_judged(
        &self,
        subject: &SubjectId,
        record: &SubjectRecord,
        channel: Channel,
        now: Time,
    ) -> Result<bool, Error> {
        let now = proof::to_millis(now);
        match self.store.erase(self.erasure(subject, record, channel, None, now)).await {
            Ok(()) => {
                self.after_erasure(subject, record.profile.as_ref().map(|p| &p.email), channel, now).await;
                Ok(true)
            }
            Err(AppendError::Conflict | AppendError::Spent) => Ok(false),
            Err(AppendError::Store(e)) => Err(e.into()),
        }
    }

    /// The transaction that erases the subject `record` describes: one sealed `erased` event on
    /// its chain as read, every personal item deleted, a suppression entry.
    fn erasure(&self, subject: &SubjectId, record: &SubjectRecord, channel: Channel, link: Option<&LinkClaims>, now: Time) -> Erasure {
        let lang = record.profile.as_ref().map(|p| p.lang).unwrap_or(Lang::Pl);
        let facts = EventFacts::new(ulid::Ulid::new().to_string(), subject.clone(), EventKind::Erased, lang, channel, now);
        let mut erasure = Erasure { suppress: true, ..self.chain_end(record, facts, link, now) };
        // The recipients are told the address once, to find their own record (Art. 19).
        erasure.append.changes = Change::of_events(&erasure.append.events, record.profile.as_ref().map(|p| &p.email));
        erasure
    }

    /// A transaction that ends what a subject holds: `last` sealed onto the chain `record` read,
    /// every personal item deleted, `link` spent; no suppression entry unless the caller sets one.
    pub(crate) fn chain_end(&self, record: &SubjectRecord, last: EventFacts, link: Option<&LinkClaims>, now: Time) -> Erasure {
        let head = record.head.clone();
        let subject = last.subject_id.clone();
        let (events, new_head) = proof::seal_chain(self.keys.seals(), head.as_ref().unwrap_or(&ChainHead::genesis()), vec![last]);
        Erasure {
            append: Append {
                subject,
                expected_head: head,
                new_head,
                changes: Change::of_events(&events, None),
                events,
                states: vec![],
                profile: None,
                submissions: vec![],
                lift_suppression: false,
                // What is left (PII-free proofs, the erasure marker or forwarding record) is judged
                // again when the records' retention has run from now, and then deleted.
                review_at: Some(now + self.settings.records_retention),
            },
            at: now,
            spend_token: link.map(|c| (GuardKey::LinkUsed(c.token_id_hex()), c.expires_at)),
            suppress: false,
        }
    }

    /// What follows an erasure outside its transaction: the provider's copy of the address, and
    /// unsent breach notices.
    async fn after_erasure(&self, subject: &SubjectId, address: Option<&EmailAddress>, channel: Channel, now: Time) {
        tracing::info!(subject = %subject, channel = channel.as_str(), "subject erased");
        if let Some(address) = address {
            self.forget_at_provider(subject, address).await;
        }
        // The erasure itself is done; an outbox entry left with the address is still
        // refused by the notifier and deleted with its TTL (security review M9).
        match self.store.forget_recipient(subject, now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(subject = %subject, notices = n, "unsent breach notices of an erased subject finished"),
            Err(e) => tracing::warn!(subject = %subject, error = %e, "unsent breach notices not finished; the notifier will"),
        }
    }

    /// Removes an erased address from the mail provider's own list. Done after the erasure: that
    /// list is a copy that protects nobody's rights if it stays, so a failure is logged for the
    /// operator (who may erase again to retry), not fatal.
    async fn forget_at_provider(&self, subject: &SubjectId, address: &EmailAddress) {
        if let Err(e) = self.mailer.forget_address(address).await {
            tracing::warn!(subject = %subject, error = %e, "{SUPPRESSION_NOT_CLEARED}");
        }
    }

    /// The operator's erase (docs/api.md §4): the same effect as the erase link.
    pub async fn erase_by_email(&self, email: &EmailAddress, now: Time) -> Result<LinkOutcome, Error> {
        let subject = self.subject_id(email);
        let record = self.store.load_subject(&subject).await?;
        if !record.holds_personal_data() && record.suppressed_at.is_none() {
            return Err(Error::SubjectNotFound);
        }
        self.erase(&subject, Some(email), Channel::Operator, None, now).await
    }
}

/// Erasure over the in-memory adapters: what goes, what stays, and each way a link is used again.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{self, MemoryApp, fixtures::*};
    use crate::store::SubjectStore;
    use crate::token::LinkAction;

    async fn erase_link(app: &MemoryApp, address: &str) -> String {
        token(&app.issue_link(&email(address), LinkAction::Erase, None, now()).await.unwrap().url)
    }

    #[tokio::test]
    async fn art17_3e_erasing_keeps_the_sealed_events_and_a_suppression_and_deletes_every_personal_item() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let subject = app.subject_id(&email("anna@example.pl"));
        let link = erase_link(&app, "anna@example.pl").await;

        let (_, outcome) = app.act_on_link(&link, None, now()).await.unwrap();
        assert!(matches!(outcome, LinkOutcome::Erased { already: false }), "{outcome:?}");
        assert!(!app.store.holds_anything_personal(&subject), "profile, submissions and audience states are gone");
        let record = app.store.load_subject(&subject).await.unwrap();
        assert!(record.suppressed_at.is_some());
        let kinds: Vec<_> = record.events.iter().map(|e| e.facts.kind).collect();
        assert_eq!(kinds, [EventKind::Requested, EventKind::Informed, EventKind::Erased], "art17_3e: the proofs stay, PII-free");
        assert!(proof::verify_chain(app.keys.seals(), &subject, &record.events, record.head.as_ref()).verified);
        assert_eq!(app.mailer.forgotten(), [email("anna@example.pl")], "the provider's copy of the address goes too (L9)");
        assert!(matches!(app.lookup(&email("anna@example.pl"), now()).await, Err(Error::SubjectNotFound)));
    }

    #[tokio::test]
    async fn l5_a_second_click_is_already_erased_but_an_old_link_after_the_person_came_back_is_spent() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        let link = erase_link(&app, "anna@example.pl").await;
        app.act_on_link(&link, None, now()).await.unwrap();
        let (_, twice) = app.act_on_link(&link, None, now()).await.unwrap();
        assert!(matches!(twice, LinkOutcome::Erased { already: true }), "{twice:?}");

        post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        assert!(matches!(app.act_on_link(&link, None, now()).await, Err(Error::LinkUsed)));
        let subject = app.subject_id(&email("anna@example.pl"));
        assert!(app.store.holds_anything_personal(&subject), "the person who came back is not erased by an old link");
    }

    #[tokio::test]
    async fn l9_the_operator_erases_by_address_and_a_repeat_retries_the_providers_copy() {
        let app = memory::app();
        assert!(matches!(app.erase_by_email(&email("nikt@example.pl"), now()).await, Err(Error::SubjectNotFound)));
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        let first = app.erase_by_email(&email("anna@example.pl"), now()).await.unwrap();
        assert!(matches!(first, LinkOutcome::Erased { already: false }));
        let again = app.erase_by_email(&email("anna@example.pl"), now()).await.unwrap();
        assert!(matches!(again, LinkOutcome::Erased { already: true }));
        assert_eq!(app.mailer.forgotten(), [email("anna@example.pl"), email("anna@example.pl")]);
        let record = app.store.load_subject(&app.subject_id(&email("anna@example.pl"))).await.unwrap();
        assert_eq!(record.events.iter().filter(|e| e.facts.kind == EventKind::Erased).count(), 1, "erased once, retried at SES twice");
        assert_eq!(record.events.last().unwrap().facts.channel, Channel::Operator);
    }
}
