//! After the register: the DPO's reasoned decisions, the authority's order, facts corrected in
//! phases, the people's own clock and the action plan, through the operator API, the report
//! draft, the deadline watch and the mailbox (docs/legal.md art33_1, art33_4, art34_3c, art34_4,
//! seed_prevent).

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, mails_to};

use crate::breaches::{breach_body, deadline_watch_run, escalate, register};

async fn entry(env: &TestEnv, id: &str, body: Value) -> (u16, Value) {
    let r = env.operator("POST", &format!("/v1/breaches/{id}/events"), Some(&body)).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn view(env: &TestEnv, id: &str) -> Value {
    env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json().await.unwrap()
}

async fn report(env: &TestEnv, id: &str, lang: &str) -> Value {
    env.operator("GET", &format!("/v1/breaches/{id}/report?lang={lang}&format=json"), None).await.json().await.unwrap()
}

fn section<'a>(report: &'a Value, id: &str) -> &'a str {
    report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .and_then(|s| s["content"].as_str())
        .unwrap_or_else(|| panic!("no {id}: {report}"))
}

fn low_band() -> Value {
    let mut body = breach_body(3);
    body["severity_inputs"] = json!({"dpc": {"category": "simple"}, "ei": 0.5, "cb": {"confidentiality": 0.25, "integrity": 0, "availability": 0, "malicious": false}});
    body
}

#[tokio::test]
async fn art33_1_a_dpo_decision_overrides_a_low_band_with_reasons_and_the_report_carries_it() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &low_band()).await;
    let id = b["id"].as_str().unwrap();
    assert_eq!((b["severity"]["band"].as_str(), b["authority_notification_required"].as_bool()), (Some("low"), Some(false)));
    assert_eq!((b["authority_basis"].as_str(), b["deadline"]["status"].as_str()), (Some("band"), Some("not_required")));
    assert!(b["severity"]["rule"].as_str().unwrap().contains("DPC = simple 1 = 1"), "each DPC step recorded: {}", b["severity"]["rule"]);

    let (status, err) = entry(&env, id, json!({"type": "authority_decision", "decision": "notify"})).await;
    assert_eq!((status, err["error"]["fields"][0]["field"].as_str()), (422, Some("justification")), "{err}");
    assert_eq!(view(&env, id).await["timeline"].as_array().unwrap().len(), 1, "nothing appended");

    let reasons = "Klienci sklepu z lekami: z listy można wnosić o zdrowiu.";
    let (status, _) = entry(&env, id, json!({"type": "authority_decision", "decision": "notify", "justification": reasons})).await;
    assert_eq!(status, 201);
    let v = view(&env, id).await;
    assert_eq!((v["authority_notification_required"].as_bool(), v["authority_basis"].as_str()), (Some(true), Some("decision")));
    assert_eq!(v["deadline"]["status"], "open", "the 72 hours run again: {v}");
    assert_eq!(v["authority_decision"]["justification"], reasons);

    let r = report(&env, id, "pl").await;
    let decisions = section(&r, "decisions");
    assert!(decisions.contains("Zgłoszenie do organu: wymagane (decyzja IOD)") && decisions.contains(reasons), "{decisions}");
    let en = report(&env, id, "en").await;
    assert!(section(&en, "decisions").contains("Notification to the authority: required (the DPO's decision)"), "{en}");

    // The other way: a medium band the DPO judges unlikely to result in a risk.
    let (status, _) =
        entry(&env, id, json!({"type": "authority_decision", "decision": "not_notify", "justification": "Dane były już publiczne."})).await;
    assert_eq!(status, 201);
    let v = view(&env, id).await;
    assert_eq!((v["authority_notification_required"].as_bool(), v["deadline"]["status"].as_str()), (Some(false), Some("not_required")));
}

#[tokio::test]
async fn enisa_a_dpc_off_the_methods_steps_needs_a_justification_and_factors_move_it_in_whole_steps() {
    let env = TestEnv::spawn().await;
    let mut tuned = breach_body(1);
    tuned["severity_inputs"]["dpc"] = json!(3.98);
    tuned["severity_inputs"]["ei"] = json!(0.5);
    let r = env.operator("POST", "/v1/breaches", Some(&tuned)).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["fields"][0]["field"], "severity_inputs.justification", "{v}");
    let mut bad = breach_body(1);
    bad["severity_inputs"]["dpc"] = json!({"category": "financial", "adjustments": [{"factor": "volume", "by": -1}]});
    let v: Value = env.operator("POST", "/v1/breaches", Some(&bad)).await.json().await.unwrap();
    assert_eq!(v["error"]["fields"][0]["field"], "severity_inputs.dpc.adjustments[0].by", "volume only raises: {v}");
    let mut method = breach_body(1);
    method["severity_inputs"]["dpc"] = json!({"category": "simple", "adjustments": [{"factor": "controller_characteristics", "by": 2}, {"factor": "public_availability", "by": -1}]});
    let b = register(&env, &method).await;
    assert_eq!(b["severity"]["score"], 2.0 * 0.75 + 1.0, "DPC 1 + 2 − 1 = 2; × EI 0.75 + CB 1");
    assert!(
        b["severity"]["rule"].as_str().unwrap().contains("DPC = simple 1 + 2 (controller_characteristics) − 1 (public_availability) = 2")
    );
}

