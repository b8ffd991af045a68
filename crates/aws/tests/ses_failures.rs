//! Security review M3: SES's error text can quote the recipient's address, so a failed send is
//! known, logged and stored by its error code alone.

use aws_sdk_sesv2::error::ErrorMetadata;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::error::MessageRejected;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use zgoda_aws::{Senders, Sending, SesTransport};
use zgoda_domain::email::EmailAddress;
use zgoda_domain::mail::{MailError, MailStream, MailTransport};

const QUOTED: &str = "Email address is not verified. The following identities failed the check in region EU-CENTRAL-1: jan@example.pl";

#[tokio::test]
async fn m3_a_refused_send_is_reported_by_its_code_without_the_address_ses_quoted() {
    let refused = mock!(aws_sdk_sesv2::Client::send_email).then_error(|| {
        SendEmailError::MessageRejected(
            // As the SDK parses SES's answer: the code in the metadata, the text beside it.
            MessageRejected::builder()
                .message(QUOTED)
                .meta(ErrorMetadata::builder().code("MessageRejected").message(QUOTED).build())
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&refused]);
    let transport = SesTransport::new(
        client,
        Senders {
            public: Sending { from: "zgoda@sklep.example.pl".into(), configuration_set: Some("set".into()) },
            notices: Sending { from: "zgoda@sklep.example.pl".into(), configuration_set: None },
        },
    );
    let to = EmailAddress::parse("jan@example.pl").unwrap();
    for tags in [vec![], vec![("breach", "B1".to_owned())]] {
        let err = transport.send_raw(MailStream::Public, &to, b"Subject: x\r\n\r\nx".to_vec(), &tags).await.unwrap_err();
        assert_eq!(err, MailError::new("MessageRejected"), "{tags:?}");
    }
}

/// Security review M6: SES's refusals for the rate (`TooManyRequestsException`) and the quota
/// (`LimitExceededException`) pass with time, and are reported as throttling, which a breach
/// notice is never failed for; a rejection is not.
#[tokio::test]
async fn m6_throttling_refusals_are_reported_as_throttling_and_rejections_are_not() {
    use aws_sdk_sesv2::types::error::{LimitExceededException, TooManyRequestsException};
    fn error(code: &'static str) -> SendEmailError {
        let meta = ErrorMetadata::builder().code(code).message("Maximum sending rate exceeded.").build();
        match code {
            "TooManyRequestsException" => SendEmailError::TooManyRequestsException(TooManyRequestsException::builder().meta(meta).build()),
            "LimitExceededException" => SendEmailError::LimitExceededException(LimitExceededException::builder().meta(meta).build()),
            _ => SendEmailError::MessageRejected(MessageRejected::builder().meta(meta).build()),
        }
    }
    for (code, throttled) in [("TooManyRequestsException", true), ("LimitExceededException", true), ("MessageRejected", false)] {
        let refused = mock!(aws_sdk_sesv2::Client::send_email).then_error(move || error(code));
        let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&refused]);
        let transport = SesTransport::new(
            client,
            Senders {
                public: Sending { from: "zgoda@sklep.example.pl".into(), configuration_set: None },
                notices: Sending { from: "zgoda@sklep.example.pl".into(), configuration_set: None },
            },
        );
        let err =
            transport.send_raw(MailStream::Public, &EmailAddress::parse("jan@example.pl").unwrap(), b"x".to_vec(), &[]).await.unwrap_err();
        assert_eq!((err.reason.as_str(), err.throttled), (code, throttled));
    }
}
