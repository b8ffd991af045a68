//! The record of processing activities (Art. 30(1)) as far as zgoda knows it, in the columns of
//! PUODO's published template: one activity per purpose of each form, with its basis, the people
//! and data it concerns, who receives them, and when they are erased. What zgoda cannot know
//! (transfers outside the EEA, the business's own safeguards, a representative) is marked to be
//! filled in, never guessed.

use chrono::Duration;
use serde::Serialize;

use crate::controller::ControllerProfile;
use crate::error::Error;
use crate::form::{Form, LawfulBasis, OwnerNotice};
use crate::ids::{FormId, PurposeId};
use crate::lang::Lang;
use crate::processors::Processor;
use crate::report::t;
use crate::service::Zgoda;
use crate::store::{FormStore, ProcessorStore};

/// What the record says where the business must add what zgoda cannot know.
pub fn to_fill_in(lang: Lang) -> String {
    t(lang, "[do uzupełnienia]", "[to fill in]")
}

/// The whole record: who keeps it and each activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    pub lang: Lang,
    pub controller: ControllerPart,
    pub activities: Vec<Activity>,
}

/// Art. 30(1)(a): the controller, its representative and its DPO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControllerPart {
    pub name: String,
    pub address: String,
    pub email: String,
    pub dpo: String,
    pub joint_controller: String,
    pub representative: String,
}

/// One processing activity: a row of the template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Activity {
    pub form_id: FormId,
    pub purpose_id: PurposeId,
    pub name: String,
    pub purpose: String,
    pub lawful_basis: String,
    pub subject_categories: String,
    pub data_categories: Vec<String>,
    pub recipients: Vec<String>,
    pub third_country_transfers: String,
    pub erasure: String,
    pub security_measures: String,
}

/// How long zgoda keeps what it must, for the erasure column.
#[derive(Debug, Clone, Copy)]
pub struct Keeping {
    /// How long a consent request waits for its confirmation.
    pub confirm_ttl: Duration,
    /// How long the pseudonymised proof of a consent is kept after its last event.
    pub records_retention: Duration,
}

fn basis(b: LawfulBasis, lang: Lang) -> String {
    match b {
        LawfulBasis::Consent => t(lang, "art. 6 ust. 1 lit. a RODO (zgoda)", "Art. 6(1)(a) GDPR (consent)"),
        LawfulBasis::Contract => t(
            lang,
            "art. 6 ust. 1 lit. b RODO (umowa lub działania przed jej zawarciem)",
            "Art. 6(1)(b) GDPR (contract or steps before it)",
        ),
        LawfulBasis::LegalObligation => t(lang, "art. 6 ust. 1 lit. c RODO (obowiązek prawny)", "Art. 6(1)(c) GDPR (legal obligation)"),
        LawfulBasis::LegitimateInterest => {
            t(lang, "art. 6 ust. 1 lit. f RODO (prawnie uzasadniony interes)", "Art. 6(1)(f) GDPR (legitimate interest)")
        }
    }
}

/// A period as people say it: whole years (leap days included), else days, else hours.
fn period(d: Duration, lang: Lang) -> String {
    let n = d.num_days();
    let (years, spare) = (n / 365, n % 365);
    if years >= 1 && spare <= years / 4 + 1 {
        let word = match (lang, years) {
            (Lang::En, 1) => "year",
            (Lang::En, _) => "years",
            (Lang::Pl, 1) => "rok",
            // Polish: 2–4 lata, 5–21 lat, 22–24 lata…
            (Lang::Pl, y) if (2..=4).contains(&(y % 10)) && !(12..=14).contains(&(y % 100)) => "lata",
            (Lang::Pl, _) => "lat",
        };
        return format!("{years} {word}");
    }
    match n {
        1 => t(lang, "1 dzień", "1 day"),
        n if n > 1 => format!("{n} {}", t(lang, "dni", "days")),
        _ => format!("{} h", d.num_hours()),
    }
}

