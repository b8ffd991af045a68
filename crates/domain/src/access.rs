//! Access and portability (Art. 15 and 20): everything held about a person, as one structured,
//! machine-readable export with every consent event and its seal.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Time;
use crate::error::Error;
use crate::ids::PurposeId;
use crate::ids::{FormId, SubjectId};
use crate::lang::Lang;
use crate::mail::Mailer;
use crate::proof::{self, ProofReport, SealedEvent, millis, opt_millis};
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
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedProfile {
    pub email: crate::email::EmailAddress,
    pub lang: Lang,
    #[serde(with = "millis")]
    pub updated_at: Time,
}

#[derive(Debug, Clone, Serialize)]
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
        })
    }
}

/// Access over the in-memory adapters.
#[cfg(test)]
mod tests {
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
