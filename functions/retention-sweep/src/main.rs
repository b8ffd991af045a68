//! Lambda entry point for the storage-limitation sweep (an EventBridge schedule).

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

// One thread: a Lambda instance serves one event at a time, and on one runtime thread an SDK
// call's answer wakes the task that waits for it without a hop between threads (BENCHMARKS.md:
// about half an SDK call's CPU).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let starting = zgoda_web::app::start(&retention_sweep::ACCESS, retention_sweep::RINGS).await?;
    let starting = &starting;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CloudWatchEvent>| async move {
        retention_sweep::answer(starting, event.payload).await.map_err(|e| Error::from(e.to_string()))
    }))
    .await
}
