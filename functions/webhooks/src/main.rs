//! Lambda entry point for webhook delivery: an EventBridge schedule (feed to queue) and the
//! webhook queue's SQS event source (queue to receivers).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// One thread: a Lambda instance serves one event at a time, and on one runtime thread an SDK
// call's answer wakes the task that waits for it without a hop between threads (BENCHMARKS.md:
// about half an SDK call's CPU).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let config = zgoda_aws::Config::from_env()?;
    let clients = zgoda_aws::Clients::from_env().await;
    let app = zgoda_web::app::build(&config, &clients, &webhooks::ACCESS).await?;
    let queue = zgoda_aws::SqsWebhookQueue::new(clients.sqs.clone(), config.webhook_queue_url, config.webhook_dead_letter_url);
    let sender = webhooks::sender::GuardedSender::deployed();
    let (app, sender, queue) = (&app, &sender, &queue);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let event = webhooks::Event::parse(event.payload)?;
        webhooks::handle_app(app, sender, queue, event).await.map_err(|e| Error::from(e.to_string()))
    }))
    .await
}
