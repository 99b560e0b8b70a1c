//! SCRAM-SHA-256 verifiers made by the vault (`password_authentication =
//! "scram-sha-256"`, as in Vault's PostgreSQL plugin): the statements carry
//! the verifier PostgreSQL would derive from the password, which it stores as
//! is, so the password itself never reaches the server (nor its statement
//! log). It does not make creation cheaper for the server: PostgreSQL 15
//! still runs the 4096 PBKDF2 rounds once per role, to refuse an empty
//! password (measured: about 8 ms of its CPU per `CREATE ROLE` here, either
//! way; BENCHMARKS.md).
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
const ITERATIONS: NonZeroU32 = match NonZeroU32::new(4096) {
    Some(n) => n,
    None => panic!("4096 is not zero"),
};
const SALT_LEN: usize = 16;

/// The verifier of `password` under a fresh random salt.
///
/// The password is used as given: PostgreSQL would first apply SASLprep,
/// which leaves ASCII (every password this engine makes) unchanged.
pub(super) fn verifier(password: &str) -> Result<Zeroizing<String>, RandomError> {
    let mut salt = [0u8; SALT_LEN];
    random::fill(&mut salt)?;
    Ok(verifier_with_salt(password, &salt))
}

fn verifier_with_salt(password: &str, salt: &[u8]) -> Zeroizing<String> {
    let mut salted = Zeroizing::new([0u8; digest::SHA256_OUTPUT_LEN]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        ITERATIONS,
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
        ITERATIONS,
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
            verifier_with_salt("A1a-pencil", &salt).as_str(),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$\
             l4WxzFgfkx8ne3lOG8ZWN5e5ika60fGqJh/CNFmxXYM=:\
             4ZIOVZr45+SpPy2Krpmk6V+4orcNYmxMdy1IwXhV/9A="
        );
    }

    #[test]
    fn every_verifier_has_its_own_salt() {
        let a = verifier("A1a-same").unwrap();
        let b = verifier("A1a-same").unwrap();
        assert_ne!(a.as_str(), b.as_str());
        assert!(a.starts_with("SCRAM-SHA-256$4096:"));
        assert!(!a.contains("A1a-same"));
    }
}
