//! The verifier of the root token made at init, kept in the seal configuration
//! for the few checks made while sealed (resetting an unseal attempt, seeing its
//! nonce), when the token store behind the barrier cannot be read. It is a plain
//! SHA-256: no key can be read while sealed, and the token has over 210 random
//! bits, so the hash reveals nothing of it.
//!
//! Revoking that token retires the verifier (it is emptied): an empty verifier
//! matches no token, so a revoked root token keeps no power while sealed.

use ring::digest;

use crate::secret::constant_time_eq;

/// The hex SHA-256 of a token: what is stored instead of the token.
pub fn verifier(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// True if `token` hashes to `stored` (compared in constant time). A retired
/// (empty) verifier matches nothing.
pub fn verify(token: &str, stored: &str) -> bool {
    !stored.is_empty() && constant_time_eq(verifier(token).as_bytes(), stored.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_its_token() {
        let token = crate::token::generate_token().unwrap();
        assert!(token.expose_secret().starts_with("s."));
        assert_eq!(token.expose_secret().len(), 46);
        let stored = verifier(token.expose_secret());
        assert!(!stored.contains(&token.expose_secret()[2..]));
        assert!(verify(token.expose_secret(), &stored));
        assert!(!verify("s.other", &stored));
        assert!(!verify(token.expose_secret(), ""), "a retired verifier");
        assert!(!verify("", ""));
    }
}
