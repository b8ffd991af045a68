//! Configuration from the environment, parsed once per cold start.

use chrono::Duration;
use zgoda_domain::Settings;
use zgoda_domain::controller::{ControllerInput, ControllerProfile};
use zgoda_domain::mail::MailStream;
use zgoda_domain::origin::{PublicUrl, WebOrigin};
use zgoda_domain::proof_of_work::ProofOfWork;

/// Everything a function needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The one DynamoDB table.
    pub table: String,
    /// Secrets Manager names are `<prefix>links`, `<prefix>seals`, `<prefix>operators`, `<prefix>pepper`.
    pub secrets_prefix: String,
    /// How each stream's mail goes out.
    pub mail: Senders,
    /// The notifier's SQS queue.
    pub queue_url: String,
    /// The webhook queue (SQS FIFO) and its dead-letter queue; only webhook delivery names them
    /// (empty elsewhere).
    pub webhook_queue_url: String,
    pub webhook_dead_letter_url: String,
    pub settings: Settings,
}

/// How one stream's mail goes out through SES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sending {
    /// The `From` address (its domain must be a verified SES identity).
    pub from: String,
    /// The SES configuration set whose send, bounce, complaint and delivery events reach ses-events.
    pub configuration_set: Option<String>,
}

impl Sending {
    /// The sender's domain: the SES identity the mail is sent as.
    pub fn domain(&self) -> String {
        self.from.rsplit_once('@').map(|(_, d)| d).unwrap_or(&self.from).to_ascii_lowercase()
    }
}

/// How each mail stream goes out through SES: its own sender and configuration set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Senders {
    /// Mail the public can trigger ([`MailStream::Public`]).
    pub public: Sending,
    /// Breach notices and deadline reminders ([`MailStream::Notices`]).
    pub notices: Sending,
}

impl Senders {
    pub fn of(&self, stream: MailStream) -> &Sending {
        match stream {
            MailStream::Public => &self.public,
            MailStream::Notices => &self.notices,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid")]
    Invalid(&'static str),
}

/// `ZGODA_PRIVACY_ORIGINS`, comma-separated; one that is not a clean origin stops the start, rather
/// than never matching.
fn privacy_origins() -> Result<Vec<WebOrigin>, ConfigError> {
    let Some(list) = optional("ZGODA_PRIVACY_ORIGINS") else { return Ok(Vec::new()) };
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| WebOrigin::parse(o).ok_or(ConfigError::Invalid("ZGODA_PRIVACY_ORIGINS")))
        .collect()
}

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError::Missing(name))
}

/// A variable that may be unset or empty (as a template's empty parameter gives it).
fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// [`number`], for a setting that must fit 32 bits.
fn small_number(name: &'static str, default: u32) -> Result<u32, ConfigError> {
    u32::try_from(number(name, default.into())?).map_err(|_| ConfigError::Invalid(name))
}

fn number(name: &'static str, default: i64) -> Result<i64, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v.parse().ok().filter(|n| *n > 0).ok_or(ConfigError::Invalid(name)),
    }
}

