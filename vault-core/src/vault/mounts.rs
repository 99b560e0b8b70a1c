//! Enabling, disabling and tuning mounts, and the engine behind each kind.
//!
//! The table is stored behind the barrier at `core/mounts` and kept in memory as
//! an `Arc` that is swapped whole, so a request routes on one consistent table.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::engines::LogicalBackend;
use crate::engines::kv::{KvV1, KvV2};
use crate::router::{
    CUBBYHOLE_KIND, IDENTITY_KIND, MOUNT_TABLE_PATH, MountConfig, MountEntry, MountTable,
    SYSTEM_KIND, TOKEN_KIND, is_builtin_kind,
};

use super::{Vault, VaultError};

/// Secrets engines this build serves.
const SECRET_KINDS: &[&str] = &["kv", "database"];
/// Auth methods this build serves (beyond the built-in token store).
const AUTH_KINDS: &[&str] = &["userpass", "approle", "jwt", "kubernetes", "ldap"];

/// `kind` as a metrics label: one of the kinds this build serves, or
/// `other`.
pub(super) fn kind_label(kind: &str) -> &'static str {
    match kind {
        SYSTEM_KIND => SYSTEM_KIND,
        TOKEN_KIND => TOKEN_KIND,
        IDENTITY_KIND => IDENTITY_KIND,
        CUBBYHOLE_KIND => CUBBYHOLE_KIND,
        k => SECRET_KINDS
            .iter()
            .chain(AUTH_KINDS)
            .find(|known| **known == k)
            .copied()
            .unwrap_or("other"),
    }
}

/// A fresh handler for `mount`. A `kv` mount is version 2 when its options
/// say so, version 1 otherwise, as in Vault.
pub(super) fn new_engine(mount: &MountEntry) -> Result<Arc<dyn LogicalBackend>, VaultError> {
    match mount.kind.as_str() {
        "kv" if kv_version(&mount.options) == Some("2") => Ok(Arc::new(KvV2::new())),
        "kv" => Ok(Arc::new(KvV1::new())),
        "database" => Ok(Arc::new(crate::engines::database::Database::new())),
        "userpass" => Ok(Arc::new(crate::auth::userpass::Userpass::new())),
        "approle" => Ok(Arc::new(crate::auth::approle::AppRole::new())),
        "jwt" => Ok(Arc::new(crate::auth::jwt::JwtAuth::new())),
        "kubernetes" => Ok(Arc::new(crate::auth::kubernetes::KubernetesAuth)),
        "ldap" => Ok(Arc::new(crate::auth::ldap::LdapAuth::new())),
        other => Err(VaultError::InvalidRequest(format!(
            "no handler for mount type {other:?}"
        ))),
    }
}

fn kv_version(options: &BTreeMap<String, String>) -> Option<&str> {
    options.get("version").map(String::as_str)
}

/// Vault's names for a KV mount, made one: `kv-v2` is `kv` at version 2;
/// `kv` is version 1 unless `options.version` says 2. The version is always
/// written down, so that clients reading the mount (`bao kv`) see it.
fn kv_kind(kind: &str, options: &mut BTreeMap<String, String>) -> Result<String, VaultError> {
    let version = match (kind, kv_version(options)) {
        ("kv-v2", None | Some("2")) | ("kv", Some("2")) => "2",
        ("kv", None | Some("1")) => "1",
        (_, v) => {
            return Err(VaultError::InvalidRequest(format!(
                "{kind} version {:?} is not supported: kv is version 1 or 2, kv-v2 is 2",
                v.unwrap_or_default()
            )));
        }
    };
    options.insert("version".into(), version.into());
    Ok("kv".into())
}

