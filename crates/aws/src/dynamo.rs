//! The domain's stores on one DynamoDB table. Key layout (see docs/design.md):
//!
//! | pk                | sk                  | what                                               |
//! |-------------------|---------------------|----------------------------------------------------|
//! | `FORM#<id>`       | `CONFIG`            | the form; in `gsi1` under `FORMS`                  |
//! | `FORM#<id>`       | `NOTICE#<version>`  | a notice version (immutable)                       |
//! | `PURPOSE#<id>`    | `DECLARED`          | the purpose's lawful basis, fixed by its first form |
//! | `SUBJECT#<sid>`   | `PROFILE`           | e-mail and language: the subject's personal data   |
//! | `SUBJECT#<sid>`   | `SUBMISSION#<rid>`  | declared fields of one submission (TTL: retention, or the profile's) |
//! | `SUBJECT#<sid>`   | `HEAD`              | chain head: last sequence number and hash          |
//! | `SUBJECT#<sid>`   | `EVENT#<ulid>`      | a sealed consent event (PII-free)                  |
//! | `SUBJECT#<sid>`   | `STATE#<purpose>`   | current state; in `gsi1` under `AUDIENCE#<purpose>` while given |
//! | `SUBJECT#<sid>`   | `REQUEST#<ulid>`    | a privacy request, its due date and handling (PII-free; see `requests.rs`) |
//! | `SUBJECT#<sid>`   | `SUPPRESSED`        | the subject was erased (PII-free)                  |
//! | `SUBJECT#<sid>`   | `UNDELIVERABLE`     | the address hard-bounced (PII-free)                |
//! | `SUBJECT#<sid>`   | `REVIEW`            | when the storage-limitation sweep judges the subject next; in `gsi1` under `REVIEWS` |
//! | `GUARD#<key>`     | `W#<end>` / `ONCE`  | rate counters and one-time markers (TTL)           |
//! | `SMOKE#<run>`     | `RUN`               | an end-to-end mail check's steps (TTL: a day)      |
//! | `SWEEP`           | `BACKFILL`          | how far the retention sweep got putting earlier people on its worklist |

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, ReturnValue, TransactWriteItem, Update, WriteRequest,
};
use zgoda_domain::Time;
use zgoda_domain::address_change::{IncomingAddress, PendingAddress};
use zgoda_domain::form::{Form, Notice};
use zgoda_domain::ids::PurposeId;
use zgoda_domain::ids::{FormId, SubjectId};
use zgoda_domain::labels::Labels;
use zgoda_domain::lang::Lang;
use zgoda_domain::mail::MailStream;
use zgoda_domain::proof::{ChainHead, EventKind, SealedEvent, format_time};
use zgoda_domain::smoke::{SmokeRun, SmokeRunId, SmokeStep};
use zgoda_domain::store::{
    Append, AppendError, AudienceError, AudienceMember, ChainStart, Count, DeclaredPurpose, Erasure, FormStore, GuardKey, Guards,
    PrivacyRequest, Profile, RetentionReviews, Review, SaveFormError, StoreError, StoredForm, SubjectRecord, SubjectStore,
    SubmissionContent,
};

use crate::item::{Item, from_item, get_s, n, s, to_item};
use crate::table::{GSI_PARTITION_KEY, GSI_SORT_KEY, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: crate::LazyClient<Client>,
    table: String,
}

pub(crate) fn unavailable<E: std::error::Error>(e: E) -> StoreError {
    StoreError::Unavailable(crate::describe(&e))
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub fn form_pk(id: &FormId) -> String {
    format!("FORM#{id}")
}

pub fn subject_pk(id: &SubjectId) -> String {
    format!("SUBJECT#{id}")
}

pub(crate) fn keyed(pk: String, sk: String, mut item: Item) -> Item {
    item.insert(PARTITION_KEY.into(), s(pk));
    item.insert(SORT_KEY.into(), s(sk));
    item
}

pub(crate) fn put(table: &str, item: Item, condition: Option<&str>) -> TransactWriteItem {
    let put = Put::builder().table_name(table).set_item(Some(item)).set_condition_expression(condition.map(str::to_owned));
    TransactWriteItem::builder().put(put.build().expect("complete")).build()
}

/// True when a single-item write failed its condition.
pub(crate) fn condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// Whether a conditional write happened: `false` when its condition was not met, an error only
/// when the store itself failed.
pub(crate) fn written<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

/// True when a transaction was cancelled because the condition on item `index` failed.
fn purpose_pk(purpose: &PurposeId) -> String {
    format!("PURPOSE#{purpose}")
}

/// A `DECLARED` item; one written before purposes had labels reads with none (pages show the id).
fn declared_from_item(item: &Item) -> Result<DeclaredPurpose, StoreError> {
    let text = item.get("lawful_basis").and_then(|v| v.as_s().ok()).ok_or_else(|| corrupt("purpose", "no lawful_basis"))?;
    let lawful_basis = serde_json::from_value(serde_json::Value::from(text.as_str())).map_err(|e| corrupt("purpose", e))?;
    let labels = match item.get("labels").map(|v| v.as_m()) {
        None => Labels::default(),
        Some(Ok(m)) => m
            .iter()
            .map(|(lang, text)| {
                Ok((
                    lang.parse::<Lang>().map_err(|()| corrupt("purpose", "label language"))?,
                    text.as_s().map_err(|_| corrupt("purpose", "label"))?.clone(),
                ))
            })
            .collect::<Result<Labels, StoreError>>()?,
        Some(Err(_)) => return Err(corrupt("purpose", "labels")),
    };
    Ok(DeclaredPurpose { lawful_basis, labels })
}

pub(crate) fn condition_failed_at(err: &SdkError<TransactWriteItemsError>, index: usize) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
            t.cancellation_reasons().get(index).and_then(|r| r.code()).is_some_and(|c| c == "ConditionalCheckFailed")
        }
        _ => false,
    }
}

