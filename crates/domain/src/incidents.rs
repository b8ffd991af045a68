//! Before the register (the seed's first step, detect and signal; Art. 33(5) with EDPB 9/2022):
//! staff and partners report a suspected incident through a signed reporting link the DPO hands
//! out, and the DPO triages it, with the outcome documented: not a personal data breach (with
//! reasons), a question back to the reporter (whose answer joins the incident), or a breach in the
//! register.
//!
//! A reporting link belongs to a *channel* (one per team or partner). The link carries the
//! channel's generation: rotating the channel retires every link handed out before.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::breach::BreachInput;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::{BreachId, ChannelId, IncidentId, OperatorId, ProcessorId, SubjectId};
use crate::lang::Lang;
use crate::mail::{Mailer, Message};
use crate::proof::{millis, opt_millis};
use crate::register::BreachView;
use crate::service::Zgoda;
use crate::store::{Store, WorkQueue};
use crate::token::{self, LinkAction, LinkClaims, TokenError};
use crate::{Fields, Time};

/// How long a reporting link works: long, since it is printed in a procedure; rotating the channel
/// is how one is withdrawn.
pub const REPORTING_LINK_TTL: Duration = Duration::days(3 * 366);
/// How long a reporter's link to answer a question works.
pub const ANSWER_LINK_TTL: Duration = Duration::days(30);
/// How long an incident may wait for triage before the contact point is reminded, once: the 72
/// hours of a breach it may be are running (awareness follows a short investigation).
pub const TRIAGE_REMINDER_AFTER: Duration = Duration::hours(24);
/// How many times a partner's reporting link (or an answer link) may send a report in an hour:
/// a leaked link must not flood the DPO's mailbox.
pub const REPORTS_PER_HOUR: u64 = 20;

/// A team or partner the DPO handed a reporting link to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportingChannel {
    pub channel_id: ChannelId,
    /// Who holds the link (`Obsługa klienta`, `Kurier X sp. z o.o.`).
    pub name: String,
    /// The language its page opens in.
    pub lang: Lang,
    /// Bumped by each rotation; only links of the current one work.
    pub generation: u32,
    #[serde(with = "millis")]
    pub created_at: Time,
    #[serde(default, with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<Time>,
    /// The processor whose link this is (`processors.rs`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_id: Option<ProcessorId>,
}

impl ReportingChannel {
    /// A new channel, at its first generation.
    pub fn new(channel_id: ChannelId, name: String, lang: Lang, processor_id: Option<ProcessorId>, now: Time) -> Self {
        Self { channel_id, name, lang, generation: 1, created_at: now, rotated_at: None, processor_id }
    }
}

/// A channel with a link of its current generation, as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    #[serde(flatten)]
    pub channel: ReportingChannel,
    /// A working reporting link (each read signs a fresh one; all of a generation work alike).
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelList {
    pub items: Vec<ChannelView>,
}

/// What the operator sends to create a channel.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    pub channel_id: String,
    pub name: String,
    #[serde(default)]
    pub lang: Option<Lang>,
}

/// The report as the reporter wrote it: what happened, when, what data, who noticed, how to reach
/// them. Free text on purpose: a reporter says "yesterday around three", and the DPO sets times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentReport {
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    pub noticed_by: String,
    /// Where the DPO's questions go.
    pub contact_email: EmailAddress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_phone: Option<String>,
}

/// The report as the page's form sends it, unchecked.
#[derive(Debug, Clone, Default)]
pub struct ReportForm<'a> {
    pub what: Option<&'a str>,
    pub when: Option<&'a str>,
    pub data: Option<&'a str>,
    pub noticed_by: Option<&'a str>,
    pub contact_email: Option<&'a str>,
    pub contact_phone: Option<&'a str>,
}

/// A free-text input: trimmed, `None` when empty, too long refused. For [`Fields::required`].
pub(crate) fn text(v: Option<&str>, max: usize) -> Option<Result<String, &'static str>> {
    let v = v.map(str::trim).filter(|v| !v.is_empty())?;
    Some(if v.chars().count() > max { Err("too_long") } else { Ok(v.to_owned()) })
}

