//! The person's choices (Art. 7(3), 18, 21): a page, reached by a signed `choices` link, lists
//! each purpose that applies to them with its state; there a consent can be withdrawn and a
//! legitimate interest objected to. An objection to direct marketing stops the purpose at once and
//! for good (Art. 21(3)). Any other objection restricts the purpose (Art. 18(1)(d): the data is only
//! stored) and opens a request the controller decides within the month: upheld, the purpose stops;
//! overruled, with the reasons mailed to the person, it applies again (`requests.rs` closes it).

use std::net::IpAddr;

use chrono::{Duration, Months};
use serde::{Deserialize, Serialize};

use crate::Time;
use crate::error::Error;
use crate::form::LawfulBasis;
use crate::ids::{PurposeId, RequestId, SubjectId};
use crate::labels::PurposeName;
use crate::lang::Lang;
use crate::links::follow_up;
use crate::mail::Mailer;
use crate::proof::{self, Channel, EventKind, SealedEvent};
use crate::retention::current_events;
use crate::service::{Lift, PurposeStatus, Zgoda, status_of};
use crate::store::{PrivacyRequest, PrivacyRequestKind, Store, WorkQueue};

/// What the person may do about a purpose from their choices page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    /// Withdraw a consent given or awaiting confirmation (Art. 7(3)).
    Withdraw,
    /// Object to a legitimate interest (Art. 21).
    Object,
}

impl Right {
    /// The right by the name the page's button sends.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "withdraw" => Some(Self::Withdraw),
            "object" => Some(Self::Object),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Withdraw => "withdraw",
            Self::Object => "object",
        }
    }
}

/// What the person chose on their choices page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub purpose: PurposeId,
    pub right: Right,
}

/// One purpose on the person's choices page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceItem {
    pub purpose: PurposeName,
    pub lawful_basis: Option<LawfulBasis>,
    pub status: PurposeStatus,
    /// What the person can do about it now, if anything.
    pub offers: Option<Right>,
}

/// What an objection did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Objection {
    /// The purpose stopped for good: direct marketing (Art. 21(3)).
    Stopped { already: bool },
    /// The purpose is restricted until the controller decides, by `due_at` (Art. 12(3), 18(1)(d)).
    Restricted {
        #[serde(with = "crate::proof::millis")]
        due_at: Time,
        already: bool,
    },
}

/// What the operator's recording of an objection answers, and the CLI reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionAnswer {
    pub subject_id: SubjectId,
    pub purpose: PurposeId,
    pub objection: Objection,
}

