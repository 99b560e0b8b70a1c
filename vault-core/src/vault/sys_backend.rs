//! The system backend, mounted at `sys/`: mounts and auth methods, their tuning,
//! policies, and capability queries. Field names are Vault's.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::clock;
use crate::params;
use crate::request::{Data, Operation, Request, Response};
use crate::router::{MountConfig, MountEntry};

use super::caller::Caller;
use super::{Vault, VaultError, field, object};

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

impl Vault {
    pub(super) async fn handle_sys(
        &self,
        request: &Request,
        path: &str,
        caller: &Caller,
    ) -> Result<Response, VaultError> {
        let op = request.operation;
        let write = matches!(op, Operation::Create | Operation::Update);
        let data = &request.data;
        let path = path.trim_end_matches('/');
        if super::operator::is_operator_path(path) {
            return self.handle_operator(request, path).await;
        }
        if path == "mounts" && op == Operation::Read {
            return Ok(self.mounts_listing(false));
        }
        if path == "auth" && op == Operation::Read {
            return Ok(self.mounts_listing(true));
        }
        if let Some(rest) = path.strip_prefix("mounts/") {
            if let Some(mount) = rest.strip_suffix("/tune") {
                return self.sys_tune(mount, op, data).await;
            }
            if rest == "auth" || rest.starts_with("auth/") {
                // Auth methods are managed at sys/auth/, where sudo is required.
                return Err(VaultError::InvalidRequest(
                    "auth methods are enabled and disabled at sys/auth/, not sys/mounts/".into(),
                ));
            }
            return self.sys_mount(rest, op, data).await;
        }
        if let Some(rest) = path.strip_prefix("auth/") {
            if let Some(mount) = rest.strip_suffix("/tune") {
                return self.sys_tune(&format!("auth/{mount}"), op, data).await;
            }
            return self.sys_mount(&format!("auth/{rest}"), op, data).await;
        }
        if op == Operation::Read
            && let Some(rest) = path.strip_prefix("internal/ui/mounts")
        {
            return self.ui_mounts(rest.trim_start_matches('/'), caller).await;
        }
        if let Some(rest) = path.strip_prefix("leases/") {
            return self.sys_leases(request, rest, caller).await;
        }
        if path == "renew" || path.starts_with("renew/") {
            // Vault's older path for sys/leases/renew.
            return self.sys_leases(request, path, caller).await;
        }
        if path == "metrics" && op == Operation::Read {
            let text = self.render_metrics().await?;
            return Ok(Response::with_data(object(
                json!({ "format": "prometheus", "text": text }),
            )));
        }
        if path == "quotas/lease-count" {
            return self.sys_quota("", op, data).await;
        }
        if let Some(name) = path.strip_prefix("quotas/lease-count/") {
            return self.sys_quota(name, op, data).await;
        }
        if path == "audit" || path.starts_with("audit/") {
            return self.sys_audit(path, op, data).await;
        }
        if let Some(name) = path.strip_prefix("audit-hash/") {
            if !write {
                return Err(VaultError::Unsupported(format!(
                    "{op} is not supported on sys/{path}"
                )));
            }
            return self.sys_audit_hash(name, data);
        }
        if matches!(path, "policy" | "policies/acl")
            && matches!(op, Operation::Read | Operation::List)
        {
            let names = self.policy_names().await?;
            return Ok(Response::with_data(object(
                json!({ "keys": names, "policies": names }),
            )));
        }
        let named = path
            .strip_prefix("policy/")
            .map(|n| (n, "rules"))
            .or_else(|| path.strip_prefix("policies/acl/").map(|n| (n, "policy")));
        if let Some((name, text_field)) = named {
            return self.sys_policy(name, text_field, op, data).await;
        }
        if write
            && matches!(
                path,
                "capabilities" | "capabilities-self" | "capabilities-accessor"
            )
        {
            return self.sys_capabilities(path, data, caller).await;
        }
        Err(VaultError::Unsupported(format!(
            "{op} is not supported on sys/{path}"
        )))
    }

