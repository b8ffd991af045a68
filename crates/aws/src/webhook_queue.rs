//! The webhook queue on SQS FIFO: one message per (endpoint, change), ids only, grouped by
//! endpoint and person so that SQS hands one person's changes over in order and one at a time;
//! a failed one is hidden for its backoff; a given-up one goes to the FIFO dead-letter queue,
//! whose depth the template's alarm watches.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use zgoda_domain::store::StoreError;
use zgoda_domain::webhooks::{WebhookQueue, WebhookTask};

/// The longest SQS hides a received message (12 hours from its receipt).
const MAX_VISIBILITY_SECS: i64 = 12 * 60 * 60 - 60;

#[derive(Debug, Clone)]
pub struct SqsWebhookQueue {
    client: crate::LazyClient<Client>,
    url: String,
    dead_letter_url: String,
}

impl SqsWebhookQueue {
    pub fn new(client: impl Into<crate::LazyClient<Client>>, url: impl Into<String>, dead_letter_url: impl Into<String>) -> Self {
        Self { client: client.into(), url: url.into(), dead_letter_url: dead_letter_url.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dead_letter_url(&self) -> &str {
        &self.dead_letter_url
    }

    /// Hides a received message for `after` (its backoff): SQS offers it again then, and holds its
    /// group's later messages back meanwhile.
    pub async fn retry_later(&self, receipt_handle: &str, after: chrono::Duration) -> Result<(), StoreError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(after.num_seconds().clamp(0, MAX_VISIBILITY_SECS) as i32)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::describe(&e)))?;
        Ok(())
    }

    /// Puts a given-up task on the dead-letter queue (the caller then lets the queue delete it).
    pub async fn dead_letter(&self, task: &WebhookTask) -> Result<(), StoreError> {
        self.client
            .send_message()
            .queue_url(&self.dead_letter_url)
            .message_body(serde_json::to_string(task).expect("serializes"))
            .message_group_id(task.group())
            .message_deduplication_id(task.dedup_key())
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::describe(&e)))?;
        Ok(())
    }
}

impl WebhookQueue for SqsWebhookQueue {
    /// Ten a call, one call after another: the order of the calls is the order of the groups.
    /// Any entry refused fails the whole: the cursor does not move, the next run queues the same
    /// tasks again and SQS drops those it already has (deduplication, five minutes).
    async fn enqueue(&self, tasks: &[WebhookTask]) -> Result<(), StoreError> {
        for chunk in tasks.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(t).expect("serializes"))
                        .message_group_id(t.group())
                        .message_deduplication_id(t.dedup_key())
                        .build()
                        .expect("complete")
                })
                .collect();
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(crate::describe(&e)))?;
            if let Some(failed) = out.failed().first() {
                return Err(StoreError::Unavailable(format!("the webhook queue refused a task: {}", failed.code())));
            }
        }
        Ok(())
    }
}
