//! The policy store: policy documents kept behind the barrier at
//! `sys/policy/<name>`, parsed once and cached until they change, and the ACL a
//! set of policy names compiles into.
//!
//! `root` is built in and immutable. `default` is built in until an operator
//! writes their own, and cannot be deleted.

use std::collections::HashMap;
use std::sync::Arc;

use crate::barrier::Barrier;
use crate::error::VaultError;
use crate::policy::template::IdentityContext;
use crate::policy::{self, Acl, DEFAULT, Policy, ROOT};

const POLICY_PREFIX: &str = "sys/policy/";

/// Compiled ACLs kept at most; past it the map starts again from empty. A
/// vault has far fewer distinct policy sets than this in practice.
const MAX_ACLS: usize = 1024;

/// The policy documents behind the barrier, with what they parse and compile
/// into cached, so that a request neither parses nor compiles.
#[derive(Debug, Default)]
pub(crate) struct PolicyStore {
    cache: PolicyCache,
}

/// Parsed policies by canonical name, and the ACLs sets of them compile into.
/// A std lock: held only to read or swap entries, never across an await.
#[derive(Debug, Default)]
struct PolicyCache(std::sync::RwLock<CacheState>);

#[derive(Debug, Default)]
struct CacheState {
    policies: HashMap<String, Arc<Policy>>,
    // By the policy names as a token carries them; emptied by every change.
    acls: HashMap<Vec<String>, Arc<Acl>>,
    // Bumped by every write and delete: a policy read from storage before a change
    // must not be cached after it.
    generation: u64,
}

impl PolicyCache {
    fn get(&self, name: &str) -> Option<Arc<Policy>> {
        self.0.read().ok()?.policies.get(name).cloned()
    }

    fn generation(&self) -> u64 {
        self.0.read().map(|s| s.generation).unwrap_or(u64::MAX)
    }

    /// Caches what was read at `generation`, unless a change came since.
    fn put_if_current(&self, name: &str, policy: Arc<Policy>, generation: u64) {
        if let Ok(mut state) = self.0.write()
            && state.generation == generation
        {
            state.policies.insert(name.to_owned(), policy);
        }
    }

    fn acl(&self, names: &[String]) -> Option<Arc<Acl>> {
        self.0.read().ok()?.acls.get(names).cloned()
    }

    /// Caches an ACL compiled from policies read at `generation`, unless a
    /// change came since.
    fn put_acl_if_current(&self, names: &[String], acl: Arc<Acl>, generation: u64) {
        if let Ok(mut state) = self.0.write()
            && state.generation == generation
        {
            if state.acls.len() >= MAX_ACLS {
                state.acls.clear();
            }
            state.acls.insert(names.to_vec(), acl);
        }
    }

    fn changed(&self, name: &str, policy: Option<Arc<Policy>>) {
        if let Ok(mut state) = self.0.write() {
            state.generation += 1;
            state.acls.clear();
            match policy {
                Some(p) => state.policies.insert(name.to_owned(), p),
                None => state.policies.remove(name),
            };
        }
    }

    fn clear(&self) {
        if let Ok(mut state) = self.0.write() {
            state.generation += 1;
            state.policies.clear();
            state.acls.clear();
        }
    }
}

impl PolicyStore {
    /// Forgets every cached policy and ACL (at seal).
    pub(crate) fn clear(&self) {
        self.cache.clear();
    }

    /// The policy called `name` (canonical), if it exists.
    async fn policy(
        &self,
        barrier: &Barrier,
        name: &str,
    ) -> Result<Option<Arc<Policy>>, VaultError> {
        if name == ROOT {
            return Ok(Some(policy::root_policy()));
        }
        if let Some(p) = self.cache.get(name) {
            return Ok(Some(p));
        }
        let generation = self.cache.generation();
        let parsed = match stored_text(barrier, name).await? {
            Some(text) => Arc::new(
                policy::parse(name, &text)
                    .map_err(|e| VaultError::InvalidRequest(e.to_string()))?,
            ),
            None if name == DEFAULT => Arc::new(policy::default_policy()),
            None => return Ok(None),
        };
        self.cache
            .put_if_current(name, Arc::clone(&parsed), generation);
        Ok(Some(parsed))
    }

    /// The ACL of a token with `names`, templated policies filled from
    /// `identity`. Names that no longer exist grant nothing. Sets without a
    /// templated policy are cached by their names; the others are compiled
    /// per request, since what they grant depends on who asks.
    pub(crate) async fn acl_for(
        &self,
        barrier: &Barrier,
        names: &[String],
        identity: Option<&IdentityContext>,
    ) -> Result<Arc<Acl>, VaultError> {
        if let Some(acl) = self.cache.acl(names) {
            return Ok(acl);
        }
        let generation = self.cache.generation();
        let mut set = Vec::with_capacity(names.len());
        for name in names {
            if let Some(p) = self.policy(barrier, name).await? {
                set.push(p);
            }
        }
        if set.iter().any(|p| p.is_templated()) {
            let filled: Vec<Arc<Policy>> = set
                .iter()
                .map(|p| Arc::new(p.for_identity(identity)))
                .collect();
            return Ok(Arc::new(Acl::new(&filled)));
        }
        let acl = Arc::new(Acl::new(&set));
        self.cache
            .put_acl_if_current(names, Arc::clone(&acl), generation);
        Ok(acl)
    }

