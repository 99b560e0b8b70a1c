//! The JWT/OIDC auth method (`auth/jwt`), under construction for issue 21:
//! so far the verifier every login starts with ([`verify`]) and the key sets
//! it takes ([`jwks`]); the config, roles, fetching and the login follow.

pub mod jwks;
pub mod verify;
