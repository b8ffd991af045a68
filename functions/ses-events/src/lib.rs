//! SES send, bounce, complaint and delivery notifications, delivered through SNS: breach notices
//! recorded as sent when SES accepted them (even if the notifier died first), delivery status,
//! undeliverable addresses after hard bounces, complaints as withdrawals.

use aws_lambda_events::event::sns::SnsEvent;
use serde_json::{Value, json};
use zgoda_aws::access::Access;
use zgoda_domain::feedback::SesNotification;
use zgoda_domain::keys::KeyFamily;
use zgoda_domain::mail::Mailer;
use zgoda_domain::store::{Store, WorkQueue};
use zgoda_domain::{Error, Time, Zgoda};

/// [`handle`] over the deployed adapters, compiled once, here: the Lambda binary, the local stack
/// and the tests call this rather than each compiling its own copy of the handler (an optimized
/// build instantiates a generic anew in each crate that names it).
pub async fn handle_app(app: &zgoda_web::App, event: SnsEvent, now: Time) -> Result<Value, Error> {
    handle(app, event, now).await
}

/// Handles every record; a record that is not an SES notification is logged and skipped (SNS
/// would redeliver it forever otherwise), a failing dependency fails the invocation for a retry.
pub async fn handle<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, event: SnsEvent, now: Time) -> Result<Value, Error> {
    let mut outcomes = Vec::new();
    for record in &event.records {
        match serde_json::from_str::<SesNotification>(&record.sns.message) {
            Ok(n) => outcomes.push(json!(app.mail_feedback(&n, now).await?)),
            Err(_) => tracing::warn!(message_id = %record.sns.message_id, "not an SES notification; skipped"),
        }
    }
    Ok(json!({ "handled": outcomes }))
}

/// What the SES feedback handler may do in AWS, and no more (`zgoda_aws::access` says how it is held to it).
pub const ACCESS: Access = Access {
    table: &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
    index: true,
    key_rings: &[KeyFamily::Seals, KeyFamily::Pepper],
    // Lambda, with this role, puts an event it gave up on into the failure destination.
    feedback_dead_letters: true,
    ..Access::NONE
};
