//! The messages that vaultd's HTTP API and vault-cli both show in Vault's
//! JSON shape, written once: the seal status (`sys/seal-status`, `status
//! -format=json`). Field names and defaults are Vault's.

use serde_json::{Value, json};

use crate::v1::SealStatusResponse;

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
