//! Lambda entry point for operator: start the app once (its key rings on their way), then serve requests.

use lambda_http::{Error, Request, service_fn};

// One thread: a Lambda instance serves one event at a time, and on one runtime thread an SDK
// call's answer wakes the task that waits for it without a hop between threads (BENCHMARKS.md:
// about half an SDK call's CPU).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let starting = zgoda_web::app::start(&operator::ACCESS, operator::RINGS).await?;
    let starting = &starting;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(operator::answer(starting, req, chrono::Utc::now()).await)
    }))
    .await
}
