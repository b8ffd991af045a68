//! Breaches a business registers as a processor (Art. 33(2), 28(3)(f)) or as a drill (the seed's
//! practice run), through the operator API, the deadline watch, the notifier and the mailbox.

use std::time::Duration;

use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, mails_to};

use crate::breaches::{all_mails, breach_body, escalate, register, run_deadline_watch, wait_finished};

fn processor_body(controller_mail: &str, hours: u32) -> Value {
    let mut body = breach_body(1);
    body["role"] = json!("processor");
    body["processing_for"] = json!({"name": "Sklep Klienta sp. z o.o.", "email": controller_mail, "notify_within_hours": hours});
    body
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().to_utc()
}

#[tokio::test]
async fn art33_2_a_processors_breach_gets_its_controllers_deadline_and_no_reminder_about_puodo() {
    let env = TestEnv::spawn().await;
    let controller_mail = address("klient-iod");
    let b = register(&env, &processor_body(&controller_mail, 24)).await;
    assert_eq!(b["deadline"]["notify"], "controller");
    assert_eq!((time(&b["deadline"]["due_at"]) - time(&b["aware_at"])).num_hours(), 24);
    assert!(b.get("authority_deadline").is_none(), "no 72 hours to the authority: {b}");
    assert_eq!(
        (b["authority_notification_required"].as_bool(), b["controller_notification_required"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(b["subjects_notification_required"], false, "a processor tells nobody on its own");

    let due = time(&b["deadline"]["due_at"]);
    assert_eq!(run_deadline_watch(&env, due - chrono::Duration::hours(5)).await, 1);
    assert_eq!(run_deadline_watch(&env, due + chrono::Duration::minutes(1)).await, 1);
    let contact = b["contact_point"]["email"].as_str().unwrap();
    let mails = mails_to(contact).await;
    let subjects: Vec<String> = mails.iter().map(|m| m.subject()).collect();
    assert_eq!(
        subjects,
        [
            "Zostało 6 godzin na powiadomienie administratora Sklep Klienta sp. z o.o. o naruszeniu",
            "Minął umowny termin powiadomienia administratora Sklep Klienta sp. z o.o. o naruszeniu",
        ]
    );
    for m in &mails {
        assert!(!m.text().contains("Prezes") && !m.subject().contains("PUODO"), "{}", m.text());
        assert!(m.text().contains("type: controller_notified"), "{}", m.text());
    }

    let id = b["id"].as_str().unwrap();
    let report = env.operator("GET", &format!("/v1/breaches/{id}/report?lang=pl&format=json"), None).await;
    let report: Value = report.json().await.unwrap();
    assert_eq!(
        (report["addressed_to"].as_str(), report["authority"].as_str()),
        (Some("controller"), Some(&*format!("Sklep Klienta sp. z o.o. <{controller_mail}>")))
    );
    let wrong =
        env.operator("POST", &format!("/v1/breaches/{id}/events"), Some(&json!({"type": "authority_notified", "reference": "X"}))).await;
    assert_eq!(wrong.status(), 422);
    let v: Value = wrong.json().await.unwrap();
    assert_eq!(v["error"]["fields"], json!([{"field": "type", "code": "wrong_role"}]));
}

#[tokio::test]
async fn art28_3f_a_processors_escalation_without_its_controllers_instruction_is_refused_and_sends_nothing() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &processor_body(&address("klient-iod"), 24)).await;
    let id = b["id"].as_str().unwrap();
    let person = address("klient-osoba");
    let body = json!({"subjects": {"emails": [person]}, "message": {"pl": "Zmień hasło."}});
    let (status, answer) = escalate(&env, id, "k1", &body).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("controller_instruction_required")), "{answer}");
    let seen: Value = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json().await.unwrap();
    assert_eq!(seen["timeline"].as_array().unwrap().len(), 1, "nothing recorded");
    assert_eq!(seen["escalations"], json!([]));

    let instruction = json!({"type": "controller_instruction", "instruction": "Proszę zawiadomić klientów; treść uzgodniona mailem."});
    assert_eq!(env.operator("POST", &format!("/v1/breaches/{id}/events"), Some(&instruction)).await.status(), 201);
    let (status, answer) = escalate(&env, id, "k1", &body).await;
    assert_eq!(status, 202, "{answer}");
    env.start_notifier(10);
    wait_finished(&env, id, answer["escalation_id"].as_str().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(mails_to(&person).await.len(), 1);
}

#[tokio::test]
async fn seed_drill_an_escalation_to_50_people_mails_only_the_drill_team_and_the_register_holds_no_drill() {
    let env = TestEnv::spawn().await;
    let team = [address("drill-iod"), address("drill-it")];
    let mut body = breach_body(2);
    body["title"] = json!("Ćwiczenia: wyciek bazy");
    body["drill"] = json!({"team": team});
    let b = register(&env, &body).await;
    let id = b["id"].as_str().unwrap().to_owned();
    let people: Vec<String> = (0..50).map(|i| address(&format!("drill-person-{i}"))).collect();
    let (status, answer) =
        escalate(&env, &id, "d1", &json!({"subjects": {"emails": people}, "message": {"pl": "Zmień hasło."}, "public_notice": true})).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!((answer["recipients"].as_u64(), answer["drill_selected"].as_u64()), (Some(2), Some(50)));
    env.start_notifier(10);
    wait_finished(&env, &id, answer["escalation_id"].as_str().unwrap(), Duration::from_secs(60)).await;

    let mails = all_mails().await;
    for p in &people {
        assert!(!mails.contains_key(p), "a drill never mails the people it selected: {p}");
    }
    for t in &team {
        let got = &mails[t];
        assert_eq!(got.len(), 1, "{t}");
        assert!(got[0].subject().starts_with("[ĆWICZENIA] "), "{}", got[0].subject());
        assert!(got[0].text().starts_with("*** ĆWICZENIA"), "{}", got[0].text());
    }
    let notice = env.http.get(answer["public_notice_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(notice.contains("id=\"drill\"") && notice.contains("[ĆWICZENIA]"), "the public notice says it is a drill");

    let register: Value = env.operator("GET", "/v1/breaches", None).await.json().await.unwrap();
    assert!(!register.to_string().contains(&id), "the register leaves drills out");
    let drills: Value = env.operator("GET", "/v1/breaches?drills=true", None).await.json().await.unwrap();
    assert_eq!(drills["items"].as_array().unwrap().iter().filter(|d| d["id"] == id.as_str()).count(), 1);
    let md = env.operator("GET", &format!("/v1/breaches/{id}/report?lang=pl&format=md"), None).await.text().await.unwrap();
    assert!(md.starts_with("# [ĆWICZENIA] "), "{md}");

    let end = json!({"type": "drill_ended", "notes": "Zawiadomienie czekało godzinę na akceptację treści."});
    assert_eq!(env.operator("POST", &format!("/v1/breaches/{id}/events"), Some(&end)).await.status(), 201);
    let drill: Value = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json().await.unwrap();
    let steps: Vec<&str> = drill["drill_review"]["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["registered", "escalated", "notices_finished", "drill_ended"]);
    assert_eq!(drill["drill_review"]["notes"], "Zawiadomienie czekało godzinę na akceptację treści.");
    assert!(drill["drill_review"]["steps"][0]["after_seconds"].as_i64().unwrap() >= 2 * 3600, "from the report, two hours before");
    let bad = env.operator("GET", "/v1/breaches?drills=maybe", None).await;
    assert_eq!(bad.status(), 422);
}
