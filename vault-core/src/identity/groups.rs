//! The group and group-alias endpoints (`identity/group...`,
//! `identity/group-alias...`), and how a group is shown. An internal group
//! names its member entities and member groups; an external group's members
//! come from logins, through its one alias on an auth mount. A group can
//! never become its own ancestor.

use serde_json::{Value, json};

use crate::clock;
use crate::error::{VaultError, object};
use crate::random;
use crate::request::{Data, Response};

use super::ctx::Ctx;
use super::fields::{self, invalid};
use super::index::{Index, Key};
use super::model::{Group, GroupAlias, GroupKind};
use super::store::Changes;

/// `identity/group` and `identity/group/name/<name>` (create or update by
/// id or name) and `identity/group/id/<id>` (update).
pub(super) async fn write_group(
    ctx: &Ctx<'_>,
    data: &Data,
    by: Option<Key<'_>>,
) -> Result<Response, VaultError> {
    let id = match by {
        Some(Key::Id(id)) => Some(id.to_owned()),
        _ => fields::id(data, "id")?,
    };
    let name = match by {
        Some(Key::Name(n)) => Some(n.to_owned()),
        _ => fields::name(data, "name")?,
    };
    let kind = match crate::error::field(crate::params::string(data, "type"))?.as_deref() {
        None | Some("") => None,
        Some("internal") => Some(GroupKind::Internal),
        Some("external") => Some(GroupKind::External),
        Some(other) => {
            return Err(invalid(format!(
                "type {other:?} is not a group type; expected internal or external"
            )));
        }
    };
    let policies = fields::policies(data, "policies")?;
    let metadata = fields::metadata(data, "metadata")?;
    let entities = fields::ids(data, "member_entity_ids")?;
    let subgroups = fields::ids(data, "member_group_ids")?;
    let fresh = random::uuid_v4()?;
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let existing = match (&id, &name) {
                (Some(id), _) => Some(
                    index
                        .group(id)
                        .ok_or_else(|| invalid(format!("group id {id:?} does not exist")))?,
                ),
                (None, Some(name)) => index.group_by_name(name),
                (None, None) => None,
            };
            let created = existing.is_none();
            let mut group = match existing {
                Some(g) => (**g).clone(),
                None => Group {
                    id: fresh.clone(),
                    name: format!("group_{}", &fresh[..8]),
                    kind: kind.unwrap_or_default(),
                    creation_time: now,
                    ..Group::default()
                },
            };
            if let Some(kind) = kind
                && kind != group.kind
            {
                return Err(invalid("a group's type cannot be changed"));
            }
            if let Some(name) = &name
                && *name != group.name
            {
                if index.group_by_name(name).is_some() {
                    return Err(invalid(format!("group name {name:?} is already in use")));
                }
                group.name = name.clone();
            }
            if let Some(p) = &policies {
                group.policies = p.clone();
            }
            if let Some(m) = &metadata {
                group.metadata = m.clone();
            }
            if group.kind == GroupKind::External
                && (entities.as_ref().is_some_and(|e| !e.is_empty())
                    || subgroups.as_ref().is_some_and(|g| !g.is_empty()))
            {
                return Err(invalid(
                    "an external group's members come from logins; member_entity_ids and \
                     member_group_ids cannot be set",
                ));
            }
            if let Some(members) = &entities {
                if let Some(missing) = members.iter().find(|m| index.entity(m).is_none()) {
                    return Err(invalid(format!("entity id {missing:?} does not exist")));
                }
                // A merged id is stored as the entity it went into.
                group.member_entity_ids = members
                    .iter()
                    .filter_map(|m| index.entity(m).map(|e| e.id.clone()))
                    .collect();
                group.member_entity_ids.dedup();
            }
            if let Some(members) = &subgroups {
                check_subgroups(index, &group.id, members)?;
                group.member_group_ids = members.clone();
            }
            group.last_update_time = now;
            let answer = if created {
                Response::with_data(object(json!({ "id": group.id, "name": group.name })))
            } else {
                Response::default()
            };
            Ok((
                Changes {
                    groups: vec![group],
                    ..Changes::default()
                },
                answer,
            ))
        })
        .await
}

