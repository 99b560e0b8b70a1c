//! The barrier: the encrypting view over a storage [`Backend`].
//!
//! Everything written through it is sealed with AES-256-GCM under the keyring's
//! active term, with the storage path as associated data ([`envelope`]). While the
//! vault is sealed the barrier holds no key and refuses every operation.
//!
//! Paths under `core/` belong to the vault itself (keyring, root key, root token):
//! the public methods refuse them, so an embedding application cannot clobber them.

mod cache;
pub mod envelope;
pub mod keyring;

use std::sync::{Arc, RwLock};

use crate::clock;
use crate::random::RandomError;
use crate::secret::{Key256, SecretBytes};
use crate::storage::{Backend, BatchOp, StorageError};

pub use keyring::{KEYRING_PATH, Keyring, Term, UnwrapError};

/// Where the vault keeps what only it may touch.
pub const RESERVED_PREFIX: &str = "core/";

/// Encryptions under one term before it is rotated automatically: 0.9 * 2^32,
/// NIST's limit for random 96-bit GCM nonces less a margin (OpenBao's default too).
pub const DEFAULT_ROTATE_AFTER: u64 = 3_865_470_566;

/// Encryptions reserved (and persisted) ahead of use.
const RESERVATION_CHUNK: u64 = 1 << 16;

/// Why a barrier operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BarrierError {
    /// No key is loaded.
    #[error("vault is sealed")]
    Sealed,
    /// A stored value failed authentication or is malformed: it was altered,
    /// truncated or moved from another path.
    #[error("integrity check failed for {path}: {reason}")]
    Integrity {
        /// The storage path read.
        path: String,
        /// What was wrong.
        reason: &'static str,
    },
    /// The path is the vault's own.
    #[error("{0:?} is reserved for the vault's own keys")]
    ReservedPath(String),
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// No randomness for a nonce or key.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// One step of an atomic [`Barrier::batch`].
#[derive(Debug)]
pub enum BarrierOp {
    /// Encrypt and store.
    Put {
        /// The path.
        path: String,
        /// The plaintext.
        value: SecretBytes,
    },
    /// Remove.
    Delete {
        /// The path.
        path: String,
    },
}

/// The state of the active term, as `operator key-status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The active term.
    pub term: u32,
    /// When it was installed, seconds since the epoch.
    pub install_time: u64,
    /// Encryptions counted under it.
    pub encryptions: u64,
}

/// Tuning for the barrier.
#[derive(Debug, Clone, Copy)]
pub struct BarrierOptions {
    /// Rotate the active term after this many encryptions.
    pub rotate_after: u64,
}

impl Default for BarrierOptions {
    fn default() -> Self {
        BarrierOptions {
            rotate_after: DEFAULT_ROTATE_AFTER,
        }
    }
}

/// The encrypting view over a backend.
#[derive(Debug)]
pub struct Barrier {
    backend: Arc<dyn Backend>,
    // std RwLock: held only to clone or swap the Arc, never across an await.
    keyring: RwLock<Option<Arc<Keyring>>>,
    // Serialises keyring changes (rotation, reservations) so an older keyring is
    // never stored over a newer one. A tokio Mutex: it is held across the write.
    keyring_writes: tokio::sync::Mutex<()>,
    options: BarrierOptions,
    cache: cache::ReadCache,
    // Time spent in the backend, by operation (get, put, delete, list,
    // batch): registered with the vault's metrics.
    latency: crate::metrics::LatencyFamily,
}

impl Barrier {
    /// A sealed barrier over `backend`.
    pub fn new(backend: Arc<dyn Backend>, options: BarrierOptions) -> Self {
        Barrier {
            backend,
            keyring: RwLock::new(None),
            keyring_writes: tokio::sync::Mutex::new(()),
            options,
            cache: cache::ReadCache::default(),
            latency: crate::metrics::latency_family(),
        }
    }

    /// The backend latencies, by operation (for the metrics registry).
    pub(crate) fn latency(&self) -> &crate::metrics::LatencyFamily {
        &self.latency
    }

    fn observe(&self, operation: &'static str, started: std::time::Instant) {
        crate::metrics::observe_latency(&self.latency, operation, started.elapsed());
    }

    /// The backend underneath (ciphertext only).
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// True while no key is loaded.
    pub fn is_sealed(&self) -> bool {
        self.keyring.read().map(|k| k.is_none()).unwrap_or(true)
    }

    /// Decrypts the value at `path`.
    pub async fn get(&self, path: &str) -> Result<Option<SecretBytes>, BarrierError> {
        check_path(path)?;
        self.get_internal(path).await
    }

