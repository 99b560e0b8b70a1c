//! The vault's gRPC contract: the code tonic generates from `proto/vault.proto`.
//! vaultd serves these services and vault-cli calls them. The only code of
//! our own is `vault_json` (the messages both show in Vault's JSON shape) and
//! `redacted` (`Debug` that leaves secrets out).

#![forbid(unsafe_code)]
#![allow(missing_docs, missing_debug_implementations, clippy::all)]

mod redacted;

/// Version 1 of the API.
pub mod v1 {
    tonic::include_proto!("vault.v1");
}

/// The encoded file descriptor set, for the gRPC reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("vault_descriptor");

/// The metadata key that carries the caller's token (Vault's header name, lower case).
pub const TOKEN_METADATA_KEY: &str = "x-vault-token";

/// The metadata key that carries login MFA passcodes, `method_id:passcode`,
/// one value each (Vault's `X-Vault-MFA` header, lower case).
pub const MFA_METADATA_KEY: &str = "x-vault-mfa";

/// The metadata key that asks for the response to be wrapped, with the
/// wrapping token's TTL (Vault's `X-Vault-Wrap-TTL` header, lower case).
pub const WRAP_TTL_METADATA_KEY: &str = "x-vault-wrap-ttl";

/// On an UNAVAILABLE status from a standby: the active node's address, for the
/// client to retry there.
pub const LEADER_METADATA_KEY: &str = "x-vault-leader";

/// Set by a standby on a request it forwards to the active node: a forwarded
/// request is never forwarded again.
pub const FORWARDED_METADATA_KEY: &str = "x-vault-forwarded-by";

/// Set by a standby on a request it forwards: the client's address, the time
/// and an HMAC under a key only unsealed cluster members hold
/// (`<ip>;<unix ms>;hmac-sha256:<hex>`). The active node judges that address
/// when the signature holds, and ignores the field otherwise.
pub const FORWARDED_FOR_METADATA_KEY: &str = "x-vault-forwarded-for";

/// Set by a client that wants a standby to answer with the leader's address
/// instead of forwarding (Vault's X-Vault-No-Request-Forwarding).
pub const NO_FORWARD_METADATA_KEY: &str = "x-vault-no-request-forwarding";

pub mod vault_json;
