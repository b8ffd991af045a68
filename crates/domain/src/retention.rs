//! Storage limitation (Art. 5(1)(e), 17(1)(a)): a person's address is kept while some purpose still
//! needs it, and erased unasked once none does, exactly as an erasure does, with a sealed event
//! whose channel says why (`storage_limitation`).
//!
//! What needs the address, purpose by purpose, from the person's current state:
//! - a consent given: for as long as it lasts (a withdrawal ends it);
//! - a consent requested and not yet confirmed: until the confirmation link expires;
//! - a contract, legal-obligation or legitimate-interest purpose the person was informed of: for
//!   the retention period of the form that collected it, counted from that submission;
//! - a consent refused or withdrawn: nothing.
//!
//! Once nothing personal is left (erased, or a request that lapsed), the PII-free records (sealed
//! events, chain head, erasure marker) are kept for `Settings::records_retention` after the last
//! event, the time within which a consent may have to be proved, and then the sweep deletes them.
//!
//! Every change of state puts the person on the sweep's worklist for the time it happened
//! (`Append::review_at`); the sweep judges them with everything stored, and erases them, moves the
//! review to the moment the last need ends, or drops it while a consent lasts (the next change
//! puts it back).

use std::collections::{BTreeMap, HashMap};

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Time;
use crate::error::Error;
use crate::ids::{FormId, PurposeId, SubjectId};
use crate::mail::Mailer;
use crate::proof::{Channel, EventKind, SealedEvent};
use crate::service::{Settings, Zgoda};
use crate::store::{Review, Store, SubjectRecord, WorkQueue};

/// How many reviews one sweep run judges: a run stays well inside a Lambda's time, and the next
/// run (an hour on) takes the rest.
pub const SWEEP_BATCH: usize = 500;

/// How long the person's address is still needed, judged from their events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "until", rename_all = "snake_case")]
pub enum AddressNeed {
    /// A consent is given, or a restriction awaits the controller's decision: kept until that
    /// changes, whenever it does.
    WhileConsentLasts,
    /// Until the last need ends (a contract's retention, a confirmation's deadline).
    Until(#[serde(with = "crate::proof::millis")] Time),
    /// Nothing needs it.
    NoLonger,
}

/// Each purpose's latest event since the person's last erasure: their current state.
pub fn current_events(events: &[SealedEvent]) -> BTreeMap<&PurposeId, &SealedEvent> {
    // A move ends a chain as an erasure does: what it held went on under the new address.
    let since_erasure = events.iter().rposition(|e| matches!(e.facts.kind, EventKind::Erased | EventKind::Moved)).map_or(0, |i| i + 1);
    let mut current: BTreeMap<&PurposeId, &SealedEvent> = BTreeMap::new();
    for e in &events[since_erasure..] {
        if let Some(purpose) = &e.facts.purpose {
            current.insert(purpose, e);
        }
    }
    current
}

/// How long one purpose needs the address, from its current event (see the module's list). A form
/// `retention_days` does not know keeps it a day more, to be judged again (a form is never
/// deleted, so this is a store that could not be read).
pub fn purpose_need(current: &SealedEvent, retention_days: impl Fn(&FormId) -> Option<u32>, confirm_ttl: Duration) -> AddressNeed {
    match current.facts.kind {
        // A restriction keeps the data stored, unused, until the controller decides (Art. 18(2)).
        EventKind::Given | EventKind::Restricted => AddressNeed::WhileConsentLasts,
        EventKind::Requested => AddressNeed::Until(current.facts.at + confirm_ttl),
        // An overruled objection is a fresh decision that the purpose needs the address: its
        // retention counts from it.
        EventKind::Informed | EventKind::Resumed => {
            let days = current.facts.form_id.as_ref().and_then(retention_days);
            AddressNeed::Until(current.facts.at + days.map_or(Duration::days(1), |d| Duration::days(d.into())))
        }
        EventKind::Refused | EventKind::Withdrawn | EventKind::Erased | EventKind::Objected => AddressNeed::NoLonger,
        // Name no purpose, so never a purpose's current event.
        EventKind::Rectified | EventKind::Moved | EventKind::MovedFrom => AddressNeed::NoLonger,
    }
}

/// What the events since the person's last erasure say about their address: the longest need of
/// any purpose. `retention_days` gives each form's retention period.
pub fn address_need(events: &[SealedEvent], retention_days: impl Fn(&FormId) -> Option<u32>, confirm_ttl: Duration) -> AddressNeed {
    let mut until: Option<Time> = None;
    for e in current_events(events).values() {
        match purpose_need(e, &retention_days, confirm_ttl) {
            AddressNeed::WhileConsentLasts => return AddressNeed::WhileConsentLasts,
            AddressNeed::Until(end) => until = until.max(Some(end)),
            AddressNeed::NoLonger => {}
        }
    }
    until.map_or(AddressNeed::NoLonger, AddressNeed::Until)
}

/// How many people recorded before the worklist existed one run puts on it (one page of the
/// table's scan; a stack that was running before the sweep catches up over its first runs).
pub const BACKFILL_BATCH: usize = 1000;

/// What one sweep run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    /// People recorded before the worklist existed, put on it by this run.
    pub backfilled: u64,
    /// People whose address nothing needed any more, erased now.
    pub erased: Vec<SubjectId>,
    /// People still needed for a time, to be judged again then.
    pub deferred: u64,
    /// People whose consent lasts, or who hold nothing any more: off the worklist.
    pub settled: u64,
    /// Reviews that could not be judged and breaches that could not be purged (logged; the next run
    /// tries them again).
    pub failed: u64,
    /// People whose PII-free records outlived the records' retention, deleted now.
    #[serde(default)]
    pub purged: u64,
    /// Breaches nothing was recorded on for the breach retention, deleted now.
    #[serde(default)]
    pub breaches_purged: u64,
    /// Privacy requests recorded before requests were handled, filed by this run so the operator
    /// finds them by id and in the lists.
    #[serde(default)]
    pub requests_indexed: u64,
    /// Erasures' changes whose address was forgotten, once recipients had it long enough
    /// (`changes::ERASED_ADDRESS_KEPT`).
    #[serde(default)]
    pub erased_addresses_forgotten: u64,
}