/// The safeguards zgoda itself applies (Art. 32(1)), beside which the business lists its own.
fn security(lang: Lang) -> String {
    t(
        lang,
        "W zgoda: identyfikatory osób jako skróty z kluczem (pseudonimizacja); tabela szyfrowana kluczem KMS; klucze w AWS Secrets Manager, \
         każda funkcja czyta tylko swoje; podpisane linki z terminem ważności; zapieczętowany, łańcuchowy zapis zdarzeń; żadnych danych osobowych w logach; TLS. ",
        "In zgoda: people's ids are keyed hashes (pseudonymisation); the table is encrypted with a KMS key; keys in AWS Secrets Manager, \
         each function reads only its own; signed, expiring links; a sealed, chained event log; no personal data in logs; TLS. ",
    ) + &t(lang, "Pozostałe środki administratora: ", "The controller's other measures: ")
        + &to_fill_in(lang)
}

/// The record from the forms zgoda serves and the processors it knows of.
pub fn record(controller: &ControllerProfile, forms: &[Form], processors: &[Processor], keeping: Keeping, lang: Lang) -> Record {
    let fill = to_fill_in(lang);
    let controller = ControllerPart {
        name: controller.name.clone(),
        address: controller.address.clone(),
        email: controller.email.as_str().to_owned(),
        dpo: controller.dpo_email.as_ref().map_or_else(|| t(lang, "nie wyznaczono", "none appointed"), |e| e.as_str().to_owned()),
        joint_controller: fill.clone(),
        representative: fill.clone(),
    };
    let mut activities = Vec::new();
    for form in forms {
        for p in &form.purposes {
            let label = p.labels.in_lang(lang, form.default_lang, p.id.as_str()).to_owned();
            let mut data = vec![t(lang, "adres e-mail", "e-mail address"), t(lang, "język korespondencji", "language of correspondence")];
            data.extend(form.fields.iter().map(|f| f.labels.in_lang(lang, form.default_lang, &f.name).to_owned()));
            data.push(t(
                lang,
                "dowód zgody lub informacji: wersja klauzuli, czas, kanał (zapis pseudonimizowany)",
                "proof of the consent or notice: notice version, time, channel (pseudonymised record)",
            ));
            let mut recipients = Vec::new();
            // A summary notice carries no address and no value, so only a copy makes staff recipients.
            if form.owner_notice == OwnerNotice::Values && !form.notify.is_empty() {
                let staff: Vec<&str> = form.notify.iter().map(|e| e.as_str()).collect();
                recipients.push(format!(
                    "{}: {}",
                    t(
                        lang,
                        "upoważnieni pracownicy administratora (kopie zgłoszeń)",
                        "the controller's authorised staff (copies of submissions)"
                    ),
                    staff.join(", ")
                ));
            }
            for proc in processors.iter().filter(|x| x.purposes.contains(&p.id)) {
                recipients.push(format!("{} ({}): {}", proc.name, t(lang, "podmiot przetwarzający", "processor"), proc.processes));
            }
            recipients.push(t(
                lang,
                "Amazon Web Services EMEA SARL (podmiot przetwarzający: hosting zgoda)",
                "Amazon Web Services EMEA SARL (processor: hosting zgoda)",
            ));
            if p.lawful_basis == LawfulBasis::Consent && p.direct_marketing {
                recipients.push(format!(
                    "{}: {fill}",
                    t(lang, "narzędzie do wysyłki, do którego eksportowana jest lista", "the mailing tool the audience is exported to")
                ));
            }
            let address = match p.lawful_basis {
                LawfulBasis::Consent => format!(
                    "{} {}",
                    t(
                        lang,
                        "adres do wycofania zgody; niepotwierdzona prośba po",
                        "the address until the consent is withdrawn; an unconfirmed request after"
                    ),
                    period(keeping.confirm_ttl, lang),
                ),
                _ => format!(
                    "{} {}",
                    period(Duration::days(form.retention_days.into()), lang),
                    t(lang, "od zgłoszenia", "from the submission"),
                ),
            };
            let erasure = format!(
                "{address}; {} {} {}",
                t(lang, "dowód zgody lub informacji (pseudonimizowany):", "the proof of the consent or notice (pseudonymised):"),
                period(keeping.records_retention, lang),
                t(lang, "od ostatniego zdarzenia", "after the last event"),
            );
            activities.push(Activity {
                form_id: form.id.clone(),
                purpose_id: p.id.clone(),
                name: format!("{}: {label}", form.name),
                purpose: label,
                lawful_basis: basis(p.lawful_basis, lang),
                subject_categories: match lang {
                    Lang::Pl => format!("osoby wysyłające formularz „{}”", form.name),
                    Lang::En => format!("people who send the form “{}”", form.name),
                },
                data_categories: data,
                recipients,
                third_country_transfers: fill.clone(),
                erasure,
                security_measures: security(lang),
            });
        }
    }
    Record { lang, controller, activities }
}