    fn mounts_listing(&self, auth: bool) -> Response {
        let table = self.mount_table();
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
        let policies = caller.token.as_ref().ok_or_else(denied)?.policies.clone();
        let acl = self.acl_for(&policies).await?;
        let table = self.mount_table();
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

    async fn sys_mount(
        &self,
        path: &str,
        op: Operation,
        data: &Data,
    ) -> Result<Response, VaultError> {
        match op {
            Operation::Create | Operation::Update => {
                let kind = field(params::string(data, "type"))?
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"type\"".into()))?;
                let description = field(params::string(data, "description"))?.unwrap_or_default();
                let options: BTreeMap<String, String> =
                    field(params::string_map(data, "options"))?.unwrap_or_default();
                let entry = self
                    .enable_mount(path, &kind, description, mount_config(data)?, options)
                    .await?;
                Ok(Response::with_data(object(mount_json(&entry))))
            }
            Operation::Delete => {
                self.disable_mount(path).await?;
                Ok(Response::default())
            }
            Operation::Read => {
                let table = self.mount_table();
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

    async fn sys_tune(
        &self,
        path: &str,
        op: Operation,
        data: &Data,
    ) -> Result<Response, VaultError> {
        let entry = match op {
            Operation::Read => self.mount_table().get(path).cloned().ok_or_else(|| {
                VaultError::InvalidRequest(format!(
                    "cannot fetch sysview for path {:?}",
                    format!("{}/", path.trim_end_matches('/'))
                ))
            })?,
            Operation::Create | Operation::Update => {
                let secs = |f| -> Result<Option<u64>, VaultError> {
                    Ok(field(params::duration_ms(data, f))?.map(|ms| ms / 1000))
                };
                self.tune_mount(path, secs("default_lease_ttl")?, secs("max_lease_ttl")?)
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

    async fn sys_policy(
        &self,
        name: &str,
        text_field: &str,
        op: Operation,
        data: &Data,
    ) -> Result<Response, VaultError> {
        match op {
            Operation::Read => {
                let text = self
                    .policy_text(name)
                    .await?
                    .ok_or_else(|| VaultError::NotFound(format!("no policy named {name:?}")))?;
                Ok(Response::with_data(object(
                    json!({ "name": name, text_field: text }),
                )))
            }
            Operation::Create | Operation::Update => {
                let text = field(params::string(data, "policy"))?
                    .or(field(params::string(data, "rules"))?)
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"policy\"".into()))?;
                self.policy_write(name, &text).await?;
                Ok(Response::default())
            }
            Operation::Delete => {
                self.policy_delete(name).await?;
                Ok(Response::default())
            }
            _ => Err(VaultError::Unsupported(format!(
                "{op} is not supported on a policy"
            ))),
        }
    }

    async fn sys_capabilities(
        &self,
        path: &str,
        data: &Data,
        caller: &Caller,
    ) -> Result<Response, VaultError> {
        let now = clock::now_unix_millis();
        let policies = match path {
            "capabilities-self" => caller
                .token
                .as_ref()
                .map(|t| t.policies.clone())
                .unwrap_or_default(),
            "capabilities" => {
                let token = field(params::string(data, "token"))?
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"token\"".into()))?;
                self.tokens
                    .lookup(&self.barrier, &token, now)
                    .await?
                    .ok_or_else(|| VaultError::InvalidRequest("bad token".into()))?
                    .policies
            }
            _ => {
                let accessor = field(params::string(data, "accessor"))?
                    .ok_or_else(|| VaultError::InvalidRequest("missing \"accessor\"".into()))?;
                self.tokens
                    .lookup_accessor(&self.barrier, &accessor, now)
                    .await?
                    .ok_or_else(|| VaultError::InvalidRequest("invalid accessor".into()))?
                    .policies
            }
        };
        let paths = match field(params::string_list(data, "paths"))? {
            Some(p) => p,
            None => field(params::string_list(data, "path"))?
                .ok_or_else(|| VaultError::InvalidRequest("missing \"paths\"".into()))?,
        };
        let acl = self.acl_for(&policies).await?;
        let mut out = Data::new();
        let mut first = Value::Null;
        for raw in &paths {
            let normal = crate::path::normalize(raw, false)?;
            let caps = acl.capabilities(&normal);
            // Vault names a root token's capabilities "root".
            let mut names: Vec<&str> = if acl.is_root() {
                vec![crate::policy::ROOT]
            } else {
                caps.names()
            };
            if names.is_empty() {
                names.push("deny");
            }
            if first.is_null() {
                first = json!(names);
            }
            out.insert(raw.clone(), json!(names));
        }
        out.insert("capabilities".into(), first);
        Ok(Response::with_data(out))
    }
}
