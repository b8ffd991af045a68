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
    /// Letters outside ASCII before the `@` (RFC 6531): valid, but SES, and most of the mail
    /// that would carry a reply, cannot deliver to it, so no link could ever reach the person.
    #[error("mail cannot be delivered to an address with letters outside ASCII before the @")]
    NotDeliverable,
}

impl EmailError {
    /// The code a 422 names the field with.
    pub fn code(self) -> &'static str {
        match self {
            EmailError::Empty => "required",
            EmailError::TooLong => "too_long",
            EmailError::Invalid => "invalid",
            EmailError::NotDeliverable => "not_deliverable",
        }
    }
}

impl EmailAddress {
    /// Parses a bare address (RFC 5321; IDN domains allowed, UTF-8 local parts recognised but
    /// refused as undeliverable). Leading and trailing white space is trimmed; the domain becomes
    /// its IDNA A-labels (`żółw.pl` and its punycode are one mailbox, so one subject), and the
    /// result is lower-cased, which is how every large mailbox provider compares addresses and
    /// keeps one person one subject.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let trimmed = input.trim_matches(|c: char| c == ' ' || c == '\t');
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if trimmed.chars().any(|c| c.is_control() || c.is_whitespace() || is_invisible_or_lookalike(c)) {
            return Err(EmailError::Invalid);
        }
        if trimmed.split(['@', '.']).any(mixes_scripts) {
            return Err(EmailError::Invalid);
        }
        // Quoted local parts (`"a@b"@c.pl`) and RFC 2047 encoded words are legal or near-legal
        // syntax that real people do not use and that mail software parses differently.
        if trimmed.starts_with('"') || trimmed.contains("=?") {
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
        let local = parsed.local_part();
        if !local.is_ascii() {
            return Err(EmailError::NotDeliverable);
        }
        let domain = idna::domain_to_ascii(domain).map_err(|_| EmailError::Invalid)?;
        let address = format!("{}@{domain}", local.to_ascii_lowercase());
        if address.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        Ok(Self(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

/// Characters that make two different strings look like one address: format characters
/// (zero-width, bidi controls, soft hyphen, tag characters) and full-width compatibility forms.
/// An address holding one is a spoof of another, or a way around a suppression entry.
fn is_invisible_or_lookalike(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FF00}'..='\u{FFEF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E0FFF}')
}

#[derive(PartialEq, Clone, Copy)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
}

fn script(c: char) -> Option<Script> {
    match c {
        'a'..='z' | 'A'..='Z' | '\u{00C0}'..='\u{024F}' | '\u{1E00}'..='\u{1EFF}' => Some(Script::Latin),
        '\u{0370}'..='\u{03FF}' | '\u{1F00}'..='\u{1FFF}' => Some(Script::Greek),
        '\u{0400}'..='\u{052F}' | '\u{1C80}'..='\u{1C8F}' | '\u{2DE0}'..='\u{2DFF}' | '\u{A640}'..='\u{A69F}' => Some(Script::Cyrillic),
        _ => None,
    }
}

/// A label that mixes Latin, Greek and Cyrillic letters is the classic homograph (`pаypal` with
/// a Cyrillic `а`); browsers refuse to show such domains and so do we, in the local part too.
fn mixes_scripts(label: &str) -> bool {
    let mut seen = None;
    for s in label.chars().filter_map(script) {
        match seen {
            None => seen = Some(s),
            Some(first) if first != s => return true,
            Some(_) => {}
        }
    }
    false
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
        for ok in ["jan@example.pl", "Jan.Kowalski@Example.PL", "ala@żółw.pl", "jan@пример.рф"] {
            assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(EmailAddress::parse(" Jan@Example.PL ").unwrap().as_str(), "jan@example.pl");
    }

    /// Security review M4: a Unicode domain and its punycode are one mailbox, so one address (and
    /// one subject id); a local part outside ASCII is refused as undeliverable, never accepted
    /// and then silently never mailed.
    #[test]
    fn m4_idn_domains_become_a_labels_and_non_ascii_local_parts_are_undeliverable() {
        let unicode = EmailAddress::parse("Ala@Żółw.pl").unwrap();
        assert!(
            unicode.as_str().starts_with("ala@xn--") && unicode.as_str().ends_with(".pl") && unicode.as_str().is_ascii(),
            "{unicode:?}"
        );
        assert_eq!(EmailAddress::parse(unicode.as_str()).unwrap(), unicode, "the punycode spelling is the same address");
        assert_eq!(EmailAddress::parse("jan@пример.рф").unwrap().as_str(), "jan@xn--e1afmkfd.xn--p1ai");
        for undeliverable in ["zażółć@example.pl", "иван@пример.рф", "jürgen@example.de"] {
            assert_eq!(EmailAddress::parse(undeliverable), Err(EmailError::NotDeliverable), "{undeliverable}");
        }
        assert_eq!(EmailError::NotDeliverable.code(), "not_deliverable");
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
            // Homographs and invisible characters.
            "jan@exаmple.pl",
            "jаn@example.pl",
            "jan\u{200B}@example.pl",
            "jan@example.pl\u{202E}",
            "\u{FF4A}an@example.pl",
            "jan\u{00AD}@example.pl",
            "jan@\u{FEFF}example.pl",
            "\"jan\\\"@\"@example.pl",
            "\"jan\"@example.pl",
            "=?utf-8?q?jan?=@example.pl",
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
