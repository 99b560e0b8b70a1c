//! Rendering the metrics ([`crate::metrics`]): what is counted elsewhere (the
//! expiration manager's revocations, the audit devices' failures) and what
//! lives in storage (leases, tokens) is brought up to date first.

use crate::metrics::Metrics;

use super::{Vault, VaultError};

/// Keys read per page when counting.
const PAGE: usize = 1000;

/// How long a [`Vault::degraded`] answer is reused.
const DEGRADED_FRESH: std::time::Duration = std::time::Duration::from_millis(500);

/// How long a storage error keeps the vault degraded.
const STORAGE_ERROR_MEMORY: std::time::Duration = std::time::Duration::from_secs(60);

/// Failing leases read, at most, to say how many there are in `status`: past
/// this the reason says "at least", and a health check during a long outage
/// stays a bounded read.
const DEGRADED_COUNT_LIMIT: usize = 1000;

impl Vault {
    /// The metrics registry: an embedding program may add its own.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Every metric, in the Prometheus (OpenMetrics) text format. Storage
    /// counts are read only on a node that serves (unsealed, and active).
    pub async fn render_metrics(&self) -> Result<String, VaultError> {
        let m = &self.metrics;
        m.sealed.set(i64::from(self.barrier.is_sealed()));
        let (revoked, failed) = self.expiration.revocation_totals();
        Metrics::set_counter(&m.revocations, &[("outcome", "revoked")], revoked);
        Metrics::set_counter(&m.revocations, &[("outcome", "failed")], failed);
        for device in self.audit_status() {
            let name = device.config.name.as_str();
            let kinds = [("failed", device.failures), ("timed_out", device.timeouts)];
            for (kind, total) in kinds {
                Metrics::set_counter(
                    &m.audit_failures,
                    &[("device", name), ("kind", kind)],
                    total,
                );
            }
        }
        if let Some(totals) = self.barrier.backend().commit_totals() {
            use std::sync::atomic::Ordering::Relaxed;
            m.commits.inner().store(totals.commits, Relaxed);
            m.committed_writes.inner().store(totals.writes, Relaxed);
        }
        if self.is_ready() {
            let counts = self.expiration.count_failing(&self.barrier).await?;
            let by_mount = self.leases_by_mount().await?;
            let total: u64 = by_mount.iter().map(|(_, n)| n).sum();
            let active = total.saturating_sub(counts.revoking + counts.irrevocable);
            for (state, n) in [
                ("active", active),
                ("revoking", counts.revoking),
                ("irrevocable", counts.irrevocable),
            ] {
                Metrics::set_gauge(&m.leases, &[("state", state)], n);
            }
            m.leases_by_mount.clear();
            for (mount, n) in &by_mount {
                Metrics::set_gauge(&m.leases_by_mount, &[("mount", mount)], *n);
            }
            let tokens = self.count_keys(crate::token::ID_PREFIX).await?;
            m.tokens.set(i64::try_from(tokens).unwrap_or(i64::MAX));
        }
        Ok(m.encode())
    }

