//! A change of e-mail address (Art. 16). The address is who the person is to zgoda (their subject
//! id is its keyed hash), so a new one is a new subject, and the person keeps one history:
//!
//! 1. On their rectify page the person asks for the new address; a `confirm_address` link goes to
//!    it (the new address must be theirs), and the change waits, recorded under both ids.
//! 2. The link, used, seals under the new id a `moved_from` event naming the old chain, then
//!    restates each purpose's current state there (each event refers to the one it continues), and
//!    carries the profile and what the forms carried. A request awaiting confirmation is not
//!    carried: it was to confirm the old address, so the person asks again from the new one.
//! 3. The old chain ends with a sealed `moved` event naming the new id; its profile, submissions
//!    and audience entries go in the same transaction, and the old address is told. What is left
//!    under the old id is the PII-free chain: the forwarding record a lookup by the old address
//!    shows, kept for the records' retention like an erased person's proofs.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::SubjectId;
use crate::lang::Lang;
use crate::links::follow_up;
use crate::mail::{Mailer, Message};
use crate::proof::{self, Channel, EventFacts, EventKind};
use crate::retention::current_events;
use crate::service::{APPEND_ATTEMPTS, Lift, Zgoda};
use crate::store::{AppendError, Erasure, GuardKey, PrivacyRequestKind, Profile, Store, SubjectRecord, WorkQueue};
use crate::token::{LinkAction, LinkClaims};

/// A change the person asked for, awaiting confirmation from the new address. Kept on the subject
/// moving: it holds the new address, so it is personal data and an erasure takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAddress {
    /// Also the id of the `moved` event that will end the old chain, so a retried confirmation
    /// finds what an earlier attempt wrote.
    pub change_id: String,
    pub new_email: EmailAddress,
    /// The language the person asked in: the confirmation's, and the old address's notice's.
    pub lang: Lang,
    #[serde(with = "crate::proof::millis")]
    pub requested_at: Time,
    #[serde(with = "crate::proof::millis")]
    pub expires_at: Time,
}

/// Under the new address's id while a change to it waits: where it comes from (PII-free).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingAddress {
    pub change_id: String,
    pub from: SubjectId,
    #[serde(with = "crate::proof::millis")]
    pub expires_at: Time,
}

impl PendingAddress {
    pub fn incoming(&self, from: &SubjectId) -> IncomingAddress {
        IncomingAddress { change_id: self.change_id.clone(), from: from.clone(), expires_at: self.expires_at }
    }
}

/// What an operator's lookup says of an address change, beside (or instead of) the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AddressChangeView {
    /// This address asked to move to `new_email` (subject `to`); the link sent there is unused.
    Leaving {
        to: SubjectId,
        new_email: EmailAddress,
        #[serde(with = "crate::proof::millis")]
        expires_at: Time,
    },
    /// Another address (subject `from`) asked to move to this one; nothing is held here yet.
    Arriving {
        from: SubjectId,
        #[serde(with = "crate::proof::millis")]
        expires_at: Time,
    },
    /// The person moved to another address (subject `to`): nothing personal is held here, only
    /// the chain up to its `moved` event.
    Moved {
        to: SubjectId,
        #[serde(with = "crate::proof::millis")]
        at: Time,
    },
}

