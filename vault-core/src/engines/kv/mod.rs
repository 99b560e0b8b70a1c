//! The KV secrets engines, with HashiCorp Vault's API (mount-relative paths,
//! Vault's JSON field names): version 1 (plain paths, no versions) in `v1.rs`,
//! version 2 (versioned key-value secrets) here.
//!
//! # Paths
//!
//! | path                  | operations                                   |
//! |-----------------------|----------------------------------------------|
//! | `config`              | read; create/update `max_versions`, `cas_required` |
//! | `data/<key>`          | read (`version`), create/update, patch, delete (latest) |
//! | `delete/<key>`        | create/update `{"versions": [..]}`: soft-delete |
//! | `undelete/<key>`      | create/update `{"versions": [..]}`: restore  |
//! | `destroy/<key>`       | create/update `{"versions": [..]}`: remove for good |
//! | `metadata/<key>`      | read, create/update, patch, delete (everything) |
//! | `metadata/<prefix>/`  | list                                         |
//!
//! `delete_version_after` is always `"0s"`: versions never expire by themselves,
//! and a write asking for anything else is refused.
//!
//! # Storage layout (inside the mount's [`View`])
//!
//! - `config`: the mount's `MountConfig` as JSON.
//! - `meta/<key>`: a key's `KeyMetadata` as JSON: its settings, current
//!   and oldest version, and each kept version's times and flags. A key exists
//!   exactly when this record does; listing lists `meta/`.
//! - `ver/<key>/<n>`: the secret data of version `n` as a JSON object. Written
//!   only together with the metadata naming it, and removed when the version is
//!   trimmed, destroyed, or its key deleted. Never listed (see
//!   `record::version_path`).
//!
//! The barrier encrypts every value; paths (and so key names) are not secret.
//!
//! # Concurrency and crashes
//!
//! All state lives in the view, so the engine survives restarts and holds only
//! locks. Every mutation is a read-modify-write of `meta/<key>`; it runs under one
//! of 64 locks picked by hashing the mount prefix and the key, so two
//! writes to one key cannot both become version N+1. What a mutation changes
//! (new version, trimmed versions, metadata) goes into one `View::batch`, so a
//! crash leaves all of it or none. The locks are per [`KvV2`]: one instance must
//! serve a given mount within a process.

mod data;
mod metadata;
mod params;
mod paths;
mod record;
#[cfg(test)]
mod tests;
mod v1;

pub use v1::KvV1;

use std::fmt;

use async_trait::async_trait;

use self::data::VersionAction;
use self::paths::Route;
use self::record::CONFIG_PATH;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Data, Operation, Response};

/// How many locks mutations are spread over. Unrelated keys rarely share one;
/// when they do, they only wait for each other.
const STRIPES: usize = 64;

/// The KV v2 engine. Holds no secrets and no state but its locks.
pub struct KvV2 {
    // tokio Mutexes: each is held across the storage reads and the batch write
    // of one mutation.
    stripes: crate::engines::shared::Stripes,
}

impl KvV2 {
    /// An engine ready to serve a mount.
    pub fn new() -> Self {
        KvV2 {
            stripes: crate::engines::shared::Stripes::new(STRIPES),
        }
    }

    /// Waits for the lock that serialises mutations of `key` in `view`'s mount.
    async fn lock(&self, view: &View<'_>, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripes.lock(view, key).await
    }

    /// Mutations of one key, under its lock. `route` carries `key`.
    async fn mutate(
        &self,
        view: &View<'_>,
        route: Route<'_>,
        operation: Operation,
        key: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        use Operation::{Create, Delete, Patch, Update};
        paths::check_key(key)?;
        let _guard = self.lock(view, key).await;
        match (route, operation) {
            (Route::Data(_), Create | Update) => data::write(view, key, data).await,
            (Route::Data(_), Patch) => data::patch(view, key, data).await,
            (Route::Data(_), Delete) => data::delete_latest(view, key).await,
            (Route::Metadata(_), Create | Update) => metadata::write(view, key, data).await,
            (Route::Metadata(_), Patch) => metadata::patch(view, key, data).await,
            (Route::Metadata(_), Delete) => metadata::delete(view, key).await,
            (Route::Delete(_), Create | Update) => {
                data::apply_to_versions(view, key, data, VersionAction::SoftDelete).await
            }
            (Route::Undelete(_), Create | Update) => {
                data::apply_to_versions(view, key, data, VersionAction::Undelete).await
            }
            (Route::Destroy(_), Create | Update) => {
                data::apply_to_versions(view, key, data, VersionAction::Destroy).await
            }
            _ => Err(EngineError::UnsupportedOperation {
                operation,
                path: key.to_owned(),
            }),
        }
    }

    /// `config` create or update: changes only the settings given.
    async fn write_config(&self, view: &View<'_>, data: &Data) -> Result<Response, EngineError> {
        params::refuse_delete_version_after(data)?;
        let max_versions = params::opt_u64(data, "max_versions")?;
        let cas_required = params::opt_bool(data, "cas_required")?;
        let _guard = self.lock(view, CONFIG_PATH).await;
        let mut config = record::load_config(view).await?;
        if let Some(max) = max_versions {
            config.max_versions = max;
        }
        if let Some(required) = cas_required {
            config.cas_required = required;
        }
        view.batch(vec![record::put(CONFIG_PATH.to_owned(), &config)?])
            .await?;
        Ok(Response::default())
    }
}

impl Default for KvV2 {
    fn default() -> Self {
        KvV2::new()
    }
}

impl fmt::Debug for KvV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvV2")
            .field("stripes", &self.stripes.len())
            .finish()
    }
}

#[async_trait]
impl LogicalBackend for KvV2 {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        match Route::parse(path) {
            Some(Route::Config) => record::config_exists(view).await,
            Some(Route::Data(key) | Route::Metadata(key)) => {
                if paths::check_key(key).is_err() {
                    // The handler refuses it; there is nothing to update.
                    return Ok(false);
                }
                Ok(record::meta_exists(view, key).await?)
            }
            // As in Vault, these paths have no existence check: a write to them
            // is always an update, so one `update` grant covers them.
            Some(Route::Delete(_) | Route::Undelete(_) | Route::Destroy(_)) => Ok(true),
            None => Ok(false),
        }
    }

    async fn handle(
        &self,
        view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        use Operation::{Create, Delete, List, Patch, Read, Update};
        let route = request.route(Route::parse)?;
        let unsupported = || request.unsupported();
        let EngineRequest {
            operation, data, ..
        } = request;
        match (route, operation) {
            (Route::Config, Read) => Ok(Response::with_data(
                record::load_config(view).await?.to_data(),
            )),
            (Route::Config, Create | Update) => self.write_config(view, data).await,
            (Route::Data(key), Read) => {
                paths::check_key(key)?;
                data::read(view, key, data).await
            }
            (Route::Metadata(key), Read) => {
                paths::check_key(key)?;
                metadata::read(view, key).await
            }
            (Route::Metadata(prefix), List) => metadata::list(view, prefix).await,
            (Route::Data(key) | Route::Metadata(key), Create | Update | Patch | Delete)
            | (Route::Delete(key) | Route::Undelete(key) | Route::Destroy(key), Create | Update) => {
                self.mutate(view, route, operation, key, data).await
            }
            _ => Err(unsupported()),
        }
    }
}
