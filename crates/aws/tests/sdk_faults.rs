//! ASVS 16.5 / issue "Hostile input, faults and load": how the adapters behave when AWS itself
//! struggles, with the production retry and timeout policy (`zgoda_aws::retry_config`,
//! `zgoda_aws::timeout_config`). Throttling and server errors are scripted with aws-smithy-mocks;
//! a hanging service is a loopback socket that never answers. Each ends in either the answer or
//! `StoreError::Unavailable` (the 503 the caller sees), never in a hang or a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use zgoda_aws::{DynamoStore, Senders, Sending, SesTransport, retry_config, timeout_config};
use zgoda_domain::email::EmailAddress;
use zgoda_domain::mail::{MailError, MailStream, MailTransport};
use zgoda_domain::store::{GuardKey, Guards, StoreError};

const THROTTLED: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
const CONDITION_FAILED: &str =
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#;

fn store(client: aws_sdk_dynamodb::Client) -> DynamoStore {
    DynamoStore::new(client, "zgoda")
}

async fn first_use(store: &DynamoStore) -> Result<bool, StoreError> {
    let now = chrono::Utc::now();
    store.first_use(&GuardKey::LinkUsed("test".into()), now + chrono::Duration::days(1), now).await
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_the_call_then_succeeds() {
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .sequence()
        .http_status(400, Some(THROTTLED.into()))
        .times(2)
        .output(|| PutItemOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&put], |c| c.retry_config(retry_config()));
    assert_eq!(first_use(&store(client)).await, Ok(true));
    assert_eq!(put.num_calls(), 3, "two throttled attempts, then the one that went through");
}

#[tokio::test]
async fn throttling_that_never_ends_is_unavailable_after_three_attempts() {
    let put = mock!(aws_sdk_dynamodb::Client::put_item).sequence().http_status(400, Some(THROTTLED.into())).repeatedly().build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&put], |c| c.retry_config(retry_config()));
    match first_use(&store(client)).await {
        Err(StoreError::Unavailable(detail)) => assert!(detail.contains("ThrottlingException"), "{detail}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(put.num_calls(), 3);
}

#[tokio::test]
async fn a_server_error_is_retried_like_throttling() {
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .sequence()
        .http_status(500, Some(r#"{"__type":"InternalServerError","message":"boom"}"#.into()))
        .output(|| PutItemOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&put], |c| c.retry_config(retry_config()));
    assert_eq!(first_use(&store(client)).await, Ok(true));
    assert_eq!(put.num_calls(), 2);
}

#[tokio::test]
async fn a_failed_condition_is_an_answer_and_is_not_retried() {
    let put = mock!(aws_sdk_dynamodb::Client::put_item).sequence().http_status(400, Some(CONDITION_FAILED.into())).repeatedly().build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&put], |c| c.retry_config(retry_config()));
    assert_eq!(first_use(&store(client)).await, Ok(false), "already used");
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn ses_throttling_is_retried_and_when_it_persists_the_mail_fails_as_throttled() {
    let send = mock!(aws_sdk_sesv2::Client::send_email)
        .sequence()
        .http_status(429, Some(r#"{"__type":"TooManyRequestsException","message":"Maximum sending rate exceeded."}"#.into()))
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&send], |c| c.retry_config(retry_config()));
    let ses = SesTransport::new(
        client,
        Senders {
            public: Sending { from: "zgoda@example.pl".into(), configuration_set: None },
            notices: Sending { from: "zgoda@example.pl".into(), configuration_set: None },
        },
    );
    let to = EmailAddress::parse("ola@example.pl").unwrap();
    let err = ses.send_raw(MailStream::Public, &to, b"Subject: x\r\n\r\nx".to_vec(), &[]).await.expect_err("never accepted");
    assert_eq!(err, MailError::throttled("TooManyRequestsException"));
    assert_eq!(send.num_calls(), 3);

    // A tagged mail (a breach notice, recorded by its Send event) is tried once: the notifier hands
    // the recipient back instead, since an SDK retry of a send SES took would be a second mail.
    let tags = [("zgoda-breach", "B1".to_owned())];
    let err = ses.send_raw(MailStream::Public, &to, b"Subject: x\r\n\r\nx".to_vec(), &tags).await.expect_err("never accepted");
    assert_eq!(err, MailError::throttled("TooManyRequestsException"));
    assert_eq!(send.num_calls(), 4, "one more call, not three");
}

/// A socket that accepts connections and never answers: a service that hangs.
async fn silent_service() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn a_hanging_service_is_cut_by_the_attempt_timeout_retried_and_reported_unavailable() {
    let (url, accepted) = silent_service().await;
    // The production policy with its timeouts shortened: the same path, in a test's time.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(300))
        .operation_timeout(Duration::from_secs(6))
        .build();
    assert!(timeout_config().operation_attempt_timeout().is_some() && timeout_config().operation_timeout().is_some());
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("eu-central-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("t", "t", None, None, "test"))
        .endpoint_url(url)
        .http_client(zgoda_aws::http_client())
        .retry_config(retry_config())
        .timeout_config(timeouts)
        .build();
    let started = Instant::now();
    match first_use(&store(aws_sdk_dynamodb::Client::from_conf(config))).await {
        Err(StoreError::Unavailable(detail)) => assert!(detail.to_lowercase().contains("timeout"), "{detail}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(6), "gave up within the operation timeout");
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "each of the three attempts was cut and retried");
}

/// Every form post's counting transaction names the hour's public mail budget, and DynamoDB cancels
/// a transaction that meets another on one of its items (`TransactionConflict`): two posts at once
/// must both be counted, so the conflict is tried again, and a spent limit is still an answer.
#[tokio::test]
async fn h2_a_counting_transaction_that_meets_another_is_tried_again() {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
    use zgoda_domain::store::Count;
    let cancelled = |codes: &[&str]| {
        let reasons: Vec<String> = codes.iter().map(|c| format!(r#"{{"Code":"{c}"}}"#)).collect();
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled","CancellationReasons":[{}]}}"#,
            reasons.join(",")
        )
    };
    let transact = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .http_status(400, Some(cancelled(&["None", "TransactionConflict"])))
        .times(2)
        .output(|| TransactWriteItemsOutput::builder().build())
        .http_status(400, Some(cancelled(&["ConditionalCheckFailed", "None"])))
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&transact], |c| c.retry_config(retry_config()));
    let store = store(client);
    let window_end = chrono::Utc::now() + chrono::Duration::hours(1);
    let counts = [
        Count { key: GuardKey::FormPostsFrom("203.0.113.0/24".into()), window_end, by: 1, most: 30 },
        Count { key: GuardKey::PublicMail, window_end, by: 1, most: 500 },
    ];
    assert_eq!(store.count_within(&counts).await, Ok(Ok(())), "counted once the other transaction was done");
    assert_eq!(transact.num_calls(), 3);
    assert_eq!(store.count_within(&counts).await, Ok(Err(vec![0])), "the network's limit is spent");
    assert_eq!(transact.num_calls(), 4, "a spent limit is not tried again");
}
