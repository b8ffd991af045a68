//! People, their sealed chains, profiles, submissions and audiences, in memory; and the health
//! records of smoke runs. Items past their expiry read as gone at once, as the DynamoDB adapter
//! reads them (DynamoDB deletes them late).

use super::{MemoryStore, Person};
use crate::Time;
use crate::ids::{PurposeId, RequestId, SubjectId};
use crate::proof::EventKind;
use crate::smoke::{SIMULATOR_SUCCESS, SmokeRun, SmokeRunId, SmokeStep};
use crate::store::{
    Append, AppendError, AudienceError, AudienceMember, ChainStart, Erasure, Health, PrivacyRequest, Profile, RequestStore,
    RetentionReviews, Review, StoreError, SubjectRecord, SubjectStore,
};

impl Person {
    fn profile_at(&self, now: Time) -> Option<Profile> {
        self.profile.clone().filter(|p| p.expires_at.is_none_or(|t| t > now))
    }

    /// Whether `append` may extend this chain: its head is the one the events were chained to.
    fn accepts(&self, append: &Append) -> bool {
        self.head == append.expected_head && !append.events.iter().any(|e| self.events.iter().any(|x| x.facts.event_id == e.facts.event_id))
    }

    /// The writes of one append, as the adapter's transaction makes them.
    fn apply(&mut self, a: Append) {
        self.head = Some(a.new_head);
        self.events.extend(a.events);
        for state in a.states {
            self.states.insert(state.purpose.clone(), state);
        }
        if let Some(p) = a.profile {
            self.profile = Some(p);
        }
        for s in a.submissions {
            self.submissions.insert(s.receipt_id.clone(), s);
        }
        if a.lift_suppression {
            self.suppressed_at = None;
            self.undeliverable = false;
        }
        if a.review_at.is_some() {
            self.review_at = a.review_at;
        }
    }
}

impl SubjectStore for MemoryStore {
    async fn load_head(&self, subject: &SubjectId) -> Result<Option<crate::proof::ChainHead>, StoreError> {
        Ok(self.with(|d| d.people.get(subject).and_then(|p| p.head.clone())))
    }

    async fn load_subject(&self, subject: &SubjectId) -> Result<SubjectRecord, StoreError> {
        let now = chrono::Utc::now();
        Ok(self.with(|d| {
            let Some(p) = d.people.get(subject) else { return SubjectRecord::default() };
            SubjectRecord {
                profile: p.profile_at(now),
                head: p.head.clone(),
                events: p.events.clone(),
                submissions: p.submissions.values().filter(|s| s.expires_at > now).cloned().collect(),
                requests: p.requests.clone(),
                suppressed_at: p.suppressed_at,
                moving_to: p.moving_to.clone().filter(|m| m.expires_at > now),
                incoming: p.incoming.clone().filter(|i| i.expires_at > now),
                told: p.told.values().cloned().collect(),
            }
        }))
    }

    async fn load_profile(&self, subject: &SubjectId) -> Result<Option<Profile>, StoreError> {
        let now = chrono::Utc::now();
        Ok(self.with(|d| d.people.get(subject).and_then(|p| p.profile_at(now))))
    }

    async fn load_chain_start(&self, subject: &SubjectId) -> Result<ChainStart, StoreError> {
        Ok(self.with(|d| match d.people.get(subject) {
            None => ChainStart::default(),
            Some(p) => ChainStart { head: p.head.clone(), suppressed: p.suppressed_at.is_some() },
        }))
    }

    async fn append(&self, append: Append) -> Result<(), AppendError> {
        self.with(|d| {
            let person = d.people.entry(append.subject.clone()).or_default();
            if !person.accepts(&append) {
                return Err(AppendError::Conflict);
            }
            let changes = append.changes.clone();
            person.apply(append);
            d.add_changes(changes);
            Ok(())
        })
    }

