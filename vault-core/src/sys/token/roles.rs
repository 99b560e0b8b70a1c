//! Token roles, as Vault has them: `auth/token/roles/:name` holds what
//! tokens made at `auth/token/create/:name` get (their policies, parent,
//! period, hard end, networks, path). A policy granting `update` on one
//! role's create path is the narrow right to mint tokens of that shape: with
//! `allowed_policies` set, the tokens made need not be a subset of the
//! minter's own policies, only of the role's.
//!
//! Stored behind the barrier at `sys/token/roles/<name>` as JSON.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::barrier::Barrier;
use crate::error::{VaultError, field, object};
use crate::net::Cidr;
use crate::params;
use crate::policy::DEFAULT;
use crate::request::{Data, Operation, Response};

use crate::policy::store::canonical;

const ROLE_PREFIX: &str = "sys/token/roles/";
/// A role name's longest form; names become storage keys and URL segments.
const MAX_NAME_LEN: usize = 128;

/// One token role. Durations in ms.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct TokenRole {
    /// When non-empty, the policies tokens may get (any subset; `default` is
    /// always allowed), whatever the minter's own.
    pub allowed_policies: Vec<String>,
    /// Policies tokens may never get through the role.
    pub disallowed_policies: Vec<String>,
    /// Tokens made are orphans (no sudo needed).
    pub orphan: bool,
    /// Tokens made may be renewed.
    pub renewable: bool,
    /// Tokens made are periodic with this period (0: not).
    pub token_period: u64,
    /// Tokens made end by this much after creation (0: no role limit).
    pub token_explicit_max_ttl: u64,
    /// Networks tokens made may be used from.
    pub token_bound_cidrs: Vec<String>,
    /// Appended to the tokens' creation path.
    pub path_suffix: String,
}

/// Refuses a role name that cannot be a storage key and URL segment.
fn check_name(name: &str) -> Result<(), VaultError> {
    let fine = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name != "."
        && name != "..";
    if fine {
        Ok(())
    } else {
        Err(VaultError::InvalidRequest(format!(
            "invalid token role name {name:?}: 1 to {MAX_NAME_LEN} letters, digits, '-', '_' \
             and '.'"
        )))
    }
}

