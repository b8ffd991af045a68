//! Storage limitation through DynamoDB (docs/legal.md art5_1e, art17_1b): the hourly sweep erases
//! a person whose last consent was withdrawn once their contract's retention has run out, as an
//! erasure does and with a sealed event that says why, and keeps everyone something still needs.

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use zgoda_domain::store::SubjectStore;
use zgoda_tests::{TestEnv, address, contact_form, mails_to};

/// One scheduled run of the sweep at `at` (the sample event, its time set), as the schedule
/// would start it; its answer.
pub(crate) async fn run_sweep(env: &TestEnv, at: chrono::DateTime<Utc>) -> Value {
    retention_sweep::handle_app(&env.local.apps.retention_sweep, sweep_event(at)).await.unwrap()
}

/// The schedule's event (the sample, its time set to `at`).
pub(crate) fn sweep_event(at: chrono::DateTime<Utc>) -> aws_lambda_events::event::cloudwatch_events::CloudWatchEvent {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/retention-sweep/schedule.json")).unwrap(),
    )
    .unwrap();
    event["time"] = json!(at.to_rfc3339());
    serde_json::from_value(event).unwrap()
}

/// Submits the contact form with the newsletter and confirms it from the mailbox.
async fn subscribed(env: &TestEnv, email: &str) {
    let body = json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "name": "Zofia Testowa"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let confirm = mails_to(email).await[0].links()[0].clone();
    assert_eq!(env.http.post(&confirm).send().await.unwrap().status(), 200);
}

/// Subscribed as [`subscribed`] does, then unsubscribed from the newsletter: the contract's
/// purpose alone (the reply to the enquiry) still needs the address, for the form's year.
pub(crate) async fn left_the_newsletter(env: &TestEnv, email: &str) {
    subscribed(env, email).await;
    let resp =
        env.operator("POST", "/v1/admin/links", Some(&json!({"email": email, "action": "unsubscribe", "purpose": "newsletter"}))).await;
    let unsubscribe = resp.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();
    assert_eq!(env.http.post(&unsubscribe).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn art17_1b_the_sweep_erases_whom_nothing_needs_once_their_contract_ran_out_and_keeps_a_lasting_consent() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let (leaving, staying) = (address("leaving"), address("staying"));
    left_the_newsletter(&env, &leaving).await;
    subscribed(&env, &staying).await;
    let (leaving_id, staying_id) = (env.subject_id(&leaving).await, env.subject_id(&staying).await);

    // Within the contract's year: the reply to the enquiry still needs the address.
    let soon = run_sweep(&env, Utc::now() + Duration::hours(1)).await;
    assert_eq!((soon["erased"].as_array().unwrap().len(), &soon["deferred"], &soon["settled"]), (0, &json!(1), &json!(1)), "{soon}");
    assert_eq!(env.lookup(&leaving).await.0, 200, "kept while the contract needs it");
    let review = env.items(&format!("SUBJECT#{leaving_id}")).await.into_iter().find(|i| i["sk"] == "REVIEW").expect("judged again later");
    let a_year_on = zgoda_domain::proof::format_time(&(Utc::now() + Duration::days(364)));
    assert!(review["gsi1sk"].as_str().unwrap() > a_year_on.as_str(), "at the contract's end: {review}");

    // A year and a day on: erased, as an erasure does; the lasting consent is not even judged.
    let later = run_sweep(&env, Utc::now() + Duration::days(366)).await;
    assert_eq!(later["erased"], json!([leaving_id.to_string()]), "{later}");
    let items = env.items(&format!("SUBJECT#{leaving_id}")).await;
    assert!(!items.iter().any(|i| i["sk"] == "PROFILE"), "the address is gone");
    let review = items.iter().find(|i| i["sk"] == "REVIEW").expect("the proofs' own review");
    let six_years_on = zgoda_domain::proof::format_time(&(Utc::now() + Duration::days(366 + 6 * 365)));
    assert!(review["gsi1sk"].as_str().unwrap() > six_years_on.as_str(), "when the records' retention runs out: {review}");
    assert!(!items.iter().any(|i| i["sk"].as_str().unwrap().starts_with("SUBMISSION#") || i["sk"].as_str().unwrap().starts_with("STATE#")));
    assert!(items.iter().any(|i| i["sk"] == "SUPPRESSED"), "a suppression entry (Art. 17(3)(e))");
    let erased: Vec<&Value> = items.iter().filter(|i| i["kind"] == "erased").collect();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0]["channel"], "storage_limitation", "the sealed event says why");
    assert_eq!(env.lookup(&leaving).await.0, 404);
    assert_eq!(env.lookup(&staying).await.0, 200, "a consent that lasts keeps the address");
    let staying_items = env.items(&format!("SUBJECT#{staying_id}")).await;
    assert!(!staying_items.iter().any(|i| i["sk"] == "REVIEW"), "off the worklist until it changes");
}

