//! The storage contract: the same checks run against every backend (SQLite in a
//! temp file, memory, PostgreSQL in a table of the test's own), so a backend that
//! answers differently fails here rather than in the vault above it.
//!
//! PostgreSQL comes from `VAULT_TEST_PG_URL` (`./scripts/test` starts one); the
//! PostgreSQL tests fail without it.

use std::sync::Arc;

use super::{Backend, BatchOp, MemoryBackend, PostgresBackend, PostgresOptions, SqliteBackend};
use crate::secret::SecretString;

/// The test cluster's superuser URL.
pub(crate) fn pg_url() -> String {
    std::env::var("VAULT_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "VAULT_TEST_PG_URL is not set: run ./scripts/test, or eval \"$(./scripts/pg-start)\" \
             and export VAULT_TEST_PG_URL (a PostgreSQL superuser URL)"
        )
    })
}

/// A table name no other test uses.
pub(crate) fn unique_table(tag: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("kv_{tag}_{}_{nanos}_{n}", std::process::id())
}

/// A PostgreSQL backend on a fresh table.
pub(crate) async fn postgres(tag: &str) -> PostgresBackend {
    let mut options = PostgresOptions::new(SecretString::from(pg_url().as_str()));
    options.table = unique_table(tag);
    options.max_connections = 4;
    PostgresBackend::connect(options).await.unwrap()
}

/// Runs `check` against each backend (one test per backend, each on a fresh store).
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let db = super::SqliteBackend::open(dir.path().join("v.db")).unwrap();
                    super::$name(std::sync::Arc::new(db)).await;
                }
            )*
        }
        mod memory_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(std::sync::Arc::new(super::MemoryBackend::new())).await;
                }
            )*
        }
        mod postgres_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::postgres(stringify!($name)).await;
                    super::$name(std::sync::Arc::new(db)).await;
                }
            )*
        }
    };
}

contract!(
    put_get_overwrite_delete,
    list_folds_immediate_children,
    awkward_keys_match_their_prefix_exactly,
    scan_pages_in_byte_order,
    batch_lands_whole,
    concurrent_writers_all_land,
    close_refuses_later_calls,
);

async fn put_get_overwrite_delete(db: Arc<dyn Backend>) {
    assert_eq!(db.get("k").await.unwrap(), None);
    db.put("k", b"one".to_vec()).await.unwrap();
    assert_eq!(db.get("k").await.unwrap(), Some(b"one".to_vec()));
    db.put("k", b"two".to_vec()).await.unwrap();
    assert_eq!(db.get("k").await.unwrap(), Some(b"two".to_vec()));
    // Binary values survive untouched, empty ones too.
    let binary: Vec<u8> = (0..=255).collect();
    db.put("bin", binary.clone()).await.unwrap();
    assert_eq!(db.get("bin").await.unwrap(), Some(binary));
    db.put("empty", Vec::new()).await.unwrap();
    assert_eq!(db.get("empty").await.unwrap(), Some(Vec::new()));
    db.delete("k").await.unwrap();
    assert_eq!(db.get("k").await.unwrap(), None);
    // Deleting a missing key is not an error.
    db.delete("k").await.unwrap();
}

async fn list_folds_immediate_children(db: Arc<dyn Backend>) {
    for key in ["a/b/c", "a/b/e", "a/d", "a0", "b/x", "top"] {
        db.put(key, b"v".to_vec()).await.unwrap();
    }
    assert_eq!(
        db.list("a/").await.unwrap(),
        vec!["b/", "d"],
        "{}",
        db.kind()
    );
    assert_eq!(db.list("a/b/").await.unwrap(), vec!["c", "e"]);
    assert_eq!(
        db.list("").await.unwrap(),
        vec!["a/", "a0", "b/", "top"],
        "{}",
        db.kind()
    );
    assert!(db.list("nothing/").await.unwrap().is_empty());
}

