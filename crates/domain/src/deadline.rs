//! The notification clock, computed on read and never stored: the authority's 72 hours (Art.
//! 33(1)) for a controller, the contract's term to the controller for a processor (Art. 33(2)).
//! What the register says a breach needs now, and which deadline reminder is current.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Time;
use crate::breach::{Breach, Party};
use crate::proof::millis;
use crate::severity::Band;
use crate::timeline::{Art34Ground, AuthorityDecision, Notification, Notify, SubjectsDecision, TimelineEntry, TimelineEvent};

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

/// What made a duty what it is: the band's presumption, the DPO's recorded decision, the
/// authority's order (Art. 34(4)) or, for a processor, its controller's instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Band,
    Decision,
    Order,
    Instruction,
    /// A processor tells its controller of every breach (Art. 33(2)).
    Role,
}

/// Where telling the people stands (Art. 34(1): "without undue delay"), on a clock of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectsStatus {
    NotRequired,
    /// Required and nobody told yet.
    Open,
    /// Notices went out (an escalation started), or for ground (c) the public notice is up.
    Notified,
}

/// How long zgoda lets the people's duty stand open before it reminds the contact point: its
/// reading of "without undue delay", once.
pub const SUBJECTS_REMINDER_HOURS: i64 = 24;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectsClock {
    pub status: SubjectsStatus,
    /// Since when the duty stands: awareness for the band's, else the decision, order or instruction.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::proof::opt_millis")]
    pub required_since: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::proof::opt_millis")]
    pub notified_at: Option<Time>,
    /// Hours the duty has stood open, while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_for_hours: Option<f64>,
    /// Ground (c): the individual notices are replaced by the public notice, which is what is due.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public_notice_required: bool,
}

/// What the register says about a breach now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub authority_notification_required: bool,
    pub authority_basis: Basis,
    /// A processor's duty to tell its controller (Art. 33(2)): every breach, whatever the band.
    pub controller_notification_required: bool,
    /// For a controller, from the band (Art. 34(1)) unless a decision or an order says otherwise;
    /// for a processor, only once the controller's instruction to tell the people is recorded
    /// (Art. 28(3)(f)).
    pub subjects_notification_required: bool,
    pub subjects_basis: Basis,
    /// Whether a processor holds its controller's instruction to tell the people.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub controller_instruction: bool,
    /// The DPO's latest decision on the authority, with its reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_decision: Option<AuthorityDecision>,
    /// The DPO's latest decision on the people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects_decision: Option<SubjectsDecision>,
    /// The authority's order to tell the people (its reference), when one is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority_order: Option<String>,
    /// The latest decision, when it is an Art. 34(3) exemption.
    pub exemption: Option<SubjectsDecision>,
    pub deadline: DeadlineState,
    pub subjects: SubjectsClock,
}

/// The first notification: to the authority, or for a processor to its controller.
pub fn first_notification<'a>(breach: &Breach, timeline: &'a [TimelineEvent]) -> Option<&'a Notification> {
    timeline.iter().find_map(|e| match (&e.entry, breach.notifies()) {
        (TimelineEntry::AuthorityNotified(n), Party::Authority) | (TimelineEntry::ControllerNotified(n), Party::Controller) => Some(n),
        _ => None,
    })
}

/// When the first notification was made.
fn notified(breach: &Breach, timeline: &[TimelineEvent]) -> Option<Time> {
    first_notification(breach, timeline).map(|n| n.notified_at)
}

/// Whether a processor's controller instructed it to tell the people (Art. 28(3)(f)).
pub fn instructed(timeline: &[TimelineEvent]) -> bool {
    timeline.iter().any(|e| matches!(e.entry, TimelineEntry::ControllerInstruction { .. }))
}

/// The latest entry `pick` finds, with its time.
fn latest<'a, T>(timeline: &'a [TimelineEvent], pick: impl Fn(&'a TimelineEntry) -> Option<T>) -> Option<(Time, T)> {
    timeline.iter().rev().find_map(|e| pick(&e.entry).map(|t| (e.at, t)))
}

