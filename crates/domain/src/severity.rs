//! ENISA (2013) breach severity: SE = DPC × EI + CB, in exact integer arithmetic.
//!
//! Every input is a multiple of 1/100 (DPC) or 1/4 (EI, CB), so SE × 400 is an integer and band
//! boundaries compare exactly.
//!
//! The method's DPC is whole: a base score by data category, moved by the listed context factors
//! ([`DpcContext`]), each recorded. A bare DPC number is accepted from a new registration only when
//! whole, or with a `justification`: a score tuned to a hundredth below a band boundary is outside
//! the method and must say why (legal review, enisa). An input given as `"unknown"` or as a range `[lo, hi]` is resolved
//! to the value giving the highest band (EDPB: in doubt, the higher level); since SE grows with
//! every input, that is the top of the range (or of the input's scale).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::FieldError;

/// Scale: SE × 400 is exact for DPC in hundredths and EI/CB in quarters.
const SCALE: i64 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Low,
    Medium,
    High,
    VeryHigh,
}

impl Band {
    fn of(se_400: i64) -> Self {
        match se_400 {
            s if s < 2 * SCALE => Band::Low,
            s if s < 3 * SCALE => Band::Medium,
            s if s < 4 * SCALE => Band::High,
            _ => Band::VeryHigh,
        }
    }
}

/// An input as sent: a number, `"unknown"`, or `[lo, hi]`.
#[derive(Debug, Clone, PartialEq)]
enum Given {
    Exact(i64),
    Unknown,
    Range(i64, i64),
}

/// One input's scale, in its own units (hundredths for DPC, quarters for the rest).
struct Scale {
    name: &'static str,
    units: i64,
    allowed: &'static [i64],
    min: i64,
    max: i64,
}

const DPC: Scale = Scale { name: "dpc", units: 100, allowed: &[], min: 100, max: 400 };
const EI: Scale = Scale { name: "ei", units: 4, allowed: &[1, 2, 3, 4], min: 1, max: 4 };
const CIA: [Scale; 3] = [
    Scale { name: "cb.confidentiality", units: 4, allowed: &[0, 1, 2], min: 0, max: 2 },
    Scale { name: "cb.integrity", units: 4, allowed: &[0, 1, 2], min: 0, max: 2 },
    Scale { name: "cb.availability", units: 4, allowed: &[0, 1, 2], min: 0, max: 2 },
];

impl Scale {
    /// A JSON number into this scale's units, refusing values off the scale's grid.
    fn units_of(&self, n: &serde_json::Number) -> Option<i64> {
        let f = n.as_f64()?;
        let u = (f * self.units as f64).round();
        if ((u / self.units as f64) - f).abs() > 1e-9 {
            return None;
        }
        let u = u as i64;
        let ok = if self.allowed.is_empty() { (self.min..=self.max).contains(&u) } else { self.allowed.contains(&u) };
        ok.then_some(u)
    }

    fn parse(&self, v: &Value, errors: &mut Vec<FieldError>) -> Given {
        let bad = |errors: &mut Vec<FieldError>| {
            errors.push(FieldError::new(format!("severity_inputs.{}", self.name), "invalid"));
            Given::Unknown
        };
        match v {
            Value::Number(n) => self.units_of(n).map(Given::Exact).unwrap_or_else(|| bad(errors)),
            Value::String(s) if s == "unknown" => Given::Unknown,
            Value::Array(a) if a.len() == 2 => {
                match (a[0].as_number().and_then(|n| self.units_of(n)), a[1].as_number().and_then(|n| self.units_of(n))) {
                    (Some(lo), Some(hi)) if lo <= hi => Given::Range(lo, hi),
                    _ => bad(errors),
                }
            }
            _ => bad(errors),
        }
    }

    /// The value that gives the highest band, and a note when it had to be chosen.
    fn resolve(&self, g: &Given, notes: &mut Vec<String>) -> i64 {
        let show = |u: i64| format_units(u, self.units);
        match *g {
            Given::Exact(u) => u,
            Given::Unknown => {
                notes.push(format!("{} unknown → {}", self.name, show(self.max)));
                self.max
            }
            Given::Range(lo, hi) => {
                if lo != hi {
                    notes.push(format!("{} in [{}, {}] → {}", self.name, show(lo), show(hi), show(hi)));
                }
                hi
            }
        }
    }
}

fn format_units(u: i64, units: i64) -> String {
    format!("{}", u as f64 / units as f64)
}

