//! A proof of work before a privacy request (security review H2). Anyone may ask in anyone's name,
//! and each request sends a mail, so each costs its sender about a second of computation: a person
//! does not notice it, a flood pays it per request. No CAPTCHA: nothing to solve by eye, nothing
//! loaded from a third party, nothing that tracks.
//!
//! The protocol is ALTCHA's proof of work v2, through its official crate, in its deterministic
//! mode: the server picks a random counter, derives a key from it (PBKDF2-SHA-256 over the nonce
//! and the counter) and publishes the key's first half; the client counts up from zero until its
//! key starts the same way, so the work is bounded by the counter and checking it is one HMAC.
//! The challenge is signed with secrets derived from the links ring's current key and names that
//! key's id, so checking needs no stored state; the caller accepts each solution once (its nonce
//! is recorded until the challenge expires).

pub use altcha::Challenge;
use altcha::{CreateChallengeOptions, Payload, VerifySolutionOptions};
use base64::Engine;
use chrono::Duration;
use hmac::Mac;

use crate::Time;
use crate::keys::{KeyRing, SecretKey};

/// The form field (and JSON member) that carries a solved challenge: ALTCHA's name and encoding
/// (base64 of the JSON `{challenge, solution}`), so ALTCHA's own widget and libraries fit too.
pub const FIELD: &str = "altcha";

/// How hard a privacy request's challenge is. The expected work is about `cost × 0.75 ×
/// max_counter` SHA-256 HMACs: the defaults take a browser about a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofOfWork {
    /// PBKDF2 iterations per attempt.
    pub cost: u32,
    /// The highest counter picked; the counter is drawn from its upper half.
    pub max_counter: u32,
    /// How long a challenge can be solved and sent.
    pub ttl: Duration,
}

impl Default for ProofOfWork {
    fn default() -> Self {
        Self { cost: 500, max_counter: 5_000, ttl: Duration::hours(1) }
    }
}

/// Why a solution was refused; each is a field error on [`FIELD`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the proof of work is missing")]
    Required,
    #[error("the proof of work is not a solved challenge of this service")]
    Invalid,
    #[error("the challenge has expired")]
    Expired,
    #[error("the solution was already used")]
    Used,
}

impl ProofError {
    /// The field error code.
    pub fn code(self) -> &'static str {
        match self {
            ProofError::Required => "required",
            ProofError::Invalid => "invalid",
            ProofError::Expired => "expired",
            ProofError::Used => "used",
        }
    }
}

/// A solution that checked out: what the caller records to accept it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solved {
    /// The challenge's random nonce: its identity.
    pub nonce: String,
    pub expires_at: Time,
}

/// The two secrets a challenge is signed with, derived from one ring key so that the ALTCHA
/// signatures never share a key with link tokens.
fn secrets(key: &SecretKey) -> (String, String) {
    let derive = |label: &[u8]| {
        let mut mac = key.mac();
        mac.update(label);
        hex::encode(mac.finalize().into_bytes())
    };
    (derive(b"zgoda/proof-of-work/challenge"), derive(b"zgoda/proof-of-work/key"))
}

/// A fresh challenge, signed under the ring's current key, expiring `settings.ttl` from `now`.
pub fn challenge(ring: &KeyRing, settings: &ProofOfWork, now: Time) -> Challenge {
    let (kid, key) = ring.current();
    let (challenge_secret, key_secret) = secrets(key);
    let upper = settings.max_counter.max(2);
    let counter = upper / 2 + random_below(upper - upper / 2);
    altcha::create_challenge(CreateChallengeOptions {
        cost: settings.cost.max(1),
        counter: Some(counter),
        data: Some([("kid".to_owned(), serde_json::Value::from(kid.as_str()))].into()),
        expires_at: Some((now + settings.ttl).timestamp()),
        hmac_signature_secret: Some(challenge_secret),
        hmac_key_signature_secret: Some(key_secret),
        ..CreateChallengeOptions::default()
    })
    .expect("PBKDF2-SHA-256 with a positive cost and an HMAC secret always makes a challenge")
}

/// A uniformly drawn number below `bound` (> 0).
fn random_below(bound: u32) -> u32 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    (u64::from_le_bytes(bytes) % u64::from(bound)) as u32
}

