//! What each function may do in AWS, as data ([`Access`], one `ACCESS` per function crate): every
//! call its code (or Lambda on its behalf) makes, by IAM action and by the resource the template
//! names. Two checks hold the pieces together:
//! - `tests/integration/infra.rs` evaluates each function's policy in `infra/template.yaml` with
//!   an IAM policy evaluator against every call of its list (allowed), and every statement of the
//!   policy against the list (nothing granted that no call needs);
//! - the local stack and the tests give each function clients with an [`AccessCheck`]: a call the
//!   code makes that its list does not name fails as AWS would fail it, with AccessDenied.
//!
//! So a call added to the code without a line here fails the tests that reach it, and a line here
//! without a grant in the template fails the policy evaluation.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;
use zgoda_domain::keys::KeyFamily;
use zgoda_domain::mail::MailStream;

use crate::Config;
use crate::table::GSI;

/// A resource of the stack, named as `infra/template.yaml` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The one DynamoDB table (`Table`).
    Table,
    /// Its secondary index, `gsi1` (`${Table.Arn}/index/gsi1`).
    TableIndex,
    /// The breach-notice queue (`NoticeQueue`).
    NoticeQueue,
    /// Where Lambda puts SES feedback events ses-events could not record (`FeedbackDeadLetterQueue`).
    FeedbackDeadLetterQueue,
    /// The webhook deliveries' FIFO queue (`WebhookQueue`).
    WebhookQueue,
    /// Where webhook delivery puts the changes it gave up on (`WebhookDeadLetterQueue`).
    WebhookDeadLetterQueue,
    /// One key ring's secret (`LinksSecret`, `SealsSecret`, `OperatorsSecret`, `PepperSecret`).
    Secret(KeyFamily),
    /// An action that names no resource (`*`), such as `BatchGetSecretValue`.
    Unscoped,
    /// A stream's sender domain as a verified SES identity (`identity/${SenderDomain}` for public
    /// mail, `identity/${NoticeSenderDomain}` for breach notices).
    SenderIdentity(MailStream),
    /// The SES configuration set a stream's mail names (`SesConfigurationSet`,
    /// `SesNoticeConfigurationSet`).
    ConfigurationSet(MailStream),
    /// The customer-managed key under the table, secrets, queue and environment (`DataKey`).
    DataKey,
}

/// One IAM action on one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsCall {
    pub action: &'static str,
    pub resource: Resource,
}

pub const fn call(action: &'static str, resource: Resource) -> AwsCall {
    AwsCall { action, resource }
}

/// What one function may do in AWS, by kind; [`Access::calls`] spells it out call by call.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// DynamoDB actions on the table (`dynamodb:GetItem`, …; a transaction needs its items').
    pub table: &'static [&'static str],
    /// Queries of the table's index.
    pub index: bool,
    /// The key rings it loads at a cold start, and may read: no other.
    pub key_rings: &'static [KeyFamily],
    /// The mail streams it sends on (each through its own identity and configuration set).
    pub mail: &'static [MailStream],
    /// SQS actions on the notice queue (its own, or its event source's on its behalf).
    pub notice_queue: &'static [&'static str],
    /// Whether Lambda puts events it gave up on into the feedback dead-letter queue for it.
    pub feedback_dead_letters: bool,
    /// SQS actions on the webhook queue (its own, or its event source's on its behalf).
    pub webhook_queue: &'static [&'static str],
    /// Whether it puts given-up webhook deliveries on their dead-letter queue.
    pub webhook_dead_letters: bool,
    /// Whether it erases people, and so removes their address from SES's account-level
    /// suppression list (an action without resource-level permissions).
    pub suppression_list: bool,
}

/// Reading and writing single items (and the health check's DescribeTable): what the public
/// functions do with the table.
pub const ITEM_READ_WRITE: &[&str] =
    &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"];

/// [`ITEM_READ_WRITE`] and two items read in one call (a form post's chain head and suppression).
pub const ITEM_READ_WRITE_BATCH_GET: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
];

