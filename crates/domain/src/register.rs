//! The breach register's use cases (Art. 33(5), docs/api.md §4): register a breach, add to its
//! timeline, show one or all with the 72-hour clock, and draft the authority's report.

use serde::{Deserialize, Serialize};

use crate::breach::{Breach, BreachInput};
use crate::deadline::{self, Assessment};
use crate::error::Error;
use crate::escalation::{EscalationProgress, progress};
use crate::ids::{BreachId, EventId, OperatorId};
use crate::lang::Lang;
use crate::proof::{GENESIS_HASH, millis};
use crate::report::{self, Report};
use crate::service::{APPEND_ATTEMPTS, Zgoda};
use crate::store::{AppendError, BreachRecord, BreachStore};
use crate::timeline::{self, NewEntry, PlannedAction, TimelineEntry, TimelineEvent, TimelineInput};
use crate::{FieldError, Time};

/// A breach as the API shows it: the latest facts, what the register says it needs now, the
/// timeline with the result of re-checking its seals, and each escalation's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreachView {
    #[serde(flatten)]
    pub breach: Breach,
    /// Art. 33(1)'s 72 hours: a controller's breach only (a processor's clock is `deadline`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::proof::opt_millis")]
    pub authority_deadline: Option<Time>,
    #[serde(flatten)]
    pub assessment: Assessment,
    /// What each `facts` entry changed and why (Art. 33(4)); the breach above is the latest.
    pub fact_history: Vec<FactChange>,
    /// The action plan (seed step 6), each action at its latest status.
    pub action_plan: Vec<PlannedAction>,
    pub timeline: Vec<TimelineEvent>,
    pub timeline_proof: TimelineProof,
    /// The ids of the Art. 33(3) draft's sections still missing (see `report::draft`), so the
    /// register can say what each breach lacks without fetching every report.
    pub report_missing: Vec<String>,
    pub escalations: Vec<EscalationProgress>,
    /// A drill's record: how long each step took from the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_review: Option<DrillReview>,
}

/// What a drill shows about the procedure: the time from the report (detection) to each step,
/// and, once it ended, what the team found went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillReview {
    pub steps: Vec<DrillStep>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::proof::opt_millis")]
    pub ended_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillStep {
    /// `registered`, a timeline entry's type, or `notices_finished`.
    pub step: String,
    #[serde(with = "millis")]
    pub at: Time,
    /// Seconds from the report.
    pub after_seconds: i64,
}

