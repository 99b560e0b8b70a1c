//! Login MFA (Vault's `identity/mfa/`): TOTP methods, each entity's secret
//! for them, and login enforcements naming which logins need a second
//! factor (by auth mount accessor or type, entity or group). A covered
//! login gets no token but `auth.mfa_requirement`; the token comes from
//! `sys/mfa/validate` with the codes, or at once when the login carried
//! them in `X-Vault-MFA` (the pipeline's `vault/mfa_login.rs`).
//!
//! A code is accepted once (its step is stored, so also not after a
//! restart), from the current 30-second step or one either side. A wrong
//! code counts towards the auth mount's lockout for that user from that
//! client address, like a wrong password ([`crate::auth::lockout`]).

mod backend;
pub(crate) mod check;
mod model;
pub(crate) mod pending;
pub(crate) mod store;
pub mod totp;

pub(crate) use backend::handle;

/// Login MFA's state: the stored configuration and the logins waiting
/// for codes.
#[derive(Debug, Default)]
pub(crate) struct Mfa {
    pub store: store::MfaStore,
    pub pending: pending::Pending,
}

impl Mfa {
    /// Forgets what was loaded and every pending login (seal, step-down).
    pub(crate) fn unload(&self) {
        self.store.unload();
        self.pending.clear();
    }
}
