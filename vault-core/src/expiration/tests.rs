//! The expiration manager over a real unsealed vault's barrier: in memory, and
//! over SQLite for the restart and scan paths. Times are passed explicitly.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::*;
use crate::Vault;
use crate::storage::{Backend, BatchOp, MemoryBackend, StorageError};

const FAR: u64 = 1_000_000_000_000;

async fn unsealed(backend: Arc<dyn Backend>) -> Vault {
    let vault = Vault::new(backend);
    let init = vault.init(1, 1).await.unwrap();
    vault
        .unseal(init.shares[0].to_hex().expose_secret())
        .await
        .unwrap();
    vault
}

async fn memory_vault() -> Vault {
    unsealed(Arc::new(MemoryBackend::new())).await
}

fn manager() -> ExpirationManager {
    ExpirationManager::new(ExpirationOptions::default())
}

/// A lease issued at `now` for `ttl` ms, at most `max_ttl` ms.
fn lease(path: &str, now: u64, ttl: u64, max_ttl: u64, token_hash: &str) -> Lease {
    Lease::new(
        LeaseParams {
            mount_path: "database/".into(),
            path: path.into(),
            ttl,
            max_ttl,
            renewable: true,
            token_hash: token_hash.into(),
            internal: json!({"username": "v-ro-1", "password": "hunter2"}),
        },
        now,
    )
    .unwrap()
}

enum Fail {
    Times(u32),
    Forever,
}

/// Records every call; fails as told per lease id.
#[derive(Default)]
struct TestRevoker {
    calls: Mutex<Vec<String>>,
    revoked: Mutex<Vec<String>>,
    renewed: Mutex<Vec<(String, u64)>>,
    fail: Mutex<HashMap<String, Fail>>,
    active: AtomicUsize,
    max_active: AtomicUsize,
}

impl TestRevoker {
    fn fail(&self, id: &str, how: Fail) {
        self.fail.lock().unwrap().insert(id.to_owned(), how);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn revoked(&self) -> Vec<String> {
        self.revoked.lock().unwrap().clone()
    }
}

#[async_trait]
impl Revoker for TestRevoker {
    async fn revoke(&self, lease: &Lease) -> Result<(), RevokeError> {
        self.calls.lock().unwrap().push(lease.id.clone());
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_active.fetch_max(now, Ordering::SeqCst);
        // Let other revocations start, so concurrency is observable.
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        self.active.fetch_sub(1, Ordering::SeqCst);
        let mut fail = self.fail.lock().unwrap();
        match fail.get_mut(&lease.id) {
            Some(Fail::Forever) => {
                return Err(RevokeError::Permanent("mount database/ is gone".into()));
            }
            Some(Fail::Times(n)) if *n > 0 => {
                *n -= 1;
                return Err(RevokeError::Retryable("connection refused".into()));
            }
            _ => {}
        }
        self.revoked.lock().unwrap().push(lease.id.clone());
        Ok(())
    }

