//! Forms and their consent notices, as the operator configures them (docs/api.md §4).
//!
//! `FormInput` is the JSON an operator sends; `FormInput::parse` checks every rule at once and
//! returns all field errors, or a `Form` and its current `Notice` that are valid by construction.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::email::EmailAddress;
use crate::ids::{FormId, PurposeId};
use crate::lang::Lang;
use crate::origin::WebOrigin;
use crate::{FieldError, Time};

/// Field names the submission endpoint reserves for itself.
pub const RESERVED_FIELDS: [&str; 5] = ["email", "consent", "notice_version", "_gotcha", "lang"];
const MAX_PURPOSES: usize = 20;
const MAX_FIELDS: usize = 30;
const MAX_NOTICE_CHARS: usize = 20_000;

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
}

fn default_max_len() -> usize {
    1000
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    pub id: PurposeId,
    pub lawful_basis: LawfulBasis,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub double_opt_in: bool,
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
    pub purposes: Vec<Purpose>,
    #[serde(default)]
    pub notify: Vec<String>,
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
        if self.purposes.is_empty() {
            errors.push(FieldError::new("purposes", "required"));
        }
        if self.purposes.len() > MAX_PURPOSES {
            errors.push(FieldError::new("purposes", "too_many"));
        }
        let mut ids = BTreeSet::new();
        for (i, p) in self.purposes.iter().enumerate() {
            if !ids.insert(p.id.clone()) {
                errors.push(FieldError::new(format!("purposes[{i}].id"), "duplicate"));
            }
            // Art. 7(2) and 7(4): consent that the form cannot be sent without is not freely given.
            if p.required && p.lawful_basis == LawfulBasis::Consent {
                errors.push(FieldError::new(format!("purposes[{i}].required"), "consent_cannot_be_required"));
            }
            if p.double_opt_in && p.lawful_basis != LawfulBasis::Consent {
                errors.push(FieldError::new(format!("purposes[{i}].double_opt_in"), "only_for_consent"));
            }
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
            fields: self.fields,
            purposes: self.purposes,
            notify,
            retention_days: self.retention_days,
            notice_version: version,
            retired_notices: retired,
            updated_at: crate::proof::to_millis(now),
        };
        Ok((form, notice))
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
