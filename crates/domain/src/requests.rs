//! Privacy requests handled, not just recorded (Art. 12(3)–(4)): the operator lists them by due
//! date, extends one once by up to two months with reasons (within the first month, the person
//! told why), closes one as done or refused (a refusal tells the person why and where to complain);
//! a request the person completes through their link closes itself; the deadline watch reminds the
//! contact point 7 days and 1 day before a request is due and once it is overdue, once each.
//! Receiving a request is `privacy_requests.rs`.

use chrono::{Duration, Months};
use serde::{Deserialize, Serialize};

use crate::Time;
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::{OperatorId, PurposeId, RequestId, SubjectId};
use crate::lang::Lang;
use crate::mail::{Mailer, Message};
use crate::proof;
use crate::service::{APPEND_ATTEMPTS, Zgoda};
use crate::store::{GuardKey, PrivacyRequest, PrivacyRequestKind, Store, WorkQueue};

/// The longest the reasons for an extension or a refusal may be.
pub const REASONS_MAX: usize = 2000;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Due within the month of its receipt.
    Open,
    /// Due within the extended time (Art. 12(3)).
    Extended,
    Done,
    Refused,
}

impl RequestStatus {
    pub fn is_open(self) -> bool {
        matches!(self, RequestStatus::Open | RequestStatus::Extended)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Open => "open",
            RequestStatus::Extended => "extended",
            RequestStatus::Done => "done",
            RequestStatus::Refused => "refused",
        }
    }
}

/// The one extension a request may have (Art. 12(3)): the new due date and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    #[serde(with = "crate::proof::millis")]
    pub due_at: Time,
    pub reasons: String,
    #[serde(with = "crate::proof::millis")]
    pub at: Time,
    pub by: OperatorId,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedAs {
    Done,
    Refused,
}

impl ClosedAs {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedAs::Done => "done",
            ClosedAs::Refused => "refused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    pub outcome: ClosedAs,
    /// Required for a refusal (Art. 12(4)); the operator's note otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<String>,
    #[serde(with = "crate::proof::millis")]
    pub at: Time,
    /// The operator who closed it; none when the person completed it through their link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<OperatorId>,
}

impl PrivacyRequest {
    pub fn status(&self) -> RequestStatus {
        match (&self.closing, &self.extension) {
            (Some(c), _) => match c.outcome {
                ClosedAs::Done => RequestStatus::Done,
                ClosedAs::Refused => RequestStatus::Refused,
            },
            // Answered in full when it arrived: there is nothing held to give or erase, or the
            // answer went out with another request's mail.
            (None, _) if matches!(self.outcome.as_str(), "no_data_held" | "folded") => RequestStatus::Done,
            (None, Some(_)) => RequestStatus::Extended,
            (None, None) => RequestStatus::Open,
        }
    }

    /// When the answer is due: the extended date, else a month from receipt.
    pub fn due(&self) -> Time {
        self.extension.as_ref().map_or(self.due_at, |e| e.due_at)
    }
}

/// The contact point's reminders of a request's due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RequestReminder {
    #[serde(rename = "7d")]
    WeekLeft,
    #[serde(rename = "1d")]
    DayLeft,
    #[serde(rename = "overdue")]
    Overdue,
}

impl RequestReminder {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestReminder::WeekLeft => "7d",
            RequestReminder::DayLeft => "1d",
            RequestReminder::Overdue => "overdue",
        }
    }

    /// The reminder current at `now` for a request due at `due`: the most urgent one that applies.
    pub fn current(due: Time, now: Time) -> Option<Self> {
        let left = due - now;
        if left <= Duration::zero() {
            Some(RequestReminder::Overdue)
        } else if left <= Duration::days(1) {
            Some(RequestReminder::DayLeft)
        } else if left <= Duration::days(7) {
            Some(RequestReminder::WeekLeft)
        } else {
            None
        }
    }
}

/// A request as the operator API shows it and the CLI reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    pub request_id: RequestId,
    pub subject_id: SubjectId,
    pub kind: PrivacyRequestKind,
    /// The purpose an objection is about, once the person has named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<PurposeId>,
    pub status: RequestStatus,
    #[serde(with = "crate::proof::millis")]
    pub received_at: Time,
    /// When the answer is due now (extended or not).
    #[serde(with = "crate::proof::millis")]
    pub due_at: Time,
    /// A month from receipt: after it, no extension.
    #[serde(with = "crate::proof::millis")]
    pub first_due_at: Time,
    pub overdue: bool,
    /// What the automatic answer was (`link_sent`, `no_data_held`, …).
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<Extension>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing: Option<Closing>,
}