/// The key of one of a subject's items.
pub(crate) fn subject_key(subject: &SubjectId, sk: &str) -> Item {
    Item::from([(PARTITION_KEY.to_owned(), s(subject_pk(subject))), (SORT_KEY.to_owned(), s(sk))])
}

/// The key of rate counter `key`'s item for the window ending at `window_end`.
fn counter_key(key: &GuardKey, window_end: Time) -> Item {
    Item::from([(PARTITION_KEY.to_owned(), s(format!("GUARD#{key}"))), (SORT_KEY.to_owned(), s(format!("W#{}", window_end.timestamp())))])
}

/// How many times a counting transaction is sent when it keeps meeting others on its items.
const COUNT_ATTEMPTS: u64 = 6;

/// Whether DynamoDB cancelled a transaction because another one held one of its items.
fn conflicted(err: &SdkError<TransactWriteItemsError>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
            t.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"))
        }
        _ => false,
    }
}

impl DynamoStore {
    /// A purpose's declaration, written with each form that names it: the first basis stays, the
    /// last labels win.
    fn declare(&self, purpose: &PurposeId, declared: &DeclaredPurpose) -> TransactWriteItem {
        let basis = declared.lawful_basis;
        let labels = declared.labels.iter().map(|(lang, text)| (lang.code().to_owned(), s(text))).collect();
        let item = keyed(
            purpose_pk(purpose),
            "DECLARED".into(),
            Item::from([("lawful_basis".to_owned(), s(basis.as_str())), ("labels".to_owned(), AttributeValue::M(labels))]),
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR lawful_basis = :basis")
            .expression_attribute_values(":basis", s(basis.as_str()));
        TransactWriteItem::builder().put(put.build().expect("complete")).build()
    }

    pub fn new(client: impl Into<crate::LazyClient<Client>>, table: impl Into<String>) -> Self {
        Self { client: client.into(), table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One item, strongly consistent.
    pub(crate) async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s(sk))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Up to 100 items by key, strongly consistent, asking again for the keys DynamoDB leaves
    /// unprocessed when it is busy; the missing ones are not in the answer.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending = Some(KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().expect("keys set"));
        while let Some(request) = pending.take() {
            let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(unavailable)?;
            found.extend(out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default());
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys().is_empty());
        }
        Ok(found)
    }

    /// Writes an item unless one with its key exists (a retried write leaves the first alone).
    /// Returns whether it wrote.
    pub(crate) async fn put_once(&self, item: Item) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(result)
    }

    /// Up to 25 unconditional puts in one call, retrying what DynamoDB leaves unprocessed.
    pub(crate) async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let put = |i| WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(i)).build().expect("item set")).build();
        self.batch_write(items.into_iter().map(put).collect()).await
    }

    /// Unconditional deletes of `(pk, sk)` keys, 25 a call.
    pub(crate) async fn batch_delete(&self, keys: Vec<(String, String)>) -> Result<(), StoreError> {
        for chunk in keys.chunks(25) {
            let delete = |(pk, sk): &(String, String)| {
                let key = Item::from([(PARTITION_KEY.to_owned(), s(pk)), (SORT_KEY.to_owned(), s(sk))]);
                WriteRequest::builder().delete_request(DeleteRequest::builder().set_key(Some(key)).build().expect("key set")).build()
            };
            self.batch_write(chunk.iter().map(delete).collect()).await?;
        }
        Ok(())
    }

    /// Up to 25 writes in one call, retrying what DynamoDB leaves unprocessed.
    async fn batch_write(&self, mut requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for attempt in 0..8u32 {
            let out = self.client.batch_write_item().request_items(&self.table, requests).send().await.map_err(unavailable)?;
            requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
        }
        Err(StoreError::Unavailable("DynamoDB kept items of a batch unprocessed".into()))
    }

    /// One page of a scan that runs a little each time over many runs, from where the last page
    /// ended (kept under `SWEEP`/`progress`); `None` once the whole table has been read. The caller
    /// handles the page, then saves the place with [`Self::save_scan_progress`], so a page whose
    /// handling failed is read again.
    pub(crate) async fn resumable_scan(
        &self,
        progress: &str,
        scan: ScanFluentBuilder,
        limit: usize,
    ) -> Result<Option<ScanPage>, StoreError> {
        let place = self.get("SWEEP", progress).await?;
        if place.as_ref().is_some_and(|p| p.contains_key("done")) {
            return Ok(None);
        }
        let start = place.and_then(|p| Some(keyed(get_s(&p, "cursor_pk")?.to_owned(), get_s(&p, "cursor_sk")?.to_owned(), Item::new())));
        let limit = limit.min(i32::MAX as usize) as i32;
        let out = scan.table_name(&self.table).set_exclusive_start_key(start).limit(limit).send().await.map_err(unavailable)?;
        Ok(Some(ScanPage { items: out.items.unwrap_or_default(), next: out.last_evaluated_key.filter(|k| !k.is_empty()) }))
    }

    pub(crate) async fn save_scan_progress(&self, progress: &str, page: ScanPage) -> Result<(), StoreError> {
        let place = match page.next {
            Some(k) => Item::from([
                ("cursor_pk".to_owned(), k.get(PARTITION_KEY).cloned().unwrap_or_else(|| s(""))),
                ("cursor_sk".to_owned(), k.get(SORT_KEY).cloned().unwrap_or_else(|| s(""))),
            ]),
            None => Item::from([("done".to_owned(), s("yes"))]),
        };
        let put = self.client.put_item().table_name(&self.table).set_item(Some(keyed("SWEEP".into(), progress.into(), place)));
        put.send().await.map_err(unavailable)?;
        Ok(())
    }

    /// Every page of a query's results.
    pub(crate) async fn query_all(&self, query: QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start).send().await.map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Every item under one key of the secondary index, all pages (eventually consistent, as
    /// every GSI read is).
    pub(crate) async fn gsi_partition(&self, gsi_pk: &str) -> Result<Vec<Item>, StoreError> {
        self.query_all(self.gsi_query(gsi_pk)).await
    }

    /// A query of one key of the secondary index.
    pub(crate) fn gsi_query(&self, gsi_pk: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(crate::table::GSI)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI_PARTITION_KEY)
            .expression_attribute_values(":pk", s(gsi_pk))
    }

    /// Every item under one partition key, strongly consistent, all pages.
    pub(crate) async fn partition(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":pk", s(pk));
        self.query_all(query).await
    }
}

