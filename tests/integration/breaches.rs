//! Breaches (docs/api.md §4): register, timeline, report, deadline watch and escalation, through the
//! operator API, the notifier and the emulator's queue and mailbox.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

pub(crate) fn breach_body(aware_hours_ago: i64) -> Value {
    let aware = (Utc::now() - chrono::Duration::hours(aware_hours_ago)).to_rfc3339();
    json!({
        "title": "Wyciek bazy newslettera", "nature": "Kopia bazy adresów była publicznie dostępna przez 2 dni.",
        "cia": {"confidentiality": true, "integrity": false, "availability": false},
        "occurred_at": aware, "detected_at": aware, "aware_at": aware,
        "data_categories": ["adres e-mail", "imię"], "subject_categories": ["subskrybenci"],
        "approx_subjects": 2000, "approx_records": 2000,
        "likely_consequences": "Możliwe wiadomości phishingowe podszywające się pod sklep.",
        "measures": "Usunięto kopię, zmieniono klucze dostępu.",
        "contact_point": {"name": "IOD Anna Nowak", "email": address("iod"), "phone": "+48 22 000 00 00"},
        "role": "controller",
        "severity_inputs": {"dpc": 3, "ei": 0.75, "cb": {"confidentiality": 0.5, "integrity": 0, "availability": 0, "malicious": true}}
    })
}

pub(crate) async fn register(env: &TestEnv, body: &Value) -> Value {
    let resp = env.operator("POST", "/v1/breaches", Some(body)).await;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v
}

pub(crate) async fn escalate(env: &TestEnv, id: &str, key: &str, body: &Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let path = format!("/v1/breaches/{id}/escalations");
    let auth = env.sign_idempotent("POST", &path, &bytes, env.next_ts(), Some(key));
    let resp = env
        .http
        .post(format!("{}{path}", env.url))
        .header("authorization", auth)
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if status >= 500 {
        // Say which dependency failed: the detail is in the server's log, not the response.
        let logs = String::from_utf8_lossy(&zgoda_tests::captured_logs().lock().unwrap()).into_owned();
        eprintln!("{}", logs.lines().rfind(|l| l.contains("dependency failed")).unwrap_or(""));
    }
    (status, resp.json().await.unwrap())
}

/// A breach registered `aware_hours_ago` ([`breach_body`]) and escalated under `key` to `emails`,
/// with a message in both languages: the breach's id and the escalation's.
pub(crate) async fn escalated_to(env: &TestEnv, aware_hours_ago: i64, key: &str, emails: &[impl serde::Serialize]) -> (String, String) {
    let id = register(env, &breach_body(aware_hours_ago)).await["id"].as_str().unwrap().to_owned();
    let body = json!({"subjects": {"emails": emails}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}});
    let (status, answer) = escalate(env, &id, key, &body).await;
    assert_eq!(status, 202, "{answer}");
    let esc = answer["escalation_id"].as_str().unwrap().to_owned();
    (id, esc)
}

pub(crate) async fn progress(env: &TestEnv, id: &str, esc: &str) -> Value {
    env.operator("GET", &format!("/v1/breaches/{id}/escalations/{esc}"), None).await.json().await.unwrap()
}

