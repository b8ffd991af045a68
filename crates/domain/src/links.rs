//! What the signed e-mail links do (API.md §2), privacy requests (§3), operator-issued links and
//! erasure. A GET only reads; every state change happens in `act_on_link` or an operator call.

use std::net::IpAddr;

use chrono::Duration;
use serde_json::{Value, json};

use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::{PurposeId, SubjectId};
use crate::lang::Lang;
use crate::mail::{Mailer, Message};
use crate::proof::{self, ChainHead, Channel, EventFacts, EventKind, SealedEvent};
use crate::service::{Lift, Zgoda, derive_state};
use crate::store::{Append, AppendError, AudienceError, AudienceMember, Erasure, PrivacyRequest, PrivacyRequestKind, Store, WorkQueue};
use crate::token::{self, LinkAction, LinkClaims, TokenError};

/// What pressing a link's button did.
#[derive(Debug, Clone, PartialEq)]
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
    /// The Art. 15/20 export, ready to be sent as a JSON attachment.
    Export(Value),
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
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuedLink {
    pub url: String,
    #[serde(with = "crate::proof::millis")]
    pub expires_at: Time,
}

/// One audience row as the API shows it.
#[derive(Debug, Clone)]
pub struct AudienceRow {
    pub member: AudienceMember,
    pub unsubscribe_url: String,
}

