//! The access page (Art. 15) and its portable copy (Art. 20): the export put into words in the
//! person's language. The page and the JSON file carry the same explanation, so a file kept or
//! taken elsewhere says what the page said.

use base64::Engine;
use serde::Serialize;
use serde_json::json;
use zgoda_domain::Time;
use zgoda_domain::access::{AccessExport, ExportedRecipient};
use zgoda_domain::controller::ControllerProfile;
use zgoda_domain::form::OwnerNotice;
use zgoda_domain::lang::Lang;
use zgoda_domain::retention::AddressNeed;

use crate::pages::{render, text, texts};

/// What the export means, in one language.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub lang: Lang,
    pub purposes: Vec<ExplainedPurpose>,
    pub recipients: Vec<String>,
    pub sources: Vec<String>,
    pub retention: Vec<String>,
    pub rights: Vec<String>,
    pub exercise: String,
    pub complaint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainedPurpose {
    pub id: String,
    pub label: String,
    pub basis: String,
    pub state: String,
    pub keeps_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balancing: Option<String>,
}

/// The JSON file: the export and its explanation.
#[derive(Debug, Serialize)]
pub struct AccessDocument<'a> {
    #[serde(flatten)]
    pub export: &'a AccessExport,
    pub explained: Explained,
}

fn date(t: &Time) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn words(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    text(lang, &format!("access.{key}"), args)
}

/// The export in words, in `lang`.
pub fn explain(export: &AccessExport, lang: Lang) -> Explained {
    let controller = export.controller.name.as_str();
    let purposes = export
        .purposes
        .iter()
        .map(|p| ExplainedPurpose {
            id: p.id.to_string(),
            label: p.labels.get(lang).unwrap_or(p.id.as_str()).to_owned(),
            basis: p.lawful_basis.map_or_else(String::new, |b| text(lang, &format!("basis_long.{}", b.as_str()), &[])),
            state: text(lang, &format!("status.{}", p.status.as_str()), &[]),
            keeps_address: match p.keeps_address {
                AddressNeed::WhileConsentLasts => words(lang, "keeps.while_consent_lasts", &[]),
                AddressNeed::Until(at) => words(lang, "keeps.until", &[("date", &date(&at))]),
                AddressNeed::NoLonger => words(lang, "keeps.no_longer", &[]),
            },
            balancing: p.balancing_note.as_ref().map(|note| words(lang, "balancing", &[("note", note)])),
        })
        .collect::<Vec<_>>();
    let mut recipients: Vec<String> = export
        .recipients
        .iter()
        .map(|r| match r {
            ExportedRecipient::FormOwners { form_name, mailboxes, copies, .. } => {
                let key = match copies {
                    OwnerNotice::Summary => "owners_summary",
                    OwnerNotice::Values => "owners_values",
                };
                words(lang, key, &[("n", &mailboxes.to_string()), ("controller", controller), ("form", form_name)])
            }
            ExportedRecipient::Audience { purpose } => {
                let label = purposes.iter().find(|p| p.id == purpose.as_str()).map_or(purpose.as_str(), |p| p.label.as_str());
                words(lang, "audience", &[("controller", controller), ("purpose", label)])
            }
            ExportedRecipient::Webhook { description, told, first_at, last_at, .. } => {
                let told = told.iter().map(|k| words(lang, &format!("told.{}", k.as_str()), &[])).collect::<Vec<_>>().join(", ");
                let (first, last) = (date(first_at), date(last_at));
                words(
                    lang,
                    "webhook",
                    &[("description", description), ("controller", controller), ("told", &told), ("first", &first), ("last", &last)],
                )
            }
        })
        .collect();
    if recipients.is_empty() {
        recipients.push(words(lang, "no_recipients", &[]));
    }
    let sources = export
        .sources
        .iter()
        .map(|s| {
            let form = s.form_name.as_deref().unwrap_or(s.form_id.as_str());
            words(lang, "source", &[("form", form), ("first", &date(&s.first_at)), ("last", &date(&s.last_at))])
        })
        .collect();
    let years = format!("{}", export.proofs_kept_days / 365);
    let retention = ["retention_address", "retention_submissions", "retention_proofs", "retention_requests"]
        .iter()
        .map(|k| words(lang, k, &[("years", &years)]))
        .collect();
    let rights = texts(lang, "access")["rights_list"]
        .as_array()
        .expect("a list of rights")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    Explained {
        lang,
        purposes,
        recipients,
        sources,
        retention,
        rights,
        exercise: words(lang, "exercise", &[("email", export.controller.email.as_str())]),
        complaint: words(lang, "complaint", &[]),
    }
}

/// The JSON file, in `lang`.
pub fn document(export: &AccessExport, lang: Lang) -> AccessDocument<'_> {
    AccessDocument { export, explained: explain(export, lang) }
}

/// The file's name: the day it was made.
pub fn file_name(export: &AccessExport) -> String {
    format!("zgoda-export-{}.json", export.exported_at.format("%Y-%m-%d"))
}

/// The page. Its download link carries the file itself (a `data:` URL): the access link works
/// once (security review M5), so there is no second request to fetch the file with.
pub fn page(export: &AccessExport, lang: Lang, controller: &ControllerProfile) -> String {
    let document = document(export, lang);
    let file = serde_json::to_vec_pretty(&document).expect("an export serialises");
    let explained = document.explained;
    let download = format!("data:application/json;base64,{}", base64::engine::general_purpose::STANDARD.encode(file));
    let submissions: Vec<_> = export
        .submissions
        .iter()
        .map(|s| {
            let source = export.sources.iter().find(|src| src.form_id == s.form_id);
            let form = source.and_then(|src| src.form_name.as_deref()).unwrap_or(s.form_id.as_str());
            let label = |name: &str| source.and_then(|src| src.field_labels.get(name)?.get(lang)).unwrap_or(name).to_owned();
            let fields: Vec<_> = s.fields.iter().map(|(name, value)| json!({"label": label(name), "value": value})).collect();
            json!({
                "heading": words(lang, "submission", &[("form", form), ("date", &date(&s.at))]),
                "kept": words(lang, "kept_until", &[("date", &date(&s.kept_until))]),
                "fields": fields,
            })
        })
        .collect();
    let proof = if export.proof.verified {
        words(lang, "proof_ok", &[])
    } else {
        words(lang, "proof_broken", &[("email", export.controller.email.as_str())])
    };
    let ctx = json!({
        "intro": words(lang, "intro", &[("controller", &controller.name), ("date", &date(&export.exported_at))]),
        "email": export.profile.as_ref().map(|p| p.email.as_str()),
        "submissions": submissions,
        "explained": explained,
        "proof": proof,
        "download": download,
        "file_name": file_name(export),
    });
    render("access.html", lang, Some(controller), ctx)
}