/// One page of a [`DynamoStore::resumable_scan`]: its items, and where the next page starts.
pub(crate) struct ScanPage {
    pub items: Vec<Item>,
    next: Option<Item>,
}

#[derive(serde::Deserialize)]
struct SubmissionItem {
    form_id: FormId,
    fields: std::collections::BTreeMap<String, String>,
    #[serde(with = "zgoda_domain::proof::millis")]
    at: Time,
    #[serde(with = "zgoda_domain::proof::millis")]
    expires_at: Time,
    /// Absent on items written before content could expire ahead of its retention.
    #[serde(default, with = "zgoda_domain::proof::opt_millis")]
    retained_until: Option<Time>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ProfileItem {
    pub email: zgoda_domain::email::EmailAddress,
    pub lang: zgoda_domain::lang::Lang,
    #[serde(with = "zgoda_domain::proof::millis")]
    pub updated_at: Time,
    /// Unix seconds; present only on a profile kept for an unconfirmed request.
    #[serde(default)]
    pub ttl: Option<i64>,
}

/// A change to another address awaiting confirmation, under the subject moving (it holds the new
/// address: personal data, deleted by an erasure).
const ADDRESS_CHANGE: &str = "ADDRESS_CHANGE";
/// Where a change awaiting confirmation comes from, under the new address's subject (PII-free).
const ADDRESS_INCOMING: &str = "ADDRESS_INCOMING";

/// A profile as read, or `None` once it has expired: DynamoDB deletes expired items late, and an
/// expired profile is already gone for us.
pub(crate) fn profile_from_item(item: &Item, now: Time) -> Result<Option<Profile>, StoreError> {
    let p: ProfileItem = from_item(item).map_err(|e| corrupt("profile", e))?;
    let expires_at = p.ttl.and_then(|t| chrono::DateTime::from_timestamp(t, 0));
    if expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    Ok(Some(Profile { email: p.email, lang: p.lang, updated_at: p.updated_at, expires_at }))
}

impl FormStore for DynamoStore {
    async fn load_form(&self, id: &FormId) -> Result<Option<StoredForm>, StoreError> {
        let items = self.partition(&form_pk(id)).await?;
        let mut form = None;
        let mut notices = Vec::new();
        for item in &items {
            match get_s(item, SORT_KEY) {
                Some("CONFIG") => {
                    let json = get_s(item, "form").ok_or_else(|| corrupt("form", "no body"))?;
                    form = Some(serde_json::from_str::<Form>(json).map_err(|e| corrupt("form", e))?);
                }
                Some(sk) if sk.starts_with("NOTICE#") => notices.push(from_item::<Notice>(item).map_err(|e| corrupt("notice", e))?),
                _ => {}
            }
        }
        Ok(form.map(|form| StoredForm { form, notices }))
    }

    async fn save_form(&self, form: &Form, notice: &Notice) -> Result<(), SaveFormError> {
        let pk = form_pk(&form.id);
        let notice_sk = format!("NOTICE#{}", notice.version);
        let config = keyed(
            pk.clone(),
            "CONFIG".into(),
            Item::from([
                ("form".to_owned(), s(serde_json::to_string(form).expect("serializes"))),
                ("updated_at".to_owned(), s(format_time(&form.updated_at))),
                (GSI_PARTITION_KEY.to_owned(), s("FORMS")),
                (GSI_SORT_KEY.to_owned(), s(form.id.as_str())),
            ]),
        );
        let mut notice_item = keyed(pk.clone(), notice_sk.clone(), to_item(notice));
        notice_item.insert("created_at".into(), s(format_time(&form.updated_at)));
        let existing = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(PARTITION_KEY, s(&pk))
            .key(SORT_KEY, s(&notice_sk))
            .send()
            .await
            .map_err(unavailable)?
            .item;
        let mut writes = vec![put(&self.table, config, None)];
        match existing {
            Some(item) => {
                let stored: Notice = from_item(&item).map_err(|e| corrupt("notice", e))?;
                if stored.texts != notice.texts {
                    return Err(SaveFormError::NoticeVersionExists);
                }
            }
            None => writes.push(put(&self.table, notice_item, Some("attribute_not_exists(pk)"))),
        }
        let declarations = writes.len();
        writes.extend(form.declarations().map(|(id, declared)| self.declare(id, &declared)));
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(()),
            // Another writer stored this version between our read and write.
            Err(e) if declarations == 2 && condition_failed_at(&e, 1) => Err(SaveFormError::NoticeVersionExists),
            Err(e) => match (0..form.purposes.len()).find(|i| condition_failed_at(&e, declarations + i)) {
                Some(i) => Err(SaveFormError::BasisDeclared(form.purposes[i].id.clone())),
                None => Err(unavailable(e).into()),
            },
        }
    }

    async fn declared_purpose(&self, purpose: &PurposeId) -> Result<Option<DeclaredPurpose>, StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(purpose_pk(purpose)))
            .key(SORT_KEY, s("DECLARED"))
            .send()
            .await
            .map_err(unavailable)?
            .item;
        item.map(|i| declared_from_item(&i)).transpose()
    }

    async fn list_forms(&self) -> Result<Vec<Form>, StoreError> {
        // The index is eventually consistent: a form saved a moment ago may be missing, which a
        // document made on request can bear.
        let items = self.gsi_partition("FORMS").await?;
        items.iter().map(|i| serde_json::from_str::<Form>(get_s(i, "form").unwrap_or("")).map_err(|e| corrupt("form", e))).collect()
    }
}