impl Vault {
    /// The current mount table.
    pub(super) fn mount_table(&self) -> Arc<MountTable> {
        self.mounts
            .read()
            .map(|t| Arc::clone(&t))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// Mounts `kind` at `path` (`auth/<name>` for an auth method).
    pub(super) async fn enable_mount(
        &self,
        path: &str,
        kind: &str,
        description: String,
        config: MountConfig,
        mut options: BTreeMap<String, String>,
    ) -> Result<MountEntry, VaultError> {
        let auth = path.starts_with("auth/");
        let (known, class) = if auth {
            (AUTH_KINDS, "auth method")
        } else {
            (SECRET_KINDS, "secrets engine")
        };
        let kind = match kind {
            "kv" | "kv-v2" if !auth => kv_kind(kind, &mut options)?,
            other => other.to_owned(),
        };
        let kind = kind.as_str();
        if !known.contains(&kind) {
            return Err(VaultError::InvalidRequest(format!(
                "unknown {class} type {kind:?} (this build serves: {})",
                if known.is_empty() {
                    "none yet".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        let _serial = self.mount_writes.lock().await;
        let mut table = (*self.mount_table()).clone();
        let entry = table
            .mount(path, kind, description, config, options)
            .map_err(|e| VaultError::InvalidRequest(e.to_string()))?;
        self.store_mounts(table).await?;
        tracing::info!(path = %entry.path, kind, "mount enabled");
        Ok(entry)
    }

    /// Unmounts `path` and deletes everything it stored. A secrets engine's
    /// leases are revoked first; if any cannot be, the mount stays (its engine
    /// is what revokes them) and the error says how many are left.
    pub(super) async fn disable_mount(&self, path: &str) -> Result<(), VaultError> {
        let _serial = self.mount_writes.lock().await;
        let mut table = (*self.mount_table()).clone();
        let entry = match table.unmount(path) {
            Ok(entry) => entry,
            // As in Vault: disabling what is not there succeeds (the CLI says
            // "if it existed").
            Err(crate::router::MountError::NotMounted(_)) => return Ok(()),
            Err(e) => return Err(VaultError::InvalidRequest(e.to_string())),
        };
        // New requests to the mount are refused from here to the end; requests
        // already inside it revoke their own lease if it lands after the
        // sweep (see register_lease).
        let _disabling = Disabling::start(self, &entry.uuid);
        if !entry.is_auth() {
            self.revoke_mount_leases(&entry).await?;
        }
        self.store_mounts(table).await?;
        if let Ok(mut engines) = self.engines.write() {
            engines.remove(&entry.uuid);
        }
        if entry.is_auth() {
            let removed = self
                .tokens
                .revoke_by_path_prefix(&self.barrier, &entry.path)
                .await?;
            self.revoke_token_leases(&removed).await?;
            tracing::info!(path = %entry.path, revoked = removed.len(), "tokens of a disabled auth method revoked");
        }
        self.delete_tree(&entry.storage_prefix()).await?;
        tracing::info!(path = %entry.path, "mount disabled");
        Ok(())
    }

    /// Changes a mount's TTL tuning; fields left `None` keep their value.
    pub(super) async fn tune_mount(
        &self,
        path: &str,
        default_ttl: Option<u64>,
        max_ttl: Option<u64>,
    ) -> Result<MountEntry, VaultError> {
        let _serial = self.mount_writes.lock().await;
        let mut table = (*self.mount_table()).clone();
        let wanted = if path.ends_with('/') {
            path.to_owned()
        } else {
            format!("{path}/")
        };
        let entry = table
            .entries
            .iter_mut()
            .find(|e| e.path == wanted)
            .ok_or_else(|| {
                VaultError::InvalidRequest(format!(
                    "tune of path {wanted:?} failed: no mount entry found"
                ))
            })?;
        if let Some(d) = default_ttl {
            entry.config.default_lease_ttl = d;
        }
        if let Some(m) = max_ttl {
            entry.config.max_lease_ttl = m;
        }
        if entry.config.max_lease_ttl != 0
            && entry.config.default_lease_ttl > entry.config.max_lease_ttl
        {
            return Err(VaultError::InvalidRequest(
                "default_lease_ttl cannot be larger than max_lease_ttl".into(),
            ));
        }
        let tuned = entry.clone();
        self.store_mounts(table).await?;
        Ok(tuned)
    }

    async fn store_mounts(&self, table: MountTable) -> Result<(), VaultError> {
        let bytes = table
            .to_stored()
            .map_err(|e| VaultError::InvalidRequest(e.to_string()))?;
        self.barrier.put_internal(MOUNT_TABLE_PATH, &bytes).await?;
        *self.mounts.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        Ok(())
    }

    /// Deletes every key under `prefix` (bounded, depth first).
    async fn delete_tree(&self, prefix: &str) -> Result<(), VaultError> {
        let mut pending = vec![prefix.to_owned()];
        let mut budget = 10_000_000usize;
        while let Some(dir) = pending.pop() {
            for child in self.barrier.list(&dir).await? {
                budget = budget.saturating_sub(1);
                if budget == 0 {
                    return Err(VaultError::InvalidRequest(format!(
                        "too many keys under {prefix}"
                    )));
                }
                let full = format!("{dir}{child}");
                if child.ends_with('/') {
                    pending.push(full);
                } else {
                    self.barrier.delete(&full).await?;
                }
            }
        }
        Ok(())
    }
}

/// Marks a mount as being disabled for as long as it lives.
struct Disabling<'a> {
    vault: &'a Vault,
    uuid: String,
}

impl<'a> Disabling<'a> {
    fn start(vault: &'a Vault, uuid: &str) -> Self {
        if let Ok(mut set) = vault.disabling.lock() {
            set.insert(uuid.to_owned());
        }
        Disabling {
            vault,
            uuid: uuid.to_owned(),
        }
    }
}

impl Drop for Disabling<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.vault.disabling.lock() {
            set.remove(&self.uuid);
        }
    }
}

impl Vault {
    /// The handler of a mount served by an engine (`None` for the built-ins).
    pub(super) fn engine_for(
        &self,
        mount: &MountEntry,
    ) -> Result<Option<Arc<dyn LogicalBackend>>, VaultError> {
        if is_builtin_kind(&mount.kind) {
            return Ok(None);
        }
        if let Some(engine) = self
            .engines
            .read()
            .ok()
            .and_then(|m| m.get(&mount.uuid).cloned())
        {
            return Ok(Some(engine));
        }
        let fresh = super::mounts::new_engine(mount)?;
        // Insert-or-get under the write lock: one handler per mount, ever, or two
        // instances would hold two sets of locks over the same data.
        let mut engines = self.engines.write().unwrap_or_else(|p| p.into_inner());
        let engine = engines.entry(mount.uuid.clone()).or_insert(fresh);
        Ok(Some(Arc::clone(engine)))
    }
}

#[async_trait::async_trait]
impl crate::sys::MountAdmin for Vault {
    fn table(&self) -> Arc<MountTable> {
        self.mount_table()
    }

    async fn enable(
        &self,
        path: &str,
        kind: &str,
        description: String,
        config: MountConfig,
        options: BTreeMap<String, String>,
    ) -> Result<MountEntry, VaultError> {
        self.enable_mount(path, kind, description, config, options)
            .await
    }

    async fn disable(&self, path: &str) -> Result<(), VaultError> {
        self.disable_mount(path).await
    }

    async fn tune(
        &self,
        path: &str,
        default_ttl: Option<u64>,
        max_ttl: Option<u64>,
    ) -> Result<MountEntry, VaultError> {
        self.tune_mount(path, default_ttl, max_ttl).await
    }
}