/// Refuses members that do not exist, are external, or would make `parent`
/// its own ancestor.
fn check_subgroups(index: &Index, parent: &str, members: &[String]) -> Result<(), VaultError> {
    let above = index.ancestors(parent);
    for member in members {
        let group = index
            .group(member)
            .ok_or_else(|| invalid(format!("group id {member:?} does not exist")))?;
        if group.kind == GroupKind::External {
            // Vault allows it; refused here so an external group's members
            // stay exactly what logins say.
            return Err(invalid(format!(
                "group {member:?} is external; only internal groups can be member groups"
            )));
        }
        if member == parent || above.contains(member) {
            return Err(invalid(format!(
                "member group ID {member:?} is already in the parent group hierarchy"
            )));
        }
    }
    Ok(())
}

/// Reads the group `key` names; with `missing_is_empty`, nothing found is
/// an empty answer (`lookup/group`), else not found.
pub(super) async fn read_group(
    ctx: &Ctx<'_>,
    key: Key<'_>,
    missing_is_empty: bool,
) -> Result<Response, VaultError> {
    ctx.read_one("group", missing_is_empty, |index| {
        index.group_at(key).map(|g| group_json(index, g))
    })
    .await
}

/// Deletes a group, and takes it out of the groups it was a member of.
pub(super) async fn delete_group(ctx: &Ctx<'_>, key: Key<'_>) -> Result<Response, VaultError> {
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let mut changes = Changes::default();
            if let Some(group) = index.group_at(key) {
                for parent in index
                    .groups()
                    .filter(|g| g.member_group_ids.contains(&group.id) && g.id != group.id)
                {
                    let mut p = (**parent).clone();
                    p.member_group_ids.retain(|m| *m != group.id);
                    p.last_update_time = now;
                    changes.groups.push(p);
                }
                changes.deleted_groups.push(group.id.clone());
            }
            Ok((changes, Response::default()))
        })
        .await
}

/// `LIST identity/group/id` or `identity/group/name`.
pub(super) async fn list_groups(ctx: &Ctx<'_>, by_name: bool) -> Result<Response, VaultError> {
    ctx.store
        .read(ctx.barrier, |index| {
            let mut keys = Vec::new();
            let mut info = serde_json::Map::new();
            for g in index.groups() {
                let key = if by_name { &g.name } else { &g.id };
                keys.push(key.clone());
                info.insert(key.clone(), json!({ "id": g.id, "name": g.name }));
            }
            keys.sort();
            Response::with_data(object(json!({ "keys": keys, "key_info": info })))
        })
        .await
}

