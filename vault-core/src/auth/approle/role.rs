//! Roles: `role/<name>` (create, read, update, delete, list) and
//! `role/<name>/role-id`, with the role_id index that lets a login find its role.

use serde_json::json;

use super::store::{self, RoleEntry, Salt};
use super::{AppRole, check_cidrs, field};
use crate::barrier::BarrierOp;
use crate::engines::{EngineError, View};
use crate::params;
use crate::request::{Data, Response};

/// Most keys deleted in one batch when a role's secret_ids are purged.
const PURGE_BATCH: usize = 256;

/// `LIST role/`: the role names.
pub(super) async fn list(view: &View<'_>) -> Result<Response, EngineError> {
    let mut names = view.list(store::ROLE_FOLDER).await?;
    // Role names have no `/`; anything else is not a role.
    names.retain(|n| !n.ends_with('/'));
    Ok(Response::with_data(store::object(json!({ "keys": names }))))
}

/// `role/<name>` read.
pub(super) async fn read(view: &View<'_>, name: &str) -> Result<Response, EngineError> {
    let role = store::load_role(view, name)
        .await?
        .ok_or_else(|| EngineError::NotFound(store::role_key(name)))?;
    Ok(Response::with_data(role.to_data()))
}

/// `role/<name>/role-id` read.
pub(super) async fn read_role_id(view: &View<'_>, name: &str) -> Result<Response, EngineError> {
    let role = store::load_role(view, name)
        .await?
        .ok_or_else(|| EngineError::NotFound(store::role_key(name)))?;
    Ok(Response::with_data(store::object(
        json!({ "role_id": role.role_id }),
    )))
}

/// Canonical policy names from `token_policies` (or the older `policies`), if
/// either is given. Auth methods never grant `root`, as in Vault.
fn policies(data: &Data) -> Result<Option<Vec<String>>, EngineError> {
    let given = match field(params::string_list(data, "token_policies"))? {
        Some(list) => Some(list),
        None => field(params::string_list(data, "policies"))?,
    };
    let Some(given) = given else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(given.len());
    for raw in given {
        let name = crate::policy::canonical_name(&raw)
            .map_err(|e| EngineError::InvalidRequest(e.to_string()))?;
        if name == "root" {
            return Err(EngineError::InvalidRequest(
                "a role cannot grant the root policy: auth methods cannot create root tokens"
                    .into(),
            ));
        }
        out.push(name);
    }
    out.sort();
    out.dedup();
    Ok(Some(out))
}

/// Applies the fields given in `data` to `role`; fields left out keep their value.
fn apply(role: &mut RoleEntry, data: &Data) -> Result<(), EngineError> {
    if let Some(list) = policies(data)? {
        role.token_policies = list;
    }
    let duration = |name: &str| field(params::duration_ms(data, name));
    let number = |name: &str| field(params::unsigned(data, name));
    let cidrs = |name: &str| -> Result<Option<Vec<String>>, EngineError> {
        let list = field(params::string_list(data, name))?;
        if let Some(list) = &list {
            check_cidrs(name, list)?;
        }
        Ok(list)
    };
    if let Some(v) = field(params::boolean(data, "bind_secret_id"))? {
        role.bind_secret_id = v;
    }
    if let Some(v) = cidrs("secret_id_bound_cidrs")? {
        role.secret_id_bound_cidrs = v;
    }
    if let Some(v) = number("secret_id_num_uses")? {
        role.secret_id_num_uses = v;
    }
    if let Some(v) = duration("secret_id_ttl")? {
        role.secret_id_ttl = v;
    }
    if let Some(v) = field(params::boolean(data, "token_no_default_policy"))? {
        role.token_no_default_policy = v;
    }
    if let Some(v) = duration("token_ttl")? {
        role.token_ttl = v;
    }
    if let Some(v) = duration("token_max_ttl")? {
        role.token_max_ttl = v;
    }
    if let Some(v) = duration("token_explicit_max_ttl")? {
        role.token_explicit_max_ttl = v;
    }
    if let Some(v) = duration("token_period")? {
        role.token_period = v;
    }
    if let Some(v) = number("token_num_uses")? {
        role.token_num_uses = v;
    }
    if let Some(v) = cidrs("token_bound_cidrs")? {
        role.token_bound_cidrs = v;
    }
    if role.token_max_ttl != 0 && role.token_ttl > role.token_max_ttl {
        return Err(EngineError::InvalidRequest(
            "token_ttl cannot be greater than token_max_ttl".into(),
        ));
    }
    // A role anyone holding its role_id could log in with, from anywhere, would
    // make the role_id a bearer password. Vault refuses it too.
    if !role.bind_secret_id
        && role.secret_id_bound_cidrs.is_empty()
        && role.token_bound_cidrs.is_empty()
    {
        return Err(EngineError::InvalidRequest(
            "at least one constraint must be enabled on the role: bind_secret_id, \
             secret_id_bound_cidrs or token_bound_cidrs"
                .into(),
        ));
    }
    Ok(())
}

