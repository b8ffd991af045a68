//! The `zgoda` binary against the stack: settings from flags or the environment, tables and
//! JSON, CSV export, and clear errors for a bad key or an unreachable endpoint.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

fn binary() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    deps.parent().unwrap().join("zgoda")
}

pub(crate) async fn zgoda(env: &TestEnv, key: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(binary())
        .args(args)
        .env("ZGODA_URL", &env.url)
        .env("ZGODA_OPERATOR_KID", &env.operator.kid)
        .env("ZGODA_OPERATOR_KEY", key)
        .args(["--env-file", "/nonexistent"])
        .output()
        .await
        .expect("the zgoda binary is built by `make test` before the tests run")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn cli_puts_and_gets_forms_looks_up_subjects_and_exports_the_audience() {
    let env = TestEnv::spawn().await;
    let key = env.operator.key_hex.clone();
    let dir = std::env::temp_dir().join(format!("zgoda-cli-{}", zgoda_tests::unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("kontakt.json");
    std::fs::write(&file, serde_json::to_vec(&contact_form(&address("owner"))).unwrap()).unwrap();

    let put = zgoda(&env, &key, &["forms", "put", file.to_str().unwrap()]).await;
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    assert!(stdout(&put).contains("contact_reply") && stdout(&put).contains("2026-11"));
    // Twice in the same second: both go through.
    for _ in 0..2 {
        let get = zgoda(&env, &key, &["forms", "get", "kontakt", "--json"]).await;
        assert!(get.status.success(), "{}", String::from_utf8_lossy(&get.stderr));
        let v: Value = serde_json::from_slice(&get.stdout).unwrap();
        assert_eq!(v["id"], "kontakt");
    }

    let email = address("cli");
    env.submit_json("kontakt", &json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11"})).await;
    env.http.post(&mails_to(&email).await[0].links()[0]).send().await.unwrap();
    let lookup = zgoda(&env, &key, &["subjects", "lookup", &email]).await;
    let shown = stdout(&lookup);
    assert!(shown.contains("proof: verified (3 events"), "{shown}");
    assert!(shown.contains(&format!("e-mail  {email}")) && shown.contains("newsletter") && shown.contains("given"), "{shown}");

    let audience = stdout(&zgoda(&env, &key, &["audience", "export", "newsletter"]).await);
    assert!(audience.contains(&email) && audience.contains("1 subjects"), "{audience}");

    let csv = zgoda(&env, &key, &["audience", "export", "newsletter", "--csv"]).await;
    let text = stdout(&csv);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("email,lang,given_at,unsubscribe_url,List-Unsubscribe,List-Unsubscribe-Post"));
    let row = lines.next().unwrap();
    assert!(row.starts_with(&email) && row.ends_with("List-Unsubscribe=One-Click"), "{row}");

    let link = zgoda(&env, &key, &["links", "create", &email, "access"]).await;
    assert!(stdout(&link).contains("/v1/links/") && stdout(&link).contains("valid until 20"), "{}", stdout(&link));
    let erase = zgoda(&env, &key, &["subjects", "erase", &email, "--reason", "asked by phone"]).await;
    assert!(stdout(&erase).contains("erased: personal data deleted"), "{}", stdout(&erase));
    let again = zgoda(&env, &key, &["subjects", "erase", &email, "--reason", "asked by phone"]).await;
    assert!(stdout(&again).contains("was already erased"), "{}", stdout(&again));
}

#[tokio::test]
async fn cli_explains_a_bad_key_and_an_unreachable_endpoint() {
    let env = TestEnv::spawn().await;
    let wrong = "00".repeat(32);
    let out = zgoda(&env, &wrong, &["forms", "get", "demo"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the request signature (401)"));

    let port = zgoda_local::emulator::free_port().unwrap();
    let out = tokio::process::Command::new(binary())
        .args([
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--kid",
            "x",
            "--key",
            &wrong,
            "--env-file",
            "/nonexistent",
            "forms",
            "get",
            "demo",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
    let out = tokio::process::Command::new(binary())
        .args(["--env-file", "/nonexistent", "forms", "get", "demo"])
        .env_remove("ZGODA_URL")
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no endpoint"));
}

#[tokio::test]
async fn cli_walks_a_breach_from_first_report_to_the_last_notice() {
    let env = TestEnv::spawn().await;
    let key = env.operator.key_hex.clone();
    let dir = std::env::temp_dir().join(format!("zgoda-cli-breach-{}", zgoda_tests::unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let aware = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let breach = json!({
        "title": "Zgubiony laptop", "nature": "Niezaszyfrowany laptop z bazą klientów zgubiony w pociągu.",
        "cia": {"confidentiality": true, "integrity": false, "availability": true},
        "detected_at": aware, "aware_at": aware, "data_categories": ["imię", "e-mail"], "subject_categories": ["klienci"],
        "approx_subjects": 3, "contact_point": {"name": "IOD", "email": address("iod")}, "role": "controller",
        "severity_inputs": {"dpc": 3, "ei": 1, "cb": {"confidentiality": 0.5, "integrity": 0, "availability": 0.25, "malicious": false}}
    });
    let file = dir.join("breach.json");
    std::fs::write(&file, breach.to_string()).unwrap();
    let created = zgoda(&env, &key, &["breach", "create", file.to_str().unwrap(), "--json"]).await;
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let id = serde_json::from_slice::<Value>(&created.stdout).unwrap()["id"].as_str().unwrap().to_owned();

    let list = stdout(&zgoda(&env, &key, &["breach", "list"]).await);
    assert!(list.contains(&id) && list.contains("h left"), "{list}");
    let show = stdout(&zgoda(&env, &key, &["breach", "show", &id]).await);
    assert!(show.contains("72-hour clock: 6") || show.contains("72-hour clock: 68"), "{show}");

    let measure = dir.join("measure.json");
    std::fs::write(&measure, json!({"type": "measure", "description": "Zdalnie zablokowano konta"}).to_string()).unwrap();
    assert!(stdout(&zgoda(&env, &key, &["breach", "event", &id, measure.to_str().unwrap()]).await).contains("entry 2 added (measure)"));

    let report = stdout(&zgoda(&env, &key, &["breach", "report", &id, "--lang", "en"]).await);
    assert!(report.starts_with("# Personal data breach notification — draft") && report.contains("Zdalnie zablokowano konta"));

    let people: Vec<String> = (0..3).map(|i| address(&format!("cli-b{i}"))).collect();
    let escalation = dir.join("escalation.json");
    std::fs::write(
        &escalation,
        json!({"subjects": {"emails": people}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}}).to_string(),
    )
    .unwrap();
    env.start_notifier(100);
    let out = zgoda(&env, &key, &["breach", "escalate", &id, escalation.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains("done at") && stdout(&out).contains("3 sent, 0 failed"), "{}", stdout(&out));
    // The default key is the file's hash: running the same command again sends nothing more.
    let again = zgoda(&env, &key, &["breach", "escalate", &id, escalation.to_str().unwrap()]).await;
    assert!(stdout(&again).contains("3 sent"));
    for p in &people {
        assert_eq!(mails_to(p).await.len(), 1);
    }
}

/// Issue 18's smoke check, against the local stack: `zgoda doctor` (what `make smoke URL=…` runs
/// against a deployed one) passes every step, the mail to SES's mailbox simulator and its Send
/// and Delivery events through ses-events included; with a wrong key it fails the signed steps,
/// saying what to fix, and exits non-zero.
#[tokio::test]
async fn doctor_checks_the_stack_end_to_end_and_says_what_to_fix() {
    let env = TestEnv::spawn().await;
    let _events = env.start_ses_events();
    let out = zgoda(&env, &env.operator.key_hex.clone(), &["doctor", "--wait-secs", "60"]).await;
    let shown = stdout(&out);
    assert!(out.status.success(), "{shown}{}", String::from_utf8_lossy(&out.stderr));
    for step in [
        "✓ health",
        "✓ operator signature",
        "✓ form post",
        "✓ public mail to SES's mailbox simulator",
        "✓ notices mail to SES's mailbox simulator",
    ] {
        assert!(shown.contains(step), "{step}: {shown}");
    }
    // Each stream's mail, and its events through its own configuration set.
    for event in ["✓ its Send event through ses-events", "✓ its Delivery event through ses-events"] {
        assert_eq!(shown.matches(event).count(), 2, "{event}: {shown}");
    }
    let runs: Vec<String> = shown.split("run ").skip(1).filter_map(|r| r.split(')').next()).map(str::to_owned).collect();
    assert_eq!(runs.len(), 2, "{shown}");
    for (run, stream) in runs.iter().zip(["public", "notices"]) {
        let recorded: Value = env.operator("GET", &format!("/v1/admin/smoke/{run}"), None).await.json().await.unwrap();
        assert_eq!((recorded["to"].as_str(), recorded["stream"].as_str()), (Some("success@simulator.amazonses.com"), Some(stream)));
        assert!(recorded["delivery_event_at"].is_string(), "{recorded}");
    }
    let unknown = env.operator("POST", "/v1/admin/smoke?stream=bulk", None).await;
    assert_eq!(unknown.status(), 422);

    let wrong = zgoda(&env, &"ab".repeat(32), &["doctor", "--wait-secs", "1"]).await;
    let shown = stdout(&wrong);
    assert!(!wrong.status.success());
    assert!(shown.contains("✓ health") && shown.contains("✗ operator signature") && shown.contains("operators secret"), "{shown}");
    assert_eq!(env.operator("GET", "/v1/admin/smoke/01ARZ3NDEKTSV4RRFFQ69G5FAV", None).await.status(), 404);
}

/// `zgoda requests`: the DPO's week at a glance, one request, and closing it.
#[tokio::test]
async fn cli_lists_requests_due_within_a_time_and_closes_one() {
    let env = TestEnv::spawn().await;
    let key = env.operator.key_hex.clone();
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let email = address("cli-request");
    env.submit_json("kontakt", &json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11"})).await;
    assert_eq!(env.privacy_request(&email, "erasure").await.status(), 202);
    let listed = zgoda(&env, &key, &["requests", "list", "--json"]).await;
    let id = serde_json::from_slice::<Value>(&listed.stdout).unwrap()["items"][0]["request_id"].as_str().unwrap().to_owned();

    let week = stdout(&zgoda(&env, &key, &["requests", "list", "--due-within", "7d"]).await);
    assert!(!week.contains(&id), "due in a month: {week}");
    let months = stdout(&zgoda(&env, &key, &["requests", "list", "--due-within", "40d"]).await);
    assert!(months.contains(&id) && months.contains("erasure") && months.contains("open"), "{months}");
    let bad = zgoda(&env, &key, &["requests", "list", "--due-within", "a week"]).await;
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("number of days"));

    let closed = stdout(&zgoda(&env, &key, &["requests", "close", &id, "done", "--reasons", "Usunięto ręcznie z CRM."]).await);
    assert!(
        closed.contains("status done") && closed.contains("closed as done by") && closed.contains("Usunięto ręcznie z CRM."),
        "{closed}"
    );
    let again = zgoda(&env, &key, &["requests", "close", &id, "done"]).await;
    assert!(String::from_utf8_lossy(&again.stderr).contains("request: closed"), "{}", String::from_utf8_lossy(&again.stderr));
}

/// A person who phones: the operator corrects their name and records their objection.
#[tokio::test]
async fn art16_cli_corrects_a_field_and_records_an_objection_for_a_person_who_phoned() {
    let env = TestEnv::spawn().await;
    let key = env.operator.key_hex.clone();
    env.put_form("uslugi", &crate::choices::services_form(&address("owner"))).await;
    let email = address("cli-phoned");
    let consent = ["contact_reply", "postal_offers", "fraud_checks"];
    let body = json!({"email": email, "consent": consent, "notice_version": "2026-11", "name": "Jan Kowalsky"});
    assert_eq!(env.submit_json("uslugi", &body).await.status(), 201);

    let fixed = zgoda(&env, &key, &["subjects", "rectify", &email, "--form", "uslugi", "name=Jan Kowalski"]).await;
    assert!(stdout(&fixed).contains("rectified: name"), "{}{}", stdout(&fixed), String::from_utf8_lossy(&fixed.stderr));
    let bad = zgoda(&env, &key, &["subjects", "rectify", &email, "--form", "uslugi", "pesel=85010112345"]).await;
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("pesel"), "{}", String::from_utf8_lossy(&bad.stderr));

    let stopped = zgoda(&env, &key, &["subjects", "object", &email, "postal_offers"]).await;
    assert!(
        stdout(&stopped).contains("postal_offers for subject") && stdout(&stopped).contains("stopped for good"),
        "{}",
        stdout(&stopped)
    );
    let restricted = zgoda(&env, &key, &["subjects", "object", &email, "fraud_checks"]).await;
    assert!(stdout(&restricted).contains("restricted; decide by"), "{}", stdout(&restricted));
    let contract = zgoda(&env, &key, &["subjects", "object", &email, "contact_reply"]).await;
    assert!(!contract.status.success() && String::from_utf8_lossy(&contract.stderr).contains("purpose"));

    let shown = stdout(&zgoda(&env, &key, &["subjects", "lookup", &email]).await);
    assert!(shown.contains("rectified (name)") && shown.contains("Jan Kowalski"), "{shown}");
    let (_, view) = env.lookup(&email).await;
    assert_eq!((&view["state"]["postal_offers"], &view["state"]["fraud_checks"]), (&json!("objected"), &json!("restricted")));
    let channels: Vec<&str> = view["events"].as_array().unwrap().iter().rev().take(3).map(|e| e["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["operator"; 3]);
}
