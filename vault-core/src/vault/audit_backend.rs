//! Audit in the vault: the device table (behind the barrier, with each device's
//! HMAC key and where its chain stood when it last stopped), starting devices at
//! unseal, the `sys/audit*` endpoints, and the entries the pipeline records.
//!
//! Devices are declared by the embedder (vaultd's `[[audit]]`), or enabled
//! through `sys/audit/<name>` only if [`ApiAuditPolicy`] allows it; a `file`
//! device enabled so is confined (see [`crate::audit::ConfinedPathError`]), at
//! enable and at every later start. A device in the table that is not
//! declared (now) is taken as enabled through the API.
//!
//! Storage: `core/audit/devices` (the table, JSON), `core/audit/key/<name>` (the
//! device's HMAC key), `core/audit/state/<name>` (`{seq, last_hash}` at its last
//! clean stop).

use serde_json::{Value, json};

use crate::audit::{ApiAuditPolicy, AuditError, DeviceConfig, Origin};
use crate::clock;
use crate::request::{Data, Operation, Request, Response};
use crate::router::MountEntry;
use crate::secret::Key256;
use crate::token::TokenEntry;

use super::{Vault, VaultError};
use crate::sys::AuditTable;

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

impl Vault {
    /// What `sys/audit/<name>` may enable (by default nothing): set before the
    /// vault is shared.
    pub fn with_api_audit(mut self, policy: ApiAuditPolicy) -> Self {
        self.audit.set_api_policy(policy);
        self
    }

    async fn audit_table(&self) -> Result<Vec<DeviceConfig>, VaultError> {
        match self.barrier.get_internal(TABLE_PATH).await? {
            Some(raw) => serde_json::from_slice(raw.expose_secret()).map_err(|e| {
                VaultError::Internal(format!("the audit device table does not decode: {e}"))
            }),
            None => Ok(Vec::new()),
        }
    }

    async fn store_audit_table(&self, table: &[DeviceConfig]) -> Result<(), VaultError> {
        let bytes = serde_json::to_vec(table).map_err(|e| VaultError::Internal(e.to_string()))?;
        Ok(self.barrier.put_internal(TABLE_PATH, &bytes).await?)
    }

    async fn device_key(&self, name: &str) -> Result<Key256, VaultError> {
        let path = format!("{KEY_PREFIX}{name}");
        if let Some(raw) = self.barrier.get_internal(&path).await?
            && let Some(key) = Key256::from_slice(raw.expose_secret())
        {
            return Ok(key);
        }
        let key = Key256::generate()?;
        self.barrier
            .put_internal(&path, key.expose_secret())
            .await?;
        Ok(key)
    }

    /// Starts a device; returns why its first write failed, if it did (it then
    /// runs unhealthy, retrying with every entry).
    async fn start_device(
        &self,
        config: DeviceConfig,
        origin: Origin,
    ) -> Result<Option<String>, VaultError> {
        let key = self.device_key(&config.name).await?;
        let resume = match self
            .barrier
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
        Ok(self.audit.start(config, &key, resume, origin)?)
    }

    /// Where a device's chain position is kept: per node when several nodes
    /// share the storage, since each writes its own file.
    fn chain_state_key(&self, name: &str) -> String {
        match &self.node_id {
            Some(node) => format!("{STATE_PREFIX}{node}/{name}"),
            None => format!("{STATE_PREFIX}{name}"),
        }
    }

