//! The change feed (Art. 19, Art. 7(3)): what a recipient of the business's data must hear about
//! a person, one change per sealed event that matters to it (a consent given, confirmed or
//! withdrawn; an objection, a restriction, a rectification, an erasure).
//!
//! A change is written in the same transaction as the event it reports (`Append::changes`), so
//! none is lost and none reports what did not happen. Webhooks (`webhooks.rs`) deliver the feed
//! to each endpoint in order; tools that poll read it by cursor (`GET /v1/admin/changes`).
//!
//! A change holds no personal data but the person's keyed-hash id, with one exception: an
//! erasure keeps the address it erased for [`ERASED_ADDRESS_KEPT`], so that the recipient can
//! find its own record, and then the retention sweep forgets it. Other changes that need the
//! address (a consent given or confirmed, an address changed) read it from the person's profile
//! when they are told: a person erased meanwhile is told about without it.

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::Time;
use crate::email::EmailAddress;
use crate::ids::{FormId, PurposeId, SubjectId};
use crate::lang::Lang;
use crate::proof::{EventKind, SealedEvent, millis};

/// How long an erasure's change keeps the address it erased: a weekly sync and the three days of
/// webhook retries both fit inside.
pub const ERASED_ADDRESS_KEPT: Duration = Duration::days(7);
/// How long the feed keeps a change (a tool that polls less often than this starts from an audience
/// export again).
pub const FEED_RETENTION: Duration = Duration::days(90);

/// What happened, as recipients name it (`type` in a webhook payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChangeKind {
    #[serde(rename = "consent.given")]
    ConsentGiven,
    #[serde(rename = "consent.confirmed")]
    ConsentConfirmed,
    #[serde(rename = "consent.withdrawn")]
    ConsentWithdrawn,
    #[serde(rename = "subject.rectified")]
    SubjectRectified,
    #[serde(rename = "subject.erased")]
    SubjectErased,
    #[serde(rename = "subject.objected")]
    SubjectObjected,
    #[serde(rename = "subject.restricted")]
    SubjectRestricted,
    /// The controller upheld its grounds over an objection: the purpose applies again.
    #[serde(rename = "subject.resumed")]
    SubjectResumed,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 8] = [
        ChangeKind::ConsentGiven,
        ChangeKind::ConsentConfirmed,
        ChangeKind::ConsentWithdrawn,
        ChangeKind::SubjectRectified,
        ChangeKind::SubjectErased,
        ChangeKind::SubjectObjected,
        ChangeKind::SubjectRestricted,
        ChangeKind::SubjectResumed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::ConsentGiven => "consent.given",
            ChangeKind::ConsentConfirmed => "consent.confirmed",
            ChangeKind::ConsentWithdrawn => "consent.withdrawn",
            ChangeKind::SubjectRectified => "subject.rectified",
            ChangeKind::SubjectErased => "subject.erased",
            ChangeKind::SubjectObjected => "subject.objected",
            ChangeKind::SubjectRestricted => "subject.restricted",
            ChangeKind::SubjectResumed => "subject.resumed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The change a sealed event is to a recipient, if any. Only a consent given (a ticked box)
    /// or confirmed (a double opt-in's answer, which names the request it confirms) is
    /// `consent.given`/`consent.confirmed`: an unticked box, a request awaiting confirmation and
    /// a basis other than consent tell a recipient nothing to act on.
    fn of(event: &SealedEvent) -> Option<Self> {
        Some(match event.facts.kind {
            EventKind::Given if event.facts.refers_to.is_some() => ChangeKind::ConsentConfirmed,
            EventKind::Given => ChangeKind::ConsentGiven,
            EventKind::Withdrawn => ChangeKind::ConsentWithdrawn,
            EventKind::Erased => ChangeKind::SubjectErased,
            EventKind::Objected => ChangeKind::SubjectObjected,
            EventKind::Restricted => ChangeKind::SubjectRestricted,
            EventKind::Resumed => ChangeKind::SubjectResumed,
            EventKind::Rectified | EventKind::Moved => ChangeKind::SubjectRectified,
            EventKind::Informed | EventKind::Refused | EventKind::Requested | EventKind::MovedFrom => return None,
        })
    }

    /// Whether the recipient needs the person's address to act: to add them (a consent given or
    /// confirmed) or to find them under a new one (an address changed).
    fn needs_address(self) -> bool {
        matches!(self, ChangeKind::ConsentGiven | ChangeKind::ConsentConfirmed)
    }
}

