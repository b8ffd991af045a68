//! Audiences (docs/api.md §4): the people whose consent for a purpose stands now, each with a
//! ready one-click unsubscribe link, so any mailing tool can send lawful mail.

use crate::Time;
use crate::error::Error;
use crate::ids::PurposeId;
use crate::mail::Mailer;
use crate::service::Zgoda;
use crate::store::{AudienceError, AudienceMember};
use crate::store::{Store, WorkQueue};
use crate::token::{LinkAction, LinkClaims};

/// One audience row as the API shows it.
#[derive(Debug, Clone)]
pub struct AudienceRow {
    pub member: AudienceMember,
    pub unsubscribe_url: String,
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// A page of the audience for a purpose, each with a ready unsubscribe link.
    pub async fn audience(
        &self,
        purpose: &PurposeId,
        cursor: Option<&str>,
        now: Time,
    ) -> Result<(Vec<AudienceRow>, Option<String>), Error> {
        let (members, next) = self.store.audience(purpose, cursor, 100).await.map_err(|e| match e {
            AudienceError::BadCursor => Error::field("cursor", "invalid"),
            AudienceError::Store(s) => s.into(),
        })?;
        let rows = members
            .into_iter()
            .map(|m| {
                let claims = LinkClaims::new(
                    LinkAction::Unsubscribe,
                    m.subject.clone(),
                    Some(purpose.clone()),
                    None,
                    now + self.settings.unsubscribe_ttl,
                );
                AudienceRow { unsubscribe_url: self.link_url(&claims), member: m }
            })
            .collect();
        Ok((rows, next))
    }
}
