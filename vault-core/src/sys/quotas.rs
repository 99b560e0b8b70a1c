//! `sys/quotas/lease-count[/<name>]`: Vault Enterprise's lease-count quotas
//! (at most `max_leases` leases under a path), over the quota store
//! ([`QuotaStore`]); the pipeline enforces them before an engine issues a
//! lease.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{VaultError, field, object};
use crate::params;
use crate::request::{Data, Operation, Response};

use super::MountAdmin;

/// One quota as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LeaseQuota {
    pub name: String,
    /// Normalised: no leading or trailing `/`; empty for the whole vault.
    pub path: String,
    pub max_leases: u64,
}

impl LeaseQuota {
    /// True if a request at `path` issues its leases under this quota.
    pub fn covers(&self, path: &str) -> bool {
        self.path.is_empty()
            || path
                .strip_prefix(&self.path)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// The stored quotas, and the leases they count.
#[async_trait]
pub(crate) trait QuotaStore: Send + Sync + std::fmt::Debug {
    /// Every quota's name.
    async fn names(&self) -> Result<Vec<String>, VaultError>;
    /// Quota `name`, if stored.
    async fn get(&self, name: &str) -> Result<Option<LeaseQuota>, VaultError>;
    /// The leases stored under the quota's path (counted up to its maximum).
    async fn leases_under(&self, quota: &LeaseQuota) -> Result<u64, VaultError>;
    /// Stores the quota; requests judge by it from now on.
    async fn put(&self, quota: &LeaseQuota) -> Result<(), VaultError>;
    /// Deletes quota `name` (nothing there is no error).
    async fn delete(&self, name: &str) -> Result<(), VaultError>;
}

/// `sys/quotas/lease-count[/<name>]` (`name` empty: the list).
pub(super) async fn serve(
    quotas: &dyn QuotaStore,
    mounts: &dyn MountAdmin,
    name: &str,
    op: Operation,
    data: &Data,
) -> Result<Response, VaultError> {
    if name.is_empty() {
        return match op {
            Operation::List | Operation::Read => {
                let keys = quotas.names().await?;
                Ok(Response::with_data(object(json!({ "keys": keys }))))
            }
            _ => Err(VaultError::Unsupported(format!(
                "{op} is not supported on sys/quotas/lease-count"
            ))),
        };
    }
    check_name(name)?;
    match op {
        Operation::Read => {
            let quota = quotas
                .get(name)
                .await?
                .ok_or_else(|| VaultError::NotFound(format!("no lease quota named {name:?}")))?;
            let leases = quotas.leases_under(&quota).await?;
            Ok(Response::with_data(object(json!({
                "name": quota.name,
                "type": "lease-count",
                "path": quota.path,
                "max_leases": quota.max_leases,
                "leases": leases,
            }))))
        }
        Operation::Create | Operation::Update => {
            let old = quotas.get(name).await?;
            let path = match field(params::string(data, "path"))? {
                Some(p) => quota_path(mounts, &p)?,
                None => old.as_ref().map(|q| q.path.clone()).unwrap_or_default(),
            };
            let max_leases = field(params::unsigned(data, "max_leases"))?
                .or(old.as_ref().map(|q| q.max_leases))
                .ok_or_else(|| VaultError::InvalidRequest("missing \"max_leases\"".into()))?;
            if max_leases == 0 {
                return Err(VaultError::InvalidRequest(
                    "max_leases must be at least 1".into(),
                ));
            }
            let quota = LeaseQuota {
                name: name.to_owned(),
                path,
                max_leases,
            };
            quotas.put(&quota).await?;
            Ok(Response::default())
        }
        Operation::Delete => {
            quotas.delete(name).await?;
            Ok(Response::default())
        }
        _ => Err(VaultError::Unsupported(format!(
            "{op} is not supported on a lease quota"
        ))),
    }
}

/// A quota's path, normalised, inside a mount that exists (or empty).
fn quota_path(mounts: &dyn MountAdmin, raw: &str) -> Result<String, VaultError> {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let path = crate::path::normalize(trimmed, false)?;
    if mounts.table().route(&path).is_none() {
        return Err(VaultError::InvalidRequest(format!(
            "path {path:?} is not in any mount"
        )));
    }
    Ok(path)
}

fn check_name(name: &str) -> Result<(), VaultError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(VaultError::InvalidRequest(format!(
            "invalid quota name {name:?}: use up to 128 of a-z, A-Z, 0-9, '-', '_', '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_covers_its_path_and_below_only() {
        let q = |path: &str| LeaseQuota {
            name: "q".into(),
            path: path.into(),
            max_leases: 1,
        };
        assert!(q("database").covers("database/creds/ro"));
        assert!(q("database/creds/ro").covers("database/creds/ro"));
        assert!(!q("database/creds/ro").covers("database/creds/ro2"));
        assert!(!q("database").covers("database2/creds/ro"));
        assert!(q("").covers("anything/at/all"));
    }

    #[test]
    fn quota_names_are_one_plain_segment() {
        assert!(check_name("db-readonly_1.x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
