//! Storage as the domain needs it. The DynamoDB adapter implements these traits; unit tests use
//! in-memory fakes. Each method is one logical read or one atomic write.

use crate::smoke::{SmokeRun, SmokeRunId, SmokeStep};
use std::future::Future;

use crate::Time;
use crate::deadline::Reminder;
use crate::email::EmailAddress;
use crate::form::{Form, LawfulBasis, Notice};
use crate::ids::{BreachId, EscalationId, FormId, NoticeId, PurposeId, RequestId, SubjectId};
use crate::lang::Lang;
use crate::proof::{ChainHead, EventKind, SealedEvent};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the call; nothing was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored item could not be read back into its domain type.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A form with every notice version it has had.
#[derive(Debug, Clone)]
pub struct StoredForm {
    pub form: Form,
    pub notices: Vec<Notice>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SaveFormError {
    #[error("a notice with this version and other text exists")]
    NoticeVersionExists,
    /// A purpose keeps the lawful basis it was first declared with, in every form and for good:
    /// the basis cannot be swapped after the fact (EDPB Guidelines 05/2020 on consent), and an
    /// audience must not mix people who consented with people who did not.
    #[error("purpose {0} was declared with another lawful basis")]
    BasisDeclared(PurposeId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub trait FormStore: Send + Sync {
    fn load_form(&self, id: &FormId) -> impl Future<Output = Result<Option<StoredForm>, StoreError>> + Send;
    /// Stores the configuration and, if new, the notice version; an existing version with other
    /// text is refused, atomically.
    fn save_form(&self, form: &Form, notice: &Notice) -> impl Future<Output = Result<(), SaveFormError>> + Send;
    /// A purpose as the forms saved declared it (its first basis, the last form's labels), if any did.
    fn declared_purpose(&self, purpose: &PurposeId) -> impl Future<Output = Result<Option<DeclaredPurpose>, StoreError>> + Send;
    /// Every form's current configuration, by id (the record of processing is made from them).
    fn list_forms(&self) -> impl Future<Output = Result<Vec<Form>, StoreError>> + Send;
}

/// What the forms saved say about a purpose, wherever it is used: the lawful basis its first form
/// gave it (no later form may change it) and the labels the last form saved gave it, resolved in
/// every language ([`crate::labels::Labels::resolved`]) for pages that know no form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredPurpose {
    pub lawful_basis: LawfulBasis,
    pub labels: crate::labels::Labels,
}

impl Form {
    /// What saving this form declares about each of its purposes.
    pub fn declarations(&self) -> impl Iterator<Item = (&PurposeId, DeclaredPurpose)> {
        self.purposes
            .iter()
            .map(|p| (&p.id, DeclaredPurpose { lawful_basis: p.lawful_basis, labels: p.labels.resolved(self.default_lang, p.id.as_str()) }))
    }
}

/// The personal data of a subject: the only item that holds the e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub email: EmailAddress,
    pub lang: Lang,
    pub updated_at: Time,
    /// When nothing but an unconfirmed double opt-in request keeps the address: that request's
    /// deadline, after which the profile is gone (Art. 5(1)(e)); `None` while anything else keeps it.
    pub expires_at: Option<Time>,
}

/// What a form submission carried beyond consent: the declared fields only (Art. 5(1)(c)),
/// kept for the form's retention period, and never longer than the address it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionContent {
    pub receipt_id: String,
    pub form_id: FormId,
    pub fields: Vec<(String, String)>,
    pub at: Time,
    /// When it goes: `retained_until`, or sooner while only an unconfirmed request keeps the
    /// person's address (security review M2: content nobody can reach through a right).
    pub expires_at: Time,
    /// The end of the form's retention period for it.
    pub retained_until: Time,
}

impl SubmissionContent {
    /// What a submission carried, kept for its retention; an append caps that with
    /// [`Self::kept_with`] once it knows how long the address stays.
    pub fn new(receipt_id: String, form_id: FormId, fields: Vec<(String, String)>, at: Time, retained_until: Time) -> Self {
        SubmissionContent { receipt_id, form_id, fields, at, expires_at: retained_until, retained_until }
    }

    /// Kept as long as the profile it came with (`None`: kept for good), within its retention.
    pub fn kept_with(self, profile_expires_at: Option<Time>) -> Self {
        let expires_at = profile_expires_at.map_or(self.retained_until, |p| p.min(self.retained_until));
        SubmissionContent { expires_at, ..self }
    }
}

/// The current state of one purpose, derived from the events and kept for audience queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeState {
    pub purpose: PurposeId,
    pub status: EventKind,
    pub since: Time,
    pub event_id: String,
}