pub(crate) async fn wait_finished(env: &TestEnv, id: &str, esc: &str, limit: Duration) -> Value {
    let start = Instant::now();
    loop {
        let p = progress(env, id, esc).await;
        if p["pending"] == 0 {
            return p;
        }
        assert!(start.elapsed() < limit, "escalation did not finish: {p}");
        // Each progress read counts the whole outbox; reading it less often leaves the emulator to the notifier.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// One scheduled run of the deadline watch at `at` (the sample event, its time set), as the
/// schedule would start it; how many reminders it sent.
pub(crate) async fn run_deadline_watch(env: &TestEnv, at: chrono::DateTime<Utc>) -> usize {
    deadline_watch_run(env, at).await["reminders"].as_array().unwrap().len()
}

/// One scheduled run of the deadline watch at `at`: everything it answered.
pub(crate) async fn deadline_watch_run(env: &TestEnv, at: chrono::DateTime<Utc>) -> Value {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/deadline-watch/schedule.json")).unwrap(),
    )
    .unwrap();
    event["time"] = json!(at.to_rfc3339());
    let event = serde_json::from_value(event).unwrap();
    deadline_watch::handle_app(&env.local.apps.deadline_watch, event).await.unwrap()
}

/// Every mail the emulator holds, grouped by recipient (one read of its state).
pub(crate) async fn all_mails() -> HashMap<String, Vec<zgoda_tests::Mail>> {
    let mut out: HashMap<String, Vec<zgoda_tests::Mail>> = HashMap::new();
    for m in zgoda_tests::all_mails().await {
        for to in &m.to {
            out.entry(to.clone()).or_default().push(m.clone());
        }
    }
    out
}

#[tokio::test]
async fn enisa_registration_answers_severity_deadline_and_what_is_required() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(10)).await;
    assert_eq!(b["severity"]["band"], "high");
    assert_eq!(b["severity"]["score"], 3.25);
    assert!(b["severity"]["rule"].as_str().unwrap().starts_with("ENISA 2013"));
    assert_eq!(b["authority_notification_required"], true);
    assert_eq!(b["subjects_notification_required"], true);
    let aware = chrono::DateTime::parse_from_rfc3339(b["aware_at"].as_str().unwrap()).unwrap();
    let deadline = chrono::DateTime::parse_from_rfc3339(b["authority_deadline"].as_str().unwrap()).unwrap();
    assert_eq!((deadline - aware).num_seconds(), 72 * 3600);
    assert_eq!(b["deadline"]["status"], "open");
    let left = b["deadline"]["seconds_left"].as_i64().unwrap();
    assert!((61 * 3600..=62 * 3600).contains(&left), "{left}");
    assert_eq!(b["timeline"][0]["type"], "registered");

    let mut unknown = breach_body(1);
    unknown["severity_inputs"] =
        json!({"dpc": "unknown", "ei": [0.25, 0.5], "cb": {"confidentiality": 0, "integrity": 0, "availability": 0, "malicious": false}});
    let u = register(&env, &unknown).await;
    assert_eq!((u["severity"]["score"].as_f64(), u["severity"]["band"].as_str()), (Some(2.0), Some("medium")));
    assert!(u["severity"]["rule"].as_str().unwrap().contains("dpc unknown → 4"));
    assert_eq!(u["subjects_notification_required"], false);

    let list: Value = env.operator("GET", "/v1/breaches", None).await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

/// A change to a valid registration, the field it must be refused on, and the code.
type Breakage = (Box<dyn Fn(&mut Value)>, &'static str, &'static str);

