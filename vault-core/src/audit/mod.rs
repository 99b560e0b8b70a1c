//! Audit: every request and response, written to audit devices before the vault
//! acts or answers, with secrets HMAC'd and each device's entries hash-chained so
//! that any edit of the log is detectable.
//!
//! # Fail closed, never hang
//!
//! With at least one device enabled, a request is handled only after at least one
//! device has written its `request` entry, and its answer is returned only after
//! at least one device has written the `response` entry and made it durable
//! (for a file, `fdatasync`), which makes the request entry before it durable
//! too; otherwise the caller gets [`AuditError::Unavailable`] ("the audit log is
//! unavailable"), no secret, and no write is applied. The request entry is not
//! synced on its own: that would make every request wait for two group commits
//! in turn. What it gives up: a power loss (not a crash of the process: the page
//! cache outlives it) while a request runs may lose that request's entry,
//! though its change reached storage; the request was never answered. Devices are written in parallel, each with
//! a timeout ([`DEFAULT_TIMEOUT`]): a hung device is skipped, marked unhealthy and
//! reported, and is not waited on again until it has caught up.
//!
//! # The log format
//!
//! A device writes JSON Lines (UTF-8, one object per line, each ending in `\n`).
//! Every entry has these top-level keys:
//!
//! - `seq`: 1, 2, 3, ... per device, continuing across reopened or rotated files;
//! - `prev_hash`: the `hash` of the device's previous entry (64 `0`s before the
//!   first entry of a device);
//! - `hash`: lower-case hex SHA-256 of the entry's *canonical form without the
//!   `hash` key*: JSON with every object's keys sorted (by their UTF-8 bytes,
//!   recursively), no whitespace, strings escaped as `serde_json` writes them,
//!   integers in decimal;
//! - `time`: RFC 3339, UTC;
//! - `type`: `request`, `response` or `checkpoint`.
//!
//! `request` and `response` entries carry Vault's fields where they exist:
//! `auth {client_token, accessor, display_name, policies, token_policies,
//! metadata, token_type}`, `request {id, operation, path, mount_point, mount_type,
//! mount_accessor, data, remote_address, client_token}`, `response {data, auth,
//! warnings}` (responses only) and `error`. Every string inside `request.data`,
//! `response.data`, `auth.metadata` and `response.auth.metadata` (unlike Vault,
//! which logs token metadata in the clear), and every token, accessor,
//! role_id and secret_id, is written as `hmac-sha256:<hex>` under the device's
//! own key (kept in the barrier). `sys/audit-hash/<device>` gives the same HMAC of
//! any input, so an operator can search the log for a known value. Lifecycle
//! events (unseal, seal) are `request`/`response` pairs on `sys/unseal`,
//! `sys/seal`.
//!
//! A `checkpoint` entry has `checkpoint {reason, signature}`: `reason` is `open`
//! (the first entry of each file the device opens: it links the new file to the
//! last hash of the previous one), `periodic` (after every [`CHECKPOINT_EVERY`]
//! entries) or `shutdown` (on a clean stop or when the device is disabled);
//! `signature` is `hmac-sha256:<hex>` of the text
//! `vault-audit-checkpoint\n<seq>\n<prev_hash>` under a checkpoint key derived
//! from the device key with HKDF-SHA256 (salt `vault-audit-checkpoint-key-salt`,
//! info `vault-audit-checkpoint-key-v2`), which signs nothing else, so only the
//! vault can make one. A log that does not end with a checkpoint was cut short
//! (or its vault crashed or is still running; the vault knows the last `seq` and
//! `hash` of each of its devices).
//!
//! Checkpoints written before v2 (key `HMAC(device key,
//! "vault-audit-checkpoint-key-v1")`) no longer verify, on purpose: that key is
//! what the device logs for the string as a secret value, so anyone who could
//! send it (an unauthenticated login's `secret_id`) could read the key from the
//! log and sign checkpoints; a v1 signature proves nothing. Such a log's hash
//! chain still verifies, and the `open` checkpoint the upgraded vault writes
//! signs (under v2) the hash its chain had reached, which covers every entry
//! before it.

mod broker;
mod canonical;
mod confined;
mod device;
mod entry;
mod file;
mod health;
pub(crate) mod request_entries;
mod sinks;
mod syncer;
pub(crate) mod table;
mod tail;

pub(crate) use broker::Origin;
pub use broker::{AuditBroker, DeviceStatus};
pub use canonical::{canonical_json, entry_hash};
pub use confined::ConfinedPathError;
pub use device::{ChainState, DeviceConfig, Sink, Wait};
pub use entry::{Hasher, checkpoint_message};
pub use file::FileSink;
pub use sinks::{SocketSink, StdoutSink};
pub use syncer::Syncer;

use std::path::PathBuf;
use std::time::Duration;

/// How long a device may take to record one entry before it is skipped.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// A checkpoint is written after this many entries.
pub const CHECKPOINT_EVERY: u64 = 1000;

/// The `prev_hash` of a device's first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether `sys/audit/<name>` may enable devices, and where their files may
/// go. The default refuses, as OpenBao does: an API call must not choose a
/// file for the vault to write (HashiCorp's HCSEC-2024-16: a device pointed at
/// `/etc/ld.so.preload` runs code as the daemon's user). Devices the embedder
/// declares ([`crate::VaultOptions::audit_devices`], vaultd's `[[audit]]`) are
/// not affected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiAuditPolicy {
    /// Devices may be enabled through the API (OpenBao's and vaultd's
    /// `unsafe_allow_api_audit_creation`).
    pub allow_creation: bool,
    /// The directory `file` devices enabled through the API are created in,
    /// directly (vaultd's `allowed_audit_file_dir`); without it they are
    /// refused. An absolute path, with no links in it (vaultd canonicalises it).
    pub file_dir: Option<PathBuf>,
}

/// Why auditing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// No enabled device recorded the entry.
    #[error("the audit log is unavailable: no audit device recorded the request ({0})")]
    Unavailable(String),
    /// The device's checkpoint key could not be derived from its key.
    #[error("the audit checkpoint key could not be derived")]
    KeyDerivation,
    /// A device could not be set up.
    #[error("audit device {name:?}: {reason}")]
    Device {
        /// The device.
        name: String,
        /// What went wrong.
        reason: String,
    },
}
