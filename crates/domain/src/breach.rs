//! Personal data breaches (GDPR Art. 33–34): the register entry, its validation, the 72-hour
//! authority deadline computed on read, and the sealed append-only timeline.

use chrono::Duration;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::email::EmailAddress;
use crate::ids::Kid;
use crate::keys::KeyRing;
use crate::proof::{GENESIS_HASH, format_time, millis};
use crate::severity::{Band, Severity, SeverityInputs};
use crate::{FieldError, Time};

/// Art. 33(1): 72 hours from awareness.
pub const AUTHORITY_DEADLINE_HOURS: i64 = 72;
const SEAL_PREFIX: &[u8] = b"zgoda/breach-event/v1\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cia {
    pub confidentiality: bool,
    pub integrity: bool,
    pub availability: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Controller,
    Processor,
}

/// Art. 33(3)(b): who the authority and the people can talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPoint {
    pub name: String,
    pub email: EmailAddress,
    #[serde(default)]
    pub phone: Option<String>,
}

/// The notifying entity, as PUODO's form asks for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    pub name: String,
    #[serde(default)]
    pub seat: Option<String>,
    #[serde(default)]
    pub responsible: Option<String>,
}

/// The registration request (API.md §4, `POST /v1/breaches`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreachInput {
    pub title: String,
    pub nature: String,
    pub cia: Cia,
    #[serde(default)]
    pub occurred_at: Option<String>,
    pub detected_at: String,
    pub aware_at: String,
    #[serde(default)]
    pub aware_justification: Option<String>,
    #[serde(default)]
    pub data_categories: Vec<String>,
    #[serde(default)]
    pub subject_categories: Vec<String>,
    #[serde(default)]
    pub approx_subjects: Option<u64>,
    #[serde(default)]
    pub approx_records: Option<u64>,
    #[serde(default)]
    pub likely_consequences: Option<String>,
    #[serde(default)]
    pub measures: Option<String>,
    pub contact_point: ContactPoint,
    pub role: Role,
    pub severity_inputs: Value,
    #[serde(default)]
    pub controller: Option<Controller>,
    /// Where the incident happened (PUODO asks for the place).
    #[serde(default)]
    pub place: Option<String>,
    /// Its course and internal or external causes.
    #[serde(default)]
    pub causes: Option<String>,
    /// Other entities involved (a processor, a postal operator).
    #[serde(default)]
    pub other_entities: Option<String>,
}

/// A registered breach: the facts as last stated (registration plus `facts` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub id: String,
    pub title: String,
    pub nature: String,
    pub cia: Cia,
    #[serde(with = "opt_millis")]
    pub occurred_at: Option<Time>,
    #[serde(with = "millis")]
    pub detected_at: Time,
    #[serde(with = "millis")]
    pub aware_at: Time,
    pub aware_justification: Option<String>,
    pub data_categories: Vec<String>,
    pub subject_categories: Vec<String>,
    pub approx_subjects: Option<u64>,
    pub approx_records: Option<u64>,
    pub likely_consequences: Option<String>,
    pub measures: Option<String>,
    pub contact_point: ContactPoint,
    pub role: Role,
    pub severity_inputs: Value,
    pub severity: Severity,
    pub controller: Option<Controller>,
    pub place: Option<String>,
    pub causes: Option<String>,
    pub other_entities: Option<String>,
    #[serde(with = "millis")]
    pub registered_at: Time,
    pub registered_by: String,
}

pub mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<crate::Time>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&crate::proof::format_time(t)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<crate::Time>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| chrono::DateTime::parse_from_rfc3339(&s).map(|t| t.to_utc()).map_err(serde::de::Error::custom)).transpose()
    }
}

