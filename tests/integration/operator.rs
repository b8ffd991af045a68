//! docs/api.md §4 (forms, subjects) and the operator signature.

use serde_json::{Value, json};
use zgoda_domain::operator_sig::MAX_SKEW_SECS;
use zgoda_tests::{TestEnv, address, contact_form};

#[tokio::test]
async fn put_form_returns_the_form_with_each_notice_texts_sha256_and_get_returns_the_same() {
    let env = TestEnv::spawn().await;
    let put = env.put_form("kontakt", &contact_form(&address("owner"))).await;
    assert_eq!(put["notice"]["version"], "2026-11");
    assert_eq!(put["notice"]["sha256"]["pl"].as_str().unwrap().len(), 64);
    assert_ne!(put["notice"]["sha256"]["pl"], put["notice"]["sha256"]["en"]);
    let get: Value = env.operator("GET", "/v1/admin/forms/kontakt", None).await.json().await.unwrap();
    assert_eq!(get, put);
    let missing = env.operator("GET", "/v1/admin/forms/nope", None).await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_notice_version_is_immutable_and_old_versions_stay_listed_and_can_be_retired() {
    let env = TestEnv::spawn().await;
    let mut form = contact_form(&address("owner"));
    env.put_form("kontakt", &form).await;
    let before = env.state().await;
    form["notice"]["texts"]["pl"] = json!("Inna treść");
    let resp = env.operator("PUT", "/v1/admin/forms/kontakt", Some(&form)).await;
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["code"], "notice_version_exists");
    assert_eq!(env.state().await, before, "the refused update changed nothing");

    form["notice"]["version"] = json!("2026-12");
    form["retired_notices"] = json!(["2026-11"]);
    let stored = env.put_form("kontakt", &form).await;
    assert_eq!(stored["notices"].as_array().unwrap().len(), 2);
    assert_eq!(stored["notices"][0], json!({"version": "2026-11", "retired": true, "sha256": stored["notices"][0]["sha256"]}));
    let old = env.submit_json("kontakt", &json!({"email": address("o"), "consent": ["contact_reply"], "notice_version": "2026-11"})).await;
    assert_eq!(old.status(), 409, "a retired version is stale");
    let new = env.submit_json("kontakt", &json!({"email": address("n"), "consent": ["contact_reply"], "notice_version": "2026-12"})).await;
    assert_eq!(new.status(), 201);
}

#[tokio::test]
async fn art7_2_form_validation_reports_every_field() {
    let env = TestEnv::spawn().await;
    let mut form = contact_form(&address("owner"));
    form["purposes"][0]["required"] = json!(true);
    form["allowed_origins"] = json!(["javascript:alert(1)"]);
    form["success_url"] = json!("//evil.example");
    form["name"] = json!("Formularz\r\nBcc: x@example.com");
    let resp = env.operator("PUT", "/v1/admin/forms/kontakt", Some(&form)).await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    let fields: Vec<String> = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}", f["field"].as_str().unwrap(), f["code"].as_str().unwrap()))
        .collect();
    for want in ["purposes[0].required:consent_cannot_be_required", "allowed_origins[0]:invalid", "success_url:invalid", "name:invalid"] {
        assert!(fields.contains(&want.to_owned()), "{want} in {fields:?}");
    }
    let unknown = env.operator("PUT", "/v1/admin/forms/kontakt", Some(&json!({"nam": "typo"}))).await;
    assert_eq!(unknown.status(), 422);
    assert!(env.items("FORM#").await.is_empty());
}

/// The 422's fields as `field:code`.
async fn field_errors(resp: reqwest::Response) -> Vec<String> {
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    let fields = body["error"]["fields"].as_array().cloned().unwrap_or_default();
    fields.iter().map(|f| format!("{}:{}", f["field"].as_str().unwrap(), f["code"].as_str().unwrap())).collect()
}

