//! ASVS 2.3.3–2.3.4 (transactions) under failing dependencies: the app reaches the emulator
//! through a proxy that is cut after each number of calls in turn, so every step of a submission,
//! an erasure and an escalation meets an outage once. The caller gets a 503 with a clear code,
//! nothing is half-written (the whole table compared), no mail leaves, and a retry completes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zgoda_tests::fault::FaultProxy;
use zgoda_tests::{TestEnv, address, contact_form};

use crate::breaches::{all_mails, breach_body, escalate, escalated_to, progress, register, wait_finished};

fn submission(email: &str) -> Value {
    json!({"email": email, "consent": ["newsletter", "contact_reply"], "notice_version": "2026-11", "name": "Zofia Testowa", "message": "Proszę o kontakt"})
}

async fn env_with_faults(adjust: impl FnOnce(&mut zgoda_aws::Config)) -> (TestEnv, FaultProxy) {
    let env = TestEnv::spawn_with_faults(|c| {
        // Every submission here comes from 127.0.0.1; the network limit is not under test.
        c.settings.network_limit = 10_000;
        adjust(c);
    })
    .await;
    env.put_form("kontakt", &contact_form(&address("owner"))).await;
    let faults = env.faults.clone().expect("spawned with faults");
    (env, faults)
}

async fn assert_unavailable_json(resp: reqwest::Response, step: u64) {
    assert_eq!(resp.status(), 503, "cut after {step} calls");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable", "cut after {step} calls: {body}");
}

#[tokio::test]
async fn asvs_2_3_3_a_submission_cut_at_every_step_is_503_with_nothing_written_and_no_mail_and_a_retry_completes() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let before = faults.forwarded();
    assert_eq!(env.submit_json("kontakt", &submission(&address("probe"))).await.status(), 201);
    let calls = faults.forwarded() - before;
    assert!(calls >= 4, "a submission makes several calls: {calls}");

    let mut refused = Vec::new();
    for step in 0..calls {
        let email = address(&format!("cut{step}"));
        let state = env.state().await;
        faults.fail_after(step);
        let resp = env.submit_json("kontakt", &submission(&email)).await;
        faults.heal();
        if resp.status() == 201 {
            // Cut only in what follows the commit (the confirmation and owner mails): the consent
            // is stored and the caller told so; a failed mail is logged, not surfaced.
            assert!(env.state().await.len() > state.len(), "201 after a cut at {step} but nothing stored");
        } else {
            assert_unavailable_json(resp, step).await;
            assert_eq!(env.state().await, state, "a cut after {step} calls left something written");
            refused.push(email.clone());
        }
        assert_eq!(env.submit_json("kontakt", &submission(&email)).await.status(), 201, "the retry after a cut at {step}");
        assert_eq!(env.lookup(&email).await.0, 200);
    }
    assert!(refused.len() as u64 >= calls / 2, "most steps come before the commit: {} of {calls}", refused.len());
    assert!(faults.dropped() > 0);
    let mails = all_mails().await;
    for email in &refused {
        assert_eq!(mails.get(email).map(Vec::len), Some(1), "{email}: one confirmation, from the retry only");
    }
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_when_it_never_ends_the_caller_gets_503_with_nothing_written() {
    let (env, faults) = env_with_faults(|_| {}).await;
    // Two throttled answers in a row: the SDK's retry (three attempts, backoff) absorbs them.
    let email = address("throttled");
    faults.throttle(2);
    let resp = env.submit_json("kontakt", &submission(&email)).await;
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    assert_eq!(faults.throttled(), 2);
    assert_eq!(env.lookup(&email).await.0, 200);

    // Throttled for good: the retries run out and the caller is told, with nothing half-written.
    let email = address("starved");
    let state = env.state().await;
    faults.throttle(u64::MAX / 2);
    let resp = env.submit_json("kontakt", &submission(&email)).await;
    faults.heal();
    assert_unavailable_json(resp, 0).await;
    assert!(faults.throttled() >= 2 + 3, "every attempt of the first call was throttled: {}", faults.throttled());
    assert_eq!(env.state().await, state);
    assert_eq!(env.submit_json("kontakt", &submission(&email)).await.status(), 201, "a retry after it ends");
}

