//! The one place where errors become HTTP: status, `code`, human message and `fields`, as docs/api.md
//! sets out. Handlers return `ApiError`; nothing else picks a status for an error.

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;
use zgoda_domain::{Error, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] Error),
    #[error("the body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("this content type is not accepted here")]
    UnsupportedMediaType,
    #[error("the body could not be read: {0}")]
    MalformedBody(&'static str),
    #[error("this origin may not post to the form")]
    OriginNotAllowed,
    #[error("unauthorized")]
    Unauthorized,
    #[error("no such route")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Domain(e) => match e {
                Error::FormNotFound
                | Error::SubjectNotFound
                | Error::BreachNotFound
                | Error::EscalationNotFound
                | Error::NoticeNotFound
                | Error::PurposeNotFound
                | Error::SmokeRunNotFound
                | Error::RequestNotFound
                | Error::ChannelNotFound
                | Error::IncidentNotFound
                | Error::ProcessorNotFound
                | Error::EndpointNotFound => StatusCode::NOT_FOUND,
                Error::IdempotencyConflict | Error::IdempotencyInProgress => StatusCode::CONFLICT,
                Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Error::StaleNotice | Error::NoticeVersionExists | Error::ControllerInstructionRequired => StatusCode::CONFLICT,
                Error::InvalidLink => StatusCode::BAD_REQUEST,
                Error::LinkExpired { .. } | Error::LinkUsed => StatusCode::GONE,
                Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            ApiError::OriginNotAllowed => StatusCode::FORBIDDEN,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Domain(e) => match e {
                Error::FormNotFound => "form_not_found",
                Error::SubjectNotFound => "subject_not_found",
                Error::BreachNotFound => "breach_not_found",
                Error::EscalationNotFound => "escalation_not_found",
                Error::NoticeNotFound => "notice_not_found",
                Error::PurposeNotFound => "purpose_not_found",
                Error::SmokeRunNotFound => "smoke_run_not_found",
                Error::RequestNotFound => "request_not_found",
                Error::ChannelNotFound => "channel_not_found",
                Error::IncidentNotFound => "incident_not_found",
                Error::ProcessorNotFound => "processor_not_found",
                Error::EndpointNotFound => "endpoint_not_found",
                Error::IdempotencyConflict => "idempotency_conflict",
                Error::IdempotencyInProgress => "idempotency_in_progress",
                Error::Validation(_) => "validation_failed",
                Error::StaleNotice => "stale_notice",
                Error::NoticeVersionExists => "notice_version_exists",
                Error::ControllerInstructionRequired => "controller_instruction_required",
                Error::InvalidLink => "invalid_link",
                Error::LinkExpired { .. } => "link_expired",
                Error::LinkUsed => "link_used",
                Error::RateLimited { .. } => "rate_limited",
                Error::Unavailable(_) => "service_unavailable",
            },
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::MalformedBody(_) => "malformed_body",
            ApiError::OriginNotAllowed => "origin_not_allowed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
        }
    }

    /// A sentence for people. Never echoes input, so it cannot carry personal data; a failed
    /// dependency is described only in the logs.
    pub fn message(&self) -> String {
        match self {
            ApiError::Domain(Error::Unavailable(_)) => "A service zgoda depends on is unavailable; nothing was saved. Please retry.".into(),
            ApiError::Domain(Error::Validation(_)) => "Some fields are missing or invalid.".into(),
            ApiError::Domain(Error::StaleNotice) => {
                "The consent text on this page is out of date; reload the page and submit again.".into()
            }
            ApiError::Domain(Error::RateLimited { retry_after_secs }) => format!("Too many requests; retry in {retry_after_secs} seconds."),
            other => {
                let s = other.to_string();
                let mut c = s.chars();
                c.next().map(|f| f.to_uppercase().chain(c).collect::<String>() + ".").unwrap_or_default()
            }
        }
    }

    pub fn fields(&self) -> Option<&[FieldError]> {
        match self {
            ApiError::Domain(Error::Validation(f)) => Some(f),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Domain(Error::RateLimited { retry_after_secs }) => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// Logs the failure (server-side details only for 5xx) and builds the JSON error response.
    pub fn to_json_response(&self) -> Response<Body> {
        self.log();
        let mut error = json!({"code": self.code(), "message": self.message()});
        if let Some(fields) = self.fields() {
            error["fields"] = json!(fields.iter().map(|f| json!({"field": f.field, "code": f.code})).collect::<Vec<_>>());
        }
        let mut resp = crate::respond::json(self.status(), &json!({ "error": error }));
        self.add_headers(&mut resp);
        resp
    }

    pub fn add_headers(&self, resp: &mut Response<Body>) {
        if let Some(secs) = self.retry_after() {
            resp.headers_mut().insert(http::header::RETRY_AFTER, secs.into());
        }
        if matches!(self, ApiError::Unauthorized) {
            resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static(zgoda_domain::operator_sig::SCHEME));
        }
    }

    pub fn log(&self) {
        match self {
            ApiError::Domain(Error::Unavailable(detail)) => tracing::error!(code = self.code(), detail = %detail, "dependency failed"),
            _ => tracing::info!(code = self.code(), status = self.status().as_u16(), "request refused"),
        }
    }
}