    async fn renew(&self, lease: &Lease) -> Result<(), RevokeError> {
        self.renewed
            .lock()
            .unwrap()
            .push((lease.id.clone(), lease.expire_time));
        Ok(())
    }
}

async fn register(m: &ExpirationManager, vault: &Vault, lease: &Lease) {
    m.register(vault.barrier(), lease.clone()).await.unwrap();
}

fn gone(r: Result<Lease, ExpirationError>) -> bool {
    matches!(r, Err(ExpirationError::NotFound(_)))
}

#[tokio::test]
async fn register_lookup_and_list() {
    let vault = memory_vault().await;
    let m = manager();
    let a = lease("database/creds/ro", 0, 1_000, 5_000, "");
    let b = lease("database/creds/ro", 0, 1_000, 5_000, "");
    let c = lease("database/creds/rw", 0, 1_000, 5_000, "");
    for l in [&a, &b, &c] {
        register(&m, &vault, l).await;
    }
    assert_eq!(m.lookup(vault.barrier(), &a.id).await.unwrap(), a);
    assert_eq!(
        m.list(vault.barrier(), "database/creds/").await.unwrap(),
        vec!["ro/", "rw/"]
    );
    let mut ro = m.list(vault.barrier(), "database/creds/ro").await.unwrap();
    ro.sort();
    let mut want = vec![
        a.id.rsplit('/').next().unwrap().to_owned(),
        b.id.rsplit('/').next().unwrap().to_owned(),
    ];
    want.sort();
    assert_eq!(ro, want);
    assert_eq!(
        m.list(vault.barrier(), "").await.unwrap(),
        vec!["database/"]
    );
    assert!(gone(
        m.lookup(vault.barrier(), "database/creds/ro/nope").await
    ));
    assert!(matches!(
        m.register(vault.barrier(), a.clone()).await,
        Err(ExpirationError::Exists(_))
    ));
    assert!(matches!(
        m.lookup(vault.barrier(), "database/../x").await,
        Err(ExpirationError::InvalidId)
    ));
    let counts = m.count(vault.barrier()).await.unwrap();
    assert_eq!(
        counts,
        LeaseCounts {
            active: 3,
            revoking: 0,
            irrevocable: 0
        }
    );
}

#[tokio::test]
async fn tick_revokes_exactly_the_due_ones_in_due_order() {
    let vault = memory_vault().await;
    // One at a time, so the engine sees the calls in the order they were started.
    let m = ExpirationManager::new(ExpirationOptions {
        max_concurrent_revocations: 1,
        page_size: 2,
        ..Default::default()
    });
    let r = TestRevoker::default();
    let ttls = [500, 300, 100, 900, 2_000];
    let leases: Vec<Lease> = ttls
        .iter()
        .map(|&t| lease("database/creds/ro", 0, t, 10_000, ""))
        .collect();
    for l in &leases {
        register(&m, &vault, l).await;
    }
    assert_eq!(m.next_due(vault.barrier()).await.unwrap(), Some(100));
    let report = m.tick(vault.barrier(), &r, 900).await.unwrap();
    assert_eq!(report.revoked, 4);
    assert_eq!(report.considered, 4);
    let order = [&leases[2], &leases[1], &leases[0], &leases[3]].map(|l| l.id.clone());
    assert_eq!(r.calls(), order);
    assert!(m.lookup(vault.barrier(), &leases[4].id).await.is_ok());
    assert_eq!(m.next_due(vault.barrier()).await.unwrap(), Some(2_000));
    // Nothing more is due until 2000.
    let report = m.tick(vault.barrier(), &r, 1_999).await.unwrap();
    assert_eq!(report.considered, 0);
}

#[tokio::test]
async fn renew_is_capped_at_the_max_with_a_warning_and_moves_the_due_key() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    let l = lease("database/creds/ro", 0, 1_000, 5_000, "");
    register(&m, &vault, &l).await;

    let (renewed, warning) = m
        .renew(vault.barrier(), &r, &l.id, 2_000, 500)
        .await
        .unwrap();
    assert_eq!((renewed.expire_time, renewed.ttl), (2_500, 2_000));
    assert!(warning.is_none());

    let (renewed, warning) = m
        .renew(vault.barrier(), &r, &l.id, 60_000, 1_000)
        .await
        .unwrap();
    assert_eq!(renewed.expire_time, 5_000);
    assert_eq!(
        warning.unwrap(),
        "TTL of 60s exceeded the effective max_ttl of 4s; TTL value is capped accordingly"
    );
    assert_eq!(
        r.renewed.lock().unwrap().clone(),
        vec![(l.id.clone(), 2_500), (l.id.clone(), 5_000)]
    );
    assert_eq!(m.lookup(vault.barrier(), &l.id).await.unwrap(), renewed);
    assert_eq!(m.next_due(vault.barrier()).await.unwrap(), Some(5_000));
    assert_eq!(m.tick(vault.barrier(), &r, 4_999).await.unwrap().revoked, 0);
    assert_eq!(m.tick(vault.barrier(), &r, 5_000).await.unwrap().revoked, 1);
}

