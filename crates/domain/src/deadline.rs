//! The 72-hour clock (Art. 33(1)), computed on read and never stored: what the register says a
//! breach needs now, and which deadline reminder is current.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Time;
use crate::breach::Breach;
use crate::proof::millis;
use crate::severity::Band;
use crate::timeline::{SubjectsDecision, TimelineEntry, TimelineEvent};

/// Where the authority notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineStatus {
    /// Low band: no notification is required (Art. 33(1), unlikely to result in a risk).
    NotRequired,
    /// Required, not yet made, and the 72 hours are still running.
    Open,
    /// Required, not yet made, and the 72 hours have passed.
    Late,
    Notified,
    NotifiedLate,
}

/// The 72-hour clock as of `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineState {
    #[serde(with = "millis")]
    pub authority_deadline: Time,
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
    pub subjects_notification_required: bool,
    /// The latest decision, when it is an Art. 34(3) exemption.
    pub exemption: Option<SubjectsDecision>,
    pub deadline: DeadlineState,
}

pub fn assess(breach: &Breach, timeline: &[TimelineEvent], now: Time) -> Assessment {
    let deadline = breach.authority_deadline();
    let authority_required = breach.severity.band != Band::Low;
    let decision = timeline.iter().rev().find_map(|e| match &e.entry {
        TimelineEntry::SubjectsDecision(d) => Some(d),
        _ => None,
    });
    let exemption = decision.filter(|d| matches!(d, SubjectsDecision::Exempt { .. })).cloned();
    let subjects_required = breach.severity.band >= Band::High && exemption.is_none();
    let notified_at = timeline.iter().find_map(|e| match &e.entry {
        TimelineEntry::AuthorityNotified(n) => Some(n.notified_at),
        _ => None,
    });
    let mut state = DeadlineState {
        authority_deadline: deadline,
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
        None if !authority_required => state.status = DeadlineStatus::NotRequired,
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
        subjects_notification_required: subjects_required,
        exemption,
        deadline: state,
    }
}

/// The reminders of the 72-hour deadline sent to the breach's contact point.
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
    if a.deadline.notified_at.is_some() || !a.authority_notification_required {
        return None;
    }
    let deadline = breach.authority_deadline();
    if now >= deadline {
        Some(Reminder::Passed)
    } else if now >= deadline - Duration::hours(6) {
        Some(Reminder::SixHoursLeft)
    } else if now >= deadline - Duration::hours(24) {
        Some(Reminder::DayLeft)
    } else {
        None
    }
}
