//! Lambda entry point for intake: build the app once, then serve requests.

use lambda_http::{Error, Request, service_fn};

// One thread: a Lambda instance serves one event at a time, and on one runtime thread an SDK
// call's answer wakes the task that waits for it without a hop between threads (BENCHMARKS.md:
// about half an SDK call's CPU).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let app = zgoda_web::app::from_env(&intake::ACCESS).await?;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(intake::handle_app(app, req, chrono::Utc::now()).await)
    }))
    .await
}
