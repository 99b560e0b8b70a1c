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

use super::{Vault, VaultError};
use crate::sys::{LeaseQuota, QuotaStore};

/// Where quotas are stored, behind the barrier.
const QUOTA_PREFIX: &str = "sys/quotas/lease-count/";

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
}

#[async_trait::async_trait]
impl QuotaStore for Vault {
    async fn names(&self) -> Result<Vec<String>, VaultError> {
        Ok(self.barrier.list(QUOTA_PREFIX).await?)
    }

    async fn get(&self, name: &str) -> Result<Option<LeaseQuota>, VaultError> {
        self.load_quota(name).await
    }

    async fn leases_under(&self, quota: &LeaseQuota) -> Result<u64, VaultError> {
        let limit = usize::try_from(quota.max_leases).unwrap_or(usize::MAX);
        let stored = self
            .expiration
            .count_under(&self.barrier, &quota.path, limit)
            .await?;
        Ok(stored as u64)
    }

    async fn put(&self, quota: &LeaseQuota) -> Result<(), VaultError> {
        let bytes = serde_json::to_vec(quota)
            .map_err(|e| VaultError::Internal(format!("encoding the quota: {e}")))?;
        self.barrier
            .put(&format!("{QUOTA_PREFIX}{}", quota.name), &bytes)
            .await?;
        self.quotas.clear();
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        self.barrier
            .delete(&format!("{QUOTA_PREFIX}{name}"))
            .await?;
        self.quotas.clear();
        Ok(())
    }
}
