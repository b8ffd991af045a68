//! Art. 34(1): SES's Send event records a breach notice as sent even when the notifier died before
//! it could, or took SES's lost answer for a failure. Nearly always the notifier recorded it sent
//! first; then the event must cost one read, not a conditional write that fails (which DynamoDB
//! still bills as a write).

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use zgoda_aws::DynamoStore;
use zgoda_domain::ids::{BreachId, EscalationId, SubjectId};
use zgoda_domain::store::{BreachStore, Job};

fn job() -> Job {
    Job {
        breach_id: BreachId::parse("B1").unwrap(),
        escalation_id: EscalationId::parse("E1").unwrap(),
        subject: SubjectId::parse(&"a".repeat(64)).unwrap(),
    }
}

/// The outbox read answering `status` (no item when None), and an update that succeeds.
fn rules(status: Option<&'static str>) -> (Rule, Rule) {
    let read = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|r| r.projection_expression() == Some("#status") && r.consistent_read() != Some(true))
        .then_output(move || {
            let out = GetItemOutput::builder();
            match status {
                Some(s) => out.item("status", AttributeValue::S(s.into())).build(),
                None => out.build(),
            }
        });
    let update = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| r.condition_expression() == Some("#status IN (:sending, :pending, :failed)"))
        .then_output(|| UpdateItemOutput::builder().build());
    (read, update)
}

#[tokio::test]
async fn art34_1_a_send_event_for_a_recipient_recorded_sent_costs_one_read_and_no_write() {
    let (read, update) = rules(Some("sent"));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &update]);
    let recorded = DynamoStore::new(client, "zgoda").record_accepted(&job(), "ses-1", chrono::Utc::now()).await;
    assert_eq!(recorded, Ok(false));
    assert_eq!((read.num_calls(), update.num_calls()), (1, 0), "one read, no write");
}

#[tokio::test]
async fn art34_1_a_send_event_for_a_recipient_not_recorded_sent_writes_it_conditionally() {
    for status in [Some("sending"), Some("pending"), Some("failed"), None] {
        let (read, update) = rules(status);
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &update]);
        let recorded = DynamoStore::new(client, "zgoda").record_accepted(&job(), "ses-1", chrono::Utc::now()).await;
        assert_eq!(recorded, Ok(true), "{status:?}");
        assert_eq!((read.num_calls(), update.num_calls()), (1, 1), "{status:?}: the write decides");
    }
}
