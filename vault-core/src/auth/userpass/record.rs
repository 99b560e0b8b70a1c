//! What the userpass method keeps in its view, and how it is encoded. The
//! storage layout is described in the module docs (`userpass/mod.rs`); this file
//! is the only one that builds storage keys.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::auth::lockout;
use crate::engines::{EngineError, View};

/// Where the mount's lockout settings live.
pub(super) const CONFIG_PATH: &str = "config";

/// The folder of user records; listing it lists the users.
pub(super) const USER_FOLDER: &str = "user/";

/// The storage key of `name`'s [`UserEntry`].
pub(super) fn user_path(name: &str) -> String {
    format!("{USER_FOLDER}{name}")
}

/// The storage key of `name`'s [`TotpEntry`].
pub(super) fn totp_path(name: &str) -> String {
    format!("totp/{name}")
}

/// One user (`user/<name>`). The password is kept only as an argon2id PHC
/// string, which is still redacted from `Debug`: it is what an offline guesser
/// would want.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct UserEntry {
    /// `$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>`.
    pub(super) password_hash: String,
    /// Policies the user's tokens get (canonical names; never `root`).
    pub(super) token_policies: Vec<String>,
    /// Token TTL in milliseconds; 0: the mount's default.
    pub(super) token_ttl: u64,
    /// Token hard limit in milliseconds; 0: the mount's.
    pub(super) token_max_ttl: u64,
}

impl fmt::Debug for UserEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserEntry")
            .field("password_hash", &"<redacted>")
            .field("token_policies", &self.token_policies)
            .field("token_ttl", &self.token_ttl)
            .field("token_max_ttl", &self.token_max_ttl)
            .finish()
    }
}

/// A user's second factor (`totp/<name>`): present exactly when enrolled.
/// Wiped on drop: the secret is as good as a password for as long as it lives.
#[derive(Clone, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(super) struct TotpEntry {
    /// The shared secret, base32 (the barrier encrypts it at rest).
    pub(super) secret: String,
    /// The last time step whose code was accepted: that code and every
    /// earlier one are refused from then on, so a code seen once is spent.
    #[serde(default)]
    pub(super) last_step: Option<u64>,
}

impl fmt::Debug for TotpEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEntry")
            .field("secret", &"<redacted>")
            .field("last_step", &self.last_step)
            .finish()
    }
}

/// A stored record that does not decode: the barrier authenticated it, so this
/// is our own bug or a downgrade, and the caller must not see a guess.
async fn load<T: DeserializeOwned>(view: &View<'_>, path: &str) -> Result<Option<T>, EngineError> {
    crate::engines::shared::load_json(view, path, "the stored userpass record is malformed").await
}

pub(super) use crate::engines::shared::put_json as put;

/// The mount's settings, or the defaults if none were written.
pub(super) async fn load_config(view: &View<'_>) -> Result<lockout::Rules, EngineError> {
    Ok(load(view, CONFIG_PATH).await?.unwrap_or_default())
}

/// True once `config` has been written.
pub(super) async fn config_exists(view: &View<'_>) -> Result<bool, EngineError> {
    Ok(view.get(CONFIG_PATH).await?.is_some())
}

/// `name`'s record, if the user exists.
pub(super) async fn load_user(
    view: &View<'_>,
    name: &str,
) -> Result<Option<UserEntry>, EngineError> {
    load(view, &user_path(name)).await
}

/// `name`'s second factor, if enrolled.
pub(super) async fn load_totp(
    view: &View<'_>,
    name: &str,
) -> Result<Option<TotpEntry>, EngineError> {
    load(view, &totp_path(name)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_hash_and_the_totp_secret() {
        let user = UserEntry {
            password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
            ..UserEntry::default()
        };
        let totp = TotpEntry {
            secret: "GEZDGNBVGY3TQOJQ".into(),
            last_step: None,
        };
        let printed = format!("{user:?} {totp:?}");
        assert!(!printed.contains("argon2id"), "{printed}");
        assert!(!printed.contains("GEZDGNBV"), "{printed}");
    }
}