impl Access {
    /// Nothing but the data key every function needs; a function's own [`Access`] adds to it.
    pub const NONE: Access = Access {
        table: &[],
        index: false,
        key_rings: &[],
        mail: &[],
        notice_queue: &[],
        feedback_dead_letters: false,
        webhook_queue: &[],
        webhook_dead_letters: false,
        suppression_list: false,
    };

    /// Every (action, resource) pair.
    pub fn calls(&self) -> Vec<AwsCall> {
        let mut calls: Vec<AwsCall> = self.table.iter().map(|a| call(a, Resource::Table)).collect();
        if self.index {
            calls.push(call("dynamodb:Query", Resource::TableIndex));
        }
        calls.extend(DATA_KEY_USE);
        if !self.key_rings.is_empty() {
            calls.push(READ_SECRETS);
            calls.extend(self.key_rings.iter().map(|f| call("secretsmanager:GetSecretValue", Resource::Secret(*f))));
        }
        calls.extend(self.mail.iter().flat_map(|stream| send_mail(*stream)));
        calls.extend(self.notice_queue.iter().map(|a| call(a, Resource::NoticeQueue)));
        if self.feedback_dead_letters {
            calls.push(call("sqs:SendMessage", Resource::FeedbackDeadLetterQueue));
        }
        calls.extend(self.webhook_queue.iter().map(|a| call(a, Resource::WebhookQueue)));
        if self.webhook_dead_letters {
            calls.push(call("sqs:SendMessage", Resource::WebhookDeadLetterQueue));
        }
        if self.suppression_list {
            calls.push(FORGET_ADDRESS);
        }
        calls
    }
}

/// The data key encrypts the table, the secrets, the queues and every function's environment:
/// what DynamoDB, Secrets Manager and SQS do with it on a caller's behalf is checked against the
/// caller's role, and Lambda decrypts the environment with it at each cold start.
const DATA_KEY_USE: [AwsCall; 3] =
    [call("kms:Decrypt", Resource::DataKey), call("kms:Encrypt", Resource::DataKey), call("kms:GenerateDataKey", Resource::DataKey)];

/// Reading key rings: one `BatchGetSecretValue` (which names no resource) and, for each secret it
/// returns, `GetSecretValue` on that secret.
const READ_SECRETS: AwsCall = call("secretsmanager:BatchGetSecretValue", Resource::Unscoped);

/// Sending one mail on a stream through SES v2 with a configuration set: SES authorizes the
/// identity **and** the configuration set (security review C1), so both need the grant.
const fn send_mail(stream: MailStream) -> [AwsCall; 2] {
    [call("ses:SendEmail", Resource::SenderIdentity(stream)), call("ses:SendEmail", Resource::ConfigurationSet(stream))]
}

/// Removing an address from SES's account-level suppression list (erasure; security review L9).
const FORGET_ADDRESS: AwsCall = call("ses:DeleteSuppressedDestination", Resource::Unscoped);

/// The names behind each [`Resource`] in one deployment (or one test's stack).
#[derive(Debug, Clone)]
struct Names {
    table: String,
    secrets_prefix: String,
    queue_url: String,
    webhook_queue_url: String,
    webhook_dead_letter_url: String,
    /// Each stream's (sender domain, configuration set).
    mail: Vec<(MailStream, String, Option<String>)>,
}

/// An SDK interceptor that refuses, before it is sent, any request whose (action, resource) is not
/// in the function's list. For the local stack and the tests only: in AWS, IAM does this.
#[derive(Debug, Clone)]
pub struct AccessCheck {
    function: &'static str,
    access: Access,
    calls: Vec<AwsCall>,
    names: Names,
    /// Every refusal so far, shared by the clones the SDK clients hold: code that tolerates a
    /// failed call (a log line and go on) would otherwise hide a missing grant from the tests.
    refused: Arc<Mutex<Vec<String>>>,
}

impl AccessCheck {
    pub fn new(function: &'static str, access: Access, config: &Config) -> Self {
        let names = Names {
            table: config.table.clone(),
            secrets_prefix: config.secrets_prefix.clone(),
            queue_url: config.queue_url.clone(),
            webhook_queue_url: config.webhook_queue_url.clone(),
            webhook_dead_letter_url: config.webhook_dead_letter_url.clone(),
            mail: MailStream::ALL.map(|m| (m, config.mail.of(m).domain(), config.mail.of(m).configuration_set.clone())).to_vec(),
        };
        Self { function, access, calls: access.calls(), names, refused: Arc::default() }
    }

