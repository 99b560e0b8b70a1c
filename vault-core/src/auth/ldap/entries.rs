//! `users/<name>` and `groups/<name>`: policies (and, for a user, extra
//! group names) the vault adds to what the directory says. Names compare
//! case-insensitively unless the config's `case_sensitive_names` is set, as
//! in Vault.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::engines::{EngineError, View};
use crate::error::field;
use crate::params;
use crate::request::{Data, Response};

/// A user's or a group's entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Mapping {
    /// Canonical policy names.
    pub policies: Vec<String>,
    /// For a user: groups it is in here, besides the directory's.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `users/` or `groups/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Users,
    Groups,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Users => "users/",
            Kind::Groups => "groups/",
        }
    }
}

/// A name as stored: lower-cased unless names are case-sensitive; bounded.
pub(super) fn key(name: &str, case_sensitive: bool) -> Result<String, EngineError> {
    if name.is_empty()
        || name.len() > 256
        || name.contains('/')
        || name.chars().any(char::is_control)
    {
        return Err(EngineError::InvalidRequest(format!(
            "name {name:?} is not valid: 1 to 256 characters, no '/'"
        )));
    }
    Ok(if case_sensitive {
        name.to_owned()
    } else {
        name.to_lowercase()
    })
}

/// The entry of `name` (already a key), if any.
pub(super) async fn load(
    view: &View<'_>,
    kind: Kind,
    name: &str,
) -> Result<Option<Mapping>, EngineError> {
    match view.get(&format!("{}{name}", kind.prefix())).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(bytes.expose_secret())
            .map(Some)
            .map_err(|e| EngineError::InvalidRequest(format!("stored entry unreadable: {e}"))),
    }
}

/// Serves `users/<name>` and `groups/<name>` (read, write, delete) and the
/// lists.
pub(super) async fn serve(
    view: &View<'_>,
    kind: Kind,
    name: Option<&str>,
    operation: crate::request::Operation,
    data: &Data,
    case_sensitive: bool,
) -> Result<Response, EngineError> {
    use crate::request::Operation::{Create, Delete, List, Read, Update};
    let Some(name) = name else {
        if operation == List {
            let mut keys = view.list(kind.prefix()).await?;
            keys.retain(|k| !k.ends_with('/'));
            return Ok(Response::with_data(crate::error::object(
                json!({ "keys": keys }),
            )));
        }
        return Err(EngineError::InvalidRequest("a name is required".into()));
    };
    let name = key(name, case_sensitive)?;
    let path = format!("{}{name}", kind.prefix());
    match operation {
        Read => match load(view, kind, &name).await? {
            Some(m) => Ok(Response::with_data(crate::error::object(show(kind, &m)))),
            None => Err(EngineError::NotFound(path)),
        },
        Create | Update => {
            let mut mapping = load(view, kind, &name).await?.unwrap_or_default();
            let mut fields = crate::auth::token_fields::TokenFields::default();
            if data.contains_key("policies") || data.contains_key("token_policies") {
                fields.apply(data)?;
                mapping.policies = fields.policies;
            }
            if kind == Kind::Users
                && let Some(groups) = field(params::string_list(data, "groups"))?
            {
                mapping.groups = groups
                    .into_iter()
                    .filter(|g| !g.is_empty())
                    .map(|g| key(&g, case_sensitive))
                    .collect::<Result<_, _>>()?;
            }
            let bytes = serde_json::to_vec(&mapping)
                .map_err(|e| EngineError::InvalidRequest(format!("cannot encode {path}: {e}")))?;
            view.put(&path, &bytes).await?;
            Ok(Response::default())
        }
        Delete => {
            view.delete(&path).await?;
            Ok(Response::default())
        }
        List => Err(EngineError::InvalidRequest(
            "list the folder, not a name".into(),
        )),
        other => Err(EngineError::UnsupportedOperation {
            operation: other,
            path,
        }),
    }
}

fn show(kind: Kind, mapping: &Mapping) -> Value {
    match kind {
        Kind::Users => json!({ "policies": mapping.policies, "groups": mapping.groups.join(",") }),
        Kind::Groups => json!({ "policies": mapping.policies }),
    }
}
