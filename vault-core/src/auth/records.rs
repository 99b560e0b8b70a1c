//! A login method's records in its mount's view, one JSON record each: its
//! `config`, and its roles at `role/<name>`; and the paths that read and
//! write them (`config`, `role/`, `role/<name>`) beside its `login`. Shared
//! by the methods whose config and roles are plain records (`jwt`,
//! `kubernetes`); each serves its own login and config write.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::engines::{EngineError, View};
use crate::request::{Data, Operation, Response};

/// A method's paths.
pub(crate) enum Route<'a> {
    /// `config`.
    Config,
    /// `role/`: the list.
    Roles,
    /// `role/<name>`.
    Role(&'a str),
    /// `login`.
    Login,
}

/// The route of a mount-relative path, if it is one.
pub(crate) fn route(path: &str) -> Option<Route<'_>> {
    match path {
        "config" => Some(Route::Config),
        "role" | "role/" => Some(Route::Roles),
        "login" => Some(Route::Login),
        _ => path
            .strip_prefix("role/")
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(Route::Role),
    }
}

/// A record a read shows.
pub(crate) trait Shown {
    /// The record as a read answers it (no secret in it).
    fn to_json(&self) -> Value;
}

/// A role: a record a write updates field by field.
pub(crate) trait Role: Shown + Serialize + DeserializeOwned + Default {
    /// Applies a write; fields left out keep their value.
    fn apply(&mut self, data: &Data) -> Result<(), EngineError>;
}

/// Whether the record at `path` exists (a write to it is then an update).
pub(crate) async fn exists<C: DeserializeOwned, R: Role>(
    view: &View<'_>,
    path: &str,
) -> Result<bool, EngineError> {
    match route(path) {
        Some(Route::Role(name)) if check_role_name(name).is_ok() => {
            Ok(role::<R>(view, name).await?.is_some())
        }
        Some(Route::Config) => Ok(config::<C>(view).await?.is_some()),
        _ => Ok(false),
    }
}

/// Serves a config read and the role paths; `None` for what the method
/// serves itself (its login and its config write) or nobody serves.
pub(crate) async fn serve<C: Shown + DeserializeOwned, R: Role>(
    view: &View<'_>,
    route: &Route<'_>,
    operation: Operation,
    data: &Data,
) -> Option<Result<Response, EngineError>> {
    use Operation::{Create, Delete, List, Read, Update};
    let shown = |record: &dyn Shown| Response::with_data(crate::error::object(record.to_json()));
    Some(match (route, operation) {
        (Route::Config, Read) => match config::<C>(view).await {
            Ok(Some(c)) => Ok(shown(&c)),
            Ok(None) => Err(EngineError::NotFound("config".into())),
            Err(e) => Err(e),
        },
        (Route::Roles, List) => role_names(view)
            .await
            .map(|keys| Response::with_data(crate::error::object(json!({ "keys": keys })))),
        (Route::Role(name), Read) => match role::<R>(view, name).await {
            Ok(Some(r)) => Ok(shown(&r)),
            Ok(None) => Err(EngineError::NotFound(format!("role/{name}"))),
            Err(e) => Err(e),
        },
        (Route::Role(name), Create | Update) => {
            let write = async {
                let mut r: R = role(view, name).await?.unwrap_or_default();
                r.apply(data)?;
                put_role(view, name, &r).await?;
                Ok(Response::default())
            };
            write.await
        }
        (Route::Role(name), Delete) => delete_role(view, name).await.map(|()| Response::default()),
        _ => return None,
    })
}

const ROLE_PREFIX: &str = "role/";
const CONFIG_KEY: &str = "config";

/// The method's config, if written.
pub(crate) async fn config<T: DeserializeOwned>(view: &View<'_>) -> Result<Option<T>, EngineError> {
    read(view, CONFIG_KEY).await
}

/// Stores the method's config.
pub(crate) async fn put_config<T: Serialize>(
    view: &View<'_>,
    config: &T,
) -> Result<(), EngineError> {
    write(view, CONFIG_KEY, config).await
}

async fn read<T: DeserializeOwned>(view: &View<'_>, key: &str) -> Result<Option<T>, EngineError> {
    match view.get(key).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(bytes.expose_secret())
            .map(Some)
            .map_err(|e| EngineError::InvalidRequest(format!("stored {key} unreadable: {e}"))),
    }
}

async fn write<T: Serialize>(view: &View<'_>, key: &str, record: &T) -> Result<(), EngineError> {
    // The record may hold a credential (a reviewer token): wiped after use.
    let bytes = zeroize::Zeroizing::new(
        serde_json::to_vec(record)
            .map_err(|e| EngineError::InvalidRequest(format!("cannot encode {key}: {e}")))?,
    );
    view.put(key, &bytes).await?;
    Ok(())
}

/// Role names become storage keys: 1 to 128 characters, no `/`, no control
/// characters.
pub(crate) fn check_role_name(name: &str) -> Result<(), EngineError> {
    if name.is_empty()
        || name.len() > 128
        || name.contains('/')
        || name.chars().any(char::is_control)
    {
        return Err(EngineError::InvalidRequest(format!(
            "role name {name:?} is not valid: 1 to 128 characters, no '/'"
        )));
    }
    Ok(())
}

/// The role `name`, if stored.
pub(crate) async fn role<T: DeserializeOwned>(
    view: &View<'_>,
    name: &str,
) -> Result<Option<T>, EngineError> {
    check_role_name(name)?;
    read(view, &format!("{ROLE_PREFIX}{name}")).await
}

/// Stores `role` as `name`.
pub(crate) async fn put_role<T: Serialize>(
    view: &View<'_>,
    name: &str,
    role: &T,
) -> Result<(), EngineError> {
    check_role_name(name)?;
    write(view, &format!("{ROLE_PREFIX}{name}"), role).await
}

/// Removes the role `name`.
pub(crate) async fn delete_role(view: &View<'_>, name: &str) -> Result<(), EngineError> {
    check_role_name(name)?;
    view.delete(&format!("{ROLE_PREFIX}{name}")).await?;
    Ok(())
}

/// The role names.
pub(crate) async fn role_names(view: &View<'_>) -> Result<Vec<String>, EngineError> {
    let mut names = view.list(ROLE_PREFIX).await?;
    names.retain(|n| !n.ends_with('/'));
    Ok(names)
}
