//! The root token made at init. Until the token store exists (issue 3), it is the
//! one token the vault knows: stored only as a SHA-256 hash behind the barrier, and
//! as a verifier in the seal configuration for the few checks made while sealed.

use ring::digest;

use crate::random::{self, RandomError};
use crate::secret::{SecretString, constant_time_eq};

/// Where the root token's hash is stored (behind the barrier).
pub const ROOT_TOKEN_PATH: &str = "core/root-token";

/// A new root token: `s.` and 24 random alphanumerics (about 143 bits).
pub fn generate() -> Result<SecretString, RandomError> {
    Ok(SecretString::new(format!(
        "s.{}",
        random::alphanumeric(24)?
    )))
}

/// The hex SHA-256 of a token: what is stored instead of the token.
pub fn verifier(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// True if `token` hashes to `stored` (compared in constant time).
pub fn verify(token: &str, stored: &str) -> bool {
    constant_time_eq(verifier(token).as_bytes(), stored.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_its_token() {
        let token = crate::token::generate_token().unwrap();
        assert!(token.expose_secret().starts_with("s."));
        assert_eq!(token.expose_secret().len(), 38);
        let stored = verifier(token.expose_secret());
        assert!(!stored.contains(&token.expose_secret()[2..]));
        assert!(verify(token.expose_secret(), &stored));
        assert!(!verify("s.other", &stored));
    }
}
