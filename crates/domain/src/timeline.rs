//! A breach's timeline (Art. 33(5): document every breach): typed entries, each sealed with the
//! operator-side seal key and chained to the one before, append-only. What an operator sends
//! ([`TimelineInput`]) is checked against the breach as it stands and becomes a [`TimelineEntry`].
//!
//! Seals cover [`canonical`](crate::canonical) bytes of the entry as stored, so a seal written by
//! any build verifies in every other (pinned below against timelines stored before entries were
//! typed).

use hmac::Mac;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::breach::{Breach, FACT_FIELDS, FactUpdates, Party, parse_time};
use crate::canonical;
use crate::email::EmailAddress;
use crate::escalation::EscalationStarted;
use crate::ids::{BreachId, EventId, Kid, OperatorId};
use crate::keys::KeyRing;
use crate::proof::{GENESIS_HASH, format_time, millis};
use crate::severity::Band;
use crate::severity::SeverityInputs;
use crate::{FieldError, Time};

const SEAL_PREFIX: &[u8] = b"zgoda/breach-event/v1\n";

/// What kind of entry a timeline holds (the `type` of the stored item and of the API's entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Registered,
    Measure,
    Facts,
    AuthorityNotified,
    SubjectsDecision,
    Escalated,
    ControllerNotified,
    ControllerInstruction,
    DrillEnded,
    AuthorityDecision,
    AuthorityOrder,
    Action,
    ActionStatus,
}

/// One entry's content, as `{"type": …, "body": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "body", rename_all = "snake_case")]
pub enum TimelineEntry {
    /// The registration request exactly as the operator sent it: the record of what was first
    /// stated, kept as sent (free-form on purpose; the parsed form is the breach itself).
    Registered(Value),
    /// A measure taken or proposed (Art. 33(3)(d)).
    Measure { description: String },
    /// Facts stated in a later phase or corrected (Art. 33(4)), with what made them change
    /// (`reason`: required since corrections were opened to every fact; older entries lack it).
    Facts {
        updates: Box<FactUpdates>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The authority was notified (Art. 33(1)); late means after the 72 hours, with reasons.
    AuthorityNotified(Notification),
    /// Whether the people are told (Art. 34(1)) or why not (Art. 34(3)).
    SubjectsDecision(SubjectsDecision),
    /// Notices to the people started (the escalation's answer, as the operator got it).
    Escalated(EscalationStarted),
    /// A processor told its controller (Art. 33(2)); late means after the contract's term.
    ControllerNotified(Notification),
    /// A processor's controller instructed it to tell the people (Art. 28(3)(f)): until one is
    /// recorded, a processor's breach notifies nobody.
    ControllerInstruction { instruction: String },
    /// A drill ended, with what the team found went wrong.
    DrillEnded { notes: String },
    /// The DPO's reasoned decision on notifying the authority (Art. 33(1), 33(5)): it overrides
    /// the band, which is a presumption, in either direction.
    AuthorityDecision(AuthorityDecision),
    /// The authority ordered the people to be told (Art. 34(4), 58(2)(e)): notice is required
    /// whatever the band or any decision says.
    AuthorityOrder {
        reference: String,
        #[serde(with = "millis")]
        ordered_at: Time,
    },
    /// One item of the action plan (seed step 6): its id is the entry's.
    Action(Action),
    /// An action plan item moved on.
    ActionStatus(ActionStatus),
}

impl TimelineEntry {
    pub fn kind(&self) -> TimelineKind {
        match self {
            TimelineEntry::Registered(_) => TimelineKind::Registered,
            TimelineEntry::Measure { .. } => TimelineKind::Measure,
            TimelineEntry::Facts { .. } => TimelineKind::Facts,
            TimelineEntry::AuthorityNotified(_) => TimelineKind::AuthorityNotified,
            TimelineEntry::SubjectsDecision(_) => TimelineKind::SubjectsDecision,
            TimelineEntry::Escalated(_) => TimelineKind::Escalated,
            TimelineEntry::ControllerNotified(_) => TimelineKind::ControllerNotified,
            TimelineEntry::ControllerInstruction { .. } => TimelineKind::ControllerInstruction,
            TimelineEntry::DrillEnded { .. } => TimelineKind::DrillEnded,
            TimelineEntry::AuthorityDecision(_) => TimelineKind::AuthorityDecision,
            TimelineEntry::AuthorityOrder { .. } => TimelineKind::AuthorityOrder,
            TimelineEntry::Action(_) => TimelineKind::Action,
            TimelineEntry::ActionStatus(_) => TimelineKind::ActionStatus,
        }
    }