    pub fn function(&self) -> &'static str {
        self.function
    }

    pub fn access(&self) -> Access {
        self.access
    }

    /// Every call refused so far, each as the error it failed with.
    pub fn refusals(&self) -> Vec<String> {
        self.refused.lock().expect("not poisoned").clone()
    }

    /// The (action, resource) pairs one request needs, or why it names something unknown.
    pub fn needs(&self, service: &str, operation: &str, body: &Value) -> Result<Vec<AwsCall>, String> {
        let n = &self.names;
        let text = |field: &str| body.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
        let table = |name: &str, index: Option<&str>| -> Result<Resource, String> {
            match index {
                _ if name != n.table => Err(format!("table {name}")),
                None => Ok(Resource::Table),
                Some(GSI) => Ok(Resource::TableIndex),
                Some(other) => Err(format!("index {other}")),
            }
        };
        let dynamodb = |action: &'static str, item: &Value| -> Result<AwsCall, String> {
            let name = item.get("TableName").and_then(Value::as_str).unwrap_or_default();
            Ok(call(action, table(name, item.get("IndexName").and_then(Value::as_str))?))
        };
        let actions = |op: &str| -> &'static str {
            match op {
                "GetItem" | "Get" => "dynamodb:GetItem",
                "PutItem" | "Put" => "dynamodb:PutItem",
                "UpdateItem" | "Update" => "dynamodb:UpdateItem",
                "DeleteItem" | "Delete" => "dynamodb:DeleteItem",
                "ConditionCheck" => "dynamodb:ConditionCheckItem",
                "Query" => "dynamodb:Query",
                "Scan" => "dynamodb:Scan",
                "DescribeTable" => "dynamodb:DescribeTable",
                "BatchGetItem" => "dynamodb:BatchGetItem",
                "BatchWriteItem" => "dynamodb:BatchWriteItem",
                _ => "dynamodb:(unlisted operation)",
            }
        };
        // The SDK names services "DynamoDB", "SESv2", "SQS", "Secrets Manager".
        match (service.to_ascii_lowercase().replace(' ', "").as_str(), operation) {
            ("dynamodb", "TransactWriteItems" | "TransactGetItems") => {
                // A transaction is authorized item by item, each under its own action.
                let items = body.get("TransactItems").and_then(Value::as_array).cloned().unwrap_or_default();
                let mut out = Vec::new();
                for item in &items {
                    for (kind, inner) in item.as_object().into_iter().flatten() {
                        out.push(dynamodb(actions(kind), inner)?);
                    }
                }
                Ok(out)
            }
            ("dynamodb", "BatchGetItem" | "BatchWriteItem") => {
                let tables = body.get("RequestItems").and_then(Value::as_object).cloned().unwrap_or_default();
                tables.keys().map(|name| Ok(call(actions(operation), table(name, None)?))).collect()
            }
            ("dynamodb", op) => Ok(vec![dynamodb(actions(op), body)?]),
            ("sesv2", "SendEmail") => {
                let from = text("FromEmailAddress");
                let domain = from.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
                let set = body.get("ConfigurationSetName").and_then(Value::as_str);
                // The streams whose identity the mail is sent as and whose set it names (a mail
                // naming no set is authorized on the identity alone).
                let named = |(_, d, s): &&(MailStream, String, Option<String>)| *d == domain && (set.is_none() || s.as_deref() == set);
                let candidates: Vec<MailStream> = n.mail.iter().filter(named).map(|(m, ..)| *m).collect();
                // Where two streams share identity and set, the one this function sends on.
                let Some(stream) = candidates.iter().find(|m| self.access.mail.contains(m)).or(candidates.first()) else {
                    return Err(format!("sender domain {domain} with configuration set {}", set.unwrap_or("(none)")));
                };
                let [identity, configuration_set] = send_mail(*stream);
                Ok(if set.is_some() { vec![identity, configuration_set] } else { vec![identity] })
            }
            ("sesv2", "DeleteSuppressedDestination") => Ok(vec![FORGET_ADDRESS]),
            ("sqs", op) => {
                let url = text("QueueUrl");
                let queue = match url.as_str() {
                    "" => return Err("a queue with no URL".into()),
                    u if u == n.queue_url => Resource::NoticeQueue,
                    u if u == n.webhook_queue_url => Resource::WebhookQueue,
                    u if u == n.webhook_dead_letter_url => Resource::WebhookDeadLetterQueue,
                    _ => return Err(format!("queue {url}")),
                };
                // A batch is authorized as the single action it repeats.
                let action = match op {
                    "SendMessage" | "SendMessageBatch" => "sqs:SendMessage",
                    "ReceiveMessage" => "sqs:ReceiveMessage",
                    "DeleteMessage" | "DeleteMessageBatch" => "sqs:DeleteMessage",
                    "ChangeMessageVisibility" | "ChangeMessageVisibilityBatch" => "sqs:ChangeMessageVisibility",
                    "GetQueueAttributes" => "sqs:GetQueueAttributes",
                    _ => "sqs:(unlisted operation)",
                };
                Ok(vec![call(action, queue)])
            }
            ("secretsmanager", "BatchGetSecretValue") => {
                let ids = body.get("SecretIdList").and_then(Value::as_array).cloned().unwrap_or_default();
                let mut out = vec![READ_SECRETS];
                for id in ids.iter().filter_map(Value::as_str) {
                    out.push(call("secretsmanager:GetSecretValue", self.secret(id)?));
                }
                Ok(out)
            }
            ("secretsmanager", "GetSecretValue") => Ok(vec![call("secretsmanager:GetSecretValue", self.secret(&text("SecretId"))?)]),
            (service, op) => Err(format!("{service}:{op}")),
        }
    }

    fn secret(&self, id: &str) -> Result<Resource, String> {
        let family = id.strip_prefix(&self.names.secrets_prefix).and_then(|f| KeyFamily::ALL.into_iter().find(|k| k.name() == f));
        family.map(Resource::Secret).ok_or_else(|| format!("secret {id}"))
    }

    /// Why a request is refused, or `None` when every pair it needs is in the list.
    pub fn refusal(&self, service: &str, operation: &str, body: &Value) -> Option<String> {
        let denied = match self.needs(service, operation, body) {
            Ok(needs) => {
                needs.into_iter().filter(|n| !self.calls.contains(n)).map(|n| format!("{} on {:?}", n.action, n.resource)).collect()
            }
            Err(unknown) => vec![format!("{service}:{operation} on {unknown}, which is not this stack's")],
        };
        (!denied.is_empty())
            .then(|| format!("AccessDenied: {} may not call {} (add it to its ACCESS and its policy)", self.function, denied.join(", ")))
    }
}