#[tokio::test]
async fn asvs_2_3_4_an_erasure_cut_at_every_step_is_503_with_nothing_changed_and_the_same_link_completes_it() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let email = address("erase");
    assert_eq!(env.submit_json("kontakt", &submission(&email)).await.status(), 201);
    let link = env.operator("POST", "/v1/admin/links", Some(&json!({"email": email, "action": "erase"}))).await;
    let link = link.json::<Value>().await.unwrap()["url"].as_str().unwrap().to_owned();

    let mut step = 0;
    loop {
        let state = env.state().await;
        faults.fail_after(step);
        let resp = env.http.post(&link).send().await.unwrap();
        faults.heal();
        if resp.status() == 200 {
            assert!(resp.text().await.unwrap().contains("data-outcome=\"done\""));
            break;
        }
        assert_eq!(resp.status(), 503, "cut after {step} calls");
        assert!(resp.text().await.unwrap().contains("<html"), "a page for a person, not JSON");
        assert_eq!(env.state().await, state, "an erasure cut after {step} calls changed something");
        step += 1;
        assert!(step < 40, "the erasure never completed");
    }
    assert!(step >= 2, "the erasure met an outage at each of its calls: {step}");
    assert_eq!(env.lookup(&email).await.0, 404, "erased");
    let subject = env.subject_id(&email).await;
    let items = env.items(&format!("SUBJECT#{subject}")).await;
    assert!(items.iter().any(|i| i["sk"] == "SUPPRESSED"));
    let dump = serde_json::to_string(&env.scan_but_erasure_changes().await).unwrap();
    assert!(!dump.contains(&email) && !dump.contains("Zofia Testowa"), "no personal data survives");
}

#[tokio::test]
async fn art34_1_an_escalation_cut_at_every_step_and_a_notifier_losing_the_emulator_still_send_one_notice_each() {
    // A run cut by the outage cannot hand its lease back (the store is what failed): a short lease
    // lets the retry take over within seconds instead of the production 15 minutes.
    let (env, faults) = env_with_faults(|c| c.settings.escalation_lease = chrono::Duration::seconds(1)).await;
    let tag = &zgoda_tests::unique()[20..];
    let people: Vec<String> = (0..30).map(|i| format!("{i}.{tag}@f.pl")).collect();
    let breach = register(&env, &breach_body(2)).await;
    let id = breach["id"].as_str().unwrap().to_owned();
    let body = json!({"subjects": {"emails": people}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}});

    let (mut step, mut waits) = (0, 0);
    let answer = loop {
        let state = env.state().await;
        faults.fail_after(step);
        let (status, answer) = escalate(&env, &id, "esc-faults", &body).await;
        faults.heal();
        match (status, answer["error"]["code"].as_str()) {
            (202, _) => break answer,
            // The previous cut run still holds its lease: the documented answer; wait it out.
            (409, Some("idempotency_in_progress")) => {
                waits += 1;
                assert!(waits < 120, "the lease never ran out");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            (503, Some("service_unavailable")) => {}
            other => panic!("cut after {step} calls: {other:?} {answer}"),
        }
        if step == 0 {
            assert_eq!(env.state().await, state, "cut before the first call: nothing written");
        }
        step += 1;
        assert!(step < 60, "the escalation never completed");
    };
    assert!(step >= 3, "the escalation met an outage at each of its calls: {step}");
    assert_eq!(answer["recipients"], 30);
    let esc = answer["escalation_id"].as_str().unwrap().to_owned();
    let (status, again) = escalate(&env, &id, "esc-faults", &body).await;
    assert_eq!((status, &again), (202, &answer), "the finished answer, repeated");

    // The notifier loses the emulator for a few seconds mid-run, then gets it back. A recipient
    // whose claim could not be handed back is another worker's to take only when its send lease
    // runs out; the queue hides the job for longer than that, as deployed (infra.rs), rather than
    // the environment's few seconds, which would spend every receive before the lease ran out.
    let visibility = (zgoda_domain::escalation::SEND_LEASE + 1).to_string();
    let sqs = zgoda_aws::Clients::local(&zgoda_tests::emulator_endpoints(), zgoda_tests::REGION).await.sqs;
    sqs.set_queue_attributes()
        .queue_url(&env.config.queue_url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, visibility)
        .send()
        .await
        .unwrap();
    env.start_notifier(50);
    faults.fail_after(12);
    tokio::time::sleep(Duration::from_secs(4)).await;
    faults.heal();
    let done = wait_finished(&env, &id, &esc, Duration::from_secs(240)).await;
    assert_eq!((done["sent"].as_u64(), done["failed"].as_u64()), (Some(30), Some(0)), "{done}");
    let timeline = env.operator("GET", &format!("/v1/breaches/{id}"), None).await.json::<Value>().await.unwrap();
    let escalated = timeline["timeline"].as_array().unwrap().iter().filter(|e| e["type"] == "escalated").count();
    assert_eq!(escalated, 1, "one timeline entry however many retries");
    let mails = all_mails().await;
    for person in &people {
        assert_eq!(mails.get(person).map(Vec::len), Some(1), "{person}: exactly one notice");
    }
}