#[tokio::test]
async fn awareness_each_registration_and_timeline_rule_is_a_422_with_its_field() {
    let env = TestEnv::spawn().await;
    let cases: Vec<Breakage> = vec![
        (
            Box::new(|b: &mut Value| b["aware_at"] = json!((Utc::now() - chrono::Duration::hours(20)).to_rfc3339())),
            "aware_at",
            "before_detection",
        ),
        (
            Box::new(|b: &mut Value| {
                let later = (Utc::now() - chrono::Duration::hours(5)).to_rfc3339();
                b["aware_at"] = json!(later);
            }),
            "aware_justification",
            "required",
        ),
        (
            Box::new(|b: &mut Value| {
                b["aware_at"] = json!((Utc::now() + chrono::Duration::hours(2)).to_rfc3339());
                b["aware_justification"] = json!("x");
            }),
            "aware_at",
            "in_future",
        ),
        (
            Box::new(|b: &mut Value| b["cia"] = json!({"confidentiality": false, "integrity": false, "availability": false})),
            "cia",
            "none_affected",
        ),
        (Box::new(|b: &mut Value| b["severity_inputs"]["dpc"] = json!(7)), "severity_inputs.dpc", "invalid"),
        // A value of the wrong JSON type is named by its path, not as the whole body.
        (Box::new(|b: &mut Value| b["measures"] = json!(["dostęp zablokowany"])), "measures", "invalid"),
        (Box::new(|b: &mut Value| b["cia"]["integrity"] = json!("tak")), "cia.integrity", "invalid"),
        (Box::new(|b: &mut Value| b["data_categories"] = json!(["e-mail", 7])), "data_categories[1]", "invalid"),
        (
            Box::new(|b: &mut Value| b["contact_point"].as_object_mut().unwrap().retain(|k, _| k != "email")),
            "contact_point.email",
            "invalid",
        ),
    ];
    for (change, field, code) in cases {
        let mut body = breach_body(10);
        change(&mut body);
        let resp = env.operator("POST", "/v1/breaches", Some(&body)).await;
        assert_eq!(resp.status(), 422);
        let err: Value = resp.json().await.unwrap();
        let fields: Vec<(String, String)> = err["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["field"].as_str().unwrap().into(), f["code"].as_str().unwrap().into()))
            .collect();
        assert!(fields.contains(&(field.into(), code.into())), "{field}:{code} in {fields:?}");
    }
    assert!(env.items("BREACH#").await.is_empty(), "nothing half-written");

    let late = register(&env, &breach_body(80)).await;
    let id = late["id"].as_str().unwrap();
    assert_eq!(late["deadline"]["status"], "late");
    let path = format!("/v1/breaches/{id}/events");
    let resp = env.operator("POST", &path, Some(&json!({"type": "authority_notified", "reference": "DKN.5130.1.2026"}))).await;
    assert_eq!(resp.status(), 422, "late without delay_reasons");
    let resp = env.operator("POST", &path, Some(&json!({"type": "subjects_decision", "decision": "exempt", "ground": "d"}))).await;
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["fields"], json!([{"field": "ground", "code": "invalid"}, {"field": "justification", "code": "required"}]));
    let ok = env.operator("POST", &path, Some(&json!({"type": "authority_notified", "reference": "DKN.5130.1.2026", "delay_reasons": "Ustalenie zakresu wymagało analizy dostawcy."}))).await;
    assert_eq!(ok.status(), 201);
    let b: Value = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json().await.unwrap();
    assert_eq!(b["deadline"]["status"], "notified_late");
    assert!(b["deadline"]["late_by_seconds"].as_i64().unwrap() >= 8 * 3600 - 5);
}

#[tokio::test]
async fn art33_5_the_timeline_is_append_only_and_an_edited_entry_is_detected() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(2)).await;
    let id = b["id"].as_str().unwrap();
    for d in ["Zablokowano dostęp", "Powiadomiono dostawcę"] {
        let r = env.operator("POST", &format!("/v1/breaches/{id}/events"), Some(&json!({"type": "measure", "description": d}))).await;
        assert_eq!(r.status(), 201);
    }
    let facts = env
        .operator(
            "POST",
            &format!("/v1/breaches/{id}/events"),
            Some(&json!({"type": "facts", "reason": "log audit", "updates": {"approx_subjects": 2500}})),
        )
        .await;
    assert_eq!(facts.status(), 201);
    let v: Value = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json().await.unwrap();
    assert_eq!(v["timeline"].as_array().unwrap().len(), 4);
    assert_eq!(v["approx_subjects"], 2500, "art33_4: the latest facts");
    assert_eq!(v["timeline_proof"]["verified"], true);
    let second = v["timeline"][1]["event_id"].as_str().unwrap().to_owned();
    let stored = env.items(&format!("BREACH#{id}")).await.into_iter().find(|i| i["sk"] == format!("EVENT#{second}")).unwrap();
    let edited = stored["event"].as_str().unwrap().replace("Zablokowano", "Nie zablokowano");
    env.set_attribute(&format!("BREACH#{id}"), &format!("EVENT#{second}"), "event", aws_sdk_dynamodb::types::AttributeValue::S(edited))
        .await;
    let v: Value = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json().await.unwrap();
    assert_eq!(v["timeline_proof"]["verified"], false);
    assert_eq!(v["timeline_proof"]["broken_at"], second.as_str());
    let put = env.operator("PUT", &format!("/v1/breaches/{id}/events"), Some(&json!({}))).await;
    assert_eq!(put.status(), 405, "no way to edit an entry");
}

