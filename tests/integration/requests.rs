//! Requests from people handled through the operator API and the deadline watch (docs/legal.md
//! art12_3, art12_4): listed by due date, extended once within the first month with the reasons
//! mailed, refused with the reasons and the ways to complain, closed by the person's own link, and
//! reminded of at 7 days, 1 day and overdue, once each.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

/// A person on file who asked for `kind`; their address and the request's id.
pub(crate) async fn asked(env: &TestEnv, tag: &str, kind: &str) -> (String, String) {
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address(tag);
    let body = json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    assert_eq!(env.privacy_request(&email, kind).await.status(), 202);
    let subject = env.subject_id(&email).await;
    let items = env.items(&format!("SUBJECT#{subject}")).await;
    let request = items.iter().find(|i| i["sk"].as_str().unwrap().starts_with("REQUEST#")).expect("recorded");
    (email, request["request_id"].as_str().unwrap().to_owned())
}

async fn call(env: &TestEnv, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let resp = env.operator(method, path, body).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// One scheduled run of the deadline watch at `at`: the request reminders it sent.
async fn watch(env: &TestEnv, at: chrono::DateTime<Utc>) -> Vec<String> {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/deadline-watch/schedule.json")).unwrap(),
    )
    .unwrap();
    event["time"] = json!(at.to_rfc3339());
    let out = deadline_watch::handle_app(&env.local.apps.deadline_watch, serde_json::from_value(event).unwrap()).await.unwrap();
    out["request_reminders"].as_array().unwrap().iter().map(|r| r["reminder"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn art12_3_a_request_is_listed_by_due_date_and_extended_once_within_its_first_month_with_the_reasons_mailed() {
    let env = TestEnv::spawn().await;
    let (email, id) = asked(&env, "extend", "access").await;
    let (status, open) = call(&env, "GET", "/v1/admin/requests", None).await;
    assert_eq!(status, 200, "{open}");
    assert_eq!(open["items"][0]["request_id"], id.as_str());
    assert_eq!((&open["items"][0]["status"], &open["items"][0]["overdue"]), (&json!("open"), &json!(false)));
    let (_, soon) = call(&env, "GET", "/v1/admin/requests?due_within_days=7", None).await;
    assert_eq!(soon["items"], json!([]), "due in a month, not within a week");

    let body = json!({"months": 2, "reasons": "Musimy przeszukać archiwum papierowe."});
    let (status, extended) = call(&env, "POST", &format!("/v1/admin/requests/{id}/extend"), Some(&body)).await;
    assert_eq!(status, 200, "{extended}");
    assert_eq!(extended["status"], "extended");
    assert!(extended["due_at"].as_str().unwrap() > extended["first_due_at"].as_str().unwrap());
    let mail = mails_to(&email).await.into_iter().find(|m| m.subject() == "Odpowiedź na Twoje żądanie zajmie więcej czasu").expect("told");
    assert!(
        mail.text().contains("Musimy przeszukać archiwum papierowe.") && mail.text().contains(&extended["due_at"].as_str().unwrap()[..10])
    );

    let (status, again) = call(&env, "POST", &format!("/v1/admin/requests/{id}/extend"), Some(&body)).await;
    assert_eq!((status, &again["error"]["fields"][0]["code"]), (422, &json!("already_extended")), "{again}");
}

#[tokio::test]
async fn art12_3_an_extension_after_the_first_month_is_a_422_and_changes_nothing() {
    let env = TestEnv::spawn().await;
    let (email, id) = asked(&env, "late", "access").await;
    let subject = env.subject_id(&email).await;
    // The month has run: the stored due date lies in the past.
    let past = (Utc::now() - Duration::days(1)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    env.set_attribute(&format!("SUBJECT#{subject}"), &format!("REQUEST#{id}"), "due_at", AttributeValue::S(past)).await;
    let before = env.state().await;
    let body = json!({"months": 1, "reasons": "Za późno."});
    let (status, err) = call(&env, "POST", &format!("/v1/admin/requests/{id}/extend"), Some(&body)).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["fields"][0], json!({"field": "request", "code": "first_month_over"}));
    assert_eq!(env.state().await, before, "nothing written");
    let (_, shown) = call(&env, "GET", &format!("/v1/admin/requests/{id}"), None).await;
    assert_eq!((&shown["status"], &shown["overdue"]), (&json!("open"), &json!(true)));
    for (body, field) in [(json!({"months": 3, "reasons": "x"}), "months"), (json!({"months": 1, "reasons": " "}), "reasons")] {
        let (status, err) = call(&env, "POST", &format!("/v1/admin/requests/{id}/extend"), Some(&body)).await;
        assert_eq!((status, &err["error"]["fields"][0]["field"]), (422, &json!(field)), "{err}");
    }
    let (status, _) = call(&env, "GET", "/v1/admin/requests/01NOSUCHREQUEST", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn art12_4_a_refusal_mails_the_reasons_and_the_ways_to_complain_and_closes_the_request() {
    let env = TestEnv::spawn().await;
    let (email, id) = asked(&env, "refused", "erasure").await;
    let (status, err) = call(&env, "POST", &format!("/v1/admin/requests/{id}/close"), Some(&json!({"outcome": "refused"}))).await;
    assert_eq!((status, &err["error"]["fields"][0]["field"]), (422, &json!("reasons")), "{err}");
    let body = json!({"outcome": "refused", "reasons": "Dane są potrzebne do rozliczenia reklamacji (art. 17 ust. 3 lit. e RODO)."});
    let (status, closed) = call(&env, "POST", &format!("/v1/admin/requests/{id}/close"), Some(&body)).await;
    assert_eq!((status, &closed["status"]), (200, &json!("refused")), "{closed}");
    let mail = mails_to(&email).await.into_iter().find(|m| m.subject() == "Odmowa spełnienia Twojego żądania").expect("told");
    let text = mail.text();
    for words in ["rozliczenia reklamacji", "Prezesa Urzędu Ochrony Danych Osobowych", "przed sądem"] {
        assert!(text.contains(words), "{words} in {text}");
    }
    let (_, listed) = call(&env, "GET", "/v1/admin/requests?status=closed", None).await;
    assert_eq!(listed["items"][0]["request_id"], id.as_str());
    assert_eq!(call(&env, "GET", "/v1/admin/requests", None).await.1["items"], json!([]));
}

#[tokio::test]
async fn art12_3_a_request_the_person_completes_through_their_link_closes_itself() {
    let env = TestEnv::spawn().await;
    let (email, id) = asked(&env, "completes", "access").await;
    let link = mails_to(&email).await.into_iter().find_map(|m| m.links().into_iter().find(|l| l.contains("/v1/links/"))).unwrap();
    assert_eq!(env.http.post(&link).header("accept", "text/html").send().await.unwrap().status(), 200);
    let (_, shown) = call(&env, "GET", &format!("/v1/admin/requests/{id}"), None).await;
    assert_eq!(shown["status"], "done", "{shown}");
    assert!(shown["closing"].get("by").is_none(), "closed by the person: {shown}");
}

#[tokio::test]
async fn art12_3_the_contact_point_is_reminded_once_each_at_7_days_1_day_and_overdue() {
    let env = TestEnv::spawn().await;
    let (_, id) = asked(&env, "reminded", "access").await;
    let due: chrono::DateTime<Utc> =
        call(&env, "GET", &format!("/v1/admin/requests/{id}"), None).await.1["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(watch(&env, due - Duration::days(8)).await, Vec::<String>::new());
    assert_eq!(watch(&env, due - Duration::days(7)).await, ["7d"]);
    assert_eq!(watch(&env, due - Duration::days(6)).await, Vec::<String>::new(), "once");
    assert_eq!(watch(&env, due - Duration::hours(23)).await, ["1d"]);
    assert_eq!(watch(&env, due + Duration::minutes(1)).await, ["overdue"]);
    assert_eq!(watch(&env, due + Duration::days(2)).await, Vec::<String>::new(), "once");
    let controller = &env.local.apps.operator.settings.controller;
    let contact = controller.dpo_email.as_ref().unwrap_or(&controller.email).as_str().to_owned();
    // The example controller's mailbox is every test's: only this request's reminders count.
    let reminders: Vec<String> = mails_to(&contact).await.iter().filter(|m| m.text().contains(&id)).map(|m| m.subject()).collect();
    assert_eq!(
        reminders,
        ["Za 7 dni mija termin odpowiedzi na żądanie", "Jutro mija termin odpowiedzi na żądanie", "Minął termin odpowiedzi na żądanie"]
    );
}

/// A stack that recorded requests before they were handled holds them outside the index: the
/// retention sweep's resumable scan files them, after which the operator finds and lists them.
#[tokio::test]
async fn art12_3_requests_recorded_before_they_were_handled_are_filed_and_found() {
    let env = TestEnv::spawn().await;
    let (email, id) = asked(&env, "earlier", "erasure").await;
    let subject = env.subject_id(&email).await;
    // As an earlier version stored it: no place in the index, no pointer by id.
    env.clients
        .dynamodb
        .update_item()
        .table_name(&env.config.table)
        .key("pk", AttributeValue::S(format!("SUBJECT#{subject}")))
        .key("sk", AttributeValue::S(format!("REQUEST#{id}")))
        .update_expression("REMOVE gsi1pk, gsi1sk, revision")
        .send()
        .await
        .unwrap();
    env.delete_item(&format!("REQUEST#{id}"), "SUBJECT").await;
    assert_eq!(call(&env, "GET", &format!("/v1/admin/requests/{id}"), None).await.0, 404);

    let run = crate::retention::run_sweep(&env, Utc::now()).await;
    assert_eq!(run["requests_indexed"], 1, "{run}");
    assert_eq!(crate::retention::run_sweep(&env, Utc::now()).await["requests_indexed"], 0, "the scan is done");
    let (status, shown) = call(&env, "GET", &format!("/v1/admin/requests/{id}"), None).await;
    assert_eq!((status, &shown["status"]), (200, &json!("open")), "{shown}");
    assert_eq!(call(&env, "GET", "/v1/admin/requests", None).await.1["items"][0]["request_id"], id.as_str());
    let (status, closed) = call(&env, "POST", &format!("/v1/admin/requests/{id}/close"), Some(&json!({"outcome": "done"}))).await;
    assert_eq!((status, &closed["status"]), (200, &json!("done")), "a record without a revision is changed as revision 0: {closed}");
}
