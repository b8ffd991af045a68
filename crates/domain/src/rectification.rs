//! Rectification (Art. 16): the person corrects what their forms carried through a signed
//! `rectify` link (a page with the current values; GET only reads), or the operator does for
//! them. Every stored copy of a corrected field is corrected, and a sealed `rectified` event names
//! the fields that changed, never their values. A change of e-mail address is
//! `address_change.rs`: the address is who the person is to zgoda, not one of their fields.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::form::FieldKind;
use crate::ids::{FormId, SubjectId};
use crate::lang::Lang;
use crate::mail::Mailer;
use crate::proof::{self, Channel, EventFacts, EventKind};
use crate::service::{Lift, Zgoda};
use crate::store::{PrivacyRequestKind, Store, SubmissionContent, WorkQueue};
use crate::{FieldError, Time};

/// One declared field as zgoda holds it for the person now: the latest value a form of theirs
/// carried, with what the page needs to offer it for correction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldField {
    pub form_id: FormId,
    pub name: String,
    /// What the person, reading the page's language, calls it.
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    pub max_len: usize,
    pub value: String,
}

/// A correction: new values for declared fields of one form. An empty value removes a field the
/// form does not require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub form_id: FormId,
    pub values: Vec<(String, String)>,
}

/// What a correction changed: the names of the fields whose value is now another (none: the
/// values were already as asked, and nothing was recorded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rectified {
    pub subject_id: SubjectId,
    pub changed: Vec<String>,
}