#[tokio::test]
async fn art34_4_a_puodo_order_makes_notice_required_and_its_clock_reminds_the_contact_point_once() {
    let env = TestEnv::spawn().await;
    let mut body = breach_body(2);
    body["severity_inputs"]["ei"] = json!(0.5);
    let b = register(&env, &body).await;
    let id = b["id"].as_str().unwrap();
    assert_eq!((b["severity"]["band"].as_str(), b["subjects_notification_required"].as_bool()), (Some("medium"), Some(false)));
    assert_eq!(b["subjects"]["status"], "not_required");
    let (status, _) =
        entry(&env, id, json!({"type": "subjects_decision", "decision": "not_notify", "justification": "Ryzyko średnie."})).await;
    assert_eq!(status, 201);
    let (status, _) = entry(&env, id, json!({"type": "authority_order", "reference": "DKN.5110.1.2026"})).await;
    assert_eq!(status, 201);
    let v = view(&env, id).await;
    assert_eq!((v["subjects_notification_required"].as_bool(), v["subjects_basis"].as_str()), (Some(true), Some("order")), "{v}");
    assert_eq!((v["subjects"]["status"].as_str(), v["authority_order"].as_str()), (Some("open"), Some("DKN.5110.1.2026")));
    assert!(section(&report(&env, id, "pl").await, "decisions").contains("DKN.5110.1.2026"));

    let contact = b["contact_point"]["email"].as_str().unwrap().to_owned();
    let follow_ups = |v: Value| v["follow_ups"].as_array().unwrap().iter().filter(|f| f["breach_id"] == id).count();
    assert_eq!(follow_ups(deadline_watch_run(&env, Utc::now() + Duration::hours(23)).await), 0, "not yet a day");
    assert_eq!(follow_ups(deadline_watch_run(&env, Utc::now() + Duration::hours(25)).await), 1);
    assert_eq!(follow_ups(deadline_watch_run(&env, Utc::now() + Duration::hours(26)).await), 0, "once");
    let mails = mails_to(&contact).await;
    assert!(
        mails.iter().any(|m| m.subject() == format!("Naruszenie {id}: osoby wciąż nie zostały zawiadomione")),
        "{:?}",
        mails.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );

    let (status, _) =
        escalate(&env, id, "order-1", &json!({"subjects": {"emails": [address("osoba")]}, "message": {"pl": "Zmień hasło."}})).await;
    assert_eq!(status, 202);
    let v = view(&env, id).await;
    assert_eq!(v["subjects"]["status"], "notified", "{v}");
}

#[tokio::test]
async fn art33_4_a_facts_correction_shows_in_the_supplementary_report_with_the_earlier_reference() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(4)).await;
    let id = b["id"].as_str().unwrap();
    assert_eq!(report(&env, id, "pl").await["kind"], "initial");
    let (status, _) = entry(&env, id, json!({"type": "authority_notified", "reference": "PUODO/2026/4711"})).await;
    assert_eq!(status, 201);

    let correction =
        json!({"occurred_at": "2026-11-19T22:00:00Z", "cia": {"confidentiality": true, "integrity": true, "availability": false}});
    let (status, err) = entry(&env, id, json!({"type": "facts", "updates": correction})).await;
    assert_eq!((status, err["error"]["fields"][0]["field"].as_str()), (422, Some("reason")), "a correction says why: {err}");
    let (status, err) = entry(&env, id, json!({"type": "facts", "reason": "x", "updates": {"aware_at": "2026-11-20T00:00:00Z"}})).await;
    assert_eq!(
        (status, err["error"]["fields"][0]["field"].as_str()),
        (422, Some("updates.aware_at")),
        "the clock is not a fact to move: {err}"
    );
    let reason = "Logi serwera pokazały wcześniejszy dostęp i zmianę rekordów.";
    let (status, _) = entry(&env, id, json!({"type": "facts", "reason": reason, "updates": correction})).await;
    assert_eq!(status, 201);

    let v = view(&env, id).await;
    assert_eq!((v["occurred_at"].as_str(), v["cia"]["integrity"].as_bool()), (Some("2026-11-19T22:00:00.000Z"), Some(true)));
    assert_eq!(v["fact_history"][0]["fields"], json!(["cia", "occurred_at"]));
    assert_eq!(v["fact_history"][0]["reason"], reason);

    let r = report(&env, id, "pl").await;
    assert_eq!((r["kind"].as_str(), r["earlier_reference"].as_str()), (Some("supplementary"), Some("PUODO/2026/4711")));
    assert!(r["title"].as_str().unwrap().ends_with("uzupełnienie zgłoszenia PUODO/2026/4711"), "{}", r["title"]);
    let corrections = section(&r, "corrections");
    assert!(corrections.contains("(po zgłoszeniu): cia, occurred_at") && corrections.contains(reason), "{corrections}");
    assert!(section(&r, "nature").contains("poufność, integralność"), "the latest facts");
    assert!(section(&r, "incident_time_place").contains("2026-11-19T22:00:00.000Z"));
}

