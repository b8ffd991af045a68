//! Turning a raw form submission into a checked one (docs/api.md §1, pure). Which values are e-mail,
//! consent, declared fields or ignored, and every per-field error at once.

use std::collections::{BTreeMap, BTreeSet};

use crate::FieldError;
use crate::email::EmailAddress;
use crate::form::{FieldKind, Form};
use crate::ids::PurposeId;
use crate::lang::Lang;
use crate::proof::EventKind;

/// The honeypot field: people never see it, bots fill it.
pub const HONEYPOT: &str = "_gotcha";
/// Field names echoed back in `ignored_fields` at most.
const MAX_IGNORED: usize = 50;

/// Name/value pairs exactly as the body carried them, in order, repeats kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSubmission(pub Vec<(String, String)>);

impl RawSubmission {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A filled honeypot means a bot: answer as if it worked, and do nothing.
    pub fn is_bot(&self) -> bool {
        self.values(HONEYPOT).any(|v| !v.trim().is_empty())
    }

    /// The explicit `lang` field, if it names a supported language.
    pub fn lang(&self) -> Option<Lang> {
        self.values("lang").next().and_then(|v| v.trim().parse().ok())
    }

    /// The notice version the post names, as sent (unchecked).
    pub fn notice_version(&self) -> Option<&str> {
        self.values("notice_version").next().map(str::trim)
    }

    /// The purposes ticked, as sent (unchecked).
    pub fn ticked(&self) -> BTreeSet<&str> {
        self.values("consent").map(str::trim).collect()
    }
}

/// A submission that passed every check against its form.
#[derive(Debug, Clone)]
pub struct Submission {
    pub email: EmailAddress,
    pub notice_version: String,
    /// Declared fields only, trimmed, in the form's order.
    pub fields: Vec<(String, String)>,
    /// Each purpose the submission records, with its event: every consent purpose, and each
    /// purpose of another basis that applies to it.
    pub purposes: BTreeMap<PurposeId, EventKind>,
    /// Names of fields the form does not declare: never stored (Art. 5(1)(c)).
    pub ignored_fields: Vec<String>,
}

/// What each purpose becomes, given the ticked set (Art. 4(11): an unticked consent is `refused`;
/// Art. 6: a purpose of another basis is `informed`).
pub fn purpose_outcomes(form: &Form, ticked: &BTreeSet<&str>) -> BTreeMap<PurposeId, EventKind> {
    form.purposes
        .iter()
        .filter_map(|p| {
            let ticked = ticked.contains(p.id.as_str());
            let kind = match (p.is_consent(), ticked, p.double_opt_in) {
                (true, true, true) => EventKind::Requested,
                (true, true, false) => EventKind::Given,
                (true, false, _) => EventKind::Refused,
                // Another basis is not the person's to give or refuse: a required one applies to
                // every submission, an optional one when the person asked for it by ticking.
                (false, true, _) => EventKind::Informed,
                (false, false, _) if p.required => EventKind::Informed,
                (false, false, _) => return None,
            };
            Some((p.id.clone(), kind))
        })
        .collect()
}

pub(crate) fn check_value(kind: FieldKind, value: &str, max_len: usize) -> Result<(), &'static str> {
    if value.chars().count() > max_len {
        return Err("too_long");
    }
    let multiline = kind == FieldKind::Textarea;
    if value.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'))) {
        return Err("invalid");
    }
    match kind {
        FieldKind::Email => EmailAddress::parse(value).map(|_| ()).map_err(|_| "invalid"),
        FieldKind::Phone => {
            let digits = value.chars().filter(char::is_ascii_digit).count();
            let allowed = value.chars().all(|c| c.is_ascii_digit() || " +-()./".contains(c));
            if allowed && (6..=20).contains(&digits) { Ok(()) } else { Err("invalid") }
        }
        FieldKind::Text | FieldKind::Textarea => Ok(()),
    }
}

