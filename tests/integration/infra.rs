//! The table the local stack creates is the table the SAM template deploys.

use std::path::PathBuf;

use serde_yaml::Value;
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
    let (db, table) = (env.clients.dynamodb.clone(), env.config.table.clone());
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

fn actions(v: &Value) -> Vec<String> {
    match v {
        Value::String(a) => vec![a.clone()],
        Value::Sequence(list) => list.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
        _ => vec![],
    }
}

/// Least privilege, mechanically: each function's policy grants exactly the actions its code
/// declares (`IAM_ACTIONS`), no wildcard, no policy template.
#[test]
fn each_function_is_granted_exactly_the_actions_its_code_declares() {
    let t = template();
    let declared: [(&str, &[&str]); 6] = [
        ("intake", intake::IAM_ACTIONS),
        ("links", links::IAM_ACTIONS),
        ("operator", operator::IAM_ACTIONS),
        ("notifier", notifier::IAM_ACTIONS),
        ("deadline-watch", deadline_watch::IAM_ACTIONS),
        ("ses-events", ses_events::IAM_ACTIONS),
    ];
    let resources = t["Resources"].as_mapping().unwrap();
    let functions: Vec<&Value> = resources.values().filter(|r| r["Type"] == "AWS::Serverless::Function").collect();
    assert_eq!(functions.len(), declared.len(), "one function per crate in functions/");
    for (binary, code) in declared {
        let f = functions
            .iter()
            .find(|f| f["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
            .unwrap_or_else(|| panic!("{binary} is not in the template"));
        let mut granted: Vec<String> = Vec::new();
        for policy in f["Properties"]["Policies"].as_sequence().unwrap() {
            assert!(policy.is_mapping() && policy.get("Statement").is_some(), "{binary}: inline statements only, no policy templates");
            for st in policy["Statement"].as_sequence().unwrap() {
                granted.extend(actions(&st["Action"]));
            }
        }
        assert!(granted.iter().all(|a| !a.contains('*')), "{binary}: no wildcard actions");
        let mut granted_sorted = granted.clone();
        granted_sorted.sort();
        granted_sorted.dedup();
        let mut code_sorted: Vec<String> = code.iter().map(|a| a.to_string()).collect();
        code_sorted.sort();
        assert_eq!(granted_sorted, code_sorted, "{binary}: the template grants what the code declares, no more and no less");
    }
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
