//! What the KV v2 engine keeps in its view, how it is encoded, and how it is
//! shown to callers. The storage layout is described in the module docs
//! (`kv/mod.rs`); this file is the only one that builds storage keys.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock;
use crate::engines::{EngineError, View};
use crate::request::Data;

/// Versions kept per key when neither the key nor the mount says otherwise.
pub(super) const DEFAULT_MAX_VERSIONS: u64 = 10;

/// Where the mount's settings live.
pub(super) const CONFIG_PATH: &str = "config";

/// The storage key of `key`'s metadata.
pub(super) fn meta_path(key: &str) -> String {
    format!("meta/{key}")
}

/// The storage key of version `version` of `key`. Keys are addressed only by exact
/// version number taken from the metadata, never by listing `ver/`: `ver/a/1`
/// (version 1 of `a`) and `ver/a/1/2` (version 2 of `a/1`) share a prefix.
pub(super) fn version_path(key: &str, version: u64) -> String {
    format!("ver/{key}/{version}")
}

/// The mount's settings (`config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct MountConfig {
    /// Versions kept per key; 0 means [`DEFAULT_MAX_VERSIONS`].
    pub(super) max_versions: u64,
    /// Every write to the mount must carry `options.cas`.
    pub(super) cas_required: bool,
}

impl MountConfig {
    /// The settings as `config` reads show them.
    pub(super) fn to_data(&self) -> Data {
        object(json!({
            "max_versions": self.max_versions,
            "cas_required": self.cas_required,
            "delete_version_after": "0s",
        }))
    }
}

/// One version's bookkeeping. Its data lives apart, under [`version_path`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct VersionMeta {
    /// When it was written, seconds since the epoch.
    pub(super) created_time: u64,
    /// When it was soft-deleted, if it is.
    pub(super) deletion_time: Option<u64>,
    /// Its data is gone for good.
    pub(super) destroyed: bool,
}

impl VersionMeta {
    /// True if its data can be read: neither soft-deleted nor destroyed.
    pub(super) fn is_live(&self) -> bool {
        self.deletion_time.is_none() && !self.destroyed
    }
}

/// Everything known about one key except its versions' data (`meta/<key>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct KeyMetadata {
    /// When the key (its first version or its metadata) was written.
    pub(super) created_time: u64,
    /// When a version or the metadata was last written.
    pub(super) updated_time: u64,
    /// The newest version; 0 before the first write.
    pub(super) current_version: u64,
    /// The oldest version kept once trimming has begun; 0 until then, as in Vault.
    pub(super) oldest_version: u64,
    /// Versions kept for this key; 0 defers to the mount.
    pub(super) max_versions: u64,
    /// Writes to this key must carry `options.cas`.
    pub(super) cas_required: bool,
    /// The operator's own labels.
    pub(super) custom_metadata: BTreeMap<String, String>,
    /// The versions still known, oldest first.
    pub(super) versions: BTreeMap<u64, VersionMeta>,
}

impl KeyMetadata {
    /// Metadata for a key first seen at `now`.
    pub(super) fn new(now: u64) -> Self {
        KeyMetadata {
            created_time: now,
            updated_time: now,
            ..KeyMetadata::default()
        }
    }

    /// The versions to keep: the key's own setting, else the mount's, else 10.
    pub(super) fn effective_max_versions(&self, config: &MountConfig) -> u64 {
        [self.max_versions, config.max_versions]
            .into_iter()
            .find(|&n| n > 0)
            .unwrap_or(DEFAULT_MAX_VERSIONS)
    }

    /// Forgets the oldest versions beyond `max`; returns their numbers, whose
    /// data the caller deletes in the same batch that stores this metadata.
    pub(super) fn trim(&mut self, max: u64) -> Vec<u64> {
        let mut removed = Vec::new();
        while self.versions.len() as u64 > max {
            match self.versions.pop_first() {
                Some((version, _)) => removed.push(version),
                None => break,
            }
        }
        if !removed.is_empty()
            && let Some(&oldest) = self.versions.keys().next()
        {
            self.oldest_version = oldest;
        }
        removed
    }

