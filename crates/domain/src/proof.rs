//! Sealed consent events and the per-subject hash chain (Art. 7(1), Art. 5(2)).
//!
//! Each event is encoded canonically (our own length-prefixed byte layout, never the database's
//! map), sealed with HMAC-SHA256 under a key id, and carries the hash of the subject's previous
//! event. Editing any field breaks its seal; deleting or reordering events breaks the chain; the
//! subject's chain head (sequence number and last hash, stored apart) catches a deleted last event.

use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::Time;
use crate::form::LawfulBasis;
use crate::ids::{FormId, Kid, PurposeId, SubjectId};
use crate::keys::KeyRing;
use crate::lang::Lang;

const SEAL_PREFIX: &[u8] = b"zgoda/consent-event/v1\n";
const CHAIN_PREFIX: &[u8] = b"zgoda/consent-chain/v1\n";
/// The `prev_hash` of a subject's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an event says about a purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Consent given for the purpose (records made before `Informed` existed also used it for
    /// other bases; their seals stay as written).
    Given,
    /// The person was told of a purpose whose basis is not consent (contract, legal obligation,
    /// legitimate interest): nothing to give or refuse (EDPB Guidelines 05/2020 on consent).
    Informed,
    /// The box was left unticked: a clear non-affirmative act (Art. 4(11)).
    Refused,
    /// Ticked, waiting for the double opt-in confirmation.
    Requested,
    /// Consent withdrawn (Art. 7(3)).
    Withdrawn,
    /// The subject's personal data was erased (Art. 17); the proofs stay, PII-free.
    Erased,
    /// The person objected (Art. 21) and the purpose stopped for good: at once for direct
    /// marketing (Art. 21(3)), otherwise when the controller upheld the objection.
    Objected,
    /// Processing restricted (Art. 18(1)(d)): the person objected and the controller has yet to
    /// decide whether its grounds override theirs. The data is only stored meanwhile.
    Restricted,
    /// The controller decided, with reasons given to the person, that its compelling grounds
    /// override the objection (Art. 21(1)): the purpose applies again.
    Resumed,
    /// Declared fields were corrected (Art. 16); the event names which, never their values.
    Rectified,
    /// The person's address changed: this chain ends here and continues under `linked_subject`
    /// (the new address's id). What it held went with it.
    Moved,
    /// The first event of the chain's continuation under a new address: `linked_subject` is the
    /// id of the chain it came from, whose `moved` event it answers (`refers_to`).
    MovedFrom,
}

impl EventKind {
    /// Whether the purpose now needs the person's address: consent given, or another basis
    /// applies. A request awaiting confirmation keeps it only until the request expires.
    pub fn needs_address(self) -> bool {
        matches!(self, EventKind::Given | EventKind::Informed | EventKind::Restricted | EventKind::Resumed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Given => "given",
            EventKind::Informed => "informed",
            EventKind::Refused => "refused",
            EventKind::Requested => "requested",
            EventKind::Withdrawn => "withdrawn",
            EventKind::Erased => "erased",
            EventKind::Objected => "objected",
            EventKind::Restricted => "restricted",
            EventKind::Resumed => "resumed",
            EventKind::Rectified => "rectified",
            EventKind::Moved => "moved",
            EventKind::MovedFrom => "moved_from",
        }
    }
}

/// How the event reached zgoda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    WebForm,
    EmailLink,
    Operator,
    /// The person marked a mail as spam (an SES complaint): treated as withdrawal.
    MailComplaint,
    /// The storage-limitation sweep: nothing needed the person's address any more (Art. 5(1)(e),
    /// 17(1)(a)), so it was erased unasked.
    StorageLimitation,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::WebForm => "web_form",
            Channel::EmailLink => "email_link",
            Channel::Operator => "operator",
            Channel::MailComplaint => "mail_complaint",
            Channel::StorageLimitation => "storage_limitation",
        }
    }
}

