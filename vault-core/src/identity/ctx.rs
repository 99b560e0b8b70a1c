//! What every identity endpoint works with: the store, the barrier it
//! keeps its records behind, the mounts (to check an alias's auth mount) and
//! the time of the request.

use serde_json::Value;

use crate::barrier::Barrier;
use crate::error::{VaultError, object};
use crate::request::Response;
use crate::router::{MountEntry, MountTable};

use super::fields::invalid;
use super::index::Index;
use super::store::IdentityStore;

/// What every endpoint works with.
pub(crate) struct Ctx<'a> {
    pub barrier: &'a Barrier,
    pub store: &'a IdentityStore,
    pub mounts: &'a MountTable,
    /// Unix seconds.
    pub now: u64,
}

impl Ctx<'_> {
    /// The auth mount with `accessor`.
    pub(crate) fn auth_mount(&self, accessor: &str) -> Result<&MountEntry, VaultError> {
        self.mounts
            .entries
            .iter()
            .find(|m| m.accessor == accessor && m.is_auth())
            .ok_or_else(|| invalid(format!("invalid mount accessor {accessor:?}")))
    }

    /// The answer to a read of one record, which `show` finds and shows;
    /// nothing found is not found (`no <what> found`), or with
    /// `missing_is_empty` an empty answer (the lookups, as in Vault).
    pub(super) async fn read_one(
        &self,
        what: &str,
        missing_is_empty: bool,
        show: impl FnOnce(&Index) -> Option<Value>,
    ) -> Result<Response, VaultError> {
        match self.store.read(self.barrier, show).await? {
            Some(shown) => Ok(Response::with_data(object(shown))),
            None if missing_is_empty => Ok(Response::default()),
            None => Err(VaultError::NotFound(format!("no {what} found"))),
        }
    }
}