#[tokio::test]
async fn pke398_a_consent_purpose_is_double_opt_in_unless_the_form_records_why_and_only_consent_is_an_audience() {
    let env = TestEnv::spawn().await;
    let mut form = contact_form(&address("owner"));
    form["purposes"][0]["double_opt_in"] = json!(false);
    let unreasoned = env.operator("PUT", "/v1/admin/forms/kontakt", Some(&form)).await;
    assert_eq!(field_errors(unreasoned).await, ["purposes[0].single_opt_in_reason:required"]);
    assert!(env.items("FORM#").await.is_empty(), "nothing stored");
    form["purposes"][0]["single_opt_in_reason"] = json!("Zapis przy kasie sklepu, potwierdzony podpisem.");
    let saved = env.put_form("kontakt", &form).await;
    assert_eq!(saved["purposes"][0]["single_opt_in_reason"], "Zapis przy kasie sklepu, potwierdzony podpisem.");

    let email = address("lista");
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let newsletter: Value = env.operator("GET", "/v1/admin/audiences/newsletter", None).await.json().await.unwrap();
    assert_eq!(newsletter["items"][0]["email"], email.as_str());

    // art6: a contract purpose is no mailing list, however many people it holds.
    let contract = env.operator("GET", "/v1/admin/audiences/contact_reply", None).await;
    assert_eq!(field_errors(contract).await, ["purpose:basis_is_contract"]);
    let unknown = env.operator("GET", "/v1/admin/audiences/nobody_declared_this", None).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.json::<Value>().await.unwrap()["error"]["code"], "purpose_not_found");

    // Nor does it become one by being declared as consent in another form.
    let mut relabelled = contact_form(&address("owner"));
    relabelled["purposes"][1] = json!({"id": "contact_reply", "lawful_basis": "consent"});
    let resp = env.operator("PUT", "/v1/admin/forms/inna", Some(&relabelled)).await;
    assert_eq!(field_errors(resp).await, ["purposes[1].lawful_basis:differs_from_declared"]);
    assert!(env.items("FORM#inna").await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_bad_signature_an_old_timestamp_and_a_replay_are_each_401() {
    let env = TestEnv::spawn().await;
    let path = "/v1/admin/forms/kontakt";
    let now = chrono::Utc::now().timestamp();

    let good = env.sign("GET", path, b"", now);
    let ok = env.raw_operator("GET", path, vec![], &good).await;
    assert_eq!(ok.status(), 404, "authenticated; the form just does not exist");
    let replay = env.raw_operator("GET", path, vec![], &good).await;
    assert_eq!(replay.status(), 401, "the same signature twice");

    let mut tampered = env.sign("GET", path, b"", now + 1);
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(env.raw_operator("GET", path, vec![], &tampered).await.status(), 401);

    // Outside the skew window by a clear margin, measured from the clock as it is now: a slow
    // machine must not let the test's own minutes drift a "future" signature back into the window.
    let margin = MAX_SKEW_SECS + 30;
    let old = env.sign("GET", path, b"", chrono::Utc::now().timestamp() - margin);
    assert_eq!(env.raw_operator("GET", path, vec![], &old).await.status(), 401);
    let future = env.sign("GET", path, b"", chrono::Utc::now().timestamp() + margin);
    assert_eq!(env.raw_operator("GET", path, vec![], &future).await.status(), 401);

    let other_path = env.sign("GET", "/v1/admin/forms/other", b"", now + 2);
    assert_eq!(env.raw_operator("GET", path, vec![], &other_path).await.status(), 401);
    let body_signed = env.sign("PUT", path, b"{}", now + 3);
    assert_eq!(env.raw_operator("PUT", path, b"{\"a\":1}".to_vec(), &body_signed).await.status(), 401);
    let unknown_kid = good.replace(&format!("kid={}", env.operator.kid), "kid=somebody");
    assert_eq!(env.raw_operator("GET", path, vec![], &unknown_kid).await.status(), 401);

    let none = env.http.get(format!("{}{path}", env.url)).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body, json!({"error": {"code": "unauthorized", "message": "Unauthorized."}}), "no detail");
}

#[tokio::test]
async fn lookup_of_an_unknown_subject_is_404_and_a_bad_address_is_422() {
    let env = TestEnv::spawn().await;
    let (status, body) = env.lookup(&address("nobody")).await;
    assert_eq!((status, body["error"]["code"].as_str().unwrap()), (404, "subject_not_found"));
    let (status, body) = env.lookup("not-an-address").await;
    assert_eq!((status, body["error"]["fields"][0]["field"].as_str().unwrap()), (422, "email"));
}

