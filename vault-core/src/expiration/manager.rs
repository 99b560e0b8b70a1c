//! [`ExpirationManager`]: registers, renews and revokes leases, and revokes the
//! due ones on each [`ExpirationManager::tick`].
//!
//! Two locks keep records consistent. A per-lease *claim* (an id in
//! `in_flight`) is held across each call to the engine, so a lease is never
//! revoked twice at once nor renewed while it is being revoked. The lease's
//! `writes` lock (one of a set of stripes, by id) is held only across
//! re-reading a record and writing its new version, never across an engine
//! call; a writer that finds the record gone (force revoked meanwhile) writes
//! nothing, so a deleted lease is never written back.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use tokio::sync::{Notify, Semaphore};

use super::backoff::Backoff;
use super::lease::{
    DUE_PREFIX, FAILING_PREFIX, ID_PREFIX, Lease, LeaseState, index_keys, parse_due_key,
    record_key, token_prefix, valid_id, valid_token_hash,
};
use super::{ExpirationError, RevokeError, Revoker};
use crate::barrier::{Barrier, BarrierError, BarrierOp};
use crate::clock;
use crate::secret::SecretBytes;

/// Tuning for the [`ExpirationManager`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpirationOptions {
    /// The retry schedule of failed revocations.
    pub backoff: Backoff,
    /// Keys read per scan of an index; bounds the memory of one tick.
    pub page_size: usize,
    /// Engine revocations in flight at once, per mount: one slow or dead
    /// backend holds only its own mount's slots.
    pub max_concurrent_revocations: usize,
}

impl Default for ExpirationOptions {
    fn default() -> Self {
        ExpirationOptions {
            backoff: Backoff::default(),
            page_size: 256,
            max_concurrent_revocations: 8,
        }
    }
}

/// How many leases are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseCounts {
    /// Live leases.
    pub active: u64,
    /// Leases whose revocation failed and is being retried.
    pub revoking: u64,
    /// Leases whose revocation can never succeed.
    pub irrevocable: u64,
}

/// What one revocation pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevokeReport {
    /// Leases looked at.
    pub considered: usize,
    /// Revoked and deleted.
    pub revoked: usize,
    /// Already gone (revoked by someone else): idempotent success.
    pub gone: usize,
    /// Failed with a retryable error; retried later by the schedule.
    pub retrying: usize,
    /// Failed permanently; now irrevocable.
    pub irrevocable: usize,
    /// Left alone: another operation held them, or (on a tick) a renewal made
    /// them no longer due.
    pub skipped: usize,
    /// Failed on storage or a malformed record (logged each).
    pub errors: usize,
}

/// What a [`ExpirationManager::tick`] did.
pub type TickReport = RevokeReport;

/// What happened to one lease.
enum Outcome {
    Revoked,
    Gone,
    Retrying(RevokeError),
    Irrevocable(RevokeError),
    Skipped,
}

/// The lease store and its scheduler. Holds no leases in memory: only the
/// claims of operations in flight.
#[derive(Debug)]
pub struct ExpirationManager {
    options: ExpirationOptions,
    // std Mutex: held only to insert or remove an id, never across an await.
    in_flight: Mutex<HashSet<String>>,
    // tokio Mutexes, one stripe per hash of the lease id: held across a record's
    // re-read and write (see the module docs). Striped so that writes of
    // different leases share group commits instead of waiting in line.
    writes: Box<[tokio::sync::Mutex<()>]>,
    // Per mount path. std Mutex: held only to look up or insert, never across
    // an await.
    revocations: Mutex<HashMap<String, Arc<Semaphore>>>,
    changed: Notify,
    // Revocation attempts since start, by outcome (for the metrics).
    revoked: std::sync::atomic::AtomicU64,
    revoke_failures: std::sync::atomic::AtomicU64,
}

