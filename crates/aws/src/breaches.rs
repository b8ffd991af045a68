//! The breach register, escalations and their outbox on the one table. Records and timeline
//! entries are stored as JSON text so their sealed bytes come back exactly as written.
//!
//! | pk                         | sk                  | what                                     |
//! |----------------------------|---------------------|------------------------------------------|
//! | `BREACH#<id>`              | `RECORD`            | the registration; `gsi1`: `BREACHES`     |
//! | `BREACH#<id>`              | `HEAD`              | timeline chain head                      |
//! | `BREACH#<id>`              | `EVENT#<ulid>`      | a sealed timeline entry                  |
//! | `BREACH#<id>`              | `ESCALATION#<id>`   | an escalation and its counters           |
//! | `OUTBOX#<esc>#<shard>`     | `R#<sid>`           | one recipient (16 shards by subject id); |
//! |                            |                     | `ttl` (and the address) until finished   |
//! | `IDEMPOTENCY#<key>`        | `RECORD`            | Powertools-style idempotency record      |
//! | `PUBLICNOTICE#<id>`        | `NOTICE`            | an Art. 34(3)(c) public communication    |
//!
//! SES feedback finds a breach notice's outbox item by the message's tags, which name it.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};
use futures_util::{StreamExt, TryStreamExt, stream};
use zgoda_domain::Time;
use zgoda_domain::breach::Breach;
use zgoda_domain::email::EmailAddress;
use zgoda_domain::escalation::EscalationStarted;
use zgoda_domain::escalation::SEND_LEASE;
use zgoda_domain::ids::{BreachId, EscalationId, FormId, NoticeId, PurposeId, SubjectId};
use zgoda_domain::proof::format_time;
use zgoda_domain::store::{
    AppendError, BreachRecord, BreachStore, Claim, Contact, Delivery, DeliveryCounts, EscalationRecord, IdempotencyStart, Job,
    PublicNotice, Recipient, StoreError,
};
use zgoda_domain::timeline::TimelineEvent;

use crate::dynamo::{
    DynamoStore, condition_failed, condition_failed_at, corrupt, keyed, put, subject_key, subject_pk, unavailable, written,
};
use crate::item::{Item, get_s, n, s};
use crate::table::{GSI, GSI_PARTITION_KEY, GSI_SORT_KEY, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

/// How long an unfinished recipient's outbox item (which holds their address) may outlive the
/// escalation's start: far longer than any escalation runs, short of keeping it for ever.
pub const OUTBOX_KEPT: chrono::Duration = chrono::Duration::days(30);

/// Outbox writes in flight at once: enough to keep DynamoDB busy, few enough for one Lambda.
const WRITE_CONCURRENCY: usize = 16;

fn breach_pk(id: &BreachId) -> String {
    format!("BREACH#{id}")
}

fn outbox_key(job_escalation: &EscalationId, subject: &SubjectId) -> (String, String) {
    // One partition takes about 1,000 writes a second; 16 shards keep a large fan-out below that.
    let shard = &subject.as_str()[..1];
    (format!("OUTBOX#{job_escalation}#{shard}"), format!("R#{subject}"))
}

fn parse_time(item: &Item, name: &str) -> Option<Time> {
    get_s(item, name).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc())
}

