//! In-memory adapters of the domain's ports: a store, a mailer that keeps what it sent (and can be
//! told to fail), and a queue that keeps what was enqueued. They let every use case be tested in
//! milliseconds, without the emulator (`cargo test -p zgoda-domain`). They hold the DynamoDB
//! adapter's contract (conditional appends, single-use markers, claims with leases, idempotency
//! records, expired items gone at once), which the integration tests check against the real SDK;
//! they are never the only test of a behaviour.
//!
//! The store is split as the ports are: `subjects.rs` (people, their chains and audiences),
//! `breaches.rs` (the register, escalations and their outbox) and `incidents.rs` (reporting
//! channels and incidents); forms and guards are here.

mod breaches;
mod incidents;
mod subjects;
mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::Time;
use crate::escalation::EscalationStarted;
use crate::form::{Form, Notice};
use crate::ids::{BreachId, EscalationId, FormId, NoticeId, PurposeId, SubjectId};
use crate::mail::{MailError, Mailer, Message};
use crate::proof::{ChainHead, SealedEvent};
use crate::smoke::SmokeRun;
use crate::store::{
    BreachRecord, Contact, Count, DeclaredPurpose, Delivery, FormStore, GuardKey, Guards, JobBatch, PrivacyRequest, Profile, PublicNotice,
    PurposeState, Recipient, SaveFormError, StoreError, StoredForm, SubmissionContent, WorkQueue,
};
use crate::timeline::TimelineEvent;

/// One outbox entry: the recipient, their lease, and how it ended.
#[derive(Debug, Clone)]
struct OutboxEntry {
    recipient: Option<Recipient>,
    lease_until: Option<Time>,
    delivery: Option<(Delivery, Time)>,
}

#[derive(Debug, Clone)]
enum Idempotency {
    InProgress { hash: String, lease_until: Time },
    Completed { hash: String, answer: EscalationStarted },
}

/// What the table holds under one subject's partition.
#[derive(Debug, Clone, Default)]
struct Person {
    head: Option<ChainHead>,
    events: Vec<SealedEvent>,
    states: BTreeMap<PurposeId, PurposeState>,
    profile: Option<Profile>,
    submissions: BTreeMap<String, SubmissionContent>,
    requests: Vec<PrivacyRequest>,
    suppressed_at: Option<Time>,
    undeliverable: bool,
    /// When the storage-limitation sweep judges this person next.
    review_at: Option<Time>,
    moving_to: Option<crate::address_change::PendingAddress>,
    incoming: Option<crate::address_change::IncomingAddress>,
    told: BTreeMap<crate::webhooks::EndpointId, crate::webhooks::Told>,
}

#[derive(Default)]
struct Data {
    breaches: BTreeMap<BreachId, BreachRecord>,
    idempotency: HashMap<String, Idempotency>,
    outbox: BTreeMap<(EscalationId, SubjectId), OutboxEntry>,
    notices: HashMap<NoticeId, PublicNotice>,
    /// Each guard's count and its window's end (or a marker's expiry), by key and window.
    guards: HashMap<(String, Time), u64>,
    /// Single-use markers, by key, with their expiry.
    markers: HashMap<String, Time>,
    forms: HashMap<FormId, StoredForm>,
    /// Each purpose's lawful basis, as first declared, and its last labels.
    purposes: HashMap<PurposeId, DeclaredPurpose>,
    /// Whom each form collected beyond what stored events say (`add_collected`).
    collected: HashMap<FormId, Vec<(SubjectId, PurposeId, Time)>>,
    people: HashMap<SubjectId, Person>,
    /// The change feed, by change id (its order).
    changes: BTreeMap<String, crate::changes::Change>,
    endpoints: HashMap<crate::webhooks::EndpointId, crate::webhooks::Endpoint>,
    endpoint_secrets: HashMap<crate::webhooks::EndpointId, crate::processors::WebhookSecrets>,
    cursors: HashMap<crate::webhooks::EndpointId, webhooks::HeldCursor>,
    /// Delivery logs by endpoint and change.
    deliveries: BTreeMap<(crate::webhooks::EndpointId, String), crate::webhooks::DeliveryLog>,
    smoke: HashMap<String, SmokeRun>,
    /// Whether the people recorded before the retention worklist were put on it.
    reviews_backfilled: bool,
    channels: HashMap<crate::ids::ChannelId, crate::incidents::ReportingChannel>,
    incidents: HashMap<crate::ids::IncidentId, crate::incidents::Incident>,
    processors: HashMap<crate::ids::ProcessorId, crate::processors::Processor>,
    webhook_secrets: HashMap<crate::ids::ProcessorId, crate::processors::WebhookSecrets>,
}

