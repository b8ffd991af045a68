//! In-memory adapters for the breach side of the domain's ports (the register, escalation and
//! reminders need nothing else): a store, a mailer that keeps what it sent (and can be told to
//! fail), and a queue that keeps what was enqueued. They let the use cases be tested in
//! milliseconds, without the emulator. They hold the DynamoDB adapter's contract (conditional
//! appends, claims with leases, idempotency records), which the integration tests check against
//! the real SDK; they are never the only test of a behaviour.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::Time;
use crate::breach::Breach;
use crate::escalation::EscalationStarted;
use crate::form::{Form, Notice};
use crate::ids::{BreachId, EscalationId, FormId, NoticeId, PurposeId, SubjectId};
use crate::mail::{MailError, Mailer, Message};
use crate::store::{
    AppendError, BreachRecord, BreachStore, Claim, Contact, Delivery, DeliveryCounts, EscalationRecord, FormStore, GuardKey, Guards,
    IdempotencyStart, Job, JobBatch, PublicNotice, Recipient, SaveFormError, StoreError, StoredForm, WorkQueue,
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

#[derive(Default)]
struct Data {
    breaches: BTreeMap<BreachId, BreachRecord>,
    idempotency: HashMap<String, Idempotency>,
    outbox: BTreeMap<(EscalationId, SubjectId), OutboxEntry>,
    notices: HashMap<NoticeId, PublicNotice>,
    guards: HashMap<String, (u64, Time)>,
    forms: HashMap<FormId, StoredForm>,
    /// Who each form collected, for the escalation's selection.
    collected: HashMap<FormId, Vec<(SubjectId, PurposeId, Time)>>,
    contacts: HashMap<SubjectId, Contact>,
}

/// The store. A test sets up the people it holds (`add_contact`) and whom each form collected
/// (`add_collected`), as form posts would have left them.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        f(&mut self.data.lock().expect("not poisoned"))
    }

    /// A person as zgoda holds them.
    pub fn add_contact(&self, subject: SubjectId, contact: Contact) {
        self.with(|d| d.contacts.insert(subject, contact));
    }

    /// A person collected through a form for a purpose at a time.
    pub fn add_collected(&self, form: FormId, subject: SubjectId, purpose: PurposeId, at: Time) {
        self.with(|d| d.collected.entry(form).or_default().push((subject, purpose, at)));
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
}

impl FormStore for MemoryStore {
    async fn load_form(&self, id: &FormId) -> Result<Option<StoredForm>, StoreError> {
        Ok(self.with(|d| d.forms.get(id).cloned()))
    }

    async fn save_form(&self, form: &Form, notice: &Notice) -> Result<(), SaveFormError> {
        self.with(|d| {
            let stored = d.forms.entry(form.id.clone()).or_insert_with(|| StoredForm { form: form.clone(), notices: Vec::new() });
            if stored.notices.iter().any(|n| n.version == notice.version && n.texts != notice.texts) {
                return Err(SaveFormError::NoticeVersionExists);
            }
            stored.form = form.clone();
            if !stored.notices.iter().any(|n| n.version == notice.version) {
                stored.notices.push(notice.clone());
            }
            Ok(())
        })
    }
}

impl Guards for MemoryStore {
    async fn count_hit(&self, key: &GuardKey, window_end: Time) -> Result<u64, StoreError> {
        Ok(self.with(|d| {
            let entry = d.guards.entry(key.to_string()).or_insert((0, window_end));
            entry.0 += 1;
            entry.0
        }))
    }

    async fn first_use(&self, key: &GuardKey, expires_at: Time, now: Time) -> Result<bool, StoreError> {
        let key = key.to_string();
        Ok(self.with(|d| match d.guards.get(&key) {
            Some((_, until)) if *until > now => false,
            _ => {
                d.guards.insert(key, (1, expires_at));
                true
            }
        }))
    }

    async fn keep_use(&self, key: &GuardKey, expires_at: Time) -> Result<(), StoreError> {
        self.with(|d| d.guards.insert(key.to_string(), (1, expires_at)));
        Ok(())
    }
}