/// What the sweep did with one review.
enum Judged {
    Erased,
    Deferred,
    Settled,
    Purged,
    /// The chain moved since it was read; the append that moved it put the person back.
    Moved,
}

/// The one step of a sweep that needs a key: an erasure, whose event is sealed. A deployed sweep
/// reads its key rings only when a run comes to one (`retention-sweep`'s `answer`), so the common
/// run, which erases nobody, neither waits for nor holds the seals key.
pub trait RetentionErasure {
    /// Erases the subject `record` describes, as [`Zgoda`]'s storage-limitation erasure does:
    /// false when the chain moved since it was read.
    fn erase_as_judged(&self, subject: &SubjectId, record: &SubjectRecord, now: Time) -> impl Future<Output = Result<bool, Error>> + Send;
}

impl<S: Store, M: Mailer, Q: WorkQueue> RetentionErasure for Zgoda<S, M, Q> {
    fn erase_as_judged(&self, subject: &SubjectId, record: &SubjectRecord, now: Time) -> impl Future<Output = Result<bool, Error>> + Send {
        Zgoda::erase_as_judged(self, subject, record, Channel::StorageLimitation, now)
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// One run of the storage-limitation sweep at `now` (a schedule calls it hourly).
    pub async fn retention_sweep(&self, now: Time) -> Result<SweepReport, Error> {
        Sweep { store: &self.store, settings: &self.settings, erasure: self }.run(now).await
    }
}

/// One run's store, settings and erasure: everything but the erasure is the store's work.
pub struct Sweep<'a, S, E> {
    pub store: &'a S,
    pub settings: &'a Settings,
    pub erasure: &'a E,
}