/// The store. Use cases fill it as they would the table; a breach test can also set up the
/// people it holds (`add_contact`) and whom each form collected (`add_collected`) directly.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        f(&mut self.data.lock().expect("not poisoned"))
    }

    /// Forgets every counter, as if their items had expired (to show what is not asked again).
    pub fn clear_counters(&self) {
        self.with(|d| d.guards.clear());
    }

    /// A person as zgoda holds them, as form posts, erasures and bounces would have left them.
    pub fn add_contact(&self, subject: SubjectId, contact: Contact) {
        self.with(|d| {
            let person = d.people.entry(subject).or_default();
            person.profile = contact.profile;
            person.suppressed_at = contact.suppressed.then_some(chrono::DateTime::UNIX_EPOCH);
            person.undeliverable = contact.undeliverable;
        });
    }

    /// A person collected through a form for a purpose at a time.
    pub fn add_collected(&self, form: FormId, subject: SubjectId, purpose: PurposeId, at: Time) {
        self.with(|d| d.collected.entry(form).or_default().push((subject, purpose, at)));
    }

    /// Takes a person off the retention worklist, as an earlier version that had no worklist (or
    /// did not put erased people on it) left them.
    pub fn drop_review(&self, subject: &SubjectId) {
        self.with(|d| d.people.get_mut(subject).expect("a stored person").review_at = None);
    }

    /// How each recipient of an escalation ended, by subject.
    pub fn deliveries(&self, escalation: &EscalationId) -> BTreeMap<SubjectId, Option<Delivery>> {
        self.with(|d| {
            d.outbox
                .iter()
                .filter(|((e, _), _)| e == escalation)
                .map(|((_, s), entry)| (s.clone(), entry.delivery.as_ref().map(|(d, _)| d.clone())))
                .collect()
        })
    }

    /// Changes a stored timeline entry in place, as someone with write access to the table could.
    pub fn tamper(&self, breach: &BreachId, seq: u64, change: impl FnOnce(&mut TimelineEvent)) {
        self.with(|d| {
            let r = d.breaches.get_mut(breach).expect("a stored breach");
            change(r.timeline.iter_mut().find(|e| e.seq == seq).expect("a stored entry"));
        });
    }

    /// Changes a stored consent event in place, as someone with write access to the table could.
    pub fn tamper_event(&self, subject: &SubjectId, seq: u64, change: impl FnOnce(&mut SealedEvent)) {
        self.with(|d| {
            let person = d.people.get_mut(subject).expect("a stored subject");
            change(person.events.iter_mut().find(|e| e.facts.seq == seq).expect("a stored event"));
        });
    }

    /// Every purpose's stored state for a subject (the audience's index), by purpose.
    pub fn states(&self, subject: &SubjectId) -> BTreeMap<PurposeId, PurposeState> {
        self.with(|d| d.people.get(subject).map(|p| p.states.clone()).unwrap_or_default())
    }

    /// Whether anything at all is stored under a subject's partition besides its sealed events, head
    /// and suppression entry: what an erasure must leave empty.
    pub fn holds_anything_personal(&self, subject: &SubjectId) -> bool {
        self.with(|d| d.people.get(subject).is_some_and(|p| p.profile.is_some() || !p.submissions.is_empty() || !p.states.is_empty()))
    }
}

impl FormStore for MemoryStore {
    async fn load_form(&self, id: &FormId) -> Result<Option<StoredForm>, StoreError> {
        Ok(self.with(|d| d.forms.get(id).cloned()))
    }

    async fn list_forms(&self) -> Result<Vec<Form>, StoreError> {
        let mut forms: Vec<Form> = self.with(|d| d.forms.values().map(|s| s.form.clone()).collect());
        forms.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        Ok(forms)
    }

    async fn save_form(&self, form: &Form, notice: &Notice) -> Result<(), SaveFormError> {
        self.with(|d| {
            if let Some(p) = form.purposes.iter().find(|p| d.purposes.get(&p.id).is_some_and(|b| b.lawful_basis != p.lawful_basis)) {
                return Err(SaveFormError::BasisDeclared(p.id.clone()));
            }
            let stored = d.forms.entry(form.id.clone()).or_insert_with(|| StoredForm { form: form.clone(), notices: Vec::new() });
            if stored.notices.iter().any(|n| n.version == notice.version && n.texts != notice.texts) {
                return Err(SaveFormError::NoticeVersionExists);
            }
            d.purposes.extend(form.declarations().map(|(id, declared)| (id.clone(), declared)));
            stored.form = form.clone();
            if !stored.notices.iter().any(|n| n.version == notice.version) {
                stored.notices.push(notice.clone());
            }
            Ok(())
        })
    }