#[tokio::test]
async fn a_renewal_near_the_max_cannot_extend_past_it() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    let l = lease("database/creds/ro", 0, 9_950, 10_000, "");
    register(&m, &vault, &l).await;
    let (renewed, warning) = m
        .renew(vault.barrier(), &r, &l.id, 3_600_000, 9_900)
        .await
        .unwrap();
    assert!(renewed.ttl <= 100, "{}", renewed.ttl);
    assert_eq!(renewed.expire_time, 10_000);
    assert!(warning.is_some());
}

#[tokio::test]
async fn renew_refuses_non_renewable_expired_and_failing_leases() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    let mut fixed = lease("database/creds/ro", 0, 1_000, 5_000, "");
    fixed.renewable = false;
    register(&m, &vault, &fixed).await;
    assert!(matches!(
        m.renew(vault.barrier(), &r, &fixed.id, 100, 10).await,
        Err(ExpirationError::NotRenewable)
    ));
    let l = lease("database/creds/ro", 0, 1_000, 5_000, "");
    register(&m, &vault, &l).await;
    assert!(matches!(
        m.renew(vault.barrier(), &r, &l.id, 100, 1_000).await,
        Err(ExpirationError::NotActive("expired"))
    ));
    r.fail(&l.id, Fail::Times(1));
    m.tick(vault.barrier(), &r, 1_000).await.unwrap();
    assert!(matches!(
        m.renew(vault.barrier(), &r, &l.id, 100, 999).await,
        Err(ExpirationError::NotActive("revoking"))
    ));
    assert!(r.renewed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn retryable_failures_back_off_then_revoke_once_the_backend_is_back() {
    let vault = memory_vault().await;
    let cap = 1_000;
    let m = ExpirationManager::new(ExpirationOptions {
        backoff: Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(cap),
        },
        ..Default::default()
    });
    let r = TestRevoker::default();
    let l = lease("database/creds/ro", 0, 1_000, 5_000, "");
    let other = lease("database/creds/ro", 0, 1_000, 5_000, "");
    register(&m, &vault, &l).await;
    register(&m, &vault, &other).await;
    r.fail(&l.id, Fail::Times(3));

    let mut now = 1_000;
    for attempt in 1..=3u32 {
        let report = m.tick(vault.barrier(), &r, now).await.unwrap();
        assert_eq!(report.retrying, 1, "attempt {attempt}");
        let stored = m.lookup(vault.barrier(), &l.id).await.unwrap();
        let LeaseState::Revoking {
            attempts,
            last_error,
            next_attempt,
        } = stored.state
        else {
            panic!("not revoking: {stored:?}");
        };
        assert_eq!(attempts, attempt);
        assert_eq!(last_error, "connection refused");
        assert!(
            next_attempt > now && next_attempt <= now + cap,
            "{next_attempt}"
        );
        assert_eq!(
            m.next_due(vault.barrier()).await.unwrap(),
            Some(next_attempt)
        );
        let failing = m.list_failing(vault.barrier(), None, 10).await.unwrap();
        assert_eq!(failing.len(), 1);
        assert_eq!(failing[0].id, l.id);
        assert_eq!(m.count(vault.barrier()).await.unwrap().revoking, 1);
        // Not retried before its time.
        let early = m.tick(vault.barrier(), &r, next_attempt - 1).await.unwrap();
        assert_eq!(early.considered, 0);
        now = next_attempt;
    }
    // The other lease was revoked on the first tick, unaffected.
    assert!(r.revoked().contains(&other.id));
    let report = m.tick(vault.barrier(), &r, now).await.unwrap();
    assert_eq!(report.revoked, 1);
    assert!(gone(m.lookup(vault.barrier(), &l.id).await));
    assert!(
        m.list_failing(vault.barrier(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(m.next_due(vault.barrier()).await.unwrap(), None);
    assert_eq!(r.calls().iter().filter(|c| **c == l.id).count(), 4);
}

#[tokio::test]
async fn the_failing_count_for_health_checks_stops_at_its_limit() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    for i in 0..3 {
        let l = lease(&format!("database/creds/ro{i}"), 0, 1_000, 5_000, "");
        register(&m, &vault, &l).await;
        r.fail(&l.id, Fail::Forever);
    }
    assert_eq!(
        m.tick(vault.barrier(), &r, 1_000)
            .await
            .unwrap()
            .irrevocable,
        3
    );
    let (counts, stopped) = m.count_failing_up_to(vault.barrier(), 2).await.unwrap();
    assert_eq!((counts.irrevocable, stopped), (2, true));
    let (counts, stopped) = m.count_failing_up_to(vault.barrier(), 3).await.unwrap();
    assert_eq!((counts.irrevocable, stopped), (3, false));
    assert_eq!(
        m.count_failing(vault.barrier()).await.unwrap().irrevocable,
        3
    );
}

#[tokio::test]
async fn a_permanent_failure_makes_the_lease_irrevocable_and_visible() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    let l = lease("database/creds/ro", 0, 1_000, 5_000, "");
    register(&m, &vault, &l).await;
    r.fail(&l.id, Fail::Forever);
    let report = m.tick(vault.barrier(), &r, 1_000).await.unwrap();
    assert_eq!(report.irrevocable, 1);
    let failing = m.list_failing(vault.barrier(), None, 10).await.unwrap();
    assert_eq!(
        failing[0].state,
        LeaseState::Irrevocable {
            error: "mount database/ is gone".into()
        }
    );
    assert_eq!(
        m.count(vault.barrier()).await.unwrap(),
        LeaseCounts {
            active: 0,
            revoking: 0,
            irrevocable: 1
        }
    );
    // Off the schedule: later ticks do not call the engine again.
    assert_eq!(
        m.tick(vault.barrier(), &r, FAR).await.unwrap().considered,
        0
    );
    assert_eq!(r.calls().len(), 1);
    // An explicit revoke tries again and says why it failed.
    assert!(matches!(
        m.revoke(vault.barrier(), &r, &l.id).await,
        Err(ExpirationError::RevokeFailed(RevokeError::Permanent(_)))
    ));
    assert_eq!(m.revoke_force(vault.barrier(), &l.id).await.unwrap(), 1);
    assert!(
        m.list_failing(vault.barrier(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn revoke_is_idempotent() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    let l = lease("database/creds/ro", 0, 1_000, 5_000, "");
    register(&m, &vault, &l).await;
    m.revoke(vault.barrier(), &r, &l.id).await.unwrap();
    m.revoke(vault.barrier(), &r, &l.id).await.unwrap();
    m.revoke(vault.barrier(), &r, "database/creds/ro/unknown")
        .await
        .unwrap();
    assert_eq!(r.calls(), vec![l.id.clone()]);
    assert!(gone(m.lookup(vault.barrier(), &l.id).await));
    assert_eq!(m.next_due(vault.barrier()).await.unwrap(), None);
}

#[tokio::test]
async fn revoke_prefix_revokes_200_leases_and_nothing_beside() {
    let vault = memory_vault().await;
    let m = ExpirationManager::new(ExpirationOptions {
        page_size: 64,
        ..Default::default()
    });
    let r = TestRevoker::default();
    for _ in 0..200 {
        register(&m, &vault, &lease("database/creds/ro", 0, FAR, FAR, "")).await;
    }
    let sibling = lease("database/creds/ro2", 0, FAR, FAR, "");
    register(&m, &vault, &sibling).await;
    let report = m
        .revoke_prefix(vault.barrier(), &r, "database/creds/ro/")
        .await
        .unwrap();
    assert_eq!(report.revoked, 200);
    assert_eq!(report.considered, 200);
    assert_eq!(r.revoked().len(), 200);
    let max = r.max_active.load(Ordering::SeqCst);
    assert!((2..=8).contains(&max), "concurrency {max}");
    assert!(m.lookup(vault.barrier(), &sibling.id).await.is_ok());
    assert_eq!(m.count(vault.barrier()).await.unwrap().active, 1);
}

#[tokio::test]
async fn revoke_force_deletes_without_the_engine() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    for _ in 0..3 {
        register(
            &m,
            &vault,
            &lease("database/creds/ro", 0, 1_000, 5_000, "ab12"),
        )
        .await;
    }
    assert_eq!(
        m.revoke_force(vault.barrier(), "database/creds")
            .await
            .unwrap(),
        3
    );
    assert!(r.calls().is_empty());
    assert_eq!(m.next_due(vault.barrier()).await.unwrap(), None);
    assert!(
        vault
            .barrier()
            .backend()
            .scan("sys/expire/", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        m.tick(vault.barrier(), &r, FAR).await.unwrap().considered,
        0
    );
}

#[tokio::test]
async fn revoking_a_token_revokes_the_leases_it_owns() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    let mut owned = Vec::new();
    for _ in 0..10 {
        let l = lease("database/creds/ro", 0, FAR, FAR, "aaaa");
        register(&m, &vault, &l).await;
        owned.push(l.id);
    }
    let other = lease("database/creds/ro", 0, FAR, FAR, "bbbb");
    register(&m, &vault, &other).await;
    let report = m
        .revoke_by_token(vault.barrier(), &r, "aaaa")
        .await
        .unwrap();
    assert_eq!(report.revoked, 10);
    let mut revoked = r.revoked();
    revoked.sort();
    owned.sort();
    assert_eq!(revoked, owned);
    assert!(m.lookup(vault.barrier(), &other.id).await.is_ok());
    assert!(matches!(
        m.revoke_by_token(vault.barrier(), &r, "../x").await,
        Err(ExpirationError::InvalidId)
    ));
}

#[tokio::test]
async fn a_restart_over_sqlite_revokes_due_leases_with_nothing_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let share;
    let (due, later): (Vec<Lease>, Vec<Lease>) = {
        let vault = Vault::open_sqlite(&path).unwrap();
        let init = vault.init(1, 1).await.unwrap();
        share = init.shares[0].to_hex().expose_secret().to_owned();
        vault.unseal(&share).await.unwrap();
        let m = manager();
        let due: Vec<Lease> = (0..5)
            .map(|i| lease("database/creds/ro", 0, 1_000 + i, 5_000, ""))
            .collect();
        let later: Vec<Lease> = (0..3)
            .map(|_| lease("database/creds/ro", 0, FAR, FAR, ""))
            .collect();
        for l in due.iter().chain(&later) {
            register(&m, &vault, l).await;
        }
        vault.close().await.unwrap();
        (due, later)
    };
    let vault = Vault::open_sqlite(&path).unwrap();
    vault.unseal(&share).await.unwrap();
    let m = manager();
    let r = TestRevoker::default();
    let report = m.tick(vault.barrier(), &r, 2_000).await.unwrap();
    assert_eq!(report.revoked, 5);
    // Up to 8 run at once, so their starts may interleave: compare as sets.
    let mut calls = r.calls();
    calls.sort();
    let mut want: Vec<String> = due.iter().map(|l| l.id.clone()).collect();
    want.sort();
    assert_eq!(calls, want);
    for l in &later {
        assert!(m.lookup(vault.barrier(), &l.id).await.is_ok());
    }
    assert_eq!(m.count(vault.barrier()).await.unwrap().active, 3);
    vault.close().await.unwrap();
}

/// Counts reads and scans, to show what a tick touches.
#[derive(Debug, Default)]
struct Counting {
    inner: MemoryBackend,
    gets: AtomicUsize,
    scans: AtomicUsize,
}

#[async_trait]
impl Backend for Counting {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.scans.fetch_add(1, Ordering::SeqCst);
        self.inner.scan(prefix, after, limit).await
    }
    async fn batch(&self, ops: Vec<BatchOp>) -> Result<(), StorageError> {
        self.inner.batch(ops).await
    }
    fn kind(&self) -> &'static str {
        "counting"
    }
    async fn close(&self) -> Result<(), StorageError> {
        self.inner.close().await
    }
}