/// The facts an event records, before sealing. Holds no personal data: the subject is a keyed
/// hash and the network is truncated.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventFacts {
    pub event_id: String,
    pub subject_id: SubjectId,
    pub seq: u64,
    pub kind: EventKind,
    pub purpose: Option<PurposeId>,
    pub lawful_basis: Option<LawfulBasis>,
    pub form_id: Option<FormId>,
    pub notice_version: Option<String>,
    pub notice_sha256: Option<String>,
    pub notice_lang: Option<Lang>,
    pub lang: Lang,
    pub channel: Channel,
    pub ip_prefix: Option<String>,
    /// Server time, millisecond precision, as stored.
    #[serde(with = "crate::proof::millis")]
    pub at: Time,
    pub receipt_id: Option<String>,
    /// The event this one answers (a confirmation names the request it confirms).
    pub refers_to: Option<String>,
    pub prev_hash: String,
    /// For `rectified`: the names of the fields corrected (never their values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// For `moved` and `moved_from`: the other chain's subject id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_subject: Option<SubjectId>,
    /// For `restricted` on a ground of Art. 18(1)(a)–(c); none for one on an objection (18(1)(d)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground: Option<crate::restriction::Ground>,
}

/// An event with its seal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealedEvent {
    #[serde(flatten)]
    pub facts: EventFacts,
    pub kid: Kid,
    pub seal: String,
}

/// Where a subject's chain ends: kept beside the events so that a deleted last event shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> Self {
        Self { seq: 0, hash: GENESIS_HASH.to_owned() }
    }
}

/// RFC 3339 with milliseconds, the one textual form of event times (so the canonical bytes of a
/// stored event are exactly those that were sealed).
pub fn format_time(t: &Time) -> String {
    // The same text as `%Y-%m-%dT%H:%M:%S%.3fZ`, without parsing a format string each time:
    // every seal and verification formats one.
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &crate::Time, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(t))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<crate::Time, D::Error> {
        let s = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&chrono::Utc)).map_err(serde::de::Error::custom)
    }
}

/// [`millis`] for a time that may be absent (`null`).
pub mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<crate::Time>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::format_time(t)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<crate::Time>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| chrono::DateTime::parse_from_rfc3339(&s).map(|t| t.to_utc()).map_err(serde::de::Error::custom)).transpose()
    }
}

/// Truncates a time to the millisecond, the precision events are stored at.
pub fn to_millis(t: Time) -> Time {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).expect("in range")
}

/// Where the canonical encoding goes, field by field: the MAC or hash itself when sealing and
/// verifying (no copy of the event is built), a buffer for [`EventFacts::canonical_bytes`].
struct Canonical<F: FnMut(&[u8])>(F);

impl<F: FnMut(&[u8])> Canonical<F> {
    fn field(&mut self, tag: u8, value: Option<&[u8]>) {
        match value {
            None => (self.0)(&[tag, 0xff, 0xff, 0xff, 0xff]),
            Some(v) => {
                let len = (v.len() as u32).to_be_bytes();
                (self.0)(&[tag, len[0], len[1], len[2], len[3]]);
                (self.0)(v);
            }
        }
    }
}

impl EventFacts {
    /// An event about `subject_id` with no purpose, form, notice, network, receipt or referent
    /// (set what applies with struct update syntax); `seq` and `prev_hash` are set when it is
    /// sealed onto the chain ([`seal_chain`]).
    pub fn new(event_id: String, subject_id: SubjectId, kind: EventKind, lang: Lang, channel: Channel, at: Time) -> Self {
        EventFacts {
            event_id,
            subject_id,
            seq: 0,
            kind,
            purpose: None,
            lawful_basis: None,
            form_id: None,
            notice_version: None,
            notice_sha256: None,
            notice_lang: None,
            lang,
            channel,
            ip_prefix: None,
            at,
            receipt_id: None,
            refers_to: None,
            prev_hash: String::new(),
            fields: None,
            linked_subject: None,
            ground: None,
        }
    }