#[tokio::test]
async fn art34_1_a_notice_accepted_by_ses_just_before_the_store_goes_away_is_recorded_and_never_sent_twice() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let person = format!("{}@f.pl", &zgoda_tests::unique()[20..]);
    let (id, esc) = escalated_to(&env, 2, "esc-after-send", &[&person]).await;

    // SES takes the notice; then the table is unreachable for a few seconds, so the first try to
    // record it fails. Giving up would leave the lease to run out and a second notice to go.
    faults.fail_after_call_to("/outbound-emails");
    env.start_notifier(50);
    let started = Instant::now();
    while faults.dropped() == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the notifier never reached the send");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Longer than the SDK's own retries of one call.
    tokio::time::sleep(Duration::from_secs(6)).await;
    faults.heal();
    let done = wait_finished(&env, &id, &esc, Duration::from_secs(60)).await;
    assert_eq!((done["sent"].as_u64(), done["failed"].as_u64()), (Some(1), Some(0)), "{done}");
    // Past the send lease: a notice left unrecorded would have been sent again by now.
    tokio::time::sleep(Duration::from_secs(zgoda_domain::escalation::SEND_LEASE as u64 + 5)).await;
    assert_eq!(all_mails().await.get(&person).map(Vec::len), Some(1), "exactly one notice");
}

#[tokio::test]
async fn asvs_2_3_3_a_replay_marker_written_whose_answer_was_lost_does_not_refuse_the_request_as_its_own_replay() {
    let (env, faults) = env_with_faults(|_| {}).await;
    // The operator's replay guard is the request's only PutItem: DynamoDB stores the marker, the
    // answer is lost, and the SDK sends the same put again.
    faults.lose_answer_to("DynamoDB_20120810.PutItem", 0);
    let resp = env.operator("GET", "/v1/admin/forms/kontakt", None).await;
    assert_eq!(faults.dropped(), 1, "the answer to the marker's put was lost");
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn art34_1_an_idempotency_record_written_whose_answer_was_lost_does_not_leave_the_escalation_in_progress() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let breach = register(&env, &breach_body(2)).await;
    let id = breach["id"].as_str().unwrap().to_owned();
    let body = json!({"subjects": {"emails": ["lost.answer@f.pl"]}, "message": {"pl": "Zmień hasło.", "en": "Change your password."}});
    // The request's first PutItem is the replay guard's marker, its second the idempotency record.
    faults.lose_answer_to("DynamoDB_20120810.PutItem", 1);
    let (status, answer) = escalate(&env, &id, "esc-lost-answer", &body).await;
    assert_eq!(faults.dropped(), 1, "the answer to the idempotency record's put was lost");
    assert_eq!((status, answer["recipients"].as_u64()), (202, Some(1)), "{answer}");
}

