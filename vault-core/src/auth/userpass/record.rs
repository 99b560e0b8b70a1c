//! What the userpass method keeps in its view, and how it is encoded. The
//! storage layout is described in the module docs (`userpass/mod.rs`); this file
//! is the only one that builds storage keys.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::engines::{EngineError, View};

/// Where the mount's lockout settings live.
pub(super) const CONFIG_PATH: &str = "config";

/// Failed logins in a row that lock a user, unless `config` says otherwise.
pub(super) const DEFAULT_LOCKOUT_THRESHOLD: u64 = 5;

/// How long a lockout lasts, in milliseconds, unless `config` says otherwise.
pub(super) const DEFAULT_LOCKOUT_DURATION_MS: u64 = 15 * 60 * 1000;

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

/// The storage key of `name`'s [`LockoutState`].
pub(super) fn lockout_path(name: &str) -> String {
    format!("lockout/{name}")
}

/// The mount's settings (`config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct LockoutConfig {
    /// Failed logins in a row that lock a user (at least 1).
    pub(super) lockout_threshold: u64,
    /// How long a lockout lasts, in milliseconds (more than 0). Also how long an
    /// unlocked user's failure count is remembered (Vault's
    /// `lockout_counter_reset`, which defaults to the same 15 minutes).
    pub(super) lockout_duration_ms: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            lockout_threshold: DEFAULT_LOCKOUT_THRESHOLD,
            lockout_duration_ms: DEFAULT_LOCKOUT_DURATION_MS,
        }
    }
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

/// A user's failed logins (`lockout/<name>`); absent after a success or an
/// unlock. Kept in the view so that a restart does not reset a lockout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct LockoutState {
    /// Failed logins since the last success, unlock or lockout's end.
    pub(super) failures: u64,
    /// When the last one happened, ms since the epoch.
    pub(super) last_failure_ms: u64,
    /// While `now` is before this (ms since the epoch), every login fails.
    pub(super) locked_until_ms: u64,
}

impl LockoutState {
    /// Forgets what no longer counts at `now`: an ended lockout and its
    /// failures, or failures older than the lockout duration. Returns whether
    /// anything was forgotten.
    pub(super) fn expire(&mut self, now: u64, config: &LockoutConfig) -> bool {
        let lock_ended = self.locked_until_ms != 0 && now >= self.locked_until_ms;
        let stale = self.failures > 0
            && now.saturating_sub(self.last_failure_ms) >= config.lockout_duration_ms;
        if lock_ended || (self.locked_until_ms == 0 && stale) {
            *self = LockoutState::default();
            return true;
        }
        false
    }

    /// True while a lockout is in force at `now`.
    pub(super) fn is_locked(&self, now: u64) -> bool {
        now < self.locked_until_ms
    }

    /// Counts one failure at `now`; returns true if it starts a lockout.
    pub(super) fn record_failure(&mut self, now: u64, config: &LockoutConfig) -> bool {
        self.failures = self.failures.saturating_add(1);
        self.last_failure_ms = now;
        if self.failures >= config.lockout_threshold {
            self.locked_until_ms = now.saturating_add(config.lockout_duration_ms);
            return true;
        }
        false
    }
}

/// A stored record that does not decode: the barrier authenticated it, so this
/// is our own bug or a downgrade, and the caller must not see a guess.
async fn load<T: DeserializeOwned>(view: &View<'_>, path: &str) -> Result<Option<T>, EngineError> {
    crate::engines::shared::load_json(view, path, "the stored userpass record is malformed").await
}

pub(super) use crate::engines::shared::put_json as put;

/// The mount's settings, or the defaults if none were written.
pub(super) async fn load_config(view: &View<'_>) -> Result<LockoutConfig, EngineError> {
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

/// `name`'s failed logins (none recorded: the default).
pub(super) async fn load_lockout(view: &View<'_>, name: &str) -> Result<LockoutState, EngineError> {
    Ok(load(view, &lockout_path(name)).await?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lockout_starts_at_the_threshold_and_ends_after_the_duration() {
        let config = LockoutConfig::default();
        let mut state = LockoutState::default();
        for _ in 0..4 {
            assert!(!state.record_failure(1_000, &config));
        }
        assert!(state.record_failure(1_000, &config));
        assert!(state.is_locked(1_000));
        assert!(!state.expire(1_000 + DEFAULT_LOCKOUT_DURATION_MS - 1, &config));
        assert!(state.is_locked(1_000 + DEFAULT_LOCKOUT_DURATION_MS - 1));
        assert!(state.expire(1_000 + DEFAULT_LOCKOUT_DURATION_MS, &config));
        assert_eq!(state, LockoutState::default());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let config = LockoutConfig::default();
        let mut state = LockoutState::default();
        state.record_failure(0, &config);
        assert!(!state.expire(DEFAULT_LOCKOUT_DURATION_MS - 1, &config));
        assert_eq!(state.failures, 1);
        assert!(state.expire(DEFAULT_LOCKOUT_DURATION_MS, &config));
        assert_eq!(state.failures, 0);
    }

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
