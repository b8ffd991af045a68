//! What zgoda tells people by e-mail, in domain terms. Rendering and MIME live in the web crate;
//! sending lives in the AWS crate; the domain only decides who gets which message.

use std::future::Future;

use crate::Time;
use crate::email::EmailAddress;
use crate::labels::PurposeName;
use crate::lang::Lang;
use crate::proof::EventKind;

/// One message to one recipient.
#[derive(Debug, Clone)]
pub enum Message {
    /// The double opt-in request (strictly transactional, pke398): one confirm link per purpose.
    ConfirmRequest { to: EmailAddress, lang: Lang, form_name: String, links: Vec<(PurposeName, String)>, expires_at: Time },
    /// A link for the person's own request: access, erasure, or a fresh copy of an expired link.
    ActionLink {
        to: EmailAddress,
        lang: Lang,
        action: crate::token::LinkAction,
        purpose: Option<PurposeName>,
        url: String,
        expires_at: Time,
    },
    /// The answer to a privacy request for an address zgoda holds nothing about.
    NoDataHeld { to: EmailAddress, lang: Lang },
    /// Tells an old address that the person's data now goes by another one (Art. 16), so a change
    /// nobody asked for does not go unnoticed.
    AddressChanged { to: EmailAddress, lang: Lang, at: Time },
    /// Tells the person, before it happens, that a restriction of their data is lifted, and why
    /// (Art. 18(3)).
    RestrictionLifted { to: EmailAddress, lang: Lang, reasons: String },
    /// The one answer to privacy requests past the hourly limit for an address: both an access
    /// and an erasure link, so that requests made in someone else's name can never leave the
    /// person without a way to use either right (security review M7). `links` are (action, URL,
    /// valid until).
    PrivacyLinks { to: EmailAddress, lang: Lang, links: Vec<(crate::token::LinkAction, String, Time)> },
    /// Art. 34(2): a breach notice to one affected person, in plain language. `delivery` names
    /// the outbox entry; it travels with the mail as provider tags (see [`Message::tags`]).
    BreachNotice {
        to: EmailAddress,
        lang: Lang,
        delivery: crate::store::Job,
        breach_id: crate::ids::BreachId,
        nature: String,
        likely_consequences: Option<String>,
        measures: Option<String>,
        advice: String,
        contact: crate::breach::ContactPoint,
        /// From a drill: the mail says so, first.
        drill: bool,
    },
    /// The end-to-end check's mail to SES's mailbox simulator ([`crate::smoke`]), tagged with its
    /// run, on the stream the run checks.
    SmokeTest { to: EmailAddress, run: String, stream: MailStream },
    /// A suspected incident reported through a reporting link, to the contact point at once.
    IncidentReported {
        to: EmailAddress,
        lang: Lang,
        incident_id: crate::ids::IncidentId,
        /// The reporting channel's name.
        channel: String,
        report: crate::incidents::IncidentReport,
    },
    /// The DPO's question to an incident's reporter, with the link to answer it.
    IncidentQuestion { to: EmailAddress, lang: Lang, incident_id: crate::ids::IncidentId, question: String, url: String, expires_at: Time },
    /// An incident has waited for triage a day: the contact point is reminded, once.
    IncidentWaiting { to: EmailAddress, lang: Lang, incident_id: crate::ids::IncidentId, since: Time },
    /// A breach's follow-up the deadline watch sends once: the people still untold a day after the
    /// duty arose (to the contact point), or an action of the plan overdue (to its owner).
    BreachFollowUp { to: EmailAddress, lang: Lang, breach_id: crate::ids::BreachId, title: String, follow_up: FollowUp, drill: bool },
    /// A reporter answered the DPO's question: the contact point is told.
    IncidentAnswered { to: EmailAddress, lang: Lang, incident_id: crate::ids::IncidentId },
    /// The deadline watch, to the breach's contact point: the authority's 72 hours, or for a
    /// processor the contract's term to tell its controller (`controller` names it).
    DeadlineReminder {
        to: EmailAddress,
        lang: Lang,
        breach_id: crate::ids::BreachId,
        title: String,
        which: crate::deadline::Reminder,
        deadline: Time,
        controller: Option<String>,
        drill: bool,
    },
    /// Tells the person that the answer to their request will take longer, and why (Art. 12(3)).
    RequestExtended {
        to: EmailAddress,
        lang: Lang,
        kind: crate::store::PrivacyRequestKind,
        received_at: Time,
        due_at: Time,
        reasons: String,
    },
    /// Tells the person that their request is refused, why, and where they can complain (Art. 12(4)).
    RequestRefused { to: EmailAddress, lang: Lang, kind: crate::store::PrivacyRequestKind, received_at: Time, reasons: String },
    /// Reminds the controller's contact point that a privacy request falls due.
    RequestReminder {
        to: EmailAddress,
        lang: Lang,
        request_id: crate::ids::RequestId,
        kind: crate::store::PrivacyRequestKind,
        due_at: Time,
        which: crate::requests::RequestReminder,
    },
    /// Tells the business that its form received a submission.
    OwnerNotice {
        to: EmailAddress,
        lang: Lang,
        form_name: String,
        receipt_id: String,
        at: Time,
        purposes: Vec<(PurposeName, EventKind)>,
        /// What of the person it copies, as the form chose.
        copy: OwnerCopy,
    },
}

