//! An in-memory backend, for tests and for embedding without persistence.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use super::{Backend, BatchOp, StorageError, immediate_children};

/// Keeps everything in a sorted map; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    // A std lock: nothing is awaited while it is held.
    map: RwLock<BTreeMap<String, Vec<u8>>>,
    closed: AtomicBool,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn poisoned() -> StorageError {
        StorageError::Io("memory backend lock poisoned".into())
    }

    fn check_open(&self) -> Result<(), StorageError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        Ok(())
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.check_open()?;
        let map = self.map.read().map_err(|_| Self::poisoned())?;
        Ok(map.get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.check_open()?;
        let map = self.map.read().map_err(|_| Self::poisoned())?;
        let keys = map
            .range(prefix.to_owned()..)
            .map(|(k, _)| k.as_str())
            .take_while(|k| k.starts_with(prefix));
        Ok(immediate_children(prefix, keys))
    }

    async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        use std::ops::Bound;
        self.check_open()?;
        let map = self.map.read().map_err(|_| Self::poisoned())?;
        let start = match after {
            Some(a) => Bound::Excluded(a.to_owned()),
            None => Bound::Included(prefix.to_owned()),
        };
        Ok(map
            .range((start, Bound::Unbounded))
            .map(|(k, _)| k)
            .skip_while(|k| !k.starts_with(prefix) && k.as_str() < prefix)
            .take_while(|k| k.starts_with(prefix))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn batch(&self, ops: Vec<BatchOp>) -> Result<(), StorageError> {
        self.check_open()?;
        let mut map = self.map.write().map_err(|_| Self::poisoned())?;
        for op in ops {
            match op {
                BatchOp::Put { key, value } => {
                    map.insert(key, value);
                }
                BatchOp::Delete { key } => {
                    map.remove(&key);
                }
            }
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "inmem"
    }

    async fn close(&self) -> Result<(), StorageError> {
        self.closed.store(true, Ordering::Release);
        Ok(())
    }
}
