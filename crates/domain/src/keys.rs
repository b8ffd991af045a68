//! Key rings. Every key family (links, seals, operators, pepper) is a set of keys by id with one
//! `current` for signing; verification accepts any listed id, which is what makes rotation safe.
//! Keys live in `SecretKey`, whose `Debug` prints nothing.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

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

/// The key rings one function loaded: only the families it uses. Asking for a family the function
/// did not load is a defect in the code (its AWS calls do not name the family), not an input
/// error, and panics with the family's name; every route of every function runs in the tests
/// with exactly the rings its deployed twin loads, so such a defect fails a test, not a person.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    rings: BTreeMap<KeyFamily, KeyRing>,
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
        Self { rings: rings.into_iter().collect() }
    }

    /// The families loaded, in order.
    pub fn families(&self) -> Vec<KeyFamily> {
        self.rings.keys().copied().collect()
    }

    fn ring(&self, family: KeyFamily) -> &KeyRing {
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

    /// Operators' request-signing keys.
    pub fn operators(&self) -> &KeyRing {
        self.ring(KeyFamily::Operators)
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
}
