//! The processors register and a processor's signed breach report (issue 22), signed here by the
//! official Standard Webhooks library for Python, as a processor's platform would sign it.

use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address};

/// Signs `body` as message `id` at `at` (seconds) with the official library; the signature header.
fn official_signature(secret: &str, id: &str, at: i64, body: &str) -> String {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    let script = "import sys, datetime\n\
        from standardwebhooks.webhooks import Webhook\n\
        secret, msg_id, at, body = sys.argv[1:5]\n\
        print(Webhook(secret).sign(msg_id, datetime.datetime.fromtimestamp(int(at), tz=datetime.timezone.utc), body))";
    let out =
        std::process::Command::new(python).args(["-c", script, secret, id, &at.to_string(), body]).output().expect("the venv's python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn send(env: &TestEnv, url: &str, id: &str, at: i64, signature: &str, body: &str) -> (u16, Value) {
    let resp = env
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", at.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn art28_3f_a_processors_report_signed_with_the_official_library_lands_in_triage_and_every_bad_one_is_401_storing_nothing() {
    let env = TestEnv::spawn().await;
    let id = format!("biuro-{}", ulid::Ulid::new().to_string().to_lowercase());
    let body = json!({"name": "Biuro Rachunkowe Ala", "contact_email": address("biuro"), "processes": "faktury klientów", "agreement_date": "2026-01-15"});
    let resp = env.operator("PUT", &format!("/v1/admin/processors/{id}"), Some(&body)).await;
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let secret = created["webhook_secret"].as_str().unwrap().to_owned();
    let url = created["webhook_url"].as_str().unwrap().to_owned();
    assert!(created["reporting_url"].as_str().unwrap().contains("/v1/report/"));
    let listed: Value = env.operator("GET", "/v1/admin/processors", None).await.json().await.unwrap();
    assert!(!listed.to_string().contains(&secret), "the key is never listed");
    let again = env.operator("PUT", &format!("/v1/admin/processors/{id}"), Some(&body)).await;
    assert_eq!(again.status(), 200, "an update");

    let report = json!({"what": "Nieuprawniony dostęp do systemu księgowego", "noticed_by": "SOC biura", "contact_email": address("soc")})
        .to_string();
    let now = chrono::Utc::now().timestamp();
    let good = official_signature(&secret, "msg_good", now, &report);
    let refused = [
        (
            "a wrong signature",
            "msg_a",
            now,
            official_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_a", now, &report),
            url.clone(),
        ),
        ("a stale timestamp", "msg_b", now - 600, official_signature(&secret, "msg_b", now - 600, &report), url.clone()),
        ("an unknown processor", "msg_c", now, official_signature(&secret, "msg_c", now, &report), url.replace(&id, "nie-ma-takiego")),
    ];
    for (what, msg, at, sig, to) in &refused {
        let (status, answer) = send(&env, to, msg, *at, sig, &report).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")), "{what}");
    }
    let (status, answer) = send(&env, &url, "msg_good", now, &good, &report).await;
    assert_eq!(status, 201, "{answer}");
    let incident = answer["incident_id"].as_str().unwrap().to_owned();
    let (status, _) = send(&env, &url, "msg_good", now, &good, &report).await;
    assert_eq!(status, 401, "a replay");

    let all: Value = env.operator("GET", "/v1/incidents?status=all", None).await.json().await.unwrap();
    let mine: Vec<&Value> = all["items"].as_array().unwrap().iter().filter(|i| i["processor_id"] == id.as_str()).collect();
    assert_eq!(mine.len(), 1, "only the good report is stored: {all}");
    assert_eq!(
        (mine[0]["incident_id"].as_str(), mine[0]["channel_name"].as_str()),
        (Some(incident.as_str()), Some("Biuro Rachunkowe Ala"))
    );

    let rotated: Value = env.operator("POST", &format!("/v1/admin/processors/{id}/rotate-secret"), None).await.json().await.unwrap();
    let new_secret = rotated["webhook_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    for (msg, key) in [("msg_old_key", secret.as_str()), ("msg_new_key", new_secret)] {
        let (status, answer) = send(&env, &url, msg, now, &official_signature(key, msg, now, &report), &report).await;
        assert_eq!(status, 201, "{msg}: both keys verify during the overlap: {answer}");
    }
    let unknown = env.operator("GET", "/v1/admin/processors/nie-ma-takiego", None).await;
    assert_eq!(unknown.status(), 404);
}
