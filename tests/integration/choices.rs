//! The person's choices page (docs/legal.md art7_3, art18, art21): asked for on the privacy page,
//! reached by the link mailed to the address; a consent withdrawn there, a legitimate interest
//! objected to: direct marketing stops at once and for good, anything else is restricted until the
//! operator decides, and the decision reaches the person.

use serde_json::{Value, json};
use zgoda_tests::{ORIGIN, TestEnv, address, mails_to};

const NOTE: &str = "Test równowagi 2026-11: opisany w rejestrze czynności przetwarzania.";

/// A form with a consent, a contract, and two legitimate interests: offers by post (direct
/// marketing) and fraud checks.
pub(crate) fn services_form(owner: &str) -> Value {
    json!({
        "name": "Usługi", "allowed_origins": [ORIGIN], "default_lang": "pl",
        "fields": [{"name": "name", "kind": "text", "required": false, "max_len": 100}],
        "purposes": [
            {"id": "newsletter", "lawful_basis": "consent", "double_opt_in": true, "labels": {"pl": "Newsletter", "en": "Newsletter"}},
            {"id": "contact_reply", "lawful_basis": "contract", "required": true},
            {"id": "postal_offers", "lawful_basis": "legitimate_interest", "required": true, "balancing_note": NOTE, "direct_marketing": true,
             "labels": {"pl": "Oferty pocztą", "en": "Offers by post"}},
            {"id": "fraud_checks", "lawful_basis": "legitimate_interest", "required": true, "balancing_note": NOTE,
             "labels": {"pl": "Kontrola nadużyć", "en": "Fraud checks"}}
        ],
        "notify": [owner], "retention_days": 365,
        "notice": {"version": "2026-11", "texts": {"pl": "Treść informacji", "en": "Notice text"}}
    })
}

/// A person on file who asked on the privacy page, in English, to withdraw or object: the choices
/// link mailed (it opens in English).
async fn choices_link(env: &TestEnv, tag: &str) -> (String, String) {
    env.put_form("uslugi", &services_form(&address("owner"))).await;
    let email = address(tag);
    let consent = ["newsletter", "contact_reply", "postal_offers", "fraud_checks"];
    let body = json!({"email": email, "consent": consent, "notice_version": "2026-11"});
    assert_eq!(env.submit_json("uslugi", &body).await.status(), 201);
    assert_eq!(env.privacy_request(&email, "objection").await.status(), 202);
    let mail = mails_to(&email)
        .await
        .into_iter()
        .find(|m| m.subject() == "Your choices: withdraw a consent, object or restrict")
        .expect("the link");
    (email, mail.links()[0].clone())
}

async fn choose(env: &TestEnv, link: &str, purpose: &str, right: &str) -> (u16, String) {
    let resp = env.http.post(link).form(&[("purpose", purpose), ("right", right)]).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn art21_an_objection_to_direct_marketing_stops_it_and_another_restricts_the_purpose_until_the_operator_decides() {
    let env = TestEnv::spawn().await;
    let (email, link) = choices_link(&env, "object").await;
    let page = env.http.get(&link).send().await.unwrap().text().await.unwrap();
    for offered in ["object-postal_offers", "object-fraud_checks", "withdraw-newsletter"] {
        assert!(page.contains(&format!("id=\"{offered}\"")), "{offered} offered: {page}");
    }
    assert!(!page.contains("-contact_reply\""), "a contract is not open to objection");
    assert!(page.contains("Fraud checks") && !page.contains(&email), "purposes in words, the person never named: {page}");

    let (status, stopped) = choose(&env, &link, "postal_offers", "object").await;
    assert_eq!(status, 200, "{stopped}");
    assert!(stopped.contains("data-outcome=\"stopped\"") && stopped.contains("Offers by post"), "{stopped}");
    let (_, restricted) = choose(&env, &link, "fraud_checks", "object").await;
    assert!(restricted.contains("data-outcome=\"restricted\""), "{restricted}");

    let (_, view) = env.lookup(&email).await;
    assert_eq!((&view["state"]["postal_offers"], &view["state"]["fraud_checks"]), (&json!("objected"), &json!("restricted")));
    assert_eq!(view["proof"]["verified"], true, "both sealed in the chain");

    // One request waits for the operator: the one the person made on the privacy page, now
    // naming the purpose, its month counted from then.
    let open: Value = env.operator("GET", "/v1/admin/requests", None).await.json().await.unwrap();
    let subject = env.subject_id(&email).await;
    let mine: Vec<&Value> = open["items"].as_array().unwrap().iter().filter(|r| r["subject_id"] == subject.as_str()).collect();
    let [request] = mine[..] else { panic!("one open request: {open}") };
    assert_eq!(
        (&request["kind"], &request["purpose"], &request["outcome"]),
        (&json!("objection"), &json!("fraud_checks"), &json!("restricted"))
    );

    let id = request["request_id"].as_str().unwrap();
    let reasons = "Kontrola nadużyć chroni też Panią; dane tylko przez 30 dni.";
    let closed =
        env.operator("POST", &format!("/v1/admin/requests/{id}/close"), Some(&json!({"outcome": "refused", "reasons": reasons}))).await;
    assert_eq!(closed.status(), 200);
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["state"]["fraud_checks"], "informed", "overruled: the purpose applies again");
    assert_eq!(view["state"]["postal_offers"], "objected", "direct marketing stays stopped");
    let kinds: Vec<&str> = view["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds[kinds.len() - 3..], ["objected", "restricted", "resumed"]);
    let refusal = mails_to(&email).await.into_iter().find(|m| m.text().contains(reasons)).expect("the reasons mailed");
    assert!(refusal.text().contains("uodo.gov.pl"), "and the right to complain: {}", refusal.text());
}

#[tokio::test]
async fn art7_3_a_consent_chosen_on_the_choices_page_is_withdrawn_and_the_request_answered() {
    let env = TestEnv::spawn().await;
    let (email, link) = choices_link(&env, "withdraw").await;
    let (status, page) = choose(&env, &link, "newsletter", "withdraw").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("data-outcome=\"done\"") && page.contains("Newsletter"), "{page}");
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["state"]["newsletter"], "withdrawn");
    let done: Value = env.operator("GET", "/v1/admin/requests?status=closed", None).await.json().await.unwrap();
    let subject = env.subject_id(&email).await;
    assert!(
        done["items"].as_array().unwrap().iter().any(|r| r["subject_id"] == subject.as_str() && r["status"] == "done"),
        "the request the person made is answered: {done}"
    );
}

#[tokio::test]
async fn art21_a_choice_the_page_does_not_offer_is_a_422_naming_the_field_and_changes_nothing() {
    let env = TestEnv::spawn().await;
    let (_, link) = choices_link(&env, "bad-choice").await;
    let before = env.state().await;
    for (purpose, right, field) in [("contact_reply", "object", "purpose"), ("fraud_checks", "dance", "right"), ("", "object", "purpose")] {
        let (status, page) = choose(&env, &link, purpose, right).await;
        assert_eq!(status, 422, "{purpose} {right}: {page}");
        assert!(page.contains(field), "{page}");
    }
    assert_eq!(env.state().await, before, "nothing written");
}
