//! The only crate that names the AWS SDK. It turns the environment into typed configuration,
//! builds one SDK configuration per cold start, and implements the domain's storage, mail and key
//! traits on DynamoDB, SES v2 and Secrets Manager.

pub mod access;
pub mod breaches;
pub mod config;
pub mod dynamo;
pub mod incidents;
pub mod item;
pub mod lazy_client;
pub mod queue;
pub mod requests;
pub mod secrets;
pub mod ses;
pub mod table;
pub mod webhook_queue;
pub mod webhooks;

pub use config::{Config, Senders, Sending};
pub use dynamo::DynamoStore;
pub use lazy_client::LazyClient;
pub use queue::SqsQueue;
pub use ses::SesTransport;
pub use webhook_queue::SqsWebhookQueue;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::retry::RetryPartition;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// How every SDK call copes with a struggling service: throttling, 5xx and transport errors are
/// retried with jittered exponential backoff (the SDK's standard mode, written out so a test can
/// hold it to its word), three attempts in all.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_secs(1)).with_max_backoff(Duration::from_secs(20))
}

/// An attempt that hangs is cut after 4 s and retried; the whole call, retries included, gives up
/// after 8 s, inside the functions' 10 s timeout, so the caller gets zgoda's 503 with its code
/// rather than API Gateway's bare 5xx for a function that timed out.
pub fn timeout_config() -> TimeoutConfig {
    timeouts(Duration::from_secs(4), Duration::from_secs(8))
}

/// The local emulator answers in milliseconds mostly, but copies the whole table for each
/// transaction: on a table of thousands of items one call can take seconds. Its clients wait
/// longer so a slow emulator is not mistaken for a hanging one.
pub fn local_timeout_config() -> TimeoutConfig {
    timeouts(Duration::from_secs(30), Duration::from_secs(90))
}

fn timeouts(attempt: Duration, call: Duration) -> TimeoutConfig {
    TimeoutConfig::builder().connect_timeout(Duration::from_millis(3100)).operation_attempt_timeout(attempt).operation_timeout(call).build()
}

/// The roots every AWS service endpoint's certificate chains to: Amazon Trust Services (Amazon
/// Root CA 1–4, and the Starfield Services G2 root that cross-signs them), as Debian's
/// ca-certificates ships them. zgoda talks to nothing but AWS.
pub const AWS_TRUST_ROOTS: &str = include_str!("../certs/amazon-trust-services.pem");

/// The one HTTPS client every SDK client uses: rustls with ring, which keeps the aws-lc C build
/// out of the tree, trusting [`AWS_TRUST_ROOTS`] only. The SDK's default reads and parses the
/// whole system store on the first client built, 5–7 ms of every cold start (measured with the
/// cold-start benchmark), for roots zgoda never meets.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    let trust = tls::TrustStore::empty().with_pem_certificate(AWS_TRUST_ROOTS.as_bytes());
    let context = tls::TlsContext::builder().with_trust_store(trust).build().expect("a trust store alone is a valid TLS context");
    aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).tls_context(context).build_https()
}

/// The SDK configuration every deployed function starts from (`make bench` measures a call made
/// with it). Stalled-stream protection is off: it wraps every body in a timer-watched stream and
/// adds an interceptor to each call, for downloads that stall mid-way; zgoda's answers are small
/// and each attempt is cut after 4 s anyway ([`timeout_config`]).
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
}

/// Where the local emulator answers. DynamoDB runs in a moto process of its own and every other
/// service in a second one: a moto process runs one request's Python at a time (the interpreter's
/// lock), so one process kept one core busy and the other idle. DynamoDB is most of moto's work
/// (about four fifths of it in a breach fan-out); split, SES and SQS requests no longer queue
/// behind it. Deployed functions never see this: in AWS the SDK finds each service's endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalEndpoints {
    pub dynamodb: String,
    /// SES, SQS and Secrets Manager, and moto's own API (its mailbox and state dump).
    pub other: String,
}

