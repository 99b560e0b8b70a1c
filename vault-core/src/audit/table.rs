//! The audit device table: which devices run, kept behind the barrier with
//! each device's HMAC key and where its chain stood when it last stopped;
//! starting them at unseal (or activation) and stopping them at seal.
//!
//! Devices are declared by the embedder (vaultd's `[[audit]]`), or enabled
//! through `sys/audit/<name>` only if [`ApiAuditPolicy`](super::ApiAuditPolicy)
//! allows it; a `file` device enabled so is confined (see
//! [`ConfinedPathError`](super::ConfinedPathError)), at enable and at every
//! later start. A device in the table that is not declared (now) is taken as
//! enabled through the API.
//!
//! Storage: `core/audit/devices` (the table, JSON), `core/audit/key/<name>` (the
//! device's HMAC key), `core/audit/state/<name>` (`{seq, last_hash}` at its last
//! clean stop).

use serde_json::{Value, json};

use super::{AuditBroker, AuditError, DeviceConfig, Origin};
use crate::barrier::Barrier;
use crate::error::VaultError;
use crate::secret::Key256;

const TABLE_PATH: &str = "core/audit/devices";
const KEY_PREFIX: &str = "core/audit/key/";
const STATE_PREFIX: &str = "core/audit/state/";

impl From<AuditError> for VaultError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Unavailable(why) => VaultError::AuditUnavailable(why),
            other => VaultError::InvalidRequest(other.to_string()),
        }
    }
}

/// The devices of one vault: those declared by its embedder, and the table
/// behind the barrier. Its methods run the devices on the broker given.
#[derive(Debug)]
pub(crate) struct DeviceTable {
    declared: Vec<DeviceConfig>,
    // This node's id when several share the storage: each keeps where its
    // own files' chains stand.
    node_id: Option<String>,
    // Serialises changes to the table (enable, disable, the start at unseal),
    // so none is lost or undone. A tokio Mutex: held across the writes.
    changes: tokio::sync::Mutex<()>,
}

impl DeviceTable {
    /// The table of a vault whose embedder declared `declared`.
    pub(crate) fn new(declared: Vec<DeviceConfig>, node_id: Option<String>) -> Self {
        DeviceTable {
            declared,
            node_id,
            changes: tokio::sync::Mutex::new(()),
        }
    }

    async fn read(&self, barrier: &Barrier) -> Result<Vec<DeviceConfig>, VaultError> {
        match barrier.get_internal(TABLE_PATH).await? {
            Some(raw) => serde_json::from_slice(raw.expose_secret()).map_err(|e| {
                VaultError::Internal(format!("the audit device table does not decode: {e}"))
            }),
            None => Ok(Vec::new()),
        }
    }

    async fn store(&self, barrier: &Barrier, table: &[DeviceConfig]) -> Result<(), VaultError> {
        let bytes = serde_json::to_vec(table).map_err(|e| VaultError::Internal(e.to_string()))?;
        Ok(barrier.put_internal(TABLE_PATH, &bytes).await?)
    }

    async fn device_key(&self, barrier: &Barrier, name: &str) -> Result<Key256, VaultError> {
        let path = format!("{KEY_PREFIX}{name}");
        if let Some(raw) = barrier.get_internal(&path).await?
            && let Some(key) = Key256::from_slice(raw.expose_secret())
        {
            return Ok(key);
        }
        let key = Key256::generate()?;
        barrier.put_internal(&path, key.expose_secret()).await?;
        Ok(key)
    }

    /// Starts a device; returns why its first write failed, if it did (it then
    /// runs unhealthy, retrying with every entry).
    async fn start_device(
        &self,
        barrier: &Barrier,
        broker: &AuditBroker,
        config: DeviceConfig,
        origin: Origin,
    ) -> Result<Option<String>, VaultError> {
        let key = self.device_key(barrier, &config.name).await?;
        let resume = match barrier
            .get_internal(&self.chain_state_key(&config.name))
            .await?
        {
            Some(raw) => serde_json::from_slice::<Value>(raw.expose_secret())
                .ok()
                .and_then(|v| {
                    Some(crate::audit::ChainState {
                        seq: v.get("seq")?.as_u64()?,
                        last_hash: v.get("last_hash")?.as_str()?.to_owned(),
                    })
                }),
            None => None,
        };
        Ok(broker.start(config, &key, resume, origin)?)
    }

