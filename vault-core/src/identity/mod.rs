//! The identity store (Vault's `identity/`): one entity per person or
//! service, known to each auth mount by an alias, and groups of entities
//! that share policies. Every login resolves or makes the entity behind its
//! alias ([`login`]); a request's policies are its token's plus what the
//! entity and its groups hold *now* ([`resolve`]), so a change to a group
//! reaches live tokens at once, and a disabled entity's tokens are refused.

pub(crate) mod access;
mod backend;
pub(crate) mod ctx;
mod entities;
pub(crate) mod fields;
mod groups;
mod index;
pub(crate) mod login;
pub mod mfa;
pub mod model;
pub(crate) mod resolve;
pub(crate) mod store;

pub(crate) use backend::IdentityBackend;
pub use resolve::Resolved;
pub(crate) use store::IdentityStore;
#[cfg(test)]
mod tests;
