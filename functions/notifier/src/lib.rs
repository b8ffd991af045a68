//! The notifier: SQS batches of breach-notice jobs, up to fifty recipients a message. Reports
//! partial batch failures so only messages with unfinished recipients come back; paces sends
//! under the SES quota.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zgoda_aws::access::Access;

use futures_util::future::{BoxFuture, Shared};
use futures_util::{FutureExt, StreamExt};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use zgoda_domain::escalation::{JobOutcome, NoticeContent};
use zgoda_domain::ids::{BreachId, EscalationId};
use zgoda_domain::mail::{MailStream, Mailer};
use zgoda_domain::store::{Job, JobBatch, Store, WorkQueue};
use zgoda_domain::{Time, Zgoda};

/// Sends in flight at once within one message.
const RECIPIENTS_AT_ONCE: usize = 10;

/// Spaces sends evenly at a fixed rate, across every concurrent job of this process.
pub struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    pub fn per_second(rate: u32) -> Self {
        Self::shared(rate, 1)
    }

    /// This process's share of `rate` mails a second, sent by up to `instances` processes at once:
    /// the account's SES rate is one, however many notifiers run (security review M6).
    pub fn shared(rate: u32, instances: u32) -> Self {
        let interval = Duration::from_secs(u64::from(instances.max(1))) / rate.max(1);
        Self { interval, next: tokio::sync::Mutex::new(tokio::time::Instant::now()) }
    }

    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// The batch's start time, advanced by the monotonic clock as the batch goes on.
#[derive(Clone, Copy)]
struct BatchClock {
    at: Time,
    started: tokio::time::Instant,
}

impl BatchClock {
    fn now(&self) -> Time {
        self.at + chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }
}

/// When throttled recipients come back: after `first`, doubling with each throttling in a row, up
/// to `most`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub most: Duration,
}

impl Backoff {
    /// In AWS: half a minute, then up to SQS's longest delay, 15 minutes.
    pub const DEPLOYED: Backoff = Backoff { first: Duration::from_secs(30), most: Duration::from_secs(900) };

    /// The delay after the `n`th throttling in a row (the first is n = 0).
    pub fn after(&self, n: u32) -> Duration {
        self.first.saturating_mul(1 << n.min(16)).min(self.most)
    }
}

/// One process's notifier: the app, the pacing, and what it has loaded about escalations.
pub struct Notifier<S, M, Q> {
    app: Arc<Zgoda<S, M, Q>>,
    pacer: Pacer,
    backoff: Backoff,
    /// The attempt after which a failing send is recorded as failed rather than retried (the
    /// queue's redrive moves it to the dead-letter queue one attempt later).
    max_attempts: u32,
    /// Each escalation's notice, read once for every recipient of it this process sends to.
    contents: Mutex<HashMap<(BreachId, EscalationId), ContentRead>>,
}

/// One read of an escalation's notice, shared by every recipient that needs it while it is under
/// way and, once it has succeeded, kept: a cold instance's first message would otherwise read
/// the same breach partition once for each recipient it sends to at once, each read on a
/// connection of its own (TLS handshake included).
type ContentRead = Shared<BoxFuture<'static, Result<Arc<NoticeContent>, zgoda_domain::Error>>>;