fn number(item: &Item, name: &str) -> u64 {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Who records a recipient's outcome: the worker that claimed it, or SES's Send event for it.
#[derive(Clone, Copy)]
enum RecordedBy {
    Worker,
    SendEvent,
}

/// The outbox's 16 shards: the first hex digit of the subject id.
const SHARDS: &str = "0123456789abcdef";

impl BreachStore for DynamoStore {
    async fn create_breach(&self, breach: &Breach, first: &TimelineEvent) -> Result<(), StoreError> {
        let pk = breach_pk(&breach.id);
        let t = self.table();
        let mut record =
            keyed(pk.clone(), "RECORD".into(), Item::from([("breach".to_owned(), s(serde_json::to_string(breach).expect("serializes")))]));
        record.insert(GSI_PARTITION_KEY.into(), s("BREACHES"));
        record.insert(GSI_SORT_KEY.into(), s(format!("{}#{}", format_time(&breach.aware_at), breach.id)));
        let head =
            keyed(pk.clone(), "HEAD".into(), Item::from([("seq".to_owned(), n(first.seq)), ("hash".to_owned(), s(first.chain_hash()))]));
        let writes = vec![
            put(t, record, Some("attribute_not_exists(pk)")),
            put(t, head, None),
            put(t, event_item(&pk, first), Some("attribute_not_exists(pk)")),
        ];
        self.client().transact_write_items().set_transact_items(Some(writes)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn load_breach(&self, id: &BreachId) -> Result<Option<BreachRecord>, StoreError> {
        let items = self.partition(&breach_pk(id)).await?;
        let mut breach = None;
        let mut head = (0, zgoda_domain::proof::GENESIS_HASH.to_owned());
        let mut timeline = Vec::new();
        let mut escalations: Vec<EscalationRecord> = Vec::new();
        for item in &items {
            match get_s(item, SORT_KEY).unwrap_or("") {
                "RECORD" => {
                    breach = Some(serde_json::from_str::<Breach>(get_s(item, "breach").unwrap_or("")).map_err(|e| corrupt("breach", e))?)
                }
                "HEAD" => head = (number(item, "seq"), get_s(item, "hash").unwrap_or("").to_owned()),
                sk if sk.starts_with("EVENT#") => timeline
                    .push(serde_json::from_str::<TimelineEvent>(get_s(item, "event").unwrap_or("")).map_err(|e| corrupt("timeline", e))?),
                sk if sk.starts_with("ESCALATION#") => {
                    escalations.push(serde_json::from_str(get_s(item, "escalation").unwrap_or("")).map_err(|e| corrupt("escalation", e))?)
                }
                _ => {}
            }
        }
        timeline.sort_by_key(|e| e.seq);
        escalations.sort_by_key(|e| e.started_at);
        Ok(breach.map(|breach| BreachRecord { breach, timeline, head, escalations }))
    }

    async fn list_breaches(&self) -> Result<Vec<BreachRecord>, StoreError> {
        let ids: Vec<BreachId> = self
            .gsi_partition("BREACHES")
            .await?
            .iter()
            .filter_map(|i| BreachId::parse(get_s(i, PARTITION_KEY)?.strip_prefix("BREACH#")?))
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.load_breach(&id).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn breaches_aware_before(&self, before: Time) -> Result<Vec<BreachId>, StoreError> {
        let query = self
            .gsi_query("BREACHES")
            .key_condition_expression("#pk = :pk AND #sk < :before")
            .expression_attribute_names("#sk", GSI_SORT_KEY)
            .expression_attribute_values(":before", s(format_time(&before)));
        let items = self.query_all(query).await?;
        Ok(items.iter().filter_map(|i| BreachId::parse(get_s(i, PARTITION_KEY)?.strip_prefix("BREACH#")?)).collect())
    }

    async fn purge_breach(&self, record: &BreachRecord) -> Result<bool, StoreError> {
        let pk = breach_pk(&record.breach.id);
        // The head goes first, on the condition that it is the one read: an entry added meanwhile
        // keeps the breach, and an entry added after finds no head and is refused. A head already
        // gone is a purge cut short, finished now.
        let head = self.client().delete_item().table_name(self.table()).key(PARTITION_KEY, s(&pk)).key(SORT_KEY, s("HEAD"));
        let head = match record.head.0 {
            0 => head.condition_expression("attribute_not_exists(pk)"),
            seq => head
                .condition_expression("#seq = :seq AND #hash = :hash")
                .expression_attribute_names("#seq", "seq")
                .expression_attribute_names("#hash", "hash")
                .expression_attribute_values(":seq", n(seq))
                .expression_attribute_values(":hash", s(&record.head.1)),
        };
        if !written(head.send().await)? {
            return Ok(false);
        }
        // Then what the escalations name, while they still name it.
        for e in &record.escalations {
            for shard in SHARDS.chars() {
                let outbox = format!("OUTBOX#{}#{shard}", e.escalation_id);
                let keys =
                    self.partition(&outbox).await?.iter().filter_map(|i| Some((outbox.clone(), get_s(i, SORT_KEY)?.to_owned()))).collect();
                self.batch_delete(keys).await?;
            }
            if let Some(public) = &e.public_id {
                self.batch_delete(vec![(format!("PUBLICNOTICE#{public}"), "NOTICE".to_owned())]).await?;
            }
        }
        // The register entry last: a purge cut short is still listed, and the next run finishes it.
        let rest = self.partition(&pk).await?;
        let rest = rest.iter().filter_map(|i| get_s(i, SORT_KEY)).filter(|sk| *sk != "RECORD").map(|sk| (pk.clone(), sk.to_owned()));
        self.batch_delete(rest.collect()).await?;
        self.batch_delete(vec![(pk, "RECORD".to_owned())]).await?;
        Ok(true)
    }

    async fn append_timeline(&self, expected: (u64, String), event: &TimelineEvent) -> Result<(), AppendError> {
        let pk = breach_pk(&event.breach_id);
        let t = self.table();
        let head = Put::builder()
            .table_name(t)
            .set_item(Some(keyed(
                pk.clone(),
                "HEAD".into(),
                Item::from([("seq".to_owned(), n(event.seq)), ("hash".to_owned(), s(event.chain_hash()))]),
            )))
            .condition_expression("#seq = :seq AND #hash = :hash")
            .expression_attribute_names("#seq", "seq")
            .expression_attribute_names("#hash", "hash")
            .expression_attribute_values(":seq", n(expected.0))
            .expression_attribute_values(":hash", s(&expected.1))
            .build()
            .expect("complete");
        let writes = vec![TransactWriteItem::builder().put(head).build(), put(t, event_item(&pk, event), Some("attribute_not_exists(pk)"))];
        match self.client().transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed_at(&e, 0) => Err(AppendError::Conflict),
            Err(e) => Err(AppendError::Store(unavailable(e))),
        }
    }

    async fn begin_idempotent(&self, key: &str, request_hash: &str, now: Time, lease_until: Time) -> Result<IdempotencyStart, StoreError> {
        let pk = format!("IDEMPOTENCY#{key}");
        // This run's own mark: a retried put whose first attempt landed finds it and goes on,
        // instead of answering its own caller "in progress" until the lease runs out.
        let run = ulid::Ulid::new().to_string();
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(keyed(
                pk.clone(),
                "RECORD".into(),
                Item::from([
                    ("status".to_owned(), s("in_progress")),
                    ("request_hash".to_owned(), s(request_hash)),
                    ("run".to_owned(), s(&run)),
                    ("lease_until".to_owned(), n(lease_until.timestamp())),
                    (TTL_ATTRIBUTE.to_owned(), n(lease_until.timestamp() + 86_400)),
                ]),
            )))
            // New, expired, or an abandoned in-progress run of the same request (its lease ran out).
            .condition_expression(
                "attribute_not_exists(pk) OR #ttl < :now OR (#status = :progress AND lease_until < :now AND request_hash = :hash) OR run = :run",
            )
            .expression_attribute_values(":run", s(run))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":progress", s("in_progress"))
            .expression_attribute_values(":hash", s(request_hash))
            .send()
            .await;
        match result {
            Ok(_) => return Ok(IdempotencyStart::Started),
            Err(e) if condition_failed(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let item = self.get(&pk, "RECORD").await?.ok_or_else(|| corrupt("idempotency", "vanished"))?;
        if get_s(&item, "request_hash") != Some(request_hash) {
            return Ok(IdempotencyStart::Mismatch);
        }
        match get_s(&item, "status") {
            Some("completed") => {
                let answer = serde_json::from_str(get_s(&item, "response").unwrap_or("null")).map_err(|e| corrupt("idempotency", e))?;
                Ok(IdempotencyStart::Completed(answer))
            }
            _ => Ok(IdempotencyStart::InProgress),
        }
    }

    async fn abandon_idempotent(&self, key: &str, request_hash: &str) -> Result<(), StoreError> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .key(PARTITION_KEY, s(format!("IDEMPOTENCY#{key}")))
            .key(SORT_KEY, s("RECORD"))
            .condition_expression("#status = :progress AND request_hash = :hash")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":progress", s("in_progress"))
            .expression_attribute_values(":hash", s(request_hash))
            .send()
            .await;
        // Not removed when completed meanwhile, or another request's record: not ours to remove.
        written(result).map(|_| ())
    }

    async fn finish_idempotent(&self, key: &str, response: &EscalationStarted, expires_at: Time) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .key(PARTITION_KEY, s(format!("IDEMPOTENCY#{key}")))
            .key(SORT_KEY, s("RECORD"))
            .update_expression("SET #status = :done, #response = :r, #ttl = :ttl")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#response", "response")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":done", s("completed"))
            .expression_attribute_values(":r", s(serde_json::to_string(response).expect("serializes")))
            .expression_attribute_values(":ttl", n(expires_at.timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn create_escalation(
        &self,
        e: &EscalationRecord,
        recipients: &[Recipient],
        notice: Option<&PublicNotice>,
    ) -> Result<(), StoreError> {
        let item = keyed(
            breach_pk(&e.breach_id),
            format!("ESCALATION#{}", e.escalation_id),
            Item::from([("escalation".to_owned(), s(serde_json::to_string(e).expect("serializes")))]),
        );
        let fresh = self.put_once(item).await?;
        if let Some(notice) = notice {
            let item = keyed(
                format!("PUBLICNOTICE#{}", notice.public_id),
                "NOTICE".into(),
                Item::from([("notice".to_owned(), s(serde_json::to_string(notice).expect("serializes")))]),
            );
            self.put_once(item).await?;
        }
        let items: Vec<Item> = recipients
            .iter()
            .map(|r| {
                let (pk, sk) = outbox_key(&e.escalation_id, &r.subject);
                keyed(
                    pk,
                    sk,
                    Item::from([
                        ("breach_id".to_owned(), s(e.breach_id.as_str())),
                        ("email".to_owned(), s(r.email.as_str())),
                        ("lang".to_owned(), s(r.lang.code())),
                        ("status".to_owned(), s("pending")),
                        // An unfinished recipient holds an address; one whose job never ends
                        // (dead letters) is deleted after OUTBOX_KEPT rather than kept for ever
                        // (security review M9). Finishing it removes the address and the TTL,
                        // so the record of who was told stays.
                        (TTL_ATTRIBUTE.to_owned(), n((e.started_at + OUTBOX_KEPT).timestamp())),
                    ]),
                )
            })
            .collect();
        if fresh {
            // Nothing of this escalation existed: plain batch writes, 25 items a call.
            let chunks: Vec<Vec<Item>> = items.chunks(25).map(<[Item]>::to_vec).collect();
            stream::iter(chunks)
                .map(|chunk| {
                    let this = self.clone();
                    async move { this.batch_put(chunk).await }
                })
                .buffer_unordered(WRITE_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
        } else {
            // A retried request taking over: never overwrite a recipient already in the outbox.
            stream::iter(items)
                .map(|item| {
                    let this = self.clone();
                    async move { this.put_once(item).await.map(|_| ()) }
                })
                .buffer_unordered(WRITE_CONCURRENCY)
                .try_collect::<Vec<()>>()
                .await?;
        }
        Ok(())
    }

    async fn forget_recipient(&self, subject: &SubjectId, now: Time) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        for r in self.list_breaches().await? {
            for e in &r.escalations {
                let job = Job { breach_id: e.breach_id.clone(), escalation_id: e.escalation_id.clone(), subject: subject.clone() };
                // Finished as the notifier finishes an erased person, had it come to them first.
                // A recipient being sent to now is left to its worker, which re-checks erasure
                // on every claim and then removes the address.
                let result = self
                    .outbox_update(&job)
                    .update_expression("SET #status = :failed, reason = :erased, finished_at = :now REMOVE email, lease_until, #ttl")
                    .condition_expression("#status = :pending")
                    .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                    .expression_attribute_values(":pending", s("pending"))
                    .expression_attribute_values(":failed", s("failed"))
                    .expression_attribute_values(":erased", s("erased"))
                    .expression_attribute_values(":now", s(format_time(&now)))
                    .send()
                    .await;
                match result {
                    Ok(_) => forgotten += 1,
                    Err(err) if condition_failed(&err) => {}
                    Err(err) => return Err(unavailable(err)),
                }
            }
        }
        Ok(forgotten)
    }

    async fn claim(&self, job: &Job, now: Time, lease_until: Time) -> Result<Claim, StoreError> {
        let result = self
            .outbox_update(job)
            .update_expression("SET #status = :sending, lease_until = :lease ADD attempts :one")
            .condition_expression("#status = :pending OR (#status = :sending AND lease_until < :now)")
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":lease", n(lease_until.timestamp()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let email =
                    get_s(&item, "email").and_then(|e| EmailAddress::parse(e).ok()).ok_or_else(|| corrupt("outbox", "no address"))?;
                let lang = get_s(&item, "lang").and_then(|l| l.parse().ok()).unwrap_or(zgoda_domain::lang::Lang::Pl);
                Ok(Claim::Claimed(Recipient { subject: job.subject.clone(), email, lang }))
            }
            Err(e) if condition_failed(&e) => {
                let (pk, sk) = outbox_key(&job.escalation_id, &job.subject);
                match self.get(&pk, &sk).await?.as_ref().and_then(|i| get_s(i, "status").map(str::to_owned)).as_deref() {
                    Some("sending") => Ok(Claim::Busy),
                    _ => Ok(Claim::Finished),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn finish_recipient(&self, job: &Job, delivery: &Delivery, now: Time) -> Result<(), StoreError> {
        // After a sent notice, a lost record means the lease runs out and a second notice goes:
        // keep trying through a short outage, well inside the lease no other worker can break.
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(SEND_LEASE as u64 / 2);
        let mut pause = std::time::Duration::from_millis(250);
        loop {
            match self.record_outcome(job, delivery, now, RecordedBy::Worker).await {
                Err(StoreError::Unavailable(e)) if std::time::Instant::now() + pause < give_up => {
                    tracing::warn!(escalation = %job.escalation_id, subject = %job.subject, error = %e, "recording a delivery failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(4));
                }
                Ok(false) => {
                    tracing::info!(escalation = %job.escalation_id, subject = %job.subject, "recipient was already recorded");
                    return Ok(());
                }
                outcome => return outcome.map(|_| ()),
            }
        }
    }

    async fn record_accepted(&self, job: &Job, message_id: &str, now: Time) -> Result<bool, StoreError> {
        // The Send event nearly always comes after the worker recorded the notice, and a
        // conditional write that finds it sent still costs a write unit, several times a read's
        // price: so read first. An eventually consistent read is enough: `sent` is final, and an
        // older state only leads on to the conditional write, which decides.
        if self.outbox_status(job).await?.as_deref() == Some("sent") {
            return Ok(false);
        }
        self.record_outcome(job, &Delivery::Sent { message_id: message_id.to_owned() }, now, RecordedBy::SendEvent).await
    }

    async fn release(&self, job: &Job) -> Result<(), StoreError> {
        let result = self
            .outbox_update(job)
            .update_expression("SET #status = :pending REMOVE lease_until")
            .condition_expression("#status = :sending")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":sending", s("sending"))
            .send()
            .await;
        written(result).map(|_| ())
    }

    async fn subjects_collected(
        &self,
        form: &FormId,
        from: Option<Time>,
        to: Option<Time>,
        purposes: &[PurposeId],
    ) -> Result<Vec<SubjectId>, StoreError> {
        // Sort keys are `<time>#<sid>`: `0` sorts before every time, `~` after every character used.
        let low = from.map(|f| format_time(&f)).unwrap_or_else(|| "0".into());
        let high = to.map(|t| format!("{}#~", format_time(&t))).unwrap_or_else(|| "~".into());
        let query = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(GSI)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
            .expression_attribute_names("#pk", GSI_PARTITION_KEY)
            .expression_attribute_names("#sk", GSI_SORT_KEY)
            .expression_attribute_values(":pk", s(format!("FORM#{form}#EVENTS")))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high));
        let mut out: Vec<SubjectId> = self
            .query_all(query)
            .await?
            .iter()
            .filter(|item| purposes.is_empty() || get_s(item, "purpose").is_some_and(|p| purposes.iter().any(|x| x.as_str() == p)))
            .filter_map(|item| get_s(item, "subject_id").and_then(SubjectId::parse))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn contacts(&self, subjects: &[SubjectId]) -> Result<HashMap<SubjectId, Contact>, StoreError> {
        let mut found: HashMap<SubjectId, Contact> = HashMap::new();
        // BatchGetItem takes 100 keys: three per subject.
        for chunk in subjects.chunks(33) {
            let keys = chunk.iter().flat_map(|sid| ["PROFILE", "SUPPRESSED", "UNDELIVERABLE"].map(|sk| subject_key(sid, sk))).collect();
            for item in self.batch_get(keys).await? {
                let Some(sid) = get_s(&item, PARTITION_KEY).and_then(|p| p.strip_prefix("SUBJECT#")).and_then(SubjectId::parse) else {
                    continue;
                };
                let entry = found.entry(sid).or_default();
                match get_s(&item, SORT_KEY) {
                    Some("SUPPRESSED") => entry.suppressed = true,
                    Some("UNDELIVERABLE") => entry.undeliverable = true,
                    Some("PROFILE") => entry.profile = crate::dynamo::profile_from_item(&item, chrono::Utc::now()).ok().flatten(),
                    _ => {}
                }
            }
        }
        Ok(found)
    }

    async fn record_feedback(&self, job: &Job, message_id: &str, feedback: &str, at: Time) -> Result<bool, StoreError> {
        let result = self
            .outbox_update(job)
            .update_expression("SET feedback = :f, feedback_at = :at")
            .condition_expression("#status = :sent AND message_id = :id")
            .expression_attribute_values(":f", s(feedback))
            .expression_attribute_values(":at", s(format_time(&at)))
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":id", s(message_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn mark_undeliverable(&self, subject: &SubjectId, at: Time) -> Result<(), StoreError> {
        let item = keyed(
            subject_pk(subject),
            "UNDELIVERABLE".into(),
            Item::from([("at".to_owned(), s(format_time(&at))), ("reason".to_owned(), s("hard_bounce"))]),
        );
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn delivery_counts(&self, escalation_id: &EscalationId) -> Result<DeliveryCounts, StoreError> {
        let mut counts = DeliveryCounts::default();
        for shard in SHARDS.chars() {
            let query = self
                .client()
                .query()
                .table_name(self.table())
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .projection_expression("#status, finished_at")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":pk", s(format!("OUTBOX#{escalation_id}#{shard}")));
            for item in self.query_all(query).await? {
                match get_s(&item, "status") {
                    Some("sent") => counts.sent += 1,
                    Some("failed") => counts.failed += 1,
                    _ => continue,
                }
                counts.last_finished_at = counts.last_finished_at.max(parse_time(&item, "finished_at"));
            }
        }
        Ok(counts)
    }

    async fn public_notice(&self, public_id: &NoticeId) -> Result<Option<PublicNotice>, StoreError> {
        let Some(item) = self.get(&format!("PUBLICNOTICE#{public_id}"), "NOTICE").await? else { return Ok(None) };
        serde_json::from_str(get_s(&item, "notice").unwrap_or("")).map(Some).map_err(|e| corrupt("notice", e))
    }
}

fn event_item(pk: &str, e: &TimelineEvent) -> Item {
    keyed(
        pk.to_owned(),
        format!("EVENT#{}", e.event_id),
        Item::from([
            ("seq".to_owned(), n(e.seq)),
            ("type".to_owned(), s(serde_json::to_value(e.entry.kind()).expect("serializes").as_str().unwrap_or(""))),
            ("event".to_owned(), s(serde_json::to_string(e).expect("serializes"))),
        ]),
    )
}

impl DynamoStore {
    /// An update of one recipient's outbox item; `#status` names its status.
    fn outbox_update(&self, job: &Job) -> UpdateItemFluentBuilder {
        let (pk, sk) = outbox_key(&job.escalation_id, &job.subject);
        self.client()
            .update_item()
            .table_name(self.table())
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .expression_attribute_names("#status", "status")
    }

    /// A recipient's outbox status, from an eventually consistent read (None without an item).
    async fn outbox_status(&self, job: &Job) -> Result<Option<String>, StoreError> {
        let (pk, sk) = outbox_key(&job.escalation_id, &job.subject);
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .projection_expression("#status")
            .expression_attribute_names("#status", "status")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item.as_ref().and_then(|item| get_s(item, "status")).map(str::to_owned))
    }

    /// One conditional write: the outcome is the outbox item itself, counted on read. The address
    /// is needed only until the notice is out (Art. 5(1)(c)). True if this call recorded it;
    /// false if it was finished already.
    async fn record_outcome(&self, job: &Job, delivery: &Delivery, now: Time, by: RecordedBy) -> Result<bool, StoreError> {
        let update = self
            .outbox_update(job)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", s(format_time(&now)))
            .expression_attribute_values(":sending", s("sending"));
        let update = match by {
            RecordedBy::Worker => update.condition_expression("#status = :sending"),
            // SES accepted it, so it is sent even if the worker took SES's lost answer for a
            // failure: it handed the recipient back, or on its last attempt recorded it failed.
            RecordedBy::SendEvent => update
                .condition_expression("#status IN (:sending, :pending, :failed)")
                .expression_attribute_values(":pending", s("pending"))
                .expression_attribute_values(":failed", s("failed")),
        };
        let update = match delivery {
            Delivery::Sent { message_id } => update
                .update_expression("SET #status = :sent, message_id = :id, finished_at = :now REMOVE email, lease_until, reason, #ttl")
                .expression_attribute_values(":sent", s("sent"))
                .expression_attribute_values(":id", s(message_id)),
            Delivery::Failed { reason } => update
                .update_expression("SET #status = :failed, reason = :reason, finished_at = :now REMOVE email, lease_until, #ttl")
                .expression_attribute_values(":failed", s("failed"))
                .expression_attribute_values(":reason", s(reason)),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            // Another worker or SES's Send event finished it, or this call's own earlier attempt
            // did and its answer was lost.
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}
