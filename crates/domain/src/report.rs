//! The Art. 33(3) notification draft, in the order of PUODO's form; every section is filled from
//! the register or marked missing. A controller's draft is addressed to the supervisory authority
//! (PUODO); a processor's to its controller (Art. 33(2)), which files its own.

use serde::{Deserialize, Serialize};

use crate::breach::{Breach, Party};
use crate::deadline::{Assessment, DeadlineStatus};
use crate::ids::BreachId;
use crate::lang::Lang;
use crate::proof::format_time;
use crate::timeline::{Notification, SubjectsDecision, TimelineEntry, TimelineEvent};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    /// The GDPR provision or PUODO form item it answers.
    pub answers: String,
    pub title: String,
    pub content: Option<String>,
    pub missing: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub breach_id: BreachId,
    pub lang: Lang,
    pub title: String,
    /// Who the draft is addressed to: the authority, or a processor's controller.
    pub authority: String,
    /// `authority` or `controller`.
    pub addressed_to: Party,
    /// A drill's draft, never to be filed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drill: bool,
    pub generated_at: String,
    pub sections: Vec<Section>,
    pub missing: Vec<String>,
}

fn t(lang: Lang, pl: &str, en: &str) -> String {
    match lang {
        Lang::Pl => pl.to_owned(),
        Lang::En => en.to_owned(),
    }
}

fn join(parts: Vec<Option<String>>) -> Option<String> {
    let parts: Vec<String> = parts.into_iter().flatten().filter(|s| !s.trim().is_empty()).collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn list(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| items.join(", "))
}