    /// The canonical encoding: tagged, length-prefixed fields in a fixed order; `None` differs
    /// from an empty string.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(512);
        self.encode(|part| bytes.extend_from_slice(part));
        bytes
    }

    fn encode(&self, out: impl FnMut(&[u8])) {
        let mut c = Canonical(out);
        fn opt(o: &Option<String>) -> Option<&[u8]> {
            o.as_deref().map(str::as_bytes)
        }
        c.field(1, Some(self.event_id.as_bytes()));
        c.field(2, Some(self.subject_id.as_str().as_bytes()));
        c.field(3, Some(&self.seq.to_be_bytes()));
        c.field(4, Some(self.kind.as_str().as_bytes()));
        c.field(5, self.purpose.as_ref().map(|p| p.as_str().as_bytes()));
        c.field(6, self.lawful_basis.map(|b| b.as_str().as_bytes()));
        c.field(7, self.form_id.as_ref().map(|f| f.as_str().as_bytes()));
        c.field(8, opt(&self.notice_version));
        c.field(9, opt(&self.notice_sha256));
        c.field(10, self.notice_lang.map(|l| l.code().as_bytes()));
        c.field(11, Some(self.lang.code().as_bytes()));
        c.field(12, Some(self.channel.as_str().as_bytes()));
        c.field(13, opt(&self.ip_prefix));
        c.field(14, Some(format_time(&self.at).as_bytes()));
        c.field(15, opt(&self.receipt_id));
        c.field(16, opt(&self.refers_to));
        c.field(17, Some(self.prev_hash.as_bytes()));
        // Fields added later are encoded only when set, so every event sealed before they
        // existed keeps the bytes it was sealed over.
        if let Some(fields) = &self.fields {
            c.field(18, Some(fields.join(",").as_bytes()));
        }
        if let Some(linked) = &self.linked_subject {
            c.field(19, Some(linked.as_str().as_bytes()));
        }
        if let Some(ground) = self.ground {
            c.field(20, Some(ground.as_str().as_bytes()));
        }
    }

    /// What a seal under `kid` is the MAC of: the seal's prefix, the key's id and the canonical
    /// bytes.
    pub fn sealed_bytes(&self, kid: &Kid) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(512);
        bytes.extend_from_slice(SEAL_PREFIX);
        bytes.extend_from_slice(kid.as_str().as_bytes());
        bytes.push(b'\n');
        self.encode(|part| bytes.extend_from_slice(part));
        bytes
    }

    /// The seal's MAC over the facts under `kid`'s key. Fed in one piece: part by part (some
    /// forty small slices), the MAC's per-update bookkeeping made a verify cost half again a bare
    /// HMAC over the same bytes (BENCHMARKS.md).
    fn mac(&self, kid: &Kid, key: &crate::keys::SecretKey) -> crate::keys::HmacSha256 {
        let mut mac = key.mac();
        mac.update(&self.sealed_bytes(kid));
        mac
    }

    /// Seals the facts with the ring's current key.
    pub fn seal(self, seals: &KeyRing) -> SealedEvent {
        let (kid, key) = seals.current();
        let seal = hex::encode(self.mac(kid, key).finalize().into_bytes());
        SealedEvent { facts: self, kid: kid.clone(), seal }
    }
}

impl SealedEvent {
    /// Whether the seal matches the facts under the key it names (constant-time comparison).
    pub fn seal_is_valid(&self, seals: &KeyRing) -> bool {
        let Some(key) = seals.get(&self.kid) else { return false };
        let mut expected = [0u8; 32];
        if hex::decode_to_slice(&self.seal, &mut expected).is_err() {
            return false;
        }
        self.facts.mac(&self.kid, key).verify_slice(&expected).is_ok()
    }

    /// The hash the next event chains to: over the canonical bytes and the seal.
    pub fn chain_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(CHAIN_PREFIX);
        self.facts.encode(|part| h.update(part));
        h.update(self.kid.as_str().as_bytes());
        h.update(self.seal.as_bytes());
        hex::encode(h.finalize())
    }
}

/// The outcome of re-checking a subject's proofs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProofReport {
    pub verified: bool,
    pub events: usize,
    /// The first event at which the seal or chain fails.
    pub broken_at: Option<String>,
}

/// Re-checks every seal and link of a subject's chain and its head. `events` may come in any
/// order; they are checked in sequence order.
pub fn verify_chain(seals: &KeyRing, subject: &SubjectId, events: &[SealedEvent], head: Option<&ChainHead>) -> ProofReport {
    let mut ordered: Vec<&SealedEvent> = events.iter().collect();
    ordered.sort_by_key(|e| e.facts.seq);
    let mut prev = ChainHead::genesis();
    for event in &ordered {
        let f = &event.facts;
        let intact = f.seq == prev.seq + 1 && f.prev_hash == prev.hash && &f.subject_id == subject && event.seal_is_valid(seals);
        if !intact {
            return ProofReport { verified: false, events: ordered.len(), broken_at: Some(f.event_id.clone()) };
        }
        prev = ChainHead { seq: f.seq, hash: event.chain_hash() };
    }
    let head_matches = match head {
        Some(h) => *h == prev,
        None => ordered.is_empty(),
    };
    if !head_matches {
        // The chain ends before its recorded head: the last events were removed.
        let at = ordered.last().map(|e| e.facts.event_id.clone());
        return ProofReport { verified: false, events: ordered.len(), broken_at: at };
    }
    ProofReport { verified: true, events: ordered.len(), broken_at: None }
}

