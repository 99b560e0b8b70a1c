//! `sys/quotas/lease-count[/<name>]`: Vault Enterprise's lease-count quotas
//! (at most `max_leases` leases under a path), over the quota store
//! ([`LeaseQuotas`]); the pipeline enforces them before an engine issues a
//! lease.

use serde_json::json;

use crate::barrier::Barrier;
use crate::error::{VaultError, field, object};
use crate::expiration::ExpirationManager;
use crate::expiration::quotas::{LeaseQuota, LeaseQuotas};
use crate::params;
use crate::request::{Data, Operation, Response};

use super::MountAdmin;

/// The quota endpoints, over the quotas, the leases they count and (for a
/// quota's path) the mount table.
pub(super) struct Quotas<'a> {
    pub barrier: &'a Barrier,
    pub expiration: &'a ExpirationManager,
    pub quotas: &'a LeaseQuotas,
    pub mounts: &'a dyn MountAdmin,
}

/// `sys/quotas/lease-count[/<name>]` (`name` empty: the list).
impl Quotas<'_> {
    pub async fn serve(
        &self,
        name: &str,
        op: Operation,
        data: &Data,
    ) -> Result<Response, VaultError> {
        let (barrier, quotas) = (self.barrier, self.quotas);
        if name.is_empty() {
            return match op {
                Operation::List | Operation::Read => {
                    let keys = quotas.names(barrier).await?;
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
                let quota = quotas.get(barrier, name).await?.ok_or_else(|| {
                    VaultError::NotFound(format!("no lease quota named {name:?}"))
                })?;
                let leases = quotas
                    .leases_under(barrier, self.expiration, &quota)
                    .await?;
                Ok(Response::with_data(object(json!({
                    "name": quota.name,
                    "type": "lease-count",
                    "path": quota.path,
                    "max_leases": quota.max_leases,
                    "leases": leases,
                }))))
            }
            Operation::Create | Operation::Update => {
                let old = quotas.get(barrier, name).await?;
                let path = match field(params::string(data, "path"))? {
                    Some(p) => quota_path(self.mounts, &p)?,
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
                quotas.put(barrier, &quota).await?;
                Ok(Response::default())
            }
            Operation::Delete => {
                quotas.delete(barrier, name).await?;
                Ok(Response::default())
            }
            _ => Err(VaultError::Unsupported(format!(
                "{op} is not supported on a lease quota"
            ))),
        }
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
    fn quota_names_are_one_plain_segment() {
        assert!(check_name("db-readonly_1.x").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
