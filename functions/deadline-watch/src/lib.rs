//! The deadline watch: on a schedule, mails each open breach's contact point when its 72-hour
//! authority deadline is 24 h and 6 h away and when it has passed; each reminder once.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde_json::{Value, json};
use zgoda_aws::access::{AwsCall, DATA_KEY_USE, Resource, SEND_MAIL, call};
use zgoda_domain::mail::Mailer;
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
    let sent = app.deadline_watch(event.time).await?;
    Ok(json!({ "reminders": sent.iter().map(|(breach, which)| json!({"breach_id": breach, "reminder": which})).collect::<Vec<_>>() }))
}

/// Every AWS call of the deadline watch, by IAM action and resource: what its code calls, what Lambda does
/// with its role on its behalf, and the key rings it loads (no other). `infra/template.yaml` must
/// allow each and grant nothing else, which `tests/integration/infra.rs` evaluates; the local
/// stack refuses any call not listed (`zgoda_aws::access`).
pub const AWS_CALLS: &[AwsCall] = &[
    call("dynamodb:Query", Resource::Table),
    call("dynamodb:PutItem", Resource::Table),
    call("dynamodb:Query", Resource::TableIndex),
    DATA_KEY_USE[0],
    DATA_KEY_USE[1],
    DATA_KEY_USE[2],
    SEND_MAIL[0],
    SEND_MAIL[1],
];