/// `identity/group-alias` (create, or update with `id`) and
/// `identity/group-alias/id/<id>` (update): an external group's name on one
/// auth mount.
pub(super) async fn write_group_alias(
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
    let fresh = random::uuid_v4()?;
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let mut changes = Changes::default();
            let current = match &id {
                Some(id) => Some(
                    index
                        .group_by_alias_id(id)
                        .ok_or_else(|| invalid(format!("group alias id {id:?} does not exist")))?,
                ),
                None => None,
            };
            let mut alias = current
                .and_then(|g| g.alias.clone())
                .unwrap_or_else(|| GroupAlias {
                    id: fresh.clone(),
                    creation_time: now,
                    ..GroupAlias::default()
                });
            if let Some(n) = &name {
                alias.name = n.clone();
            }
            if let Some(a) = &accessor {
                alias.mount_accessor = a.clone();
            }
            if alias.name.is_empty() || alias.mount_accessor.is_empty() {
                return Err(invalid("name and mount_accessor are required"));
            }
            let mount = ctx.auth_mount(&alias.mount_accessor)?;
            alias.mount_type = mount.kind.clone();
            alias.mount_path = mount.path.clone();
            alias.last_update_time = now;
            let group_id = canonical
                .clone()
                .or_else(|| current.map(|g| g.id.clone()))
                .ok_or_else(|| invalid("canonical_id is required"))?;
            let mut group = (**index
                .group(&group_id)
                .ok_or_else(|| invalid(format!("group id {group_id:?} does not exist")))?)
            .clone();
            if group.kind != GroupKind::External {
                return Err(invalid("only external groups can have an alias"));
            }
            if let Some(other) = index.group_by_alias(&alias.mount_accessor, &alias.name)
                && other.alias.as_ref().is_some_and(|a| a.id != alias.id)
            {
                return Err(invalid(format!(
                    "group alias {:?} on mount accessor {:?} already belongs to group {}",
                    alias.name, alias.mount_accessor, other.id
                )));
            }
            if group.alias.as_ref().is_some_and(|a| a.id != alias.id) {
                return Err(invalid(format!("group {} already has an alias", group.id)));
            }
            if let Some(old) = current
                && old.id != group.id
            {
                let mut old = (**old).clone();
                old.alias = None;
                old.last_update_time = now;
                changes.groups.push(old);
            }
            alias.canonical_id = group.id.clone();
            group.alias = Some(alias.clone());
            group.last_update_time = now;
            changes.groups.push(group);
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

/// `identity/group-alias/id/<id>`: read.
pub(super) async fn read_group_alias(ctx: &Ctx<'_>, id: &str) -> Result<Response, VaultError> {
    ctx.read_one("group alias", false, |index| {
        index
            .group_by_alias_id(id)
            .and_then(|g| g.alias.as_ref())
            .map(group_alias_json)
    })
    .await
}

/// `identity/group-alias/id/<id>`: delete.
pub(super) async fn delete_group_alias(ctx: &Ctx<'_>, id: &str) -> Result<Response, VaultError> {
    let now = ctx.now;
    ctx.store
        .change(ctx.barrier, |index| {
            let mut changes = Changes::default();
            if let Some(group) = index.group_by_alias_id(id) {
                let mut g = (**group).clone();
                g.alias = None;
                g.last_update_time = now;
                changes.groups.push(g);
            }
            Ok((changes, Response::default()))
        })
        .await
}

/// `LIST identity/group-alias/id`.
pub(super) async fn list_group_aliases(ctx: &Ctx<'_>) -> Result<Response, VaultError> {
    ctx.store
        .read(ctx.barrier, |index| {
            let mut keys = Vec::new();
            let mut info = serde_json::Map::new();
            for a in index.groups().filter_map(|g| g.alias.as_ref()) {
                keys.push(a.id.clone());
                info.insert(a.id.clone(), group_alias_json(a));
            }
            keys.sort();
            Response::with_data(object(json!({ "keys": keys, "key_info": info })))
        })
        .await
}

/// A group as Vault shows it.
pub(super) fn group_json(index: &Index, group: &Group) -> Value {
    let parents: Vec<&String> = index
        .groups()
        .filter(|g| g.member_group_ids.contains(&group.id))
        .map(|g| &g.id)
        .collect();
    let list_or_null = |l: &Vec<String>| {
        if l.is_empty() { Value::Null } else { json!(l) }
    };
    json!({
        "id": group.id,
        "name": group.name,
        "type": group.kind.as_str(),
        "policies": group.policies,
        "metadata": if group.metadata.is_empty() { Value::Null } else { json!(group.metadata) },
        "member_entity_ids": list_or_null(&group.member_entity_ids),
        "member_group_ids": list_or_null(&group.member_group_ids),
        "parent_group_ids": if parents.is_empty() { Value::Null } else { json!(parents) },
        "alias": group.alias.as_ref().map(group_alias_json).unwrap_or_else(|| json!({})),
        "creation_time": clock::rfc3339(group.creation_time),
        "last_update_time": clock::rfc3339(group.last_update_time),
        "namespace_id": "root",
    })
}

fn group_alias_json(alias: &GroupAlias) -> Value {
    json!({
        "id": alias.id,
        "canonical_id": alias.canonical_id,
        "mount_accessor": alias.mount_accessor,
        "mount_path": alias.mount_path,
        "mount_type": alias.mount_type,
        "name": alias.name,
        "creation_time": clock::rfc3339(alias.creation_time),
        "last_update_time": clock::rfc3339(alias.last_update_time),
    })
}