/// The duty to tell the people, what it rests on and since when.
fn subjects_duty(breach: &Breach, timeline: &[TimelineEvent]) -> (bool, Basis, Option<Time>) {
    let order = latest(timeline, |e| matches!(e, TimelineEntry::AuthorityOrder { .. }).then_some(()));
    let decision = latest(timeline, |e| match e {
        TimelineEntry::SubjectsDecision(d) => Some(d),
        _ => None,
    });
    match (breach.notifies(), order, decision) {
        // Art. 34(4): the authority's order stands over the band and over any decision.
        (Party::Authority, Some((at, ())), _) => (true, Basis::Order, Some(at)),
        (Party::Authority, None, Some((at, d))) => (d.notifies(), Basis::Decision, d.notifies().then_some(at)),
        (Party::Authority, None, None) => {
            let high = breach.severity.band >= Band::High;
            (high, Basis::Band, high.then_some(breach.aware_at))
        }
        // A processor never tells the people on its own (Art. 33(2), 28(3)(f)).
        (Party::Controller, _, decision) => {
            let instruction = latest(timeline, |e| matches!(e, TimelineEntry::ControllerInstruction { .. }).then_some(()));
            match (instruction, decision) {
                (Some(_), Some((_, d))) if !d.notifies() => (false, Basis::Decision, None),
                (Some((at, ())), _) => (true, Basis::Instruction, Some(at)),
                (None, _) => (false, Basis::Instruction, None),
            }
        }
    }
}

pub fn assess(breach: &Breach, timeline: &[TimelineEvent], now: Time) -> Assessment {
    let party = breach.notifies();
    let deadline = breach.notification_deadline();
    let authority_decision = latest(timeline, |e| match e {
        TimelineEntry::AuthorityDecision(d) => Some(d.clone()),
        _ => None,
    })
    .map(|(_, d)| d);
    let (authority_required, authority_basis, controller_required) = match (party, &authority_decision) {
        (Party::Authority, Some(d)) => (d.decision == Notify::Notify, Basis::Decision, false),
        (Party::Authority, None) => (breach.severity.band != Band::Low, Basis::Band, false),
        (Party::Controller, _) => (false, Basis::Role, true),
    };
    let subjects_decision = latest(timeline, |e| match e {
        TimelineEntry::SubjectsDecision(d) => Some(d.clone()),
        _ => None,
    })
    .map(|(_, d)| d);
    let exemption = subjects_decision.clone().filter(|d| matches!(d, SubjectsDecision::Exempt { .. }));
    let authority_order = latest(timeline, |e| match e {
        TimelineEntry::AuthorityOrder { reference, .. } => Some(reference.clone()),
        _ => None,
    })
    .map(|(_, r)| r);
    let instruction = party == Party::Controller && instructed(timeline);
    let (subjects_required, subjects_basis, required_since) = subjects_duty(breach, timeline);
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
    let subjects = subjects_clock(timeline, subjects_required, required_since, exemption.as_ref(), now);
    Assessment {
        authority_notification_required: authority_required,
        authority_basis,
        controller_notification_required: controller_required,
        subjects_notification_required: subjects_required,
        subjects_basis,
        controller_instruction: instruction,
        authority_decision,
        subjects_decision,
        authority_order,
        exemption,
        deadline: state,
        subjects,
    }
}

/// The people's clock: open from when the duty arose until notices went out, or for an Art.
/// 34(3)(c) exemption until the public notice that replaces them is up.
fn subjects_clock(
    timeline: &[TimelineEvent],
    required: bool,
    since: Option<Time>,
    exemption: Option<&SubjectsDecision>,
    now: Time,
) -> SubjectsClock {
    let public_notice_required = matches!(exemption, Some(SubjectsDecision::Exempt { ground: Art34Ground::DisproportionateEffort, .. }));
    let exempt_since = public_notice_required
        .then(|| latest(timeline, |e| matches!(e, TimelineEntry::SubjectsDecision(_)).then_some(())).map(|(at, ())| at))
        .flatten();
    let notified_at = timeline.iter().find_map(|e| match &e.entry {
        TimelineEntry::Escalated(s) if !public_notice_required || s.public_notice_url.is_some() => Some(e.at),
        _ => None,
    });
    let since = since.or(exempt_since);
    let status = match (required || public_notice_required, notified_at) {
        (false, _) => SubjectsStatus::NotRequired,
        (true, Some(_)) => SubjectsStatus::Notified,
        (true, None) => SubjectsStatus::Open,
    };
    SubjectsClock {
        status,
        required_since: since.filter(|_| status != SubjectsStatus::NotRequired),
        notified_at: notified_at.filter(|_| status == SubjectsStatus::Notified),
        open_for_hours: since.filter(|_| status == SubjectsStatus::Open).map(|s| hours((now - s).num_seconds().max(0))),
        public_notice_required,
    }
}

/// Whether the people's duty has stood open long enough for the one reminder.
pub fn subjects_overdue(a: &Assessment, now: Time) -> bool {
    a.subjects.status == SubjectsStatus::Open
        && a.subjects.required_since.is_some_and(|s| now >= s + Duration::hours(SUBJECTS_REMINDER_HOURS))
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
