//! The deadline watch: on a schedule, mails each open breach's contact point when its 72-hour
//! authority deadline is 24 h and 6 h away and when it has passed, and the controller's contact
//! point when a privacy request is due in 7 days, in 1 day and once it is overdue; each reminder
//! once.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde_json::{Value, json};
use zgoda_aws::access::Access;
use zgoda_domain::mail::{MailStream, Mailer};
use zgoda_domain::store::{Store, WorkQueue};
use zgoda_domain::{Error, Zgoda};

/// [`handle`] over the deployed adapters, compiled once, here: the Lambda binary, the local stack
/// and the tests call this rather than each compiling its own copy of the handler (an optimized
/// build instantiates a generic anew in each crate that names it).
pub async fn handle_app(app: &zgoda_web::App, event: CloudWatchEvent) -> Result<Value, Error> {
    handle(app, event).await
}

/// The event's own time is `now`, so a run can be replayed at any chosen moment.
pub async fn handle<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, event: CloudWatchEvent) -> Result<Value, Error> {
    let breaches = app.breach_reminders(event.time).await?;
    let requests = app.request_reminders(event.time).await?;
    let incidents = app.triage_reminders(event.time).await?;
    Ok(json!({
        "reminders": breaches.reminders,
        "request_reminders": requests,
        "triage_reminders": incidents,
        "follow_ups": breaches.follow_ups,
    }))
}

/// When the function reads its key rings ([`zgoda_web::app::Starting`]).
/// It has no ring to read (`ACCESS`), so either way it reads none.
pub const RINGS: zgoda_web::app::ReadRings = zgoda_web::app::ReadRings::AtStart;

/// What the deadline watch may do in AWS, and no more (`zgoda_aws::access` says how it is held to it).
pub const ACCESS: Access =
    Access { table: &["dynamodb:Query", "dynamodb:PutItem"], index: true, mail: &[MailStream::Notices], ..Access::NONE };
