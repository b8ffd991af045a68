//! Privacy requests from the public page (docs/api.md §3): always accepted, whoever asks; the
//! address gets the link it asked for or a "no data held" answer, and the request is recorded with
//! its one-month due date (Art. 12(3)).

use std::net::IpAddr;

use chrono::Duration;

use crate::FieldError;
use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::RequestId;
use crate::lang::Lang;
use crate::mail::Mailer;
use crate::mail::Message;
use crate::proof;
use crate::proof_of_work::{self, ProofError, Solved};
use crate::service::Zgoda;
use crate::store::{GuardKey, PrivacyRequest, PrivacyRequestKind};
use crate::store::{Store, WorkQueue};
use crate::token::{LinkAction, LinkClaims};

impl<S, M, Q> Zgoda<S, M, Q> {
    /// A fresh proof-of-work challenge for a privacy request (security review H2).
    pub fn privacy_challenge(&self, now: Time) -> altcha::Challenge {
        proof_of_work::challenge(self.keys.links(), &self.settings.privacy_proof_of_work, now)
    }

    /// Checks the solved challenge a privacy request carried in [`proof_of_work::FIELD`], if any.
    pub fn check_privacy_proof(&self, field: Option<&str>, now: Time) -> Result<Solved, ProofError> {
        proof_of_work::verify(self.keys.links(), field.ok_or(ProofError::Required)?, now)
    }
}

/// What a person asked for on the privacy page, under the id the caller gives the request.
#[derive(Debug, Clone)]
pub struct Asked {
    pub id: RequestId,
    pub email: EmailAddress,
    pub kind: PrivacyRequestKind,
    /// The language of the page, which the answer speaks.
    pub lang: Lang,
}

impl Asked {
    /// A request under a fresh id.
    pub fn new(email: EmailAddress, kind: PrivacyRequestKind, lang: Lang) -> Self {
        Self { id: RequestId::new(ulid::Ulid::new()), email, kind, lang }
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// A privacy request from the public page (docs/api.md §3): always accepted; the address gets a
    /// link or a "no data held" message; the request is recorded with its one-month due date.
    pub async fn privacy_request(&self, asked: Asked, proof: &Solved, ip: Option<IpAddr>, now: Time) -> Result<(), Error> {
        let Asked { id, email, kind, lang } = asked;
        let email = &email;
        // A solution buys one request: its nonce is kept until its challenge expires.
        if !self.store.first_use(&GuardKey::ProofOfWork(proof.nonce.clone()), proof.expires_at, now).await? {
            return Err(Error::Validation(vec![FieldError::new(proof_of_work::FIELD, ProofError::Used.code())]));
        }
        if let Some(ip) = ip {
            let net = crate::net::truncated_prefix(ip);
            self.rate_limit(&GuardKey::PrivacyRequestsFrom(net), self.settings.network_limit, now).await?;
        }
        let subject = self.subject_id(email);
        // Anyone can ask in anyone's name, so the per-address limit never refuses (a 429 would let
        // a stranger spend the person's own requests; security review M7). Up to the limit each
        // request gets its own mail; the first past it gets one mail with both links, which stay
        // valid past the window's end; the rest of the window's requests are recorded and folded
        // into that mail.
        let (asked, _) = self.count_in_window(&GuardKey::PrivacyRequestsFor(subject.clone()), now).await?;
        let limit = self.settings.privacy_limit;
        let record = self.store.load_subject(&subject).await?;
        let held = record.holds_personal_data();
        let link = |action: LinkAction| {
            let claims = LinkClaims::new(action, subject.clone(), None, None, now + self.ttl_for(action));
            // The request's language may differ from the one on file: the page opens in the mail's.
            (action, format!("{}?lang={lang}", self.link_url(&claims)), claims.expires_at)
        };
        let (message, outcome) = if asked > limit + 1 {
            (None, "folded")
        } else if !held {
            (Some(Message::NoDataHeld { to: email.clone(), lang }), "no_data_held")
        } else if asked == limit + 1 {
            // Access and erasure always (M7), and the page the request that reached it asked for.
            let mut links = vec![link(LinkAction::Access), link(LinkAction::Erase)];
            links.extend(kind.page().map(link));
            (Some(Message::PrivacyLinks { to: email.clone(), lang, links }), "links_sent")
        } else {
            let (action, url, expires_at) = link(kind.link());
            (Some(Message::ActionLink { to: email.clone(), lang, action, purpose: None, url, expires_at }), "link_sent")
        };
        // A request whose answer the hourly budget held back is recorded as such: it is still due
        // within the month, by other means if need be.
        let (message, outcome) = match message {
            Some(_) if !self.within_public_mail_budget(now).await => (None, "mail_budget_spent"),
            answer => (answer, outcome),
        };
        let now = proof::to_millis(now);
        let request = PrivacyRequest {
            request_id: id,
            kind,
            purpose: None,
            received_at: now,
            due_at: now.checked_add_months(chrono::Months::new(1)).unwrap_or(now + Duration::days(30)),
            outcome: outcome.into(),
            extension: None,
            closing: None,
            revision: 0,
        };
        self.store.record_request(&subject, &request).await?;
        tracing::info!(subject = %subject, kind = ?kind, outcome = %request.outcome, due = %proof::format_time(&request.due_at), "privacy request recorded");
        if let Some(message) = message {
            self.send_logged(&message).await;
        }
        Ok(())
    }
}

/// Privacy requests over the in-memory adapters: who gets which answer, and what is recorded.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::memory::{self, MemoryApp, fixtures::*};
    use crate::proof_of_work::ProofOfWork;
    use crate::store::SubjectStore;

