//! Restriction of processing on the grounds of Art. 18(1)(a)–(c): the person contests the data's
//! accuracy, the processing is unlawful and they want it restricted rather than erased, or the
//! controller no longer needs the data but they do, for legal claims. Asked for on the person's
//! choices page or recorded by the operator, it restricts every purpose their data is used for (a
//! sealed `restricted` event per purpose, naming the ground): the data is only stored (Art. 18(2);
//! the retention sweep keeps it), they are in no audience. The operator lifts it, telling the
//! person first, with the reasons (Art. 18(3)): each purpose goes back to the state it had.
//! A restriction while an objection is decided (Art. 18(1)(d)) is `choices.rs`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Time;
use crate::error::Error;
use crate::ids::{PurposeId, SubjectId};
use crate::links::follow_up;
use crate::mail::{Mailer, Message};
use crate::proof::{Channel, EventFacts, EventKind};
use crate::requests::REASONS_MAX;
use crate::retention::current_events;
use crate::service::{Lift, Zgoda};
use crate::store::{PrivacyRequestKind, Store, WorkQueue};

/// Why processing is restricted (Art. 18(1)(a)–(c)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ground {
    /// (a) The person contests the accuracy of the data, while the controller verifies it.
    Accuracy,
    /// (b) The processing is unlawful and the person asks for restriction instead of erasure.
    Unlawful,
    /// (c) The controller no longer needs the data; the person needs it for legal claims.
    LegalClaims,
}

impl Ground {
    pub const ALL: [Ground; 3] = [Ground::Accuracy, Ground::Unlawful, Ground::LegalClaims];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ground::Accuracy => "accuracy",
            Ground::Unlawful => "unlawful",
            Ground::LegalClaims => "legal_claims",
        }
    }
}

/// What a restriction or its lifting did: the purposes it changed (none, with `already`, when
/// there was nothing to change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    pub subject_id: SubjectId,
    pub purposes: Vec<PurposeId>,
    pub already: bool,
}