    pub fn fact_updates(&self) -> Option<&FactUpdates> {
        match self {
            TimelineEntry::Facts { updates, .. } => Some(updates),
            _ => None,
        }
    }

    /// The entry's body as JSON, the part of the seal that says what happened.
    fn body(&self) -> Value {
        match serde_json::to_value(self).expect("an entry serializes") {
            Value::Object(mut m) => m.remove("body").unwrap_or(Value::Null),
            _ => unreachable!("an adjacently tagged enum serializes to an object"),
        }
    }
}

/// A notification made: to the authority, or by a processor to its controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The authority's case number, the filing's receipt, or the controller's acknowledgement.
    pub reference: String,
    #[serde(with = "millis")]
    pub notified_at: Time,
    pub late: bool,
    pub delay_reasons: Option<String>,
}

/// The decision on telling the people. `notify` needs reasons when the band does not call for it;
/// `not_notify` says why the risk is not high (Art. 34(1)); `exempt` names an Art. 34(3) ground.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SubjectsDecision {
    Notify { justification: Option<String> },
    NotNotify { justification: String },
    Exempt { ground: Art34Ground, justification: String },
}

impl SubjectsDecision {
    /// Whether the people are told under this decision.
    pub fn notifies(&self) -> bool {
        matches!(self, SubjectsDecision::Notify { .. })
    }
}

/// The DPO's decision on notifying the authority, always with its reasons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorityDecision {
    pub decision: Notify,
    pub justification: String,
}

/// Tell, or do not tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    Notify,
    NotNotify,
}

/// What an action of the plan is for (Art. 33(3)(d), 32(1)(d)): stopping the breach, limiting its
/// effects, or keeping the next one from happening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionCategory {
    Containment,
    Mitigation,
    Prevention,
}

/// The seed's ten kinds of preventive measure (seed_prevent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreventionKind {
    InternalAudit,
    ExternalAudit,
    RiskAnalysis,
    Dpia,
    Safeguards,
    Training,
    OrganisationalChange,
    ProcedureChange,
    MoreEffectiveProcedures,
    DisciplinarySteps,
}

impl PreventionKind {
    pub const ALL: [PreventionKind; 10] = [
        PreventionKind::InternalAudit,
        PreventionKind::ExternalAudit,
        PreventionKind::RiskAnalysis,
        PreventionKind::Dpia,
        PreventionKind::Safeguards,
        PreventionKind::Training,
        PreventionKind::OrganisationalChange,
        PreventionKind::ProcedureChange,
        PreventionKind::MoreEffectiveProcedures,
        PreventionKind::DisciplinarySteps,
    ];
}

/// An action of the plan: who does what by when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub category: ActionCategory,
    /// For a preventive action, which of the seed's kinds it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prevention_kind: Option<PreventionKind>,
    pub description: String,
    /// Who sees it done, and gets the reminder when it is overdue.
    pub owner: EmailAddress,
    #[serde(with = "millis")]
    pub due_at: Time,
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    Planned,
    InProgress,
    Done,
    Dropped,
}

impl ActionState {
    /// Finished one way or the other: nothing left to remind anyone of.
    pub fn is_closed(self) -> bool {
        matches!(self, ActionState::Done | ActionState::Dropped)
    }
}

/// An action's new state, with a note (required when it is dropped: why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionStatus {
    pub action_id: EventId,
    pub status: ActionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Art. 34(3): when the people need not be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Art34Ground {
    /// (a) the data were unintelligible to anyone not authorised, such as by encryption.
    #[serde(rename = "a")]
    Unintelligible,
    /// (b) later measures ensure the high risk is no longer likely to materialise.
    #[serde(rename = "b")]
    RiskContained,
    /// (c) telling each person would take disproportionate effort; a public notice instead.
    #[serde(rename = "c")]
    DisproportionateEffort,
}

