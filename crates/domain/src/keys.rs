//! Key rings. Every key family (links, seals, operators, pepper) is a set of keys by id with one
//! `current` for signing; verification accepts any listed id, which is what makes rotation safe.
//! Keys live in `SecretKey`, whose `Debug` prints nothing.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use chrono::Duration;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Time;
use crate::ids::Kid;

pub type HmacSha256 = Hmac<Sha256>;

/// A key, held only as the keyed HMAC state: deriving that state costs two SHA-256
/// compressions, which every seal and token check would otherwise pay again. Never printed.
#[derive(Clone)]
pub struct SecretKey {
    keyed: HmacSha256,
}

impl SecretKey {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self { keyed: HmacSha256::new_from_slice(&bytes).expect("HMAC takes keys of any length") }
    }

    /// Keys travel as hex in secrets and config; the MAC key is the decoded bytes.
    pub fn from_hex(hex_str: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(hex_str.trim()).map_err(|_| KeyError::NotHex)?;
        if bytes.len() < 16 {
            return Err(KeyError::TooShort);
        }
        Ok(Self::new(bytes))
    }

    /// A fresh random 32-byte key, hex-encoded, for provisioning.
    pub fn generate_hex() -> String {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        hex::encode(bytes)
    }

    /// A fresh MAC under this key (a copy of the keyed state).
    pub fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key material is not hex")]
    NotHex,
    #[error("key material is shorter than 128 bits")]
    TooShort,
    #[error("key ring is not valid JSON of the form {{current, keys}}")]
    Malformed,
    #[error("the current key id is not among the keys")]
    CurrentMissing,
    #[error("invalid key id")]
    BadKid,
}

/// One family's keys: `{"current": "k2", "keys": {"k1": "<hex>", "k2": "<hex>"}}`.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: Kid,
    keys: BTreeMap<Kid, SecretKey>,
}

#[derive(serde::Deserialize)]
struct KeyRingJson {
    current: String,
    keys: BTreeMap<String, String>,
}

impl KeyRing {
    pub fn from_json(text: &str) -> Result<Self, KeyError> {
        let raw: KeyRingJson = serde_json::from_str(text).map_err(|_| KeyError::Malformed)?;
        let current = Kid::parse(&raw.current).ok_or(KeyError::BadKid)?;
        let mut keys = BTreeMap::new();
        for (kid, hex_key) in raw.keys {
            keys.insert(Kid::parse(&kid).ok_or(KeyError::BadKid)?, SecretKey::from_hex(&hex_key)?);
        }
        if !keys.contains_key(&current) {
            return Err(KeyError::CurrentMissing);
        }
        Ok(Self { current, keys })
    }

    /// A ring with a single key, for tests and first provisioning.
    pub fn single(kid: &str, key: SecretKey) -> Self {
        let kid = Kid::parse(kid).expect("valid kid");
        Self { current: kid.clone(), keys: BTreeMap::from([(kid, key)]) }
    }

    pub fn current(&self) -> (&Kid, &SecretKey) {
        (&self.current, &self.keys[&self.current])
    }

    pub fn get(&self, kid: &Kid) -> Option<&SecretKey> {
        self.keys.get(kid)
    }

    /// Looks a key up by the id as it arrived on the wire.
    pub fn get_str(&self, kid: &str) -> Option<(&Kid, &SecretKey)> {
        self.keys.get_key_value(&Kid::parse(kid)?)
    }
}

/// The four key families. Each function loads only the families it uses (its AWS calls name
/// them, and its IAM policy reads only those secrets): a leak of the public functions' memory
/// then holds no operator key, and the notifier's none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyFamily {
    /// Signs link tokens.
    Links,
    /// Seals consent events and breach timelines.
    Seals,
    /// Operators' request-signing keys; the key id names the operator.
    Operators,
    /// Derives subject ids from e-mail addresses. Only `current` is used: a new pepper would give
    /// every person a new subject id, so it is rotated only together with a re-keying of the table.
    Pepper,
}

impl KeyFamily {
    pub const ALL: [KeyFamily; 4] = [KeyFamily::Links, KeyFamily::Seals, KeyFamily::Operators, KeyFamily::Pepper];

    /// The family's name, the last part of its secret's name (`<prefix><name>`).
    pub fn name(self) -> &'static str {
        match self {
            KeyFamily::Links => "links",
            KeyFamily::Seals => "seals",
            KeyFamily::Operators => "operators",
            KeyFamily::Pepper => "pepper",
        }
    }
}

/// Reads a family's ring where it is kept (Secrets Manager, in the deployed stack).
pub trait RingSource: Send + Sync {
    fn load(&self, family: KeyFamily) -> Pin<Box<dyn Future<Output = Result<KeyRing, String>> + Send + '_>>;
}

/// A ring read again from its source once the copy held is older than `max_age`.
struct Refreshed {
    source: Arc<dyn RingSource>,
    max_age: Duration,
    held: RwLock<(Arc<KeyRing>, Time)>,
}

impl std::fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refreshed").field("max_age", &self.max_age).finish_non_exhaustive()
    }
}

/// The key rings one function loaded: only the families it uses. Asking for a family the function
/// did not load is a defect in the code (its AWS calls do not name the family), not an input
/// error, and panics with the family's name; every route of every function runs in the tests
/// with exactly the rings its deployed twin loads, so such a defect fails a test, not a person.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    rings: BTreeMap<KeyFamily, Arc<KeyRing>>,
    /// The operators' ring, when it is read again as it ages (the operator function).
    operators: Option<Arc<Refreshed>>,
}

