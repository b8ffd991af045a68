//! Webhook endpoints, their cursors and delivery logs, and the change feed
//! (`zgoda_domain::webhooks`, `changes`), on the one table.
//!
//! | pk               | sk              | what                                                       |
//! |------------------|-----------------|------------------------------------------------------------|
//! | `WEBHOOKS`       | `ENDPOINT#<id>` | an endpoint                                                |
//! | `WEBHOOKS`       | `SECRET#<id>`   | its signing secret (and the one a rotation replaced); never listed |
//! | `WEBHOOKS`       | `CURSOR#<id>`   | how far its delivery got, and `lease_until` while a worker holds it |
//! | `DELIVERIES#<id>`| `<change id>`   | how one change's delivery stands (ids and outcomes only); TTL |
//! | `SUBJECT#<id>`   | `TOLD#<endpoint id>` | which kinds of change the endpoint received about the person, first and last (Art. 19); purged with the person's records |
//! | `CHANGES`        | `<change id>`   | the feed (written by `chain_writes`); TTL. An erasure's, while it holds the address, is in `gsi1` under `ERASED_ADDRESSES` |

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem, Update};
use zgoda_domain::Time;
use zgoda_domain::changes::{Change, ChangeKind, FEED_RETENTION};
use zgoda_domain::ids::SubjectId;
use zgoda_domain::processors::WebhookSecrets;
use zgoda_domain::proof::format_time;
use zgoda_domain::store::{StoreError, WebhookStore};
use zgoda_domain::webhooks::{Cursor, DeliveryLog, Endpoint, EndpointId, Held};

use crate::dynamo::{DynamoStore, condition_failed, condition_failed_at, corrupt, keyed, put, subject_pk, unavailable, written};
use crate::item::{Item, from_item, get_s, n, s, to_item};
use crate::table::{GSI_PARTITION_KEY, GSI_SORT_KEY, PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE};

const WEBHOOKS: &str = "WEBHOOKS";
const CHANGES: &str = "CHANGES";
const ERASED_ADDRESSES: &str = "ERASED_ADDRESSES";
const LEASE: &str = "lease_until";
/// The sort key prefix of a person's [`zgoda_domain::webhooks::Told`] items.
pub(crate) const TOLD: &str = "TOLD#";

fn deliveries_pk(id: &EndpointId) -> String {
    format!("DELIVERIES#{id}")
}

/// The feed item of one change, for the transaction that writes its event.
pub(crate) fn change_write(table: &str, change: &Change) -> TransactWriteItem {
    let mut item = keyed(CHANGES.into(), change.change_id.clone(), to_item(change));
    item.insert(TTL_ATTRIBUTE.into(), n(change.kept_until().timestamp()));
    if change.erased_address.is_some() {
        item.insert(GSI_PARTITION_KEY.into(), s(ERASED_ADDRESSES));
        item.insert(GSI_SORT_KEY.into(), s(&change.change_id));
    }
    put(table, item, None)
}

fn cursor_item(id: &EndpointId, cursor: &Cursor, lease_until: Option<Time>) -> Item {
    let mut item = keyed(WEBHOOKS.into(), format!("CURSOR#{id}"), to_item(cursor));
    if let Some(t) = lease_until {
        item.insert(LEASE.into(), n(t.timestamp_millis()));
    }
    item
}

impl DynamoStore {
    /// Writes a cursor if this worker's lease (`held_until`) still holds it.
    async fn put_held(&self, id: &EndpointId, held_until: Time, cursor: &Cursor, keep: bool) -> Result<bool, StoreError> {
        let item = cursor_item(id, cursor, keep.then_some(held_until));
        let result = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("#lease = :held")
            .expression_attribute_names("#lease", LEASE)
            .expression_attribute_values(":held", n(held_until.timestamp_millis()))
            .send()
            .await;
        written(result)
    }
}

impl WebhookStore for DynamoStore {
    async fn save_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let item = keyed(WEBHOOKS.into(), format!("ENDPOINT#{}", endpoint.endpoint_id), to_item(endpoint));
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn load_endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, StoreError> {
        let item = self.get(WEBHOOKS, &format!("ENDPOINT#{id}")).await?;
        item.map(|i| from_item(&i).map_err(|e| corrupt("webhook endpoint", e))).transpose()
    }