impl BreachStore for MemoryStore {
    async fn create_breach(&self, breach: &Breach, first: &TimelineEvent) -> Result<(), StoreError> {
        self.with(|d| {
            d.breaches.insert(
                breach.id.clone(),
                BreachRecord { breach: breach.clone(), timeline: vec![first.clone()], head: (1, first.chain_hash()), escalations: vec![] },
            )
        });
        Ok(())
    }

    async fn load_breach(&self, id: &BreachId) -> Result<Option<BreachRecord>, StoreError> {
        Ok(self.with(|d| d.breaches.get(id).cloned()))
    }

    async fn list_breaches(&self) -> Result<Vec<BreachRecord>, StoreError> {
        Ok(self.with(|d| d.breaches.values().cloned().collect()))
    }

    async fn append_timeline(&self, expected: (u64, String), event: &TimelineEvent) -> Result<(), AppendError> {
        self.with(|d| {
            let r = d.breaches.get_mut(&event.breach_id).ok_or(AppendError::Conflict)?;
            if r.head != expected {
                return Err(AppendError::Conflict);
            }
            r.timeline.push(event.clone());
            r.head = (event.seq, event.chain_hash());
            Ok(())
        })
    }

    async fn begin_idempotent(&self, key: &str, request_hash: &str, now: Time, lease_until: Time) -> Result<IdempotencyStart, StoreError> {
        Ok(self.with(|d| match d.idempotency.get(key) {
            Some(Idempotency::Completed { hash, answer }) if hash == request_hash => IdempotencyStart::Completed(answer.clone()),
            Some(Idempotency::Completed { .. }) => IdempotencyStart::Mismatch,
            Some(Idempotency::InProgress { hash, .. }) if hash != request_hash => IdempotencyStart::Mismatch,
            Some(Idempotency::InProgress { lease_until, .. }) if *lease_until > now => IdempotencyStart::InProgress,
            _ => {
                d.idempotency.insert(key.to_owned(), Idempotency::InProgress { hash: request_hash.to_owned(), lease_until });
                IdempotencyStart::Started
            }
        }))
    }

    async fn finish_idempotent(&self, key: &str, response: &EscalationStarted, _expires_at: Time) -> Result<(), StoreError> {
        self.with(|d| {
            if let Some(Idempotency::InProgress { hash, .. }) = d.idempotency.get(key).cloned() {
                d.idempotency.insert(key.to_owned(), Idempotency::Completed { hash, answer: response.clone() });
            }
        });
        Ok(())
    }

    async fn abandon_idempotent(&self, key: &str, request_hash: &str) -> Result<(), StoreError> {
        self.with(|d| {
            if matches!(d.idempotency.get(key), Some(Idempotency::InProgress { hash, .. }) if hash == request_hash) {
                d.idempotency.remove(key);
            }
        });
        Ok(())
    }

    async fn create_escalation(
        &self,
        escalation: &EscalationRecord,
        recipients: &[Recipient],
        notice: Option<&PublicNotice>,
    ) -> Result<(), StoreError> {
        self.with(|d| {
            let r = d.breaches.get_mut(&escalation.breach_id).expect("the escalation's breach is stored");
            if !r.escalations.iter().any(|e| e.escalation_id == escalation.escalation_id) {
                r.escalations.push(escalation.clone());
            }
            for recipient in recipients {
                let entry = OutboxEntry { recipient: Some(recipient.clone()), lease_until: None, delivery: None };
                d.outbox.entry((escalation.escalation_id.clone(), recipient.subject.clone())).or_insert(entry);
            }
            if let Some(n) = notice {
                d.notices.insert(n.public_id.clone(), n.clone());
            }
        });
        Ok(())
    }

    async fn claim(&self, job: &Job, now: Time, lease_until: Time) -> Result<Claim, StoreError> {
        Ok(self.with(|d| match d.outbox.get_mut(&(job.escalation_id.clone(), job.subject.clone())) {
            None => Claim::Finished,
            Some(e) if e.delivery.is_some() => Claim::Finished,
            Some(e) if e.lease_until.is_some_and(|l| l > now) => Claim::Busy,
            Some(e) => {
                e.lease_until = Some(lease_until);
                e.recipient.clone().map(Claim::Claimed).unwrap_or(Claim::Finished)
            }
        }))
    }