fn parse_time(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Option<Time> {
    match chrono::DateTime::parse_from_rfc3339(v) {
        Ok(t) => Some(crate::proof::to_millis(t.to_utc())),
        Err(_) => {
            errors.push(FieldError::new(field, "invalid"));
            None
        }
    }
}

fn text_ok(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.chars().count() <= max
}

impl BreachInput {
    /// Checks every rule (API.md §4, LEGAL.md awareness/art4_12) and reports every problem.
    pub fn parse(self, id: String, operator: &str, now: Time) -> Result<Breach, Vec<FieldError>> {
        let mut errors = Vec::new();
        if !text_ok(&self.title, 200) {
            errors.push(FieldError::new("title", "invalid"));
        }
        if !text_ok(&self.nature, 10_000) {
            errors.push(FieldError::new("nature", "required"));
        }
        if !(self.cia.confidentiality || self.cia.integrity || self.cia.availability) {
            // Art. 4(12): a breach is a loss of at least one of the three.
            errors.push(FieldError::new("cia", "none_affected"));
        }
        let occurred = self.occurred_at.as_deref().and_then(|v| parse_time("occurred_at", v, &mut errors));
        let detected = parse_time("detected_at", &self.detected_at, &mut errors);
        let aware = parse_time("aware_at", &self.aware_at, &mut errors);
        if let (Some(d), Some(a)) = (detected, aware) {
            if a < d {
                errors.push(FieldError::new("aware_at", "before_detection"));
            }
            if a != d && self.aware_justification.as_deref().is_none_or(|j| !text_ok(j, 4000)) {
                errors.push(FieldError::new("aware_justification", "required"));
            }
        }
        for (field, t) in [("detected_at", detected), ("aware_at", aware), ("occurred_at", occurred)] {
            if t.is_some_and(|t| t > now) {
                errors.push(FieldError::new(field, "in_future"));
            }
        }
        if let (Some(o), Some(d)) = (occurred, detected)
            && o > d
        {
            errors.push(FieldError::new("occurred_at", "after_detection"));
        }
        if !text_ok(&self.contact_point.name, 200) {
            errors.push(FieldError::new("contact_point.name", "required"));
        }
        let severity = match SeverityInputs::parse(&self.severity_inputs) {
            Ok(s) => Some(s.score()),
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        let (Some(detected_at), Some(aware_at), Some(severity), true) = (detected, aware, severity, errors.is_empty()) else {
            return Err(errors);
        };
        Ok(Breach {
            id,
            title: self.title.trim().to_owned(),
            nature: self.nature,
            cia: self.cia,
            occurred_at: occurred,
            detected_at,
            aware_at,
            aware_justification: self.aware_justification,
            data_categories: self.data_categories,
            subject_categories: self.subject_categories,
            approx_subjects: self.approx_subjects,
            approx_records: self.approx_records,
            likely_consequences: self.likely_consequences,
            measures: self.measures,
            contact_point: self.contact_point,
            role: self.role,
            severity_inputs: self.severity_inputs,
            severity,
            controller: self.controller,
            place: self.place,
            causes: self.causes,
            other_entities: self.other_entities,
            registered_at: crate::proof::to_millis(now),
            registered_by: operator.to_owned(),
        })
    }
}

/// Fields a `facts` event may update (Art. 33(4): information in phases).
pub const FACT_FIELDS: [&str; 12] = [
    "nature",
    "data_categories",
    "subject_categories",
    "approx_subjects",
    "approx_records",
    "likely_consequences",
    "measures",
    "severity_inputs",
    "place",
    "causes",
    "other_entities",
    "controller",
];

impl Breach {
    pub fn authority_deadline(&self) -> Time {
        self.aware_at + Duration::hours(AUTHORITY_DEADLINE_HOURS)
    }

    /// The breach with every `facts` event applied in order: the report reflects the latest.
    pub fn as_of(&self, timeline: &[TimelineEvent]) -> Breach {
        let mut current = serde_json::to_value(self).expect("serializes");
        for e in timeline.iter().filter(|e| e.kind == TimelineKind::Facts) {
            if let Some(updates) = e.body["updates"].as_object() {
                for (k, v) in updates {
                    current[k] = v.clone();
                }
            }
        }
        let mut b: Breach = serde_json::from_value(current).unwrap_or_else(|_| self.clone());
        if let Ok(inputs) = SeverityInputs::parse(&b.severity_inputs) {
            b.severity = inputs.score();
        }
        b
    }
}

/// What kind of entry a timeline holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Registered,
    Measure,
    Facts,
    AuthorityNotified,
    SubjectsDecision,
    Escalated,
}

/// One sealed entry of a breach's timeline (Art. 33(5): document every breach).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub event_id: String,
    pub breach_id: String,
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: TimelineKind,
    #[serde(with = "millis")]
    pub at: Time,
    /// The operator's key id.
    pub by: String,
    pub body: Value,
    pub prev_hash: String,
    pub kid: Kid,
    pub seal: String,
}

