//! What a token's entity adds to a request, worked out from the store as it
//! is now (so a change to a group reaches live tokens on their next
//! request): whether the entity is disabled, the policies it and its groups
//! hold, and the values policy templates are filled from.

use std::collections::BTreeSet;

use crate::policy::template::IdentityContext;

use super::index::Index;

/// A token's entity, as a request sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The entity's id (the one a merged id led to).
    pub entity_id: String,
    /// Its tokens are refused.
    pub disabled: bool,
    /// The entity's policies and every group's it is in, directly or through
    /// a subgroup; sorted, without repeats.
    pub policies: Vec<String>,
    /// Ids of the groups naming the entity a member.
    pub direct_group_ids: Vec<String>,
    /// Ids of the groups above those.
    pub inherited_group_ids: Vec<String>,
    /// What policy templates are filled from.
    pub context: IdentityContext,
}

/// The entity `entity_id` (or the one it was merged into) as a request sees
/// it; `None` if it no longer exists.
pub(crate) fn resolve(index: &Index, entity_id: &str) -> Option<Resolved> {
    let entity = index.entity(entity_id)?;
    let direct: BTreeSet<String> = index
        .direct_groups(&entity.id)
        .iter()
        .map(|g| g.id.clone())
        .collect();
    let all = index.walk_up(direct.iter().cloned());
    let mut policies: BTreeSet<String> = entity.policies.iter().cloned().collect();
    let mut context = IdentityContext {
        entity_id: entity.id.clone(),
        entity_name: entity.name.clone(),
        metadata: entity.metadata.clone(),
        alias_names: entity
            .aliases
            .iter()
            .map(|a| (a.mount_accessor.clone(), a.name.clone()))
            .collect(),
        ..IdentityContext::default()
    };
    for group in all.iter().filter_map(|id| index.group(id)) {
        policies.extend(group.policies.iter().cloned());
        context
            .group_ids_by_name
            .insert(group.name.clone(), group.id.clone());
        context
            .group_names_by_id
            .insert(group.id.clone(), group.name.clone());
    }
    Some(Resolved {
        entity_id: entity.id.clone(),
        disabled: entity.disabled,
        policies: policies.into_iter().collect(),
        inherited_group_ids: all.difference(&direct).cloned().collect(),
        direct_group_ids: direct.into_iter().collect(),
        context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::{Alias, Entity, Group};

    #[test]
    fn policies_come_from_the_entity_and_every_group_above_it() {
        let mut index = Index::default();
        index.put_entity(Entity {
            id: "e1".into(),
            name: "alice".into(),
            policies: vec!["own".into()],
            aliases: vec![Alias {
                id: "a1".into(),
                canonical_id: "e1".into(),
                mount_accessor: "userpass_1".into(),
                name: "alice".into(),
                ..Alias::default()
            }],
            ..Entity::default()
        });
        index.put_group(Group {
            id: "g1".into(),
            name: "devs".into(),
            policies: vec!["dev".into(), "own".into()],
            member_entity_ids: vec!["e1".into()],
            ..Group::default()
        });
        index.put_group(Group {
            id: "g2".into(),
            name: "staff".into(),
            policies: vec!["staff".into()],
            member_group_ids: vec!["g1".into()],
            ..Group::default()
        });
        let resolved = resolve(&index, "e1").unwrap();
        assert_eq!(resolved.policies, ["dev", "own", "staff"]);
        assert_eq!(resolved.direct_group_ids, ["g1"]);
        assert_eq!(resolved.inherited_group_ids, ["g2"]);
        assert_eq!(resolved.context.group_ids_by_name["staff"], "g2");
        assert_eq!(resolved.context.alias_names["userpass_1"], "alice");
        assert!(resolve(&index, "nobody").is_none());
    }
}
