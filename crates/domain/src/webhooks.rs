//! Telling recipients (Art. 19, Art. 7(3)): the endpoints a business registers for its CRM or
//! mailing tool, and the delivery of the change feed (`changes.rs`) to each, signed in the
//! Standard Webhooks scheme so that a receiver verifies with an off-the-shelf library.
//!
//! Two stages. [`Zgoda::pump`] reads the feed through each endpoint's own cursor and hands the
//! changes the endpoint wants to the webhook queue, in order ([`WebhookTask`], ids only); a lease
//! on the cursor keeps two workers from reading for one endpoint at once. [`Zgoda::deliver_webhooks`] takes
//! what the queue hands over and posts each change, signed: the queue (SQS FIFO, grouped by
//! endpoint and person) keeps one person's changes in order, so an erasure never arrives before
//! the consent it erases, and brings a failed one back on a backoff for
//! [`Settings::webhook_give_up`] (three days), after which it is recorded `dead`, logged for the
//! alarm and moved to the dead-letter queue; `redeliver` replays from any change. Every change
//! arrives at least once, under a stable `webhook-id` to deduplicate by, and a receiver that
//! refuses one person's change holds back that person's later changes only.
//!
//! The network side (HTTPS only, public addresses only, no redirects, bounded time and size) is
//! the sender's, behind [`WebhookSender`]; the domain signs and decides.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::changes::{Change, ChangeKind, ChangePage, ChangeView, parse_cursor, settled_before};
use crate::error::Error;
use crate::ids::{FormId, PurposeId, SubjectId};
use crate::mail::Mailer;
use crate::processors::{WebhookSecrets, sign_webhook};
use crate::proof::{millis, opt_millis, to_millis};
use crate::service::Zgoda;
use crate::store::{Store, StoreError, WorkQueue};
use crate::{Fields, Time};

/// Changes one run hands to the queue for an endpoint before it turns to the next endpoint.
pub const BATCH: usize = 100;
/// How many of an endpoint's latest deliveries its view counts.
pub const RECENT: usize = 100;
/// How long the secret a rotation replaced is still sent beside the new one.
pub const SECRET_OVERLAP: Duration = Duration::hours(24);
const MAX_URL: usize = 2_000;

/// An endpoint's id: a ULID made when it is registered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndpointId(String);

impl EndpointId {
    pub fn new() -> Self {
        Self(ulid::Ulid::new().to_string())
    }
    pub fn parse(s: &str) -> Option<Self> {
        ulid::Ulid::from_string(s).ok().map(|u| Self(u.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for EndpointId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for EndpointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an endpoint receives: `https://`, with a host and no credentials; a literal address must
/// be public. Plain `http://` only to this machine's loopback, and only where the deployment
/// allows it (the local stack). A name is judged again by the sender at each delivery, after it
/// resolves (it can point anywhere by then).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(s: &str, loopback_allowed: bool) -> Result<Self, &'static str> {
        let s = s.trim();
        if s.len() > MAX_URL {
            return Err("too_long");
        }
        let url = url::Url::parse(s).map_err(|_| "invalid")?;
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err("invalid");
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            Some(url::Host::Domain(d)) if !d.is_empty() => None,
            _ => return Err("invalid"),
        };
        let named_local = url.host_str().is_some_and(|h| h == "localhost" || h.ends_with(".localhost"));
        let loopback = literal.is_some_and(|ip| ip.is_loopback()) || named_local;
        match url.scheme() {
            "https" => {}
            "http" if loopback && loopback_allowed => return Ok(Self(url.into())),
            _ => return Err("not_https"),
        }
        let public = match literal {
            Some(ip) => crate::net::is_public(ip),
            None => !named_local,
        };
        if public || (loopback && loopback_allowed) { Ok(Self(url.into())) } else { Err("not_public") }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for WebhookUrl {
    /// Stored URLs were judged when registered; reading one back does not judge again.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(String::deserialize(d)?))
    }
}

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub endpoint_id: EndpointId,
    pub url: WebhookUrl,
    /// Who receives there, in the business's words: what the access export names (Art. 19).
    pub description: String,
    /// The changes it wants; every kind when empty.
    #[serde(default)]
    pub events: Vec<ChangeKind>,
    /// The forms and purposes it covers; all when both are empty. A change that names no purpose
    /// (an erasure, a corrected field, a new address) concerns every recipient.
    #[serde(default)]
    pub forms: Vec<FormId>,
    #[serde(default)]
    pub purposes: Vec<PurposeId>,
    pub enabled: bool,
    #[serde(with = "millis")]
    pub created_at: Time,
    #[serde(with = "millis")]
    pub updated_at: Time,
}

impl Endpoint {
    /// Whether the endpoint is told of `change`.
    pub fn wants(&self, change: &Change) -> bool {
        let kind = self.events.is_empty() || self.events.contains(&change.kind);
        let scope = match &change.purpose {
            None => true,
            Some(_) if self.forms.is_empty() && self.purposes.is_empty() => true,
            Some(p) => self.purposes.contains(p) || change.form_id.as_ref().is_some_and(|f| self.forms.contains(f)),
        };
        kind && scope
    }
}

/// What the operator sends to register an endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    pub url: String,
    pub description: String,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default)]
    pub forms: Vec<String>,
    #[serde(default)]
    pub purposes: Vec<String>,
}

/// An endpoint as the operator sees it, with where its deliveries stand; `secret` only in the
/// answer that created it or rotated its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub delivery: Cursor,
    /// Of its latest deliveries ([`RECENT`]), how many are failing now (waiting for a retry) and
    /// how many were given up: what the operator looks at first.
    #[serde(default)]
    pub failing: usize,
    #[serde(default)]
    pub dead: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointList {
    pub items: Vec<EndpointView>,
}

