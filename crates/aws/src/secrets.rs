//! Key rings from Secrets Manager, loaded once per cold start.

use aws_sdk_secretsmanager::Client;
use zgoda_domain::keys::{KeyRing, Keys};

/// The four families, each a secret named `<prefix><family>`.
pub const FAMILIES: [&str; 4] = ["links", "seals", "operators", "pepper"];

/// The four rings in one `BatchGetSecretValue` call: one round trip of a cold start instead of four.
pub async fn load_keys(client: &Client, prefix: &str) -> Result<Keys, String> {
    let names = FAMILIES.map(|family| format!("{prefix}{family}"));
    let out = client
        .batch_get_secret_value()
        .set_secret_id_list(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| format!("key rings: {}", crate::describe(&e)))?;
    if let Some(e) = out.errors().first() {
        return Err(format!("{}: {}", e.secret_id().unwrap_or("a key ring"), e.message().or(e.error_code()).unwrap_or("not readable")));
    }
    let ring = |name: &str| -> Result<KeyRing, String> {
        let entry = out.secret_values().iter().find(|v| v.name() == Some(name)).ok_or_else(|| format!("{name}: not returned"))?;
        let text = entry.secret_string().ok_or_else(|| format!("{name}: not a string secret"))?;
        KeyRing::from_json(text).map_err(|e| format!("{name}: {e}"))
    };
    let [links, seals, operators, pepper] = &names;
    Ok(Keys { links: ring(links)?, seals: ring(seals)?, operators: ring(operators)?, pepper: ring(pepper)? })
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
