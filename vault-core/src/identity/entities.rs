//! The entity and entity-alias endpoints (`identity/entity...`,
//! `identity/entity-alias...`), merging entities, and how an entity and an
//! alias are shown. Field names, answers and defaults are Vault's (checked
//! against OpenBao): a write naming an existing entity updates it, fields
//! left out keep their values, an alias written without an entity gets a
//! new one.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::clock;
use crate::error::{VaultError, field, object};
use crate::params;
use crate::random;
use crate::request::{Data, Response};

use super::ctx::Ctx;
use super::fields::{self, invalid};
use super::index::{Index, Key};
use super::model::{Alias, Entity};
use super::resolve::resolve;
use super::store::Changes;

/// `identity/entity` and `identity/entity/name/<name>`: creates, or updates
/// the entity with that id or name.
pub(super) async fn write_entity(
    ctx: &Ctx<'_>,
    data: &Data,
    by_name: Option<&str>,
) -> Result<Response, VaultError> {
    let id = fields::id(data, "id")?;
    let name = match by_name {
        Some(n) => Some(n.to_owned()),
        None => fields::name(data, "name")?,
    };
    let metadata = fields::metadata(data, "metadata")?;
    let policies = fields::policies(data, "policies")?;
    let disabled = field(params::boolean(data, "disabled"))?;
    let fresh_id = random::uuid_v4()?;
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let existing = match (&id, &name) {
                (Some(id), _) => Some(
                    index
                        .entity(id)
                        .ok_or_else(|| invalid(format!("entity id {id:?} does not exist")))?,
                ),
                (None, Some(name)) => index.entity_by_name(name),
                (None, None) => None,
            };
            let created = existing.is_none();
            let mut entity = match existing {
                Some(e) => (**e).clone(),
                None => Entity {
                    id: fresh_id.clone(),
                    name: format!("entity_{}", &fresh_id[..8]),
                    creation_time: now,
                    ..Entity::default()
                },
            };
            if let Some(name) = &name
                && *name != entity.name
            {
                if index.entity_by_name(name).is_some() {
                    return Err(invalid(format!("entity name {name:?} is already in use")));
                }
                entity.name = name.clone();
            }
            if let Some(m) = &metadata {
                entity.metadata = m.clone();
            }
            if let Some(p) = &policies {
                entity.policies = p.clone();
            }
            if let Some(d) = disabled {
                entity.disabled = d;
            }
            entity.last_update_time = now;
            let answer = created.then(|| {
                Response::with_data(object(json!({
                    "id": entity.id, "name": entity.name, "aliases": Value::Null,
                })))
            });
            Ok((
                Changes {
                    entities: vec![entity],
                    ..Changes::default()
                },
                answer.unwrap_or_default(),
            ))
        })
        .await
}

/// Reads the entity `key` names; with `missing_is_empty`, nothing found is
/// an empty answer (`lookup/entity`), else not found.
pub(super) async fn read_entity(
    ctx: &Ctx<'_>,
    key: Key<'_>,
    missing_is_empty: bool,
) -> Result<Response, VaultError> {
    ctx.read_one("entity", missing_is_empty, |index| {
        index.entity_at(key).map(|e| entity_json(index, e))
    })
    .await
}

/// Deletes an entity with its aliases, and takes it out of every group.
/// Its tokens stay (with their own policies only), as in Vault.
pub(super) async fn delete_entity(ctx: &Ctx<'_>, key: Key<'_>) -> Result<Response, VaultError> {
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let mut changes = Changes::default();
            if let Some(entity) = index.entity_at(key) {
                for group in index.direct_groups(&entity.id) {
                    let mut g = (**group).clone();
                    g.member_entity_ids.retain(|m| *m != entity.id);
                    g.last_update_time = now;
                    changes.groups.push(g);
                }
                changes.deleted_entities.push(entity.id.clone());
            }
            Ok((changes, Response::default()))
        })
        .await
}