impl SubjectStore for DynamoStore {
    async fn load_head(&self, subject: &SubjectId) -> Result<Option<ChainHead>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(PARTITION_KEY, s(subject_pk(subject)))
            .key(SORT_KEY, s("HEAD"))
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(|i| head_from_item(&i)).transpose()
    }

    async fn load_profile(&self, subject: &SubjectId) -> Result<Option<Profile>, StoreError> {
        Ok(self.get(&subject_pk(subject), "PROFILE").await?.map(|item| profile_from_item(&item, chrono::Utc::now())).transpose()?.flatten())
    }

    async fn load_chain_start(&self, subject: &SubjectId) -> Result<ChainStart, StoreError> {
        let mut start = ChainStart::default();
        for item in self.batch_get(vec![subject_key(subject, "HEAD"), subject_key(subject, "SUPPRESSED")]).await? {
            match get_s(&item, SORT_KEY) {
                Some("HEAD") => start.head = Some(head_from_item(&item)?),
                Some("SUPPRESSED") => start.suppressed = true,
                _ => {}
            }
        }
        Ok(start)
    }

    async fn load_subject(&self, subject: &SubjectId) -> Result<SubjectRecord, StoreError> {
        let mut record = SubjectRecord::default();
        for item in self.partition(&subject_pk(subject)).await? {
            match get_s(&item, SORT_KEY).unwrap_or("") {
                "PROFILE" => record.profile = profile_from_item(&item, chrono::Utc::now())?,
                "HEAD" => record.head = Some(head_from_item(&item)?),
                "SUPPRESSED" => {
                    record.suppressed_at = get_s(&item, "at").and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc())
                }
                ADDRESS_CHANGE => {
                    let pending: PendingAddress = from_item(&item).map_err(|e| corrupt("address change", e))?;
                    // DynamoDB deletes expired items late; a lapsed change is already gone for us.
                    record.moving_to = Some(pending).filter(|p| p.expires_at > chrono::Utc::now());
                }
                ADDRESS_INCOMING => {
                    let incoming: IncomingAddress = from_item(&item).map_err(|e| corrupt("address change", e))?;
                    record.incoming = Some(incoming).filter(|i| i.expires_at > chrono::Utc::now());
                }
                sk if sk.starts_with("EVENT#") => record.events.push(event_from_item(&item)?),
                sk if sk.starts_with(crate::webhooks::TOLD) => {
                    record.told.push(from_item(&item).map_err(|e| corrupt("recipient told", e))?)
                }
                sk if sk.starts_with("REQUEST#") => record.requests.push(from_item(&item).map_err(|e| corrupt("request", e))?),
                sk if sk.starts_with("SUBMISSION#") => {
                    let s: SubmissionItem = from_item(&item).map_err(|e| corrupt("submission", e))?;
                    // DynamoDB deletes expired items late; an expired submission is already gone for us.
                    if s.expires_at > chrono::Utc::now() {
                        record.submissions.push(SubmissionContent {
                            receipt_id: sk.trim_start_matches("SUBMISSION#").to_owned(),
                            form_id: s.form_id,
                            fields: s.fields.into_iter().collect(),
                            at: s.at,
                            expires_at: s.expires_at,
                            retained_until: s.retained_until.unwrap_or(s.expires_at),
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(record)
    }

    async fn append(&self, a: Append) -> Result<(), AppendError> {
        let writes = self.chain_writes(&a);
        self.transact(writes).await
    }

    async fn erase(&self, e: Erasure) -> Result<(), AppendError> {
        let pk = subject_pk(&e.append.subject);
        let mut personal = Vec::new();
        for item in self.partition(&pk).await? {
            let sk = get_s(&item, SORT_KEY).unwrap_or("").to_owned();
            // A review the erasure sets anew is written by its chain writes, not deleted.
            let review_kept = sk == "REVIEW" && e.append.review_at.is_some();
            let holds_pii = sk == "PROFILE" || sk == ADDRESS_CHANGE || sk.starts_with("SUBMISSION#") || sk.starts_with("STATE#");
            if holds_pii || (sk == "REVIEW" && !review_kept) {
                personal.push(sk);
            }
        }
        let mut writes = self.chain_writes(&e.append);
        // The token guard comes second so its cancellation reason is recognisable.
        if let Some((key, expires)) = &e.spend_token {
            writes.insert(1, TransactWriteItem::builder().put(once_marker(&self.table, key, *expires, e.at)).build());
        }
        if e.suppress {
            writes.push(put(
                &self.table,
                keyed(pk.clone(), "SUPPRESSED".into(), Item::from([("at".to_owned(), s(format_time(&e.at)))])),
                None,
            ));
        }
        // A transaction holds 100 items; older submissions beyond that go first, in their own batches.
        let room = 100usize.saturating_sub(writes.len());
        let (now_batch, earlier) =
            if personal.len() > room { personal.split_at(personal.len() - room) } else { (&personal[..0], &personal[..]) };
        for chunk in now_batch.chunks(100) {
            let deletes = chunk.iter().map(|sk| delete(&self.table, &pk, sk)).collect();
            self.transact(deletes).await?;
        }
        writes.extend(earlier.iter().map(|sk| delete(&self.table, &pk, sk)));
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(()),
            Err(err) if e.spend_token.is_some() && condition_failed_at(&err, 1) => Err(AppendError::Spent),
            Err(err) if condition_failed_at(&err, 0) => Err(AppendError::Conflict),
            Err(err) => Err(AppendError::Store(unavailable(err))),
        }
    }

    async fn begin_address_change(&self, from: &SubjectId, to: &SubjectId, pending: &PendingAddress) -> Result<(), StoreError> {
        let ttl = (crate::table::TTL_ATTRIBUTE.to_owned(), n(pending.expires_at.timestamp()));
        let mut leaving = keyed(subject_pk(from), ADDRESS_CHANGE.into(), to_item(pending));
        leaving.insert(ttl.0.clone(), ttl.1.clone());
        let mut arriving = keyed(subject_pk(to), ADDRESS_INCOMING.into(), to_item(&pending.incoming(from)));
        arriving.insert(ttl.0, ttl.1);
        let writes = vec![put(&self.table, leaving, None), put(&self.table, arriving, None)];
        self.client.transact_write_items().set_transact_items(Some(writes)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn record_request(&self, subject: &SubjectId, request: &PrivacyRequest) -> Result<(), StoreError> {
        let writes = crate::requests::record_writes(&self.table, subject, request);
        self.client.transact_write_items().set_transact_items(Some(writes)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn audience(
        &self,
        purpose: &PurposeId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AudienceMember>, Option<String>), AudienceError> {
        let gsi_pk = format!("AUDIENCE#{purpose}");
        let start = cursor.map(|c| decode_cursor(c, &gsi_pk)).transpose()?;
        let out = self.gsi_query(&gsi_pk).set_exclusive_start_key(start).limit(limit as i32).send().await.map_err(unavailable)?;
        let states = out.items.unwrap_or_default();
        let subjects: Vec<(SubjectId, Time)> = states
            .iter()
            .filter_map(|i| {
                let sid = SubjectId::parse(get_s(i, PARTITION_KEY)?.strip_prefix("SUBJECT#")?)?;
                let since = chrono::DateTime::parse_from_rfc3339(get_s(i, "since")?).ok()?.to_utc();
                Some((sid, since))
            })
            .collect();
        let profiles = self.profiles(subjects.iter().map(|(s, _)| s)).await?;
        let members = subjects
            .into_iter()
            .filter_map(|(subject, given_at)| {
                let p = profiles.get(&subject)?;
                Some(AudienceMember { subject, email: p.email.clone(), lang: p.lang, given_at })
            })
            .collect();
        let next = out.last_evaluated_key.filter(|k| !k.is_empty()).map(|k| encode_cursor(&k));
        Ok((members, next))
    }
}

impl DynamoStore {
    async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<(), AppendError> {
        match self.client.transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed_at(&e, 0) => Err(AppendError::Conflict),
            Err(e) => Err(AppendError::Store(unavailable(e))),
        }
    }

    /// Profiles of many subjects (BatchGetItem, 100 keys a call, unprocessed keys retried).
    async fn profiles<'a>(
        &self,
        subjects: impl Iterator<Item = &'a SubjectId>,
    ) -> Result<std::collections::HashMap<SubjectId, ProfileItem>, StoreError> {
        let keys: Vec<Item> = subjects
            .map(|s| {
                Item::from([(PARTITION_KEY.to_owned(), super::item::s(subject_pk(s))), (SORT_KEY.to_owned(), super::item::s("PROFILE"))])
            })
            .collect();
        let mut found = std::collections::HashMap::new();
        for chunk in keys.chunks(100) {
            let mut pending =
                Some(KeysAndAttributes::builder().set_keys(Some(chunk.to_vec())).consistent_read(true).build().expect("keys set"));
            for _ in 0..5 {
                let Some(request) = pending.take() else { break };
                let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(unavailable)?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    let sid = get_s(&item, PARTITION_KEY).and_then(|p| p.strip_prefix("SUBJECT#")).and_then(SubjectId::parse);
                    if let (Some(sid), Ok(p)) = (sid, from_item::<ProfileItem>(&item)) {
                        found.insert(sid, p);
                    }
                }
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
            }
        }
        Ok(found)
    }

    /// The writes that extend a subject's chain, in a fixed order: the head first.
    fn chain_writes(&self, a: &Append) -> Vec<TransactWriteItem> {
        let pk = subject_pk(&a.subject);
        let t = &self.table;
        let mut writes = Vec::with_capacity(4 + 2 * a.events.len());
        let head =
            keyed(pk.clone(), "HEAD".into(), Item::from([("seq".to_owned(), n(a.new_head.seq)), ("hash".to_owned(), s(&a.new_head.hash))]));
        // The head moves only from the value the events were chained to: two writers cannot fork the chain.
        let head_write = match &a.expected_head {
            None => put(t, head, Some("attribute_not_exists(pk)")),
            Some(expected) => TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(t)
                        .set_item(Some(head))
                        .condition_expression("#seq = :seq AND #hash = :hash")
                        .expression_attribute_names("#seq", "seq")
                        .expression_attribute_names("#hash", "hash")
                        .expression_attribute_values(":seq", n(expected.seq))
                        .expression_attribute_values(":hash", s(&expected.hash))
                        .build()
                        .expect("complete"),
                )
                .build(),
        };
        writes.push(head_write);
        for e in &a.events {
            let mut item = keyed(pk.clone(), format!("EVENT#{}", e.facts.event_id), to_item(e));
            if let Some(form) = &e.facts.form_id {
                item.insert(GSI_PARTITION_KEY.into(), s(format!("FORM#{form}#EVENTS")));
                item.insert(GSI_SORT_KEY.into(), s(format!("{}#{}", format_time(&e.facts.at), a.subject)));
            }
            writes.push(put(t, item, Some("attribute_not_exists(pk)")));
        }
        for st in &a.states {
            let mut item = keyed(
                pk.clone(),
                format!("STATE#{}", st.purpose),
                Item::from([
                    ("purpose".to_owned(), s(st.purpose.as_str())),
                    ("status".to_owned(), s(st.status.as_str())),
                    ("since".to_owned(), s(format_time(&st.since))),
                    ("event_id".to_owned(), s(&st.event_id)),
                ]),
            );
            if st.status == EventKind::Given {
                item.insert(GSI_PARTITION_KEY.into(), s(format!("AUDIENCE#{}", st.purpose)));
                item.insert(GSI_SORT_KEY.into(), s(format!("{}#{}", format_time(&st.since), a.subject)));
            }
            writes.push(put(t, item, None));
        }
        if let Some(p) = &a.profile {
            let set = "SET email = :e, lang = :l, updated_at = :u, created_at = if_not_exists(created_at, :u)";
            let mut update = Update::builder()
                .table_name(t)
                .key(PARTITION_KEY, s(&pk))
                .key(SORT_KEY, s("PROFILE"))
                .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                .expression_attribute_values(":e", s(p.email.as_str()))
                .expression_attribute_values(":l", s(p.lang.code()))
                .expression_attribute_values(":u", s(format_time(&p.updated_at)));
            update = match p.expires_at {
                Some(at) => update.update_expression(format!("{set}, #ttl = :ttl")).expression_attribute_values(":ttl", n(at.timestamp())),
                None => update.update_expression(format!("{set} REMOVE #ttl")),
            };
            let update = update.build().expect("complete");
            writes.push(TransactWriteItem::builder().update(update).build());
        }
        for sub in &a.submissions {
            let fields = sub.fields.iter().map(|(k, v)| (k.clone(), s(v))).collect();
            let item = keyed(
                pk.clone(),
                format!("SUBMISSION#{}", sub.receipt_id),
                Item::from([
                    ("form_id".to_owned(), s(sub.form_id.as_str())),
                    ("fields".to_owned(), AttributeValue::M(fields)),
                    ("at".to_owned(), s(format_time(&sub.at))),
                    ("expires_at".to_owned(), s(format_time(&sub.expires_at))),
                    ("retained_until".to_owned(), s(format_time(&sub.retained_until))),
                    (TTL_ATTRIBUTE.to_owned(), n(sub.expires_at.timestamp())),
                ]),
            );
            writes.push(put(t, item, None));
        }
        if let Some(at) = a.review_at {
            let mut item = keyed(pk.clone(), "REVIEW".into(), Item::new());
            item.insert(GSI_PARTITION_KEY.into(), s(REVIEWS));
            item.insert(GSI_SORT_KEY.into(), s(review_sort_key(at, &a.subject)));
            writes.push(put(t, item, None));
        }
        writes.extend(a.changes.iter().map(|c| crate::webhooks::change_write(t, c)));
        if a.lift_suppression {
            // The person acted again with this address: it exists and they are back.
            writes.push(delete(t, &pk, "SUPPRESSED"));
            writes.push(delete(t, &pk, "UNDELIVERABLE"));
        }
        writes
    }
}

/// The secondary-index key the storage-limitation sweep's worklist lives under (one partition:
/// a small business's reviews are a few thousand a day at most).
const REVIEWS: &str = "REVIEWS";

/// A review's sort key: its time first, so the due ones are a range.
/// Where the backfill's scan keeps its place (`SWEEP`, this). The first pass, which looked for
/// profiles, kept it under `BACKFILL`; this second pass looks for chain heads, so people erased
/// before their proofs had a retention are found too, on stacks where the first one finished.
const BACKFILL_PROGRESS: &str = "BACKFILL#HEADS";

fn review_sort_key(at: Time, subject: &SubjectId) -> String {
    format!("{}#{subject}", format_time(&at))
}

impl RetentionReviews for DynamoStore {
    async fn due_reviews(&self, now: Time, limit: usize) -> Result<Vec<Review>, StoreError> {
        // `~` sorts after the subject ids that follow a time, so a review due at `now` is in.
        let out = self
            .gsi_query(REVIEWS)
            .key_condition_expression("#pk = :pk AND #sk <= :upto")
            .expression_attribute_names("#sk", GSI_SORT_KEY)
            .expression_attribute_values(":upto", s(format!("{}#~", format_time(&now))))
            .limit(limit.min(i32::MAX as usize) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let (at, subject) =
                    get_s(item, GSI_SORT_KEY).and_then(|k| k.split_once('#')).ok_or_else(|| corrupt("review", "its key"))?;
                let subject = SubjectId::parse(subject).ok_or_else(|| corrupt("review", "its subject"))?;
                let due_at = chrono::DateTime::parse_from_rfc3339(at).map_err(|e| corrupt("review", e))?.to_utc();
                Ok(Review { subject, due_at })
            })
            .collect()
    }

    async fn backfill_reviews(&self, at: Time, limit: usize) -> Result<Option<u64>, StoreError> {
        // One page of a scan for people's chain heads, from where the last run stopped.
        let scan = self
            .client
            .scan()
            .filter_expression("#sk = :head AND begins_with(#pk, :subject)")
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":head", s("HEAD"))
            .expression_attribute_values(":subject", s("SUBJECT#"))
            .projection_expression("#pk, #sk")
            .expression_attribute_names("#pk", PARTITION_KEY);
        let Some(page) = self.resumable_scan(BACKFILL_PROGRESS, scan, limit).await? else { return Ok(None) };
        let mut added = 0;
        for item in &page.items {
            let Some(subject) = get_s(item, PARTITION_KEY).and_then(|p| p.strip_prefix("SUBJECT#")).and_then(SubjectId::parse) else {
                continue;
            };
            let mut review = keyed(subject_pk(&subject), "REVIEW".into(), Item::new());
            review.insert(GSI_PARTITION_KEY.into(), s(REVIEWS));
            review.insert(GSI_SORT_KEY.into(), s(review_sort_key(at, &subject)));
            // A review an append wrote meanwhile is newer: it stays.
            let put =
                self.client.put_item().table_name(&self.table).set_item(Some(review)).condition_expression("attribute_not_exists(pk)");
            settled(put.send().await.map(|_| added += 1))?;
        }
        self.save_scan_progress(BACKFILL_PROGRESS, page).await?;
        Ok(Some(added))
    }

    async fn purge_subject(&self, subject: &SubjectId, seen: Option<&ChainHead>) -> Result<bool, StoreError> {
        let pk = subject_pk(subject);
        // Only what was listed goes: an event a returning person adds meanwhile is not among it,
        // and the head's condition below refuses the purge then anyway.
        let mut listed: Vec<String> = self
            .partition(&pk)
            .await?
            .iter()
            .filter_map(|item| get_s(item, SORT_KEY).map(str::to_owned))
            .filter(|sk| sk != "HEAD" && !sk.starts_with("REQUEST#"))
            .collect();
        // The review goes last: a purge cut short in a later batch stays on the worklist and is
        // finished by the next run.
        listed.sort_by_key(|sk| sk == "REVIEW");
        // The head goes first, on the condition that it is the one judged; the rest follows.
        let head = match seen {
            None => Delete::builder().condition_expression("attribute_not_exists(pk)"),
            Some(head) => Delete::builder()
                .condition_expression("#seq = :seq AND #hash = :hash")
                .expression_attribute_names("#seq", "seq")
                .expression_attribute_names("#hash", "hash")
                .expression_attribute_values(":seq", n(head.seq))
                .expression_attribute_values(":hash", s(&head.hash)),
        };
        let head = head.table_name(&self.table).key(PARTITION_KEY, s(&pk)).key(SORT_KEY, s("HEAD")).build().expect("complete");
        let mut batches = listed.chunks(99);
        let mut first = vec![TransactWriteItem::builder().delete(head).build()];
        first.extend(batches.next().unwrap_or_default().iter().map(|sk| delete(&self.table, &pk, sk)));
        match self.transact(first).await {
            Ok(()) => {}
            Err(AppendError::Conflict | AppendError::Spent) => return Ok(false),
            Err(AppendError::Store(e)) => return Err(e),
        }
        for batch in batches {
            self.transact(batch.iter().map(|sk| delete(&self.table, &pk, sk)).collect()).await.map_err(|e| match e {
                AppendError::Store(e) => e,
                other => StoreError::Unavailable(other.to_string()),
            })?;
        }
        Ok(true)
    }

    async fn settle_review(&self, review: &Review, next: Option<Time>) -> Result<(), StoreError> {
        let pk = subject_pk(&review.subject);
        let seen = s(review_sort_key(review.due_at, &review.subject));
        match next {
            None => settled(
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key(PARTITION_KEY, s(&pk))
                    .key(SORT_KEY, s("REVIEW"))
                    .condition_expression("#sk = :seen")
                    .expression_attribute_names("#sk", GSI_SORT_KEY)
                    .expression_attribute_values(":seen", seen)
                    .send()
                    .await,
            ),
            Some(at) => settled(
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key(PARTITION_KEY, s(&pk))
                    .key(SORT_KEY, s("REVIEW"))
                    .update_expression("SET #sk = :next")
                    .condition_expression("#sk = :seen")
                    .expression_attribute_names("#sk", GSI_SORT_KEY)
                    .expression_attribute_values(":seen", seen)
                    .expression_attribute_values(":next", s(review_sort_key(at, &review.subject)))
                    .send()
                    .await,
            ),
        }
    }
}

/// A review's conditional write: a failed condition means an append or an erasure changed the
/// review since it was read, and theirs stands.
fn settled<
    T,
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
>(
    result: Result<T, SdkError<E, R>>,
) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if condition_failed(&e) => Ok(()),
        Err(e) => Err(unavailable(e)),
    }
}