#[tokio::test]
async fn art33_3_report_draft_has_every_section_filled_or_marked_missing() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(3)).await;
    let id = b["id"].as_str().unwrap();
    let md = env.operator("GET", &format!("/v1/breaches/{id}/report?lang=pl"), None).await;
    assert_eq!(md.headers()["content-type"], "text/markdown; charset=utf-8");
    let md = md.text().await.unwrap();
    for heading in [
        "Podmiot zgłaszający",
        "Charakter naruszenia",
        "Inspektor ochrony danych lub punkt kontaktowy",
        "Możliwe konsekwencje",
        "Środki zastosowane lub proponowane",
    ] {
        assert!(md.contains(heading), "{heading}");
    }
    assert!(md.contains("BRAK — uzupełnij"), "the controller was not given");
    assert!(md.contains("IOD Anna Nowak") && md.contains("Usunięto kopię"));
    let json: Value = env.operator("GET", &format!("/v1/breaches/{id}/report?lang=en&format=json"), None).await.json().await.unwrap();
    let ids: Vec<&str> = json["sections"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    for required in ["nature", "data", "subjects", "contact_point", "consequences", "measures"] {
        assert!(ids.contains(&required), "{required}");
    }
    assert!(json["missing"].as_array().unwrap().contains(&json!("notifying_entity")));
    let sections: HashMap<&str, &Value> = json["sections"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap(), s)).collect();
    assert_eq!(sections["contact_point"]["answers"], "Art. 33(3)(b)");
    assert_eq!(sections["consequences"]["missing"], false);
}

#[tokio::test]
async fn deadline_watch_at_chosen_times_sends_each_reminder_once() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(1)).await;
    let contact = b["contact_point"]["email"].as_str().unwrap().to_owned();
    let deadline = chrono::DateTime::parse_from_rfc3339(b["authority_deadline"].as_str().unwrap()).unwrap().to_utc();
    let run = |at: chrono::DateTime<Utc>| run_deadline_watch(&env, at);
    assert_eq!(run(deadline - chrono::Duration::hours(30)).await, 0);
    assert_eq!(run(deadline - chrono::Duration::hours(23)).await, 1);
    assert_eq!(run(deadline - chrono::Duration::hours(22)).await, 0, "the 24 h reminder once");
    assert_eq!(run(deadline - chrono::Duration::hours(5)).await, 1);
    assert_eq!(run(deadline - chrono::Duration::hours(1)).await, 0, "the 6 h reminder once");
    assert_eq!(run(deadline + chrono::Duration::minutes(1)).await, 1);
    assert_eq!(run(deadline + chrono::Duration::hours(3)).await, 0, "the passed reminder once");
    // A high band: the people's own clock (art34_1) sends its one reminder beside these.
    let subjects: Vec<String> = mails_to(&contact).await.iter().map(|m| m.subject()).filter(|s| s.contains("PUODO")).collect();
    assert_eq!(
        subjects,
        vec![
            "Zostały 24 godziny na zgłoszenie naruszenia do PUODO",
            "Zostało 6 godzin na zgłoszenie naruszenia do PUODO",
            "Minął termin 72 godzin na zgłoszenie naruszenia do PUODO",
        ]
    );

    let notified = register(&env, &breach_body(1)).await;
    let nid = notified["id"].as_str().unwrap();
    env.operator("POST", &format!("/v1/breaches/{nid}/events"), Some(&json!({"type": "authority_notified", "reference": "X/1"}))).await;
    assert_eq!(run(deadline + chrono::Duration::hours(4)).await, 0, "a notified breach gets no reminder");
}

