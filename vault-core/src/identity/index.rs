//! The identity store in memory: every entity and group, with the indexes a
//! login and a request look them up by (alias, name, merged id, the groups
//! an entity is in), kept up to date record by record so that a change
//! costs what it touches, not the size of the store.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use super::model::{Entity, Group};

/// Groups followed upwards at most when collecting an entity's groups: the
/// hierarchy has no cycles (writes refuse them), and this bounds the walk
/// even if storage held one.
pub(super) const MAX_GROUP_WALK: usize = 4096;

/// An (auth mount accessor, name) pair.
type AliasKey = (String, String);

/// What an entity or a group is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key<'a> {
    /// Its id (for an entity, also an id merged into it).
    Id(&'a str),
    /// Its name.
    Name(&'a str),
    /// The id of one of its aliases.
    AliasId(&'a str),
    /// One of its aliases: a name on the auth mount with this accessor.
    Alias {
        /// The auth mount's accessor.
        accessor: &'a str,
        /// The alias's name there.
        name: &'a str,
    },
}

/// Every record, and the indexes over them.
#[derive(Debug, Default)]
pub(crate) struct Index {
    entities: HashMap<String, Arc<Entity>>,
    entity_names: HashMap<String, String>,
    aliases: HashMap<AliasKey, String>,
    alias_ids: HashMap<String, String>,
    merged: HashMap<String, String>,
    groups: HashMap<String, Arc<Group>>,
    group_names: HashMap<String, String>,
    group_aliases: HashMap<AliasKey, String>,
    group_alias_ids: HashMap<String, String>,
    // Entity id -> the groups naming it a member.
    entity_groups: HashMap<String, BTreeSet<String>>,
    // Group id -> the groups naming it a member group.
    parent_groups: HashMap<String, BTreeSet<String>>,
}

impl Index {
    /// Adds `entity`, or replaces the entity with its id.
    pub(super) fn put_entity(&mut self, entity: Entity) {
        self.remove_entity(&entity.id);
        self.entity_names
            .insert(entity.name.clone(), entity.id.clone());
        for alias in &entity.aliases {
            self.aliases.insert(
                (alias.mount_accessor.clone(), alias.name.clone()),
                entity.id.clone(),
            );
            self.alias_ids.insert(alias.id.clone(), entity.id.clone());
        }
        for merged in &entity.merged_entity_ids {
            self.merged.insert(merged.clone(), entity.id.clone());
        }
        self.entities.insert(entity.id.clone(), Arc::new(entity));
    }

    /// Removes the entity `id` and its index entries; returns it.
    pub(super) fn remove_entity(&mut self, id: &str) -> Option<Arc<Entity>> {
        let old = self.entities.remove(id)?;
        self.entity_names.remove(&old.name);
        for alias in &old.aliases {
            self.aliases
                .remove(&(alias.mount_accessor.clone(), alias.name.clone()));
            self.alias_ids.remove(&alias.id);
        }
        for merged in &old.merged_entity_ids {
            self.merged.remove(merged);
        }
        Some(old)
    }

    /// Adds `group`, or replaces the group with its id.
    pub(super) fn put_group(&mut self, group: Group) {
        self.remove_group(&group.id);
        self.group_names
            .insert(group.name.clone(), group.id.clone());
        if let Some(alias) = &group.alias {
            self.group_aliases.insert(
                (alias.mount_accessor.clone(), alias.name.clone()),
                group.id.clone(),
            );
            self.group_alias_ids
                .insert(alias.id.clone(), group.id.clone());
        }
        for member in &group.member_entity_ids {
            self.entity_groups
                .entry(member.clone())
                .or_default()
                .insert(group.id.clone());
        }
        for member in &group.member_group_ids {
            self.parent_groups
                .entry(member.clone())
                .or_default()
                .insert(group.id.clone());
        }
        self.groups.insert(group.id.clone(), Arc::new(group));
    }

    /// Removes the group `id` and its index entries; returns it.
    pub(super) fn remove_group(&mut self, id: &str) -> Option<Arc<Group>> {
        let old = self.groups.remove(id)?;
        self.group_names.remove(&old.name);
        if let Some(alias) = &old.alias {
            self.group_aliases
                .remove(&(alias.mount_accessor.clone(), alias.name.clone()));
            self.group_alias_ids.remove(&alias.id);
        }
        for member in &old.member_entity_ids {
            remove_from(&mut self.entity_groups, member, id);
        }
        for member in &old.member_group_ids {
            remove_from(&mut self.parent_groups, member, id);
        }
        Some(old)
    }

    /// The entity `id`, or the one it was merged into.
    pub(crate) fn entity(&self, id: &str) -> Option<&Arc<Entity>> {
        self.entities.get(id).or_else(|| {
            self.merged
                .get(id)
                .and_then(|current| self.entities.get(current))
        })
    }

    /// The entity called `name`.
    pub(crate) fn entity_by_name(&self, name: &str) -> Option<&Arc<Entity>> {
        self.entity_names
            .get(name)
            .and_then(|id| self.entities.get(id))
    }

    /// The entity holding the alias `name` on the mount `accessor`.
    pub(crate) fn entity_by_alias(&self, accessor: &str, name: &str) -> Option<&Arc<Entity>> {
        self.aliases
            .get(&(accessor.to_owned(), name.to_owned()))
            .and_then(|id| self.entities.get(id))
    }

    /// The entity holding the alias with id `alias_id`.
    pub(crate) fn entity_by_alias_id(&self, alias_id: &str) -> Option<&Arc<Entity>> {
        self.alias_ids
            .get(alias_id)
            .and_then(|id| self.entities.get(id))
    }

    /// The entity `key` names.
    pub(crate) fn entity_at(&self, key: Key<'_>) -> Option<&Arc<Entity>> {
        match key {
            Key::Id(id) => self.entity(id),
            Key::Name(name) => self.entity_by_name(name),
            Key::AliasId(id) => self.entity_by_alias_id(id),
            Key::Alias { accessor, name } => self.entity_by_alias(accessor, name),
        }
    }

    /// Every entity.
    pub(crate) fn entities(&self) -> impl Iterator<Item = &Arc<Entity>> {
        self.entities.values()
    }

    /// The group `id`.
    pub(crate) fn group(&self, id: &str) -> Option<&Arc<Group>> {
        self.groups.get(id)
    }

    /// The group called `name`.
    pub(crate) fn group_by_name(&self, name: &str) -> Option<&Arc<Group>> {
        self.group_names
            .get(name)
            .and_then(|id| self.groups.get(id))
    }

    /// The external group whose alias on the mount `accessor` is `name`.
    pub(crate) fn group_by_alias(&self, accessor: &str, name: &str) -> Option<&Arc<Group>> {
        self.group_aliases
            .get(&(accessor.to_owned(), name.to_owned()))
            .and_then(|id| self.groups.get(id))
    }

    /// The group whose alias has id `alias_id`.
    pub(crate) fn group_by_alias_id(&self, alias_id: &str) -> Option<&Arc<Group>> {
        self.group_alias_ids
            .get(alias_id)
            .and_then(|id| self.groups.get(id))
    }

    /// The group `key` names.
    pub(crate) fn group_at(&self, key: Key<'_>) -> Option<&Arc<Group>> {
        match key {
            Key::Id(id) => self.group(id),
            Key::Name(name) => self.group_by_name(name),
            Key::AliasId(id) => self.group_by_alias_id(id),
            Key::Alias { accessor, name } => self.group_by_alias(accessor, name),
        }
    }

    /// Every group.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &Arc<Group>> {
        self.groups.values()
    }

    /// The groups naming `entity_id` a member.
    pub(crate) fn direct_groups(&self, entity_id: &str) -> Vec<&Arc<Group>> {
        self.entity_groups
            .get(entity_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.groups.get(id))
            .collect()
    }

    /// The groups above `group_id` (those it is a member of, and theirs),
    /// not counting itself.
    pub(crate) fn ancestors(&self, group_id: &str) -> BTreeSet<String> {
        self.walk_up([group_id.to_owned()].into_iter())
            .into_iter()
            .filter(|id| id != group_id)
            .collect()
    }

    /// The groups in `start` and every group above them, bounded by
    /// [`MAX_GROUP_WALK`].
    pub(crate) fn walk_up(&self, start: impl Iterator<Item = String>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<String> = start.collect();
        while let Some(id) = queue.pop_front() {
            if seen.len() >= MAX_GROUP_WALK {
                break;
            }
            if !seen.insert(id.clone()) {
                continue;
            }
            if let Some(parents) = self.parent_groups.get(&id) {
                queue.extend(parents.iter().cloned());
            }
        }
        seen
    }
}

fn remove_from(map: &mut HashMap<String, BTreeSet<String>>, key: &str, value: &str) {
    if let Some(set) = map.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::{Alias, GroupKind};

    fn entity(id: &str, name: &str, aliases: &[(&str, &str)]) -> Entity {
        Entity {
            id: id.into(),
            name: name.into(),
            aliases: aliases
                .iter()
                .enumerate()
                .map(|(i, (accessor, alias))| Alias {
                    id: format!("{id}-alias-{i}"),
                    canonical_id: id.into(),
                    mount_accessor: (*accessor).into(),
                    name: (*alias).into(),
                    ..Alias::default()
                })
                .collect(),
            ..Entity::default()
        }
    }

    fn group(id: &str, entities: &[&str], groups: &[&str]) -> Group {
        Group {
            id: id.into(),
            name: format!("name-{id}"),
            kind: GroupKind::Internal,
            member_entity_ids: entities.iter().map(|s| (*s).into()).collect(),
            member_group_ids: groups.iter().map(|s| (*s).into()).collect(),
            ..Group::default()
        }
    }

    #[test]
    fn replacing_an_entity_drops_its_old_alias_and_name() {
        let mut index = Index::default();
        index.put_entity(entity("e1", "alice", &[("userpass_1", "alice")]));
        index.put_entity(entity("e1", "alice2", &[("jwt_1", "sub-1")]));
        assert!(index.entity_by_name("alice").is_none());
        assert!(index.entity_by_alias("userpass_1", "alice").is_none());
        assert_eq!(index.entity_by_alias("jwt_1", "sub-1").unwrap().id, "e1");
        assert_eq!(index.entity_by_name("alice2").unwrap().id, "e1");
    }

    #[test]
    fn a_merged_id_finds_the_entity_it_went_into() {
        let mut index = Index::default();
        let mut target = entity("e2", "bob", &[]);
        target.merged_entity_ids.push("e1".into());
        index.put_entity(target);
        assert_eq!(index.entity("e1").unwrap().id, "e2");
        index.remove_entity("e2");
        assert!(index.entity("e1").is_none());
    }

    #[test]
    fn groups_above_an_entity_are_walked_and_a_cycle_ends() {
        let mut index = Index::default();
        index.put_group(group("g1", &["e1"], &[]));
        index.put_group(group("g2", &[], &["g1"]));
        index.put_group(group("g3", &[], &["g2"]));
        // A cycle storage should never hold; the walk still ends.
        index.put_group(group("g1", &["e1"], &["g3"]));
        let direct: Vec<_> = index
            .direct_groups("e1")
            .iter()
            .map(|g| g.id.clone())
            .collect();
        assert_eq!(direct, ["g1"]);
        let all = index.walk_up(direct.into_iter());
        assert_eq!(all.into_iter().collect::<Vec<_>>(), ["g1", "g2", "g3"]);
        index.remove_group("g1");
        assert!(index.direct_groups("e1").is_empty());
        assert!(index.ancestors("g2").contains("g3"));
    }
}