/// Checks a raw submission against its form; returns every field error at once.
pub fn check(form: &Form, raw: &RawSubmission) -> Result<Submission, Vec<FieldError>> {
    let mut errors = Vec::new();
    let single = |name: &str, errors: &mut Vec<FieldError>| -> Option<String> {
        let mut values = raw.values(name);
        let first = values.next().map(|v| v.trim().to_owned());
        if values.next().is_some() {
            errors.push(FieldError::new(name, "duplicate"));
        }
        first.filter(|v| !v.is_empty())
    };

    let email = match single("email", &mut errors) {
        None => {
            errors.push(FieldError::new("email", "required"));
            None
        }
        Some(e) => match EmailAddress::parse(&e) {
            Ok(e) => Some(e),
            Err(e) => {
                errors.push(FieldError::new("email", e.code()));
                None
            }
        },
    };
    let notice_version = single("notice_version", &mut errors);
    if notice_version.is_none() {
        errors.push(FieldError::new("notice_version", "required"));
    }
    if let Some(l) = raw.values("lang").next()
        && l.trim().parse::<Lang>().is_err()
    {
        errors.push(FieldError::new("lang", "invalid"));
    }

    let mut fields = Vec::new();
    for spec in &form.fields {
        match single(&spec.name, &mut errors) {
            None if spec.required => errors.push(FieldError::new(spec.name.clone(), "required")),
            None => {}
            Some(v) => match check_value(spec.kind, &v, spec.max_len) {
                Ok(()) => fields.push((spec.name.clone(), v)),
                Err(code) => errors.push(FieldError::new(spec.name.clone(), code)),
            },
        }
    }

    let ticked = raw.ticked();
    for t in &ticked {
        if form.purpose(t).is_none() {
            errors.push(FieldError::new("consent", "unknown_purpose"));
            break;
        }
    }
    for p in form.purposes.iter().filter(|p| p.required) {
        if !ticked.contains(p.id.as_str()) {
            errors.push(FieldError::new(format!("consent.{}", p.id), "required"));
        }
    }

    let known = |n: &str| form.field(n).is_some() || crate::form::RESERVED_FIELDS.contains(&n);
    let ignored: BTreeSet<String> = raw.0.iter().map(|(n, _)| n).filter(|n| !known(n)).take(MAX_IGNORED).cloned().collect();

    match (email, notice_version) {
        (Some(email), Some(notice_version)) if errors.is_empty() => Ok(Submission {
            email,
            notice_version,
            fields,
            purposes: purpose_outcomes(form, &ticked),
            ignored_fields: ignored.into_iter().collect(),
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::FormInput;
    use crate::ids::FormId;

    fn form() -> Form {
        let input: FormInput = serde_json::from_value(serde_json::json!({
            "name": "Kontakt", "allowed_origins": ["https://sklep.example.pl"], "default_lang": "pl",
            "fields": [{"name": "name", "kind": "text", "max_len": 10},
                       {"name": "message", "kind": "textarea", "required": true},
                       {"name": "phone", "kind": "phone"}],
            "purposes": [{"id": "newsletter", "lawful_basis": "consent", "double_opt_in": true},
                         {"id": "contact_reply", "lawful_basis": "contract", "required": true}],
            "retention_days": 30, "notice": {"version": "v1", "texts": {"pl": "Tekst"}}
        }))
        .unwrap();
        input.parse(FormId::parse("kontakt").unwrap(), chrono::Utc::now()).unwrap().0
    }

    fn raw(pairs: &[(&str, &str)]) -> RawSubmission {
        RawSubmission(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect())
    }

    #[test]
    fn art4_11_unticked_is_refused_and_ticked_double_opt_in_is_requested() {
        let s = check(
            &form(),
            &raw(&[
                ("email", "a@example.pl"),
                ("notice_version", "v1"),
                ("message", "hi\nthere"),
                ("consent", "newsletter"),
                ("consent", "contact_reply"),
            ]),
        )
        .unwrap();
        assert_eq!(s.purposes[&PurposeId::parse("newsletter").unwrap()], EventKind::Requested);
        assert_eq!(s.purposes[&PurposeId::parse("contact_reply").unwrap()], EventKind::Informed, "art6: a contract is not given");
        let s =
            check(&form(), &raw(&[("email", "a@example.pl"), ("notice_version", "v1"), ("message", "x"), ("consent", "contact_reply")]))
                .unwrap();
        assert_eq!(s.purposes[&PurposeId::parse("newsletter").unwrap()], EventKind::Refused);
    }

    #[test]
    fn art5_1c_undeclared_fields_are_only_named() {
        let s = check(
            &form(),
            &raw(&[
                ("email", "a@example.pl"),
                ("notice_version", "v1"),
                ("message", "x"),
                ("consent", "contact_reply"),
                ("pesel", "90010112345"),
            ]),
        )
        .unwrap();
        assert_eq!(s.ignored_fields, vec!["pesel".to_string()]);
        assert!(s.fields.iter().all(|(n, _)| n != "pesel"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = check(
            &form(),
            &raw(&[("email", "not-an-address"), ("name", "far too long a name"), ("phone", "call me"), ("consent", "spam")]),
        )
        .unwrap_err();
        let got: BTreeSet<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        for want in [
            ("email", "invalid"),
            ("notice_version", "required"),
            ("name", "too_long"),
            ("phone", "invalid"),
            ("message", "required"),
            ("consent", "unknown_purpose"),
            ("consent.contact_reply", "required"),
        ] {
            assert!(got.contains(&want), "{want:?} missing from {got:?}");
        }
    }

    #[test]
    fn a_text_field_refuses_line_breaks() {
        let errors = check(
            &form(),
            &raw(&[
                ("email", "a@example.pl"),
                ("notice_version", "v1"),
                ("message", "x"),
                ("consent", "contact_reply"),
                ("name", "Jan\r\nBcc:"),
            ]),
        )
        .unwrap_err();
        assert_eq!(errors, vec![FieldError::new("name", "invalid")]);
    }
}
