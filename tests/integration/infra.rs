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
    let tables: Vec<&Value> = resources.values().filter(|r| r["Type"] == Value::from("AWS::DynamoDB::Table")).collect();
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