    async fn declared_purpose(&self, purpose: &PurposeId) -> Result<Option<DeclaredPurpose>, StoreError> {
        Ok(self.with(|d| d.purposes.get(purpose).cloned()))
    }
}

impl Guards for MemoryStore {
    async fn count_hit(&self, key: &GuardKey, window_end: Time) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let count = d.guards.entry((key.to_string(), window_end)).or_insert(0);
            *count += 1;
            *count
        }))
    }

    async fn count_within(&self, counts: &[Count]) -> Result<Result<(), Vec<usize>>, StoreError> {
        Ok(self.with(|d| {
            let slot = |c: &Count| (c.key.to_string(), c.window_end);
            let over: Vec<usize> = (0..counts.len())
                .filter(|&i| d.guards.get(&slot(&counts[i])).copied().unwrap_or(0) + counts[i].by > counts[i].most)
                .collect();
            if !over.is_empty() {
                return Err(over);
            }
            for c in counts {
                *d.guards.entry(slot(c)).or_insert(0) += c.by;
            }
            Ok(())
        }))
    }

    async fn first_use(&self, key: &GuardKey, expires_at: Time, now: Time) -> Result<bool, StoreError> {
        Ok(self.with(|d| d.mark_once(key, expires_at, now)))
    }

    async fn keep_use(&self, key: &GuardKey, expires_at: Time) -> Result<(), StoreError> {
        self.with(|d| d.markers.insert(key.to_string(), expires_at));
        Ok(())
    }
}

impl Data {
    /// Sets a single-use marker unless one stands that has not expired; whether it was set.
    fn mark_once(&mut self, key: &GuardKey, expires_at: Time, now: Time) -> bool {
        let key = key.to_string();
        if self.markers.get(&key).is_some_and(|until| *until > now) {
            return false;
        }
        self.markers.insert(key, expires_at);
        true
    }
}

/// A mailer that keeps every message it sent; `fail_next` makes the next sends fail.
#[derive(Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Message>>,
    failures: Mutex<Vec<MailError>>,
    forgotten: Mutex<Vec<crate::email::EmailAddress>>,
}

impl MemoryMailer {
    pub fn sent(&self) -> Vec<Message> {
        self.sent.lock().expect("not poisoned").clone()
    }

    /// Every address the provider was told to forget.
    pub fn forgotten(&self) -> Vec<crate::email::EmailAddress> {
        self.forgotten.lock().expect("not poisoned").clone()
    }

    /// The next send fails with `error` (queued: one error per send).
    pub fn fail_next(&self, error: MailError) {
        self.failures.lock().expect("not poisoned").push(error);
    }
}

impl Mailer for MemoryMailer {
    async fn send(&self, message: &Message) -> Result<String, MailError> {
        if let Some(e) = { self.failures.lock().expect("not poisoned").pop() } {
            return Err(e);
        }
        let mut sent = self.sent.lock().expect("not poisoned");
        sent.push(message.clone());
        Ok(format!("memory-{}", sent.len()))
    }

    async fn forget_address(&self, address: &crate::email::EmailAddress) -> Result<(), MailError> {
        self.forgotten.lock().expect("not poisoned").push(address.clone());
        Ok(())
    }
}

/// A queue that keeps every batch, with its delay.
#[derive(Default)]
pub struct MemoryQueue {
    batches: Mutex<Vec<(JobBatch, std::time::Duration)>>,
}

impl MemoryQueue {
    pub fn batches(&self) -> Vec<JobBatch> {
        self.batches.lock().expect("not poisoned").iter().map(|(b, _)| b.clone()).collect()
    }
}

impl WorkQueue for MemoryQueue {
    async fn enqueue(&self, batches: &[JobBatch]) -> Result<(), StoreError> {
        self.batches.lock().expect("not poisoned").extend(batches.iter().map(|b| (b.clone(), std::time::Duration::ZERO)));
        Ok(())
    }

    async fn enqueue_later(&self, batch: &JobBatch, delay: std::time::Duration) -> Result<(), StoreError> {
        self.batches.lock().expect("not poisoned").push((batch.clone(), delay));
        Ok(())
    }
}

/// An app over the in-memory adapters, with fixed keys.
pub type MemoryApp = crate::Zgoda<MemoryStore, MemoryMailer, MemoryQueue>;