/// Everything stored about a subject, as read back.
#[derive(Debug, Clone, Default)]
pub struct SubjectRecord {
    pub profile: Option<Profile>,
    pub head: Option<ChainHead>,
    pub events: Vec<SealedEvent>,
    pub submissions: Vec<SubmissionContent>,
    pub requests: Vec<PrivacyRequest>,
    /// When the subject's data was erased; set until the person submits a form again.
    pub suppressed_at: Option<Time>,
    /// A change to another address the person asked for, awaiting confirmation from it.
    pub moving_to: Option<crate::address_change::PendingAddress>,
    /// Under a new address's id: a change to it another subject asked for, awaiting confirmation.
    pub incoming: Option<crate::address_change::IncomingAddress>,
    /// The webhook endpoints told about the person, each once (Art. 19).
    pub told: Vec<crate::webhooks::Told>,
}

impl SubjectRecord {
    /// Whether any item holds the person's data: the address, or what a form carried. Every right
    /// (access, erasure, lookup, privacy request) asks this, not whether the address is on file,
    /// so content stored without it is never denied (security review M2).
    pub fn holds_personal_data(&self) -> bool {
        self.profile.is_some() || !self.submissions.is_empty()
    }
}

/// A data subject's request under Art. 15 or 17, kept with its statutory due date (Art. 12(3)) and
/// what the controller did with it (`crate::requests`). PII-free: the person is their subject id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrivacyRequest {
    pub request_id: RequestId,
    pub kind: PrivacyRequestKind,
    /// The purpose an objection is about, once the person has named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<PurposeId>,
    #[serde(with = "crate::proof::millis")]
    pub received_at: Time,
    /// One month from receipt: the first due date, which an extension does not move.
    #[serde(with = "crate::proof::millis")]
    pub due_at: Time,
    /// `link_sent`, `links_sent`, `no_data_held`, `folded` or `mail_budget_spent`: what the
    /// automatic answer was; `restricted` for an objection awaiting the controller's decision.
    pub outcome: String,
    /// The one extension of Art. 12(3), with its reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<crate::requests::Extension>,
    /// How the request ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing: Option<crate::requests::Closing>,
    /// Counts the changes since it was recorded: each change is written only over the one read.
    #[serde(default)]
    pub revision: u32,
}

impl PrivacyRequest {
    /// How long a request's record is kept past its due date: long enough to show the authority
    /// how it was answered, and the time within which a complaint about it usually comes (security
    /// review L9: no record kept for ever, least of all for addresses zgoda never held).
    pub const KEPT_AFTER_DUE_DAYS: i64 = 3 * 365;

    pub fn kept_until(&self) -> Time {
        self.due() + chrono::Duration::days(Self::KEPT_AFTER_DUE_DAYS)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyRequestKind {
    Access,
    Erasure,
    /// An objection (Art. 21), or the withdrawal of a consent (Art. 7(3)) the person chooses on
    /// their choices page; with a purpose, one the controller must decide on.
    Objection,
    /// A correction of what the person's forms carried (Art. 16), made on their rectify page.
    Rectification,
    /// A restriction of processing (Art. 18(1)(a)–(c)), applied from the person's choices page.
    Restriction,
}

impl PrivacyRequestKind {
    /// The kind by the name the privacy page's form sends (`access`, `erasure`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "access" => Some(Self::Access),
            "erasure" => Some(Self::Erasure),
            "objection" => Some(Self::Objection),
            "rectification" => Some(Self::Rectification),
            "restriction" => Some(Self::Restriction),
            _ => None,
        }
    }

    /// The link that answers a request of this kind.
    pub fn link(self) -> crate::token::LinkAction {
        use crate::token::LinkAction;
        match self {
            Self::Access => LinkAction::Access,
            Self::Erasure => LinkAction::Erase,
            Self::Objection | Self::Restriction => LinkAction::Choices,
            Self::Rectification => LinkAction::Rectify,
        }
    }

    /// The link answering this kind when it is neither access nor erasure (which every mail past
    /// the hourly limit carries anyway).
    pub fn page(self) -> Option<crate::token::LinkAction> {
        Some(self.link()).filter(|a| !matches!(a, crate::token::LinkAction::Access | crate::token::LinkAction::Erase))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Erasure => "erasure",
            Self::Objection => "objection",
            Self::Rectification => "rectification",
            Self::Restriction => "restriction",
        }
    }
}

/// One atomic erasure (Art. 17): the erasure event joins the chain, every item holding personal
/// data goes, a suppression entry stays, and (for a link) the token is spent.
#[derive(Debug, Clone)]
pub struct Erasure {
    pub append: Append,
    pub at: Time,
    /// A single-use marker for the link that asked for it; the erasure fails with `Conflict`
    /// semantics if it was already spent.
    pub spend_token: Option<(GuardKey, Time)>,
    /// Whether a suppression entry stays (an erasure); a move to another address leaves none, as
    /// the person has not left.
    pub suppress: bool,
}

