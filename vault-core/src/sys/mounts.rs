//! `sys/mounts`, `sys/auth` (enable, disable, read, list), their `tune`, and
//! `sys/internal/ui/mounts`, over the mount table ([`MountAdmin`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::engines::EngineRequest;
use crate::error::{VaultError, field, object};
use crate::params;
use crate::request::{Caller, Data, Operation, Response};
use crate::router::{MountConfig, MountEntry, MountTable};

use crate::barrier::Barrier;
use crate::identity::IdentityStore;
use crate::identity::access::access_of;
use crate::policy::store::PolicyStore;

/// The mount table and the engines behind it.
#[async_trait]
pub(crate) trait MountAdmin: Send + Sync + std::fmt::Debug {
    /// The table requests route on now.
    fn table(&self) -> Arc<MountTable>;
    /// Mounts `kind` at `path` (`auth/<name>` for an auth method).
    async fn enable(
        &self,
        path: &str,
        kind: &str,
        description: String,
        config: MountConfig,
        options: BTreeMap<String, String>,
    ) -> Result<MountEntry, VaultError>;
    /// Unmounts `path`, its leases (and an auth method's tokens) revoked and
    /// its storage deleted; nothing mounted there is no error, as in Vault.
    async fn disable(&self, path: &str) -> Result<(), VaultError>;
    /// Sets the TTLs given (seconds; 0 is the system's).
    async fn tune(
        &self,
        path: &str,
        default_ttl: Option<u64>,
        max_ttl: Option<u64>,
    ) -> Result<MountEntry, VaultError>;
}

/// The mount endpoints, over the table and (for what a caller may see) the
/// policies.
pub(super) struct Mounts<'a> {
    pub barrier: &'a Barrier,
    pub mounts: &'a dyn MountAdmin,
    pub policies: &'a PolicyStore,
    pub identity: &'a IdentityStore,
}

fn mount_json(e: &MountEntry) -> Value {
    json!({
        "type": e.kind,
        "description": e.description,
        "accessor": e.accessor,
        "uuid": e.uuid,
        "config": {
            "default_lease_ttl": e.config.effective_default_ttl(),
            "max_lease_ttl": e.config.effective_max_ttl(),
        },
        "options": e.options,
    })
}

/// Reads `{"config": {"default_lease_ttl": .., "max_lease_ttl": ..}}` in seconds.
fn mount_config(data: &Data) -> Result<MountConfig, VaultError> {
    let Some(Value::Object(config)) = data.get("config") else {
        return Ok(MountConfig::default());
    };
    Ok(MountConfig {
        default_lease_ttl: field(params::duration_ms(config, "default_lease_ttl"))?.unwrap_or(0)
            / 1000,
        max_lease_ttl: field(params::duration_ms(config, "max_lease_ttl"))?.unwrap_or(0) / 1000,
    })
}