impl<S: Store, E: RetentionErasure + Sync> Sweep<'_, S, E> {
    /// One run of the storage-limitation sweep at `now`.
    pub async fn run(&self, now: Time) -> Result<SweepReport, Error> {
        let mut report =
            SweepReport { backfilled: self.store.backfill_reviews(now, BACKFILL_BATCH).await?.unwrap_or(0), ..SweepReport::default() };
        let mut forms: HashMap<FormId, Option<u32>> = HashMap::new();
        for review in self.store.due_reviews(now, SWEEP_BATCH).await? {
            // One person who cannot be judged (a record that does not read) must not hold up
            // everyone due after them, run after run.
            match self.judge(&review, &mut forms, now).await {
                Ok(Judged::Erased) => report.erased.push(review.subject.clone()),
                Ok(Judged::Deferred) => report.deferred += 1,
                Ok(Judged::Settled) => report.settled += 1,
                Ok(Judged::Purged) => report.purged += 1,
                Ok(Judged::Moved) => {}
                Err(e) => {
                    tracing::warn!(subject = %review.subject, error = %e, "review not judged; it stays due");
                    report.failed += 1;
                }
            }
        }
        report.requests_indexed = self.store.index_earlier_requests(BACKFILL_BATCH).await?.unwrap_or(0);
        let told_long_enough = now - crate::changes::ERASED_ADDRESS_KEPT;
        report.erased_addresses_forgotten = self.store.forget_erased_addresses(told_long_enough).await? as u64;
        self.purge_breaches(now, &mut report).await?;
        Ok(report)
    }

    /// Deletes the breaches nothing was recorded on for `Settings::breach_retention` (Art. 5(1)(e)
    /// reaches the register too): a breach that cannot be read is logged, counted under `failed`
    /// and tried again on the next run.
    async fn purge_breaches(&self, now: Time, report: &mut SweepReport) -> Result<(), Error> {
        let cutoff = now - self.settings.breach_retention;
        for id in self.store.breaches_aware_before(cutoff).await? {
            let purged = async {
                match self.store.load_breach(&id).await? {
                    Some(record) if record.last_activity() < cutoff => self.store.purge_breach(&record).await,
                    _ => Ok(false),
                }
            };
            match purged.await {
                Ok(true) => report.breaches_purged += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(breach = %id, error = %e, "breach past its retention not purged; the next run tries again");
                    report.failed += 1;
                }
            }
        }
        Ok(())
    }

    /// Judges one review; `forms` caches each form's retention for the run.
    async fn judge(&self, review: &Review, forms: &mut HashMap<FormId, Option<u32>>, now: Time) -> Result<Judged, Error> {
        let record = self.store.load_subject(&review.subject).await?;
        if !record.holds_personal_data() {
            // Only PII-free records are left: kept for the records' retention after the last thing
            // that happened, then deleted (Art. 5(1)(e): nothing is kept for ever).
            let last = record.events.iter().map(|e| e.facts.at).max();
            return match last.map(|at| at + self.settings.records_retention) {
                Some(until) if until > now => {
                    self.store.settle_review(review, Some(until)).await?;
                    Ok(Judged::Deferred)
                }
                _ => match self.store.purge_subject(&review.subject, record.head.as_ref()).await? {
                    true => Ok(Judged::Purged),
                    false => Ok(Judged::Moved),
                },
            };
        }
        for form in record.events.iter().filter_map(|e| e.facts.form_id.as_ref()) {
            if !forms.contains_key(form) {
                let days = self.store.load_form(form).await?.map(|f| f.form.retention_days);
                forms.insert(form.clone(), days);
            }
        }
        match address_need(&record.events, |f| forms.get(f).copied().flatten(), self.settings.confirm_ttl) {
            AddressNeed::WhileConsentLasts => {
                self.store.settle_review(review, None).await?;
                Ok(Judged::Settled)
            }
            AddressNeed::Until(end) if end > now => {
                self.store.settle_review(review, Some(end)).await?;
                Ok(Judged::Deferred)
            }
            AddressNeed::Until(_) | AddressNeed::NoLonger => {
                // Only the chain as judged is erased: a consent given meanwhile moves it, and
                // that append has put the person back on the worklist to be judged again.
                match self.erasure.erase_as_judged(&review.subject, &record, now).await? {
                    true => Ok(Judged::Erased),
                    false => Ok(Judged::Moved),
                }
            }
        }
    }
}

