//! A personal data breach as the register holds it (GDPR Art. 33–34): the registration request,
//! its validation into a [`Breach`], and the facts stated later in phases (Art. 33(4)), applied in
//! order. The sealed timeline is `timeline.rs`; the 72-hour clock `deadline.rs`; the use cases
//! `register.rs`.

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::email::EmailAddress;
use crate::ids::{BreachId, OperatorId};
use crate::proof::{millis, opt_millis};
use crate::severity::{Severity, SeverityInputs};
use crate::timeline::TimelineEvent;
use crate::{FieldError, Time};

/// Art. 33(1): 72 hours from awareness.
pub const AUTHORITY_DEADLINE_HOURS: i64 = 72;

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

/// Who a breach is reported to first: the supervisory authority when the business is the
/// controller (Art. 33(1)), the controller when it is a processor (Art. 33(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Authority,
    Controller,
}

/// The controller a processor processes the data for, and the term its contract sets for
/// telling it of a breach (Art. 28(3)(f), 33(2)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingFor {
    pub name: String,
    /// Where the breach report goes.
    pub email: EmailAddress,
    /// Hours from awareness within which the contract says the controller is told.
    pub notify_within_hours: u32,
}

/// The longest term a processor's contract may set: the controller needs time left for its own
/// 72 hours (Art. 33(1)).
pub const MAX_CONTROLLER_HOURS: u32 = 72;

/// A breach registered to practise the procedure: everything works, but notices go only to the
/// drill team, and it is kept apart from the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drill {
    /// The addresses that receive every notice in place of the people selected.
    pub team: Vec<EmailAddress>,
}

/// The most addresses a drill team may have: a team, not a mailing list.
pub const MAX_DRILL_TEAM: usize = 20;

/// The registration request (docs/api.md §4, `POST /v1/breaches`).
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
    /// Checked by [`SeverityInputs::parse`], which names every wrong input.
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
    /// With `role: processor`: the controller to tell, and the contract's term.
    #[serde(default)]
    pub processing_for: Option<ProcessingFor>,
    /// Registers the breach as a drill (`{"team": [addresses]}`).
    #[serde(default)]
    pub drill: Option<DrillInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillInput {
    #[serde(default)]
    pub team: Vec<String>,
}

/// A registered breach: the facts as last stated (registration plus `facts` events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    pub id: BreachId,
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
    pub severity_inputs: SeverityInputs,
    pub severity: Severity,
    pub controller: Option<Controller>,
    pub place: Option<String>,
    pub causes: Option<String>,
    pub other_entities: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_for: Option<ProcessingFor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<Drill>,
    #[serde(with = "millis")]
    pub registered_at: Time,
    pub registered_by: OperatorId,
}

/// An RFC 3339 time truncated to the millisecond, or a field error.
pub(crate) fn parse_time(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Option<Time> {
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
    /// Checks every rule (docs/api.md §4, docs/legal.md awareness/art4_12) and reports every problem.
    pub fn parse(self, id: BreachId, operator: &OperatorId, now: Time) -> Result<Breach, Vec<FieldError>> {
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
        let processing_for = match (self.role, self.processing_for) {
            // Art. 33(2): a processor tells its controller, so it must say which, and by when.
            (Role::Processor, None) => {
                errors.push(FieldError::new("processing_for", "required"));
                None
            }
            (Role::Processor, Some(p)) => {
                if !text_ok(&p.name, 200) {
                    errors.push(FieldError::new("processing_for.name", "required"));
                }
                if !(1..=MAX_CONTROLLER_HOURS).contains(&p.notify_within_hours) {
                    errors.push(FieldError::new("processing_for.notify_within_hours", "out_of_range"));
                }
                Some(ProcessingFor { name: p.name.trim().to_owned(), ..p })
            }
            (Role::Controller, Some(_)) => {
                errors.push(FieldError::new("processing_for", "not_for_controller"));
                None
            }
            (Role::Controller, None) => None,
        };
        let drill = self.drill.map(|d| {
            if d.team.is_empty() {
                errors.push(FieldError::new("drill.team", "required"));
            } else if d.team.len() > MAX_DRILL_TEAM {
                errors.push(FieldError::new("drill.team", "too_many"));
            }
            let mut team: Vec<EmailAddress> = Vec::new();
            for (i, a) in d.team.iter().enumerate() {
                match EmailAddress::parse(a) {
                    Ok(a) if !team.contains(&a) => team.push(a),
                    Ok(_) => errors.push(FieldError::new(format!("drill.team[{i}]"), "duplicate")),
                    Err(_) => errors.push(FieldError::new(format!("drill.team[{i}]"), "invalid")),
                }
            }
            Drill { team }
        });
        let severity_inputs = SeverityInputs::parse_new(&self.severity_inputs).map_err(|e| errors.extend(e)).ok();
        let (Some(detected_at), Some(aware_at), Some(severity_inputs), true) = (detected, aware, severity_inputs, errors.is_empty()) else {
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
            severity: severity_inputs.score(),
            severity_inputs,
            controller: self.controller,
            place: self.place,
            causes: self.causes,
            other_entities: self.other_entities,
            processing_for,
            drill,
            registered_at: crate::proof::to_millis(now),
            registered_by: operator.clone(),
        })
    }
}

