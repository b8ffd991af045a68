//! The table's shape, declared once in code. `infra/template.yaml` declares the same table for
//! production; a test compares the two so the local stack cannot drift from what ships.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, PointInTimeRecoverySpecification, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
/// One overloaded index: audiences by purpose, events by form and time.
pub const GSI: &str = "gsi1";
pub const GSI_PARTITION_KEY: &str = "gsi1pk";
pub const GSI_SORT_KEY: &str = "gsi1sk";
/// Epoch seconds after which DynamoDB may delete an item; reads filter expired items themselves.
pub const TTL_ATTRIBUTE: &str = "ttl";

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("complete")
}

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().expect("complete")
}

/// Creates the table if it does not exist, with TTL and point-in-time recovery on. Idempotent.
pub async fn ensure_table(client: &Client, name: &str) -> Result<(), String> {
    let exists = client.describe_table().table_name(name).send().await.is_ok();
    if !exists {
        client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(PARTITION_KEY, KeyType::Hash))
            .key_schema(key(SORT_KEY, KeyType::Range))
            .attribute_definitions(attr(PARTITION_KEY))
            .attribute_definitions(attr(SORT_KEY))
            .attribute_definitions(attr(GSI_PARTITION_KEY))
            .attribute_definitions(attr(GSI_SORT_KEY))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(GSI)
                    .key_schema(key(GSI_PARTITION_KEY, KeyType::Hash))
                    .key_schema(key(GSI_SORT_KEY, KeyType::Range))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .expect("complete"),
            )
            .send()
            .await
            .map_err(|e| crate::describe(&e))?;
    }
    let ttl = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name(TTL_ATTRIBUTE).enabled(true).build().expect("complete"),
        )
        .send()
        .await;
    // Re-running provisioning on an existing table finds TTL already on; that is the goal.
    if let Err(e) = ttl {
        let e = crate::describe(&e);
        if !e.contains("already enabled") {
            return Err(e);
        }
    }
    client
        .update_continuous_backups()
        .table_name(name)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder().point_in_time_recovery_enabled(true).build().expect("complete"),
        )
        .send()
        .await
        .map_err(|e| crate::describe(&e))?;
    Ok(())
}