/// A stack that ran before the sweep existed holds people with no review: the sweep's first runs
/// put them on the worklist (a resumable scan), so they are judged like everyone else.
#[tokio::test]
async fn art5_1e_people_recorded_before_the_sweep_existed_are_judged_too() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let earlier = address("earlier");
    let body = json!({"email": earlier, "consent": ["contact_reply"], "notice_version": "2026-11"});
    assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    let subject = env.subject_id(&earlier).await;
    // As the table of an earlier version holds them: no review.
    env.clients
        .dynamodb
        .delete_item()
        .table_name(&env.config.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("SUBJECT#{subject}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("REVIEW".into()))
        .send()
        .await
        .unwrap();
    let after_the_contract = Utc::now() + Duration::days(366);
    let first = run_sweep(&env, after_the_contract).await;
    assert_eq!(first["backfilled"], 1, "{first}");
    // The index is read eventually consistently: the review may wait for the next run.
    let second = run_sweep(&env, after_the_contract).await;
    assert_eq!(second["backfilled"], 0, "the scan is done: {second}");
    let erased: Vec<Value> = [first, second].iter().flat_map(|r| r["erased"].as_array().unwrap().clone()).collect();
    assert_eq!(erased, [json!(subject.to_string())]);
    assert_eq!(env.lookup(&earlier).await.0, 404);
}

/// One person whose record does not read cannot hold up everyone due after them: the run judges
/// the others, counts the failure, and the failed review stays due.
#[tokio::test]
async fn art5_1e_a_record_that_does_not_read_is_skipped_and_stays_due() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let (broken, fine) = (address("broken"), address("fine"));
    for email in [&broken, &fine] {
        let body = json!({"email": email, "consent": ["contact_reply"], "notice_version": "2026-11"});
        assert_eq!(env.submit_json("kontakt", &body).await.status(), 201);
    }
    let broken_id = env.subject_id(&broken).await;
    env.set_attribute(&format!("SUBJECT#{broken_id}"), "PROFILE", "lang", aws_sdk_dynamodb::types::AttributeValue::N("7".into())).await;
    let run = run_sweep(&env, Utc::now() + Duration::days(366)).await;
    assert_eq!((run["erased"].as_array().unwrap().len(), &run["failed"]), (1, &json!(1)), "{run}");
    assert!(env.items(&format!("SUBJECT#{broken_id}")).await.iter().any(|i| i["sk"] == "REVIEW"), "still due");
    assert_eq!(env.lookup(&fine).await.0, 404, "the other one was erased");
}

/// Nothing kept for ever (docs/legal.md art5_1e): the sealed, PII-free proofs and the erasure
/// marker of an erased person are deleted once the records' retention (six years by default) has
/// run from the erasure, while a younger erasure's proofs stay and verify. Privacy request records
/// keep their own expiry.
#[tokio::test]
async fn art5_1e_proofs_past_the_records_retention_are_deleted_while_younger_ones_verify() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let (older, younger) = (address("older"), address("younger"));
    subscribed(&env, &older).await;
    subscribed(&env, &younger).await;
    let (older_id, younger_id) = (env.subject_id(&older).await, env.subject_id(&younger).await);
    let operator = &env.local.apps.operator;
    let retention = operator.settings.records_retention;
    assert_eq!(retention, Duration::days(6 * 365 + 2), "six years by default");
    let t0 = Utc::now();
    operator.erase_by_email(&zgoda_domain::email::EmailAddress::parse(&older).unwrap(), t0).await.unwrap();
    operator.erase_by_email(&zgoda_domain::email::EmailAddress::parse(&younger).unwrap(), t0 + Duration::days(30)).await.unwrap();
    assert_eq!(env.privacy_request(&older, "access").await.status(), 202, "a request record, kept by its own expiry");

    let within = run_sweep(&env, t0 + retention - Duration::hours(1)).await;
    assert_eq!(within["purged"], 0, "{within}");
    let past = run_sweep(&env, t0 + retention + Duration::hours(1)).await;
    assert_eq!(past["purged"], 1, "{past}");
    let left: Vec<String> = env.items(&format!("SUBJECT#{older_id}")).await.iter().map(|i| i["sk"].as_str().unwrap().to_owned()).collect();
    assert!(left.iter().all(|sk| sk.starts_with("REQUEST#")) && !left.is_empty(), "only the request record is left: {left:?}");
    let kept = operator.store.load_subject(&younger_id).await.unwrap();
    assert!(!kept.events.is_empty() && kept.suppressed_at.is_some());
    let seals = operator.keys.seals();
    assert!(zgoda_domain::proof::verify_chain(seals, &younger_id, &kept.events, kept.head.as_ref()).verified, "the younger proofs verify");
}