    async fn save_chain(&self, name: &str, seq: u64, last_hash: &str) -> Result<(), VaultError> {
        let state = json!({ "seq": seq, "last_hash": last_hash }).to_string();
        Ok(self
            .barrier
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
    pub(super) async fn start_audit(&self) -> Result<(), VaultError> {
        // Serialised with enable and disable, so none of them is lost or undone.
        let _serial = self.mount_writes.lock().await;
        let mut table = self.audit_table().await?;
        let mut changed = false;
        for declared in &self.declared_audit {
            if !table.iter().any(|d| d.name == declared.name) {
                table.push(declared.clone());
                changed = true;
            }
        }
        if changed {
            self.store_audit_table(&table).await?;
        }
        self.audit.expect_devices(table.len());
        for stored in table {
            let (config, origin) = match self.declared_audit.iter().find(|d| d.name == stored.name)
            {
                Some(declared) => (declared.clone(), Origin::Declared),
                None => (stored, Origin::Api),
            };
            let name = config.name.clone();
            match self.start_device(config, origin).await {
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
    pub(super) async fn stop_audit(&self) {
        for (name, chain) in self.audit.stop_all().await {
            if let Err(e) = self.save_chain(&name, chain.seq, &chain.last_hash).await {
                tracing::warn!(device = %name, error = %e, "could not save the audit chain position");
            }
        }
    }

    /// Records a lifecycle event (an unseal, HA activation) as a
    /// request/response pair. Best effort: the event has happened.
    pub(super) async fn audit_lifecycle(&self, path: &str, data: Data) {
        let request = Request::new(Operation::Update, path).with_data(data);
        let done: Result<Response, VaultError> = Ok(Response::default());
        let entries = [
            self.audit_log(|| request_entry(&request, None, None)).await,
            self.audit_log(|| response_entry(&request, None, None, &done))
                .await,
        ];
        for e in entries.into_iter().filter_map(Result::err) {
            tracing::warn!(path, error = %e, "lifecycle call not audited");
        }
    }

    /// The status of every running audit device.
    pub fn audit_status(&self) -> Vec<crate::audit::DeviceStatus> {
        self.audit.all_status()
    }

    /// Reopens every audit file before its next write (SIGHUP, log rotation).
    pub fn audit_reopen(&self) {
        self.audit.reopen_all();
    }

    /// Records the entry `build` makes (only if a device will take it); fails
    /// closed.
    pub(super) async fn audit_log(&self, build: impl FnOnce() -> Value) -> Result<(), VaultError> {
        Ok(self.audit.log(build).await?)
    }
}

/// The raw (not yet HMAC'd) `request` entry of a request.
pub(super) fn request_entry(
    request: &Request,
    token: Option<&TokenEntry>,
    mount: Option<&MountEntry>,
) -> Value {
    json!({
        "time": clock::rfc3339(clock::now_unix()),
        "type": "request",
        "auth": auth_json(request, token),
        "request": request_json(request, token.is_some(), mount),
        "error": "",
    })
}

/// The raw `response` entry: the request again, and what came of it.
pub(super) fn response_entry(
    request: &Request,
    token: Option<&TokenEntry>,
    mount: Option<&MountEntry>,
    result: &Result<Response, VaultError>,
) -> Value {
    let (response, error) = match result {
        Ok(r) => (
            json!({
                "data": r.data,
                "warnings": r.warnings,
                "auth": r.auth.as_ref().map(|a| json!({
                    "client_token": a.client_token,
                    "accessor": a.accessor,
                    "policies": a.policies,
                    "token_policies": a.policies,
                    "metadata": a.metadata,
                    "lease_duration": a.lease_duration,
                    "renewable": a.renewable,
                    "num_uses": a.num_uses,
                })),
                // Lease ids are not secret: they are how an operator follows a
                // credential from its issue to its revocation.
                "secret": r.lease.as_ref().map(|l| json!({
                    "lease_id": l.lease_id,
                    "lease_duration": l.lease_duration,
                    "renewable": l.renewable,
                })),
            }),
            String::new(),
        ),
        Err(e) => (Value::Null, e.to_string()),
    };
    json!({
        "time": clock::rfc3339(clock::now_unix()),
        "type": "response",
        "auth": auth_json(request, token),
        "request": request_json(request, token.is_some(), mount),
        "response": response,
        "error": error,
    })
}

fn auth_json(request: &Request, token: Option<&TokenEntry>) -> Value {
    let client_token = request.token.as_ref().map(|t| t.expose_secret().to_owned());
    match token {
        Some(t) => json!({
            "client_token": client_token,
            "accessor": t.accessor,
            "display_name": t.display_name,
            "policies": t.policies,
            "token_policies": t.policies,
            "metadata": t.meta,
            "token_type": "service",
        }),
        None => json!({ "client_token": client_token }),
    }
}

/// The request as entries record it; its data bounded (`bounded_data`),
/// tighter for a request without a valid token.
fn request_json(request: &Request, authenticated: bool, mount: Option<&MountEntry>) -> Value {
    let (data, data_length) = crate::audit::bounded_data(&request.data, authenticated);
    let mut out = json!({
        "id": request.id,
        "operation": request.operation.as_str(),
        "path": request.path,
        "mount_point": mount.map(|m| m.path.clone()),
        "mount_type": mount.map(|m| m.kind.clone()),
        "mount_accessor": mount.map(|m| m.accessor.clone()),
        "data": data,
        "remote_address": request.remote_addr.map(|a| a.to_string()),
        "client_token": request.token.as_ref().map(|t| t.expose_secret().to_owned()),
    });
    if let Some(length) = data_length {
        out["data_length"] = json!(length);
    }
    out
}

#[async_trait::async_trait]
impl AuditTable for Vault {
    async fn enable(&self, config: DeviceConfig) -> Result<(), VaultError> {
        let name = config.name.clone();
        let name = name.as_str();
        let _serial = self.mount_writes.lock().await;
        let mut table = self.audit_table().await?;
        if table.iter().any(|d| d.name == name) {
            return Err(VaultError::InvalidRequest(format!(
                "audit device {name:?} is already enabled"
            )));
        }
        // Started before it is stored: a device that cannot open is refused.
        if let Some(reason) = self.start_device(config.clone(), Origin::ApiNew).await? {
            self.audit.stop(name).await;
            return Err(VaultError::InvalidRequest(format!(
                "audit device {name:?} cannot write: {reason}"
            )));
        }
        table.push(config);
        self.store_audit_table(&table).await?;
        self.audit.expect_devices(table.len());
        tracing::info!(device = %name, "audit device enabled");
        Ok(())
    }

    async fn disable(&self, name: &str) -> Result<(), VaultError> {
        let _serial = self.mount_writes.lock().await;
        let mut table = self.audit_table().await?;
        table.retain(|d| d.name != name);
        self.store_audit_table(&table).await?;
        self.audit.expect_devices(table.len());
        // The key stays: the device's old logs can still be checked, and a
        // device enabled again under the name continues their chain.
        if let Some(chain) = self.audit.stop(name).await {
            self.save_chain(name, chain.seq, &chain.last_hash).await?;
        }
        tracing::info!(device = %name, "audit device disabled");
        Ok(())
    }
}