/// Parsed severity inputs, each possibly unknown or a range. They serialize as sent and
/// deserialize through [`SeverityInputs::parse`], so a stored breach always holds valid inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct SeverityInputs {
    dpc: Given,
    /// The DPC's category and context factors, when it was given that way.
    context: Option<DpcContext>,
    ei: Given,
    cia: [Given; 3],
    malicious: Option<bool>,
    /// The inputs as sent, kept verbatim for the record: a number's spelling (`3` or `3.0`) is
    /// part of what timeline seals cover, so it is never re-written from the parsed values.
    raw: Value,
}

impl Serialize for SeverityInputs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SeverityInputs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        SeverityInputs::parse(&raw).map_err(|errors| {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            serde::de::Error::custom(format_args!("invalid severity inputs: {}", fields.join(", ")))
        })
    }
}

/// The computed severity (docs/api.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Severity {
    pub score: f64,
    pub band: Band,
    /// Which rule chose the band: the formula, and any inputs raised because they were unknown.
    pub rule: String,
}

impl SeverityInputs {
    /// Parses `{"dpc", "ei", "cb": {"confidentiality", "integrity", "availability", "malicious"}}`.
    pub fn parse(v: &Value) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = v.as_object() else {
            return Err(vec![FieldError::new("severity_inputs", "required")]);
        };
        let missing = |k: &str| Value::String(if obj.contains_key(k) { String::new() } else { "unknown".into() });
        let field = |k: &str| obj.get(k).cloned().unwrap_or_else(|| missing(k));
        let (dpc, context) = match obj.get("dpc") {
            Some(Value::Object(_)) => match DpcContext::parse(&obj["dpc"], &mut errors) {
                Some(c) => (Given::Exact(c.dpc() * DPC.units), Some(c)),
                None => (Given::Unknown, None),
            },
            _ => (DPC.parse(&field("dpc"), &mut errors), None),
        };
        let ei = EI.parse(&field("ei"), &mut errors);
        let cb = obj.get("cb").cloned().unwrap_or(Value::Object(Default::default()));
        let cb_field = |k: &str| cb.get(k).cloned().unwrap_or(Value::String("unknown".into()));
        let cia = [
            CIA[0].parse(&cb_field("confidentiality"), &mut errors),
            CIA[1].parse(&cb_field("integrity"), &mut errors),
            CIA[2].parse(&cb_field("availability"), &mut errors),
        ];
        let malicious = match cb.get("malicious") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::String(s)) if s == "unknown" => None,
            Some(_) => {
                errors.push(FieldError::new("severity_inputs.cb.malicious", "invalid"));
                None
            }
        };
        if errors.is_empty() { Ok(Self { dpc, context, ei, cia, malicious, raw: v.clone() }) } else { Err(errors) }
    }

    /// [`Self::parse`] for inputs stated now (a registration, a `facts` entry): a DPC off the
    /// method's whole steps needs a `justification`. Stored inputs are read with [`Self::parse`],
    /// so breaches registered before the rule still read.
    pub fn parse_new(v: &Value) -> Result<Self, Vec<FieldError>> {
        let inputs = Self::parse(v)?;
        let whole = |u: i64| u % DPC.units == 0;
        let off_method = match inputs.dpc {
            Given::Exact(u) => !whole(u),
            Given::Range(lo, hi) => !(whole(lo) && whole(hi)),
            Given::Unknown => false,
        };
        let justified = v.get("justification").and_then(Value::as_str).is_some_and(|j| !j.trim().is_empty() && j.chars().count() <= 4000);
        if off_method && !justified {
            return Err(vec![FieldError::new("severity_inputs.justification", "required")]);
        }
        Ok(inputs)
    }

    /// SE and its band; unknowns and ranges resolve upward.
    pub fn score(&self) -> Severity {
        let mut notes = Vec::new();
        let dpc = DPC.resolve(&self.dpc, &mut notes);
        let ei = EI.resolve(&self.ei, &mut notes);
        let cia: i64 = self.cia.iter().zip(CIA.iter()).map(|(g, s)| s.resolve(g, &mut notes)).sum();
        let malicious = self.malicious.unwrap_or_else(|| {
            notes.push("cb.malicious unknown → true".into());
            true
        });
        // DPC (hundredths) × EI (quarters) is SE × 400; CB (quarters) × 100 is too.
        let se_400 = dpc * ei + (cia + if malicious { 2 } else { 0 }) * 100;
        let band = Band::of(se_400);
        let mut rule = format!("ENISA 2013: SE = DPC × EI + CB = {} ({})", se_400 as f64 / SCALE as f64, band);
        if let Some(c) = &self.context {
            rule.push_str(&format!("; {c}"));
        }
        if let Some(j) = self.raw.get("justification").and_then(Value::as_str) {
            rule.push_str(&format!("; DPC outside the method's steps: {j}"));
        }
        if !notes.is_empty() {
            rule.push_str(&format!("; in doubt the higher level: {}", notes.join(", ")));
        }
        Severity { score: se_400 as f64 / SCALE as f64, band, rule }
    }
}

