//! Configuration from the environment, parsed once per cold start.

use chrono::Duration;
use zgoda_domain::Settings;
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
    /// Reads `ZGODA_TABLE`, `ZGODA_SECRETS_PREFIX`, `ZGODA_SENDER`, `ZGODA_QUEUE_URL`, `ZGODA_PUBLIC_URL`, the
    /// configuration sets `ZGODA_SES_CONFIGURATION_SET` and `ZGODA_SES_NOTICE_CONFIGURATION_SET`, the
    /// notices' own sender `ZGODA_NOTICE_SENDER` (default: `ZGODA_SENDER`) and the
    /// optional limits `ZGODA_CONFIRM_TTL_DAYS`, `ZGODA_RATE_NETWORK`, `ZGODA_RATE_SUBJECT`,
    /// `ZGODA_RATE_WINDOW_SECS`, `ZGODA_UNSUBSCRIBE_TTL_DAYS`, `ZGODA_PRIVACY_LINK_TTL_HOURS`, `ZGODA_ACCESS_LINK_TTL_MINUTES`,
    /// `ZGODA_RATE_PRIVACY`, `ZGODA_PUBLIC_MAIL_PER_HOUR`, `ZGODA_PRIVACY_ORIGINS` (comma-separated), `ZGODA_ESCALATION_LEASE_SECS`,
    /// `ZGODA_OPERATOR_RING_MAX_AGE_SECS`, and the privacy proof of work's `ZGODA_PRIVACY_POW_COST`
    /// and `ZGODA_PRIVACY_POW_MAX_COUNTER`.
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
            settings: settings_from_env(PublicUrl::parse(&var("ZGODA_PUBLIC_URL")?).ok_or(ConfigError::Invalid("ZGODA_PUBLIC_URL"))?)?,
        })
    }
}

/// The limits and lifetimes, each from its optional variable (see [`Config::from_env`]) or its default.
/// The local stack reads them too, so a benchmark can lift the rate limits.
pub fn settings_from_env(public_url: PublicUrl) -> Result<Settings, ConfigError> {
    let defaults = Settings::default();
    Ok(Settings {
        public_url,
        confirm_ttl: Duration::days(number("ZGODA_CONFIRM_TTL_DAYS", defaults.confirm_ttl.num_days())?),
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
        privacy_proof_of_work: ProofOfWork {
            cost: small_number("ZGODA_PRIVACY_POW_COST", defaults.privacy_proof_of_work.cost)?,
            max_counter: small_number("ZGODA_PRIVACY_POW_MAX_COUNTER", defaults.privacy_proof_of_work.max_counter)?,
            ttl: defaults.privacy_proof_of_work.ttl,
        },
    })
}
