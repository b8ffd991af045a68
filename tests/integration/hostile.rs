//! The hostile-request corpus (`tests/hostile/cases.json`): every case is refused with its status
//! and code, writes nothing, sends no mail, does not redirect, and never echoes the address it
//! carried, in the response or in any log line.

use std::path::PathBuf;

use serde_json::Value;
use zgoda_tests::{TestEnv, address, all_mails, captured_logs, contact_form};

#[tokio::test]
async fn asvs_every_hostile_request_in_the_corpus_is_refused_cleanly() {
    let env = TestEnv::spawn_with(|c| {
        // The corpus sends many requests from one address; rate limiting is tested on its own.
        c.settings.network_limit = 100_000;
        c.settings.privacy_limit = 100_000;
    })
    .await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hostile/cases.json");
    let corpus: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = corpus["cases"].as_array().unwrap();
    let big = "x".repeat(70_000);
    let mut addresses = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let email = address(&format!("hostile-{id}"));
        let fill = |s: &str| s.replace("{email}", &email).replace("{self}", &env.url).replace("{big}", &big);
        let before = env.state().await;
        let mut req =
            env.http.request(case["method"].as_str().unwrap().parse().unwrap(), format!("{}{}", env.url, case["path"].as_str().unwrap()));
        for (k, v) in case["headers"].as_object().unwrap() {
            req = req.header(k.as_str(), fill(v.as_str().unwrap()));
        }
        let resp = req.body(fill(case["body"].as_str().unwrap())).send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").cloned();
        let body = resp.text().await.unwrap();
        assert_eq!(status, case["status"].as_u64().unwrap() as u16, "{id} ({}): {body:.300}", case["rule"]);
        if let Some(code) = case["code"].as_str() {
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{id}: not JSON: {body:.200}"));
            assert_eq!(v["error"]["code"], code, "{id}");
        }
        assert!(location.is_none(), "{id}: redirected to {location:?}");
        assert!(!body.contains(&email), "{id}: the address came back");
        assert_eq!(env.state().await, before, "{id}: something was written");
        addresses.push(email);
    }
    // One read of the mailbox for all cases: each read dumps the emulator's whole state.
    let mailed: Vec<String> = all_mails().await.into_iter().flat_map(|m| m.to).collect();
    for email in &addresses {
        assert!(!mailed.contains(email), "{email} got mail");
    }
    let logs = String::from_utf8(captured_logs().lock().unwrap().clone()).unwrap();
    for email in &addresses {
        assert!(!logs.contains(email.as_str()), "{email} reached the logs");
    }
    assert!(cases.len() >= 60, "{} cases", cases.len());
}
