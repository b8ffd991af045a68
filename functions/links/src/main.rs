//! Lambda entry point for links: build the app once, then serve requests.

use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let app = zgoda_web::app::from_env(&links::ACCESS).await?;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, std::convert::Infallible>(links::handle_app(app, req, chrono::Utc::now()).await)
    }))
    .await
}