/// Whether a purpose in this state is being processed: what a restriction stops.
fn in_use(kind: EventKind) -> bool {
    matches!(kind, EventKind::Given | EventKind::Informed | EventKind::Resumed)
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// Restricts every purpose the person's data is used for, on `ground`. Idempotent.
    pub async fn restrict(
        &self,
        subject: &SubjectId,
        ground: Ground,
        channel: Channel,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<Restriction, Error> {
        let record = self.store.load_subject(subject).await?;
        let profile = record.profile.as_ref().ok_or(Error::SubjectNotFound)?;
        let facts: Vec<EventFacts> = current_events(&record.events)
            .into_values()
            .filter(|e| in_use(e.facts.kind))
            .map(|e| EventFacts { ground: Some(ground), ..follow_up(e, EventKind::Restricted, channel, ip, now, Some(profile.lang)) })
            .collect();
        let purposes: Vec<PurposeId> = facts.iter().filter_map(|f| f.purpose.clone()).collect();
        let already = facts.is_empty();
        if !already {
            self.append_events(subject, facts, None, vec![], Lift::No).await?;
            tracing::info!(subject = %subject, ground = ground.as_str(), purposes = purposes.len(), "processing restricted");
        }
        if channel == Channel::EmailLink {
            // The person asked on the privacy page and has what they asked for.
            self.close_completed(subject, PrivacyRequestKind::Restriction, now).await;
        }
        Ok(Restriction { subject_id: subject.clone(), purposes, already })
    }

    /// Lifts a restriction on the grounds of Art. 18(1)(a)–(c): the person is told first, with
    /// `reasons` (Art. 18(3)); then each purpose goes back to the state it had before. A
    /// restriction awaiting the decision on an objection stays: closing its request decides it.
    pub async fn lift_restriction(&self, subject: &SubjectId, reasons: &str, now: Time) -> Result<Restriction, Error> {
        let reasons = reasons.trim();
        if reasons.is_empty() || reasons.chars().count() > REASONS_MAX {
            return Err(Error::field("reasons", if reasons.is_empty() { "required" } else { "too_long" }));
        }
        let record = self.store.load_subject(subject).await?;
        // The person is told before the lifting: without their address it cannot happen.
        let profile = record.profile.as_ref().ok_or(Error::SubjectNotFound)?;
        let mut facts = Vec::new();
        for restricted in current_events(&record.events).into_values() {
            if restricted.facts.kind != EventKind::Restricted || restricted.facts.ground.is_none() {
                continue;
            }
            // The state before the restriction: the event it followed up; for one carried over from
            // an earlier address (that event is in the old chain), what its basis makes it in use.
            let before = record.events.iter().find(|e| Some(&e.facts.event_id) == restricted.facts.refers_to.as_ref());
            let in_use_as = match restricted.facts.lawful_basis {
                Some(crate::form::LawfulBasis::Consent) => EventKind::Given,
                _ => EventKind::Informed,
            };
            let kind = before.map_or(in_use_as, |e| e.facts.kind);
            facts.push(follow_up(restricted, kind, Channel::Operator, None, now, Some(profile.lang)));
        }
        let purposes: Vec<PurposeId> = facts.iter().filter_map(|f| f.purpose.clone()).collect();
        if facts.is_empty() {
            return Ok(Restriction { subject_id: subject.clone(), purposes, already: true });
        }
        // Told before it is lifted: a mail that cannot go out stops the lifting.
        let notice = Message::RestrictionLifted { to: profile.email.clone(), lang: profile.lang, reasons: reasons.to_owned() };
        self.mailer.send(&notice).await.map_err(|e| Error::Unavailable(format!("the person could not be told: {e}")))?;
        self.append_events(subject, facts, None, vec![], Lift::No).await?;
        tracing::info!(subject = %subject, purposes = purposes.len(), "restriction lifted");
        Ok(Restriction { subject_id: subject.clone(), purposes, already: false })
    }
}

/// Restrictions over the in-memory adapters; end to end in `tests/integration/restriction.rs`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::fixtures::*;
    use crate::service::PurposeStatus;
    use crate::store::SubjectStore;

    fn newsletter() -> PurposeId {
        PurposeId::parse("newsletter").unwrap()
    }

    #[tokio::test]
    async fn art18_a_restriction_on_contested_accuracy_stops_every_use_until_lifted_with_the_person_told_first() {
        let (app, anna) = anna_on_file().await;
        let done = app.restrict(&anna, Ground::Accuracy, Channel::Operator, None, now()).await.unwrap();
        assert_eq!((done.purposes.len(), done.already), (2, false));
        let view = app.lookup_subject(&anna, now()).await.unwrap();
        assert!(view.state.values().all(|s| *s == PurposeStatus::Restricted), "{:?}", view.state);
        assert_eq!(view.events.last().unwrap().facts.ground, Some(Ground::Accuracy), "the ground is sealed");
        assert!(app.audience(&newsletter(), None, now()).await.unwrap().0.is_empty(), "in no audience");
        assert!(app.restrict(&anna, Ground::Accuracy, Channel::Operator, None, now()).await.unwrap().already);

        let err = app.lift_restriction(&anna, " ", now()).await.unwrap_err();
        assert!(matches!(&err, Error::Validation(f) if f[0].field == "reasons"), "{err:?}");
        let lifted = app.lift_restriction(&anna, "Sprawdziliśmy: dane są prawidłowe.", now()).await.unwrap();
        assert_eq!(lifted.purposes.len(), 2);
        let view = app.lookup_subject(&anna, now()).await.unwrap();
        assert_eq!(view.state[&newsletter()], PurposeStatus::Given, "the consent is as it was");
        assert_eq!(view.state[&PurposeId::parse("contact_reply").unwrap()], PurposeStatus::Informed);
        assert!(
            matches!(mail_to(&app, "anna@example.pl").pop(), Some(Message::RestrictionLifted { reasons, .. }) if reasons.contains("prawidłowe"))
        );
        assert!(view.proof.verified);
    }

    #[tokio::test]
    async fn art7_3_a_restricted_consent_can_still_be_withdrawn_and_lifting_leaves_it_withdrawn() {
        let (app, anna) = anna_on_file().await;
        app.restrict(&anna, Ground::Unlawful, Channel::Operator, None, now()).await.unwrap();
        let offered = app.choices(&anna, crate::lang::Lang::Pl, now()).await.unwrap();
        assert!(offered.iter().any(|c| c.purpose.id == newsletter() && c.offers == Some(crate::choices::Right::Withdraw)), "{offered:?}");
        app.withdraw(&anna, &newsletter(), Channel::EmailLink, None, now()).await.unwrap();
        assert_eq!(app.lookup_subject(&anna, now()).await.unwrap().state[&newsletter()], PurposeStatus::Withdrawn);
        let lifted = app.lift_restriction(&anna, "Wyjaśnione.", now()).await.unwrap();
        assert_eq!(lifted.purposes, [PurposeId::parse("contact_reply").unwrap()]);
        assert_eq!(app.lookup_subject(&anna, now()).await.unwrap().state[&newsletter()], PurposeStatus::Withdrawn, "a withdrawal stands");
    }

    #[tokio::test]
    async fn art18_lifting_leaves_a_restriction_awaiting_an_objection_decision_alone() {
        let (app, anna) = anna_on_file().await;
        let record = app.store.load_subject(&anna).await.unwrap();
        // A restriction on an objection names no ground (choices.rs): only closing its request lifts it.
        let informed = record.events.iter().find(|e| e.facts.kind == EventKind::Informed).unwrap();
        let on_objection = follow_up(informed, EventKind::Restricted, Channel::EmailLink, None, now(), None);
        app.append_events(&anna, vec![on_objection], None, vec![], Lift::No).await.unwrap();
        let lifted = app.lift_restriction(&anna, "Nie dotyczy.", now()).await.unwrap();
        assert!(lifted.already && lifted.purposes.is_empty());
        assert!(mail_to(&app, "anna@example.pl").iter().all(|m| !matches!(m, Message::RestrictionLifted { .. })));
    }
}