    /// Where a device's chain position is kept: per node when several nodes
    /// share the storage, since each writes its own file.
    fn chain_state_key(&self, name: &str) -> String {
        match &self.node_id {
            Some(node) => format!("{STATE_PREFIX}{node}/{name}"),
            None => format!("{STATE_PREFIX}{name}"),
        }
    }

    async fn save_chain(
        &self,
        barrier: &Barrier,
        name: &str,
        seq: u64,
        last_hash: &str,
    ) -> Result<(), VaultError> {
        let state = json!({ "seq": seq, "last_hash": last_hash }).to_string();
        Ok(barrier
            .put_internal(&self.chain_state_key(name), state.as_bytes())
            .await?)
    }

    /// At unseal: starts every device of the table and of the daemon's config (the
    /// latter are added to the table). A device that cannot start is logged; while
    /// the table is not empty, requests are refused until one device records them.
    ///
    /// A declared device runs as declared now, whatever the table holds under
    /// its name (an older declaration, or a device enabled through the API before
    /// API devices were confined); any other is confined as an API device.
    pub(crate) async fn start_all(
        &self,
        barrier: &Barrier,
        broker: &AuditBroker,
    ) -> Result<(), VaultError> {
        // Serialised with enable and disable, so none of them is lost or undone.
        let _serial = self.changes.lock().await;
        let mut table = self.read(barrier).await?;
        let mut changed = false;
        for declared in &self.declared {
            if !table.iter().any(|d| d.name == declared.name) {
                table.push(declared.clone());
                changed = true;
            }
        }
        if changed {
            self.store(barrier, &table).await?;
        }
        broker.expect_devices(table.len());
        for stored in table {
            let (config, origin) = match self.declared.iter().find(|d| d.name == stored.name) {
                Some(declared) => (declared.clone(), Origin::Declared),
                None => (stored, Origin::Api),
            };
            let name = config.name.clone();
            match self.start_device(barrier, broker, config, origin).await {
                Ok(None) => {}
                Ok(Some(reason)) => {
                    tracing::error!(device = %name, %reason, "audit device cannot write yet; it retries with every entry")
                }
                Err(e) => {
                    tracing::error!(device = %name, error = %e, "audit device did not start; requests fail until a device records them")
                }
            }
        }
        Ok(())
    }

    /// At seal and shutdown: closes every device with a checkpoint and remembers
    /// where each chain stopped.
    pub(crate) async fn stop_all(&self, barrier: &Barrier, broker: &AuditBroker) {
        for (name, chain) in broker.stop_all().await {
            if let Err(e) = self
                .save_chain(barrier, &name, chain.seq, &chain.last_hash)
                .await
            {
                tracing::warn!(device = %name, error = %e, "could not save the audit chain position");
            }
        }
    }

    /// Starts the device, then stores it in the table; a device that cannot
    /// write, or a name taken, is refused.
    pub(crate) async fn enable(
        &self,
        barrier: &Barrier,
        broker: &AuditBroker,
        config: DeviceConfig,
    ) -> Result<(), VaultError> {
        let name = config.name.clone();
        let name = name.as_str();
        let _serial = self.changes.lock().await;
        let mut table = self.read(barrier).await?;
        if table.iter().any(|d| d.name == name) {
            return Err(VaultError::InvalidRequest(format!(
                "audit device {name:?} is already enabled"
            )));
        }
        // Started before it is stored: a device that cannot open is refused.
        if let Some(reason) = self
            .start_device(barrier, broker, config.clone(), Origin::ApiNew)
            .await?
        {
            broker.stop(name).await;
            return Err(VaultError::InvalidRequest(format!(
                "audit device {name:?} cannot write: {reason}"
            )));
        }
        table.push(config);
        self.store(barrier, &table).await?;
        broker.expect_devices(table.len());
        tracing::info!(device = %name, "audit device enabled");
        Ok(())
    }

    /// Stops the device and takes it out of the table (its key stays, so its
    /// old logs can still be checked).
    pub(crate) async fn disable(
        &self,
        barrier: &Barrier,
        broker: &AuditBroker,
        name: &str,
    ) -> Result<(), VaultError> {
        let _serial = self.changes.lock().await;
        let mut table = self.read(barrier).await?;
        table.retain(|d| d.name != name);
        self.store(barrier, &table).await?;
        broker.expect_devices(table.len());
        // The key stays: the device's old logs can still be checked, and a
        // device enabled again under the name continues their chain.
        if let Some(chain) = broker.stop(name).await {
            self.save_chain(barrier, name, chain.seq, &chain.last_hash)
                .await?;
        }
        tracing::info!(device = %name, "audit device disabled");
        Ok(())
    }
}
