//! The `metadata/<key>` paths: read, write and patch a key's settings
//! (`max_versions`, `cas_required`, `custom_metadata`), delete a key with every
//! version, and list keys with Vault's folder semantics.
//!
//! Every function here that writes expects the caller to hold the key's lock
//! (see `KvV2::lock`), and stores all it changes in one `View::batch`.

use serde_json::json;

use super::params;
use super::paths;
use super::record::{self, KeyMetadata};
use crate::barrier::BarrierOp;
use crate::clock;
use crate::engines::{EngineError, View};
use crate::request::{Data, Response};

/// `metadata/<key>` read.
pub(super) async fn read(view: &View<'_>, key: &str) -> Result<Response, EngineError> {
    let meta = record::load_meta(view, key)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("metadata/{key}")))?;
    Ok(Response::with_data(meta.to_data()))
}

/// Applies the settings a write or patch names, leaving the others as they are.
/// `patch` merges `custom_metadata` instead of replacing it.
fn apply_settings(meta: &mut KeyMetadata, data: &Data, patch: bool) -> Result<(), EngineError> {
    params::refuse_delete_version_after(data)?;
    if let Some(max) = params::opt_u64(data, "max_versions")? {
        meta.max_versions = max;
    }
    if let Some(cas_required) = params::opt_bool(data, "cas_required")? {
        meta.cas_required = cas_required;
    }
    if patch {
        params::patch_custom_metadata(data, &mut meta.custom_metadata)?;
    } else if let Some(custom) = params::custom_metadata(data)? {
        meta.custom_metadata = custom;
    }
    Ok(())
}

/// Stores `meta` after a settings change, trimming versions beyond a lowered
/// limit in the same batch so the stored record never keeps more than it says.
async fn store(view: &View<'_>, key: &str, mut meta: KeyMetadata) -> Result<(), EngineError> {
    meta.updated_time = clock::now_unix();
    let config = record::load_config(view).await?;
    let trimmed = meta.trim(meta.effective_max_versions(&config));
    let mut ops: Vec<BarrierOp> = trimmed
        .into_iter()
        .map(|old| BarrierOp::Delete {
            path: record::version_path(key, old),
        })
        .collect();
    ops.push(record::put(record::meta_path(key), &meta)?);
    view.batch(ops).await?;
    Ok(())
}

/// `metadata/<key>` create or update: a key may be configured before its first
/// version is written.
pub(super) async fn write(
    view: &View<'_>,
    key: &str,
    data: &Data,
) -> Result<Response, EngineError> {
    let mut meta = record::load_meta(view, key)
        .await?
        .unwrap_or_else(|| KeyMetadata::new(clock::now_unix()));
    apply_settings(&mut meta, data, false)?;
    store(view, key, meta).await?;
    Ok(Response::default())
}

/// `metadata/<key>` patch: only an existing key.
pub(super) async fn patch(
    view: &View<'_>,
    key: &str,
    data: &Data,
) -> Result<Response, EngineError> {
    let mut meta = record::load_meta(view, key)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("metadata/{key}")))?;
    apply_settings(&mut meta, data, true)?;
    store(view, key, meta).await?;
    Ok(Response::default())
}

/// `metadata/<key>` delete: the key and every version, for good. A missing key
/// is not an error.
pub(super) async fn delete(view: &View<'_>, key: &str) -> Result<Response, EngineError> {
    let Some(meta) = record::load_meta(view, key).await? else {
        return Ok(Response::default());
    };
    // Trimmed versions were deleted when they were trimmed; the map holds the rest.
    let mut ops: Vec<BarrierOp> = meta
        .versions
        .keys()
        .map(|&version| BarrierOp::Delete {
            path: record::version_path(key, version),
        })
        .collect();
    ops.push(BarrierOp::Delete {
        path: record::meta_path(key),
    });
    view.batch(ops).await?;
    Ok(Response::default())
}

/// `metadata/<prefix>` list: the keys and folders directly under `prefix`.
pub(super) async fn list(view: &View<'_>, prefix: &str) -> Result<Response, EngineError> {
    let folder = paths::list_folder(prefix)?;
    let keys = view.list(&record::meta_path(&folder)).await?;
    if keys.is_empty() {
        return Err(EngineError::NotFound(format!("metadata/{folder}")));
    }
    let mut out = Data::new();
    out.insert("keys".into(), json!(keys));
    Ok(Response::with_data(out))
}
