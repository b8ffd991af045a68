//! Sends built MIME messages through SES v2 as raw content, so every header we set survives.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::retry::RetryConfig;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, MessageTag, RawMessage};
use zgoda_domain::email::EmailAddress;
use zgoda_domain::mail::{MailError, MailStream, MailTransport};

use crate::config::{Senders, Sending};

#[derive(Debug, Clone)]
pub struct SesTransport {
    client: crate::LazyClient<Client>,
    senders: Senders,
}

impl SesTransport {
    pub fn new(client: impl Into<crate::LazyClient<Client>>, senders: Senders) -> Self {
        Self { client: client.into(), senders }
    }

    fn sending(&self, stream: MailStream) -> &Sending {
        self.senders.of(stream)
    }

    /// Verifies each sender's domain as an identity (the emulator requires it before sending).
    pub async fn ensure_identities(&self) -> Result<(), String> {
        for stream in MailStream::ALL {
            let domain = self.sending(stream).domain();
            if self.client.get_email_identity().email_identity(&domain).send().await.is_ok() {
                continue;
            }
            self.client.create_email_identity().email_identity(&domain).send().await.map_err(|e| crate::describe(&e))?;
        }
        Ok(())
    }
}

impl MailTransport for SesTransport {
    fn sender(&self, stream: MailStream) -> &str {
        &self.sending(stream).from
    }

    async fn forget_address(&self, address: &EmailAddress) -> Result<(), MailError> {
        match self.client.delete_suppressed_destination().email_address(address.as_str()).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found_exception()) => Ok(()),
            Err(e) => Err(failure(&e)),
        }
    }

    async fn send_raw(
        &self,
        stream: MailStream,
        to: &EmailAddress,
        mime: Vec<u8>,
        tags: &[(&'static str, String)],
    ) -> Result<String, MailError> {
        let sending = self.sending(stream);
        let raw = RawMessage::builder().data(Blob::new(mime)).build().map_err(|e| MailError::new(e.to_string()))?;
        let tags = tags
            .iter()
            .map(|(name, value)| MessageTag::builder().name(*name).value(value).build().map_err(|e| MailError::new(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let recorded_by_its_send_event = !tags.is_empty();
        let send = self
            .client
            .send_email()
            .from_email_address(&sending.from)
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(sending.configuration_set.clone())
            .set_email_tags(recorded_by_its_send_event.then_some(tags));
        let out = if recorded_by_its_send_event {
            // A tagged mail (a breach notice) is tried once. When SES took it but its answer was
            // lost (a timeout, a dropped connection), the SDK's retry would send it again at once,
            // before SES's Send event could record the first; failing instead hands the recipient
            // back, the event records the notice as sent, and the retry finds it finished. A
            // refusal SES did answer is retried the same way, after the queue's visibility timeout.
            send.customize().config_override(aws_sdk_sesv2::config::Builder::default().retry_config(RetryConfig::disabled())).send().await
        } else {
            send.send().await
        };
        let out = out.map_err(|e| failure(&e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

/// What an SES failure may say in a log line or a stored outbox record: SES's error code, or the
/// kind of failure when SES did not answer. Never SES's message, which can quote the recipient's
/// address ("… the following identities failed the check …: jan@example.pl"; security review M3).
pub fn failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> MailError {
    let what = match e {
        SdkError::ServiceError(_) if e.code().is_some_and(|c| THROTTLING.contains(&c)) => {
            return MailError::throttled(e.code().unwrap_or_default());
        }
        SdkError::ServiceError(_) => e.code().unwrap_or("UnknownServiceError"),
        SdkError::TimeoutError(_) => "Timeout",
        SdkError::DispatchFailure(_) => "DispatchFailure",
        SdkError::ResponseError(_) => "UnreadableResponse",
        SdkError::ConstructionFailure(_) => "ConstructionFailure",
        _ => "UnknownFailure",
    };
    MailError::new(what)
}

/// SES's refusals for the sending rate (`TooManyRequestsException`) or the daily quota
/// (`LimitExceededException`), and the generic throttling codes: each passes with time.
const THROTTLING: [&str; 4] = ["TooManyRequestsException", "LimitExceededException", "ThrottlingException", "Throttling"];
