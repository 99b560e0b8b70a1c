//! The operator answers of the pipeline (`sys/rekey/*`, `sys/key-status`,
//! `sys/rotate`, `sys/ha/members`: response data with Vault's field names)
//! as the `Sys` messages, written once: the gRPC service sends them, and the
//! HTTP API writes them in Vault's JSON (`vault_proto::vault_json`).

use serde_json::Value;
use vault_core::request::Data;
use vault_proto::v1::*;

fn number(data: &Data, key: &str) -> u64 {
    data.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn count(data: &Data, key: &str) -> u32 {
    u32::try_from(number(data, key)).unwrap_or(u32::MAX)
}

fn flag(data: &Data, key: &str) -> bool {
    data.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn text(data: &Data, key: &str) -> String {
    data.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn texts(data: &Data, key: &str) -> Vec<String> {
    data.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// `sys/rekey/init`'s answer.
pub fn rekey_status(data: &Data) -> RekeyStatusResponse {
    RekeyStatusResponse {
        started: flag(data, "started"),
        nonce: text(data, "nonce"),
        t: count(data, "t"),
        n: count(data, "n"),
        progress: count(data, "progress"),
        required: count(data, "required"),
        new_shares: count(data, "new_shares"),
        new_threshold: count(data, "new_threshold"),
        verification_required: flag(data, "verification_required"),
        verification_nonce: text(data, "verification_nonce"),
    }
}

/// `sys/rekey/update`'s answer: the status, and the new shares once a
/// quorum approved.
pub fn rekey_update(data: &Data) -> RekeyUpdateResponse {
    let keys_hex = texts(data, "keys");
    let status = rekey_status(data);
    RekeyUpdateResponse {
        // Keys with `complete` false: handed out, awaiting verification.
        complete: flag(data, "complete"),
        duplicate: flag(data, "duplicate"),
        new_shares: keys_hex.len() as u32,
        new_threshold: status.new_threshold,
        verification_required: status.verification_required,
        verification_nonce: status.verification_nonce.clone(),
        keys_b64: texts(data, "keys_base64"),
        keys_hex,
        status: Some(status),
    }
}

/// `sys/rekey/verify`'s answer to a read or cancel.
pub fn rekey_verify_status(data: &Data) -> RekeyVerifyStatusResponse {
    RekeyVerifyStatusResponse {
        started: flag(data, "started"),
        nonce: text(data, "nonce"),
        t: count(data, "t"),
        n: count(data, "n"),
        progress: count(data, "progress"),
    }
}

/// `sys/rekey/verify`'s answer to a share.
pub fn rekey_verify(data: &Data) -> RekeyVerifyResponse {
    RekeyVerifyResponse {
        complete: flag(data, "complete"),
        duplicate: flag(data, "duplicate"),
        status: Some(rekey_verify_status(data)),
    }
}

/// `sys/key-status`'s (and `sys/rotate`'s) answer.
pub fn key_status(data: &Data) -> KeyStatusResponse {
    KeyStatusResponse {
        term: count(data, "term"),
        install_time: text(data, "install_time"),
        encryptions: number(data, "encryptions"),
    }
}

/// `sys/ha/members`'s answer.
pub fn members(data: &Data) -> MembersResponse {
    let members = data
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|m| Member {
            state: text(m, "state"),
            node_id: text(m, "node_id"),
            api_address: text(m, "api_address"),
            active: flag(m, "active_node"),
            last_seen: text(m, "last_echo"),
            version: text(m, "version"),
        })
        .collect();
    MembersResponse { members }
}

/// `sys/raw/<path>` listed.
pub fn raw_keys(data: &Data) -> Vec<String> {
    texts(data, "keys")
}