fn delete(table: &str, pk: &str, sk: &str) -> TransactWriteItem {
    let d = Delete::builder().table_name(table).key(PARTITION_KEY, s(pk)).key(SORT_KEY, s(sk)).build().expect("complete");
    TransactWriteItem::builder().delete(d).build()
}

/// A single-use marker: the write fails if the marker exists and has not expired (an expired one
/// that DynamoDB has not deleted yet does not count). Each marker carries a fresh nonce, and its
/// condition lets the same nonce through: when the SDK retries a put whose first attempt landed
/// but whose answer was lost, the retry finds its own marker and succeeds, instead of taking the
/// caller's first use for a second one (a signed request refused as its own replay).
fn once_marker(table: &str, key: &GuardKey, expires_at: Time, now: Time) -> Put {
    let nonce = ulid::Ulid::new().to_string();
    Put::builder()
        .table_name(table)
        .item(PARTITION_KEY, s(format!("GUARD#{key}")))
        .item(SORT_KEY, s("ONCE"))
        .item(TTL_ATTRIBUTE, n(expires_at.timestamp()))
        .item("nonce", s(&nonce))
        .condition_expression("attribute_not_exists(pk) OR #ttl < :now OR nonce = :nonce")
        .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
        .expression_attribute_values(":now", n(now.timestamp()))
        .expression_attribute_values(":nonce", s(nonce))
        .build()
        .expect("complete")
}

