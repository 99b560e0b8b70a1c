//! The HA lock and fencing against a real PostgreSQL: two holders on one lock
//! table and one kv table, each over its own backend (as two nodes would be).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::secret::SecretString;
use crate::storage::contract_tests::{pg_url, unique_table};
use crate::storage::{Backend, BatchOp, PostgresOptions};

const TTL: Duration = Duration::from_secs(1);

/// One node: its backend (sharing the kv table) and its view of the lock.
struct Node {
    db: Arc<PostgresBackend>,
    lock: HaLock,
}

async fn node(kv: &str, lock_table: &str) -> Node {
    let mut options = PostgresOptions::new(SecretString::from(pg_url().as_str()));
    options.table = kv.to_owned();
    options.max_connections = 4;
    options.operation_timeout = Duration::from_secs(10);
    let db = Arc::new(PostgresBackend::connect(options).await.unwrap());
    let lock = HaLock::new(
        Arc::clone(&db),
        HaLockOptions {
            table: lock_table.to_owned(),
            ..HaLockOptions::default()
        },
    )
    .await
    .unwrap();
    Node { db, lock }
}

async fn two_nodes(tag: &str) -> (Node, Node) {
    let kv = unique_table(tag);
    let lock = unique_table(&format!("{tag}_lock"));
    let a = node(&kv, &lock).await;
    let b = node(&kv, &lock).await;
    (a, b)
}