/// A lease claimed by one operation; released on drop, so a cancelled
/// operation never leaves its lease stuck.
struct Claim<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Write lock stripes (see [`ExpirationManager`]'s `writes`).
const WRITE_STRIPES: usize = 64;

/// The write stripe of lease `id`.
fn stripe_of(id: &str) -> usize {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same id always maps to the same stripe, which is all
    // striping needs.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    (hasher.finish() % WRITE_STRIPES as u64) as usize
}

impl ExpirationManager {
    /// The revocation slots of the mount at `mount_path`.
    fn mount_permits(&self, mount_path: &str) -> Arc<Semaphore> {
        let mut all = self.revocations.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(
            all.entry(mount_path.to_owned()).or_insert_with(|| {
                Arc::new(Semaphore::new(self.options.max_concurrent_revocations))
            }),
        )
    }

    /// Waits for the write lock of lease `id`.
    async fn write_lock(&self, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes[stripe_of(id)].lock().await
    }

    /// A manager with `options`. Nothing is loaded: the schedule is in storage.
    pub fn new(options: ExpirationOptions) -> Self {
        ExpirationManager {
            options: ExpirationOptions {
                page_size: options.page_size.max(1),
                max_concurrent_revocations: options.max_concurrent_revocations.max(1),
                ..options
            },
            in_flight: Mutex::new(HashSet::new()),
            writes: (0..WRITE_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            revocations: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            revoked: std::sync::atomic::AtomicU64::new(0),
            revoke_failures: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Revocation attempts since start: (revoked, failed). A lease retried
    /// three times and then revoked counts 3 failures and 1 revocation.
    pub fn revocation_totals(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.revoked.load(Relaxed),
            self.revoke_failures.load(Relaxed),
        )
    }

    /// Signalled whenever a lease is registered or renewed, so a background loop
    /// sleeping until the earliest due time ([`Self::next_due`]) can look again.
    pub fn schedule_changed(&self) -> &Notify {
        &self.changed
    }

    /// Stores a new lease with its index keys, atomically.
    pub async fn register(&self, barrier: &Barrier, lease: Lease) -> Result<(), ExpirationError> {
        self.register_all(barrier, vec![lease]).await
    }

    /// Stores many new leases in one atomic batch (an import or a restore, or a
    /// benchmark's setup): all or none.
    pub async fn register_all(
        &self,
        barrier: &Barrier,
        leases: Vec<Lease>,
    ) -> Result<(), ExpirationError> {
        for lease in &leases {
            check_new(lease)?;
        }
        // Every stripe involved, in ascending order: no other writer holds more
        // than one, so this cannot deadlock.
        let mut stripes: Vec<usize> = leases.iter().map(|l| stripe_of(&l.id)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut _writing = Vec::with_capacity(stripes.len());
        for i in stripes {
            _writing.push(self.writes[i].lock().await);
        }
        let mut ops = Vec::with_capacity(leases.len() * 4);
        for lease in &leases {
            if self.read(barrier, &lease.id).await?.is_some() {
                return Err(ExpirationError::Exists(lease.id.clone()));
            }
            ops.extend(rewrite(None, Some(lease))?);
        }
        barrier.batch(ops).await?;
        drop(_writing);
        self.changed.notify_one();
        Ok(())
    }

    /// The lease with `id`.
    pub async fn lookup(&self, barrier: &Barrier, id: &str) -> Result<Lease, ExpirationError> {
        if !valid_id(id) {
            return Err(ExpirationError::InvalidId);
        }
        self.read(barrier, id)
            .await?
            .ok_or_else(|| ExpirationError::NotFound(id.to_owned()))
    }

    /// The immediate children of `prefix` among lease ids, Vault-style (a child
    /// with children of its own ends in `/`). An empty prefix lists the top.
    pub async fn list(
        &self,
        barrier: &Barrier,
        prefix: &str,
    ) -> Result<Vec<String>, ExpirationError> {
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Ok(barrier.list(ID_PREFIX).await?);
        }
        if !valid_id(prefix) {
            return Err(ExpirationError::InvalidId);
        }
        Ok(barrier.list(&format!("{ID_PREFIX}{prefix}/")).await?)
    }

    /// Renews lease `id` at `now` by `increment` ms (0: the TTL last granted).
    /// The new expiry never passes the lease's max; if capped, a warning in
    /// Vault's words is returned with the lease. Calls the engine's renew before
    /// storing; a refusal there changes nothing.
    pub async fn renew(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        id: &str,
        increment: u64,
        now: u64,
    ) -> Result<(Lease, Option<String>), ExpirationError> {
        if !valid_id(id) {
            return Err(ExpirationError::InvalidId);
        }
        let _claim = self
            .claim(id)
            .ok_or_else(|| ExpirationError::Busy(id.to_owned()))?;
        let old = self
            .read(barrier, id)
            .await?
            .ok_or_else(|| ExpirationError::NotFound(id.to_owned()))?;
        if !old.renewable {
            return Err(ExpirationError::NotRenewable);
        }
        if old.state != LeaseState::Active {
            return Err(ExpirationError::NotActive(old.state.name()));
        }
        if old.expire_time <= now {
            return Err(ExpirationError::NotActive("expired"));
        }
        let asked = if increment > 0 { increment } else { old.ttl };
        let mut expire = now.saturating_add(asked);
        let mut warning = None;
        if expire > old.max_expire_time {
            // However close to the max the renewal comes, the lease ends at it
            // (CVE-2021-32923: renewals must not extend past the max TTL).
            expire = old.max_expire_time;
            warning = Some(format!(
                "TTL of {}s exceeded the effective max_ttl of {}s; TTL value is capped accordingly",
                asked / 1000,
                old.max_expire_time.saturating_sub(now) / 1000
            ));
        }
        let mut renewed = old.clone();
        renewed.expire_time = expire;
        renewed.ttl = expire.saturating_sub(now);
        renewed.last_renewal = now;
        revoker
            .renew(&renewed)
            .await
            .map_err(ExpirationError::RenewFailed)?;
        let _writing = self.write_lock(id).await;
        // Re-read: a force revoke may have deleted it during the engine call.
        let current = self
            .read(barrier, id)
            .await?
            .ok_or_else(|| ExpirationError::NotFound(id.to_owned()))?;
        barrier
            .batch(rewrite(Some(&current), Some(&renewed))?)
            .await?;
        drop(_writing);
        self.changed.notify_one();
        Ok((renewed, warning))
    }

    /// Revokes lease `id` now. An unknown id is `Ok` (already revoked). On an
    /// engine failure the lease stays stored, in `revoking` state (retried by the
    /// schedule) or `irrevocable`, and the error is returned.
    pub async fn revoke(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        id: &str,
    ) -> Result<(), ExpirationError> {
        if !valid_id(id) {
            return Err(ExpirationError::InvalidId);
        }
        let now = clock::now_unix_millis();
        match self.revoke_one(barrier, revoker, id, now, false).await? {
            Outcome::Revoked | Outcome::Gone => Ok(()),
            Outcome::Retrying(e) => Err(ExpirationError::RevokeQueued(e)),
            Outcome::Irrevocable(e) => Err(ExpirationError::RevokeFailed(e)),
            Outcome::Skipped => Err(ExpirationError::Busy(id.to_owned())),
        }
    }

    /// Revokes every lease whose id is `prefix` or starts with `prefix/`, with
    /// bounded concurrency. Failures are kept and retried as for [`Self::revoke`]
    /// and counted in the report.
    pub async fn revoke_prefix(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        prefix: &str,
    ) -> Result<RevokeReport, ExpirationError> {
        let prefix = prefix.trim_end_matches('/');
        if !valid_id(prefix) {
            return Err(ExpirationError::InvalidId);
        }
        let now = clock::now_unix_millis();
        let mut report = RevokeReport::default();
        // The prefix may name one lease exactly.
        if self.read(barrier, prefix).await?.is_some() {
            let exact = vec![prefix.to_owned()];
            report.add(self.revoke_ids(barrier, revoker, exact, now).await);
        }
        let scan = format!("{ID_PREFIX}{prefix}/");
        let mut pages = self.pages(barrier, &scan)?;
        while let Some(keys) = pages.next().await? {
            let ids = keys
                .iter()
                .filter_map(|k| k.strip_prefix(ID_PREFIX).map(str::to_owned))
                .collect();
            report.add(self.revoke_ids(barrier, revoker, ids, now).await);
        }
        Ok(report)
    }

    /// Revokes every lease owned by the token with store hash `token_hash`
    /// (when the token is revoked or expires).
    pub async fn revoke_by_token(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        token_hash: &str,
    ) -> Result<RevokeReport, ExpirationError> {
        if !valid_token_hash(token_hash) {
            return Err(ExpirationError::InvalidId);
        }
        let now = clock::now_unix_millis();
        let prefix = token_prefix(token_hash);
        let mut report = RevokeReport::default();
        let mut pages = self.pages(barrier, &prefix)?;
        while let Some(keys) = pages.next().await? {
            let ids = keys
                .iter()
                .filter_map(|k| k.strip_prefix(prefix.as_str()).map(str::to_owned))
                .collect();
            report.add(self.revoke_ids(barrier, revoker, ids, now).await);
        }
        Ok(report)
    }

    /// Deletes lease `id_or_prefix` (or every lease under it) *without* asking
    /// the engine: the external secret may well stay. Returns how many were
    /// deleted, so the caller can say so loudly (and audit it).
    pub async fn revoke_force(
        &self,
        barrier: &Barrier,
        id_or_prefix: &str,
    ) -> Result<usize, ExpirationError> {
        let prefix = id_or_prefix.trim_end_matches('/');
        if !valid_id(prefix) {
            return Err(ExpirationError::InvalidId);
        }
        let mut deleted = usize::from(self.delete_unrevoked(barrier, prefix).await?);
        let scan = format!("{ID_PREFIX}{prefix}/");
        let mut pages = self.pages(barrier, &scan)?;
        while let Some(keys) = pages.next().await? {
            for id in keys.iter().filter_map(|k| k.strip_prefix(ID_PREFIX)) {
                deleted += usize::from(self.delete_unrevoked(barrier, id).await?);
            }
        }
        Ok(deleted)
    }

    /// Leases by state. Reads every id key (keys only) and the failing leases'
    /// records; nothing else.
    pub async fn count(&self, barrier: &Barrier) -> Result<LeaseCounts, ExpirationError> {
        let mut total = 0u64;
        let mut pages = self.pages(barrier, ID_PREFIX)?;
        while let Some(keys) = pages.next().await? {
            total += keys.len() as u64;
        }
        let mut counts = self.count_failing(barrier).await?;
        counts.active = total.saturating_sub(counts.revoking + counts.irrevocable);
        Ok(counts)
    }

    /// The ids of the leases (in any state) under `prefix/` (all of them for
    /// an empty prefix), no more than `limit`: a quota check reads at most
    /// that many keys.
    pub async fn ids_under(
        &self,
        barrier: &Barrier,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, ExpirationError> {
        check_unsealed(barrier)?;
        let prefix = prefix.trim_end_matches('/');
        let scan = match prefix {
            "" => ID_PREFIX.to_owned(),
            p if valid_id(p) => format!("{ID_PREFIX}{p}/"),
            _ => return Err(ExpirationError::InvalidId),
        };
        let keys = barrier.backend().scan(&scan, None, limit).await?;
        Ok(keys
            .into_iter()
            .map(|k| k.strip_prefix(ID_PREFIX).map(str::to_owned).unwrap_or(k))
            .collect())
    }

    /// The leases in `revoking` and `irrevocable` state (`active` left 0):
    /// reads only the failing index and its records, so it stays cheap however
    /// many leases are live (for status and health).
    pub async fn count_failing(&self, barrier: &Barrier) -> Result<LeaseCounts, ExpirationError> {
        Ok(self.count_failing_up_to(barrier, usize::MAX).await?.0)
    }

    /// As [`Self::count_failing`], reading at most `limit` failing records:
    /// health checks ask often, and a long outage can leave very many
    /// failing. True with the counts if the limit stopped the count (the
    /// numbers are then "at least").
    pub async fn count_failing_up_to(
        &self,
        barrier: &Barrier,
        limit: usize,
    ) -> Result<(LeaseCounts, bool), ExpirationError> {
        let mut counts = LeaseCounts::default();
        let mut read = 0usize;
        let mut pages = self.pages(barrier, FAILING_PREFIX)?;
        while let Some(keys) = pages.next().await? {
            for id in keys.iter().filter_map(|k| k.strip_prefix(FAILING_PREFIX)) {
                if read == limit {
                    return Ok((counts, true));
                }
                read += 1;
                match self.read(barrier, id).await?.map(|l| l.state) {
                    Some(LeaseState::Revoking { .. }) => counts.revoking += 1,
                    Some(LeaseState::Irrevocable { .. }) => counts.irrevocable += 1,
                    // Revoked or recovered between the scan and the read.
                    Some(LeaseState::Active) | None => {}
                }
            }
        }
        Ok((counts, false))
    }

    /// Up to `limit` leases in `revoking` or `irrevocable` state, by id, after
    /// id `after`. Paged (unlike the first design) because an outage can leave
    /// very many of them.
    pub async fn list_failing(
        &self,
        barrier: &Barrier,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Lease>, ExpirationError> {
        check_unsealed(barrier)?;
        let after = after.map(|a| format!("{FAILING_PREFIX}{a}"));
        let keys = barrier
            .backend()
            .scan(FAILING_PREFIX, after.as_deref(), limit)
            .await?;
        let mut leases = Vec::with_capacity(keys.len());
        for id in keys.iter().filter_map(|k| k.strip_prefix(FAILING_PREFIX)) {
            // Gone between the scan and the read: revoked meanwhile.
            if let Some(lease) = self.read(barrier, id).await? {
                leases.push(lease);
            }
        }
        Ok(leases)
    }

    /// The earliest due time in the schedule (one key read), if any.
    pub async fn next_due(&self, barrier: &Barrier) -> Result<Option<u64>, ExpirationError> {
        check_unsealed(barrier)?;
        let first = barrier.backend().scan(DUE_PREFIX, None, 1).await?;
        Ok(first
            .first()
            .and_then(|k| parse_due_key(k))
            .map(|(due, _)| due))
    }

    /// Revokes every lease due at or before `now`, in due order, a page of the
    /// due index at a time. Reads only the due keys and the due records: the
    /// scan stops at the first key due later.
    pub async fn tick(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        now: u64,
    ) -> Result<TickReport, ExpirationError> {
        check_unsealed(barrier)?;
        let mut report = TickReport::default();
        let mut after: Option<String> = None;
        loop {
            let keys = barrier
                .backend()
                .scan(DUE_PREFIX, after.as_deref(), self.options.page_size)
                .await?;
            let full_page = keys.len() == self.options.page_size;
            let mut due = Vec::new();
            let mut reached_later = false;
            for key in keys {
                match parse_due_key(&key) {
                    Some((at, _)) if at > now => {
                        reached_later = true;
                        break;
                    }
                    Some(_) => due.push(key.clone()),
                    None => tracing::warn!(key = %key, "skipping a malformed lease due key"),
                }
                after = Some(key);
            }
            // Failed leases move to a due time after `now` (the backoff is never
            // 0), so this pass never meets them again.
            let results = join_all(
                due.iter()
                    .map(|key| self.revoke_due(barrier, revoker, key, now)),
            )
            .await;
            for result in results {
                report.count(result);
            }
            if reached_later || !full_page {
                return Ok(report);
            }
        }
    }

    /// Revokes the lease of due key `key` if it is still due.
    async fn revoke_due(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        key: &str,
        now: u64,
    ) -> Result<Outcome, ExpirationError> {
        let Some((_, id)) = parse_due_key(key) else {
            return Ok(Outcome::Skipped);
        };
        let outcome = self.revoke_one(barrier, revoker, id, now, true).await?;
        if matches!(outcome, Outcome::Gone) {
            // A due key without a record cannot come from this module (every
            // change is one batch), but must not be met on every tick for ever.
            let _writing = self.write_lock(id).await;
            if self.read(barrier, id).await?.is_none() {
                barrier.delete(key).await?;
            }
        }
        Ok(outcome)
    }

    /// Revokes `ids` concurrently (bounded by the semaphore).
    async fn revoke_ids(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        ids: Vec<String>,
        now: u64,
    ) -> RevokeReport {
        let results = join_all(
            ids.iter()
                .map(|id| async move { self.revoke_one(barrier, revoker, id, now, false).await }),
        )
        .await;
        let mut report = RevokeReport::default();
        for result in results {
            report.count(result);
        }
        report
    }

    /// Asks the engine to revoke lease `id`, then deletes it or records the
    /// failure. With `only_if_due`, a lease no longer due at `now` is skipped.
    async fn revoke_one(
        &self,
        barrier: &Barrier,
        revoker: &dyn Revoker,
        id: &str,
        now: u64,
        only_if_due: bool,
    ) -> Result<Outcome, ExpirationError> {
        let Some(_claim) = self.claim(id) else {
            return Ok(Outcome::Skipped);
        };
        let Some(lease) = self.read(barrier, id).await? else {
            return Ok(Outcome::Gone);
        };
        if only_if_due && lease.due().is_none_or(|due| due > now) {
            return Ok(Outcome::Skipped);
        }
        // The semaphore is never closed; if it were, going on unbounded is safer
        // than not revoking.
        let _permit = self
            .mount_permits(&lease.mount_path)
            .acquire_owned()
            .await
            .ok();
        let result = revoker.revoke(&lease).await;
        let tally = if result.is_ok() {
            &self.revoked
        } else {
            &self.revoke_failures
        };
        tally.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _writing = self.write_lock(id).await;
        let Some(current) = self.read(barrier, id).await? else {
            return Ok(Outcome::Gone);
        };
        match result {
            Ok(()) => {
                barrier.batch(rewrite(Some(&current), None)?).await?;
                tracing::info!(lease_id = %id, "lease revoked");
                Ok(Outcome::Revoked)
            }
            Err(RevokeError::Retryable(error)) => {
                let attempts = match &current.state {
                    LeaseState::Revoking { attempts, .. } => attempts.saturating_add(1),
                    _ => 1,
                };
                let next_attempt = now.saturating_add(self.options.backoff.delay_ms(attempts)?);
                let mut failed = current.clone();
                failed.state = LeaseState::Revoking {
                    attempts,
                    last_error: error.clone(),
                    next_attempt,
                };
                barrier
                    .batch(rewrite(Some(&current), Some(&failed))?)
                    .await?;
                tracing::warn!(lease_id = %id, attempts, next_attempt, error = %error,
                    "lease revocation failed; will retry");
                Ok(Outcome::Retrying(RevokeError::Retryable(error)))
            }
            Err(RevokeError::Permanent(error)) => {
                let mut failed = current.clone();
                failed.state = LeaseState::Irrevocable {
                    error: error.clone(),
                };
                barrier
                    .batch(rewrite(Some(&current), Some(&failed))?)
                    .await?;
                tracing::error!(lease_id = %id, error = %error,
                    "lease is irrevocable: its secret may still exist");
                Ok(Outcome::Irrevocable(RevokeError::Permanent(error)))
            }
        }
    }

    /// Deletes lease `id` and its index keys without the engine. True if it was there.
    async fn delete_unrevoked(&self, barrier: &Barrier, id: &str) -> Result<bool, ExpirationError> {
        let _writing = self.write_lock(id).await;
        let Some(lease) = self.read(barrier, id).await? else {
            return Ok(false);
        };
        barrier.batch(rewrite(Some(&lease), None)?).await?;
        tracing::warn!(lease_id = %id,
            "lease force-revoked without its engine: the external secret may still exist");
        Ok(true)
    }

    /// The keys under `prefix`, a page at a time, in order.
    fn pages<'a>(
        &self,
        barrier: &'a Barrier,
        prefix: &'a str,
    ) -> Result<Pages<'a>, ExpirationError> {
        check_unsealed(barrier)?;
        Ok(Pages {
            barrier,
            prefix,
            after: None,
            size: self.options.page_size,
            done: false,
        })
    }

    fn claim(&self, id: &str) -> Option<Claim<'_>> {
        let mut set = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        set.insert(id.to_owned()).then(|| Claim {
            set: &self.in_flight,
            id: id.to_owned(),
        })
    }

    async fn read(&self, barrier: &Barrier, id: &str) -> Result<Option<Lease>, ExpirationError> {
        let Some(bytes) = barrier.get(&record_key(id)).await? else {
            return Ok(None);
        };
        serde_json::from_slice(bytes.expose_secret())
            .map(Some)
            // Position only: serde's message can quote the value, which may be secret.
            .map_err(|e| {
                ExpirationError::Malformed(format!(
                    "{id}: {:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ))
            })
    }
}

impl RevokeReport {
    fn count(&mut self, result: Result<Outcome, ExpirationError>) {
        self.considered += 1;
        match result {
            Ok(Outcome::Revoked) => self.revoked += 1,
            Ok(Outcome::Gone) => self.gone += 1,
            Ok(Outcome::Retrying(_)) => self.retrying += 1,
            Ok(Outcome::Irrevocable(_)) => self.irrevocable += 1,
            Ok(Outcome::Skipped) => self.skipped += 1,
            Err(e) => {
                tracing::warn!(error = %e, "lease revocation could not run");
                self.errors += 1;
            }
        }
    }

    fn add(&mut self, other: RevokeReport) {
        self.considered += other.considered;
        self.revoked += other.revoked;
        self.gone += other.gone;
        self.retrying += other.retrying;
        self.irrevocable += other.irrevocable;
        self.skipped += other.skipped;
        self.errors += other.errors;
    }
}

/// A walk over the keys under a prefix. The caller may delete the keys it is
/// given: the next page starts after the last key seen, not at an offset.
struct Pages<'a> {
    barrier: &'a Barrier,
    prefix: &'a str,
    after: Option<String>,
    size: usize,
    done: bool,
}

impl Pages<'_> {
    async fn next(&mut self) -> Result<Option<Vec<String>>, ExpirationError> {
        if self.done {
            return Ok(None);
        }
        let keys = self
            .barrier
            .backend()
            .scan(self.prefix, self.after.as_deref(), self.size)
            .await?;
        self.done = keys.len() < self.size;
        self.after = keys.last().cloned();
        if keys.is_empty() {
            return Ok(None);
        }
        Ok(Some(keys))
    }
}

fn check_unsealed(barrier: &Barrier) -> Result<(), ExpirationError> {
    // The scans below read the backend directly (keys only), which works sealed;
    // refuse up front rather than half-way through.
    if barrier.is_sealed() {
        return Err(ExpirationError::Barrier(BarrierError::Sealed));
    }
    Ok(())
}

/// The batch that turns stored `old` (with its index keys) into `new`: deletes
/// the keys only `old` has, puts the record and the keys only `new` has.
/// Refuses a lease that cannot be registered as new.
fn check_new(lease: &Lease) -> Result<(), ExpirationError> {
    if !valid_id(&lease.id) || !lease.id.starts_with(&format!("{}/", lease.path)) {
        return Err(ExpirationError::InvalidLease(
            "the id must be <path>/<random>",
        ));
    }
    if !lease.token_hash.is_empty() && !valid_token_hash(&lease.token_hash) {
        return Err(ExpirationError::InvalidLease("malformed token hash"));
    }
    if lease.expire_time > lease.max_expire_time {
        return Err(ExpirationError::InvalidLease("expires after its max TTL"));
    }
    if lease.state != LeaseState::Active {
        return Err(ExpirationError::InvalidLease("a new lease must be active"));
    }
    Ok(())
}

fn rewrite(old: Option<&Lease>, new: Option<&Lease>) -> Result<Vec<BarrierOp>, ExpirationError> {
    let old_keys = old.map(index_keys).unwrap_or_default();
    let new_keys = new.map(index_keys).unwrap_or_default();
    let mut ops = Vec::with_capacity(old_keys.len() + new_keys.len() + 1);
    for key in old_keys.iter().filter(|k| !new_keys.contains(k)) {
        ops.push(BarrierOp::Delete { path: key.clone() });
    }
    match (old, new) {
        (_, Some(lease)) => {
            let json = serde_json::to_vec(lease)
                .map_err(|_| ExpirationError::Malformed(format!("{}: cannot encode", lease.id)))?;
            ops.push(BarrierOp::Put {
                path: record_key(&lease.id),
                value: SecretBytes::new(json),
            });
        }
        (Some(lease), None) => ops.push(BarrierOp::Delete {
            path: record_key(&lease.id),
        }),
        (None, None) => {}
    }
    for key in new_keys.into_iter().filter(|k| !old_keys.contains(k)) {
        ops.push(BarrierOp::Put {
            path: key,
            value: SecretBytes::new(Vec::new()),
        });
    }
    Ok(ops)
}

/// Runs `futures` concurrently on this task and returns their outputs in order.
/// (The crate has no `futures` dependency; the semaphore inside each future
/// bounds how many do real work at once.)
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
