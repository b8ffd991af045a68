//! Forms and their consent notices, as the operator configures them (docs/api.md §4).
//!
//! `FormInput` is the JSON an operator sends; `FormInput::parse` checks every rule at once and
//! returns all field errors, or a `Form` and its current `Notice` that are valid by construction.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::email::EmailAddress;
use crate::ids::{FormId, PurposeId};
use crate::labels::Labels;
use crate::lang::Lang;
use crate::origin::WebOrigin;
use crate::{FieldError, Time};

/// Field names the submission endpoint reserves for itself.
pub const RESERVED_FIELDS: [&str; 5] = ["email", "consent", "notice_version", "_gotcha", "lang"];
const MAX_PURPOSES: usize = 20;
const MAX_FIELDS: usize = 30;
const MAX_NOTICE_CHARS: usize = 20_000;

/// What a form's owner notification copies into the owners' mailboxes, which zgoda's erasure
/// cannot reach (Art. 5(1)(c)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerNotice {
    /// The receipt, the purposes and which fields were filled, with the command that shows the
    /// rest: no address and no value leaves zgoda. The default of a form saved now.
    #[default]
    Summary,
    /// The address (as Reply-To) and every value: a copy that outlives the person's erasure.
    Values,
}

impl OwnerNotice {
    /// What a form saved before this choice existed did: it sent the values.
    fn as_saved_before() -> Self {
        OwnerNotice::Values
    }
}

/// Art. 6 lawful bases zgoda records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LawfulBasis {
    Consent,
    Contract,
    LegalObligation,
    LegitimateInterest,
}

impl LawfulBasis {
    /// Why what only consent allows is refused for a purpose on this basis: an audience (e-mail
    /// marketing needs consent, PKE art. 398, so only a consent purpose is a mailing list) and an
    /// unsubscribe link (only a consent can be withdrawn, Art. 7(3)).
    pub fn not_consent(self) -> Option<&'static str> {
        match self {
            LawfulBasis::Consent => None,
            LawfulBasis::Contract => Some("basis_is_contract"),
            LawfulBasis::LegalObligation => Some("basis_is_legal_obligation"),
            LawfulBasis::LegitimateInterest => Some("basis_is_legitimate_interest"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LawfulBasis::Consent => "consent",
            LawfulBasis::Contract => "contract",
            LawfulBasis::LegalObligation => "legal_obligation",
            LawfulBasis::LegitimateInterest => "legitimate_interest",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Textarea,
    Phone,
    Email,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// What pages and mails call the field, per language (the name when absent).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

fn default_max_len() -> usize {
    1000
}

/// A purpose as stored: every value here passed `FormInput::parse`, which holds the rules below.
/// Forms stored before those rules existed load unchanged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Purpose {
    pub id: PurposeId,
    pub lawful_basis: LawfulBasis,
    /// For consent, never (Art. 7(4)); for another basis, the box must be ticked: the person
    /// asks for what the purpose does (a reply, a quote).
    #[serde(default)]
    pub required: bool,
    /// Consent waits for a confirmation from the person's mailbox (PKE art. 398 in practice).
    #[serde(default)]
    pub double_opt_in: bool,
    /// Why a consent purpose is recorded without double opt-in: the form must say it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_opt_in_reason: Option<String>,
    /// A legitimate-interest purpose's balancing test, in a sentence or a reference (Art. 6(1)(f)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancing_note: Option<String>,
    /// A legitimate-interest purpose that is direct marketing: an objection stops it at once and
    /// for good, with nothing for the controller to weigh (Art. 21(2)–(3)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub direct_marketing: bool,
    /// What pages, mails and exports call the purpose, per language (the id when absent).
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

impl Purpose {
    /// Whether the person chooses this purpose (consent), rather than being informed of it.
    pub fn is_consent(&self) -> bool {
        self.lawful_basis == LawfulBasis::Consent
    }
}

/// A purpose as the operator sends it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurposeInput {
    pub id: PurposeId,
    pub lawful_basis: LawfulBasis,
    #[serde(default)]
    pub required: bool,
    /// Absent means on for consent (the safe default) and off for every other basis.
    #[serde(default)]
    pub double_opt_in: Option<bool>,
    #[serde(default)]
    pub single_opt_in_reason: Option<String>,
    #[serde(default)]
    pub balancing_note: Option<String>,
    #[serde(default)]
    pub direct_marketing: bool,
    #[serde(default)]
    pub labels: Labels,
}

const MAX_NOTE_CHARS: usize = 2000;

/// A free-text note an operator records: trimmed, not empty, bounded, one paragraph.
fn note(field: String, text: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let text = text?.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS || text.chars().any(char::is_control) {
        errors.push(FieldError::new(field, "invalid"));
        return None;
    }
    Some(text.to_owned())
}

impl PurposeInput {
    /// The stored purpose, or what is wrong with it (each error under `purposes[i]`).
    fn parse(self, i: usize, errors: &mut Vec<FieldError>) -> Purpose {
        let field = |name: &str| format!("purposes[{i}].{name}");
        let consent = self.lawful_basis == LawfulBasis::Consent;
        // Art. 7(2) and 7(4): consent that the form cannot be sent without is not freely given.
        if self.required && consent {
            errors.push(FieldError::new(field("required"), "consent_cannot_be_required"));
        }
        let double_opt_in = self.double_opt_in.unwrap_or(consent);
        if double_opt_in && !consent {
            errors.push(FieldError::new(field("double_opt_in"), "only_for_consent"));
        }
        let reason = note(field("single_opt_in_reason"), self.single_opt_in_reason.as_deref(), errors);
        match (consent && !double_opt_in, &reason) {
            // PKE art. 398: marketing consent proves itself from the mailbox unless the form
            // records why this one need not (say, a consent that sends no e-mail).
            (true, None) if self.single_opt_in_reason.is_none() => errors.push(FieldError::new(field("single_opt_in_reason"), "required")),
            (false, Some(_)) => errors.push(FieldError::new(field("single_opt_in_reason"), "only_for_single_opt_in_consent")),
            _ => {}
        }
        let balancing_note = note(field("balancing_note"), self.balancing_note.as_deref(), errors);
        let interest = self.lawful_basis == LawfulBasis::LegitimateInterest;
        match (interest, &balancing_note) {
            (true, None) if self.balancing_note.is_none() => errors.push(FieldError::new(field("balancing_note"), "required")),
            (false, Some(_)) => errors.push(FieldError::new(field("balancing_note"), "only_for_legitimate_interest")),
            _ => {}
        }
        // A consent is withdrawn, not objected to; another basis is not marketing.
        if self.direct_marketing && !interest {
            errors.push(FieldError::new(field("direct_marketing"), "only_for_legitimate_interest"));
        }
        Purpose {
            id: self.id,
            lawful_basis: self.lawful_basis,
            required: self.required,
            double_opt_in,
            single_opt_in_reason: reason,
            balancing_note,
            direct_marketing: self.direct_marketing,
            labels: Labels::parse(self.labels, &field("labels"), errors),
        }
    }
}

/// The consent text shown beside the boxes, in each language, under an immutable version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    pub version: String,
    pub texts: BTreeMap<Lang, String>,
}

/// A stored notice version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    pub version: String,
    pub texts: BTreeMap<Lang, String>,
    pub sha256: BTreeMap<Lang, String>,
}