/// What an owner notification copies of the person (`form::OwnerNotice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerCopy {
    /// The address (the mail's Reply-To) and every value, under the fields' labels.
    Values { submitter: EmailAddress, fields: Vec<(String, String)> },
    /// The person's keyed-hash id, for the operator's lookup, and the labels of the fields filled.
    Summary { subject: crate::ids::SubjectId, fields: Vec<String> },
}

/// Which of the two ways out a message takes. Mail the public can trigger (anyone can post a form
/// or a privacy request in anyone's name) builds bounces and complaints an attacker controls, and
/// a provider pauses a sender whose rates climb; breach notices and the deadline reminders must
/// still go out then. So each stream has its own sender and its own provider configuration (SES
/// configuration set, and optionally a sending sub-domain), and one's reputation is not the
/// other's (security review H2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStream {
    /// Confirmations, owner notices, privacy answers, renewed links.
    Public,
    /// Art. 34 breach notices and the 72-hour deadline reminders.
    Notices,
}

impl MailStream {
    pub const ALL: [MailStream; 2] = [MailStream::Public, MailStream::Notices];

    pub fn as_str(self) -> &'static str {
        match self {
            MailStream::Public => "public",
            MailStream::Notices => "notices",
        }
    }

    /// The stream by its name ([`Self::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|stream| stream.as_str() == name)
    }
}

impl Message {
    /// The stream the message goes out on (see [`MailStream`]).
    pub fn stream(&self) -> MailStream {
        match self {
            // What the law makes the controller say, which anonymous traffic cannot trigger.
            Message::BreachNotice { .. }
            | Message::DeadlineReminder { .. }
            | Message::RequestExtended { .. }
            | Message::RequestRefused { .. }
            | Message::RequestReminder { .. }
            | Message::RestrictionLifted { .. }
            // Asked by the operator, never by anonymous traffic.
            | Message::IncidentQuestion { .. }
            | Message::IncidentWaiting { .. }
            | Message::BreachFollowUp { .. } => MailStream::Notices,
            Message::SmokeTest { stream, .. } => *stream,
            Message::ConfirmRequest { .. }
            | Message::ActionLink { .. }
            | Message::NoDataHeld { .. }
            | Message::AddressChanged { .. }
            | Message::PrivacyLinks { .. }
            | Message::OwnerNotice { .. }
            // Sent by whoever holds a reporting link, to the business's own contact point.
            | Message::IncidentReported { .. }
            | Message::IncidentAnswered { .. } => MailStream::Public,
        }
    }