fn verify(z_links: &crate::keys::KeyRing, token: &str, now: Time) -> Result<LinkClaims, Error> {
    token::verify(z_links, token, now).map_err(|e| match e {
        // A lapsed confirmation cannot be renewed: the request itself has lapsed.
        TokenError::Expired(c) => Error::LinkExpired { renewable: c.action != LinkAction::Confirm },
        _ => Error::InvalidLink,
    })
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
        if claims.action == LinkAction::Confirm {
            return Err(Error::LinkExpired { renewable: false });
        }
        self.rate_limit(&format!("renew#{}", claims.subject), self.settings.privacy_limit, now).await?;
        let record = self.store.load_subject(&claims.subject).await?;
        let Some(profile) = record.profile else { return Ok(()) };
        let ttl = self.ttl_for(claims.action);
        let fresh = LinkClaims::new(claims.action, claims.subject.clone(), claims.purpose.clone(), None, now + ttl);
        let message = Message::ActionLink {
            to: profile.email,
            lang: profile.lang,
            action: fresh.action,
            purpose: fresh.purpose.clone(),
            url: self.link_url(&fresh),
            expires_at: fresh.expires_at,
        };
        if self.within_public_mail_budget(now).await {
            self.send_logged(&message).await;
        }
        Ok(())
    }

    fn ttl_for(&self, action: LinkAction) -> Duration {
        match action {
            LinkAction::Unsubscribe => self.settings.unsubscribe_ttl,
            LinkAction::Confirm => self.settings.confirm_ttl,
            LinkAction::Erase => self.settings.privacy_link_ttl,
            LinkAction::Access => self.settings.access_link_ttl,
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
        let claims = verify(self.keys.links(), token, now)?;
        let outcome = match claims.action {
            LinkAction::Unsubscribe => {
                let purpose = claims.purpose.clone().ok_or(Error::InvalidLink)?;
                self.withdraw(&claims.subject, &purpose, Channel::EmailLink, ip, now).await?
            }
            LinkAction::Confirm => self.confirm(&claims, ip, now).await?,
            LinkAction::Erase => self.erase(&claims.subject, Channel::EmailLink, Some(&claims), now).await?,
            LinkAction::Access => {
                // Single use (security review M5): the link is a bearer credential for everything
                // held, and mail is forwarded, archived and shared; spent before the export is
                // built, so two clicks at once give one export.
                if !self.store.first_use(&format!("link#{}", claims.token_id_hex()), claims.expires_at, now).await? {
                    return Err(Error::LinkUsed);
                }
                LinkOutcome::Export(self.export(&claims.subject, now).await?)
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
        if !matches!(last.facts.kind, EventKind::Given | EventKind::Requested) || record.profile.is_none() {
            return Ok(LinkOutcome::Withdrawn { purpose: purpose.clone(), already: true });
        }
        let facts = follow_up(last, EventKind::Withdrawn, channel, ip, now, record.profile.as_ref().map(|p| p.lang));
        self.append_events(subject, vec![facts], None, None, Lift::No).await?;
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
        self.append_events(&claims.subject, vec![facts], kept, None, Lift::ByThePerson).await?;
        Ok(LinkOutcome::Confirmed { purpose, already: false })
    }

    /// Erases a subject's personal data in one transaction (Art. 17), keeping the PII-free sealed
    /// events and a suppression entry (Art. 17(3)(e)). A repeat is "already erased".
    pub async fn erase(&self, subject: &SubjectId, channel: Channel, link: Option<&LinkClaims>, now: Time) -> Result<LinkOutcome, Error> {
        let now = proof::to_millis(now);
        for _ in 0..4 {
            let record = self.store.load_subject(subject).await?;
            if record.profile.is_none() {
                return Ok(LinkOutcome::Erased { already: true });
            }
            let head = record.head.clone();
            let facts = EventFacts {
                event_id: ulid::Ulid::new().to_string(),
                subject_id: subject.clone(),
                seq: 0,
                kind: EventKind::Erased,
                purpose: None,
                lawful_basis: None,
                form_id: None,
                notice_version: None,
                notice_sha256: None,
                notice_lang: None,
                lang: record.profile.as_ref().map(|p| p.lang).unwrap_or(Lang::Pl),
                channel,
                ip_prefix: None,
                at: now,
                receipt_id: None,
                refers_to: None,
                prev_hash: String::new(),
            };
            let (events, new_head) = proof::seal_chain(self.keys.seals(), head.as_ref().unwrap_or(&ChainHead::genesis()), vec![facts]);
            let erasure = Erasure {
                append: Append {
                    subject: subject.clone(),
                    expected_head: head,
                    new_head,
                    events,
                    states: vec![],
                    profile: None,
                    submission: None,
                    lift_suppression: false,
                },
                at: now,
                spend_token: link.map(|c| (format!("link#{}", c.token_id_hex()), c.expires_at)),
            };
            match self.store.erase(erasure).await {
                Ok(()) => {
                    tracing::info!(subject = %subject, channel = channel.as_str(), "subject erased");
                    // The erasure itself is done; an outbox entry left with the address is still
                    // refused by the notifier and deleted with its TTL (security review M9).
                    match self.store.forget_recipient(subject, now).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(subject = %subject, notices = n, "unsent breach notices of an erased subject finished"),
                        Err(e) => tracing::warn!(subject = %subject, error = %e, "unsent breach notices not finished; the notifier will"),
                    }
                    return Ok(LinkOutcome::Erased { already: false });
                }
                Err(AppendError::Conflict) => continue,
                Err(AppendError::Spent) => {
                    // A double click (the first erased the person: "already erased"), or an old
                    // erase link used again after the person came back: that one is spent, and
                    // says so, rather than erasing them a second time (security review L5).
                    let record = self.store.load_subject(subject).await?;
                    return match record.profile {
                        None => Ok(LinkOutcome::Erased { already: true }),
                        Some(_) => Err(Error::LinkUsed),
                    };
                }
                Err(AppendError::Store(e)) => return Err(e.into()),
            }
        }
        // The chain kept moving: if a concurrent erasure moved it, the person is erased.
        match self.store.load_subject(subject).await?.profile {
            None => Ok(LinkOutcome::Erased { already: true }),
            Some(_) => Err(Error::Unavailable("the subject's chain kept moving".into())),
        }
    }

    /// Everything held about a subject, as structured JSON (Art. 15 and 20).
    pub async fn export(&self, subject: &SubjectId, now: Time) -> Result<Value, Error> {
        let record = self.store.load_subject(subject).await?;
        let report = proof::verify_chain(self.keys.seals(), subject, &record.events, record.head.as_ref());
        let mut events = record.events.clone();
        events.sort_by_key(|e| e.facts.seq);
        let state = derive_state(&events, self.settings.confirm_ttl, now);
        Ok(json!({
            "format": "zgoda-export/v1",
            "exported_at": proof::format_time(&now),
            "subject_id": subject,
            "profile": record.profile.as_ref().map(|p| json!({"email": p.email, "lang": p.lang, "updated_at": proof::format_time(&p.updated_at)})),
            "submissions": record.submissions.iter().map(|s| json!({
                "receipt_id": s.receipt_id, "form_id": s.form_id, "at": proof::format_time(&s.at),
                "kept_until": proof::format_time(&s.expires_at),
                "fields": s.fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
            "consent_state": state,
            "events": events,
            "proof": report,
            "requests": record.requests,
            "erased_at": record.suppressed_at.map(|t| proof::format_time(&t)),
        }))
    }

    /// A privacy request from the public page (API.md §3): always accepted; the address gets a
    /// link or a "no data held" message; the request is recorded with its one-month due date.
    pub async fn privacy_request(
        &self,
        email: &EmailAddress,
        kind: PrivacyRequestKind,
        lang: Lang,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<(), Error> {
        if let Some(ip) = ip {
            let net = crate::net::truncated_prefix(ip);
            self.rate_limit(&format!("privacy-net#{net}"), self.settings.network_limit, now).await?;
        }
        let subject = self.subject_id(email);
        // Anyone can ask in anyone's name, so the per-address limit never refuses (a 429 would let
        // a stranger spend the person's own requests; security review M7). Up to the limit each
        // request gets its own mail; the first past it gets one mail with both links, which stay
        // valid past the window's end; the rest of the window's requests are recorded and folded
        // into that mail.
        let (asked, _) = self.count_in_window(&format!("privacy#{subject}"), now).await?;
        let limit = self.settings.privacy_limit;
        let record = self.store.load_subject(&subject).await?;
        let held = record.profile.is_some();
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

    /// An operator-issued link for a subject zgoda holds (API.md §4).
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
        if action == LinkAction::Confirm {
            return Err(Error::field("action", "invalid"));
        }
        let subject = self.subject_id(email);
        // An erased (suppressed) or unknown person is not re-created by an operator call.
        if self.store.load_subject(&subject).await?.profile.is_none() {
            return Err(Error::SubjectNotFound);
        }
        let claims = LinkClaims::new(action, subject, purpose, None, now + self.ttl_for(action));
        Ok(IssuedLink { url: self.link_url(&claims), expires_at: claims.expires_at })
    }

    /// A page of the audience for a purpose, each with a ready unsubscribe link.
    pub async fn audience(
        &self,
        purpose: &PurposeId,
        cursor: Option<&str>,
        now: Time,
    ) -> Result<(Vec<AudienceRow>, Option<String>), Error> {
        let (members, next) = self.store.audience(purpose, cursor, 100).await.map_err(|e| match e {
            AudienceError::BadCursor => Error::field("cursor", "invalid"),
            AudienceError::Store(s) => s.into(),
        })?;
        let rows = members
            .into_iter()
            .map(|m| {
                let claims = LinkClaims::new(
                    LinkAction::Unsubscribe,
                    m.subject.clone(),
                    Some(purpose.clone()),
                    None,
                    now + self.settings.unsubscribe_ttl,
                );
                AudienceRow { unsubscribe_url: self.link_url(&claims), member: m }
            })
            .collect();
        Ok((rows, next))
    }

    /// The operator's erase (API.md §4): the same effect as the erase link.
    pub async fn erase_by_email(&self, email: &EmailAddress, now: Time) -> Result<LinkOutcome, Error> {
        let subject = self.subject_id(email);
        let record = self.store.load_subject(&subject).await?;
        if record.profile.is_none() && record.suppressed_at.is_none() {
            return Err(Error::SubjectNotFound);
        }
        self.erase(&subject, Channel::Operator, None, now).await
    }
}

/// An event that follows `last` for the same purpose: same form, basis and notice, new kind.
fn follow_up(last: &SealedEvent, kind: EventKind, channel: Channel, ip: Option<IpAddr>, now: Time, lang: Option<Lang>) -> EventFacts {
    let f = &last.facts;
    EventFacts {
        event_id: ulid::Ulid::new().to_string(),
        subject_id: f.subject_id.clone(),
        seq: 0,
        kind,
        purpose: f.purpose.clone(),
        lawful_basis: f.lawful_basis,
        form_id: f.form_id.clone(),
        notice_version: f.notice_version.clone(),
        notice_sha256: f.notice_sha256.clone(),
        notice_lang: f.notice_lang,
        lang: lang.unwrap_or(f.lang),
        channel,
        ip_prefix: ip.map(crate::net::truncated_prefix),
        at: proof::to_millis(now),
        receipt_id: None,
        refers_to: Some(f.event_id.clone()),
        prev_hash: String::new(),
    }
}
