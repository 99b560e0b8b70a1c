//! The versioned data paths: `data/<key>` (read, write, patch, soft-delete the
//! latest) and `delete/`, `undelete/`, `destroy/<key>` (act on chosen versions).
//!
//! Every function here that writes expects the caller to hold the key's lock
//! (see `KvV2::lock`), and stores all it changes in one `View::batch`.

use serde_json::Value;

use super::params;
use super::record::{self, KeyMetadata, MountConfig, VersionMeta};
use crate::barrier::BarrierOp;
use crate::clock;
use crate::engines::{EngineError, View};
use crate::request::{Data, Response};

/// What `delete/`, `undelete/` and `destroy/` do to each chosen version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum VersionAction {
    /// Set the deletion time; the data stays for an undelete.
    SoftDelete,
    /// Clear the deletion time; a destroyed version stays destroyed.
    Undelete,
    /// Remove the data for good.
    Destroy,
}

/// The CAS rules: a given `cas` must equal the current version (0 for a key
/// never written), and a mount or key that requires CAS refuses a write without.
fn check_cas(
    config: &MountConfig,
    meta: Option<&KeyMetadata>,
    cas: Option<u64>,
) -> Result<(), EngineError> {
    let current = meta.map_or(0, |m| m.current_version);
    match cas {
        Some(cas) if cas != current => Err(EngineError::Conflict(
            "check-and-set parameter did not match the current version".into(),
        )),
        Some(_) => Ok(()),
        None if config.cas_required || meta.is_some_and(|m| m.cas_required) => Err(
            EngineError::InvalidRequest("check-and-set parameter required for this call".into()),
        ),
        None => Ok(()),
    }
}

/// `data/<key>` read: the latest version, or the one asked for in `version`.
pub(super) async fn read(view: &View<'_>, key: &str, data: &Data) -> Result<Response, EngineError> {
    let not_found = || EngineError::NotFound(format!("data/{key}"));
    let meta = record::shared_meta(view, key)
        .await?
        .ok_or_else(not_found)?;
    let version = match params::opt_u64(data, "version")? {
        // 0 means the latest, as in Vault.
        Some(0) | None => meta.current_version,
        Some(n) => n,
    };
    let version_meta = meta
        .versions
        .get(&version)
        .filter(|v| v.is_live())
        .ok_or_else(not_found)?;
    // A trim by a concurrent write may remove the data between the two reads.
    let secret = record::load_version(view, key, version)
        .await?
        .ok_or_else(not_found)?;
    let mut out = Data::new();
    out.insert("data".into(), Value::Object(secret));
    out.insert(
        "metadata".into(),
        Value::Object(meta.version_data(version, version_meta)),
    );
    Ok(Response::with_data(out))
}

/// Appends `secret` as `key`'s next version, trims the oldest versions beyond
/// the limit, and stores both in one batch. Returns the new version's metadata.
async fn store_next_version(
    view: &View<'_>,
    key: &str,
    config: &MountConfig,
    mut meta: KeyMetadata,
    secret: &Data,
) -> Result<Response, EngineError> {
    let now = clock::now_unix();
    let version = meta
        .current_version
        .checked_add(1)
        .ok_or_else(|| EngineError::InvalidRequest(format!("{key:?} has no versions left")))?;
    let version_meta = VersionMeta {
        created_time: now,
        ..VersionMeta::default()
    };
    meta.versions.insert(version, version_meta.clone());
    meta.current_version = version;
    meta.updated_time = now;
    let trimmed = meta.trim(meta.effective_max_versions(config));

    let mut ops = vec![record::put(record::version_path(key, version), secret)?];
    ops.extend(trimmed.into_iter().map(|old| BarrierOp::Delete {
        path: record::version_path(key, old),
    }));
    ops.push(record::put(record::meta_path(key), &meta)?);
    view.batch(ops).await?;
    Ok(Response::with_data(
        meta.version_data(version, &version_meta),
    ))
}

/// `data/<key>` create or update: `{"data": {...}, "options": {"cas": N}}`.
pub(super) async fn write(
    view: &View<'_>,
    key: &str,
    data: &Data,
) -> Result<Response, EngineError> {
    let secret = params::secret_data(data)?;
    let cas = params::cas(data)?;
    let config = record::load_config(view).await?;
    let meta = record::load_meta(view, key).await?;
    check_cas(&config, meta.as_ref(), cas)?;
    let meta = meta.unwrap_or_else(|| KeyMetadata::new(clock::now_unix()));
    store_next_version(view, key, &config, meta, secret).await
}

/// `data/<key>` patch: merges `data` into the latest version as a new version.
pub(super) async fn patch(
    view: &View<'_>,
    key: &str,
    data: &Data,
) -> Result<Response, EngineError> {
    let not_found = || EngineError::NotFound(format!("data/{key}"));
    let patch = params::secret_data(data)?;
    let cas = params::cas(data)?;
    let config = record::load_config(view).await?;
    let meta = record::load_meta(view, key).await?.ok_or_else(not_found)?;
    check_cas(&config, Some(&meta), cas)?;
    let current = meta.current_version;
    if !meta
        .versions
        .get(&current)
        .is_some_and(VersionMeta::is_live)
    {
        return Err(not_found());
    }
    let latest = record::load_version(view, key, current)
        .await?
        .ok_or_else(not_found)?;
    let mut merged = Value::Object(latest);
    params::merge_patch(&mut merged, &Value::Object(patch.clone()));
    let Value::Object(merged) = merged else {
        // Merging an object into an object yields an object.
        return Err(EngineError::InvalidRequest(
            "the patch did not yield an object".into(),
        ));
    };
    store_next_version(view, key, &config, meta, &merged).await
}

/// `data/<key>` delete: soft-deletes the latest version. Nothing to delete (no
/// key, or the latest is already deleted or destroyed) is not an error.
pub(super) async fn delete_latest(view: &View<'_>, key: &str) -> Result<Response, EngineError> {
    let Some(mut meta) = record::load_meta(view, key).await? else {
        return Ok(Response::default());
    };
    let current = meta.current_version;
    match meta.versions.get_mut(&current) {
        Some(v) if v.is_live() => v.deletion_time = Some(clock::now_unix()),
        _ => return Ok(Response::default()),
    }
    view.batch(vec![record::put(record::meta_path(key), &meta)?])
        .await?;
    Ok(Response::default())
}

/// `delete/`, `undelete/` or `destroy/<key>` with `{"versions": [...]}`. Versions
/// the key does not have are skipped, as Vault does; so is a missing key.
pub(super) async fn apply_to_versions(
    view: &View<'_>,
    key: &str,
    data: &Data,
    action: VersionAction,
) -> Result<Response, EngineError> {
    let versions = params::versions(data)?;
    let Some(mut meta) = record::load_meta(view, key).await? else {
        return Ok(Response::default());
    };
    let now = clock::now_unix();
    let mut ops = Vec::new();
    for number in versions {
        let Some(v) = meta.versions.get_mut(&number) else {
            continue;
        };
        match action {
            VersionAction::SoftDelete if !v.destroyed && v.deletion_time.is_none() => {
                v.deletion_time = Some(now);
            }
            VersionAction::Undelete if !v.destroyed => v.deletion_time = None,
            VersionAction::Destroy if !v.destroyed => {
                v.destroyed = true;
                ops.push(BarrierOp::Delete {
                    path: record::version_path(key, number),
                });
            }
            _ => {}
        }
    }
    ops.push(record::put(record::meta_path(key), &meta)?);
    view.batch(ops).await?;
    Ok(Response::default())
}
