//! The domain's one error type. The web crate maps each variant to an HTTP status in one place.

use crate::FieldError;
use crate::store::{AppendError, SaveFormError, StoreError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("no such form")]
    FormNotFound,
    #[error("no such subject")]
    SubjectNotFound,
    #[error("no such breach")]
    BreachNotFound,
    #[error("no such escalation")]
    EscalationNotFound,
    #[error("no such notice")]
    NoticeNotFound,
    /// No form declares the purpose.
    #[error("no such purpose")]
    PurposeNotFound,
    #[error("no such smoke run")]
    SmokeRunNotFound,
    #[error("no such privacy request")]
    RequestNotFound,
    #[error("no such reporting channel")]
    ChannelNotFound,
    #[error("no such incident")]
    IncidentNotFound,
    #[error("no such processor")]
    ProcessorNotFound,
    #[error("no such webhook endpoint")]
    EndpointNotFound,
    /// The idempotency key was used before with another body.
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyConflict,
    /// The first request with this key is still running.
    #[error("a request with this Idempotency-Key is still in progress")]
    IdempotencyInProgress,
    #[error("the input is not valid")]
    Validation(Vec<FieldError>),
    /// The page showed a notice version that is unknown or retired.
    #[error("the consent text on the page is out of date")]
    StaleNotice,
    #[error("a notice with this version and other text already exists")]
    NoticeVersionExists,
    /// A link token that is malformed, tampered with, under an unknown key, or of another kind.
    #[error("the link is not valid")]
    InvalidLink,
    /// An authentic link past its expiry (or whose request is no longer pending).
    #[error("the link has expired")]
    LinkExpired { renewable: bool },
    /// An authentic, single-use link (access, erase) that was used before.
    #[error("the link was used before")]
    LinkUsed,
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// A processor's breach has no recorded instruction from its controller to tell the people
    /// (Art. 28(3)(f)).
    #[error("a processor tells the people only on its controller's recorded instruction")]
    ControllerInstructionRequired,
    /// A dependency failed; nothing was half-written.
    #[error("a dependency is unavailable")]
    Unavailable(String),
}

impl Error {
    pub fn field(field: impl Into<String>, code: &'static str) -> Self {
        Error::Validation(vec![FieldError::new(field, code)])
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Validation(vec![e])
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Unavailable(e.to_string())
    }
}

impl From<SaveFormError> for Error {
    fn from(e: SaveFormError) -> Self {
        match e {
            SaveFormError::NoticeVersionExists => Error::NoticeVersionExists,
            SaveFormError::BasisDeclared(_) => Error::field("purposes", "lawful_basis_differs_from_declared"),
            SaveFormError::Store(s) => s.into(),
        }
    }
}

impl From<AppendError> for Error {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Conflict => Error::Unavailable("the subject's chain kept moving".into()),
            AppendError::Spent => Error::LinkUsed,
            AppendError::Store(s) => s.into(),
        }
    }
}