async fn awkward_keys_match_their_prefix_exactly(db: Arc<dyn Backend>) {
    let keys = [
        "p%/x",
        "p_/y",
        "p\\/z",
        "pa/w",
        "p%q",
        "ab",
        "a/",
        "a/b",
        "é/1",
        "é/2",
        "éa",
        "日本/語",
        "p/\u{10FFFF}",
        "p/~",
    ];
    for key in keys {
        db.put(key, key.as_bytes().to_vec()).await.unwrap();
    }
    for key in keys {
        assert_eq!(db.get(key).await.unwrap(), Some(key.as_bytes().to_vec()));
    }
    // LIKE's wildcards and escape are plain characters to a prefix.
    assert_eq!(db.list("p%/").await.unwrap(), vec!["x"], "{}", db.kind());
    assert_eq!(db.list("p_/").await.unwrap(), vec!["y"], "{}", db.kind());
    assert_eq!(db.list("p\\/").await.unwrap(), vec!["z"], "{}", db.kind());
    // `ab` is not under `a/`; `a/` itself (empty child) is not listed.
    assert_eq!(db.list("a/").await.unwrap(), vec!["b"], "{}", db.kind());
    assert_eq!(db.list("é/").await.unwrap(), vec!["1", "2"]);
    assert_eq!(db.list("日本/").await.unwrap(), vec!["語"]);
    // The highest code point sorts last under its prefix, and is still in it.
    assert_eq!(
        db.scan("p/", None, 10).await.unwrap(),
        vec!["p/~", "p/\u{10FFFF}"],
        "{}",
        db.kind()
    );
    assert_eq!(
        db.scan("p", None, 10).await.unwrap(),
        vec![
            "p%/x",
            "p%q",
            "p/~",
            "p/\u{10FFFF}",
            "p\\/z",
            "p_/y",
            "pa/w"
        ],
        "{}",
        db.kind()
    );
}

async fn scan_pages_in_byte_order(db: Arc<dyn Backend>) {
    for key in [
        "a",
        "idx/0003/x",
        "idx/0001/y",
        "idx/0002/z",
        "idx/0002/a",
        "idx/B",
        "idx/b",
        "idx/é",
        "idy/0",
        "j",
    ] {
        db.put(key, b"v".to_vec()).await.unwrap();
    }
    let first = db.scan("idx/", None, 2).await.unwrap();
    assert_eq!(first, vec!["idx/0001/y", "idx/0002/a"], "{}", db.kind());
    let rest = db.scan("idx/", Some(&first[1]), 10).await.unwrap();
    // Byte order: digits < upper case < lower case < non-ASCII.
    assert_eq!(
        rest,
        vec!["idx/0002/z", "idx/0003/x", "idx/B", "idx/b", "idx/é"],
        "{}",
        db.kind()
    );
    assert!(db.scan("idx/", Some("idx/é"), 10).await.unwrap().is_empty());
    // `after` below the prefix starts at the prefix.
    assert_eq!(
        db.scan("idx/", Some("a"), 1).await.unwrap(),
        vec!["idx/0001/y"]
    );
    assert!(db.scan("none/", None, 10).await.unwrap().is_empty());
    assert!(db.scan("idx/", None, 0).await.unwrap().is_empty());
    let everything = db.scan("", None, 100).await.unwrap();
    assert_eq!(everything.len(), 10);
    assert!(everything.windows(2).all(|w| w[0] < w[1]));
}

async fn batch_lands_whole(db: Arc<dyn Backend>) {
    db.put("gone", b"old".to_vec()).await.unwrap();
    db.batch(vec![
        BatchOp::Put {
            key: "new".into(),
            value: b"1".to_vec(),
        },
        BatchOp::Delete { key: "gone".into() },
        // Later ops see earlier ones: the last write to a key wins.
        BatchOp::Put {
            key: "twice".into(),
            value: b"first".to_vec(),
        },
        BatchOp::Put {
            key: "twice".into(),
            value: b"second".to_vec(),
        },
    ])
    .await
    .unwrap();
    assert_eq!(db.get("new").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get("gone").await.unwrap(), None);
    assert_eq!(db.get("twice").await.unwrap(), Some(b"second".to_vec()));
    db.batch(Vec::new()).await.unwrap();
}

async fn concurrent_writers_all_land(db: Arc<dyn Backend>) {
    let mut tasks = Vec::new();
    for w in 0..12u8 {
        let db = Arc::clone(&db);
        tasks.push(tokio::spawn(async move {
            for i in 0..15u8 {
                db.put(&format!("w{w:02}/{i:02}"), vec![w, i])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for w in 0..12u8 {
        let keys = db.list(&format!("w{w:02}/")).await.unwrap();
        assert_eq!(keys.len(), 15, "{}", db.kind());
        assert_eq!(
            db.get(&format!("w{w:02}/07")).await.unwrap(),
            Some(vec![w, 7])
        );
    }
}

async fn close_refuses_later_calls(db: Arc<dyn Backend>) {
    db.put("k", b"v".to_vec()).await.unwrap();
    db.close().await.unwrap();
    use super::StorageError::Closed;
    assert!(matches!(db.get("k").await, Err(Closed)), "{}", db.kind());
    assert!(matches!(db.put("k", b"w".to_vec()).await, Err(Closed)));
    assert!(matches!(db.list("").await, Err(Closed)), "{}", db.kind());
    assert!(matches!(db.scan("", None, 1).await, Err(Closed)));
}