impl TokenRole {
    /// The role as `data` writes it over `current` (fields not given stay).
    fn updated(mut self, data: &Data) -> Result<TokenRole, VaultError> {
        let policies = |name| -> Result<Option<Vec<String>>, VaultError> {
            field(params::string_list(data, name))?
                .map(|list| {
                    list.iter()
                        .filter(|p| !p.trim().is_empty())
                        .map(|p| canonical(p))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
        };
        if let Some(p) = policies("allowed_policies")? {
            self.allowed_policies = p;
        }
        if let Some(p) = policies("disallowed_policies")? {
            self.disallowed_policies = p;
        }
        if let Some(o) = field(params::boolean(data, "orphan"))? {
            self.orphan = o;
        }
        if let Some(r) = field(params::boolean(data, "renewable"))? {
            self.renewable = r;
        }
        if let Some(p) = field(params::duration_ms(data, "token_period"))?
            .or(field(params::duration_ms(data, "period"))?)
        {
            self.token_period = p;
        }
        if let Some(m) = field(params::duration_ms(data, "token_explicit_max_ttl"))?
            .or(field(params::duration_ms(data, "explicit_max_ttl"))?)
        {
            self.token_explicit_max_ttl = m;
        }
        if let Some(cidrs) = field(params::string_list(data, "token_bound_cidrs"))?
            .or(field(params::string_list(data, "bound_cidrs"))?)
        {
            for text in &cidrs {
                Cidr::parse(text)
                    .map_err(|e| VaultError::InvalidRequest(format!("token_bound_cidrs: {e}")))?;
            }
            self.token_bound_cidrs = cidrs;
        }
        if let Some(suffix) = field(params::string(data, "path_suffix"))? {
            let suffix = suffix.trim_matches('/').to_owned();
            if suffix.split('/').any(|s| s == "." || s == "..") {
                return Err(VaultError::InvalidRequest(
                    "path_suffix: \".\" and \"..\" segments are not allowed".into(),
                ));
            }
            self.path_suffix = suffix;
        }
        Ok(self)
    }

    fn to_data(&self, name: &str) -> Data {
        object(json!({
            "name": name,
            "allowed_policies": self.allowed_policies,
            "disallowed_policies": self.disallowed_policies,
            "orphan": self.orphan,
            "renewable": self.renewable,
            "token_period": self.token_period / 1000,
            "period": self.token_period / 1000,
            "token_explicit_max_ttl": self.token_explicit_max_ttl / 1000,
            "explicit_max_ttl": self.token_explicit_max_ttl / 1000,
            "token_bound_cidrs": self.token_bound_cidrs,
            "path_suffix": self.path_suffix,
        }))
    }

    /// The creation path of tokens made through role `name`.
    pub fn token_path(&self, name: &str) -> String {
        match self.path_suffix.as_str() {
            "" => format!("auth/token/create/{name}"),
            suffix => format!("auth/token/create/{name}/{suffix}"),
        }
    }

    /// The policies a token made through the role gets: `asked` (or, when
    /// none are asked, the role's allowed ones, else the parent's), checked
    /// against the role. `None`: the role leaves the choice to the usual
    /// rule (a subset of the parent's).
    pub fn policies(
        &self,
        asked: Option<Vec<String>>,
        parent: &[String],
    ) -> Result<(Vec<String>, bool), VaultError> {
        let restricted = !self.allowed_policies.is_empty();
        let policies = match asked {
            Some(list) => list,
            None if restricted => self.allowed_policies.clone(),
            None => parent.to_vec(),
        };
        if restricted {
            let outside: Vec<&String> = policies
                .iter()
                .filter(|p| p.as_str() != DEFAULT && !self.allowed_policies.contains(p))
                .collect();
            if !outside.is_empty() {
                return Err(VaultError::InvalidRequest(format!(
                    "token policies {outside:?} must be a subset of the role's allowed policies \
                     {:?}",
                    self.allowed_policies
                )));
            }
        }
        let denied: Vec<&String> = policies
            .iter()
            .filter(|p| self.disallowed_policies.contains(p))
            .collect();
        if !denied.is_empty() {
            return Err(VaultError::InvalidRequest(format!(
                "token policies {denied:?} are disallowed by the role"
            )));
        }
        Ok((policies, restricted))
    }
}

/// The role `name`, if it exists.
pub(super) async fn read(barrier: &Barrier, name: &str) -> Result<Option<TokenRole>, VaultError> {
    check_name(name)?;
    let Some(bytes) = barrier.get(&format!("{ROLE_PREFIX}{name}")).await? else {
        return Ok(None);
    };
    serde_json::from_slice(bytes.expose_secret())
        .map(Some)
        .map_err(|e| VaultError::Internal(format!("token role {name:?} is unreadable: {e}")))
}

/// `auth/token/roles` (list) and `auth/token/roles/:name`.
pub(super) async fn serve(
    barrier: &Barrier,
    name: &str,
    op: Operation,
    data: &Data,
) -> Result<Response, VaultError> {
    if name.is_empty() {
        if op != Operation::List && op != Operation::Read {
            return Err(VaultError::Unsupported(format!(
                "{op} is not supported on auth/token/roles"
            )));
        }
        let keys = barrier.list(ROLE_PREFIX).await?;
        if keys.is_empty() {
            return Err(VaultError::NotFound("no token roles".into()));
        }
        return Ok(Response::with_data(object(json!({ "keys": keys }))));
    }
    match op {
        Operation::Read => {
            let role = read(barrier, name)
                .await?
                .ok_or_else(|| VaultError::NotFound(format!("no token role {name:?}")))?;
            Ok(Response::with_data(role.to_data(name)))
        }
        Operation::Create | Operation::Update => {
            let current = match read(barrier, name).await? {
                Some(role) => role,
                // Vault's default for a new role: its tokens are renewable.
                None => TokenRole {
                    renewable: true,
                    ..TokenRole::default()
                },
            };
            let role = current.updated(data)?;
            let bytes = serde_json::to_vec(&role)
                .map_err(|e| VaultError::Internal(format!("encoding a token role: {e}")))?;
            barrier.put(&format!("{ROLE_PREFIX}{name}"), &bytes).await?;
            Ok(Response::default())
        }
        Operation::Delete => {
            check_name(name)?;
            barrier.delete(&format!("{ROLE_PREFIX}{name}")).await?;
            Ok(Response::default())
        }
        _ => Err(VaultError::Unsupported(format!(
            "{op} is not supported on auth/token/roles/{name}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(allowed: &[&str], disallowed: &[&str]) -> TokenRole {
        TokenRole {
            allowed_policies: allowed.iter().map(|s| (*s).to_owned()).collect(),
            disallowed_policies: disallowed.iter().map(|s| (*s).to_owned()).collect(),
            ..TokenRole::default()
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn allowed_policies_replace_the_parent_subset_rule() {
        let parent = names(&["minter"]);
        let r = role(&["app", "ops"], &[]);
        assert_eq!(
            r.policies(None, &parent).unwrap(),
            (names(&["app", "ops"]), true)
        );
        assert_eq!(
            r.policies(Some(names(&["app", "default"])), &parent)
                .unwrap(),
            (names(&["app", "default"]), true)
        );
        assert!(r.policies(Some(names(&["admin"])), &parent).is_err());
        // No allowed list: the parent's policies, and the usual rule.
        let open = role(&[], &["admin"]);
        assert_eq!(
            open.policies(None, &parent).unwrap(),
            (parent.clone(), false)
        );
        assert!(open.policies(Some(names(&["admin"])), &parent).is_err());
    }

    #[test]
    fn names_and_paths() {
        assert!(check_name("app-minter.v1_x").is_ok());
        for bad in ["", "a/b", "..", "a b", &"x".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let mut r = role(&[], &[]);
        assert_eq!(r.token_path("m"), "auth/token/create/m");
        r.path_suffix = "v1".into();
        assert_eq!(r.token_path("m"), "auth/token/create/m/v1");
    }
}