impl LocalEndpoints {
    /// The environment variables the SDK itself reads (`AWS_ENDPOINT_URL_DYNAMODB` wins over
    /// `AWS_ENDPOINT_URL` for DynamoDB), so a function binary started with them finds both.
    pub const DYNAMODB_VAR: &str = "AWS_ENDPOINT_URL_DYNAMODB";
    pub const OTHER_VAR: &str = "AWS_ENDPOINT_URL";

    /// Every service behind one address (a proxy, a test's stand-in server).
    pub fn single(url: &str) -> Self {
        Self { dynamodb: url.to_owned(), other: url.to_owned() }
    }

    /// From variables named as [`Self::env_vars`] writes them; DynamoDB falls back to the shared
    /// endpoint, as the SDK's own lookup does.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let other = var(Self::OTHER_VAR)?;
        Some(Self { dynamodb: var(Self::DYNAMODB_VAR).unwrap_or_else(|| other.clone()), other })
    }

    pub fn env_vars(&self) -> [(&'static str, &str); 2] {
        [(Self::OTHER_VAR, &self.other), (Self::DYNAMODB_VAR, &self.dynamodb)]
    }
}

/// Clients for every service zgoda uses, from one SDK configuration per cold start; a deployed
/// function builds each on its first call ([`LazyClient`]).
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: LazyClient<aws_sdk_dynamodb::Client>,
    pub ses: LazyClient<aws_sdk_sesv2::Client>,
    pub sqs: LazyClient<aws_sdk_sqs::Client>,
    pub secrets: LazyClient<aws_sdk_secretsmanager::Client>,
}

impl Clients {
    /// Loads credentials, region and endpoint the standard way (`AWS_ENDPOINT_URL` points the
    /// local stack and the tests at the emulator).
    pub async fn from_env() -> Self {
        let mut loader = sdk_defaults();
        // Lambda puts the function's credentials in the environment. Building the SDK's default
        // chain (profiles, SSO, web identity, containers, instance metadata) only to find them
        // there costs 6–10 ms of a cold start; without them (a developer's shell) it still runs.
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
            loader = loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
        }
        // The region likewise: Lambda sets it, and the default chain (profiles, instance metadata)
        // built only to read it is a tenth of a millisecond.
        if let Ok(region) = std::env::var("AWS_REGION") {
            loader = loader.region(aws_config::Region::new(region));
        }
        Self::from_sdk(loader.load().await)
    }

    /// Clients for the local emulator: fixed endpoints, region and dummy credentials, with no
    /// access check (provisioning, and the tests' own reads and writes).
    pub async fn local(endpoints: &LocalEndpoints, region: &str) -> Self {
        Self::local_checked(endpoints, region, None).await
    }

    /// Clients for one function in the local stack: every request first passes `check`, as it
    /// would pass the function's IAM policy in AWS.
    pub async fn local_checked(endpoints: &LocalEndpoints, region: &str, check: Option<access::AccessCheck>) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(retry_config())
            .timeout_config(local_timeout_config())
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(aws_credential_types::Credentials::new("local", "local", None, None, "zgoda-local"))
            .load()
            .await;
        // The SDK's retry budget (a token bucket that failed retries drain) is one per service per
        // process. In AWS each function is its own process; locally one process hosts every test
        // environment, so a fault injected in one would use up another's retries and turn its
        // single lost answer into a 503. Each `local` set of clients stands for one execution
        // environment and gets a budget of its own.
        let own_budget = |service: &str| RetryPartition::custom(format!("zgoda-local-{service}")).build();
        // Each endpoint is set on its service's own configuration: set there it wins over an
        // `AWS_ENDPOINT_URL_<SERVICE>` in the environment, so clients meant for the tests' fault
        // proxy never reach around it.
        let other = &endpoints.other;
        macro_rules! client {
            ($sdk_crate:ident, $endpoint:expr, $service:literal) => {{
                let mut builder = $sdk_crate::config::Builder::from(&sdk).endpoint_url($endpoint).retry_partition(own_budget($service));
                if let Some(check) = &check {
                    builder = builder.interceptor(check.clone());
                }
                $sdk_crate::Client::from_conf(builder.build())
            }};
        }
        Self {
            dynamodb: client!(aws_sdk_dynamodb, &endpoints.dynamodb, "dynamodb").into(),
            ses: client!(aws_sdk_sesv2, other, "ses").into(),
            sqs: client!(aws_sdk_sqs, other, "sqs").into(),
            secrets: client!(aws_sdk_secretsmanager, other, "secretsmanager").into(),
        }
    }

    fn from_sdk(sdk: aws_config::SdkConfig) -> Self {
        let sdk = std::sync::Arc::new(sdk);
        macro_rules! lazy {
            ($sdk_crate:ident) => {{
                let sdk = sdk.clone();
                LazyClient::new(move || $sdk_crate::Client::new(&sdk))
            }};
        }
        Self {
            dynamodb: lazy!(aws_sdk_dynamodb),
            ses: lazy!(aws_sdk_sesv2),
            sqs: lazy!(aws_sdk_sqs),
            secrets: lazy!(aws_sdk_secretsmanager),
        }
    }
}

