//! What the signed e-mail links do (docs/api.md §2): a link's page (which only reads), its button
//! (`act_on_link`: withdraw, confirm, erase, export), a fresh copy of an expired link, and the
//! links an operator issues. Erasure itself is `erasure.rs`, the export `access.rs`.

use std::net::IpAddr;

use chrono::Duration;

use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::{PurposeId, SubjectId};
use crate::lang::Lang;
use crate::mail::{Mailer, Message};
use crate::proof::{self, Channel, EventFacts, EventKind, SealedEvent};
use crate::service::{Lift, Zgoda};
use crate::store::{GuardKey, PrivacyRequestKind, Store, WorkQueue};
use crate::token::{self, LinkAction, LinkClaims, TokenError};

/// What pressing a link's button did.
#[derive(Debug, Clone)]
pub enum LinkOutcome {
    Withdrawn {
        purpose: PurposeId,
        already: bool,
    },
    Confirmed {
        purpose: PurposeId,
        already: bool,
    },
    Erased {
        already: bool,
    },
    /// An objection from the person's choices page (Art. 21).
    Objected(crate::choices::Objection),
    /// A correction from the person's rectify page (Art. 16).
    Rectified(crate::rectification::Rectified),
    /// A new address asked for on the rectify page: its confirmation link was sent there.
    AddressChangeSent,
    /// The new address confirmed: the person's data goes by it now.
    AddressChanged {
        already: bool,
    },
    /// A restriction from the person's choices page (Art. 18(1)(a)–(c)).
    Restricted(crate::restriction::Restriction),
    /// The Art. 15/20 export, ready to be sent as a JSON attachment.
    Export(Box<crate::access::AccessExport>),
}

/// What a link's page sent with its button, beyond the token: a choices page's choice, a rectify
/// page's correction or new address.
#[derive(Debug, Clone, Default)]
pub enum LinkInput {
    #[default]
    Nothing,
    Choice(crate::choices::Choice),
    Correction(crate::rectification::Correction),
    /// A new address, with the language of the page it was typed on (the confirmation's).
    NewAddress(EmailAddress, Option<Lang>),
    /// A restriction asked for on a choices page, on its ground.
    Restrict(crate::restriction::Ground),
}

/// What a link's page may say before anything happens.
#[derive(Debug, Clone)]
pub struct LinkPreview {
    pub claims: LinkClaims,
    /// The page's language: the one the request asked for, else the person's when zgoda still
    /// holds it.
    pub lang: Option<Lang>,
}

/// An operator-issued link.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IssuedLink {
    pub url: String,
    #[serde(with = "crate::proof::millis")]
    pub expires_at: Time,
}

fn verify(z_links: &crate::keys::KeyRing, token: &str, now: Time) -> Result<LinkClaims, Error> {
    let claims = token::verify(z_links, token, now).map_err(|e| match e {
        // A lapsed confirmation cannot be renewed: the request itself has lapsed.
        // So cannot a lapsed address confirmation: the change has lapsed, and a renewal would go
        // to the address on file, not the new one.
        TokenError::Expired(c) if c.action.is_personal() => Error::LinkExpired { renewable: c.action.renewable() },
        _ => Error::InvalidLink,
    })?;
    // An incident's link is no person's link: here it is just not a valid one.
    if !claims.action.is_personal() {
        return Err(Error::InvalidLink);
    }
    Ok(claims)
}