    /// An app whose proof of work a test solves in a moment.
    pub(crate) fn app() -> MemoryApp {
        let mut app = memory::app();
        app.settings.privacy_proof_of_work = ProofOfWork { cost: 2, max_counter: 50, ..ProofOfWork::default() };
        app
    }

    /// A challenge solved as the privacy page's script would, and checked as the route checks it.
    pub(crate) fn solved(app: &MemoryApp) -> Solved {
        let field = proof_of_work::solve(&app.privacy_challenge(now()));
        app.check_privacy_proof(Some(&field), now()).unwrap()
    }

    async fn ask(app: &MemoryApp, address: &str, kind: PrivacyRequestKind) -> Result<(), Error> {
        app.privacy_request(Asked::new(email(address), kind, Lang::En), &solved(app), Some("203.0.113.9".parse().unwrap()), now()).await
    }

    async fn requests(app: &MemoryApp, address: &str) -> Vec<PrivacyRequest> {
        app.store.load_subject(&app.subject_id(&email(address))).await.unwrap().requests
    }

    #[tokio::test]
    async fn art12_3_a_request_is_answered_by_mail_and_recorded_with_its_month() {
        let app = app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        ask(&app, "anna@example.pl", PrivacyRequestKind::Access).await.unwrap();

        let answer = mail_to(&app, "anna@example.pl").pop().unwrap();
        let Message::ActionLink { action, url, lang, .. } = answer else { panic!("{answer:?}") };
        assert_eq!((action, lang), (LinkAction::Access, Lang::En));
        assert!(url.ends_with("?lang=en"), "the page opens in the request's language: {url}");
        let [request] = &requests(&app, "anna@example.pl").await[..] else { panic!("one request") };
        assert_eq!((request.kind, request.outcome.as_str()), (PrivacyRequestKind::Access, "link_sent"));
        assert_eq!(request.due_at, request.received_at.checked_add_months(chrono::Months::new(1)).unwrap());
    }

    #[tokio::test]
    async fn art15_an_address_held_nowhere_is_told_so_and_the_request_is_still_recorded() {
        let app = app();
        ask(&app, "nikt@example.pl", PrivacyRequestKind::Erasure).await.unwrap();
        assert!(matches!(mail_to(&app, "nikt@example.pl")[..], [Message::NoDataHeld { lang: Lang::En, .. }]));
        let recorded = requests(&app, "nikt@example.pl").await;
        assert_eq!(recorded[0].outcome, "no_data_held");
        assert!(recorded[0].kept_until() > recorded[0].due_at, "kept to show how it was answered, not for ever (L9)");
    }

    #[tokio::test]
    async fn m7_requests_in_someone_elses_name_are_folded_into_one_mail_with_both_links_never_refused() {
        let app = app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        let limit = app.settings.privacy_limit as usize;
        for _ in 0..limit + 3 {
            ask(&app, "anna@example.pl", PrivacyRequestKind::Erasure).await.expect("never a 429 for the person's address");
        }
        let kinds: Vec<_> = mail_to(&app, "anna@example.pl").iter().map(Message::kind).collect();
        let mut expected = vec!["action_link"; limit];
        expected.push("privacy_links");
        assert_eq!(kinds, expected, "one mail per request up to the limit, then one with both");
        let outcomes: Vec<_> = requests(&app, "anna@example.pl").await.into_iter().map(|r| r.outcome).collect();
        assert_eq!(outcomes.iter().filter(|o| *o == "folded").count(), 2, "{outcomes:?}");
    }

    /// The mail past the limit still answers the request that reached it: a correction asked for
    /// there carries the rectify link beside access and erasure.
    #[tokio::test]
    async fn art16_the_mail_past_the_limit_also_carries_the_link_the_request_asked_for() {
        let app = app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        for _ in 0..app.settings.privacy_limit + 1 {
            ask(&app, "anna@example.pl", PrivacyRequestKind::Rectification).await.unwrap();
        }
        let Some(Message::PrivacyLinks { links, .. }) = mail_to(&app, "anna@example.pl").pop() else { panic!("the folded mail") };
        let actions: Vec<_> = links.iter().map(|(a, _, _)| *a).collect();
        assert_eq!(actions, [LinkAction::Access, LinkAction::Erase, LinkAction::Rectify]);
    }

    #[tokio::test]
    async fn h2_a_solved_challenge_buys_one_request() {
        let app = app();
        let proof = solved(&app);
        let nikt = email("nikt@example.pl");
        let ask = || app.privacy_request(Asked::new(nikt.clone(), PrivacyRequestKind::Access, Lang::Pl), &proof, None, now());
        ask().await.unwrap();
        let again = ask().await.unwrap_err();
        assert!(matches!(&again, Error::Validation(f) if f[0].field == proof_of_work::FIELD && f[0].code == "used"), "{again:?}");
        assert_eq!(requests(&app, "nikt@example.pl").await.len(), 1, "the refused one is not recorded");
        assert!(matches!(app.check_privacy_proof(None, now()), Err(ProofError::Required)));
    }
}
