//! The identity store: entities and groups kept behind the barrier (one
//! record each, at `identity/entity/<id>` and `identity/group/<id>`),
//! loaded into memory at first use after an unseal, and changed only
//! through [`IdentityStore::change`]: stored first (every record a change
//! touches in one batch), then applied in memory, so that what a request
//! sees was durable before anyone could see it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::barrier::{Barrier, BarrierOp};
use crate::error::VaultError;
use crate::secret::SecretBytes;

use super::index::Index;
use super::model::{Entity, Group};
use super::resolve::{Resolved, resolve};

const ENTITY_PREFIX: &str = "identity/entity/";
const GROUP_PREFIX: &str = "identity/group/";

/// Resolved entities kept at most; past it the cache starts again.
const MAX_RESOLVED: usize = 4096;

/// What one change stores and deletes.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Entities written whole.
    pub entities: Vec<Entity>,
    /// Entity ids removed.
    pub deleted_entities: Vec<String>,
    /// Groups written whole.
    pub groups: Vec<Group>,
    /// Group ids removed.
    pub deleted_groups: Vec<String>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.entities.is_empty()
            && self.deleted_entities.is_empty()
            && self.groups.is_empty()
            && self.deleted_groups.is_empty()
    }

    fn ops(&self) -> Result<Vec<BarrierOp>, VaultError> {
        let mut ops = Vec::new();
        for entity in &self.entities {
            ops.push(put(format!("{ENTITY_PREFIX}{}", entity.id), entity)?);
        }
        for group in &self.groups {
            ops.push(put(format!("{GROUP_PREFIX}{}", group.id), group)?);
        }
        for id in &self.deleted_entities {
            ops.push(BarrierOp::Delete {
                path: format!("{ENTITY_PREFIX}{id}"),
            });
        }
        for id in &self.deleted_groups {
            ops.push(BarrierOp::Delete {
                path: format!("{GROUP_PREFIX}{id}"),
            });
        }
        Ok(ops)
    }

    fn apply(self, index: &mut Index) {
        for id in &self.deleted_entities {
            index.remove_entity(id);
        }
        for id in &self.deleted_groups {
            index.remove_group(id);
        }
        for entity in self.entities {
            index.put_entity(entity);
        }
        for group in self.groups {
            index.put_group(group);
        }
    }
}

fn put(path: String, record: &impl serde::Serialize) -> Result<BarrierOp, VaultError> {
    let bytes = serde_json::to_vec(record)
        .map_err(|e| VaultError::Internal(format!("cannot encode {path}: {e}")))?;
    Ok(BarrierOp::Put {
        path,
        value: SecretBytes::from(zeroize::Zeroizing::new(bytes)),
    })
}

/// Entities and groups, in memory once loaded.
#[derive(Debug, Default)]
pub(crate) struct IdentityStore {
    // `None` until loaded after an unseal. A std lock: held to read or
    // apply, never across an await. Taken before `resolved`.
    index: std::sync::RwLock<Option<Index>>,
    // Resolved entities by the id tokens carry; emptied by every change
    // while `index` is held for writing, so an entry never outlives the
    // records it was worked out from.
    resolved: std::sync::Mutex<HashMap<String, Arc<Resolved>>>,
    // Serialises loads and changes. A tokio Mutex: held across the storage
    // write.
    writes: tokio::sync::Mutex<()>,
}

impl IdentityStore {
    /// Forgets everything loaded (at seal, and when this node stops being
    /// the active one).
    pub(crate) fn unload(&self) {
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        *index = None;
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Reads every record from storage if not loaded yet.
    async fn load(&self, barrier: &Barrier) -> Result<(), VaultError> {
        if self.is_loaded() {
            return Ok(());
        }
        let _writes = self.writes.lock().await;
        if self.is_loaded() {
            return Ok(());
        }
        let mut index = Index::default();
        for id in barrier.list(ENTITY_PREFIX).await? {
            if let Some(entity) = read::<Entity>(barrier, &format!("{ENTITY_PREFIX}{id}")).await? {
                index.put_entity(entity);
            }
        }
        for id in barrier.list(GROUP_PREFIX).await? {
            if let Some(group) = read::<Group>(barrier, &format!("{GROUP_PREFIX}{id}")).await? {
                index.put_group(group);
            }
        }
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = Some(index);
        Ok(())
    }

    fn is_loaded(&self) -> bool {
        self.index
            .read()
            .map(|i| i.is_some())
            .unwrap_or_else(|p| p.into_inner().is_some())
    }

    /// Runs `f` on the store as it is now.
    pub(crate) async fn read<T>(
        &self,
        barrier: &Barrier,
        f: impl FnOnce(&Index) -> T,
    ) -> Result<T, VaultError> {
        self.load(barrier).await?;
        let guard = self.index.read().unwrap_or_else(|p| p.into_inner());
        let index = guard.as_ref().ok_or(VaultError::Sealed)?;
        Ok(f(index))
    }

    /// Makes one change: `f` looks at the store and says what to write (or
    /// refuses); it is stored in one batch, then applied. Changes run one at
    /// a time, so what `f` saw is still the store when it is applied.
    pub(crate) async fn change<T>(
        &self,
        barrier: &Barrier,
        f: impl FnOnce(&Index) -> Result<(Changes, T), VaultError>,
    ) -> Result<T, VaultError> {
        self.load(barrier).await?;
        let _writes = self.writes.lock().await;
        let (changes, out) = {
            let guard = self.index.read().unwrap_or_else(|p| p.into_inner());
            f(guard.as_ref().ok_or(VaultError::Sealed)?)?
        };
        if changes.is_empty() {
            return Ok(out);
        }
        barrier.batch(changes.ops()?).await?;
        let mut guard = self.index.write().unwrap_or_else(|p| p.into_inner());
        if let Some(index) = guard.as_mut() {
            changes.apply(index);
        }
        self.resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(out)
    }

    /// The entity `entity_id` as a request sees it now; `None` if it no
    /// longer exists.
    pub(crate) async fn resolve(
        &self,
        barrier: &Barrier,
        entity_id: &str,
    ) -> Result<Option<Arc<Resolved>>, VaultError> {
        if let Some(hit) = self
            .resolved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(entity_id)
        {
            return Ok(Some(Arc::clone(hit)));
        }
        self.load(barrier).await?;
        let guard = self.index.read().unwrap_or_else(|p| p.into_inner());
        let Some(index) = guard.as_ref() else {
            return Err(VaultError::Sealed);
        };
        let Some(resolved) = resolve(index, entity_id).map(Arc::new) else {
            return Ok(None);
        };
        // Cached while `index` is still held: no change can come between.
        let mut cache = self.resolved.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_RESOLVED {
            cache.clear();
        }
        cache.insert(entity_id.to_owned(), Arc::clone(&resolved));
        Ok(Some(resolved))
    }
}

async fn read<T: serde::de::DeserializeOwned>(
    barrier: &Barrier,
    path: &str,
) -> Result<Option<T>, VaultError> {
    let Some(bytes) = barrier.get(path).await? else {
        return Ok(None);
    };
    serde_json::from_slice(bytes.expose_secret())
        .map(Some)
        .map_err(|e| VaultError::Internal(format!("the identity record {path} is unreadable: {e}")))
}