impl Keys {
    /// Every family (the tests' and the CLI's view of a whole deployment).
    pub fn new(links: KeyRing, seals: KeyRing, operators: KeyRing, pepper: KeyRing) -> Self {
        Self::from_rings([
            (KeyFamily::Links, links),
            (KeyFamily::Seals, seals),
            (KeyFamily::Operators, operators),
            (KeyFamily::Pepper, pepper),
        ])
    }

    pub fn from_rings(rings: impl IntoIterator<Item = (KeyFamily, KeyRing)>) -> Self {
        Self { rings: rings.into_iter().map(|(family, ring)| (family, Arc::new(ring))).collect(), operators: None }
    }

    /// Reads the operators' ring (loaded at `read_at`) again from `source` whenever the copy held
    /// is older than `max_age`: a key removed from the secret stops working within that time, and
    /// an added one starts, with no redeploy (security review L6). Only the operators' ring ages
    /// this way: it is the one whose removed keys must stop at once; the others only rotate, and
    /// their old keys keep verifying by design.
    pub fn refresh_operators(mut self, source: Arc<dyn RingSource>, max_age: Duration, read_at: Time) -> Self {
        let held = self.ring(KeyFamily::Operators).clone();
        self.operators = Some(Arc::new(Refreshed { source, max_age, held: RwLock::new((held, read_at)) }));
        self
    }

    /// One loaded ring, taken out.
    pub fn into_ring(mut self, family: KeyFamily) -> KeyRing {
        let ring = self.rings.remove(&family).unwrap_or_else(|| panic!("the {} key ring is not loaded", family.name()));
        Arc::unwrap_or_clone(ring)
    }

    /// The families loaded, in order.
    pub fn families(&self) -> Vec<KeyFamily> {
        self.rings.keys().copied().collect()
    }

    fn ring(&self, family: KeyFamily) -> &Arc<KeyRing> {
        self.rings
            .get(&family)
            .unwrap_or_else(|| panic!("the {} key ring is not loaded by this function: name it in its AWS calls", family.name()))
    }

    /// Signs link tokens.
    pub fn links(&self) -> &KeyRing {
        self.ring(KeyFamily::Links)
    }

    /// Seals consent events and breach timelines.
    pub fn seals(&self) -> &KeyRing {
        self.ring(KeyFamily::Seals)
    }

    /// Operators' request-signing keys as of `now`: read again first when the copy held is too
    /// old. A ring that cannot be read again is an error, not the old copy: a removed key must
    /// not keep working because Secrets Manager did not answer.
    pub async fn operators(&self, now: Time) -> Result<Arc<KeyRing>, String> {
        let Some(refreshed) = &self.operators else {
            return Ok(self.ring(KeyFamily::Operators).clone());
        };
        let (ring, read_at) = refreshed.held.read().expect("no writer panics while holding it").clone();
        if now - read_at < refreshed.max_age {
            return Ok(ring);
        }
        let fresh = Arc::new(refreshed.source.load(KeyFamily::Operators).await?);
        *refreshed.held.write().expect("no writer panics while holding it") = (fresh.clone(), now);
        Ok(fresh)
    }

    /// Derives subject ids.
    pub fn pepper(&self) -> &KeyRing {
        self.ring(KeyFamily::Pepper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_parses_and_requires_current() {
        let k = "00112233445566778899aabbccddeeff";
        let ring = KeyRing::from_json(&format!(r#"{{"current":"b","keys":{{"a":"{k}","b":"{k}"}}}}"#)).unwrap();
        assert_eq!(ring.current().0.as_str(), "b");
        assert!(ring.get_str("a").is_some());
        assert!(ring.get_str("c").is_none());
        assert_eq!(KeyRing::from_json(&format!(r#"{{"current":"x","keys":{{"a":"{k}"}}}}"#)).unwrap_err(), KeyError::CurrentMissing);
        assert_eq!(KeyRing::from_json(r#"{"current":"a","keys":{"a":"abcd"}}"#).unwrap_err(), KeyError::TooShort);
        assert!(!format!("{ring:?}").contains(k));
    }

    /// A source that hands out the rings it is given, one per load, and counts the loads.
    struct Script(std::sync::Mutex<Vec<Result<KeyRing, String>>>, std::sync::atomic::AtomicUsize);

    impl RingSource for Script {
        fn load(&self, _family: KeyFamily) -> Pin<Box<dyn Future<Output = Result<KeyRing, String>> + Send + '_>> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = self.0.lock().unwrap().remove(0);
            Box::pin(async move { next })
        }
    }

    fn ring_of(kid: &str) -> KeyRing {
        KeyRing::single(kid, SecretKey::new(vec![7; 32]))
    }

    #[tokio::test]
    async fn the_operators_ring_is_read_again_only_once_older_than_its_max_age_and_a_failed_read_refuses() {
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let script = Arc::new(Script(std::sync::Mutex::new(vec![Ok(ring_of("b")), Err("unreachable".into())]), 0.into()));
        let keys =
            Keys::new(ring_of("l"), ring_of("s"), ring_of("a"), ring_of("p")).refresh_operators(script.clone(), Duration::seconds(60), t0);
        let current = |ring: Arc<KeyRing>| ring.current().0.as_str().to_owned();

        assert_eq!(current(keys.operators(t0 + Duration::seconds(59)).await.unwrap()), "a", "young enough: no read");
        assert_eq!(script.1.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(current(keys.operators(t0 + Duration::seconds(60)).await.unwrap()), "b", "too old: read again");
        assert_eq!(current(keys.clone().operators(t0 + Duration::seconds(119)).await.unwrap()), "b", "clones share the copy");
        assert_eq!(script.1.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(keys.operators(t0 + Duration::seconds(120)).await.unwrap_err(), "unreachable", "no stale copy on failure");
        assert_eq!(current(Keys::new(ring_of("l"), ring_of("s"), ring_of("a"), ring_of("p")).operators(t0).await.unwrap()), "a");
    }
}
