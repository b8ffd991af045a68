//! Operator request authentication (docs/api.md §4): signature, clock skew, then a replay guard.
//! Every failure is the same bare 401; the reason goes to the log only.

use chrono::Duration;
use lambda_http::Request;
use zgoda_domain::ids::{Kid, OperatorId};
use zgoda_domain::operator_sig::{self, MAX_SKEW_SECS, SignedRequest};
use zgoda_domain::store::{GuardKey, Guards};
use zgoda_domain::{Time, Zgoda};

use crate::error::ApiError;
use crate::request::{header, path_and_query};

/// The authenticated operator: the id of the key that signed the request.
pub async fn authenticate<S: Guards, M, Q>(app: &Zgoda<S, M, Q>, req: &Request, now: Time) -> Result<OperatorId, ApiError> {
    refuse_unsigned(req)?;
    let body = crate::body::bytes(req)?;
    let path_and_query = path_and_query(req);
    let request = SignedRequest::new(req.method().as_str(), header(req, "host").unwrap_or(""), &path_and_query, body)
        .with_idempotency_key(header(req, "idempotency-key"));
    let ring = app.keys.operators(now).await.map_err(|e| {
        tracing::error!(error = %e, "the operators' key ring could not be read again");
        zgoda_domain::Error::Unavailable("the operators' key ring could not be read".into())
    })?;
    let signed = operator_sig::verify(&ring, header(req, "authorization"), now.timestamp(), &request).map_err(|reason| {
        tracing::warn!(?reason, "operator request refused");
        ApiError::Unauthorized
    })?;
    // A signature is good for the skew window on either side; remembering it a little longer
    // than that makes every replay within its validity visible.
    let expires = chrono::DateTime::from_timestamp(signed.ts, 0).unwrap_or(now) + Duration::seconds(MAX_SKEW_SECS + 60);
    if !app.store.first_use(&GuardKey::OperatorSignature(signed.sig.clone()), expires, now).await.map_err(zgoda_domain::Error::from)? {
        tracing::warn!(reason = "Replayed", "operator request refused");
        return Err(ApiError::Unauthorized);
    }
    // The ring found the key under this id, so it is a key id.
    Kid::parse(&signed.kid).map(OperatorId::new).ok_or(ApiError::Unauthorized)
}

/// Refuses a request that no key could make an operator's: its Authorization header is missing,
/// or is not a signature in zgoda's scheme. It needs no key, so a cold instance answers it before
/// its key rings arrive ([`crate::app::Starting`]); [`authenticate`] starts with it, so the
/// answer is the same either way.
pub fn refuse_unsigned(req: &Request) -> Result<(), ApiError> {
    match header(req, "authorization").and_then(operator_sig::parse_header) {
        Some(_) => Ok(()),
        None => {
            tracing::warn!(reason = ?operator_sig::AuthFailure::MissingOrMalformed, "operator request refused");
            Err(ApiError::Unauthorized)
        }
    }
}