/// Audience cursors are the index's last key, base64url JSON; only keys of the same audience pass.
fn encode_cursor(key: &Item) -> String {
    let map: std::collections::BTreeMap<&str, &str> = key.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str()))).collect();
    base64_url(serde_json::to_vec(&map).expect("serializes"))
}

fn decode_cursor(cursor: &str, gsi_pk: &str) -> Result<Item, AudienceError> {
    let bytes = base64_url_decode(cursor).ok_or(AudienceError::BadCursor)?;
    let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| AudienceError::BadCursor)?;
    let allowed = [PARTITION_KEY, SORT_KEY, GSI_PARTITION_KEY, GSI_SORT_KEY];
    if map.len() != 4
        || !map.keys().all(|k| allowed.contains(&k.as_str()))
        || map.get(GSI_PARTITION_KEY).map(String::as_str) != Some(gsi_pk)
    {
        return Err(AudienceError::BadCursor);
    }
    Ok(map.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

fn head_from_item(item: &Item) -> Result<ChainHead, StoreError> {
    let seq = item.get("seq").and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()).ok_or_else(|| corrupt("head", "seq"))?;
    let hash = get_s(item, "hash").ok_or_else(|| corrupt("head", "hash"))?.to_owned();
    Ok(ChainHead { seq, hash })
}