    async fn list_endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let items = self.partition(WEBHOOKS).await?;
        let endpoints = items.iter().filter(|i| get_s(i, SORT_KEY).is_some_and(|sk| sk.starts_with("ENDPOINT#")));
        endpoints.map(|i| from_item(i).map_err(|e| corrupt("webhook endpoint", e))).collect()
    }

    async fn save_endpoint_secrets(&self, id: &EndpointId, secrets: &WebhookSecrets) -> Result<(), StoreError> {
        let item = keyed(WEBHOOKS.into(), format!("SECRET#{id}"), to_item(secrets));
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn load_endpoint_secrets(&self, id: &EndpointId) -> Result<Option<WebhookSecrets>, StoreError> {
        let item = self.get(WEBHOOKS, &format!("SECRET#{id}")).await?;
        item.map(|i| from_item(&i).map_err(|e| corrupt("webhook secret", e))).transpose()
    }

    async fn start_cursor(&self, id: &EndpointId, cursor: &Cursor) -> Result<(), StoreError> {
        let item = cursor_item(id, cursor, None);
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn load_cursor(&self, id: &EndpointId) -> Result<Option<Cursor>, StoreError> {
        let item = self.get(WEBHOOKS, &format!("CURSOR#{id}")).await?;
        item.map(|i| from_item(&i).map_err(|e| corrupt("webhook cursor", e))).transpose()
    }

    async fn claim_cursor(&self, id: &EndpointId, now: Time, lease_until: Time) -> Result<Option<Held>, StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key(PARTITION_KEY, s(WEBHOOKS))
            .key(SORT_KEY, s(format!("CURSOR#{id}")))
            .update_expression("SET #lease = :until")
            .condition_expression("attribute_exists(#pk) AND (attribute_not_exists(#lease) OR #lease <= :now)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#lease", LEASE)
            .expression_attribute_values(":until", n(lease_until.timestamp_millis()))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let cursor = from_item(&item).map_err(|e| corrupt("webhook cursor", e))?;
                Ok(Some(Held { cursor, lease_until }))
            }
            Err(e) if condition_failed(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn keep_cursor(&self, id: &EndpointId, held_until: Time, cursor: &Cursor) -> Result<bool, StoreError> {
        self.put_held(id, held_until, cursor, true).await
    }

    async fn release_cursor(&self, id: &EndpointId, held_until: Time, cursor: &Cursor) -> Result<(), StoreError> {
        // A lease that lapsed and was taken meanwhile is the other worker's to move.
        self.put_held(id, held_until, cursor, false).await.map(|_| ())
    }

    async fn record_delivery(&self, id: &EndpointId, log: &DeliveryLog) -> Result<(), StoreError> {
        let mut item = keyed(deliveries_pk(id), log.change_id.clone(), to_item(log));
        item.insert(TTL_ATTRIBUTE.into(), n((log.at + FEED_RETENTION).timestamp()));
        self.client().put_item().table_name(self.table()).set_item(Some(item)).send().await.map_err(unavailable)?;
        Ok(())
    }

    async fn list_deliveries(&self, id: &EndpointId, limit: usize) -> Result<Vec<DeliveryLog>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":pk", s(deliveries_pk(id)))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        out.items.unwrap_or_default().iter().map(|i| from_item(i).map_err(|e| corrupt("webhook delivery", e))).collect()
    }

    async fn list_changes(&self, after: &str, before: &str, limit: usize) -> Result<Vec<Change>, StoreError> {
        // A key condition cannot be empty: `0` sorts before every ULID.
        let after = if after.is_empty() { "0" } else { after };
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .consistent_read(true)
            .key_condition_expression("#pk = :pk AND #sk > :after")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", s(CHANGES))
            .expression_attribute_values(":after", s(after))
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        let items = out.items.unwrap_or_default();
        let settled = items.iter().filter(|i| get_s(i, SORT_KEY).is_some_and(|sk| sk < before));
        settled.map(|i| from_item(i).map_err(|e| corrupt("change", e))).collect()
    }

    async fn load_change(&self, id: &str) -> Result<Option<Change>, StoreError> {
        let item = self.get(CHANGES, id).await?;
        item.map(|i| from_item(&i).map_err(|e| corrupt("change", e))).transpose()
    }

    async fn record_told(&self, subject: &SubjectId, id: &EndpointId, kind: ChangeKind, at: Time) -> Result<(), StoreError> {
        let pk = subject_pk(subject);
        // Only beside a chain: a person purged meanwhile gets no orphan item back.
        let chain = ConditionCheck::builder()
            .table_name(self.table())
            .key(PARTITION_KEY, s(&pk))
            .key(SORT_KEY, s("HEAD"))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .build()
            .expect("complete");
        let told = Update::builder()
            .table_name(self.table())
            .key(PARTITION_KEY, s(&pk))
            .key(SORT_KEY, s(format!("{TOLD}{id}")))
            .update_expression("SET endpoint_id = :id, first_at = if_not_exists(first_at, :at), last_at = :at ADD kinds :kind")
            .expression_attribute_values(":id", s(id.to_string()))
            .expression_attribute_values(":at", s(format_time(&at)))
            .expression_attribute_values(":kind", AttributeValue::Ss(vec![kind.as_str().to_owned()]))
            .build()
            .expect("complete");
        let writes = vec![TransactWriteItem::builder().condition_check(chain).build(), TransactWriteItem::builder().update(told).build()];
        match self.client().transact_write_items().set_transact_items(Some(writes)).send().await {
            Ok(_) => Ok(()),
            Err(e) if condition_failed_at(&e, 0) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn forget_erased_addresses(&self, before: Time) -> Result<usize, StoreError> {
        let upto = zgoda_domain::changes::present(before);
        let query = self
            .gsi_query(ERASED_ADDRESSES)
            .key_condition_expression("#pk = :pk AND #sk <= :upto")
            .expression_attribute_names("#sk", GSI_SORT_KEY)
            .expression_attribute_values(":upto", s(upto));
        let items = self.query_all(query).await?;
        for item in &items {
            let Some(sk) = get_s(item, SORT_KEY) else { continue };
            self.client()
                .update_item()
                .table_name(self.table())
                .key(PARTITION_KEY, s(CHANGES))
                .key(SORT_KEY, s(sk))
                .update_expression("REMOVE erased_address, #gpk, #gsk")
                .expression_attribute_names("#gpk", GSI_PARTITION_KEY)
                .expression_attribute_names("#gsk", GSI_SORT_KEY)
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(items.len())
    }
}
