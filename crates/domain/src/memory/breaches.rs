//! The register, escalations and their outbox, in memory.

use std::collections::HashMap;

use super::{Idempotency, MemoryStore, OutboxEntry};
use crate::Time;
use crate::breach::Breach;
use crate::escalation::EscalationStarted;
use crate::ids::{BreachId, EscalationId, FormId, NoticeId, PurposeId, SubjectId};
use crate::store::{
    AppendError, BreachRecord, BreachStore, Claim, Contact, Delivery, DeliveryCounts, EscalationRecord, IdempotencyStart, Job,
    PublicNotice, Recipient, StoreError,
};
use crate::timeline::TimelineEvent;

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

    async fn breaches_aware_before(&self, before: Time) -> Result<Vec<BreachId>, StoreError> {
        Ok(self.with(|d| {
            let mut aware: Vec<&BreachRecord> = d.breaches.values().filter(|r| r.breach.aware_at < before).collect();
            aware.sort_by_key(|r| (r.breach.aware_at, r.breach.id.clone()));
            aware.into_iter().map(|r| r.breach.id.clone()).collect()
        }))
    }

    async fn purge_breach(&self, record: &BreachRecord) -> Result<bool, StoreError> {
        Ok(self.with(|d| {
            let id = &record.breach.id;
            match d.breaches.get(id) {
                Some(stored) if stored.head != record.head => return false,
                None => return false,
                Some(_) => {}
            }
            let stored = d.breaches.remove(id).expect("present");
            for e in &stored.escalations {
                d.outbox.retain(|(escalation, _), _| escalation != &e.escalation_id);
                if let Some(public) = &e.public_id {
                    d.notices.remove(public);
                }
            }
            true
        }))
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
            // What stored events say (the table's per-form event index), and what a test set up.
            let from_events = d.people.values().flat_map(|p| &p.events).filter_map(|e| {
                let f = &e.facts;
                (f.form_id.as_ref() == Some(form)).then(|| (f.subject_id.clone(), f.purpose.clone(), f.at))
            });
            let set_up = d.collected.get(form).into_iter().flatten().map(|(s, p, at)| (s.clone(), Some(p.clone()), *at));
            let mut out: Vec<SubjectId> = from_events
                .chain(set_up)
                .filter(|(_, p, at)| {
                    (purposes.is_empty() || p.as_ref().is_some_and(|p| purposes.contains(p)))
                        && from.is_none_or(|f| *at >= f)
                        && to.is_none_or(|t| *at <= t)
                })
                .map(|(s, _, _)| s)
                .collect();
            out.sort();
            out.dedup();
            out
        }))
    }

    async fn contacts(&self, subjects: &[SubjectId]) -> Result<HashMap<SubjectId, Contact>, StoreError> {
        let now = chrono::Utc::now();
        Ok(self.with(|d| {
            subjects
                .iter()
                .filter_map(|s| {
                    let p = d.people.get(s)?;
                    let contact = Contact {
                        profile: p.profile.clone().filter(|p| p.expires_at.is_none_or(|t| t > now)),
                        suppressed: p.suppressed_at.is_some(),
                        undeliverable: p.undeliverable,
                    };
                    Some((s.clone(), contact))
                })
                .collect()
        }))
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
        self.with(|d| d.people.entry(subject.clone()).or_default().undeliverable = true);
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