/// The value of `name` the newest submission of `form` that holds it carried: its current value.
fn latest_value<'a>(submissions: &'a [SubmissionContent], form: &FormId, name: &str) -> Option<&'a str> {
    submissions
        .iter()
        .filter(|s| &s.form_id == form)
        .filter_map(|s| Some((s.at, s.fields.iter().find(|(n, _)| n == name)?.1.as_str())))
        .max_by_key(|(at, _)| *at)
        .map(|(_, value)| value)
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// The fields of each form the person sent, with the value zgoda holds (the latest; empty for
    /// one they left out, which they may complete), labelled in `lang`: what the rectify page
    /// shows. A value under a field its form no longer declares is shown too. Only reads.
    pub async fn held_fields(&self, subject: &SubjectId, lang: Lang) -> Result<Vec<HeldField>, Error> {
        let record = self.store.load_subject(subject).await?;
        let mut form_ids: Vec<&FormId> = record.submissions.iter().map(|s| &s.form_id).collect();
        form_ids.sort();
        form_ids.dedup();
        let mut held = Vec::new();
        for form_id in form_ids {
            let stored = self.store.load_form(form_id).await?;
            let declared = stored.as_ref().map(|f| f.form.fields.as_slice()).unwrap_or_default();
            let value = |name: &str| latest_value(&record.submissions, form_id, name).unwrap_or("").to_owned();
            for spec in declared {
                held.push(HeldField {
                    form_id: form_id.clone(),
                    name: spec.name.clone(),
                    label: stored.as_ref().map_or(spec.name.as_str(), |f| f.form.field_label(&spec.name, lang)).to_owned(),
                    kind: spec.kind,
                    required: spec.required,
                    max_len: spec.max_len,
                    value: value(&spec.name),
                });
            }
            let mut undeclared: Vec<&String> = record
                .submissions
                .iter()
                .filter(|s| &s.form_id == form_id)
                .flat_map(|s| s.fields.iter().map(|(n, _)| n))
                .filter(|n| !declared.iter().any(|d| &d.name == *n))
                .collect();
            undeclared.sort();
            undeclared.dedup();
            for name in undeclared {
                let value = value(name);
                held.push(HeldField {
                    form_id: form_id.clone(),
                    name: name.clone(),
                    label: name.clone(),
                    kind: FieldKind::Text,
                    required: false,
                    max_len: 1000,
                    value,
                });
            }
        }
        Ok(held)
    }

    /// Corrects declared fields (Art. 16) in every stored copy, and seals which changed. Each bad
    /// value is a field error naming the field, and nothing is written. Idempotent: values already
    /// as asked change nothing and record nothing.
    pub async fn rectify(
        &self,
        subject: &SubjectId,
        correction: &Correction,
        channel: Channel,
        ip: Option<IpAddr>,
        now: Time,
    ) -> Result<Rectified, Error> {
        let record = self.store.load_subject(subject).await?;
        if !record.holds_personal_data() {
            return Err(Error::SubjectNotFound);
        }
        let form = match self.store.load_form(&correction.form_id).await? {
            Some(stored) if record.submissions.iter().any(|s| s.form_id == correction.form_id) => stored.form,
            // A form the person never sent holds nothing of theirs to correct.
            _ => return Err(Error::field("form_id", "not_held")),
        };
        let mut errors = Vec::new();
        let mut changed = Vec::new();
        for (i, (name, value)) in correction.values.iter().enumerate() {
            let value = value.trim();
            let Some(spec) = form.field(name) else {
                errors.push(FieldError::new(name.clone(), "unknown_field"));
                continue;
            };
            if correction.values[..i].iter().any(|(n, _)| n == name) {
                errors.push(FieldError::new(name.clone(), "duplicate"));
                continue;
            }
            let checked = match value {
                "" if spec.required => Err("required"),
                "" => Ok(()),
                v => crate::intake::check_value(spec.kind, v, spec.max_len),
            };
            if let Err(code) = checked {
                errors.push(FieldError::new(name.clone(), code));
                continue;
            }
            if latest_value(&record.submissions, &form.id, name).unwrap_or("") != value {
                changed.push((name.clone(), value.to_owned()));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let names: Vec<String> = changed.iter().map(|(n, _)| n.clone()).collect();
        if changed.is_empty() {
            return Ok(Rectified { subject_id: subject.clone(), changed: names });
        }
        let corrected = corrected_submissions(&record.submissions, &form.id, &changed);
        let lang = record.profile.as_ref().map_or(Lang::Pl, |p| p.lang);
        let facts = EventFacts {
            form_id: Some(form.id.clone()),
            ip_prefix: ip.map(crate::net::truncated_prefix),
            fields: Some(names.clone()),
            ..EventFacts::new(ulid::Ulid::new().to_string(), subject.clone(), EventKind::Rectified, lang, channel, proof::to_millis(now))
        };
        self.append_events(subject, vec![facts], None, corrected, Lift::No).await?;
        tracing::info!(subject = %subject, fields = names.len(), channel = channel.as_str(), "fields rectified");
        if channel == Channel::EmailLink {
            // The person corrected what they asked to: their rectification request is answered.
            self.close_completed(subject, PrivacyRequestKind::Rectification, now).await;
        }
        Ok(Rectified { subject_id: subject.clone(), changed: names })
    }
}

/// Every stored submission of `form` with `changed` applied: each copy of a field takes its new
/// value (an empty one removes it), and a field no copy held joins the latest submission.
fn corrected_submissions(submissions: &[SubmissionContent], form: &FormId, changed: &[(String, String)]) -> Vec<SubmissionContent> {
    let latest = submissions.iter().filter(|s| &s.form_id == form).max_by_key(|s| s.at).map(|s| s.receipt_id.clone());
    let mut out: Vec<SubmissionContent> = Vec::new();
    for s in submissions.iter().filter(|s| &s.form_id == form) {
        let mut fields = s.fields.clone();
        let mut touched = false;
        for (name, value) in changed {
            let held = fields.iter().position(|(n, _)| n == name);
            match (held, value.is_empty()) {
                (Some(i), true) => {
                    fields.remove(i);
                }
                (Some(i), false) => fields[i].1 = value.clone(),
                (None, false) if latest.as_ref() == Some(&s.receipt_id) && latest_value(submissions, form, name).is_none() => {
                    fields.push((name.clone(), value.clone()))
                }
                (None, _) => continue,
            }
            touched = true;
        }
        if touched {
            out.push(SubmissionContent { fields, ..s.clone() });
        }
    }
    out
}

/// Corrections over the in-memory adapters; the page and the operator route are tested end to end
/// in `tests/integration/rectification.rs` and in Chromium.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{self, MemoryApp, fixtures::*};
    use crate::store::SubjectStore;

    /// The example form with a required name and an optional phone, and Anna's submission.
    async fn anna() -> (MemoryApp, SubjectId) {
        let app = memory::app();
        let mut input = single_opt_in_input();
        input["fields"] = serde_json::json!([
            {"name": "name", "kind": "text", "required": true, "max_len": 100, "labels": {"pl": "Imię", "en": "Name"}},
            {"name": "phone", "kind": "phone", "required": false}
        ]);
        let form = form(&app, input).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let anna = app.subject_id(&email("anna@example.pl"));
        (app, anna)
    }

    fn correction(values: &[(&str, &str)]) -> Correction {
        Correction { form_id: FormId::parse("demo").unwrap(), values: values.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect() }
    }

    #[tokio::test]
    async fn art16_a_correction_changes_every_stored_copy_and_seals_only_the_field_names() {
        let (app, anna) = anna().await;
        let held = app.held_fields(&anna, Lang::En).await.unwrap();
        let shown: Vec<_> = held.iter().map(|h| (h.name.as_str(), h.label.as_str(), h.value.as_str())).collect();
        assert_eq!(shown, [("name", "Name", "Anna"), ("phone", "phone", "")], "every field of the form, to correct or complete");

        let done = app
            .rectify(&anna, &correction(&[("name", "Anna Nowak"), ("phone", "+48 600 100 200")]), Channel::EmailLink, None, now())
            .await
            .unwrap();
        assert_eq!(done.changed, ["name", "phone"]);
        let record = app.store.load_subject(&anna).await.unwrap();
        assert_eq!(
            record.submissions[0].fields,
            [("name".to_owned(), "Anna Nowak".to_owned()), ("phone".to_owned(), "+48 600 100 200".to_owned())]
        );
        let last = record.events.iter().max_by_key(|e| e.facts.seq).unwrap();
        assert_eq!(
            (last.facts.kind, last.facts.fields.as_deref()),
            (EventKind::Rectified, Some(&["name".to_owned(), "phone".to_owned()][..]))
        );
        assert!(!serde_json::to_string(last).unwrap().contains("Nowak"), "the proof names fields, never values");
        assert!(crate::proof::verify_chain(app.keys.seals(), &anna, &record.events, record.head.as_ref()).verified);

        // The same values again change nothing and record nothing.
        let again = app.rectify(&anna, &correction(&[("name", "Anna Nowak")]), Channel::EmailLink, None, now()).await.unwrap();
        assert!(again.changed.is_empty());
        assert_eq!(app.store.load_subject(&anna).await.unwrap().events.len(), record.events.len());
    }

    #[tokio::test]
    async fn art16_a_bad_value_names_its_field_and_nothing_is_written() {
        let (app, anna) = anna().await;
        let before = app.store.load_subject(&anna).await.unwrap();
        let err = app
            .rectify(&anna, &correction(&[("name", ""), ("phone", "call me"), ("pesel", "1")]), Channel::Operator, None, now())
            .await
            .unwrap_err();
        let Error::Validation(fields) = err else { panic!("{err:?}") };
        let named: Vec<_> = fields.iter().map(|f| (f.field.as_str(), f.code)).collect();
        assert_eq!(named, [("name", "required"), ("phone", "invalid"), ("pesel", "unknown_field")]);
        let after = app.store.load_subject(&anna).await.unwrap();
        assert_eq!((after.events.len(), &after.submissions), (before.events.len(), &before.submissions));

        let other = Correction { form_id: FormId::parse("other").unwrap(), values: vec![] };
        let err = app.rectify(&anna, &other, Channel::Operator, None, now()).await.unwrap_err();
        assert!(matches!(&err, Error::Validation(f) if f[0].field == "form_id" && f[0].code == "not_held"), "{err:?}");
    }

    #[tokio::test]
    async fn art16_an_optional_field_emptied_is_removed() {
        let (app, anna) = anna().await;
        app.rectify(&anna, &correction(&[("phone", "600100200")]), Channel::Operator, None, now()).await.unwrap();
        let done = app.rectify(&anna, &correction(&[("phone", "")]), Channel::Operator, None, now()).await.unwrap();
        assert_eq!(done.changed, ["phone"]);
        let record = app.store.load_subject(&anna).await.unwrap();
        assert_eq!(record.submissions[0].fields, [("name".to_owned(), "Anna".to_owned())]);
    }
}