/// Builds the draft from the breach as of its latest `facts`, its timeline and assessment.
pub fn draft(b: &Breach, timeline: &[TimelineEvent], a: &Assessment, lang: Lang, now: crate::Time) -> Report {
    let l = |pl: &str, en: &str| t(lang, pl, en);
    let mut sections = Vec::new();
    let mut add = |id: &'static str, answers: &'static str, title: String, content: Option<String>| {
        sections.push(Section { id: id.to_owned(), answers: answers.to_owned(), title, missing: content.is_none(), content });
    };
    let role = match b.role {
        crate::breach::Role::Controller => l("administrator danych", "controller"),
        crate::breach::Role::Processor => l("podmiot przetwarzający", "processor"),
    };
    add(
        "notifying_entity",
        "PUODO 1",
        l("Podmiot zgłaszający", "Notifying entity"),
        b.controller.as_ref().map(|c| {
            let mut s = format!("{} ({role})", c.name);
            if let Some(seat) = &c.seat {
                s.push_str(&format!("\n{}: {seat}", l("Siedziba", "Seat")));
            }
            if let Some(r) = &c.responsible {
                s.push_str(&format!("\n{}: {r}", l("Osoby odpowiedzialne", "Responsible people")));
            }
            s
        }),
    );
    add(
        "incident_time_place",
        "PUODO 2",
        l("Data, godzina i miejsce naruszenia", "Date, hour and place of the breach"),
        match (b.occurred_at, &b.place) {
            (None, None) => None,
            (o, p) => join(vec![o.map(|o| format_time(&o)), p.clone()]),
        },
    );
    add(
        "detection",
        "Art. 33(1); PUODO 3",
        l("Stwierdzenie naruszenia", "Detection and awareness"),
        Some(format!(
            "{}: {}\n{}: {}{}\n{}: {}",
            l("Wykryto", "Detected"),
            format_time(&b.detected_at),
            l("Stwierdzono (początek 72 h)", "Became aware (72 h start)"),
            format_time(&b.aware_at),
            b.aware_justification.as_ref().map(|j| format!(" — {j}")).unwrap_or_default(),
            match a.deadline.notify {
                Party::Authority => l("Termin zgłoszenia", "Notification deadline"),
                Party::Controller => l("Termin powiadomienia administratora (umowa)", "Deadline to tell the controller (contract)"),
            },
            format_time(&a.deadline.due_at),
        )),
    );
    let cia = [
        ("poufność", "confidentiality", b.cia.confidentiality),
        ("integralność", "integrity", b.cia.integrity),
        ("dostępność", "availability", b.cia.availability),
    ]
    .iter()
    .filter(|(_, _, on)| *on)
    .map(|(pl, en, _)| l(pl, en))
    .collect::<Vec<_>>()
    .join(", ");
    add(
        "nature",
        "Art. 33(3)(a); PUODO 4",
        l("Charakter naruszenia, przebieg i przyczyny", "Nature of the breach, its course and causes"),
        join(vec![Some(b.nature.clone()), Some(format!("{}: {cia}", l("Utracono", "Lost"))), b.causes.clone()]),
    );
    add("other_entities", "PUODO 5", l("Inne podmioty zaangażowane", "Other entities involved"), b.other_entities.clone());
    add(
        "data",
        "Art. 33(3)(a)",
        l("Kategorie i przybliżona liczba wpisów danych", "Categories and approximate number of personal data records"),
        match (list(&b.data_categories), b.approx_records) {
            (None, _) => None,
            (Some(c), n) => Some(format!("{c}{}", n.map(|n| format!("\n{}: ~{n}", l("Liczba wpisów", "Records"))).unwrap_or_default())),
        },
    );
    add(
        "subjects",
        "Art. 33(3)(a)",
        l("Kategorie i przybliżona liczba osób", "Categories and approximate number of data subjects"),
        match (list(&b.subject_categories), b.approx_subjects) {
            (None, _) => None,
            (Some(c), n) => Some(format!("{c}{}", n.map(|n| format!("\n{}: ~{n}", l("Liczba osób", "Subjects"))).unwrap_or_default())),
        },
    );
    add(
        "contact_point",
        "Art. 33(3)(b)",
        l("Inspektor ochrony danych lub punkt kontaktowy", "Data protection officer or contact point"),
        Some(format!(
            "{} <{}>{}",
            b.contact_point.name,
            b.contact_point.email.as_str(),
            b.contact_point.phone.as_ref().map(|p| format!(", {p}")).unwrap_or_default()
        )),
    );
    add(
        "consequences",
        "Art. 33(3)(c)",
        l("Możliwe konsekwencje naruszenia", "Likely consequences of the breach"),
        b.likely_consequences.clone(),
    );
    let taken: Vec<Option<String>> = timeline
        .iter()
        .filter_map(|e| match &e.entry {
            TimelineEntry::Measure { description } => Some(Some(format!("- {} {description}", format_time(&e.at)))),
            _ => None,
        })
        .collect();
    add(
        "measures",
        "Art. 33(3)(d)",
        l("Środki zastosowane lub proponowane", "Measures taken or proposed"),
        join(std::iter::once(b.measures.clone()).chain(taken).collect()),
    );
    add(
        "severity",
        "EDPB 9/2022; ENISA",
        l("Ocena ryzyka (metoda ENISA)", "Risk assessment (ENISA method)"),
        Some(format!("SE = {} ({}). {}", b.severity.score, b.severity.band, b.severity.rule)),
    );
    let notified = timeline.iter().find_map(|e| match (&e.entry, a.deadline.notify) {
        (TimelineEntry::AuthorityNotified(n), Party::Authority) | (TimelineEntry::ControllerNotified(n), Party::Controller) => Some(n),
        _ => None,
    });
    let on_time = match (a.deadline.notify, &b.processing_for) {
        (Party::Controller, Some(p)) => format!(
            "{} {} {}.",
            l("Powiadomienie administratora w terminie umownym:", "The controller told within the contract's term:"),
            p.notify_within_hours,
            l("godz.", "hours")
        ),
        _ => l("Zgłoszenie w terminie 72 godzin.", "Notified within 72 hours."),
    };
    let delay = match (a.deadline.status, notified) {
        (DeadlineStatus::Late, _) => None,
        (_, Some(Notification { late: true, delay_reasons, .. })) => delay_reasons.clone(),
        _ => Some(on_time),
    };
    add("timing", "Art. 33(1)", l("Termin zgłoszenia i przyczyny opóźnienia", "Timing and reasons for any delay"), delay);
    let decision = timeline.iter().rev().find_map(|e| match &e.entry {
        TimelineEntry::SubjectsDecision(d) => Some(d),
        _ => None,
    });
    add(
        "subjects_communication",
        "Art. 34",
        l("Zawiadomienie osób, których dane dotyczą", "Communication to the data subjects"),
        decision.map(|d| match d {
            SubjectsDecision::Exempt { ground, justification } => format!(
                "{} art. 34 ust. 3 lit. {}: {justification}",
                l("Odstąpiono na podstawie", "Not communicated under"),
                ground.letter(),
            ),
            SubjectsDecision::Notify { .. } => {
                l("Osoby zostaną lub zostały zawiadomione.", "The data subjects are being or have been informed.")
            }
        }),
    );
    let missing = sections.iter().filter(|s| s.missing).map(|s| s.id.clone()).collect();
    let (title, authority) = match (&b.processing_for, a.deadline.notify) {
        (Some(p), Party::Controller) => (
            l(
                "Powiadomienie administratora o naruszeniu ochrony danych osobowych (art. 33 ust. 2 RODO) — projekt",
                "Personal data breach notification to the controller (Art. 33(2) GDPR) — draft",
            ),
            format!("{} <{}>", p.name, p.email.as_str()),
        ),
        _ => (
            l("Zgłoszenie naruszenia ochrony danych osobowych — projekt", "Personal data breach notification — draft"),
            "Prezes Urzędu Ochrony Danych Osobowych (PUODO)".into(),
        ),
    };
    let title = if b.is_drill() { format!("{} {title}", l("[ĆWICZENIA]", "[DRILL]")) } else { title };
    Report {
        breach_id: b.id.clone(),
        lang,
        title,
        authority,
        addressed_to: a.deadline.notify,
        drill: b.is_drill(),
        generated_at: format_time(&now),
        sections,
        missing,
    }
}

