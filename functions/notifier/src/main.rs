//! Lambda entry point for the notifier (SQS event source with ReportBatchItemFailures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

// One thread: a Lambda instance serves one event at a time, and on one runtime thread an SDK
// call's answer wakes the task that waits for it without a hop between threads (BENCHMARKS.md:
// about half an SDK call's CPU).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let app = zgoda_web::app::from_env(&notifier::ACCESS).await?;
    let number = |name: &str, default: u32| std::env::var(name).ok().and_then(|r| r.parse().ok()).unwrap_or(default);
    // The account's send rate, shared by every instance that may run at once.
    let pacer = notifier::Pacer::shared(number("ZGODA_SEND_RATE", 14), number("ZGODA_SEND_CONCURRENCY", 1));
    let attempts = number("ZGODA_SEND_ATTEMPTS", 4);
    let notifier = notifier::Notifier::with(std::sync::Arc::new(app), pacer, notifier::Backoff::DEPLOYED, attempts);
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(notifier::handle_app(notifier, event.payload, chrono::Utc::now()).await)
    }))
    .await
}
