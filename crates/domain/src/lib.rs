//! zgoda's domain: the rules of consent capture, sealed proofs and signed links, with no knowledge
//! of HTTP or AWS. Time is always an argument (`now`), storage and mail are traits in domain terms,
//! and every input type parses once so the rest of the code cannot hold an invalid value.

pub mod breach;
pub mod email;
pub mod error;
pub mod escalation;
pub mod feedback;
pub mod form;
pub mod ids;
pub mod intake;
pub mod keys;
pub mod lang;
pub mod links;
pub mod mail;
pub mod net;
pub mod operator_sig;
pub mod proof;
pub mod report;
pub mod service;
pub mod severity;
pub mod smoke;
pub mod store;
pub mod subject;
pub mod token;

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

pub use error::Error;
pub use service::{Settings, Zgoda};

/// serde names the offending field in its messages (`unknown field `x``, `missing field `y``):
/// that name, never the message (which may quote input), is what goes back to a client.
pub fn serde_field(message: &str) -> String {
    message.split('`').nth(1).filter(|f| f.len() <= 64).unwrap_or("body").to_owned()
}
