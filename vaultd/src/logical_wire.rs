//! The `vault.v1.Logical` messages as vault-core's response and back: what the
//! gRPC adapter (logical.rs) writes, and what a standby reads from the active
//! node it forwarded to (forward.rs). Data crosses as JSON text.

use serde_json::Value;
use tonic::Status;
use vault_core::request::{
    Auth as CoreAuth, Data, LeaseInfo, MfaRequirement as CoreMfaRequirement, Response,
    WrapInfo as CoreWrapInfo,
};
use vault_proto::v1::{Auth, LogicalResponse, MfaRequirement, WrapInfo};

/// `response` as the message, its data left out (the caller writes it or
/// keeps it parsed).
pub fn to_wire(request_id: String, response: Response) -> (LogicalResponse, Option<Data>) {
    let lease = response.lease.unwrap_or_default();
    let message = LogicalResponse {
        request_id,
        lease_id: lease.lease_id,
        lease_duration: lease.lease_duration,
        renewable: lease.renewable,
        data_json: String::new(),
        warnings: response.warnings,
        auth: response.auth.map(|a| Auth {
            client_token: a.client_token,
            accessor: a.accessor,
            policies: a.policies,
            lease_duration: a.lease_duration,
            renewable: a.renewable,
            metadata: a.metadata.into_iter().collect(),
            num_uses: a.num_uses,
            orphan: a.orphan,
            entity_id: a.entity_id,
            token_policies: a.token_policies,
            identity_policies: a.identity_policies,
            mfa_requirement: a.mfa_requirement.map(|m| MfaRequirement {
                mfa_request_id: m.mfa_request_id,
                mfa_constraints_json: m.mfa_constraints.to_string(),
            }),
        }),
        wrap_info: response.wrap_info.map(|w| WrapInfo {
            token: w.token,
            accessor: w.accessor,
            ttl: w.ttl,
            creation_time: w.creation_time,
            creation_path: w.creation_path,
            wrapped_accessor: w.wrapped_accessor,
        }),
    };
    (message, response.data)
}

/// The active node's message as a response, with the request id it gave.
pub fn from_wire(message: LogicalResponse) -> Result<(String, Response), Status> {
    let data = match message.data_json.trim() {
        "" => None,
        text => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Some(map),
            Ok(_) => {
                return Err(Status::internal(
                    "the active node answered data that is not a JSON object",
                ));
            }
            Err(e) => {
                return Err(Status::internal(format!(
                    "the active node answered data that is not JSON: {e}"
                )));
            }
        },
    };
    let lease = (!message.lease_id.is_empty()).then_some(LeaseInfo {
        lease_id: message.lease_id,
        lease_duration: message.lease_duration,
        renewable: message.renewable,
    });
    let response = Response {
        data,
        warnings: message.warnings,
        auth: message.auth.map(|a| CoreAuth {
            client_token: a.client_token,
            accessor: a.accessor,
            policies: a.policies,
            lease_duration: a.lease_duration,
            renewable: a.renewable,
            metadata: a.metadata.into_iter().collect(),
            num_uses: a.num_uses,
            orphan: a.orphan,
            entity_id: a.entity_id,
            token_policies: a.token_policies,
            identity_policies: a.identity_policies,
            mfa_requirement: a.mfa_requirement.map(|m| CoreMfaRequirement {
                mfa_request_id: m.mfa_request_id,
                // Our own active node wrote it; anything else is shown as null.
                mfa_constraints: serde_json::from_str(&m.mfa_constraints_json)
                    .unwrap_or(Value::Null),
            }),
        }),
        lease,
        wrap_info: message.wrap_info.map(|w| CoreWrapInfo {
            token: w.token,
            accessor: w.accessor,
            ttl: w.ttl,
            creation_time: w.creation_time,
            creation_path: w.creation_path,
            wrapped_accessor: w.wrapped_accessor,
        }),
        ..Response::default()
    };
    Ok((message.request_id, response))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_survives_the_trip_to_a_standby() {
        let mut data = Data::new();
        data.insert("k".into(), Value::String("v".into()));
        let response = Response {
            data: Some(data.clone()),
            warnings: vec!["capped".into()],
            lease: Some(LeaseInfo {
                lease_id: "database/creds/r/abc".into(),
                lease_duration: 60,
                renewable: true,
            }),
            ..Response::default()
        };
        let (mut message, out) = to_wire("id-1".into(), response);
        message.data_json = Value::Object(out.unwrap_or_default()).to_string();
        let (id, back) = from_wire(message).unwrap();
        assert_eq!(id, "id-1");
        assert_eq!(back.data, Some(data));
        assert_eq!(back.warnings, vec!["capped".to_owned()]);
        assert_eq!(back.lease.map(|l| l.lease_duration), Some(60));
    }

    #[test]
    fn data_that_is_not_an_object_is_refused() {
        let message = LogicalResponse {
            data_json: "[1]".into(),
            ..LogicalResponse::default()
        };
        assert!(from_wire(message).is_err());
    }
}
