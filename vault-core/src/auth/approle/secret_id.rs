//! SecretIDs: making them (`secret-id`, `custom-secret-id`), listing their
//! accessors, and looking up or destroying one by value or by accessor.
//!
//! Every operation runs under the roles read lock, and every one that may change
//! a record under the record's stripe (see `mod.rs`). An accessor is looked up
//! only in the index of the role named in the path, and the record it leads to
//! must belong to that role too: one role's accessor can never reach another
//! role's secret_id.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::store::{self, Salt, SecretIdEntry};
use super::{AppRole, check_cidrs, field};
use crate::barrier::BarrierError;
use crate::engines::{EngineError, View};
use crate::params;
use crate::request::{Data, Response};
use crate::secret::{SecretString, constant_time_eq};

/// `metadata`: an object of strings, or (as Vault's CLI sends it) a string
/// holding one as JSON.
fn metadata(data: &Data) -> Result<BTreeMap<String, String>, EngineError> {
    if let Some(Value::String(text)) = data.get("metadata") {
        if text.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        return serde_json::from_str(text).map_err(|_| {
            EngineError::InvalidRequest(
                "invalid value for \"metadata\": expected a JSON object of strings".into(),
            )
        });
    }
    Ok(field(params::string_map(data, "metadata"))?.unwrap_or_default())
}

/// A required string field; an empty one counts as missing.
fn required(data: &Data, name: &str) -> Result<SecretString, EngineError> {
    field(params::string(data, name))?
        .filter(|v| !v.is_empty())
        .map(SecretString::new)
        .ok_or_else(|| EngineError::InvalidRequest(format!("missing {name}")))
}

/// A per-secret_id override of the role's limit `role_value` (0: none): it may
/// only tighten it.
fn narrowed(
    data: &Data,
    name: &str,
    role_value: u64,
    read: fn(&Data, &str) -> Result<Option<u64>, params::FieldError>,
) -> Result<u64, EngineError> {
    match field(read(data, name))? {
        None => Ok(role_value),
        Some(v) if role_value == 0 || (v != 0 && v <= role_value) => Ok(v),
        Some(_) => Err(EngineError::InvalidRequest(format!(
            "{name} cannot be unlimited or exceed the role's limit"
        ))),
    }
}

/// Deletes a secret_id's record and its accessor entry at once.
async fn remove(
    view: &View<'_>,
    salt: &Salt,
    name: &str,
    key: &str,
    entry: &SecretIdEntry,
) -> Result<(), EngineError> {
    view.batch(vec![
        store::delete(key.to_owned()),
        store::delete(salt.accessor_key(name, &entry.accessor)),
    ])
    .await?;
    Ok(())
}

/// The live record at `key` for role `name`, or `None`. An expired record is
/// deleted on the spot. The caller holds the record's stripe.
pub(super) async fn load_live(
    view: &View<'_>,
    salt: &Salt,
    name: &str,
    key: &str,
    now: u64,
) -> Result<Option<SecretIdEntry>, EngineError> {
    let Some(entry) = store::load::<SecretIdEntry>(view, key).await? else {
        return Ok(None);
    };
    if entry.role_name != name {
        // The key holds the role's name, so this is a damaged record.
        return Err(store::malformed(view, key));
    }
    if entry.is_expired(now) {
        remove(view, salt, name, key, &entry).await?;
        return Ok(None);
    }
    Ok(Some(entry))
}

impl AppRole {
    /// The role's mount key, once the role is known to exist (the key is made
    /// with the first role, so its absence means damage).
    async fn role_salt(&self, view: &View<'_>, name: &str) -> Result<Salt, EngineError> {
        store::load_role(view, name)
            .await?
            .ok_or_else(|| EngineError::NotFound(store::role_key(name)))?;
        Salt::load(view)
            .await?
            .ok_or_else(|| store::malformed(view, "salt"))
    }

    /// `secret-id` (a random one) or `custom-secret-id` (the caller's) update.
    pub(super) async fn make_secret_id(
        &self,
        view: &View<'_>,
        name: &str,
        data: &Data,
        custom: bool,
    ) -> Result<Response, EngineError> {
        let secret_id = if custom {
            required(data, "secret_id")?
        } else {
            SecretString::new(crate::random::uuid_v4().map_err(BarrierError::from)?)
        };
        let metadata = metadata(data)?;
        let cidr_list = field(params::string_list(data, "cidr_list"))?.unwrap_or_default();
        check_cidrs("cidr_list", &cidr_list)?;

        let _roles = self.roles.read().await;
        let role = store::load_role(view, name)
            .await?
            .ok_or_else(|| EngineError::NotFound(store::role_key(name)))?;
        if !role.bind_secret_id {
            return Err(EngineError::InvalidRequest(
                "the role does not bind secret_ids (bind_secret_id is false)".into(),
            ));
        }
        let num_uses = narrowed(data, "num_uses", role.secret_id_num_uses, params::unsigned)?;
        let ttl = narrowed(data, "ttl", role.secret_id_ttl, params::duration_ms)?;
        let salt = Salt::load(view)
            .await?
            .ok_or_else(|| store::malformed(view, "salt"))?;
        let key = store::secret_id_key(name, &salt.secret_id_hash(secret_id.expose_secret()));
        let accessor = crate::random::uuid_v4().map_err(BarrierError::from)?;

        let _stripe = self.lock_secret_id(view, &key).await;
        if view.get(&key).await?.is_some() {
            return Err(EngineError::InvalidRequest(
                "the secret_id is already registered for this role".into(),
            ));
        }
        let now = self.now();
        let entry = SecretIdEntry {
            role_name: name.to_owned(),
            accessor: accessor.clone(),
            num_uses,
            ttl,
            creation_time: now,
            expiration_time: if ttl == 0 { 0 } else { now.saturating_add(ttl) },
            last_updated_time: now,
            metadata,
            // Empty means "the role's": logins check the role's blocks as well,
            // so a cidr_list can only narrow them.
            cidr_list: if cidr_list.is_empty() {
                role.secret_id_bound_cidrs.clone()
            } else {
                cidr_list
            },
        };
        view.batch(vec![
            store::put(key.clone(), &entry)?,
            store::put_text(salt.accessor_key(name, &accessor), &key),
        ])
        .await?;
        Ok(Response::with_data(store::object(json!({
            // Returned once; only its hash is stored.
            "secret_id": secret_id.expose_secret(),
            "secret_id_accessor": accessor,
            "secret_id_ttl": ttl / 1000,
            "secret_id_num_uses": num_uses,
        }))))
    }