impl TimelineEvent {
    fn canonical(&self) -> Vec<u8> {
        // serde_json writes struct fields in declaration order and objects with sorted keys.
        let facts = json!([self.event_id, self.breach_id, self.seq, self.kind, format_time(&self.at), self.by, self.body, self.prev_hash]);
        serde_json::to_vec(&facts).expect("serializes")
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

    /// A new entry sealed onto the chain after `prev` (seq and hash of the head).
    pub fn seal_new(ring: &KeyRing, breach_id: &str, prev: (u64, &str), kind: TimelineKind, body: Value, by: &str, at: Time) -> Self {
        let (kid, _) = ring.current();
        let mut e = TimelineEvent {
            event_id: ulid::Ulid::new().to_string(),
            breach_id: breach_id.to_owned(),
            seq: prev.0 + 1,
            kind,
            at: crate::proof::to_millis(at),
            by: by.to_owned(),
            body,
            prev_hash: prev.1.to_owned(),
            kid: kid.clone(),
            seal: String::new(),
        };
        e.seal = hex::encode(e.mac(ring).expect("current key exists").finalize().into_bytes());
        e
    }
}

/// Re-checks a timeline's seals and chain; returns the first broken entry.
pub fn verify_timeline(ring: &KeyRing, events: &[TimelineEvent], head: Option<(u64, &str)>) -> Result<(), Option<String>> {
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

/// A timeline entry as an operator sends it (`POST /v1/breaches/{id}/events`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub updates: Option<serde_json::Map<String, Value>>,
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
}

impl TimelineInput {
    /// The entry's kind and body, checked against the breach as it stands.
    pub fn parse(self, breach: &Breach, now: Time) -> Result<(TimelineKind, Value), Vec<FieldError>> {
        let mut errors = Vec::new();
        let need = |name: &str, v: &Option<String>, errors: &mut Vec<FieldError>| -> Option<String> {
            match v.as_deref().map(str::trim) {
                Some(s) if !s.is_empty() && s.chars().count() <= 10_000 => Some(s.to_owned()),
                _ => {
                    errors.push(FieldError::new(name, "required"));
                    None
                }
            }
        };
        let result = match self.kind.as_str() {
            "measure" => need("description", &self.description, &mut errors).map(|d| (TimelineKind::Measure, json!({ "description": d }))),
            "facts" => {
                let updates = self.updates.clone().unwrap_or_default();
                if updates.is_empty() {
                    errors.push(FieldError::new("updates", "required"));
                }
                for (k, v) in &updates {
                    if !FACT_FIELDS.contains(&k.as_str()) {
                        errors.push(FieldError::new(format!("updates.{k}"), "not_updatable"));
                    } else if k == "severity_inputs"
                        && let Err(e) = SeverityInputs::parse(v)
                    {
                        errors.extend(e);
                    }
                }
                let mut probe = serde_json::to_value(breach).expect("serializes");
                for (k, v) in &updates {
                    probe[k] = v.clone();
                }
                if serde_json::from_value::<Breach>(probe).is_err() {
                    errors.push(FieldError::new("updates", "invalid"));
                }
                Some((TimelineKind::Facts, json!({ "updates": updates })))
            }
            "authority_notified" => {
                let reference = need("reference", &self.reference, &mut errors);
                let notified_at = match self.notified_at.as_deref() {
                    None => Some(crate::proof::to_millis(now)),
                    Some(t) => parse_time("notified_at", t, &mut errors),
                };
                if notified_at.is_some_and(|t| t > now) {
                    errors.push(FieldError::new("notified_at", "in_future"));
                }
                // Art. 33(1): a notification after 72 hours gives the reasons for the delay.
                let late = notified_at.is_some_and(|t| t > breach.authority_deadline());
                let delay = if late { need("delay_reasons", &self.delay_reasons, &mut errors) } else { self.delay_reasons.clone() };
                match (reference, notified_at) {
                    (Some(r), Some(t)) => Some((
                        TimelineKind::AuthorityNotified,
                        json!({"reference": r, "notified_at": format_time(&t), "late": late, "delay_reasons": delay}),
                    )),
                    _ => None,
                }
            }
            "subjects_decision" => match self.decision.as_deref() {
                Some("notify") => {
                    Some((TimelineKind::SubjectsDecision, json!({"decision": "notify", "justification": self.justification})))
                }
                Some("exempt") => {
                    // Art. 34(3): an exemption names its ground and says why.
                    let ground = match self.ground.as_deref() {
                        Some(g @ ("a" | "b" | "c")) => Some(g.to_owned()),
                        _ => {
                            errors.push(FieldError::new("ground", "required"));
                            None
                        }
                    };
                    let justification = need("justification", &self.justification, &mut errors);
                    match (ground, justification) {
                        (Some(g), Some(j)) => {
                            Some((TimelineKind::SubjectsDecision, json!({"decision": "exempt", "ground": g, "justification": j})))
                        }
                        _ => None,
                    }
                }
                _ => {
                    errors.push(FieldError::new("decision", "invalid"));
                    None
                }
            },
            _ => {
                errors.push(FieldError::new("type", "invalid"));
                None
            }
        };
        match result {
            Some(r) if errors.is_empty() => Ok(r),
            _ => Err(errors),
        }
    }
}

/// The 72-hour clock as of `now` (computed on read, never stored).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadlineState {
    #[serde(with = "millis")]
    pub authority_deadline: Time,
    /// `not_required` (low band), `open`, `late`, `notified` or `notified_late`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hours_left: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_by: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_by_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<String>,
}