    /// The value at `path` decoded by `decode`, shared with every reader until
    /// the path is written, so a hot entry (a token) is parsed once rather than
    /// per request. `T` must hold no secret in the clear that it does not wipe
    /// itself: it lives as long as the cache entry.
    pub(crate) async fn get_decoded<T, E>(
        &self,
        path: &str,
        decode: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Option<Arc<T>>, E>
    where
        T: std::any::Any + Send + Sync,
        E: From<BarrierError>,
    {
        check_path(path)?;
        self.current()?;
        if let Some(hit) = self.cache.get_decoded::<T>(path) {
            return Ok(Some(hit));
        }
        let generation = self.cache.generation();
        let Some(raw) = self.get_internal(path).await? else {
            return Ok(None);
        };
        let decoded = Arc::new(decode(raw.expose_secret())?);
        self.cache.attach(generation, path, decoded.clone());
        Ok(Some(decoded))
    }

    /// Encrypts and stores `value` at `path`; returns once it is durable.
    pub async fn put(&self, path: &str, value: &[u8]) -> Result<(), BarrierError> {
        check_path(path)?;
        self.put_internal(path, value).await
    }

    /// Removes `path`.
    pub async fn delete(&self, path: &str) -> Result<(), BarrierError> {
        check_path(path)?;
        self.current()?;
        let started = std::time::Instant::now();
        let deleted = self.backend.delete(path).await;
        self.observe("delete", started);
        self.cache.invalidate([path]);
        Ok(deleted?)
    }

    /// The immediate children of `prefix` (paths are not encrypted).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BarrierError> {
        if prefix.is_empty() {
            // The root would show core/; list what an application may see.
            self.current()?;
            let mut keys = self.backend.list(prefix).await?;
            keys.retain(|k| k != RESERVED_PREFIX);
            return Ok(keys);
        }
        check_path(prefix)?;
        self.current()?;
        let started = std::time::Instant::now();
        let listed = self.backend.list(prefix).await;
        self.observe("list", started);
        Ok(listed?)
    }

    /// Applies every op or none.
    pub async fn batch(&self, ops: Vec<BarrierOp>) -> Result<(), BarrierError> {
        for op in &ops {
            match op {
                BarrierOp::Put { path, .. } | BarrierOp::Delete { path } => check_path(path)?,
            }
        }
        self.batch_internal(ops).await
    }

    /// Installs a new keyring term; returns its status.
    pub async fn rotate(&self) -> Result<KeyStatus, BarrierError> {
        let active = self.current()?.active_term().number();
        self.rotate_from(active).await?;
        self.key_status()
    }

    /// The active term's status.
    pub fn key_status(&self) -> Result<KeyStatus, BarrierError> {
        let keyring = self.current()?;
        let term = keyring.active_term();
        Ok(KeyStatus {
            term: term.number(),
            install_time: term.install_time(),
            encryptions: term.encryptions(),
        })
    }

    pub(crate) async fn get_internal(
        &self,
        path: &str,
    ) -> Result<Option<SecretBytes>, BarrierError> {
        self.current()?;
        if let Some(hit) = self.cache.get(path) {
            return Ok(Some(hit));
        }
        let generation = self.cache.generation();
        let started = std::time::Instant::now();
        let read = self.backend.get(path).await;
        self.observe("get", started);
        let Some(blob) = read? else {
            return Ok(None);
        };
        // Taken after the read, so a term installed meanwhile is known.
        let keyring = self.current()?;
        let integrity = |e: envelope::Invalid| BarrierError::Integrity {
            path: path.to_owned(),
            reason: e.reason(),
        };
        let number = envelope::term_of(&blob).map_err(integrity)?;
        let term = keyring
            .term(number)
            .ok_or(envelope::Invalid::UnknownTerm)
            .map_err(integrity)?;
        let value = envelope::open(term.cipher(), path, &blob).map_err(integrity)?;
        self.cache.insert(generation, path, &value);
        Ok(Some(value))
    }

    pub(crate) async fn put_internal(&self, path: &str, value: &[u8]) -> Result<(), BarrierError> {
        let blob = self.encrypt(path, value).await?;
        let started = std::time::Instant::now();
        let stored = self.backend.put(path, blob).await;
        self.observe("put", started);
        self.cache.invalidate([path]);
        Ok(stored?)
    }