/// Where a subject's record says an address change stands, if anywhere.
pub fn address_change_of(record: &SubjectRecord, subject_of: impl Fn(&EmailAddress) -> SubjectId) -> Option<AddressChangeView> {
    let last = record.events.iter().max_by_key(|e| e.facts.seq);
    if let Some(moved) = last.filter(|e| e.facts.kind == EventKind::Moved && !record.holds_personal_data()) {
        return Some(AddressChangeView::Moved { to: moved.facts.linked_subject.clone()?, at: moved.facts.at });
    }
    if let Some(pending) = &record.moving_to {
        return Some(AddressChangeView::Leaving {
            to: subject_of(&pending.new_email),
            new_email: pending.new_email.clone(),
            expires_at: pending.expires_at,
        });
    }
    let incoming = record.incoming.as_ref().filter(|_| !record.holds_personal_data())?;
    Some(AddressChangeView::Arriving { from: incoming.from.clone(), expires_at: incoming.expires_at })
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// The subject the person is now: `subject`, or, if they moved to another address (and on
    /// from there), the id their history continues under. What was opened under an old id (an
    /// objection's request) is decided and answered there.
    pub(crate) async fn current_subject(&self, subject: &SubjectId) -> Result<SubjectId, Error> {
        let mut current = subject.clone();
        // A person moves rarely; a bound keeps a corrupt loop of links from spinning for ever.
        for _ in 0..8 {
            let record = self.store.load_subject(&current).await?;
            match address_change_of(&record, |e| self.subject_id(e)) {
                Some(AddressChangeView::Moved { to, .. }) => current = to,
                _ => break,
            }
        }
        Ok(current)
    }

    /// The person asks to move to `new_email` (from their rectify page, in `lang`): a confirmation
    /// link goes there, and nothing moves until it is used.
    pub async fn request_address_change(
        &self,
        subject: &SubjectId,
        new_email: &EmailAddress,
        lang: Option<Lang>,
        now: Time,
    ) -> Result<(), Error> {
        let record = self.store.load_subject(subject).await?;
        let profile = record.profile.ok_or(Error::SubjectNotFound)?;
        if &profile.email == new_email {
            return Err(Error::field("email", "unchanged"));
        }
        // Each request mails a link to an address the person typed: held to the privacy limit.
        self.rate_limit(&GuardKey::AddressChangesFor(subject.clone()), self.settings.privacy_limit, now).await?;
        if !self.within_public_mail_budget(now).await {
            return Err(Error::Unavailable("the hourly mail budget is spent".into()));
        }
        let now = proof::to_millis(now);
        let expires_at = now + self.ttl_for(LinkAction::ConfirmAddress);
        let lang = lang.unwrap_or(profile.lang);
        let pending =
            PendingAddress { change_id: ulid::Ulid::new().to_string(), new_email: new_email.clone(), lang, requested_at: now, expires_at };
        self.store.begin_address_change(subject, &self.subject_id(new_email), &pending).await?;
        let claims = LinkClaims::new(LinkAction::ConfirmAddress, subject.clone(), None, Some(pending.change_id.clone()), expires_at);
        let message = Message::ActionLink {
            to: new_email.clone(),
            lang,
            action: LinkAction::ConfirmAddress,
            purpose: None,
            url: format!("{}?lang={lang}", self.link_url(&claims)),
            expires_at,
        };
        self.send_logged(&message).await;
        tracing::info!(subject = %subject, "address change asked for");
        Ok(())
    }

    /// The new address's link, used: the person's history continues under the new address's id
    /// (see the module). True if it moved now, false if an earlier use did.
    pub(crate) async fn confirm_address(&self, claims: &LinkClaims, ip: Option<IpAddr>, now: Time) -> Result<bool, Error> {
        let change_id = claims.refers_to.as_deref().ok_or(Error::InvalidLink)?;
        let now = proof::to_millis(now);
        let old = self.store.load_subject(&claims.subject).await?;
        if old.events.iter().any(|e| e.facts.kind == EventKind::Moved && e.facts.event_id == change_id) {
            return Ok(false);
        }
        let pending = old.moving_to.clone().filter(|p| p.change_id == change_id && p.expires_at > now);
        let (Some(pending), Some(profile)) = (pending, old.profile.clone()) else {
            // Superseded by a later change, lapsed, or the person was erased meanwhile.
            return Err(Error::LinkExpired { renewable: false });
        };
        let new_subject = self.subject_id(&pending.new_email);
        self.continue_chain(&claims.subject, &old, &new_subject, &pending, &profile, ip, now).await?;
        let mut moved = false;
        for _ in 0..APPEND_ATTEMPTS {
            let record = self.store.load_subject(&claims.subject).await?;
            match self.store.erase(self.move_out(&record, &new_subject, &pending, claims, now)).await {
                Ok(()) => {
                    moved = true;
                    break;
                }
                Err(AppendError::Conflict) => continue,
                Err(AppendError::Spent) => return Ok(false),
                Err(AppendError::Store(e)) => return Err(e.into()),
            }
        }
        if !moved {
            return Err(Error::Unavailable("the subject's chain kept moving".into()));
        }
        tracing::info!(from = %claims.subject, to = %new_subject, "address changed");
        self.send_logged(&Message::AddressChanged { to: profile.email, lang: pending.lang, at: now }).await;
        self.close_completed(&claims.subject, PrivacyRequestKind::Rectification, now).await;
        Ok(true)
    }

    /// Step 2 of the module: the chain continued under the new id, with the profile and content.
    /// Skipped when an earlier attempt got this far (its `moved_from` answers this change).
    #[allow(clippy::too_many_arguments)]
    async fn continue_chain(
        &self,
        from: &SubjectId,
        old: &SubjectRecord,
        to: &SubjectId,
        pending: &PendingAddress,
        profile: &Profile,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<(), Error> {
        let arrived = self.store.load_subject(to).await?;
        if arrived.events.iter().any(|e| e.facts.kind == EventKind::MovedFrom && e.facts.refers_to.as_deref() == Some(&pending.change_id)) {
            return Ok(());
        }
        let mut facts = vec![EventFacts {
            linked_subject: Some(from.clone()),
            refers_to: Some(pending.change_id.clone()),
            ip_prefix: ip.map(crate::net::truncated_prefix),
            ..EventFacts::new(ulid::Ulid::new().to_string(), to.clone(), EventKind::MovedFrom, profile.lang, Channel::EmailLink, now)
        }];
        let there = current_events(&arrived.events);
        for (purpose, current) in current_events(&old.events) {
            // A request awaiting confirmation was to confirm the old address; and what the new
            // address's own chain recorded later stands.
            let newer_there = there.get(purpose).is_some_and(|e| e.facts.at >= current.facts.at);
            if current.facts.kind == EventKind::Requested || newer_there {
                continue;
            }
            let restated = follow_up(current, current.facts.kind, Channel::EmailLink, ip, now, Some(profile.lang));
            let f = &current.facts;
            facts.push(EventFacts { subject_id: to.clone(), receipt_id: f.receipt_id.clone(), ground: f.ground, ..restated });
        }
        let profile = Profile { email: pending.new_email.clone(), updated_at: now, ..profile.clone() };
        self.append_events(to, facts, Some(profile), old.submissions.clone(), Lift::ByThePerson).await?;
        Ok(())
    }

    /// Step 3 of the module: the transaction that ends the old chain with `moved` and takes every
    /// personal item from under the old id, spending the link.
    fn move_out(&self, record: &SubjectRecord, to: &SubjectId, pending: &PendingAddress, claims: &LinkClaims, now: Time) -> Erasure {
        let facts = EventFacts {
            linked_subject: Some(to.clone()),
            ..EventFacts::new(pending.change_id.clone(), claims.subject.clone(), EventKind::Moved, pending.lang, Channel::EmailLink, now)
        };
        self.chain_end(record, facts, Some(claims), now)
    }
}

/// Address changes over the in-memory adapters; end to end in `tests/integration/rectification.rs`
/// and in Chromium.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::PurposeId;
    use crate::links::{LinkInput, LinkOutcome};
    use crate::memory::{self, MemoryApp, fixtures::*};
    use crate::service::PurposeStatus;
    use crate::store::SubjectStore;

    /// The token of the last action link mailed to `address`.
    fn link_to(app: &MemoryApp, address: &str) -> String {
        let url = mail_to(app, address).into_iter().rev().find_map(|m| match m {
            Message::ActionLink { url, .. } => Some(url),
            _ => None,
        });
        token(&url.expect("a link"))
    }

    #[tokio::test]
    async fn art16_a_confirmed_address_change_moves_the_person_and_keeps_one_verifiable_history() {
        let (app, old) = anna_on_file().await;
        let rectify = app.issue_link(&email("anna@example.pl"), LinkAction::Rectify, None, now()).await.unwrap();
        let input = LinkInput::NewAddress(email("anna.nowak@example.com"), None);
        let (_, sent) = app.act_on_link_with(&token(&rectify.url), &input, None, now()).await.unwrap();
        assert!(matches!(sent, LinkOutcome::AddressChangeSent));
        let new = app.subject_id(&email("anna.nowak@example.com"));

        // Until confirmed, nothing moves; a lookup by either address says what is happening.
        let leaving = app.lookup(&email("anna@example.pl"), now()).await.unwrap();
        assert!(matches!(leaving.address_change, Some(AddressChangeView::Leaving { ref to, .. }) if to == &new));
        assert_eq!(leaving.email.as_ref().map(EmailAddress::as_str), Some("anna@example.pl"));
        let arriving = app.lookup(&email("anna.nowak@example.com"), now()).await.unwrap();
        assert!(matches!(arriving.address_change, Some(AddressChangeView::Arriving { ref from, .. }) if from == &old));
        assert!(arriving.email.is_none() && arriving.state.is_empty());

        let confirm = link_to(&app, "anna.nowak@example.com");
        let (_, moved) = app.act_on_link(&confirm, None, now()).await.unwrap();
        assert!(matches!(moved, LinkOutcome::AddressChanged { already: false }));
        assert!(matches!(app.act_on_link(&confirm, None, now()).await.unwrap().1, LinkOutcome::AddressChanged { already: true }));

        // The new address holds the person: profile, content, consents, each restated from the old chain.
        let view = app.lookup(&email("anna.nowak@example.com"), now()).await.unwrap();
        assert_eq!(view.email.as_ref().map(EmailAddress::as_str), Some("anna.nowak@example.com"));
        assert_eq!(view.submissions.len(), 1);
        assert_eq!(view.state.get(&PurposeId::parse("newsletter").unwrap()), Some(&PurposeStatus::Given));
        assert!(view.proof.verified);
        let first = &view.events[0].facts;
        assert_eq!((first.kind, first.linked_subject.as_ref()), (EventKind::MovedFrom, Some(&old)));
        // The old address: the forwarding record, not the data.
        let forwarded = app.lookup(&email("anna@example.pl"), now()).await.unwrap();
        assert!(matches!(forwarded.address_change, Some(AddressChangeView::Moved { ref to, .. }) if to == &new));
        assert!(forwarded.email.is_none() && forwarded.submissions.is_empty() && forwarded.state.is_empty());
        assert!(forwarded.proof.verified);
        let last = forwarded.events.last().unwrap();
        assert_eq!((last.facts.kind, last.facts.linked_subject.as_ref()), (EventKind::Moved, Some(&new)));
        for carried in &view.events[1..] {
            assert!(
                forwarded.events.iter().any(|e| Some(&e.facts.event_id) == carried.facts.refers_to.as_ref()),
                "each restated state refers to the old one"
            );
        }
        // The old address is told; the old id is in no audience.
        assert!(mail_to(&app, "anna@example.pl").iter().any(|m| matches!(m, Message::AddressChanged { .. })));
        assert!(app.store.states(&old).is_empty());
    }

    /// Moves Anna from her address to `to` through the rectify link and the confirmation.
    async fn move_anna(app: &MemoryApp, to: &str) {
        let rectify = app.issue_link(&email("anna@example.pl"), LinkAction::Rectify, None, now()).await.unwrap();
        app.act_on_link_with(&token(&rectify.url), &LinkInput::NewAddress(email(to), None), None, now()).await.unwrap();
        app.act_on_link(&link_to(app, to), None, now()).await.unwrap();
    }

    #[tokio::test]
    async fn art18_a_restriction_moves_with_the_person_and_is_lifted_and_decided_at_the_new_address() {
        let (app, old) = anna_on_file().await;
        app.restrict(&old, crate::restriction::Ground::Accuracy, Channel::Operator, None, now()).await.unwrap();
        move_anna(&app, "anna.nowak@example.com").await;
        let new = app.subject_id(&email("anna.nowak@example.com"));
        let lifted = app.lift_restriction(&new, "Dane sprawdzone.", now()).await.unwrap();
        assert_eq!(lifted.purposes.len(), 2, "the ground moved with the restriction");
        assert_eq!(app.lookup_subject(&new, now()).await.unwrap().state[&PurposeId::parse("newsletter").unwrap()], PurposeStatus::Given);
    }

    #[tokio::test]
    async fn art21_an_objection_made_before_a_move_is_decided_and_answered_at_the_new_address() {
        let app = memory::app();
        let mut input = demo_input();
        let note = "Test równowagi 2026-11.";
        input["purposes"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"id": "fraud_checks", "lawful_basis": "legitimate_interest", "balancing_note": note}));
        let form = form(&app, input).await;
        post(&app, &form, "anna@example.pl", &["contact_reply", "fraud_checks"]).await.unwrap();
        let old = app.subject_id(&email("anna@example.pl"));
        let fraud = PurposeId::parse("fraud_checks").unwrap();
        app.object(&old, &fraud, Channel::EmailLink, None, now()).await.unwrap();
        let id = app.store.load_subject(&old).await.unwrap().requests[0].request_id.clone();
        move_anna(&app, "anna.nowak@example.com").await;

        let by = crate::ids::OperatorId::new(crate::ids::Kid::parse("dpo").unwrap());
        let refused = crate::requests::ClosingInput { outcome: crate::requests::ClosedAs::Refused, reasons: Some("Ważne powody.".into()) };
        app.close_request(&id, refused, &by, now()).await.unwrap();
        let new = app.subject_id(&email("anna.nowak@example.com"));
        assert_eq!(app.lookup_subject(&new, now()).await.unwrap().state[&fraud], PurposeStatus::Informed, "decided where the person is");
        assert!(mail_to(&app, "anna.nowak@example.com").iter().any(|m| m.kind() == "request_refused"), "answered at the new address");
    }

    #[tokio::test]
    async fn art16_an_address_change_that_is_not_confirmed_changes_nothing_and_an_erasure_takes_it() {
        let (app, old) = anna_on_file().await;
        let rectify = app.issue_link(&email("anna@example.pl"), LinkAction::Rectify, None, now()).await.unwrap();
        let same = LinkInput::NewAddress(email("Anna@Example.pl"), None);
        let err = app.act_on_link_with(&token(&rectify.url), &same, None, now()).await.unwrap_err();
        assert!(matches!(&err, Error::Validation(f) if f[0].field == "email" && f[0].code == "unchanged"), "{err:?}");

        let input = LinkInput::NewAddress(email("anna.nowak@example.com"), None);
        app.act_on_link_with(&token(&rectify.url), &input, None, now()).await.unwrap();
        let confirm = link_to(&app, "anna.nowak@example.com");
        app.erase(&old, None, Channel::Operator, None, now()).await.unwrap();
        assert!(app.store.load_subject(&old).await.unwrap().moving_to.is_none(), "the new address was personal data");
        assert!(matches!(app.act_on_link(&confirm, None, now()).await.unwrap_err(), Error::LinkExpired { renewable: false }));
        assert!(!app.store.load_subject(&app.subject_id(&email("anna.nowak@example.com"))).await.unwrap().holds_personal_data());
    }
}