impl Notice {
    pub fn new(version: String, texts: BTreeMap<Lang, String>) -> Self {
        let sha256 = texts.iter().map(|(l, t)| (*l, hex::encode(Sha256::digest(t.as_bytes())))).collect();
        Self { version, texts, sha256 }
    }

    /// The text a page in `lang` showed: that language's, else the form's default language's, else
    /// the notice's first. A version written under an earlier default language, and still
    /// accepted, may have no text in today's (security review L4: it was a panic, so a 5xx).
    pub fn shown_in(&self, lang: Lang, default: Lang) -> (Lang, &str, &str) {
        let l = [lang, default].into_iter().find(|l| self.texts.contains_key(l)).or_else(|| self.texts.keys().next().copied());
        let l = l.expect("a stored notice has a text");
        (l, &self.texts[&l], &self.sha256[&l])
    }
}

/// The operator's form configuration as it arrives.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormInput {
    pub name: String,
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub success_url: Option<String>,
    #[serde(default)]
    pub error_url: Option<String>,
    pub default_lang: Lang,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    pub purposes: Vec<PurposeInput>,
    #[serde(default)]
    pub notify: Vec<String>,
    /// What the owners' mail carries: `summary` unless the form asks for `values`.
    #[serde(default)]
    pub owner_notice: OwnerNotice,
    pub retention_days: u32,
    pub notice: NoticeInput,
    /// Older notice versions no longer accepted from pages (they stay verifiable).
    #[serde(default)]
    pub retired_notices: Vec<String>,
}