/// The sweep over the in-memory adapters; the same run is tested through DynamoDB in
/// `tests/integration/retention.rs`.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{self, MemoryApp, fixtures::*};
    use crate::proof;
    use crate::store::{BreachStore, SubjectStore};

    fn purpose(id: &str) -> PurposeId {
        PurposeId::parse(id).unwrap()
    }

    async fn need(app: &MemoryApp, address: &str) -> AddressNeed {
        let record = app.store.load_subject(&app.subject_id(&email(address))).await.unwrap();
        address_need(&record.events, |_| Some(365), app.settings.confirm_ttl)
    }

    #[tokio::test]
    async fn art17_1b_the_sweep_erases_a_person_whose_last_consent_was_withdrawn_once_their_contract_retention_ran_out() {
        let app = memory::app();
        let form = form(&app, single_opt_in_input()).await;
        let t0 = now();
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        post(&app, &form, "bartek@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let anna = app.subject_id(&email("anna@example.pl"));
        app.withdraw(&anna, &purpose("newsletter"), Channel::EmailLink, None, t0).await.unwrap();
        assert_eq!(need(&app, "bartek@example.pl").await, AddressNeed::WhileConsentLasts);
        assert!(matches!(need(&app, "anna@example.pl").await, AddressNeed::Until(t) if t > t0 + Duration::days(364)));

        // Today: the contract still needs Anna's address; Bartek's consent lasts, off the list.
        let today = app.retention_sweep(t0 + Duration::minutes(1)).await.unwrap();
        assert_eq!(
            today,
            SweepReport {
                backfilled: 0,
                erased: vec![],
                deferred: 1,
                settled: 1,
                failed: 0,
                purged: 0,
                breaches_purged: 0,
                requests_indexed: 0,
                erased_addresses_forgotten: 0
            }
        );
        assert!(app.store.holds_anything_personal(&anna));

        // A year and a day on: only Anna is judged again, and erased as an erasure does.
        let later = app.retention_sweep(t0 + Duration::days(366)).await.unwrap();
        assert_eq!(
            later,
            SweepReport {
                backfilled: 0,
                erased: vec![anna.clone()],
                deferred: 0,
                settled: 0,
                failed: 0,
                purged: 0,
                breaches_purged: 0,
                requests_indexed: 0,
                erased_addresses_forgotten: 0
            }
        );
        assert!(!app.store.holds_anything_personal(&anna), "profile, submissions and states are gone");
        let record = app.store.load_subject(&anna).await.unwrap();
        assert!(record.suppressed_at.is_some(), "a suppression entry, as every erasure leaves");
        let last = &record.events.last().unwrap().facts;
        assert_eq!((last.kind, last.channel), (EventKind::Erased, Channel::StorageLimitation), "a sealed event says why");
        assert!(proof::verify_chain(app.keys.seals(), &anna, &record.events, record.head.as_ref()).verified);
        assert_eq!(app.mailer.forgotten(), [email("anna@example.pl")], "the provider's copy goes too");
        assert!(app.store.holds_anything_personal(&app.subject_id(&email("bartek@example.pl"))));
        // Nobody is left to judge; the address Anna's erasure told recipients is forgotten (Art. 19).
        let last_run = app.retention_sweep(t0 + Duration::days(800)).await.unwrap();
        assert_eq!(last_run, SweepReport { erased_addresses_forgotten: 1, ..SweepReport::default() });
        assert!(app.store.all_changes().iter().all(|c| c.erased_address.is_none()));
    }

    #[tokio::test]
    async fn art5_1e_proofs_past_the_records_retention_are_deleted_while_younger_ones_verify() {
        let app = memory::app();
        let form = form(&app, single_opt_in_input()).await;
        let t0 = now();
        let retention = app.settings.records_retention;
        for address in ["anna@example.pl", "bartek@example.pl", "celina@example.pl"] {
            post(&app, &form, address, &["newsletter", "contact_reply"]).await.unwrap();
        }
        app.erase_by_email(&email("anna@example.pl"), t0).await.unwrap();
        app.erase_by_email(&email("bartek@example.pl"), t0 + Duration::days(365)).await.unwrap();
        let (anna, bartek) = (app.subject_id(&email("anna@example.pl")), app.subject_id(&email("bartek@example.pl")));

        // Within the retention nothing of an erased person goes.
        let within = app.retention_sweep(t0 + retention - Duration::minutes(1)).await.unwrap();
        assert_eq!((within.purged, within.deferred), (0, 0), "{within:?}");
        assert!(!app.store.load_subject(&anna).await.unwrap().events.is_empty());

        // Past Anna's: her proofs and erasure marker are gone; Bartek's, a year younger, verify.
        let past = app.retention_sweep(t0 + retention + Duration::minutes(1)).await.unwrap();
        assert_eq!(past.purged, 1, "{past:?}");
        let gone = app.store.load_subject(&anna).await.unwrap();
        assert!(gone.events.is_empty() && gone.head.is_none() && gone.suppressed_at.is_none(), "{gone:?}");
        let kept = app.store.load_subject(&bartek).await.unwrap();
        assert!(proof::verify_chain(app.keys.seals(), &bartek, &kept.events, kept.head.as_ref()).verified);
        assert!(kept.suppressed_at.is_some());
        // Celina, whose consent lasts, keeps everything.
        assert!(app.store.holds_anything_personal(&app.subject_id(&email("celina@example.pl"))));

        let later = app.retention_sweep(t0 + Duration::days(365) + retention + Duration::minutes(1)).await.unwrap();
        assert_eq!(later.purged, 1, "Bartek's turn: {later:?}");
        assert!(app.store.load_subject(&bartek).await.unwrap().events.is_empty());
    }

    #[tokio::test]
    async fn art5_1e_people_erased_before_their_proofs_had_a_retention_are_put_on_the_worklist_and_purged() {
        let app = memory::app();
        let form = form(&app, single_opt_in_input()).await;
        let t0 = now();
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        app.erase_by_email(&email("anna@example.pl"), t0).await.unwrap();
        let anna = app.subject_id(&email("anna@example.pl"));
        app.store.drop_review(&anna);

        let past = app.retention_sweep(t0 + app.settings.records_retention + Duration::minutes(1)).await.unwrap();
        assert_eq!((past.backfilled, past.purged), (1, 1), "{past:?}");
        assert!(app.store.load_subject(&anna).await.unwrap().events.is_empty());
    }

    #[tokio::test]
    async fn art5_1e_a_breach_and_its_notices_are_deleted_once_the_breach_retention_has_run_from_its_last_entry() {
        use crate::breach::tests::{input, now as registered_at, ops};
        use crate::ids::IdempotencyKey;
        let app = memory::app();
        let id = crate::register::tests::registered(&app, input()).await.breach.id;
        let message =
            serde_json::json!({"subjects": {"emails": ["anna@example.pl"]}, "message": {"pl": "Zmień hasło."}, "public_notice": true});
        let escalated_at = registered_at() + Duration::days(30);
        let started = app.escalate(&id, IdempotencyKey::parse("k"), &message, &ops(), escalated_at).await.unwrap();
        let record = app.store.load_breach(&id).await.unwrap().unwrap();
        let public_id = record.escalations[0].public_id.clone().unwrap();
        let retention = app.settings.breach_retention;

        // Counted from the escalation, the last thing recorded, not from the registration.
        let within = app.retention_sweep(registered_at() + retention + Duration::days(1)).await.unwrap();
        assert_eq!(within.breaches_purged, 0, "{within:?}");
        assert!(app.breach(&id, escalated_at).await.is_ok());

        let past = app.retention_sweep(escalated_at + retention + Duration::minutes(1)).await.unwrap();
        assert_eq!(past.breaches_purged, 1, "{past:?}");
        assert!(matches!(app.breach(&id, escalated_at).await, Err(Error::BreachNotFound)));
        assert!(app.store.deliveries(&started.escalation_id).is_empty(), "its outbox went with it");
        assert!(matches!(app.public_notice(&public_id).await, Err(Error::NoticeNotFound)), "and its public notice");
        assert_eq!(app.retention_sweep(escalated_at + retention + Duration::days(1)).await.unwrap(), SweepReport::default());
    }

    #[tokio::test]
    async fn art5_1e_a_consent_before_an_erasure_does_not_keep_the_address_of_a_person_who_came_back() {
        let app = memory::app();
        let form = form(&app, single_opt_in_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        app.erase_by_email(&email("anna@example.pl"), now()).await.unwrap();
        // Back after the erasure: the newsletter waits for confirmation (security review M1).
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let AddressNeed::Until(end) = need(&app, "anna@example.pl").await else { panic!("the old consent counted") };
        assert!(end > now() + Duration::days(364), "the contract's year, not the confirmation's week");
    }

    #[tokio::test]
    async fn art5_1e_withdrawing_a_consent_given_after_the_judgement_is_judged_again_not_lost() {
        let app = memory::app();
        let form = form(&app, single_opt_in_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        // Read after the post: a post that crossed into the next millisecond is not yet due before it.
        let t0 = now();
        let anna = app.subject_id(&email("anna@example.pl"));
        assert_eq!(app.retention_sweep(t0).await.unwrap().settled, 1, "a consent lasts: off the list");
        app.withdraw(&anna, &purpose("newsletter"), Channel::EmailLink, None, t0 + Duration::days(400)).await.unwrap();
        let report = app.retention_sweep(t0 + Duration::days(400)).await.unwrap();
        assert_eq!(report.erased, [anna], "the withdrawal put her back on the list, past the contract's year");
    }
}