/// `LIST identity/entity/id` or `identity/entity/name`.
pub(super) async fn list_entities(ctx: &Ctx<'_>, by_name: bool) -> Result<Response, VaultError> {
    ctx.store
        .read(ctx.barrier, |index| {
            let mut entities: Vec<_> = index.entities().collect();
            entities.sort_by(|a, b| a.id.cmp(&b.id));
            let mut keys = Vec::new();
            let mut info = serde_json::Map::new();
            for e in entities {
                let key = if by_name { &e.name } else { &e.id };
                keys.push(key.clone());
                let aliases: Vec<Value> = e
                    .aliases
                    .iter()
                    .map(|a| {
                        json!({
                            "id": a.id, "mount_accessor": a.mount_accessor,
                            "mount_path": a.mount_path, "mount_type": a.mount_type,
                            "name": a.name,
                        })
                    })
                    .collect();
                info.insert(
                    key.clone(),
                    json!({ "name": e.name, "id": e.id, "aliases": aliases }),
                );
            }
            keys.sort();
            Response::with_data(object(json!({ "keys": keys, "key_info": info })))
        })
        .await
}

/// `identity/entity-alias` (create, or update with `id`) and
/// `identity/entity-alias/id/<id>` (update).
pub(super) async fn write_alias(
    ctx: &Ctx<'_>,
    data: &Data,
    path_id: Option<&str>,
) -> Result<Response, VaultError> {
    let id = match path_id {
        Some(id) => Some(id.to_owned()),
        None => fields::id(data, "id")?,
    };
    let name = fields::name(data, "name")?;
    let accessor = fields::name(data, "mount_accessor")?;
    let canonical = fields::id(data, "canonical_id")?;
    let custom = fields::metadata(data, "custom_metadata")?;
    if let Some(accessor) = &accessor {
        ctx.auth_mount(accessor)?;
    }
    let [fresh_entity, fresh_alias] = [random::uuid_v4()?, random::uuid_v4()?];
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let mut changes = Changes::default();
            // The alias as it will be, and the entity it comes from (if any).
            let (mut alias, from) = match &id {
                Some(id) => {
                    let owner = index
                        .entity_by_alias_id(id)
                        .ok_or_else(|| invalid(format!("entity alias id {id:?} does not exist")))?;
                    let alias = owner
                        .aliases
                        .iter()
                        .find(|a| a.id == *id)
                        .cloned()
                        .unwrap_or_default();
                    (alias, Some(owner.id.clone()))
                }
                None => {
                    let (Some(name), Some(accessor)) = (&name, &accessor) else {
                        return Err(invalid("name and mount_accessor are required"));
                    };
                    if let Some(owner) = index.entity_by_alias(accessor, name)
                        && canonical.as_ref().is_none_or(|c| *c == owner.id)
                    {
                        // Already there: nothing to make, as in Vault.
                        return Ok((Changes::default(), Response::default()));
                    }
                    let alias = Alias {
                        id: fresh_alias.clone(),
                        name: name.clone(),
                        mount_accessor: accessor.clone(),
                        creation_time: now,
                        ..Alias::default()
                    };
                    (alias, None)
                }
            };
            if let Some(n) = &name {
                alias.name = n.clone();
            }
            if let Some(a) = &accessor {
                alias.mount_accessor = a.clone();
            }
            if let Some(c) = &custom {
                alias.custom_metadata = c.clone();
            }
            let mount = ctx.auth_mount(&alias.mount_accessor)?;
            alias.mount_type = mount.kind.clone();
            alias.mount_path = mount.path.clone();
            alias.last_update_time = now;
            if let Some(holder) = index.entity_by_alias(&alias.mount_accessor, &alias.name)
                && holder.aliases.iter().any(|a| {
                    a.id != alias.id
                        && a.mount_accessor == alias.mount_accessor
                        && a.name == alias.name
                })
            {
                return Err(invalid(format!(
                    "an alias named {:?} on mount accessor {:?} already exists, on entity {}",
                    alias.name, alias.mount_accessor, holder.id
                )));
            }
            // The entity it goes to: the one named, the one it is on, or a new one.
            let target_id = canonical.clone().or_else(|| from.clone());
            let mut target = match &target_id {
                Some(t) => (**index
                    .entity(t)
                    .ok_or_else(|| invalid(format!("entity id {t:?} does not exist")))?)
                .clone(),
                None => Entity {
                    id: fresh_entity.clone(),
                    name: format!("entity_{}", &fresh_entity[..8]),
                    creation_time: now,
                    ..Entity::default()
                },
            };
            if let Some(from) = &from
                && *from != target.id
                && let Some(old) = index.entity(from)
            {
                let mut old = (**old).clone();
                old.aliases.retain(|a| a.id != alias.id);
                old.last_update_time = now;
                changes.entities.push(old);
            }
            target.aliases.retain(|a| a.id != alias.id);
            if target
                .aliases
                .iter()
                .any(|a| a.mount_accessor == alias.mount_accessor)
            {
                return Err(invalid(format!(
                    "entity {} already has an alias on mount accessor {:?}",
                    target.id, alias.mount_accessor
                )));
            }
            alias.canonical_id = target.id.clone();
            target.aliases.push(alias.clone());
            target.last_update_time = now;
            changes.entities.push(target);
            let answer = if id.is_none() {
                Response::with_data(object(
                    json!({ "id": alias.id, "canonical_id": alias.canonical_id }),
                ))
            } else {
                Response::default()
            };
            Ok((changes, answer))
        })
        .await
}