impl RequestView {
    fn of(subject: SubjectId, r: PrivacyRequest, now: Time) -> Self {
        let status = r.status();
        Self {
            overdue: status.is_open() && r.due() <= now,
            due_at: r.due(),
            first_due_at: r.due_at,
            request_id: r.request_id,
            subject_id: subject,
            kind: r.kind,
            purpose: r.purpose,
            status,
            received_at: r.received_at,
            outcome: r.outcome,
            extension: r.extension,
            closing: r.closing,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestList {
    pub items: Vec<RequestView>,
}

/// Which requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFilter {
    /// Open and extended ones, by due date; only those due within the given time if any.
    Open { due_within: Option<Duration> },
    /// Done and refused ones, latest first.
    Closed,
}

/// The operator's extension, as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionInput {
    /// By how many months: 1 or 2.
    pub months: u32,
    pub reasons: String,
}

/// The operator's closing, as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosingInput {
    pub outcome: ClosedAs,
    #[serde(default)]
    pub reasons: Option<String>,
}

/// A reminder a run sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestReminderSent {
    pub request_id: RequestId,
    pub reminder: RequestReminder,
}

/// Reasons as given: trimmed, present, at most [`REASONS_MAX`] characters.
fn reasons(text: Option<&str>) -> Result<String, Error> {
    match text.map(str::trim).filter(|r| !r.is_empty()) {
        None => Err(Error::field("reasons", "required")),
        Some(r) if r.chars().count() > REASONS_MAX => Err(Error::field("reasons", "too_long")),
        Some(r) => Ok(r.to_owned()),
    }
}

/// A request that has ended cannot change.
fn still_open(request: &PrivacyRequest) -> Result<(), Error> {
    match request.status().is_open() {
        true => Ok(()),
        false => Err(Error::field("request", "closed")),
    }
}

impl<S: Store, M: Mailer, Q: WorkQueue> Zgoda<S, M, Q> {
    pub async fn requests(&self, filter: RequestFilter, now: Time) -> Result<RequestList, Error> {
        let listed = match filter {
            RequestFilter::Open { due_within } => self.store.list_requests(true, due_within.map(|d| now + d)).await?,
            RequestFilter::Closed => self.store.list_requests(false, None).await?,
        };
        Ok(RequestList { items: listed.into_iter().map(|(subject, r)| RequestView::of(subject, r, now)).collect() })
    }

    pub async fn request(&self, id: &RequestId, now: Time) -> Result<RequestView, Error> {
        let (subject, r) = self.store.load_request(id).await?.ok_or(Error::RequestNotFound)?;
        Ok(RequestView::of(subject, r, now))
    }

    /// Extends a request once, within its first month, by one or two months; the person is mailed
    /// the reasons (Art. 12(3)).
    pub async fn extend_request(&self, id: &RequestId, input: ExtensionInput, by: &OperatorId, now: Time) -> Result<RequestView, Error> {
        let reasons = reasons(Some(&input.reasons))?;
        if !(1..=2).contains(&input.months) {
            return Err(Error::field("months", "invalid"));
        }
        let now = proof::to_millis(now);
        let (subject, request, to) = self
            .change_request(id, true, |r| {
                still_open(r)?;
                if r.extension.is_some() {
                    return Err(Error::field("request", "already_extended"));
                }
                // Art. 12(3): the person is told of an extension within the first month.
                if now > r.due_at {
                    return Err(Error::field("request", "first_month_over"));
                }
                let due_at =
                    r.due_at.checked_add_months(Months::new(input.months)).unwrap_or(r.due_at + Duration::days(30 * input.months as i64));
                r.extension = Some(Extension { due_at, reasons: reasons.clone(), at: now, by: by.clone() });
                Ok(())
            })
            .await?;
        let extension = request.extension.clone().expect("just extended");
        let (to, lang) = to.expect("told");
        let message =
            Message::RequestExtended { to, lang, kind: request.kind, received_at: request.received_at, due_at: extension.due_at, reasons };
        self.send_logged(&message).await;
        tracing::info!(operator = %by, request = %id, subject = %subject, due = %proof::format_time(&extension.due_at), "privacy request extended");
        Ok(RequestView::of(subject, request, now))
    }

