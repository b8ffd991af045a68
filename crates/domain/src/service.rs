//! The domain's use cases, over the storage and mail traits: submit a form, save and read a form,
//! look a subject up. Handlers call these and only map the result.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::Duration;

use crate::controller::ControllerProfile;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::form::{Form, FormInput, LawfulBasis, OwnerNotice};
use crate::ids::{FormId, PurposeId, SubjectId};
use crate::intake::{self, RawSubmission};
use crate::keys::Keys;
use crate::lang::Lang;
use crate::mail::{Mailer, Message, OwnerCopy};
use crate::origin::{PublicUrl, WebOrigin};
use crate::proof::{self, ChainHead, Channel, EventFacts, EventKind, ProofReport, SealedEvent};
use crate::proof_of_work::ProofOfWork;
use crate::store::{
    Append, AppendError, Count, GuardKey, Profile, PurposeState, SaveFormError, Store, StoredForm, SubmissionContent, WorkQueue,
};
use crate::token::{self, LinkAction, LinkClaims};
use crate::{Time, subject};

/// How many times an append is retried when another writer moved the chain first.
pub(crate) const APPEND_ATTEMPTS: usize = 4;

/// Tunables, read once from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Who holds the data, named in every mail, page and export (Art. 12(1), 13(1)(a)).
    pub controller: ControllerProfile,
    /// Public base URL that links in mails point to (`https://api.example.pl`).
    pub public_url: PublicUrl,
    /// How long a double opt-in request waits for confirmation.
    pub confirm_ttl: Duration,
    /// Submissions per network (/24, /48) per window.
    pub network_limit: u64,
    /// Submissions per subject per window.
    pub subject_limit: u64,
    pub rate_window: Duration,
    /// How long an unsubscribe link works: long, because mail is read late (RFC 8058).
    pub unsubscribe_ttl: Duration,
    /// How long an erasure link works: short, because it grants much. It works once.
    pub privacy_link_ttl: Duration,
    /// How long an access link works: shorter still, because it hands over everything held. It
    /// works once (security review M5).
    pub access_link_ttl: Duration,
    /// Privacy requests per address (and per network) per window.
    pub privacy_limit: u64,
    /// Mail that public routes trigger (form confirmations and owner notices, privacy answers,
    /// renewed links), all together, per hour: past it such mail is not sent, and an error log
    /// line raises an alarm. Breach notices never count against it (security review H2).
    pub public_mail_per_hour: u64,
    /// Origins allowed to post privacy requests besides zgoda's own page.
    pub privacy_origins: Vec<WebOrigin>,
    /// How long a started escalation holds its idempotency key against a concurrent repeat: at
    /// least the longest a request can run (the operator function's timeout). A run that failed
    /// releases it early; one that died holds it until then.
    pub escalation_lease: Duration,
    /// How long a warm instance serves a form post from the form definition it read
    /// ([`crate::form_cache`]): an edit through the API reaches posts within this time, a new
    /// notice version at once.
    pub form_max_age: Duration,
    /// How long the operator function trusts the operators' ring it read: once older, the next
    /// operator request reads it again, so a key removed from the secret stops working within
    /// this time without a redeploy (security review L6).
    pub operator_ring_max_age: Duration,
    /// How hard the proof of work before a privacy request is (security review H2).
    pub privacy_proof_of_work: ProofOfWork,
    /// How long a person's PII-free records (sealed events, chain head, erasure marker) outlive
    /// the last thing that happened to them once nothing personal is held: the time within which
    /// a consent or its withdrawal may have to be proved. Six years by default, the general
    /// limitation period for claims under Polish law (art. 118 of the Civil Code).
    pub records_retention: Duration,
    /// How long a breach's register entry, timeline, escalations, outbox and public notice outlive
    /// the last thing recorded on it (Art. 33(5) asks for the documentation, not for ever): six
    /// years by default, covering the five years within which the PUODO may fine (art. 189g of the
    /// Code of Administrative Procedure) and a person's claims (art. 118 of the Civil Code).
    pub breach_retention: Duration,
    /// How old a change must be before the feed shows it (`changes::settled_before`): longer than
    /// any write takes from its event's time to its commit.
    pub feed_settle: Duration,
    /// Whether webhook endpoints may be plain `http://` on this machine's loopback: the local
    /// stack's receivers only, never a deployed stack.
    pub webhook_loopback: bool,
    /// How long after each failed webhook delivery the next is tried (the last step repeats).
    pub webhook_retries: Vec<Duration>,
    /// How long after it was queued a change is given up (`dead`) for an endpoint, once every
    /// step of `webhook_retries` was tried.
    pub webhook_give_up: Duration,
    /// How long a worker queueing an endpoint's changes holds its cursor: longer than a run's
    /// queueing takes. A worker that died holds it until then.
    pub webhook_lease: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            controller: ControllerProfile::example(),
            public_url: PublicUrl::parse("http://127.0.0.1:8080").expect("a clean URL"),
            confirm_ttl: Duration::days(7),
            network_limit: 30,
            subject_limit: 5,
            rate_window: Duration::hours(1),
            unsubscribe_ttl: Duration::days(400),
            privacy_link_ttl: Duration::hours(24),
            access_link_ttl: Duration::hours(1),
            privacy_limit: 3,
            public_mail_per_hour: 500,
            privacy_origins: Vec::new(),
            escalation_lease: Duration::minutes(15),
            operator_ring_max_age: Duration::minutes(1),
            form_max_age: Duration::seconds(60),
            privacy_proof_of_work: ProofOfWork::default(),
            records_retention: Duration::days(RECORDS_RETENTION_DAYS),
            breach_retention: Duration::days(RECORDS_RETENTION_DAYS),
            feed_settle: Duration::seconds(30),
            webhook_loopback: false,
            webhook_retries: crate::webhooks::default_retries(),
            webhook_give_up: Duration::days(3),
            webhook_lease: Duration::minutes(3),
        }
    }
}