impl Art34Ground {
    /// The letter of Art. 34(3) it is.
    pub fn letter(self) -> char {
        match self {
            Art34Ground::Unintelligible => 'a',
            Art34Ground::RiskContained => 'b',
            Art34Ground::DisproportionateEffort => 'c',
        }
    }
}

/// One sealed entry of a breach's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub event_id: EventId,
    pub breach_id: BreachId,
    pub seq: u64,
    #[serde(flatten)]
    pub entry: TimelineEntry,
    #[serde(with = "millis")]
    pub at: Time,
    /// The operator's key id.
    pub by: OperatorId,
    pub prev_hash: String,
    pub kid: Kid,
    pub seal: String,
}

impl TimelineEvent {
    fn canonical(&self) -> Vec<u8> {
        let facts = json!([
            self.event_id,
            self.breach_id,
            self.seq,
            self.entry.kind(),
            format_time(&self.at),
            self.by,
            self.entry.body(),
            self.prev_hash
        ]);
        canonical::json_bytes(&facts)
    }

    fn mac(&self, ring: &KeyRing) -> Option<crate::keys::HmacSha256> {
        let key = ring.get(&self.kid)?;
        let mut mac = key.mac();
        mac.update(SEAL_PREFIX);
        mac.update(self.kid.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(&self.canonical());
        Some(mac)
    }

    pub fn seal_is_valid(&self, ring: &KeyRing) -> bool {
        let Ok(given) = hex::decode(&self.seal) else { return false };
        self.mac(ring).is_some_and(|m| m.verify_slice(&given).is_ok())
    }

    pub fn chain_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.canonical());
        h.update(self.seal.as_bytes());
        hex::encode(h.finalize())
    }

    /// A new entry sealed onto the chain after `head` (seq and hash of the last entry).
    pub fn seal_new(ring: &KeyRing, new: NewEntry<'_>, head: (u64, &str), entry: TimelineEntry) -> Self {
        let (kid, _) = ring.current();
        let mut e = TimelineEvent {
            event_id: new.event_id,
            breach_id: new.breach_id.clone(),
            seq: head.0 + 1,
            entry,
            at: crate::proof::to_millis(new.at),
            by: new.by.clone(),
            prev_hash: head.1.to_owned(),
            kid: kid.clone(),
            seal: String::new(),
        };
        e.seal = hex::encode(e.mac(ring).expect("current key exists").finalize().into_bytes());
        e
    }
}

/// Who adds an entry to which breach, when, under which id: the caller's facts, never made up here.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub event_id: EventId,
    pub breach_id: &'a BreachId,
    pub by: &'a OperatorId,
    pub at: Time,
}

/// Re-checks a timeline's seals and chain; returns the first broken entry.
pub fn verify_timeline(ring: &KeyRing, events: &[TimelineEvent], head: Option<(u64, &str)>) -> Result<(), Option<EventId>> {
    let mut prev = (0u64, GENESIS_HASH.to_owned());
    for e in events {
        if e.seq != prev.0 + 1 || e.prev_hash != prev.1 || !e.seal_is_valid(ring) {
            return Err(Some(e.event_id.clone()));
        }
        prev = (e.seq, e.chain_hash());
    }
    match head {
        Some((seq, hash)) if seq == prev.0 && hash == prev.1 => Ok(()),
        None if events.is_empty() => Ok(()),
        _ => Err(events.last().map(|e| e.event_id.clone())),
    }
}

/// A timeline entry as an operator sends it (`POST /v1/breaches/{id}/events`): every field
/// optional here, so that [`TimelineInput::parse`] can name each missing or wrong one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Checked key by key against [`FACT_FIELDS`] before it becomes [`FactUpdates`].
    #[serde(default)]
    pub updates: Option<Map<String, Value>>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub notified_at: Option<String>,
    #[serde(default)]
    pub delay_reasons: Option<String>,
    #[serde(default)]
    pub decision: Option<String>,
    #[serde(default)]
    pub ground: Option<String>,
    #[serde(default)]
    pub justification: Option<String>,
    #[serde(default)]
    pub instruction: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    /// Why facts changed (`facts`).
    #[serde(default)]
    pub reason: Option<String>,
    /// When the authority's order was made (`authority_order`; default now).
    #[serde(default)]
    pub ordered_at: Option<String>,
    /// `containment` | `mitigation` | `prevention` (`action`).
    #[serde(default)]
    pub category: Option<String>,
    /// One of the seed's ten kinds, for a preventive `action`.
    #[serde(default)]
    pub prevention_kind: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub due_at: Option<String>,
    /// The `action` entry an `action_status` moves on.
    #[serde(default)]
    pub action_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