/// Checks a solved challenge as it arrived in [`FIELD`]: ours (signed by a key of the ring),
/// unexpired at `now`, and solved.
pub fn verify(ring: &KeyRing, field: &str, now: Time) -> Result<Solved, ProofError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(field.trim()).map_err(|_| ProofError::Invalid)?;
    let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| ProofError::Invalid)?;
    let params = &payload.challenge.parameters;
    let kid = params.data.as_ref().and_then(|d| d.get("kid")).and_then(|k| k.as_str()).ok_or(ProofError::Invalid)?;
    let (_, key) = ring.get_str(kid).ok_or(ProofError::Invalid)?;
    let (challenge_secret, key_secret) = secrets(key);
    let expires_at = params.expires_at.and_then(|t| chrono::DateTime::from_timestamp(t, 0)).ok_or(ProofError::Invalid)?;
    // This service's challenges always carry the derived key's signature, so checking one is an
    // HMAC, never a re-derivation.
    if params.key_signature.is_none() {
        return Err(ProofError::Invalid);
    }
    let options = VerifySolutionOptions {
        hmac_key_signature_secret: Some(key_secret),
        ..VerifySolutionOptions::new(&payload.challenge, &payload.solution, challenge_secret)
    };
    let result = altcha::verify_solution(options).map_err(|_| ProofError::Invalid)?;
    // The crate looks at the expiry (by the system clock) before the signature; `now` is looked
    // at too, so a test's clock counts. An expired challenge is refused whether or not it is ours.
    if result.expired || expires_at <= now {
        return Err(ProofError::Expired);
    }
    if !result.verified {
        return Err(ProofError::Invalid);
    }
    Ok(Solved { nonce: params.nonce.clone(), expires_at })
}

/// Solves a challenge as a client would (the tests; browsers run the privacy page's script).
pub fn solve(challenge: &Challenge) -> String {
    let solution =
        altcha::solve_challenge(altcha::SolveChallengeOptions { timeout_ms: 0, ..altcha::SolveChallengeOptions::new(challenge) })
            .expect("a challenge of this service has a hex key prefix")
            .expect("without a timeout a solution is always found");
    let payload = Payload { challenge: challenge.clone(), solution };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&payload).expect("serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(kid: &str, byte: u8) -> KeyRing {
        KeyRing::single(kid, SecretKey::new(vec![byte; 32]))
    }

    const EASY: ProofOfWork = ProofOfWork { cost: 2, max_counter: 40, ttl: Duration::minutes(10) };

    fn t0() -> Time {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_solved_challenge_verifies_until_it_expires_and_names_its_nonce() {
        let ring = ring("k1", 1);
        let challenge = challenge(&ring, &EASY, t0());
        let field = solve(&challenge);
        let solved = verify(&ring, &field, t0() + Duration::minutes(9)).unwrap();
        assert_eq!(solved.nonce, challenge.parameters.nonce);
        assert_eq!(solved.expires_at, t0() + Duration::minutes(10));
        assert_eq!(verify(&ring, &field, t0() + Duration::minutes(10)), Err(ProofError::Expired));
    }

    #[test]
    fn another_stacks_key_a_wrong_counter_an_eased_challenge_and_garbage_are_invalid() {
        let ours = ring("k1", 1);
        let challenge = challenge(&ours, &EASY, t0());
        let field = solve(&challenge);
        assert_eq!(verify(&ring("k1", 2), &field, t0()), Err(ProofError::Invalid), "another key under the same id");
        assert_eq!(verify(&ring("k9", 1), &field, t0()), Err(ProofError::Invalid), "an unknown key id");

        let decode = |f: &str| -> serde_json::Value {
            serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(f).unwrap()).unwrap()
        };
        let encode = |v: &serde_json::Value| base64::engine::general_purpose::STANDARD.encode(v.to_string());
        let mut wrong = decode(&field);
        wrong["solution"]["derivedKey"] = serde_json::json!("00".repeat(32));
        assert_eq!(verify(&ours, &encode(&wrong), t0()), Err(ProofError::Invalid), "a key that was not derived");
        let mut eased = decode(&field);
        eased["challenge"]["parameters"]["expiresAt"] = serde_json::json!(t0().timestamp() + 999_999);
        assert_eq!(verify(&ours, &encode(&eased), t0()), Err(ProofError::Invalid), "a changed parameter breaks the signature");
        for junk in ["", "not base64!", "e30=", &encode(&serde_json::json!({"challenge": 1}))] {
            assert_eq!(verify(&ours, junk, t0()), Err(ProofError::Invalid), "{junk}");
        }
    }

    #[test]
    fn a_challenge_signed_before_a_rotation_still_verifies() {
        let old = ring("k1", 1);
        let field = solve(&challenge(&old, &EASY, t0()));
        let rotated = KeyRing::from_json(&format!(
            r#"{{"current":"k2","keys":{{"k1":"{}","k2":"{}"}}}}"#,
            hex::encode([1u8; 32]),
            hex::encode([2u8; 32])
        ))
        .unwrap();
        assert!(verify(&rotated, &field, t0()).is_ok());
    }
}