    async fn forget_recipient(&self, subject: &SubjectId, now: Time) -> Result<usize, StoreError> {
        Ok(self.with(|d| {
            let mut n = 0;
            for ((_, s), e) in d.outbox.iter_mut() {
                if s == subject && e.delivery.is_none() && e.lease_until.is_none_or(|l| l <= now) {
                    e.delivery = Some((Delivery::Failed { reason: "erased".into() }, now));
                    e.recipient = None;
                    n += 1;
                }
            }
            n
        }))
    }

    async fn finish_recipient(&self, job: &Job, delivery: &Delivery, now: Time) -> Result<(), StoreError> {
        self.with(|d| {
            if let Some(e) = d.outbox.get_mut(&(job.escalation_id.clone(), job.subject.clone())) {
                e.delivery = Some((delivery.clone(), now));
                e.recipient = None;
            }
        });
        Ok(())
    }

    async fn record_accepted(&self, job: &Job, message_id: &str, now: Time) -> Result<bool, StoreError> {
        Ok(self.with(|d| match d.outbox.get_mut(&(job.escalation_id.clone(), job.subject.clone())) {
            Some(e) if !matches!(e.delivery, Some((Delivery::Sent { .. }, _))) => {
                e.delivery = Some((Delivery::Sent { message_id: message_id.to_owned() }, now));
                e.recipient = None;
                true
            }
            _ => false,
        }))
    }

    async fn release(&self, job: &Job) -> Result<(), StoreError> {
        self.with(|d| {
            if let Some(e) = d.outbox.get_mut(&(job.escalation_id.clone(), job.subject.clone())) {
                e.lease_until = None;
            }
        });
        Ok(())
    }

    async fn subjects_collected(
        &self,
        form: &FormId,
        from: Option<Time>,
        to: Option<Time>,
        purposes: &[PurposeId],
    ) -> Result<Vec<SubjectId>, StoreError> {
        Ok(self.with(|d| {
            d.collected
                .get(form)
                .into_iter()
                .flatten()
                .filter(|(_, p, at)| {
                    (purposes.is_empty() || purposes.contains(p)) && from.is_none_or(|f| *at >= f) && to.is_none_or(|t| *at <= t)
                })
                .map(|(s, _, _)| s.clone())
                .collect()
        }))
    }

    async fn contacts(&self, subjects: &[SubjectId]) -> Result<HashMap<SubjectId, Contact>, StoreError> {
        Ok(self.with(|d| subjects.iter().filter_map(|s| d.contacts.get(s).map(|c| (s.clone(), c.clone()))).collect()))
    }

    async fn public_notice(&self, public_id: &NoticeId) -> Result<Option<PublicNotice>, StoreError> {
        Ok(self.with(|d| d.notices.get(public_id).cloned()))
    }

    async fn record_feedback(&self, job: &Job, message_id: &str, _feedback: &str, _at: Time) -> Result<bool, StoreError> {
        Ok(self.with(|d| {
            matches!(d.outbox.get(&(job.escalation_id.clone(), job.subject.clone())),
                Some(OutboxEntry { delivery: Some((Delivery::Sent { message_id: sent }, _)), .. }) if sent == message_id)
        }))
    }

    async fn mark_undeliverable(&self, subject: &SubjectId, _at: Time) -> Result<(), StoreError> {
        self.with(|d| d.contacts.entry(subject.clone()).or_default().undeliverable = true);
        Ok(())
    }

    async fn delivery_counts(&self, escalation_id: &EscalationId) -> Result<DeliveryCounts, StoreError> {
        Ok(self.with(|d| {
            let mut c = DeliveryCounts::default();
            for ((e, _), entry) in &d.outbox {
                match &entry.delivery {
                    Some((Delivery::Sent { .. }, at)) if e == escalation_id => {
                        c.sent += 1;
                        c.last_finished_at = c.last_finished_at.max(Some(*at));
                    }
                    Some((Delivery::Failed { .. }, at)) if e == escalation_id => {
                        c.failed += 1;
                        c.last_finished_at = c.last_finished_at.max(Some(*at));
                    }
                    _ => {}
                }
            }
            c
        }))
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
        settings: crate::Settings::default(),
    }
}
