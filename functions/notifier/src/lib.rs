//! The notifier: SQS batches of breach-notice jobs, up to fifty recipients a message. Reports
//! partial batch failures so only messages with unfinished recipients come back; paces sends
//! under the SES quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use zgoda_domain::escalation::{JobOutcome, NoticeContent};
use zgoda_domain::mail::Mailer;
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
        Self { interval: Duration::from_secs(1) / rate.max(1), next: tokio::sync::Mutex::new(tokio::time::Instant::now()) }
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

/// One process's notifier: the app, the pacing, and what it has loaded about escalations.
pub struct Notifier<S, M, Q> {
    app: Arc<Zgoda<S, M, Q>>,
    pacer: Pacer,
    /// The attempt after which a failing send is recorded as failed rather than retried (the
    /// queue's redrive moves it to the dead-letter queue one attempt later).
    max_attempts: u32,
    contents: Mutex<HashMap<(String, String), Arc<NoticeContent>>>,
}

impl<S, M, Q> Notifier<S, M, Q>
where
    S: Store + 'static,
    M: Mailer + 'static,
    Q: WorkQueue + 'static,
{
    pub fn new(app: Arc<Zgoda<S, M, Q>>, rate_per_second: u32, max_attempts: u32) -> Self {
        Self { app, pacer: Pacer::per_second(rate_per_second), max_attempts, contents: Mutex::new(HashMap::new()) }
    }

    async fn content(&self, job: &Job) -> Result<Arc<NoticeContent>, zgoda_domain::Error> {
        let key = (job.breach_id.clone(), job.escalation_id.clone());
        if let Some(c) = self.contents.lock().expect("not poisoned").get(&key) {
            return Ok(c.clone());
        }
        let c = Arc::new(self.app.notice_content(&job.breach_id, &job.escalation_id).await?);
        self.contents.lock().expect("not poisoned").insert(key, c.clone());
        Ok(c)
    }

    /// One message: every recipient in it, a few at a time; retried if any is unfinished.
    async fn message(&self, message: &SqsMessage, clock: BatchClock) -> JobOutcome {
        let Some(batch) = message.body.as_deref().and_then(|b| serde_json::from_str::<JobBatch>(b).ok()) else {
            // Not ours; failing it sends it to the dead-letter queue for a person to look at.
            tracing::error!(message_id = ?message.message_id, "malformed notifier job");
            return JobOutcome::Retry;
        };
        let attempt: u32 = message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
        let outcomes: Vec<JobOutcome> = futures_util::stream::iter(batch.jobs())
            .map(|job| self.one(job, attempt, clock))
            .buffer_unordered(RECIPIENTS_AT_ONCE)
            .collect()
            .await;
        if outcomes.contains(&JobOutcome::Retry) { JobOutcome::Retry } else { JobOutcome::Done }
    }

    async fn one(&self, job: Job, attempt: u32, clock: BatchClock) -> JobOutcome {
        let content = match self.content(&job).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(escalation = %job.escalation_id, error = %e, detail = detail(&e), "escalation unreadable");
                return JobOutcome::Retry;
            }
        };
        self.pacer.wait().await;
        // Each delivery runs to its end even if this batch's handler is dropped, as concurrent
        // invocations would: claiming, sending and recording one recipient is never cut short here.
        let app = self.app.clone();
        let final_attempt = attempt >= self.max_attempts;
        // The time of this delivery, not of the batch: a paced batch runs for tens of seconds, and
        // a lease reckoned from its start would be shorter than it says.
        let now = clock.now();
        let delivery = tokio::spawn(async move { app.deliver(&job, &content, final_attempt, now).await.map_err(|e| (job, e)) });
        match delivery.await.unwrap_or(Ok(JobOutcome::Retry)) {
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

/// Every AWS action the code of the notifier calls (DynamoDB transactions need the per-item actions);
/// `infra/template.yaml` grants exactly these, which a test checks.
pub const IAM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "secretsmanager:BatchGetSecretValue",
    "secretsmanager:GetSecretValue",
    "ses:SendEmail",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
];
