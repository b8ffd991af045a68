//! Key rings from Secrets Manager, loaded once per cold start (and the operators' ring again as it
//! ages, through [`SecretRings`]).

use std::future::Future;
use std::pin::Pin;

use aws_sdk_secretsmanager::Client;
use zgoda_domain::keys::{KeyFamily, KeyRing, Keys, RingSource};

/// The rings of `families`, each a secret named `<prefix><family>`, in one `BatchGetSecretValue`
/// call: one round trip of a cold start however many. No family, no call and no client built (the
/// deadline watch, the notifier and webhook delivery sign nothing and read no secret; building a
/// client is about a quarter of a millisecond of a cold start).
pub async fn load_keys(client: &crate::LazyClient<Client>, prefix: &str, families: &[KeyFamily]) -> Result<Keys, String> {
    if families.is_empty() {
        return Ok(Keys::default());
    }
    let name = |family: KeyFamily| format!("{prefix}{}", family.name());
    let out = client
        .batch_get_secret_value()
        .set_secret_id_list(Some(families.iter().map(|f| name(*f)).collect()))
        .send()
        .await
        .map_err(|e| format!("key rings: {}", crate::describe(&e)))?;
    if let Some(e) = out.errors().first() {
        return Err(format!("{}: {}", e.secret_id().unwrap_or("a key ring"), e.message().or(e.error_code()).unwrap_or("not readable")));
    }
    let ring = |family: KeyFamily| -> Result<(KeyFamily, KeyRing), String> {
        let name = name(family);
        let entry = out.secret_values().iter().find(|v| v.name() == Some(name.as_str())).ok_or_else(|| format!("{name}: not returned"))?;
        let text = entry.secret_string().ok_or_else(|| format!("{name}: not a string secret"))?;
        Ok((family, KeyRing::from_json(text).map_err(|e| format!("{name}: {e}"))?))
    };
    Ok(Keys::from_rings(families.iter().map(|f| ring(*f)).collect::<Result<Vec<_>, _>>()?))
}

/// The rings of one deployment, as Secrets Manager holds them now.
pub struct SecretRings {
    pub client: crate::LazyClient<Client>,
    pub prefix: String,
}

impl RingSource for SecretRings {
    fn load(&self, family: KeyFamily) -> Pin<Box<dyn Future<Output = Result<KeyRing, String>> + Send + '_>> {
        Box::pin(async move {
            let keys = load_keys(&self.client, &self.prefix, &[family]).await?;
            Ok(keys.into_ring(family))
        })
    }
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
