//! Lease-count quotas, at Vault Enterprise's `sys/quotas/lease-count/<name>`:
//! at most `max_leases` leases under a path (a whole mount, `database/`, or
//! one role, `database/creds/readonly`; an empty path is the whole vault). A
//! request that would issue a lease beyond a quota is refused before the
//! engine runs (nothing is made, nothing waits): leases are a cost on an
//! external system, and one runaway client must not spend them all.
//!
//! The count is the lease store itself (the ids under the path, in any
//! state: a lease whose revocation is failing still holds its credential),
//! read up to `max_leases` keys per request, plus the requests admitted whose
//! lease may not be stored yet. One gate per quota keeps the two consistent:
//! the count and the reservation happen under its lock, so two requests can
//! never both take the last slot. A reservation is held until its lease is
//! stored, and names the lease before storing it; a count reads the
//! reservations first and the store second, so a request is counted once:
//! by its reservation, or, if that is gone, by its stored lease (stored
//! before the reservation went), or by both only when they name the same
//! lease, which is then counted once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};

use super::ExpirationManager;
use crate::barrier::Barrier;
use crate::error::VaultError;

/// Where quotas are stored, behind the barrier.
const QUOTA_PREFIX: &str = "sys/quotas/lease-count/";

/// One quota as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseQuota {
    pub name: String,
    /// Normalised: no leading or trailing `/`; empty for the whole vault.
    pub path: String,
    pub max_leases: u64,
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

/// The quotas of one vault, stored behind the barrier, and their gates.
#[derive(Debug, Default)]
pub(crate) struct LeaseQuotas {
    // Read on first use after unseal, dropped on any change and at seal. A
    // std lock: held only to clone or swap the Arc.
    loaded: RwLock<Option<Arc<Vec<LeaseQuota>>>>,
    // By quota name. A std lock: held only to look up or insert.
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    // Numbers the reservations.
    next: AtomicU64,
}

#[derive(Debug, Default)]
struct Gate {
    // A tokio Mutex: held across the storage scan that counts the leases.
    counting: tokio::sync::Mutex<()>,
    // Requests admitted under this quota and not finished, by reservation
    // number, with the id of their lease once named. A std lock: held only
    // to copy, insert or remove.
    in_flight: Mutex<HashMap<u64, Option<String>>>,
}

impl Gate {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Option<String>>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Slots held under the quotas that cover one request, released (dropped)
/// once its lease is stored or the request failed.
#[derive(Debug, Default)]
pub(crate) struct Reservation {
    slots: Vec<(Arc<Gate>, u64)>,
}

impl Reservation {
    /// Names the lease this request is about to store (before it stores
    /// it), so a count that finds it stored while the slot is still held
    /// counts it once.
    pub(crate) fn note_lease(&self, id: &str) {
        for (gate, number) in &self.slots {
            if let Some(slot) = gate.in_flight().get_mut(number) {
                *slot = Some(id.to_owned());
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        for (gate, number) in &self.slots {
            gate.in_flight().remove(number);
        }
    }
}

impl LeaseQuotas {
    /// Forgets the quotas read (at seal, and after a change).
    pub(crate) fn clear(&self) {
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn gate(&self, name: &str) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(gates.entry(name.to_owned()).or_default())
    }

    /// Holds a slot under every quota covering `path`, or refuses with the
    /// quota named when one is full.
    pub(crate) async fn reserve(
        &self,
        barrier: &Barrier,
        expiration: &ExpirationManager,
        path: &str,
    ) -> Result<Reservation, VaultError> {
        let quotas = self.all(barrier).await?;
        let mut reservation = Reservation::default();
        for quota in quotas.iter().filter(|q| q.covers(path)) {
            let gate = self.gate(&quota.name);
            let _counting = gate.counting.lock().await;
            // The reservations first, then the store (see the module's doc).
            let pending: Vec<Option<String>> = gate.in_flight().values().cloned().collect();
            let limit = usize::try_from(quota.max_leases).unwrap_or(usize::MAX);
            let stored: HashSet<String> = expiration
                .ids_under(barrier, &quota.path, limit)
                .await?
                .into_iter()
                .collect();
            let unstored = pending
                .iter()
                .filter(|id| id.as_ref().is_none_or(|id| !stored.contains(id)))
                .count();
            if (stored.len() + unstored) as u64 >= quota.max_leases {
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
            let number = self.next.fetch_add(1, Ordering::Relaxed);
            gate.in_flight().insert(number, None);
            reservation.slots.push((Arc::clone(&gate), number));
        }
        Ok(reservation)
    }

    async fn all(&self, barrier: &Barrier) -> Result<Arc<Vec<LeaseQuota>>, VaultError> {
        if let Some(loaded) = &*self.loaded.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(Arc::clone(loaded));
        }
        let mut quotas = Vec::new();
        for name in barrier.list(QUOTA_PREFIX).await? {
            if let Some(quota) = self.get(barrier, &name).await? {
                quotas.push(quota);
            }
        }
        let quotas = Arc::new(quotas);
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&quotas));
        Ok(quotas)
    }

    /// Every quota's name.
    pub(crate) async fn names(&self, barrier: &Barrier) -> Result<Vec<String>, VaultError> {
        Ok(barrier.list(QUOTA_PREFIX).await?)
    }

    /// Quota `name`, if stored.
    pub(crate) async fn get(
        &self,
        barrier: &Barrier,
        name: &str,
    ) -> Result<Option<LeaseQuota>, VaultError> {
        let Some(bytes) = barrier.get(&format!("{QUOTA_PREFIX}{name}")).await? else {
            return Ok(None);
        };
        serde_json::from_slice(bytes.expose_secret())
            .map(Some)
            .map_err(|e| VaultError::Internal(format!("lease quota {name:?} is unreadable: {e}")))
    }

    /// The leases stored under the quota's path (counted up to its maximum).
    pub(crate) async fn leases_under(
        &self,
        barrier: &Barrier,
        expiration: &ExpirationManager,
        quota: &LeaseQuota,
    ) -> Result<u64, VaultError> {
        let limit = usize::try_from(quota.max_leases).unwrap_or(usize::MAX);
        Ok(expiration
            .ids_under(barrier, &quota.path, limit)
            .await?
            .len() as u64)
    }

    /// Stores the quota; requests judge by it from now on.
    pub(crate) async fn put(
        &self,
        barrier: &Barrier,
        quota: &LeaseQuota,
    ) -> Result<(), VaultError> {
        let bytes = serde_json::to_vec(quota)
            .map_err(|e| VaultError::Internal(format!("encoding the quota: {e}")))?;
        barrier
            .put(&format!("{QUOTA_PREFIX}{}", quota.name), &bytes)
            .await?;
        self.clear();
        Ok(())
    }

    /// Deletes quota `name` (nothing there is no error).
    pub(crate) async fn delete(&self, barrier: &Barrier, name: &str) -> Result<(), VaultError> {
        barrier.delete(&format!("{QUOTA_PREFIX}{name}")).await?;
        self.clear();
        Ok(())
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
}
