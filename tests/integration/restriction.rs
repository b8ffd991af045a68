//! Restriction on the grounds of Art. 18(1)(a)–(c) (docs/legal.md art18): asked for on the privacy
//! page and applied from the choices page, or recorded by the operator; lifted by the operator only
//! after the person is told why.

use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, mails_to};

#[tokio::test]
async fn art18_a_person_restricts_their_data_on_contested_accuracy_and_the_operator_lifts_it_telling_them_first() {
    let env = TestEnv::spawn().await;
    env.put_form("uslugi", &crate::choices::services_form(&address("owner"))).await;
    let email = address("restrict");
    let body = json!({"email": email, "consent": ["contact_reply", "postal_offers", "fraud_checks"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("uslugi", &body).await.status(), 201);
    assert_eq!(env.privacy_request(&email, "restriction").await.status(), 202);
    let mail = mails_to(&email)
        .await
        .into_iter()
        .find(|m| m.subject() == "Your choices: withdraw a consent, object or restrict")
        .expect("the link");
    let link = mail.links()[0].clone();
    let page = env.http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"restrict\"") && page.contains("id=\"ground-accuracy\""), "{page}");

    let before = env.state().await;
    let resp = env.http.post(&link).form(&[("ground", "guesswork")]).send().await.unwrap();
    assert_eq!(resp.status(), 422);
    assert!(resp.text().await.unwrap().contains("ground"));
    assert_eq!(env.state().await, before, "nothing written");

    let resp = env.http.post(&link).form(&[("ground", "accuracy")]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("data-outcome=\"restricted_all\""));
    let (_, view) = env.lookup(&email).await;
    assert_eq!((&view["state"]["contact_reply"], &view["state"]["fraud_checks"]), (&json!("restricted"), &json!("restricted")));
    let last = view["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ground"], "accuracy", "the ground is sealed: {last}");
    let closed: Value = env.operator("GET", "/v1/admin/requests?status=closed", None).await.json().await.unwrap();
    let subject = env.subject_id(&email).await;
    assert!(closed["items"].as_array().unwrap().iter().any(|r| r["subject_id"] == subject.as_str() && r["kind"] == "restriction"));

    let no_reasons = env.operator("POST", "/v1/admin/subjects/lift-restriction", Some(&json!({"email": email}))).await;
    assert_eq!(no_reasons.status(), 422);
    let reasons = "Sprawdziliśmy dane w umowie: są prawidłowe.";
    let lifted = env.operator("POST", "/v1/admin/subjects/lift-restriction", Some(&json!({"email": email, "reasons": reasons}))).await;
    assert_eq!(lifted.status(), 200);
    let told = mails_to(&email).await.into_iter().find(|m| m.text().contains(reasons)).expect("told why");
    assert!(told.text().contains("uodo.gov.pl"), "{}", told.text());
    let (_, view) = env.lookup(&email).await;
    assert_eq!((&view["state"]["contact_reply"], &view["state"]["fraud_checks"]), (&json!("informed"), &json!("informed")));
    assert_eq!(view["proof"]["verified"], true);
}

#[tokio::test]
async fn art18_the_operator_records_a_restriction_for_legal_claims_and_a_bad_ground_is_a_422() {
    let env = TestEnv::spawn().await;
    env.put_form("uslugi", &crate::choices::services_form(&address("owner"))).await;
    let email = address("restrict-operator");
    let body =
        json!({"email": email, "consent": ["newsletter", "contact_reply", "postal_offers", "fraud_checks"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("uslugi", &body).await.status(), 201);
    let bad = env.operator("POST", "/v1/admin/subjects/restrict", Some(&json!({"email": email, "ground": "whim"}))).await;
    assert_eq!(bad.status(), 422);
    let err: Value = bad.json().await.unwrap();
    assert_eq!(err["error"]["fields"][0]["field"], "ground");
    let done = env.operator("POST", "/v1/admin/subjects/restrict", Some(&json!({"email": email, "ground": "legal_claims"}))).await;
    assert_eq!(done.status(), 200);
    let answer: Value = done.json().await.unwrap();
    assert_eq!(
        answer["purposes"],
        json!(["contact_reply", "fraud_checks", "postal_offers"]),
        "the consent awaiting confirmation is not in use"
    );
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["state"]["newsletter"], "requested");
    let unknown = json!({"email": address("nobody-restrict"), "ground": "accuracy"});
    assert_eq!(env.operator("POST", "/v1/admin/subjects/restrict", Some(&unknown)).await.status(), 404);
}
