//! The Art. 33(3) notification draft, in the order of PUODO's form; every section is filled from
//! the register or marked missing. A controller's draft is addressed to the supervisory authority
//! (PUODO); a processor's to its controller (Art. 33(2)), which files its own.

use serde::{Deserialize, Serialize};

use crate::breach::{Breach, Party};
use crate::deadline::{Assessment, Basis, DeadlineStatus};
use crate::ids::BreachId;
use crate::lang::Lang;
use crate::proof::format_time;
use crate::timeline::{
    ActionCategory, ActionState, Notification, PlannedAction, PreventionKind, SubjectsDecision, TimelineEntry, TimelineEvent, action_plan,
};

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
    /// `initial`, or `supplementary` once the first notification is on record (Art. 33(4)).
    pub kind: ReportKind,
    /// A supplementary report cites the first notification's reference (PUODO's case number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier_reference: Option<String>,
    pub sections: Vec<Section>,
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Initial,
    Supplementary,
}

pub(crate) fn t(lang: Lang, pl: &str, en: &str) -> String {
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
    let notified_at = notified.map(|n| n.notified_at);
    let earlier_reference = notified.map(|n| n.reference.clone());
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
            SubjectsDecision::NotNotify { justification } => format!(
                "{}: {justification}",
                l("Nie zawiadomiono — ryzyko nie jest wysokie (art. 34 ust. 1)", "Not communicated — the risk is not high (Art. 34(1))"),
            ),
        }),
    );
    add(
        "decisions",
        "Art. 33(1), 33(5), 34(1), 34(4)",
        l("Decyzje i ich uzasadnienie", "Decisions and their reasons"),
        Some(decisions(a, lang)),
    );
    if let Some(c) = corrections(timeline, notified_at, lang) {
        add("corrections", "Art. 33(4)", l("Informacje uzupełnione lub poprawione", "Information added or corrected"), Some(c));
    }
    let plan = action_plan(timeline);
    if !plan.is_empty() {
        add(
            "action_plan",
            "Art. 33(3)(d), 32(1)(d)",
            l("Plan działań, w tym zapobiegających kolejnym naruszeniom", "Action plan, including preventing recurrence"),
            Some(plan.iter().map(|p| format!("- {}", plan_line(p, lang))).collect::<Vec<_>>().join("\n")),
        );
    }
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
    let title = match &earlier_reference {
        // Art. 33(4): a later phase is filed as a supplement to the first notification.
        Some(r) => format!("{title} — {} {r}", l("uzupełnienie zgłoszenia", "supplementing notification")),
        None => title,
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
        kind: if earlier_reference.is_some() { ReportKind::Supplementary } else { ReportKind::Initial },
        earlier_reference,
        sections,
        missing,
    }
}

/// The duties and what each rests on: the band's presumption, the DPO's reasons, the authority's order.
pub(crate) fn decisions(a: &Assessment, lang: Lang) -> String {
    let l = |pl: &str, en: &str| t(lang, pl, en);
    let yes_no = |b: bool| if b { l("wymagane", "required") } else { l("niewymagane", "not required") };
    let basis = |b: Basis| match b {
        Basis::Band => l("domniemanie z pasma ENISA", "presumed from the ENISA band"),
        Basis::Decision => l("decyzja IOD", "the DPO's decision"),
        Basis::Order => l("nakaz organu nadzorczego (art. 34 ust. 4)", "the supervisory authority's order (Art. 34(4))"),
        Basis::Instruction => l("polecenie administratora", "the controller's instruction"),
        Basis::Role => l("rola podmiotu przetwarzającego (art. 33 ust. 2)", "the processor's role (Art. 33(2))"),
    };
    let mut lines = Vec::new();
    let first = match a.deadline.notify {
        Party::Authority => l("Zgłoszenie do organu", "Notification to the authority"),
        Party::Controller => l("Powiadomienie administratora", "Notification to the controller"),
    };
    let first_required = a.authority_notification_required || a.controller_notification_required;
    lines.push(format!("- {first}: {} ({})", yes_no(first_required), basis(a.authority_basis)));
    if let Some(d) = &a.authority_decision {
        lines.push(format!("  {}: {}", l("Uzasadnienie", "Reasons"), d.justification));
    }
    lines.push(format!(
        "- {}: {} ({})",
        l("Zawiadomienie osób", "Communication to the data subjects"),
        yes_no(a.subjects_notification_required || a.subjects.public_notice_required),
        basis(a.subjects_basis)
    ));
    if let Some(r) = &a.authority_order {
        lines.push(format!("  {}: {r}", l("Sygnatura nakazu", "Order reference")));
    }
    match &a.subjects_decision {
        Some(SubjectsDecision::Notify { justification: Some(j) } | SubjectsDecision::NotNotify { justification: j }) => {
            lines.push(format!("  {}: {j}", l("Uzasadnienie", "Reasons")));
        }
        Some(SubjectsDecision::Exempt { ground, justification }) => {
            lines.push(format!("  {} {}: {justification}", l("Art. 34 ust. 3 lit.", "Art. 34(3)"), ground.letter()));
        }
        _ => {}
    }
    lines.join("\n")
}

