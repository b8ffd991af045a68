//! The notifier as Lambda's SQS event source would drive it: long-poll the queue, hand each batch
//! to the same handler the Lambda runs, delete what it finished, leave the rest for redelivery.

use aws_lambda_events::event::sqs::SqsEvent;
use std::time::Duration;

use zgoda_web::App;

/// Polls until the task is dropped (aborting it is how tests "kill" the notifier).
pub async fn run(notifier: &notifier::AppNotifier, app: &App, sqs: &aws_sdk_sqs::Client) {
    zgoda_aws::queue::poll(sqs, app.queue.url(), crate::LONG_POLL_SECONDS, "notices", |messages| async move {
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(crate::as_lambda_sees_it).collect();
        let response = notifier::handle_app(notifier, event, chrono::Utc::now()).await;
        let retry: Vec<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        messages.iter().map(|m| m.message_id.as_ref().is_some_and(|id| !retry.contains(id))).collect()
    })
    .await
}

/// Throttled notices come back within seconds locally (the tests throttle for a minute at most).
pub const LOCAL_BACKOFF: notifier::Backoff = notifier::Backoff { first: Duration::from_secs(1), most: Duration::from_secs(8) };

/// Runs the notifier for `local` until the returned task is aborted.
pub fn spawn(local: std::sync::Arc<crate::server::Local>, sqs: aws_sdk_sqs::Client, rate_per_second: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let notifier = notifier::AppNotifier::with(
            local.apps.notifier.clone(),
            notifier::Pacer::per_second(rate_per_second),
            LOCAL_BACKOFF,
            crate::provision::MAX_RECEIVES - 1,
        );
        run(&notifier, &local.apps.notifier, &sqs).await
    })
}