/// ENISA's data categories, each with its base DPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCategory {
    /// Contact and biographical data: base 1.
    Simple,
    /// Location, traffic, preferences and habits: base 2.
    Behavioural,
    /// Income, transactions, card and account data: base 3.
    Financial,
    /// Art. 9 and 10 data (health, beliefs, sexual life, convictions): base 4.
    Sensitive,
}

impl DataCategory {
    fn base(self) -> i64 {
        match self {
            DataCategory::Simple => 1,
            DataCategory::Behavioural => 2,
            DataCategory::Financial => 3,
            DataCategory::Sensitive => 4,
        }
    }
}

/// The context factors ENISA lists for moving the base score, each with the steps it may move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextFactor {
    /// The volume of data per person allows a profile: up 1 or 2.
    Volume,
    /// What the controller is says more (a pharmacy's customer list): up 1 to 3.
    ControllerCharacteristics,
    /// The people are vulnerable (minors, victims, protected witnesses): up 1 to 3.
    VulnerableSubjects,
    /// The data are invalid, inaccurate or outdated: down 1 or 2.
    InvalidData,
    /// The data were publicly available before the breach: down 1 to 3.
    PublicAvailability,
    /// The data reveal less than their category suggests: down 1 to 3.
    RevealsLess,
}

impl ContextFactor {
    /// The steps allowed, as (least, most): positive raises, negative lowers.
    fn steps(self) -> (i64, i64) {
        match self {
            ContextFactor::Volume => (1, 2),
            ContextFactor::ControllerCharacteristics | ContextFactor::VulnerableSubjects => (1, 3),
            ContextFactor::InvalidData => (-2, -1),
            ContextFactor::PublicAvailability | ContextFactor::RevealsLess => (-3, -1),
        }
    }
}

/// One factor applied, by whole steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adjustment {
    pub factor: ContextFactor,
    pub by: i64,
}

/// The DPC as the method builds it: `{"category": …, "adjustments": [{"factor": …, "by": …}]}`,
/// the result kept between 1 and 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpcContext {
    pub category: DataCategory,
    #[serde(default)]
    pub adjustments: Vec<Adjustment>,
}

impl DpcContext {
    fn parse(v: &Value, errors: &mut Vec<FieldError>) -> Option<Self> {
        let field = |f: &str| format!("severity_inputs.dpc.{f}");
        let category = match v.get("category").cloned().map(serde_json::from_value::<DataCategory>) {
            Some(Ok(c)) => Some(c),
            Some(Err(_)) => {
                errors.push(FieldError::new(field("category"), "invalid"));
                None
            }
            None => {
                errors.push(FieldError::new(field("category"), "required"));
                None
            }
        };
        let mut adjustments: Vec<Adjustment> = Vec::new();
        let given = v.get("adjustments").cloned().unwrap_or(Value::Array(Vec::new()));
        let Value::Array(items) = given else {
            errors.push(FieldError::new(field("adjustments"), "invalid"));
            return None;
        };
        for (i, item) in items.into_iter().enumerate() {
            match serde_json::from_value::<Adjustment>(item) {
                Ok(a) if adjustments.iter().any(|b| b.factor == a.factor) => {
                    errors.push(FieldError::new(field(&format!("adjustments[{i}]")), "duplicate"));
                }
                Ok(a) if !(a.factor.steps().0..=a.factor.steps().1).contains(&a.by) => {
                    errors.push(FieldError::new(field(&format!("adjustments[{i}].by")), "out_of_range"));
                }
                Ok(a) => adjustments.push(a),
                Err(_) => errors.push(FieldError::new(field(&format!("adjustments[{i}]")), "invalid")),
            }
        }
        if let Some(o) = v.as_object()
            && o.keys().any(|k| k != "category" && k != "adjustments")
        {
            errors.push(FieldError::new(field("category"), "unknown_fields"));
        }
        Some(Self { category: category?, adjustments })
    }

