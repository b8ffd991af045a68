//! SES send, bounce, complaint and delivery notifications, delivered through SNS: breach notices
//! recorded as sent when SES accepted them (even if the notifier died first), delivery status,
//! undeliverable addresses after hard bounces, complaints as withdrawals.

use aws_lambda_events::event::sns::SnsEvent;
use serde_json::{Value, json};
use zgoda_aws::access::Access;
use zgoda_domain::feedback::{SesNotification, record_on_mail};
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

/// Handles one event on a deployed instance (the Lambda binary). What needs no key (a delivery's
/// or a send's record on its breach notice: most of SES's feedback) is written without the key
/// rings; only an event that needs them (a permanent bounce, a complaint) has them read
/// ([`RINGS`], [`zgoda_web::app::Starting`]) and waits for them, while its keyless part is written.
pub async fn answer(starting: &zgoda_web::app::Starting, event: SnsEvent, now: Time) -> Result<Value, Error> {
    let app = async { starting.app().await.map_err(|unreadable| Error::Unavailable(unreadable.0)) };
    handle_with(&starting.store(), app, event, now).await
}

/// Handles every record; a record that is not an SES notification is logged and skipped (SNS
/// would redeliver it forever otherwise), a failing dependency fails the invocation for a retry.
pub async fn handle<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, event: SnsEvent, now: Time) -> Result<Value, Error> {
    handle_with(&app.store, async { Ok(app) }, event, now).await
}

/// [`handle`], with the app awaited only if a record needs its keys, and meanwhile every record's
/// keyless part written through `store` (the app's own table). Each part is idempotent, so an
/// invocation that fails between them is retried whole.
async fn handle_with<'a, S: Store + 'a, M: Mailer + 'a, Q: WorkQueue + 'a>(
    store: &S,
    app: impl Future<Output = Result<&'a Zgoda<S, M, Q>, Error>>,
    event: SnsEvent,
    now: Time,
) -> Result<Value, Error> {
    let notifications: Vec<SesNotification> = event
        .records
        .iter()
        .filter_map(|record| {
            serde_json::from_str(&record.sns.message)
                .inspect_err(|_| tracing::warn!(message_id = %record.sns.message_id, "not an SES notification; skipped"))
                .ok()
        })
        .collect();
    let keyed = async { if notifications.iter().any(SesNotification::needs_keys) { app.await.map(Some) } else { Ok(None) } };
    let recorded = async {
        let mut recorded = Vec::with_capacity(notifications.len());
        for n in &notifications {
            recorded.push(record_on_mail(store, n, now).await?);
        }
        Ok(recorded)
    };
    let (app, recorded) = tokio::try_join!(keyed, recorded)?;
    let mut outcomes = Vec::with_capacity(notifications.len());
    for (n, mut out) in notifications.iter().zip(recorded) {
        if let Some(app) = app {
            out = app.act_on_addresses(n, out, now).await?;
        }
        out.log(n);
        outcomes.push(json!(out));
    }
    Ok(json!({ "handled": outcomes }))
}

/// When the function reads its key rings ([`zgoda_web::app::Starting`]).
/// Most of SES's feedback (sends, deliveries) needs no key: the rings are read by the first
/// event that does (a permanent bounce, a complaint; `SesNotification::needs_keys`).
pub const RINGS: zgoda_web::app::ReadRings = zgoda_web::app::ReadRings::WhenNeeded;

/// What the SES feedback handler may do in AWS, and no more (`zgoda_aws::access` says how it is held to it).
pub const ACCESS: Access = Access {
    table: &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
    index: true,
    key_rings: &[KeyFamily::Seals, KeyFamily::Pepper],
    // Lambda, with this role, puts an event it gave up on into the failure destination.
    feedback_dead_letters: true,
    ..Access::NONE
};