    /// The one recipient.
    pub fn to(&self) -> &EmailAddress {
        match self {
            Message::ConfirmRequest { to, .. }
            | Message::ActionLink { to, .. }
            | Message::NoDataHeld { to, .. }
            | Message::AddressChanged { to, .. }
            | Message::RestrictionLifted { to, .. }
            | Message::PrivacyLinks { to, .. }
            | Message::BreachNotice { to, .. }
            | Message::SmokeTest { to, .. }
            | Message::DeadlineReminder { to, .. }
            | Message::RequestExtended { to, .. }
            | Message::RequestRefused { to, .. }
            | Message::RequestReminder { to, .. }
            | Message::OwnerNotice { to, .. }
            | Message::IncidentReported { to, .. }
            | Message::IncidentQuestion { to, .. }
            | Message::IncidentAnswered { to, .. }
            | Message::IncidentWaiting { to, .. }
            | Message::BreachFollowUp { to, .. } => to,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Message::ConfirmRequest { .. } => "confirm_request",
            Message::OwnerNotice { .. } => "owner_notice",
            Message::ActionLink { .. } => "action_link",
            Message::NoDataHeld { .. } => "no_data_held",
            Message::AddressChanged { .. } => "address_changed",
            Message::RestrictionLifted { .. } => "restriction_lifted",
            Message::PrivacyLinks { .. } => "privacy_links",
            Message::SmokeTest { .. } => "smoke_test",
            Message::BreachNotice { .. } => "breach_notice",
            Message::DeadlineReminder { .. } => "deadline_reminder",
            Message::RequestExtended { .. } => "request_extended",
            Message::RequestRefused { .. } => "request_refused",
            Message::RequestReminder { .. } => "request_reminder",
            Message::IncidentReported { .. } => "incident_reported",
            Message::IncidentQuestion { .. } => "incident_question",
            Message::IncidentAnswered { .. } => "incident_answered",
            Message::IncidentWaiting { .. } => "incident_waiting",
            Message::BreachFollowUp { follow_up: FollowUp::SubjectsWaiting { .. }, .. } => "subjects_waiting",
            Message::BreachFollowUp { follow_up: FollowUp::ActionOverdue { .. }, .. } => "action_overdue",
        }
    }
}

/// The provider tags naming a breach notice's outbox entry. SES repeats a message's tags in its
/// events, so the *Send* event (the provider accepted the mail) can record the notice as sent even
/// when the notifier that sent it died before recording it.
pub const TAG_BREACH: &str = "zgoda-breach";
pub const TAG_ESCALATION: &str = "zgoda-escalation";
pub const TAG_SUBJECT: &str = "zgoda-subject";

impl Message {
    /// Name–value tags to send with the message (letters, digits, `-`, `_`, `.`, `@` only, as SES requires).
    pub fn tags(&self) -> Vec<(&'static str, String)> {
        match self {
            Message::BreachNotice { delivery, .. } => vec![
                (TAG_BREACH, delivery.breach_id.to_string()),
                (TAG_ESCALATION, delivery.escalation_id.to_string()),
                (TAG_SUBJECT, delivery.subject.as_str().to_owned()),
            ],
            Message::SmokeTest { run, .. } => vec![(crate::smoke::TAG_SMOKE, run.clone())],
            _ => Vec::new(),
        }
    }
}

/// Why a mail was not sent: a short reason (the provider's error code, never its message, which
/// can quote the address; security review M3), and whether the provider refused it only for the
/// sending rate or quota, which passes: such a mail is sent later, and a breach notice refused so
/// is never recorded as failed (M6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mail could not be sent: {reason}")]
pub struct MailError {
    pub reason: String,
    pub throttled: bool,
}

impl MailError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), throttled: false }
    }

    pub fn throttled(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), throttled: true }
    }
}

/// Sends one message; returns the provider's message id.
pub trait Mailer: Send + Sync {
    fn send(&self, message: &Message) -> impl Future<Output = Result<String, MailError>> + Send;
    /// Makes the provider forget an erased person's address: SES keeps an address that bounced or
    /// complained on the account's suppression list, which erasure must empty too (security review
    /// L9). An address the provider does not hold is not an error.
    fn forget_address(&self, address: &EmailAddress) -> impl Future<Output = Result<(), MailError>> + Send;
}

/// Delivers an already-built MIME message on one of the [`MailStream`]s, from that stream's
/// sender. Implemented by the SES adapter; the web crate renders messages and builds the MIME on
/// top of it.
///
/// A message with `tags` ([`Message::tags`]) is one whose delivery the provider's Send event
/// records: a transport sends it at most once per call and reports an unknown outcome (a lost
/// answer) as an error, so that the event, not a blind resend, settles it.
pub trait MailTransport: Send + Sync {
    /// The `From` address of the stream's mail (a verified identity of the provider).
    fn sender(&self, stream: MailStream) -> &str;
    /// See [`Mailer::forget_address`].
    fn forget_address(&self, address: &EmailAddress) -> impl Future<Output = Result<(), MailError>> + Send;
    fn send_raw(
        &self,
        stream: MailStream,
        to: &EmailAddress,
        mime: Vec<u8>,
        tags: &[(&'static str, String)],
    ) -> impl Future<Output = Result<String, MailError>> + Send;
}

/// What a [`Message::BreachFollowUp`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// The people must be told (Art. 34(1), "without undue delay") and nobody has been since `since`.
    SubjectsWaiting { since: Time, public_notice: bool },
    /// An action of the plan passed its due date unfinished.
    ActionOverdue { description: String, due_at: Time },
}