/// Fields a `facts` event may update or correct (Art. 33(4): information in phases). Detection
/// and awareness are not among them: they start the clock, and a clock that can be moved back
/// after the fact proves nothing (a wrong one is for the notification's `delay_reasons`).
pub const FACT_FIELDS: [&str; 16] = [
    "title",
    "nature",
    "cia",
    "occurred_at",
    "data_categories",
    "subject_categories",
    "approx_subjects",
    "approx_records",
    "likely_consequences",
    "measures",
    "severity_inputs",
    "contact_point",
    "place",
    "causes",
    "other_entities",
    "controller",
];

/// What one `facts` entry states anew, read as [`FactFields`] and written back exactly as sent:
/// the entry's seal covers the operator's words (a controller sent without `seat` must not come
/// back with `"seat": null`), so they are kept verbatim beside their reading.
#[derive(Debug, Clone, PartialEq)]
pub struct FactUpdates {
    fields: FactFields,
    sent: Map<String, Value>,
}

impl FactUpdates {
    /// The updates, if every key is a [`FACT_FIELDS`] field holding a value it can take.
    pub fn parse(sent: Map<String, Value>) -> Result<Self, serde_json::Error> {
        let fields = serde_json::from_value(Value::Object(sent.clone()))?;
        Ok(Self { fields, sent })
    }

    pub fn fields(&self) -> &FactFields {
        &self.fields
    }

    /// The fields it states, in alphabetical order (the map's own order depends on how serde_json
    /// was built).
    pub fn field_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.sent.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl Serialize for FactUpdates {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.sent.serialize(s)
    }
}

impl<'de> Deserialize<'de> for FactUpdates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FactUpdates::parse(Map::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The fields of [`FactUpdates`]: one left out is unchanged, and one that may be empty can be
/// cleared with `null` (`Some(None)`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactFields {
    #[serde(default, deserialize_with = "present")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub nature: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub cia: Option<Cia>,
    #[serde(default, deserialize_with = "present")]
    pub occurred_at: Option<Option<Time>>,
    #[serde(default, deserialize_with = "present")]
    pub contact_point: Option<ContactPoint>,
    #[serde(default, deserialize_with = "present")]
    pub data_categories: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub subject_categories: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub approx_subjects: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    pub approx_records: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    pub likely_consequences: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub measures: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub severity_inputs: Option<SeverityInputs>,
    #[serde(default, deserialize_with = "present")]
    pub place: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub causes: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub other_entities: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub controller: Option<Option<Controller>>,
}

/// A key that is there: its value, which for an `Option<Option<_>>` may be `null` (cleared).
/// A key that is absent never reaches this (`default` makes it `None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl FactFields {
    fn apply_to(&self, b: &mut Breach) {
        fn set<T: Clone>(field: &mut T, update: &Option<T>) {
            if let Some(v) = update {
                *field = v.clone();
            }
        }
        set(&mut b.title, &self.title.as_ref().map(|t| t.trim().to_owned()));
        set(&mut b.nature, &self.nature);
        set(&mut b.cia, &self.cia);
        set(&mut b.occurred_at, &self.occurred_at.map(|o| o.map(crate::proof::to_millis)));
        set(&mut b.contact_point, &self.contact_point);
        set(&mut b.data_categories, &self.data_categories);
        set(&mut b.subject_categories, &self.subject_categories);
        set(&mut b.approx_subjects, &self.approx_subjects);
        set(&mut b.approx_records, &self.approx_records);
        set(&mut b.likely_consequences, &self.likely_consequences);
        set(&mut b.measures, &self.measures);
        set(&mut b.severity_inputs, &self.severity_inputs);
        set(&mut b.place, &self.place);
        set(&mut b.causes, &self.causes);
        set(&mut b.other_entities, &self.other_entities);
        set(&mut b.controller, &self.controller);
    }
}

impl Breach {
    /// Art. 33(1): the authority's 72 hours, which apply when the business is the controller.
    pub fn authority_deadline(&self) -> Time {
        self.aware_at + Duration::hours(AUTHORITY_DEADLINE_HOURS)
    }

