//! The messages that vaultd's HTTP API (and, for the seal status, vault-cli)
//! show in Vault's JSON shape, written once: the seal status
//! (`sys/seal-status`, `status -format=json`) and a rekey's status
//! (`sys/rekey/init`, `sys/rekey/verify`). Field names and defaults are
//! Vault's.

use serde_json::{Value, json};

use crate::v1::{RekeyStatusResponse, RekeyVerifyStatusResponse, SealStatusResponse};

/// A seal status as Vault's `sys/seal-status` answers it.
pub fn seal_status(s: &SealStatusResponse) -> Value {
    json!({
        "type": s.r#type,
        "initialized": s.initialized,
        "sealed": s.sealed,
        "t": s.t,
        "n": s.n,
        "progress": s.progress,
        "nonce": s.nonce,
        "version": s.version,
        "build_date": "",
        "migration": false,
        "recovery_seal": false,
        "storage_type": s.storage_type,
        "degraded": s.degraded,
    })
}

/// A rekey's status as Vault's `sys/rekey/init` answers it: `t` and `n` are
/// the new threshold and share count, `required` the current threshold.
pub fn rekey_status(s: &RekeyStatusResponse) -> Value {
    json!({
        "started": s.started,
        "nonce": s.nonce,
        "t": s.new_threshold,
        "n": s.new_shares,
        "progress": s.progress,
        "required": if s.started { s.t } else { 0 },
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": s.verification_required,
        "verification_nonce": s.verification_nonce,
    })
}

/// A rekey verification's status as Vault's `sys/rekey/verify` answers it.
pub fn rekey_verify_status(s: &RekeyVerifyStatusResponse) -> Value {
    json!({
        "started": s.started,
        "nonce": s.nonce,
        "t": s.t,
        "n": s.n,
        "progress": s.progress,
    })
}
