//! Sends built MIME messages through SES v2 as raw content, so every header we set survives.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use zgoda_domain::email::EmailAddress;
use zgoda_domain::mail::{MailError, MailTransport};

#[derive(Debug, Clone)]
pub struct SesTransport {
    client: Client,
    from: String,
    configuration_set: Option<String>,
}

impl SesTransport {
    pub fn new(client: Client, from: String, configuration_set: Option<String>) -> Self {
        Self { client, from, configuration_set }
    }

    /// Verifies the sender's domain as an identity (the emulator requires it before sending).
    pub async fn ensure_identity(&self) -> Result<(), String> {
        let domain = self.from.rsplit_once('@').map(|(_, d)| d).unwrap_or(&self.from);
        if self.client.get_email_identity().email_identity(domain).send().await.is_ok() {
            return Ok(());
        }
        self.client.create_email_identity().email_identity(domain).send().await.map_err(|e| crate::describe(&e))?;
        Ok(())
    }
}

impl MailTransport for SesTransport {
    async fn send_raw(&self, to: &EmailAddress, mime: Vec<u8>, tags: &[(&'static str, String)]) -> Result<String, MailError> {
        let raw = RawMessage::builder().data(Blob::new(mime)).build().map_err(|e| MailError(e.to_string()))?;
        let tags = tags
            .iter()
            .map(|(name, value)| MessageTag::builder().name(*name).value(value).build().map_err(|e| MailError(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .set_email_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(|e| MailError(crate::describe(&e)))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
