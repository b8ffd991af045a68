//! The end-to-end check of a running stack (`zgoda doctor`, `make smoke`): per run, one mail on
//! one [`MailStream`] to SES's mailbox simulator, tagged with the run's id, and the *Send* and
//! *Delivery* events SES reports for it, recorded as they arrive through ses-events. It touches no person's data: the simulator
//! address is SES's own, and the run is kept for a day.

use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::mail::{MailStream, Mailer, Message};
use crate::service::Zgoda;
use crate::store::{Store, WorkQueue};

/// SES's mailbox simulator: accepted, delivered, and counted against no reputation.
pub const SIMULATOR_SUCCESS: &str = "success@simulator.amazonses.com";

/// The tag naming a smoke run; SES repeats it in the mail's events.
pub const TAG_SMOKE: &str = "zgoda-smoke";

/// A run's id: a ULID, as the operator route makes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct SmokeRunId(String);

impl SmokeRunId {
    pub fn new(ulid: ulid::Ulid) -> Self {
        Self(ulid.to_string())
    }

    pub fn parse(text: &str) -> Option<Self> {
        ulid::Ulid::from_string(text).ok().map(Self::new).filter(|id| id.0 == text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a run has seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SmokeRun {
    pub run_id: String,
    pub to: String,
    /// The stream the mail went out on (its sender and configuration set).
    pub stream: Option<MailStream>,
    pub message_id: Option<String>,
    pub sent_at: Option<Time>,
    /// SES reported the mail accepted (its *Send* event, through ses-events).
    pub send_event_at: Option<Time>,
    /// SES reported it delivered (its *Delivery* event).
    pub delivery_event_at: Option<Time>,
}

/// A step of a run, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmokeStep {
    Sent { message_id: String, stream: MailStream },
    SendEvent,
    DeliveryEvent,
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// Sends the run's mail and records it. SES's refusal is the answer (503 with its code): it is
    /// what the check is for.
    pub async fn smoke_send(&self, run: &SmokeRunId, stream: MailStream, now: Time) -> Result<SmokeRun, Error> {
        let to = EmailAddress::parse(SIMULATOR_SUCCESS).expect("the simulator's address parses");
        let message = Message::SmokeTest { to, run: run.as_str().to_owned(), stream };
        let message_id = self.mailer.send(&message).await.map_err(|e| Error::Unavailable(format!("SES refused the mail: {}", e.reason)))?;
        self.store.record_smoke(run, &SmokeStep::Sent { message_id, stream }, now).await?;
        self.smoke_run(run).await
    }

    pub async fn smoke_run(&self, run: &SmokeRunId) -> Result<SmokeRun, Error> {
        self.store.load_smoke(run).await?.ok_or(Error::SmokeRunNotFound)
    }
}
