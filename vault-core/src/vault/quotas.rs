//! Lease-count quotas, at Vault Enterprise's `sys/quotas/lease-count/<name>`:
//! at most `max_leases` leases under a path (a whole mount, `database/`, or
//! one role, `database/creds/readonly`; an empty path is the whole vault). A
//! request that would issue a lease beyond a quota is refused before the
//! engine runs (nothing is made, nothing waits): leases are a cost on an
//! external system, and one runaway client must not spend them all.
//!
//! The count is the lease store itself (the ids under the path, in any
//! state: a lease whose revocation is failing still holds its credential),
//! read up to `max_leases` keys per request. What is counted and what is
//! reserved are kept consistent by one gate per quota: the count and the
//! reservation happen under its lock, and the reservation is held until the
//! lease is stored, so two requests can never both take the last slot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::params;
use crate::request::{Data, Operation, Response};

use super::{Vault, VaultError, field, object};

/// Where quotas are stored, behind the barrier.
const QUOTA_PREFIX: &str = "sys/quotas/lease-count/";

/// One quota as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LeaseQuota {
    name: String,
    /// Normalised: no leading or trailing `/`; empty for the whole vault.
    path: String,
    max_leases: u64,
}

impl LeaseQuota {
    /// True if a request at `path` issues its leases under this quota.
    fn covers(&self, path: &str) -> bool {
        self.path.is_empty()
            || path
                .strip_prefix(&self.path)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// The quotas of one vault, and their gates.
#[derive(Debug, Default)]
pub(super) struct Quotas {
    // Read on first use after unseal, dropped on any change and at seal. A
    // std lock: held only to clone or swap the Arc.
    loaded: RwLock<Option<Arc<Vec<LeaseQuota>>>>,
    // By quota name. A std lock: held only to look up or insert.
    gates: Mutex<HashMap<String, Arc<Gate>>>,
}

#[derive(Debug, Default)]
struct Gate {
    // A tokio Mutex: held across the storage scan that counts the leases.
    counting: tokio::sync::Mutex<()>,
    // Requests admitted under this quota whose lease is not stored yet.
    in_flight: AtomicU64,
}

/// Slots held under the quotas that cover one request, released (dropped)
/// once its lease is stored or the request failed.
#[derive(Debug, Default)]
pub(super) struct Reservation {
    gates: Vec<Arc<Gate>>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        for gate in &self.gates {
            gate.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Quotas {
    pub(super) fn clear(&self) {
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn gate(&self, name: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(gates.entry(name.to_owned()).or_default())
    }
}

impl Vault {
    /// Holds a slot under every quota covering `path`, or refuses with the
    /// quota named when one is full.
    pub(super) async fn reserve_leases(&self, path: &str) -> Result<Reservation, VaultError> {
        let quotas = self.lease_quotas().await?;
        let mut reservation = Reservation::default();
        for quota in quotas.iter().filter(|q| q.covers(path)) {
            let gate = self.quotas.gate(&quota.name);
            let _counting = gate.counting.lock().await;
            let limit = usize::try_from(quota.max_leases).unwrap_or(usize::MAX);
            let stored = self
                .expiration
                .count_under(&self.barrier, &quota.path, limit)
                .await
                .map_err(VaultError::from)? as u64;
            if stored + gate.in_flight.load(Ordering::SeqCst) >= quota.max_leases {
                return Err(VaultError::RateLimited(format!(
                    "lease quota {:?} reached: {} leases under {:?}; revoke some, or raise its \
                     max_leases at sys/quotas/lease-count/{}",
                    quota.name,
                    quota.max_leases,
                    if quota.path.is_empty() {
                        "/"
                    } else {
                        &quota.path
                    },
                    quota.name
                )));
            }
            gate.in_flight.fetch_add(1, Ordering::SeqCst);
            reservation.gates.push(Arc::clone(&gate));
        }
        Ok(reservation)
    }

    async fn lease_quotas(&self) -> Result<Arc<Vec<LeaseQuota>>, VaultError> {
        if let Some(loaded) = &*self.quotas.loaded.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(Arc::clone(loaded));
        }
        let mut quotas = Vec::new();
        for name in self.barrier.list(QUOTA_PREFIX).await? {
            if let Some(quota) = self.load_quota(&name).await? {
                quotas.push(quota);
            }
        }
        let quotas = Arc::new(quotas);
        *self
            .quotas
            .loaded
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&quotas));
        Ok(quotas)
    }

    async fn load_quota(&self, name: &str) -> Result<Option<LeaseQuota>, VaultError> {
        let Some(bytes) = self.barrier.get(&format!("{QUOTA_PREFIX}{name}")).await? else {
            return Ok(None);
        };
        serde_json::from_slice(bytes.expose_secret())
            .map(Some)
            .map_err(|e| VaultError::Internal(format!("lease quota {name:?} is unreadable: {e}")))
    }

    /// `sys/quotas/lease-count[/<name>]`.
    pub(super) async fn sys_quota(
        &self,
        name: &str,
        op: Operation,
        data: &Data,
    ) -> Result<Response, VaultError> {
        if name.is_empty() {
            return match op {
                Operation::List | Operation::Read => {
                    let keys = self.barrier.list(QUOTA_PREFIX).await?;
                    Ok(Response::with_data(object(json!({ "keys": keys }))))
                }
                _ => Err(VaultError::Unsupported(format!(
                    "{op} is not supported on sys/quotas/lease-count"
                ))),
            };
        }
        check_name(name)?;
        let key = format!("{QUOTA_PREFIX}{name}");
        match op {
            Operation::Read => {
                let quota = self.load_quota(name).await?.ok_or_else(|| {
                    VaultError::NotFound(format!("no lease quota named {name:?}"))
                })?;
                let limit = usize::try_from(quota.max_leases).unwrap_or(usize::MAX);
                let leases = self
                    .expiration
                    .count_under(&self.barrier, &quota.path, limit)
                    .await
                    .map_err(VaultError::from)?;
                Ok(Response::with_data(object(json!({
                    "name": quota.name,
                    "type": "lease-count",
                    "path": quota.path,
                    "max_leases": quota.max_leases,
                    "leases": leases,
                }))))
            }
            Operation::Create | Operation::Update => {
                let old = self.load_quota(name).await?;
                let path = match field(params::string(data, "path"))? {
                    Some(p) => self.quota_path(&p)?,
                    None => old.as_ref().map(|q| q.path.clone()).unwrap_or_default(),
                };
                let max_leases = field(params::unsigned(data, "max_leases"))?
                    .or(old.as_ref().map(|q| q.max_leases))
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"max_leases\"".into()))?;
                if max_leases == 0 {
                    return Err(VaultError::InvalidRequest(
                        "max_leases must be at least 1".into(),
                    ));
                }
                let quota = LeaseQuota {
                    name: name.to_owned(),
                    path,
                    max_leases,
                };
                let bytes = serde_json::to_vec(&quota)
                    .map_err(|e| VaultError::Internal(format!("encoding the quota: {e}")))?;
                self.barrier.put(&key, &bytes).await?;
                self.quotas.clear();
                Ok(Response::default())
            }
            Operation::Delete => {
                self.barrier.delete(&key).await?;
                self.quotas.clear();
                Ok(Response::default())
            }
            _ => Err(VaultError::Unsupported(format!(
                "{op} is not supported on a lease quota"
            ))),
        }
    }

    /// A quota's path, normalised, inside a mount that exists (or empty).
    fn quota_path(&self, raw: &str) -> Result<String, VaultError> {
        let trimmed = raw.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(String::new());
        }
        let path = crate::path::normalize(trimmed, false)?;
        let mounts = self.mount_table();
        if mounts.route(&path).is_none() {
            return Err(VaultError::InvalidRequest(format!(
                "path {path:?} is not in any mount"
            )));
        }
        Ok(path)
    }
}

fn check_name(name: &str) -> Result<(), VaultError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidRequest(format!(
            "invalid quota name {name:?}: use up to 128 of a-z, A-Z, 0-9, '-', '_', '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_covers_its_path_and_below_only() {
        let q = |path: &str| LeaseQuota {
            name: "q".into(),
            path: path.into(),
            max_leases: 1,
        };
        assert!(q("database").covers("database/creds/ro"));
        assert!(q("database/creds/ro").covers("database/creds/ro"));
        assert!(!q("database/creds/ro").covers("database/creds/ro2"));
        assert!(!q("database").covers("database2/creds/ro"));
        assert!(q("").covers("anything/at/all"));
    }

    #[test]
    fn quota_names_are_one_plain_segment() {
        assert!(check_name("db-readonly_1.x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
