//! From an e-mail address to the subject id it is stored under.

use hmac::Mac;

use crate::email::EmailAddress;
use crate::ids::SubjectId;
use crate::keys::KeyRing;

/// Domain separation: the pepper signs nothing else, but the prefix keeps it that way by design.
const PREFIX: &[u8] = b"zgoda/subject/v1\n";

pub fn subject_id(pepper: &KeyRing, email: &EmailAddress) -> SubjectId {
    let (_, key) = pepper.current();
    let mut mac = key.mac();
    mac.update(PREFIX);
    mac.update(email.as_str().as_bytes());
    SubjectId::from_digest(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    #[test]
    fn art32_subject_id_is_a_keyed_hash_without_the_address() {
        let pepper = KeyRing::single("p1", SecretKey::new(vec![7; 32]));
        let a = subject_id(&pepper, &EmailAddress::parse("Jan@Example.pl").unwrap());
        let b = subject_id(&pepper, &EmailAddress::parse("jan@example.pl").unwrap());
        assert_eq!(a, b);
        assert!(!a.as_str().contains("jan"));
        let other = KeyRing::single("p1", SecretKey::new(vec![8; 32]));
        assert_ne!(a, subject_id(&other, &EmailAddress::parse("jan@example.pl").unwrap()));
    }
}
