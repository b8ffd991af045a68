//! The sealed consent proof, checked through the operator lookup after direct tampering with
//! DynamoDB, and across a key rotation.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use zgoda_aws::secrets;
use zgoda_domain::keys::SecretKey;
use zgoda_tests::{TestEnv, address, contact_form};

async fn subject_with_events(env: &TestEnv, email: &str, submissions: usize) -> Vec<Value> {
    for _ in 0..submissions {
        let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"});
        assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    }
    let (status, view) = env.lookup(email).await;
    assert_eq!(status, 200);
    assert_eq!(view["proof"]["verified"], true);
    view["events"].as_array().unwrap().clone()
}

fn pk(e: &Value) -> String {
    format!("SUBJECT#{}", e["subject_id"].as_str().unwrap())
}

fn sk(e: &Value) -> String {
    format!("EVENT#{}", e["event_id"].as_str().unwrap())
}

#[tokio::test]
async fn art7_1_any_field_changed_in_dynamodb_breaks_the_proof_at_that_event() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let changes: [(&str, AttributeValue); 6] = [
        ("kind", AttributeValue::S("given".into())),
        ("notice_sha256", AttributeValue::S("0".repeat(64))),
        ("at", AttributeValue::S("2020-01-01T00:00:00.000Z".into())),
        ("ip_prefix", AttributeValue::S("10.0.0.0/24".into())),
        ("lawful_basis", AttributeValue::S("legitimate_interest".into())),
        ("seal", AttributeValue::S("ab".repeat(32))),
    ];
    for (field, value) in changes {
        let email = address("tamper");
        let events = subject_with_events(&env, &email, 1).await;
        let target = &events[0];
        env.set_attribute(&pk(target), &sk(target), field, value).await;
        let (_, view) = env.lookup(&email).await;
        assert_eq!(view["proof"]["verified"], false, "changing {field} was not noticed");
        assert_eq!(view["proof"]["broken_at"], target["event_id"], "{field}");
    }
}

#[tokio::test]
async fn art5_2_a_deleted_middle_or_last_event_is_detected() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address("del");
    let events = subject_with_events(&env, &email, 2).await;
    assert_eq!(events.len(), 4);
    env.delete_item(&pk(&events[1]), &sk(&events[1])).await;
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["proof"], json!({"verified": false, "events": 3, "broken_at": events[2]["event_id"]}));

    let email = address("del-last");
    let events = subject_with_events(&env, &email, 1).await;
    env.delete_item(&pk(&events[1]), &sk(&events[1])).await;
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["proof"]["verified"], false);
}

#[tokio::test]
async fn events_sealed_under_an_old_key_id_still_verify_after_the_current_key_changes() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address("rot");
    let old = subject_with_events(&env, &email, 1).await;
    assert!(old.iter().all(|e| e["kid"] == "k1"));

    // Rotation as the README describes it: add a key, make it current, keep the old one.
    let name = format!("{}seals", env.config.secrets_prefix);
    let current = env.clients.secrets.get_secret_value().secret_id(&name).send().await.unwrap();
    let mut ring: Value = serde_json::from_str(current.secret_string().unwrap()).unwrap();
    ring["keys"]["k2"] = json!(SecretKey::generate_hex());
    ring["current"] = json!("k2");
    secrets::put_secret(&env.clients.secrets, &name, &ring.to_string()).await.unwrap();
    let env = env.restart().await;

    let all = subject_with_events(&env, &email, 1).await;
    let kids: Vec<&str> = all.iter().map(|e| e["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, vec!["k1", "k1", "k2", "k2"]);
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["proof"], json!({"verified": true, "events": 4, "broken_at": null}));

    // Removing the old key is what breaks old proofs; the README warns against it.
    ring["keys"].as_object_mut().unwrap().remove("k1");
    secrets::put_secret(&env.clients.secrets, &name, &ring.to_string()).await.unwrap();
    let env = env.restart().await;
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["proof"]["verified"], false);
}

#[tokio::test]
async fn art7_1_lookup_state_follows_the_latest_event_and_expires_unconfirmed_requests() {
    let env = TestEnv::spawn_with(|c| c.settings.confirm_ttl = chrono::Duration::seconds(1)).await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address("exp");
    subject_with_events(&env, &email, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, view) = env.lookup(&email).await;
    assert_eq!(view["state"], json!({"newsletter": "expired", "contact_reply": "informed"}));
}