/// The purpose's latest event, which decides what a link may still do.
fn latest_for<'a>(events: &'a [SealedEvent], purpose: &PurposeId) -> Option<&'a SealedEvent> {
    events.iter().filter(|e| e.facts.purpose.as_ref() == Some(purpose)).max_by_key(|e| e.facts.seq)
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// Reads a link for its page. Never writes. The person's language is read only when the
    /// request names none (`asked`): a browser sends `Accept-Language` with every click, so a page
    /// view usually costs no database read at all.
    pub async fn preview_link(&self, token: &str, asked: Option<Lang>, now: Time) -> Result<LinkPreview, Error> {
        let claims = verify(self.keys.links(), token, now)?;
        let lang = match asked {
            Some(lang) => Some(lang),
            None => self.store.load_profile(&claims.subject).await?.map(|p| p.lang),
        };
        Ok(LinkPreview { claims, lang })
    }

    /// For an expired link: mails a fresh link of the same kind to the address zgoda holds, if
    /// any. Expired confirmations are not renewed: the request itself has lapsed.
    pub async fn renew_link(&self, token: &str, now: Time) -> Result<(), Error> {
        let claims = match token::verify(self.keys.links(), token, now) {
            Ok(_) => return Ok(()),
            Err(TokenError::Expired(c)) => *c,
            Err(_) => return Err(Error::InvalidLink),
        };
        if !claims.action.renewable() {
            return Err(Error::LinkExpired { renewable: false });
        }
        self.rate_limit(&GuardKey::RenewalsFor(claims.subject.clone()), self.settings.privacy_limit, now).await?;
        let record = self.store.load_subject(&claims.subject).await?;
        let Some(profile) = record.profile else { return Ok(()) };
        let ttl = self.ttl_for(claims.action);
        let fresh = LinkClaims::new(claims.action, claims.subject.clone(), claims.purpose.clone(), None, now + ttl);
        let purpose = match &fresh.purpose {
            Some(id) => Some(crate::labels::PurposeName { id: id.clone(), label: self.purpose_name(id, profile.lang, now).await }),
            None => None,
        };
        let message = Message::ActionLink {
            to: profile.email,
            lang: profile.lang,
            action: fresh.action,
            purpose,
            url: self.link_url(&fresh),
            expires_at: fresh.expires_at,
        };
        if self.within_public_mail_budget(now).await {
            self.send_logged(&message).await;
        }
        Ok(())
    }

    pub(crate) fn ttl_for(&self, action: LinkAction) -> Duration {
        match action {
            LinkAction::Unsubscribe => self.settings.unsubscribe_ttl,
            LinkAction::Confirm => self.settings.confirm_ttl,
            LinkAction::Erase | LinkAction::Choices | LinkAction::Rectify | LinkAction::ConfirmAddress => self.settings.privacy_link_ttl,
            LinkAction::Access => self.settings.access_link_ttl,
            LinkAction::Report => crate::incidents::REPORTING_LINK_TTL,
            LinkAction::IncidentAnswer => crate::incidents::ANSWER_LINK_TTL,
        }
    }

    pub(crate) async fn send_logged(&self, message: &Message) {
        match self.mailer.send(message).await {
            Ok(id) => tracing::info!(kind = message.kind(), message_id = %id, "mail sent"),
            Err(e) => tracing::error!(kind = message.kind(), error = %e, "mail failed"),
        }
    }

    /// Performs a link's action (the page's button, or an RFC 8058 one-click POST).
    pub async fn act_on_link(&self, token: &str, ip: Option<IpAddr>, now: Time) -> Result<(LinkClaims, LinkOutcome), Error> {
        self.act_on_link_with(token, &LinkInput::Nothing, ip, now).await
    }

    /// Performs a link's action; a choices or rectify link acts on what its page's button sent.
    pub async fn act_on_link_with(
        &self,
        token: &str,
        input: &LinkInput,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<(LinkClaims, LinkOutcome), Error> {
        let claims = verify(self.keys.links(), token, now)?;
        let outcome = match claims.action {
            LinkAction::Choices => match input {
                LinkInput::Choice(choice) => self.act_on_choice(&claims.subject, choice, ip, now).await?,
                LinkInput::Restrict(ground) => {
                    LinkOutcome::Restricted(self.restrict(&claims.subject, *ground, Channel::EmailLink, ip, now).await?)
                }
                _ => return Err(Error::field("purpose", "required")),
            },
            LinkAction::Rectify => match input {
                LinkInput::Correction(correction) => {
                    LinkOutcome::Rectified(self.rectify(&claims.subject, correction, Channel::EmailLink, ip, now).await?)
                }
                LinkInput::NewAddress(email, lang) => {
                    self.request_address_change(&claims.subject, email, *lang, now).await?;
                    LinkOutcome::AddressChangeSent
                }
                _ => return Err(Error::field("form_id", "required")),
            },
            LinkAction::ConfirmAddress => LinkOutcome::AddressChanged { already: !self.confirm_address(&claims, ip, now).await? },
            // Refused by `verify` already: their own pages serve them.
            LinkAction::Report | LinkAction::IncidentAnswer => return Err(Error::InvalidLink),
            LinkAction::Unsubscribe => {
                let purpose = claims.purpose.clone().ok_or(Error::InvalidLink)?;
                self.withdraw(&claims.subject, &purpose, Channel::EmailLink, ip, now).await?
            }
            LinkAction::Confirm => self.confirm(&claims, ip, now).await?,
            LinkAction::Erase => {
                let erased = self.erase(&claims.subject, None, Channel::EmailLink, Some(&claims), now).await?;
                // The person did what they asked for: their erasure request is answered.
                self.close_completed(&claims.subject, PrivacyRequestKind::Erasure, now).await;
                erased
            }
            LinkAction::Access => {
                // Single use (security review M5): the link is a bearer credential for everything
                // held, and mail is forwarded, archived and shared; spent before the export is
                // built, so two clicks at once give one export.
                if !self.store.first_use(&GuardKey::LinkUsed(claims.token_id_hex()), claims.expires_at, now).await? {
                    return Err(Error::LinkUsed);
                }
                let export = self.export(&claims.subject, now).await?;
                // The export is in the person's hands: their access request is answered.
                self.close_completed(&claims.subject, PrivacyRequestKind::Access, now).await;
                LinkOutcome::Export(Box::new(export))
            }
        };
        tracing::info!(action = claims.action.as_str(), subject = %claims.subject, "link used");
        Ok((claims, outcome))
    }

    /// Withdraws consent for a purpose (Art. 7(3)); idempotent.
    pub async fn withdraw(
        &self,
        subject: &SubjectId,
        purpose: &PurposeId,
        channel: Channel,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<LinkOutcome, Error> {
        let record = self.store.load_subject(subject).await?;
        let Some(last) = latest_for(&record.events, purpose) else {
            return Ok(LinkOutcome::Withdrawn { purpose: purpose.clone(), already: true });
        };
        // Withdrawable exactly when the person's choices page offers it (a restricted consent too).
        if crate::choices::offer(last) != Some(crate::choices::Right::Withdraw) || record.profile.is_none() {
            return Ok(LinkOutcome::Withdrawn { purpose: purpose.clone(), already: true });
        }
        let facts = follow_up(last, EventKind::Withdrawn, channel, ip, now, record.profile.as_ref().map(|p| p.lang));
        self.append_events(subject, vec![facts], None, vec![], Lift::No).await?;
        Ok(LinkOutcome::Withdrawn { purpose: purpose.clone(), already: false })
    }

    async fn confirm(&self, claims: &LinkClaims, ip: Option<IpAddr>, now: Time) -> Result<LinkOutcome, Error> {
        let purpose = claims.purpose.clone().ok_or(Error::InvalidLink)?;
        let requested = claims.refers_to.as_deref().ok_or(Error::InvalidLink)?;
        let record = self.store.load_subject(&claims.subject).await?;
        let last = latest_for(&record.events, &purpose).ok_or(Error::LinkExpired { renewable: false })?;
        if last.facts.kind == EventKind::Given && last.facts.refers_to.as_deref() == Some(requested) {
            return Ok(LinkOutcome::Confirmed { purpose, already: true });
        }
        let pending = last.facts.kind == EventKind::Requested
            && last.facts.event_id == requested
            && last.facts.at + self.settings.confirm_ttl > now
            && record.profile.is_some();
        if !pending {
            // Withdrawn, superseded by a newer request, lapsed, or erased: nothing to confirm.
            return Err(Error::LinkExpired { renewable: false });
        }
        let facts = follow_up(last, EventKind::Given, Channel::EmailLink, ip, now, record.profile.as_ref().map(|p| p.lang));
        // Consent given: the address is now kept for it, no longer only for the request.
        let kept = record.profile.map(|p| crate::store::Profile { expires_at: None, ..p });
        // So is what their form carried: until its retention ends, no longer until the request's.
        let extended = record.submissions.into_iter().filter(|s| s.expires_at < s.retained_until).collect();
        self.append_events(&claims.subject, vec![facts], kept, extended, Lift::ByThePerson).await?;
        Ok(LinkOutcome::Confirmed { purpose, already: false })
    }

    /// An operator-issued link for a subject zgoda holds (docs/api.md §4).
    pub async fn issue_link(
        &self,
        email: &EmailAddress,
        action: LinkAction,
        purpose: Option<PurposeId>,
        now: Time,
    ) -> Result<IssuedLink, Error> {
        if action == LinkAction::Unsubscribe && purpose.is_none() {
            return Err(Error::field("purpose", "required"));
        }
        // A confirmation names what it confirms, which only the person's own request creates.
        if matches!(action, LinkAction::Confirm | LinkAction::ConfirmAddress) {
            return Err(Error::field("action", "invalid"));
        }
        if let (LinkAction::Unsubscribe, Some(purpose)) = (action, &purpose) {
            // Only a consent can be withdrawn (Art. 7(3)); another basis is not the person's to
            // give, so a link withdrawing it would record the withdrawal of nothing.
            let declared = self.store.declared_purpose(purpose).await?.ok_or(Error::PurposeNotFound)?;
            if let Some(code) = declared.lawful_basis.not_consent() {
                return Err(Error::field("purpose", code));
            }
        }
        let subject = self.subject_id(email);
        // An erased (suppressed) or unknown person is not re-created by an operator call.
        if !self.store.load_subject(&subject).await?.holds_personal_data() {
            return Err(Error::SubjectNotFound);
        }
        let claims = LinkClaims::new(action, subject, purpose, None, now + self.ttl_for(action));
        Ok(IssuedLink { url: self.link_url(&claims), expires_at: claims.expires_at })
    }
}

/// An event that follows `last` for the same purpose: same form, basis and notice, new kind.
pub(crate) fn follow_up(
    last: &SealedEvent,
    kind: EventKind,
    channel: Channel,
    ip: Option<IpAddr>,
    now: Time,
    lang: Option<Lang>,
) -> EventFacts {
    let f = &last.facts;
    EventFacts {
        purpose: f.purpose.clone(),
        lawful_basis: f.lawful_basis,
        form_id: f.form_id.clone(),
        notice_version: f.notice_version.clone(),
        notice_sha256: f.notice_sha256.clone(),
        notice_lang: f.notice_lang,
        ip_prefix: ip.map(crate::net::truncated_prefix),
        refers_to: Some(f.event_id.clone()),
        ..EventFacts::new(ulid::Ulid::new().to_string(), f.subject_id.clone(), kind, lang.unwrap_or(f.lang), channel, proof::to_millis(now))
    }
}

/// The links' use cases over the in-memory adapters: confirm, withdraw, renew, issue.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{self, MemoryApp, fixtures::*};
    use crate::service::PurposeStatus;

    fn newsletter() -> PurposeId {
        PurposeId::parse("newsletter").unwrap()
    }

    async fn status(app: &MemoryApp, address: &str) -> Option<PurposeStatus> {
        app.lookup(&email(address), now()).await.unwrap().state.get(&newsletter()).copied()
    }

    async fn audience(app: &MemoryApp) -> Vec<String> {
        app.audience(&newsletter(), None, now()).await.unwrap().0.iter().map(|r| r.member.email.as_str().to_owned()).collect()
    }

    #[tokio::test]
    async fn art7_1_confirming_gives_consent_once_keeps_the_address_and_joins_the_audience() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        assert!(audience(&app).await.is_empty(), "requested is not given");
        let token = confirm_token(&app, "anna@example.pl");

        let (_, outcome) = app.act_on_link(&token, None, now()).await.unwrap();
        assert!(matches!(outcome, LinkOutcome::Confirmed { already: false, .. }), "{outcome:?}");
        let (_, again) = app.act_on_link(&token, None, now()).await.unwrap();
        assert!(matches!(again, LinkOutcome::Confirmed { already: true, .. }), "a second click changes nothing: {again:?}");

        assert_eq!(status(&app, "anna@example.pl").await, Some(PurposeStatus::Given));
        assert_eq!(audience(&app).await, ["anna@example.pl"]);
        let view = app.lookup(&email("anna@example.pl"), now()).await.unwrap();
        assert_eq!((view.events.len(), view.proof.verified), (3, true));
        let given = view.events.last().unwrap();
        let requested = view.events.iter().find(|e| e.facts.kind == EventKind::Requested).unwrap();
        assert_eq!(given.facts.refers_to.as_ref(), Some(&requested.facts.event_id), "the confirmation names the request it confirms");
    }

    #[tokio::test]
    async fn art5_1e_a_confirmation_after_its_time_gives_nothing_and_is_not_renewed() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let token = confirm_token(&app, "anna@example.pl");
        let late = now() + app.settings.confirm_ttl + Duration::seconds(1);
        assert!(matches!(app.act_on_link(&token, None, late).await, Err(Error::LinkExpired { renewable: false })));
        assert!(matches!(app.renew_link(&token, late).await, Err(Error::LinkExpired { renewable: false })));
        assert_eq!(status(&app, "anna@example.pl").await, Some(PurposeStatus::Requested));
    }

    #[tokio::test]
    async fn art7_3_withdrawing_through_the_audiences_link_takes_the_person_out_at_once() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        app.act_on_link(&confirm_token(&app, "anna@example.pl"), None, now()).await.unwrap();
        let rows = app.audience(&newsletter(), None, now()).await.unwrap().0;
        let unsubscribe = token(&rows[0].unsubscribe_url);

        let (_, outcome) = app.act_on_link(&unsubscribe, Some("198.51.100.20".parse().unwrap()), now()).await.unwrap();
        assert!(matches!(outcome, LinkOutcome::Withdrawn { already: false, .. }), "{outcome:?}");
        assert!(audience(&app).await.is_empty());
        assert_eq!(status(&app, "anna@example.pl").await, Some(PurposeStatus::Withdrawn));
        let (_, again) = app.act_on_link(&unsubscribe, None, now()).await.unwrap();
        assert!(matches!(again, LinkOutcome::Withdrawn { already: true, .. }), "idempotent: {again:?}");

        let view = app.lookup(&email("anna@example.pl"), now()).await.unwrap();
        let withdrawn = view.events.last().unwrap();
        assert_eq!((withdrawn.facts.kind, withdrawn.facts.channel), (EventKind::Withdrawn, Channel::EmailLink));
        assert_eq!(withdrawn.facts.ip_prefix.as_deref(), Some("198.51.100.0/24"), "only the network is kept");
        assert!(view.proof.verified);
    }

    #[tokio::test]
    async fn an_expired_unsubscribe_link_is_renewed_by_mail_to_the_address_on_file_only() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let issued = app.issue_link(&email("anna@example.pl"), LinkAction::Unsubscribe, Some(newsletter()), now()).await.unwrap();
        let late = issued.expires_at + Duration::seconds(1);
        assert!(matches!(app.act_on_link(&token(&issued.url), None, late).await, Err(Error::LinkExpired { renewable: true })));

        app.renew_link(&token(&issued.url), late).await.unwrap();
        let renewed = mail_to(&app, "anna@example.pl").into_iter().find_map(|m| match m {
            Message::ActionLink { action: LinkAction::Unsubscribe, url, expires_at, .. } => Some((url, expires_at)),
            _ => None,
        });
        let (url, expires_at) = renewed.expect("a fresh link, mailed");
        assert_eq!(expires_at, late + app.settings.unsubscribe_ttl);
        let (_, outcome) = app.act_on_link(&token(&url), None, late).await.unwrap();
        assert!(matches!(outcome, LinkOutcome::Withdrawn { .. }));
    }

    #[tokio::test]
    async fn an_operator_issues_links_only_for_people_held_and_never_a_confirmation() {
        let app = memory::app();
        let unknown = app.issue_link(&email("nikt@example.pl"), LinkAction::Erase, None, now()).await;
        assert!(matches!(unknown, Err(Error::SubjectNotFound)), "{unknown:?}");
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        let no_purpose = app.issue_link(&email("anna@example.pl"), LinkAction::Unsubscribe, None, now()).await;
        assert!(matches!(no_purpose, Err(Error::Validation(f)) if f[0].field == "purpose"));
        let contract = PurposeId::parse("contact_reply").unwrap();
        let not_consent = app.issue_link(&email("anna@example.pl"), LinkAction::Unsubscribe, Some(contract), now()).await;
        assert!(matches!(&not_consent, Err(Error::Validation(f)) if f[0].code == "basis_is_contract"), "{not_consent:?}");
        let confirm = app.issue_link(&email("anna@example.pl"), LinkAction::Confirm, Some(newsletter()), now()).await;
        assert!(matches!(confirm, Err(Error::Validation(f)) if f[0].field == "action"));
        let erase = app.issue_link(&email("anna@example.pl"), LinkAction::Erase, None, now()).await.unwrap();
        let left = erase.expires_at - now();
        assert!(left <= app.settings.privacy_link_ttl && left > app.settings.privacy_link_ttl - Duration::seconds(5), "{left}");
    }

    #[tokio::test]
    async fn a_tampered_or_foreign_link_is_invalid() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let mut token = confirm_token(&app, "anna@example.pl").into_bytes();
        let middle = token.len() / 2;
        token[middle] = if token[middle] == b'A' { b'B' } else { b'A' };
        let token = String::from_utf8(token).unwrap();
        assert!(matches!(app.act_on_link(&token, None, now()).await, Err(Error::InvalidLink)));
        assert!(matches!(app.preview_link("not-a-token", None, now()).await, Err(Error::InvalidLink)));
    }
}