impl<S, M, Q> Notifier<S, M, Q>
where
    S: Store + 'static,
    M: Mailer + 'static,
    Q: WorkQueue + 'static,
{
    pub fn new(app: Arc<Zgoda<S, M, Q>>, rate_per_second: u32, max_attempts: u32) -> Self {
        Self::with(app, Pacer::per_second(rate_per_second), Backoff::DEPLOYED, max_attempts)
    }

    pub fn with(app: Arc<Zgoda<S, M, Q>>, pacer: Pacer, backoff: Backoff, max_attempts: u32) -> Self {
        Self { app, pacer, backoff, max_attempts, contents: Mutex::new(HashMap::new()) }
    }

    async fn content(&self, job: &Job) -> Result<Arc<NoticeContent>, zgoda_domain::Error> {
        let key = (job.breach_id.clone(), job.escalation_id.clone());
        let read = {
            let mut contents = self.contents.lock().expect("not poisoned");
            let read = contents.entry(key.clone()).or_insert_with(|| {
                let (app, (breach, escalation)) = (Arc::clone(&self.app), key.clone());
                async move { app.notice_content(&breach, &escalation).await.map(Arc::new) }.boxed().shared()
            });
            read.clone()
        };
        let content = read.clone().await;
        if content.is_err() {
            // A failed read is not kept: the recipients waiting on it share its failure, and the
            // next message reads again.
            let mut contents = self.contents.lock().expect("not poisoned");
            if contents.get(&key).is_some_and(|held| held.ptr_eq(&read)) {
                contents.remove(&key);
            }
        }
        content
    }

    /// One message: every recipient in it, a few at a time; retried if any is unfinished.
    async fn message(&self, message: &SqsMessage, clock: BatchClock) -> JobOutcome {
        let Some(batch) = message.body.as_deref().and_then(|b| serde_json::from_str::<JobBatch>(b).ok()) else {
            // Not ours; failing it sends it to the dead-letter queue for a person to look at.
            tracing::error!(message_id = ?message.message_id, "malformed notifier job");
            return JobOutcome::Retry;
        };
        let attempt: u32 = message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
        let throttled = AtomicBool::new(false);
        let throttled = &throttled;
        let outcomes: Vec<(Job, JobOutcome)> = futures_util::stream::iter(batch.jobs())
            .map(|job| async move { (job.clone(), self.one(job, attempt, clock, throttled).await) })
            .buffer_unordered(RECIPIENTS_AT_ONCE)
            .collect()
            .await;
        if outcomes.iter().any(|(_, o)| *o == JobOutcome::Retry) {
            return JobOutcome::Retry;
        }
        let throttled: Vec<_> = outcomes.into_iter().filter(|(_, o)| *o == JobOutcome::Throttled).map(|(job, _)| job.subject).collect();
        if throttled.is_empty() {
            return JobOutcome::Done;
        }
        // Throttling passes, so it spends none of the message's receives (after which it would go
        // to the dead-letter queue): the throttled recipients go back on the queue as a new
        // message, later each time, for as long as the throttling lasts.
        let later = JobBatch { subjects: throttled, throttled: batch.throttled.saturating_add(1), ..batch };
        let delay = self.backoff.after(batch.throttled);
        match self.app.queue.enqueue_later(&later, delay).await {
            Ok(()) => {
                tracing::warn!(escalation = %later.escalation_id, recipients = later.subjects.len(), delay_secs = delay.as_secs(), "throttled notices queued for later");
                JobOutcome::Done
            }
            Err(e) => {
                tracing::error!(escalation = %later.escalation_id, error = %e, "throttled notices could not be queued; the message comes back");
                JobOutcome::Retry
            }
        }
    }

    /// One recipient. Once SES throttled a send of this message (`throttled`), the recipients
    /// not yet tried are deferred with it unclaimed: SES is asked to slow down, not pressed.
    async fn one(&self, job: Job, attempt: u32, clock: BatchClock, throttled: &AtomicBool) -> JobOutcome {
        if throttled.load(Ordering::Relaxed) {
            return JobOutcome::Throttled;
        }
        let content = match self.content(&job).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(escalation = %job.escalation_id, error = %e, detail = detail(&e), "escalation unreadable");
                return JobOutcome::Retry;
            }
        };
        self.pacer.wait().await;
        if throttled.load(Ordering::Relaxed) {
            return JobOutcome::Throttled;
        }
        // Each delivery runs to its end even if this batch's handler is dropped, as concurrent
        // invocations would: claiming, sending and recording one recipient is never cut short here.
        let app = self.app.clone();
        let final_attempt = attempt >= self.max_attempts;
        // The time of this delivery, not of the batch: a paced batch runs for tens of seconds, and
        // a lease reckoned from its start would be shorter than it says.
        let now = clock.now();
        let delivery = tokio::spawn(async move { app.deliver(&job, &content, final_attempt, now).await.map_err(|e| (job, e)) });
        match delivery.await.unwrap_or(Ok(JobOutcome::Retry)) {
            Ok(JobOutcome::Throttled) => {
                throttled.store(true, Ordering::Relaxed);
                JobOutcome::Throttled
            }
            Ok(outcome) => outcome,
            Err((job, e)) => {
                tracing::error!(escalation = %job.escalation_id, subject = %job.subject, error = %e, detail = detail(&e), "delivery step failed");
                JobOutcome::Retry
            }
        }
    }

    /// Handles one SQS batch; the response lists the messages to be retried.
    pub async fn handle(&self, event: SqsEvent, now: Time) -> SqsBatchResponse {
        let clock = BatchClock { at: now, started: tokio::time::Instant::now() };
        let outcomes = futures_util::future::join_all(event.records.iter().map(|m| self.message(m, clock))).await;
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = event
            .records
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| *o == JobOutcome::Retry)
            .filter_map(|(m, _)| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = m.message_id.clone()?;
                Some(f)
            })
            .collect();
        response
    }
}

/// The notifier over the deployed adapters.
pub type AppNotifier = Notifier<zgoda_aws::DynamoStore, zgoda_web::mailer::TemplatedMailer<zgoda_aws::SesTransport>, zgoda_aws::SqsQueue>;

/// [`Notifier::handle`] over the deployed adapters, compiled once, here: the Lambda binary, the
/// local stack and the tests call this rather than each compiling its own copy of the handler (an
/// optimized build instantiates a generic anew in each crate that names it).
pub async fn handle_app(notifier: &AppNotifier, event: SqsEvent, now: Time) -> SqsBatchResponse {
    notifier.handle(event, now).await
}

/// Which dependency failed and how (the SDK's description, never the request), for the log: the
/// error's own message says only that one did.
fn detail(e: &zgoda_domain::Error) -> &str {
    match e {
        zgoda_domain::Error::Unavailable(detail) => detail,
        _ => "",
    }
}

/// What the notifier may do in AWS, and no more (`zgoda_aws::access` says how it is held to it).
pub const ACCESS: Access = Access {
    table: &["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
    mail: &[MailStream::Notices],
    // Its SQS event source receives, deletes and reads attributes with its role; throttled
    // recipients go back on the queue as a new, delayed message.
    notice_queue: &["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
    ..Access::NONE
};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Backoff, Pacer};

    #[test]
    fn instances_share_the_rate_and_throttled_recipients_back_off_to_sqs_longest_delay() {
        assert_eq!(Pacer::shared(14, 4).interval, Duration::from_secs(4) / 14, "four instances at 3.5 a second make 14");
        assert_eq!(Pacer::per_second(10).interval, Duration::from_millis(100));
        let delays: Vec<u64> = (0..7).map(|n| Backoff::DEPLOYED.after(n).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(Backoff::DEPLOYED.after(u32::MAX), Duration::from_secs(900));
    }
}
