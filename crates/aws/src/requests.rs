//! Privacy requests as the operator handles them (`zgoda_domain::requests`), on the one table.
//!
//! | pk                 | sk                 | what                                                       |
//! |--------------------|--------------------|------------------------------------------------------------|
//! | `SUBJECT#<sid>`    | `REQUEST#<id>`     | the request (PII-free); `gsi1`: `REQUESTS#OPEN` by due date, or `REQUESTS#CLOSED` by closing time |
//! | `REQUEST#<id>`     | `SUBJECT`          | whose request it is, so an operator finds it by its id     |
//!
//! Both carry the request's expiry (`PrivacyRequest::kept_until`) as their TTL.

use aws_sdk_dynamodb::types::TransactWriteItem;
use zgoda_domain::Time;
use zgoda_domain::ids::{RequestId, SubjectId};
use zgoda_domain::proof::format_time;
use zgoda_domain::store::{PrivacyRequest, RequestStore, StoreError};

use crate::dynamo::{DynamoStore, corrupt, keyed, put, subject_pk, unavailable, written};
use crate::item::{Item, from_item, get_s, n, s, to_item};
use crate::table::{GSI_PARTITION_KEY, GSI_SORT_KEY, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

const OPEN: &str = "REQUESTS#OPEN";
const CLOSED: &str = "REQUESTS#CLOSED";

/// How many closed requests a listing shows, latest first.
const CLOSED_LISTED: i32 = 500;

fn pointer_pk(id: &RequestId) -> String {
    format!("REQUEST#{id}")
}

/// The request's item, filed in the index where the operator looks for it: open ones by when
/// they are due, closed ones by when they ended.
pub(crate) fn request_item(subject: &SubjectId, request: &PrivacyRequest) -> Item {
    let mut item = keyed(subject_pk(subject), pointer_pk(&request.request_id), to_item(request));
    item.insert(TTL_ATTRIBUTE.to_owned(), n(request.kept_until().timestamp()));
    let (index, at) = match (request.status().is_open(), &request.closing) {
        (true, _) => (OPEN, request.due()),
        (false, Some(closing)) => (CLOSED, closing.at),
        // Answered in full on arrival.
        (false, None) => (CLOSED, request.received_at),
    };
    item.insert(GSI_PARTITION_KEY.to_owned(), s(index));
    item.insert(GSI_SORT_KEY.to_owned(), s(format!("{}#{}", format_time(&at), request.request_id)));
    item
}

/// The writes that record a new request: the request and the pointer to it.
pub(crate) fn record_writes(table: &str, subject: &SubjectId, request: &PrivacyRequest) -> Vec<TransactWriteItem> {
    let mut pointer = keyed(pointer_pk(&request.request_id), "SUBJECT".into(), Item::new());
    pointer.insert("subject".into(), s(subject.as_str()));
    pointer.insert(TTL_ATTRIBUTE.to_owned(), n(request.kept_until().timestamp()));
    vec![put(table, request_item(subject, request), None), put(table, pointer, None)]
}

fn listed(item: &Item) -> Result<(SubjectId, PrivacyRequest), StoreError> {
    let subject = get_s(item, PARTITION_KEY).and_then(|pk| pk.strip_prefix("SUBJECT#")).and_then(SubjectId::parse);
    let subject = subject.ok_or_else(|| corrupt("request", "no subject"))?;
    Ok((subject, from_item(item).map_err(|e| corrupt("request", e))?))
}

impl RequestStore for DynamoStore {
    async fn load_request(&self, id: &RequestId) -> Result<Option<(SubjectId, PrivacyRequest)>, StoreError> {
        let Some(pointer) = self.get(&pointer_pk(id), "SUBJECT").await? else { return Ok(None) };
        let subject = get_s(&pointer, "subject").and_then(SubjectId::parse).ok_or_else(|| corrupt("request pointer", "no subject"))?;
        match self.get(&subject_pk(&subject), &pointer_pk(id)).await? {
            Some(item) => Ok(Some((subject, from_item(&item).map_err(|e| corrupt("request", e))?))),
            None => Ok(None),
        }
    }

    async fn list_requests(&self, open: bool, due_by: Option<Time>) -> Result<Vec<(SubjectId, PrivacyRequest)>, StoreError> {
        let items = match (open, due_by) {
            (true, None) => self.gsi_partition(OPEN).await?,
            (true, Some(by)) => {
                let query = self
                    .gsi_query(OPEN)
                    .key_condition_expression("#pk = :pk AND #sk <= :by")
                    .expression_attribute_names("#sk", GSI_SORT_KEY)
                    .expression_attribute_values(":by", s(format!("{}#~", format_time(&by))));
                self.query_all(query).await?
            }
            (false, _) => {
                let out = self.gsi_query(CLOSED).scan_index_forward(false).limit(CLOSED_LISTED).send().await.map_err(unavailable)?;
                out.items.unwrap_or_default()
            }
        };
        items.iter().map(listed).collect()
    }

    async fn update_request(&self, subject: &SubjectId, request: &PrivacyRequest) -> Result<bool, StoreError> {
        let put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(request_item(subject, request)))
            // Records written before requests had revisions read as revision 0.
            .condition_expression(match request.revision {
                1 => "attribute_exists(pk) AND (attribute_not_exists(#revision) OR #revision = :seen)",
                _ => "#revision = :seen",
            })
            .expression_attribute_names("#revision", "revision")
            .expression_attribute_values(":seen", n(request.revision.saturating_sub(1)));
        written(put.send().await)
    }

    async fn index_earlier_requests(&self, limit: usize) -> Result<Option<u64>, StoreError> {
        // One page of a scan for requests outside the index, from where the last run stopped.
        let scan = self
            .client()
            .scan()
            .filter_expression("begins_with(#pk, :subject) AND begins_with(#sk, :request) AND attribute_not_exists(#index)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_names("#index", GSI_PARTITION_KEY)
            .expression_attribute_values(":subject", s("SUBJECT#"))
            .expression_attribute_values(":request", s("REQUEST#"));
        let Some(page) = self.resumable_scan(INDEX_PROGRESS, scan, limit).await? else { return Ok(None) };
        let mut filed = 0;
        for item in &page.items {
            let Ok((subject, request)) = listed(item) else {
                tracing::warn!("an earlier request does not read; left as it is");
                continue;
            };
            let mut writes = record_writes(self.table(), &subject, &request);
            // A request changed meanwhile is filed already: it stays as it is.
            writes[0] = put(self.table(), request_item(&subject, &request), Some("attribute_not_exists(gsi1pk)"));
            match self.client().transact_write_items().set_transact_items(Some(writes)).send().await {
                Ok(_) => filed += 1,
                Err(e) if crate::dynamo::condition_failed_at(&e, 0) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        self.save_scan_progress(INDEX_PROGRESS, page).await?;
        Ok(Some(filed))
    }
}

/// Where the scan for requests recorded before they were indexed keeps its place (`SWEEP`, this).
const INDEX_PROGRESS: &str = "BACKFILL#REQUESTS";

#[cfg(test)]
mod tests {
    use super::*;
    use zgoda_domain::store::PrivacyRequestKind;

    /// The key spelling stored items have: an operator's `REQUEST#<id>` finds the same request.
    #[test]
    fn an_open_request_is_filed_by_its_due_date_and_a_closed_one_by_its_closing() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z").unwrap().to_utc();
        let subject = SubjectId::parse(&"a".repeat(64)).unwrap();
        let mut request = PrivacyRequest {
            request_id: RequestId::parse("01KBR1").unwrap(),
            kind: PrivacyRequestKind::Access,
            purpose: None,
            received_at: at,
            due_at: at + chrono::Duration::days(31),
            outcome: "link_sent".into(),
            extension: None,
            closing: None,
            revision: 0,
        };
        let item = request_item(&subject, &request);
        assert_eq!((get_s(&item, SORT_KEY), get_s(&item, GSI_PARTITION_KEY)), (Some("REQUEST#01KBR1"), Some(OPEN)));
        assert_eq!(get_s(&item, GSI_SORT_KEY), Some("2027-01-04T10:00:00.000Z#01KBR1"));
        request.outcome = "no_data_held".into();
        let item = request_item(&subject, &request);
        assert_eq!((get_s(&item, GSI_PARTITION_KEY), get_s(&item, GSI_SORT_KEY)), (Some(CLOSED), Some("2026-12-04T10:00:00.000Z#01KBR1")));
    }
}