    /// Who is told of the breach first.
    pub fn notifies(&self) -> Party {
        match self.role {
            Role::Controller => Party::Authority,
            Role::Processor => Party::Controller,
        }
    }

    /// When whoever [`Self::notifies`] must have been told: the authority's 72 hours, or the
    /// processor's contract term with its controller.
    pub fn notification_deadline(&self) -> Time {
        match &self.processing_for {
            Some(p) if self.role == Role::Processor => self.aware_at + Duration::hours(p.notify_within_hours.into()),
            _ => self.authority_deadline(),
        }
    }

    pub fn is_drill(&self) -> bool {
        self.drill.is_some()
    }

    /// The breach with every `facts` entry applied in order: the report reflects the latest.
    pub fn as_of(&self, timeline: &[TimelineEvent]) -> Breach {
        let mut b = self.clone();
        for updates in timeline.iter().filter_map(|e| e.entry.fact_updates()) {
            updates.fields.apply_to(&mut b);
        }
        b.severity = b.severity_inputs.score();
        b
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::deadline::{DeadlineStatus, Reminder, assess, due_reminder};
    use crate::ids::EventId;
    use crate::keys::{KeyRing, SecretKey};
    use crate::proof::GENESIS_HASH;
    use crate::severity::Band;
    use crate::timeline::{NewEntry, TimelineEntry, TimelineEvent, TimelineInput, verify_timeline};
    use chrono::TimeZone;
    use serde_json::json;

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

    pub(crate) fn now() -> Time {
        Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
    }
    use chrono::Utc;

    pub(crate) fn ops() -> OperatorId {
        OperatorId::new(crate::ids::Kid::parse("ops").unwrap())
    }

    pub(crate) fn b1() -> BreachId {
        BreachId::parse("B1").unwrap()
    }

    pub(crate) fn parse(v: Value) -> Result<Breach, Vec<FieldError>> {
        serde_json::from_value::<BreachInput>(v).unwrap().parse(b1(), &ops(), now())
    }

    pub(crate) fn seal(ring: &KeyRing, id: &str, head: (u64, &str), entry: TimelineEntry) -> TimelineEvent {
        let new = NewEntry { event_id: EventId::parse(id).unwrap(), breach_id: &b1(), by: &ops(), at: now() };
        TimelineEvent::seal_new(ring, new, head, entry)
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
    }

    #[test]
    fn art4_12_a_breach_loses_the_confidentiality_integrity_or_availability_of_personal_data() {
        let mut v = input();
        v["cia"] = json!({"confidentiality": false, "integrity": false, "availability": false});
        assert_eq!(codes(parse(v.clone()).unwrap_err()), vec![("cia".into(), "none_affected")]);
        for lost in ["confidentiality", "integrity", "availability"] {
            let mut one = v.clone();
            one["cia"][lost] = json!(true);
            let b = parse(one).unwrap();
            assert_eq!([b.cia.confidentiality, b.cia.integrity, b.cia.availability].iter().filter(|x| **x).count(), 1, "{lost}");
        }
    }

    /// A high-risk breach exempted from telling the people on `ground`, with its justification.
    fn exempted(ground: &str) -> bool {
        let b = parse(input()).unwrap();
        assert!(assess(&b, &[], now()).subjects_notification_required, "high risk: the people must be told");
        let decision = json!({"type": "subjects_decision", "decision": "exempt", "ground": ground, "justification": "uzasadnienie"});
        let entry = serde_json::from_value::<TimelineInput>(decision).unwrap().parse(&b, &[], now()).unwrap();
        let ring = KeyRing::single("s1", SecretKey::new(vec![1; 32]));
        !assess(&b, &[seal(&ring, "E1", (0, GENESIS_HASH), entry)], now()).subjects_notification_required
    }

    #[test]
    fn art34_3a_data_unintelligible_to_anyone_without_access_exempts_from_telling_the_people() {
        assert!(exempted("a"));
    }

    #[test]
    fn art34_3b_later_measures_that_make_the_high_risk_unlikely_exempt_from_telling_the_people() {
        assert!(exempted("b"));
    }

    #[test]
    fn art34_3c_disproportionate_effort_exempts_from_individual_notices() {
        assert!(exempted("c"));
        let b = parse(input()).unwrap();
        let unknown = json!({"type": "subjects_decision", "decision": "exempt", "ground": "d", "justification": "x"});
        let err = serde_json::from_value::<TimelineInput>(unknown).unwrap().parse(&b, &[], now()).unwrap_err();
        assert_eq!(codes(err), vec![("ground".into(), "invalid")]);
    }

    #[test]
    fn art33_1_deadline_is_aware_at_plus_72_hours_to_the_second() {
        let b = parse(input()).unwrap();
        assert_eq!(b.authority_deadline(), Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap());
        let a = assess(&b, &[], now());
        assert_eq!(
            (a.deadline.status, a.deadline.seconds_left, a.deadline.hours_left),
            (DeadlineStatus::Open, Some(48 * 3600), Some(48.0))
        );
        let one_second_late = b.authority_deadline() + Duration::seconds(1);
        let a = assess(&b, &[], one_second_late);
        assert_eq!((a.deadline.status, a.deadline.late_by_seconds), (DeadlineStatus::Late, Some(1)));
        let at_deadline = assess(&b, &[], b.authority_deadline());
        assert_eq!((at_deadline.deadline.status, at_deadline.deadline.seconds_left), (DeadlineStatus::Open, Some(0)));
        assert!(a.authority_notification_required && a.subjects_notification_required);
    }

    #[test]
    fn art33_1_late_notification_needs_delay_reasons_and_art34_3_exemption_needs_ground_and_justification() {
        let b = parse(input()).unwrap();
        let later = b.authority_deadline() + Duration::hours(2);
        let late: TimelineInput = serde_json::from_value(json!({"type": "authority_notified", "reference": "PUODO/1"})).unwrap();
        assert_eq!(codes(late.clone().parse(&b, &[], later).unwrap_err()), vec![("delay_reasons".into(), "required")]);
        assert!(late.parse(&b, &[], now()).is_ok(), "on time: no reasons needed");
        let exempt: TimelineInput = serde_json::from_value(json!({"type": "subjects_decision", "decision": "exempt"})).unwrap();
        assert_eq!(
            codes(exempt.parse(&b, &[], now()).unwrap_err()),
            vec![("ground".into(), "required"), ("justification".into(), "required")]
        );
        let ok: TimelineInput = serde_json::from_value(
            json!({"type": "subjects_decision", "decision": "exempt", "ground": "a", "justification": "dane zaszyfrowane"}),
        )
        .unwrap();
        let entry = ok.parse(&b, &[], now()).unwrap();
        let ring = KeyRing::single("s1", SecretKey::new(vec![1; 32]));
        let e = seal(&ring, "E1", (0, GENESIS_HASH), entry);
        assert!(!assess(&b, &[e], now()).subjects_notification_required, "art34_3a exemption recorded");
    }

    #[test]
    fn art33_5_timeline_edits_break_the_seal() {
        let ring = KeyRing::single("s1", SecretKey::new(vec![1; 32]));
        let a = seal(&ring, "E1", (0, GENESIS_HASH), TimelineEntry::Measure { description: "x".into() });
        let b = seal(&ring, "E2", (1, &a.chain_hash()), TimelineEntry::Measure { description: "y".into() });
        let head = (2, b.chain_hash());
        assert!(verify_timeline(&ring, &[a.clone(), b.clone()], Some((head.0, &head.1))).is_ok());
        let mut edited = a.clone();
        edited.entry = TimelineEntry::Measure { description: "changed".into() };
        assert_eq!(verify_timeline(&ring, &[edited, b.clone()], Some((head.0, &head.1))), Err(Some(a.event_id.clone())));
        assert!(verify_timeline(&ring, &[a], Some((head.0, &head.1))).is_err(), "a removed last entry shows");
    }

    #[test]
    fn art33_4_facts_events_update_the_record_and_its_severity() {
        let b = parse(input()).unwrap();
        let ring = KeyRing::single("s1", SecretKey::new(vec![1; 32]));
        let input: TimelineInput = serde_json::from_value(json!({"type": "facts", "reason": "pełny audyt logów", "updates": {"approx_subjects": 5000, "severity_inputs": {"dpc": 1, "ei": 0.25, "cb": {"confidentiality": 0, "integrity": 0, "availability": 0, "malicious": false}}}})).unwrap();
        let facts = seal(&ring, "E1", (0, GENESIS_HASH), input.parse(&b, &[], now()).unwrap());
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
        assert_eq!(due_reminder(&b, &[], d - Duration::hours(24)), Some(Reminder::DayLeft));
        assert_eq!(due_reminder(&b, &[], d - Duration::hours(6) - Duration::seconds(1)), Some(Reminder::DayLeft));
        assert_eq!(due_reminder(&b, &[], d - Duration::hours(6)), Some(Reminder::SixHoursLeft));
        assert_eq!(due_reminder(&b, &[], d), Some(Reminder::Passed));
    }
}