/// One row of an audience: a subject whose consent for the purpose is currently given.
#[derive(Debug, Clone)]
pub struct AudienceMember {
    pub subject: SubjectId,
    pub email: EmailAddress,
    pub lang: Lang,
    pub given_at: Time,
}

/// One atomic append to a subject's chain, with the personal data that came with it.
#[derive(Debug, Clone)]
pub struct Append {
    pub subject: SubjectId,
    /// The head the events were chained to; the write fails with `Conflict` if it moved.
    pub expected_head: Option<ChainHead>,
    pub new_head: ChainHead,
    pub events: Vec<SealedEvent>,
    pub states: Vec<PurposeState>,
    pub profile: Option<Profile>,
    /// Submission content to store (new, or kept longer now that the person confirmed).
    pub submissions: Vec<SubmissionContent>,
    /// The person acted again after an erasure: their new consent lifts the suppression.
    pub lift_suppression: bool,
    /// When the storage-limitation sweep should next ask whether anything still needs the
    /// person's address (`retention.rs`): every change of purpose state sets it to its own time.
    pub review_at: Option<Time>,
    /// What the events change for the business's recipients (`changes.rs`): the feed's entries,
    /// written with the events.
    pub changes: Vec<crate::changes::Change>,
}

/// One subject on the storage-limitation sweep's worklist, as read: settling it is conditional on
/// `due_at` being unchanged, so a review read before an append cannot undo the append's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub subject: SubjectId,
    pub due_at: Time,
}

