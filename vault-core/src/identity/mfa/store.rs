//! Where login MFA's records live (behind the barrier, beside the identity
//! store's): methods at `identity/mfa/method/<id>`, enforcements at
//! `identity/mfa/enforcement/<name>`, entity secrets at
//! `identity/mfa/secret/<method id>/<entity id>`. Methods and enforcements
//! are read by every login, so they are loaded once after an unseal and
//! kept; a change is stored first, then applied in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::barrier::{Barrier, BarrierOp};
use crate::engines::shared::Stripes;
use crate::error::VaultError;

use super::model::{Enforcement, EntitySecret, TotpMethod};

const METHOD_PREFIX: &str = "identity/mfa/method/";
const ENFORCEMENT_PREFIX: &str = "identity/mfa/enforcement/";
const SECRET_PREFIX: &str = "identity/mfa/secret/";

/// Every method and enforcement, as of the last change.
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    pub methods: BTreeMap<String, TotpMethod>,
    pub enforcements: BTreeMap<String, Enforcement>,
}

/// The records, and the locks that make each secret's check-and-spend one
/// step.
#[derive(Debug)]
pub(crate) struct MfaStore {
    loaded: RwLock<Option<Arc<Config>>>,
    /// Held across a change's load, store and apply.
    changing: tokio::sync::Mutex<()>,
    /// Per (method, entity): a code is checked and spent under one.
    secrets: Stripes,
}

impl Default for MfaStore {
    fn default() -> Self {
        MfaStore {
            loaded: RwLock::new(None),
            changing: tokio::sync::Mutex::new(()),
            secrets: Stripes::new(64),
        }
    }
}

fn malformed(path: &str) -> VaultError {
    VaultError::Integrity {
        path: path.to_owned(),
        reason: "the stored MFA record is malformed",
    }
}

async fn get<T: DeserializeOwned>(barrier: &Barrier, path: &str) -> Result<Option<T>, VaultError> {
    let Some(bytes) = barrier.get(path).await? else {
        return Ok(None);
    };
    crate::json_limits::from_stored(bytes.expose_secret())
        .map(Some)
        .map_err(|_| malformed(path))
}

fn put<T: Serialize>(path: String, value: &T) -> Result<BarrierOp, VaultError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| VaultError::Internal(format!("encoding {path}: {e}")))?;
    Ok(BarrierOp::Put {
        path,
        value: crate::secret::SecretBytes::new(bytes),
    })
}

pub(crate) fn secret_path(method_id: &str, entity_id: &str) -> String {
    format!("{SECRET_PREFIX}{method_id}/{entity_id}")
}

impl MfaStore {
    /// Every method and enforcement, loaded at first use.
    pub(crate) async fn config(&self, barrier: &Barrier) -> Result<Arc<Config>, VaultError> {
        if let Some(config) = self.read_loaded() {
            return Ok(config);
        }
        let _changing = self.changing.lock().await;
        if let Some(config) = self.read_loaded() {
            return Ok(config);
        }
        let mut config = Config::default();
        for id in barrier.list(METHOD_PREFIX).await? {
            if let Some(m) = get::<TotpMethod>(barrier, &format!("{METHOD_PREFIX}{id}")).await? {
                config.methods.insert(m.id.clone(), m);
            }
        }
        for name in barrier.list(ENFORCEMENT_PREFIX).await? {
            let path = format!("{ENFORCEMENT_PREFIX}{name}");
            if let Some(e) = get::<Enforcement>(barrier, &path).await? {
                config.enforcements.insert(e.name.clone(), e);
            }
        }
        let config = Arc::new(config);
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&config));
        Ok(config)
    }

    fn read_loaded(&self) -> Option<Arc<Config>> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Forgets what was loaded (at seal and step-down).
    pub(crate) fn unload(&self) {
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Applies `edit` to the configuration: `edit` says what to store (and
    /// may refuse); stored, then applied.
    pub(crate) async fn change<R>(
        &self,
        barrier: &Barrier,
        edit: impl FnOnce(&mut Config) -> Result<(Vec<BarrierOp>, R), VaultError>,
    ) -> Result<R, VaultError> {
        let current = self.config(barrier).await?;
        let _changing = self.changing.lock().await;
        // Reloaded under the lock: another change may have landed between.
        let current = self.read_loaded().unwrap_or(current);
        let mut next = (*current).clone();
        let (ops, result) = edit(&mut next)?;
        if !ops.is_empty() {
            barrier.batch(ops).await?;
        }
        *self.loaded.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(next));
        Ok(result)
    }

    pub(crate) fn put_method(method: &TotpMethod) -> Result<BarrierOp, VaultError> {
        put(format!("{METHOD_PREFIX}{}", method.id), method)
    }

    pub(crate) fn delete_method(id: &str) -> BarrierOp {
        BarrierOp::Delete {
            path: format!("{METHOD_PREFIX}{id}"),
        }
    }

    pub(crate) fn put_enforcement(enforcement: &Enforcement) -> Result<BarrierOp, VaultError> {
        put(
            format!("{ENFORCEMENT_PREFIX}{}", enforcement.name),
            enforcement,
        )
    }

    pub(crate) fn delete_enforcement(name: &str) -> BarrierOp {
        BarrierOp::Delete {
            path: format!("{ENFORCEMENT_PREFIX}{name}"),
        }
    }

    /// Waits for the lock over `entity_id`'s secret for `method_id`.
    pub(crate) async fn lock_secret(
        &self,
        method_id: &str,
        entity_id: &str,
    ) -> tokio::sync::MutexGuard<'_, ()> {
        self.secrets
            .lock_key(&secret_path(method_id, entity_id))
            .await
    }

    pub(crate) async fn secret(
        barrier: &Barrier,
        method_id: &str,
        entity_id: &str,
    ) -> Result<Option<EntitySecret>, VaultError> {
        get(barrier, &secret_path(method_id, entity_id)).await
    }

    pub(crate) fn put_secret(
        method_id: &str,
        entity_id: &str,
        secret: &EntitySecret,
    ) -> Result<BarrierOp, VaultError> {
        put(secret_path(method_id, entity_id), secret)
    }

    /// Every entity's secret for `method_id`, to go with the method.
    pub(crate) async fn secret_deletions(
        barrier: &Barrier,
        method_id: &str,
    ) -> Result<Vec<BarrierOp>, VaultError> {
        let folder = format!("{SECRET_PREFIX}{method_id}/");
        Ok(barrier
            .list(&folder)
            .await?
            .into_iter()
            .map(|entity| BarrierOp::Delete {
                path: format!("{folder}{entity}"),
            })
            .collect())
    }
}