/// One change in the feed. Its id (a ULID: the feed's order and cursor) is made from the event's
/// time and its place in the person's chain, so one person's changes sort in their order even
/// within a millisecond.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub change_id: String,
    /// The sealed event it reports (its proof, in the person's access export).
    pub event_id: String,
    pub kind: ChangeKind,
    pub subject_id: SubjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<PurposeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_id: Option<FormId>,
    #[serde(with = "millis")]
    pub at: Time,
    /// For a rectification: the fields corrected (never their values); `email` for a new address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// For an address change: the id the person goes on under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<SubjectId>,
    /// For an erasure only, and only for [`ERASED_ADDRESS_KEPT`]: the address erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erased_address: Option<EmailAddress>,
}

impl Change {
    /// The changes `events` make, in their order; `erased_address` goes with an erasure's.
    pub fn of_events(events: &[SealedEvent], erased_address: Option<&EmailAddress>) -> Vec<Change> {
        events
            .iter()
            .filter_map(|e| {
                let kind = ChangeKind::of(e)?;
                let moved = e.facts.kind == EventKind::Moved;
                Some(Change {
                    change_id: change_id(e),
                    event_id: e.facts.event_id.clone(),
                    kind,
                    subject_id: e.facts.subject_id.clone(),
                    purpose: e.facts.purpose.clone(),
                    form_id: e.facts.form_id.clone(),
                    at: e.facts.at,
                    fields: if moved { Some(vec!["email".to_owned()]) } else { e.facts.fields.clone() },
                    moved_to: e.facts.linked_subject.clone().filter(|_| moved),
                    erased_address: erased_address.filter(|_| kind == ChangeKind::SubjectErased).cloned(),
                })
            })
            .collect()
    }

    /// Whose profile holds the address this change is told with, if it needs one.
    pub fn address_holder(&self) -> Option<&SubjectId> {
        match (&self.moved_to, self.kind.needs_address()) {
            (Some(to), _) => Some(to),
            (None, true) => Some(&self.subject_id),
            (None, false) => None,
        }
    }

    /// Until when the feed keeps it.
    pub fn kept_until(&self) -> Time {
        self.at + FEED_RETENTION
    }
}

/// A change as a recipient receives it: the webhook payload's `data`, and one item of the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeView {
    #[serde(flatten)]
    pub change: Change,
    /// The address the recipient acts on (a consent's, a new one), read when it is told; absent
    /// once the person is erased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
}

impl ChangeView {
    /// The view of `change`, with the address its holder's profile gives (if it needs one).
    pub fn new(change: Change, holder: Option<(EmailAddress, Lang)>) -> Self {
        let (email, lang) = match (&change.erased_address, holder) {
            (Some(erased), _) => (Some(erased.clone()), None),
            (None, Some((email, lang))) => (Some(email), Some(lang)),
            (None, None) => (None, None),
        };
        let change = Change { erased_address: None, ..change };
        Self { change, email, lang }
    }
}

/// One page of the feed, oldest first; `next` is the cursor to ask after (the last id, or the one
/// asked after when the page is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePage {
    pub items: Vec<ChangeView>,
    pub next: String,
}

