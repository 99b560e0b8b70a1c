//! Rewrapping when storage fails: the response a wrapping token holds is
//! never lost. The old token is removed only in the batch that stores the
//! new one, so a failed rewrap leaves the old token as it was.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::request::{Data, Operation, Request};
use crate::storage::{Backend, BatchOp, MemoryBackend, StorageError};
use crate::{Vault, VaultError};

/// A memory backend that, once armed, refuses every write that stores
/// something (as a full disk refuses the pages a new record needs) and
/// takes removals alone.
#[derive(Debug, Default)]
struct NoRoom {
    inner: MemoryBackend,
    armed: AtomicBool,
}

impl NoRoom {
    fn refuse(&self, ops: &[BatchOp]) -> Result<(), StorageError> {
        let stores = ops.iter().any(|op| matches!(op, BatchOp::Put { .. }));
        match self.armed.load(Ordering::SeqCst) && stores {
            true => Err(StorageError::Io("no room (injected)".into())),
            false => Ok(()),
        }
    }
}

#[async_trait]
impl Backend for NoRoom {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
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
        self.inner.scan(prefix, after, limit).await
    }
    async fn batch(&self, ops: Vec<BatchOp>) -> Result<(), StorageError> {
        self.refuse(&ops)?;
        self.inner.batch(ops).await
    }
    fn kind(&self) -> &'static str {
        "no-room"
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

async fn call(
    vault: &Vault,
    token: &str,
    path: &str,
    body: Value,
) -> Result<crate::request::Response, VaultError> {
    vault
        .handle(
            Request::new(Operation::Update, path)
                .with_token(token)
                .with_data(data(body)),
        )
        .await
}

#[tokio::test]
async fn a_rewrap_that_cannot_be_stored_leaves_the_old_token_whole() {
    let backend = Arc::new(NoRoom::default());
    let vault = Vault::new(backend.clone());
    let init = vault.init(1, 1).await.unwrap();
    vault
        .unseal(init.shares[0].to_hex().expose_secret())
        .await
        .unwrap();
    let root = init.root_token.expose_secret().to_owned();
    let mut wrap = Request::new(Operation::Update, "sys/wrapping/wrap")
        .with_token(&root)
        .with_data(data(json!({"first": "secret"})));
    wrap.wrap_ttl = Some("5m".into());
    let token = vault.handle(wrap).await.unwrap().wrap_info.unwrap().token;

    backend.armed.store(true, Ordering::SeqCst);
    let failed = call(&vault, &token, "sys/wrapping/rewrap", json!({})).await;
    assert!(failed.is_err(), "{failed:?}");
    backend.armed.store(false, Ordering::SeqCst);

    let inside = call(&vault, &token, "sys/wrapping/unwrap", json!({}))
        .await
        .expect("the old token still holds the response");
    assert_eq!(inside.data.unwrap()["first"], "secret");
}