/// A role_id from the request, if one is given; an empty one is refused.
fn given_role_id(data: &Data) -> Result<Option<String>, EngineError> {
    match field(params::string(data, "role_id"))? {
        Some(id) if id.trim().is_empty() => Err(EngineError::InvalidRequest(
            "role_id cannot be empty".into(),
        )),
        other => Ok(other),
    }
}

impl AppRole {
    /// `role/<name>` create or update. A new role gets a random role_id unless
    /// the request gives one.
    pub(super) async fn write_role(
        &self,
        view: &View<'_>,
        name: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let wanted_id = given_role_id(data)?;
        let _roles = self.roles.write().await;
        let existing = store::load_role(view, name).await?;
        let creating = existing.is_none();
        let mut role = existing.unwrap_or_default();
        apply(&mut role, data)?;
        let salt = Salt::load_or_create(view, &self.salt_init).await?;
        if creating {
            // A crash in an earlier delete may have left secret_ids under this
            // name; they must not come back to life with the new role.
            purge_secret_ids(view, name).await?;
        }
        let new_id = match wanted_id {
            Some(id) => id,
            None if creating => {
                crate::random::uuid_v4().map_err(crate::barrier::BarrierError::from)?
            }
            None => role.role_id.clone(),
        };
        let mut ops = role_id_change(view, &salt, name, &role.role_id, &new_id).await?;
        role.role_id = new_id;
        ops.push(store::put(store::role_key(name), &role)?);
        view.batch(ops).await?;
        Ok(Response::default())
    }

    /// `role/<name>/role-id` update: gives the role a custom role_id.
    pub(super) async fn write_role_id(
        &self,
        view: &View<'_>,
        name: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let new_id = given_role_id(data)?
            .ok_or_else(|| EngineError::InvalidRequest("missing role_id".into()))?;
        let _roles = self.roles.write().await;
        let mut role = store::load_role(view, name)
            .await?
            .ok_or_else(|| EngineError::NotFound(store::role_key(name)))?;
        let salt = Salt::load_or_create(view, &self.salt_init).await?;
        let mut ops = role_id_change(view, &salt, name, &role.role_id, &new_id).await?;
        role.role_id = new_id;
        ops.push(store::put(store::role_key(name), &role)?);
        view.batch(ops).await?;
        Ok(Response::default())
    }

    /// `role/<name>` delete: its secret_ids, then its index entry and record.
    /// Deleting a role that does not exist succeeds, as in Vault.
    pub(super) async fn delete_role(
        &self,
        view: &View<'_>,
        name: &str,
    ) -> Result<Response, EngineError> {
        let _roles = self.roles.write().await;
        let Some(role) = store::load_role(view, name).await? else {
            return Ok(Response::default());
        };
        // Secret_ids first: if we stop half-way the role is still there to be
        // deleted again, and no secret_id is left without its role.
        purge_secret_ids(view, name).await?;
        let mut ops = vec![store::delete(store::role_key(name))];
        if let Some(salt) = Salt::load(view).await? {
            ops.push(store::delete(salt.role_id_key(&role.role_id)));
        }
        view.batch(ops).await?;
        Ok(Response::default())
    }
}

/// The index changes that move role `name` from role_id `old` (empty for a new
/// role) to `new`. Refuses a role_id another role already has. The caller holds
/// the roles write lock, so the index cannot change under it.
async fn role_id_change(
    view: &View<'_>,
    salt: &Salt,
    name: &str,
    old: &str,
    new: &str,
) -> Result<Vec<BarrierOp>, EngineError> {
    let new_key = salt.role_id_key(new);
    match store::load_text(view, &new_key).await? {
        Some(owner) if owner != name => {
            return Err(EngineError::InvalidRequest(
                "role_id is already in use by another role".into(),
            ));
        }
        _ => {}
    }
    let mut ops = vec![store::put_text(new_key, name)];
    if !old.is_empty() && old != new {
        ops.push(store::delete(salt.role_id_key(old)));
    }
    Ok(ops)
}

/// Deletes every secret_id record and accessor entry of role `name`. The caller
/// holds the roles write lock, so no login or secret_id operation is running.
async fn purge_secret_ids(view: &View<'_>, name: &str) -> Result<(), EngineError> {
    for folder in [store::secret_id_folder(name), store::accessor_folder(name)] {
        let children = view.list(&folder).await?;
        for chunk in children.chunks(PURGE_BATCH) {
            let ops = chunk
                .iter()
                // Hashes have no `/`; a folder here is not ours to walk.
                .filter(|child| !child.ends_with('/'))
                .map(|child| store::delete(format!("{folder}{child}")))
                .collect::<Vec<_>>();
            if !ops.is_empty() {
                view.batch(ops).await?;
            }
        }
    }
    Ok(())
}
