//! Identifiers. Each parses from untrusted text once; ids that end up in DynamoDB keys allow only
//! characters that cannot break a key's `#`-separated structure or a URL path.

use std::fmt;

fn is_slug(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

/// A string id that parses once: `$valid` says which text can be one.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Option<Self> {
                let valid: fn(&str) -> bool = $valid;
                valid(s).then(|| Self(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::custom(concat!("invalid ", stringify!($name))))
            }
        }
    };
}

text_id!(
    /// A form's id, chosen by the operator: lower-case letters, digits, `-` and `_`.
    FormId,
    |s| is_slug(s, 64)
);
text_id!(
    /// A processing purpose within a form, such as `newsletter`.
    PurposeId,
    |s| is_slug(s, 64)
);

/// Letters and digits only, at most 64: safe in a key, a path and a mail tag.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

text_id!(
    /// A breach in the register: a ULID, made by the caller at registration.
    BreachId,
    is_token
);
text_id!(
    /// One entry of a breach's timeline: a ULID.
    EventId,
    is_token
);
text_id!(
    /// One escalation of a breach: derived from the breach and the Idempotency-Key, so a retry
    /// names the same one.
    EscalationId,
    is_token
);
text_id!(
    /// A public notice's id in its URL (Art. 34(3)(c)): derived like an escalation's.
    NoticeId,
    is_token
);

text_id!(
    /// A person's privacy request (Art. 12(3)): a ULID, made by the caller when it arrives.
    RequestId,
    is_token
);

text_id!(
    /// A reporting channel: the team or partner a reporting link is handed to, named by the
    /// operator (`obsluga-klienta`, `kurier-x`).
    ChannelId,
    |s| is_slug(s, 64)
);

text_id!(
    /// A processor in the register, named by the operator (`biuro-rachunkowe`): short enough to
    /// name its reporting channel (`processor-<id>`).
    ProcessorId,
    |s| is_slug(s, 48)
);

text_id!(
    /// A reported incident awaiting triage: a ULID, made when the report arrives; the breach it
    /// may become takes the same id.
    IncidentId,
    is_token
);

impl IncidentId {
    pub fn new(ulid: ulid::Ulid) -> Self {
        Self(ulid.to_string())
    }
}

impl RequestId {
    pub fn new(ulid: ulid::Ulid) -> Self {
        Self(ulid.to_string())
    }
}

impl BreachId {
    pub fn new(ulid: ulid::Ulid) -> Self {
        Self(ulid.to_string())
    }
}

impl EventId {
    pub fn new(ulid: ulid::Ulid) -> Self {
        Self(ulid.to_string())
    }
}

/// The client's `Idempotency-Key`: 1 to 128 printable ASCII characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(s: &str) -> Option<Self> {
        (!s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic())).then(|| Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The operator who signed a request: the id of the key they signed with, named in the logs and
/// on every timeline entry they add.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct OperatorId(Kid);

impl OperatorId {
    pub fn new(kid: Kid) -> Self {
        Self(kid)
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A key id inside a key ring (`k2026-11`, `ops-anna`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Kid(String);

impl Kid {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        ok.then(|| Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Kid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Kid::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid key id"))
    }
}

/// A data subject's id: hex HMAC-SHA256 of the normalized e-mail under the pepper. It is stable
/// per person yet reveals nothing without the pepper, so it can sit in keys, logs and tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SubjectId(String);

impl SubjectId {
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        Self(hex::encode(digest))
    }
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then(|| Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.0, &mut out).expect("SubjectId holds 64 hex digits");
        out
    }
}

impl<'de> serde::Deserialize<'de> for SubjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SubjectId::parse(&s).ok_or_else(|| serde::de::Error::custom("invalid subject id"))
    }
}

impl fmt::Display for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_reject_key_and_path_breakers() {
        assert!(FormId::parse("newsletter-2026_a").is_some());
        for bad in ["", "A", "a#b", "../etc", "a/b", "-a", "a b", &"a".repeat(65)] {
            assert!(FormId::parse(bad).is_none(), "{bad}");
        }
    }
}