pub fn app() -> MemoryApp {
    use crate::keys::{KeyRing, Keys, SecretKey};
    let ring = |byte: u8| KeyRing::single("k1", SecretKey::new(vec![byte; 32]));
    crate::Zgoda {
        store: MemoryStore::default(),
        mailer: MemoryMailer::default(),
        queue: MemoryQueue::default(),
        keys: Keys::new(ring(1), ring(2), ring(3), ring(4)),
        names: Default::default(),
        forms: Default::default(),
        mail_budget: Default::default(),
        settings: crate::Settings::default(),
    }
}

/// What the consent side's use-case tests share: a stored form, a post, the links in the mail.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::MemoryApp;
    use crate::Time;
    use crate::email::EmailAddress;
    use crate::error::Error;
    use crate::form::FormInput;
    use crate::ids::FormId;
    use crate::intake::RawSubmission;
    use crate::mail::Message;
    use crate::service::{Origin, Receipt};
    use crate::store::StoredForm;

    /// Now, to the millisecond events keep. The store reads expiry against the wall clock, as
    /// DynamoDB does, so tests start from it.
    pub fn now() -> Time {
        crate::proof::to_millis(chrono::Utc::now())
    }

    pub fn email(text: &str) -> EmailAddress {
        EmailAddress::parse(text).unwrap()
    }

    /// The API's example form: a double opt-in newsletter (consent) and a required reply to the
    /// enquiry (contract), one declared field, and an owner to tell.
    pub fn demo_input() -> serde_json::Value {
        serde_json::json!({
            "name": "Kontakt", "allowed_origins": ["https://sklep.example.pl"], "default_lang": "pl",
            "fields": [{"name": "name", "kind": "text", "required": false, "max_len": 100}],
            "purposes": [{"id": "newsletter", "lawful_basis": "consent", "required": false, "double_opt_in": true},
                         {"id": "contact_reply", "lawful_basis": "contract", "required": true, "double_opt_in": false}],
            "notify": ["biuro@example.pl"], "retention_days": 365,
            "notice": {"version": "2026-11", "texts": {"pl": "Zgoda", "en": "Consent"}}
        })
    }

    /// The example form with its newsletter recorded at once, and the reason the form must give.
    pub fn single_opt_in_input() -> serde_json::Value {
        let mut input = demo_input();
        input["purposes"][0]["double_opt_in"] = false.into();
        input["purposes"][0]["single_opt_in_reason"] = "Tested without a mailbox round trip.".into();
        input
    }

    /// Saves `input` as form `demo`.
    pub async fn form(app: &MemoryApp, input: serde_json::Value) -> StoredForm {
        let input: FormInput = serde_json::from_value(input).unwrap();
        app.save_form(FormId::parse("demo").unwrap(), input, now()).await.unwrap()
    }

    /// The single opt-in example form, and Anna on file: her newsletter consent given, told of the
    /// contract purpose. Her subject id with the app.
    pub async fn anna_on_file() -> (MemoryApp, crate::ids::SubjectId) {
        let app = super::app();
        let form = form(&app, single_opt_in_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let anna = app.subject_id(&email("anna@example.pl"));
        (app, anna)
    }

    /// Posts the form for `address`, ticking `ticked`, with a name in the declared field.
    pub async fn post(app: &MemoryApp, form: &StoredForm, address: &str, ticked: &[&str]) -> Result<Receipt, Error> {
        let mut fields = vec![("email", address), ("notice_version", "2026-11"), ("name", "Anna")];
        fields.extend(ticked.iter().map(|p| ("consent", *p)));
        app.submit(&std::sync::Arc::new(form.clone()), raw(&fields), Origin { ip: Some("203.0.113.7".parse().unwrap()), lang: None }, now())
            .await
    }

    /// A form body as the HTTP layer hands it over: (name, value) pairs in order.
    pub fn raw(fields: &[(&str, &str)]) -> RawSubmission {
        RawSubmission(fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    /// Every mail sent to `address`.
    pub fn mail_to(app: &MemoryApp, address: &str) -> Vec<Message> {
        app.mailer.sent().into_iter().filter(|m| m.to().as_str() == address).collect()
    }

    /// The token of a link in a mail (`…/v1/links/<token>?lang=…`).
    pub fn token(url: &str) -> String {
        let tail = url.split("/v1/links/").nth(1).expect("a link URL");
        tail.split('?').next().unwrap().to_owned()
    }

    /// The first confirmation link mailed to `address`.
    pub fn confirm_token(app: &MemoryApp, address: &str) -> String {
        let links = mail_to(app, address).into_iter().find_map(|m| match m {
            Message::ConfirmRequest { links, .. } => Some(links),
            _ => None,
        });
        token(&links.expect("a confirmation mail")[0].1)
    }
}
