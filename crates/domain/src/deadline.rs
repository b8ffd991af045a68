//! The notification clock, computed on read and never stored: the authority's 72 hours (Art.
//! 33(1)) for a controller, the contract's term to the controller for a processor (Art. 33(2)).
//! What the register says a breach needs now, and which deadline reminder is current.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Time;
use crate::breach::{Breach, Party};
use crate::proof::millis;
use crate::severity::Band;
use crate::timeline::{Notification, SubjectsDecision, TimelineEntry, TimelineEvent};

/// Where the first notification (to the authority, or a processor's to its controller) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineStatus {
    /// Low band: no notification is required (Art. 33(1), unlikely to result in a risk). Never
    /// for a processor, which tells its controller of every breach (Art. 33(2)).
    NotRequired,
    /// Required, not yet made, and the 72 hours are still running.
    Open,
    /// Required, not yet made, and the 72 hours have passed.
    Late,
    Notified,
    NotifiedLate,
}

/// The notification clock as of `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineState {
    /// Who is told: `authority` or, for a processor, `controller`.
    pub notify: Party,
    /// When they must have been told.
    #[serde(with = "millis")]
    pub due_at: Time,
    /// The authority's 72 hours, for a controller's breach only.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::proof::opt_millis")]
    pub authority_deadline: Option<Time>,
    pub status: DeadlineStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours_left: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_by: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_by_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::proof::opt_millis")]
    pub notified_at: Option<Time>,
}

fn hours(secs: i64) -> f64 {
    (secs as f64 / 36.0).floor() / 100.0
}

/// What the register says about a breach now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub authority_notification_required: bool,
    /// A processor's duty to tell its controller (Art. 33(2)): every breach, whatever the band.
    pub controller_notification_required: bool,
    /// For a controller, from the band (Art. 34(1)); for a processor, only once the controller's
    /// instruction to tell the people is recorded (Art. 28(3)(f)).
    pub subjects_notification_required: bool,
    /// Whether a processor holds its controller's instruction to tell the people.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub controller_instruction: bool,
    /// The latest decision, when it is an Art. 34(3) exemption.
    pub exemption: Option<SubjectsDecision>,
    pub deadline: DeadlineState,
}

/// When the first notification was made: to the authority, or for a processor to its controller.
fn notified(breach: &Breach, timeline: &[TimelineEvent]) -> Option<Time> {
    timeline.iter().find_map(|e| match (&e.entry, breach.notifies()) {
        (TimelineEntry::AuthorityNotified(Notification { notified_at, .. }), Party::Authority)
        | (TimelineEntry::ControllerNotified(Notification { notified_at, .. }), Party::Controller) => Some(*notified_at),
        _ => None,
    })
}

/// Whether a processor's controller instructed it to tell the people (Art. 28(3)(f)).
pub fn instructed(timeline: &[TimelineEvent]) -> bool {
    timeline.iter().any(|e| matches!(e.entry, TimelineEntry::ControllerInstruction { .. }))
}

pub fn assess(breach: &Breach, timeline: &[TimelineEvent], now: Time) -> Assessment {
    let party = breach.notifies();
    let deadline = breach.notification_deadline();
    let (authority_required, controller_required) = match party {
        Party::Authority => (breach.severity.band != Band::Low, false),
        Party::Controller => (false, true),
    };
    let decision = timeline.iter().rev().find_map(|e| match &e.entry {
        TimelineEntry::SubjectsDecision(d) => Some(d),
        _ => None,
    });
    let exemption = decision.filter(|d| matches!(d, SubjectsDecision::Exempt { .. })).cloned();
    let instruction = party == Party::Controller && instructed(timeline);
    let subjects_required = exemption.is_none()
        && match party {
            Party::Authority => breach.severity.band >= Band::High,
            // A processor never tells the people on its own (Art. 33(2), 28(3)(f)).
            Party::Controller => instruction,
        };
    let notified_at = notified(breach, timeline);
    let mut state = DeadlineState {
        notify: party,
        due_at: deadline,
        authority_deadline: (party == Party::Authority).then(|| breach.authority_deadline()),
        status: DeadlineStatus::Open,
        hours_left: None,
        seconds_left: None,
        late_by: None,
        late_by_seconds: None,
        notified_at,
    };
    match notified_at {
        Some(t) if t > deadline => {
            state.status = DeadlineStatus::NotifiedLate;
            state.late_by_seconds = Some((t - deadline).num_seconds());
            state.late_by = Some(hours((t - deadline).num_seconds()));
        }
        Some(_) => state.status = DeadlineStatus::Notified,
        None if !(authority_required || controller_required) => state.status = DeadlineStatus::NotRequired,
        None if now > deadline => {
            state.status = DeadlineStatus::Late;
            state.late_by_seconds = Some((now - deadline).num_seconds());
            state.late_by = Some(hours((now - deadline).num_seconds()));
        }
        None => {
            state.seconds_left = Some((deadline - now).num_seconds());
            state.hours_left = Some(hours((deadline - now).num_seconds()));
        }
    }
    Assessment {
        authority_notification_required: authority_required,
        controller_notification_required: controller_required,
        subjects_notification_required: subjects_required,
        controller_instruction: instruction,
        exemption,
        deadline: state,
    }
}

/// The reminders of the notification deadline sent to the breach's contact point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reminder {
    /// 24 hours left.
    #[serde(rename = "24h")]
    DayLeft,
    /// 6 hours left.
    #[serde(rename = "6h")]
    SixHoursLeft,
    /// The deadline passed without a notification.
    #[serde(rename = "passed")]
    Passed,
}

impl Reminder {
    /// Its name in marker keys, mail templates and the watch's output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reminder::DayLeft => "24h",
            Reminder::SixHoursLeft => "6h",
            Reminder::Passed => "passed",
        }
    }
}

impl std::fmt::Display for Reminder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which deadline reminder is current at `now`, if any: at most one applies at any moment.
pub fn due_reminder(breach: &Breach, timeline: &[TimelineEvent], now: Time) -> Option<Reminder> {
    let a = assess(breach, timeline, now);
    if a.deadline.notified_at.is_some() || !(a.authority_notification_required || a.controller_notification_required) {
        return None;
    }
    let deadline = a.deadline.due_at;
    // A reminder whose window opens before awareness would say more time is left than the whole
    // term (a processor's contract of 12 hours has no "24 hours left").
    let opens = |hours: i64| Some(deadline - Duration::hours(hours)).filter(|t| *t > breach.aware_at);
    if now >= deadline {
        Some(Reminder::Passed)
    } else if opens(6).is_some_and(|t| now >= t) {
        Some(Reminder::SixHoursLeft)
    } else if opens(24).is_some_and(|t| now >= t) {
        Some(Reminder::DayLeft)
    } else {
        None
    }
}
