//! Logins waiting for their second factor: held in memory between the
//! login that answered `mfa_requirement` and the `sys/mfa/validate` that
//! completes it. Bounded in count (the oldest goes first) and in time (five
//! minutes, as Vault); lost on restart or step-down, when the user logs in
//! again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::request::{LoginGrant, LoginLockout, Response};

use super::check::Requirement;

/// How long a pending login waits for its codes.
pub(crate) const TTL: Duration = Duration::from_secs(5 * 60);

/// Pending logins kept at most.
const MAX_PENDING: usize = 4096;

/// A login whose first factor passed.
#[derive(Debug, Clone)]
pub(crate) struct PendingLogin {
    /// The auth mount it came through (by uuid: a remount or disable in
    /// between voids it).
    pub mount_uuid: String,
    /// The token to make once the codes pass.
    pub grant: LoginGrant,
    /// The method's answer, less the grant (its warnings, data).
    pub response: Response,
    pub entity_id: String,
    pub requirement: Requirement,
    /// Where failed codes count.
    pub lockout: LoginLockout,
    pub created: Instant,
}

/// The pending logins, by `mfa_request_id`.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    logins: Mutex<HashMap<String, PendingLogin>>,
}

impl Pending {
    /// Holds `login`; returns its `mfa_request_id`.
    pub(crate) fn insert(&self, login: PendingLogin) -> Result<String, crate::error::VaultError> {
        let id = crate::random::uuid_v4()
            .map_err(|e| crate::error::VaultError::Internal(e.to_string()))?;
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        logins.retain(|_, l| l.created.elapsed() < TTL);
        if logins.len() >= MAX_PENDING
            && let Some(oldest) = logins
                .iter()
                .min_by_key(|(_, l)| l.created)
                .map(|(k, _)| k.clone())
        {
            logins.remove(&oldest);
        }
        logins.insert(id.clone(), login);
        Ok(id)
    }

    /// Takes the login `id` out, if it is still waiting.
    pub(crate) fn take(&self, id: &str) -> Option<PendingLogin> {
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        logins.remove(id).filter(|l| l.created.elapsed() < TTL)
    }

    /// Puts back a login whose codes failed, for another try (until it
    /// expires or the lockout stops the tries).
    pub(crate) fn put_back(&self, id: String, login: PendingLogin) {
        let mut logins = self.logins.lock().unwrap_or_else(|p| p.into_inner());
        if logins.len() < MAX_PENDING {
            logins.insert(id, login);
        }
    }

    pub(crate) fn clear(&self) {
        self.logins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