/// What the person can do about a purpose whose current event is `current`: the one definition
/// of what can be withdrawn or objected to, which the unsubscribe link follows too.
pub(crate) fn offer(current: &SealedEvent) -> Option<Right> {
    let basis = current.facts.lawful_basis;
    match current.facts.kind {
        EventKind::Given | EventKind::Requested => Some(Right::Withdraw),
        // A consent restricted on a ground of Art. 18(1)(a)–(c) can still be withdrawn (Art. 7(3)).
        EventKind::Restricted if basis == Some(LawfulBasis::Consent) => Some(Right::Withdraw),
        EventKind::Informed | EventKind::Resumed if basis == Some(LawfulBasis::LegitimateInterest) => Some(Right::Object),
        _ => None,
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// The person's purposes as their choices page lists them, in `lang`. Only reads.
    pub async fn choices(&self, subject: &SubjectId, lang: Lang, now: Time) -> Result<Vec<ChoiceItem>, Error> {
        let record = self.store.load_subject(subject).await?;
        if record.profile.is_none() {
            return Ok(vec![]);
        }
        let mut items = Vec::new();
        for (purpose, current) in current_events(&record.events) {
            let Some(status) = status_of(current, self.settings.confirm_ttl, now) else { continue };
            let label = self.purpose_name(purpose, lang, now).await;
            let offers = offer(current).filter(|_| status != PurposeStatus::Expired);
            items.push(ChoiceItem {
                purpose: PurposeName { id: purpose.clone(), label },
                lawful_basis: current.facts.lawful_basis,
                status,
                offers,
            });
        }
        Ok(items)
    }

    /// What the person chose on their choices page, through its link.
    pub(crate) async fn act_on_choice(
        &self,
        subject: &SubjectId,
        choice: &Choice,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<crate::links::LinkOutcome, Error> {
        use crate::links::LinkOutcome;
        let outcome = match choice.right {
            Right::Withdraw => self.withdraw(subject, &choice.purpose, Channel::EmailLink, ip, now).await?,
            Right::Object => LinkOutcome::Objected(self.object(subject, &choice.purpose, Channel::EmailLink, ip, now).await?),
        };
        // A choice made after asking on the privacy page answers that request, unless the
        // objection now waits for the controller (that request stays open).
        if !matches!(outcome, LinkOutcome::Objected(Objection::Restricted { .. })) {
            self.close_completed(subject, PrivacyRequestKind::Objection, now).await;
        }
        Ok(outcome)
    }

    /// An objection to a legitimate-interest purpose (Art. 21): direct marketing stops at once
    /// and for good; anything else is restricted until the controller decides. Idempotent.
    pub async fn object(
        &self,
        subject: &SubjectId,
        purpose: &PurposeId,
        channel: Channel,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<Objection, Error> {
        let record = self.store.load_subject(subject).await?;
        if !record.holds_personal_data() {
            return Err(Error::SubjectNotFound);
        }
        let current = current_events(&record.events);
        let (Some(profile), Some(last)) = (&record.profile, current.get(purpose)) else {
            return Err(Error::field("purpose", "not_held"));
        };
        match last.facts.kind {
            EventKind::Objected => return Ok(Objection::Stopped { already: true }),
            EventKind::Restricted => {
                let due_at = self.objection_request(subject, &record.requests, purpose, now).await?;
                return Ok(Objection::Restricted { due_at, already: true });
            }
            _ if offer(last) == Some(Right::Object) => {}
            // A consent is withdrawn, not objected to; a contract or a legal obligation is not
            // open to objection (Art. 21(1) names Art. 6(1)(e) and (f) only).
            _ => return Err(Error::field("purpose", "not_legitimate_interest")),
        }
        let marketing = match &last.facts.form_id {
            Some(form) => self.store.load_form(form).await?.and_then(|f| f.form.purpose(purpose.as_str()).map(|p| p.direct_marketing)),
            None => None,
        };
        let kind = if marketing == Some(true) { EventKind::Objected } else { EventKind::Restricted };
        let facts = follow_up(last, kind, channel, ip, now, Some(profile.lang));
        self.append_events(subject, vec![facts], None, vec![], Lift::No).await?;
        tracing::info!(subject = %subject, purpose = %purpose, state = kind.as_str(), "objection recorded");
        if kind == EventKind::Objected {
            return Ok(Objection::Stopped { already: false });
        }
        let due_at = self.objection_request(subject, &record.requests, purpose, now).await?;
        Ok(Objection::Restricted { due_at, already: false })
    }

    /// The open request for the controller's decision on an objection: the one the person made
    /// on the privacy page if any (its month counts from then), else a new one. Returns its due date.
    /// `requests` are the person's, as read with the objection (an append does not change them).
    async fn objection_request(
        &self,
        subject: &SubjectId,
        requests: &[PrivacyRequest],
        purpose: &PurposeId,
        now: Time,
    ) -> Result<Time, Error> {
        let open = |r: &&PrivacyRequest| r.kind == PrivacyRequestKind::Objection && r.status().is_open();
        if let Some(r) = requests.iter().filter(open).find(|r| r.purpose.as_ref() == Some(purpose)) {
            return Ok(r.due());
        }
        if let Some(asked) = requests.iter().filter(open).find(|r| r.purpose.is_none()) {
            let request = PrivacyRequest {
                purpose: Some(purpose.clone()),
                outcome: "restricted".into(),
                revision: asked.revision + 1,
                ..asked.clone()
            };
            if self.store.update_request(subject, &request).await? {
                return Ok(request.due());
            }
        }
        let now = proof::to_millis(now);
        let request = PrivacyRequest {
            request_id: RequestId::new(ulid::Ulid::new()),
            kind: PrivacyRequestKind::Objection,
            purpose: Some(purpose.clone()),
            received_at: now,
            due_at: now.checked_add_months(Months::new(1)).unwrap_or(now + Duration::days(30)),
            outcome: "restricted".into(),
            extension: None,
            closing: None,
            revision: 0,
        };
        self.store.record_request(subject, &request).await?;
        Ok(request.due_at)
    }

    /// Records the controller's decision on a restricted objection: upheld, the purpose stops
    /// for good; overruled, it applies again. Nothing when the purpose is no longer restricted
    /// (decided before, or the person erased meanwhile), so a retried close records it once.
    pub(crate) async fn decide_objection(&self, subject: &SubjectId, purpose: &PurposeId, upheld: bool, now: Time) -> Result<(), Error> {
        let record = self.store.load_subject(subject).await?;
        let current = current_events(&record.events);
        let Some(last) = current.get(purpose).filter(|e| e.facts.kind == EventKind::Restricted) else { return Ok(()) };
        let kind = if upheld { EventKind::Objected } else { EventKind::Resumed };
        let facts = follow_up(last, kind, Channel::Operator, None, now, record.profile.as_ref().map(|p| p.lang));
        self.append_events(subject, vec![facts], None, vec![], Lift::No).await?;
        Ok(())
    }
}

/// Objections over the in-memory adapters.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::LinkOutcome;
    use crate::memory::{self, MemoryApp, fixtures::*};
    use crate::requests::{ClosedAs, ClosingInput, RequestStatus};
    use crate::store::SubjectStore;

    /// The demo form with two legitimate interests: offers by post (direct marketing) and fraud
    /// checks (not).
    async fn app_with_interests() -> (MemoryApp, SubjectId) {
        let app = memory::app();
        let mut input = demo_input();
        let note = "Test równowagi 2026-11: opisany w rejestrze czynności.";
        input["purposes"].as_array_mut().unwrap().extend([
            serde_json::json!({"id": "postal_offers", "lawful_basis": "legitimate_interest", "balancing_note": note, "direct_marketing": true}),
            serde_json::json!({"id": "fraud_checks", "lawful_basis": "legitimate_interest", "balancing_note": note}),
        ]);
        let form = form(&app, input).await;
        post(&app, &form, "anna@example.pl", &["contact_reply", "postal_offers", "fraud_checks"]).await.unwrap();
        let subject = app.subject_id(&email("anna@example.pl"));
        (app, subject)
    }

    fn purpose(id: &str) -> PurposeId {
        PurposeId::parse(id).unwrap()
    }

    async fn state(app: &MemoryApp, id: &str) -> PurposeStatus {
        app.lookup(&email("anna@example.pl"), now()).await.unwrap().state[&purpose(id)]
    }

    #[tokio::test]
    async fn art21_an_objection_to_direct_marketing_stops_it_at_once_and_for_good() {
        let (app, subject) = app_with_interests().await;
        let objected = app.object(&subject, &purpose("postal_offers"), Channel::EmailLink, None, now()).await.unwrap();
        assert_eq!(objected, Objection::Stopped { already: false });
        assert_eq!(state(&app, "postal_offers").await, PurposeStatus::Objected);
        let again = app.object(&subject, &purpose("postal_offers"), Channel::EmailLink, None, now()).await.unwrap();
        assert_eq!(again, Objection::Stopped { already: true });
        let record = app.store.load_subject(&subject).await.unwrap();
        assert!(record.requests.is_empty(), "nothing for the controller to decide: {:?}", record.requests);
        let view = app.lookup(&email("anna@example.pl"), now()).await.unwrap();
        assert!(view.proof.verified, "the objection is sealed in the chain");
    }

    #[tokio::test]
    async fn art18_another_objection_restricts_the_purpose_until_the_controller_decides() {
        let (app, subject) = app_with_interests().await;
        let objected = app.object(&subject, &purpose("fraud_checks"), Channel::EmailLink, None, now()).await.unwrap();
        let Objection::Restricted { due_at, already: false } = objected else { panic!("{objected:?}") };
        assert_eq!(state(&app, "fraud_checks").await, PurposeStatus::Restricted);
        let requests = app.store.load_subject(&subject).await.unwrap().requests;
        let [request] = &requests[..] else { panic!("one request: {requests:?}") };
        assert_eq!(
            (request.kind, request.purpose.as_ref(), request.due_at),
            (PrivacyRequestKind::Objection, Some(&purpose("fraud_checks")), due_at)
        );
        // Asking again changes nothing and opens no second request.
        app.object(&subject, &purpose("fraud_checks"), Channel::EmailLink, None, now()).await.unwrap();
        assert_eq!(app.store.load_subject(&subject).await.unwrap().requests.len(), 1);
        // Restricted data is stored, not erased, while the decision is pending (Art. 18(2)).
        assert!(app.store.load_subject(&subject).await.unwrap().profile.is_some());
    }

    #[tokio::test]
    async fn art21_the_controller_overrules_with_reasons_mailed_or_upholds_and_the_purpose_stops() {
        let (app, subject) = app_with_interests().await;
        app.object(&subject, &purpose("fraud_checks"), Channel::EmailLink, None, now()).await.unwrap();
        let id = app.store.load_subject(&subject).await.unwrap().requests[0].request_id.clone();
        let by = crate::ids::OperatorId::new(crate::ids::Kid::parse("dpo").unwrap());
        let refused = ClosingInput { outcome: ClosedAs::Refused, reasons: Some("Kontrola nadużyć chroni także Panią.".into()) };
        let closed = app.close_request(&id, refused, &by, now()).await.unwrap();
        assert_eq!(closed.status, RequestStatus::Refused);
        assert_eq!(state(&app, "fraud_checks").await, PurposeStatus::Informed, "the purpose applies again");
        let mail = mail_to(&app, "anna@example.pl").pop().unwrap();
        assert_eq!(mail.kind(), "request_refused", "the reasons and the right to complain are mailed");

        app.object(&subject, &purpose("fraud_checks"), Channel::EmailLink, None, now()).await.unwrap();
        let requests = app.store.load_subject(&subject).await.unwrap().requests;
        let open = requests.iter().find(|r| r.status().is_open()).expect("a new objection, a new request");
        app.close_request(&open.request_id, ClosingInput { outcome: ClosedAs::Done, reasons: None }, &by, now()).await.unwrap();
        assert_eq!(state(&app, "fraud_checks").await, PurposeStatus::Objected, "upheld: the purpose stops");
        let kinds: Vec<_> = app.lookup(&email("anna@example.pl"), now()).await.unwrap().events.iter().map(|e| e.facts.kind).collect();
        assert_eq!(kinds[kinds.len() - 4..], [EventKind::Restricted, EventKind::Resumed, EventKind::Restricted, EventKind::Objected]);
    }

    #[tokio::test]
    async fn art21_only_a_legitimate_interest_can_be_objected_to_and_the_page_offers_each_right() {
        let (app, subject) = app_with_interests().await;
        for id in ["contact_reply", "newsletter", "unknown"] {
            let err = app.object(&subject, &purpose(id), Channel::EmailLink, None, now()).await.unwrap_err();
            assert!(matches!(&err, Error::Validation(f) if f[0].field == "purpose"), "{id}: {err:?}");
        }
        let items = app.choices(&subject, Lang::En, now()).await.unwrap();
        let offers: Vec<_> = items.iter().map(|i| (i.purpose.id.as_str(), i.offers)).collect();
        assert!(offers.contains(&("fraud_checks", Some(Right::Object))) && offers.contains(&("contact_reply", None)), "{offers:?}");
        let choice = Choice { purpose: purpose("postal_offers"), right: Right::Object };
        let outcome = app.act_on_choice(&subject, &choice, None, now()).await.unwrap();
        assert!(matches!(outcome, LinkOutcome::Objected(Objection::Stopped { already: false })), "{outcome:?}");
    }
}