fn optional(fields: &mut Fields, name: &str, v: Option<&str>, max: usize) -> Option<Option<String>> {
    match text(v, max) {
        None => Some(None),
        Some(r) => fields.check(name, r).map(Some),
    }
}

impl ReportForm<'_> {
    /// The report, or every field that is missing or wrong.
    pub fn parse(&self) -> Result<IncidentReport, Error> {
        let mut fields = Fields::default();
        let what = fields.required("what", text(self.what, 10_000));
        let when = optional(&mut fields, "when", self.when, 200);
        let data = optional(&mut fields, "data", self.data, 2_000);
        let noticed_by = fields.required("noticed_by", text(self.noticed_by, 200));
        let email = self.contact_email.map(str::trim).filter(|v| !v.is_empty());
        let contact_email = fields.required("contact_email", email.map(|e| EmailAddress::parse(e).map_err(|_| "invalid")));
        let contact_phone = optional(&mut fields, "contact_phone", self.contact_phone, 40);
        let values = what.zip(when).zip(data).zip(noticed_by).zip(contact_email).zip(contact_phone);
        let (((((what, when), data), noticed_by), contact_email), contact_phone) = fields.finish(values)?;
        Ok(IncidentReport { what, when, data, noticed_by, contact_email, contact_phone })
    }
}

/// Who wrote one message of an incident's exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The DPO's question.
    Dpo,
    /// The reporter's answer.
    Reporter,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub from: Author,
    pub text: String,
    #[serde(with = "millis")]
    pub at: Time,
    /// The operator's key id, for a question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<OperatorId>,
}

/// How triage ended (Art. 33(5): documented either way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Triage {
    /// Not a personal data breach, and why.
    NotABreach {
        reasons: String,
        #[serde(with = "millis")]
        at: Time,
        by: OperatorId,
    },
    /// A breach, registered under `breach_id`.
    Breach {
        breach_id: BreachId,
        #[serde(with = "millis")]
        at: Time,
        by: OperatorId,
    },
}

/// Where an incident stands; derived, never stored, so it cannot disagree with the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Waiting for the DPO.
    Triage,
    /// The DPO asked the reporter for more; waiting for the answer.
    AwaitingReporter,
    NotABreach,
    Breach,
}

impl IncidentStatus {
    pub fn is_open(self) -> bool {
        matches!(self, IncidentStatus::Triage | IncidentStatus::AwaitingReporter)
    }
}

/// A reported incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub incident_id: IncidentId,
    pub channel_id: ChannelId,
    /// The channel's name when the report arrived.
    pub channel_name: String,
    /// The processor that reported it (through its link or its signed webhook), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_id: Option<ProcessorId>,
    /// The report's arrival: the detection time of a breach it becomes.
    #[serde(with = "millis")]
    pub reported_at: Time,
    pub lang: Lang,
    pub report: IncidentReport,
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<Triage>,
    /// Kept as long as a breach record (Art. 5(1)(e)): the register's documentation of an
    /// incident judged not a breach is evidence for as long as a breach's would be.
    #[serde(with = "millis")]
    pub kept_until: Time,
    /// Bumped by every change; a write succeeds only over the revision it read.
    #[serde(default)]
    pub revision: u64,
}

impl Incident {
    pub fn status(&self) -> IncidentStatus {
        match (&self.triage, self.exchanges.last()) {
            (Some(Triage::NotABreach { .. }), _) => IncidentStatus::NotABreach,
            (Some(Triage::Breach { .. }), _) => IncidentStatus::Breach,
            (None, Some(Exchange { from: Author::Dpo, .. })) => IncidentStatus::AwaitingReporter,
            (None, _) => IncidentStatus::Triage,
        }
    }

    /// The open question the reporter may answer, if any.
    pub fn open_question(&self) -> Option<&Exchange> {
        self.exchanges.last().filter(|e| e.from == Author::Dpo && self.triage.is_none())
    }

