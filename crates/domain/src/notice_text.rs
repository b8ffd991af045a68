//! What the people are told, per language (Art. 34(2), 12(1)): the breach's nature, its likely
//! consequences and the measures, and the operator's advice. The register's own texts are written
//! for the authority, in Polish; any other language needs its own, or a fallback the operator
//! chose on purpose, so no one gets a notice half in a language they did not choose.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::lang::Lang;

/// The language the register's facts are written in.
pub const REGISTER_LANG: Lang = Lang::Pl;

/// Longest text a notice carries, per field.
const MAX_CHARS: usize = 10_000;

/// One language's texts as the operator wrote them. A plain string is the advice alone (how
/// escalations were written before facts could be translated, and how they are stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "TextWire")]
pub struct NoticeText {
    pub advice: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consequences: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TextWire {
    Advice(String),
    Full(FullText),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullText {
    advice: String,
    #[serde(default)]
    nature: Option<String>,
    #[serde(default)]
    consequences: Option<String>,
    #[serde(default)]
    measures: Option<String>,
}

impl From<TextWire> for NoticeText {
    fn from(w: TextWire) -> Self {
        match w {
            TextWire::Advice(advice) => NoticeText { advice, nature: None, consequences: None, measures: None },
            TextWire::Full(f) => NoticeText { advice: f.advice, nature: f.nature, consequences: f.consequences, measures: f.measures },
        }
    }
}

/// The facts a notice states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub nature: String,
    pub consequences: Option<String>,
    pub measures: Option<String>,
}

/// Everything one notice says, in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    pub lang: Lang,
    pub facts: Facts,
    pub advice: String,
}

/// A language whose recipients are told in another, and how many of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageFallback {
    pub lang: Lang,
    pub told_in: Lang,
    pub recipients: u64,
}

/// The texts of one escalation: per language, and the language the operator chose for everyone
/// else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeTexts {
    #[serde(rename = "messages")]
    pub by_lang: BTreeMap<Lang, NoticeText>,
    #[serde(rename = "fallback_lang", default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Lang>,
}

impl NoticeTexts {
    /// Checks each text: advice is required, no field is blank or longer than `MAX_CHARS`, and a
    /// fallback must name a language written here.
    pub fn parse(by_lang: BTreeMap<Lang, NoticeText>, fallback: Option<Lang>, errors: &mut Vec<FieldError>) -> NoticeTexts {
        if by_lang.is_empty() {
            errors.push(FieldError::new("message", "required"));
        }
        for (lang, text) in &by_lang {
            let at = |field: &str| format!("message.{}.{field}", lang.code());
            let fields = [
                ("advice", Some(&text.advice)),
                ("nature", text.nature.as_ref()),
                ("consequences", text.consequences.as_ref()),
                ("measures", text.measures.as_ref()),
            ];
            for (name, value) in fields {
                match value {
                    Some(v) if v.trim().is_empty() => errors.push(FieldError::new(at(name), "required")),
                    Some(v) if v.chars().count() > MAX_CHARS => errors.push(FieldError::new(at(name), "too_long")),
                    _ => {}
                }
            }
        }
        if let Some(f) = fallback
            && !by_lang.contains_key(&f)
        {
            errors.push(FieldError::new("fallback_lang", "missing_texts"));
        }
        NoticeTexts { by_lang, fallback }
    }

    /// Everything a notice in `lang` says, if this escalation wrote it in full: the register's
    /// facts count only for the register's language, and only where a text of its own does not
    /// replace them.
    pub fn complete(&self, lang: Lang, register: &Facts) -> Option<Resolved> {
        let text = self.by_lang.get(&lang)?;
        // One fact in `lang`: the text's own, else the register's in its own language, else
        // nothing if the register states nothing; `None` when the register states a fact this
        // language lacks.
        let fact = |given: &Option<String>, registered: Option<&String>| -> Option<Option<String>> {
            match (given, registered) {
                (Some(g), _) => Some(Some(g.clone())),
                (None, r) if lang == REGISTER_LANG => Some(r.cloned()),
                (None, r) => r.is_none().then_some(None),
            }
        };
        let nature = fact(&text.nature, Some(&register.nature))??;
        let consequences = fact(&text.consequences, register.consequences.as_ref())?;
        let measures = fact(&text.measures, register.measures.as_ref())?;
        Some(Resolved { lang, facts: Facts { nature, consequences, measures }, advice: text.advice.clone() })
    }

