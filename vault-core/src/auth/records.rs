//! Where a login method keeps its records in its mount's view, one JSON
//! record each: its `config`, and its roles at `role/<name>`. Shared by
//! the methods whose config and roles are plain records (`jwt`,
//! `kubernetes`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::engines::{EngineError, View};

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
