//! Vault's HTTP wire format for answers: the success envelope, `204` for a
//! write with nothing to say, and `{"errors": [...]}` with the status code
//! Vault gives each kind of failure. A refusal from a standby that does not
//! forward becomes Vault's `307` to the active node.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use vault_core::request::{Auth, WrapInfo};

/// A JSON body with `status`.
pub fn json_reply(status: StatusCode, body: &Value) -> Response {
    // Straight to bytes (`to_string` goes through the formatting machinery);
    // a `Value` always serialises.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `204 No Content`.
pub fn no_content() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `{"errors": [message]}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    let errors: Vec<&str> = if message.is_empty() {
        Vec::new()
    } else {
        vec![message]
    };
    json_reply(status, &json!({ "errors": errors }))
}

/// The HTTP status Vault answers for a failure of this kind.
pub fn http_status(code: tonic::Code) -> StatusCode {
    use tonic::Code;
    match code {
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::PermissionDenied | Code::Unauthenticated => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unimplemented => StatusCode::METHOD_NOT_ALLOWED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A failed call as Vault answers it. A standby naming the active node
/// (forwarding off, or declined by the client) redirects there, as Vault's
/// standbys do, with the path and query asked for.
pub fn from_status(status: &tonic::Status, path_and_query: &str) -> Response {
    if let Some(leader) = status
        .metadata()
        .get(vault_proto::LEADER_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
    {
        let location = format!("{}{path_and_query}", leader.trim_end_matches('/'));
        let mut response = error(StatusCode::TEMPORARY_REDIRECT, status.message());
        if let Ok(value) = HeaderValue::try_from(location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        return response;
    }
    if let Some(http) = status
        .metadata()
        .get(crate::status::HTTP_STATUS_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u16>().ok())
        .and_then(|v| StatusCode::from_u16(v).ok())
    {
        return error(http, status.message());
    }
    // Vault answers a read of nothing with an empty error list.
    if status.code() == tonic::Code::NotFound {
        return error(StatusCode::NOT_FOUND, "");
    }
    error(http_status(status.code()), status.message())
}

fn auth_json(auth: &Auth) -> Value {
    let mut out = json!({
        "client_token": auth.client_token,
        "accessor": auth.accessor,
        "policies": auth.policies,
        "token_policies": auth.token_policies,
        "metadata": if auth.metadata.is_empty() { Value::Null } else { json!(auth.metadata) },
        "lease_duration": auth.lease_duration,
        "renewable": auth.renewable,
        "entity_id": auth.entity_id,
        "token_type": "service",
        "orphan": auth.orphan,
        "num_uses": auth.num_uses,
        "mfa_requirement": auth.mfa_requirement.as_ref().map_or(Value::Null, |m| json!({
            "mfa_request_id": m.mfa_request_id,
            "mfa_constraints": m.mfa_constraints,
        })),
    });
    // As Vault: only for a token whose entity holds policies.
    if !auth.identity_policies.is_empty() {
        out["identity_policies"] = json!(auth.identity_policies);
    }
    out
}

/// Vault's `wrap_info`: `wrapped_accessor` only when something inside has
/// one.
fn wrap_info_json(wrap: &WrapInfo) -> Value {
    let mut out = json!({
        "token": wrap.token,
        "accessor": wrap.accessor,
        "ttl": wrap.ttl,
        "creation_time": wrap.creation_time,
        "creation_path": wrap.creation_path,
    });
    if !wrap.wrapped_accessor.is_empty() {
        out["wrapped_accessor"] = json!(wrap.wrapped_accessor);
    }
    out
}

/// Vault's envelope for the answer to request `request_id`, or `204` when
/// there is nothing in it. A wrapped answer holds `wrap_info` and nothing
/// else.
pub fn envelope(request_id: &str, out: &vault_core::request::Response) -> Response {
    if out.data.is_none()
        && out.auth.is_none()
        && out.lease.is_none()
        && out.warnings.is_empty()
        && out.wrap_info.is_none()
    {
        return no_content();
    }
    let lease = out.lease.clone().unwrap_or_default();
    let body = json!({
        "request_id": request_id,
        "lease_id": lease.lease_id,
        "renewable": lease.renewable,
        "lease_duration": lease.lease_duration,
        "data": out.data,
        "wrap_info": out.wrap_info.as_ref().map_or(Value::Null, wrap_info_json),
        "warnings": if out.warnings.is_empty() { Value::Null } else { json!(out.warnings) },
        "auth": out.auth.as_ref().map_or(Value::Null, auth_json),
    });
    json_reply(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_get_vaults_status_codes() {
        use tonic::Code;
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(http_status(Code::PermissionDenied), StatusCode::FORBIDDEN);
        assert_eq!(http_status(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            http_status(Code::Unimplemented),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            http_status(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            http_status(Code::Internal),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn a_standby_refusal_redirects_to_the_leader() {
        let status =
            crate::forward::leader_status("this node is a standby".into(), "http://127.0.0.1:8201");
        let response = from_status(&status, "/v1/secret/data/x?version=2");
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            response.headers()[header::LOCATION],
            "http://127.0.0.1:8201/v1/secret/data/x?version=2"
        );
    }

    #[test]
    fn an_empty_answer_is_204_and_a_full_one_the_envelope() {
        let empty = vault_core::request::Response::default();
        assert_eq!(envelope("r", &empty).status(), StatusCode::NO_CONTENT);
        let mut data = vault_core::request::Data::new();
        data.insert("a".into(), json!(1));
        let full = vault_core::request::Response::with_data(data);
        assert_eq!(envelope("r", &full).status(), StatusCode::OK);
        let wrapped = vault_core::request::Response {
            wrap_info: Some(WrapInfo {
                token: "t".into(),
                ttl: 60,
                ..WrapInfo::default()
            }),
            ..vault_core::request::Response::default()
        };
        assert_eq!(envelope("r", &wrapped).status(), StatusCode::OK);
    }
}
