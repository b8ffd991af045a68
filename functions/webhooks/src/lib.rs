//! Webhook delivery (Art. 19, Art. 7(3)), two events, one function:
//! - on a schedule, each enabled endpoint's new changes go from the feed to the webhook queue
//!   ([`handle_schedule`]);
//! - from the queue (SQS FIFO, one message at a time per person and endpoint), each change is
//!   posted, signed, through the SSRF guard ([`sender`]); a failure is hidden for its backoff, a
//!   change given up goes to the dead-letter queue ([`handle_queue`]).
//!
//! The domain (`zgoda_domain::webhooks`) decides what, when and how often; this function only
//! drives it and owns the network and the queue's side.

pub mod sender;

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::{Value, json};
use zgoda_aws::SqsWebhookQueue;
use zgoda_aws::access::Access;
use zgoda_domain::mail::Mailer;
use zgoda_domain::store::{Store, WorkQueue};
use zgoda_domain::webhooks::{PumpOutcome, Received, TaskOutcome, WebhookQueue, WebhookSender, WebhookTask};
use zgoda_domain::{Error, Time, Zgoda};

/// How long one scheduled run keeps queueing before it leaves the rest to the next (the
/// function's timeout is 60 s).
pub const RUN_BUDGET: Duration = Duration::from_secs(30);

/// The event the function is given: its schedule's, or a batch from its queue.
#[derive(Debug)]
pub enum Event {
    Schedule { time: Time },
    Queue(SqsEvent),
}

impl Event {
    /// Tells the two apart by shape: an SQS batch has `Records`.
    pub fn parse(value: Value) -> Result<Self, serde_json::Error> {
        if value.get("Records").is_some() {
            return serde_json::from_value(value).map(Event::Queue);
        }
        let event: aws_lambda_events::event::cloudwatch_events::CloudWatchEvent = serde_json::from_value(value)?;
        Ok(Event::Schedule { time: event.time })
    }
}

/// [`handle_schedule`] and [`handle_queue`] over the deployed adapters, compiled once, here (with
/// the deployed sender, or the local stack's).
pub async fn handle_app<W: WebhookSender>(app: &zgoda_web::App, sender: &W, queue: &SqsWebhookQueue, event: Event) -> Result<Value, Error> {
    match event {
        Event::Schedule { time } => handle_schedule(app, queue, time, chrono::Utc::now).await,
        Event::Queue(batch) => {
            let response = handle_queue(app, sender, queue, batch, chrono::Utc::now()).await;
            Ok(serde_json::to_value(response).expect("a batch response serialises"))
        }
    }
}

/// One scheduled run: each enabled endpoint in turn, batch after batch while it has more and the
/// run's budget lasts. `clock` gives the time of each batch (the event's own time starts the run,
/// so a run can be replayed at a chosen moment).
pub async fn handle_schedule<S: Store, M: Mailer, Q: WorkQueue, Wq: WebhookQueue>(
    app: &Zgoda<S, M, Q>,
    queue: &Wq,
    start: Time,
    clock: impl Fn() -> Time,
) -> Result<Value, Error> {
    let began = Instant::now();
    let offset = start - clock();
    let mut queued = 0;
    for endpoint in app.endpoints_to_run().await? {
        loop {
            match app.pump(&endpoint, queue, clock() + offset).await {
                Ok(PumpOutcome::More { queued: n }) if began.elapsed() < RUN_BUDGET => queued += n,
                Ok(PumpOutcome::More { queued: n } | PumpOutcome::Idle { queued: n }) => {
                    queued += n;
                    break;
                }
                Ok(PumpOutcome::Skipped) => break,
                // One endpoint's trouble with the table or the queue is not the others': logged,
                // the next run tries again from the same cursor.
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint, error = %e, "queueing webhook changes failed for an endpoint; the next run retries");
                    break;
                }
            }
        }
    }
    Ok(json!({ "queued": queued }))
}

/// One batch from the webhook queue: delivered in its order; the response lists what SQS is to
/// offer again (each already hidden for its backoff). A message that cannot be read is left to
/// the queue's redrive, which moves it to the dead-letter queue after its receives.
pub async fn handle_queue<W: WebhookSender>(
    app: &zgoda_web::App,
    sender: &W,
    queue: &SqsWebhookQueue,
    event: SqsEvent,
    now: Time,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut batch = Vec::new();
    let mut messages = Vec::new();
    for message in &event.records {
        match received(message) {
            Some(r) => {
                batch.push(r);
                messages.push(message);
            }
            None => {
                tracing::error!(message = ?message.message_id, "an unreadable webhook message; the queue's redrive takes it");
                fail(&mut response, message);
            }
        }
    }
    let outcomes = app.deliver_webhooks(&batch, sender, now).await;
    for ((message, received), outcome) in messages.into_iter().zip(&batch).zip(outcomes) {
        let finished = match outcome {
            TaskOutcome::Done => true,
            TaskOutcome::Retry { after } => {
                if let Err(e) = queue.retry_later(message.receipt_handle.as_deref().unwrap_or_default(), after).await {
                    tracing::warn!(error = %e, "could not hide a failed webhook message for its backoff; the queue's visibility timeout applies");
                }
                false
            }
            // Only once it is on the dead-letter queue does it leave this one.
            TaskOutcome::GiveUp => match queue.dead_letter(&received.task).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, "could not put a given-up webhook change on the dead-letter queue; tried again");
                    false
                }
            },
        };
        if !finished {
            fail(&mut response, message);
        }
    }
    response
}

fn fail(response: &mut SqsBatchResponse, message: &SqsMessage) {
    let mut f = BatchItemFailure::default();
    f.item_identifier = message.message_id.clone().unwrap_or_default();
    response.batch_item_failures.push(f);
}

/// A message as the domain takes it: its task, its receive count, when it was sent.
fn received(message: &SqsMessage) -> Option<Received> {
    let task: WebhookTask = serde_json::from_str(message.body.as_deref()?).ok()?;
    let attribute = |name: &str| message.attributes.get(name).and_then(|v| v.parse::<i64>().ok());
    let receives = attribute("ApproximateReceiveCount").unwrap_or(1).max(1) as u32;
    let queued_at = chrono::DateTime::from_timestamp_millis(attribute("SentTimestamp")?)?;
    Some(Received { task, receives, queued_at })
}

/// What webhook delivery may do in AWS, and no more (`zgoda_aws::access` says how it is held to it):
/// read endpoints, the feed and the profiles it names; move cursors; write the delivery log; note on a
/// person's records, beside their chain (the condition check), whom it told; queue changes, take
/// them from the queue (its event source, on its behalf), hide a failed one for its backoff, and
/// put a given-up one on the dead-letter queue.
pub const ACCESS: Access = Access {
    table: &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
    webhook_queue: &["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
    webhook_dead_letters: true,
    ..Access::NONE
};