fn required_text(name: &str, v: &Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() && s.chars().count() <= 10_000 => Some(s.to_owned()),
        _ => {
            errors.push(FieldError::new(name, "required"));
            None
        }
    }
}

impl TimelineInput {
    /// The entry, checked against the breach as it stands; every problem is reported.
    pub fn parse(self, breach: &Breach, timeline: &[TimelineEvent], now: Time) -> Result<TimelineEntry, Vec<FieldError>> {
        let mut errors = Vec::new();
        let entry = match self.kind.as_str() {
            "measure" => {
                required_text("description", &self.description, &mut errors).map(|description| TimelineEntry::Measure { description })
            }
            "facts" => {
                // Art. 33(4), 33(5): a correction says why, so a lowered band can be audited.
                let reason = required_text("reason", &self.reason, &mut errors);
                let updates = parse_facts(self.updates.clone().unwrap_or_default(), breach, now, &mut errors);
                match (updates, reason) {
                    (Some(updates), Some(reason)) => Some(TimelineEntry::Facts { updates: Box::new(updates), reason: Some(reason) }),
                    _ => None,
                }
            }
            "authority_decision" => {
                if breach.notifies() != Party::Authority {
                    errors.push(FieldError::new("type", "wrong_role"));
                }
                let decision = match self.decision.as_deref() {
                    Some("notify") => Some(Notify::Notify),
                    Some("not_notify") => Some(Notify::NotNotify),
                    _ => {
                        errors.push(FieldError::new("decision", "invalid"));
                        None
                    }
                };
                let justification = required_text("justification", &self.justification, &mut errors);
                match (decision, justification) {
                    (Some(decision), Some(justification)) => {
                        Some(TimelineEntry::AuthorityDecision(AuthorityDecision { decision, justification }))
                    }
                    _ => None,
                }
            }
            "authority_order" => {
                if breach.notifies() != Party::Authority {
                    errors.push(FieldError::new("type", "wrong_role"));
                }
                let reference = required_text("reference", &self.reference, &mut errors);
                let ordered_at = self.past_time("ordered_at", &self.ordered_at, now, &mut errors);
                match (reference, ordered_at) {
                    (Some(reference), Some(ordered_at)) => Some(TimelineEntry::AuthorityOrder { reference, ordered_at }),
                    _ => None,
                }
            }
            "action" => self.parse_action(now, &mut errors).map(TimelineEntry::Action),
            "action_status" => self.parse_action_status(timeline, &mut errors).map(TimelineEntry::ActionStatus),
            "authority_notified" | "controller_notified" => {
                // The first notification goes to whoever the role says (Art. 33(1) or 33(2)).
                let party = if self.kind == "authority_notified" { Party::Authority } else { Party::Controller };
                if party != breach.notifies() {
                    errors.push(FieldError::new("type", "wrong_role"));
                }
                self.parse_notification(breach, now, &mut errors).map(|n| match party {
                    Party::Authority => TimelineEntry::AuthorityNotified(n),
                    Party::Controller => TimelineEntry::ControllerNotified(n),
                })
            }
            "controller_instruction" => {
                if breach.notifies() != Party::Controller {
                    errors.push(FieldError::new("type", "wrong_role"));
                }
                required_text("instruction", &self.instruction, &mut errors)
                    .map(|instruction| TimelineEntry::ControllerInstruction { instruction })
            }
            "drill_ended" => {
                if !breach.is_drill() {
                    errors.push(FieldError::new("type", "not_a_drill"));
                }
                required_text("notes", &self.notes, &mut errors).map(|notes| TimelineEntry::DrillEnded { notes })
            }
            "subjects_decision" => parse_decision(&self, breach, &mut errors).map(TimelineEntry::SubjectsDecision),
            _ => {
                errors.push(FieldError::new("type", "invalid"));
                None
            }
        };
        match entry {
            Some(entry) if errors.is_empty() => Ok(entry),
            _ => Err(errors),
        }
    }
}

