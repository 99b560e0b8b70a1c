//! Where the vault's bytes rest: the [`Backend`] trait and its backends.
//!
//! A backend stores opaque bytes under string keys. It never sees a secret in the
//! clear: everything but the seal configuration reaches it as barrier ciphertext.
//! Backends: [`sqlite`] (the embedded default, one node), [`postgres`] (one
//! table in a PostgreSQL database, which several nodes can share) and [`memory`]
//! (tests).

#[cfg(test)]
pub(crate) mod contract_tests;
pub mod memory;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;

pub use memory::MemoryBackend;
pub use postgres::{PostgresBackend, PostgresOptions};
pub use sqlite::SqliteBackend;

/// One step of an atomic [`Backend::batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Store `value` under `key`, replacing what was there.
    Put {
        /// The storage key.
        key: String,
        /// The bytes to store (ciphertext, except for the seal configuration).
        value: Vec<u8>,
    },
    /// Remove `key`; removing a missing key is not an error.
    Delete {
        /// The storage key.
        key: String,
    },
}

/// Why a backend could not do what was asked. Paths are not secret; values never
/// appear here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The file exists but is not a vault database (another program's SQLite file,
    /// or not SQLite at all).
    #[error("{path} is not a vault database: {reason}")]
    NotOurs {
        /// The file.
        path: String,
        /// What gave it away.
        reason: String,
    },
    /// The database is damaged.
    #[error("the storage is corrupt: {0}")]
    Corrupt(String),
    /// The backend failed to read or write.
    #[error("storage I/O failed: {0}")]
    Io(String),
    /// The backend was closed (the daemon is shutting down).
    #[error("the storage is closed")]
    Closed,
    /// This node no longer holds the HA lock (it expired, was taken over or was
    /// removed): the write was rolled back. The node must step down. The text
    /// names the lock, never a key or value.
    #[error("this node no longer holds the active lock ({0}); the write was refused")]
    Fenced(String),
}

impl StorageError {
    /// True for errors that mean the database itself cannot be trusted, as opposed
    /// to a failed operation.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StorageError::NotOurs { .. } | StorageError::Corrupt(_)
        )
    }
}

/// Where a backend's check of its stored file stands ([`Backend::integrity`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// The backend has no file of its own to check (memory, PostgreSQL).
    NotChecked,
    /// The check is still reading the file.
    Running,
    /// The whole file was read and is sound.
    Passed,
    /// The file is damaged, or could not be read to the end: what was found.
    Failed(String),
}

/// Group-commit counts ([`Backend::commit_totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitTotals {
    /// Transactions committed.
    pub commits: u64,
    /// Writes (batches from callers) they carried.
    pub writes: u64,
}

/// A key-value store with prefix listing and atomic batches.
///
/// `list(prefix)` answers like Vault's: the immediate children of `prefix`, a
/// child that has children of its own ending in `/`, sorted and without repeats.
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// The value under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Stores `value` under `key`; returns once the write is durable.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<(), StorageError> {
        self.batch(vec![BatchOp::Put {
            key: key.to_owned(),
            value,
        }])
        .await
    }
    /// Removes `key`; returns once the removal is durable.
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.batch(vec![BatchOp::Delete {
            key: key.to_owned(),
        }])
        .await
    }
    /// The immediate children of `prefix` (see the trait docs).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// Up to `limit` full keys under `prefix`, in byte order, starting after
    /// `after` (from the first when `None`). Unlike [`Backend::list`] it reads only
    /// what it returns, so an index kept in key order (leases by expiry) can be
    /// walked a page at a time however large it is.
    async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
    /// Applies all of `ops` or none of them; returns once they are durable.
    async fn batch(&self, ops: Vec<BatchOp>) -> Result<(), StorageError>;
    /// The name operators see as `storage_type`.
    fn kind(&self) -> &'static str;
    /// For a backend that commits writes in groups: how many commits it made
    /// and how many writes they carried, since it opened (the ratio is the
    /// group size). `None` for a backend that does not group.
    fn commit_totals(&self) -> Option<CommitTotals> {
        None
    }
    /// Where the backend's own check of its stored file stands. A file's
    /// check reads all of it, so it runs in the background after the open
    /// rather than holding up start-up (a million secrets take seconds
    /// from a cold disk); its failure shows in `Vault::degraded`.
    fn integrity(&self) -> Integrity {
        Integrity::NotChecked
    }
    /// Finishes pending writes and releases the store. Later calls fail with
    /// [`StorageError::Closed`].
    async fn close(&self) -> Result<(), StorageError>;
}

/// Turns the full keys under `prefix` (in sorted order) into Vault-style children.
pub(crate) fn immediate_children<'a>(
    prefix: &str,
    keys: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in keys {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        let child = match rest.find('/') {
            Some(i) => &rest[..=i],
            None => rest,
        };
        if child.is_empty() || out.last().is_some_and(|last| last == child) {
            continue;
        }
        out.push(child.to_owned());
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_fold_folders_and_skip_outsiders() {
        let keys = ["a/b", "a/c/d", "a/c/e", "a/f", "b/x"];
        let got = immediate_children("a/", keys.iter().copied());
        assert_eq!(got, vec!["b", "c/", "f"]);
    }
}