impl Config {
    /// Reads `ZGODA_TABLE`, `ZGODA_SECRETS_PREFIX`, `ZGODA_SENDER`, `ZGODA_QUEUE_URL`, `ZGODA_PUBLIC_URL`, the optional webhook queues
    /// `ZGODA_WEBHOOK_QUEUE_URL` and `ZGODA_WEBHOOK_DEAD_LETTER_URL`, the
    /// configuration sets `ZGODA_SES_CONFIGURATION_SET` and `ZGODA_SES_NOTICE_CONFIGURATION_SET`, the
    /// notices' own sender `ZGODA_NOTICE_SENDER` (default: `ZGODA_SENDER`) and the
    /// optional limits `ZGODA_CONFIRM_TTL_DAYS`, `ZGODA_RATE_NETWORK`, `ZGODA_RATE_SUBJECT`,
    /// `ZGODA_RATE_WINDOW_SECS`, `ZGODA_UNSUBSCRIBE_TTL_DAYS`, `ZGODA_PRIVACY_LINK_TTL_HOURS`, `ZGODA_ACCESS_LINK_TTL_MINUTES`,
    /// `ZGODA_RATE_PRIVACY`, `ZGODA_PUBLIC_MAIL_PER_HOUR`, `ZGODA_PRIVACY_ORIGINS` (comma-separated), `ZGODA_ESCALATION_LEASE_SECS`,
    /// `ZGODA_OPERATOR_RING_MAX_AGE_SECS`, `ZGODA_FORM_MAX_AGE_SECS`, the privacy proof of work's `ZGODA_PRIVACY_POW_COST`
    /// and `ZGODA_PRIVACY_POW_MAX_COUNTER`, and the retentions `ZGODA_RECORDS_RETENTION_DAYS` and
    /// `ZGODA_BREACH_RETENTION_DAYS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table: var("ZGODA_TABLE")?,
            secrets_prefix: var("ZGODA_SECRETS_PREFIX")?,
            mail: Senders {
                public: Sending { from: var("ZGODA_SENDER")?, configuration_set: optional("ZGODA_SES_CONFIGURATION_SET") },
                notices: Sending {
                    from: optional("ZGODA_NOTICE_SENDER").map_or_else(|| var("ZGODA_SENDER"), Ok)?,
                    configuration_set: optional("ZGODA_SES_NOTICE_CONFIGURATION_SET"),
                },
            },
            queue_url: var("ZGODA_QUEUE_URL")?,
            webhook_queue_url: optional("ZGODA_WEBHOOK_QUEUE_URL").unwrap_or_default(),
            webhook_dead_letter_url: optional("ZGODA_WEBHOOK_DEAD_LETTER_URL").unwrap_or_default(),
            settings: settings_from_env(
                PublicUrl::parse(&var("ZGODA_PUBLIC_URL")?).ok_or(ConfigError::Invalid("ZGODA_PUBLIC_URL"))?,
                controller_from_env()?,
            )?,
        })
    }
}

/// The controller's profile from `ZGODA_CONTROLLER_NAME`, `ZGODA_CONTROLLER_ADDRESS`,
/// `ZGODA_CONTROLLER_EMAIL`, `ZGODA_CONTROLLER_POLICY_URL` and the optional
/// `ZGODA_CONTROLLER_DPO_EMAIL`. Required: a function that would mail or show pages without naming
/// who holds the data does not start (Art. 12(1), 13(1)(a)).
pub fn controller_from_env() -> Result<ControllerProfile, ConfigError> {
    controller_from(optional)
}

