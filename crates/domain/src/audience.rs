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

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::ids::PurposeId;
    use crate::memory::{self, fixtures::*};

    #[tokio::test]
    async fn pke398_an_audience_lists_only_given_consent_each_with_its_own_unsubscribe_link() {
        let app = memory::app();
        let mut input = demo_input();
        input["purposes"][0]["double_opt_in"] = false.into();
        let form = form(&app, input).await;
        post(&app, &form, "anna@example.pl", &["newsletter", "contact_reply"]).await.unwrap();
        post(&app, &form, "jan@example.pl", &["contact_reply"]).await.unwrap();
        let newsletter = PurposeId::parse("newsletter").unwrap();
        let (rows, next) = app.audience(&newsletter, None, now()).await.unwrap();
        let emails: Vec<_> = rows.iter().map(|r| r.member.email.as_str()).collect();
        assert_eq!((emails, next), (vec!["anna@example.pl"], None), "jan refused: not in it");
        let (claims, _) = app.act_on_link(&token(&rows[0].unsubscribe_url), None, now()).await.unwrap();
        assert_eq!((claims.subject, claims.purpose), (rows[0].member.subject.clone(), Some(newsletter.clone())));

        let bad = app.audience(&newsletter, Some("not-a-cursor"), now()).await;
        assert!(matches!(bad, Err(Error::Validation(f)) if f[0].field == "cursor"));
    }
}
