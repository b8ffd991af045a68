//! Lambda entry point for the deadline watch (an EventBridge schedule).

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

// One thread: a Lambda instance serves one event at a time, and on one runtime thread an SDK
// call's answer wakes the task that waits for it without a hop between threads (BENCHMARKS.md:
// about half an SDK call's CPU).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let starting = zgoda_web::app::start(&deadline_watch::ACCESS, deadline_watch::RINGS).await?;
    let starting = &starting;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CloudWatchEvent>| async move {
        let app = starting.app().await.map_err(|e| Error::from(e.to_string()))?;
        deadline_watch::handle_app(app, event.payload).await.map_err(|e| Error::from(e.to_string()))
    }))
    .await
}
