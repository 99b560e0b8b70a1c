//! The entries the request pipeline records for each request (before the
//! handler runs) and its response (after), raw: the broker HMACs their
//! secrets and chains them. Field names are Vault's.

use serde_json::{Value, json};

use crate::clock;
use crate::error::VaultError;
use crate::request::{Caller, Request, Response};
use crate::router::MountEntry;

/// The raw (not yet HMAC'd) `request` entry of a request.
pub(crate) fn request_entry(
    request: &Request,
    caller: Option<&Caller>,
    mount: Option<&MountEntry>,
) -> Value {
    json!({
        "time": clock::rfc3339(clock::now_unix()),
        "type": "request",
        "auth": auth_json(request, caller),
        "request": request_json(request, caller, mount),
        "error": "",
    })
}

/// The raw `response` entry: the request again, and what came of it.
pub(crate) fn response_entry(
    request: &Request,
    caller: Option<&Caller>,
    mount: Option<&MountEntry>,
    result: &Result<Response, VaultError>,
) -> Value {
    let (response, error) = match result {
        Ok(r) => (
            json!({
                "data": r.data,
                "warnings": r.warnings,
                "auth": r.auth.as_ref().map(|a| json!({
                    "client_token": a.client_token,
                    "accessor": a.accessor,
                    "policies": a.policies,
                    "token_policies": a.token_policies,
                    "identity_policies": a.identity_policies,
                    "entity_id": a.entity_id,
                    "metadata": a.metadata,
                    "lease_duration": a.lease_duration,
                    "renewable": a.renewable,
                    "num_uses": a.num_uses,
                    "mfa_requirement": a.mfa_requirement.as_ref().map(|m| json!({
                        "mfa_request_id": m.mfa_request_id,
                        "mfa_constraints": m.mfa_constraints,
                    })),
                })),
                // Lease ids are not secret: they are how an operator follows a
                // credential from its issue to its revocation.
                "secret": r.lease.as_ref().map(|l| json!({
                    "lease_id": l.lease_id,
                    "lease_duration": l.lease_duration,
                    "renewable": l.renewable,
                })),
                "wrap_info": r.wrap_info.as_ref().map(|w| json!({
                    "token": w.token,
                    "accessor": w.accessor,
                    "ttl": w.ttl,
                    "creation_time": w.creation_time,
                    "creation_path": w.creation_path,
                    "wrapped_accessor": w.wrapped_accessor,
                })),
            }),
            String::new(),
        ),
        Err(e) => (Value::Null, e.to_string()),
    };
    json!({
        "time": clock::rfc3339(clock::now_unix()),
        "type": "response",
        "auth": auth_json(request, caller),
        "request": request_json(request, caller, mount),
        "response": response,
        "error": error,
    })
}

fn authenticated(caller: Option<&Caller>) -> bool {
    caller.is_some_and(|c| c.token.is_some())
}

/// Who asked: the token as presented (HMAC'd by the broker), and what it
/// is: its policies and its entity's, as this request judged them.
fn auth_json(request: &Request, caller: Option<&Caller>) -> Value {
    let client_token = request.token.as_ref().map(|t| t.expose_secret().to_owned());
    let Some((t, caller)) = caller.and_then(|c| c.token.as_ref().map(|t| (t, c))) else {
        return json!({ "client_token": client_token });
    };
    let identity_policies = caller
        .identity
        .as_ref()
        .map(|i| i.policies.clone())
        .unwrap_or_default();
    let mut policies: Vec<&String> = t.policies.iter().chain(&identity_policies).collect();
    policies.sort();
    policies.dedup();
    json!({
        "client_token": client_token,
        "accessor": t.accessor,
        "display_name": t.display_name,
        "policies": policies,
        "token_policies": t.policies,
        "identity_policies": identity_policies,
        // The entity the request was judged as (after a merge, the one
        // the token's went into).
        "entity_id": caller.identity.as_ref().map_or(t.entity_id.as_str(), |i| i.entity_id.as_str()),
        "metadata": t.meta,
        "token_type": "service",
    })
}

/// The request as entries record it; its data bounded (`bounded_data`),
/// tighter for a request without a valid token.
fn request_json(request: &Request, caller: Option<&Caller>, mount: Option<&MountEntry>) -> Value {
    let (data, data_length) = crate::audit::bounded_data(&request.data, authenticated(caller));
    let mut out = json!({
        "id": request.id,
        "operation": request.operation.as_str(),
        "path": request.path,
        "mount_point": mount.map(|m| m.path.clone()),
        "mount_type": mount.map(|m| m.kind.clone()),
        "mount_accessor": mount.map(|m| m.accessor.clone()),
        "data": data,
        "remote_address": request.remote_addr.map(|a| a.to_string()),
        "client_token": request.token.as_ref().map(|t| t.expose_secret().to_owned()),
    });
    if let Some(length) = data_length {
        out["data_length"] = json!(length);
    }
    // As asked, in seconds; text that is not a duration was refused and is
    // left out.
    if let Ok(Some(ms)) = crate::wrapping::requested_ttl(request.wrap_ttl.as_deref()) {
        out["wrap_ttl"] = json!(ms / 1000);
    }
    if let Some(accessor) = caller.and_then(|c| c.wrapping_accessor.as_ref()) {
        out["wrapping_token_accessor"] = json!(accessor);
    }
    out
}
