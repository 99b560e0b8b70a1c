//! Passwords: argon2id hashing and verification, run on tokio's blocking threads
//! because each takes tens of milliseconds of CPU and ~19 MiB of memory.
//!
//! Only PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) are ever
//! stored. Verification takes the cost parameters from the stored string, so
//! raising the defaults later leaves old hashes working.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OnceCell, Semaphore};
use zeroize::Zeroizing;

use crate::barrier::BarrierError;
use crate::engines::EngineError;

/// Bytes of random salt per hash (RFC 9106 recommends 16).
const SALT_LEN: usize = 16;

/// What is hashed once to make the hash that unknown users are checked against.
/// Its value does not matter: only the time its verification takes.
const DUMMY_PASSWORD: &str = "userpass: no such user";

/// Hashes and checks passwords with one set of argon2id costs.
pub(super) struct Passwords {
    params: Params,
    /// A hash made with `params`, for [`Passwords::spend_verification_time`].
    /// Made on first use rather than fixed in the source, so that it always
    /// costs what a real user's hash costs.
    dummy: OnceCell<String>,
    /// Caps argon2 runs in flight at the number of cores: more would not finish
    /// sooner, and a burst of logins would otherwise hold ~19 MiB per blocking
    /// thread, up to tokio's 512. A tokio Semaphore: waiters are async.
    slots: Semaphore,
}

impl Passwords {
    /// Hashing and checking with `params` (argon2's defaults in production).
    pub(super) fn new(params: Params) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Passwords {
            params,
            dummy: OnceCell::new(),
            slots: Semaphore::new(cores),
        }
    }

    /// `password` as an argon2id PHC string with a fresh random salt.
    pub(super) async fn hash(&self, password: Zeroizing<String>) -> Result<String, EngineError> {
        let mut salt = [0u8; SALT_LEN];
        crate::random::fill(&mut salt)
            .map_err(|e| EngineError::Barrier(BarrierError::Random(e)))?;
        let params = self.params.clone();
        let _slot = self.slots.acquire().await.map_err(|_| hash_failed())?;
        let joined = tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(&salt).ok()?;
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(password.as_bytes(), &salt)
                .ok()
                .map(|hash| hash.to_string())
        })
        .await;
        match joined {
            Ok(Some(phc)) => Ok(phc),
            _ => Err(hash_failed()),
        }
    }

    /// True if `password` is the one `phc` was made from. Comparison is in
    /// constant time (argon2's verifier); any failure to check is a mismatch.
    pub(super) async fn verify(&self, password: Zeroizing<String>, phc: String) -> bool {
        let Ok(_slot) = self.slots.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
            .await
            .unwrap_or(false)
    }

    /// Takes as long as checking `password` against a real user's hash, and
    /// decides nothing: for logins that fail before there is a hash to check
    /// (unknown user, locked user), so that timing does not tell them apart.
    pub(super) async fn spend_verification_time(&self, password: Zeroizing<String>) {
        let dummy = self
            .dummy
            .get_or_try_init(|| self.hash(Zeroizing::new(DUMMY_PASSWORD.to_owned())))
            .await;
        if let Ok(dummy) = dummy {
            // The answer is thrown away: the caller fails the login whatever it is.
            let _ = self.verify(password, dummy.clone()).await;
        }
    }
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    // We only ever store argon2id; refuse to run any other algorithm a record
    // might name.
    if hash.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// Hashing failed: only a panic in the blocking task or parameters argon2
/// refuses can cause it. EngineError has no internal-error variant; this one
/// at least names no secret.
fn hash_failed() -> EngineError {
    EngineError::InvalidRequest("the password could not be hashed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(Params::new(Params::MIN_M_COST, 1, 1, None).unwrap())
    }

    fn secret(text: &str) -> Zeroizing<String> {
        Zeroizing::new(text.to_owned())
    }

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify() {
        let passwords = cheap();
        let a = passwords.hash(secret("hunter2")).await.unwrap();
        let b = passwords.hash(secret("hunter2")).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "the salt must differ");
        assert!(!a.contains("hunter2"));
        assert!(passwords.verify(secret("hunter2"), a.clone()).await);
        assert!(!passwords.verify(secret("hunter3"), a).await);
        assert!(!passwords.verify(secret("x"), "not a hash".into()).await);
        passwords.spend_verification_time(secret("hunter2")).await;
    }

    #[tokio::test]
    async fn the_default_costs_work() {
        let passwords = Passwords::new(Params::default());
        let phc = passwords.hash(secret("pw")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(passwords.verify(secret("pw"), phc).await);
    }

    #[test]
    fn other_algorithms_are_refused() {
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(Params::MIN_M_COST, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let phc = argon2i.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(!verify_blocking("pw", &phc));
    }
}