    /// Closes a request as done or refused; a refusal mails the person the reasons and their
    /// right to complain to the PUODO and to a court (Art. 12(4)).
    pub async fn close_request(&self, id: &RequestId, input: ClosingInput, by: &OperatorId, now: Time) -> Result<RequestView, Error> {
        let reasons = match input.outcome {
            ClosedAs::Refused => Some(reasons(input.reasons.as_deref())?),
            ClosedAs::Done => input.reasons.as_deref().map(|r| reasons(Some(r))).transpose()?,
        };
        let now = proof::to_millis(now);
        let refused = input.outcome == ClosedAs::Refused;
        // An objection's decision is recorded in the person's chain first, so that a close that
        // fails after it is retried and records it once (`decide_objection` is idempotent).
        if let Some((subject, request)) = self.store.load_request(id).await?
            && let (PrivacyRequestKind::Objection, Some(purpose), true) = (request.kind, &request.purpose, request.status().is_open())
        {
            self.decide_objection(&self.current_subject(&subject).await?, purpose, !refused, now).await?;
        }
        let (subject, request, to) = self
            .change_request(id, refused, |r| {
                still_open(r)?;
                r.closing = Some(Closing { outcome: input.outcome, reasons: reasons.clone(), at: now, by: Some(by.clone()) });
                Ok(())
            })
            .await?;
        if let (Some((to, lang)), Some(reasons), true) = (to, reasons, refused) {
            let message = Message::RequestRefused { to, lang, kind: request.kind, received_at: request.received_at, reasons };
            self.send_logged(&message).await;
        }
        tracing::info!(operator = %by, request = %id, subject = %subject, outcome = ?input.outcome, "privacy request closed");
        Ok(RequestView::of(subject, request, now))
    }

    /// Applies `change` to the stored request and writes it over the one read, again if it moved
    /// meanwhile. A change the person must be told of (`tell`) needs their address on file; the
    /// answer carries it.
    async fn change_request(
        &self,
        id: &RequestId,
        tell: bool,
        change: impl Fn(&mut PrivacyRequest) -> Result<(), Error>,
    ) -> Result<(SubjectId, PrivacyRequest, Option<(EmailAddress, Lang)>), Error> {
        for _ in 0..APPEND_ATTEMPTS {
            let (subject, mut request) = self.store.load_request(id).await?.ok_or(Error::RequestNotFound)?;
            change(&mut request)?;
            let mut to = self.store.load_profile(&subject).await?.map(|p| (p.email, p.lang));
            if to.is_none() {
                // Moved to another address since: told there.
                to = self.store.load_profile(&self.current_subject(&subject).await?).await?.map(|p| (p.email, p.lang));
            }
            if tell && to.is_none() {
                // Erased since, or never held: the controller tells them by other means, and
                // closes the request as done.
                return Err(Error::field("request", "address_not_held"));
            }
            request.revision += 1;
            if self.store.update_request(&subject, &request).await? {
                return Ok((subject, request, to));
            }
        }
        Err(Error::Unavailable("the request kept changing".into()))
    }

    /// Closes the person's open requests of `kind` once their link has done what they asked
    /// (the erasure done, the export downloaded). A failure is logged: the operator can still
    /// close the request by hand.
    pub(crate) async fn close_completed(&self, subject: &SubjectId, kind: PrivacyRequestKind, now: Time) {
        let requests = match self.store.load_subject(subject).await {
            Ok(record) => record.requests,
            Err(e) => {
                tracing::warn!(subject = %subject, error = %e, "completed requests not closed");
                return;
            }
        };
        for mut request in requests.into_iter().filter(|r| r.kind == kind && r.status().is_open()) {
            request.closing = Some(Closing { outcome: ClosedAs::Done, reasons: None, at: proof::to_millis(now), by: None });
            request.revision += 1;
            match self.store.update_request(subject, &request).await {
                Ok(_) => tracing::info!(request = %request.request_id, subject = %subject, "privacy request completed by the person"),
                Err(e) => tracing::warn!(request = %request.request_id, error = %e, "completed request not closed"),
            }
        }
    }