/// SES took a notice and its answer was lost on the way back. The SDK's own retry would send it
/// again at once, before SES's Send event could record the first; a notice is tried once, the
/// recipient handed back, and the Send event records it as sent.
#[tokio::test]
async fn art34_1_a_notice_whose_answer_from_ses_was_lost_is_sent_once() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let person = "lost.send@f.pl";
    let (id, esc) = escalated_to(&env, 1, "esc-lost-send", &[person]).await;
    let _events = env.start_ses_events();
    faults.lose_answer_to("/v2/email/outbound-emails", 0);
    env.start_notifier(100);
    let done = wait_finished(&env, &id, &esc, Duration::from_secs(60)).await;
    assert_eq!(faults.dropped(), 1, "SES's answer to the notice was lost");
    assert_eq!((done["sent"].as_u64(), done["failed"].as_u64()), (Some(1), Some(0)), "{done}");
    // The Send event records the notice within a second; an SDK retry would come within its
    // backoff (1 s, then up to 2 s: `retry_config`), so look only once that has surely passed.
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(all_mails().await.get(person).map(Vec::len), Some(1), "exactly one notice");
}

/// The same lost answer on the notifier's last attempt: the worker, with no retry left, records a
/// failure; SES's Send event then records what happened, a notice sent, and nothing goes twice.
#[tokio::test]
async fn art34_1_a_notice_whose_answer_from_ses_was_lost_on_the_last_attempt_is_recorded_sent() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let person = address("last.attempt");
    let (id, esc) = escalated_to(&env, 1, "esc-lost-last", &[&person]).await;
    // Three receives spent without work: the notifier's receive is the job's last attempt.
    let queue = env.local.apps.operator.queue.url().to_owned();
    for _ in 0..3 {
        let got = env.clients.sqs.receive_message().queue_url(&queue).visibility_timeout(0).send().await.unwrap();
        assert_eq!(got.messages().len(), 1, "the job is on the queue");
    }
    faults.lose_answer_to("/v2/email/outbound-emails", 0);
    env.start_notifier(100);
    let failed = wait_finished(&env, &id, &esc, Duration::from_secs(60)).await;
    assert_eq!(faults.dropped(), 1, "SES's answer to the notice was lost");
    assert_eq!((failed["sent"].as_u64(), failed["failed"].as_u64()), (Some(0), Some(1)), "no retry left: {failed}");

    let _events = env.start_ses_events();
    let start = Instant::now();
    let done = loop {
        let p = progress(&env, &id, &esc).await;
        if p["sent"] == 1 || start.elapsed() > Duration::from_secs(30) {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!((done["sent"].as_u64(), done["failed"].as_u64()), (Some(1), Some(0)), "the Send event corrects it: {done}");
    let item = env.items(&format!("OUTBOX#{esc}")).await.pop().unwrap();
    assert!(item.get("reason").is_none() && item["message_id"].is_string(), "{item}");
    assert_eq!(all_mails().await.get(&person).map(Vec::len), Some(1), "exactly one notice");
}

/// Security review L1: a deadline reminder whose send fails (SES throttling every send here) is
/// not lost: the run claims it only until the next run, which sends it, once.
#[tokio::test]
async fn l1_a_deadline_reminder_whose_send_fails_is_sent_by_the_next_run_once() {
    let env = TestEnv::spawn_with_faults(|_| {}).await;
    let faults = env.faults.clone().expect("a fault proxy");
    let b = register(&env, &breach_body(1)).await;
    let contact = b["contact_point"]["email"].as_str().unwrap().to_owned();
    let deadline = chrono::DateTime::parse_from_rfc3339(b["authority_deadline"].as_str().unwrap()).unwrap().to_utc();
    let run = |at: chrono::DateTime<chrono::Utc>| crate::breaches::run_deadline_watch(&env, at);
    let first = deadline - chrono::Duration::hours(23);
    faults.throttle_mail_for(std::time::Duration::from_secs(600));
    assert_eq!(run(first).await, 0, "SES refused it");
    assert!(faults.mail_throttled() > 0);
    faults.heal();
    assert_eq!(run(first + chrono::Duration::minutes(15)).await, 1, "the next run sends it");
    assert_eq!(run(first + chrono::Duration::minutes(30)).await, 0, "once");
    // A high band also gets the people's own reminder (art34_1); only the PUODO ones count here.
    let reminders: Vec<String> =
        zgoda_tests::mails_to(&contact).await.iter().map(|m| m.subject()).filter(|s| s.contains("PUODO")).collect();
    assert_eq!(reminders.len(), 1, "{reminders:?}");
}

/// Issue 26 (start-up): an intake instance's first post reads the form it names while the key
/// rings' read is still on its way, not after it, and the post is then served from that read.
/// The proxy holds Secrets Manager's answer until the form's read has arrived (or three seconds
/// have passed, which is the failure).
#[tokio::test]
async fn a_cold_intake_reads_the_posted_form_while_its_key_rings_are_on_their_way() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let clients = zgoda_aws::Clients::local(&zgoda_aws::LocalEndpoints::single(&faults.url), zgoda_tests::REGION).await;
    let (rings_read, form_read) = ("secretsmanager.", "DynamoDB_20120810.Query");
    // The environment's own apps reach the emulator through the proxy too: count from here.
    let before = faults.arrived().len();
    let arrived = || faults.arrived().split_off(before);
    faults.hold(rings_read);
    let starting = zgoda_web::app::Starting::new(env.config.clone(), clients, &intake::ACCESS, intake::RINGS);
    let post = http::Request::post(format!("{}/v1/forms/kontakt/submissions", env.url))
        .header("origin", zgoda_tests::ORIGIN)
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(lambda_http::Body::from(serde_json::to_vec(&submission(&address("cold"))).unwrap()))
        .unwrap();
    let reads = |op: &str| arrived().iter().filter(|call| call.contains(op)).count();
    let (resp, (read_while_held, held_then)) = tokio::join!(intake::answer(&starting, post, chrono::Utc::now()), async {
        let waited = Instant::now();
        while reads(form_read) == 0 && waited.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen = (reads(form_read), arrived());
        faults.release();
        seen
    });
    assert_eq!(read_while_held, 1, "the form is read while the rings are held: {held_then:?}");
    assert_eq!(reads(rings_read), 1, "{held_then:?}");
    assert_eq!(resp.status(), 201, "{:?}", String::from_utf8_lossy(resp.body()));
    assert_eq!(reads(form_read), 1, "the post is served from the early read, not a second one: {:?}", arrived());
}

