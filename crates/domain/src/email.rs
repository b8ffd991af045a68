//! The e-mail address type. Parsing is the only way in, so a value of this type is always a single
//! bare address (no display name, no CR/LF, a real domain) and is already normalized for hashing.

use std::fmt;

/// RFC 5321 caps a forward path at 256 octets including the angle brackets.
const MAX_LEN: usize = 254;

#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the address is empty")]
    Empty,
    #[error("the address is too long")]
    TooLong,
    #[error("the address is not a valid e-mail address")]
    Invalid,
}

impl EmailAddress {
    /// Parses a bare address (RFC 5321/6531, UTF-8 local parts and IDN domains allowed).
    /// Leading and trailing white space is trimmed; the result is lower-cased, which is how
    /// every large mailbox provider compares addresses and keeps one person one subject.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim_matches(|c: char| c == ' ' || c == '\t');
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EmailError::Invalid);
        }
        let options = email_address::Options::default().with_required_tld().without_domain_literal().without_display_text();
        let parsed = email_address::EmailAddress::parse_with_options(trimmed, options).map_err(|_| EmailError::Invalid)?;
        let domain = parsed.domain();
        // A TLD is letters (or an IDN A-label), never digits alone: rejects `a@1.2.3.4`-like hosts.
        let tld = domain.rsplit('.').next().unwrap_or("");
        if tld.len() < 2 || tld.chars().all(|c| c.is_ascii_digit()) || domain.starts_with('.') {
            return Err(EmailError::Invalid);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

/// Addresses are personal data: `Debug` shows only the domain so a stray `{:?}` cannot leak one.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress(***@{})", self.domain())
    }
}

impl<'de> serde::Deserialize<'de> for EmailAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EmailAddress::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_polish_and_idn_addresses() {
        for ok in ["jan@example.pl", "Jan.Kowalski@Example.PL", "zażółć@example.pl", "ala@żółw.pl"] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(EmailAddress::parse(" Jan@Example.PL ").unwrap().as_str(), "jan@example.pl");
    }

    #[test]
    fn rejects_display_names_crlf_literals_and_bare_hosts() {
        for bad in [
            "",
            "jan",
            "a@gmail",
            "Jan <jan@example.pl>",
            "jan@example.pl\r\nBcc: x@example.pl",
            "jan@[127.0.0.1]",
            "jan@example.pl, ola@example.pl",
            "jan @example.pl",
            "a@1.2.3.4",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(EmailAddress::parse(&format!("{}@example.pl", "a".repeat(250))), Err(EmailError::TooLong));
    }

    #[test]
    fn debug_hides_the_local_part() {
        let e = EmailAddress::parse("secret.person@example.pl").unwrap();
        assert!(!format!("{e:?}").contains("secret"));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_output_reparses(s in "\\PC{0,80}") {
            if let Ok(e) = EmailAddress::parse(&s) {
                proptest::prop_assert_eq!(EmailAddress::parse(e.as_str()).unwrap(), e);
            }
        }
    }
}