/// When the public mail budget's hour that `now` falls in ends.
fn hour_end(now: Time) -> Time {
    chrono::DateTime::from_timestamp((now.timestamp() / 3600 + 1) * 3600, 0).expect("in range")
}

/// How many mails a submission recording `purposes` sends: a confirmation if it awaits one, and a
/// notice to each of the form's owners ([`Zgoda::after_submission`]).
fn mails_after(form: &Form, purposes: &BTreeMap<PurposeId, EventKind>) -> u64 {
    let confirmation = purposes.values().any(|k| *k == EventKind::Requested);
    (form.notify.len() + usize::from(confirmation)) as u64
}

/// Six years and the leap days in them ([`Settings::records_retention`], [`Settings::breach_retention`]).
pub const RECORDS_RETENTION_DAYS: i64 = 6 * 365 + 2;

/// The log line that says public mail was held back by its budget; the template's metric filter
/// (and so its alarm) matches it exactly.
pub const PUBLIC_MAIL_HELD_BACK: &str = "public mail budget spent; mail not sent";

/// Whether an append lifts an erased subject's suppression and an address's undeliverable mark.
/// Only the person's own act from their mailbox (a confirmation link) does: a form post can come
/// from anyone, and a hard bounce is undone only by mail that arrived (security review M1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lift {
    No,
    ByThePerson,
}

/// Where a submission came from, as the HTTP layer saw it.
#[derive(Debug, Clone)]
pub struct Origin {
    pub ip: Option<IpAddr>,
    /// The language the request asked for (explicit field, else `Accept-Language`), if any.
    pub lang: Option<Lang>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    Recorded,
    PendingConfirmation,
}

/// What the submitter is told.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Receipt {
    pub receipt_id: String,
    pub status: ReceiptStatus,
    pub purposes: BTreeMap<PurposeId, EventKind>,
    pub ignored_fields: Vec<String>,
    #[serde(skip)]
    pub lang: Lang,
}

impl Receipt {
    fn new(purposes: BTreeMap<PurposeId, EventKind>, ignored_fields: Vec<String>, lang: Lang) -> Self {
        let status = if purposes.values().any(|k| *k == EventKind::Requested) {
            ReceiptStatus::PendingConfirmation
        } else {
            ReceiptStatus::Recorded
        };
        Self { receipt_id: ulid::Ulid::new().to_string(), status, purposes, ignored_fields, lang }
    }
}

/// A purpose's state as an operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurposeStatus {
    Given,
    /// A purpose of another basis than consent applies; the person was told of it.
    Informed,
    Refused,
    Requested,
    Withdrawn,
    /// Requested but not confirmed in time (Art. 5(1)(e)).
    Expired,
    /// The person objected and the purpose stopped for good (Art. 21).
    Objected,
    /// Only stored while the controller decides on the person's objection (Art. 18(1)(d)).
    Restricted,
}

impl PurposeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PurposeStatus::Given => "given",
            PurposeStatus::Informed => "informed",
            PurposeStatus::Refused => "refused",
            PurposeStatus::Requested => "requested",
            PurposeStatus::Withdrawn => "withdrawn",
            PurposeStatus::Expired => "expired",
            PurposeStatus::Objected => "objected",
            PurposeStatus::Restricted => "restricted",
        }
    }
}

/// Everything an operator lookup returns: the person's address and what their forms carried (so
/// that a form whose owners get only a summary can still be answered), and the proofs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SubjectView {
    pub subject_id: SubjectId,
    pub email: Option<EmailAddress>,
    pub submissions: Vec<crate::access::ExportedSubmission>,
    pub state: BTreeMap<PurposeId, PurposeStatus>,
    pub events: Vec<SealedEvent>,
    pub proof: ProofReport,
    /// Where a change of the person's address stands, when one is under way or has happened:
    /// after a move, the lookup by the old address shows this forwarding record and no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_change: Option<crate::address_change::AddressChangeView>,
}

/// zgoda's use cases over a store and a mailer.
pub struct Zgoda<S, M, Q> {
    pub store: S,
    pub mailer: M,
    pub queue: Q,
    pub keys: Keys,
    /// Purpose labels read for pages that know no form, held per warm instance.
    pub names: crate::labels::PurposeNames,
    /// Form definitions form posts read, held per warm instance.
    pub forms: crate::form_cache::FormCache,
    /// The hour's public mail budget, once this instance found it spent.
    pub mail_budget: crate::mail_budget::SpentBudget,
    pub settings: Settings,
}

impl<S, M, Q> Zgoda<S, M, Q> {
    pub fn subject_id(&self, email: &EmailAddress) -> SubjectId {
        subject::subject_id(self.keys.pepper(), email)
    }
}