impl Intercept for AccessCheck {
    fn name(&self) -> &'static str {
        "AccessCheck"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(meta) = cfg.load::<Metadata>() else { return Err("AccessDenied: a request with no operation metadata".into()) };
        let body = context.request().body().bytes().and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(Value::Null);
        match self.refusal(meta.service(), meta.name(), &body) {
            None => Ok(()),
            Some(why) => {
                tracing::error!(function = self.function, "{why}");
                self.refused.lock().expect("not poisoned").push(why.clone());
                Err(why.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zgoda_domain::Settings;

    use super::*;
    use crate::{Senders, Sending};

    const ACCESS: Access = Access {
        table: &["dynamodb:GetItem", "dynamodb:PutItem"],
        index: true,
        key_rings: &[KeyFamily::Links],
        mail: &[MailStream::Public],
        ..Access::NONE
    };

    fn config() -> Config {
        Config {
            table: "t".into(),
            secrets_prefix: "p/".into(),
            mail: Senders {
                public: Sending { from: "zgoda@Sklep.example.pl".into(), configuration_set: Some("set".into()) },
                notices: Sending { from: "zgoda@powiadomienia.sklep.example.pl".into(), configuration_set: Some("notices".into()) },
            },
            queue_url: "http://q/1/notices".into(),
            webhook_queue_url: "http://q/1/webhooks.fifo".into(),
            webhook_dead_letter_url: "http://q/1/webhooks-dlq.fifo".into(),
            settings: Settings::default(),
        }
    }

    fn check() -> AccessCheck {
        AccessCheck::new("intake", ACCESS, &config())
    }

    #[test]
    fn listed_calls_pass_and_others_are_refused_naming_what_is_missing() {
        let c = check();
        assert_eq!(c.refusal("DynamoDB", "GetItem", &json!({"TableName": "t"})), None);
        assert_eq!(c.refusal("DynamoDB", "Query", &json!({"TableName": "t", "IndexName": "gsi1"})), None);
        let query = c.refusal("DynamoDB", "Query", &json!({"TableName": "t"})).unwrap();
        assert!(query.contains("dynamodb:Query on Table"), "{query}");
        let other = c.refusal("DynamoDB", "GetItem", &json!({"TableName": "someone-elses"})).unwrap();
        assert!(other.contains("table someone-elses"), "{other}");
    }

    #[test]
    fn a_transaction_needs_each_items_action_and_a_condition_check_its_own() {
        let c = check();
        let tx = json!({"TransactItems": [{"Put": {"TableName": "t"}}, {"ConditionCheck": {"TableName": "t"}}]});
        let refused = c.refusal("DynamoDB", "TransactWriteItems", &tx).unwrap();
        assert!(refused.contains("dynamodb:ConditionCheckItem on Table") && !refused.contains("PutItem"), "{refused}");
    }

    #[test]
    fn a_mail_with_a_configuration_set_needs_the_set_as_well_as_the_identity() {
        let c = check();
        let mail = json!({"FromEmailAddress": "zgoda@sklep.example.pl", "ConfigurationSetName": "set"});
        assert_eq!(c.needs("SESv2", "SendEmail", &mail).unwrap(), send_mail(MailStream::Public).to_vec());
        assert_eq!(c.refusal("SESv2", "SendEmail", &mail), None);
        let other_set = json!({"FromEmailAddress": "zgoda@sklep.example.pl", "ConfigurationSetName": "other"});
        assert!(c.refusal("SESv2", "SendEmail", &other_set).unwrap().contains("configuration set other"));
    }

    /// Security review H2: a function that sends public mail cannot send on the notices' identity
    /// and set, nor the notifier on the public ones; each stream's grants are its own.
    #[test]
    fn each_mail_stream_needs_its_own_identity_and_set() {
        let notice = json!({"FromEmailAddress": "zgoda@powiadomienia.sklep.example.pl", "ConfigurationSetName": "notices"});
        assert_eq!(check().needs("SESv2", "SendEmail", &notice).unwrap(), send_mail(MailStream::Notices).to_vec());
        let refused = check().refusal("SESv2", "SendEmail", &notice).unwrap();
        assert!(refused.contains("SenderIdentity(Notices)") && refused.contains("ConfigurationSet(Notices)"), "{refused}");
        let notifier = AccessCheck::new("notifier", Access { mail: &[MailStream::Notices], ..Access::NONE }, &config());
        assert_eq!(notifier.refusal("SESv2", "SendEmail", &notice), None);
        let public = json!({"FromEmailAddress": "zgoda@sklep.example.pl", "ConfigurationSetName": "set"});
        assert!(notifier.refusal("SESv2", "SendEmail", &public).unwrap().contains("ConfigurationSet(Public)"));
        let crossed = json!({"FromEmailAddress": "zgoda@sklep.example.pl", "ConfigurationSetName": "notices"});
        assert!(notifier.refusal("SESv2", "SendEmail", &crossed).unwrap().contains("sender domain sklep.example.pl"));
    }

    #[test]
    fn reading_rings_needs_each_secret() {
        let c = check();
        assert_eq!(c.refusal("Secrets Manager", "BatchGetSecretValue", &json!({"SecretIdList": ["p/links"]})), None);
        let refused = c.refusal("Secrets Manager", "BatchGetSecretValue", &json!({"SecretIdList": ["p/links", "p/operators"]})).unwrap();
        assert!(refused.contains("GetSecretValue on Secret(Operators)"), "{refused}");
    }
}