/// Where an endpoint stands in the feed: the last change handed to the webhook queue (or
/// passed over as not wanted). Delivery itself, with its retries, is the queue's (see
/// [`WebhookTask`]); how each change fared is in the delivery log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The last change handled; empty before the first.
    pub position: String,
    /// Counts the operator's redeliveries: a change queued again after one is a new message, not
    /// a duplicate the queue drops.
    #[serde(default)]
    pub generation: u32,
}

/// A cursor claimed by one worker until `lease_until`; only that worker moves it meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub cursor: Cursor,
    pub lease_until: Time,
}

/// Which endpoint was told what about one person, kept with the person's PII-free records so
/// their access export can name the recipients (Art. 19, second sentence). Written only once the
/// receiver answered 2xx: an endpoint that never got through told nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    pub endpoint_id: EndpointId,
    /// The kinds of change it received about the person.
    pub kinds: std::collections::BTreeSet<ChangeKind>,
    #[serde(with = "millis")]
    pub first_at: Time,
    #[serde(with = "millis")]
    pub last_at: Time,
}

/// How one delivery of one change to one endpoint stands: the log holds ids and outcomes, never
/// the payload (which may carry an address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLog {
    pub change_id: String,
    pub kind: ChangeKind,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// The receiver's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// Why it failed, when the receiver did not answer (`timeout`, `not_public`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(with = "millis")]
    pub at: Time,
    #[serde(default, with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub next_try: Option<Time>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Delivered,
    /// Failed; tried again at `next_try`.
    Failed,
    /// Given up after [`Settings::webhook_give_up`]: logged for the alarm and put on the
    /// dead-letter queue; `redeliver` replays it.
    Dead,
    /// Not sent: the endpoint was disabled when its turn came; `redeliver` replays it.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryList {
    pub items: Vec<DeliveryLog>,
}

/// What one attempt came to, as the sender reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered (any status; only 2xx counts as delivered, a redirect is not followed).
    Answered(u16),
    /// It was not reached, or not allowed to be: a short code (`not_public`, `not_https`,
    /// `timeout`, `connect`, `tls`, `too_large`).
    Failed(&'static str),
}

/// One signed request to send.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    pub url: &'a WebhookUrl,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`, `content-type`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The network side of delivery: posts, judging where it may connect.
pub trait WebhookSender: Send + Sync {
    fn post(&self, request: &SignedRequest<'_>) -> impl Future<Output = Attempt> + Send;
}

/// What one run for one endpoint came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PumpOutcome {
    /// Another worker holds the endpoint, or it is disabled or gone.
    Skipped,
    /// Everything settled was handed to the queue.
    Idle { queued: usize },
    /// More changes are waiting: run again now.
    More { queued: usize },
}

/// One change to tell one endpoint: what the webhook queue carries, ids only (the payload, which
/// may hold an address, is built at each attempt from the feed and the person's profile).
///
/// The queue is FIFO, grouped by [`WebhookTask::group`]: one person's changes reach one endpoint
/// in order, one at a time, so an erasure is never delivered before the consent it erases, while
/// a change a receiver keeps refusing holds back that person's later changes only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTask {
    pub endpoint_id: EndpointId,
    pub change_id: String,
    pub subject_id: SubjectId,
    #[serde(default)]
    pub generation: u32,
}

impl WebhookTask {
    /// The queue's message group: this endpoint and this person.
    pub fn group(&self) -> String {
        format!("{}:{}", self.endpoint_id, self.subject_id)
    }

    /// The queue's deduplication key: a worker that died after queueing a batch but before moving
    /// the cursor queues it again, and the queue drops the repeat; a redelivery is a new generation.
    pub fn dedup_key(&self) -> String {
        format!("{}:{}:{}", self.endpoint_id, self.change_id, self.generation)
    }
}

/// A task as the queue hands it over: how many times it was received (this one included; the
/// queue hands one message at a time, so each receive is an attempt), and when it was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub task: WebhookTask,
    pub receives: u32,
    pub queued_at: Time,
}

/// What became of one received task, for the queue to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Told (2xx), or nothing left to tell (the endpoint disabled or gone, the change expired):
    /// off the queue.
    Done,
    /// Back on the queue after `after`: the receiver failed (the backoff), an earlier change of the
    /// same person failed (it waits behind), or the table did not answer.
    Retry { after: Duration },
    /// Failed [`Settings::webhook_give_up`] after it was queued, each backoff step tried: recorded
    /// `dead` and logged for the alarm; it goes to the dead-letter queue, and `redeliver` replays it.
    GiveUp,
}

/// Where the webhook queue is (SQS FIFO in production and locally; a list in the domain's tests).
pub trait WebhookQueue: Send + Sync {
    /// Queues `tasks` in the order given.
    fn enqueue(&self, tasks: &[WebhookTask]) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How long a task waits when the table, not the receiver, failed.
const TABLE_RETRY: Duration = Duration::seconds(30);

/// The Standard Webhooks payload: `type`, `timestamp`, and the change as `data`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    #[serde(rename = "type")]
    pub kind: ChangeKind,
    pub timestamp: String,
    pub data: ChangeView,
}

/// The headers of one signed delivery: every secret in `secrets` signs (a rotation sends both).
pub fn signed_headers(secrets: &[&str], message_id: &str, at: Time, body: &[u8]) -> Vec<(&'static str, String)> {
    let signature = secrets.iter().filter_map(|s| sign_webhook(s, message_id, at.timestamp(), body)).collect::<Vec<_>>().join(" ");
    vec![
        ("content-type", "application/json".to_owned()),
        ("webhook-id", message_id.to_owned()),
        ("webhook-timestamp", at.timestamp().to_string()),
        ("webhook-signature", signature),
    ]
}

