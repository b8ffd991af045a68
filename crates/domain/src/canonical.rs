//! Canonical bytes for hashes and seals over JSON-shaped data: keys sorted at every depth, in the
//! byte order of their UTF-8, with serde_json's own spelling of numbers and strings.
//!
//! serde_json keeps an object's keys in arrival order when any crate in the build turns on its
//! `preserve_order` feature (a test helper does), and sorted otherwise: bytes written straight from
//! a `Value` would change with the build. These cannot. The sorted form is what production builds
//! always wrote, so seals and hashes stored before this module existed still verify (pinned in
//! `timeline.rs` and `escalation.rs`). Consent events have their own tagged, length-prefixed
//! encoding (`proof.rs`); this one is for data whose shape is JSON by nature.

use serde_json::{Map, Value};

/// The canonical bytes of `value`.
pub fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(&sorted(value)).expect("a JSON value serializes")
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect::<Map<_, _>>())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_any_order_give_the_same_bytes_at_every_depth() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"z":[{"y":1,"x":2}],"c":0.75}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"c":0.75,"z":[{"x":2,"y":1}]},"b":1}"#).unwrap();
        assert_eq!(json_bytes(&a), json_bytes(&b));
        assert_eq!(String::from_utf8(json_bytes(&a)).unwrap(), r#"{"a":{"c":0.75,"z":[{"x":2,"y":1}]},"b":1}"#);
    }

    #[test]
    fn arrays_keep_their_order() {
        assert_ne!(json_bytes(&serde_json::json!([1, 2])), json_bytes(&serde_json::json!([2, 1])));
    }
}
