//! The breach register as the authority may ask to see it (Art. 33(5); the seed's register: date
//! and time, the type with its category, the actions taken), with each decision and its reasons:
//! one row per breach, for a spreadsheet (CSV) or a document (Markdown). Drills are rehearsals,
//! not breaches, and are never in it.

use crate::breach::Party;
use crate::deadline::{DeadlineStatus, SubjectsStatus};
use crate::lang::Lang;
use crate::proof::format_time;
use crate::register::BreachView;
use crate::report::{decisions, plan_line, t};
use crate::severity::Band;

/// The register's columns and one row of cells per breach, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterTable {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn band(b: Band, lang: Lang) -> String {
    match b {
        Band::Low => t(lang, "niska", "low"),
        Band::Medium => t(lang, "średnia", "medium"),
        Band::High => t(lang, "wysoka", "high"),
        Band::VeryHigh => t(lang, "bardzo wysoka", "very high"),
    }
}

fn first_notification(v: &BreachView, lang: Lang) -> String {
    let d = &v.assessment.deadline;
    let to = match d.notify {
        Party::Authority => t(lang, "organ nadzorczy", "the supervisory authority"),
        Party::Controller => t(lang, "administrator", "the controller"),
    };
    match (d.status, crate::deadline::first_notification(&v.breach, &v.timeline)) {
        (DeadlineStatus::Notified | DeadlineStatus::NotifiedLate, Some(n)) => {
            let late = n.delay_reasons.as_ref().map(|r| format!("; {}: {r}", t(lang, "opóźnienie", "delay"))).unwrap_or_default();
            format!("{to}: {} ({} {}){late}", format_time(&n.notified_at), t(lang, "sygn.", "ref."), n.reference)
        }
        (DeadlineStatus::NotRequired, _) => t(lang, "niewymagane", "not required"),
        (DeadlineStatus::Late, _) => {
            format!("{to}: {} {}", t(lang, "po terminie, termin minął", "overdue, the deadline was"), format_time(&d.due_at))
        }
        _ => format!("{to}: {} {}", t(lang, "jeszcze nie, termin", "not yet, due"), format_time(&d.due_at)),
    }
}

fn people(v: &BreachView, lang: Lang) -> String {
    let s = &v.assessment.subjects;
    match (s.status, s.notified_at, s.required_since) {
        (SubjectsStatus::Notified, Some(at), _) => format!("{} {}", t(lang, "zawiadomiono", "told on"), format_time(&at)),
        (SubjectsStatus::Open, _, Some(since)) => format!("{} {}", t(lang, "wymagane od", "required since"), format_time(&since)),
        (SubjectsStatus::Open, _, None) => t(lang, "wymagane", "required"),
        _ => t(lang, "niewymagane", "not required"),
    }
}

/// The register of `views` (drills left out), oldest breach first.
pub fn table(views: &[BreachView], lang: Lang) -> RegisterTable {
    let l = |pl: &str, en: &str| t(lang, pl, en);
    let headers = vec![
        l("Lp.", "No."),
        l("Identyfikator", "Id"),
        l("Data i godzina naruszenia", "Date and time of the breach"),
        l("Stwierdzenie naruszenia", "Became aware"),
        l("Rodzaj naruszenia (naruszona cecha: opis)", "Type of breach (property breached: what)"),
        l("Kategorie danych", "Categories of data"),
        l("Kategorie i przybliżona liczba osób", "Categories and approximate number of people"),
        l("Waga (ENISA)", "Severity (ENISA)"),
        l("Zgłoszenie", "Notification"),
        l("Zawiadomienie osób", "Communication to the people"),
        l("Decyzje i uzasadnienia", "Decisions and reasons"),
        l("Podjęte działania", "Actions taken"),
        l("Korekty faktów", "Corrections of the facts"),
    ];
    let mut real: Vec<&BreachView> = views.iter().filter(|v| !v.breach.is_drill()).collect();
    real.sort_by_key(|v| (v.breach.aware_at, v.breach.id.clone()));
    let rows = real
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let b = &v.breach;
            let kinds: Vec<String> = [
                (b.cia.confidentiality, l("poufność", "confidentiality")),
                (b.cia.integrity, l("integralność", "integrity")),
                (b.cia.availability, l("dostępność", "availability")),
            ]
            .into_iter()
            .filter_map(|(hit, name)| hit.then_some(name))
            .collect();
            let count = b.approx_subjects.map(|n| format!(" ({} {n})", l("ok.", "approx."))).unwrap_or_default();
            let mut actions: Vec<String> = b.measures.iter().cloned().collect();
            actions.extend(v.action_plan.iter().map(|p| plan_line(p, lang)));
            let corrections: Vec<String> = v
                .fact_history
                .iter()
                .map(|c| format!("{}: {} — {}", format_time(&c.at), c.fields.join(", "), c.reason.as_deref().unwrap_or("")))
                .collect();
            vec![
                (i + 1).to_string(),
                b.id.to_string(),
                b.occurred_at.map_or_else(|| l("nieznana", "unknown"), |o| format_time(&o)),
                format_time(&b.aware_at),
                format!("{}: {}", kinds.join(", "), b.title),
                b.data_categories.join(", "),
                format!("{}{count}", b.subject_categories.join(", ")),
                format!("{} ({:.2})", band(b.severity.band, lang), b.severity.score),
                first_notification(v, lang),
                people(v, lang),
                // One line per duty, its reasons indented under it; no list marks, which a
                // spreadsheet would take for a formula.
                decisions(&v.assessment, lang).lines().map(|d| d.strip_prefix("- ").unwrap_or(d)).collect::<Vec<_>>().join("\n"),
                if actions.is_empty() { l("brak", "none") } else { actions.join("\n") },
                if corrections.is_empty() { l("brak", "none") } else { corrections.join("\n") },
            ]
        })
        .collect();
    RegisterTable { headers, rows }
}

