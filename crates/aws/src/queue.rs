//! Notifier work on SQS: one message per batch of recipients, sent ten messages a call.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures_util::{StreamExt, TryStreamExt, stream};
use zgoda_domain::store::{JobBatch, StoreError, WorkQueue};

/// SendMessageBatch calls in flight at once.
const SEND_CONCURRENCY: usize = 8;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: crate::LazyClient<Client>,
    url: String,
}

impl SqsQueue {
    pub fn new(client: impl Into<crate::LazyClient<Client>>, url: impl Into<String>) -> Self {
        Self { client: client.into(), url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send_batch(&self, jobs: &[JobBatch]) -> Result<(), StoreError> {
        let mut entries: Vec<SendMessageBatchRequestEntry> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(serde_json::to_string(j).expect("serializes"))
                    .build()
                    .expect("complete")
            })
            .collect();
        // SQS may accept a batch in part; the rest is sent again, twice at most.
        for _ in 0..3 {
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries.clone()))
                .send()
                .await
                .map_err(|e| StoreError::Unavailable(crate::describe(&e)))?;
            let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            entries.retain(|e| failed.contains(&e.id()));
        }
        Err(StoreError::Unavailable(format!("{} messages were not accepted by the queue", entries.len())))
    }
}

impl WorkQueue for SqsQueue {
    async fn enqueue(&self, batches: &[JobBatch]) -> Result<(), StoreError> {
        // Owned chunks and a cloned client keep the futures free of borrowed lifetimes (and Send).
        let chunks: Vec<Vec<JobBatch>> = batches.chunks(10).map(<[JobBatch]>::to_vec).collect();
        stream::iter(chunks)
            .map(|chunk| {
                let this = self.clone();
                async move { this.send_batch(&chunk).await }
            })
            .buffer_unordered(SEND_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn enqueue_later(&self, batch: &JobBatch, delay: std::time::Duration) -> Result<(), StoreError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(serde_json::to_string(batch).expect("serializes"))
            .delay_seconds(delay.as_secs().min(MAX_DELAY_SECS) as i32)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::describe(&e)))?;
        Ok(())
    }
}

/// The longest SQS delays a message.
const MAX_DELAY_SECS: u64 = 900;

/// Creates the work queue and its dead-letter queue (redrive after `max_receives`), idempotently.
/// Returns the work queue's URL.
pub async fn ensure_queues(client: &Client, name: &str, visibility_secs: u32, max_receives: u32) -> Result<String, String> {
    ensure_queue_pair(client, name, "", visibility_secs, max_receives).await.map(|(url, _)| url)
}

/// [`ensure_queues`] for FIFO queues (`<name>.fifo`, `<name>-dlq.fifo`): returns both URLs.
pub async fn ensure_fifo_queues(client: &Client, name: &str, visibility_secs: u32, max_receives: u32) -> Result<(String, String), String> {
    ensure_queue_pair(client, name, ".fifo", visibility_secs, max_receives).await
}

async fn ensure_queue_pair(
    client: &Client,
    name: &str,
    suffix: &str,
    visibility_secs: u32,
    max_receives: u32,
) -> Result<(String, String), String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let fifo = |create: aws_sdk_sqs::operation::create_queue::builders::CreateQueueFluentBuilder| {
        if suffix.is_empty() { create } else { create.attributes(QueueAttributeName::FifoQueue, "true") }
    };
    let dlq = fifo(client.create_queue().queue_name(format!("{name}-dlq{suffix}"))).send().await.map_err(|e| crate::describe(&e))?;
    let dlq_url = dlq.queue_url().unwrap_or_default().to_owned();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| crate::describe(&e))?;
    let dlq_arn = attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string()}).to_string();
    let queue = fifo(client.create_queue().queue_name(format!("{name}{suffix}")))
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .map_err(|e| crate::describe(&e))?;
    Ok((queue.queue_url().unwrap_or_default().to_owned(), dlq_url))
}

/// Drives a queue the way Lambda's SQS event source does, for the local stack: long-polls `url`
/// (waiting `wait_seconds` on an empty queue), hands each non-empty batch to `handle`, which
/// answers which of the messages it finished, and deletes those; the rest come back after the
/// visibility timeout. Runs until its task is dropped. `what` names the queue in log lines.
pub async fn poll<F, Fut>(sqs: &Client, url: &str, wait_seconds: i32, what: &str, handle: F)
where
    F: Fn(Vec<aws_sdk_sqs::types::Message>) -> Fut,
    Fut: Future<Output = Vec<bool>>,
{
    poll_batches(sqs, url, wait_seconds, 10, what, handle).await
}

/// [`poll`], `batch` messages at most per receive (the event source's batch size).
pub async fn poll_batches<F, Fut>(sqs: &Client, url: &str, wait_seconds: i32, batch: i32, what: &str, handle: F)
where
    F: Fn(Vec<aws_sdk_sqs::types::Message>) -> Fut,
    Fut: Future<Output = Vec<bool>>,
{
    use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(batch)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(r) => r.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %crate::describe(&e), queue = what, "poll failed");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let handles: Vec<Option<String>> = messages.iter().map(|m| m.receipt_handle.clone()).collect();
        let finished = handle(messages).await;
        let done: Vec<DeleteMessageBatchRequestEntry> = handles
            .into_iter()
            .zip(finished)
            .enumerate()
            .filter(|(_, (_, finished))| *finished)
            .filter_map(|(i, (receipt, _))| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).set_receipt_handle(receipt).build().ok()
            })
            .collect();
        if !done.is_empty()
            && let Err(e) = sqs.delete_message_batch().queue_url(url).set_entries(Some(done)).send().await
        {
            tracing::warn!(error = %crate::describe(&e), queue = what, "deleting finished messages failed; they come back and are found finished");
        }
    }
}
