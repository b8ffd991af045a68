//! The controller: the business that runs zgoda and decides why and how its customers' data is
//! processed (Art. 4(7)). People must be told who that is in every mail and page zgoda sends them
//! (Art. 12(1), 13(1)(a) and (b), 34(2)); zgoda's own name appears at most as "powered by".
//!
//! The profile is set at deploy time (the template's `Controller*` parameters): a function does not
//! start without it, so no mail can go out unnamed.

use serde::Serialize;

use crate::email::EmailAddress;
use crate::{Error, Fields};

/// Who holds the data, as every mail, page and export names them. Valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ControllerProfile {
    /// The legal name (`Sklep Przykładowy sp. z o.o.`).
    pub name: String,
    /// The postal address, on one line.
    pub address: String,
    /// Where people write about their data.
    pub email: EmailAddress,
    /// The data protection officer's address, when one is appointed (Art. 37).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpo_email: Option<EmailAddress>,
    /// The full privacy policy (`https://…`).
    pub privacy_policy_url: String,
}

/// The profile's values as they arrive (environment variables, a test's literal), not yet checked.
#[derive(Debug, Clone, Default)]
pub struct ControllerInput<'a> {
    pub name: Option<&'a str>,
    pub address: Option<&'a str>,
    pub email: Option<&'a str>,
    pub dpo_email: Option<&'a str>,
    pub privacy_policy_url: Option<&'a str>,
}

/// One line of plain text: trimmed, not empty, bounded. It ends up in a `From` header and in
/// every page, so a line break or any other control character is refused, not stripped.
fn one_line(text: &str, max_chars: usize) -> Result<String, &'static str> {
    let text = text.trim();
    match text {
        "" => Err("required"),
        t if t.chars().count() > max_chars => Err("too_long"),
        t if t.chars().any(char::is_control) => Err("invalid"),
        t => Ok(t.to_owned()),
    }
}

fn https_url(text: &str) -> Result<String, &'static str> {
    let url = one_line(text, 500)?;
    let host = url.strip_prefix("https://").ok_or("not_https")?;
    if host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace) {
        return Err("invalid");
    }
    Ok(url)
}

impl ControllerInput<'_> {
    /// The profile, or every field that is missing or wrong (named as the input names them).
    pub fn parse(&self) -> Result<ControllerProfile, Error> {
        let mut fields = Fields::default();
        let email = |v: &str| EmailAddress::parse(v).map_err(|_| "invalid");
        let name = fields.required("name", self.name.map(|v| one_line(v, 200)));
        let address = fields.required("address", self.address.map(|v| one_line(v, 300)));
        let contact = fields.required("email", self.email.map(email));
        let dpo_email = match self.dpo_email.map(str::trim).filter(|v| !v.is_empty()) {
            None => Some(None),
            Some(v) => fields.check("dpo_email", email(v)).map(Some),
        };
        let policy = fields.required("privacy_policy_url", self.privacy_policy_url.map(https_url));
        let values = name.zip(address).zip(contact).zip(dpo_email).zip(policy);
        let ((((name, address), email), dpo_email), privacy_policy_url) = fields.finish(values)?;
        Ok(ControllerProfile { name, address, email, dpo_email, privacy_policy_url })
    }
}

impl ControllerProfile {
    /// An example controller for tests and the local demo; a deployed stack never has it.
    pub fn example() -> Self {
        ControllerInput {
            name: Some("Sklep Przykładowy sp. z o.o."),
            address: Some("ul. Przykładowa 1, 00-001 Warszawa"),
            email: Some("kontakt@sklep.example.pl"),
            dpo_email: Some("iod@sklep.example.pl"),
            privacy_policy_url: Some("https://sklep.example.pl/polityka-prywatnosci"),
        }
        .parse()
        .expect("a valid example")
    }

    /// Where people write about their data: the DPO when there is one (Art. 38(4)), else the
    /// controller's own address.
    pub fn privacy_contact(&self) -> &EmailAddress {
        self.dpo_email.as_ref().unwrap_or(&self.email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(input: ControllerInput) -> Vec<String> {
        match input.parse() {
            Err(Error::Validation(errors)) => errors.into_iter().map(|e| format!("{}:{}", e.field, e.code)).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn art13_1a_a_controller_needs_a_name_an_address_a_contact_and_a_policy() {
        assert_eq!(
            codes(ControllerInput::default()),
            ["name:required", "address:required", "email:required", "privacy_policy_url:required"]
        );
        let example = ControllerProfile::example();
        assert_eq!(example.privacy_contact().as_str(), "iod@sklep.example.pl");
        let without_dpo = ControllerInput {
            name: Some(" Sklep "),
            address: Some("ul. Długa 2, Kraków"),
            email: Some("biuro@sklep.example.pl"),
            dpo_email: Some(""),
            privacy_policy_url: Some("https://sklep.example.pl/rodo"),
        };
        let parsed = without_dpo.parse().unwrap();
        assert_eq!((parsed.name.as_str(), &parsed.dpo_email), ("Sklep", &None));
        assert_eq!(parsed.privacy_contact().as_str(), "biuro@sklep.example.pl");
    }

    #[test]
    fn a_controller_name_that_could_add_a_header_or_a_policy_off_https_is_refused() {
        let input = ControllerInput {
            name: Some("Sklep\r\nBcc: victim@example.pl"),
            address: Some("x"),
            email: Some("not an address"),
            dpo_email: Some("iod@"),
            privacy_policy_url: Some("http://sklep.example.pl/rodo"),
        };
        assert_eq!(codes(input), ["name:invalid", "email:invalid", "dpo_email:invalid", "privacy_policy_url:not_https"]);
    }
}
