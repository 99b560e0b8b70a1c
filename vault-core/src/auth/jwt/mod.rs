//! The JWT/OIDC auth method (`auth/jwt`), under construction for issue 21:
//! so far the verifier every login starts with ([`verify`]); the config,
//! roles, JWKS fetching and the login follow.

pub mod verify;
