//! Response wrapping, as Vault's: a caller asks for it (`X-Vault-Wrap-TTL`,
//! or a policy's `min_wrapping_ttl` demands it), and instead of the response
//! gets `wrap_info`: a single-use token whose cubbyhole holds the response.
//! What travels to the recipient (through a CI job, an orchestrator, a
//! person) is that token; whoever unwraps it first gets the response, and
//! the recipient whose unwrap then fails knows someone else did.
//!
//! This module holds what wrapping is made of: the TTL a caller asked for
//! and the record kept in the cubbyhole. The pipeline's steps are in
//! `vault/wrapping.rs`, the tokens' in `token/wrapping.rs`.

use serde::{Deserialize, Serialize};

use crate::error::VaultError;
use crate::request::{Auth, Data, LeaseInfo, Response};
use crate::secret::SecretBytes;

/// The longest a wrapping token may live: the system's max TTL (32 days).
pub const MAX_TTL_MS: u64 = 768 * 3_600_000;

/// The endpoints under `sys/` (relative to the mount).
pub(crate) const WRAP: &str = "wrapping/wrap";
pub(crate) const UNWRAP: &str = "wrapping/unwrap";
pub(crate) const LOOKUP: &str = "wrapping/lookup";
pub(crate) const REWRAP: &str = "wrapping/rewrap";

/// What the wrapping token itself may be presented for (as
/// `X-Vault-Token`); it is refused everywhere else.
pub(crate) fn wrapping_token_may(relative: &str) -> bool {
    matches!(relative, UNWRAP | LOOKUP | REWRAP)
}

/// Whether a call of `sys/<relative>` with `data` needs no token of the
/// caller's own: a lookup never does (as Vault's), and an unwrap or rewrap
/// without a `token` in the body names the wrapping token as its
/// `X-Vault-Token`, judged by the endpoint alone (unknown, spent or not a
/// wrapping token: "not valid"). With a `token` in the body, the caller's
/// own token must allow the call.
pub(crate) fn needs_no_caller(relative: &str, data: &Data) -> bool {
    relative == LOOKUP || (matches!(relative, UNWRAP | REWRAP) && !data.contains_key("token"))
}

/// The wrapping TTL in milliseconds that `asked` (the request's text) names:
/// `None` for no wrapping (absent, empty or zero).
pub fn requested_ttl(asked: Option<&str>) -> Result<Option<u64>, VaultError> {
    let Some(text) = asked.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let ms = crate::params::parse_duration_ms(text).map_err(|e| {
        VaultError::InvalidRequest(format!("error parsing X-Vault-Wrap-TTL header: {e}"))
    })?;
    if ms > MAX_TTL_MS {
        return Err(VaultError::InvalidRequest(format!(
            "error parsing X-Vault-Wrap-TTL header: {text:?} is longer than the maximum \
             wrapping TTL (768h)"
        )));
    }
    // Below a second a wrapping token is dead before the answer arrives;
    // Vault counts the TTL in seconds.
    Ok(match ms {
        0 => None,
        ms => Some(ms.max(1_000)),
    })
}

/// Whether a response has something to wrap (Vault wraps a response with
/// data or a token, and answers an empty one as it is).
pub(crate) fn wrappable(response: &Response) -> bool {
    response.data.is_some()
        || response
            .auth
            .as_ref()
            .is_some_and(|a| !a.client_token.is_empty())
}

/// The accessor of what a response holds, for `wrap_info.wrapped_accessor`:
/// the token's, or a secret ID's.
pub(crate) fn wrapped_accessor(response: &Response) -> String {
    if let Some(auth) = response.auth.as_ref().filter(|a| !a.accessor.is_empty()) {
        return auth.accessor.clone();
    }
    response
        .data
        .as_ref()
        .and_then(|d| d.get("secret_id_accessor"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The wrapped response as kept in the wrapping token's cubbyhole (behind
/// the barrier): what unwrapping answers with.
#[derive(Serialize, Deserialize)]
pub(crate) struct Wrapped {
    data: Option<Data>,
    #[serde(default)]
    warnings: Vec<String>,
    auth: Option<Auth>,
    lease: Option<LeaseInfo>,
}

impl Wrapped {
    /// The record of `response`, encoded.
    pub(crate) fn encode(response: &Response) -> Result<SecretBytes, VaultError> {
        let record = Wrapped {
            data: response.data.clone(),
            warnings: response.warnings.clone(),
            auth: response.auth.clone(),
            lease: response.lease.clone(),
        };
        serde_json::to_vec(&record)
            .map(SecretBytes::new)
            .map_err(|e| VaultError::Internal(format!("encoding a wrapped response: {e}")))
    }

    /// The response a stored record holds.
    pub(crate) fn decode(raw: &SecretBytes) -> Result<Response, VaultError> {
        let record: Wrapped = serde_json::from_slice(raw.expose_secret()).map_err(|e| {
            VaultError::Internal(format!("a wrapped response does not decode: {e}"))
        })?;
        Ok(Response {
            data: record.data,
            warnings: record.warnings,
            auth: record.auth,
            lease: record.lease,
            ..Response::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_ttls_are_read_as_vault_reads_them() {
        assert_eq!(requested_ttl(None).unwrap(), None);
        assert_eq!(requested_ttl(Some("")).unwrap(), None);
        assert_eq!(requested_ttl(Some("0")).unwrap(), None);
        assert_eq!(requested_ttl(Some("30s")).unwrap(), Some(30_000));
        assert_eq!(requested_ttl(Some("5m")).unwrap(), Some(300_000));
        assert_eq!(requested_ttl(Some("90")).unwrap(), Some(90_000));
        assert_eq!(requested_ttl(Some("768h")).unwrap(), Some(MAX_TTL_MS));
        for bad in ["abc", "5x", "-3", "769h"] {
            let e = requested_ttl(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("X-Vault-Wrap-TTL"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_record_gives_back_the_response() {
        let mut data = Data::new();
        data.insert("password".into(), "p".into());
        let response = Response {
            data: Some(data),
            warnings: vec!["w".into()],
            auth: Some(Auth {
                client_token: "s.t".into(),
                accessor: "acc".into(),
                ..Auth::default()
            }),
            lease: Some(LeaseInfo {
                lease_id: "database/creds/r/x".into(),
                lease_duration: 60,
                renewable: true,
            }),
            ..Response::default()
        };
        let back = Wrapped::decode(&Wrapped::encode(&response).unwrap()).unwrap();
        assert_eq!(back, response);
        assert_eq!(wrapped_accessor(&response), "acc");
    }
}
