//! Lambda entry point for webhook delivery (an EventBridge schedule).

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    zgoda_web::telemetry::init();
    let app = zgoda_web::app::from_env(&webhooks::ACCESS).await?;
    let sender = webhooks::sender::GuardedSender::deployed();
    let (app, sender) = (&app, &sender);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<CloudWatchEvent>| async move {
        webhooks::handle_app(app, sender, event.payload).await.map_err(|e| Error::from(e.to_string()))
    }))
    .await
}