/// A valid form. Every value here has passed `FormInput::parse`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Form {
    pub id: FormId,
    pub name: String,
    pub allowed_origins: Vec<WebOrigin>,
    pub success_url: Option<String>,
    pub error_url: Option<String>,
    pub default_lang: Lang,
    pub fields: Vec<FieldSpec>,
    pub purposes: Vec<Purpose>,
    pub notify: Vec<EmailAddress>,
    #[serde(default = "OwnerNotice::as_saved_before")]
    pub owner_notice: OwnerNotice,
    pub retention_days: u32,
    pub notice_version: String,
    pub retired_notices: BTreeSet<String>,
    #[serde(with = "crate::proof::millis")]
    pub updated_at: Time,
}

impl Form {
    /// Whether a request's origin is one of the configured ones.
    pub fn allows_origin(&self, origin: &WebOrigin) -> bool {
        self.allowed_origins.contains(origin)
    }

    pub fn purpose(&self, id: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.id.as_str() == id)
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// What a person reading `lang` calls the purpose.
    pub fn purpose_label<'a>(&'a self, purpose: &'a Purpose, lang: Lang) -> &'a str {
        purpose.labels.in_lang(lang, self.default_lang, purpose.id.as_str())
    }

    /// The purpose by id as a message names it in `lang` (the id for a purpose the form lost).
    pub fn purpose_name(&self, id: &PurposeId, lang: Lang) -> crate::labels::PurposeName {
        let label = self.purpose(id.as_str()).map_or(id.as_str(), |p| self.purpose_label(p, lang));
        crate::labels::PurposeName { id: id.clone(), label: label.to_owned() }
    }

    /// What a person reading `lang` calls the field named `name` (the name for one the form lost).
    pub fn field_label<'a>(&'a self, name: &'a str, lang: Lang) -> &'a str {
        self.field(name).map_or(name, |f| f.labels.in_lang(lang, self.default_lang, name))
    }

    /// Whether a page may still submit under this notice version.
    pub fn accepts_notice(&self, version: &str, known: &[Notice]) -> bool {
        !self.retired_notices.contains(version) && known.iter().any(|n| n.version == version)
    }
}

fn valid_field_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !RESERVED_FIELDS.contains(&n)
}

/// Notice versions are short labels such as `2026-11` or `v3.1`.
pub fn valid_notice_version(v: &str) -> bool {
    !v.is_empty() && v.len() <= 32 && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl FormInput {
    /// Checks every rule and reports every problem; `now` stamps the update.
    pub fn parse(self, id: FormId, now: Time) -> Result<(Form, Notice), Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            errors.push(FieldError::new("name", "invalid"));
        }
        if self.allowed_origins.is_empty() {
            errors.push(FieldError::new("allowed_origins", "required"));
        }
        let mut origins = Vec::new();
        for (i, o) in self.allowed_origins.iter().enumerate() {
            match WebOrigin::parse(o) {
                Some(o) => origins.push(o),
                None => errors.push(FieldError::new(format!("allowed_origins[{i}]"), "invalid")),
            }
        }
        // ASVS 3.7.2: a form redirects only to its own site, one of the origins it accepts posts from.
        for (field, url) in [("success_url", &self.success_url), ("error_url", &self.error_url)] {
            match url.as_deref().map(WebOrigin::of_url) {
                None => {}
                Some(None) => errors.push(FieldError::new(field, "invalid")),
                Some(Some(origin)) if !origins.contains(&origin) => errors.push(FieldError::new(field, "not_an_allowed_origin")),
                Some(Some(_)) => {}
            }
        }
        if self.fields.len() > MAX_FIELDS {
            errors.push(FieldError::new("fields", "too_many"));
        }
        let mut names = BTreeSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            if !valid_field_name(&f.name) {
                errors.push(FieldError::new(format!("fields[{i}].name"), "invalid"));
            } else if !names.insert(f.name.clone()) {
                errors.push(FieldError::new(format!("fields[{i}].name"), "duplicate"));
            }
            if f.max_len == 0 || f.max_len > 10_000 {
                errors.push(FieldError::new(format!("fields[{i}].max_len"), "out_of_range"));
            }
        }
        // Field labels are held to the rules of purpose labels.
        let mut fields = self.fields;
        for (i, f) in fields.iter_mut().enumerate() {
            f.labels = Labels::parse(std::mem::take(&mut f.labels), &format!("fields[{i}].labels"), &mut errors);
        }
        if self.purposes.is_empty() {
            errors.push(FieldError::new("purposes", "required"));
        }
        if self.purposes.len() > MAX_PURPOSES {
            errors.push(FieldError::new("purposes", "too_many"));
        }
        let mut ids = BTreeSet::new();
        let mut purposes = Vec::new();
        for (i, p) in self.purposes.into_iter().enumerate() {
            if !ids.insert(p.id.clone()) {
                errors.push(FieldError::new(format!("purposes[{i}].id"), "duplicate"));
            }
            purposes.push(p.parse(i, &mut errors));
        }
        let mut notify = Vec::new();
        for (i, n) in self.notify.iter().enumerate() {
            match EmailAddress::parse(n) {
                Ok(e) => notify.push(e),
                Err(_) => errors.push(FieldError::new(format!("notify[{i}]"), "invalid")),
            }
        }
        if self.notify.len() > 10 {
            errors.push(FieldError::new("notify", "too_many"));
        }
        if !(1..=3650).contains(&self.retention_days) {
            errors.push(FieldError::new("retention_days", "out_of_range"));
        }
        let version = self.notice.version.clone();
        if !valid_notice_version(&version) {
            errors.push(FieldError::new("notice.version", "invalid"));
        }
        if !self.notice.texts.contains_key(&self.default_lang) {
            errors.push(FieldError::new(format!("notice.texts.{}", self.default_lang), "required"));
        }
        for (lang, text) in &self.notice.texts {
            if text.trim().is_empty() || text.chars().count() > MAX_NOTICE_CHARS {
                errors.push(FieldError::new(format!("notice.texts.{lang}"), "invalid"));
            }
        }
        let retired: BTreeSet<String> = self.retired_notices.iter().cloned().collect();
        if retired.contains(&version) {
            errors.push(FieldError::new("retired_notices", "current_version_retired"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let notice = Notice::new(version.clone(), self.notice.texts);
        let form = Form {
            id,
            name,
            allowed_origins: origins,
            success_url: self.success_url,
            error_url: self.error_url,
            default_lang: self.default_lang,
            fields,
            purposes,
            notify,
            owner_notice: self.owner_notice,
            retention_days: self.retention_days,
            notice_version: version,
            retired_notices: retired,
            updated_at: crate::proof::to_millis(now),
        };
        Ok((form, notice))
    }
}

/// A stored form as the operator API shows it: the configuration, the current notice with the
/// SHA-256 of each text, and every version ever stored. The CLI reads it back as this type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FormView {
    #[serde(flatten)]
    pub form: Form,
    /// The version new posts must name, with its texts.
    pub notice: Option<Notice>,
    /// Every version ever stored, by version.
    pub notices: Vec<NoticeVersion>,
}