/// `identity/entity-alias/id/<id>`: read.
pub(super) async fn read_alias(ctx: &Ctx<'_>, id: &str) -> Result<Response, VaultError> {
    ctx.read_one("entity alias", false, |index| {
        let owner = index.entity_by_alias_id(id)?;
        owner.aliases.iter().find(|a| a.id == id).map(alias_json)
    })
    .await
}

/// `identity/entity-alias/id/<id>`: delete.
pub(super) async fn delete_alias(ctx: &Ctx<'_>, id: &str) -> Result<Response, VaultError> {
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let mut changes = Changes::default();
            if let Some(owner) = index.entity_by_alias_id(id) {
                let mut e = (**owner).clone();
                e.aliases.retain(|a| a.id != id);
                e.last_update_time = now;
                changes.entities.push(e);
            }
            Ok((changes, Response::default()))
        })
        .await
}

/// `LIST identity/entity-alias/id`.
pub(super) async fn list_aliases(ctx: &Ctx<'_>) -> Result<Response, VaultError> {
    ctx.store
        .read(ctx.barrier, |index| {
            let mut keys = Vec::new();
            let mut info = serde_json::Map::new();
            for a in index.entities().flat_map(|e| e.aliases.iter()) {
                keys.push(a.id.clone());
                info.insert(
                    a.id.clone(),
                    json!({
                        "canonical_id": a.canonical_id, "mount_accessor": a.mount_accessor,
                        "mount_path": a.mount_path, "mount_type": a.mount_type, "name": a.name,
                    }),
                );
            }
            keys.sort();
            Response::with_data(object(json!({ "keys": keys, "key_info": info })))
        })
        .await
}