    /// The document text of `name`, if stored (or the built-in default's rules).
    pub(crate) async fn text(
        &self,
        barrier: &Barrier,
        name: &str,
    ) -> Result<Option<String>, VaultError> {
        let name = canonical(name)?;
        if name == ROOT {
            return Ok(Some(String::new()));
        }
        match stored_text(barrier, &name).await? {
            Some(text) => Ok(Some(text)),
            None if name == DEFAULT => Ok(Some(DEFAULT_POLICY_TEXT.to_owned())),
            None => Ok(None),
        }
    }

    /// Stores a policy after parsing it; `root` cannot be written.
    pub(crate) async fn write(
        &self,
        barrier: &Barrier,
        name: &str,
        text: &str,
    ) -> Result<(), VaultError> {
        let name = canonical(name)?;
        if name == ROOT {
            return Err(VaultError::InvalidRequest(
                "cannot update the root policy".into(),
            ));
        }
        let parsed =
            policy::parse(&name, text).map_err(|e| VaultError::InvalidRequest(e.to_string()))?;
        barrier
            .put(&format!("{POLICY_PREFIX}{name}"), text.as_bytes())
            .await?;
        self.cache.changed(&name, Some(Arc::new(parsed)));
        Ok(())
    }

    /// Removes a policy; `root` and `default` cannot be removed.
    pub(crate) async fn delete(&self, barrier: &Barrier, name: &str) -> Result<(), VaultError> {
        let name = canonical(name)?;
        if name == ROOT || name == DEFAULT {
            return Err(VaultError::InvalidRequest(format!(
                "cannot delete the {name} policy"
            )));
        }
        barrier.delete(&format!("{POLICY_PREFIX}{name}")).await?;
        self.cache.changed(&name, None);
        Ok(())
    }

    /// Every policy name, built-ins included, sorted.
    pub(crate) async fn names(&self, barrier: &Barrier) -> Result<Vec<String>, VaultError> {
        let mut names = barrier.list(POLICY_PREFIX).await?;
        names.retain(|n| !n.ends_with('/'));
        for builtin in [DEFAULT, ROOT] {
            if !names.iter().any(|n| n == builtin) {
                names.push(builtin.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

/// The document stored for policy `name` (canonical), if any.
async fn stored_text(barrier: &Barrier, name: &str) -> Result<Option<String>, VaultError> {
    Ok(barrier
        .get(&format!("{POLICY_PREFIX}{name}"))
        .await?
        .map(|text| String::from_utf8_lossy(text.expose_secret()).into_owned()))
}

/// A policy name as stored, or the reason it cannot be one. A name given in a
/// path must already be canonical: the ACL judged the path as written, so the
/// handler must not act on another spelling of it.
pub(crate) fn canonical(name: &str) -> Result<String, VaultError> {
    let canonical =
        policy::canonical_name(name).map_err(|e| VaultError::InvalidRequest(e.to_string()))?;
    if canonical != name {
        return Err(VaultError::InvalidRequest(format!(
            "policy name {name:?} is not canonical; use {canonical:?}"
        )));
    }
    Ok(canonical)
}

/// The built-in default policy, as `policy read default` shows it.
const DEFAULT_POLICY_TEXT: &str = r#"# Allow tokens to look up, renew and revoke themselves.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}
# Allow a token to look up its own capabilities on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}
# Allow a token to look up and renew leases.
path "sys/leases/lookup" {
  capabilities = ["update"]
}
path "sys/leases/renew" {
  capabilities = ["update"]
}
path "sys/renew" {
  capabilities = ["update"]
}
# Allow a token to wrap arbitrary data, look up a wrapping token's creation
# path and TTL, and unwrap a response.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
# Allow a token to manage its own cubbyhole (no other token reaches it).
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_default_policy_is_the_one_enforced() {
        let shown = Arc::new(policy::parse(DEFAULT, DEFAULT_POLICY_TEXT).unwrap());
        let enforced = Arc::new(policy::default_policy());
        assert_eq!(shown.rules().len(), enforced.rules().len());
        let (a, b) = (
            Acl::new(&[shown]),
            Acl::new(std::slice::from_ref(&enforced)),
        );
        for rule in enforced.rules() {
            assert_eq!(
                a.capabilities(&rule.pattern),
                b.capabilities(&rule.pattern),
                "{}",
                rule.pattern
            );
        }
    }
}
