//! The words people read instead of ids: a form's fields and purposes carry a label per language
//! (Art. 12(1): information "in clear and plain language"), so that a page says "Odpowiedź na
//! wiadomość" where the form's JSON says `contact_reply`.
//!
//! A label falls back to the form's default language, then to the id. A link page knows a purpose
//! but not the form it came from, so each saved form also declares its purposes' labels resolved in
//! every language (`Labels::resolved`), and [`PurposeNames`] keeps those per warm instance.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::ids::PurposeId;
use crate::lang::Lang;
use crate::{FieldError, Time};

const MAX_LABEL_CHARS: usize = 120;

/// A label per language; any language may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(BTreeMap<Lang, String>);

impl Labels {
    /// The labels an operator sent, trimmed; each one empty, too long or broken over lines is an
    /// error under `field.<lang>`.
    pub fn parse(raw: impl IntoIterator<Item = (Lang, String)>, field: &str, errors: &mut Vec<FieldError>) -> Labels {
        let mut labels = BTreeMap::new();
        for (lang, text) in raw {
            let text = text.trim();
            if text.is_empty() || text.chars().count() > MAX_LABEL_CHARS || text.chars().any(char::is_control) {
                errors.push(FieldError::new(format!("{field}.{lang}"), "invalid"));
            } else {
                labels.insert(lang, text.to_owned());
            }
        }
        Labels(labels)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The label in `lang`, else in the form's `default` language, else the `id` itself.
    pub fn in_lang<'a>(&'a self, lang: Lang, default: Lang, id: &'a str) -> &'a str {
        self.0.get(&lang).or_else(|| self.0.get(&default)).map(String::as_str).unwrap_or(id)
    }

    /// A label in every language, fallbacks applied: what a page that knows no form shows.
    pub fn resolved(&self, default: Lang, id: &str) -> Labels {
        Labels(Lang::ALL.iter().map(|l| (*l, self.in_lang(*l, default, id).to_owned())).collect())
    }

    pub fn get(&self, lang: Lang) -> Option<&str> {
        self.0.get(&lang).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Lang, &str)> {
        self.0.iter().map(|(l, t)| (*l, t.as_str()))
    }
}

impl IntoIterator for Labels {
    type Item = (Lang, String);
    type IntoIter = std::collections::btree_map::IntoIter<Lang, String>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(Lang, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (Lang, String)>>(iter: I) -> Self {
        Labels(iter.into_iter().collect())
    }
}

/// A purpose as a message names it: its id, and its label in the message's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeName {
    pub id: PurposeId,
    pub label: String,
}

/// How long a warm instance trusts the purpose labels it read: a relabelled purpose shows on link
/// pages within this time. Labels are words, not rules, so a few minutes' staleness harms no one
/// and saves a read on every click.
pub const PURPOSE_NAMES_MAX_AGE: Duration = Duration::minutes(5);

/// The declared labels of purposes, per warm instance.
#[derive(Debug, Default)]
pub struct PurposeNames {
    held: RwLock<HashMap<PurposeId, (Labels, Time)>>,
}

impl PurposeNames {
    /// The labels read at most [`PURPOSE_NAMES_MAX_AGE`] before `now`.
    pub fn fresh(&self, id: &PurposeId, now: Time) -> Option<Labels> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        held.get(id).filter(|(_, read_at)| now - *read_at < PURPOSE_NAMES_MAX_AGE).map(|(labels, _)| labels.clone())
    }

    pub fn remember(&self, id: PurposeId, labels: Labels, now: Time) {
        self.held.write().unwrap_or_else(|e| e.into_inner()).insert(id, (labels, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn art12_1_a_label_falls_back_to_the_default_language_then_to_the_id() {
        let labels: Labels = [(Lang::Pl, "Newsletter o nowościach".to_owned())].into_iter().collect();
        assert_eq!(labels.in_lang(Lang::En, Lang::Pl, "newsletter"), "Newsletter o nowościach");
        assert_eq!(labels.in_lang(Lang::En, Lang::En, "newsletter"), "newsletter");
        assert_eq!(Labels::default().in_lang(Lang::Pl, Lang::Pl, "newsletter"), "newsletter");
        let resolved = labels.resolved(Lang::Pl, "newsletter");
        assert_eq!((resolved.get(Lang::Pl), resolved.get(Lang::En)), (Some("Newsletter o nowościach"), Some("Newsletter o nowościach")));
    }

    #[test]
    fn a_label_that_is_empty_too_long_or_broken_over_lines_is_named() {
        let mut errors = Vec::new();
        let raw = BTreeMap::from([(Lang::Pl, " ".to_owned()), (Lang::En, "a\nb".to_owned())]);
        assert!(Labels::parse(raw, "purposes[0].labels", &mut errors).is_empty());
        let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["purposes[0].labels.pl", "purposes[0].labels.en"]);
    }

    #[test]
    fn held_labels_are_trusted_for_five_minutes() {
        let names = PurposeNames::default();
        let id = PurposeId::parse("newsletter").unwrap();
        let t = chrono::Utc::now();
        names.remember(id.clone(), Labels::default(), t);
        assert!(names.fresh(&id, t + Duration::minutes(4)).is_some());
        assert!(names.fresh(&id, t + Duration::minutes(5)).is_none());
    }
}
