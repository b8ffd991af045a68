//! zgoda's domain: the rules of consent capture, sealed proofs and signed links, with no knowledge
//! of HTTP or AWS. Time is always an argument (`now`), storage and mail are traits in domain terms,
//! and every input type parses once so the rest of the code cannot hold an invalid value.

pub mod access;
pub mod address_change;
pub mod audience;
pub mod breach;
pub mod canonical;
pub mod changes;
pub mod choices;
pub mod controller;
pub mod deadline;
pub mod email;
pub mod erasure;
pub mod error;
pub mod escalation;
pub mod feedback;
pub mod form;
pub mod form_cache;
pub mod ids;
pub mod incidents;
pub mod intake;
pub mod keys;
pub mod labels;
pub mod lang;
pub mod links;
pub mod mail;
pub mod mail_budget;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod net;
pub mod notice_text;
pub mod operator_sig;
pub mod origin;
pub mod privacy_requests;
pub mod processors;
pub mod proof;
pub mod proof_of_work;
pub mod records;
pub mod rectification;
pub mod register;
pub mod register_export;
pub mod reminders;
pub mod report;
pub mod requests;
pub mod restriction;
pub mod retention;
pub mod service;
pub mod severity;
pub mod smoke;
pub mod store;
pub mod subject;
pub mod timeline;
pub mod token;
pub mod webhooks;

pub use chrono::{DateTime, Utc};

/// A point in time as the domain sees it: always UTC.
pub type Time = DateTime<Utc>;

/// A field-level validation problem: which input, and a machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str) -> Self {
        Self { field: field.into(), code }
    }
}

/// Every field error of one input, collected so that one answer names them all: a person fixes
/// a form once, not once per field (code review W5).
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// `value`, or its error code recorded against `field`.
    pub fn check<T>(&mut self, field: &str, value: Result<T, &'static str>) -> Option<T> {
        value.map_err(|code| self.0.push(FieldError::new(field, code))).ok()
    }

    /// A value that must be there: `required` when it is not, else as [`Self::check`].
    pub fn required<T>(&mut self, field: &str, value: Option<Result<T, &'static str>>) -> Option<T> {
        self.check(field, value.unwrap_or(Err("required")))
    }

    /// The checked values, or every error recorded. `values` is every checked value zipped
    /// together (`a.zip(b)`): a failed check put a `None` in it and recorded why, so once nothing is
    /// recorded it is `Some`. An error recorded on a value not in `values` still refuses the input.
    pub fn finish<T>(self, values: Option<T>) -> Result<T, Error> {
        match (self.0.is_empty(), values) {
            (true, Some(values)) => Ok(values),
            (true, None) => Err(Error::field("body", "invalid")),
            (false, _) => Err(Error::Validation(self.0)),
        }
    }
}

pub use error::Error;
pub use service::{Settings, Zgoda};

/// Reads a typed input from a JSON deserializer. A value of the wrong shape is a field error
/// naming the field by its path (`measures`, `cia.integrity`, `subjects.emails[0]`): the path and
/// serde's field name, never serde's message, which may quote the input.
pub fn from_json<'de, T, D>(de: D) -> Result<T, FieldError>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    serde_path_to_error::deserialize(de).map_err(|e| FieldError::new(field_path(&e), "invalid"))
}

/// [`from_json`] over a parsed JSON value.
pub fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldError> {
    from_json(value)
}

fn field_path(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    // A missing field is reported at its parent (an unknown one at its own path); serde names
    // it between backticks.
    let message = e.inner().to_string();
    let named = message.starts_with("missing field").then(|| message.split('`').nth(1)).flatten();
    let field = match (path.as_str(), named) {
        ("", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (path, None) => path.to_owned(),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '-');
    if field.is_empty() || field.len() > 100 || !field.chars().all(plain) { "body".to_owned() } else { field }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        title: String,
        inner: Inner,
        #[serde(default)]
        list: Vec<u8>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        flag: bool,
    }

    fn field(json: &str) -> String {
        from_value::<Outer>(serde_json::from_str(json).unwrap()).unwrap_err().field
    }

    #[test]
    fn a_wrong_value_is_named_by_its_path() {
        assert_eq!(field(r#"{"title": ["a"], "inner": {"flag": true}}"#), "title");
        assert_eq!(field(r#"{"title": "t", "inner": {"flag": 1}}"#), "inner.flag");
        assert_eq!(field(r#"{"title": "t", "inner": {"flag": true}, "list": [1, -1]}"#), "list[1]");
        assert_eq!(field(r#"{"title": "t", "inner": {}}"#), "inner.flag");
        assert_eq!(field(r#"{"inner": {"flag": true}}"#), "title");
        assert_eq!(field(r#"{"title": "t", "inner": {"flag": true, "extra": 1}}"#), "inner.extra");
        assert_eq!(field(r#"{"title": "t", "inner": {"flag": true}, "a b": 1}"#), "body", "a name that is not plain is not echoed");
    }
}