    /// `LIST role/<name>/secret-id`: the accessors of the role's secret_ids.
    pub(super) async fn list_secret_ids(
        &self,
        view: &View<'_>,
        name: &str,
    ) -> Result<Response, EngineError> {
        let _roles = self.roles.read().await;
        store::load_role(view, name)
            .await?
            .ok_or_else(|| EngineError::NotFound(store::role_key(name)))?;
        let folder = store::secret_id_folder(name);
        let mut accessors = Vec::new();
        for child in view.list(&folder).await? {
            if child.ends_with('/') {
                continue;
            }
            let key = format!("{folder}{child}");
            if let Some(entry) = store::load::<SecretIdEntry>(view, &key).await? {
                accessors.push(entry.accessor);
            }
        }
        accessors.sort();
        Ok(Response::with_data(store::object(
            json!({ "keys": accessors }),
        )))
    }

    /// `secret-id/lookup` update: the record of the secret_id given.
    pub(super) async fn lookup_secret_id(
        &self,
        view: &View<'_>,
        name: &str,
        path: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let secret_id = required(data, "secret_id")?;
        let _roles = self.roles.read().await;
        let salt = self.role_salt(view, name).await?;
        let key = store::secret_id_key(name, &salt.secret_id_hash(secret_id.expose_secret()));
        let _stripe = self.lock_secret_id(view, &key).await;
        // The path, not the secret_id, names what was not found.
        let entry = load_live(view, &salt, name, &key, self.now())
            .await?
            .ok_or_else(|| EngineError::NotFound(path.to_owned()))?;
        Ok(Response::with_data(entry.to_data()))
    }

    /// `secret-id/destroy`: removes the secret_id given. Destroying one that does
    /// not exist succeeds, as in Vault.
    pub(super) async fn destroy_secret_id(
        &self,
        view: &View<'_>,
        name: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let secret_id = required(data, "secret_id")?;
        let _roles = self.roles.read().await;
        let salt = self.role_salt(view, name).await?;
        let key = store::secret_id_key(name, &salt.secret_id_hash(secret_id.expose_secret()));
        let _stripe = self.lock_secret_id(view, &key).await;
        if let Some(entry) = store::load::<SecretIdEntry>(view, &key).await? {
            if entry.role_name != name {
                return Err(store::malformed(view, &key));
            }
            remove(view, &salt, name, &key, &entry).await?;
        }
        Ok(Response::default())
    }

    /// `secret-id-accessor/lookup` (`destroy` false) and `.../destroy` (true).
    /// An accessor not issued for role `name` is not found, and nothing changes.
    pub(super) async fn by_accessor(
        &self,
        view: &View<'_>,
        name: &str,
        path: &str,
        data: &Data,
        destroy: bool,
    ) -> Result<Response, EngineError> {
        let accessor = required(data, "secret_id_accessor")?;
        let accessor = accessor.expose_secret();
        let not_found = || EngineError::NotFound(path.to_owned());
        let _roles = self.roles.read().await;
        let salt = self.role_salt(view, name).await?;
        let index = salt.accessor_key(name, accessor);
        let key = store::load_text(view, &index)
            .await?
            .ok_or_else(not_found)?;
        // The index must point into this role's folder; anything else is damage.
        let hash = key
            .strip_prefix(&store::secret_id_folder(name))
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| store::malformed(view, &index))?;
        let key = store::secret_id_key(name, hash);
        let _stripe = self.lock_secret_id(view, &key).await;
        let Some(entry) = load_live(view, &salt, name, &key, self.now()).await? else {
            // A dangling index entry (its record expired or was lost): drop it.
            view.delete(&index).await?;
            return Err(not_found());
        };
        if !constant_time_eq(entry.accessor.as_bytes(), accessor.as_bytes()) {
            return Err(not_found());
        }
        if destroy {
            remove(view, &salt, name, &key, &entry).await?;
            return Ok(Response::default());
        }
        Ok(Response::with_data(entry.to_data()))
    }
}
