//! SES's events as the deployed stack receives them (configuration set → SNS → the ses-events
//! function), fed from the queue the emulator publishes them to: each message wrapped in an SNS
//! record and handed to the same handler the Lambda runs; deleted once handled, left for
//! redelivery when the handler fails.

use aws_lambda_events::event::sns::{SnsEvent, SnsMessage, SnsRecord};
use zgoda_web::App;

/// The queue the emulator puts the configuration set's events on (see `emulator.py`).
pub fn queue_name(configuration_set: &str) -> String {
    format!("{configuration_set}-events")
}

/// Polls until the task is dropped.
pub async fn run(app: &App, sqs: &aws_sdk_sqs::Client, configuration_set: &str) {
    let url = loop {
        match sqs.get_queue_url().queue_name(queue_name(configuration_set)).send().await {
            Ok(out) => break out.queue_url.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %zgoda_aws::describe(&e), "SES events queue not found; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    zgoda_aws::queue::poll(sqs, &url, crate::LONG_POLL_SECONDS, "SES events", |messages| async move {
        // SNS invokes the function for each event concurrently; so are a batch's events handled here.
        let outcomes = futures_util::future::join_all(messages.iter().map(|m| {
            let mut sns = SnsMessage::default();
            sns.message_id = m.message_id.clone().unwrap_or_default();
            sns.message = m.body.clone().unwrap_or_default();
            let mut record = SnsRecord::default();
            record.sns = sns;
            let mut event = SnsEvent::default();
            event.records = vec![record];
            ses_events::handle_app(app, event, chrono::Utc::now())
        }))
        .await;
        outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "an SES event failed; it comes back after the queue's visibility timeout");
                    false
                }
            })
            .collect()
    })
    .await
}

/// Polls in flight at once: the events must keep up with a fan-out's sends (one each), or the
/// queue grows, and the emulator's receive slows with the length of the queue.
pub const POLLERS: usize = 4;

/// Runs the loop for each configuration set's events (in AWS, every set's events reach one SNS
/// topic and ses-events) until the returned task is aborted.
pub fn spawn(
    local: std::sync::Arc<crate::server::Local>,
    sqs: aws_sdk_sqs::Client,
    configuration_sets: Vec<String>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let pollers = configuration_sets.iter().flat_map(|set| (0..POLLERS).map(move |_| set));
        futures_util::future::join_all(pollers.map(|set| run(&local.apps.ses_events, &sqs, set))).await;
    })
}