/// A change's message id: the same at every attempt and every redelivery, so a receiver
/// deduplicates by it.
pub fn message_id(change: &Change) -> String {
    format!("msg_{}", change.change_id)
}

/// When to try again after `attempts` failures: the Standard Webhooks' suggested schedule
/// (seconds, minutes, then hours), the last step repeating.
pub fn next_try(retries: &[Duration], attempts: u32, now: Time) -> Time {
    let step = retries.get(attempts.saturating_sub(1) as usize).or(retries.last()).copied().unwrap_or(Duration::minutes(5));
    now + step
}

/// The default retry steps: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, then every 10 h.
pub fn default_retries() -> Vec<Duration> {
    vec![Duration::seconds(5), Duration::minutes(5), Duration::minutes(30), Duration::hours(2), Duration::hours(5), Duration::hours(10)]
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// Registers an endpoint: 201 with its secret, shown once.
    pub async fn add_endpoint(&self, input: EndpointInput, now: Time) -> Result<EndpointView, Error> {
        let mut fields = Fields::default();
        let url = fields.check("url", WebhookUrl::parse(&input.url, self.settings.webhook_loopback));
        let description = fields.required("description", crate::incidents::text(Some(&input.description), 200));
        let mut events = Vec::new();
        for (i, e) in input.events.iter().enumerate() {
            match ChangeKind::parse(e.trim()) {
                Some(k) if events.contains(&k) => fields.check::<()>(&format!("events[{i}]"), Err("duplicate")),
                Some(k) => {
                    events.push(k);
                    Some(())
                }
                None => fields.check::<()>(&format!("events[{i}]"), Err("unknown_event")),
            };
        }
        let mut forms = Vec::new();
        for (i, f) in input.forms.iter().enumerate() {
            let field = format!("forms[{i}]");
            match FormId::parse(f.trim()) {
                None => fields.check::<()>(&field, Err("invalid")),
                Some(f) if self.store.load_form(&f).await?.is_none() => fields.check::<()>(&field, Err("unknown_form")),
                Some(f) => {
                    forms.push(f);
                    Some(())
                }
            };
        }
        let mut purposes = Vec::new();
        for (i, p) in input.purposes.iter().enumerate() {
            let field = format!("purposes[{i}]");
            match PurposeId::parse(p.trim()) {
                None => fields.check::<()>(&field, Err("invalid")),
                Some(p) if self.store.declared_purpose(&p).await?.is_none() => fields.check::<()>(&field, Err("unknown_purpose")),
                Some(p) => {
                    purposes.push(p);
                    Some(())
                }
            };
        }
        let (url, description) = fields.finish(url.zip(description))?;
        let endpoint = Endpoint {
            endpoint_id: EndpointId::new(),
            url,
            description,
            events,
            forms,
            purposes,
            enabled: true,
            created_at: to_millis(now),
            updated_at: to_millis(now),
        };
        let secrets = WebhookSecrets::first();
        // The key first: an endpoint is never delivered to without one. Delivery starts at the
        // feed's present: a new endpoint is not sent the past (an audience export gives that).
        self.store.save_endpoint_secrets(&endpoint.endpoint_id, &secrets).await?;
        let start = Cursor { position: crate::changes::present(now), ..Cursor::default() };
        self.store.start_cursor(&endpoint.endpoint_id, &start).await?;
        self.store.save_endpoint(&endpoint).await?;
        tracing::info!(endpoint = %endpoint.endpoint_id, "webhook endpoint added");
        Ok(EndpointView { endpoint, delivery: start, failing: 0, dead: 0, secret: Some(secrets.current) })
    }

    async fn endpoint_view(&self, endpoint: Endpoint, secret: Option<String>) -> Result<EndpointView, Error> {
        let delivery = self.store.load_cursor(&endpoint.endpoint_id).await?.unwrap_or_default();
        let recent = self.store.list_deliveries(&endpoint.endpoint_id, RECENT).await?;
        let count = |status| recent.iter().filter(|d| d.status == status).count();
        Ok(EndpointView { endpoint, delivery, failing: count(DeliveryStatus::Failed), dead: count(DeliveryStatus::Dead), secret })
    }

    async fn stored_endpoint(&self, id: &str) -> Result<Endpoint, Error> {
        let id = EndpointId::parse(id).ok_or(Error::EndpointNotFound)?;
        self.store.load_endpoint(&id).await?.ok_or(Error::EndpointNotFound)
    }

    pub async fn endpoints(&self) -> Result<EndpointList, Error> {
        let mut items = Vec::new();
        for e in self.store.list_endpoints().await? {
            items.push(self.endpoint_view(e, None).await?);
        }
        items.sort_by(|a, b| a.endpoint.endpoint_id.cmp(&b.endpoint.endpoint_id));
        Ok(EndpointList { items })
    }

    pub async fn endpoint(&self, id: &str) -> Result<EndpointView, Error> {
        let e = self.stored_endpoint(id).await?;
        self.endpoint_view(e, None).await
    }

    /// Stops (or resumes) deliveries to an endpoint; resumed, it goes on from where it stopped.
    pub async fn set_endpoint_enabled(&self, id: &str, enabled: bool, now: Time) -> Result<EndpointView, Error> {
        let e = self.stored_endpoint(id).await?;
        let e = Endpoint { enabled, updated_at: to_millis(now), ..e };
        self.store.save_endpoint(&e).await?;
        tracing::info!(endpoint = %e.endpoint_id, enabled, "webhook endpoint switched");
        self.endpoint_view(e, None).await
    }

    /// A new secret, shown once; for [`SECRET_OVERLAP`] deliveries carry both signatures, so the
    /// receiver verifies throughout its switch.
    pub async fn rotate_endpoint_secret(&self, id: &str, now: Time) -> Result<EndpointView, Error> {
        let e = self.stored_endpoint(id).await?;
        let secrets = WebhookSecrets::rotated(self.store.load_endpoint_secrets(&e.endpoint_id).await?, SECRET_OVERLAP, now);
        self.store.save_endpoint_secrets(&e.endpoint_id, &secrets).await?;
        tracing::info!(endpoint = %e.endpoint_id, "webhook endpoint secret rotated");
        self.endpoint_view(e, Some(secrets.current)).await
    }

    /// The endpoint's delivery log, newest first.
    pub async fn deliveries(&self, id: &str, limit: usize) -> Result<DeliveryList, Error> {
        let e = self.stored_endpoint(id).await?;
        Ok(DeliveryList { items: self.store.list_deliveries(&e.endpoint_id, limit).await? })
    }

    /// Replays the endpoint's feed from `change_id` on, in order (a receiver deduplicates what
    /// it had by `webhook-id`): the next run queues it all again, as a new generation.
    pub async fn redeliver(&self, id: &str, change_id: &str, now: Time) -> Result<EndpointView, Error> {
        let e = self.stored_endpoint(id).await?;
        let change = match parse_cursor(change_id).filter(|c| !c.is_empty()) {
            Some(c) => self.store.load_change(&c).await?,
            None => None,
        };
        let Some(change) = change else { return Err(Error::field("change_id", "unknown_change")) };
        let Some(held) = self.store.claim_cursor(&e.endpoint_id, now, now + self.settings.webhook_lease).await? else {
            return Err(Error::Unavailable("the endpoint is being delivered to; try again in a moment".into()));
        };
        let before = ulid::Ulid::from_string(&change.change_id).map(|u| u.0.saturating_sub(1)).unwrap_or_default();
        let cursor = Cursor { position: ulid::Ulid(before).to_string(), generation: held.cursor.generation + 1 };
        self.store.release_cursor(&e.endpoint_id, held.lease_until, &cursor).await?;
        tracing::info!(endpoint = %e.endpoint_id, change = %change.change_id, "webhook redelivery from a change");
        self.endpoint_view(e, None).await
    }

    /// A change as told: with the address its holder's profile still gives, if it needs one.
    async fn change_view(&self, change: Change) -> Result<ChangeView, Error> {
        let holder = match change.address_holder() {
            Some(s) => self.store.load_profile(s).await?.map(|p| (p.email, p.lang)),
            None => None,
        };
        Ok(ChangeView::new(change, holder))
    }

    /// One page of the change feed after `after` (a change id; empty for the start), oldest first.
    pub async fn changes(&self, after: &str, limit: usize, now: Time) -> Result<ChangePage, Error> {
        let after = parse_cursor(after.trim()).ok_or_else(|| Error::field("after", "invalid"))?;
        let changes = self.store.list_changes(&after, &settled_before(now, self.settings.feed_settle), limit.clamp(1, 500)).await?;
        let next = changes.last().map_or(after, |c| c.change_id.clone());
        let mut items = Vec::with_capacity(changes.len());
        for c in changes {
            items.push(self.change_view(c).await?);
        }
        Ok(ChangePage { items, next })
    }

    /// The endpoints a scheduled run should deliver to: every enabled one.
    pub async fn endpoints_to_run(&self) -> Result<Vec<EndpointId>, Error> {
        Ok(self.store.list_endpoints().await?.into_iter().filter(|e| e.enabled).map(|e| e.endpoint_id).collect())
    }

    /// Hands what is settled in the feed for one endpoint to the webhook queue, in order, and
    /// moves its cursor past it; changes the endpoint does not want are passed over.
    pub async fn pump<Wq: WebhookQueue>(&self, id: &EndpointId, queue: &Wq, now: Time) -> Result<PumpOutcome, Error> {
        let Some(endpoint) = self.store.load_endpoint(id).await?.filter(|e| e.enabled) else { return Ok(PumpOutcome::Skipped) };
        let Some(held) = self.store.claim_cursor(id, now, now + self.settings.webhook_lease).await? else {
            return Ok(PumpOutcome::Skipped);
        };
        let mut cursor = held.cursor;
        let changes = self.store.list_changes(&cursor.position, &settled_before(now, self.settings.feed_settle), BATCH).await?;
        let full = changes.len() == BATCH;
        let tasks: Vec<WebhookTask> = changes
            .iter()
            .filter(|c| endpoint.wants(c))
            .map(|c| WebhookTask {
                endpoint_id: id.clone(),
                change_id: c.change_id.clone(),
                subject_id: c.subject_id.clone(),
                generation: cursor.generation,
            })
            .collect();
        // Queued before the cursor moves: a worker that dies in between queues the same tasks
        // again, and the queue drops them by their deduplication key. On an error the lease lapses.
        queue.enqueue(&tasks).await?;
        if let Some(last) = changes.last() {
            cursor.position = last.change_id.clone();
        }
        self.store.release_cursor(id, held.lease_until, &cursor).await?;
        let queued = tasks.len();
        Ok(if full { PumpOutcome::More { queued } } else { PumpOutcome::Idle { queued } })
    }

    /// Delivers a batch the queue handed over, in its order: once a person's change fails, their
    /// later changes in the batch are not tried and wait behind it (the queue keeps a group's
    /// order). Other people's changes go on. One outcome per task, in the batch's order.
    pub async fn deliver_webhooks<W: WebhookSender>(&self, batch: &[Received], sender: &W, now: Time) -> Vec<TaskOutcome> {
        let mut held_back: Vec<(String, Duration)> = Vec::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        for received in batch {
            let group = received.task.group();
            if let Some((_, after)) = held_back.iter().find(|(g, _)| *g == group) {
                outcomes.push(TaskOutcome::Retry { after: *after });
                continue;
            }
            let outcome = match self.deliver_one(received, sender, now).await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::warn!(endpoint = %received.task.endpoint_id, change = %received.task.change_id, error = %e, "webhook delivery could not be tried; the queue brings it back");
                    TaskOutcome::Retry { after: TABLE_RETRY }
                }
            };
            if let TaskOutcome::Retry { after } = outcome {
                held_back.push((group, after));
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn deliver_one<W: WebhookSender>(&self, received: &Received, sender: &W, now: Time) -> Result<TaskOutcome, Error> {
        let task = &received.task;
        let id = &task.endpoint_id;
        let Some(endpoint) = self.store.load_endpoint(id).await? else { return Ok(TaskOutcome::Done) };
        let Some(change) = self.store.load_change(&task.change_id).await? else {
            tracing::warn!(endpoint = %id, change = %task.change_id, "a queued change is no longer in the feed; nothing to tell");
            return Ok(TaskOutcome::Done);
        };
        let attempts = received.receives.max(1);
        let kind = change.kind;
        let log = |status, response_status, error: Option<String>, next_try| DeliveryLog {
            change_id: task.change_id.clone(),
            kind,
            status,
            attempts,
            response_status,
            error,
            at: to_millis(now),
            next_try,
        };
        if !endpoint.enabled {
            // Disabling stops deliveries at once; what was queued is logged for `redeliver`.
            self.store.record_delivery(id, &log(DeliveryStatus::Skipped, None, None, None)).await?;
            return Ok(TaskOutcome::Done);
        }
        let secrets = self.store.load_endpoint_secrets(id).await?.ok_or_else(|| Error::Unavailable("endpoint without a secret".into()))?;
        let msg_id = message_id(&change);
        let subject = change.subject_id.clone();
        let payload = Payload { kind, timestamp: crate::proof::format_time(&change.at), data: self.change_view(change).await? };
        let body = serde_json::to_vec(&payload).expect("a payload serialises");
        let headers = signed_headers(&secrets.in_force(now), &msg_id, now, &body);
        let attempt = sender.post(&SignedRequest { url: &endpoint.url, headers, body }).await;
        let (response_status, error) = match &attempt {
            Attempt::Answered(s) => (Some(*s), None),
            Attempt::Failed(code) => (None, Some((*code).to_owned())),
        };
        if matches!(attempt, Attempt::Answered(200..=299)) {
            self.store.record_told(&subject, id, kind, now).await?;
            self.store.record_delivery(id, &log(DeliveryStatus::Delivered, response_status, error, None)).await?;
            return Ok(TaskOutcome::Done);
        }
        // Three days since it was queued, and the whole backoff tried: a change that waited behind
        // another of the same person still gets its own tries.
        if now - received.queued_at >= self.settings.webhook_give_up && attempts as usize > self.settings.webhook_retries.len() {
            tracing::error!(endpoint = %id, change = %task.change_id, attempts, "{WEBHOOK_GIVEN_UP}");
            self.store.record_delivery(id, &log(DeliveryStatus::Dead, response_status, error, None)).await?;
            return Ok(TaskOutcome::GiveUp);
        }
        let until = to_millis(next_try(&self.settings.webhook_retries, attempts, now));
        tracing::warn!(endpoint = %id, change = %task.change_id, attempts, status = ?response_status, error = ?error, "webhook delivery failed; tried again later");
        self.store.record_delivery(id, &log(DeliveryStatus::Failed, response_status, error, Some(until))).await?;
        Ok(TaskOutcome::Retry { after: until - now })
    }
}

/// The log line that says a change was given up for an endpoint (the alarm watches the
/// dead-letter queue it goes to; the line says which endpoint and change).
pub const WEBHOOK_GIVEN_UP: &str = "webhook delivery given up";

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::access::ExportedRecipient;
    use crate::memory::MemoryApp;
    use crate::memory::fixtures::{anna_on_file, email, now};
    use crate::store::WebhookStore;

    /// One request's headers and body.
    type Sent = (Vec<(&'static str, String)>, Vec<u8>);

    /// A receiver that answers from a script (then 200), and keeps every request.
    #[derive(Default)]
    struct Receiver {
        script: Mutex<Vec<Attempt>>,
        got: Mutex<Vec<Sent>>,
    }

    impl Receiver {
        fn failing(times: usize) -> Self {
            Self { script: Mutex::new(vec![Attempt::Answered(503); times]), ..Self::default() }
        }
        fn payloads(&self) -> Vec<(String, serde_json::Value)> {
            let got = self.got.lock().unwrap();
            got.iter()
                .map(|(h, b)| (h.iter().find(|(k, _)| *k == "webhook-id").unwrap().1.clone(), serde_json::from_slice(b).unwrap()))
                .collect()
        }
    }

    impl WebhookSender for Receiver {
        async fn post(&self, request: &SignedRequest<'_>) -> Attempt {
            self.got.lock().unwrap().push((request.headers.clone(), request.body.clone()));
            let mut script = self.script.lock().unwrap();
            if script.is_empty() { Attempt::Answered(204) } else { script.remove(0) }
        }
    }

    async fn withdraw(app: &MemoryApp, anna: &crate::ids::SubjectId, at: Time) {
        let newsletter = PurposeId::parse("newsletter").unwrap();
        app.withdraw(anna, &newsletter, crate::proof::Channel::EmailLink, None, at).await.unwrap();
    }

    fn input(url: &str) -> EndpointInput {
        EndpointInput { url: url.into(), description: "Mailing tool".into(), events: vec![], forms: vec![], purposes: vec![] }
    }

    /// Verifies one received request with the official Standard Webhooks library, under `secret`.
    fn verifies(secret: &str, headers: &[(&'static str, String)], body: &[u8]) -> bool {
        let mut map = http::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        standardwebhooks::Webhook::new(secret).unwrap().verify(body, &map).is_ok()
    }

    async fn endpoint(app: &MemoryApp) -> (EndpointId, String) {
        let view = app.add_endpoint(input("https://crm.example.com/hooks/zgoda"), now()).await.unwrap();
        (view.endpoint.endpoint_id, view.secret.unwrap())
    }

    /// One message on the simulated queue.
    struct Message {
        task: WebhookTask,
        receives: u32,
        queued_at: Time,
        visible_at: Time,
    }

    /// The webhook queue as SQS FIFO behaves: messages in order; a message is handed over only
    /// when no earlier one of its group is out of sight (in flight or waiting out its backoff); a
    /// given-up one goes to `dead`. `batch` is how many it hands over at once.
    struct Fifo {
        batch: usize,
        clock: Mutex<Time>,
        messages: Mutex<Vec<Message>>,
        dead: Mutex<Vec<WebhookTask>>,
    }

    impl Fifo {
        fn new(batch: usize) -> Self {
            Self { batch, clock: Mutex::new(now()), messages: Mutex::default(), dead: Mutex::default() }
        }

        /// What one receive hands over at `at` (its receive counts up), with each message's index.
        fn receive(&self, at: Time) -> Vec<(usize, Received)> {
            let mut messages = self.messages.lock().unwrap();
            let mut hidden: Vec<String> = Vec::new();
            let mut out = Vec::new();
            for (i, m) in messages.iter_mut().enumerate() {
                let group = m.task.group();
                if m.visible_at > at || hidden.contains(&group) {
                    hidden.push(group);
                    continue;
                }
                if out.len() == self.batch {
                    break;
                }
                m.receives += 1;
                out.push((i, Received { task: m.task.clone(), receives: m.receives, queued_at: m.queued_at }));
            }
            out
        }

        /// Acts on the outcomes as the function does with SQS.
        fn settle(&self, handed: &[(usize, Received)], outcomes: &[TaskOutcome], at: Time) {
            let mut messages = self.messages.lock().unwrap();
            let mut gone = Vec::new();
            for ((i, _), outcome) in handed.iter().zip(outcomes) {
                match outcome {
                    TaskOutcome::Done => gone.push(*i),
                    TaskOutcome::Retry { after } => messages[*i].visible_at = at + *after,
                    TaskOutcome::GiveUp => {
                        self.dead.lock().unwrap().push(messages[*i].task.clone());
                        gone.push(*i);
                    }
                }
            }
            for i in gone.into_iter().rev() {
                messages.remove(i);
            }
        }
    }

    impl WebhookQueue for Fifo {
        async fn enqueue(&self, tasks: &[WebhookTask]) -> Result<(), StoreError> {
            let at = *self.clock.lock().unwrap();
            let mut messages = self.messages.lock().unwrap();
            for task in tasks {
                if !messages.iter().any(|m| m.task.dedup_key() == task.dedup_key()) {
                    messages.push(Message { task: task.clone(), receives: 0, queued_at: at, visible_at: at });
                }
            }
            Ok(())
        }
    }

    /// One scheduled run at `at` for the endpoint `id` (its feed into `fifo`), then delivery of
    /// whatever the queue hands over until it hands over nothing more at that time.
    async fn run(app: &MemoryApp, id: &EndpointId, fifo: &Fifo, sender: &impl WebhookSender, at: Time) {
        *fifo.clock.lock().unwrap() = at;
        while let PumpOutcome::More { .. } = app.pump(id, fifo, at).await.unwrap() {}
        loop {
            let handed = fifo.receive(at);
            if handed.is_empty() {
                break;
            }
            let batch: Vec<Received> = handed.iter().map(|(_, r)| r.clone()).collect();
            let outcomes = app.deliver_webhooks(&batch, sender, at).await;
            fifo.settle(&handed, &outcomes, at);
        }
    }

    #[tokio::test]
    async fn art19_an_endpoint_must_be_https_to_a_public_address() {
        let (app, _) = anna_on_file().await;
        for (url, code) in [
            ("http://crm.example.com/hook", "not_https"),
            ("ftp://crm.example.com/hook", "not_https"),
            ("https://10.0.0.1/hook", "not_public"),
            ("https://169.254.169.254/latest/meta-data", "not_public"),
            ("https://[::1]/hook", "not_public"),
            ("https://127.0.0.1/hook", "not_public"),
            ("https://localhost/hook", "not_public"),
            ("http://127.0.0.1:9000/hook", "not_https"),
            ("https://user:pw@crm.example.com/hook", "invalid"),
            ("not a url", "invalid"),
        ] {
            let err = app.add_endpoint(input(url), now()).await.unwrap_err();
            assert!(matches!(&err, Error::Validation(f) if f[0].field == "url" && f[0].code == code), "{url}: {err:?}");
        }
        assert!(app.endpoints().await.unwrap().items.is_empty(), "nothing was stored");
        let mut local = anna_on_file().await.0;
        local.settings.webhook_loopback = true;
        assert!(local.add_endpoint(input("http://127.0.0.1:9000/hook"), now()).await.is_ok());
        assert!(local.add_endpoint(input("https://10.0.0.1/hook"), now()).await.is_err(), "loopback only, even locally");
    }

    #[tokio::test]
    async fn art19_a_receiver_down_for_several_tries_gets_every_change_later_in_order_under_stable_ids() {
        let (mut app, anna) = anna_on_file().await;
        app.settings.webhook_retries = vec![Duration::seconds(10)];
        // The endpoint starts at the feed's present: Anna's consent so far is an audience export's.
        let (id, secret) = endpoint(&app).await;
        let receiver = Receiver::failing(3);
        let t0 = now() + Duration::milliseconds(10);
        withdraw(&app, &anna, t0).await;
        app.erase_by_email(&email("anna@example.pl"), t0 + Duration::milliseconds(10)).await.unwrap();
        let mut at = t0 + app.settings.feed_settle + Duration::seconds(1);
        let fifo = Fifo::new(1);
        for _ in 0..6 {
            run(&app, &id, &fifo, &receiver, at).await;
            at += Duration::seconds(11);
        }
        assert!(fifo.messages.lock().unwrap().is_empty() && fifo.dead.lock().unwrap().is_empty());
        let got = receiver.payloads();
        let kinds: Vec<&str> = got.iter().map(|(_, p)| p["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["consent.withdrawn"; 4].into_iter().chain(["subject.erased"]).collect::<Vec<_>>());
        assert!(got[..4].iter().all(|(msg, _)| msg == &got[0].0), "every try under one webhook-id");
        assert_eq!(got[4].1["data"]["email"], "anna@example.pl", "an erasure carries the address once");
        assert!(got[0].1["data"].get("email").is_none(), "a withdrawal names the subject id only");
        assert_eq!(got[0].1["data"]["subject_id"], anna.as_str());
        for (headers, body) in receiver.got.lock().unwrap().iter() {
            assert!(verifies(&secret, headers, body));
        }
        let log = app.deliveries(id.as_str(), 10).await.unwrap().items;
        assert_eq!(
            log.iter().map(|l| (l.status, l.attempts)).collect::<Vec<_>>(),
            [(DeliveryStatus::Delivered, 1), (DeliveryStatus::Delivered, 4)]
        );
        let stored = serde_json::to_string(&log).unwrap();
        assert!(!stored.contains("anna@"), "the log holds no address: {stored}");
    }

    #[tokio::test]
    async fn art19_a_rotated_secret_signs_beside_the_old_one_through_the_overlap() {
        let (app, anna) = anna_on_file().await;
        let (id, old) = endpoint(&app).await;
        let new = app.rotate_endpoint_secret(id.as_str(), now()).await.unwrap().secret.unwrap();
        withdraw(&app, &anna, now() + Duration::milliseconds(10)).await;
        let receiver = Receiver::default();
        run(&app, &id, &Fifo::new(1), &receiver, now() + app.settings.feed_settle + Duration::seconds(1)).await;
        let (headers, body) = receiver.got.lock().unwrap()[0].clone();
        assert!(verifies(&old, &headers, &body) && verifies(&new, &headers, &body));
        let after = now() + SECRET_OVERLAP + Duration::minutes(1);
        let sig = signed_headers(&app.store.load_endpoint_secrets(&id).await.unwrap().unwrap().in_force(after), "m", after, b"{}");
        assert_eq!(sig[3].1.split(' ').count(), 1, "after the overlap only the new secret signs");
    }

    #[tokio::test]
    async fn art19_the_access_export_names_the_endpoints_that_received_changes_about_the_person() {
        let (app, anna) = anna_on_file().await;
        let (told, _) = endpoint(&app).await;
        let helpdesk =
            EndpointInput { description: "Helpdesk".into(), events: vec!["subject.erased".into()], ..input("https://help.example.com/h") };
        let helpdesk = app.add_endpoint(helpdesk, now()).await.unwrap().endpoint.endpoint_id;
        let down = EndpointInput { description: "CRM".into(), ..input("https://crm.example.net/h") };
        let down = app.add_endpoint(down, now()).await.unwrap().endpoint.endpoint_id;
        withdraw(&app, &anna, now() + Duration::milliseconds(10)).await;
        let at = now() + app.settings.feed_settle + Duration::seconds(1);
        run(&app, &told, &Fifo::new(1), &Receiver::default(), at).await;
        run(&app, &helpdesk, &Fifo::new(1), &Receiver::default(), at).await;
        run(&app, &down, &Fifo::new(1), &Receiver::failing(1), at).await;

        let export = app.export(&anna, at).await.unwrap();
        let webhooks: Vec<_> = export.recipients.iter().filter(|r| matches!(r, ExportedRecipient::Webhook { .. })).collect();
        assert_eq!(
            webhooks,
            [&ExportedRecipient::Webhook {
                endpoint_id: told,
                description: "Mailing tool".into(),
                told: vec![ChangeKind::ConsentWithdrawn],
                first_at: at,
                last_at: at,
            }],
            "not the endpoint that does not want withdrawals, nor the one that never answered 2xx"
        );
    }

    #[tokio::test]
    async fn art19_a_change_failing_for_three_days_is_given_up_to_the_dead_letters_and_the_person_goes_on() {
        let (mut app, anna) = anna_on_file().await;
        app.settings.webhook_retries = vec![Duration::days(2)];
        let (id, _) = endpoint(&app).await;
        withdraw(&app, &anna, now() + Duration::milliseconds(10)).await;
        app.erase_by_email(&email("anna@example.pl"), now() + Duration::milliseconds(20)).await.unwrap();
        let receiver = Receiver::failing(4);
        let fifo = Fifo::new(1);
        let start = now() + app.settings.feed_settle + Duration::seconds(1);
        run(&app, &id, &fifo, &receiver, start).await;
        run(&app, &id, &fifo, &receiver, start + Duration::days(2)).await;
        assert_eq!(receiver.payloads().len(), 2, "the erasure waits behind Anna's failing withdrawal");
        run(&app, &id, &fifo, &receiver, start + Duration::days(4)).await;
        let log = app.deliveries(id.as_str(), 10).await.unwrap().items;
        assert_eq!(
            log.iter().map(|l| l.status).collect::<Vec<_>>(),
            [DeliveryStatus::Failed, DeliveryStatus::Dead],
            "queued four days ago, the erasure still gets its own tries"
        );
        run(&app, &id, &fifo, &receiver, start + Duration::days(6)).await;
        let log = app.deliveries(id.as_str(), 10).await.unwrap().items;
        assert_eq!(log.iter().map(|l| l.status).collect::<Vec<_>>(), [DeliveryStatus::Delivered, DeliveryStatus::Dead]);
        let dead = log[1].change_id.clone();
        let letters = fifo.dead.lock().unwrap().clone();
        assert_eq!(letters.iter().map(|t| t.change_id.as_str()).collect::<Vec<_>>(), [dead.as_str()]);
        assert!(!serde_json::to_string(&letters).unwrap().contains("anna@"), "a dead letter holds ids only");
        // The operator replays from the dead change: both again, in order, under their own ids.
        app.redeliver(id.as_str(), &dead, start + Duration::days(6)).await.unwrap();
        run(&app, &id, &fifo, &receiver, start + Duration::days(6)).await;
        let ids: Vec<String> = receiver.payloads().into_iter().map(|(m, _)| m).collect();
        assert_eq!(ids[5..], [format!("msg_{dead}"), ids[4].clone()]);
    }

    #[tokio::test]
    async fn art19_a_change_refused_for_one_person_holds_back_that_persons_later_changes_only() {
        let (app, anna) = anna_on_file().await;
        let form = crate::memory::fixtures::form(&app, crate::memory::fixtures::single_opt_in_input()).await;
        crate::memory::fixtures::post(&app, &form, "jan@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let jan = app.subject_id(&email("jan@example.pl"));
        let (id, _) = endpoint(&app).await;
        let t0 = now() + Duration::milliseconds(10);
        withdraw(&app, &anna, t0).await;
        app.erase_by_email(&email("anna@example.pl"), t0 + Duration::milliseconds(10)).await.unwrap();
        withdraw(&app, &jan, t0 + Duration::milliseconds(20)).await;
        // The receiver refuses the first request (Anna's withdrawal) once; the queue hands over
        // all three at once.
        let receiver = Receiver { script: Mutex::new(vec![Attempt::Answered(422)]), ..Receiver::default() };
        let fifo = Fifo::new(10);
        let at = t0 + app.settings.feed_settle + Duration::seconds(1);
        run(&app, &id, &fifo, &receiver, at).await;
        let subjects = |got: Vec<(String, serde_json::Value)>| -> Vec<(String, String)> {
            got.into_iter()
                .map(|(_, p)| (p["type"].as_str().unwrap().to_owned(), p["data"]["subject_id"].as_str().unwrap().to_owned()))
                .collect()
        };
        let withdrawn = "consent.withdrawn".to_owned();
        assert_eq!(
            subjects(receiver.payloads()),
            [(withdrawn.clone(), anna.to_string()), (withdrawn.clone(), jan.to_string())],
            "Jan is told at once; Anna's erasure is not tried before her refused withdrawal"
        );
        run(&app, &id, &fifo, &receiver, at + Duration::minutes(10)).await;
        assert_eq!(
            subjects(receiver.payloads())[2..],
            [(withdrawn, anna.to_string()), ("subject.erased".to_owned(), anna.to_string())],
            "then Anna's, in her order"
        );
    }

    #[tokio::test]
    async fn an_endpoint_hears_only_the_kinds_and_purposes_it_asked_for() {
        let (app, anna) = anna_on_file().await;
        let mut wants_erasures = input("https://crm.example.com/a");
        wants_erasures.events = vec!["subject.erased".into()];
        let mut other_purpose = input("https://crm.example.com/b");
        other_purpose.purposes = vec!["contact_reply".into()];
        let a = app.add_endpoint(wants_erasures, now()).await.unwrap().endpoint.endpoint_id;
        let b = app.add_endpoint(other_purpose, now()).await.unwrap().endpoint.endpoint_id;
        withdraw(&app, &anna, now() + Duration::milliseconds(10)).await;
        app.erase_by_email(&email("anna@example.pl"), now() + Duration::milliseconds(20)).await.unwrap();
        let at = now() + app.settings.feed_settle + Duration::seconds(1);
        for id in [a, b] {
            let receiver = Receiver::default();
            run(&app, &id, &Fifo::new(1), &receiver, at).await;
            let kinds: Vec<String> = receiver.payloads().into_iter().map(|(_, p)| p["type"].as_str().unwrap().to_owned()).collect();
            assert_eq!(kinds, ["subject.erased"], "an erasure concerns every recipient; the newsletter's withdrawal only its own");
        }
        let mut bad = input("https://crm.example.com/c");
        bad.events = vec!["consent.maybe".into()];
        bad.forms = vec!["nope".into()];
        let err = app.add_endpoint(bad, now()).await.unwrap_err();
        let Error::Validation(fields) = err else { panic!() };
        assert_eq!(
            fields.iter().map(|f| (f.field.as_str(), f.code)).collect::<Vec<_>>(),
            [("events[0]", "unknown_event"), ("forms[0]", "unknown_form")]
        );
    }
}
