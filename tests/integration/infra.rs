//! The table the local stack creates is the table the SAM template deploys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_yaml::Value;
use zgoda_aws::access::Resource;
use zgoda_domain::keys::KeyFamily;
use zgoda_domain::mail::MailStream;
use zgoda_local::server::FUNCTIONS;
use zgoda_tests::TestEnv;

fn template() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn table_resource(t: &Value) -> Value {
    let resources = t["Resources"].as_mapping().unwrap();
    let tables: Vec<&Value> = resources.values().filter(|r| r["Type"] == "AWS::DynamoDB::Table").collect();
    assert_eq!(tables.len(), 1, "one table, defined once");
    tables[0]["Properties"].clone()
}

/// A fresh test environment's DynamoDB client and table, for the emulator's own tests.
async fn emulator_table() -> (TestEnv, aws_sdk_dynamodb::Client, String) {
    let env = TestEnv::spawn().await;
    let (db, table) = ((*env.clients.dynamodb).clone(), env.config.table.clone());
    (env, db, table)
}

fn s(v: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned())
}

fn keys(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (k["AttributeName"].as_str().unwrap().to_owned(), k["KeyType"].as_str().or(k["AttributeType"].as_str()).unwrap().to_owned())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_local_table_matches_the_template() {
    let t = table_resource(&template());
    let env = TestEnv::spawn().await;
    let db = &env.clients.dynamodb;
    let desc = db.describe_table().table_name(&env.config.table).send().await.unwrap().table.unwrap();

    let local_keys: Vec<(String, String)> = {
        let mut k: Vec<_> = desc.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect();
        k.sort();
        k
    };
    assert_eq!(keys(&t["KeySchema"]), local_keys);
    let local_attrs: Vec<(String, String)> = {
        let mut a: Vec<_> =
            desc.attribute_definitions().iter().map(|a| (a.attribute_name().to_owned(), a.attribute_type().as_str().to_owned())).collect();
        a.sort();
        a
    };
    assert_eq!(keys(&t["AttributeDefinitions"]), local_attrs);
    assert_eq!(t["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));

    let gsis = t["GlobalSecondaryIndexes"].as_sequence().unwrap();
    assert_eq!(gsis.len(), desc.global_secondary_indexes().len());
    for g in gsis {
        let name = g["IndexName"].as_str().unwrap();
        let local = desc.global_secondary_indexes().iter().find(|l| l.index_name() == Some(name)).expect("index exists locally");
        let mut lk: Vec<_> = local.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect();
        lk.sort();
        assert_eq!(keys(&g["KeySchema"]), lk, "{name}");
        assert_eq!(g["Projection"]["ProjectionType"].as_str(), local.projection().and_then(|p| p.projection_type()).map(|p| p.as_str()));
    }

    let ttl = db.describe_time_to_live().table_name(&env.config.table).send().await.unwrap();
    assert_eq!(t["TimeToLiveSpecification"]["AttributeName"].as_str(), ttl.time_to_live_description().and_then(|d| d.attribute_name()));
    assert_eq!(t["TimeToLiveSpecification"]["Enabled"].as_bool(), Some(true));
    let pitr = db.describe_continuous_backups().table_name(&env.config.table).send().await.unwrap();
    let local_pitr = pitr
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .map(|s| s.as_str() == "ENABLED");
    assert_eq!(t["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(), local_pitr);
    assert_eq!(t["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(t["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
}

/// What CloudFormation would make of the stack in one account and region: the values the
/// policies' `!Ref`, `!GetAtt` and `!Sub` resolve to, named as the template names them.
fn deployed_names() -> BTreeMap<&'static str, String> {
    let (region, account) = ("eu-central-1", "111122223333");
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:{region}:{account}:{rest}");
    let mut names = BTreeMap::from([
        ("AWS::Partition", "aws".to_owned()),
        ("AWS::Region", region.to_owned()),
        ("AWS::AccountId", account.to_owned()),
        ("AWS::StackName", "zgoda".to_owned()),
        ("AWS::URLSuffix", "amazonaws.com".to_owned()),
        ("SenderDomain", "sklep.example.pl".to_owned()),
        ("NoticeSenderDomain", "powiadomienia.sklep.example.pl".to_owned()),
        ("Table.Arn", arn("dynamodb", "table/zgoda-Table-1Q2W3E4R5T6Y")),
        ("DataKey.Arn", arn("kms", "key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")),
        ("NoticeQueue.Arn", arn("sqs", "zgoda-NoticeQueue-7U8I9O0P")),
        ("FeedbackDeadLetterQueue.Arn", arn("sqs", "zgoda-FeedbackDeadLetterQueue-Z9X8C7V6")),
        ("WebhookQueue.Arn", arn("sqs", "zgoda-WebhookQueue-Q1W2E3R4.fifo")),
        ("WebhookDeadLetterQueue.Arn", arn("sqs", "zgoda-WebhookDeadLetterQueue-T5Y6U7I8.fifo")),
        ("SesConfigurationSet", "zgoda-SesConfigurationSet-A1S2D3F4".to_owned()),
        ("SesNoticeConfigurationSet", "zgoda-SesNoticeConfigurationSet-G5H6J7K8".to_owned()),
    ]);
    for family in KeyFamily::ALL {
        let resource: &'static str = match family {
            KeyFamily::Links => "LinksSecret",
            KeyFamily::Seals => "SealsSecret",
            KeyFamily::Operators => "OperatorsSecret",
            KeyFamily::Pepper => "PepperSecret",
        };
        // A secret's `Ref` is its ARN, which ends in six random characters.
        names.insert(resource, arn("secretsmanager", &format!("secret:zgoda/{}-Ab12Cd", family.name())));
    }
    names
}

/// A policy value with CloudFormation's intrinsics resolved: a string, a list, `!Ref`, `!GetAtt`
/// and `!Sub` (with `${Name}` and `${Name.Attribute}`). Anything else fails the test by name.
fn resolve(v: &Value, names: &BTreeMap<&'static str, String>) -> Vec<String> {
    use serde_yaml::value::TaggedValue;
    let lookup = |name: &str| names.get(name).cloned().unwrap_or_else(|| panic!("the test does not know what {name} resolves to"));
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(list) => list.iter().flat_map(|x| resolve(x, names)).collect(),
        Value::Tagged(t) => {
            let TaggedValue { tag, value } = t.as_ref();
            let text = value.as_str().unwrap_or_else(|| panic!("!{tag} of a non-string: {value:?}"));
            match tag.to_string().trim_start_matches('!') {
                "Ref" | "GetAtt" => vec![lookup(text)],
                "Sub" => {
                    let mut out = String::new();
                    let mut rest = text;
                    while let Some(i) = rest.find("${") {
                        let end = rest[i..].find('}').expect("a closed ${}") + i;
                        out.push_str(&rest[..i]);
                        out.push_str(&lookup(&rest[i + 2..end]));
                        rest = &rest[end + 1..];
                    }
                    out.push_str(rest);
                    vec![out]
                }
                other => panic!("unsupported intrinsic {other}"),
            }
        }
        other => panic!("unsupported policy value {other:?}"),
    }
}

/// The ARN a call's resource has in that deployment.
fn resource_arn(resource: Resource, names: &BTreeMap<&'static str, String>) -> String {
    let sub = |text: &str| {
        resolve(
            &Value::Tagged(Box::new(serde_yaml::value::TaggedValue {
                tag: serde_yaml::value::Tag::new("Sub"),
                value: Value::String(text.into()),
            })),
            names,
        )
        .remove(0)
    };
    match resource {
        Resource::Table => sub("${Table.Arn}"),
        Resource::TableIndex => sub("${Table.Arn}/index/gsi1"),
        Resource::NoticeQueue => sub("${NoticeQueue.Arn}"),
        Resource::FeedbackDeadLetterQueue => sub("${FeedbackDeadLetterQueue.Arn}"),
        Resource::WebhookQueue => sub("${WebhookQueue.Arn}"),
        Resource::WebhookDeadLetterQueue => sub("${WebhookDeadLetterQueue.Arn}"),
        Resource::Secret(family) => {
            names.iter().find(|(k, _)| k.ends_with("Secret") && k.to_lowercase().starts_with(family.name())).unwrap().1.clone()
        }
        // An action without resource-level permissions: only a statement on "*" covers it, so the
        // request names a resource no narrower statement would.
        Resource::Unscoped => sub("arn:aws:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:no-particular-secret-000000"),
        Resource::SenderIdentity(MailStream::Public) => {
            sub("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderDomain}")
        }
        Resource::SenderIdentity(MailStream::Notices) => {
            sub("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${NoticeSenderDomain}")
        }
        Resource::ConfigurationSet(MailStream::Public) => {
            sub("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${SesConfigurationSet}")
        }
        Resource::ConfigurationSet(MailStream::Notices) => {
            sub("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${SesNoticeConfigurationSet}")
        }
        Resource::DataKey => sub("${DataKey.Arn}"),
    }
}

/// One function's inline policy statements, with the intrinsics resolved: (effect, actions,
/// resources) each.
fn statements(t: &Value, binary: &str, names: &BTreeMap<&'static str, String>) -> Vec<(String, Vec<String>, Vec<String>)> {
    let resources = t["Resources"].as_mapping().unwrap();
    let f = resources
        .values()
        .find(|f| f["Type"] == "AWS::Serverless::Function" && f["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .unwrap_or_else(|| panic!("{binary} is not in the template"));
    let mut out = Vec::new();
    for policy in f["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default() {
        assert!(policy.is_mapping() && policy.get("Statement").is_some(), "{binary}: inline statements only, no policy templates");
        for st in policy["Statement"].as_sequence().unwrap() {
            assert!(st.get("NotAction").is_none() && st.get("NotResource").is_none(), "{binary}: no NotAction or NotResource");
            out.push((st["Effect"].as_str().unwrap().to_owned(), resolve(&st["Action"], names), resolve(&st["Resource"], names)));
        }
    }
    out
}

fn policy_of(statements: &[(String, Vec<String>, Vec<String>)]) -> iam_rs::IAMPolicy {
    let statements: Vec<serde_json::Value> = statements
        .iter()
        .map(|(effect, action, resource)| serde_json::json!({"Effect": effect, "Action": action, "Resource": resource}))
        .collect();
    iam_rs::IAMPolicy::from_json(&serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string())
        .expect("the policy parses")
}

fn decide(policy: &iam_rs::IAMPolicy, binary: &str, action: &str, resource: &str) -> iam_rs::Decision {
    let role = iam_rs::Principal::Aws(iam_rs::PrincipalId::String(format!("arn:aws:iam::111122223333:role/zgoda-{binary}")));
    let request = iam_rs::IAMRequest::new(role, action, iam_rs::Arn::parse(resource).expect("a valid ARN"));
    iam_rs::evaluate_policy(policy, &request).expect("the policy evaluates")
}

/// Security review C1 and H1, by evaluation rather than by comparing lists: for every call each
/// function makes (its `ACCESS`, which the local stack holds the code to), with the ARN it touches
/// in a deployed stack, the function's policy in the template must decide Allow; and every action
/// on every resource the policy grants must be one of those calls (least privilege). A call added
/// to the code without a grant fails the first half, a grant nobody uses the second.
#[test]
fn each_functions_policy_allows_every_call_it_makes_and_nothing_else() {
    let t = template();
    let names = deployed_names();
    let functions = t["Resources"].as_mapping().unwrap().values().filter(|r| r["Type"] == "AWS::Serverless::Function").count();
    assert_eq!(functions, FUNCTIONS.len(), "one function per crate in functions/");
    let mut refused = Vec::new();
    let mut unused = Vec::new();
    for (binary, access) in FUNCTIONS {
        let calls = access.calls();
        let statements = statements(&t, binary, &names);
        let policy = policy_of(&statements);
        for call in &calls {
            let arn = resource_arn(call.resource, &names);
            if decide(&policy, binary, call.action, &arn) != iam_rs::Decision::Allow {
                refused.push(format!("{binary}: {} on {arn}", call.action));
            }
        }
        for (_, actions, resources) in statements.iter().filter(|(effect, ..)| effect == "Allow") {
            for action in actions {
                assert!(!action.contains('*'), "{binary}: no wildcard actions ({action})");
                for resource in resources {
                    let used = calls.iter().any(|c| {
                        c.action == action
                            && if resource == "*" {
                                c.resource == Resource::Unscoped
                            } else {
                                resource_arn(c.resource, &names) == *resource
                            }
                    });
                    if !used {
                        unused.push(format!("{binary}: {action} on {resource}"));
                    }
                }
            }
        }
    }
    assert!(
        refused.is_empty() && unused.is_empty(),
        "the template refuses calls the code makes:\n{}\n\nthe template grants what no call needs:\n{}",
        refused.join("\n"),
        unused.join("\n")
    );
}

/// The evaluator decides as IAM does in the cases the policy check leans on: a resource must
/// match (the identity does not cover the configuration set beside it), an explicit Deny wins
/// over an Allow, wildcards match within their segment, and nothing granted is refused.
#[test]
fn the_policy_evaluator_decides_as_iam_does() {
    use iam_rs::Decision::{Allow, Deny, NotApplicable};
    let names = deployed_names();
    let identity = resource_arn(Resource::SenderIdentity(MailStream::Public), &names);
    let set = resource_arn(Resource::ConfigurationSet(MailStream::Public), &names);
    let st = |effect: &str, action: &str, resource: &str| (effect.to_owned(), vec![action.to_owned()], vec![resource.to_owned()]);
    let only_identity = policy_of(&[st("Allow", "ses:SendEmail", &identity)]);
    assert_eq!(decide(&only_identity, "t", "ses:SendEmail", &identity), Allow);
    assert_eq!(decide(&only_identity, "t", "ses:SendEmail", &set), NotApplicable, "C1: the identity's grant does not cover the set");
    assert_eq!(decide(&only_identity, "t", "ses:SendRawEmail", &identity), NotApplicable);
    let denied = policy_of(&[st("Allow", "ses:*", "*"), st("Deny", "ses:SendEmail", &set)]);
    assert_eq!(decide(&denied, "t", "ses:SendEmail", &set), Deny);
    assert_eq!(decide(&denied, "t", "ses:SendEmail", &identity), Allow);
    let table = resource_arn(Resource::Table, &names);
    let table_only = policy_of(&[st("Allow", "dynamodb:Query", &table)]);
    assert_eq!(
        decide(&table_only, "t", "dynamodb:Query", &resource_arn(Resource::TableIndex, &names)),
        NotApplicable,
        "an index is its own resource"
    );
    let indexes = policy_of(&[st("Allow", "dynamodb:Query", &format!("{table}/index/*"))]);
    assert_eq!(decide(&indexes, "t", "dynamodb:Query", &resource_arn(Resource::TableIndex, &names)), Allow);
}

/// The resolver reads the template's intrinsics as CloudFormation does.
#[test]
fn the_template_resolver_substitutes_refs_attributes_and_subs() {
    let names = deployed_names();
    let yaml: Value = serde_yaml::from_str(
        "- !Ref LinksSecret\n- !GetAtt Table.Arn\n- !Sub \"arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderDomain}\"\n- plain",
    )
    .unwrap();
    assert_eq!(
        resolve(&yaml, &names),
        [
            "arn:aws:secretsmanager:eu-central-1:111122223333:secret:zgoda/links-Ab12Cd",
            "arn:aws:dynamodb:eu-central-1:111122223333:table/zgoda-Table-1Q2W3E4R5T6Y",
            "arn:aws:ses:eu-central-1:111122223333:identity/sklep.example.pl",
            "plain",
        ]
    );
}

/// Security review M6: the notifier's instances share the account's SES rate, each pacing itself
/// to `ZGODA_SEND_RATE / ZGODA_SEND_CONCURRENCY`; that divisor must be the most instances that can
/// run at once, or together they overrun the rate.
#[test]
fn the_notifiers_send_rate_is_shared_by_the_most_instances_that_can_run() {
    let t = template();
    let notifier = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .find(|f| f["Metadata"]["BuildProperties"]["Binary"].as_str() == Some("notifier"))
        .expect("the notifier is in the template");
    let p = &notifier["Properties"];
    let shares = p["Environment"]["Variables"]["ZGODA_SEND_CONCURRENCY"].as_i64().expect("the notifier knows how many share the rate");
    assert_eq!(p["ReservedConcurrentExecutions"].as_i64(), Some(shares));
    assert_eq!(p["Events"]["Notices"]["Properties"]["ScalingConfig"]["MaximumConcurrency"].as_i64(), Some(shares));
}

/// Security review H2: the alarm on held-back public mail counts the log line the code writes,
/// in both functions that send such mail.
#[test]
fn the_public_mail_budget_alarm_matches_the_line_the_code_logs() {
    let t = template();
    let filters: Vec<&Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Properties"]["MetricTransformations"][0]["MetricName"] == "PublicMailHeldBack")
        .collect();
    assert_eq!(filters.len(), 2, "the intake's and the links function's logs");
    for f in filters {
        let pattern = f["Properties"]["FilterPattern"].as_str().unwrap();
        assert_eq!(pattern, format!("{{ $.message = \"{}\" }}", zgoda_domain::service::PUBLIC_MAIL_HELD_BACK));
    }
}

/// Art. 19: the webhook queue keeps each person's order (FIFO), hands one message at a time (so
/// each receive is one attempt), keeps a message through its three days of retries and the wait
/// behind another, lets the function give up before its redrive does, and alarms on what lands
/// in its dead-letter queue.
#[test]
fn art19_the_webhook_queue_is_fifo_outlasts_the_retries_and_alarms_on_its_dead_letters() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let queue = &resources.get("WebhookQueue").unwrap()["Properties"];
    let dead = &resources.get("WebhookDeadLetterQueue").unwrap()["Properties"];
    assert!(queue["FifoQueue"].as_bool().unwrap() && dead["FifoQueue"].as_bool().unwrap());
    let function = resources.get("WebhooksFunction").unwrap()["Properties"].clone();
    let source = &function["Events"]["Deliveries"]["Properties"];
    assert_eq!(source["BatchSize"].as_i64(), Some(1));
    assert_eq!(source["FunctionResponseTypes"][0].as_str(), Some("ReportBatchItemFailures"));
    assert!(queue["VisibilityTimeout"].as_i64().unwrap() >= 6 * function["Timeout"].as_i64().unwrap());
    let settings = zgoda_domain::Settings::default();
    let give_up = settings.webhook_give_up.num_seconds();
    assert!(queue["MessageRetentionPeriod"].as_i64().unwrap() >= 2 * give_up, "a change may wait behind another, then retry");
    // The tries one change gets before the function gives it up: the backoff's steps until the
    // give-up time, and at least one beyond each step.
    let (mut tries, mut waited) = (1, 0);
    while waited < give_up || tries <= settings.webhook_retries.len() {
        waited += zgoda_domain::webhooks::next_try(&settings.webhook_retries, tries as u32, chrono::DateTime::UNIX_EPOCH).timestamp();
        tries += 1;
    }
    let max_receives = queue["RedrivePolicy"]["maxReceiveCount"].as_i64().unwrap();
    assert!(max_receives > tries as i64, "the redrive ({max_receives}) would take a change before its {tries} tries");
    assert_eq!(max_receives, i64::from(zgoda_local::provision::WEBHOOK_MAX_RECEIVES), "the local stack's queue is the same");
    let watched: Vec<_> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .filter_map(|r| serde_yaml::to_string(&r["Properties"]["Dimensions"]).ok())
        .collect();
    assert!(watched.iter().any(|w| w.contains("WebhookDeadLetterQueue.QueueName")), "no alarm on the dead letters: {watched:?}");
}

/// A job that finds its recipients leased by a worker that died must come back after the lease,
/// not before: every early return spends one of its receives on the way to the dead-letter queue.
/// SQS also requires the visibility timeout to outlast the function that handles the batch.
#[test]
fn the_notice_queue_hides_a_job_longer_than_a_send_lease_and_the_notifiers_timeout() {
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    let visibility = resources.get("NoticeQueue").unwrap()["Properties"]["VisibilityTimeout"].as_i64().unwrap();
    let notifier = resources
        .values()
        .find(|f| f["Metadata"]["BuildProperties"]["Binary"].as_str() == Some("notifier"))
        .expect("the notifier is in the template");
    let timeout = notifier["Properties"]["Timeout"].as_i64().unwrap();
    let lease = zgoda_domain::escalation::SEND_LEASE;
    assert!(visibility > lease && visibility > timeout, "deployed: visibility {visibility} s, lease {lease} s, timeout {timeout} s");
    assert!(i64::from(zgoda_local::provision::VISIBILITY_SECS) > lease, "local stack: visibility shorter than the lease");
}

/// The tests and the benchmark's load lean on the emulator behaving like DynamoDB under
/// concurrency. Unrepaired, moto fails a transaction with HTTP 500 when another request writes to
/// the table while it copies it (`crates/local/src/emulator.py`); DynamoDB never does.
#[tokio::test]
async fn the_emulator_commits_concurrent_transactions_on_a_large_table_like_dynamodb() {
    use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest};
    let (_env, db, table) = emulator_table().await;
    let item = |pk: String, sk: &str| {
        std::collections::HashMap::from([
            (zgoda_aws::table::PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
            (zgoda_aws::table::SORT_KEY.to_owned(), AttributeValue::S(sk.to_owned())),
            ("filler".to_owned(), AttributeValue::S("x".repeat(200))),
        ])
    };
    for chunk in 0..60 {
        let writes = (0..25)
            .map(|i| {
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item(format!("FILL#{chunk}-{i}"), "x"))).build().unwrap())
                    .build()
            })
            .collect();
        db.batch_write_item().request_items(&table, writes).send().await.unwrap();
    }
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (db, table) = (db.clone(), table.clone());
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for round in 0..8 {
                    let put = |sk: &str| {
                        let put = Put::builder().table_name(&table).set_item(Some(item(format!("TX#{w}-{round}"), sk))).build().unwrap();
                        TransactWriteItem::builder().put(put).build()
                    };
                    if let Err(e) = db.transact_write_items().transact_items(put("a")).transact_items(put("b")).send().await {
                        failures.push(zgoda_aws::describe(&e));
                    }
                    if let Err(e) = db.put_item().table_name(&table).set_item(Some(item(format!("PUT#{w}-{round}"), "x"))).send().await {
                        failures.push(zgoda_aws::describe(&e));
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = Vec::new();
    for writer in writers {
        failures.extend(writer.await.unwrap());
    }
    assert!(failures.is_empty(), "{} of 128 writes failed, e.g. {:?}", failures.len(), failures.first());
}

/// The emulator answers a Query from the queried partition alone (the second repair in
/// `crates/local/src/emulator.py`; its speed is the benchmark's to show). The answer must stay
/// DynamoDB's: that partition's items only, in sort-key order either way, paged by Limit and
/// ExclusiveStartKey, an unknown partition empty — and an index query still sees the whole table.
#[tokio::test]
async fn the_emulator_answers_a_query_from_the_partition_alone_in_order_and_in_pages() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use zgoda_aws::table::{GSI_PARTITION_KEY, GSI_SORT_KEY, PARTITION_KEY, SORT_KEY};
    let (_env, db, table) = emulator_table().await;
    for p in ["QP#a", "QP#b", "QP#c"] {
        // Written out of order, so the answer's order is the emulator's doing.
        for i in [3, 0, 4, 1, 2] {
            db.put_item()
                .table_name(&table)
                .item(PARTITION_KEY, s(p))
                .item(SORT_KEY, s(&format!("item#{i}")))
                .item(GSI_PARTITION_KEY, s("QP-INDEX"))
                .item(GSI_SORT_KEY, s(&format!("{p}#{i}")))
                .send()
                .await
                .unwrap();
        }
    }
    let query = |p: &str| {
        db.query()
            .table_name(&table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":pk", s(p))
    };
    let keys = |items: &[std::collections::HashMap<String, AttributeValue>]| -> Vec<String> {
        items.iter().map(|i| format!("{}/{}", i[PARTITION_KEY].as_s().unwrap(), i[SORT_KEY].as_s().unwrap())).collect()
    };
    let all: Vec<String> = (0..5).map(|i| format!("QP#b/item#{i}")).collect();
    let out = query("QP#b").send().await.unwrap();
    assert_eq!(keys(out.items()), all);
    let out = query("QP#b").scan_index_forward(false).send().await.unwrap();
    assert_eq!(keys(out.items()), all.iter().rev().cloned().collect::<Vec<_>>());
    let first = query("QP#b").limit(2).send().await.unwrap();
    assert_eq!(keys(first.items()), all[..2]);
    let rest = query("QP#b").set_exclusive_start_key(first.last_evaluated_key().cloned()).send().await.unwrap();
    assert_eq!(keys(rest.items()), all[2..]);
    assert!(query("QP#nothing").send().await.unwrap().items().is_empty());
    let index = db
        .query()
        .table_name(&table)
        .index_name(zgoda_aws::table::GSI)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", GSI_PARTITION_KEY)
        .expression_attribute_values(":pk", s("QP-INDEX"))
        .send()
        .await
        .unwrap();
    assert_eq!(index.items().len(), 15, "the index query spans every partition");
}

/// The emulator's transactions back up only the items they name (`emulator.py`, repair 5): a
/// cancelled one must still leave every item as it was, a committed one apply every action.
#[tokio::test]
async fn the_emulator_cancels_a_transaction_leaving_every_item_as_it_was() {
    use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
    use zgoda_aws::table::{PARTITION_KEY, SORT_KEY};
    let (_env, db, table) = emulator_table().await;
    for (pk, v) in [("TX#kept", "1"), ("TX#deleted", "1")] {
        db.put_item().table_name(&table).item(PARTITION_KEY, s(pk)).item(SORT_KEY, s("x")).item("v", s(v)).send().await.unwrap();
    }
    let key = |pk: &str| std::collections::HashMap::from([(PARTITION_KEY.to_owned(), s(pk)), (SORT_KEY.to_owned(), s("x"))]);
    let update = |v: &str| {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&table)
                    .set_key(Some(key("TX#kept")))
                    .update_expression("SET v = :v")
                    .expression_attribute_values(":v", s(v))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let put_new = TransactWriteItem::builder()
        .put(Put::builder().table_name(&table).item(PARTITION_KEY, s("TX#new")).item(SORT_KEY, s("x")).build().unwrap())
        .build();
    let delete =
        TransactWriteItem::builder().delete(Delete::builder().table_name(&table).set_key(Some(key("TX#deleted"))).build().unwrap()).build();
    let failing_check = TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(&table)
                .set_key(Some(key("TX#absent")))
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .build()
                .unwrap(),
        )
        .build();
    let get = |pk: &'static str| {
        let db = db.clone();
        let table = table.clone();
        async move { db.get_item().table_name(&table).set_key(Some(key(pk))).consistent_read(true).send().await.unwrap().item }
    };

    let cancelled = db
        .transact_write_items()
        .transact_items(update("2"))
        .transact_items(put_new.clone())
        .transact_items(delete.clone())
        .transact_items(failing_check)
        .send()
        .await;
    assert!(cancelled.unwrap_err().into_service_error().is_transaction_canceled_exception());
    assert_eq!(get("TX#kept").await.unwrap()["v"], s("1"));
    assert!(get("TX#new").await.is_none());
    assert_eq!(get("TX#deleted").await.unwrap()["v"], s("1"));

    db.transact_write_items().transact_items(update("3")).transact_items(put_new).transact_items(delete).send().await.unwrap();
    assert_eq!(get("TX#kept").await.unwrap()["v"], s("3"));
    assert!(get("TX#new").await.is_some());
    assert!(get("TX#deleted").await.is_none());
}

/// The emulator parses each UpdateExpression text once (`emulator.py`, repair 6): the same text
/// must still apply each request's own names and values, to its own item, and a text that does
/// not parse must fail every time.
#[tokio::test]
async fn the_emulator_applies_a_repeated_update_expression_with_each_requests_own_values() {
    use zgoda_aws::table::{PARTITION_KEY, SORT_KEY};
    let (_env, db, table) = emulator_table().await;
    let update = |pk: &str, attribute: &str, value: &str| {
        db.update_item()
            .table_name(&table)
            .key(PARTITION_KEY, s(pk))
            .key(SORT_KEY, s("x"))
            .update_expression("SET #a = :v, seen = if_not_exists(seen, :v)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":v", s(value))
            .send()
    };
    update("EXPR#1", "colour", "red").await.unwrap();
    update("EXPR#2", "shape", "round").await.unwrap();
    update("EXPR#1", "colour", "blue").await.unwrap();
    let get = |pk: &'static str| {
        let (db, table) = (db.clone(), table.clone());
        async move { db.get_item().table_name(&table).key(PARTITION_KEY, s(pk)).key(SORT_KEY, s("x")).send().await.unwrap().item.unwrap() }
    };
    let first = get("EXPR#1").await;
    assert_eq!((first["colour"].clone(), first["seen"].clone()), (s("blue"), s("red")));
    assert!(!first.contains_key("shape"));
    let second = get("EXPR#2").await;
    assert_eq!((second["shape"].clone(), second["seen"].clone()), (s("round"), s("round")));
    assert!(!second.contains_key("colour"));

    for _ in 0..2 {
        let refused = db
            .update_item()
            .table_name(&table)
            .key(PARTITION_KEY, s("EXPR#1"))
            .key(SORT_KEY, s("x"))
            .update_expression("SET colour = = :v")
            .expression_attribute_values(":v", s("green"))
            .send()
            .await;
        let error = refused.unwrap_err().into_service_error();
        assert_eq!(error.meta().code(), Some("ValidationException"), "{error:?}");
    }
    assert_eq!(get("EXPR#1").await["colour"], s("blue"));
}

/// The emulator reads plain request headers itself and hands any other shape to the email
/// parser, as Python's HTTP server does: both must reach moto as the same request.
#[tokio::test]
async fn the_emulator_reads_plain_and_folded_request_headers_alike() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_env, _db, table) = emulator_table().await;
    let endpoint = zgoda_tests::emulator_endpoints().dynamodb;
    let address = endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let body = serde_json::json!({ "TableName": table }).to_string();
    let describe = |extra: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: {address}\r\n{extra}X-Amz-Target: DynamoDB_20120810.DescribeTable\r\n\
             Content-Type: application/x-amz-json-1.0\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/eu-central-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    for (shape, extra) in [("plain", ""), ("folded", "X-Note: one\r\n  two\r\n"), ("repeated", "X-Note: one\r\nx-note:two\r\n")] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(describe(extra).as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{shape}: {answer}");
        assert!(
            answer.contains(&format!("\"TableName\": \"{table}\"")) || answer.contains(&format!("\"TableName\":\"{table}\"")),
            "{shape}: {answer}"
        );
    }
}

/// API Gateway routes to each HTTP function exactly what its `ROUTES` declares: the local stack
/// dispatches by the same tables, so it cannot route differently from production (code review W6).
#[test]
fn every_function_is_routed_in_the_template_exactly_as_its_route_table_says() {
    let t = template();
    for (binary, routes) in [("intake", intake::ROUTES), ("links", links::ROUTES), ("operator", operator::ROUTES)] {
        let f = t["Resources"]
            .as_mapping()
            .unwrap()
            .values()
            .find(|f| f["Type"] == "AWS::Serverless::Function" && f["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
            .unwrap_or_else(|| panic!("{binary} is not in the template"));
        let mut in_template: Vec<(String, String)> = f["Properties"]["Events"]
            .as_mapping()
            .unwrap()
            .values()
            .filter(|e| e["Type"] == "HttpApi")
            .map(|e| (e["Properties"]["Method"].as_str().unwrap().to_owned(), e["Properties"]["Path"].as_str().unwrap().to_owned()))
            .collect();
        let mut declared: Vec<(String, String)> = routes.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
        in_template.sort();
        declared.sort();
        assert_eq!(in_template, declared, "{binary}: the template's routes and its ROUTES");
    }
}