    async fn erase(&self, e: Erasure) -> Result<(), AppendError> {
        self.with(|d| {
            // All conditions first, then every write: one transaction. A spent token is reported
            // before a moved chain, as the adapter reads the transaction's cancellation reasons.
            let now = e.at;
            if let Some((key, _)) = &e.spend_token
                && d.markers.get(&key.to_string()).is_some_and(|until| *until > now)
            {
                return Err(AppendError::Spent);
            }
            let person = d.people.entry(e.append.subject.clone()).or_default();
            if !person.accepts(&e.append) {
                return Err(AppendError::Conflict);
            }
            let (changes, subject) = (e.append.changes.clone(), e.append.subject.clone());
            person.apply(e.append);
            d.add_changes(changes);
            let person = d.people.get_mut(&subject).expect("just written");
            person.profile = None;
            person.submissions.clear();
            person.states.clear();
            person.moving_to = None;
            if e.suppress {
                person.suppressed_at = Some(e.at);
            }
            if let Some((key, expires_at)) = &e.spend_token {
                d.mark_once(key, *expires_at, now);
            }
            Ok(())
        })
    }

    async fn begin_address_change(
        &self,
        from: &SubjectId,
        to: &SubjectId,
        pending: &crate::address_change::PendingAddress,
    ) -> Result<(), StoreError> {
        self.with(|d| {
            d.people.entry(from.clone()).or_default().moving_to = Some(pending.clone());
            d.people.entry(to.clone()).or_default().incoming = Some(pending.incoming(from));
        });
        Ok(())
    }

    async fn record_request(&self, subject: &SubjectId, request: &PrivacyRequest) -> Result<(), StoreError> {
        self.with(|d| d.people.entry(subject.clone()).or_default().requests.push(request.clone()));
        Ok(())
    }

    async fn audience(
        &self,
        purpose: &PurposeId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AudienceMember>, Option<String>), AudienceError> {
        let after = cursor.map(|c| decode_cursor(c).ok_or(AudienceError::BadCursor)).transpose()?;
        let now = chrono::Utc::now();
        Ok(self.with(|d| {
            // The audience index: every given state for the purpose, in (since, subject) order.
            let mut given: Vec<(Time, SubjectId)> = d
                .people
                .iter()
                .filter_map(|(sid, p)| p.states.get(purpose).filter(|s| s.status == EventKind::Given).map(|s| (s.since, sid.clone())))
                .filter(|key| after.as_ref().is_none_or(|a| key > a))
                .collect();
            given.sort();
            let more = given.len() > limit;
            given.truncate(limit);
            let next = more.then(|| given.last().map(encode_cursor)).flatten();
            let members = given
                .into_iter()
                .filter_map(|(given_at, subject)| {
                    let p = d.people.get(&subject)?.profile_at(now)?;
                    Some(AudienceMember { subject, email: p.email, lang: p.lang, given_at })
                })
                .collect();
            (members, next)
        }))
    }
}

impl RetentionReviews for MemoryStore {
    async fn due_reviews(&self, now: Time, limit: usize) -> Result<Vec<Review>, StoreError> {
        Ok(self.with(|d| {
            let mut due: Vec<Review> = d
                .people
                .iter()
                .filter_map(|(subject, p)| p.review_at.filter(|at| *at <= now).map(|due_at| Review { subject: subject.clone(), due_at }))
                .collect();
            due.sort_by(|a, b| (a.due_at, &a.subject).cmp(&(b.due_at, &b.subject)));
            due.truncate(limit);
            due
        }))
    }

    async fn backfill_reviews(&self, at: Time, _limit: usize) -> Result<Option<u64>, StoreError> {
        Ok(self.with(|d| {
            if d.reviews_backfilled {
                return None;
            }
            d.reviews_backfilled = true;
            let mut added = 0;
            for p in d.people.values_mut().filter(|p| p.head.is_some() && p.review_at.is_none()) {
                p.review_at = Some(at);
                added += 1;
            }
            Some(added)
        }))
    }