    /// The deadline watch's part for requests: each open request's current reminder, mailed to the
    /// controller's contact point (its DPO if it has one) once.
    pub async fn request_reminders(&self, now: Time) -> Result<Vec<RequestReminderSent>, Error> {
        let contact = self.settings.controller.dpo_email.clone().unwrap_or_else(|| self.settings.controller.email.clone());
        let mut sent = Vec::new();
        for (_, request) in self.store.list_requests(true, Some(now + Duration::days(7))).await? {
            let Some(which) = RequestReminder::current(request.due(), now) else { continue };
            let marker = GuardKey::RequestReminder(request.request_id.clone(), which);
            // Claimed for this run only, as a breach's reminder is: a failed send is tried again.
            if !self.store.first_use(&marker, now + crate::reminders::REMINDER_CLAIM, now).await? {
                continue;
            }
            let message = Message::RequestReminder {
                to: contact.clone(),
                lang: Lang::Pl,
                request_id: request.request_id.clone(),
                kind: request.kind,
                due_at: request.due(),
                which,
            };
            match self.mailer.send(&message).await {
                Ok(message_id) => {
                    self.store.keep_use(&marker, request.kept_until()).await?;
                    tracing::info!(request = %request.request_id, which = which.as_str(), message_id = %message_id, "request reminder sent");
                    sent.push(RequestReminderSent { request_id: request.request_id, reminder: which });
                }
                Err(e) => tracing::error!(request = %request.request_id, error = %e, "request reminder not sent; the next run tries again"),
            }
        }
        Ok(sent)
    }
}

