//! SCRAM-SHA-256 verifiers made by the vault (`password_authentication =
//! "scram-sha-256"`, as in Vault's PostgreSQL plugin): the statements carry
//! the verifier PostgreSQL would derive from the password, which it stores as
//! is, so the password itself never reaches the server (nor its statement
//! log). PostgreSQL 15 still runs the verifier's PBKDF2 rounds once per
//! role, to refuse an empty password: at its default of 4096 that is about
//! 8 ms of its CPU per `CREATE ROLE` here, whichever way the password is
//! sent (BENCHMARKS.md). The config's `scram_iterations` lets an operator
//! lower the rounds of the verifiers the vault makes: its passwords carry
//! about 119 random bits, against which rounds add nothing (README).
//!
//! The format is PostgreSQL's (RFC 5803):
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::{digest, hmac, pbkdf2};
use zeroize::Zeroizing;

use crate::random::{self, RandomError};

/// PostgreSQL's own default (`scram_iterations`).
pub(super) const DEFAULT_ITERATIONS: NonZeroU32 = match NonZeroU32::new(4096) {
    Some(n) => n,
    None => panic!("4096 is not zero"),
};
const SALT_LEN: usize = 16;

/// The verifier of `password` under a fresh random salt, with `rounds` of
/// PBKDF2.
///
/// The password is used as given: PostgreSQL would first apply SASLprep,
/// which leaves ASCII (every password this engine makes) unchanged.
pub(super) fn verifier(
    password: &str,
    rounds: NonZeroU32,
) -> Result<Zeroizing<String>, RandomError> {
    let mut salt = [0u8; SALT_LEN];
    random::fill(&mut salt)?;
    Ok(verifier_with_salt(password, &salt, rounds))
}

fn verifier_with_salt(password: &str, salt: &[u8], rounds: NonZeroU32) -> Zeroizing<String> {
    let mut salted = Zeroizing::new([0u8; digest::SHA256_OUTPUT_LEN]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        password.as_bytes(),
        salted.as_mut(),
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, salted.as_ref());
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    Zeroizing::new(format!(
        "SCRAM-SHA-256${}:{}${}:{}",
        rounds,
        STANDARD.encode(salt),
        STANDARD.encode(stored_key.as_ref()),
        STANDARD.encode(server_key.as_ref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_derivation() {
        // Computed with Python's hashlib.pbkdf2_hmac and hmac, as PostgreSQL's
        // scram_build_secret does it.
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        assert_eq!(
            verifier_with_salt("A1a-pencil", &salt, DEFAULT_ITERATIONS).as_str(),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$\
             l4WxzFgfkx8ne3lOG8ZWN5e5ika60fGqJh/CNFmxXYM=:\
             4ZIOVZr45+SpPy2Krpmk6V+4orcNYmxMdy1IwXhV/9A="
        );
    }

    #[test]
    fn the_rounds_are_the_ones_asked_for() {
        // The same independent derivation, with 1 round.
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let one = NonZeroU32::new(1).unwrap();
        assert_eq!(
            verifier_with_salt("A1a-pencil", &salt, one).as_str(),
            "SCRAM-SHA-256$1:W22ZaJ0SNY7soEsUEjb6gQ==$\
             UQQh8Z+b+7musoyreRoyHb1P/H8auYhFUZyhSMmNMgY=:\
             InlcgKyIYb9y4CH/cpNec4jjV3wFaplJlK9nC3h8jbM="
        );
    }

    #[test]
    fn every_verifier_has_its_own_salt() {
        let a = verifier("A1a-same", DEFAULT_ITERATIONS).unwrap();
        let b = verifier("A1a-same", DEFAULT_ITERATIONS).unwrap();
        assert_ne!(a.as_str(), b.as_str());
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!a.contains("A1a-same"));
    }
}
