//! The token store's endpoints, mounted at `auth/token/` and served through
//! the handler trait like any mount ([`TokenBackend`]): create (and
//! create-orphan, and through a role), lookup, renew and revoke, for oneself,
//! another token, or an accessor; and the token roles ([`roles`]). Field
//! names and defaults are Vault's.

mod roles;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::barrier::Barrier;
use crate::clock;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::error::{VaultError, field};
use crate::net::Cidr;
use crate::params;
use crate::policy::{DEFAULT, ROOT};
use crate::request::{Auth, Data, Operation, Response};
use crate::token::{INITIAL_ROOT_PATH, TokenEntry, TokenParams, TokenStore, TtlLimits};

use crate::identity::{IdentityStore, Resolved};
use crate::policy::store::canonical;
use roles::TokenRole;

/// What revoking a token entails beyond the token store: the leases its
/// tree made, and for the initial root token its verifier.
#[async_trait]
pub(crate) trait TokenRevocation: Send + Sync + std::fmt::Debug {
    /// Revokes the leases made by the tokens revoked (by their hashes).
    async fn revoke_leases(&self, hashes: &[String]) -> Result<(), VaultError>;
    /// Retires the verifier of the initial root token, which is being
    /// revoked (see the seal configuration's root token reset).
    async fn retire_root_token_verifier(&self) -> Result<(), VaultError>;
}

/// The handler mounted at `auth/token/`, over the token store.
#[derive(Debug)]
pub(crate) struct TokenBackend<'a> {
    /// Where tokens and roles are stored.
    pub barrier: &'a Barrier,
    /// The tokens.
    pub tokens: &'a TokenStore,
    /// Leases and the root token's verifier, on revocation.
    pub revocation: &'a dyn TokenRevocation,
    /// The mount's TTLs, which tokens made here are held to.
    pub limits: TtlLimits,
    /// Entities, for the identity policies a token shows.
    pub identity: &'a IdentityStore,
}

#[async_trait]
impl LogicalBackend for TokenBackend<'_> {
    async fn handle(
        &self,
        _view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        Ok(self.serve(&request).await?)
    }
}

/// A use-limited token would escape its limit through a child (or an
/// orphan) with unlimited uses. Checked first, as in Vault. `me` has this
/// request's use spent already, and still shows a count above zero even when
/// this was its last use.
fn refuse_use_limited(me: &TokenEntry) -> Result<(), VaultError> {
    if me.num_uses > 0 {
        return Err(VaultError::InvalidRequest(
            "restricted use token cannot generate child tokens".into(),
        ));
    }
    Ok(())
}

fn bad_token() -> VaultError {
    VaultError::InvalidRequest("bad token".into())
}