/// One stored notice version, by the hashes of its texts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoticeVersion {
    pub version: String,
    pub sha256: BTreeMap<Lang, String>,
    /// A retired version: posts naming it are refused.
    pub retired: bool,
}

impl FormView {
    pub fn of(stored: &crate::store::StoredForm) -> Self {
        let form = &stored.form;
        let mut notices: Vec<NoticeVersion> = stored
            .notices
            .iter()
            .map(|n| NoticeVersion {
                version: n.version.clone(),
                sha256: n.sha256.clone(),
                retired: form.retired_notices.contains(&n.version),
            })
            .collect();
        notices.sort_by(|a, b| a.version.cmp(&b.version));
        let notice = stored.notices.iter().find(|n| n.version == form.notice_version).cloned();
        Self { form: form.clone(), notice, notices }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l4_a_notice_without_the_asked_or_default_language_shows_the_text_it_has() {
        let notice = Notice::new("2025-01".into(), BTreeMap::from([(Lang::Pl, "Administratorem jest…".to_owned())]));
        let (shown, text, sha) = notice.shown_in(Lang::En, Lang::En);
        assert_eq!((shown, text), (Lang::Pl, "Administratorem jest…"));
        assert_eq!(sha, notice.sha256[&Lang::Pl]);
        assert_eq!(notice.shown_in(Lang::Pl, Lang::En).0, Lang::Pl);
    }

    pub(crate) fn demo_input() -> FormInput {
        serde_json::from_value(serde_json::json!({
            "name": "Newsletter", "allowed_origins": ["https://sklep.example.pl"],
            "success_url": null, "error_url": null, "default_lang": "pl",
            "fields": [{"name": "name", "kind": "text", "required": false, "max_len": 100}],
            "purposes": [{"id": "newsletter", "lawful_basis": "consent", "required": false, "double_opt_in": true},
                         {"id": "contact_reply", "lawful_basis": "contract", "required": true, "double_opt_in": false}],
            "notify": ["biuro@example.pl"], "retention_days": 365,
            "notice": {"version": "2026-11", "texts": {"pl": "Zgoda", "en": "Consent"}}
        }))
        .unwrap()
    }

    #[test]
    fn parses_the_api_example() {
        let (form, notice) = demo_input().parse(FormId::parse("demo").unwrap(), chrono::Utc::now()).unwrap();
        assert!(form.allows_origin(&WebOrigin::parse("https://SKLEP.example.pl").unwrap()));
        assert!(!form.allows_origin(&WebOrigin::parse("https://evil.example").unwrap()));
        assert_eq!(notice.sha256[&Lang::Pl], hex::encode(Sha256::digest("Zgoda")));
    }

    #[test]
    fn art7_2_a_consent_purpose_cannot_be_required() {
        let mut input = demo_input();
        input.purposes[0].required = true;
        input.allowed_origins.push("javascript:alert(1)".into());
        input.success_url = Some("//evil.example".into());
        let errors = input.parse(FormId::parse("demo").unwrap(), chrono::Utc::now()).unwrap_err();
        let codes: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert!(codes.contains(&("purposes[0].required", "consent_cannot_be_required")));
        assert!(codes.contains(&("allowed_origins[1]", "invalid")));
        assert!(codes.contains(&("success_url", "invalid")));
    }

    fn errors_of(purpose: serde_json::Value) -> Vec<(String, &'static str)> {
        let mut input = demo_input();
        input.purposes = vec![serde_json::from_value(purpose).unwrap()];
        match input.parse(FormId::parse("demo").unwrap(), chrono::Utc::now()) {
            Ok(_) => vec![],
            Err(errors) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn pke398_a_consent_purpose_is_double_opt_in_unless_the_form_records_why_not() {
        let mut input = demo_input();
        input.purposes = vec![serde_json::from_value(serde_json::json!({"id": "newsletter", "lawful_basis": "consent"})).unwrap()];
        let (form, _) = input.parse(FormId::parse("demo").unwrap(), chrono::Utc::now()).unwrap();
        assert!(form.purposes[0].double_opt_in, "the safe default");

        let single = serde_json::json!({"id": "newsletter", "lawful_basis": "consent", "double_opt_in": false});
        assert_eq!(errors_of(single.clone()), [("purposes[0].single_opt_in_reason".to_owned(), "required")]);
        let mut reasoned = single;
        reasoned["single_opt_in_reason"] = "  Zgoda na SMS; nie wysyłamy e-maili.  ".into();
        assert_eq!(errors_of(reasoned.clone()), []);
        reasoned["single_opt_in_reason"] = " ".into();
        assert_eq!(errors_of(reasoned), [("purposes[0].single_opt_in_reason".to_owned(), "invalid")]);

        let needless = serde_json::json!({"id": "newsletter", "lawful_basis": "consent", "single_opt_in_reason": "x"});
        assert_eq!(errors_of(needless), [("purposes[0].single_opt_in_reason".to_owned(), "only_for_single_opt_in_consent")]);
        let contract = serde_json::json!({"id": "reply", "lawful_basis": "contract", "double_opt_in": true});
        assert_eq!(errors_of(contract), [("purposes[0].double_opt_in".to_owned(), "only_for_consent")]);
    }

    #[test]
    fn art6_a_legitimate_interest_purpose_names_its_balancing_note() {
        let interest = serde_json::json!({"id": "fraud_checks", "lawful_basis": "legitimate_interest"});
        assert_eq!(errors_of(interest.clone()), [("purposes[0].balancing_note".to_owned(), "required")]);
        let mut noted = interest;
        noted["balancing_note"] = "Test równowagi 2026-11: ryzyko oszustw przeważa, dane tylko 30 dni.".into();
        assert_eq!(errors_of(noted), []);
        let contract = serde_json::json!({"id": "reply", "lawful_basis": "contract", "balancing_note": "x"});
        assert_eq!(errors_of(contract), [("purposes[0].balancing_note".to_owned(), "only_for_legitimate_interest")]);
    }

    #[test]
    fn asvs_3_7_2_redirects_go_only_to_the_forms_own_origins() {
        let with = |success: &str| {
            let mut input = demo_input();
            input.success_url = Some(success.into());
            input.parse(FormId::parse("demo").unwrap(), chrono::Utc::now()).err().map(|e| e[0].code)
        };
        assert_eq!(with("https://sklep.example.pl/dziekujemy?x=1"), None);
        assert_eq!(with("https://SKLEP.example.pl"), None);
        for foreign in ["https://evil.example/thanks", "https://sklep.example.pl:8443/", "https://sklep.example.pl.evil.example/"] {
            assert_eq!(with(foreign), Some("not_an_allowed_origin"), "{foreign}");
        }
        for malformed in [
            "https://sklep.example.pl@evil.example/",
            "http://sklep.example.pl/",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "https://sklep.example.pl/a b",
        ] {
            assert_eq!(with(malformed), Some("invalid"), "{malformed}");
        }
    }
}