/// The storage-limitation sweep's worklist (`retention.rs`): each subject at most once, with the
/// time its address's need should next be judged.
pub trait RetentionReviews: Send + Sync {
    /// Reviews due at `now`, earliest first, at most `limit`.
    fn due_reviews(&self, now: Time, limit: usize) -> impl Future<Output = Result<Vec<Review>, StoreError>> + Send;
    /// Moves a review to `next`, or drops it (`None`), unless an append or erasure changed it since
    /// it was read (then nothing happens: the next run sees the newer one).
    fn settle_review(&self, review: &Review, next: Option<Time>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Puts on the worklist, due at `at`, up to about `limit` people recorded before the worklist
    /// covered them (a chain head without a review: people with an address before the sweep
    /// existed, and people erased before their proofs had a retention), resuming where the last
    /// call stopped; how many it added, or `None` once every person has been looked at.
    fn backfill_reviews(&self, at: Time, limit: usize) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;
    /// Deletes what is left of a person who holds nothing personal any more (sealed events, chain
    /// head, erasure and undeliverable markers, the review), if their chain still ends at `seen`;
    /// false, deleting nothing, if it moved (they came back). Privacy request records stay until
    /// their own expiry.
    fn purge_subject(&self, subject: &SubjectId, seen: Option<&ChainHead>) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    /// Another writer extended the chain first; re-read and retry.
    #[error("the subject's chain moved")]
    Conflict,
    /// The single-use link the change was made through has been used before.
    #[error("the link was used before")]
    Spent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a form post reads of a subject before it appends ([`SubjectStore::load_chain_start`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainStart {
    pub head: Option<ChainHead>,
    /// The subject was erased: a post's consents wait for the person's own confirmation.
    pub suppressed: bool,
}

pub trait SubjectStore: Send + Sync {
    fn load_head(&self, subject: &SubjectId) -> impl Future<Output = Result<Option<ChainHead>, StoreError>> + Send;
    fn load_subject(&self, subject: &SubjectId) -> impl Future<Output = Result<SubjectRecord, StoreError>> + Send;
    /// The profile alone (one item), for pages that need only the person's language.
    fn load_profile(&self, subject: &SubjectId) -> impl Future<Output = Result<Option<Profile>, StoreError>> + Send;
    /// Where the subject's chain stands and whether they were erased and have not confirmed
    /// anything since (its suppression entry), in one consistent read: what a form post needs
    /// before it appends.
    fn load_chain_start(&self, subject: &SubjectId) -> impl Future<Output = Result<ChainStart, StoreError>> + Send;
    fn append(&self, append: Append) -> impl Future<Output = Result<(), AppendError>> + Send;
    /// Erases atomically; `Conflict` when the chain moved or the token was already spent.
    fn erase(&self, erasure: Erasure) -> impl Future<Output = Result<(), AppendError>> + Send;
    fn record_request(&self, subject: &SubjectId, request: &PrivacyRequest) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records an address change awaiting confirmation: `pending` on the subject moving (it holds
    /// the new address, so an erasure deletes it) and, PII-free, where it comes from under the new
    /// address's id `to`; both expire with the change.
    fn begin_address_change(
        &self,
        from: &SubjectId,
        to: &SubjectId,
        pending: &crate::address_change::PendingAddress,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A page of subjects whose consent for `purpose` is given; the cursor is opaque.
    fn audience(
        &self,
        purpose: &PurposeId,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<(Vec<AudienceMember>, Option<String>), AudienceError>> + Send;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AudienceError {
    #[error("the cursor is not one this service issued")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a guard (a rate counter or a one-time marker) guards. Its text is its key in the store:
/// every kind is listed here, so two guards never share a key by accident, and each keeps the
/// spelling stored items already have (pinned in a test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardKey {
    /// Form posts from one network (its /24 or /48).
    FormPostsFrom(String),
    /// Form posts naming one person.
    FormPostsFor(SubjectId),
    /// Privacy requests from one network.
    PrivacyRequestsFrom(String),
    /// Privacy requests naming one person.
    PrivacyRequestsFor(SubjectId),
    /// Fresh links asked for from an expired one, by one person.
    RenewalsFor(SubjectId),
    /// Mail that public routes sent, all together (the hourly budget).
    PublicMail,
    /// A single-use link, by its token id (hex).
    LinkUsed(String),
    /// An operator request's signature, accepted once.
    OperatorSignature(String),
    /// A proof-of-work solution, by its challenge's nonce.
    ProofOfWork(String),
    /// A breach's deadline reminder, claimed or sent.
    Reminder(BreachId, Reminder),
    /// A privacy request's reminder to the contact point, sent once.
    RequestReminder(RequestId, crate::requests::RequestReminder),
    /// Address changes one person asked for (each mails a stranger's address a link).
    AddressChangesFor(SubjectId),
    /// Incident reports sent through one reporting channel.
    ReportsFrom(crate::ids::ChannelId),
    /// A processor's webhook message, by its `webhook-id`, accepted once.
    WebhookMessage(crate::ids::ProcessorId, String),
    /// The reminder that an incident waits for triage, sent once.
    TriageReminder(crate::ids::IncidentId),
    /// The reminder that a breach's people are still untold, sent once.
    SubjectsReminder(BreachId),
    /// The reminder to an action's owner that it is overdue, sent once.
    ActionReminder(BreachId, crate::ids::EventId),
}

impl std::fmt::Display for GuardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardKey::FormPostsFrom(net) => write!(f, "net#{net}"),
            GuardKey::FormPostsFor(subject) => write!(f, "sub#{subject}"),
            GuardKey::PrivacyRequestsFrom(net) => write!(f, "privacy-net#{net}"),
            GuardKey::PrivacyRequestsFor(subject) => write!(f, "privacy#{subject}"),
            GuardKey::RenewalsFor(subject) => write!(f, "renew#{subject}"),
            GuardKey::PublicMail => f.write_str("public-mail"),
            GuardKey::LinkUsed(token) => write!(f, "link#{token}"),
            GuardKey::OperatorSignature(sig) => write!(f, "replay#{sig}"),
            GuardKey::ProofOfWork(nonce) => write!(f, "pow#{nonce}"),
            GuardKey::Reminder(breach, which) => write!(f, "reminder#{breach}#{which}"),
            GuardKey::RequestReminder(request, which) => write!(f, "request-reminder#{request}#{}", which.as_str()),
            GuardKey::AddressChangesFor(subject) => write!(f, "address-change#{subject}"),
            GuardKey::ReportsFrom(channel) => write!(f, "reports#{channel}"),
            GuardKey::WebhookMessage(processor, id) => write!(f, "webhook#{processor}#{id}"),
            GuardKey::TriageReminder(incident) => write!(f, "triage-reminder#{incident}"),
            GuardKey::SubjectsReminder(breach) => write!(f, "subjects-reminder#{breach}"),
            GuardKey::ActionReminder(breach, action) => write!(f, "action-reminder#{breach}#{action}"),
        }
    }
}

impl GuardKey {
    /// Its kind, for logs: never the person or the network it counts.
    pub fn kind(&self) -> &'static str {
        match self {
            GuardKey::FormPostsFrom(_) => "net",
            GuardKey::FormPostsFor(_) => "sub",
            GuardKey::PrivacyRequestsFrom(_) => "privacy-net",
            GuardKey::PrivacyRequestsFor(_) => "privacy",
            GuardKey::RenewalsFor(_) => "renew",
            GuardKey::PublicMail => "public-mail",
            GuardKey::LinkUsed(_) => "link",
            GuardKey::OperatorSignature(_) => "replay",
            GuardKey::ProofOfWork(_) => "pow",
            GuardKey::Reminder(..) => "reminder",
            GuardKey::RequestReminder(..) => "request-reminder",
            GuardKey::AddressChangesFor(_) => "address-change",
            GuardKey::ReportsFrom(_) => "reports",
            GuardKey::WebhookMessage(..) => "webhook",
            GuardKey::TriageReminder(_) => "triage-reminder",
            GuardKey::SubjectsReminder(_) => "subjects-reminder",
            GuardKey::ActionReminder(..) => "action-reminder",
        }
    }
}

/// One counter a request counts against: `by` more on `key` in the window ending at `window_end`,
/// as long as that leaves it at `most` or below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub key: GuardKey,
    pub window_end: Time,
    pub by: u64,
    pub most: u64,
}

/// Short-lived guards: rate counters and one-time markers. Expired items are ignored on read.
pub trait Guards: Send + Sync {
    /// Adds one to the counter `key` for the window ending at `window_end` and returns the new count.
    fn count_hit(&self, key: &GuardKey, window_end: Time) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Counts every one of `counts` (distinct keys) at once, in one call, if each stays within its
    /// most; otherwise counts none and answers the positions of those that would not have.
    fn count_within(&self, counts: &[Count]) -> impl Future<Output = Result<Result<(), Vec<usize>>, StoreError>> + Send;
    /// Records `key` until `expires_at`; false if it was already recorded and has not expired.
    fn first_use(&self, key: &GuardKey, expires_at: Time, now: Time) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Keeps a recorded `key` until `expires_at` instead (what it guarded is done for good).
    fn keep_use(&self, key: &GuardKey, expires_at: Time) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Liveness of the storage, for `/healthz`, and the end-to-end mail check's runs ([`crate::smoke`]).
pub trait Health: Send + Sync {
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records a step of a smoke run (created by its first step), kept for a day.
    fn record_smoke(&self, run: &SmokeRunId, step: &SmokeStep, at: Time) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn load_smoke(&self, run: &SmokeRunId) -> impl Future<Output = Result<Option<SmokeRun>, StoreError>> + Send;
}

/// Everything zgoda stores, as one bound.
/// Privacy requests as the operator handles them (`crate::requests`). Recording one is the
/// subject store's [`SubjectStore::record_request`].
pub trait RequestStore: Send + Sync {
    /// One request by its id, with whose it is.
    fn load_request(&self, id: &RequestId) -> impl Future<Output = Result<Option<(SubjectId, PrivacyRequest)>, StoreError>> + Send;
    /// The requests still open (`open`), by due date, only those due by `due_by` if given; or the
    /// closed ones, latest first.
    fn list_requests(
        &self,
        open: bool,
        due_by: Option<Time>,
    ) -> impl Future<Output = Result<Vec<(SubjectId, PrivacyRequest)>, StoreError>> + Send;
    /// Writes `request`, whose revision is one more than the stored one's; false, writing nothing,
    /// if the stored one changed since it was read.
    fn update_request(&self, subject: &SubjectId, request: &PrivacyRequest) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Files up to about `limit` requests recorded before requests were handled (not yet findable
    /// by id or listed), resuming where the last call stopped; how many it filed, or `None` once
    /// every request has been looked at.
    fn index_earlier_requests(&self, limit: usize) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;
}

/// Reporting channels and the incidents reported through them (`crate::incidents`).
pub trait IncidentStore: Send + Sync {
    /// Writes `channel` if the stored one is of generation `expected` (`None`: if there is none);
    /// false, writing nothing, otherwise.
    fn save_channel(
        &self,
        channel: &crate::incidents::ReportingChannel,
        expected: Option<u32>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn load_channel(
        &self,
        id: &crate::ids::ChannelId,
    ) -> impl Future<Output = Result<Option<crate::incidents::ReportingChannel>, StoreError>> + Send;
    fn list_channels(&self) -> impl Future<Output = Result<Vec<crate::incidents::ReportingChannel>, StoreError>> + Send;
    /// Records a new incident.
    fn save_incident(&self, incident: &crate::incidents::Incident) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn load_incident(
        &self,
        id: &crate::ids::IncidentId,
    ) -> impl Future<Output = Result<Option<crate::incidents::Incident>, StoreError>> + Send;
    fn list_incidents(&self) -> impl Future<Output = Result<Vec<crate::incidents::Incident>, StoreError>> + Send;
    /// Writes `incident`, whose revision is one more than the stored one's; false, writing
    /// nothing, if the stored one changed since it was read.
    fn update_incident(&self, incident: &crate::incidents::Incident) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The processors register (`crate::processors`) and each processor's webhook key.
pub trait ProcessorStore: Send + Sync {
    /// Writes `processor`, whose revision is one more than the stored one's (1: none stored);
    /// false, writing nothing, if the stored one changed since it was read.
    fn save_processor(&self, processor: &crate::processors::Processor) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn load_processor(
        &self,
        id: &crate::ids::ProcessorId,
    ) -> impl Future<Output = Result<Option<crate::processors::Processor>, StoreError>> + Send;
    fn list_processors(&self) -> impl Future<Output = Result<Vec<crate::processors::Processor>, StoreError>> + Send;
    fn save_webhook_secrets(
        &self,
        id: &crate::ids::ProcessorId,
        secrets: &crate::processors::WebhookSecrets,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn load_webhook_secrets(
        &self,
        id: &crate::ids::ProcessorId,
    ) -> impl Future<Output = Result<Option<crate::processors::WebhookSecrets>, StoreError>> + Send;
}

/// Webhook endpoints, their cursors and delivery logs, and the change feed they read
/// (`webhooks.rs`, `changes.rs`). Changes are written by [`SubjectStore::append`] and
/// [`SubjectStore::erase`], in the same transaction as their events.
pub trait WebhookStore: Send + Sync {
    fn save_endpoint(&self, endpoint: &crate::webhooks::Endpoint) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn load_endpoint(
        &self,
        id: &crate::webhooks::EndpointId,
    ) -> impl Future<Output = Result<Option<crate::webhooks::Endpoint>, StoreError>> + Send;
    fn list_endpoints(&self) -> impl Future<Output = Result<Vec<crate::webhooks::Endpoint>, StoreError>> + Send;
    fn save_endpoint_secrets(
        &self,
        id: &crate::webhooks::EndpointId,
        secrets: &crate::processors::WebhookSecrets,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn load_endpoint_secrets(
        &self,
        id: &crate::webhooks::EndpointId,
    ) -> impl Future<Output = Result<Option<crate::processors::WebhookSecrets>, StoreError>> + Send;
    /// Writes a new endpoint's cursor (unheld).
    fn start_cursor(
        &self,
        id: &crate::webhooks::EndpointId,
        cursor: &crate::webhooks::Cursor,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn load_cursor(
        &self,
        id: &crate::webhooks::EndpointId,
    ) -> impl Future<Output = Result<Option<crate::webhooks::Cursor>, StoreError>> + Send;
    /// Holds the endpoint's cursor until `lease_until`, unless another worker holds it past `now`.
    fn claim_cursor(
        &self,
        id: &crate::webhooks::EndpointId,
        now: Time,
        lease_until: Time,
    ) -> impl Future<Output = Result<Option<crate::webhooks::Held>, StoreError>> + Send;
    /// Moves a held cursor; false if the lease `held_until` is no longer this worker's.
    fn keep_cursor(
        &self,
        id: &crate::webhooks::EndpointId,
        held_until: Time,
        cursor: &crate::webhooks::Cursor,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Moves a held cursor and lets it go.
    fn release_cursor(
        &self,
        id: &crate::webhooks::EndpointId,
        held_until: Time,
        cursor: &crate::webhooks::Cursor,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records (or updates) how one change's delivery stands.
    fn record_delivery(
        &self,
        id: &crate::webhooks::EndpointId,
        log: &crate::webhooks::DeliveryLog,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The endpoint's delivery log, newest first.
    fn list_deliveries(
        &self,
        id: &crate::webhooks::EndpointId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<crate::webhooks::DeliveryLog>, StoreError>> + Send;
    /// Changes with `after < id < before`, oldest first, at most `limit`.
    fn list_changes(
        &self,
        after: &str,
        before: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<crate::changes::Change>, StoreError>> + Send;
    fn load_change(&self, id: &str) -> impl Future<Output = Result<Option<crate::changes::Change>, StoreError>> + Send;
    /// Notes on the person's records that an endpoint received a change of `kind` about them;
    /// nothing if the person's records are gone (purged meanwhile).
    fn record_told(
        &self,
        subject: &SubjectId,
        id: &crate::webhooks::EndpointId,
        kind: crate::changes::ChangeKind,
        at: Time,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes the address from erasures' changes made before `before`; how many it forgot.
    fn forget_erased_addresses(&self, before: Time) -> impl Future<Output = Result<usize, StoreError>> + Send;
}

pub trait Store:
    FormStore + SubjectStore + RetentionReviews + Guards + Health + BreachStore + RequestStore + IncidentStore + ProcessorStore + WebhookStore
{
}
impl<
    T: FormStore
        + SubjectStore
        + RetentionReviews
        + Guards
        + Health
        + BreachStore
        + RequestStore
        + IncidentStore
        + ProcessorStore
        + WebhookStore,
> Store for T
{
}

/// A breach as stored: the registration, its timeline and chain head, its escalations.
#[derive(Debug, Clone)]
pub struct BreachRecord {
    pub breach: crate::breach::Breach,
    pub timeline: Vec<crate::timeline::TimelineEvent>,
    pub head: (u64, String),
    pub escalations: Vec<EscalationRecord>,
}

impl BreachRecord {
    /// When anything last happened to the breach (its registration, its last timeline entry or
    /// escalation): its retention runs from here.
    pub fn last_activity(&self) -> Time {
        let entries = self.timeline.iter().map(|e| e.at);
        entries.chain(self.escalations.iter().map(|e| e.started_at)).fold(self.breach.registered_at, Time::max)
    }
}

/// One escalation (Art. 34 fan-out). Its progress is counted from the outbox on read, so no
/// counter can drift from what was actually sent.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EscalationRecord {
    pub escalation_id: EscalationId,
    pub breach_id: BreachId,
    pub total: u64,
    pub unreachable_erased: u64,
    #[serde(with = "crate::proof::millis")]
    pub started_at: Time,
    pub public_id: Option<NoticeId>,
    /// What the people are told, per language.
    #[serde(flatten)]
    pub texts: crate::notice_text::NoticeTexts,
    /// Language for recipients whose own is unknown.
    pub default_lang: Lang,
}

/// Someone to notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub subject: SubjectId,
    pub email: EmailAddress,
    pub lang: Lang,
}

/// One recipient of an escalation: the unit that is claimed, sent and recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    pub breach_id: BreachId,
    pub escalation_id: EscalationId,
    pub subject: SubjectId,
}

/// One queue message: up to `JobBatch::MAX` recipients of one escalation. Each is claimed on its
/// own, so a redelivered batch re-sends only what is not finished.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobBatch {
    pub breach_id: BreachId,
    pub escalation_id: EscalationId,
    pub subjects: Vec<SubjectId>,
    /// How many times in a row these recipients' notices were throttled by the mail provider:
    /// each time they come back later, by a backoff that grows with this count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub throttled: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl JobBatch {
    /// Recipients per message: few messages keep the queue cheap; small enough to finish well
    /// inside one invocation at the SES send rate.
    pub const MAX: usize = 50;

    pub fn jobs(&self) -> impl Iterator<Item = Job> + '_ {
        self.subjects.iter().map(|s| Job {
            breach_id: self.breach_id.clone(),
            escalation_id: self.escalation_id.clone(),
            subject: s.clone(),
        })
    }
}

/// The outcome of trying to claim a recipient for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Claimed(Recipient),
    /// Sent or failed before: nothing to do.
    Finished,
    /// Another worker holds an unexpired lease.
    Busy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent { message_id: String },
    Failed { reason: String },
}

/// What the idempotency record says about a request (Powertools-style).
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyStart {
    /// This caller owns the work now.
    Started,
    /// Done before with the same body: here is the answer.
    Completed(crate::escalation::EscalationStarted),
    /// Another request with this key is still being processed.
    InProgress,
    /// The key was used with another body.
    Mismatch,
}

/// A person's contact as far as zgoda knows it, for selecting breach recipients.
#[derive(Debug, Clone, Default)]
pub struct Contact {
    pub profile: Option<Profile>,
    pub suppressed: bool,
    /// The address hard-bounced: mail to it cannot arrive.
    pub undeliverable: bool,
}

/// A public communication under Art. 34(3)(c).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PublicNotice {
    pub public_id: NoticeId,
    pub breach_id: BreachId,
    pub title: String,
    pub nature: String,
    pub likely_consequences: Option<String>,
    pub measures: Option<String>,
    pub contact_point: crate::breach::ContactPoint,
    #[serde(flatten)]
    pub texts: crate::notice_text::NoticeTexts,
    #[serde(with = "crate::proof::millis")]
    pub published_at: Time,
    /// Published by a drill: the page says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
}

impl PublicNotice {
    /// What the page says to a reader of `lang`, in that language if it was written in full.
    pub fn told_in(&self, lang: Lang) -> crate::notice_text::Resolved {
        let register = crate::notice_text::Facts {
            nature: self.nature.clone(),
            consequences: self.likely_consequences.clone(),
            measures: self.measures.clone(),
        };
        self.texts.resolve(lang, &register)
    }
}

pub trait BreachStore: Send + Sync {
    fn create_breach(
        &self,
        breach: &crate::breach::Breach,
        first: &crate::timeline::TimelineEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn load_breach(&self, id: &BreachId) -> impl Future<Output = Result<Option<BreachRecord>, StoreError>> + Send;
    fn list_breaches(&self) -> impl Future<Output = Result<Vec<BreachRecord>, StoreError>> + Send;
    /// The breaches the controller became aware of before `before` (the register's index is by
    /// awareness), oldest first: the only ones whose retention can have run out by then.
    fn breaches_aware_before(&self, before: Time) -> impl Future<Output = Result<Vec<BreachId>, StoreError>> + Send;
    /// Deletes a breach: its register entry, timeline, escalations, their outbox and public
    /// notice, if its timeline still ends at `record.head`; false, deleting nothing, if an entry
    /// was added since it was read. A purge cut short leaves the register entry, so it is found
    /// and finished by the next run.
    fn purge_breach(&self, record: &BreachRecord) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Appends one entry if the head is still `expected`.
    fn append_timeline(
        &self,
        expected: (u64, String),
        event: &crate::timeline::TimelineEvent,
    ) -> impl Future<Output = Result<(), AppendError>> + Send;
    fn begin_idempotent(
        &self,
        key: &str,
        request_hash: &str,
        now: Time,
        lease_until: Time,
    ) -> impl Future<Output = Result<IdempotencyStart, StoreError>> + Send;
    fn finish_idempotent(
        &self,
        key: &str,
        response: &crate::escalation::EscalationStarted,
        expires_at: Time,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Gives up a run's lease (only an in-progress record of the same request), so a retry can start.
    fn abandon_idempotent(&self, key: &str, request_hash: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Creates the escalation and its outbox; recipients already in the outbox are left alone,
    /// so a retried creation never resets a sent recipient.
    fn create_escalation(
        &self,
        escalation: &EscalationRecord,
        recipients: &[Recipient],
        notice: Option<&PublicNotice>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn claim(&self, job: &Job, now: Time, lease_until: Time) -> impl Future<Output = Result<Claim, StoreError>> + Send;
    /// An erased person's notices not yet claimed: finished as `failed` (`erased`), the address
    /// removed. Returns how many.
    fn forget_recipient(&self, subject: &SubjectId, now: Time) -> impl Future<Output = Result<usize, StoreError>> + Send;
    /// Records a claimed recipient's outcome (and forgets their address). Keeps trying through a
    /// short outage, well inside the send lease: after a sent notice, giving up means a second one.
    fn finish_recipient(&self, job: &Job, delivery: &Delivery, now: Time) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records as sent a recipient whose notice the mail provider reports it accepted (SES's Send
    /// event), unless it is recorded sent already; true if this recorded it. A recorded failure
    /// gives way: the worker took a lost answer for one, and the person has the notice.
    fn record_accepted(&self, job: &Job, message_id: &str, now: Time) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Gives a claimed recipient back for a later retry.
    fn release(&self, job: &Job) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn subjects_collected(
        &self,
        form: &FormId,
        from: Option<Time>,
        to: Option<Time>,
        purposes: &[PurposeId],
    ) -> impl Future<Output = Result<Vec<SubjectId>, StoreError>> + Send;
    fn contacts(
        &self,
        subjects: &[SubjectId],
    ) -> impl Future<Output = Result<std::collections::HashMap<SubjectId, Contact>, StoreError>> + Send;
    fn public_notice(&self, public_id: &NoticeId) -> impl Future<Output = Result<Option<PublicNotice>, StoreError>> + Send;
    /// Records what the mail provider said about a breach notice it accepted, on the notice's
    /// outbox entry if that entry was sent as `message_id`. False when it was not (another
    /// message, or no such entry).
    fn record_feedback(
        &self,
        job: &Job,
        message_id: &str,
        feedback: &str,
        at: Time,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Marks an address (by subject id) as one that hard-bounced: no more mail goes to it.
    fn mark_undeliverable(&self, subject: &SubjectId, at: Time) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Counts an escalation's outbox by outcome.
    fn delivery_counts(&self, escalation_id: &EscalationId) -> impl Future<Output = Result<DeliveryCounts, StoreError>> + Send;
}

/// An escalation's outbox, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub sent: u64,
    pub failed: u64,
    /// When the last recipient was finished.
    pub last_finished_at: Option<Time>,
}

/// Where notifier work goes (SQS in production and locally).
pub trait WorkQueue: Send + Sync {
    fn enqueue(&self, batches: &[JobBatch]) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// One batch, offered to workers only after `delay` (at most 15 minutes, as SQS allows).
    fn enqueue_later(&self, batch: &JobBatch, delay: std::time::Duration) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards already stored keep working: each kind keeps the key it was stored under.
    #[test]
    fn every_guard_key_keeps_the_spelling_stored_items_have() {
        let subject = SubjectId::parse(&"ab".repeat(32)).unwrap();
        let breach = BreachId::parse("01JDQ3ZP6Y4V5K7M8N9P0Q1R2S").unwrap();
        let keys = [
            (GuardKey::FormPostsFrom("203.0.113.0/24".into()), "net#203.0.113.0/24".to_owned()),
            (GuardKey::FormPostsFor(subject.clone()), format!("sub#{subject}")),
            (GuardKey::PrivacyRequestsFrom("2001:db8:1::/48".into()), "privacy-net#2001:db8:1::/48".to_owned()),
            (GuardKey::PrivacyRequestsFor(subject.clone()), format!("privacy#{subject}")),
            (GuardKey::RenewalsFor(subject.clone()), format!("renew#{subject}")),
            (GuardKey::PublicMail, "public-mail".to_owned()),
            (GuardKey::LinkUsed("0f".into()), "link#0f".to_owned()),
            (GuardKey::OperatorSignature("9a".into()), "replay#9a".to_owned()),
            (GuardKey::ProofOfWork("7c".into()), "pow#7c".to_owned()),
            (GuardKey::Reminder(breach.clone(), Reminder::SixHoursLeft), format!("reminder#{breach}#6h")),
        ];
        for (key, stored) in keys {
            assert_eq!(key.to_string(), stored);
            assert!(stored.starts_with(key.kind()), "{stored}");
        }
    }
}
