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
