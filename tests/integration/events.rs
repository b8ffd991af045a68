//! Every sample event in `events/` drives its function's handler, exactly as Lambda would deliver it.

use std::path::PathBuf;

use serde_json::Value;
use zgoda_tests::TestEnv;

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// What each sample must produce. A new sample without a line here fails the test.
const EXPECTED: &[(&str, u16)] = &[
    ("intake/submission-json.json", 201),
    ("intake/submission-urlencoded.json", 303),
    ("intake/submission-foreign-origin.json", 403),
    ("intake/preflight.json", 204),
    ("intake/thanks.json", 200),
    ("intake/healthz.json", 200),
    ("operator/get-form-unsigned.json", 401),
    ("links/link-page-tampered.json", 400),
    ("links/one-click-tampered.json", 400),
    ("links/privacy-page.json", 200),
    ("links/privacy-request-foreign-origin.json", 403),
    ("links/report-page-tampered.json", 400),
    ("links/processor-report-unsigned.json", 401),
    // Non-HTTP samples: the number is what the handler's answer must show (see below).
    ("notifier/sqs-batch.json", 2),
    ("deadline-watch/schedule.json", 0),
    ("retention-sweep/schedule.json", 0),
    ("ses-events/bounce-permanent.json", 1),
    ("ses-events/complaint.json", 1),
    ("ses-events/delivery.json", 1),
    ("ses-events/send.json", 1),
    ("webhooks/schedule.json", 0),
    ("webhooks/sqs-batch.json", 1),
];

#[tokio::test]
async fn every_sample_event_in_events_is_handled_as_documented() {
    let env = TestEnv::spawn().await;
    zgoda_local::provision::seed_demo(&env.local.apps.operator, chrono::Utc::now()).await.unwrap();
    let mut seen = Vec::new();
    for function in std::fs::read_dir(events_dir()).unwrap() {
        let function = function.unwrap().path();
        for file in std::fs::read_dir(&function).unwrap() {
            let file = file.unwrap().path();
            let rel = format!("{}/{}", function.file_name().unwrap().to_str().unwrap(), file.file_name().unwrap().to_str().unwrap());
            let expected = EXPECTED.iter().find(|(n, _)| *n == rel).unwrap_or_else(|| panic!("{rel} has no expectation in events.rs")).1;
            let text = std::fs::read_to_string(&file).unwrap();
            serde_json::from_str::<Value>(&text).unwrap();
            let function_name = rel.split('/').next().unwrap();
            if function_name == "notifier" {
                // Both jobs are retried: one names no escalation, one is not a job at all.
                let n = notifier::Notifier::new(env.local.apps.notifier.clone(), 100, 4);
                let response = notifier::handle_app(&n, serde_json::from_str(&text).unwrap(), chrono::Utc::now()).await;
                assert_eq!(response.batch_item_failures.len() as u16, expected, "{rel}");
                seen.push(rel);
                continue;
            }
            if function_name == "ses-events" {
                // Nothing of this message is in a fresh table; the notification is still read and answered.
                let out = ses_events::handle_app(&env.local.apps.ses_events, serde_json::from_str(&text).unwrap(), chrono::Utc::now())
                    .await
                    .unwrap();
                assert_eq!(out["handled"].as_array().unwrap().len() as u16, expected, "{rel}");
                seen.push(rel);
                continue;
            }
            if function_name == "retention-sweep" {
                // The sample runs at a time before anyone here was recorded: nobody is due.
                let out = retention_sweep::handle_app(&env.local.apps.retention_sweep, serde_json::from_str(&text).unwrap()).await.unwrap();
                assert_eq!(out["erased"].as_array().unwrap().len() as u16, expected, "{rel}");
                seen.push(rel);
                continue;
            }
            if function_name == "webhooks" {
                // No endpoint is registered: the schedule queues nothing; of the batch, the task for
                // an endpoint that does not exist is finished, the unreadable one left to the redrive.
                let event = webhooks::Event::parse(serde_json::from_str(&text).unwrap()).unwrap();
                let sender = webhooks::sender::GuardedSender::local();
                let out = webhooks::handle_app(&env.local.apps.webhooks, &sender, &env.local.apps.webhook_queue, event).await.unwrap();
                let count =
                    out.get("queued").and_then(Value::as_u64).or_else(|| out["batchItemFailures"].as_array().map(|a| a.len() as u64));
                assert_eq!(count, Some(u64::from(expected)), "{rel}: {out}");
                seen.push(rel);
                continue;
            }
            if function_name == "deadline-watch" {
                let out = deadline_watch::handle_app(&env.local.apps.deadline_watch, serde_json::from_str(&text).unwrap()).await.unwrap();
                assert_eq!(out["reminders"].as_array().unwrap().len() as u16, expected, "{rel}");
                seen.push(rel);
                continue;
            }
            let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not an API Gateway event: {e}"));
            let now = chrono::Utc::now();
            let resp = match rel.split('/').next().unwrap() {
                "intake" => intake::handle_app(&env.local.apps.intake, req, now).await,
                "operator" => operator::handle_app(&env.local.apps.operator, req, now).await,
                "links" => links::handle_app(&env.local.apps.links, req, now).await,
                other => panic!("no handler for events/{other}"),
            };
            assert_eq!(resp.status().as_u16(), expected, "{rel}: {:?}", String::from_utf8_lossy(resp.body().as_ref()));
            seen.push(rel);
        }
    }
    assert_eq!(seen.len(), EXPECTED.len(), "every expectation has its sample: {seen:?}");
}