/// An SDK error as text for logs and 503 bodies: the service's code and message, never the request.
pub fn describe<E: std::error::Error>(e: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use sha2::{Digest, Sha256};

    use super::LocalEndpoints;

    #[test]
    fn local_endpoints_read_back_what_they_export_and_dynamodb_falls_back_to_the_shared_one() {
        let split = LocalEndpoints { dynamodb: "http://127.0.0.1:1".into(), other: "http://127.0.0.1:2".into() };
        let exported = split.env_vars();
        let read = |vars: &[(&str, &str)], k: &str| vars.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string());
        assert_eq!(LocalEndpoints::from_vars(|k| read(&exported, k)), Some(split));
        let shared = [("AWS_ENDPOINT_URL", "http://127.0.0.1:3")];
        assert_eq!(LocalEndpoints::from_vars(|k| read(&shared, k)), Some(LocalEndpoints::single("http://127.0.0.1:3")));
        assert_eq!(LocalEndpoints::from_vars(|_| None), None);
    }

    /// The bundled roots are exactly Amazon Trust Services' (SHA-256 fingerprints as published
    /// at amazontrust.com/repository and in Debian's ca-certificates): a changed or added
    /// certificate is caught here, not in production.
    #[test]
    fn the_bundled_trust_roots_are_amazon_trust_services_five() {
        let fingerprints: Vec<String> = super::AWS_TRUST_ROOTS
            .split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|block| {
                let body: String = block.split("-----END CERTIFICATE-----").next().unwrap().split_whitespace().collect();
                let der = base64::engine::general_purpose::STANDARD.decode(body).expect("PEM body is base64");
                hex::encode_upper(Sha256::digest(der))
            })
            .collect();
        assert_eq!(
            fingerprints,
            [
                "8ECDE6884F3D87B1125BA31AC3FCB13D7016DE7F57CC904FE1CB97C6AE98196E", // Amazon Root CA 1
                "1BA5B2AA8C65401A82960118F80BEC4F62304D83CEC4713A19C39C011EA46DB4", // Amazon Root CA 2
                "18CE6CFE7BF14E60B2E347B8DFE868CB31D02EBB3ADA271569F50343B46DB3A4", // Amazon Root CA 3
                "E35D28419ED02025CFA69038CD623962458DA5C695FBDEA3C22B0BFB25897092", // Amazon Root CA 4
                "568D6905A2C88708A4B3025190EDCFEDB1974A606A13C6E5290FCB2AE63EDAB5", // Starfield Services Root G2
            ]
        );
    }
}