fn hours(secs: i64) -> f64 {
    (secs as f64 / 36.0).floor() / 100.0
}

/// What the register says about a breach now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub authority_notification_required: bool,
    pub subjects_notification_required: bool,
    pub exemption: Option<Value>,
    pub deadline: DeadlineState,
}

pub fn assess(breach: &Breach, timeline: &[TimelineEvent], now: Time) -> Assessment {
    let deadline = breach.authority_deadline();
    let authority_required = breach.severity.band != Band::Low;
    let decision = timeline.iter().rev().find(|e| e.kind == TimelineKind::SubjectsDecision);
    let exemption = decision.filter(|e| e.body["decision"] == "exempt").map(|e| e.body.clone());
    let subjects_required = breach.severity.band >= Band::High && exemption.is_none();
    let notified = timeline.iter().find(|e| e.kind == TimelineKind::AuthorityNotified);
    let notified_at = notified
        .and_then(|e| e.body["notified_at"].as_str())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc());
    let mut state = DeadlineState {
        authority_deadline: deadline,
        status: "open",
        hours_left: None,
        seconds_left: None,
        late_by: None,
        late_by_seconds: None,
        notified_at: notified_at.map(|t| format_time(&t)),
    };
    match notified_at {
        Some(t) if t > deadline => {
            state.status = "notified_late";
            state.late_by_seconds = Some((t - deadline).num_seconds());
            state.late_by = Some(hours((t - deadline).num_seconds()));
        }
        Some(_) => state.status = "notified",
        None if !authority_required => state.status = "not_required",
        None if now > deadline => {
            state.status = "late";
            state.late_by_seconds = Some((now - deadline).num_seconds());
            state.late_by = Some(hours((now - deadline).num_seconds()));
        }
        None => {
            state.seconds_left = Some((deadline - now).num_seconds());
            state.hours_left = Some(hours((deadline - now).num_seconds()));
        }
    }
    Assessment {
        authority_notification_required: authority_required,
        subjects_notification_required: subjects_required,
        exemption,
        deadline: state,
    }
}