/// A change's id: the event's millisecond, then its chain position (24 bits), then chance (56 bits).
fn change_id(e: &SealedEvent) -> String {
    let mut chance = [0u8; 7];
    getrandom::fill(&mut chance).expect("the OS random source is available");
    let random = ((e.facts.seq as u128 & 0xff_ffff) << 56)
        | u128::from(u64::from_be_bytes([0, chance[0], chance[1], chance[2], chance[3], chance[4], chance[5], chance[6]]));
    ulid::Ulid::from_parts(e.facts.at.timestamp_millis().max(0) as u64, random).to_string()
}

/// The cursor of the feed's present: after every change made up to `now`'s millisecond.
pub fn present(now: Time) -> String {
    ulid::Ulid::from_parts(now.timestamp_millis().max(0) as u64, u128::MAX).to_string()
}

/// The feed's cursor: a change id (a ULID) or empty for the start.
pub fn parse_cursor(s: &str) -> Option<String> {
    (s.is_empty() || ulid::Ulid::from_string(s).is_ok()).then(|| s.to_uppercase())
}

/// The newest change id the feed may show at `now`: changes are ordered by their event's time,
/// chosen before the write commits, so one written slowly could land behind a cursor already
/// read. Nothing younger than `settle` is shown; it bounds how long a write may take.
pub fn settled_before(now: Time, settle: Duration) -> String {
    let ms = (now - settle).timestamp_millis().max(0) as u64;
    ulid::Ulid::from_parts(ms, 0).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SubjectId;
    use crate::proof::{Channel, EventFacts, SealedEvent};

    fn sealed(kind: EventKind, refers_to: Option<&str>) -> SealedEvent {
        let subject = SubjectId::parse(&"a".repeat(64)).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z").unwrap().to_utc();
        let mut facts = EventFacts::new(ulid::Ulid::new().to_string(), subject, kind, Lang::Pl, Channel::WebForm, at);
        facts.purpose = PurposeId::parse("newsletter");
        facts.refers_to = refers_to.map(str::to_owned);
        SealedEvent { facts, kid: crate::ids::Kid::parse("k1").unwrap(), seal: String::new() }
    }

    #[test]
    fn art7_3_only_a_ticked_or_confirmed_consent_is_told_as_given() {
        let events = [
            sealed(EventKind::Refused, None),
            sealed(EventKind::Requested, None),
            sealed(EventKind::Informed, None),
            sealed(EventKind::Given, None),
            sealed(EventKind::Given, Some("01J0")),
            sealed(EventKind::Withdrawn, None),
        ];
        let kinds: Vec<ChangeKind> = Change::of_events(&events, None).into_iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ChangeKind::ConsentGiven, ChangeKind::ConsentConfirmed, ChangeKind::ConsentWithdrawn]);
    }

    #[test]
    fn art19_only_an_erasure_carries_the_address_and_its_view_shows_it_once() {
        let email = EmailAddress::parse("ola@example.pl").unwrap();
        let changes = Change::of_events(&[sealed(EventKind::Withdrawn, None), sealed(EventKind::Erased, None)], Some(&email));
        assert_eq!(changes[0].erased_address, None);
        assert_eq!(changes[1].erased_address.as_ref(), Some(&email));
        let view = ChangeView::new(changes[1].clone(), None);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["email"], "ola@example.pl");
        assert!(json.get("erased_address").is_none(), "{json}");
    }

    #[test]
    fn the_settled_bound_sorts_before_any_change_made_after_it() {
        let now = chrono::Utc::now();
        let bound = settled_before(now, Duration::seconds(5));
        let later = ulid::Ulid::from_parts((now - Duration::seconds(4)).timestamp_millis() as u64, 0).to_string();
        let earlier = ulid::Ulid::from_parts((now - Duration::seconds(6)).timestamp_millis() as u64, u128::MAX >> 48).to_string();
        assert!(earlier < bound && bound < later);
        assert_eq!(parse_cursor(&earlier.to_lowercase()), Some(earlier));
        assert_eq!(parse_cursor("nope"), None);
    }
}
