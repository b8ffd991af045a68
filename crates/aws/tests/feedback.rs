//! Art. 34(1): SES's delivery, bounce and complaint events about a breach notice are recorded on
//! its outbox item, found by the message's tags: one conditional write, and no lookup by message
//! id (a query per event, over an index that every sent notice had to be written into).

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use zgoda_aws::DynamoStore;
use zgoda_domain::ids::{BreachId, EscalationId, SubjectId};
use zgoda_domain::store::{BreachStore, Job};

#[tokio::test]
async fn art34_1_feedback_on_a_notice_is_one_conditional_write_on_its_outbox_item_and_no_lookup() {
    let job = Job {
        breach_id: BreachId::parse("B1").unwrap(),
        escalation_id: EscalationId::parse("E1").unwrap(),
        subject: SubjectId::parse(&"a".repeat(64)).unwrap(),
    };
    let update = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            r.condition_expression() == Some("#status = :sent AND message_id = :id")
                && r.key().and_then(|k| k.get("sk")).and_then(|v| v.as_s().ok()).map(String::as_str)
                    == Some(&*format!("R#{}", "a".repeat(64)))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let query = mock!(aws_sdk_dynamodb::Client::query).then_output(|| QueryOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&update, &query]);
    let recorded = DynamoStore::new(client, "zgoda").record_feedback(&job, "ses-1", "delivered", chrono::Utc::now()).await;
    assert_eq!(recorded, Ok(true));
    assert_eq!((update.num_calls(), query.num_calls()), (1, 0), "one write, no lookup");
}
