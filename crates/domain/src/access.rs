//! Access and portability (Art. 15 and 20): everything held about a person, as one structured,
//! machine-readable export with every consent event and its seal, and what Art. 15(1) asks to be
//! told beside the data: each purpose with its basis and how long it keeps the address, who
//! received the data, and where it came from. The web layer puts the same export into words.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Time;
use crate::error::Error;
use crate::form::{Form, LawfulBasis, OwnerNotice};
use crate::ids::PurposeId;
use crate::ids::{FormId, SubjectId};
use crate::labels::Labels;
use crate::lang::Lang;
use crate::mail::Mailer;
use crate::proof::{self, Channel, ProofReport, SealedEvent, millis, opt_millis};
use crate::retention::{self, AddressNeed};
use crate::service::Zgoda;
use crate::service::{PurposeStatus, derive_state};
use crate::store::PrivacyRequest;
use crate::store::{Store, WorkQueue};

/// The export (`zgoda-export/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct AccessExport {
    pub format: String,
    #[serde(with = "millis")]
    pub exported_at: Time,
    pub subject_id: SubjectId,
    /// Who holds the data and where to write about it (Art. 15(1), 13(1)(a)).
    pub controller: crate::controller::ControllerProfile,
    pub profile: Option<ExportedProfile>,
    pub submissions: Vec<ExportedSubmission>,
    pub consent_state: BTreeMap<PurposeId, PurposeStatus>,
    pub events: Vec<SealedEvent>,
    pub proof: ProofReport,
    pub requests: Vec<PrivacyRequest>,
    #[serde(with = "opt_millis")]
    pub erased_at: Option<Time>,
    /// What each purpose is, on what basis, and how long it keeps the address (Art. 15(1)(a), (d)).
    pub purposes: Vec<ExportedPurpose>,
    /// Who received the data (Art. 15(1)(c)).
    pub recipients: Vec<ExportedRecipient>,
    /// Where the data came from (Art. 15(1)(g)): the person, through these forms.
    pub sources: Vec<ExportedSource>,
    /// How many days the PII-free proofs outlive the person's last event once nothing personal
    /// is held (`Settings::records_retention`).
    pub proofs_kept_days: i64,
}

/// A purpose the person's data serves now.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedPurpose {
    pub id: PurposeId,
    /// Its label in each language (the id where the form gives none).
    pub labels: Labels,
    pub lawful_basis: Option<LawfulBasis>,
    pub status: PurposeStatus,
    /// A legitimate interest's balancing test, as the form records it (Art. 13(1)(d)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balancing_note: Option<String>,
    /// How long this purpose keeps the address.
    pub keeps_address: AddressNeed,
}

/// A recipient, or category of recipients, of the person's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExportedRecipient {
    /// The controller's own mailboxes a form tells of each submission, and what that mail copies.
    /// Counted, not listed: they are the business's staff, a category of recipient.
    FormOwners { form_id: FormId, form_name: String, mailboxes: usize, copies: OwnerNotice },
    /// The mailing tool the controller exports a consent purpose's audience to, while the consent
    /// stands.
    Audience { purpose: PurposeId },
    /// A system the controller connected by webhook that was told of changes about the person
    /// (Art. 19, second sentence): named by the description the operator gave it.
    Webhook {
        endpoint_id: crate::webhooks::EndpointId,
        description: String,
        /// What it was told, in kind (never the payloads).
        told: Vec<crate::changes::ChangeKind>,
        #[serde(with = "millis")]
        first_at: Time,
        #[serde(with = "millis")]
        last_at: Time,
    },
}

