//! Lambda entry point for the notifier (SQS event source with ReportBatchItemFailures).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let app = zgoda_web::app::from_env().await?;
    let rate = std::env::var("ZGODA_SEND_RATE").ok().and_then(|r| r.parse().ok()).unwrap_or(14);
    let attempts = std::env::var("ZGODA_SEND_ATTEMPTS").ok().and_then(|r| r.parse().ok()).unwrap_or(4);
    let notifier = notifier::Notifier::new(std::sync::Arc::new(app), rate, attempts);
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(notifier::handle_app(notifier, event.payload, chrono::Utc::now()).await)
    }))
    .await
}