#[tokio::test]
async fn art34_3c_a_ground_c_exemption_waits_for_the_public_notice_which_search_engines_may_index() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(5)).await;
    let id = b["id"].as_str().unwrap();
    let (status, _) = entry(
        &env,
        id,
        json!({"type": "subjects_decision", "decision": "exempt", "ground": "c", "justification": "Brak adresów dla 40% osób."}),
    )
    .await;
    assert_eq!(status, 201);
    let v = view(&env, id).await;
    assert_eq!((v["subjects"]["status"].as_str(), v["subjects"]["public_notice_required"].as_bool()), (Some("open"), Some(true)), "{v}");
    let body = json!({"subjects": {"emails": [address("osoba")]}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}, "public_notice": true});
    let (status, started) = escalate(&env, id, "public-1", &body).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(view(&env, id).await["subjects"]["status"], "notified");
    let page = env.http.get(started["public_notice_url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().get("x-robots-tag").is_none());
    let html = page.text().await.unwrap();
    assert!(!html.contains("noindex"), "the public notice is meant to be found:\n{html}");
}

#[tokio::test]
async fn seed_prevent_each_action_has_a_kind_an_owner_and_a_date_and_an_overdue_one_is_reminded_once() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(6)).await;
    let id = b["id"].as_str().unwrap();
    let owner = address("wlasciciel");
    let due = (Utc::now() + Duration::days(2)).to_rfc3339();
    let action = |category: &str, kind: Option<&str>| {
        let mut a = json!({"type": "action", "category": category, "description": "Szkolenie z phishingu dla działu obsługi", "owner": owner, "due_at": due});
        if let Some(k) = kind {
            a["prevention_kind"] = json!(k);
        }
        a
    };
    let (status, err) = entry(&env, id, action("prevention", None)).await;
    assert_eq!((status, err["error"]["fields"][0]["field"].as_str()), (422, Some("prevention_kind")), "{err}");
    let (status, err) = entry(&env, id, action("containment", Some("training"))).await;
    assert_eq!((status, err["error"]["fields"][0]["code"].as_str()), (422, Some("only_for_prevention")), "{err}");
    let (status, planned) = entry(&env, id, action("prevention", Some("training"))).await;
    assert_eq!(status, 201, "{planned}");
    let action_id = planned["event_id"].as_str().unwrap().to_owned();
    let (status, _) = entry(&env, id, json!({"type": "action", "category": "containment", "description": "Zablokowano konto", "owner": owner, "due_at": Utc::now().to_rfc3339()})).await;
    assert_eq!(status, 201);
    let v = view(&env, id).await;
    let plan = v["action_plan"].as_array().unwrap();
    assert_eq!((plan.len(), plan[0]["status"].as_str(), plan[0]["prevention_kind"].as_str()), (2, Some("planned"), Some("training")));

    let (status, _) = entry(&env, id, json!({"type": "action_status", "action_id": plan[1]["action_id"], "status": "done"})).await;
    assert_eq!(status, 201);
    let overdue = |v: Value| v["follow_ups"].as_array().unwrap().iter().filter(|f| f["about"] == action_id.as_str()).count();
    assert_eq!(overdue(deadline_watch_run(&env, Utc::now() + Duration::days(1)).await), 0, "not due yet");
    let late = Utc::now() + Duration::days(3);
    assert_eq!(overdue(deadline_watch_run(&env, late).await), 1);
    assert_eq!(overdue(deadline_watch_run(&env, late + Duration::hours(1)).await), 0, "once");
    let mails = mails_to(&owner).await;
    assert_eq!(mails.len(), 1, "only the open one, to its owner: {:?}", mails.iter().map(|m| m.subject()).collect::<Vec<_>>());
    assert_eq!(mails[0].subject(), format!("Naruszenie {id}: działanie po terminie"));
    assert!(mails[0].text().contains("Szkolenie z phishingu"), "{}", mails[0].text());

    let r = report(&env, id, "en").await;
    let plan = section(&r, "action_plan");
    assert!(
        plan.contains("[prevention / training] Szkolenie z phishingu")
            && plan.contains("[containment] Zablokowano konto")
            && plan.contains(": done"),
        "{plan}"
    );
    let (status, err) = entry(&env, id, json!({"type": "action_status", "action_id": action_id, "status": "dropped"})).await;
    assert_eq!((status, err["error"]["fields"][0]["field"].as_str()), (422, Some("note")), "dropping a measure says why: {err}");
}