impl TimelineInput {
    /// A time that has happened: `now` when left out.
    fn past_time(&self, field: &str, v: &Option<String>, now: Time, errors: &mut Vec<FieldError>) -> Option<Time> {
        let t = match v.as_deref() {
            None => Some(crate::proof::to_millis(now)),
            Some(t) => parse_time(field, t, errors),
        };
        if t.is_some_and(|t| t > now) {
            errors.push(FieldError::new(field, "in_future"));
            return None;
        }
        t
    }

    fn parse_action(&self, now: Time, errors: &mut Vec<FieldError>) -> Option<Action> {
        let category = match self.category.as_deref() {
            Some("containment") => Some(ActionCategory::Containment),
            Some("mitigation") => Some(ActionCategory::Mitigation),
            Some("prevention") => Some(ActionCategory::Prevention),
            other => {
                errors.push(FieldError::new("category", if other.is_some() { "invalid" } else { "required" }));
                None
            }
        };
        let prevention_kind = match (category, self.prevention_kind.as_deref()) {
            (Some(ActionCategory::Prevention), None) => {
                errors.push(FieldError::new("prevention_kind", "required"));
                None
            }
            (Some(ActionCategory::Prevention), Some(k)) => {
                let kind = serde_json::from_value::<PreventionKind>(Value::String(k.to_owned())).ok();
                if kind.is_none() {
                    errors.push(FieldError::new("prevention_kind", "invalid"));
                }
                kind
            }
            (Some(_), Some(_)) => {
                // The ten kinds are of prevention; a containment step is not an audit.
                errors.push(FieldError::new("prevention_kind", "only_for_prevention"));
                None
            }
            _ => None,
        };
        let description = required_text("description", &self.description, errors);
        let owner = match self.owner.as_deref().map(EmailAddress::parse) {
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => {
                errors.push(FieldError::new("owner", "invalid"));
                None
            }
            None => {
                errors.push(FieldError::new("owner", "required"));
                None
            }
        };
        let due_at = match self.due_at.as_deref() {
            Some(t) => parse_time("due_at", t, errors),
            None => {
                errors.push(FieldError::new("due_at", "required"));
                None
            }
        };
        if due_at.is_some_and(|t| t < now - chrono::Duration::days(1)) {
            // A plan is about what is still to be done: a date long gone is a typing mistake.
            errors.push(FieldError::new("due_at", "in_past"));
        }
        let category = category?;
        if category == ActionCategory::Prevention && prevention_kind.is_none() {
            return None;
        }
        Some(Action { category, prevention_kind, description: description?, owner: owner?, due_at: due_at? })
    }

    fn parse_action_status(&self, timeline: &[TimelineEvent], errors: &mut Vec<FieldError>) -> Option<ActionStatus> {
        let plan = action_plan(timeline);
        let item = match self.action_id.as_deref() {
            None => {
                errors.push(FieldError::new("action_id", "required"));
                None
            }
            Some(id) => {
                let item = plan.iter().find(|a| a.action_id.as_str() == id);
                if item.is_none() {
                    errors.push(FieldError::new("action_id", "unknown"));
                }
                item
            }
        };
        let status = match self.status.as_deref() {
            Some("planned") => Some(ActionState::Planned),
            Some("in_progress") => Some(ActionState::InProgress),
            Some("done") => Some(ActionState::Done),
            Some("dropped") => Some(ActionState::Dropped),
            _ => {
                errors.push(FieldError::new("status", "invalid"));
                None
            }
        };
        if item.is_some_and(|a| a.status.is_closed()) {
            errors.push(FieldError::new("action_id", "closed"));
        }
        let note = match status {
            // Dropping a planned measure is a decision the register must be able to explain.
            Some(ActionState::Dropped) => required_text("note", &self.note, errors),
            _ => self.note.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
        };
        Some(ActionStatus { action_id: item?.action_id.clone(), status: status?, note })
    }

