//! A seal that lands while requests are in flight: it waits for them, so a
//! request the audit log recorded as begun is also recorded as answered,
//! and a change that reached storage is not reported as failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::request::{Data, Operation, Request};
use crate::storage::{Backend, BatchOp, MemoryBackend, StorageError};
use crate::{Vault, VaultError};

/// A memory backend whose next write, once armed, waits until the test
/// opens the gate: a request held halfway through its handler.
#[derive(Debug)]
struct Gated {
    inner: MemoryBackend,
    armed: AtomicBool,
    reached: tokio::sync::Notify,
    open: tokio::sync::Semaphore,
}

impl Gated {
    fn new() -> Self {
        Gated {
            inner: MemoryBackend::new(),
            armed: AtomicBool::new(false),
            reached: tokio::sync::Notify::new(),
            open: tokio::sync::Semaphore::new(0),
        }
    }

    async fn hold_if_armed(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.reached.notify_one();
            let _permit = self.open.acquire().await;
        }
    }
}

#[async_trait]
impl Backend for Gated {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key).await
    }
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.hold_if_armed().await;
        self.inner.put(key, value).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
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
        self.inner.scan(prefix, after, limit).await
    }
    async fn batch(&self, ops: Vec<BatchOp>) -> Result<(), StorageError> {
        self.hold_if_armed().await;
        self.inner.batch(ops).await
    }
    fn kind(&self) -> &'static str {
        "gated"
    }
    async fn close(&self) -> Result<(), StorageError> {
        self.inner.close().await
    }
}

fn data(v: Value) -> Data {
    match v {
        Value::Object(m) => m,
        _ => Data::new(),
    }
}

/// Sealed where auditing is still possible: the write began (its request
/// entry is in the log) before the seal. Before the seal waited, the seal
/// stopped the devices and dropped the keys under the write, which then
/// failed after storing its value and left no response entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seal_waits_for_the_requests_in_flight_and_both_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let backend = Arc::new(Gated::new());
    let device = crate::audit::DeviceConfig {
        name: "file".into(),
        kind: "file".into(),
        options: [("file_path".to_owned(), log.to_str().unwrap().to_owned())].into(),
    };
    let options = crate::VaultOptions {
        audit_devices: vec![device],
        ..Default::default()
    };
    let vault = Arc::new(Vault::with_options(backend.clone(), options));
    let init = vault.init(1, 1).await.unwrap();
    vault
        .unseal(init.shares[0].to_hex().expose_secret())
        .await
        .unwrap();
    let root = init.root_token.expose_secret().to_owned();
    let call = |op, path: &str, body: Value| {
        Request::new(op, path)
            .with_token(&root)
            .with_data(data(body))
    };
    vault
        .handle(call(
            Operation::Update,
            "sys/mounts/secret",
            json!({"type": "kv-v2"}),
        ))
        .await
        .unwrap();

    backend.armed.store(true, Ordering::SeqCst);
    let write = tokio::spawn({
        let vault = vault.clone();
        let request = call(
            Operation::Update,
            "secret/data/app",
            json!({"data": {"pw": "hunter2"}}),
        );
        async move { vault.handle(request).await }
    });
    tokio::time::timeout(Duration::from_secs(10), backend.reached.notified())
        .await
        .expect("the write reaches storage");
    let seal = tokio::spawn({
        let vault = vault.clone();
        let request = call(Operation::Update, "sys/seal", json!({}));
        async move { vault.handle(request).await }
    });
    // Time for a seal that does not wait to finish under the held write.
    tokio::time::sleep(Duration::from_millis(300)).await;
    backend.open.add_permits(1);

    let written = tokio::time::timeout(Duration::from_secs(10), write)
        .await
        .expect("the write finishes")
        .unwrap();
    assert!(written.is_ok(), "{written:?}");
    let sealed = tokio::time::timeout(Duration::from_secs(10), seal)
        .await
        .expect("the seal finishes")
        .unwrap();
    assert!(sealed.is_ok(), "{sealed:?}");
    assert!(matches!(
        vault
            .handle(call(Operation::Read, "secret/data/app", json!({})))
            .await,
        Err(VaultError::Sealed)
    ));

    let entries: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |kind: &str, path: &str| {
        entries
            .iter()
            .filter(|e| e["type"] == kind && e["request"]["path"] == path)
            .count()
    };
    assert_eq!(of("request", "secret/data/app"), 1, "{entries:#?}");
    assert_eq!(of("response", "secret/data/app"), 1, "{entries:#?}");
    assert_eq!(of("response", "sys/seal"), 1, "{entries:#?}");
}
