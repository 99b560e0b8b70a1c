//! The identity store's records, as stored behind the barrier: an entity
//! (one person or service) with its aliases (who it is to each auth mount),
//! and a group (internal, with members named by id; or external, whose
//! members an auth method names at each login through the group's alias).
//! Times are Unix seconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One person or service, however many auth methods it logs in through.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// A UUID.
    pub id: String,
    /// Unique among entities; `entity_<8 hex>` when made by a login.
    pub name: String,
    /// Set by operators; policy templates read it.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Policies every token of this entity holds, on top of its own.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Its tokens are refused while set (not revoked: clearing it lets them
    /// in again), and it cannot log in.
    #[serde(default)]
    pub disabled: bool,
    /// At most one per auth mount.
    #[serde(default)]
    pub aliases: Vec<Alias>,
    /// Entities merged into this one: tokens that still name them resolve
    /// here.
    #[serde(default)]
    pub merged_entity_ids: Vec<String>,
    /// When made.
    pub creation_time: u64,
    /// When last changed.
    pub last_update_time: u64,
}

/// Who an entity is to one auth mount: the name that mount knows it by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// A UUID.
    pub id: String,
    /// The entity it belongs to.
    pub canonical_id: String,
    /// The auth mount's accessor; with `name`, unique in the store.
    pub mount_accessor: String,
    /// The auth method (`userpass`, `jwt`), for display.
    #[serde(default)]
    pub mount_type: String,
    /// The mount's path, for display.
    #[serde(default)]
    pub mount_path: String,
    /// The name the auth method gives (a username, a JWT's `sub`).
    pub name: String,
    /// Set by the auth method at each login (`claim_mappings`, a service
    /// account's namespace).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Set by operators.
    #[serde(default)]
    pub custom_metadata: BTreeMap<String, String>,
    /// When made.
    pub creation_time: u64,
    /// When last changed.
    pub last_update_time: u64,
}

/// Internal or external.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    /// Members are named by operators: entities and other groups.
    #[default]
    Internal,
    /// Members are the entities an auth method says belong, at each login,
    /// through the group's alias on that method's mount.
    External,
}

impl GroupKind {
    /// Vault's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Internal => "internal",
            GroupKind::External => "external",
        }
    }
}

/// A set of entities (and, for an internal group, of other groups) that
/// share policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// A UUID.
    pub id: String,
    /// Unique among groups.
    pub name: String,
    /// Internal or external.
    #[serde(rename = "type")]
    pub kind: GroupKind,
    /// Policies every member's tokens hold.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Set by operators.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Entities in it.
    #[serde(default)]
    pub member_entity_ids: Vec<String>,
    /// Groups in it (internal groups only): their members are members here
    /// too.
    #[serde(default)]
    pub member_group_ids: Vec<String>,
    /// An external group's name on one auth mount.
    #[serde(default)]
    pub alias: Option<GroupAlias>,
    /// When made.
    pub creation_time: u64,
    /// When last changed.
    pub last_update_time: u64,
}

/// An external group's name on one auth mount (a directory group, a JWT
/// `groups` claim value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAlias {
    /// A UUID.
    pub id: String,
    /// The group's id.
    pub canonical_id: String,
    /// The auth mount's accessor.
    pub mount_accessor: String,
    /// The auth method, for display.
    #[serde(default)]
    pub mount_type: String,
    /// The mount's path, for display.
    #[serde(default)]
    pub mount_path: String,
    /// The name the auth method gives the group.
    pub name: String,
    /// When made.
    pub creation_time: u64,
    /// When last changed.
    pub last_update_time: u64,
}
