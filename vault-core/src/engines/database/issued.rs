//! The engine's bookkeeping of what it created in databases, kept so that a
//! crash can never leave a database role nobody knows about:
//!
//! - `issued/<username>`: written *before* a role is created, deleted after it
//!   is revoked (or its creation failed). It names the lease the role belongs
//!   to, so `reconcile` can tell a role whose lease was never stored (a crash
//!   between creating it and the vault storing the lease) from a live one.
//! - `engine-id`: a random id made once per mount. Every role this mount
//!   creates carries it in a comment (`vault-lease:<id>`), so `reconcile` only
//!   ever touches this mount's roles, across restarts.
//!
//! Usernames come from templates and may hold any character, so the key
//! segment is the username with every byte outside `[A-Za-z0-9_-]`
//! percent-encoded: always one valid segment, and the usual `v-…` names stay
//! as they are.

use serde::{Deserialize, Serialize};

use crate::barrier::BarrierError;
use crate::engines::shared::{load_json, put_json};
use crate::engines::{EngineError, View};

/// Where issued records live.
pub(super) const ISSUED_PREFIX: &str = "issued/";
/// Where the mount's engine id lives.
const ENGINE_ID_KEY: &str = "engine-id";
/// What the comment on every role this engine creates starts with.
pub(super) const MARKER_PREFIX: &str = "vault-lease:";

/// A role the engine created (or is creating).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct IssuedRecord {
    /// The database role.
    pub username: String,
    /// The lease it belongs to (which may never have been stored).
    pub lease_id: String,
    /// The vault role it was made for.
    pub role: String,
    /// The config it was made through.
    pub db_name: String,
    /// When the record was written (Unix ms).
    pub created_at: u64,
    /// The engine instance (process) that wrote it.
    pub instance: String,
}

#[derive(Serialize, Deserialize)]
struct EngineIdRecord {
    id: String,
}

/// The key of `username`'s issued record.
pub(super) fn key(username: &str) -> String {
    let mut out = String::from(ISSUED_PREFIX);
    for b in username.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The issued record of `username`, if any.
pub(super) async fn load(
    view: &View<'_>,
    username: &str,
) -> Result<Option<IssuedRecord>, EngineError> {
    load_json(view, &key(username), "issued credential record").await
}

/// Stores `record`.
pub(super) async fn store(view: &View<'_>, record: &IssuedRecord) -> Result<(), EngineError> {
    view.batch(vec![put_json(key(&record.username), record)?])
        .await?;
    Ok(())
}

/// Removes `username`'s record (nothing if there is none).
pub(super) async fn remove(view: &View<'_>, username: &str) -> Result<(), EngineError> {
    view.delete(&key(username)).await?;
    Ok(())
}

/// Every issued record of the mount.
pub(super) async fn list(view: &View<'_>) -> Result<Vec<IssuedRecord>, EngineError> {
    let mut records = Vec::new();
    for segment in view.list(ISSUED_PREFIX).await? {
        let path = format!("{ISSUED_PREFIX}{segment}");
        if let Some(record) = load_json(view, &path, "issued credential record").await? {
            records.push(record);
        }
    }
    Ok(records)
}

/// The mount's engine id, made and stored on first use. The caller
/// serialises calls (two first uses at once would race).
pub(super) async fn engine_id(view: &View<'_>) -> Result<String, EngineError> {
    if let Some(record) = load_json::<EngineIdRecord>(view, ENGINE_ID_KEY, "engine id").await? {
        return Ok(record.id);
    }
    let id = crate::random::alphanumeric(20).map_err(BarrierError::from)?;
    view.batch(vec![put_json(
        ENGINE_ID_KEY.to_owned(),
        &EngineIdRecord { id: id.clone() },
    )?])
    .await?;
    Ok(id)
}

/// The comment that marks a role as this mount's.
pub(super) fn marker(engine_id: &str) -> String {
    format!("{MARKER_PREFIX}{engine_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_one_segment_and_plain_names_stay_plain() {
        assert_eq!(key("v-root-ro-abc-123"), "issued/v-root-ro-abc-123");
        assert_eq!(key("a/../b"), "issued/a%2F%2E%2E%2Fb");
        assert_eq!(key("é\""), "issued/%C3%A9%22");
        assert_eq!(key("."), "issued/%2E");
    }
}