/// The app of a cold instance of the function `access` belongs to, reaching the emulator through
/// the fault proxy, whose Secrets Manager answers are held from now on (`faults.release()` lets
/// them go).
async fn cold_with_rings_held(
    env: &TestEnv,
    faults: &FaultProxy,
    access: &'static zgoda_aws::access::Access,
    rings: zgoda_web::app::ReadRings,
) -> zgoda_web::app::Starting {
    let clients = zgoda_aws::Clients::local(&zgoda_aws::LocalEndpoints::single(&faults.url), zgoda_tests::REGION).await;
    faults.hold("secretsmanager.");
    zgoda_web::app::Starting::new(env.config.clone(), clients, access, rings)
}

/// Issue 26 (start-up): a cold ses-events instance records a delivery on its breach notice
/// without reading its key rings (the mail's tags name the outbox entry, and no key is needed to
/// write it), so it neither waits for them nor holds a key it does not use; a permanent bounce,
/// whose address is hashed with the pepper to find its person, reads them and waits for them.
/// The proxy holds any Secrets Manager answer until the bounce is under way.
#[tokio::test]
async fn a_cold_ses_events_records_a_delivery_without_reading_its_key_rings_and_reads_them_for_a_bounce() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let person = address("cold-feedback");
    let sent = crate::ses_events::notice_sent(&env, "cold", &person).await;
    let message_id = sent["message_id"].as_str().unwrap();
    let before = faults.arrived().len();
    let reads = || faults.arrived().split_off(before).iter().filter(|call| call.contains("secretsmanager.")).count();
    let starting = cold_with_rings_held(&env, &faults, &ses_events::ACCESS, ses_events::RINGS).await;
    let feedback = |name| crate::ses_events::fixture(name, message_id, &person, Some(&sent));

    let delivered =
        tokio::time::timeout(Duration::from_secs(3), ses_events::answer(&starting, feedback("delivery.json"), chrono::Utc::now()))
            .await
            .unwrap_or_else(|_| panic!("a delivery waited for the held rings: {:?}", faults.arrived()))
            .unwrap();
    assert_eq!(delivered["handled"][0]["outbox_updated"], true);
    let item = env.items("OUTBOX#").await.into_iter().find(|i| i["message_id"] == message_id).unwrap();
    assert_eq!(item["feedback"], "delivered");
    assert_eq!(reads(), 0, "a delivery reads no key ring: {:?}", faults.arrived());

    let bounced = ses_events::answer(&starting, feedback("bounce-permanent.json"), chrono::Utc::now());
    tokio::pin!(bounced);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut bounced).await.is_err(),
        "a bounce cannot be acted on without the pepper"
    );
    assert_eq!(reads(), 1, "the bounce reads the rings: {:?}", faults.arrived());
    faults.release();
    let out = bounced.await.unwrap();
    assert_eq!(out["handled"][0]["undeliverable"], 1);
    let subject = env.subject_id(&person).await;
    assert!(env.items(&format!("SUBJECT#{subject}")).await.iter().any(|i| i["sk"] == "UNDELIVERABLE"));
}

