//! The composition of a running zgoda: clients, configuration and keys, built once per cold start
//! and shared by every request.

use std::sync::Arc;

use zgoda_aws::access::Access;
use zgoda_aws::secrets::SecretRings;
use zgoda_aws::{Clients, Config, DynamoStore, SesTransport, SqsQueue};
use zgoda_domain::keys::KeyFamily;

use crate::mailer::TemplatedMailer;

pub use zgoda_domain::Zgoda;

/// zgoda on AWS: DynamoDB for storage, SES (through the templates) for mail, SQS for fan-out.
pub type App = Zgoda<DynamoStore, TemplatedMailer<SesTransport>, SqsQueue>;

/// Builds one function's app from configuration, with the key rings its `access` names; fails
/// when one of them cannot be loaded.
pub async fn build(config: &Config, clients: &Clients, access: &Access) -> Result<App, String> {
    let mut keys = zgoda_aws::secrets::load_keys(&clients.secrets, &config.secrets_prefix, access.key_rings).await?;
    if access.key_rings.contains(&KeyFamily::Operators) {
        let source = SecretRings { client: clients.secrets.clone(), prefix: config.secrets_prefix.clone() };
        keys = keys.refresh_operators(Arc::new(source), config.settings.operator_ring_max_age, chrono::Utc::now());
    }
    let transport = SesTransport::new(clients.ses.clone(), config.mail.clone());
    Ok(Zgoda {
        store: DynamoStore::new(clients.dynamodb.clone(), config.table.clone()),
        mailer: TemplatedMailer::new(transport, config.settings.controller.clone()),
        queue: SqsQueue::new(clients.sqs.clone(), config.queue_url.clone()),
        keys,
        names: Default::default(),
        forms: Default::default(),
        settings: config.settings.clone(),
    })
}

/// What a Lambda `main` does first: configuration from the environment, clients, the key rings
/// its `access` names.
pub async fn from_env(access: &Access) -> Result<App, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let clients = Clients::from_env().await;
    build(&config, &clients, access).await
}
