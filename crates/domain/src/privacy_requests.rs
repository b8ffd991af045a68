//! Privacy requests from the public page (docs/api.md §3): always accepted, whoever asks; the
//! address gets the link it asked for or a "no data held" answer, and the request is recorded with
//! its one-month due date (Art. 12(3)).

use std::net::IpAddr;

use chrono::Duration;

use crate::FieldError;
use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
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

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// A privacy request from the public page (docs/api.md §3): always accepted; the address gets a
    /// link or a "no data held" message; the request is recorded with its one-month due date.
    pub async fn privacy_request(
        &self,
        email: &EmailAddress,
        kind: PrivacyRequestKind,
        lang: Lang,
        proof: &Solved,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<(), Error> {
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
            let links = vec![link(LinkAction::Access), link(LinkAction::Erase)];
            (Some(Message::PrivacyLinks { to: email.clone(), lang, links }), "links_sent")
        } else {
            let (action, url, expires_at) = link(match kind {
                PrivacyRequestKind::Access => LinkAction::Access,
                PrivacyRequestKind::Erasure => LinkAction::Erase,
            });
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
            request_id: ulid::Ulid::new().to_string(),
            kind,
            received_at: now,
            due_at: now.checked_add_months(chrono::Months::new(1)).unwrap_or(now + Duration::days(30)),
            outcome: outcome.into(),
        };
        self.store.record_request(&subject, &request).await?;
        tracing::info!(subject = %subject, kind = ?kind, outcome = %request.outcome, due = %proof::format_time(&request.due_at), "privacy request recorded");
        if let Some(message) = message {
            self.send_logged(&message).await;
        }
        Ok(())
    }
}
