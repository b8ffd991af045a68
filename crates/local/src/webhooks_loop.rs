//! Webhook delivery as its EventBridge schedule runs it (every minute in AWS), every second here
//! so that a receiver on this machine sees a change at once; through the same handler and the same
//! SSRF guard the Lambda uses, reaching this machine's loopback only (plain HTTP allowed), and
//! resolving `localhost` only: an endpoint registered here sends nothing off the machine.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use webhooks::sender::GuardedSender;

use crate::server::Local;

/// How often the local stack runs webhook delivery.
pub const EVERY: Duration = Duration::from_secs(1);

/// The settings the local stack (and the tests) deliver webhooks under: receivers on loopback,
/// changes shown after a second, retries within seconds, a lease that a killed worker gives up
/// within seconds.
pub fn local_settings(settings: &mut zgoda_domain::Settings) {
    settings.webhook_loopback = true;
    settings.feed_settle = chrono::Duration::seconds(1);
    settings.webhook_retries = [1, 2, 2, 4].map(chrono::Duration::seconds).to_vec();
    settings.webhook_lease = chrono::Duration::seconds(5);
}

/// Runs delivery until the returned task is aborted (aborting it is how tests kill the worker).
pub fn spawn(local: Arc<Local>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let sender = GuardedSender::local();
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let mut event = CloudWatchEvent::default();
            event.time = chrono::Utc::now();
            if let Err(e) = webhooks::handle_app(&local.apps.webhooks, &sender, event).await {
                tracing::warn!(error = %e, "webhook delivery failed; the next run tries again");
            }
        }
    })
}