/// A stack whose first backfill (of profiles) finished holds people erased before their proofs
/// had a retention, with no review: the second pass, over chain heads, puts them on the worklist,
/// and their proofs go once the records' retention has run from the erasure.
#[tokio::test]
async fn art5_1e_people_erased_before_their_proofs_had_a_retention_are_purged_too() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let gone = address("erased-earlier");
    subscribed(&env, &gone).await;
    let subject = env.subject_id(&gone).await;
    let t0 = Utc::now();
    let operator = &env.local.apps.operator;
    operator.erase_by_email(&zgoda_domain::email::EmailAddress::parse(&gone).unwrap(), t0).await.unwrap();
    // As an earlier version left the table: no review for the erased, the profile scan done.
    env.delete_item(&format!("SUBJECT#{subject}"), "REVIEW").await;
    let done = aws_sdk_dynamodb::types::AttributeValue::S(t0.to_rfc3339());
    env.set_attribute("SWEEP", "BACKFILL", "done", done).await;

    let past = t0 + operator.settings.records_retention + Duration::hours(1);
    let first = run_sweep(&env, past).await;
    assert_eq!(first["backfilled"], 1, "{first}");
    // The index is read eventually consistently: the review may wait for the next run.
    let second = run_sweep(&env, past).await;
    assert_eq!(first["purged"].as_u64().unwrap() + second["purged"].as_u64().unwrap(), 1, "{first} {second}");
    assert_eq!(env.items(&format!("SUBJECT#{subject}")).await, Vec::<Value>::new(), "nothing of them is left");
}

/// The breach register is not kept for ever either (art5_1e): a breach nothing was recorded on
/// for the breach retention (six years by default) goes with its timeline, escalations, outbox
/// and public notice; until then it is all there.
#[tokio::test]
async fn art5_1e_a_breach_past_its_retention_is_deleted_with_its_outbox_and_public_notice() {
    use crate::breaches::{breach_body, escalate, register};
    let env = TestEnv::spawn().await;
    let id = register(&env, &breach_body(2)).await["id"].as_str().unwrap().to_owned();
    let body = json!({"subjects": {"emails": [address("notified")]}, "message": {"pl": "Zmień hasło."}, "public_notice": true});
    let (status, answer) = escalate(&env, &id, "k", &body).await;
    assert_eq!(status, 202, "{answer}");
    let escalation = answer["escalation_id"].as_str().unwrap().to_owned();
    let notice = answer["public_notice_url"].as_str().unwrap().to_owned();
    assert_eq!(env.items(&format!("OUTBOX#{escalation}#")).await.len(), 1, "one person to notify");
    let retention = env.local.apps.operator.settings.breach_retention;
    assert_eq!(retention, Duration::days(6 * 365 + 2), "six years by default");

    let within = run_sweep(&env, Utc::now() + retention - Duration::hours(1)).await;
    assert_eq!(within["breaches_purged"], 0, "{within}");
    assert_eq!(env.operator("GET", &format!("/v1/breaches/{id}"), None).await.status(), 200);

    let past = run_sweep(&env, Utc::now() + retention + Duration::hours(1)).await;
    assert_eq!(past["breaches_purged"], 1, "{past}");
    assert_eq!(env.operator("GET", &format!("/v1/breaches/{id}"), None).await.status(), 404);
    for prefix in [format!("BREACH#{id}"), format!("OUTBOX#{escalation}#"), "PUBLICNOTICE#".to_owned()] {
        assert_eq!(env.items(&prefix).await, Vec::<Value>::new(), "{prefix} is gone");
    }
    assert_eq!(env.http.get(&notice).send().await.unwrap().status(), 404, "the public notice page too");
    assert_eq!(env.operator("GET", "/v1/breaches", None).await.json::<Value>().await.unwrap()["items"], json!([]));
}

/// A deployed sweep reads its key rings only when it comes to an erasure (`retention_sweep::answer`):
/// when they cannot be read then, the person stays, the rest of the run is done, and the run
/// fails (Lambda's error and alarm, and its retry), rather than reporting a clean run.
#[tokio::test]
async fn art17_1b_a_sweep_that_cannot_read_its_key_rings_erases_nobody_and_fails_its_run() {
    let env = TestEnv::spawn().await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let leaving = address("leaving");
    left_the_newsletter(&env, &leaving).await;
    let clients = zgoda_aws::Clients::local(&zgoda_tests::emulator_endpoints(), zgoda_tests::REGION).await;
    let mut config = env.config.clone();
    config.secrets_prefix = format!("{}missing/", config.secrets_prefix);
    let starting = zgoda_web::app::Starting::new(config, clients, &retention_sweep::ACCESS, retention_sweep::RINGS);

    let run = retention_sweep::answer(&starting, sweep_event(Utc::now() + Duration::days(366))).await;
    assert!(matches!(&run, Err(zgoda_domain::Error::Unavailable(detail)) if detail.contains("seals")), "{run:?}");
    assert_eq!(env.lookup(&leaving).await.0, 200, "nobody erased without the seals key");
    let later = run_sweep(&env, Utc::now() + Duration::days(366)).await;
    assert_eq!(later["erased"], json!([env.subject_id(&leaving).await.to_string()]), "the next run, with its rings, erases: {later}");
}