/// The drill's steps in the order they happened, each timeline kind at its first occurrence.
fn drill_review(b: &Breach, timeline: &[TimelineEvent], escalations: &[EscalationProgress]) -> DrillReview {
    let mut steps: Vec<DrillStep> = Vec::new();
    let mut add = |step: String, at: Time| {
        if !steps.iter().any(|s| s.step == step) {
            steps.push(DrillStep { step, at, after_seconds: (at - b.detected_at).num_seconds() });
        }
    };
    add("registered".into(), b.registered_at);
    for e in timeline.iter().skip(1) {
        add(serde_json::to_value(e.entry.kind()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(), e.at);
    }
    if let Some(done) = escalations.iter().filter_map(|e| e.finished_at).max() {
        add("notices_finished".into(), done);
    }
    steps.sort_by_key(|s| s.at);
    let ended = timeline.iter().find_map(|e| match &e.entry {
        TimelineEntry::DrillEnded { notes } => Some((e.at, notes.clone())),
        _ => None,
    });
    DrillReview { steps, ended_at: ended.as_ref().map(|e| e.0), notes: ended.map(|e| e.1) }
}

/// One phase of the facts: when, by whom, which fields, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactChange {
    pub event_id: EventId,
    #[serde(with = "millis")]
    pub at: Time,
    pub by: OperatorId,
    pub fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn fact_history(timeline: &[TimelineEvent]) -> Vec<FactChange> {
    timeline
        .iter()
        .filter_map(|e| match &e.entry {
            TimelineEntry::Facts { updates, reason } => Some(FactChange {
                event_id: e.event_id.clone(),
                at: e.at,
                by: e.by.clone(),
                fields: updates.field_names().into_iter().map(str::to_owned).collect(),
                reason: reason.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// The timeline's seals and chain, re-checked on every read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineProof {
    pub verified: bool,
    pub entries: usize,
    pub broken_at: Option<EventId>,
}

/// Makes a timeline entry from the breach and its timeline as they stand (or says what is wrong).
pub(crate) type MakeEntry<'a> = dyn Fn(&Breach, &[TimelineEvent]) -> Result<TimelineEntry, Vec<FieldError>> + Sync + 'a;

/// The register, latest awareness first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreachList {
    pub items: Vec<BreachView>,
}

impl<S: BreachStore, M, Q> Zgoda<S, M, Q> {
    pub(crate) async fn breach_record(&self, id: &BreachId) -> Result<BreachRecord, Error> {
        self.store.load_breach(id).await?.ok_or(Error::BreachNotFound)
    }

    /// Registers a breach under `id` (Art. 33(5)) with a sealed first timeline entry holding the
    /// request as sent.
    pub async fn register_breach(
        &self,
        id: BreachId,
        input: BreachInput,
        raw: &serde_json::Value,
        operator: &OperatorId,
        now: Time,
    ) -> Result<BreachView, Error> {
        let breach = input.parse(id.clone(), operator, now).map_err(Error::Validation)?;
        let new =
            NewEntry { event_id: EventId::parse(id.as_str()).expect("a breach id is an entry id"), breach_id: &id, by: operator, at: now };
        let first = TimelineEvent::seal_new(self.keys.seals(), new, (0, GENESIS_HASH), TimelineEntry::Registered(raw.clone()));
        self.store.create_breach(&breach, &first).await?;
        tracing::info!(operator = %operator, breach = %id, band = %breach.severity.band, "breach registered");
        self.breach(&id, now).await
    }

    async fn breach_view(&self, r: BreachRecord, now: Time) -> Result<BreachView, Error> {
        let current = r.breach.as_of(&r.timeline);
        let assessment = deadline::assess(&current, &r.timeline, now);
        let verified = timeline::verify_timeline(self.keys.seals(), &r.timeline, Some((r.head.0, &r.head.1)));
        let mut escalations = Vec::with_capacity(r.escalations.len());
        for e in &r.escalations {
            escalations.push(progress(e, self.store.delivery_counts(&e.escalation_id).await?));
        }
        let drill_review = current.is_drill().then(|| drill_review(&current, &r.timeline, &escalations));
        // Which sections are missing does not depend on the draft's language.
        let report_missing = report::draft(&current, &r.timeline, &assessment, Lang::Pl, now).missing;
        Ok(BreachView {
            report_missing,
            authority_deadline: assessment.deadline.authority_deadline,
            drill_review,
            breach: current,
            assessment,
            timeline_proof: TimelineProof { verified: verified.is_ok(), entries: r.timeline.len(), broken_at: verified.err().flatten() },
            fact_history: fact_history(&r.timeline),
            action_plan: timeline::action_plan(&r.timeline),
            timeline: r.timeline,
            escalations,
        })
    }

    pub async fn breach(&self, id: &BreachId, now: Time) -> Result<BreachView, Error> {
        self.breach_view(self.breach_record(id).await?, now).await
    }

    /// The register (`drills: false`) or the drills, which are kept apart from it.
    pub async fn breaches(&self, drills: bool, now: Time) -> Result<BreachList, Error> {
        let mut all = self.store.list_breaches().await?;
        all.retain(|r| r.breach.is_drill() == drills);
        all.sort_by_key(|r| std::cmp::Reverse(r.breach.aware_at));
        let mut items = Vec::with_capacity(all.len());
        for r in all {
            items.push(self.breach_view(r, now).await?);
        }
        Ok(BreachList { items })
    }

    /// Appends an operator's entry to a breach's timeline, checked against the breach as it stands.
    pub async fn add_timeline(&self, new: NewEntry<'_>, input: TimelineInput) -> Result<TimelineEvent, Error> {
        let now = new.at;
        let event = self.append_entry(new, &|current, timeline| input.clone().parse(current, timeline, now)).await?;
        tracing::info!(operator = %event.by, breach = %event.breach_id, kind = ?event.entry.kind(), "breach timeline entry added");
        Ok(event)
    }

    /// Appends to a timeline (append-only): `entry` is made from the breach as it stands, and made
    /// again if a concurrent entry got there first.
    pub(crate) async fn append_entry(&self, new: NewEntry<'_>, entry: &MakeEntry<'_>) -> Result<TimelineEvent, Error> {
        for _ in 0..APPEND_ATTEMPTS {
            let r = self.breach_record(new.breach_id).await?;
            let current = r.breach.as_of(&r.timeline);
            let entry = entry(&current, &r.timeline).map_err(Error::Validation)?;
            let event = TimelineEvent::seal_new(self.keys.seals(), new.clone(), (r.head.0, &r.head.1), entry);
            match self.store.append_timeline(r.head.clone(), &event).await {
                Ok(()) => return Ok(event),
                Err(AppendError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Unavailable("the breach timeline kept moving".into()))
    }

    /// The Art. 33(3) notification draft, from the breach as it stands now.
    pub async fn report(&self, id: &BreachId, lang: Lang, now: Time) -> Result<Report, Error> {
        let r = self.breach_record(id).await?;
        let current = r.breach.as_of(&r.timeline);
        let assessment = deadline::assess(&current, &r.timeline, now);
        Ok(report::draft(&current, &r.timeline, &assessment, lang, now))
    }
}

/// The register's use cases over the in-memory adapters: each runs in milliseconds.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::breach::Party;
    use crate::breach::tests::{input, now, ops};
    use crate::deadline::DeadlineStatus;
    use crate::memory::{self, MemoryApp};
    use crate::severity::Band;
    use serde_json::json;

    pub(crate) async fn registered(app: &MemoryApp, body: serde_json::Value) -> BreachView {
        let input: BreachInput = crate::from_value(body.clone()).unwrap();
        app.register_breach(BreachId::parse("B1").unwrap(), input, &body, &ops(), now()).await.unwrap()
    }

    fn entry<'a>(breach_id: &'a BreachId, by: &'a OperatorId, id: &str) -> NewEntry<'a> {
        NewEntry { event_id: EventId::parse(id).unwrap(), breach_id, by, at: now() }
    }

    #[tokio::test]
    async fn art33_5_registering_answers_the_breach_with_its_clock_and_one_sealed_entry() {
        let app = memory::app();
        let view = registered(&app, input()).await;
        assert_eq!((view.breach.severity.band, view.assessment.deadline.status), (Band::High, DeadlineStatus::Open));
        assert_eq!(view.assessment.deadline.hours_left, Some(48.0));
        assert_eq!((view.timeline.len(), view.timeline_proof.verified), (1, true));
        assert_eq!(view.timeline[0].entry, TimelineEntry::Registered(input()), "the request is kept as sent");
    }

    #[tokio::test]
    async fn a_registration_with_bad_fields_writes_nothing() {
        let app = memory::app();
        let mut body = input();
        body["aware_at"] = json!("2026-11-20T09:00:00Z");
        let parsed: BreachInput = crate::from_value(body.clone()).unwrap();
        let err = app.register_breach(BreachId::parse("B1").unwrap(), parsed, &body, &ops(), now()).await.unwrap_err();
        assert!(matches!(err, Error::Validation(f) if f[0].field == "aware_at"));
        assert!(app.breaches(false, now()).await.unwrap().items.is_empty());
    }

    #[tokio::test]
    async fn art33_4_a_facts_entry_changes_what_the_view_and_the_report_say() {
        let app = memory::app();
        let id = registered(&app, input()).await.breach.id;
        let facts: TimelineInput = serde_json::from_value(json!({"type": "facts", "reason": "audyt logów", "updates": {"approx_subjects": 5000, "measures": null,
            "severity_inputs": {"dpc": 1, "ei": 0.25, "cb": {"confidentiality": 0, "integrity": 0, "availability": 0, "malicious": false}}}}))
        .unwrap();
        let e = app.add_timeline(entry(&id, &ops(), "E2"), facts).await.unwrap();
        assert_eq!(e.seq, 2);
        let view = app.breach(&id, now()).await.unwrap();
        assert_eq!((view.breach.approx_subjects, view.breach.measures.clone()), (Some(5000), None));
        assert_eq!((view.breach.severity.band, view.assessment.deadline.status), (Band::Low, DeadlineStatus::NotRequired));
        let report = app.report(&id, Lang::En, now()).await.unwrap();
        assert!(report.sections.iter().any(|s| s.id == "measures" && s.missing), "measures cleared: marked missing");
    }

    #[tokio::test]
    async fn art33_1_a_late_notification_is_refused_without_reasons_and_nothing_is_appended() {
        let app = memory::app();
        let id = registered(&app, input()).await.breach.id;
        let late: TimelineInput =
            serde_json::from_value(json!({"type": "authority_notified", "reference": "PUODO/1", "notified_at": "2026-11-23T11:00:00Z"}))
                .unwrap();
        let op = ops();
        let mut new = entry(&id, &op, "E2");
        new.at = now() + chrono::Duration::days(3);
        let err = app.add_timeline(new, late).await.unwrap_err();
        assert!(matches!(err, Error::Validation(f) if f == vec![FieldError::new("delay_reasons", "required")]));
        assert_eq!(app.breach(&id, now()).await.unwrap().timeline.len(), 1);
    }

    #[tokio::test]
    async fn art33_5_an_entry_changed_in_the_store_shows_as_broken_in_the_view() {
        let app = memory::app();
        let id = registered(&app, input()).await.breach.id;
        let measure: TimelineInput = serde_json::from_value(json!({"type": "measure", "description": "hasła zresetowane"})).unwrap();
        app.add_timeline(entry(&id, &ops(), "E2"), measure).await.unwrap();
        app.store.tamper(&id, 2, |e| e.entry = TimelineEntry::Measure { description: "nic się nie stało".into() });
        let proof = app.breach(&id, now()).await.unwrap().timeline_proof;
        assert_eq!((proof.verified, proof.broken_at), (false, EventId::parse("E2")));
    }

    #[tokio::test]
    async fn art33_3_the_report_follows_puodos_form_lists_what_is_missing_and_carries_each_measure() {
        let app = memory::app();
        let id = registered(&app, input()).await.breach.id;
        let measure: TimelineInput = serde_json::from_value(json!({"type": "measure", "description": "hasła zresetowane"})).unwrap();
        app.add_timeline(entry(&id, &ops(), "E2"), measure).await.unwrap();

        let report = app.report(&id, Lang::Pl, now()).await.unwrap();
        let order: Vec<_> = report.sections.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(order[..4], ["notifying_entity", "incident_time_place", "detection", "nature"], "PUODO's order");
        assert_eq!(report.missing, ["notifying_entity", "other_entities", "subjects_communication"]);
        let listed = app.breaches(false, now()).await.unwrap().items;
        assert_eq!(listed[0].report_missing, report.missing, "the register names what the draft lacks");
        let measures = report.sections.iter().find(|s| s.id == "measures").and_then(|s| s.content.clone()).unwrap();
        assert!(measures.starts_with("dostęp zablokowany\n- ") && measures.ends_with(" hasła zresetowane"), "{measures}");
        let detection = report.sections.iter().find(|s| s.id == "detection").and_then(|s| s.content.clone()).unwrap();
        assert!(detection.ends_with("Termin zgłoszenia: 2026-11-23T10:00:00.000Z"), "aware + 72 h: {detection}");
        let md = report.to_markdown();
        assert_eq!(md.matches("**BRAK — uzupełnij przed wysłaniem.**").count(), 3, "each missing section says so");
    }

    /// The standard input as a processor's breach, its contract giving the controller `hours`.
    pub(crate) fn as_processor(hours: u32) -> serde_json::Value {
        let mut body = input();
        body["role"] = json!("processor");
        body["processing_for"] =
            json!({"name": "Sklep Klienta sp. z o.o.", "email": "iod@klient.example.pl", "notify_within_hours": hours});
        body
    }

    fn timeline_input(v: serde_json::Value) -> TimelineInput {
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test]
    async fn art33_2_a_processors_breach_runs_the_contracts_clock_to_its_controller_never_the_authoritys() {
        let app = memory::app();
        let mut low = as_processor(24);
        low["severity_inputs"] =
            json!({"dpc": 1, "ei": 0.25, "cb": {"confidentiality": 0, "integrity": 0, "availability": 0, "malicious": false}});
        let view = registered(&app, low).await;
        let d = &view.assessment.deadline;
        assert_eq!(
            (d.notify, d.due_at, d.authority_deadline),
            (Party::Controller, view.breach.aware_at + chrono::Duration::hours(24), None)
        );
        assert_eq!(view.authority_deadline, None);
        assert_eq!(view.breach.severity.band, Band::Low);
        assert!(
            view.assessment.controller_notification_required && !view.assessment.authority_notification_required,
            "the controller hears of every breach, whatever its band; the authority from the controller, not here"
        );
        assert_eq!(d.status, DeadlineStatus::Open);
        let id = view.breach.id;
        let to_authority = timeline_input(json!({"type": "authority_notified", "reference": "PUODO/1"}));
        let err = app.add_timeline(entry(&id, &ops(), "E2"), to_authority).await.unwrap_err();
        assert!(matches!(err, Error::Validation(f) if f == vec![FieldError::new("type", "wrong_role")]));
        let told = timeline_input(json!({"type": "controller_notified", "reference": "mail 2026-11-21"}));
        app.add_timeline(entry(&id, &ops(), "E3"), told).await.unwrap();
        let view = app.breach(&id, now()).await.unwrap();
        assert_eq!(view.assessment.deadline.status, DeadlineStatus::Notified);

        let report = app.report(&id, Lang::En, now()).await.unwrap();
        assert_eq!(
            (report.addressed_to, report.authority.as_str()),
            (Party::Controller, "Sklep Klienta sp. z o.o. <iod@klient.example.pl>")
        );
        assert!(report.title.contains("to the controller"), "{}", report.title);
        let md = report.to_markdown();
        assert!(!md.contains("Prezes Urzędu") && !md.contains("biznes.gov.pl"), "a processor's draft never goes to the authority:\n{md}");
        assert!(md.contains("within the contract's term: 24 hours"), "{md}");
    }

    #[tokio::test]
    async fn art33_2_a_processors_breach_names_its_controller_and_a_term_within_72_hours() {
        let app = memory::app();
        let fields = |body: serde_json::Value| {
            let parsed: BreachInput = crate::from_value(body).unwrap();
            parsed
                .parse(BreachId::parse("B1").unwrap(), &ops(), now())
                .unwrap_err()
                .into_iter()
                .map(|f| (f.field, f.code))
                .collect::<Vec<_>>()
        };
        let mut nameless = as_processor(24);
        nameless.as_object_mut().unwrap().remove("processing_for");
        assert_eq!(fields(nameless), [("processing_for".to_owned(), "required")]);
        assert_eq!(fields(as_processor(73)), [("processing_for.notify_within_hours".to_owned(), "out_of_range")]);
        assert_eq!(fields(as_processor(0)), [("processing_for.notify_within_hours".to_owned(), "out_of_range")]);
        let mut controller = as_processor(24);
        controller["role"] = json!("controller");
        assert_eq!(fields(controller), [("processing_for".to_owned(), "not_for_controller")]);
        assert!(app.breaches(false, now()).await.unwrap().items.is_empty());
    }

    #[tokio::test]
    async fn the_register_lists_the_latest_awareness_first() {
        let app = memory::app();
        registered(&app, input()).await;
        let mut later = input();
        later["detected_at"] = json!("2026-11-21T09:00:00Z");
        later["aware_at"] = json!("2026-11-21T09:00:00Z");
        let parsed: BreachInput = crate::from_value(later.clone()).unwrap();
        app.register_breach(BreachId::parse("B2").unwrap(), parsed, &later, &ops(), now()).await.unwrap();
        let ids: Vec<String> = app.breaches(false, now()).await.unwrap().items.iter().map(|b| b.breach.id.to_string()).collect();
        assert_eq!(ids, ["B2", "B1"]);
    }
}