/// `identity/entity/merge`: moves the aliases and group memberships of
/// `from_entity_ids` to `to_entity_id`, and deletes them; tokens naming a
/// merged entity resolve to the one it went into. Two aliases on one mount
/// are refused unless `conflicting_alias_ids_to_keep` says which stays. As
/// in Vault, policies and metadata of the merged entities are not carried.
pub(super) async fn merge(ctx: &Ctx<'_>, data: &Data) -> Result<Response, VaultError> {
    let to =
        fields::id(data, "to_entity_id")?.ok_or_else(|| invalid("to_entity_id is required"))?;
    let from = fields::ids(data, "from_entity_ids")?.unwrap_or_default();
    if from.is_empty() {
        return Err(invalid("from_entity_ids is required"));
    }
    let keep: BTreeSet<String> = fields::ids(data, "conflicting_alias_ids_to_keep")?
        .unwrap_or_default()
        .into_iter()
        .collect();
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let mut target = (**index
                .entity(&to)
                .ok_or_else(|| invalid(format!("entity id {to:?} does not exist")))?)
            .clone();
            let mut changes = Changes::default();
            let mut groups: std::collections::BTreeMap<String, super::model::Group> =
                Default::default();
            for id in &from {
                let source = index
                    .entity(id)
                    .ok_or_else(|| invalid(format!("entity id {id:?} does not exist")))?;
                if source.id == target.id {
                    return Err(invalid(format!(
                        "entity {id:?} cannot be merged into itself"
                    )));
                }
                for alias in &source.aliases {
                    let clash = target
                        .aliases
                        .iter()
                        .position(|a| a.mount_accessor == alias.mount_accessor);
                    match clash {
                        Some(i) if keep.contains(&alias.id) => target.aliases[i] = alias.clone(),
                        Some(i) if keep.contains(&target.aliases[i].id) => continue,
                        Some(i) => {
                            return Err(invalid(format!(
                                "conflicting mount accessors in following alias IDs: {}, {}; \
                                 name the one to keep in conflicting_alias_ids_to_keep",
                                target.aliases[i].id, alias.id
                            )));
                        }
                        None => target.aliases.push(alias.clone()),
                    }
                }
                target.merged_entity_ids.push(source.id.clone());
                target
                    .merged_entity_ids
                    .extend(source.merged_entity_ids.iter().cloned());
                for group in index.direct_groups(&source.id) {
                    let g = groups
                        .entry(group.id.clone())
                        .or_insert_with(|| (**group).clone());
                    g.member_entity_ids.retain(|m| *m != source.id);
                    if !g.member_entity_ids.contains(&target.id) {
                        g.member_entity_ids.push(target.id.clone());
                    }
                    g.last_update_time = now;
                }
                changes.deleted_entities.push(source.id.clone());
            }
            for alias in &mut target.aliases {
                alias.canonical_id = target.id.clone();
            }
            target.last_update_time = now;
            changes.entities.push(target);
            changes.groups = groups.into_values().collect();
            Ok((changes, Response::default()))
        })
        .await
}

/// An entity as Vault shows it, with the groups it is in.
pub(super) fn entity_json(index: &Index, entity: &Entity) -> Value {
    let resolved = resolve(index, &entity.id).unwrap_or_default();
    let group_ids: Vec<&String> = resolved
        .direct_group_ids
        .iter()
        .chain(&resolved.inherited_group_ids)
        .collect();
    json!({
        "id": entity.id,
        "name": entity.name,
        "metadata": if entity.metadata.is_empty() { Value::Null } else { json!(entity.metadata) },
        "policies": entity.policies,
        "disabled": entity.disabled,
        "aliases": entity.aliases.iter().map(alias_json).collect::<Vec<_>>(),
        "creation_time": clock::rfc3339(entity.creation_time),
        "last_update_time": clock::rfc3339(entity.last_update_time),
        "merged_entity_ids": if entity.merged_entity_ids.is_empty() {
            Value::Null
        } else {
            json!(entity.merged_entity_ids)
        },
        "direct_group_ids": resolved.direct_group_ids,
        "inherited_group_ids": resolved.inherited_group_ids,
        "group_ids": group_ids,
        "namespace_id": "root",
    })
}

/// An alias as Vault shows it.
fn alias_json(alias: &Alias) -> Value {
    let map_or_null = |m: &std::collections::BTreeMap<String, String>| {
        if m.is_empty() { Value::Null } else { json!(m) }
    };
    json!({
        "id": alias.id,
        "canonical_id": alias.canonical_id,
        "mount_accessor": alias.mount_accessor,
        "mount_path": alias.mount_path,
        "mount_type": alias.mount_type,
        "name": alias.name,
        "metadata": map_or_null(&alias.metadata),
        "custom_metadata": map_or_null(&alias.custom_metadata),
        "creation_time": clock::rfc3339(alias.creation_time),
        "last_update_time": clock::rfc3339(alias.last_update_time),
        "local": false,
        "merged_from_canonical_ids": Value::Null,
    })
}