    async fn purge_subject(&self, subject: &SubjectId, seen: Option<&crate::proof::ChainHead>) -> Result<bool, StoreError> {
        Ok(self.with(|d| {
            let Some(person) = d.people.get_mut(subject) else { return true };
            if person.head.as_ref() != seen {
                return false;
            }
            let requests = std::mem::take(&mut person.requests);
            *person = Default::default();
            person.requests = requests;
            true
        }))
    }

    async fn settle_review(&self, review: &Review, next: Option<Time>) -> Result<(), StoreError> {
        self.with(|d| {
            if let Some(p) = d.people.get_mut(&review.subject).filter(|p| p.review_at == Some(review.due_at)) {
                p.review_at = next;
            }
        });
        Ok(())
    }
}

fn encode_cursor((since, subject): &(Time, SubjectId)) -> String {
    format!("{}.{subject}", since.timestamp_millis())
}

fn decode_cursor(cursor: &str) -> Option<(Time, SubjectId)> {
    let (millis, subject) = cursor.split_once('.')?;
    Some((chrono::DateTime::from_timestamp_millis(millis.parse().ok()?)?, SubjectId::parse(subject)?))
}

impl Health for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn record_smoke(&self, run: &SmokeRunId, step: &SmokeStep, at: Time) -> Result<(), StoreError> {
        self.with(|d| {
            let r = d.smoke.entry(run.as_str().to_owned()).or_insert_with(|| SmokeRun {
                run_id: run.as_str().to_owned(),
                to: SIMULATOR_SUCCESS.to_owned(),
                ..SmokeRun::default()
            });
            match step {
                SmokeStep::Sent { message_id, stream } => {
                    r.sent_at = Some(at);
                    r.message_id = Some(message_id.clone());
                    r.stream = Some(*stream);
                }
                SmokeStep::SendEvent => r.send_event_at = Some(at),
                SmokeStep::DeliveryEvent => r.delivery_event_at = Some(at),
            }
        });
        Ok(())
    }

    async fn load_smoke(&self, run: &SmokeRunId) -> Result<Option<SmokeRun>, StoreError> {
        Ok(self.with(|d| d.smoke.get(run.as_str()).cloned()))
    }
}

impl RequestStore for MemoryStore {
    async fn load_request(&self, id: &RequestId) -> Result<Option<(SubjectId, PrivacyRequest)>, StoreError> {
        Ok(self.with(|d| {
            d.people.iter().find_map(|(subject, p)| p.requests.iter().find(|r| &r.request_id == id).map(|r| (subject.clone(), r.clone())))
        }))
    }

    async fn list_requests(&self, open: bool, due_by: Option<Time>) -> Result<Vec<(SubjectId, PrivacyRequest)>, StoreError> {
        let mut listed: Vec<(SubjectId, PrivacyRequest)> = self.with(|d| {
            d.people
                .iter()
                .flat_map(|(subject, p)| p.requests.iter().map(move |r| (subject.clone(), r.clone())))
                .filter(|(_, r)| r.status().is_open() == open && due_by.is_none_or(|by| r.due() <= by))
                .collect()
        });
        match open {
            true => listed.sort_by_key(|(_, r)| (r.due(), r.request_id.clone())),
            false => listed.sort_by_key(|(_, r)| std::cmp::Reverse((r.closing.as_ref().map(|c| c.at), r.request_id.clone()))),
        }
        Ok(listed)
    }

    /// Every request in memory is found and listed as it is recorded: nothing to file.
    async fn index_earlier_requests(&self, _limit: usize) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    async fn update_request(&self, subject: &SubjectId, request: &PrivacyRequest) -> Result<bool, StoreError> {
        Ok(self.with(|d| {
            let stored = d.people.get_mut(subject).and_then(|p| p.requests.iter_mut().find(|r| r.request_id == request.request_id));
            match stored {
                Some(stored) if stored.revision + 1 == request.revision => {
                    *stored = request.clone();
                    true
                }
                _ => false,
            }
        }))
    }
}