/// Which deadline reminder is current at `now`, if any: at most one applies at any moment.
pub fn due_reminder(breach: &Breach, timeline: &[TimelineEvent], now: Time) -> Option<&'static str> {
    let a = assess(breach, timeline, now);
    if a.deadline.notified_at.is_some() || !a.authority_notification_required {
        return None;
    }
    let deadline = breach.authority_deadline();
    if now >= deadline {
        Some("passed")
    } else if now >= deadline - Duration::hours(6) {
        Some("6h")
    } else if now >= deadline - Duration::hours(24) {
        Some("24h")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;
    use chrono::TimeZone;

    pub(crate) fn input() -> Value {
        json!({
            "title": "Wyciek bazy klientów", "nature": "Kopia bazy wystawiona publicznie", "cia": {"confidentiality": true, "integrity": false, "availability": false},
            "occurred_at": "2026-11-20T08:00:00Z", "detected_at": "2026-11-20T10:00:00Z", "aware_at": "2026-11-20T10:00:00Z",
            "data_categories": ["imię i nazwisko", "e-mail"], "subject_categories": ["klienci"], "approx_subjects": 2000, "approx_records": 2000,
            "likely_consequences": "phishing", "measures": "dostęp zablokowany",
            "contact_point": {"name": "IOD Anna Nowak", "email": "iod@example.pl"}, "role": "controller",
            "severity_inputs": {"dpc": 3, "ei": 0.75, "cb": {"confidentiality": 0.5, "integrity": 0, "availability": 0, "malicious": true}}
        })
    }

    fn now() -> Time {
        Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
    }
    use chrono::Utc;

    fn parse(v: Value) -> Result<Breach, Vec<FieldError>> {
        serde_json::from_value::<BreachInput>(v).unwrap().parse("B1".into(), "ops", now())
    }

    fn codes(e: Vec<FieldError>) -> Vec<(String, &'static str)> {
        e.into_iter().map(|f| (f.field, f.code)).collect()
    }

    #[test]
    fn awareness_rules_are_each_a_field_error() {
        let mut v = input();
        v["aware_at"] = json!("2026-11-20T09:00:00Z");
        assert!(codes(parse(v).unwrap_err()).contains(&("aware_at".into(), "before_detection")));
        let mut v = input();
        v["aware_at"] = json!("2026-11-20T12:00:00Z");
        assert_eq!(codes(parse(v.clone()).unwrap_err()), vec![("aware_justification".into(), "required")]);
        v["aware_justification"] = json!("potwierdzenie od dostawcy");
        assert!(parse(v).is_ok());
        let mut v = input();
        v["aware_at"] = json!("2026-11-22T12:00:00Z");
        v["aware_justification"] = json!("x");
        assert!(codes(parse(v).unwrap_err()).contains(&("aware_at".into(), "in_future")));
        let mut v = input();
        v["cia"] = json!({"confidentiality": false, "integrity": false, "availability": false});
        assert_eq!(codes(parse(v).unwrap_err()), vec![("cia".into(), "none_affected")]);
    }

    #[test]
    fn art33_1_deadline_is_aware_at_plus_72_hours_to_the_second() {
        let b = parse(input()).unwrap();
        assert_eq!(b.authority_deadline(), Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap());
        let a = assess(&b, &[], now());
        assert_eq!((a.deadline.status, a.deadline.seconds_left, a.deadline.hours_left), ("open", Some(48 * 3600), Some(48.0)));
        let one_second_late = b.authority_deadline() + Duration::seconds(1);
        let a = assess(&b, &[], one_second_late);
        assert_eq!((a.deadline.status, a.deadline.late_by_seconds), ("late", Some(1)));
        let at_deadline = assess(&b, &[], b.authority_deadline());
        assert_eq!((at_deadline.deadline.status, at_deadline.deadline.seconds_left), ("open", Some(0)));
        assert!(a.authority_notification_required && a.subjects_notification_required);
    }

    #[test]
    fn art33_1_late_notification_needs_delay_reasons_and_art34_3_exemption_needs_ground_and_justification() {
        let b = parse(input()).unwrap();
        let later = b.authority_deadline() + Duration::hours(2);
        let late: TimelineInput = serde_json::from_value(json!({"type": "authority_notified", "reference": "PUODO/1"})).unwrap();
        assert_eq!(codes(late.clone().parse(&b, later).unwrap_err()), vec![("delay_reasons".into(), "required")]);
        assert!(late.parse(&b, now()).is_ok(), "on time: no reasons needed");
        let exempt: TimelineInput = serde_json::from_value(json!({"type": "subjects_decision", "decision": "exempt"})).unwrap();
        assert_eq!(codes(exempt.parse(&b, now()).unwrap_err()), vec![("ground".into(), "required"), ("justification".into(), "required")]);
        let ok: TimelineInput = serde_json::from_value(
            json!({"type": "subjects_decision", "decision": "exempt", "ground": "a", "justification": "dane zaszyfrowane"}),
        )
        .unwrap();
        let (kind, body) = ok.parse(&b, now()).unwrap();
        let ring = KeyRing::single("s1", SecretKey::new(vec![1; 32]));
        let e = TimelineEvent::seal_new(&ring, "B1", (0, GENESIS_HASH), kind, body, "ops", now());
        assert!(!assess(&b, &[e], now()).subjects_notification_required, "art34_3a exemption recorded");
    }

    #[test]
    fn art33_5_timeline_edits_break_the_seal() {
        let ring = KeyRing::single("s1", SecretKey::new(vec![1; 32]));
        let a = TimelineEvent::seal_new(&ring, "B1", (0, GENESIS_HASH), TimelineKind::Measure, json!({"description": "x"}), "ops", now());
        let b =
            TimelineEvent::seal_new(&ring, "B1", (1, &a.chain_hash()), TimelineKind::Measure, json!({"description": "y"}), "ops", now());
        let head = (2, b.chain_hash());
        assert!(verify_timeline(&ring, &[a.clone(), b.clone()], Some((head.0, &head.1))).is_ok());
        let mut edited = a.clone();
        edited.body = json!({"description": "changed"});
        assert_eq!(verify_timeline(&ring, &[edited, b.clone()], Some((head.0, &head.1))), Err(Some(a.event_id.clone())));
        assert!(verify_timeline(&ring, &[a], Some((head.0, &head.1))).is_err(), "a removed last entry shows");
    }

    #[test]
    fn art33_4_facts_events_update_the_record_and_its_severity() {
        let b = parse(input()).unwrap();
        let ring = KeyRing::single("s1", SecretKey::new(vec![1; 32]));
        let facts = TimelineEvent::seal_new(
            &ring,
            "B1",
            (0, GENESIS_HASH),
            TimelineKind::Facts,
            json!({"updates": {"approx_subjects": 5000, "severity_inputs": {"dpc": 1, "ei": 0.25, "cb": {"confidentiality": 0, "integrity": 0, "availability": 0, "malicious": false}}}}),
            "ops",
            now(),
        );
        let latest = b.as_of(&[facts]);
        assert_eq!(latest.approx_subjects, Some(5000));
        assert_eq!(latest.severity.band, Band::Low);
        assert_eq!(due_reminder(&latest, &[], b.authority_deadline()), None, "low band: no authority notification, no reminder");
    }

    #[test]
    fn exactly_one_reminder_is_current_at_any_time() {
        let b = parse(input()).unwrap();
        let d = b.authority_deadline();
        assert_eq!(due_reminder(&b, &[], d - Duration::hours(25)), None);
        assert_eq!(due_reminder(&b, &[], d - Duration::hours(24)), Some("24h"));
        assert_eq!(due_reminder(&b, &[], d - Duration::hours(6) - Duration::seconds(1)), Some("24h"));
        assert_eq!(due_reminder(&b, &[], d - Duration::hours(6)), Some("6h"));
        assert_eq!(due_reminder(&b, &[], d), Some("passed"));
    }
}