/// Request handling over the in-memory adapters.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Lang;
    use crate::memory::{MemoryApp, fixtures::*};
    use crate::privacy_requests::Asked;
    use crate::privacy_requests::tests::{app, solved};

    fn ops() -> OperatorId {
        crate::breach::tests::ops()
    }

    /// Anna, on file, asks for `kind` at `now()`; the request's id.
    async fn asked(app: &MemoryApp, kind: PrivacyRequestKind) -> RequestId {
        let form = form(app, demo_input()).await;
        post(app, &form, "anna@example.pl", &["contact_reply"]).await.unwrap();
        let asked = Asked::new(email("anna@example.pl"), kind, Lang::En);
        let id = asked.id.clone();
        app.privacy_request(asked, &solved(app), None, now()).await.unwrap();
        id
    }

    fn extension(months: u32, reasons: &str) -> ExtensionInput {
        ExtensionInput { months, reasons: reasons.into() }
    }

    #[tokio::test]
    async fn art12_3_an_extension_within_the_first_month_moves_the_due_date_and_tells_the_person_why() {
        let app = app();
        let id = asked(&app, PrivacyRequestKind::Access).await;
        let listed = app.requests(RequestFilter::Open { due_within: Some(Duration::days(32)) }, now()).await.unwrap();
        assert_eq!(listed.items.iter().map(|r| (&r.request_id, r.status)).collect::<Vec<_>>(), [(&id, RequestStatus::Open)]);

        let view =
            app.extend_request(&id, extension(2, "Wiele systemów do przeszukania."), &ops(), now() + Duration::days(20)).await.unwrap();
        assert_eq!(view.status, RequestStatus::Extended);
        assert_eq!(view.due_at, view.first_due_at.checked_add_months(Months::new(2)).unwrap());
        let Some(Message::RequestExtended { due_at, reasons, lang, .. }) = mail_to(&app, "anna@example.pl").pop() else {
            panic!("no mail")
        };
        assert_eq!((due_at, reasons.as_str(), lang), (view.due_at, "Wiele systemów do przeszukania.", Lang::Pl));

        let again = app.extend_request(&id, extension(1, "Jeszcze raz."), &ops(), now() + Duration::days(21)).await.unwrap_err();
        assert!(matches!(&again, Error::Validation(f) if f[0].field == "request" && f[0].code == "already_extended"), "{again:?}");
    }

    #[tokio::test]
    async fn art12_3_an_extension_after_the_first_month_or_without_reasons_is_refused_and_changes_nothing() {
        let app = app();
        let id = asked(&app, PrivacyRequestKind::Access).await;
        let first_due = app.request(&id, now()).await.unwrap().first_due_at;
        let late = app.extend_request(&id, extension(1, "Za późno."), &ops(), first_due + Duration::minutes(1)).await.unwrap_err();
        assert!(matches!(&late, Error::Validation(f) if f[0].field == "request" && f[0].code == "first_month_over"), "{late:?}");
        let bare = app.extend_request(&id, extension(1, "  "), &ops(), now()).await.unwrap_err();
        assert!(matches!(&bare, Error::Validation(f) if f[0].field == "reasons" && f[0].code == "required"), "{bare:?}");
        let three = app.extend_request(&id, extension(3, "Długo."), &ops(), now()).await.unwrap_err();
        assert!(matches!(&three, Error::Validation(f) if f[0].field == "months"), "{three:?}");
        assert_eq!(app.request(&id, now()).await.unwrap().status, RequestStatus::Open, "nothing written");
        assert_eq!(mail_to(&app, "anna@example.pl").len(), 1, "only the access link: no extension mail");
    }

    #[tokio::test]
    async fn art12_4_a_refusal_tells_the_person_why_and_closes_the_request() {
        let app = app();
        let id = asked(&app, PrivacyRequestKind::Erasure).await;
        let bare = app.close_request(&id, ClosingInput { outcome: ClosedAs::Refused, reasons: None }, &ops(), now()).await.unwrap_err();
        assert!(matches!(&bare, Error::Validation(f) if f[0].field == "reasons"), "{bare:?}");
        let input = ClosingInput { outcome: ClosedAs::Refused, reasons: Some("Dane są potrzebne do rozliczeń podatkowych.".into()) };
        let view = app.close_request(&id, input, &ops(), now()).await.unwrap();
        assert_eq!((view.status, view.closing.unwrap().by), (RequestStatus::Refused, Some(ops())));
        assert!(
            matches!(mail_to(&app, "anna@example.pl").pop(), Some(Message::RequestRefused { reasons, .. }) if reasons.contains("podatkowych"))
        );
        let closed = app.requests(RequestFilter::Closed, now()).await.unwrap();
        assert_eq!(closed.items.len(), 1);
        assert!(app.requests(RequestFilter::Open { due_within: None }, now()).await.unwrap().items.is_empty());
        let twice = app.close_request(&id, ClosingInput { outcome: ClosedAs::Done, reasons: None }, &ops(), now()).await.unwrap_err();
        assert!(matches!(&twice, Error::Validation(f) if f[0].code == "closed"), "{twice:?}");
    }

    #[tokio::test]
    async fn art12_3_a_request_the_person_completes_through_their_link_closes_itself() {
        let app = app();
        let id = asked(&app, PrivacyRequestKind::Access).await;
        let Some(Message::ActionLink { url, .. }) = mail_to(&app, "anna@example.pl").pop() else { panic!("no link") };
        app.act_on_link(&token(&url), None, now()).await.unwrap();
        let view = app.request(&id, now()).await.unwrap();
        assert_eq!((view.status, view.closing.unwrap().by), (RequestStatus::Done, None), "closed by the person, not an operator");
    }

    #[tokio::test]
    async fn art12_3_the_contact_point_is_reminded_once_each_at_7_days_1_day_and_overdue() {
        let app = app();
        let id = asked(&app, PrivacyRequestKind::Access).await;
        let due = app.request(&id, now()).await.unwrap().due_at;
        let reminded = |at: Time| {
            let app = &app;
            async move { app.request_reminders(at).await.unwrap().into_iter().map(|r| r.reminder).collect::<Vec<_>>() }
        };
        assert_eq!(reminded(due - Duration::days(8)).await, []);
        assert_eq!(reminded(due - Duration::days(7)).await, [RequestReminder::WeekLeft]);
        assert_eq!(reminded(due - Duration::days(6)).await, [], "once");
        assert_eq!(reminded(due - Duration::hours(23)).await, [RequestReminder::DayLeft]);
        assert_eq!(reminded(due + Duration::minutes(1)).await, [RequestReminder::Overdue]);
        assert_eq!(reminded(due + Duration::days(3)).await, [], "once");
        let to = app.settings.controller.dpo_email.clone().unwrap_or(app.settings.controller.email.clone());
        let reminders = app.mailer.sent().into_iter().filter(|m| matches!(m, Message::RequestReminder { .. }) && m.to() == &to).count();
        assert_eq!(reminders, 3, "to the controller's contact point");

        app.close_request(&id, ClosingInput { outcome: ClosedAs::Done, reasons: None }, &ops(), due + Duration::days(4)).await.unwrap();
        assert!(app.request_reminders(due + Duration::days(5)).await.unwrap().is_empty(), "a closed request is not reminded of");
    }

    /// The names the CLI prints are the ones the API sends.
    #[test]
    fn each_status_and_outcome_names_itself_as_serde_does() {
        for status in [RequestStatus::Open, RequestStatus::Extended, RequestStatus::Done, RequestStatus::Refused] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for outcome in [ClosedAs::Done, ClosedAs::Refused] {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str());
        }
    }
}