#[tokio::test]
async fn an_issued_link_names_every_bad_field_at_once_and_never_drops_a_bad_purpose() {
    let env = TestEnv::spawn().await;
    let email = address("issue-fields");
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let post = json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11", "name": "Zofia Testowa", "message": "Dzień dobry"});
    assert_eq!(env.submit_json("kontakt", &post).await.status(), 201);
    let env = &env;
    let issue = |body: Value| async move {
        let resp = env.operator("POST", "/v1/admin/links", Some(&body)).await;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        let fields: Vec<String> =
            body["error"]["fields"].as_array().into_iter().flatten().map(|f| f["field"].as_str().unwrap().to_owned()).collect();
        (status, fields)
    };
    let (status, fields) = issue(json!({"email": "nope", "action": "shred", "purpose": "Not A Purpose"})).await;
    assert_eq!((status, fields), (422, vec!["email".to_owned(), "action".to_owned(), "purpose".to_owned()]));
    // A valid action with a purpose that is not one: refused, not issued as if none was named.
    let (status, fields) = issue(json!({"email": email, "action": "access", "purpose": "Not A Purpose"})).await;
    assert_eq!((status, fields), (422, vec!["purpose".to_owned()]));
    let (status, _) = issue(json!({"email": email, "action": "access"})).await;
    assert_eq!(status, 200);
}

/// PKE art. 398, Art. 7(3): an unsubscribe link withdraws a consent. A contract purpose was never
/// the person's to give (the person objects to a legitimate interest instead), so a link that
/// "withdraws" one would record a withdrawal of nothing: it is refused naming the basis, like the
/// purpose's audience, and a purpose no form declares is not found.
#[tokio::test]
async fn art7_3_an_unsubscribe_link_is_issued_only_for_a_consent_purpose() {
    let env = TestEnv::spawn().await;
    let email = address("issue-basis");
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let post = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("kontakt", &post).await.status(), 201);
    let issue = |purpose: &'static str| {
        let body = json!({"email": email, "action": "unsubscribe", "purpose": purpose});
        let env = &env;
        async move { env.operator("POST", "/v1/admin/links", Some(&body)).await }
    };
    let resp = issue("contact_reply").await;
    assert_eq!(resp.status(), 422);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["fields"], json!([{"field": "purpose", "code": "basis_is_contract"}]), "{body}");
    let resp = issue("never_declared").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(issue("newsletter").await.status(), 200);
}

#[tokio::test]
async fn healthz_answers_when_the_table_is_reachable() {
    let env = TestEnv::spawn().await;
    let resp = env.http.get(format!("{}/healthz", env.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

/// Security review L6: the operators' ring is read again once it is older than its maximum age, so
/// a key added to the secret works and a removed one stops working without a redeploy.
#[tokio::test]
async fn l6_an_operator_key_added_or_removed_in_the_secret_takes_effect_without_a_redeploy() {
    let mut env = TestEnv::spawn_with(|c| c.settings.operator_ring_max_age = chrono::Duration::zero()).await;
    assert_eq!(env.operator("GET", "/v1/breaches", None).await.status(), 200);
    let first = env.operator.clone();
    let name = format!("{}operators", env.config.secrets_prefix);
    let read = env.clients.secrets.get_secret_value().secret_id(&name).send().await.unwrap();
    let mut ring: Value = serde_json::from_str(read.secret_string().unwrap()).unwrap();
    let second = zgoda_local::provision::OperatorKey { kid: "ops-anna".into(), key_hex: zgoda_domain::keys::SecretKey::generate_hex() };
    ring["keys"][&second.kid] = json!(second.key_hex);
    zgoda_aws::secrets::put_secret(&env.clients.secrets, &name, &ring.to_string()).await.unwrap();

    env.operator = second.clone();
    assert_eq!(env.operator("GET", "/v1/breaches", None).await.status(), 200, "an added key works at once");

    ring["keys"].as_object_mut().unwrap().remove(&first.kid);
    ring["current"] = json!(second.kid);
    zgoda_aws::secrets::put_secret(&env.clients.secrets, &name, &ring.to_string()).await.unwrap();
    assert_eq!(env.operator("GET", "/v1/breaches", None).await.status(), 200, "the remaining key still works");
    env.operator = first;
    assert_eq!(env.operator("GET", "/v1/breaches", None).await.status(), 401, "a removed key stops working");
}