/// Builds and seals the next events of a chain, linking each to the one before.
pub fn seal_chain(seals: &KeyRing, head: &ChainHead, facts: Vec<EventFacts>) -> (Vec<SealedEvent>, ChainHead) {
    let mut prev = head.clone();
    let mut out = Vec::with_capacity(facts.len());
    for mut f in facts {
        f.seq = prev.seq + 1;
        f.prev_hash = prev.hash.clone();
        let sealed = f.seal(seals);
        prev = ChainHead { seq: sealed.facts.seq, hash: sealed.chain_hash() };
        out.push(sealed);
    }
    (out, prev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn ring(kid: &str, b: u8) -> KeyRing {
        KeyRing::single(kid, SecretKey::new(vec![b; 32]))
    }

    fn facts(i: u8) -> EventFacts {
        EventFacts {
            event_id: format!("01J00000000000000000000{i:03}"),
            subject_id: SubjectId::parse(&"ab".repeat(32)).unwrap(),
            seq: 0,
            kind: EventKind::Given,
            purpose: PurposeId::parse("newsletter"),
            lawful_basis: Some(LawfulBasis::Consent),
            form_id: FormId::parse("demo"),
            notice_version: Some("2026-11".into()),
            notice_sha256: Some("00".repeat(32)),
            notice_lang: Some(Lang::Pl),
            lang: Lang::Pl,
            channel: Channel::WebForm,
            ip_prefix: Some("203.0.113.0/24".into()),
            at: to_millis(chrono::Utc::now()),
            receipt_id: None,
            refers_to: None,
            prev_hash: String::new(),
            fields: None,
            linked_subject: None,
            ground: None,
        }
    }

    fn chain(k: &KeyRing, n: u8) -> (Vec<SealedEvent>, ChainHead) {
        seal_chain(k, &ChainHead::genesis(), (0..n).map(facts).collect())
    }

    #[test]
    fn art7_1_intact_chain_verifies() {
        let k = ring("s1", 1);
        let (events, head) = chain(&k, 3);
        let r = verify_chain(&k, &events[0].facts.subject_id, &events, Some(&head));
        assert_eq!(r, ProofReport { verified: true, events: 3, broken_at: None });
    }

    #[test]
    fn art7_1_any_edited_field_breaks_the_seal() {
        let k = ring("s1", 1);
        let (mut events, head) = chain(&k, 3);
        events[1].facts.kind = EventKind::Refused;
        let r = verify_chain(&k, &events[0].facts.subject_id, &events, Some(&head));
        assert!(!r.verified);
        assert_eq!(r.broken_at.as_deref(), Some(events[1].facts.event_id.as_str()));
    }

    #[test]
    fn art5_2_deleted_middle_or_last_event_is_detected() {
        let k = ring("s1", 1);
        let (events, head) = chain(&k, 3);
        let sid = events[0].facts.subject_id.clone();
        let without_middle = vec![events[0].clone(), events[2].clone()];
        let r = verify_chain(&k, &sid, &without_middle, Some(&head));
        assert_eq!(r.broken_at.as_deref(), Some(events[2].facts.event_id.as_str()));
        let without_last = vec![events[0].clone(), events[1].clone()];
        assert!(!verify_chain(&k, &sid, &without_last, Some(&head)).verified);
    }

    /// Proofs sealed years ago must still verify: the seal and chain hash of a fixed event are
    /// pinned to what the code computed before sealing was made to stream the encoding.
    #[test]
    fn art7_1_a_stored_proof_keeps_its_seal_and_chain_hash() {
        let mut f = facts(7);
        f.at = "2026-11-22T10:15:30.123Z".parse().unwrap();
        f.receipt_id = Some("01JBBBBBBBBBBBBBBBBBBBBBBB".into());
        f.prev_hash = "ef".repeat(32);
        let sealed = f.seal(&ring("s1", 9));
        assert_eq!(sealed.seal, "d0344e390e178fda4f8c4868b3a61e36fcf0cd292d660332f9f832ca12908aa4");
        assert_eq!(sealed.chain_hash(), "d83707c86ff785c8e553ba648bf1a8660935dec6d0ba9ff9665179f5dcd4829f");
        assert!(sealed.seal_is_valid(&ring("s1", 9)));
    }

    /// What a rectification and an address change add to an event is sealed like the rest.
    #[test]
    fn art16_the_fields_corrected_and_the_linked_chain_are_sealed() {
        let k = ring("s1", 1);
        let mut f = facts(1);
        f.fields = Some(vec!["name".into(), "phone".into()]);
        f.linked_subject = SubjectId::parse(&"cd".repeat(32));
        let sealed = f.seal(&k);
        assert!(sealed.seal_is_valid(&k));
        let mut edited = sealed.clone();
        edited.facts.fields = Some(vec!["name".into()]);
        assert!(!edited.seal_is_valid(&k), "a field name removed breaks the seal");
        let mut relinked = sealed.clone();
        relinked.facts.linked_subject = SubjectId::parse(&"ef".repeat(32));
        assert!(!relinked.seal_is_valid(&k), "another linked chain breaks the seal");
        let mut unlinked = sealed.clone();
        unlinked.facts.linked_subject = None;
        assert!(!unlinked.seal_is_valid(&k));
        let mut grounded = sealed;
        grounded.facts.ground = Some(crate::restriction::Ground::Accuracy);
        assert!(!grounded.seal_is_valid(&k), "a restriction's ground is sealed too");
    }

    proptest::proptest! {
        #[test]
        fn event_times_are_written_as_they_always_were(millis in 0i64..253_402_300_799_999) {
            let t = chrono::DateTime::from_timestamp_millis(millis).unwrap();
            proptest::prop_assert_eq!(format_time(&t), t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }
    }

    #[test]
    fn old_key_ids_still_verify_after_rotation() {
        let old = ring("s1", 1);
        let (events, head) = chain(&old, 2);
        let k = "01".repeat(32);
        let k2 = "02".repeat(32);
        let rotated = KeyRing::from_json(&format!(r#"{{"current":"s2","keys":{{"s1":"{k}","s2":"{k2}"}}}}"#)).unwrap();
        assert!(verify_chain(&rotated, &events[0].facts.subject_id, &events, Some(&head)).verified);
        assert!(!verify_chain(&ring("s2", 2), &events[0].facts.subject_id, &events, Some(&head)).verified);
    }

    proptest::proptest! {
        #[test]
        fn any_facts_sealed_verify_and_any_changed_text_breaks_the_seal(
            version in "\\PC{0,40}", receipt in "\\PC{0,40}", ip in "\\PC{0,40}", other in "\\PC{1,40}", which in 0usize..3
        ) {
            let k = ring("s1", 9);
            let mut f = facts(1);
            f.notice_version = Some(version);
            f.receipt_id = Some(receipt);
            f.ip_prefix = Some(ip);
            let sealed = f.seal(&k);
            proptest::prop_assert!(sealed.seal_is_valid(&k));
            let mut changed = sealed.clone();
            let field = match which {
                0 => &mut changed.facts.notice_version,
                1 => &mut changed.facts.receipt_id,
                _ => &mut changed.facts.ip_prefix,
            };
            if field.as_deref() != Some(other.as_str()) {
                *field = Some(other);
                proptest::prop_assert!(!changed.seal_is_valid(&k));
            }
        }

        #[test]
        fn none_and_empty_seal_differently(which in 0usize..3) {
            let k = ring("s1", 9);
            let mut a = facts(1);
            let mut b = facts(1);
            match which {
                0 => { a.notice_version = None; b.notice_version = Some(String::new()); }
                1 => { a.receipt_id = None; b.receipt_id = Some(String::new()); }
                _ => { a.refers_to = None; b.refers_to = Some(String::new()); }
            }
            proptest::prop_assert_ne!(a.seal(&k).seal, b.seal(&k).seal);
        }
    }
}
