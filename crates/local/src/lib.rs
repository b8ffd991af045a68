//! The local stack: the emulator's lifecycle, idempotent provisioning, the demo form, and every
//! route of every function served on one loopback port. What runs here is the code that ships:
//! the server only turns hyper requests into lambda_http requests and calls the same handlers.

pub mod dev;
pub mod emulator;
pub mod envfile;
pub mod notifier_loop;
pub mod provision;
pub mod schedules;
pub mod server;
pub mod ses_events_loop;
pub mod webhooks_loop;

/// How long the local pollers (standing in for Lambda's SQS event source and SNS) wait on an
/// empty queue: the longest SQS allows, as Lambda's own pollers do. A poll answers as soon as a
/// message arrives; shorter waits only cost an SDK call per poller per wait while idle, which
/// showed as the local stack's CPU in the benchmark.
pub const LONG_POLL_SECONDS: i32 = 20;

/// The region the local stack and the tests name (the emulator takes any).
pub const REGION: &str = "eu-central-1";

/// The local stack's sender of public mail (confirmations, privacy answers).
pub const SENDER: &str = "zgoda@sklep.example.pl";
/// The controller the local stack names in its mails and pages: the example one, so that the demo
/// shows what a deployed stack's own profile (the template's `Controller*` parameters) looks like.
pub fn demo_controller() -> zgoda_domain::controller::ControllerProfile {
    zgoda_domain::controller::ControllerProfile::example()
}

/// The local stack's sender of breach notices and deadline reminders: a sub-domain of its own, as
/// README "Deploy" recommends, so that public mail's reputation is not theirs.
pub const NOTICE_SENDER: &str = "zgoda@powiadomienia.sklep.example.pl";

/// A received message as Lambda's SQS event source hands it to a function.
pub fn as_lambda_sees_it(m: &aws_sdk_sqs::types::Message) -> aws_lambda_events::event::sqs::SqsMessage {
    let mut r = aws_lambda_events::event::sqs::SqsMessage::default();
    r.message_id = m.message_id.clone();
    r.receipt_handle = m.receipt_handle.clone();
    r.body = m.body.clone();
    r.attributes = m.attributes().map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect()).unwrap_or_default();
    r
}
