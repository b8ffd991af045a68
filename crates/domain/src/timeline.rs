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
use crate::escalation::EscalationStarted;
use crate::ids::{BreachId, EventId, Kid, OperatorId};
use crate::keys::KeyRing;
use crate::proof::{GENESIS_HASH, format_time, millis};
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
    /// Facts stated in a later phase (Art. 33(4)).
    Facts { updates: Box<FactUpdates> },
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
        }
    }

    pub fn fact_updates(&self) -> Option<&FactUpdates> {
        match self {
            TimelineEntry::Facts { updates } => Some(updates),
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

/// The decision on telling the people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum SubjectsDecision {
    Notify { justification: Option<String> },
    Exempt { ground: Art34Ground, justification: String },
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
    pub fn parse(self, breach: &Breach, now: Time) -> Result<TimelineEntry, Vec<FieldError>> {
        let mut errors = Vec::new();
        let entry = match self.kind.as_str() {
            "measure" => {
                required_text("description", &self.description, &mut errors).map(|description| TimelineEntry::Measure { description })
            }
            "facts" => parse_facts(self.updates.unwrap_or_default(), &mut errors)
                .map(|updates| TimelineEntry::Facts { updates: Box::new(updates) }),
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
            "subjects_decision" => parse_decision(&self, &mut errors).map(TimelineEntry::SubjectsDecision),
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
    /// A notification's reference and time; after the deadline it gives the delay's reasons.
    fn parse_notification(&self, breach: &Breach, now: Time, errors: &mut Vec<FieldError>) -> Option<Notification> {
        let reference = required_text("reference", &self.reference, errors);
        let notified_at = match self.notified_at.as_deref() {
            None => Some(crate::proof::to_millis(now)),
            Some(t) => parse_time("notified_at", t, errors),
        };
        if notified_at.is_some_and(|t| t > now) {
            errors.push(FieldError::new("notified_at", "in_future"));
        }
        // Art. 33(1): a notification after 72 hours gives the reasons for the delay (and a
        // processor's after its contract's term, so the controller can give its own).
        let late = notified_at.is_some_and(|t| t > breach.notification_deadline());
        let delay_reasons = if late { required_text("delay_reasons", &self.delay_reasons, errors) } else { self.delay_reasons.clone() };
        Some(Notification { reference: reference?, notified_at: notified_at?, late, delay_reasons })
    }
}

fn parse_facts(updates: Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<FactUpdates> {
    if updates.is_empty() {
        errors.push(FieldError::new("updates", "required"));
    }
    let before = errors.len();
    for (k, v) in &updates {
        if !FACT_FIELDS.contains(&k.as_str()) {
            errors.push(FieldError::new(format!("updates.{k}"), "not_updatable"));
        } else if k == "severity_inputs"
            && let Err(e) = SeverityInputs::parse(v)
        {
            errors.extend(e);
        }
    }
    if errors.len() > before {
        return None;
    }
    match FactUpdates::parse(updates) {
        Ok(u) => Some(u),
        Err(_) => {
            // A known field with a value it cannot hold (`nature: null`, a negative count).
            errors.push(FieldError::new("updates", "invalid"));
            None
        }
    }
}

fn parse_decision(input: &TimelineInput, errors: &mut Vec<FieldError>) -> Option<SubjectsDecision> {
    match input.decision.as_deref() {
        Some("notify") => Some(SubjectsDecision::Notify { justification: input.justification.clone() }),
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
