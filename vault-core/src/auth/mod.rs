//! Auth methods: how a caller proves who it is and gets a token. Each is a
//! [`crate::engines::LogicalBackend`] mounted under `auth/`; its login path takes
//! no token, and a successful login answers with a
//! [`crate::request::LoginGrant`] that the pipeline turns into a token.

pub mod approle;
mod glob;
pub mod jwt;
pub mod kubernetes;
pub mod ldap;
pub mod lockout;
mod records;
#[cfg(test)]
pub(crate) mod test_signer;
pub mod token_fields;
pub mod userpass;
