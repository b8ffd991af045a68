//! No personal data in logs (docs/api.md conventions, docs/legal.md art32).

use serde_json::json;
use zgoda_tests::{TestEnv, address, captured_logs, contact_form};

#[tokio::test]
async fn art32_the_logs_of_a_submission_hold_no_address_name_or_message() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address("logged");
    let local_part = email.split('@').next().unwrap().to_owned();
    let name = format!("Bożydar Nazwisko{}", zgoda_tests::unique());
    let message = format!("Prywatna wiadomość {}", zgoda_tests::unique());
    let good =
        json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "name": name, "message": message});
    let resp = env.submit_json("kontakt", &good).await;
    assert_eq!(resp.status(), 201);
    let receipt = resp.json::<serde_json::Value>().await.unwrap()["receipt_id"].as_str().unwrap().to_owned();
    let bad = json!({"email": email, "notice_version": "2026-11", "name": name, "message": message});
    assert_eq!(env.submit_json("kontakt", &bad).await.status(), 422);
    env.lookup(&email).await;

    let logs = String::from_utf8(captured_logs().lock().unwrap().clone()).unwrap();
    assert!(logs.contains(&receipt), "the submission was logged (by receipt id), so the capture works");
    for secret in [email.as_str(), local_part.as_str(), name.as_str(), message.as_str()] {
        assert!(!logs.contains(secret), "logs leak {secret:?}");
    }
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every log line is JSON");
    }
}
