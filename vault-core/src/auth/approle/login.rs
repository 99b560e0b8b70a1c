//! `login`: a role_id and (if the role binds them) a secret_id in, a
//! [`LoginGrant`] out.
//!
//! Every refusal, whatever its reason (unknown role_id, wrong, expired or used-up
//! secret_id, an address outside the bound CIDRs), is the same
//! refusal, "invalid role or secret ID", so a caller learns nothing about which part
//! was wrong. A use is spent, and written, before the grant is returned; a
//! refused attempt spends nothing.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::store::{self, RoleEntry, Salt, SecretIdEntry};
use super::{AppRole, field, secret_id};
use crate::engines::{EngineError, View};
use crate::params;
use crate::request::{AliasGrant, Data, LoginGrant, Response};
use crate::secret::{SecretString, constant_time_eq};

/// Every refusal, whatever its reason, in Vault's words: a caller learns
/// nothing about which part was wrong.
const REFUSED: EngineError = EngineError::LoginRefused("invalid role or secret ID");

/// True if `remote` may log in under `blocks` (empty: from anywhere). A request
/// without an address cannot show it is inside, so it is refused.
fn address_allowed(blocks: &[String], remote: Option<IpAddr>) -> bool {
    blocks.is_empty() || remote.is_some_and(|ip| crate::net::any_contains(blocks, ip))
}

/// The smaller of two limits where 0 means "none".
fn tighter(a: u64, b: u64) -> u64 {
    match (a, b) {
        (0, x) | (x, 0) => x,
        (a, b) => a.min(b),
    }
}

/// What a successful login under role `name` grants.
fn grant(name: &str, role: &RoleEntry) -> LoginGrant {
    // Periodic tokens are limited only by the explicit max, as in Vault.
    let max = if role.token_period == 0 {
        role.token_max_ttl
    } else {
        0
    };
    LoginGrant {
        policies: role.token_policies.clone(),
        no_default_policy: role.token_no_default_policy,
        ttl: role.token_ttl,
        explicit_max_ttl: tighter(max, role.token_explicit_max_ttl),
        period: role.token_period,
        num_uses: role.token_num_uses,
        // Vault's AppRole tokens are named after the method alone.
        display_name: String::new(),
        metadata: BTreeMap::from([("role_name".to_owned(), name.to_owned())]),
        bound_cidrs: role.token_bound_cidrs.clone(),
        // Vault names an AppRole login's entity alias by the role_id.
        alias: Some(AliasGrant {
            name: role.role_id.clone(),
            metadata: BTreeMap::from([("role_name".to_owned(), name.to_owned())]),
            groups: None,
        }),
        lockout: None,
    }
}

impl AppRole {
    /// `login` update.
    pub(super) async fn login(
        &self,
        view: &View<'_>,
        data: &Data,
        remote: Option<IpAddr>,
    ) -> Result<Response, EngineError> {
        let role_id = field(params::string(data, "role_id"))?
            .filter(|v| !v.is_empty())
            .map(SecretString::new)
            .ok_or_else(|| EngineError::InvalidRequest("missing role_id".into()))?;
        let secret_id = field(params::string(data, "secret_id"))?.map(SecretString::new);

        // Held to the end: the role cannot change or go while its secret_id is
        // checked and spent.
        let _roles = self.roles.read().await;
        let Some(salt) = Salt::load(view).await? else {
            // No role was ever made on this mount.
            return Err(REFUSED);
        };
        let (name, role) = find_role(view, &salt, role_id.expose_secret())
            .await?
            .ok_or(REFUSED)?;
        // Where the role says logins may come from, checked before a secret_id
        // use is spent.
        if !address_allowed(&role.secret_id_bound_cidrs, remote)
            || !address_allowed(&role.token_bound_cidrs, remote)
        {
            return Err(REFUSED);
        }
        if role.bind_secret_id {
            let secret_id = secret_id
                .filter(|s| !s.expose_secret().is_empty())
                .ok_or(REFUSED)?;
            self.spend_secret_id(view, &salt, &name, secret_id.expose_secret(), remote)
                .await?;
        }
        Ok(Response {
            login: Some(grant(&name, &role)),
            ..Response::default()
        })
    }

    /// Checks role `name`'s secret_id and spends one use of it, under its stripe:
    /// the decrement (or, at the last use, the deletion) is written before this
    /// returns, so concurrent logins cannot spend the same use twice.
    async fn spend_secret_id(
        &self,
        view: &View<'_>,
        salt: &Salt,
        name: &str,
        secret_id: &str,
        remote: Option<IpAddr>,
    ) -> Result<(), EngineError> {
        let key = store::secret_id_key(name, &salt.secret_id_hash(secret_id));
        let _stripe = self.lock_secret_id(view, &key).await;
        let now = self.now();
        let mut entry: SecretIdEntry = secret_id::load_live(view, salt, name, &key, now)
            .await?
            .ok_or(REFUSED)?;
        if !address_allowed(&entry.cidr_list, remote) {
            return Err(REFUSED);
        }
        match entry.num_uses {
            0 => {}
            1 => {
                view.batch(vec![
                    store::delete(key.clone()),
                    store::delete(salt.accessor_key(name, &entry.accessor)),
                ])
                .await?;
            }
            left => {
                entry.num_uses = left - 1;
                entry.last_updated_time = now;
                view.batch(vec![store::put(key.clone(), &entry)?]).await?;
            }
        }
        Ok(())
    }
}

/// The role whose role_id is `role_id`, by the index; `None` if there is none.
/// The stored role_id is compared too (in constant time), so a stale index
/// entry can never let an old role_id in.
async fn find_role(
    view: &View<'_>,
    salt: &Salt,
    role_id: &str,
) -> Result<Option<(String, RoleEntry)>, EngineError> {
    let Some(name) = store::load_text(view, &salt.role_id_key(role_id)).await? else {
        return Ok(None);
    };
    if super::check_role_name(&name).is_err() {
        return Err(store::malformed(view, &salt.role_id_key(role_id)));
    }
    let Some(role) = store::load_role(view, &name).await? else {
        return Ok(None);
    };
    if !constant_time_eq(role.role_id.as_bytes(), role_id.as_bytes()) {
        return Ok(None);
    }
    Ok(Some((name, role)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_addresses() {
        assert_eq!(tighter(0, 5), 5);
        assert_eq!(tighter(7, 0), 7);
        assert_eq!(tighter(7, 5), 5);
        let ten = vec!["10.0.0.0/8".to_owned()];
        assert!(address_allowed(&[], None));
        assert!(!address_allowed(&ten, None));
        assert!(address_allowed(&ten, "10.1.2.3".parse().ok()));
        assert!(!address_allowed(&ten, "127.0.0.1".parse().ok()));
    }
}