/// Issue 26 (start-up): a cold links instance answers its privacy page, which needs no key,
/// without waiting for its key rings, while a link's page, whose token is verified with a key,
/// waits for them. The proxy holds Secrets Manager's answer until the link's page is under way.
#[tokio::test]
async fn a_cold_links_serves_the_privacy_page_without_waiting_for_its_key_rings() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let starting = cold_with_rings_held(&env, &faults, &links::ACCESS, links::RINGS).await;
    let get = |path: &str| http::Request::get(format!("{}{path}", env.url)).body(lambda_http::Body::Empty).unwrap();

    let page = tokio::time::timeout(Duration::from_secs(3), links::answer(&starting, get("/v1/privacy?lang=en"), chrono::Utc::now()))
        .await
        .unwrap_or_else(|_| panic!("the privacy page waited for the held rings: {:?}", faults.arrived()));
    assert_eq!(page.status(), 200);
    let html = String::from_utf8_lossy(page.body()).into_owned();
    assert!(html.contains(r#"<form id="privacy" method="post""#), "the privacy request form: {html}");
    assert!(html.contains(&env.config.settings.controller.name), "the controller is named: {html}");

    let link = links::answer(&starting, get("/v1/links/not-a-token"), chrono::Utc::now());
    tokio::pin!(link);
    assert!(tokio::time::timeout(Duration::from_millis(500), &mut link).await.is_err(), "a link's token needs a key");
    faults.release();
    assert_eq!(link.await.status(), 400);
}

/// Issue 26 (start-up): a cold operator instance answers what needs no key without waiting for
/// its key rings: the console's static page, and the 401 of a request that carries no signature
/// (no key can make it an operator's). A signed request waits for them and is then served. The
/// proxy holds Secrets Manager's answer until the signed request is under way.
#[tokio::test]
async fn a_cold_operator_serves_the_console_and_refuses_an_unsigned_request_without_waiting_for_its_key_rings() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let starting = cold_with_rings_held(&env, &faults, &operator::ACCESS, operator::RINGS).await;
    let host = env.url.trim_start_matches("http://").to_owned();
    let get = |path: &str, authorization: Option<String>| {
        let req = http::Request::get(format!("{}{path}", env.url)).header("host", &host);
        let req = match authorization {
            Some(value) => req.header("authorization", value),
            None => req,
        };
        req.body(lambda_http::Body::Empty).unwrap()
    };
    let at_once = |req| async {
        tokio::time::timeout(Duration::from_secs(3), operator::answer(&starting, req, chrono::Utc::now()))
            .await
            .unwrap_or_else(|_| panic!("answered only after the held rings: {:?}", faults.arrived()))
    };

    let console = at_once(get("/console", None)).await;
    assert_eq!(console.status(), 200);
    assert!(String::from_utf8_lossy(console.body()).contains("console.js"));
    let unsigned = at_once(get("/v1/admin/forms/kontakt", None)).await;
    assert_eq!(unsigned.status(), 401);
    let not_a_signature = at_once(get("/v1/admin/forms/kontakt", Some("Bearer abc".into()))).await;
    assert_eq!(not_a_signature.status(), 401);

    let signed = env.sign("GET", "/v1/admin/forms/kontakt", b"", chrono::Utc::now().timestamp());
    let form = operator::answer(&starting, get("/v1/admin/forms/kontakt", Some(signed)), chrono::Utc::now());
    tokio::pin!(form);
    assert!(tokio::time::timeout(Duration::from_millis(500), &mut form).await.is_err(), "a signature is checked with a key");
    faults.release();
    let form = form.await;
    assert_eq!(form.status(), 200, "{}", String::from_utf8_lossy(form.body()));
}

