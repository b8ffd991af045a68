//! Audiences (docs/api.md §4): the people whose consent for a purpose stands now, each with a
//! ready one-click unsubscribe link, so any mailing tool can send lawful mail. Only a consent
//! purpose has an audience: marketing by e-mail needs consent (PKE art. 398).

use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::{PurposeId, SubjectId};
use crate::lang::Lang;
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

/// A page of an audience as the operator API answers it and the CLI reads it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AudiencePage {
    pub items: Vec<AudienceItem>,
    /// Where the next page starts; none after the last.
    pub next_cursor: Option<String>,
}

/// One person of an audience, with what a mailing tool needs to let them leave in one click.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AudienceItem {
    pub subject_id: SubjectId,
    pub email: EmailAddress,
    pub lang: Lang,
    #[serde(with = "crate::proof::millis")]
    pub given_at: Time,
    pub unsubscribe_url: String,
    pub headers: UnsubscribeHeaders,
}

/// The RFC 8058 one-click unsubscribe headers for a mail to this person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnsubscribeHeaders {
    #[serde(rename = "List-Unsubscribe")]
    pub list_unsubscribe: String,
    #[serde(rename = "List-Unsubscribe-Post")]
    pub list_unsubscribe_post: String,
}

impl AudiencePage {
    pub fn new(rows: Vec<AudienceRow>, next_cursor: Option<String>) -> Self {
        let items = rows
            .into_iter()
            .map(|r| AudienceItem {
                subject_id: r.member.subject,
                email: r.member.email,
                lang: r.member.lang,
                given_at: r.member.given_at,
                headers: UnsubscribeHeaders {
                    list_unsubscribe: format!("<{}>", r.unsubscribe_url),
                    list_unsubscribe_post: "List-Unsubscribe=One-Click".into(),
                },
                unsubscribe_url: r.unsubscribe_url,
            })
            .collect();
        Self { items, next_cursor }
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    /// A page of the audience for a purpose, each with a ready unsubscribe link.
    pub async fn audience(
        &self,
        purpose: &PurposeId,
        cursor: Option<&str>,
        now: Time,
    ) -> Result<(Vec<AudienceRow>, Option<String>), Error> {
        let basis = self.store.declared_purpose(purpose).await?.ok_or(Error::PurposeNotFound)?.lawful_basis;
        if let Some(code) = basis.not_consent() {
            return Err(Error::field("purpose", code));
        }
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
    use crate::ids::{FormId, PurposeId};
    use crate::memory::{self, fixtures::*};

    #[tokio::test]
    async fn pke398_an_audience_lists_only_given_consent_each_with_its_own_unsubscribe_link() {
        let app = memory::app();
        let form = form(&app, single_opt_in_input()).await;
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

    #[tokio::test]
    async fn pke398_a_purpose_of_another_basis_is_no_audience_and_keeps_its_basis() {
        let app = memory::app();
        form(&app, demo_input()).await;
        let contract = app.audience(&PurposeId::parse("contact_reply").unwrap(), None, now()).await;
        assert!(
            matches!(&contract, Err(Error::Validation(f)) if (f[0].field.as_str(), f[0].code) == ("purpose", "basis_is_contract")),
            "{contract:?}"
        );
        let unknown = app.audience(&PurposeId::parse("nobody_declared").unwrap(), None, now()).await;
        assert!(matches!(unknown, Err(Error::PurposeNotFound)));

        // Relabelling the contract as consent in another form would turn its people into a list.
        let mut other = demo_input();
        other["purposes"][1] = serde_json::json!({"id": "contact_reply", "lawful_basis": "consent"});
        let input = serde_json::from_value(other).unwrap();
        let err = app.save_form(FormId::parse("other").unwrap(), input, now()).await.unwrap_err();
        assert!(
            matches!(&err, Error::Validation(f) if (f[0].field.as_str(), f[0].code) == ("purposes[1].lawful_basis", "differs_from_declared")),
            "{err:?}"
        );
        assert!(matches!(app.form(&FormId::parse("other").unwrap()).await, Err(Error::FormNotFound)), "nothing written");
    }
}
