//! Configuration from the environment, parsed once per cold start.

use chrono::Duration;
use zgoda_domain::Settings;

/// Everything a function needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The one DynamoDB table.
    pub table: String,
    /// Secrets Manager names are `<prefix>links`, `<prefix>seals`, `<prefix>operators`, `<prefix>pepper`.
    pub secrets_prefix: String,
    /// The `From` address of every mail (its domain must be a verified SES identity).
    pub sender: String,
    /// The notifier's SQS queue.
    pub queue_url: String,
    /// The SES configuration set whose bounce, complaint and delivery events reach ses-events.
    pub configuration_set: Option<String>,
    pub settings: Settings,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is not valid")]
    Invalid(&'static str),
}

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError::Missing(name))
}

fn number(name: &'static str, default: i64) -> Result<i64, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v.parse().ok().filter(|n| *n > 0).ok_or(ConfigError::Invalid(name)),
    }
}

impl Config {
    /// Reads `ZGODA_TABLE`, `ZGODA_SECRETS_PREFIX`, `ZGODA_SENDER`, `ZGODA_QUEUE_URL`, `ZGODA_PUBLIC_URL` and the
    /// optional limits `ZGODA_CONFIRM_TTL_DAYS`, `ZGODA_RATE_NETWORK`, `ZGODA_RATE_SUBJECT`,
    /// `ZGODA_RATE_WINDOW_SECS`, `ZGODA_UNSUBSCRIBE_TTL_DAYS`, `ZGODA_PRIVACY_LINK_TTL_HOURS`, `ZGODA_ACCESS_LINK_TTL_MINUTES`,
    /// `ZGODA_RATE_PRIVACY`, `ZGODA_PUBLIC_MAIL_PER_HOUR`, `ZGODA_PRIVACY_ORIGINS` (comma-separated) and `ZGODA_ESCALATION_LEASE_SECS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table: var("ZGODA_TABLE")?,
            secrets_prefix: var("ZGODA_SECRETS_PREFIX")?,
            sender: var("ZGODA_SENDER")?,
            queue_url: var("ZGODA_QUEUE_URL")?,
            configuration_set: std::env::var("ZGODA_SES_CONFIGURATION_SET").ok().filter(|c| !c.is_empty()),
            settings: settings_from_env(var("ZGODA_PUBLIC_URL")?)?,
        })
    }
}

/// The limits and lifetimes, each from its optional variable (see [`Config::from_env`]) or its default.
/// The local stack reads them too, so a benchmark can lift the rate limits.
pub fn settings_from_env(public_url: String) -> Result<Settings, ConfigError> {
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
        privacy_origins: std::env::var("ZGODA_PRIVACY_ORIGINS")
            .map(|v| v.split(',').map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default(),
        escalation_lease: Duration::seconds(number("ZGODA_ESCALATION_LEASE_SECS", defaults.escalation_lease.num_seconds())?),
    })
}