    /// The base score moved by every factor, kept within 1..=4.
    pub fn dpc(&self) -> i64 {
        (self.category.base() + self.adjustments.iter().map(|a| a.by).sum::<i64>()).clamp(1, 4)
    }
}

impl fmt::Display for DpcContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DPC = {} {}", name(&self.category), self.category.base())?;
        for a in &self.adjustments {
            write!(f, " {} {} ({})", if a.by < 0 { '−' } else { '+' }, a.by.abs(), name(&a.factor))?;
        }
        let raw = self.category.base() + self.adjustments.iter().map(|a| a.by).sum::<i64>();
        if raw != self.dpc() {
            write!(f, " = {raw}, kept within 1–4")?;
        }
        write!(f, " = {}", self.dpc())
    }
}

/// A unit enum's snake_case name, as serde writes it.
fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Band::Low => "low",
            Band::Medium => "medium",
            Band::High => "high",
            Band::VeryHigh => "very_high",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn score(v: Value) -> Severity {
        SeverityInputs::parse(&v).unwrap().score()
    }

    fn exact(dpc: f64, ei: f64, c: f64, malicious: bool) -> Severity {
        score(json!({"dpc": dpc, "ei": ei, "cb": {"confidentiality": c, "integrity": 0, "availability": 0, "malicious": malicious}}))
    }

    #[test]
    fn enisa_bands_at_every_boundary() {
        // SE = DPC × 0.5 for these: 1.99, 2.0, 2.99, 3.0, 3.99, 4.0 exactly.
        for (dpc, ei, c, m, se, band) in [
            (3.98, 0.5, 0.0, false, 1.99, Band::Low),
            (4.0, 0.5, 0.0, false, 2.0, Band::Medium),
            (3.98, 0.75, 0.0, false, 2.985, Band::Medium),
            (2.99, 1.0, 0.0, false, 2.99, Band::Medium),
            (3.0, 1.0, 0.0, false, 3.0, Band::High),
            (3.99, 1.0, 0.0, false, 3.99, Band::High),
            (4.0, 1.0, 0.0, false, 4.0, Band::VeryHigh),
            (1.49, 1.0, 0.0, true, 1.99, Band::Low),
            (1.5, 1.0, 0.0, true, 2.0, Band::Medium),
            (3.0, 0.75, 0.5, true, 3.25, Band::High),
        ] {
            let s = exact(dpc, ei, c, m);
            assert_eq!((s.score, s.band), (se, band), "dpc {dpc} ei {ei} c {c} m {m}");
            assert!(!s.rule.contains("in doubt"));
        }
    }

    #[test]
    fn enisa_api_example() {
        let s = score(json!({"dpc": 3, "ei": 0.75, "cb": {"confidentiality": 0.5, "integrity": 0, "availability": 0, "malicious": true}}));
        assert_eq!((s.score, s.band), (3.25, Band::High));
    }

    #[test]
    fn seed_doubt_unknown_and_ranges_resolve_to_the_highest_band() {
        let s = score(
            json!({"dpc": "unknown", "ei": 0.5, "cb": {"confidentiality": 0, "integrity": 0, "availability": 0, "malicious": false}}),
        );
        assert_eq!((s.score, s.band), (2.0, Band::Medium));
        assert!(s.rule.contains("dpc unknown → 4"), "{}", s.rule);
        let s = score(
            json!({"dpc": 2, "ei": [0.25, 1], "cb": {"confidentiality": [0, 0.5], "integrity": 0, "availability": 0, "malicious": "unknown"}}),
        );
        assert_eq!((s.score, s.band), (3.0, Band::High));
        assert!(
            s.rule.contains("ei in [0.25, 1] → 1")
                && s.rule.contains("cb.confidentiality in [0, 0.5] → 0.5")
                && s.rule.contains("malicious unknown → true")
        );
        let s = score(json!({}));
        assert_eq!(s.band, Band::VeryHigh, "nothing known: the top");
    }

    #[test]
    fn off_scale_inputs_are_field_errors() {
        let errors = SeverityInputs::parse(&json!({"dpc": 5, "ei": 0.3, "cb": {"confidentiality": 0.75, "malicious": "yes"}})).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["severity_inputs.dpc", "severity_inputs.ei", "severity_inputs.cb.confidentiality", "severity_inputs.cb.malicious"]
        );
        assert!(SeverityInputs::parse(&json!({"dpc": 2.555})).is_err(), "DPC has at most two decimals");
        assert!(SeverityInputs::parse(&json!({"dpc": [3, 2]})).is_err(), "ranges run low to high");
    }
}
