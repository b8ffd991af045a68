//! The storage-limitation sweep: on a schedule, erases the people whose address no purpose needs
//! any more (Art. 5(1)(e), 17(1)(a)), as an erasure does, with a sealed event that says why, and
//! deletes the PII-free proofs and the breaches past their retention (`zgoda_domain::retention`).

use std::sync::OnceLock;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde_json::Value;
use zgoda_aws::access::Access;
use zgoda_domain::ids::SubjectId;
use zgoda_domain::keys::KeyFamily;
use zgoda_domain::mail::Mailer;
use zgoda_domain::retention::{RetentionErasure, Sweep};
use zgoda_domain::store::{Store, SubjectRecord, WorkQueue};
use zgoda_domain::{Error, Time, Zgoda};
use zgoda_web::app::RingsUnreadable;

/// [`handle`] over the deployed adapters, compiled once, here (as the deadline watch's is).
pub async fn handle_app(app: &zgoda_web::App, event: CloudWatchEvent) -> Result<Value, Error> {
    handle(app, event).await
}

/// The event's own time is `now`, so a run can be replayed at any chosen moment. The answer
/// counts people and never names them beyond their keyed-hash ids.
pub async fn handle<S: Store, M: Mailer, Q: WorkQueue>(app: &Zgoda<S, M, Q>, event: CloudWatchEvent) -> Result<Value, Error> {
    let report = app.retention_sweep(event.time).await?;
    Ok(serde_json::to_value(report).expect("a report serialises"))
}

/// One scheduled run on a deployed instance: the store's work from the start, and the key rings
/// read only if the run comes to an erasure ([`RINGS`]). A ring that cannot be read fails the run
/// (Lambda's error, its alarm and its retry) once the rest of it is done.
pub async fn answer(starting: &zgoda_web::app::Starting, event: CloudWatchEvent) -> Result<Value, Error> {
    let store = starting.store();
    let erasure = ErasureWithRings { starting, unreadable: OnceLock::new() };
    let report = Sweep { store: &store, settings: starting.settings(), erasure: &erasure }.run(event.time).await?;
    if let Some(detail) = erasure.unreadable.into_inner() {
        return Err(Error::Unavailable(detail));
    }
    Ok(serde_json::to_value(report).expect("a report serialises"))
}

/// A deployed sweep's erasure: the app, with its rings, awaited at the first erasure of a run.
struct ErasureWithRings<'a> {
    starting: &'a zgoda_web::app::Starting,
    /// Why the rings could not be read, if they could not.
    unreadable: OnceLock<String>,
}

impl RetentionErasure for ErasureWithRings<'_> {
    async fn erase_as_judged(&self, subject: &SubjectId, record: &SubjectRecord, now: Time) -> Result<bool, Error> {
        // Once unreadable, the rings are not asked for again this run: each due person's erasure
        // would otherwise read them anew (`Starting::app` reads again after a failure).
        if let Some(detail) = self.unreadable.get() {
            return Err(Error::Unavailable(detail.clone()));
        }
        match self.starting.app().await {
            Ok(app) => RetentionErasure::erase_as_judged(app, subject, record, now).await,
            Err(RingsUnreadable(detail)) => {
                let _ = self.unreadable.set(detail.clone());
                Err(Error::Unavailable(detail))
            }
        }
    }
}

/// When the function reads its key rings ([`zgoda_web::app::Starting`]): only an erasure needs
/// one (its event is sealed), so a run reads them when it comes to the first ([`answer`]).
pub const RINGS: zgoda_web::app::ReadRings = zgoda_web::app::ReadRings::WhenNeeded;

/// What the sweep may do in AWS, and no more (`zgoda_aws::access` says how it is held to it).
pub const ACCESS: Access = Access {
    // Forms for their retention; the subject's partition; the erasure's transaction; the review's
    // conditional update or delete; the scan for people recorded before the worklist existed; the
    // purge of a person's records past their retention (a transaction of deletes) and of a
    // breach's (its head, then batches of deletes for the outbox, timeline and register entry).
    table: &[
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ],
    // The worklist, the breaches past their retention, and an erasure's unsent breach notices
    // found through the breach list.
    index: true,
    // The erasure's event is sealed.
    key_rings: &[KeyFamily::Seals],
    // SES's copy of an erased address goes too.
    suppression_list: true,
    ..Access::NONE
};