/// [`controller_from_env`] over any lookup of variables.
fn controller_from(lookup: impl Fn(&'static str) -> Option<String>) -> Result<ControllerProfile, ConfigError> {
    const VARS: [(&str, &str); 5] = [
        ("name", "ZGODA_CONTROLLER_NAME"),
        ("address", "ZGODA_CONTROLLER_ADDRESS"),
        ("email", "ZGODA_CONTROLLER_EMAIL"),
        ("dpo_email", "ZGODA_CONTROLLER_DPO_EMAIL"),
        ("privacy_policy_url", "ZGODA_CONTROLLER_POLICY_URL"),
    ];
    let values: Vec<Option<String>> = VARS.iter().map(|(_, name)| lookup(name)).collect();
    let input = ControllerInput {
        name: values[0].as_deref(),
        address: values[1].as_deref(),
        email: values[2].as_deref(),
        dpo_email: values[3].as_deref(),
        privacy_policy_url: values[4].as_deref(),
    };
    input.parse().map_err(|e| {
        // The first field at fault, by its variable's name.
        let field = match &e {
            zgoda_domain::Error::Validation(errors) => errors.first().map(|f| (f.field.clone(), f.code)),
            _ => None,
        };
        let (field, code) = field.unwrap_or_else(|| ("name".into(), "invalid"));
        let var = VARS.iter().find(|(f, _)| *f == field).map_or("ZGODA_CONTROLLER_NAME", |(_, v)| v);
        if code == "required" { ConfigError::Missing(var) } else { ConfigError::Invalid(var) }
    })
}

/// The limits and lifetimes, each from its optional variable (see [`Config::from_env`]) or its default.
/// The local stack reads them too, so a benchmark can lift the rate limits.
pub fn settings_from_env(public_url: PublicUrl, controller: ControllerProfile) -> Result<Settings, ConfigError> {
    let defaults = Settings::default();
    Ok(Settings {
        controller,
        public_url,
        confirm_ttl: Duration::days(number("ZGODA_CONFIRM_TTL_DAYS", defaults.confirm_ttl.num_days())?),
        records_retention: Duration::days(number("ZGODA_RECORDS_RETENTION_DAYS", defaults.records_retention.num_days())?),
        breach_retention: Duration::days(number("ZGODA_BREACH_RETENTION_DAYS", defaults.breach_retention.num_days())?),
        network_limit: number("ZGODA_RATE_NETWORK", defaults.network_limit as i64)? as u64,
        subject_limit: number("ZGODA_RATE_SUBJECT", defaults.subject_limit as i64)? as u64,
        rate_window: Duration::seconds(number("ZGODA_RATE_WINDOW_SECS", defaults.rate_window.num_seconds())?),
        unsubscribe_ttl: Duration::days(number("ZGODA_UNSUBSCRIBE_TTL_DAYS", defaults.unsubscribe_ttl.num_days())?),
        privacy_link_ttl: Duration::hours(number("ZGODA_PRIVACY_LINK_TTL_HOURS", defaults.privacy_link_ttl.num_hours())?),
        access_link_ttl: Duration::minutes(number("ZGODA_ACCESS_LINK_TTL_MINUTES", defaults.access_link_ttl.num_minutes())?),
        privacy_limit: number("ZGODA_RATE_PRIVACY", defaults.privacy_limit as i64)? as u64,
        public_mail_per_hour: number("ZGODA_PUBLIC_MAIL_PER_HOUR", defaults.public_mail_per_hour as i64)? as u64,
        privacy_origins: privacy_origins()?,
        escalation_lease: Duration::seconds(number("ZGODA_ESCALATION_LEASE_SECS", defaults.escalation_lease.num_seconds())?),
        operator_ring_max_age: Duration::seconds(number("ZGODA_OPERATOR_RING_MAX_AGE_SECS", defaults.operator_ring_max_age.num_seconds())?),
        form_max_age: Duration::seconds(number("ZGODA_FORM_MAX_AGE_SECS", defaults.form_max_age.num_seconds())?),
        privacy_proof_of_work: ProofOfWork {
            cost: small_number("ZGODA_PRIVACY_POW_COST", defaults.privacy_proof_of_work.cost)?,
            max_counter: small_number("ZGODA_PRIVACY_POW_MAX_COUNTER", defaults.privacy_proof_of_work.max_counter)?,
            ttl: defaults.privacy_proof_of_work.ttl,
        },
        feed_settle: Duration::seconds(number("ZGODA_FEED_SETTLE_SECS", defaults.feed_settle.num_seconds())?),
        // Only the local stack sets it: a deployed stack delivers over HTTPS to public addresses.
        webhook_loopback: optional("ZGODA_WEBHOOK_LOOPBACK").as_deref() == Some("1"),
        webhook_retries: match optional("ZGODA_WEBHOOK_RETRY_SECS") {
            None => defaults.webhook_retries,
            Some(list) => list
                .split(',')
                .map(|step| step.trim().parse::<i64>().ok().filter(|n| *n > 0).map(Duration::seconds))
                .collect::<Option<Vec<_>>>()
                .ok_or(ConfigError::Invalid("ZGODA_WEBHOOK_RETRY_SECS"))?,
        },
        webhook_give_up: Duration::seconds(number("ZGODA_WEBHOOK_GIVE_UP_SECS", defaults.webhook_give_up.num_seconds())?),
        webhook_lease: Duration::seconds(number("ZGODA_WEBHOOK_LEASE_SECS", defaults.webhook_lease.num_seconds())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controller(vars: &[(&str, &str)]) -> Result<ControllerProfile, String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        controller_from(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn art12_1_a_function_does_not_start_without_the_controller_named() {
        let full = [
            ("ZGODA_CONTROLLER_NAME", "Sklep sp. z o.o."),
            ("ZGODA_CONTROLLER_ADDRESS", "ul. Długa 2, 31-147 Kraków"),
            ("ZGODA_CONTROLLER_EMAIL", "biuro@sklep.example.pl"),
            ("ZGODA_CONTROLLER_POLICY_URL", "https://sklep.example.pl/rodo"),
        ];
        let profile = controller(&full).unwrap();
        assert_eq!((profile.name.as_str(), profile.dpo_email), ("Sklep sp. z o.o.", None));
        assert_eq!(controller(&full[1..]).unwrap_err(), "environment variable ZGODA_CONTROLLER_NAME is not set");
        assert_eq!(controller(&full[..3]).unwrap_err(), "environment variable ZGODA_CONTROLLER_POLICY_URL is not set");
        let mut bad_dpo = full.to_vec();
        bad_dpo.push(("ZGODA_CONTROLLER_DPO_EMAIL", "iod@"));
        assert_eq!(controller(&bad_dpo).unwrap_err(), "environment variable ZGODA_CONTROLLER_DPO_EMAIL is not valid");
    }
}