    pub(crate) async fn batch_internal(&self, ops: Vec<BarrierOp>) -> Result<(), BarrierError> {
        let mut stored = Vec::with_capacity(ops.len());
        for op in ops {
            stored.push(match op {
                BarrierOp::Put { path, value } => {
                    let value = self.encrypt(&path, value.expose_secret()).await?;
                    BatchOp::Put { key: path, value }
                }
                BarrierOp::Delete { path } => BatchOp::Delete { key: path },
            });
        }
        self.current()?;
        let paths: Vec<String> = stored
            .iter()
            .map(|op| match op {
                BatchOp::Put { key, .. } | BatchOp::Delete { key } => key.clone(),
            })
            .collect();
        let started = std::time::Instant::now();
        let applied = self.backend.batch(stored).await;
        self.observe("batch", started);
        self.cache.invalidate(paths.iter().map(String::as_str));
        Ok(applied?)
    }

    /// The storage records of a new vault: a fresh keyring wrapped by `root_key`,
    /// and each of `records` encrypted under its first term. For init.
    pub(crate) fn initial_records(
        root_key: &Key256,
        records: &[(&str, &[u8])],
    ) -> Result<Vec<BatchOp>, BarrierError> {
        let keyring = Keyring::generate(root_key, clock::now_unix())?;
        let term = keyring.active_term();
        // Reserve before use, as encrypt() does.
        term.set_reserved(RESERVATION_CHUNK);
        let mut ops = Vec::with_capacity(records.len() + 1);
        for (path, plaintext) in records {
            term.count_use();
            let value = envelope::seal(term.cipher(), term.number(), path, plaintext)?;
            ops.push(BatchOp::Put {
                key: (*path).to_owned(),
                value,
            });
        }
        ops.push(BatchOp::Put {
            key: KEYRING_PATH.to_owned(),
            value: keyring.wrap()?,
        });
        Ok(ops)
    }

    /// Loads the keyring with the root key: the barrier is unsealed from here on.
    pub(crate) async fn unseal(&self, root_key: &Key256) -> Result<(), BarrierError> {
        let blob = self.stored_keyring().await?;
        let keyring = Keyring::unwrap(root_key, &blob).map_err(keyring_integrity)?;
        self.install(Some(Arc::new(keyring)));
        Ok(())
    }

    /// The wrapped keyring as stored.
    async fn stored_keyring(&self) -> Result<Vec<u8>, BarrierError> {
        self.backend
            .get(KEYRING_PATH)
            .await?
            .ok_or(BarrierError::Integrity {
                path: KEYRING_PATH.into(),
                reason: "the keyring is missing",
            })
    }

    /// Reads the stored keyring again (another node may have rotated it or
    /// reserved more uses) and installs it. Returns the active term number.
    /// The stored reservations count as spent, so a node taking over never
    /// reuses a nonce count the last writer may have used.
    pub(crate) async fn reload_keyring(&self) -> Result<u32, BarrierError> {
        let _writing = self.keyring_writes.lock().await;
        let current = self.current()?;
        let blob = self.stored_keyring().await?;
        let loaded = current.reopen(&blob).map_err(keyring_integrity)?;
        // Another node may have written anything meanwhile.
        self.cache.clear();
        let term = loaded.active_term().number();
        // Only over the keyring it was read with: a seal meanwhile must win.
        let mut slot = self.keyring.write().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(now) if Arc::ptr_eq(now, &current) => *slot = Some(Arc::new(loaded)),
            _ => return Err(BarrierError::Sealed),
        }
        Ok(term)
    }

    /// Drops every key. In-flight operations that already hold the keyring finish;
    /// the last of them to end wipes it.
    pub(crate) fn seal(&self) {
        self.install(None);
    }

    fn install(&self, keyring: Option<Arc<Keyring>>) {
        // A poisoned lock still holds a valid Option; replace it either way.
        let mut slot = self.keyring.write().unwrap_or_else(|p| p.into_inner());
        *slot = keyring;
        drop(slot);
        self.cache.clear();
    }

    pub(crate) fn current(&self) -> Result<Arc<Keyring>, BarrierError> {
        self.keyring
            .read()
            .map_err(|_| BarrierError::Sealed)?
            .clone()
            .ok_or(BarrierError::Sealed)
    }

    async fn encrypt(&self, path: &str, plaintext: &[u8]) -> Result<Vec<u8>, BarrierError> {
        loop {
            let keyring = self.current()?;
            let term = keyring.active_term();
            let used = term.count_use();
            if used > self.options.rotate_after {
                self.rotate_from(term.number()).await?;
                continue;
            }
            if used > term.reserved() {
                self.extend_reservation(term.number()).await?;
            }
            return Ok(envelope::seal(
                term.cipher(),
                term.number(),
                path,
                plaintext,
            )?);
        }
    }

    /// Persists a larger reservation for `number` before its uses exceed the last one.
    async fn extend_reservation(&self, number: u32) -> Result<(), BarrierError> {
        let _writing = self.keyring_writes.lock().await;
        let keyring = self.current()?;
        let Some(term) = keyring.term(number) else {
            return Ok(());
        };
        let previous = term.reserved();
        if term.encryptions() <= previous {
            return Ok(());
        }
        term.set_reserved(term.encryptions() + RESERVATION_CHUNK);
        if let Err(e) = self.store_keyring(&keyring).await {
            term.set_reserved(previous);
            return Err(e);
        }
        Ok(())
    }

    /// Rotates, unless another task already moved past `from`.
    async fn rotate_from(&self, from: u32) -> Result<(), BarrierError> {
        let _writing = self.keyring_writes.lock().await;
        let keyring = self.current()?;
        if keyring.active_term().number() != from {
            return Ok(());
        }
        let rotated = Arc::new(keyring.rotated(clock::now_unix())?);
        // Stored before it is used, so no value is ever written under a term that
        // a restart would not know.
        self.store_keyring(&rotated).await?;
        // Only over the keyring it was made from: a seal during the write must win,
        // not be undone by putting the keys back.
        let mut slot = self.keyring.write().unwrap_or_else(|p| p.into_inner());
        match slot.as_ref() {
            Some(current) if Arc::ptr_eq(current, &keyring) => *slot = Some(rotated),
            _ => return Err(BarrierError::Sealed),
        }
        drop(slot);
        tracing::info!(term = from + 1, "keyring rotated");
        Ok(())
    }

    async fn store_keyring(&self, keyring: &Keyring) -> Result<(), BarrierError> {
        let blob = keyring.wrap()?;
        Ok(self.backend.put(KEYRING_PATH, blob).await?)
    }
}

