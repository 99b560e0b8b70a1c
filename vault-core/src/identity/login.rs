//! A login's part in the identity store: the entity behind the alias the
//! auth method named is found, or made with that alias; the alias's
//! metadata is brought up to what the method says now; and, when the method
//! names the caller's groups, the entity joins the external groups whose
//! aliases on that mount are named and leaves the others there. A login that
//! changes nothing writes nothing.

use std::collections::{BTreeMap, BTreeSet};

use crate::barrier::Barrier;
use crate::error::VaultError;
use crate::random;
use crate::router::MountEntry;

use super::index::Index;
use super::model::{Alias, Entity, Group, GroupKind};
use super::store::{Changes, IdentityStore};

/// What an auth method says of the caller, for the identity store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginIdentity<'a> {
    /// The mount logged in through.
    pub mount: &'a MountEntry,
    /// The alias name (a username, a JWT's `sub`).
    pub name: &'a str,
    /// The alias's metadata.
    pub metadata: &'a BTreeMap<String, String>,
    /// The caller's groups by their names on the mount, when the method
    /// knows them; `None` leaves external group membership as it is.
    pub groups: Option<&'a [String]>,
}

impl IdentityStore {
    /// The id of the entity `login` names, made if needed, with its alias and
    /// external groups brought up to date.
    pub(crate) async fn entity_for_login(
        &self,
        barrier: &Barrier,
        login: LoginIdentity<'_>,
        now: u64,
    ) -> Result<String, VaultError> {
        let unchanged = self
            .read(barrier, |index| {
                let entity = index.entity_by_alias(&login.mount.accessor, login.name)?;
                let plan = plan(index, login, Some(entity), now);
                plan.changes.is_empty_for_login().then(|| entity.id.clone())
            })
            .await?;
        if let Some(id) = unchanged {
            return Ok(id);
        }
        let ids = [random::uuid_v4()?, random::uuid_v4()?];
        self.change(barrier, |index| {
            let existing = index.entity_by_alias(&login.mount.accessor, login.name);
            let mut plan = plan(index, login, existing, now);
            if existing.is_none() {
                plan.create(index, login, &ids, now);
            }
            let id = plan.entity_id.clone();
            Ok((plan.changes, id))
        })
        .await
    }
}

/// What a login changes.
struct Plan {
    entity_id: String,
    changes: Changes,
}

impl Changes {
    fn is_empty_for_login(&self) -> bool {
        self.entities.is_empty() && self.groups.is_empty()
    }
}

/// The changes for an existing entity (its alias's metadata, its external
/// groups on the mount); for a new one, only the groups (see
/// [`Plan::create`]).
fn plan(
    index: &Index,
    login: LoginIdentity<'_>,
    entity: Option<&std::sync::Arc<Entity>>,
    now: u64,
) -> Plan {
    let mut changes = Changes::default();
    let entity_id = entity.map(|e| e.id.clone()).unwrap_or_default();
    if let Some(entity) = entity {
        let stale = entity.aliases.iter().any(|a| {
            a.mount_accessor == login.mount.accessor
                && a.name == login.name
                && a.metadata != *login.metadata
        });
        if stale {
            let mut updated = (**entity).clone();
            for alias in &mut updated.aliases {
                if alias.mount_accessor == login.mount.accessor && alias.name == login.name {
                    alias.metadata = login.metadata.clone();
                    alias.last_update_time = now;
                }
            }
            changes.entities.push(updated);
        }
        changes.groups = group_changes(index, login, &entity_id, now);
    }
    Plan { entity_id, changes }
}

impl Plan {
    /// A new entity holding the login's alias; `ids` are the entity's and
    /// the alias's.
    fn create(&mut self, index: &Index, login: LoginIdentity<'_>, ids: &[String; 2], now: u64) {
        let [entity_id, alias_id] = ids;
        let short = format!("entity_{}", &entity_id[..8]);
        let name = if index.entity_by_name(&short).is_none() {
            short
        } else {
            format!("entity_{entity_id}")
        };
        self.entity_id = entity_id.clone();
        self.changes.entities.push(Entity {
            id: entity_id.clone(),
            name,
            aliases: vec![Alias {
                id: alias_id.clone(),
                canonical_id: entity_id.clone(),
                mount_accessor: login.mount.accessor.clone(),
                mount_type: login.mount.kind.clone(),
                mount_path: login.mount.path.clone(),
                name: login.name.to_owned(),
                metadata: login.metadata.clone(),
                creation_time: now,
                last_update_time: now,
                ..Alias::default()
            }],
            creation_time: now,
            last_update_time: now,
            ..Entity::default()
        });
        self.changes.groups = group_changes(index, login, entity_id, now);
    }
}

/// The external groups on the login's mount that `entity_id` must join or
/// leave for its membership to be what the login says.
fn group_changes(index: &Index, login: LoginIdentity<'_>, entity_id: &str, now: u64) -> Vec<Group> {
    let Some(names) = login.groups else {
        return Vec::new();
    };
    let accessor = &login.mount.accessor;
    let wanted: BTreeSet<&str> = names
        .iter()
        .filter_map(|name| index.group_by_alias(accessor, name))
        .filter(|g| g.kind == GroupKind::External)
        .map(|g| g.id.as_str())
        .collect();
    let mut changed = Vec::new();
    for group in index.direct_groups(entity_id) {
        let on_mount = group
            .alias
            .as_ref()
            .is_some_and(|a| a.mount_accessor == *accessor);
        if group.kind == GroupKind::External && on_mount && !wanted.contains(group.id.as_str()) {
            let mut left = (**group).clone();
            left.member_entity_ids.retain(|id| id != entity_id);
            left.last_update_time = now;
            changed.push(left);
        }
    }
    for id in wanted {
        if let Some(group) = index.group(id)
            && !group.member_entity_ids.iter().any(|m| m == entity_id)
        {
            let mut joined = (**group).clone();
            joined.member_entity_ids.push(entity_id.to_owned());
            joined.last_update_time = now;
            changed.push(joined);
        }
    }
    changed
}