impl Report {
    pub fn to_markdown(&self) -> String {
        let missing = t(self.lang, "**BRAK — uzupełnij przed wysłaniem.**", "**MISSING — complete before filing.**");
        let mut md = format!("# {}\n\n", self.title);
        if self.drill {
            md.push_str(&t(
                self.lang,
                "> **ĆWICZENIA** — projekt z ćwiczeń procedury; nie składać.\n\n",
                "> **DRILL** — a draft from a practice run of the procedure; do not file.\n\n",
            ));
        }
        let addressee = match self.addressed_to {
            Party::Authority => t(self.lang, "Organ", "Authority"),
            Party::Controller => t(self.lang, "Administrator", "Controller"),
        };
        md.push_str(&format!(
            "{}: {}  \n{}: {}  \n{}: {}\n\n",
            addressee,
            self.authority,
            t(self.lang, "Naruszenie", "Breach"),
            self.breach_id,
            t(self.lang, "Wygenerowano", "Generated"),
            self.generated_at
        ));
        for (i, s) in self.sections.iter().enumerate() {
            md.push_str(&format!("## {}. {} ({})\n\n{}\n\n", i + 1, s.title, s.answers, s.content.as_deref().unwrap_or(&missing)));
        }
        md.push_str(&match self.addressed_to {
            Party::Controller => t(
                self.lang,
                "_Projekt przygotowany przez zgoda. Wyślij go administratorowi, na adres wskazany w umowie powierzenia; zgłoszenie do PUODO składa administrator._\n",
                "_Draft prepared by zgoda. Send it to the controller at the address the processing agreement names; the controller files with the authority._\n",
            ),
            Party::Authority => t(
            self.lang,
            "_Projekt przygotowany przez zgoda. Zgłoszenie składa się na biznes.gov.pl (podpis kwalifikowany lub Profil Zaufany) albo przez ePUAP._\n",
            "_Draft prepared by zgoda. File it on biznes.gov.pl (qualified e-signature or Profil Zaufany) or through ePUAP._\n",
        ),
        });
        md
    }
}
