//! What every engine and auth method needs the same way: striped locks over a
//! mount's keys, and JSON records in a storage view.

use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{EngineError, View};
use crate::barrier::{BarrierError, BarrierOp};
use crate::secret::SecretBytes;

/// A fixed set of locks; a key always maps to the same one. Serialises the
/// read-modify-write of one key without a lock per key.
pub struct Stripes(Box<[tokio::sync::Mutex<()>]>);

impl std::fmt::Debug for Stripes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stripes({})", self.0.len())
    }
}

impl Stripes {
    /// `count` locks.
    pub fn new(count: usize) -> Stripes {
        Stripes(
            (0..count.max(1))
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        )
    }

    /// How many locks there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always at least one.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits for the lock of `key` in `view`'s mount.
    pub async fn lock(&self, view: &View<'_>, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        // SipHash with fixed keys: the same key always maps to the same stripe,
        // which is all the striping needs.
        let mut hasher = DefaultHasher::new();
        view.prefix().hash(&mut hasher);
        key.hash(&mut hasher);
        self.lock_hashed(hasher.finish()).await
    }

    /// Waits for the lock of `key`, a key of the caller's own (not in a
    /// mount's view).
    pub async fn lock_key(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        self.lock_hashed(hasher.finish()).await
    }

    async fn lock_hashed(&self, hash: u64) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = (hash % self.0.len() as u64) as usize;
        self.0[stripe].lock().await
    }
}

/// The record at `path`, decoded. One that does not decode was authenticated by
/// the barrier, so it is our own bug or a downgrade: an integrity error named
/// `what`, never a guess.
pub async fn load_json<T: DeserializeOwned>(
    view: &View<'_>,
    path: &str,
    what: &'static str,
) -> Result<Option<T>, EngineError> {
    let Some(bytes) = view.get(path).await? else {
        return Ok(None);
    };
    crate::json_limits::from_stored(bytes.expose_secret())
        .map(Some)
        .map_err(|_| malformed(view, path, what))
}

/// Like [`load_json`], but decoded once and shared until the record is
/// written. Only for records that hold no secret.
pub async fn load_json_shared<T>(
    view: &View<'_>,
    path: &str,
    what: &'static str,
) -> Result<Option<std::sync::Arc<T>>, EngineError>
where
    T: DeserializeOwned + std::any::Any + Send + Sync,
{
    view.get_decoded(path, |bytes| {
        crate::json_limits::from_stored(bytes).map_err(|_| malformed(view, path, what))
    })
    .await
}

/// The integrity error for a stored record at `path` that does not decode.
pub fn malformed(view: &View<'_>, path: &str, what: &'static str) -> EngineError {
    EngineError::Barrier(BarrierError::Integrity {
        path: format!("{}{path}", view.prefix()),
        reason: what,
    })
}

/// `value` as a [`BarrierOp::Put`] at `path`.
pub fn put_json<T: Serialize>(path: String, value: &T) -> Result<BarrierOp, EngineError> {
    // Our records always encode; a failure would be a bug, and is reported rather
    // than stored half-made. The message names the path, never the value.
    let bytes = serde_json::to_vec(value).map_err(|_| {
        EngineError::InvalidRequest(format!("the record for {path:?} could not be encoded"))
    })?;
    Ok(BarrierOp::Put {
        path,
        value: SecretBytes::new(bytes),
    })
}