/// Reads an event back exactly as stored; a tampered value shows up as a broken seal, and a value
/// that no longer even parses is reported as a sealed event that cannot verify.
fn event_from_item(item: &Item) -> Result<SealedEvent, StoreError> {
    from_item::<SealedEvent>(item).map_err(|e| corrupt("event", e))
}

impl Guards for DynamoStore {
    async fn count_hit(&self, key: &GuardKey, window_end: Time) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter_key(key, window_end)))
            .update_expression("ADD hits :one SET #ttl = :ttl")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(window_end.timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let hits = out.attributes.as_ref().and_then(|a| a.get("hits")).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        hits.ok_or_else(|| corrupt("counter", "no hits"))
    }

    async fn count_within(&self, counts: &[Count]) -> Result<Result<(), Vec<usize>>, StoreError> {
        // A count that could never fit is not asked about (its condition could not be written).
        let never: Vec<usize> = (0..counts.len()).filter(|&i| counts[i].by > counts[i].most).collect();
        if !never.is_empty() {
            return Ok(Err(never));
        }
        let update = |c: &Count| {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(counter_key(&c.key, c.window_end)))
                .update_expression("ADD hits :by SET #ttl = :ttl")
                .condition_expression("attribute_not_exists(hits) OR hits <= :room")
                .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                .expression_attribute_values(":by", n(c.by))
                .expression_attribute_values(":room", n(c.most - c.by))
                .expression_attribute_values(":ttl", n(c.window_end.timestamp()));
            TransactWriteItem::builder().update(update.build().expect("complete")).build()
        };
        let items: Vec<TransactWriteItem> = counts.iter().map(update).collect();
        let mut attempt = 1;
        loop {
            match self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await {
                Ok(_) => return Ok(Ok(())),
                Err(e) => match (0..counts.len()).filter(|&i| condition_failed_at(&e, i)).collect::<Vec<_>>() {
                    over if !over.is_empty() => return Ok(Err(over)),
                    // Every post's counting names the hour's public mail budget, so two posts at
                    // once meet on it and DynamoDB cancels one: it waits a moment and tries again.
                    _ if attempt < COUNT_ATTEMPTS && conflicted(&e) => {
                        let jitter = (ulid::Ulid::new().random() % 20) as u64;
                        tokio::time::sleep(std::time::Duration::from_millis(5 * attempt + jitter)).await;
                        attempt += 1;
                    }
                    _ => return Err(unavailable(e)),
                },
            }
        }
    }

    async fn keep_use(&self, key: &GuardKey, expires_at: Time) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s(format!("GUARD#{key}")))
            .item(SORT_KEY, s("ONCE"))
            .item(TTL_ATTRIBUTE, n(expires_at.timestamp()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn first_use(&self, key: &GuardKey, expires_at: Time, now: Time) -> Result<bool, StoreError> {
        let marker = once_marker(&self.table, key, expires_at, now);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(marker.item().clone()))
            .set_condition_expression(marker.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(marker.expression_attribute_names().cloned())
            .set_expression_attribute_values(marker.expression_attribute_values().cloned())
            .send()
            .await;
        written(result)
    }
}

impl zgoda_domain::store::Health for DynamoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.client.describe_table().table_name(&self.table).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn record_smoke(&self, run: &SmokeRunId, step: &SmokeStep, at: Time) -> Result<(), StoreError> {
        let (set, sent) = match step {
            SmokeStep::Sent { message_id, stream } => ("sent_at", Some((message_id, stream))),
            SmokeStep::SendEvent => ("send_event_at", None),
            SmokeStep::DeliveryEvent => ("delivery_event_at", None),
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(format!("SMOKE#{}", run.as_str())))
            .key(SORT_KEY, s("RUN"))
            .expression_attribute_names("#step", set)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":at", s(format_time(&at)))
            .expression_attribute_values(":ttl", n((at + chrono::Duration::days(1)).timestamp()));
        update = match sent {
            Some((id, stream)) => update
                // `stream` is one of DynamoDB's reserved words: named through a placeholder.
                .update_expression("SET #step = :at, message_id = :id, #stream = :stream, #ttl = :ttl")
                .expression_attribute_names("#stream", "stream")
                .expression_attribute_values(":id", s(id))
                .expression_attribute_values(":stream", s(stream.as_str())),
            // An event may come before the sender's own record: either creates the item.
            None => update.update_expression("SET #step = :at, #ttl = if_not_exists(#ttl, :ttl)"),
        };
        update.send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn load_smoke(&self, run: &SmokeRunId) -> Result<Option<SmokeRun>, StoreError> {
        let Some(item) = self.get(&format!("SMOKE#{}", run.as_str()), "RUN").await? else { return Ok(None) };
        let time = |name: &str| get_s(&item, name).and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.to_utc());
        Ok(Some(SmokeRun {
            run_id: run.as_str().to_owned(),
            to: zgoda_domain::smoke::SIMULATOR_SUCCESS.to_owned(),
            message_id: get_s(&item, "message_id").map(str::to_owned),
            stream: get_s(&item, "stream").and_then(MailStream::parse),
            sent_at: time("sent_at"),
            send_event_at: time("send_event_at"),
            delivery_event_at: time("delivery_event_at"),
        }))
    }
}

fn base64_url(bytes: Vec<u8>) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_url_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok()
}
