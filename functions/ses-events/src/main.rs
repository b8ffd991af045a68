//! Lambda entry point for SES feedback (an SNS subscription).

// The compiler's query depth when laying out `main`'s future: the runtime's, the handler's (its
// keyless writes joined with the wait for the key rings) and the SDK's nested futures go past
// the default of 128.
#![recursion_limit = "256"]

use aws_lambda_events::event::sns::SnsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

// One thread: a Lambda instance serves one event at a time, and on one runtime thread an SDK
// call's answer wakes the task that waits for it without a hop between threads (BENCHMARKS.md:
// about half an SDK call's CPU).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let starting = zgoda_web::app::start(&ses_events::ACCESS, ses_events::RINGS).await?;
    let starting = &starting;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| async move {
        ses_events::answer(starting, event.payload, chrono::Utc::now()).await.map_err(|e| Error::from(e.to_string()))
    }))
    .await
}
