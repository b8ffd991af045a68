//! The records to show the authority (docs/legal.md art30, seed_register): the record of
//! processing for the demo form, against its golden files, and the breach register through the
//! `zgoda` binary.

use serde_json::{Value, json};
use zgoda_tests::TestEnv;

use crate::breaches::{breach_body, register};
use crate::cli::{stdout, zgoda};

/// Compares with `tests/golden/<name>`, or rewrites it under `ZGODA_UPDATE_GOLDEN=1`.
fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name);
    if std::env::var_os("ZGODA_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} (ZGODA_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{name} differs from its golden file");
}

#[tokio::test]
async fn art30_the_record_of_processing_for_the_demo_form_is_made_from_its_purposes_and_processors_in_pl_and_en() {
    let env = TestEnv::spawn().await;
    zgoda_local::provision::seed_demo(&env.local.apps.operator, chrono::Utc::now()).await.unwrap();
    let processor = json!({"name": "Biuro Rachunkowe Ala", "contact_email": "iod@biuro.example.pl",
        "processes": "odpowiedzi na zapytania w systemie obsługi klienta", "purposes": ["contact_reply"], "agreement_date": "2026-01-15"});
    assert_eq!(env.operator("PUT", "/v1/admin/processors/biuro-ala", Some(&processor)).await.status(), 201);

    let data: Value = env.operator("GET", "/v1/admin/records?lang=pl&format=json", None).await.json().await.unwrap();
    let activities = data["activities"].as_array().unwrap();
    let by_purpose = |id: &str| activities.iter().find(|a| a["purpose_id"] == id).unwrap_or_else(|| panic!("{id} in {data}"));
    assert_eq!(by_purpose("newsletter")["lawful_basis"], "art. 6 ust. 1 lit. a RODO (zgoda)");
    assert_eq!(by_purpose("contact_reply")["lawful_basis"], "art. 6 ust. 1 lit. b RODO (umowa lub działania przed jej zawarciem)");
    let recipients = by_purpose("contact_reply")["recipients"].to_string();
    assert!(recipients.contains("Biuro Rachunkowe Ala"), "the processor of the purpose: {recipients}");
    assert!(!by_purpose("newsletter")["recipients"].to_string().contains("Biuro"), "not a processor of the newsletter");
    assert_eq!(by_purpose("newsletter")["third_country_transfers"], "[do uzupełnienia]", "what zgoda cannot know is marked");
    assert!(by_purpose("contact_reply")["erasure"].as_str().unwrap().starts_with("1 rok od zgłoszenia"), "{data}");

    for lang in ["pl", "en"] {
        let out = zgoda(&env, &env.operator.key_hex, &["records", "--lang", lang]).await;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        golden(&format!("records-demo-{lang}.md"), &stdout(&out));
    }
    let wrong = env.operator("GET", "/v1/admin/records?lang=de", None).await;
    assert_eq!(wrong.status(), 422);
}

#[tokio::test]
async fn seed_register_the_register_export_has_each_breach_with_its_decisions_and_actions_and_no_drill() {
    let env = TestEnv::spawn().await;
    let b = register(&env, &breach_body(5)).await;
    let id = b["id"].as_str().unwrap();
    let decision =
        json!({"type": "authority_decision", "decision": "not_notify", "justification": "Kopia zaszyfrowana, klucz bezpieczny."});
    assert_eq!(env.operator("POST", &format!("/v1/breaches/{id}/events"), Some(&decision)).await.status(), 201);
    let mut drill = breach_body(1);
    drill["title"] = json!("Ćwiczenie: zgubiony laptop");
    drill["drill"] = json!({"team": [zgoda_tests::address("zespol")]});
    register(&env, &drill).await;

    let out = zgoda(&env, &env.operator.key_hex, &["breach", "register", "--format", "csv"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut rows = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = rows.headers().unwrap().clone();
    assert_eq!(&headers[2], "Data i godzina naruszenia");
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "the drill is left out: {rows:?}");
    assert_eq!(&rows[0][1], id);
    assert_eq!(&rows[0][4], "poufność: Wyciek bazy newslettera");
    assert!(rows[0][10].contains("Kopia zaszyfrowana, klucz bezpieczny."), "{:?}", &rows[0][10]);
    assert!(rows[0][11].contains("Usunięto kopię"), "{:?}", &rows[0][11]);

    let md = stdout(&zgoda(&env, &env.operator.key_hex, &["breach", "register", "--format", "md", "--lang", "en"]).await);
    assert!(md.starts_with("# Register of personal data breaches") && md.contains("Reasons: Kopia zaszyfrowana"), "{md}");
}
