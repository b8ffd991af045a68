//! The deadline watch (Art. 33(1), 33(2)): every run, each breach's current reminder
//! ([`Reminder`]) is mailed to its contact point, once.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Time;
use crate::breach::Party;
use crate::deadline::{self, Reminder};
use crate::email::EmailAddress;
use crate::error::Error;
use crate::ids::BreachId;
use crate::lang::Lang;
use crate::mail::{FollowUp, Mailer, Message};
use crate::service::Zgoda;
use crate::store::{BreachRecord, BreachStore, GuardKey, Guards};
use crate::timeline::action_plan;

/// How long a deadline reminder is claimed by the run sending it: less than the 15 minutes between
/// runs, so the next run finds it free if the send failed.
pub const REMINDER_CLAIM: Duration = Duration::minutes(10);

/// One reminder a run sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSent {
    pub breach_id: BreachId,
    pub reminder: Reminder,
}

/// One breach follow-up a run sent: `subjects` (the people still untold) or an overdue action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUpSent {
    pub breach_id: BreachId,
    /// `subjects`, or the overdue action's id.
    pub about: String,
}

/// What one run of the watch sent about the breaches in the register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BreachReminders {
    /// The authority deadline's reminders.
    pub reminders: Vec<ReminderSent>,
    pub follow_ups: Vec<FollowUpSent>,
}

impl<S: BreachStore + Guards, M: Mailer, Q> Zgoda<S, M, Q> {
    /// The deadline watch's work on breaches at `now`: each breach's current deadline reminder and
    /// its due follow-ups, once each. The register is read once for both (a listing and a read of
    /// each breach, every 15 minutes).
    pub async fn breach_reminders(&self, now: Time) -> Result<BreachReminders, Error> {
        let breaches = self.store.list_breaches().await?;
        Ok(BreachReminders {
            reminders: self.deadline_reminders(&breaches, now).await?,
            follow_ups: self.follow_ups(&breaches, now).await?,
        })
    }

    /// For every open breach, the reminder current at `now`, once each.
    async fn deadline_reminders(&self, breaches: &[BreachRecord], now: Time) -> Result<Vec<ReminderSent>, Error> {
        let mut sent = Vec::new();
        for r in breaches {
            let current = r.breach.as_of(&r.timeline);
            let Some(which) = deadline::due_reminder(&current, &r.timeline, now) else { continue };
            let deadline = current.notification_deadline();
            let marker = GuardKey::Reminder(current.id.clone(), which);
            // Claimed for this run only: a send that fails leaves the reminder to the next run,
            // 15 minutes on, rather than losing it (security review L1); a sent one is kept.
            if !self.store.first_use(&marker, now + REMINDER_CLAIM, now).await? {
                continue;
            }
            let message = Message::DeadlineReminder {
                to: current.contact_point.email.clone(),
                lang: Lang::Pl,
                breach_id: current.id.clone(),
                title: current.title.clone(),
                which,
                deadline,
                controller: current.processing_for.as_ref().filter(|_| current.notifies() == Party::Controller).map(|p| p.name.clone()),
                drill: current.is_drill(),
            };
            match self.mailer.send(&message).await {
                Ok(message_id) => {
                    self.store.keep_use(&marker, deadline + Duration::days(400)).await?;
                    tracing::info!(breach = %current.id, %which, message_id = %message_id, "deadline reminder sent");
                    sent.push(ReminderSent { breach_id: current.id.clone(), reminder: which });
                }
                Err(e) => tracing::error!(breach = %current.id, %which, error = %e, "deadline reminder not sent; the next run tries again"),
            }
        }
        Ok(sent)
    }