/// Issue 26 (start-up): a cold notifier reads an escalation's notice once for every recipient of
/// its first message, not once for each of the recipients it sends to at once: ten such reads of
/// the whole breach partition, each on a connection of its own, were the cold instance's first
/// work. The count is the proxy's, of the DynamoDB queries the notifier makes (its only query is
/// that read).
#[tokio::test]
async fn a_cold_notifier_reads_the_escalations_notice_once_for_the_recipients_it_sends_to_at_once() {
    let (env, faults) = env_with_faults(|_| {}).await;
    let tag = &zgoda_tests::unique()[20..];
    let people: Vec<String> = (0..5).map(|i| format!("{i}.{tag}@n.pl")).collect();
    let (id, esc) = escalated_to(&env, 2, "esc-once", &people).await;

    let sqs = zgoda_aws::Clients::local(&zgoda_tests::emulator_endpoints(), zgoda_tests::REGION).await.sqs;
    let received =
        sqs.receive_message().queue_url(&env.config.queue_url).max_number_of_messages(10).wait_time_seconds(2).send().await.unwrap();
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = received.messages().iter().map(zgoda_local::as_lambda_sees_it).collect();
    assert_eq!(event.records.len(), 1, "five recipients are one message");

    let before = faults.arrived().len();
    let cold = notifier::Notifier::new(env.local.apps.notifier.clone(), 100, 4);
    let response = notifier::handle_app(&cold, event, chrono::Utc::now()).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    let calls = faults.arrived().split_off(before);
    let reads = calls.iter().filter(|call| call.contains("DynamoDB_20120810.Query")).count();
    assert_eq!(reads, 1, "one read of the notice for five recipients: {calls:?}");
    let done = progress(&env, &id, &esc).await;
    assert_eq!((done["sent"].as_u64(), done["pending"].as_u64()), (Some(5), Some(0)), "{done}");
}

