//! The only crate that names the AWS SDK. It turns the environment into typed configuration,
//! builds one SDK configuration per cold start, and implements the domain's storage, mail and key
//! traits on DynamoDB, SES v2 and Secrets Manager.

pub mod breaches;
pub mod config;
pub mod dynamo;
pub mod item;
pub mod queue;
pub mod secrets;
pub mod ses;
pub mod table;

pub use config::Config;
pub use dynamo::DynamoStore;
pub use queue::SqsQueue;
pub use ses::SesTransport;

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
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

/// The one HTTPS client every SDK client uses: rustls with ring, which keeps the aws-lc C build
/// out of the tree.
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// Clients for every service zgoda uses, built once per cold start from one SDK configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ses: aws_sdk_sesv2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Clients {
    /// Loads credentials, region and endpoint the standard way (`AWS_ENDPOINT_URL` points the
    /// local stack and the tests at the emulator).
    pub async fn from_env() -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(retry_config())
            .timeout_config(timeout_config())
            .load()
            .await;
        Self::from_sdk(&sdk)
    }

    /// Clients for the local emulator: fixed endpoint, region and dummy credentials.
    pub async fn local(endpoint: &str, region: &str) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(retry_config())
            .timeout_config(local_timeout_config())
            .endpoint_url(endpoint)
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
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&sdk).retry_partition(own_budget("dynamodb")).build(),
            ),
            ses: aws_sdk_sesv2::Client::from_conf(aws_sdk_sesv2::config::Builder::from(&sdk).retry_partition(own_budget("ses")).build()),
            sqs: aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(&sdk).retry_partition(own_budget("sqs")).build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(&sdk).retry_partition(own_budget("secretsmanager")).build(),
            ),
        }
    }

    fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            ses: aws_sdk_sesv2::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}

/// An SDK error as text for logs and 503 bodies: the service's code and message, never the request.
pub fn describe<E: std::error::Error>(e: &E) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
}