    /// A notification's reference and time; after the deadline it gives the delay's reasons.
    fn parse_notification(&self, breach: &Breach, now: Time, errors: &mut Vec<FieldError>) -> Option<Notification> {
        let reference = required_text("reference", &self.reference, errors);
        let notified_at = self.past_time("notified_at", &self.notified_at, now, errors);
        // Art. 33(1): a notification after 72 hours gives the reasons for the delay (and a
        // processor's after its contract's term, so the controller can give its own).
        let late = notified_at.is_some_and(|t| t > breach.notification_deadline());
        let delay_reasons = if late { required_text("delay_reasons", &self.delay_reasons, errors) } else { self.delay_reasons.clone() };
        Some(Notification { reference: reference?, notified_at: notified_at?, late, delay_reasons })
    }
}

/// An action of the plan as it stands: the `action` entry and its latest status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    pub action_id: EventId,
    #[serde(flatten)]
    pub action: Action,
    pub status: ActionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(with = "millis")]
    pub planned_at: Time,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::proof::opt_millis")]
    pub closed_at: Option<Time>,
}

impl PlannedAction {
    /// Past its due date and not closed.
    pub fn overdue(&self, now: Time) -> bool {
        !self.status.is_closed() && now > self.due_at()
    }

    pub fn due_at(&self) -> Time {
        self.action.due_at
    }
}

/// The breach's action plan (seed_prevent): every `action`, each at its latest status.
pub fn action_plan(timeline: &[TimelineEvent]) -> Vec<PlannedAction> {
    let mut plan: Vec<PlannedAction> = Vec::new();
    for e in timeline {
        match &e.entry {
            TimelineEntry::Action(a) => plan.push(PlannedAction {
                action_id: e.event_id.clone(),
                action: a.clone(),
                status: ActionState::Planned,
                note: None,
                planned_at: e.at,
                closed_at: None,
            }),
            TimelineEntry::ActionStatus(s) => {
                if let Some(p) = plan.iter_mut().find(|p| p.action_id == s.action_id) {
                    p.status = s.status;
                    p.note = s.note.clone().or(p.note.take());
                    p.closed_at = s.status.is_closed().then_some(e.at);
                }
            }
            _ => {}
        }
    }
    plan
}

fn parse_facts(updates: Map<String, Value>, breach: &Breach, now: Time, errors: &mut Vec<FieldError>) -> Option<FactUpdates> {
    if updates.is_empty() {
        errors.push(FieldError::new("updates", "required"));
    }
    let before = errors.len();
    for (k, v) in &updates {
        if !FACT_FIELDS.contains(&k.as_str()) {
            errors.push(FieldError::new(format!("updates.{k}"), "not_updatable"));
        } else if k == "severity_inputs"
            && let Err(e) = SeverityInputs::parse_new(v)
        {
            errors.extend(e.into_iter().map(|f| FieldError::new(format!("updates.{}", f.field), f.code)));
        }
    }
    if errors.len() > before {
        return None;
    }
    let updates = match FactUpdates::parse(updates) {
        Ok(u) => u,
        Err(_) => {
            // A known field with a value it cannot hold (`nature: null`, a negative count).
            errors.push(FieldError::new("updates", "invalid"));
            return None;
        }
    };
    // The corrected breach must still be one the registration would accept.
    let f = updates.fields();
    if let Some(Some(o)) = f.occurred_at {
        if o > now {
            errors.push(FieldError::new("updates.occurred_at", "in_future"));
        } else if o > breach.detected_at {
            errors.push(FieldError::new("updates.occurred_at", "after_detection"));
        }
    }
    if f.cia.is_some_and(|c| !(c.confidentiality || c.integrity || c.availability)) {
        errors.push(FieldError::new("updates.cia", "none_affected"));
    }
    if f.title.as_deref().is_some_and(|t| t.trim().is_empty() || t.chars().count() > 200) {
        errors.push(FieldError::new("updates.title", "invalid"));
    }
    if f.contact_point.as_ref().is_some_and(|c| c.name.trim().is_empty()) {
        errors.push(FieldError::new("updates.contact_point.name", "required"));
    }
    (errors.len() == before).then_some(updates)
}