#[tokio::test]
async fn art34_1_escalation_to_2000_people_sends_exactly_one_notice_each_even_when_the_notifier_is_killed() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    // Twenty people collected through the form: half English; one unsubscribed from marketing; one erased.
    let mut known = Vec::new();
    for i in 0..20 {
        let email = address(&format!("k{i}"));
        let lang = if i % 2 == 0 { "pl" } else { "en" };
        let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "lang": lang});
        assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
        known.push((email, lang));
    }
    let unsubscribed = known[2].0.clone();
    let link = env
        .operator("POST", "/v1/admin/links", Some(&json!({"email": unsubscribed, "action": "unsubscribe", "purpose": "newsletter"})))
        .await
        .json::<Value>()
        .await
        .unwrap();
    env.http.post(link["url"].as_str().unwrap()).send().await.unwrap();
    let erased = known[3].0.clone();
    env.operator("POST", "/v1/admin/subjects/erase", Some(&json!({"email": erased, "reason": "request"}))).await;
    // And 1,981 addresses zgoda never held (a breach can expose people it never captured).
    let tag = &zgoda_tests::unique()[20..];
    let explicit: Vec<String> = (0..1981).map(|i| format!("{i}.{tag}@e.pl")).collect();

    let b = register(&env, &breach_body(2)).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let body = json!({
        "subjects": {"emails": explicit, "forms": ["kontakt"]},
        "message": crate::notices::both_languages(),
        "public_notice": true
    });
    let (status, answer) = escalate(&env, &id, "esc-1", &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!((answer["recipients"].as_u64(), answer["unreachable_erased"].as_u64()), (Some(2000), Some(1)));
    let esc = answer["escalation_id"].as_str().unwrap().to_owned();

    // Start, kill mid-run, start again.
    env.start_notifier(2000);
    let start = Instant::now();
    loop {
        let p = progress(&env, &id, &esc).await;
        if p["sent"].as_u64().unwrap() >= 400 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(240), "no progress: {p}");
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    env.stop_notifier();
    let at_kill = progress(&env, &id, &esc).await;
    assert!(at_kill["pending"].as_u64().unwrap() > 0, "killed mid-run: {at_kill}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.start_notifier(2000);
    let done = wait_finished(&env, &id, &esc, Duration::from_secs(400)).await;
    assert_eq!((done["total"].as_u64(), done["sent"].as_u64(), done["failed"].as_u64()), (Some(2000), Some(2000), Some(0)), "{done}");
    assert!(done["finished_at"].is_string());

    // Exactly one mail each, in the right language; none for the erased person.
    let mails = all_mails().await;
    for address in &explicit {
        assert_eq!(mails.get(address).map(Vec::len), Some(1), "{address}");
    }
    for (email, lang) in &known {
        if *email == erased {
            assert!(
                mails
                    .get(email)
                    .map(|m| m.iter().all(|x| !x.subject().contains("naruszenie") && !x.subject().contains("breach")))
                    .unwrap_or(true)
            );
            continue;
        }
        let notices: Vec<&zgoda_tests::Mail> =
            mails[email].iter().filter(|m| m.subject().contains("naruszenie") || m.subject().contains("breach")).collect();
        assert_eq!(notices.len(), 1, "{email}");
        assert_eq!(notices[0].parsed().header_raw("Content-Language").map(str::trim), Some(*lang), "{email}");
    }
    assert!(
        mails[&unsubscribed].iter().any(|m| m.subject().contains("naruszenie") || m.subject().contains("breach")),
        "marketing unsubscribe does not block a breach notice"
    );

    // The outbox no longer holds addresses once sent.
    let outbox = env.items("OUTBOX#").await;
    assert_eq!(outbox.len(), 2000);
    assert!(outbox.iter().all(|o| o["status"] == "sent" && o.get("email").is_none()));

    // Same key, same body: the same answer and nothing more sent. Another body: 409.
    let (status, again) = escalate(&env, &id, "esc-1", &body).await;
    assert_eq!((status, &again), (202, &answer));
    let mut other = body.clone();
    other["public_notice"] = json!(false);
    let (status, conflict) = escalate(&env, &id, "esc-1", &other).await;
    assert_eq!((status, conflict["error"]["code"].as_str()), (409, Some("idempotency_conflict")));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(progress(&env, &id, &esc).await["sent"], 2000);
    assert_eq!(all_mails().await.get(&explicit[0]).map(Vec::len), Some(1));

    // Art. 34(3)(c): the public notice.
    let notice = env.http.get(answer["public_notice_url"].as_str().unwrap().to_owned() + "?lang=en").send().await.unwrap();
    assert_eq!(notice.status(), 200);
    assert!(notice.text().await.unwrap().contains("Change your password"));
    let missing = env.http.get(format!("{}/v1/notices/nope", env.url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn art34_2_a_breach_notice_parsed_back_has_the_required_sections() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(2)).await;
    let id = b["id"].as_str().unwrap();
    let pl = address("notice-pl");
    let (status, answer) =
        escalate(&env, id, "k", &json!({"subjects": {"emails": [pl]}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}}))
            .await;
    assert_eq!(status, 202, "{answer}");
    env.start_notifier(100);
    wait_finished(&env, id, answer["escalation_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    let mail = &mails_to(&pl).await[0];
    assert_eq!(mail.subject(), "Ważne: naruszenie ochrony Twoich danych osobowych");
    let text = mail.text();
    for section in ["Co się stało", "Możliwe konsekwencje", "Co zrobiliśmy", "Co możesz zrobić", "Kontakt w tej sprawie"] {
        assert!(text.contains(section), "{section} in {text}");
    }
    for fact in ["Kopia bazy adresów", "phishingowe", "Usunięto kopię", "Zmień hasło.", "IOD Anna Nowak"] {
        assert!(text.contains(fact), "{fact}");
    }
    assert!(mail.parsed().header_raw("List-Unsubscribe").is_none(), "a legal notice, not marketing");
    assert_eq!(mail.parsed().reply_to().and_then(|a| a.first()).and_then(|a| a.address()), b["contact_point"]["email"].as_str());
    // Security review H2: notices go out from their own sender (and configuration set, which the
    // notifier's ACCESS alone may name), not from the public mail's.
    let from = |m: &zgoda_tests::Mail| m.parsed().from().and_then(|a| a.first()).and_then(|a| a.address()).map(str::to_owned);
    assert_eq!(from(mail).as_deref(), Some(zgoda_local::NOTICE_SENDER));
    let person = address("public-sender");
    let body = json!({"email": person, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
    env.put_form("kontakt", &zgoda_tests::contact_form(&address("owner"))).await;
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    assert_eq!(from(&mails_to(&person).await[0]).as_deref(), Some(zgoda_local::SENDER));
}

#[tokio::test]
async fn escalation_needs_an_idempotency_key_and_a_valid_selection() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(2)).await;
    let id = b["id"].as_str().unwrap();
    let body = json!({"subjects": {"emails": ["bad address"]}, "message": {"pl": ""}});
    let (status, err) = escalate(&env, id, "k2", &body).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = err["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["subjects.emails[0]", "subjects", "message.pl.advice"]);
    let (status, err) = escalate(&env, id, "k3", &json!({"subjects": {"emails": address("x")}, "message": {"pl": "x"}})).await;
    assert_eq!(
        (status, &err["error"]["fields"]),
        (422, &json!([{"field": "subjects.emails", "code": "invalid"}])),
        "a string where a list belongs"
    );
    let no_key = env
        .operator(
            "POST",
            &format!("/v1/breaches/{id}/escalations"),
            Some(&json!({"subjects": {"emails": [address("x")]}, "message": {"pl": "x"}})),
        )
        .await;
    assert_eq!(no_key.status(), 422);
    let (status, _) =
        escalate(&env, "01JNOSUCHBREACH000000000000", "k", &json!({"subjects": {"emails": [address("x")]}, "message": {"pl": "x"}})).await;
    assert_eq!(status, 404);
    assert!(env.items("OUTBOX#").await.is_empty());
}

#[tokio::test]
async fn a_send_that_keeps_failing_is_recorded_failed_and_a_poison_message_reaches_the_dead_letter_queue() {
    // A sender domain that is not a verified identity: SES refuses every mail.
    let domain = format!("unverified-{}.example.pl", &zgoda_tests::unique()[16..]);
    let env = TestEnv::spawn_with(|c| c.mail.notices.from = format!("zgoda@{domain}")).await;
    env.clients.ses.delete_email_identity().email_identity(&domain).send().await.unwrap();
    let b = register(&env, &breach_body(2)).await;
    let id = b["id"].as_str().unwrap();
    let people = [address("fail-a"), address("fail-b")];
    let (status, answer) = escalate(&env, id, "fail", &json!({"subjects": {"emails": people}, "message": {"pl": "x"}})).await;
    assert_eq!(status, 202);
    env.clients.sqs.send_message().queue_url(&env.config.queue_url).message_body("not a job").send().await.unwrap();
    env.start_notifier(100);
    let done = wait_finished(&env, id, answer["escalation_id"].as_str().unwrap(), Duration::from_secs(90)).await;
    assert_eq!((done["sent"].as_u64(), done["failed"].as_u64()), (Some(0), Some(2)), "{done}");
    let outbox = env.items("OUTBOX#").await;
    assert!(outbox.iter().all(|o| o["status"] == "failed" && o["reason"].as_str().is_some_and(|r| !r.is_empty())));
    // The poison message is retried until SQS moves it to the dead-letter queue.
    let dlq = env.config.queue_url.clone() + "-dlq";
    let start = Instant::now();
    loop {
        let attrs = env
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        let n: u32 = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if n == 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the poison message never reached the DLQ");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(mails_to(&people[0]).await.is_empty());
}

/// The window a killed notifier leaves: SES accepted a notice, then the process died before it
/// recorded it. SES's Send event (published through the configuration set; the emulator's here)
/// carries the notice's tags to ses-events, which records it as sent, so the worker that takes the
/// recipient over after the lease finds it finished. Without the event, that worker sends a second
/// notice: the second person here shows the window is real.
#[tokio::test]
async fn art34_1_a_notice_ses_accepted_from_a_notifier_that_died_before_recording_it_is_not_sent_again() {
    use zgoda_domain::escalation::{JobOutcome, SEND_LEASE, breach_notice};
    use zgoda_domain::mail::Mailer;
    use zgoda_domain::store::{BreachStore, Claim, Job};
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(2)).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let breach_id = zgoda_domain::ids::BreachId::parse(&id).unwrap();
    let (with_event, without_event, handed_back) = (address("accepted"), address("unrecorded"), address("handedback"));
    let body = json!({"subjects": {"emails": [with_event, without_event, handed_back]}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}});
    let (status, answer) = escalate(&env, &id, "esc-accepted", &body).await;
    assert_eq!(status, 202, "{answer}");
    let esc = zgoda_domain::ids::EscalationId::parse(answer["escalation_id"].as_str().unwrap()).unwrap();
    let app = &env.local.apps.notifier;
    let content = app.notice_content(&breach_id, &esc).await.unwrap();

    // A notifier's steps up to SES's answer, then death: claimed and sent, never recorded.
    let now = Utc::now();
    let died_after_sending = |email: String| {
        let (env, id, esc, content) = (&env, &breach_id, &esc, &content);
        async move {
            let job = Job { breach_id: id.clone(), escalation_id: esc.clone(), subject: env.subject_id(&email).await };
            let Claim::Claimed(recipient) = app.store.claim(&job, now, now + chrono::Duration::seconds(SEND_LEASE)).await.unwrap() else {
                panic!("the recipient is claimable")
            };
            let message_id = app.mailer.send(&breach_notice(&job, &recipient, content)).await.unwrap();
            (job, message_id)
        }
    };
    let (unrecorded, _) = died_after_sending(without_event.clone()).await;
    // That notice's Send event is lost (or comes later than the lease): the events queue is emptied
    // before ses-events starts.
    let set = env.config.mail.notices.configuration_set.clone().unwrap();
    let queue = env.clients.sqs.get_queue_url().queue_name(zgoda_local::ses_events_loop::queue_name(&set)).send().await.unwrap();
    env.clients.sqs.purge_queue().set_queue_url(queue.queue_url).send().await.unwrap();
    let _events = env.start_ses_events();
    let (accepted, message_id) = died_after_sending(with_event.clone()).await;
    // And one whose worker lost SES's answer, took it for a failure and handed the recipient back.
    let (released, released_id) = died_after_sending(handed_back.clone()).await;
    app.store.release(&released).await.unwrap();
    for (job, message_id) in [(&accepted, &message_id), (&released, &released_id)] {
        let start = Instant::now();
        let recorded = loop {
            let items = env.items(&format!("OUTBOX#{esc}#")).await;
            let item = items.iter().find(|i| i["sk"] == format!("R#{}", job.subject)).cloned().unwrap();
            if item["status"] == "sent" {
                break item;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "the Send event was not recorded: {item}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(&recorded["message_id"], message_id, "recorded under the message SES accepted");
        assert!(recorded.get("email").is_none(), "the address is forgotten once the notice is out");
    }

    // The lease runs out and the job comes back to a notifier.
    let later = now + chrono::Duration::seconds(SEND_LEASE + 1);
    assert_eq!(app.deliver(&accepted, &content, false, later).await.unwrap(), JobOutcome::Done);
    assert_eq!(app.deliver(&unrecorded, &content, false, later).await.unwrap(), JobOutcome::Done);
    assert_eq!(app.deliver(&released, &content, false, now).await.unwrap(), JobOutcome::Done);
    assert_eq!(mails_to(&with_event).await.len(), 1, "the Send event closed the window: one notice");
    assert_eq!(mails_to(&handed_back).await.len(), 1, "a notice SES took is sent, whatever its worker thought");
    assert_eq!(mails_to(&without_event).await.len(), 2, "without the event the window is open: a second notice");
    let counts = app.store.delivery_counts(&esc).await.unwrap();
    assert_eq!((counts.sent, counts.failed), (3, 0));
}

/// Security review M9: an unfinished recipient's outbox item holds an address. Erasing the person
/// finishes their unsent notice as the notifier would (`failed`, `erased`) and removes the
/// address at once; every other unfinished item carries a TTL, so one whose job never ends is
/// deleted rather than kept for ever.
#[tokio::test]
async fn m9_erasure_finishes_an_unsent_notice_and_unfinished_outbox_items_expire() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let (person, other) = (address("erased"), address("other"));
    let body = json!({"email": person, "consent": ["contact_reply"], "notice_version": "2026-11", "message": "Proszę o kontakt"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let (_, esc) = escalated_to(&env, 2, "esc-m9", &[&person, &other]).await;

    // The person erases themselves through their own link, before any notifier ran.
    let link = env.operator("POST", "/v1/admin/links", Some(&json!({"email": person, "action": "erase"}))).await;
    let url = link.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    assert_eq!(env.http.post(&url).send().await.unwrap().status(), 200);

    let outbox: Vec<Value> =
        env.scan().await.into_iter().filter(|i| i["pk"].as_str().unwrap().starts_with(&format!("OUTBOX#{esc}#"))).collect();
    let (erased_sid, other_sid) = (env.subject_id(&person).await, env.subject_id(&other).await);
    let of = |sid: &zgoda_domain::ids::SubjectId| outbox.iter().find(|i| i["sk"] == format!("R#{sid}")).unwrap().clone();
    let erased = of(&erased_sid);
    assert_eq!((erased["status"].as_str(), erased["reason"].as_str()), (Some("failed"), Some("erased")), "{erased}");
    assert!(erased.get("email").is_none() && erased.get("ttl").is_none(), "address gone at once: {erased}");
    let pending = of(&other_sid);
    assert_eq!(pending["status"], "pending");
    assert_eq!(pending["email"], other.as_str());
    let ttl = pending["ttl"].as_i64().unwrap();
    let in_30_days = (Utc::now() + chrono::Duration::days(30)).timestamp();
    assert!((in_30_days - 600..=in_30_days).contains(&ttl), "deleted 30 days after the escalation began: {pending}");
    let rest = serde_json::to_string(&env.scan_but_erasure_changes().await).unwrap();
    assert!(!rest.contains(&person), "the erased address is nowhere else in the table");
}

/// Security review M6: SES throttles every breach notice for a minute in the middle of a
/// 2,000-person escalation, on the notifier's last attempt included. Throttling passes, so it is
/// never a final failure: throttled recipients go back on the queue as new, delayed messages, and
/// every person still gets exactly one notice, none recorded `failed`.
#[tokio::test]
async fn m6_a_minute_of_ses_throttling_in_a_2000_person_escalation_still_sends_one_notice_each_and_fails_none() {
    let env = TestEnv::spawn_with_faults(|_| {}).await;
    let faults = env.faults.clone().expect("a fault proxy");
    let tag = &zgoda_tests::unique()[20..];
    let explicit: Vec<String> = (0..2000).map(|i| format!("{i}.{tag}@t.pl")).collect();
    let (id, esc) = escalated_to(&env, 2, "esc-throttled", &explicit).await;

    env.start_notifier(2000);
    let start = Instant::now();
    while progress(&env, &id, &esc).await["sent"].as_u64().unwrap() < 200 {
        assert!(start.elapsed() < Duration::from_secs(120), "no progress before the throttling");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    faults.throttle_mail_for(Duration::from_secs(60));
    let done = wait_finished(&env, &id, &esc, Duration::from_secs(480)).await;
    assert_eq!((done["sent"].as_u64(), done["failed"].as_u64()), (Some(2000), Some(0)), "{done}");
    assert!(faults.mail_throttled() > 0, "SES did throttle");
    let mails = all_mails().await;
    for address in &explicit {
        assert_eq!(mails.get(address).map(Vec::len), Some(1), "{address}");
    }
}