/// Every `facts` entry: when, which fields, why; those after the first notification are what a
/// supplementary report adds.
fn corrections(timeline: &[TimelineEvent], notified_at: Option<crate::Time>, lang: Lang) -> Option<String> {
    let lines: Vec<String> = timeline
        .iter()
        .filter_map(|e| match &e.entry {
            TimelineEntry::Facts { updates, reason } => Some(format!(
                "- {}{}: {}{}",
                format_time(&e.at),
                if notified_at.is_some_and(|n| e.at > n) {
                    t(lang, " (po zgłoszeniu)", " (after the notification)")
                } else {
                    String::new()
                },
                updates.field_names().join(", "),
                reason.as_ref().map(|r| format!(" — {r}")).unwrap_or_default()
            )),
            _ => None,
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// One action of the plan on one line: what, of which kind, whose, by when, where it stands.
pub fn plan_line(p: &PlannedAction, lang: Lang) -> String {
    let kind = match (p.action.category, p.action.prevention_kind) {
        (_, Some(k)) => format!("{} / {}", label(p.action.category, lang), prevention_label(k, lang)),
        (c, None) => label(c, lang),
    };
    format!(
        "[{kind}] {} — {} {}, {} {}: {}",
        p.action.description,
        t(lang, "odpowiada", "owner"),
        p.action.owner.as_str(),
        t(lang, "termin", "due"),
        format_time(&p.action.due_at),
        status_label(p.status, lang)
    )
}

fn label(c: ActionCategory, lang: Lang) -> String {
    match c {
        ActionCategory::Containment => t(lang, "powstrzymanie", "containment"),
        ActionCategory::Mitigation => t(lang, "ograniczenie skutków", "mitigation"),
        ActionCategory::Prevention => t(lang, "zapobieganie", "prevention"),
    }
}

pub fn prevention_label(k: PreventionKind, lang: Lang) -> String {
    let (pl, en) = match k {
        PreventionKind::InternalAudit => ("audyt wewnętrzny", "internal audit"),
        PreventionKind::ExternalAudit => ("audyt zewnętrzny", "external audit"),
        PreventionKind::RiskAnalysis => ("nowa analiza ryzyka", "new risk analysis"),
        PreventionKind::Dpia => ("nowa ocena skutków (DPIA)", "new DPIA"),
        PreventionKind::Safeguards => ("dodatkowe zabezpieczenia", "more safeguards"),
        PreventionKind::Training => ("szkolenie", "training"),
        PreventionKind::OrganisationalChange => ("zmiana organizacyjna lub kadrowa", "organisational or staff change"),
        PreventionKind::ProcedureChange => ("zmiana procedury", "procedure change"),
        PreventionKind::MoreEffectiveProcedures => ("skuteczniejsze procedury", "more effective procedures"),
        PreventionKind::DisciplinarySteps => ("konsekwencje dyscyplinarne", "disciplinary steps"),
    };
    t(lang, pl, en)
}

pub fn status_label(s: ActionState, lang: Lang) -> String {
    let (pl, en) = match s {
        ActionState::Planned => ("zaplanowane", "planned"),
        ActionState::InProgress => ("w toku", "in progress"),
        ActionState::Done => ("wykonane", "done"),
        ActionState::Dropped => ("zaniechane", "dropped"),
    };
    t(lang, pl, en)
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