/// Tries to acquire until it succeeds, for at most `limit`.
async fn acquire_within(node: &Node, holder: &str, limit: Duration) -> Held {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(held) = node.lock.try_acquire(holder, "b:8200", TTL).await.unwrap() {
            return held;
        }
        assert!(Instant::now() < deadline, "{holder} never got the lock");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_lock_keeps_others_out_until_it_expires() {
    let (a, b) = two_nodes("ha_expire").await;
    let held_a = a
        .lock
        .try_acquire("node-a", "a:8200", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b.lock.try_acquire("node-b", "b:8200", TTL).await.unwrap(),
        None
    );
    let current = b.lock.current().await.unwrap().unwrap();
    assert_eq!(current.holder, "node-a");
    assert_eq!(current.advertise, "a:8200");
    assert!(current.expires_in <= TTL, "{:?}", current.expires_in);

    // Re-acquiring one's own live lock keeps the generation.
    let again = a
        .lock
        .try_acquire("node-a", "a:8200", TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.generation, held_a.generation);

    let held_b = acquire_within(&b, "node-b", Duration::from_secs(5)).await;
    assert!(held_b.generation > held_a.generation);
    assert!(!a.lock.renew(&held_a).await.unwrap(), "A's renew must fail");
    assert!(b.lock.renew(&held_b).await.unwrap());
    assert_eq!(b.lock.current().await.unwrap().unwrap().holder, "node-b");
    // A cannot release what it no longer holds.
    assert!(!a.lock.release(&held_a).await.unwrap());
    assert_eq!(b.lock.current().await.unwrap().unwrap().holder, "node-b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_holder_is_fenced_and_the_new_one_writes() {
    let (a, b) = two_nodes("ha_fence").await;
    let held_a = a
        .lock
        .try_acquire("node-a", "a:8200", TTL)
        .await
        .unwrap()
        .unwrap();
    a.db.set_fence(Some(a.lock.fence(&held_a)));
    a.db.put("k", b"from-a".to_vec()).await.unwrap();

    let held_b = acquire_within(&b, "node-b", Duration::from_secs(5)).await;
    b.db.set_fence(Some(b.lock.fence(&held_b)));

    let err = a.db.put("k", b"late-a".to_vec()).await.unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert!(!err.to_string().contains("late-a"));
    let err = a.db.delete("k").await.unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    let err =
        a.db.batch(vec![
            BatchOp::Put {
                key: "other".into(),
                value: b"x".to_vec(),
            },
            BatchOp::Delete { key: "k".into() },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert_eq!(
        b.db.get("k").await.unwrap().as_deref(),
        Some(&b"from-a"[..])
    );
    assert_eq!(b.db.get("other").await.unwrap(), None);
    // Reads are not fenced.
    assert!(a.db.get("k").await.unwrap().is_some());

    b.db.put("k", b"from-b".to_vec()).await.unwrap();
    assert_eq!(
        a.db.get("k").await.unwrap().as_deref(),
        Some(&b"from-b"[..])
    );

    // Stepping down clears the fence: the node writes unfenced again (no HA).
    a.db.set_fence(None);
    a.db.put("unfenced", b"1".to_vec()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lock_fences_even_before_a_takeover() {
    let (a, _b) = two_nodes("ha_expired").await;
    let held = a
        .lock
        .try_acquire("node-a", "a:8200", TTL)
        .await
        .unwrap()
        .unwrap();
    a.db.set_fence(Some(a.lock.fence(&held)));
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    let err = a.db.put("k", b"v".to_vec()).await.unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert!(!a.lock.renew(&held).await.unwrap());
    assert_eq!(a.db.get("k").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_row_deleted_behind_the_holders_back_fences_it() {
    let (a, _b) = two_nodes("ha_deleted").await;
    let held = a
        .lock
        .try_acquire("node-a", "a:8200", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    a.db.set_fence(Some(a.lock.fence(&held)));
    a.db.put("k", b"1".to_vec()).await.unwrap();

    let (admin, connection) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    admin
        .execute(&format!("DELETE FROM {}", a.lock.table), &[])
        .await
        .unwrap();

    let err = a.db.put("k", b"2".to_vec()).await.unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert!(!a.lock.renew(&held).await.unwrap());
    assert_eq!(a.db.get("k").await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(a.lock.current().await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_lets_another_node_in_at_once() {
    let (a, b) = two_nodes("ha_release").await;
    let held = a
        .lock
        .try_acquire("node-a", "a:8200", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(a.lock.release(&held).await.unwrap());
    assert_eq!(a.lock.current().await.unwrap(), None);
    let held_b = b
        .lock
        .try_acquire("node-b", "b:8200", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(held_b.is_some(), "B must get a released lock at once");
}

/// A write transaction that passed its check holds the row FOR SHARE: a
/// takeover waits until it ends, so the takeover cannot return before the old
/// holder's write committed (or rolled back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_waits_for_a_write_in_flight() {
    let (a, b) = two_nodes("ha_race").await;
    let held_a = a
        .lock
        .try_acquire("node-a", "a:8200", TTL)
        .await
        .unwrap()
        .unwrap();
    let fence = a.lock.fence(&held_a);

    // A's write transaction, held open by hand at the point after its check.
    let (mut client, connection) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let tx = client.transaction().await.unwrap();
    let found = tx
        .query_opt(fence.check_sql(), &fence.check_params())
        .await
        .unwrap();
    assert!(found.is_some());
    tx.execute(
        &format!(
            "INSERT INTO {} (key, value) VALUES ('in-flight', '\\x01')",
            a.db.table()
        ),
        &[],
    )
    .await
    .unwrap();

    // Let A's TTL pass, then B tries to take over: it must wait for A's tx.
    tokio::time::sleep(TTL + Duration::from_millis(100)).await;
    let b = Arc::new(b);
    let taker = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.lock.try_acquire("node-b", "b:8200", TTL).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !taker.is_finished(),
        "the takeover overtook a write in flight"
    );
    tx.commit().await.unwrap();
    let held_b = tokio::time::timeout(Duration::from_secs(5), taker)
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(held_b.generation > held_a.generation);

    // After the takeover returned, every write of A's is refused.
    a.db.set_fence(Some(fence));
    let err = a.db.put("after", b"x".to_vec()).await.unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert!(b.db.get("in-flight").await.unwrap().is_some());
    assert_eq!(b.db.get("after").await.unwrap(), None);
}

/// A writes in a loop while B takes over: once B's acquisition has returned,
/// no write of A's lands, and every write A saw succeed is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_write_of_the_old_holder_lands_after_the_takeover() {
    let (a, b) = two_nodes("ha_loop").await;
    let held_a = a
        .lock
        .try_acquire("node-a", "a:8200", TTL)
        .await
        .unwrap()
        .unwrap();
    a.db.set_fence(Some(a.lock.fence(&held_a)));
    let a_db = Arc::clone(&a.db);
    let writer = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        let deadline = Instant::now() + TTL * 3;
        let mut i = 0u32;
        while Instant::now() < deadline {
            let key = format!("a/{i:06}");
            if a_db.put(&key, b"x".to_vec()).await.is_ok() {
                acknowledged.push(key);
            }
            i += 1;
        }
        acknowledged
    });
    let _held_b = acquire_within(&b, "node-b", Duration::from_secs(5)).await;
    let at_takeover = b.db.list("a/").await.unwrap();
    let acknowledged = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap()
        .unwrap();
    let after = b.db.list("a/").await.unwrap();
    assert!(
        !at_takeover.is_empty(),
        "A wrote nothing while it held the lock"
    );
    assert_eq!(at_takeover, after, "A wrote after B took over");
    for key in &acknowledged {
        let child = key.trim_start_matches("a/");
        assert!(after.iter().any(|k| k == child), "acknowledged {key} lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_fence_refuses_every_write_and_counts_it() {
    let (a, b) = two_nodes("ha_standby").await;
    let held = a
        .lock
        .try_acquire("node-a:1", "a:8200", TTL)
        .await
        .unwrap()
        .unwrap();
    a.db.set_fence(Some(a.lock.fence(&held)));
    // B is a standby while A holds the lock, and even if it were not.
    b.db.set_fence(Some(b.lock.standby_fence("node-b:1")));
    let mut refusals = b.db.fenced_writes();
    let err = b.db.put("k", b"from-b".to_vec()).await.unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert!(refusals.has_changed().unwrap());
    assert_eq!(*refusals.borrow_and_update(), 1);
    a.lock.release(&held).await.unwrap();
    let err = b.db.put("k", b"from-b".to_vec()).await.unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    assert_eq!(b.db.get("k").await.unwrap(), None);
    // A's own writes were never counted.
    a.db.set_fence(None);
    a.db.put("k", b"a".to_vec()).await.unwrap();
    assert_eq!(*a.db.fenced_writes().borrow(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_takes_its_dead_runs_lock_over_with_a_new_generation() {
    let (dead, restarted) = two_nodes("ha_own").await;
    let long = Duration::from_secs(60);
    let old = dead
        .lock
        .try_acquire("node-a:run1", "a:8200", long)
        .await
        .unwrap()
        .unwrap();
    dead.db.set_fence(Some(dead.lock.fence(&old)));
    dead.db.put("k", b"run1".to_vec()).await.unwrap();

    // Not expired, so a plain acquisition by the new run is refused...
    assert!(
        restarted
            .lock
            .try_acquire("node-a:run2", "a:8201", long)
            .await
            .unwrap()
            .is_none()
    );
    // ...but the node may take over its own earlier run's lock.
    let new = restarted
        .lock
        .take_over_own("node-a:run1", "node-a:run2", "a:8201", long)
        .await
        .unwrap()
        .expect("taken over");
    assert_eq!(new.generation, old.generation + 1);
    let current = restarted.lock.current().await.unwrap().unwrap();
    assert_eq!(current.holder, "node-a:run2");
    assert_eq!(current.advertise, "a:8201");
    // Anything the dead run still had in flight is fenced.
    let err = dead.db.put("k", b"late".to_vec()).await.unwrap_err();
    assert!(matches!(err, StorageError::Fenced(_)), "{err}");
    restarted.db.set_fence(Some(restarted.lock.fence(&new)));
    restarted.db.put("k", b"run2".to_vec()).await.unwrap();
    // A stale holder name takes nothing over.
    assert!(
        restarted
            .lock
            .take_over_own("node-a:run1", "node-a:run3", "a:8202", long)
            .await
            .unwrap()
            .is_none()
    );
}
