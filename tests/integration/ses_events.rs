//! SES feedback through SNS: each `events/ses-events` fixture drives the handler against state the
//! stack really produced (a breach notice sent, with its SES message id).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

/// The address in the fixtures; each test puts its own in its place, so tests sharing the
/// emulator's mailbox never read each other's mail.
const FIXTURE_ADDRESS: &str = "jan.kowalski@example.pl";

/// A fixture about the mail `message_id` to `person`: a breach notice's, tagged with its outbox
/// entry as SES reports every event of a message sent with tags (`notice`: its outbox item), or
/// other mail's, with zgoda's tags taken out.
pub(crate) fn fixture(name: &str, message_id: &str, person: &str, notice: Option<&Value>) -> aws_lambda_events::event::sns::SnsEvent {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../events/ses-events/{name}"));
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let message = v["Records"][0]["Sns"]["Message"].as_str().unwrap().replace(FIXTURE_ADDRESS, person);
    let mut inner: Value = serde_json::from_str(&message).unwrap();
    inner["mail"]["messageId"] = json!(message_id);
    let tags = inner["mail"]["tags"].as_object_mut().unwrap();
    tags.retain(|name, _| !name.starts_with("zgoda-"));
    if let Some(item) = notice {
        let escalation = item["pk"].as_str().unwrap().split('#').nth(1).unwrap();
        let subject = item["sk"].as_str().unwrap().strip_prefix("R#").unwrap();
        tags.insert("zgoda-breach".into(), json!([item["breach_id"]]));
        tags.insert("zgoda-escalation".into(), json!([escalation]));
        tags.insert("zgoda-subject".into(), json!([subject]));
    }
    v["Records"][0]["Sns"]["Message"] = json!(inner.to_string());
    serde_json::from_value(v).unwrap()
}

/// Sends a breach notice to `person` and returns the outbox item once it is finished.
pub(crate) async fn notice_sent(env: &TestEnv, key: &str, person: &str) -> Value {
    let aware = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let b: Value = env
        .operator(
            "POST",
            "/v1/breaches",
            Some(&json!({
            "title": "t", "nature": "n", "cia": {"confidentiality": true, "integrity": false, "availability": false},
            "detected_at": aware, "aware_at": aware, "contact_point": {"name": "IOD", "email": address("iod")}, "role": "controller",
            "severity_inputs": {"dpc": 4, "ei": 1, "cb": {"confidentiality": 0.5, "integrity": 0, "availability": 0, "malicious": true}}})),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap();
    let body = serde_json::to_vec(&json!({"subjects": {"emails": [person]}, "message": {"pl": "x"}})).unwrap();
    let path = format!("/v1/breaches/{id}/escalations");
    let auth = env.sign_idempotent("POST", &path, &body, chrono::Utc::now().timestamp() - 30, Some(key));
    let resp = env
        .http
        .post(format!("{}{path}", env.url))
        .header("authorization", auth)
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let esc = resp.json::<Value>().await.unwrap()["escalation_id"].as_str().unwrap().to_owned();
    env.start_notifier(100);
    let start = Instant::now();
    loop {
        if let Some(item) =
            env.items(&format!("OUTBOX#{esc}")).await.into_iter().find(|i| i["status"] != "pending" && i["status"] != "sending")
        {
            return item;
        }
        assert!(start.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn ses_delivery_and_a_hard_bounce_update_the_outbox_and_stop_further_mail() {
    let env = TestEnv::spawn().await;
    let person = address("bounce");
    let person = person.as_str();
    let sent = notice_sent(&env, "one", person).await;
    let message_id = sent["message_id"].as_str().unwrap();
    // Feedback on another message of the same notice (a second one, say) is not this one's.
    let other = fixture("delivery.json", "010701938a2e6f4c-another-message", person, Some(&sent));
    let out = ses_events::handle_app(&env.local.apps.ses_events, other, chrono::Utc::now()).await.unwrap();
    assert_eq!(out["handled"][0]["outbox_updated"], false);
    let out =
        ses_events::handle_app(&env.local.apps.ses_events, fixture("delivery.json", message_id, person, Some(&sent)), chrono::Utc::now())
            .await
            .unwrap();
    assert_eq!(out["handled"][0]["outbox_updated"], true);
    let item = env.items("OUTBOX#").await.into_iter().find(|i| i["message_id"] == message_id).unwrap();
    assert_eq!(item["feedback"], "delivered");

    let out = ses_events::handle_app(
        &env.local.apps.ses_events,
        fixture("bounce-permanent.json", message_id, person, Some(&sent)),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(out["handled"][0]["undeliverable"], 1);
    let item = env.items("OUTBOX#").await.into_iter().find(|i| i["message_id"] == message_id).unwrap();
    assert_eq!(item["feedback"], "hard_bounce");
    let subject = env.subject_id(person).await;
    assert!(env.items(&format!("SUBJECT#{subject}")).await.iter().any(|i| i["sk"] == "UNDELIVERABLE"));
    assert!(!serde_json::to_string(&env.scan().await).unwrap().contains(person), "the bounce record holds no address");

    // The next notice to that address is not attempted.
    let before = mails_to(person).await.len();
    let second = notice_sent(&env, "two", person).await;
    assert_eq!((second["status"].as_str(), second["reason"].as_str()), (Some("failed"), Some("undeliverable")));
    assert_eq!(mails_to(person).await.len(), before);
}

#[tokio::test]
async fn ses_a_complaint_withdraws_marketing_consent_with_a_sealed_event() {
    let env = TestEnv::spawn().await;
    let person = address("complaint");
    let person = person.as_str();
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    env.submit_json("kontakt", &json!({"email": person, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"})).await;
    let confirm = mails_to(person).await.into_iter().last().unwrap().links()[0].clone();
    env.http.post(&confirm).send().await.unwrap();
    assert_eq!(env.lookup(person).await.1["state"]["newsletter"], "given");

    let out = ses_events::handle_app(
        &env.local.apps.ses_events,
        fixture("complaint.json", "010701938a2e6f4c-not-a-breach-notice", person, None),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(out["handled"][0]["withdrawn"], 1);
    let (_, view) = env.lookup(person).await;
    assert_eq!(view["state"], json!({"newsletter": "withdrawn", "contact_reply": "informed"}), "only consent-based purposes");
    let last = view["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["kind"].as_str(), last["channel"].as_str()), (Some("withdrawn"), Some("mail_complaint")));
    assert_eq!(view["proof"]["verified"], true);
}