impl<S: FormStore + ProcessorStore, M, Q> Zgoda<S, M, Q> {
    /// The record of processing as zgoda knows it now.
    pub async fn records(&self, lang: Lang) -> Result<Record, Error> {
        let forms = self.store.list_forms().await?;
        let processors = self.store.list_processors().await?;
        let keeping = Keeping { confirm_ttl: self.settings.confirm_ttl, records_retention: self.settings.records_retention };
        Ok(record(&self.settings.controller, &forms, &processors, keeping, lang))
    }
}

/// A table cell: one line, with its own line breaks and pipes kept from breaking the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

/// The record as a document in the template's layout: the controller's part, then the table.
pub fn markdown(r: &Record) -> String {
    let lang = r.lang;
    let l = |pl: &str, en: &str| t(lang, pl, en);
    let c = &r.controller;
    let mut out = format!(
        "# {}\n\n",
        l("Rejestr czynności przetwarzania (art. 30 ust. 1 RODO)", "Record of processing activities (Art. 30(1) GDPR)")
    );
    out += &format!("## {}\n\n", l("Administrator", "Controller"));
    let rows = [
        (l("Nazwa", "Name"), c.name.clone()),
        (l("Adres", "Address"), c.address.clone()),
        (l("Kontakt", "Contact"), c.email.clone()),
        (l("Inspektor ochrony danych", "Data protection officer"), c.dpo.clone()),
        (l("Współadministrator", "Joint controller"), c.joint_controller.clone()),
        (l("Przedstawiciel", "Representative"), c.representative.clone()),
    ];
    for (k, v) in rows {
        out += &format!("- {k}: {v}\n");
    }
    out += &format!("\n## {}\n\n", l("Czynności przetwarzania", "Processing activities"));
    let headers = [
        l("Lp.", "No."),
        l("Nazwa czynności", "Activity"),
        l("Cel przetwarzania", "Purpose"),
        l("Podstawa prawna", "Lawful basis"),
        l("Kategorie osób", "Categories of people"),
        l("Kategorie danych", "Categories of data"),
        l("Kategorie odbiorców", "Categories of recipients"),
        l("Przekazanie do państwa trzeciego", "Transfers to a third country"),
        l("Planowany termin usunięcia", "Time limits for erasure"),
        l("Środki bezpieczeństwa (art. 32 ust. 1)", "Security measures (Art. 32(1))"),
    ];
    out += &format!("| {} |\n", headers.join(" | "));
    out += &format!("|{}\n", "---|".repeat(headers.len()));
    for (i, a) in r.activities.iter().enumerate() {
        let cells = [
            (i + 1).to_string(),
            a.name.clone(),
            a.purpose.clone(),
            a.lawful_basis.clone(),
            a.subject_categories.clone(),
            a.data_categories.join("; "),
            a.recipients.join("\n"),
            a.third_country_transfers.clone(),
            a.erasure.clone(),
            a.security_measures.clone(),
        ];
        out += &format!("| {} |\n", cells.iter().map(|s| cell(s)).collect::<Vec<_>>().join(" | "));
    }
    out += &format!(
        "\n{}\n",
        l(
            "Wygenerowano z formularzy i podmiotów przetwarzających znanych zgoda. Czynności przetwarzania poza zgoda dopisz sam.",
            "Generated from the forms and processors zgoda knows of. Add the processing that happens outside zgoda yourself."
        )
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn art30_periods_read_as_people_say_them() {
        let cases = [
            (2192, Lang::Pl, "6 lat"),
            (365, Lang::Pl, "1 rok"),
            (730, Lang::Pl, "2 lata"),
            (2192, Lang::En, "6 years"),
            (7, Lang::Pl, "7 dni"),
        ];
        for (days, lang, said) in cases {
            assert_eq!(period(Duration::days(days), lang), said);
        }
    }
}