impl<S, M, Q> Zgoda<S, M, Q>
where
    S: Store,
    M: Mailer,
    Q: WorkQueue,
{
    /// What a person reading `lang` calls a purpose, where no form is at hand (a link page): the
    /// label its forms declared, read at most once per [`crate::labels::PURPOSE_NAMES_MAX_AGE`].
    /// A page still renders when the read fails, with the id.
    pub async fn purpose_name(&self, id: &PurposeId, lang: Lang, now: Time) -> String {
        let labels = match self.names.fresh(id, now) {
            Some(labels) => labels,
            None => match self.store.declared_purpose(id).await {
                Ok(declared) => {
                    let labels = declared.map(|d| d.labels).unwrap_or_default();
                    self.names.remember(id.clone(), labels.clone(), now);
                    labels
                }
                Err(e) => {
                    tracing::warn!(error = %e, purpose = %id, "purpose labels not read; showing the id");
                    crate::labels::Labels::default()
                }
            },
        };
        labels.get(lang).unwrap_or(id.as_str()).to_owned()
    }

    pub async fn form(&self, id: &FormId) -> Result<StoredForm, Error> {
        self.store.load_form(id).await?.ok_or(Error::FormNotFound)
    }

    /// The form for a post (and its preflight and thanks page), as held if read less than
    /// [`Settings::form_max_age`] ago, else read now and held.
    pub async fn form_for_post(&self, id: &FormId, now: Time) -> Result<Arc<StoredForm>, Error> {
        match self.forms.fresh(id, now, self.settings.form_max_age) {
            Some(form) => Ok(form),
            None => self.read_form_for_post(id, now).await,
        }
    }

    /// Holds `form`, read at `read_at` by a caller other than [`Self::form_for_post`]: a cold start
    /// reads its first post's form while the key rings that complete the app are on their way.
    pub fn hold_form(&self, form: StoredForm, read_at: Time) {
        self.forms.remember(Arc::new(form), read_at);
    }

    async fn read_form_for_post(&self, id: &FormId, now: Time) -> Result<Arc<StoredForm>, Error> {
        let form = Arc::new(self.form(id).await?);
        self.forms.remember(Arc::clone(&form), now);
        Ok(form)
    }

    /// The form a post is checked against: `held`, unless the post names a notice version `held`
    /// does not know, which may be one saved since it was read: then the form as it is now.
    async fn form_naming(&self, held: &Arc<StoredForm>, raw: &RawSubmission, now: Time) -> Result<Arc<StoredForm>, Error> {
        match raw.notice_version() {
            Some(version) if !held.notices.iter().any(|n| n.version == version) => self.read_form_for_post(&held.form.id, now).await,
            _ => Ok(Arc::clone(held)),
        }
    }

    /// Stores a form configuration; its notice version is immutable once stored.
    pub async fn save_form(&self, id: FormId, input: FormInput, now: Time) -> Result<StoredForm, Error> {
        let (form, notice) = input.parse(id.clone(), now).map_err(Error::Validation)?;
        match self.store.save_form(&form, &notice).await {
            Err(SaveFormError::BasisDeclared(purpose)) => {
                let i = form.purposes.iter().position(|p| p.id == purpose).expect("the store names one of the form's purposes");
                return Err(Error::field(format!("purposes[{i}].lawful_basis"), "differs_from_declared"));
            }
            saved => saved?,
        }
        self.form(&id).await
    }

    /// Records a form submission (docs/api.md §1). Checks run cheapest first and nothing is written
    /// before all of them pass; mails go out only after the events are stored. A post the form
    /// accepts makes four AWS calls, its mail included, when its form is held: the counters, the
    /// chain's start, the sealed write, the mail (one more for each further mail).
    pub async fn submit(&self, held: &Arc<StoredForm>, raw: RawSubmission, origin: Origin, now: Time) -> Result<Receipt, Error> {
        if raw.is_bot() {
            // Same answer as a real submission so the bot learns nothing; no write, no mail.
            let form = &held.form;
            tracing::info!(form = %form.id, "honeypot filled; submission dropped");
            let lang = raw.lang().or(origin.lang).unwrap_or(form.default_lang);
            return Ok(Receipt::new(intake::purpose_outcomes(form, &raw.ticked()), vec![], lang));
        }
        let stored = self.form_naming(held, &raw, now).await?;
        let form = &stored.form;
        let lang = raw.lang().or(origin.lang).unwrap_or(form.default_lang);
        let network = origin.ip.map(crate::net::truncated_prefix);
        let checked = intake::check(form, &raw)
            .map_err(Error::Validation)
            .and_then(|s| if form.accepts_notice(&s.notice_version, &stored.notices) { Ok(s) } else { Err(Error::StaleNotice) });
        let mut submission = match checked {
            Ok(submission) => submission,
            Err(refused) => {
                // A refused post still counts against its network's limit.
                self.count_form_post(network.as_ref(), None, 0, now).await?;
                return Err(refused);
            }
        };
        let notice = stored.notices.iter().find(|n| n.version == submission.notice_version).expect("accepted above");
        let (notice_lang, _, notice_sha) = notice.shown_in(lang, form.default_lang);
        let subject = self.subject_id(&submission.email);
        let mails = mails_after(form, &submission.purposes);
        let mut mail_allowed = self.count_form_post(network.as_ref(), Some(&subject), mails, now).await?;
        let start = self.store.load_chain_start(&subject).await?;
        if start.suppressed {
            // The person was erased. Anyone can post their address, so a submission alone never
            // brings them back into an audience: every consent it gives waits for the person's
            // own confirmation from their mailbox (security review M1), whatever the form says.
            let consent = |id: &PurposeId| form.purposes.iter().any(|p| &p.id == id && p.lawful_basis == LawfulBasis::Consent);
            for (id, kind) in submission.purposes.iter_mut() {
                if *kind == EventKind::Given && consent(id) {
                    *kind = EventKind::Requested;
                }
            }
            if mail_allowed && mails_after(form, &submission.purposes) > mails {
                // The confirmation this adds was not counted above.
                mail_allowed = self.within_public_mail_budget(now).await;
            }
        }

        let now = proof::to_millis(now);
        let receipt = Receipt::new(submission.purposes.clone(), submission.ignored_fields.clone(), lang);
        let mut ids = ulid::Generator::new();
        let facts: Vec<EventFacts> = form
            .purposes
            .iter()
            .filter_map(|p| Some((p, *submission.purposes.get(&p.id)?)))
            .map(|(p, kind)| EventFacts {
                purpose: Some(p.id.clone()),
                lawful_basis: Some(p.lawful_basis),
                form_id: Some(form.id.clone()),
                notice_version: Some(notice.version.clone()),
                notice_sha256: Some(notice_sha.to_owned()),
                notice_lang: Some(notice_lang),
                ip_prefix: network.clone(),
                receipt_id: Some(receipt.receipt_id.clone()),
                ..EventFacts::new(ids.generate().expect("ulid space").to_string(), subject.clone(), kind, lang, Channel::WebForm, now)
            })
            .collect();
        // No purpose needs the address yet, only a confirmation is awaited (or nothing at all): it
        // is kept no longer than the request it waits for.
        let awaiting_only = !facts.iter().any(|f| f.kind.needs_address());
        let profile = Profile {
            email: submission.email.clone(),
            lang,
            updated_at: now,
            expires_at: awaiting_only.then(|| now + self.settings.confirm_ttl),
        };
        let content = (!submission.fields.is_empty()).then(|| {
            let retained_until = now + Duration::days(form.retention_days.into());
            SubmissionContent::new(receipt.receipt_id.clone(), form.id.clone(), submission.fields.clone(), now, retained_until)
        });
        let events =
            self.append_events_from(&subject, Some(start.head), facts, Some(profile), content.into_iter().collect(), Lift::No).await?;
        tracing::info!(form = %form.id, receipt = %receipt.receipt_id, subject = %subject, status = ?receipt.status, "submission recorded");

        if mail_allowed {
            self.after_submission(form, &submission.email, &subject, &events, &submission.fields, &receipt, now).await;
        }
        Ok(receipt)
    }

    /// Counts a form post, in one call, against its network's and its person's limits (`None`
    /// for a post refused before its person is known) and its `mails` against the hour's public
    /// mail budget. A counter counts each post until its limit; a post that finds one spent is
    /// refused, and still counts against the others. Answers whether the mail may go: when only
    /// the budget is spent, the post is recorded and its mail held back.
    async fn count_form_post(&self, network: Option<&String>, subject: Option<&SubjectId>, mails: u64, now: Time) -> Result<bool, Error> {
        let window_end = self.window_end(now);
        let limit = |key, most| Count { key, window_end, by: 1, most };
        let mut counts: Vec<Count> =
            network.map(|n| limit(GuardKey::FormPostsFrom(n.clone()), self.settings.network_limit)).into_iter().collect();
        counts.extend(subject.map(|s| limit(GuardKey::FormPostsFor(s.clone()), self.settings.subject_limit)));
        let limits = counts.len();
        // A budget this instance found spent is not asked again this hour (`mail_budget.rs`).
        let known_spent = mails > 0 && self.mail_budget.is_spent(now);
        if mails > 0 && !known_spent {
            counts.push(Count {
                key: GuardKey::PublicMail,
                window_end: hour_end(now),
                by: mails,
                most: self.settings.public_mail_per_hour,
            });
        }
        let over = if counts.is_empty() { Vec::new() } else { self.store.count_within(&counts).await?.err().unwrap_or_default() };
        let refused = || Error::RateLimited { retry_after_secs: (window_end - now).num_seconds().max(1) as u64 };
        let spent: Vec<&Count> = over.iter().filter(|&&i| i < limits).map(|&i| &counts[i]).collect();
        let others: Vec<Count> = (0..limits).filter(|i| !over.contains(i)).map(|i| counts[i].clone()).collect();
        if let Some(first) = spent.first() {
            tracing::warn!(limit_key = first.key.kind(), "rate limited");
            if !others.is_empty() {
                // Whatever this answers, the post is refused already.
                let _ = self.store.count_within(&others).await?;
            }
            return Err(refused());
        }
        let budget_over = over.contains(&limits);
        if !known_spent && !budget_over {
            return Ok(true);
        }
        // Only a post of one mail that does not fit shows that none fits: one of two may.
        if budget_over && mails == 1 {
            self.mail_budget.spent_until(hour_end(now));
        }
        tracing::error!(budget = self.settings.public_mail_per_hour, "{PUBLIC_MAIL_HELD_BACK}");
        if known_spent {
            // The limits were counted with nothing else: the post stands, its mail held back.
            return Ok(false);
        }
        match self.store.count_within(&others).await? {
            Ok(()) => Ok(false),
            // A limit was spent in the meantime by another post.
            Err(_) => Err(refused()),
        }
    }

    /// Side effects of a stored submission. A failed mail is logged, not surfaced: the consent
    /// is recorded and answering with an error would invite a duplicate submission.
    #[allow(clippy::too_many_arguments)]
    async fn after_submission(
        &self,
        form: &Form,
        email: &EmailAddress,
        subject: &SubjectId,
        events: &[SealedEvent],
        fields: &[(String, String)],
        receipt: &Receipt,
        now: Time,
    ) {
        let expires_at = now + self.settings.confirm_ttl;
        let links: Vec<(crate::labels::PurposeName, String)> = events
            .iter()
            .filter(|e| e.facts.kind == EventKind::Requested)
            .filter_map(|e| {
                let purpose = e.facts.purpose.clone()?;
                let claims = LinkClaims::new(
                    LinkAction::Confirm,
                    subject.clone(),
                    Some(purpose.clone()),
                    Some(e.facts.event_id.clone()),
                    expires_at,
                );
                Some((form.purpose_name(&purpose, receipt.lang), self.link_url(&claims)))
            })
            .collect();
        let mut messages = Vec::new();
        if !links.is_empty() {
            messages.push(Message::ConfirmRequest {
                to: email.clone(),
                lang: receipt.lang,
                form_name: form.name.clone(),
                links,
                expires_at,
            });
        }
        for owner in &form.notify {
            messages.push(Message::OwnerNotice {
                to: owner.clone(),
                lang: form.default_lang,
                form_name: form.name.clone(),
                receipt_id: receipt.receipt_id.clone(),
                at: now,
                purposes: receipt.purposes.iter().map(|(p, k)| (form.purpose_name(p, form.default_lang), *k)).collect(),
                copy: {
                    let label = |name: &str| form.field_label(name, form.default_lang).to_owned();
                    match form.owner_notice {
                        OwnerNotice::Values => OwnerCopy::Values {
                            submitter: email.clone(),
                            fields: fields.iter().map(|(n, v)| (label(n), v.clone())).collect(),
                        },
                        OwnerNotice::Summary => {
                            OwnerCopy::Summary { subject: subject.clone(), fields: fields.iter().map(|(n, _)| label(n)).collect() }
                        }
                    }
                },
            });
        }
        // Counted against the public mail budget with the post ([`Self::count_form_post`]).
        for m in &messages {
            match self.mailer.send(m).await {
                Ok(id) => tracing::info!(kind = m.kind(), message_id = %id, receipt = %receipt.receipt_id, "mail sent"),
                Err(e) => tracing::error!(kind = m.kind(), receipt = %receipt.receipt_id, error = %e, "mail failed"),
            }
        }
    }

    /// The public URL of a signed link.
    pub fn link_url(&self, claims: &LinkClaims) -> String {
        self.settings.public_url.join(&format!("/v1/links/{}", token::sign(self.keys.links(), claims)))
    }

    pub(crate) async fn rate_limit(&self, key: &GuardKey, limit: u64, now: Time) -> Result<(), Error> {
        let (count, window_end) = self.count_in_window(key, now).await?;
        if count > limit {
            let retry_after_secs = (window_end - now).num_seconds().max(1) as u64;
            tracing::warn!(limit_key = key.kind(), "rate limited");
            return Err(Error::RateLimited { retry_after_secs });
        }
        Ok(())
    }

    /// Counts one mail a public route is about to send against the hourly budget for all such mail
    /// ([`Settings::public_mail_per_hour`]): false once it is spent. Anyone on the internet can
    /// trigger this mail, and it shares the SES quota and reputation breach notices need. A
    /// counter that cannot be read does not stop the mail: the budget guards against floods, not
    /// single requests.
    pub(crate) async fn within_public_mail_budget(&self, now: Time) -> bool {
        let held_back = || {
            tracing::error!(budget = self.settings.public_mail_per_hour, "{PUBLIC_MAIL_HELD_BACK}");
            false
        };
        if self.mail_budget.is_spent(now) {
            return held_back();
        }
        match self.store.count_hit(&GuardKey::PublicMail, hour_end(now)).await {
            Ok(sent) if sent <= self.settings.public_mail_per_hour => true,
            Ok(_) => {
                self.mail_budget.spent_until(hour_end(now));
                held_back()
            }
            Err(e) => {
                tracing::warn!(error = %e, "public mail budget not counted; sending");
                true
            }
        }
    }

    /// Counts one more hit on `key` in the rate window `now` falls in: the count so far, and when
    /// the window ends.
    pub(crate) async fn count_in_window(&self, key: &GuardKey, now: Time) -> Result<(u64, Time), Error> {
        let window_end = self.window_end(now);
        Ok((self.store.count_hit(key, window_end).await?, window_end))
    }

    /// When the rate window `now` falls in ends.
    fn window_end(&self, now: Time) -> Time {
        let window = self.settings.rate_window.num_seconds().max(1);
        chrono::DateTime::from_timestamp((now.timestamp() / window + 1) * window, 0).expect("in range")
    }

    /// Seals `facts` onto the subject's chain, retrying if a concurrent writer got there first.
    pub async fn append_events(
        &self,
        subject: &SubjectId,
        facts: Vec<EventFacts>,
        profile: Option<Profile>,
        submissions: Vec<SubmissionContent>,
        lift: Lift,
    ) -> Result<Vec<SealedEvent>, Error> {
        self.append_events_from(subject, None, facts, profile, submissions, lift).await
    }

    /// [`Self::append_events`], its first attempt from the head the caller `read` just now (a
    /// retry reads it again).
    async fn append_events_from(
        &self,
        subject: &SubjectId,
        mut read: Option<Option<ChainHead>>,
        facts: Vec<EventFacts>,
        profile: Option<Profile>,
        submissions: Vec<SubmissionContent>,
        lift: Lift,
    ) -> Result<Vec<SealedEvent>, Error> {
        let lift_suppression = lift == Lift::ByThePerson;
        let mut last = AppendError::Conflict;
        for _ in 0..APPEND_ATTEMPTS {
            let head = match read.take() {
                Some(head) => head,
                None => self.store.load_head(subject).await?,
            };
            let (events, new_head) = proof::seal_chain(self.keys.seals(), head.as_ref().unwrap_or(&ChainHead::genesis()), facts.clone());
            // Only a new subject's profile can be temporary: an existing one may hold consent given
            // before, which this append knows nothing of.
            let profile = profile.clone().map(|p| if head.is_some() { Profile { expires_at: None, ..p } } else { p });
            // Content is kept as long as the profile written with it; without one (a correction)
            // it keeps the time it had.
            let submissions = match &profile {
                Some(p) => submissions.iter().map(|s| s.clone().kept_with(p.expires_at)).collect(),
                None => submissions.clone(),
            };
            let states = events
                .iter()
                .filter_map(|e| {
                    Some(PurposeState {
                        purpose: e.facts.purpose.clone()?,
                        status: e.facts.kind,
                        since: e.facts.at,
                        event_id: e.facts.event_id.clone(),
                    })
                })
                .collect();
            let append = Append {
                subject: subject.clone(),
                expected_head: head,
                new_head,
                events: events.clone(),
                states,
                profile,
                submissions,
                lift_suppression,
                // Any change of state may end the last need for the address: judge it then.
                review_at: events.iter().map(|e| e.facts.at).max(),
                changes: crate::changes::Change::of_events(&events, None),
            };
            match self.store.append(append).await {
                Ok(()) => return Ok(events),
                Err(AppendError::Conflict) => last = AppendError::Conflict,
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.into())
    }

    /// An operator's view of a subject: derived state, every event, and a fresh proof check.
    pub async fn lookup(&self, email: &EmailAddress, now: Time) -> Result<SubjectView, Error> {
        self.lookup_subject(&self.subject_id(email), now).await
    }

    /// The lookup by the keyed-hash id a summary owner notification gives.
    pub async fn lookup_subject(&self, subject: &SubjectId, now: Time) -> Result<SubjectView, Error> {
        let subject = subject.clone();
        let record = self.store.load_subject(&subject).await?;
        let address_change = crate::address_change::address_change_of(&record, |email| self.subject_id(email));
        if !record.holds_personal_data() && address_change.is_none() {
            return Err(Error::SubjectNotFound);
        }
        let proof = proof::verify_chain(self.keys.seals(), &subject, &record.events, record.head.as_ref());
        let mut events = record.events;
        events.sort_by_key(|e| e.facts.seq);
        // After a move, no purpose applies under this id: its states went on under the new one.
        let moved = matches!(address_change, Some(crate::address_change::AddressChangeView::Moved { .. }));
        let state = if moved { BTreeMap::new() } else { derive_state(&events, self.settings.confirm_ttl, now) };
        Ok(SubjectView {
            subject_id: subject,
            email: record.profile.map(|p| p.email),
            submissions: record.submissions.into_iter().map(Into::into).collect(),
            state,
            events,
            proof,
            address_change,
        })
    }
}

/// Each purpose's current state: its latest event, with an unconfirmed request past its time
/// reported as expired.
pub fn derive_state(events: &[SealedEvent], confirm_ttl: Duration, now: Time) -> BTreeMap<PurposeId, PurposeStatus> {
    let mut state = BTreeMap::new();
    for e in events {
        let (Some(p), Some(status)) = (&e.facts.purpose, status_of(e, confirm_ttl, now)) else { continue };
        state.insert(p.clone(), status);
    }
    state
}

/// The state a purpose is in when `e` is its latest event (none for an erasure, which names no
/// purpose's state).
pub fn status_of(e: &SealedEvent, confirm_ttl: Duration, now: Time) -> Option<PurposeStatus> {
    Some(match e.facts.kind {
        EventKind::Given => PurposeStatus::Given,
        EventKind::Informed => PurposeStatus::Informed,
        EventKind::Refused => PurposeStatus::Refused,
        EventKind::Withdrawn => PurposeStatus::Withdrawn,
        EventKind::Requested if e.facts.at + confirm_ttl <= now => PurposeStatus::Expired,
        EventKind::Requested => PurposeStatus::Requested,
        EventKind::Objected => PurposeStatus::Objected,
        EventKind::Restricted => PurposeStatus::Restricted,
        // The objection was overruled: the purpose's basis applies as before.
        EventKind::Resumed => PurposeStatus::Informed,
        EventKind::Erased | EventKind::Rectified | EventKind::Moved | EventKind::MovedFrom => return None,
    })
}

/// The form post's use case over the in-memory adapters (`memory.rs`): what is stored, what is
/// mailed, what is refused. The same behaviours are tested end to end in `crates/tests`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{self, fixtures::*};
    use crate::store::SubjectStore;

    #[test]
    fn a_purpose_status_is_named_as_it_serialises() {
        use PurposeStatus::*;
        for status in [Given, Informed, Refused, Requested, Withdrawn, Expired, Objected, Restricted] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    fn ids(m: &[(&str, EventKind)]) -> BTreeMap<PurposeId, EventKind> {
        m.iter().map(|(p, k)| (PurposeId::parse(p).unwrap(), *k)).collect()
    }

    #[tokio::test]
    async fn art7_1_a_post_seals_one_event_per_purpose_then_mails_the_confirmation_and_the_owner() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        let receipt = post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        assert_eq!(receipt.status, ReceiptStatus::PendingConfirmation);
        assert_eq!(receipt.purposes, ids(&[("contact_reply", EventKind::Informed), ("newsletter", EventKind::Requested)]));

        let view = app.lookup(&email("anna@example.pl"), now()).await.unwrap();
        assert_eq!((view.events.len(), view.proof.verified), (2, true));
        assert!(view.events.iter().all(|e| e.facts.receipt_id.as_deref() == Some(receipt.receipt_id.as_str())));
        let record = app.store.load_subject(&view.subject_id).await.unwrap();
        let profile = record.profile.expect("the address is kept");
        assert_eq!(profile.expires_at, None, "a contract purpose that applies keeps the address beyond the request");
        assert_eq!(record.submissions[0].fields, vec![("name".to_owned(), "Anna".to_owned())]);

        let mails: Vec<_> = app.mailer.sent().iter().map(|m| (m.kind(), m.to().as_str().to_owned())).collect();
        assert_eq!(mails, [("confirm_request", "anna@example.pl".to_owned()), ("owner_notice", "biuro@example.pl".to_owned())]);
    }

    #[tokio::test]
    async fn art5_1e_a_post_that_only_awaits_confirmation_keeps_the_address_and_content_no_longer_than_the_request() {
        let app = memory::app();
        let mut input = demo_input();
        input["purposes"][1]["required"] = false.into();
        let form = form(&app, input).await;
        post(&app, &form, "anna@example.pl", &["newsletter"]).await.unwrap();
        let record = app.store.load_subject(&app.subject_id(&email("anna@example.pl"))).await.unwrap();
        let until = record.profile.unwrap().expires_at.expect("a temporary profile");
        assert_eq!(until, record.events[0].facts.at + app.settings.confirm_ttl);
        assert_eq!(record.submissions[0].expires_at, until, "the content goes with the address (security review M2)");
        assert!(record.submissions[0].retained_until > until);
    }

    #[tokio::test]
    async fn art6_a_purpose_of_another_basis_is_informed_never_given_or_refused() {
        let app = memory::app();
        let mut input = demo_input();
        input["purposes"][1]["required"] = false.into();
        let form = form(&app, input).await;
        let asked = post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        assert_eq!(asked.purposes, ids(&[("contact_reply", EventKind::Informed), ("newsletter", EventKind::Refused)]));
        let not_asked = post(&app, &form, "jan@example.pl", &[]).await.unwrap();
        assert_eq!(not_asked.purposes, ids(&[("newsletter", EventKind::Refused)]), "an optional contract not asked for: no event");
        let state = app.lookup(&email("anna@example.pl"), now()).await.unwrap().state;
        assert_eq!(state[&PurposeId::parse("contact_reply").unwrap()], PurposeStatus::Informed);
    }

    #[tokio::test]
    async fn a_bad_post_names_every_field_and_writes_and_mails_nothing() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        let err = post(&app, &form, "not-an-address", &["newsletter"]).await.unwrap_err();
        let Error::Validation(fields) = err else { panic!("{err:?}") };
        let named: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(named, ["email", "consent.contact_reply"], "the address, and the required contract purpose");
        assert!(app.mailer.sent().is_empty());
        assert!(matches!(app.lookup(&email("not-an-address@example.pl"), now()).await, Err(Error::SubjectNotFound)));
        assert!(app.store.load_subject(&app.subject_id(&email("anna@example.pl"))).await.unwrap().events.is_empty());
    }

    #[tokio::test]
    async fn a_filled_honeypot_is_answered_as_usual_and_nothing_is_written() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        let fields = [("email", "bot@example.pl"), ("notice_version", "2026-11"), ("consent", "contact_reply")];
        let raw = raw(&[&fields[..], &[(crate::intake::HONEYPOT, "http://spam.example")]].concat());
        let receipt = app.submit(&Arc::new(form), raw, Origin { ip: None, lang: None }, now()).await.unwrap();
        assert_eq!(receipt.status, ReceiptStatus::Recorded);
        assert!(app.store.load_subject(&app.subject_id(&email("bot@example.pl"))).await.unwrap().events.is_empty());
        assert!(app.mailer.sent().is_empty());
    }

    #[tokio::test]
    async fn a_post_naming_a_retired_or_unknown_notice_is_stale() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        let raw = raw(&[("email", "anna@example.pl"), ("notice_version", "2025-01"), ("consent", "contact_reply")]);
        assert!(matches!(app.submit(&Arc::new(form.clone()), raw, Origin { ip: None, lang: None }, now()).await, Err(Error::StaleNotice)));
        assert!(app.mailer.sent().is_empty());
    }

    #[tokio::test]
    async fn posts_past_the_per_person_limit_are_refused_with_the_time_to_wait() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        for _ in 0..app.settings.subject_limit {
            post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        }
        let err = post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap_err();
        assert!(matches!(err, Error::RateLimited { retry_after_secs } if retry_after_secs >= 1), "{err:?}");
        post(&app, &form, "other@example.pl", &["contact_reply"]).await.expect("another person is not limited");
    }

    #[tokio::test]
    async fn h2_a_refused_post_still_counts_against_its_network_and_one_refused_for_its_person_too() {
        let mut app = memory::app();
        (app.settings.network_limit, app.settings.subject_limit) = (3, 1);
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        let again = post(&app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap_err();
        assert!(matches!(again, Error::RateLimited { .. }), "Anna's limit is spent: {again:?}");
        let invalid = post(&app, &form, "not an address", &["contact_reply"]).await.unwrap_err();
        assert!(matches!(invalid, Error::Validation(_)), "{invalid:?}");
        let bob = post(&app, &form, "bob@example.pl", &["contact_reply"]).await.unwrap_err();
        assert!(matches!(bob, Error::RateLimited { .. }), "the network's three posts are spent, the two refused among them: {bob:?}");
    }

    #[tokio::test]
    async fn h2_past_the_public_mail_budget_a_post_is_recorded_and_its_mail_held_back() {
        let mut app = memory::app();
        app.settings.public_mail_per_hour = 3;
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        assert_eq!(app.mailer.sent().len(), 2, "a confirmation and the owner's notice");
        let receipt = post(&app, &form, "bob@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        assert_eq!(receipt.status, ReceiptStatus::PendingConfirmation, "recorded");
        assert!(!app.store.load_subject(&app.subject_id(&email("bob@example.pl"))).await.unwrap().events.is_empty());
        assert_eq!(app.mailer.sent().len(), 2, "two more would pass the budget of three: both held back");
        post(&app, &form, "cecylia@example.pl", &["contact_reply"]).await.unwrap();
        assert_eq!(app.mailer.sent().len(), 3, "the owner's notice alone fits");
    }

    /// Every post that would mail names the budget's one counter, where a flood's posts collide;
    /// an instance that found it spent asks no more until the hour ends, and holds mail back.
    #[tokio::test]
    async fn h2_a_public_mail_budget_found_spent_holds_mail_back_without_asking_again_until_the_hour_ends() {
        let mut app = memory::app();
        app.settings.public_mail_per_hour = 1;
        let form = std::sync::Arc::new(form(&app, demo_input()).await);
        let post_at = |address: &'static str, at: Time| {
            let fields = [("email", address), ("notice_version", "2026-11"), ("consent", "contact_reply")];
            app.submit(&form, raw(&fields), Origin { ip: None, lang: None }, at)
        };
        post_at("anna@example.pl", now()).await.unwrap();
        assert_eq!(app.mailer.sent().len(), 1, "the owner's notice spends the budget of one");
        post_at("bob@example.pl", now()).await.unwrap();
        assert_eq!(app.mailer.sent().len(), 1, "held back: the budget is found spent");
        app.store.clear_counters();
        post_at("cecylia@example.pl", now() + Duration::seconds(1)).await.unwrap();
        assert_eq!(app.mailer.sent().len(), 1, "held back without asking the counter, which would have room");
        assert!(!app.within_public_mail_budget(now() + Duration::seconds(2)).await, "a link's or request's mail too");
        post_at("dorota@example.pl", hour_end(now())).await.unwrap();
        assert_eq!(app.mailer.sent().len(), 2, "the next hour has a budget of its own");
    }

    #[tokio::test]
    async fn art13_a_form_edited_is_served_within_form_max_age_and_a_new_notice_version_at_once() {
        let app = memory::app();
        let id = FormId::parse("demo").unwrap();
        form(&app, demo_input()).await;
        let start = now();
        let held = app.form_for_post(&id, start).await.unwrap();
        let mut edited = demo_input();
        edited["name"] = "Kontakt (nowy)".into();
        edited["notice"] = serde_json::json!({"version": "2026-12", "texts": {"pl": "Nowa zgoda"}});
        app.save_form(id.clone(), serde_json::from_value(edited).unwrap(), start).await.unwrap();

        let max_age = app.settings.form_max_age;
        let before = app.form_for_post(&id, start + max_age - Duration::seconds(1)).await.unwrap();
        assert_eq!(before.form.name, "Kontakt", "held until it is form_max_age old");
        assert_eq!(app.form_for_post(&id, start + max_age).await.unwrap().form.name, "Kontakt (nowy)");

        let raw = raw(&[("email", "anna@example.pl"), ("notice_version", "2026-12"), ("consent", "contact_reply")]);
        let receipt = app.submit(&held, raw, Origin { ip: None, lang: None }, start).await.expect("the new version is accepted at once");
        let events = app.store.load_subject(&app.subject_id(&email("anna@example.pl"))).await.unwrap().events;
        assert_eq!(events[0].facts.notice_version.as_deref(), Some("2026-12"), "{receipt:?}");
    }

    #[tokio::test]
    async fn m1_a_post_for_an_erased_address_gives_no_consent_until_the_person_confirms() {
        let app = memory::app();
        let form = form(&app, single_opt_in_input()).await;
        let receipt = post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        assert_eq!(receipt.purposes[&PurposeId::parse("newsletter").unwrap()], EventKind::Given, "single opt-in as configured");
        app.erase_by_email(&email("anna@example.pl"), now()).await.unwrap();

        let again = post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        assert_eq!(again.purposes, ids(&[("contact_reply", EventKind::Informed), ("newsletter", EventKind::Requested)]));
        let newsletter = PurposeId::parse("newsletter").unwrap();
        assert!(app.audience(&newsletter, None, now()).await.unwrap().0.is_empty());
        let subject = app.subject_id(&email("anna@example.pl"));
        assert!(app.store.load_chain_start(&subject).await.unwrap().suppressed, "only the person's own confirmation lifts it");
    }
}
