//! The handler mounted at `identity/` (built in, like `sys/`): routes
//! Vault's identity paths to the entity and group endpoints, and serves
//! `lookup/entity` and `lookup/group`.

use async_trait::async_trait;
use serde_json::json;

use crate::barrier::Barrier;
use crate::clock;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::error::VaultError;
use crate::request::{Data, Operation, Response};
use crate::router::MountTable;

use super::ctx::Ctx;
use super::fields::{self, invalid};
use super::index::Key;
use super::store::IdentityStore;
use super::{entities, groups};

/// The `identity/` handler, built per request over the store.
#[derive(Debug)]
pub(crate) struct IdentityBackend<'a> {
    /// Where the records are stored.
    pub barrier: &'a Barrier,
    /// The records.
    pub store: &'a IdentityStore,
    /// The mounts, to check and show an alias's auth mount.
    pub mounts: &'a MountTable,
    /// Login MFA's records (`identity/mfa/...`).
    pub mfa: &'a super::mfa::store::MfaStore,
}

/// The rest of a path after its head, split into what it is looked up by
/// (`id`, `name`, `merge`) and the key that follows, if any.
fn by(rest: Option<&str>) -> Option<(&str, Option<&str>)> {
    let rest = rest?;
    Some(match rest.split_once('/') {
        Some((by, key)) => (by, Some(key)),
        None => (rest, None),
    })
}

#[async_trait]
impl LogicalBackend for IdentityBackend<'_> {
    async fn handle(
        &self,
        _view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        let ctx = Ctx {
            barrier: self.barrier,
            store: self.store,
            mounts: self.mounts,
            now: clock::now_unix(),
        };
        let path = request.path.trim_end_matches('/');
        let (head, rest) = match path.split_once('/') {
            Some((h, r)) => (h, Some(r)),
            None => (path, None),
        };
        let op = request.operation;
        let write = matches!(op, Operation::Create | Operation::Update);
        let data = request.data;
        if head == "mfa" {
            let rest = rest.unwrap_or("");
            return match super::mfa::handle(&ctx, self.mfa, rest, op, data, request.caller).await? {
                Some(response) => Ok(response),
                None => Err(request.unsupported()),
            };
        }
        let response = match (head, by(rest), op) {
            ("entity", None, _) if write => entities::write_entity(&ctx, data, None).await,
            ("entity", Some(("merge", None)), _) if write => entities::merge(&ctx, data).await,
            ("entity", Some(("id" | "name", None)), Operation::List) => {
                entities::list_entities(&ctx, path.ends_with("name")).await
            }
            ("entity", Some((which @ ("id" | "name"), Some(key))), op) => {
                fields::check_name(which, key)?;
                let at = if which == "id" {
                    Key::Id(key)
                } else {
                    Key::Name(key)
                };
                match op {
                    Operation::Read => entities::read_entity(&ctx, at, false).await,
                    Operation::Delete => entities::delete_entity(&ctx, at).await,
                    _ if write && which == "name" => {
                        entities::write_entity(&ctx, data, Some(key)).await
                    }
                    _ if write => {
                        let mut with_id = data.clone();
                        with_id.insert("id".into(), json!(key));
                        entities::write_entity(&ctx, &with_id, None).await
                    }
                    _ => return Err(request.unsupported()),
                }
            }
            ("entity-alias", None, _) if write => entities::write_alias(&ctx, data, None).await,
            ("entity-alias", Some(("id", None)), Operation::List) => {
                entities::list_aliases(&ctx).await
            }
            ("entity-alias", Some(("id", Some(id))), op) => {
                fields::check_name("id", id)?;
                match op {
                    Operation::Read => entities::read_alias(&ctx, id).await,
                    Operation::Delete => entities::delete_alias(&ctx, id).await,
                    _ if write => entities::write_alias(&ctx, data, Some(id)).await,
                    _ => return Err(request.unsupported()),
                }
            }
            ("group", None, _) if write => groups::write_group(&ctx, data, None).await,
            ("group", Some(("id" | "name", None)), Operation::List) => {
                groups::list_groups(&ctx, path.ends_with("name")).await
            }
            ("group", Some((which @ ("id" | "name"), Some(key))), op) => {
                fields::check_name(which, key)?;
                let at = if which == "id" {
                    Key::Id(key)
                } else {
                    Key::Name(key)
                };
                match op {
                    Operation::Read => groups::read_group(&ctx, at, false).await,
                    Operation::Delete => groups::delete_group(&ctx, at).await,
                    _ if write => groups::write_group(&ctx, data, Some(at)).await,
                    _ => return Err(request.unsupported()),
                }
            }
            ("group-alias", None, _) if write => groups::write_group_alias(&ctx, data, None).await,
            ("group-alias", Some(("id", None)), Operation::List) => {
                groups::list_group_aliases(&ctx).await
            }
            ("group-alias", Some(("id", Some(id))), op) => {
                fields::check_name("id", id)?;
                match op {
                    Operation::Read => groups::read_group_alias(&ctx, id).await,
                    Operation::Delete => groups::delete_group_alias(&ctx, id).await,
                    _ if write => groups::write_group_alias(&ctx, data, Some(id)).await,
                    _ => return Err(request.unsupported()),
                }
            }
            ("lookup", Some(("entity", None)), _) if write => {
                let criterion = Criterion::from(data)?;
                entities::read_entity(&ctx, criterion.key(), true).await
            }
            ("lookup", Some(("group", None)), _) if write => {
                let criterion = Criterion::from(data)?;
                groups::read_group(&ctx, criterion.key(), true).await
            }
            _ => return Err(request.unsupported()),
        };
        Ok(response?)
    }
}

/// What `lookup/entity` and `lookup/group` find a record by: exactly one
/// of `id`, `name`, `alias_id`, or `alias_name` with
/// `alias_mount_accessor`. Nothing found is an empty answer (204), as in
/// Vault.
enum Criterion {
    Id(String),
    Name(String),
    AliasId(String),
    Alias { accessor: String, name: String },
}

impl Criterion {
    fn from(data: &Data) -> Result<Criterion, VaultError> {
        let id = fields::id(data, "id")?;
        let name = fields::name(data, "name")?;
        let alias_id = fields::id(data, "alias_id")?;
        let alias_name = fields::name(data, "alias_name")?;
        let alias_accessor = fields::name(data, "alias_mount_accessor")?;
        let one = || {
            invalid(
                "give exactly one of id, name, alias_id, or alias_name with alias_mount_accessor",
            )
        };
        let mut found = Vec::new();
        found.extend(id.map(Criterion::Id));
        found.extend(name.map(Criterion::Name));
        found.extend(alias_id.map(Criterion::AliasId));
        match (alias_name, alias_accessor) {
            (Some(name), Some(accessor)) => found.push(Criterion::Alias { accessor, name }),
            (None, None) => {}
            _ => return Err(one()),
        }
        if found.len() != 1 {
            return Err(one());
        }
        found.pop().ok_or_else(one)
    }

    fn key(&self) -> Key<'_> {
        match self {
            Criterion::Id(id) => Key::Id(id),
            Criterion::Name(name) => Key::Name(name),
            Criterion::AliasId(id) => Key::AliasId(id),
            Criterion::Alias { accessor, name } => Key::Alias { accessor, name },
        }
    }
}
