//! Rectification (docs/legal.md art16): the person corrects what their forms carried on the page
//! a `rectify` link opens (asked for on the privacy page), or the operator does; a new e-mail
//! address is confirmed from that address, the person's history continues under it, and the old
//! address keeps only a forwarding record.

use serde_json::{Value, json};
use zgoda_tests::{ORIGIN, TestEnv, address, mails_to};

/// A form with a required name and an optional phone.
pub(crate) fn shop_form(owner: &str) -> Value {
    json!({
        "name": "Sklep", "allowed_origins": [ORIGIN], "default_lang": "pl",
        "fields": [
            {"name": "name", "kind": "text", "required": true, "max_len": 100, "labels": {"pl": "Imię i nazwisko", "en": "Full name"}},
            {"name": "phone", "kind": "phone", "required": false, "labels": {"pl": "Telefon", "en": "Phone"}}
        ],
        "purposes": [
            {"id": "newsletter", "lawful_basis": "consent", "double_opt_in": false, "single_opt_in_reason": "Zapis w sklepie stacjonarnym."},
            {"id": "contact_reply", "lawful_basis": "contract", "required": true}
        ],
        "notify": [owner], "retention_days": 365,
        "notice": {"version": "2026-11", "texts": {"pl": "Treść informacji", "en": "Notice text"}}
    })
}

/// A person on file who asked on the privacy page, in English, for a correction: the rectify link.
pub(crate) async fn rectify_link(env: &TestEnv, tag: &str) -> (String, String) {
    env.put_form("sklep", &shop_form(&address("owner"))).await;
    let email = address(tag);
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "name": "Jan Kowalsky"});
    assert_eq!(env.submit_json("sklep", &body).await.status(), 201);
    assert_eq!(env.privacy_request(&email, "rectification").await.status(), 202);
    let mail = mails_to(&email).await.into_iter().find(|m| m.subject() == "Your data: link to correct it").expect("the link");
    (email, mail.links()[0].clone())
}

#[tokio::test]
async fn art16_a_person_corrects_a_field_on_the_page_and_the_chain_names_the_field_not_the_value() {
    let env = TestEnv::spawn().await;
    let (email, link) = rectify_link(&env, "rectify").await;
    let before = env.state().await;
    let page = env.http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Full name") && page.contains("value=\"Jan Kowalsky\""), "the current value: {page}");
    assert_eq!(env.state().await, before, "the page only reads");

    let resp =
        env.http.post(&link).form(&[("form_id", "sklep"), ("name", "Jan Kowalski"), ("phone", "+48 600 100 200")]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let done = resp.text().await.unwrap();
    assert!(done.contains("data-outcome=\"done\"") && done.contains("Full name, Phone"), "{done}");

    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["submissions"][0]["fields"]["name"], "Jan Kowalski", "{view}");
    assert_eq!(view["submissions"][0]["fields"]["phone"], "+48 600 100 200");
    let last = view["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["kind"], &last["fields"], &last["channel"]), (&json!("rectified"), &json!(["name", "phone"]), &json!("email_link")));
    assert!(!last.to_string().contains("Kowalski"), "the proof names fields, never values: {last}");
    assert_eq!(view["proof"]["verified"], true);

    let closed: Value = env.operator("GET", "/v1/admin/requests?status=closed", None).await.json().await.unwrap();
    let subject = env.subject_id(&email).await;
    assert!(
        closed["items"].as_array().unwrap().iter().any(|r| r["subject_id"] == subject.as_str() && r["kind"] == "rectification"),
        "the request is answered: {closed}"
    );
}

#[tokio::test]
async fn art16_a_bad_correction_is_a_422_naming_each_field_and_changes_nothing() {
    let env = TestEnv::spawn().await;
    let (email, link) = rectify_link(&env, "rectify-bad").await;
    let before = env.state().await;
    let resp = env.http.post(&link).form(&[("form_id", "sklep"), ("name", ""), ("phone", "call me")]).send().await.unwrap();
    assert_eq!(resp.status(), 422);
    let page = resp.text().await.unwrap();
    assert!(page.contains("name") && page.contains("phone"), "{page}");
    let body = json!({"email": email, "form_id": "sklep", "fields": {"pesel": "85010112345"}});
    let resp = env.operator("POST", "/v1/admin/subjects/rectify", Some(&body)).await;
    assert_eq!(resp.status(), 422);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["fields"][0]["field"], "pesel", "{err}");
    assert_eq!(env.state().await, before, "nothing half-written");
}

