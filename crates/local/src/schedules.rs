//! The deployed stack's EventBridge schedules, as the local stack runs them: the deadline watch
//! (every 15 minutes in AWS) and the storage-limitation sweep (hourly in AWS), both once a minute
//! here so that a demo shows their effect, each through the same handler its Lambda runs.

use std::sync::Arc;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;

use crate::server::Local;

/// How often the local stack runs each schedule.
const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs the schedules until the task is aborted.
pub fn spawn(local: Arc<Local>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let event = || {
                let mut event = CloudWatchEvent::default();
                event.time = chrono::Utc::now();
                event
            };
            if let Err(e) = deadline_watch::handle_app(&local.apps.deadline_watch, event()).await {
                tracing::warn!(error = %e, "deadline watch failed; the next run tries again");
            }
            if let Err(e) = retention_sweep::handle_app(&local.apps.retention_sweep, event()).await {
                tracing::warn!(error = %e, "retention sweep failed; the next run tries again");
            }
        }
    })
}
