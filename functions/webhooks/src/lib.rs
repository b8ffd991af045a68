//! Webhook delivery (Art. 19, Art. 7(3)): on a schedule, each enabled endpoint is sent what the
//! change feed holds for it since its cursor, in order, signed, through the SSRF guard
//! ([`sender`]). The domain (`zgoda_domain::webhooks`) decides what, when and how often; this
//! function only drives it and owns the network side.

pub mod sender;

use std::time::{Duration, Instant};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde_json::{Value, json};
use zgoda_aws::access::Access;
use zgoda_domain::mail::Mailer;
use zgoda_domain::store::{Store, WorkQueue};
use zgoda_domain::webhooks::{PumpOutcome, WebhookSender};
use zgoda_domain::{Error, Time, Zgoda};

/// How long one run keeps delivering before it leaves the rest to the next (the function's
/// timeout is 60 s; a batch takes at most its deliveries' time limits).
pub const RUN_BUDGET: Duration = Duration::from_secs(30);

/// [`handle`] over the deployed adapters, compiled once, here (with the deployed sender, or the
/// local stack's).
pub async fn handle_app<W: WebhookSender>(app: &zgoda_web::App, sender: &W, event: CloudWatchEvent) -> Result<Value, Error> {
    handle(app, sender, event.time, chrono::Utc::now).await
}

/// One scheduled run: each enabled endpoint in turn, batch after batch while it has more and the
/// run's budget lasts. `clock` gives the time of each batch (the event's own time starts the run,
/// so a run can be replayed at a chosen moment).
pub async fn handle<S: Store, M: Mailer, Q: WorkQueue, W: WebhookSender>(
    app: &Zgoda<S, M, Q>,
    sender: &W,
    start: Time,
    clock: impl Fn() -> Time,
) -> Result<Value, Error> {
    let began = Instant::now();
    let offset = start - clock();
    let mut delivered = 0;
    let mut waiting = 0;
    for endpoint in app.endpoints_to_run().await? {
        loop {
            match app.pump(&endpoint, sender, clock() + offset).await {
                Ok(PumpOutcome::More { delivered: n }) if began.elapsed() < RUN_BUDGET => delivered += n,
                Ok(PumpOutcome::More { delivered: n } | PumpOutcome::Idle { delivered: n }) => {
                    delivered += n;
                    break;
                }
                Ok(PumpOutcome::Wait { delivered: n, .. }) => {
                    delivered += n;
                    waiting += 1;
                    break;
                }
                Ok(PumpOutcome::Skipped) => break,
                // One endpoint's trouble with the table is not the others': logged, the next run retries.
                Err(e) => {
                    tracing::warn!(endpoint = %endpoint, error = %e, "webhook run failed for an endpoint; the next run retries");
                    break;
                }
            }
        }
    }
    Ok(json!({ "delivered": delivered, "waiting": waiting }))
}

/// What webhook delivery may do in AWS, and no more (`zgoda_aws::access` says how it is held to it):
/// read endpoints, the feed and the profiles it names; move cursors; write the delivery log; note on a
/// person's records, beside their chain (the condition check), whom it told.
pub const ACCESS: Access = Access {
    table: &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
    ..Access::NONE
};