#[tokio::test]
async fn art16_the_operator_corrects_a_field_for_the_person() {
    let env = TestEnv::spawn().await;
    let (email, _) = rectify_link(&env, "rectify-operator").await;
    let body = json!({"email": email, "form_id": "sklep", "fields": {"name": "Jan Kowalski"}});
    let resp = env.operator("POST", "/v1/admin/subjects/rectify", Some(&body)).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["changed"], json!(["name"]));
    let (_, view) = env.lookup(&email).await;
    let last = view["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["kind"], &last["channel"]), (&json!("rectified"), &json!("operator")));
    let unknown = json!({"email": address("nobody-rectify"), "form_id": "sklep", "fields": {"name": "X"}});
    assert_eq!(env.operator("POST", "/v1/admin/subjects/rectify", Some(&unknown)).await.status(), 404);
}

#[tokio::test]
async fn art16_after_an_address_change_the_new_chain_verifies_and_the_old_address_returns_the_forwarding_record() {
    let env = TestEnv::spawn().await;
    let (old, link) = rectify_link(&env, "move-old").await;
    let new = address("move-new");
    let resp = env.http.post(&link).form(&[("email", new.as_str())]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("data-outcome=\"address_sent\""));

    // During the change a lookup by either address says what is happening.
    let (_, leaving) = env.lookup(&old).await;
    assert_eq!((&leaving["address_change"]["state"], &leaving["address_change"]["new_email"]), (&json!("leaving"), &json!(new)));
    let (status, arriving) = env.lookup(&new).await;
    assert_eq!((status, &arriving["address_change"]["state"], &arriving["email"]), (200, &json!("arriving"), &Value::Null));

    let mail = mails_to(&new).await.into_iter().find(|m| m.subject() == "Please confirm your new e-mail address").expect("the link");
    let confirm = mail.links()[0].clone();
    let page = env.http.get(&confirm).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"act\""), "{page}");
    let resp = env.http.post(&confirm).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("data-outcome=\"done\""));

    let (_, moved) = env.lookup(&new).await;
    assert_eq!(moved["email"], new.as_str());
    assert_eq!(moved["proof"]["verified"], true, "the new chain verifies end to end: {moved}");
    assert_eq!((&moved["state"]["newsletter"], &moved["state"]["contact_reply"]), (&json!("given"), &json!("informed")));
    assert_eq!(moved["submissions"][0]["fields"]["name"], "Jan Kowalsky");
    let old_id = env.subject_id(&old).await;
    assert_eq!((&moved["events"][0]["kind"], &moved["events"][0]["linked_subject"]), (&json!("moved_from"), &json!(old_id)));

    let (status, forwarded) = env.lookup(&old).await;
    assert_eq!(status, 200);
    let new_id = env.subject_id(&new).await;
    assert_eq!((&forwarded["address_change"]["state"], &forwarded["address_change"]["to"]), (&json!("moved"), &json!(new_id)));
    assert_eq!((&forwarded["email"], &forwarded["submissions"], &forwarded["state"]), (&Value::Null, &json!([]), &json!({})), "no data");
    assert_eq!(forwarded["proof"]["verified"], true);

    let told = mails_to(&old).await.into_iter().find(|m| m.subject() == "Your e-mail address was changed");
    assert!(told.is_some(), "the old address is told, in the language the change was asked in");
    let audience: Value = env.operator("GET", "/v1/admin/audiences/newsletter", None).await.json().await.unwrap();
    let emails: Vec<&str> = audience["items"].as_array().unwrap().iter().filter_map(|r| r["email"].as_str()).collect();
    assert!(emails.contains(&new.as_str()) && !emails.contains(&old.as_str()), "{audience}");
}