impl TokenBackend<'_> {
    /// `entry`'s entity as of now, if it has one that still exists.
    async fn identity_of(
        &self,
        entry: &TokenEntry,
    ) -> Result<Option<std::sync::Arc<Resolved>>, VaultError> {
        if entry.entity_id.is_empty() {
            return Ok(None);
        }
        self.identity.resolve(self.barrier, &entry.entity_id).await
    }

    async fn serve(&self, request: &EngineRequest<'_>) -> Result<Response, VaultError> {
        let path = request.path.trim_end_matches('/');
        let caller = request.caller;
        let me = caller
            .token
            .as_ref()
            .ok_or(VaultError::PermissionDenied("permission denied"))?;
        let now = clock::now_unix_millis();
        let data = request.data;
        let write = matches!(request.operation, Operation::Create | Operation::Update);
        if path == "roles" || path.starts_with("roles/") {
            let name = path.strip_prefix("roles").unwrap_or("").trim_matches('/');
            return roles::serve(self.barrier, name, request.operation, data).await;
        }
        match path {
            "create" | "create-orphan" if write => {
                refuse_use_limited(me)?;
                let orphan = path == "create-orphan"
                    || field(params::boolean(data, "no_parent"))?.unwrap_or(false);
                if orphan && !caller.sudo {
                    return Err(VaultError::PermissionDenied(
                        "permission denied: creating an orphan token needs sudo",
                    ));
                }
                self.create(data, me, None, orphan, caller.sudo, now).await
            }
            role_path if write && role_path.starts_with("create/") => {
                refuse_use_limited(me)?;
                let name = role_path
                    .strip_prefix("create/")
                    .unwrap_or_default()
                    .trim_end_matches('/');
                let role = roles::read(self.barrier, name).await?.ok_or_else(|| {
                    VaultError::InvalidRequest(format!("unknown token role {name:?}"))
                })?;
                self.create(data, me, Some((name, &role)), role.orphan, caller.sudo, now)
                    .await
            }
            "lookup-self" if write || request.operation == Operation::Read => {
                let token = request
                    .client_token
                    .map(|t| t.expose_secret())
                    .unwrap_or_default();
                Ok(Response::with_data(lookup_data(
                    me,
                    token,
                    now,
                    caller.identity.as_deref(),
                )))
            }
            "lookup" if write => {
                let token = field(params::string(data, "token"))?.ok_or_else(bad_token)?;
                // Vault's answer for a token that is not there: 403 "bad token".
                let entry = self
                    .tokens
                    .lookup(self.barrier, &token, now)
                    .await?
                    .ok_or(VaultError::PermissionDenied("bad token"))?;
                let identity = self.identity_of(&entry).await?;
                Ok(Response::with_data(lookup_data(
                    &entry,
                    &token,
                    now,
                    identity.as_deref(),
                )))
            }
            "lookup-accessor" if write => {
                let entry = self.entry_by_accessor(data, now).await?;
                let identity = self.identity_of(&entry).await?;
                Ok(Response::with_data(lookup_data(
                    &entry,
                    "",
                    now,
                    identity.as_deref(),
                )))
            }
            "renew-self" | "renew" | "renew-accessor" if write => {
                // The answer names the token renewed, as Vault's does, except
                // when it was named by its accessor.
                let (entry, token) = match path {
                    "renew-self" => (
                        me.clone(),
                        request
                            .client_token
                            .map(|t| t.expose_secret().to_owned())
                            .unwrap_or_default(),
                    ),
                    "renew" => {
                        let token = field(params::string(data, "token"))?.ok_or_else(bad_token)?;
                        let entry = self
                            .tokens
                            .lookup(self.barrier, &token, now)
                            .await?
                            .ok_or_else(|| VaultError::InvalidRequest("token not found".into()))?;
                        (entry, token)
                    }
                    _ => (self.entry_by_accessor(data, now).await?, String::new()),
                };
                let increment = field(params::duration_ms(data, "increment"))?.unwrap_or(0);
                let (entry, warning) = self
                    .tokens
                    .renew(self.barrier, entry, increment, now)
                    .await?;
                let mut response = Response {
                    auth: Some(auth_of(
                        &entry,
                        token,
                        now,
                        self.identity_of(&entry).await?.as_deref(),
                    )),
                    ..Response::default()
                };
                response.warnings.extend(warning);
                Ok(response)
            }
            "revoke-self" if write => {
                self.before_revoking(me).await?;
                let removed = self.tokens.revoke_tree(self.barrier, &me.id_hash).await?;
                self.revocation.revoke_leases(&removed).await?;
                Ok(Response::default())
            }
            "revoke" | "revoke-orphan" if write => {
                let token = field(params::string(data, "token"))?.ok_or_else(bad_token)?;
                if let Some(entry) = self.tokens.lookup(self.barrier, &token, now).await? {
                    self.before_revoking(&entry).await?;
                    let removed = if path == "revoke" {
                        self.tokens
                            .revoke_tree(self.barrier, &entry.id_hash)
                            .await?
                    } else {
                        self.tokens
                            .revoke_orphan(self.barrier, &entry.id_hash)
                            .await?;
                        vec![entry.id_hash.clone()]
                    };
                    self.revocation.revoke_leases(&removed).await?;
                }
                Ok(Response::default())
            }
            "revoke-accessor" if write => {
                let entry = self.entry_by_accessor(data, now).await?;
                self.before_revoking(&entry).await?;
                let removed = self
                    .tokens
                    .revoke_tree(self.barrier, &entry.id_hash)
                    .await?;
                self.revocation.revoke_leases(&removed).await?;
                Ok(Response::default())
            }
            _ => Err(VaultError::Unsupported(format!(
                "{} is not supported on auth/token/{path}",
                request.operation
            ))),
        }
    }

    /// What must happen before `entry` (and its subtree) is revoked: for the
    /// initial root token, retiring its verifier. That token is an orphan, so
    /// it is only ever revoked as the top of a revocation, which is here
    /// (auth mounts that revoke their tokens when disabled never hold it: the
    /// token store's mount cannot be disabled).
    async fn before_revoking(&self, entry: &TokenEntry) -> Result<(), VaultError> {
        if entry.path == INITIAL_ROOT_PATH {
            self.revocation.retire_root_token_verifier().await?;
        }
        Ok(())
    }

    async fn entry_by_accessor(&self, data: &Data, now: u64) -> Result<TokenEntry, VaultError> {
        let accessor = field(params::string(data, "accessor"))?
            .ok_or_else(|| VaultError::InvalidRequest("missing accessor".into()))?;
        self.tokens
            .lookup_accessor(self.barrier, &accessor, now)
            .await?
            .ok_or_else(|| VaultError::InvalidRequest("invalid accessor".into()))
    }

    /// Makes a child of `parent` (or an orphan) from Vault's create parameters.
    /// Makes a token under `parent` (an orphan when `orphan`), through a
    /// token role when `role` names one: the role then decides the policies
    /// allowed, the period, hard end, networks and path.
    async fn create(
        &self,
        data: &Data,
        parent: &TokenEntry,
        role: Option<(&str, &TokenRole)>,
        orphan: bool,
        sudo: bool,
        now: u64,
    ) -> Result<Response, VaultError> {
        let parent_root = parent.policies.iter().any(|p| p == ROOT);
        // A periodic token can live for ever by renewing: as in Vault, only root
        // or sudo may make one, or a role that says so.
        let role_period = role.map_or(0, |(_, r)| r.token_period);
        let asked_period = field(params::duration_ms(data, "period"))?.unwrap_or(0);
        if asked_period > 0 && role_period == 0 && !sudo {
            return Err(VaultError::PermissionDenied(
                "permission denied: creating a periodic token needs sudo",
            ));
        }
        let asked = field(params::string_list(data, "policies"))?
            .map(|list| {
                list.iter()
                    .map(|p| canonical(p))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let (mut policies, role_decides) = match role {
            Some((_, r)) => r.policies(asked, &parent.policies)?,
            None => (asked.unwrap_or_else(|| parent.policies.clone()), false),
        };
        let beyond_parent = policies
            .iter()
            .find(|p| p.as_str() != DEFAULT && !parent.policies.contains(p));
        if let (false, false, Some(extra)) = (parent_root, role_decides, beyond_parent) {
            return Err(VaultError::PermissionDenied(if extra == ROOT {
                "permission denied: only a root token can create a root token"
            } else {
                "permission denied: a child token's policies must be a subset of its parent's"
            }));
        }
        // A role that disallows `default` keeps it off its tokens, as in Vault.
        let no_default = field(params::boolean(data, "no_default_policy"))?.unwrap_or(false)
            || role.is_some_and(|(_, r)| r.disallowed_policies.iter().any(|p| p == DEFAULT));
        if !no_default && !policies.iter().any(|p| p == ROOT || p == DEFAULT) {
            policies.push(DEFAULT.to_owned());
        }
        policies.sort();
        policies.dedup();
        if role_decides && policies.iter().any(|p| p == ROOT) {
            return Err(VaultError::PermissionDenied(
                "permission denied: only a root token can create a root token",
            ));
        }
        let display = field(params::string(data, "display_name"))?.unwrap_or_default();
        let asked_max = field(params::duration_ms(data, "explicit_max_ttl"))?.unwrap_or(0);
        let explicit_max_ttl = match (role.map_or(0, |(_, r)| r.token_explicit_max_ttl), asked_max)
        {
            (0, asked) => asked,
            (by_role, 0) => by_role,
            (by_role, asked) => by_role.min(asked),
        };
        let asked_cidrs = field(params::string_list(data, "bound_cidrs"))?.unwrap_or_default();
        let cidrs = match role {
            Some((_, r)) if !r.token_bound_cidrs.is_empty() => r.token_bound_cidrs.clone(),
            _ => asked_cidrs,
        };
        let renewable = field(params::boolean(data, "renewable"))?.unwrap_or(true)
            && role.is_none_or(|(_, r)| r.renewable);
        let token_params = TokenParams {
            policies,
            ttl: field(params::duration_ms(data, "ttl"))?.unwrap_or(0),
            explicit_max_ttl,
            period: if role_period > 0 {
                role_period
            } else {
                asked_period
            },
            num_uses: field(params::unsigned(data, "num_uses"))?.unwrap_or(0),
            display_name: if display.is_empty() {
                "token".into()
            } else {
                format!("token-{display}")
            },
            meta: field(params::string_map(data, "meta"))?.unwrap_or_default(),
            renewable,
            path: match role {
                Some((name, r)) => r.token_path(name),
                None if orphan => "auth/token/create-orphan".into(),
                None => "auth/token/create".into(),
            },
            bound_cidrs: child_cidrs(cidrs, (!orphan).then_some(parent))?,
            // A token made by a token acts for the same entity, orphan or
            // not, as in Vault.
            entity_id: parent.entity_id.clone(),
        };
        let limits = self.limits;
        let parent = (!orphan).then_some(parent);
        let root = token_params.policies.iter().any(|p| p == ROOT);
        let (asked_ttl, _, _) = TokenEntry::deadlines(&token_params, limits, root, now);
        let (token, entry) = self
            .tokens
            .create(self.barrier, &token_params, parent, limits, now)
            .await?;
        let mut response = Response {
            auth: Some(auth_of(
                &entry,
                token.expose_secret().to_owned(),
                now,
                self.identity_of(&entry).await?.as_deref(),
            )),
            ..Response::default()
        };
        if entry.creation_ttl != asked_ttl {
            response.warnings.push(format!(
                "TTL of {}s exceeded what the parent token has left ({}s); TTL value is capped \
                 accordingly",
                asked_ttl / 1000,
                entry.creation_ttl / 1000
            ));
        }
        Ok(response)
    }
}

/// The networks a new token may be used from: the blocks `asked`, checked; for
/// a child of a bound parent, the parent's blocks when none are asked, else
/// only blocks inside one of them. A child is never usable from somewhere its
/// parent is not (as in Vault, where a child without a role takes its parent's
/// blocks). An orphan has no parent to narrow and takes what is asked, as in
/// Vault; making one needs sudo.
fn child_cidrs(asked: Vec<String>, parent: Option<&TokenEntry>) -> Result<Vec<String>, VaultError> {
    let invalid = |reason: String| VaultError::InvalidRequest(format!("bound_cidrs: {reason}"));
    let blocks = asked
        .iter()
        .map(|text| Cidr::parse(text).map_err(invalid))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(parent) = parent.filter(|p| !p.bound_cidrs.is_empty()) else {
        return Ok(asked);
    };
    if asked.is_empty() {
        return Ok(parent.bound_cidrs.clone());
    }
    // The parent's blocks were checked when it was made; one that no longer
    // parses contains nothing, as when the token is used.
    let outer: Vec<Cidr> = parent
        .bound_cidrs
        .iter()
        .filter_map(|text| Cidr::parse(text).ok())
        .collect();
    for (text, block) in asked.iter().zip(&blocks) {
        if !outer.iter().any(|o| block.within(o)) {
            return Err(invalid(format!(
                "{text:?} is not inside the parent token's bound CIDRs ({}); a child token \
                 can only narrow them",
                parent.bound_cidrs.join(", ")
            )));
        }
    }
    Ok(asked)
}

/// The `auth` block returned when a token is made or renewed; `identity`
/// is its entity as of now.
pub(crate) fn auth_of(
    entry: &TokenEntry,
    token: String,
    now: u64,
    identity: Option<&Resolved>,
) -> Auth {
    let identity_policies = identity.map(|i| i.policies.clone()).unwrap_or_default();
    let mut policies: Vec<String> = entry
        .policies
        .iter()
        .chain(&identity_policies)
        .cloned()
        .collect();
    policies.sort();
    policies.dedup();
    Auth {
        client_token: token,
        accessor: entry.accessor.clone(),
        policies,
        token_policies: entry.policies.clone(),
        entity_id: identity.map_or_else(|| entry.entity_id.clone(), |i| i.entity_id.clone()),
        identity_policies,
        lease_duration: entry.ttl_left(now) / 1000,
        renewable: entry.renewable,
        metadata: entry.meta.clone(),
        num_uses: entry.num_uses,
        orphan: entry.parent.is_empty(),
        mfa_requirement: None,
    }
}

/// Vault's token lookup fields; `identity` is the token's entity as of now.
fn lookup_data(entry: &TokenEntry, token: &str, now: u64, identity: Option<&Resolved>) -> Data {
    let secs = |ms: u64| ms / 1000;
    let expire = if entry.expire_time == 0 {
        Value::Null
    } else {
        Value::String(clock::rfc3339(secs(entry.expire_time)))
    };
    let value = json!({
        "accessor": entry.accessor,
        "creation_time": secs(entry.creation_time),
        "creation_ttl": secs(entry.creation_ttl),
        "display_name": entry.display_name,
        // The entity it acts for now: after a merge, the one its entity
        // went into.
        "entity_id": identity.map_or(entry.entity_id.as_str(), |i| i.entity_id.as_str()),
        "expire_time": expire,
        "explicit_max_ttl": secs(entry.explicit_max_ttl),
        "id": token,
        "issue_time": clock::rfc3339(secs(entry.creation_time)),
        "meta": if entry.meta.is_empty() { Value::Null } else { json!(entry.meta) },
        "num_uses": entry.num_uses,
        "orphan": entry.parent.is_empty(),
        "path": entry.path,
        "period": secs(entry.period),
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": secs(entry.ttl_left(now)),
        "type": "service",
    });
    let mut data = match value {
        Value::Object(map) => map,
        _ => Data::new(),
    };
    // As Vault shows them: only for a token bound to networks, and one
    // whose entity holds policies.
    if !entry.bound_cidrs.is_empty() {
        data.insert("bound_cidrs".into(), json!(entry.bound_cidrs));
    }
    if let Some(identity) = identity.filter(|i| !i.policies.is_empty()) {
        data.insert("identity_policies".into(), json!(identity.policies));
    }
    data
}