/// A form the person sent data through.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedSource {
    pub form_id: FormId,
    pub form_name: Option<String>,
    /// What each of the form's fields is called, in each language.
    pub field_labels: BTreeMap<String, Labels>,
    #[serde(with = "millis")]
    pub first_at: Time,
    #[serde(with = "millis")]
    pub last_at: Time,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedProfile {
    pub email: crate::email::EmailAddress,
    pub lang: Lang,
    #[serde(with = "millis")]
    pub updated_at: Time,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ExportedSubmission {
    pub receipt_id: String,
    pub form_id: FormId,
    #[serde(with = "millis")]
    pub at: Time,
    #[serde(with = "millis")]
    pub kept_until: Time,
    /// The form's declared fields as the person filled them in: names and values are the form's
    /// own, so this is the one free-form part of the export.
    pub fields: BTreeMap<String, String>,
}

impl From<crate::store::SubmissionContent> for ExportedSubmission {
    fn from(s: crate::store::SubmissionContent) -> Self {
        ExportedSubmission {
            receipt_id: s.receipt_id,
            form_id: s.form_id,
            at: s.at,
            kept_until: s.expires_at,
            fields: s.fields.into_iter().collect(),
        }
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// Everything held about a subject, as structured JSON (Art. 15 and 20).
    pub async fn export(&self, subject: &SubjectId, now: Time) -> Result<AccessExport, Error> {
        let record = self.store.load_subject(subject).await?;
        let proof = proof::verify_chain(self.keys.seals(), subject, &record.events, record.head.as_ref());
        let mut events = record.events;
        events.sort_by_key(|e| e.facts.seq);
        let consent_state = derive_state(&events, self.settings.confirm_ttl, now);
        let mut forms = BTreeMap::new();
        for id in events.iter().filter_map(|e| e.facts.form_id.as_ref()).chain(record.submissions.iter().map(|s| &s.form_id)) {
            if !forms.contains_key(id) {
                forms.insert(id.clone(), self.store.load_form(id).await?.map(|f| f.form));
            }
        }
        let form = |id: &FormId| forms.get(id).and_then(Option::as_ref);
        let purposes = explain_purposes(&events, &consent_state, &form, self.settings.confirm_ttl);
        let mut recipients: Vec<ExportedRecipient> = forms
            .values()
            .flatten()
            .filter(|f| !f.notify.is_empty())
            .map(|f| ExportedRecipient::FormOwners {
                form_id: f.id.clone(),
                form_name: f.name.clone(),
                mailboxes: f.notify.len(),
                copies: f.owner_notice,
            })
            .collect();
        recipients.extend(
            purposes
                .iter()
                .filter(|p| p.status == PurposeStatus::Given && p.lawful_basis == Some(LawfulBasis::Consent))
                .map(|p| ExportedRecipient::Audience { purpose: p.id.clone() }),
        );
        let mut told = record.told;
        told.sort_by_key(|t| t.first_at);
        for t in told {
            // An endpoint is never deleted, only disabled: one missing (a store gone wrong) is
            // still named, by its id.
            let endpoint = self.store.load_endpoint(&t.endpoint_id).await?;
            recipients.push(ExportedRecipient::Webhook {
                description: endpoint.map_or_else(|| t.endpoint_id.to_string(), |e| e.description),
                endpoint_id: t.endpoint_id,
                told: t.kinds.into_iter().collect(),
                first_at: t.first_at,
                last_at: t.last_at,
            });
        }
        let mut sources: BTreeMap<&FormId, (Time, Time)> = BTreeMap::new();
        for e in events.iter().filter(|e| e.facts.channel == Channel::WebForm) {
            let Some(id) = &e.facts.form_id else { continue };
            let (first, last) = sources.entry(id).or_insert((e.facts.at, e.facts.at));
            (*first, *last) = ((*first).min(e.facts.at), (*last).max(e.facts.at));
        }
        let sources = sources
            .into_iter()
            .map(|(id, (first_at, last_at))| ExportedSource {
                form_id: id.clone(),
                form_name: form(id).map(|f| f.name.clone()),
                field_labels: form(id)
                    .map(|f| {
                        f.fields.iter().map(|field| (field.name.clone(), field.labels.resolved(f.default_lang, &field.name))).collect()
                    })
                    .unwrap_or_default(),
                first_at,
                last_at,
            })
            .collect();
        Ok(AccessExport {
            format: "zgoda-export/v1".into(),
            exported_at: now,
            subject_id: subject.clone(),
            controller: self.settings.controller.clone(),
            profile: record.profile.map(|p| ExportedProfile { email: p.email, lang: p.lang, updated_at: p.updated_at }),
            submissions: record.submissions.into_iter().map(ExportedSubmission::from).collect(),
            consent_state,
            events,
            proof,
            requests: record.requests,
            erased_at: record.suppressed_at,
            purposes,
            recipients,
            sources,
            proofs_kept_days: self.settings.records_retention.num_days(),
        })
    }
}

/// Each purpose the person's current state names, from the form that recorded its latest event.
fn explain_purposes<'a>(
    events: &[SealedEvent],
    state: &BTreeMap<PurposeId, PurposeStatus>,
    form: &impl Fn(&FormId) -> Option<&'a Form>,
    confirm_ttl: chrono::Duration,
) -> Vec<ExportedPurpose> {
    let retention_days = |id: &FormId| form(id).map(|f| f.retention_days);
    retention::current_events(events)
        .into_iter()
        .filter_map(|(id, current)| {
            let status = *state.get(id)?;
            let declared = current.facts.form_id.as_ref().and_then(form).and_then(|f| Some((f, f.purpose(id.as_str())?)));
            Some(ExportedPurpose {
                id: id.clone(),
                labels: declared
                    .map_or_else(Labels::default, |(_, p)| p.labels.clone())
                    .resolved(declared.map_or(Lang::Pl, |(f, _)| f.default_lang), id.as_str()),
                lawful_basis: current.facts.lawful_basis,
                status,
                balancing_note: declared.and_then(|(_, p)| p.balancing_note.clone()),
                keeps_address: retention::purpose_need(current, retention_days, confirm_ttl),
            })
        })
        .collect()
}

/// Access over the in-memory adapters.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::links::LinkOutcome;
    use crate::memory::{self, fixtures::*};
    use crate::service::PurposeStatus;
    use crate::token::LinkAction;

    #[tokio::test]
    async fn art15_the_access_link_hands_over_everything_held_once() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let issued = app.issue_link(&email("anna@example.pl"), LinkAction::Access, None, now()).await.unwrap();

        let (_, outcome) = app.act_on_link(&token(&issued.url), None, now()).await.unwrap();
        let LinkOutcome::Export(export) = outcome else { panic!("{outcome:?}") };
        assert_eq!(export.format, "zgoda-export/v1");
        assert_eq!(export.profile.as_ref().map(|p| p.email.as_str()), Some("anna@example.pl"));
        assert_eq!(export.submissions[0].fields.get("name").map(String::as_str), Some("Anna"));
        let states: Vec<_> = export.consent_state.values().copied().collect();
        assert_eq!(states, [PurposeStatus::Informed, PurposeStatus::Requested], "contact_reply, newsletter");
        assert_eq!((export.events.len(), export.proof.verified), (2, true));
        assert_eq!(export.erased_at, None);

        let again = app.act_on_link(&token(&issued.url), None, now()).await;
        assert!(matches!(again, Err(Error::LinkUsed)), "single use (security review M5): {again:?}");
    }

    #[tokio::test]
    async fn art15_the_export_says_what_each_purpose_is_how_long_it_keeps_the_address_who_received_it_and_where_it_came_from() {
        let app = memory::app();
        let mut input = single_opt_in_input();
        input["purposes"][1]["labels"] = serde_json::json!({"en": "A reply to my enquiry"});
        let form = form(&app, input).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let export = app.export(&app.subject_id(&email("anna@example.pl")), now()).await.unwrap();

        let at = export.events[0].facts.at;
        let purposes: Vec<_> = export.purposes.iter().map(|p| (p.id.as_str(), p.status, p.keeps_address)).collect();
        assert_eq!(
            purposes,
            [
                ("contact_reply", PurposeStatus::Informed, AddressNeed::Until(at + chrono::Duration::days(365))),
                ("newsletter", PurposeStatus::Given, AddressNeed::WhileConsentLasts),
            ]
        );
        assert_eq!(export.purposes[0].labels.get(Lang::En), Some("A reply to my enquiry"));
        assert_eq!(export.purposes[0].labels.get(Lang::Pl), Some("contact_reply"), "none in the default language: the id");
        assert_eq!(export.purposes[1].labels.get(Lang::Pl), Some("newsletter"), "no label: the id");
        assert_eq!(
            export.recipients,
            [
                ExportedRecipient::FormOwners {
                    form_id: form.form.id.clone(),
                    form_name: "Kontakt".into(),
                    mailboxes: 1,
                    copies: OwnerNotice::Summary
                },
                ExportedRecipient::Audience { purpose: PurposeId::parse("newsletter").unwrap() },
            ]
        );
        assert_eq!(export.sources.len(), 1);
        assert_eq!((export.sources[0].first_at, export.sources[0].last_at), (at, at));
    }

    #[tokio::test]
    async fn art20_the_export_shows_a_broken_chain_as_broken() {
        let app = memory::app();
        let form = form(&app, demo_input()).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        let subject = app.subject_id(&email("anna@example.pl"));
        // The newsletter's request (the first event) rewritten as consent given.
        app.store.tamper_event(&subject, 1, |e| e.facts.kind = crate::proof::EventKind::Given);
        let export = app.export(&subject, now()).await.unwrap();
        assert!(!export.proof.verified);
        assert_eq!(export.proof.broken_at.as_deref(), Some(export.events[0].facts.event_id.as_str()));
    }
}
