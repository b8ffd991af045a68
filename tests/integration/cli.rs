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

async fn zgoda(env: &TestEnv, key: &str, args: &[&str]) -> Output {
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

fn stdout(o: &Output) -> String {
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
    assert!(stdout(&lookup).contains("proof: verified (3 events"), "{}", stdout(&lookup));

    let csv = zgoda(&env, &key, &["audience", "export", "newsletter", "--csv"]).await;
    let text = stdout(&csv);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("email,lang,given_at,unsubscribe_url,List-Unsubscribe,List-Unsubscribe-Post"));
    let row = lines.next().unwrap();
    assert!(row.starts_with(&email) && row.ends_with("List-Unsubscribe=One-Click"), "{row}");

    let link = zgoda(&env, &key, &["links", "create", &email, "access"]).await;
    assert!(stdout(&link).contains("/v1/links/"));
    let erase = zgoda(&env, &key, &["subjects", "erase", &email, "--reason", "asked by phone"]).await;
    assert!(stdout(&erase).contains("erased"));
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