fn parse_decision(input: &TimelineInput, breach: &Breach, errors: &mut Vec<FieldError>) -> Option<SubjectsDecision> {
    match input.decision.as_deref() {
        // Telling the people when the band does not call for it overrides the presumption: why?
        Some("notify") if breach.severity.band < Band::High => {
            required_text("justification", &input.justification, errors).map(|j| SubjectsDecision::Notify { justification: Some(j) })
        }
        Some("notify") => Some(SubjectsDecision::Notify { justification: input.justification.clone() }),
        // Art. 34(1): the DPO judges the risk not high, whatever the band; the reasons are the record.
        Some("not_notify") => {
            required_text("justification", &input.justification, errors).map(|justification| SubjectsDecision::NotNotify { justification })
        }
        Some("exempt") => {
            // Art. 34(3): an exemption names its ground and says why.
            let ground = match input.ground.as_deref() {
                Some("a") => Some(Art34Ground::Unintelligible),
                Some("b") => Some(Art34Ground::RiskContained),
                Some("c") => Some(Art34Ground::DisproportionateEffort),
                other => {
                    errors.push(FieldError::new("ground", if other.is_some() { "invalid" } else { "required" }));
                    None
                }
            };
            let justification = required_text("justification", &input.justification, errors);
            Some(SubjectsDecision::Exempt { ground: ground?, justification: justification? })
        }
        _ => {
            errors.push(FieldError::new("decision", "invalid"));
            None
        }
    }
}

/// Timelines sealed by the code as it stood before the typed entries (commit 2838eea, serde_json
/// without `preserve_order`, as `make package` builds it): they must verify for ever.
#[cfg(test)]
mod pinned {
    use super::*;
    use crate::keys::SecretKey;

    const TIMELINE_V1: &str = include_str!("fixtures/timeline-v1.jsonl");
    const HEAD_V1: (u64, &str) = (8, "bf31aa5cc69c538e80796b30dd6ae258b081276a4774771929d44d2853e4d21d");

    fn ring() -> KeyRing {
        KeyRing::single("s1", SecretKey::new((0u8..32).collect()))
    }

    fn stored() -> Vec<TimelineEvent> {
        TIMELINE_V1.lines().map(|l| serde_json::from_str(l).expect("a stored entry reads")).collect()
    }

    #[test]
    fn art33_5_timelines_sealed_before_the_typed_entries_still_verify() {
        assert_eq!(verify_timeline(&ring(), &stored(), Some(HEAD_V1)), Ok(()));
    }

    #[test]
    fn art33_5_a_seal_does_not_depend_on_the_order_keys_arrived_in() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z").unwrap().to_utc();
        let seal = |body: &str| {
            let body: Value = serde_json::from_str(body).unwrap();
            let (breach, by) = (BreachId::parse("B1").unwrap(), OperatorId::new(Kid::parse("ops").unwrap()));
            let new = NewEntry { event_id: EventId::parse("E1").unwrap(), breach_id: &breach, by: &by, at };
            TimelineEvent::seal_new(&ring(), new, (0, GENESIS_HASH), TimelineEntry::Registered(body)).seal
        };
        assert_eq!(
            seal(r#"{"title":"t","cia":{"integrity":false,"availability":true}}"#),
            seal(r#"{"cia":{"availability":true,"integrity":false},"title":"t"}"#)
        );
    }

    #[test]
    fn art33_5_stored_entries_read_as_their_types() {
        let kinds: Vec<TimelineKind> = stored().iter().map(|e| e.entry.kind()).collect();
        {
            use TimelineKind::*;
            assert_eq!(
                kinds,
                [Registered, Measure, Facts, AuthorityNotified, AuthorityNotified, SubjectsDecision, SubjectsDecision, Escalated]
            );
        }
        let e = &stored()[6];
        assert_eq!(
            e.entry,
            TimelineEntry::SubjectsDecision(SubjectsDecision::Exempt {
                ground: Art34Ground::Unintelligible,
                justification: "zaszyfrowane".into()
            })
        );
        let facts = stored()[2].entry.fact_updates().unwrap().fields().clone();
        assert_eq!((facts.approx_subjects, facts.measures, facts.nature), (Some(Some(5000)), Some(None), None));
    }

    #[test]
    fn art33_5_a_stored_entry_reads_and_writes_back_byte_for_byte() {
        for line in TIMELINE_V1.lines() {
            let e: TimelineEvent = serde_json::from_str(line).unwrap();
            let back: Value = serde_json::to_value(&e).unwrap();
            assert_eq!(back, serde_json::from_str::<Value>(line).unwrap(), "{line}");
        }
    }
}