#[tokio::test]
async fn a_tick_over_10000_leases_reads_only_the_10_due() {
    let backend = Arc::new(Counting::default());
    let vault = unsealed(backend.clone()).await;
    let m = manager();
    let r = TestRevoker::default();
    for i in 0..10_000u64 {
        // Ten due at 1000..1009, the rest spread over the future.
        let ttl = if i < 10 { 1_000 + i } else { 10_000 + i };
        register(&m, &vault, &lease("database/creds/ro", 0, ttl, FAR, "")).await;
    }
    let gets = backend.gets.load(Ordering::SeqCst);
    let scans = backend.scans.load(Ordering::SeqCst);
    let report = m.tick(vault.barrier(), &r, 5_000).await.unwrap();
    assert_eq!((report.considered, report.revoked), (10, 10));
    assert_eq!(r.calls().len(), 10);
    assert_eq!(backend.scans.load(Ordering::SeqCst) - scans, 1);
    // Each due lease: one read before the engine call, one re-read after
    // (which the barrier's cache may answer); none of the 9,990 others.
    let read = backend.gets.load(Ordering::SeqCst) - gets;
    assert!((10..=20).contains(&read), "{read} storage reads");
}

#[tokio::test]
async fn the_background_loop_wakes_for_a_new_lease_and_stops_on_shutdown() {
    let vault = memory_vault().await;
    let m = manager();
    let r = TestRevoker::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = m.run(vault.barrier(), &r, async {
        let _ = stopped.await;
    });
    let drive = async {
        // The loop is asleep on an empty schedule; a new lease wakes it.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = crate::clock::now_unix_millis();
        let l = lease("database/creds/ro", now, 20, 1_000, "");
        register(&m, &vault, &l).await;
        for _ in 0..200 {
            if !r.revoked().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(r.revoked(), vec![l.id.clone()]);
        let _ = stop.send(());
    };
    tokio::time::timeout(Duration::from_secs(5), async { tokio::join!(run, drive) })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_lease_stored_while_its_slot_is_held_counts_once() {
    use super::quotas::{LeaseQuota, LeaseQuotas};
    let vault = memory_vault().await;
    let barrier = vault.barrier();
    let manager = manager();
    let quotas = LeaseQuotas::default();
    let path = "database/creds/ro";
    quotas
        .put(
            barrier,
            &LeaseQuota {
                name: "q".into(),
                path: path.into(),
                max_leases: 2,
            },
        )
        .await
        .unwrap();
    // The first request holds its slot, names its lease and stores it; it
    // has not let go of the slot yet (its answer is still on the way).
    let first = quotas.reserve(barrier, &manager, path).await.unwrap();
    let issued = lease(path, 0, FAR, FAR, "");
    first.note_lease(&issued.id);
    manager.register(barrier, issued).await.unwrap();
    // One lease so far, not two: the second request is let in...
    let second = quotas.reserve(barrier, &manager, path).await;
    assert!(
        second.is_ok(),
        "the stored lease was counted twice: {second:?}"
    );
    // ...and the third is not: one stored, one in flight.
    assert!(quotas.reserve(barrier, &manager, path).await.is_err());
    drop(first);
    assert!(quotas.reserve(barrier, &manager, path).await.is_err());
}