/// The register as a document: a heading per breach, each column as a labelled entry.
pub fn markdown(table: &RegisterTable, lang: Lang) -> String {
    let mut out = format!(
        "# {}\n",
        t(lang, "Rejestr naruszeń ochrony danych osobowych (art. 33 ust. 5 RODO)", "Register of personal data breaches (Art. 33(5) GDPR)")
    );
    if table.rows.is_empty() {
        out += &format!("\n{}\n", t(lang, "Brak naruszeń w rejestrze.", "No breaches in the register."));
    }
    for row in &table.rows {
        out += &format!("\n## {}. {}\n\n", row[0], row[1]);
        for (h, cell) in table.headers.iter().zip(row).skip(2) {
            if !cell.contains('\n') {
                out += &format!("- **{h}**: {cell}\n");
                continue;
            }
            out += &format!("- **{h}**:\n");
            for line in cell.lines() {
                // An item of its own, or (indented in the cell) the reasons under the one before.
                match line.strip_prefix("- ") {
                    Some(item) => out += &format!("  - {item}\n"),
                    None if line.starts_with(' ') => out += &format!("    {}\n", line.trim_start()),
                    None => out += &format!("  - {line}\n"),
                }
            }
        }
    }
    out
}

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a return first) is
/// written with a leading apostrophe, so a title typed by anyone stays text (OWASP CSV injection).
fn inert(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

/// The register as CSV (RFC 4180): a header row, then one row per breach.
pub fn csv(table: &RegisterTable) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let rows = std::iter::once(&table.headers).chain(&table.rows);
    for row in rows {
        w.write_record(row.iter().map(|c| inert(c))).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 in, UTF-8 out")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breach::tests::{input, now, ops};
    use crate::ids::{BreachId, EventId};
    use crate::memory;
    use crate::register::tests::registered;
    use crate::timeline::NewEntry;
    use serde_json::json;

    /// Compares with the golden file, or rewrites it under `ZGODA_UPDATE_GOLDEN=1`.
    fn golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
        if std::env::var_os("ZGODA_UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} (ZGODA_UPDATE_GOLDEN=1 writes it)", path.display()));
        assert_eq!(actual, expected, "{name} differs from its golden file");
    }

    #[tokio::test]
    async fn seed_register_the_export_holds_time_type_actions_and_every_decision_with_reasons_and_leaves_drills_out() {
        let app = memory::app();
        registered(&app, input()).await;
        let b1 = BreachId::parse("B1").unwrap();
        let entries = [
            (
                "E1",
                json!({"type": "authority_decision", "decision": "notify", "justification": "Dane 2000 klientów w sieci; ryzyko phishingu."}),
            ),
            ("E2", json!({"type": "facts", "updates": {"approx_subjects": 1800}, "reason": "Po deduplikacji bazy."})),
            ("E3", json!({"type": "authority_notified", "reference": "DKN.5130.1.2026", "notified_at": "2026-11-21T09:00:00Z"})),
            (
                "E4",
                json!({"type": "subjects_decision", "decision": "not_notify", "justification": "Hasła nie wyciekły; adresy już publiczne."}),
            ),
            (
                "E5",
                json!({"type": "action", "category": "prevention", "prevention_kind": "training", "description": "Szkolenie z konfiguracji kopii zapasowych",
                "owner": "it@example.pl", "due_at": "2026-12-15T12:00:00Z"}),
            ),
        ];
        for (id, entry) in entries {
            let new = NewEntry { event_id: EventId::parse(id).unwrap(), breach_id: &b1, by: &ops(), at: now() };
            app.add_timeline(new, serde_json::from_value(entry).unwrap()).await.unwrap();
        }
        let mut drill = input();
        drill["title"] = json!("Ćwiczenie: zgubiony laptop");
        drill["drill"] = json!({"team": ["iod@example.pl"]});
        let parsed: crate::breach::BreachInput = crate::from_value(drill.clone()).unwrap();
        app.register_breach(BreachId::parse("B2").unwrap(), parsed, &drill, &ops(), now()).await.unwrap();
        let mut views = app.breaches(false, now()).await.unwrap().items;
        views.extend(app.breaches(true, now()).await.unwrap().items);
        assert_eq!(views.len(), 2, "the drill is there to be left out");
        for lang in Lang::ALL {
            let t = table(&views, lang);
            assert_eq!(t.rows.len(), 1);
            golden(&format!("register-{}.csv", lang.code()), &csv(&t));
            golden(&format!("register-{}.md", lang.code()), &markdown(&t, lang));
        }
        let pl = markdown(&table(&views, Lang::Pl), Lang::Pl);
        for expected in
            ["2026-11-20", "poufność", "Dane 2000 klientów", "Hasła nie wyciekły", "DKN.5130.1.2026", "szkolenie", "Po deduplikacji"]
        {
            assert!(pl.contains(expected), "{expected} in\n{pl}");
        }
    }

    #[test]
    fn a_cell_a_spreadsheet_would_run_is_kept_as_text() {
        let t = RegisterTable { headers: vec!["a".into(), "b".into()], rows: vec![vec!["=HYPERLINK(\"x\")".into(), "-1".into()]] };
        assert_eq!(csv(&t), "a,b\n\"'=HYPERLINK(\"\"x\"\")\",'-1\n");
    }
}