impl Mounts<'_> {
    /// The answer for `sys/<path>`, or `None` when it is not a mount path.
    pub async fn serve(
        &self,
        request: &EngineRequest<'_>,
        path: &str,
    ) -> Option<Result<Response, VaultError>> {
        let op = request.operation;
        let data = request.data;
        if path == "mounts" && op == Operation::Read {
            return Some(Ok(self.listing(false)));
        }
        if path == "auth" && op == Operation::Read {
            return Some(Ok(self.listing(true)));
        }
        if let Some(rest) = path.strip_prefix("mounts/") {
            if let Some(mount) = rest.strip_suffix("/tune") {
                return Some(self.tune(mount, op, data).await);
            }
            if rest == "auth" || rest.starts_with("auth/") {
                // Auth methods are managed at sys/auth/, where sudo is required.
                return Some(Err(VaultError::InvalidRequest(
                    "auth methods are enabled and disabled at sys/auth/, not sys/mounts/".into(),
                )));
            }
            return Some(self.mount(rest, op, data).await);
        }
        if let Some(rest) = path.strip_prefix("auth/") {
            if let Some(mount) = rest.strip_suffix("/tune") {
                return Some(self.tune(&format!("auth/{mount}"), op, data).await);
            }
            return Some(self.mount(&format!("auth/{rest}"), op, data).await);
        }
        if op == Operation::Read
            && let Some(rest) = path.strip_prefix("internal/ui/mounts")
        {
            return Some(
                self.ui_mounts(rest.trim_start_matches('/'), request.caller)
                    .await,
            );
        }
        None
    }

    fn listing(&self, auth: bool) -> Response {
        let table = self.mounts.table();
        let mut out = Data::new();
        for entry in table.entries.iter().filter(|e| e.is_auth() == auth) {
            let key = if auth {
                entry.path.trim_start_matches("auth/").to_owned()
            } else {
                entry.path.clone()
            };
            out.insert(key, mount_json(entry));
        }
        Response::with_data(out)
    }

    /// `sys/internal/ui/mounts[/<path>]`: the mounts the caller may use
    /// something under (all of them for root), or the one that serves
    /// `path`, with its `path`. Clients read a KV mount's `options.version`
    /// here. A mount the caller cannot use, or none at all, is a plain
    /// permission denied, so that this cannot map the mounts.
    async fn ui_mounts(&self, path: &str, caller: &Caller) -> Result<Response, VaultError> {
        let denied = || VaultError::PermissionDenied("permission denied");
        let token = caller.token.as_ref().ok_or_else(denied)?;
        let acl = access_of(self.barrier, self.policies, self.identity, token)
            .await?
            .acl;
        let table = self.mounts.table();
        if path.is_empty() {
            let (mut secret, mut auth) = (Data::new(), Data::new());
            for entry in table.entries.iter().filter(|e| acl.reaches_under(&e.path)) {
                match entry.path.strip_prefix("auth/") {
                    Some(name) => auth.insert(name.to_owned(), mount_json(entry)),
                    None => secret.insert(entry.path.clone(), mount_json(entry)),
                };
            }
            return Ok(Response::with_data(object(
                json!({ "secret": secret, "auth": auth }),
            )));
        }
        let normal = crate::path::normalize(path, false)?;
        let (entry, _) = table.route(&normal).ok_or_else(denied)?;
        if !acl.reaches_under(&entry.path) {
            return Err(denied());
        }
        let mut shown = mount_json(entry);
        shown["path"] = json!(entry.path.strip_prefix("auth/").unwrap_or(&entry.path));
        Ok(Response::with_data(object(shown)))
    }

    async fn mount(&self, path: &str, op: Operation, data: &Data) -> Result<Response, VaultError> {
        match op {
            Operation::Create | Operation::Update => {
                let kind = field(params::string(data, "type"))?
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"type\"".into()))?;
                let description = field(params::string(data, "description"))?.unwrap_or_default();
                let options: BTreeMap<String, String> =
                    field(params::string_map(data, "options"))?.unwrap_or_default();
                let entry = self
                    .mounts
                    .enable(path, &kind, description, mount_config(data)?, options)
                    .await?;
                Ok(Response::with_data(object(mount_json(&entry))))
            }
            Operation::Delete => {
                self.mounts.disable(path).await?;
                Ok(Response::default())
            }
            Operation::Read => {
                let table = self.mounts.table();
                let entry = table
                    .get(path)
                    .ok_or_else(|| VaultError::NotFound(format!("no mount at {path}")))?;
                Ok(Response::with_data(object(mount_json(entry))))
            }
            _ => Err(VaultError::Unsupported(format!(
                "{op} is not supported on sys/mounts/{path}"
            ))),
        }
    }

    async fn tune(&self, path: &str, op: Operation, data: &Data) -> Result<Response, VaultError> {
        let entry = match op {
            Operation::Read => self.mounts.table().get(path).cloned().ok_or_else(|| {
                VaultError::InvalidRequest(format!(
                    "cannot fetch sysview for path {:?}",
                    format!("{}/", path.trim_end_matches('/'))
                ))
            })?,
            Operation::Create | Operation::Update => {
                let secs = |f| -> Result<Option<u64>, VaultError> {
                    Ok(field(params::duration_ms(data, f))?.map(|ms| ms / 1000))
                };
                self.mounts
                    .tune(path, secs("default_lease_ttl")?, secs("max_lease_ttl")?)
                    .await?
            }
            _ => {
                return Err(VaultError::Unsupported(format!(
                    "{op} is not supported on tune"
                )));
            }
        };
        Ok(Response::with_data(object(json!({
            "default_lease_ttl": entry.config.effective_default_ttl(),
            "max_lease_ttl": entry.config.effective_max_ttl(),
            "description": entry.description,
        }))))
    }
}
