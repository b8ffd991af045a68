//! Key rings from Secrets Manager, loaded once per cold start.

use aws_sdk_secretsmanager::Client;
use zgoda_domain::keys::{KeyRing, Keys};

/// The four families, each a secret named `<prefix><family>`.
pub const FAMILIES: [&str; 4] = ["links", "seals", "operators", "pepper"];

async fn ring(client: &Client, name: String) -> Result<KeyRing, String> {
    let out = client.get_secret_value().secret_id(&name).send().await.map_err(|e| format!("{name}: {}", crate::describe(&e)))?;
    let text = out.secret_string().ok_or_else(|| format!("{name}: not a string secret"))?;
    KeyRing::from_json(text).map_err(|e| format!("{name}: {e}"))
}

pub async fn load_keys(client: &Client, prefix: &str) -> Result<Keys, String> {
    let (links, seals, operators, pepper) = tokio::try_join!(
        ring(client, format!("{prefix}links")),
        ring(client, format!("{prefix}seals")),
        ring(client, format!("{prefix}operators")),
        ring(client, format!("{prefix}pepper")),
    )?;
    Ok(Keys { links, seals, operators, pepper })
}

/// Creates a secret or, when it exists, leaves it as it is. For provisioning the local stack.
pub async fn ensure_secret(client: &Client, name: &str, value: &str) -> Result<(), String> {
    if client.describe_secret().secret_id(name).send().await.is_ok() {
        return Ok(());
    }
    client.create_secret().name(name).secret_string(value).send().await.map_err(|e| crate::describe(&e))?;
    Ok(())
}

/// Replaces a secret's value (key rotation).
pub async fn put_secret(client: &Client, name: &str, value: &str) -> Result<(), String> {
    client.put_secret_value().secret_id(name).secret_string(value).send().await.map_err(|e| crate::describe(&e))?;
    Ok(())
}