    /// `custom_metadata` as Vault shows it: null when there is none.
    fn custom_metadata_value(&self) -> Value {
        if self.custom_metadata.is_empty() {
            Value::Null
        } else {
            json!(self.custom_metadata)
        }
    }

    /// One version's metadata as data reads and writes return it.
    pub(super) fn version_data(&self, version: u64, meta: &VersionMeta) -> Data {
        object(json!({
            "created_time": clock::rfc3339(meta.created_time),
            "custom_metadata": self.custom_metadata_value(),
            "deletion_time": meta.deletion_time.map(clock::rfc3339).unwrap_or_default(),
            "destroyed": meta.destroyed,
            "version": version,
        }))
    }

    /// The whole record as `metadata/<key>` reads return it.
    pub(super) fn to_data(&self) -> Data {
        let versions: Data = self
            .versions
            .iter()
            .map(|(number, v)| {
                (
                    number.to_string(),
                    json!({
                        "created_time": clock::rfc3339(v.created_time),
                        "deletion_time": v.deletion_time.map(clock::rfc3339).unwrap_or_default(),
                        "destroyed": v.destroyed,
                    }),
                )
            })
            .collect();
        object(json!({
            "cas_required": self.cas_required,
            "created_time": clock::rfc3339(self.created_time),
            "current_version": self.current_version,
            "custom_metadata": self.custom_metadata_value(),
            "delete_version_after": "0s",
            "max_versions": self.max_versions,
            "oldest_version": self.oldest_version,
            "updated_time": clock::rfc3339(self.updated_time),
            "versions": versions,
        }))
    }
}

/// The object inside a `json!({...})` literal.
fn object(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        _ => Data::new(),
    }
}

/// A stored record that does not decode: the barrier authenticated it, so this
/// is our own bug or a downgrade, and the caller must not see a guess.
async fn load<T: DeserializeOwned>(view: &View<'_>, path: &str) -> Result<Option<T>, EngineError> {
    crate::engines::shared::load_json(view, path, "the stored KV record is malformed").await
}

pub(super) use crate::engines::shared::put_json as put;

/// The mount's settings, or the defaults if none were written.
pub(super) async fn load_config(view: &View<'_>) -> Result<MountConfig, EngineError> {
    Ok(load(view, CONFIG_PATH).await?.unwrap_or_default())
}

/// True once `config` has been written.
pub(super) async fn config_exists(view: &View<'_>) -> Result<bool, EngineError> {
    Ok(view.get(CONFIG_PATH).await?.is_some())
}

/// True if `key` exists (its metadata does), without decoding it.
pub(super) async fn meta_exists(view: &View<'_>, key: &str) -> Result<bool, EngineError> {
    Ok(view.get(&meta_path(key)).await?.is_some())
}

/// `key`'s metadata, if the key exists.
pub(super) async fn load_meta(
    view: &View<'_>,
    key: &str,
) -> Result<Option<KeyMetadata>, EngineError> {
    load(view, &meta_path(key)).await
}

/// `key`'s metadata as the barrier's cache shares it, for reads (it holds no
/// secret: versions, times, and settings).
pub(super) async fn shared_meta(
    view: &View<'_>,
    key: &str,
) -> Result<Option<std::sync::Arc<KeyMetadata>>, EngineError> {
    crate::engines::shared::load_json_shared(
        view,
        &meta_path(key),
        "the stored KV record is malformed",
    )
    .await
}

/// The data of `key`'s version `version`, if it is still stored.
pub(super) async fn load_version(
    view: &View<'_>,
    key: &str,
    version: u64,
) -> Result<Option<Data>, EngineError> {
    load(view, &version_path(key, version)).await
}