    fn closed(&self) -> Result<(), Error> {
        if self.status().is_open() { Ok(()) } else { Err(Error::field("incident", "closed")) }
    }
}

/// An incident as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: Incident,
    pub status: IncidentStatus,
}

impl From<Incident> for IncidentView {
    fn from(incident: Incident) -> Self {
        Self { status: incident.status(), incident }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentList {
    pub items: Vec<IncidentView>,
}

/// Which incidents a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentFilter {
    Open,
    Closed,
    All,
}

/// What the reporting page shows before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportingPage {
    pub channel: ReportingChannel,
}

/// What an answer link's page shows: the incident's reference and the open question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerPage {
    pub incident_id: IncidentId,
    pub lang: Lang,
    pub question: Option<String>,
}

/// A token's subject for something that is no person: a digest of what it names, so it can never
/// be taken for a person's id.
fn not_a_person(kind: &str, id: &str) -> SubjectId {
    SubjectId::from_digest(&Sha256::digest(format!("zgoda/{kind}/v1\n{id}")))
}

fn channel_ref(channel: &ReportingChannel) -> String {
    format!("{}.{}", channel.channel_id, channel.generation)
}

/// A token of `action`, or why not: an incident's link that expired cannot be renewed from here.
fn verified(ring: &crate::keys::KeyRing, token: &str, action: LinkAction, now: Time) -> Result<LinkClaims, Error> {
    match token::verify(ring, token, now) {
        Ok(c) if c.action == action => Ok(c),
        Err(TokenError::Expired(c)) if c.action == action => Err(Error::LinkExpired { renewable: false }),
        _ => Err(Error::InvalidLink),
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    fn reporting_url(&self, channel: &ReportingChannel, now: Time) -> String {
        let subject = not_a_person("reporting-channel", channel.channel_id.as_str());
        let claims = LinkClaims::new(LinkAction::Report, subject, None, Some(channel_ref(channel)), now + REPORTING_LINK_TTL);
        self.settings.public_url.join(&format!("/v1/report/{}", token::sign(self.keys.links(), &claims)))
    }

    fn answer_url(&self, incident: &IncidentId, now: Time) -> (String, Time) {
        let expires_at = now + ANSWER_LINK_TTL;
        let claims = LinkClaims::new(
            LinkAction::IncidentAnswer,
            not_a_person("incident", incident.as_str()),
            None,
            Some(incident.to_string()),
            expires_at,
        );
        (self.settings.public_url.join(&format!("/v1/report/answer/{}", token::sign(self.keys.links(), &claims))), expires_at)
    }

    pub(crate) fn channel_view(&self, channel: ReportingChannel, now: Time) -> ChannelView {
        ChannelView { url: self.reporting_url(&channel, now), channel }
    }

    /// Creates a reporting channel; an id in use is 422 `channel_id` `taken`.
    pub async fn create_channel(&self, input: ChannelInput, now: Time) -> Result<ChannelView, Error> {
        let mut fields = Fields::default();
        let id = fields.check("channel_id", ChannelId::parse(&input.channel_id).ok_or("invalid"));
        let name = fields.required("name", text(Some(&input.name), 200));
        let (channel_id, name) = fields.finish(id.zip(name))?;
        let channel = ReportingChannel::new(channel_id, name, input.lang.unwrap_or(Lang::Pl), None, now);
        if !self.store.save_channel(&channel, None).await? {
            return Err(Error::field("channel_id", "taken"));
        }
        tracing::info!(channel = %channel.channel_id, "reporting channel created");
        Ok(self.channel_view(channel, now))
    }

    /// Retires every link of the channel handed out so far and answers with a new one.
    pub async fn rotate_channel(&self, id: &ChannelId, now: Time) -> Result<ChannelView, Error> {
        let current = self.store.load_channel(id).await?.ok_or(Error::ChannelNotFound)?;
        let rotated = ReportingChannel { generation: current.generation + 1, rotated_at: Some(now), ..current.clone() };
        if !self.store.save_channel(&rotated, Some(current.generation)).await? {
            return Err(Error::Unavailable("the channel changed while it was rotated".into()));
        }
        tracing::info!(channel = %id, generation = rotated.generation, "reporting channel rotated");
        Ok(self.channel_view(rotated, now))
    }

    pub async fn channels(&self, now: Time) -> Result<ChannelList, Error> {
        let mut items: Vec<ChannelView> = self.store.list_channels().await?.into_iter().map(|c| self.channel_view(c, now)).collect();
        items.sort_by(|a, b| a.channel.channel_id.cmp(&b.channel.channel_id));
        Ok(ChannelList { items })
    }

    /// The channel a reporting link belongs to, if the link is of its current generation.
    pub async fn reporting_page(&self, token: &str, now: Time) -> Result<ReportingPage, Error> {
        let claims = verified(self.keys.links(), token, LinkAction::Report, now)?;
        let (id, generation) = claims.refers_to.as_deref().and_then(|r| r.rsplit_once('.')).ok_or(Error::InvalidLink)?;
        let id = ChannelId::parse(id).ok_or(Error::InvalidLink)?;
        let channel = self.store.load_channel(&id).await?.ok_or(Error::InvalidLink)?;
        if generation != channel.generation.to_string() {
            // Rotated since: the link was withdrawn.
            return Err(Error::InvalidLink);
        }
        Ok(ReportingPage { channel })
    }

    /// Records a report as an incident in triage and mails the contact point at once. The report's
    /// arrival is its detection time.
    pub async fn report_incident(&self, token: &str, form: &ReportForm<'_>, lang: Lang, now: Time) -> Result<Incident, Error> {
        let page = self.reporting_page(token, now).await?;
        self.record_incident(&page.channel, form, lang, now).await
    }

    /// A report through `channel` (a reporting link, or a processor's signed webhook), recorded.
    pub(crate) async fn record_incident(
        &self,
        channel: &ReportingChannel,
        form: &ReportForm<'_>,
        lang: Lang,
        now: Time,
    ) -> Result<Incident, Error> {
        let report = form.parse()?;
        self.rate_limit(&crate::store::GuardKey::ReportsFrom(channel.channel_id.clone()), REPORTS_PER_HOUR, now).await?;
        let incident = Incident {
            incident_id: IncidentId::new(ulid::Ulid::new()),
            channel_id: channel.channel_id.clone(),
            channel_name: channel.name.clone(),
            processor_id: channel.processor_id.clone(),
            reported_at: crate::proof::to_millis(now),
            lang,
            report,
            exchanges: Vec::new(),
            triage: None,
            kept_until: crate::proof::to_millis(now + self.settings.breach_retention),
            revision: 1,
        };
        self.store.save_incident(&incident).await?;
        tracing::info!(incident = %incident.incident_id, channel = %incident.channel_id, "incident reported");
        // The report is stored whatever happens to the mail; the DPO also sees it in the list.
        let message = Message::IncidentReported {
            to: self.settings.controller.privacy_contact().clone(),
            lang: Lang::Pl,
            incident_id: incident.incident_id.clone(),
            channel: incident.channel_name.clone(),
            report: incident.report.clone(),
        };
        self.send_logged(&message).await;
        Ok(incident)
    }

    pub async fn incident(&self, id: &IncidentId) -> Result<IncidentView, Error> {
        Ok(self.store.load_incident(id).await?.ok_or(Error::IncidentNotFound)?.into())
    }

    /// The incidents, open ones (the default) oldest first, closed ones latest first.
    pub async fn incidents(&self, filter: IncidentFilter) -> Result<IncidentList, Error> {
        let mut items: Vec<IncidentView> = self.store.list_incidents().await?.into_iter().map(IncidentView::from).collect();
        items.retain(|i| match filter {
            IncidentFilter::Open => i.status.is_open(),
            IncidentFilter::Closed => !i.status.is_open(),
            IncidentFilter::All => true,
        });
        items.sort_by_key(|i| i.incident.reported_at);
        if filter != IncidentFilter::Open {
            items.reverse();
        }
        Ok(IncidentList { items })
    }

    /// Writes `change` over the incident as it stands; again if another change got there first.
    async fn change_incident(
        &self,
        id: &IncidentId,
        change: &(dyn Fn(&mut Incident) -> Result<(), Error> + Sync),
    ) -> Result<Incident, Error> {
        for _ in 0..crate::service::APPEND_ATTEMPTS {
            let mut incident = self.store.load_incident(id).await?.ok_or(Error::IncidentNotFound)?;
            change(&mut incident)?;
            incident.revision += 1;
            if self.store.update_incident(&incident).await? {
                return Ok(incident);
            }
        }
        Err(Error::Unavailable("the incident kept changing".into()))
    }

    /// The scheduled watch's part: each incident waiting for the DPO (not for its reporter) for
    /// [`TRIAGE_REMINDER_AFTER`] is recalled to the contact point, once. Returns the incidents
    /// recalled.
    pub async fn triage_reminders(&self, now: Time) -> Result<Vec<IncidentId>, Error> {
        let mut sent = Vec::new();
        for incident in self.store.list_incidents().await? {
            let waiting_since = incident.exchanges.last().map_or(incident.reported_at, |e| e.at);
            if incident.status() != IncidentStatus::Triage || now < waiting_since + TRIAGE_REMINDER_AFTER {
                continue;
            }
            let marker = crate::store::GuardKey::TriageReminder(incident.incident_id.clone());
            // As the deadline reminders: claimed for this run, kept once sent.
            if !self.store.first_use(&marker, now + crate::reminders::REMINDER_CLAIM, now).await? {
                continue;
            }
            let message = Message::IncidentWaiting {
                to: self.settings.controller.privacy_contact().clone(),
                lang: Lang::Pl,
                incident_id: incident.incident_id.clone(),
                since: waiting_since,
            };
            match self.mailer.send(&message).await {
                Ok(_) => {
                    self.store.keep_use(&marker, incident.kept_until).await?;
                    sent.push(incident.incident_id);
                }
                Err(e) => {
                    tracing::error!(incident = %incident.incident_id, error = %e, "triage reminder not sent; the next run tries again")
                }
            }
        }
        Ok(sent)
    }

    /// Closes an incident as not a personal data breach, with the reasons (kept with it).
    pub async fn dismiss_incident(
        &self,
        id: &IncidentId,
        reasons: Option<&str>,
        by: &OperatorId,
        now: Time,
    ) -> Result<IncidentView, Error> {
        let mut fields = Fields::default();
        let reasons = fields.required("reasons", text(reasons, 4_000));
        let reasons = fields.finish(reasons)?;
        let at = crate::proof::to_millis(now);
        let incident = self
            .change_incident(id, &|i| {
                i.closed()?;
                i.triage = Some(Triage::NotABreach { reasons: reasons.clone(), at, by: by.clone() });
                Ok(())
            })
            .await?;
        tracing::info!(operator = %by, incident = %id, "incident closed: not a personal data breach");
        Ok(incident.into())
    }

    /// Asks the reporter for more: the question joins the incident and goes to them by mail,
    /// with a link to answer.
    pub async fn ask_reporter(&self, id: &IncidentId, question: Option<&str>, by: &OperatorId, now: Time) -> Result<IncidentView, Error> {
        let mut fields = Fields::default();
        let question = fields.required("question", text(question, 4_000));
        let question = fields.finish(question)?;
        let at = crate::proof::to_millis(now);
        let before = self.store.load_incident(id).await?.ok_or(Error::IncidentNotFound)?;
        before.closed()?;
        let (url, expires_at) = self.answer_url(id, now);
        let message = Message::IncidentQuestion {
            to: before.report.contact_email.clone(),
            lang: before.lang,
            incident_id: id.clone(),
            question: question.clone(),
            url,
            expires_at,
        };
        // Mailed first: a question the reporter never gets must not show as asked.
        self.mailer.send(&message).await.map_err(|e| Error::Unavailable(e.reason))?;
        let incident = self
            .change_incident(id, &|i| {
                i.closed()?;
                i.exchanges.push(Exchange { from: Author::Dpo, text: question.clone(), at, by: Some(by.clone()) });
                Ok(())
            })
            .await?;
        tracing::info!(operator = %by, incident = %id, "reporter asked for more");
        Ok(incident.into())
    }

    /// What an answer link's page shows.
    pub async fn answer_page(&self, token: &str, now: Time) -> Result<AnswerPage, Error> {
        let claims = verified(self.keys.links(), token, LinkAction::IncidentAnswer, now)?;
        let id = claims.refers_to.as_deref().and_then(IncidentId::parse).ok_or(Error::InvalidLink)?;
        let incident = self.store.load_incident(&id).await?.ok_or(Error::InvalidLink)?;
        Ok(AnswerPage { question: incident.open_question().map(|q| q.text.clone()), incident_id: id, lang: incident.lang })
    }

    /// The reporter's answer joins the incident, and the contact point is told.
    pub async fn answer_incident(&self, token: &str, answer: Option<&str>, now: Time) -> Result<AnswerPage, Error> {
        let page = self.answer_page(token, now).await?;
        let mut fields = Fields::default();
        let answer = fields.required("answer", text(answer, 10_000));
        let answer = fields.finish(answer)?;
        if page.question.is_none() {
            return Err(Error::field("answer", "no_open_question"));
        }
        let at = crate::proof::to_millis(now);
        self.change_incident(&page.incident_id, &|i| {
            if i.open_question().is_none() {
                return Err(Error::field("answer", "no_open_question"));
            }
            i.exchanges.push(Exchange { from: Author::Reporter, text: answer.clone(), at, by: None });
            Ok(())
        })
        .await?;
        tracing::info!(incident = %page.incident_id, "reporter answered");
        let message = Message::IncidentAnswered {
            to: self.settings.controller.privacy_contact().clone(),
            lang: Lang::Pl,
            incident_id: page.incident_id.clone(),
        };
        self.send_logged(&message).await;
        Ok(AnswerPage { question: None, ..page })
    }

    /// Turns an incident into a breach in the register, under the incident's id. `raw` is the
    /// registration (`POST /v1/breaches`'s body); its `detected_at` defaults to the report's
    /// arrival, and `aware_at` with its justification is the DPO's, as for any registration.
    pub async fn incident_to_breach(
        &self,
        id: &IncidentId,
        mut raw: serde_json::Value,
        by: &OperatorId,
        now: Time,
    ) -> Result<BreachView, Error> {
        let incident = self.store.load_incident(id).await?.ok_or(Error::IncidentNotFound)?;
        incident.closed()?;
        let body = raw.as_object_mut().ok_or_else(|| Error::field("body", "invalid"))?;
        body.entry("detected_at").or_insert_with(|| serde_json::Value::String(crate::proof::format_time(&incident.reported_at)));
        if incident.processor_id.is_some() {
            // A processor's report makes the controller aware once the DPO accepts it as
            // credible: now, unless the DPO says otherwise; the justification is theirs to give.
            let accepted = crate::proof::format_time(&crate::proof::to_millis(now));
            body.entry("aware_at").or_insert_with(|| serde_json::Value::String(accepted));
            body.entry("other_entities").or_insert_with(|| serde_json::Value::String(format!("{} (processor)", incident.channel_name)));
        }
        let input: BreachInput = crate::from_value(raw.clone())?;
        let breach_id = BreachId::parse(id.as_str()).expect("an incident id is a breach id");
        // Registered by an earlier try that could not record it on the incident: not again.
        let view = match self.store.load_breach(&breach_id).await? {
            Some(_) => self.breach(&breach_id, now).await?,
            None => self.register_breach(breach_id.clone(), input, &raw, by, now).await?,
        };
        let at = crate::proof::to_millis(now);
        self.change_incident(id, &|i| {
            i.triage = Some(Triage::Breach { breach_id: breach_id.clone(), at, by: by.clone() });
            Ok(())
        })
        .await?;
        tracing::info!(operator = %by, incident = %id, "incident registered as a breach");
        Ok(view)
    }
}

/// Reporting and triage over the in-memory adapters.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::breach::tests::{input, now, ops};
    use crate::memory::{self, MemoryApp};
    use crate::store::IncidentStore;
    use serde_json::json;

    async fn channel(app: &MemoryApp) -> ChannelView {
        let input = ChannelInput { channel_id: "obsluga".into(), name: "Obsługa klienta".into(), lang: None };
        app.create_channel(input, now()).await.unwrap()
    }

    fn token(url: &str) -> &str {
        url.rsplit('/').next().unwrap()
    }

    fn form() -> ReportForm<'static> {
        ReportForm {
            what: Some("Klientka dostała fakturę innej osoby."),
            when: Some("wczoraj ok. 15:00"),
            data: Some("imię, adres, kwota"),
            noticed_by: Some("Jan z obsługi"),
            contact_email: Some("jan@sklep.example.pl"),
            contact_phone: None,
        }
    }

    #[tokio::test]
    async fn seed_detect_a_report_through_a_reporting_link_is_an_incident_in_triage_and_the_contact_point_is_mailed_at_once() {
        let app = memory::app();
        let url = channel(&app).await.url;
        let incident = app.report_incident(token(&url), &form(), Lang::Pl, now()).await.unwrap();
        assert_eq!(
            (incident.status(), incident.reported_at, incident.channel_name.as_str()),
            (IncidentStatus::Triage, now(), "Obsługa klienta")
        );
        let sent = app.mailer.sent();
        assert!(
            matches!(&sent[..], [Message::IncidentReported { to, incident_id, .. }] if to == app.settings.controller.privacy_contact() && incident_id == &incident.incident_id),
            "{sent:?}"
        );
        assert_eq!(app.incidents(IncidentFilter::Open).await.unwrap().items.len(), 1);
    }

    #[tokio::test]
    async fn seed_detect_a_report_missing_what_happened_or_a_way_to_reach_the_reporter_names_each_field_and_stores_nothing() {
        let app = memory::app();
        let url = channel(&app).await.url;
        let bad = ReportForm { what: Some("  "), contact_email: Some("nie-adres"), noticed_by: None, ..form() };
        let err = app.report_incident(token(&url), &bad, Lang::Pl, now()).await.unwrap_err();
        let fields: Vec<(String, &str)> = match err {
            Error::Validation(f) => f.into_iter().map(|f| (f.field, f.code)).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields, [("what".into(), "required"), ("noticed_by".into(), "required"), ("contact_email".into(), "invalid")]);
        assert!(app.store.list_incidents().await.unwrap().is_empty() && app.mailer.sent().is_empty());
    }

    #[tokio::test]
    async fn seed_detect_an_incident_waiting_a_day_for_triage_is_recalled_to_the_contact_point_once() {
        let app = memory::app();
        let url = channel(&app).await.url;
        let reported = now() - TRIAGE_REMINDER_AFTER;
        let waiting = app.report_incident(token(&url), &form(), Lang::Pl, reported).await.unwrap().incident_id;
        let asked = app.report_incident(token(&url), &form(), Lang::Pl, reported).await.unwrap().incident_id;
        app.ask_reporter(&asked, Some("Kiedy dokładnie?"), &ops(), reported).await.unwrap();
        let fresh = app.report_incident(token(&url), &form(), Lang::Pl, now() - Duration::hours(23)).await.unwrap().incident_id;
        assert_eq!(
            app.triage_reminders(now()).await.unwrap(),
            std::slice::from_ref(&waiting),
            "not the one waiting for its reporter, nor the fresh one"
        );
        assert!(app.triage_reminders(now() + Duration::minutes(15)).await.unwrap().is_empty(), "once");
        let to = app.settings.controller.privacy_contact().clone();
        assert!(
            app.mailer
                .sent()
                .iter()
                .any(|m| matches!(m, Message::IncidentWaiting { to: t, incident_id, .. } if t == &to && incident_id == &waiting))
        );
        assert_eq!(app.triage_reminders(now() + Duration::hours(1)).await.unwrap(), [fresh]);
    }

    #[tokio::test]
    async fn seed_detect_rotating_a_channel_retires_its_earlier_links() {
        let app = memory::app();
        let old = channel(&app).await.url;
        let new = app.rotate_channel(&ChannelId::parse("obsluga").unwrap(), now()).await.unwrap();
        assert_eq!(new.channel.generation, 2);
        assert!(matches!(app.reporting_page(token(&old), now()).await, Err(Error::InvalidLink)));
        assert!(app.reporting_page(token(&new.url), now()).await.is_ok());
        assert!(matches!(app.preview_link(token(&new.url), None, now()).await, Err(Error::InvalidLink)), "no person's link");
    }

    #[tokio::test]
    async fn art33_5_triage_documents_each_outcome_not_a_breach_with_reasons_a_question_answered_and_a_breach() {
        let app = memory::app();
        let url = channel(&app).await.url;
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(app.report_incident(token(&url), &form(), Lang::Pl, now() - Duration::hours(2)).await.unwrap().incident_id);
        }
        let [dismissed, asked, breach] = <[IncidentId; 3]>::try_from(ids).unwrap();

        assert!(
            matches!(app.dismiss_incident(&dismissed, None, &ops(), now()).await, Err(Error::Validation(f)) if f[0].field == "reasons")
        );
        let closed = app.dismiss_incident(&dismissed, Some("Faktura trafiła do właściwej osoby."), &ops(), now()).await.unwrap();
        assert_eq!(closed.status, IncidentStatus::NotABreach);
        assert!(
            matches!(app.dismiss_incident(&dismissed, Some("x"), &ops(), now()).await, Err(Error::Validation(f)) if f[0].code == "closed")
        );

        let view = app.ask_reporter(&asked, Some("Ile faktur wysłano?"), &ops(), now()).await.unwrap();
        assert_eq!(view.status, IncidentStatus::AwaitingReporter);
        let answer_url = app
            .mailer
            .sent()
            .iter()
            .find_map(|m| match m {
                Message::IncidentQuestion { url, to, .. } if to.as_str() == "jan@sklep.example.pl" => Some(url.clone()),
                _ => None,
            })
            .unwrap();
        let page = app.answer_page(token(&answer_url), now()).await.unwrap();
        assert_eq!(page.question.as_deref(), Some("Ile faktur wysłano?"));
        app.answer_incident(token(&answer_url), Some("Jedną."), now()).await.unwrap();
        let view = app.incident(&asked).await.unwrap();
        assert_eq!((view.status, view.incident.exchanges[1].text.as_str()), (IncidentStatus::Triage, "Jedną."));
        assert!(
            matches!(app.answer_incident(token(&answer_url), Some("Jeszcze"), now()).await, Err(Error::Validation(f)) if f[0].code == "no_open_question")
        );

        let mut body = input();
        body.as_object_mut().unwrap().remove("detected_at");
        body["aware_at"] = json!("2026-11-21T10:00:00Z");
        body["aware_justification"] = json!("Potwierdzone po rozmowie z klientką.");
        let registered = app.incident_to_breach(&breach, body, &ops(), now()).await.unwrap();
        assert_eq!(registered.breach.id.as_str(), breach.as_str());
        assert_eq!(registered.breach.detected_at, now() - Duration::hours(2), "detected when reported");
        assert_eq!(app.incident(&breach).await.unwrap().status, IncidentStatus::Breach);
        let closed: Vec<IncidentStatus> = app.incidents(IncidentFilter::Closed).await.unwrap().items.iter().map(|i| i.status).collect();
        assert_eq!(closed.len(), 2);
        assert_eq!(app.incidents(IncidentFilter::Open).await.unwrap().items.len(), 1);
    }
}