    /// The languages among `wanted` this escalation cannot tell in full: each told in the
    /// fallback (counted), or refused as `message.<lang>` `missing_texts` when there is none.
    pub fn cover(&self, wanted: &BTreeMap<Lang, u64>, register: &Facts) -> Result<Vec<LanguageFallback>, Vec<FieldError>> {
        let missing: BTreeSet<Lang> = wanted.keys().copied().filter(|l| self.complete(*l, register).is_none()).collect();
        match self.fallback {
            _ if missing.is_empty() => Ok(Vec::new()),
            Some(f) if self.complete(f, register).is_some() => {
                Ok(missing.into_iter().map(|lang| LanguageFallback { lang, told_in: f, recipients: wanted[&lang] }).collect())
            }
            Some(_) => Err(vec![FieldError::new("fallback_lang", "missing_texts")]),
            None => Err(missing.into_iter().map(|l| FieldError::new(format!("message.{}", l.code()), "missing_texts")).collect()),
        }
    }

    /// What a notice in `lang` says: its own texts, else the fallback's, else those of any
    /// language written in full (a public page asked for in another); an escalation stored before
    /// texts were per language tells its advice beside the register's facts.
    pub fn resolve(&self, lang: Lang, register: &Facts) -> Resolved {
        let others = self.fallback.into_iter().chain(self.by_lang.keys().copied());
        if let Some(r) = std::iter::once(lang).chain(others).find_map(|l| self.complete(l, register)) {
            return r;
        }
        let advice = self.by_lang.get(&lang).or_else(|| self.by_lang.values().next()).map(|t| t.advice.clone()).unwrap_or_default();
        Resolved { lang, facts: register.clone(), advice }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn register() -> Facts {
        Facts { nature: "Wyciek bazy".into(), consequences: Some("Phishing".into()), measures: None }
    }

    fn texts(v: serde_json::Value, fallback: Option<Lang>) -> NoticeTexts {
        let mut errors = Vec::new();
        let t = NoticeTexts::parse(serde_json::from_value(v).unwrap(), fallback, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        t
    }

    #[test]
    fn art34_2_a_plain_string_is_advice_and_polish_takes_the_registers_facts() {
        let t = texts(json!({"pl": "Zmień hasło."}), None);
        let r = t.complete(Lang::Pl, &register()).unwrap();
        assert_eq!((r.facts, r.advice.as_str()), (register(), "Zmień hasło."));
        assert_eq!(t.complete(Lang::En, &register()), None, "no English texts");
    }

    #[test]
    fn art34_2_english_needs_each_fact_the_register_has() {
        let partial = texts(json!({"en": {"advice": "Change it.", "nature": "A leak"}}), None);
        assert_eq!(partial.complete(Lang::En, &register()), None, "the consequences are not translated");
        let full = texts(json!({"en": {"advice": "Change it.", "nature": "A leak", "consequences": "Phishing"}}), None);
        let r = full.complete(Lang::En, &register()).unwrap();
        assert_eq!(r.facts, Facts { nature: "A leak".into(), consequences: Some("Phishing".into()), measures: None });
    }

    #[test]
    fn art34_2_a_missing_language_is_refused_or_told_in_the_fallback() {
        let wanted = BTreeMap::from([(Lang::Pl, 2), (Lang::En, 3)]);
        let t = texts(json!({"pl": "Zmień hasło.", "en": "Change it."}), None);
        let refused = t.cover(&wanted, &register()).unwrap_err();
        assert_eq!(refused, vec![FieldError::new("message.en", "missing_texts")]);
        let t = texts(json!({"pl": "Zmień hasło.", "en": "Change it."}), Some(Lang::Pl));
        assert_eq!(t.cover(&wanted, &register()).unwrap(), vec![LanguageFallback { lang: Lang::En, told_in: Lang::Pl, recipients: 3 }]);
        assert_eq!(t.resolve(Lang::En, &register()).lang, Lang::Pl, "the whole notice is in the fallback");
    }

    #[test]
    fn art34_2_blank_and_unknown_fallbacks_name_their_field() {
        let mut errors = Vec::new();
        let by_lang = serde_json::from_value(json!({"en": {"advice": " ", "nature": "x"}})).unwrap();
        NoticeTexts::parse(by_lang, Some(Lang::Pl), &mut errors);
        assert_eq!(errors, vec![FieldError::new("message.en.advice", "required"), FieldError::new("fallback_lang", "missing_texts")]);
    }

    #[test]
    fn a_stored_advice_string_still_reads_and_resolves_with_the_registers_facts() {
        let stored: NoticeTexts = serde_json::from_value(json!({"messages": {"en": "Change it."}})).unwrap();
        let r = stored.resolve(Lang::En, &register());
        assert_eq!((r.lang, r.facts, r.advice.as_str()), (Lang::En, register(), "Change it."));
    }
}