    /// Why the vault is degraded, one reason each, with what to do: the
    /// storage file failed its integrity check (shown sealed or not: it is
    /// about the file), and while it serves an audit device failing, leases
    /// whose revocation is failing or gave up, storage errors in the last
    /// minute. Empty when all is well. Each but the first clears by itself
    /// once its cause is gone.
    ///
    /// Health checks call this often (every `status`, `sys/health`), so the
    /// serving reasons are kept for [`DEGRADED_FRESH`]: they can lag a change
    /// by that much.
    pub async fn degraded(&self) -> Vec<String> {
        let mut reasons: Vec<String> = self.damaged_storage().into_iter().collect();
        if !self.is_ready() {
            return reasons;
        }
        let cached = self
            .degraded_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(at, _)| at.elapsed() < DEGRADED_FRESH)
            .map(|(_, serving)| serving.clone());
        let serving = match cached {
            Some(serving) => serving,
            None => {
                let serving = self.degraded_now().await;
                *self.degraded_seen.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((std::time::Instant::now(), serving.clone()));
                serving
            }
        };
        reasons.extend(serving);
        reasons
    }

    /// The storage's own integrity check, once it has found damage.
    fn damaged_storage(&self) -> Option<String> {
        match self.barrier.backend().integrity() {
            crate::storage::Integrity::Failed(found) => Some(format!(
                "the storage failed its integrity check ({found}): reads of the damaged part \
                 fail; stop this node and restore the file from a backup"
            )),
            _ => None,
        }
    }

    async fn degraded_now(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        for device in self.audit_status().iter().filter(|d| !d.healthy) {
            reasons.push(format!(
                "audit device {:?} is failing: its writes fail or time out (see the daemon's \
                 log); requests are refused if no device can record them",
                device.config.name
            ));
        }
        match self
            .expiration
            .count_failing_up_to(&self.barrier, DEGRADED_COUNT_LIMIT)
            .await
        {
            Ok((counts, stopped)) => {
                let at_least = if stopped { "at least " } else { "" };
                if counts.revoking > 0 {
                    reasons.push(format!(
                        "{at_least}{} leases are failing revocation and being retried: see \
                         `lease list --failing`",
                        counts.revoking
                    ));
                }
                if counts.irrevocable > 0 {
                    reasons.push(format!(
                        "{at_least}{} leases are irrevocable: revoke them again, or force-revoke \
                         them after cleaning up by hand",
                        counts.irrevocable
                    ));
                }
            }
            Err(e) => self.note_storage_error(&e.to_string()),
        }
        if let Some(error) = self.recent_storage_error() {
            reasons.push(format!("storage errors in the last minute: {error}"));
        }
        reasons
    }

    /// Remembers a storage failure for [`Self::degraded`].
    pub(super) fn note_storage_error(&self, error: &str) {
        *self.storage_error.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), error.to_owned()));
    }

    fn recent_storage_error(&self) -> Option<String> {
        let last = self.storage_error.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref()
            .filter(|(at, _)| at.elapsed() < STORAGE_ERROR_MEMORY)
            .map(|(_, e)| e.clone())
    }

    /// Lease ids grouped by the mount they fall under (ids only, in pages).
    async fn leases_by_mount(&self) -> Result<Vec<(String, u64)>, VaultError> {
        let table = self.mount_table();
        let prefix = crate::expiration::ID_PREFIX;
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        self.scan_keys(prefix, |key| {
            let id = key.strip_prefix(prefix).unwrap_or(key);
            let mount = table
                .route(id)
                .map_or_else(|| "unmounted".to_owned(), |(m, _)| m.path.clone());
            *counts.entry(mount).or_default() += 1;
        })
        .await?;
        Ok(counts.into_iter().collect())
    }

    /// How many keys are stored under `prefix`.
    async fn count_keys(&self, prefix: &str) -> Result<u64, VaultError> {
        let mut total = 0u64;
        self.scan_keys(prefix, |_| total += 1).await?;
        Ok(total)
    }

    /// Calls `each` with every key under `prefix`, a page at a time (keys
    /// only: nothing is decrypted).
    async fn scan_keys(&self, prefix: &str, mut each: impl FnMut(&str)) -> Result<(), VaultError> {
        let backend = self.barrier.backend();
        let mut after: Option<String> = None;
        loop {
            let keys = backend.scan(prefix, after.as_deref(), PAGE).await?;
            keys.iter().for_each(|k| each(k));
            if keys.len() < PAGE {
                return Ok(());
            }
            after = keys.last().cloned();
        }
    }
}

#[async_trait::async_trait]
impl crate::sys::MetricsSource for Vault {
    async fn render(&self) -> Result<String, VaultError> {
        self.render_metrics().await
    }
}
