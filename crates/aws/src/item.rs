//! Between serde values and DynamoDB attribute maps. Domain types serialize to JSON-shaped values
//! and are stored as native attributes (readable in the console), never as opaque blobs.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

pub type Item = HashMap<String, AttributeValue>;

/// A JSON value as an attribute; `null` becomes `NULL` so an absent option stays distinguishable.
pub fn to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect()),
    }
}

pub fn from_attr(a: &AttributeValue) -> Value {
    match a {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<u64>().map(Value::from))
            .unwrap_or_else(|_| n.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number).unwrap_or(Value::Null)),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect()),
        AttributeValue::M(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), from_attr(v))).collect()),
        // A string set (what `ADD` grows) reads as a list.
        AttributeValue::Ss(set) => Value::Array(set.iter().cloned().map(Value::String).collect()),
        _ => Value::Null,
    }
}

/// Serializes a value whose JSON form is an object into an item.
pub fn to_item<T: serde::Serialize>(value: &T) -> Item {
    match serde_json::to_value(value).expect("domain types serialize") {
        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect(),
        _ => panic!("only objects become items"),
    }
}

pub fn from_item<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, serde_json::Error> {
    let obj: Map<String, Value> = item.iter().map(|(k, v)| (k.clone(), from_attr(v))).collect();
    serde_json::from_value(Value::Object(obj))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn get_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key).and_then(|v| v.as_s().ok()).map(String::as_str)
}