/// Issue 26 (start-up): a cold retention sweep reads its key rings only when a run comes to an
/// erasure, the one step that needs a key (its event is sealed). The common run, with nobody to
/// erase, neither waits for nor holds the seals key, and makes no Secrets Manager call. The proxy
/// holds any Secrets Manager answer until the erasure is under way.
#[tokio::test]
async fn a_cold_retention_sweep_reads_its_key_rings_only_when_it_comes_to_an_erasure() {
    use chrono::{Duration as Days, Utc};
    let (env, faults) = env_with_faults(|_| {}).await;
    let leaving = address("leaving");
    crate::retention::left_the_newsletter(&env, &leaving).await;
    let leaving_id = env.subject_id(&leaving).await;
    let before = faults.arrived().len();
    let starting = cold_with_rings_held(&env, &faults, &retention_sweep::ACCESS, retention_sweep::RINGS).await;
    let ring_reads = || faults.arrived().split_off(before).iter().filter(|call| call.contains("secretsmanager.")).count();

    // An hour on, the contract still needs the address: nobody to erase, and no ring.
    let soon = tokio::time::timeout(
        Duration::from_secs(3),
        retention_sweep::answer(&starting, crate::retention::sweep_event(Utc::now() + Days::hours(1))),
    )
    .await
    .unwrap_or_else(|_| panic!("the run waited for the held rings: {:?}", faults.arrived().split_off(before)))
    .unwrap();
    assert_eq!((soon["erased"].as_array().map(Vec::len), &soon["deferred"]), (Some(0), &json!(1)), "{soon}");
    assert_eq!(ring_reads(), 0, "no key ring read for a run that erases nobody");

    // A year and a day on, the run comes to the erasure: it reads the rings and waits for them.
    let later = retention_sweep::answer(&starting, crate::retention::sweep_event(Utc::now() + Days::days(366)));
    tokio::pin!(later);
    assert!(tokio::time::timeout(Duration::from_millis(500), &mut later).await.is_err(), "an erasure's event is sealed with a key");
    assert_eq!(ring_reads(), 1);
    faults.release();
    let later = later.await.unwrap();
    assert_eq!(later["erased"], json!([leaving_id.to_string()]), "{later}");
}

/// A deadline watch run reads the breach register once, for its deadline reminders and its
/// follow-ups alike: a listing and one read per breach, not twice over every 15 minutes. The
/// count is the proxy's, of the DynamoDB queries one run makes with two breaches registered.
#[tokio::test]
async fn a_deadline_watch_run_reads_each_breach_once() {
    let (env, faults) = env_with_faults(|_| {}).await;
    register(&env, &breach_body(1)).await;
    register(&env, &breach_body(2)).await;
    let before = faults.arrived().len();
    crate::breaches::deadline_watch_run(&env, chrono::Utc::now()).await;
    let calls = faults.arrived().split_off(before);
    let queries = calls.iter().filter(|call| call.contains("DynamoDB_20120810.Query")).count();
    // The register's listing and each breach's partition; the requests' and the incidents' due lists.
    assert_eq!(queries, 1 + 2 + 2, "{calls:?}");
}

/// A retention sweep whose key rings cannot be read asks for them once a run, not once for each
/// person it comes to erase. The count is the proxy's, with two people due.
#[tokio::test]
async fn a_retention_sweep_that_cannot_read_its_key_rings_asks_for_them_once_a_run() {
    use chrono::{Duration as Days, Utc};
    let (env, faults) = env_with_faults(|_| {}).await;
    for who in ["leaving-1", "leaving-2"] {
        crate::retention::left_the_newsletter(&env, &address(who)).await;
    }
    let clients = zgoda_aws::Clients::local(&zgoda_aws::LocalEndpoints::single(&faults.url), zgoda_tests::REGION).await;
    let mut config = env.config.clone();
    config.secrets_prefix = format!("{}missing/", config.secrets_prefix);
    let starting = zgoda_web::app::Starting::new(config, clients, &retention_sweep::ACCESS, retention_sweep::RINGS);
    let before = faults.arrived().len();
    let run = retention_sweep::answer(&starting, crate::retention::sweep_event(Utc::now() + Days::days(366))).await;
    assert!(matches!(run, Err(zgoda_domain::Error::Unavailable(_))), "{run:?}");
    let calls = faults.arrived().split_off(before);
    assert_eq!(calls.iter().filter(|call| call.contains("secretsmanager.")).count(), 1, "{calls:?}");
}
