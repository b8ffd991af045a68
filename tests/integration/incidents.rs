//! Incidents before the register (issue 22): reporting links handed to staff and partners, the
//! report page in Chromium, the contact point's mail, and triage through the operator API.

use serde_json::{Value, json};
use zgoda_tests::browser::Browser;
use zgoda_tests::{TestEnv, address, mails_to};

use crate::breaches::breach_body;

/// Where incident reports go in the local stack: the example controller's DPO.
const CONTACT_POINT: &str = "iod@sklep.example.pl";

async fn channel(env: &TestEnv, id: &str, name: &str) -> Value {
    let resp = env.operator("POST", "/v1/admin/reporting-links", Some(&json!({"channel_id": id, "name": name}))).await;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    v
}

/// A unique channel id per run: the emulator is shared by every test of the binary.
fn channel_id(tag: &str) -> String {
    format!("{tag}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The mail to the contact point about one incident.
async fn report_mail(incident: &str) -> zgoda_tests::Mail {
    let mails = mails_to(CONTACT_POINT).await;
    mails.into_iter().find(|m| m.subject().contains(incident)).unwrap_or_else(|| panic!("no mail about {incident}"))
}

async fn report_in_browser(b: &Browser, link: &str, what: &str, reporter: &str) -> String {
    b.goto(link).await;
    b.wait_for("id=\"report\"").await;
    b.type_into("#what", what).await;
    b.type_into("#when", "dziś ok. 9:15").await;
    b.type_into("#data", "imię, nazwisko, adres").await;
    b.type_into("#noticed_by", "Jan z obsługi").await;
    b.type_into("#contact_email", reporter).await;
    b.click("#send").await;
    b.wait_for("id=\"reference\"").await;
    b.text_of("#reference").await
}

#[tokio::test]
async fn seed_detect_reports_reach_the_contact_point_and_triage_closes_one_asks_on_another_and_registers_a_third_in_chromium() {
    let env = TestEnv::spawn().await;
    let link = channel(&env, &channel_id("obsluga"), "Obsługa klienta").await["url"].as_str().unwrap().to_owned();
    let reporter = address("reporter");

    let b = Browser::start("pl").await;
    b.goto(&link).await;
    b.wait_for("id=\"report\"").await;
    assert!(b.text_of("#channel").await.contains("Obsługa klienta"));
    b.screenshot("20-report-page-pl").await;
    // Sent empty: the page comes back with each problem named, and nothing is stored.
    b.eval("document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))").await;
    b.click("#send").await;
    b.wait_for("id=\"errors\"").await;
    assert!(b.source().await.contains("data-field=\"what\""));
    let dismissed = report_in_browser(&b, &link, "Faktura wysłana do innej klientki.", &reporter).await;
    assert!(b.text_of("#result").await.contains("Dziękujemy"), "the reporter sees it arrived");
    b.screenshot("21-report-received-pl").await;
    b.click("#again").await;
    b.wait_for("id=\"report\"").await;
    let asked = report_in_browser(&b, &link, "Ktoś dzwonił i znał numer zamówienia.", &reporter).await;
    let registered = report_in_browser(&b, &link, "Laptop z bazą klientów zginął w pociągu.", &reporter).await;

    let mail = report_mail(&dismissed).await;
    assert!(mail.text().contains("Faktura wysłana do innej klientki.") && mail.text().contains("Obsługa klienta"), "{}", mail.text());
    let listed: Value = env.operator("GET", "/v1/incidents", None).await.json().await.unwrap();
    for id in [&dismissed, &asked, &registered] {
        assert!(listed["items"].as_array().unwrap().iter().any(|i| &i["incident_id"] == id && i["status"] == "triage"), "{id}: {listed}");
    }

    let close = env
        .operator(
            "POST",
            &format!("/v1/incidents/{dismissed}/close"),
            Some(&json!({"reasons": "Faktura trafiła do właściwej osoby; pomyłka w podglądzie."})),
        )
        .await;
    assert_eq!(close.status(), 200);
    let closed: Value = env.operator("GET", &format!("/v1/incidents/{dismissed}"), None).await.json().await.unwrap();
    assert_eq!((closed["status"].as_str(), closed["triage"]["decision"].as_str()), (Some("not_a_breach"), Some("not_a_breach")));
    assert_eq!(closed["triage"]["reasons"], "Faktura trafiła do właściwej osoby; pomyłka w podglądzie.");

    let ask = env
        .operator("POST", &format!("/v1/incidents/{asked}/ask"), Some(&json!({"question": "Jaki numer zamówienia podał dzwoniący?"})))
        .await;
    assert_eq!(ask.status(), 200);
    let question = mails_to(&reporter).await.into_iter().find(|m| m.subject().contains(&asked)).expect("the question to the reporter");
    assert!(question.text().contains("Jaki numer zamówienia podał dzwoniący?"));
    b.goto(&question.links()[0]).await;
    b.wait_for("id=\"question\"").await;
    b.screenshot("22-answer-page-pl").await;
    b.type_into("#answer", "Zamówienie 1043, dzwonił wczoraj.").await;
    b.click("#send-answer").await;
    b.wait_for("data-outcome=\"answered\"").await;
    b.quit().await;
    let answered: Value = env.operator("GET", &format!("/v1/incidents/{asked}"), None).await.json().await.unwrap();
    assert_eq!(answered["status"], "triage", "back with the DPO");
    assert_eq!(answered["exchanges"][1]["from"], "reporter");
    assert_eq!(answered["exchanges"][1]["text"], "Zamówienie 1043, dzwonił wczoraj.");
    assert!(mails_to(CONTACT_POINT).await.iter().any(|m| m.subject().contains(&asked) && m.subject().contains("odpowiedział")));

    let mut body = breach_body(0);
    let body = body.as_object_mut().unwrap();
    body.remove("detected_at");
    body.remove("occurred_at");
    body.insert("aware_at".into(), json!(chrono::Utc::now().to_rfc3339()));
    body.insert("aware_justification".into(), json!("Potwierdzone po rozmowie ze zgłaszającym."));
    let resp = env.operator("POST", &format!("/v1/incidents/{registered}/breach"), Some(&Value::Object(body.clone()))).await;
    let status = resp.status();
    let breach: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{breach}");
    assert_eq!(breach["id"].as_str(), Some(registered.as_str()), "the breach keeps the incident's id");
    let incident: Value = env.operator("GET", &format!("/v1/incidents/{registered}"), None).await.json().await.unwrap();
    assert_eq!(breach["detected_at"], incident["reported_at"], "detected when reported");
    assert_eq!(incident["status"], "breach");
    let again = env.operator("POST", &format!("/v1/incidents/{registered}/close"), Some(&json!({"reasons": "x"}))).await;
    assert_eq!(again.status(), 422, "triage is over");
}

#[tokio::test]
async fn seed_detect_a_rotated_reporting_link_says_whom_to_write_to_and_stores_nothing() {
    let env = TestEnv::spawn().await;
    let id = channel_id("kurier");
    let old = channel(&env, &id, "Kurier X").await["url"].as_str().unwrap().to_owned();
    let rotated = env.operator("POST", &format!("/v1/admin/reporting-links/{id}/rotate"), None).await;
    assert_eq!(rotated.status(), 200);
    let new: Value = rotated.json().await.unwrap();
    assert_eq!(new["generation"], 2);

    let page = env.http.get(&old).send().await.unwrap();
    assert_eq!(page.status(), 400);
    let html = page.text().await.unwrap();
    assert!(html.contains(CONTACT_POINT), "no dead end: the page says whom to write to");
    let form = [("what", "x"), ("noticed_by", "y"), ("contact_email", "z@example.pl")];
    assert_eq!(env.http.post(&old).form(&form).send().await.unwrap().status(), 400);
    let now_ok = env.http.get(new["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(now_ok.status(), 200);
    assert!(now_ok.headers()["content-security-policy"].to_str().unwrap().contains("default-src"));
    let en = env.http.get(format!("{}?lang=en", new["url"].as_str().unwrap())).send().await.unwrap().text().await.unwrap();
    assert!(en.contains("Report a suspected incident") && en.contains("Kurier X"), "in English too");

    let bad = env.http.post(new["url"].as_str().unwrap()).form(&[("what", "Coś"), ("contact_email", "nie-adres")]).send().await.unwrap();
    assert_eq!(bad.status(), 422);
    let html = bad.text().await.unwrap();
    assert!(
        html.contains("data-field=\"noticed_by\"") && html.contains("data-field=\"contact_email\"") && html.contains(">Coś</textarea>"),
        "{html}"
    );
    let listed: Value = env.operator("GET", "/v1/incidents?status=all", None).await.json().await.unwrap();
    assert!(!listed.to_string().contains("Kurier X"), "nothing stored: {listed}");

    let person_link = env.http.get(old.replace("/v1/report/", "/v1/links/")).send().await.unwrap();
    assert_eq!(person_link.status(), 400, "a reporting link is no person's link");
    assert_eq!(env.operator("GET", "/v1/incidents?status=maybe", None).await.status(), 422);
    assert_eq!(env.operator("GET", "/v1/incidents/01NOSUCHINCIDENT", None).await.status(), 404);
    let taken = env.operator("POST", "/v1/admin/reporting-links", Some(&json!({"channel_id": id, "name": "again"}))).await;
    assert_eq!(taken.status(), 422);
}

#[tokio::test]
async fn seed_detect_the_deadline_watch_recalls_an_incident_left_a_day_without_triage() {
    let env = TestEnv::spawn().await;
    let link = channel(&env, &channel_id("magazyn"), "Magazyn").await["url"].as_str().unwrap().to_owned();
    let form = [("what", "Otwarta szafa z dokumentami klientów."), ("noticed_by", "Ola"), ("contact_email", "ola@sklep.example.pl")];
    let page = env.http.post(&link).form(&form).send().await.unwrap();
    assert_eq!(page.status(), 201);
    let listed: Value = env.operator("GET", "/v1/incidents", None).await.json().await.unwrap();
    let id = listed["items"].as_array().unwrap().iter().find(|i| i["channel_name"] == "Magazyn").unwrap()["incident_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now();
    assert!(!watch(&env, &id, now + chrono::Duration::hours(23)).await, "not before a day");
    assert!(watch(&env, &id, now + chrono::Duration::hours(25)).await);
    assert!(!watch(&env, &id, now + chrono::Duration::hours(26)).await, "once");
    assert!(mails_to(CONTACT_POINT).await.iter().any(|m| m.subject().contains(&id) && m.subject().contains("czeka na ocenę")));
}

/// One run of the deadline watch at `at`: whether it recalled incident `id`.
async fn watch(env: &TestEnv, id: &str, at: chrono::DateTime<chrono::Utc>) -> bool {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/deadline-watch/schedule.json")).unwrap(),
    )
    .unwrap();
    event["time"] = json!(at.to_rfc3339());
    let out = deadline_watch::handle_app(&env.local.apps.deadline_watch, serde_json::from_value(event).unwrap()).await.unwrap();
    out["triage_reminders"].as_array().unwrap().iter().any(|i| i == id)
}