    /// The watch's follow-ups, once each: a breach whose people have stood untold for
    /// [`deadline::SUBJECTS_REMINDER_HOURS`] (to its contact point), and each overdue action of a
    /// plan (to its owner).
    async fn follow_ups(&self, breaches: &[BreachRecord], now: Time) -> Result<Vec<FollowUpSent>, Error> {
        let mut sent = Vec::new();
        for r in breaches {
            let current = r.breach.as_of(&r.timeline);
            let a = deadline::assess(&current, &r.timeline, now);
            let mut due: Vec<(GuardKey, EmailAddress, FollowUp, String)> = Vec::new();
            if deadline::subjects_overdue(&a, now) {
                let since = a.subjects.required_since.unwrap_or(current.aware_at);
                let follow_up = FollowUp::SubjectsWaiting { since, public_notice: a.subjects.public_notice_required };
                due.push((
                    GuardKey::SubjectsReminder(current.id.clone()),
                    current.contact_point.email.clone(),
                    follow_up,
                    "subjects".into(),
                ));
            }
            for p in action_plan(&r.timeline).into_iter().filter(|p| p.overdue(now)) {
                let follow_up = FollowUp::ActionOverdue { description: p.action.description.clone(), due_at: p.due_at() };
                let key = GuardKey::ActionReminder(current.id.clone(), p.action_id.clone());
                due.push((key, p.action.owner.clone(), follow_up, p.action_id.to_string()));
            }
            for (marker, to, follow_up, about) in due {
                if !self.store.first_use(&marker, now + REMINDER_CLAIM, now).await? {
                    continue;
                }
                let message = Message::BreachFollowUp {
                    to,
                    lang: Lang::Pl,
                    breach_id: current.id.clone(),
                    title: current.title.clone(),
                    follow_up,
                    drill: current.is_drill(),
                };
                match self.mailer.send(&message).await {
                    Ok(message_id) => {
                        self.store.keep_use(&marker, now + Duration::days(400)).await?;
                        tracing::info!(breach = %current.id, %about, message_id = %message_id, "breach follow-up sent");
                        sent.push(FollowUpSent { breach_id: current.id.clone(), about });
                    }
                    Err(e) => {
                        tracing::error!(breach = %current.id, %about, error = %e, "breach follow-up not sent; the next run tries again")
                    }
                }
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breach::tests::input;
    use crate::mail::MailError;
    use crate::memory;
    use crate::register::tests::registered;

    #[tokio::test]
    async fn art33_1_each_reminder_is_sent_once_and_a_failed_send_is_tried_again_next_run() {
        let app = memory::app();
        let deadline = registered(&app, input()).await.assessment.deadline.due_at;
        assert!(app.breach_reminders(deadline - Duration::hours(25)).await.unwrap().reminders.is_empty());
        let day_left = deadline - Duration::hours(24);
        app.mailer.fail_next(MailError::new("Throttling"));
        assert!(app.breach_reminders(day_left).await.unwrap().reminders.is_empty(), "the send failed");
        let later = day_left + Duration::minutes(15);
        let sent = app.breach_reminders(later).await.unwrap().reminders;
        assert_eq!(sent.iter().map(|r| r.reminder).collect::<Vec<_>>(), [Reminder::DayLeft], "the next run sends it");
        assert!(app.breach_reminders(later + Duration::minutes(15)).await.unwrap().reminders.is_empty(), "once");
        let passed = app.breach_reminders(deadline).await.unwrap().reminders;
        assert_eq!(
            passed.iter().map(|r| r.reminder).collect::<Vec<_>>(),
            [Reminder::Passed],
            "the 6 h one was missed: the current one goes"
        );
        let reminders = app.mailer.sent().iter().filter(|m| matches!(m, Message::DeadlineReminder { .. })).count();
        assert_eq!(reminders, 2);
    }

    #[tokio::test]
    async fn art33_2_a_processors_reminders_count_its_contracts_term_and_name_its_controller() {
        let app = memory::app();
        let deadline = registered(&app, crate::register::tests::as_processor(12)).await.assessment.deadline.due_at;
        assert!(
            app.breach_reminders(deadline - Duration::hours(7)).await.unwrap().reminders.is_empty(),
            "a 12-hour term has no \"24 hours left\""
        );
        let sent = app.breach_reminders(deadline - Duration::hours(6)).await.unwrap().reminders;
        assert_eq!(sent.iter().map(|r| r.reminder).collect::<Vec<_>>(), [Reminder::SixHoursLeft]);
        assert!(matches!(
            &app.mailer.sent()[0],
            Message::DeadlineReminder { controller: Some(name), drill: false, .. } if name == "Sklep Klienta sp. z o.o."
        ));
    }
}