/// A stored keyring that does not open: altered, or not ours.
fn keyring_integrity(e: UnwrapError) -> BarrierError {
    BarrierError::Integrity {
        path: KEYRING_PATH.into(),
        reason: match e {
            UnwrapError::Envelope(invalid) => invalid.reason(),
            UnwrapError::Malformed => "the keyring is malformed",
        },
    }
}

fn check_path(path: &str) -> Result<(), BarrierError> {
    if path.starts_with(RESERVED_PREFIX) || path == "core" {
        return Err(BarrierError::ReservedPath(path.to_owned()));
    }
    Ok(())
}

/// An unsealed barrier over memory with a keyring of its own, for the tests
/// of this module and of the stores built on it.
#[cfg(test)]
pub(crate) async fn unsealed(
    options: BarrierOptions,
) -> (Barrier, Arc<crate::storage::MemoryBackend>) {
    let (barrier, backend, _) = unsealed_with_root(options).await;
    (barrier, backend)
}

/// [`unsealed`], with the root key, for a test that unseals again.
#[cfg(test)]
pub(crate) async fn unsealed_with_root(
    options: BarrierOptions,
) -> (Barrier, Arc<crate::storage::MemoryBackend>, Key256) {
    let backend = Arc::new(crate::storage::MemoryBackend::new());
    let root = Key256::generate().unwrap();
    let ring = Keyring::generate(&root, 1).unwrap();
    backend
        .put(KEYRING_PATH, ring.wrap().unwrap())
        .await
        .unwrap();
    let barrier = Barrier::new(backend.clone(), options);
    barrier.unseal(&root).await.unwrap();
    (barrier, backend, root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryBackend;

    #[tokio::test]
    async fn sealed_barrier_refuses_everything() {
        let barrier = Barrier::new(Arc::new(MemoryBackend::new()), BarrierOptions::default());
        assert!(matches!(barrier.get("a").await, Err(BarrierError::Sealed)));
        assert!(matches!(
            barrier.put("a", b"x").await,
            Err(BarrierError::Sealed)
        ));
        assert!(matches!(barrier.list("").await, Err(BarrierError::Sealed)));
    }

    #[tokio::test]
    async fn decoded_values_are_shared_until_their_path_is_written() {
        let (barrier, _backend) = unsealed(BarrierOptions::default()).await;
        let decode = |raw: &[u8]| -> Result<String, BarrierError> {
            Ok(String::from_utf8_lossy(raw).into_owned())
        };
        barrier.put("t", b"one").await.unwrap();
        let first = barrier.get_decoded("t", decode).await.unwrap().unwrap();
        let again = barrier.get_decoded("t", decode).await.unwrap().unwrap();
        assert_eq!(*first, "one");
        assert!(Arc::ptr_eq(&first, &again), "decoded once, then shared");
        // Another type at the same path is decoded on its own.
        let length = |raw: &[u8]| -> Result<usize, BarrierError> { Ok(raw.len()) };
        assert_eq!(*barrier.get_decoded("t", length).await.unwrap().unwrap(), 3);
        barrier.put("t", b"two").await.unwrap();
        let after = barrier.get_decoded("t", decode).await.unwrap().unwrap();
        assert_eq!(*after, "two");
        barrier.delete("t").await.unwrap();
        assert!(barrier.get_decoded("t", decode).await.unwrap().is_none());
        // A value that does not decode is the caller's error, and not cached.
        barrier.put("t", b"three").await.unwrap();
        let refuse = |_: &[u8]| -> Result<String, BarrierError> {
            Err(BarrierError::ReservedPath("t".into()))
        };
        assert!(barrier.get_decoded("t", refuse).await.is_err());
        assert_eq!(
            *barrier.get_decoded("t", decode).await.unwrap().unwrap(),
            "three"
        );
    }

    #[tokio::test]
    async fn cached_reads_follow_every_write() {
        let (barrier, backend) = unsealed(BarrierOptions::default()).await;
        barrier.put("a", b"1").await.unwrap();
        assert_eq!(
            barrier.get("a").await.unwrap().unwrap().expose_secret(),
            b"1"
        );
        // Served from the cache now: the stored bytes are not read again...
        let blob = backend.get("a").await.unwrap().unwrap();
        backend.put("a", b"garbage".to_vec()).await.unwrap();
        assert_eq!(
            barrier.get("a").await.unwrap().unwrap().expose_secret(),
            b"1"
        );
        backend.put("a", blob).await.unwrap();
        // ...but every write through the barrier is seen at once.
        barrier.put("a", b"2").await.unwrap();
        assert_eq!(
            barrier.get("a").await.unwrap().unwrap().expose_secret(),
            b"2"
        );
        barrier
            .batch(vec![
                BarrierOp::Put {
                    path: "a".into(),
                    value: SecretBytes::new(b"3".to_vec()),
                },
                BarrierOp::Put {
                    path: "b".into(),
                    value: SecretBytes::new(b"x".to_vec()),
                },
            ])
            .await
            .unwrap();
        assert_eq!(
            barrier.get("a").await.unwrap().unwrap().expose_secret(),
            b"3"
        );
        barrier.delete("a").await.unwrap();
        assert!(barrier.get("a").await.unwrap().is_none());
        // Sealing empties it: nothing decrypted outlives the keys.
        assert!(barrier.get("b").await.unwrap().is_some());
        barrier.seal();
        assert!(matches!(barrier.get("b").await, Err(BarrierError::Sealed)));
        assert_eq!(
            format!("{:?}", barrier.cache),
            "ReadCache { entries: 0, .. }"
        );
    }

    #[tokio::test]
    async fn core_paths_are_reserved() {
        let (barrier, _) = unsealed(BarrierOptions::default()).await;
        assert!(matches!(
            barrier.put("core/keyring", b"x").await,
            Err(BarrierError::ReservedPath(_))
        ));
        assert!(matches!(
            barrier.get("core/root-key").await,
            Err(BarrierError::ReservedPath(_))
        ));
    }

    #[tokio::test]
    async fn rotates_by_itself_before_the_limit() {
        let (barrier, backend) = unsealed(BarrierOptions { rotate_after: 5 }).await;
        for i in 0..12 {
            barrier.put(&format!("k{i}"), b"v").await.unwrap();
        }
        let status = barrier.key_status().unwrap();
        assert_eq!(status.term, 3);
        assert!(status.encryptions <= 5);
        for i in 0..12 {
            let blob = backend.get(&format!("k{i}")).await.unwrap().unwrap();
            assert_eq!(envelope::term_of(&blob).unwrap(), 1 + (i / 5) as u32);
            assert_eq!(
                barrier
                    .get(&format!("k{i}"))
                    .await
                    .unwrap()
                    .unwrap()
                    .expose_secret(),
                b"v"
            );
        }
    }

    #[tokio::test]
    async fn reservation_is_persisted_ahead_of_use() {
        let (barrier, backend, root) = unsealed_with_root(BarrierOptions::default()).await;
        for i in 0..3 {
            barrier.put(&format!("k{i}"), b"v").await.unwrap();
        }
        // A crash now: a new barrier over the same storage counts at least 3 uses.
        let again = Barrier::new(backend, BarrierOptions::default());
        again.unseal(&root).await.unwrap();
        assert!(again.key_status().unwrap().encryptions >= 3);
    }
}
