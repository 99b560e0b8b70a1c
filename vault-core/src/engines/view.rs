//! A mount's window on the barrier: every key is put under the mount's own prefix
//! (`logical/<uuid>/` or `auth/<uuid>/`), so a handler cannot reach another
//! mount's data or the vault's own.

use crate::barrier::{Barrier, BarrierError, BarrierOp};
use crate::secret::SecretBytes;

/// The barrier, confined to one prefix.
#[derive(Debug, Clone)]
pub struct View<'a> {
    barrier: &'a Barrier,
    prefix: String,
}

impl<'a> View<'a> {
    /// A view of `barrier` under `prefix` (which ends in `/`).
    pub fn new(barrier: &'a Barrier, prefix: impl Into<String>) -> Self {
        View {
            barrier,
            prefix: prefix.into(),
        }
    }

    /// The prefix this view adds.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn full(&self, key: &str) -> Result<String, BarrierError> {
        // Keys come from handlers, which build them from request paths the
        // pipeline has already normalised; refuse anything that could climb out.
        if key
            .split('/')
            .any(|segment| segment == ".." || segment == ".")
        {
            return Err(BarrierError::ReservedPath(key.to_owned()));
        }
        Ok(format!("{}{key}", self.prefix))
    }

    /// Decrypts the value at `key`.
    pub async fn get(&self, key: &str) -> Result<Option<SecretBytes>, BarrierError> {
        self.barrier.get(&self.full(key)?).await
    }

    /// The value at `key` decoded by `decode`, shared until it is written
    /// (see [`Barrier::get_decoded`]).
    pub(crate) async fn get_decoded<T, E>(
        &self,
        key: &str,
        decode: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Option<std::sync::Arc<T>>, E>
    where
        T: std::any::Any + Send + Sync,
        E: From<BarrierError>,
    {
        self.barrier.get_decoded(&self.full(key)?, decode).await
    }

    /// Encrypts and stores `value` at `key`.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), BarrierError> {
        self.barrier.put(&self.full(key)?, value).await
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), BarrierError> {
        self.barrier.delete(&self.full(key)?).await
    }

    /// The immediate children of `prefix` within the view.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BarrierError> {
        self.barrier.list(&self.full(prefix)?).await
    }

    /// Applies every op or none; keys are relative to the view.
    pub async fn batch(&self, ops: Vec<BarrierOp>) -> Result<(), BarrierError> {
        let mut full = Vec::with_capacity(ops.len());
        for op in ops {
            full.push(match op {
                BarrierOp::Put { path, value } => BarrierOp::Put {
                    path: self.full(&path)?,
                    value,
                },
                BarrierOp::Delete { path } => BarrierOp::Delete {
                    path: self.full(&path)?,
                },
            });
        }
        self.barrier.batch(full).await
    }
}
