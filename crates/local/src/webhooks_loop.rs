//! Webhook delivery as AWS drives it: the schedule (every minute in AWS, every second here, so
//! that a receiver on this machine sees a change at once) queues the feed's changes, and a poller
//! hands the webhook queue's messages to the handler one at a time, as the Lambda's SQS event
//! source does (batch size 1). Through the same handler and the same SSRF guard the Lambda uses,
//! reaching this machine's loopback only (plain HTTP allowed), and resolving `localhost` only: an
//! endpoint registered here sends nothing off the machine.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use webhooks::Event;
use webhooks::sender::{GuardedSender, LocalResolver};

use crate::server::Local;

/// How often the local stack queues the feed's changes.
pub const EVERY: Duration = Duration::from_secs(1);

/// The settings the local stack (and the tests) deliver webhooks under: receivers on loopback,
/// changes shown after a second, retries within seconds, a give-up within half a minute, a lease
/// that a killed worker gives up within seconds.
pub fn local_settings(settings: &mut zgoda_domain::Settings) {
    settings.webhook_loopback = true;
    settings.feed_settle = chrono::Duration::seconds(1);
    settings.webhook_retries = [1, 2, 2, 4].map(chrono::Duration::seconds).to_vec();
    settings.webhook_give_up = chrono::Duration::seconds(30);
    settings.webhook_lease = chrono::Duration::seconds(5);
}

/// Runs the schedule and the queue's poller until the returned task is aborted.
pub fn spawn(local: Arc<Local>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let sender = GuardedSender::local();
        tokio::join!(schedule(&local, &sender), poll(&local, &sender));
    })
}

async fn schedule(local: &Local, sender: &GuardedSender<LocalResolver>) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        let event = Event::Schedule { time: chrono::Utc::now() };
        if let Err(e) = webhooks::handle_app(&local.apps.webhooks, sender, &local.apps.webhook_queue, event).await {
            tracing::warn!(error = %e, "queueing webhook changes failed; the next run tries again");
        }
    }
}

async fn poll(local: &Local, sender: &GuardedSender<LocalResolver>) {
    let queue = &local.apps.webhook_queue;
    zgoda_aws::queue::poll_batches(queue.client(), queue.url(), crate::LONG_POLL_SECONDS, 1, "webhooks", |messages| async move {
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(crate::as_lambda_sees_it).collect();
        let response = webhooks::handle_queue(&local.apps.webhooks, sender, queue, event, chrono::Utc::now()).await;
        let retry: Vec<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        messages.iter().map(|m| m.message_id.as_ref().is_some_and(|id| !retry.contains(id))).collect()
    })
    .await
}
