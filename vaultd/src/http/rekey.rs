//! Rekey over HTTP, at Vault's paths (`sys/rekey/init`, `/update`, `/verify`)
//! and OpenBao's (`sys/rotate/root/...`), with their field names. Each calls
//! the `Sys` method the gRPC service answers. Where Vault's fields differ
//! from the gRPC messages: `t` and `n` are the new threshold and share count,
//! `required` the current threshold, and the answer that hands out the new
//! shares says `complete: true` (the update phase is over) with
//! `verification_nonce` set while they await verification.
//!
//! Stricter than Vault: starting, reading and cancelling a rekey need the
//! root token; verification is on unless the body says
//! `"require_verification": false`.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use vault_proto::v1::sys_server::Sys;
use vault_proto::v1::*;

use super::body_fields::{is_given, number};
use super::reply::{error, from_status, json_reply, no_content};
use super::{Api, Call};

/// The rekey endpoint for `path`, if it is one.
pub async fn route(api: &Api, call: &Call<'_>, path: &str) -> Option<Response> {
    let step = path
        .strip_prefix("sys/rekey/")
        .or_else(|| path.strip_prefix("sys/rotate/root/"))?;
    let method = &call.method;
    let write = *method == Method::PUT || *method == Method::POST;
    Some(match step {
        "init" if *method == Method::GET => status(api, call).await,
        "init" if write => init(api, call).await,
        "init" if *method == Method::DELETE => {
            match api.sys.rekey_cancel(call.grpc(RekeyCancelRequest {})).await {
                Ok(_) => no_content(),
                Err(s) => from_status(&s, call.path_and_query),
            }
        }
        "update" if write => update(api, call).await,
        "verify" if *method == Method::GET => verify_reply(
            api.sys
                .rekey_verify_status(call.grpc(RekeyVerifyStatusRequest {}))
                .await,
            call,
        ),
        "verify" if write => verify(api, call).await,
        "verify" if *method == Method::DELETE => verify_reply(
            api.sys
                .rekey_verify_cancel(call.grpc(RekeyVerifyCancelRequest {}))
                .await,
            call,
        ),
        "init" | "update" | "verify" => error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not supported on {path}"),
        ),
        _ => return None,
    })
}

/// Vault's rekey status fields.
fn status_json(s: &RekeyStatusResponse) -> Value {
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

async fn status(api: &Api, call: &Call<'_>) -> Response {
    match api.sys.rekey_status(call.grpc(RekeyStatusRequest {})).await {
        Ok(out) => json_reply(StatusCode::OK, &status_json(&out.into_inner())),
        Err(s) => from_status(&s, call.path_and_query),
    }
}

/// The `key` (a share) and `nonce` of an update or verify body, or a 400
/// naming the one missing.
fn share_and_nonce(call: &Call<'_>) -> Result<(String, String), Box<Response>> {
    let body = call.body_json()?;
    Ok((text(&body, "key")?, text(&body, "nonce")?))
}

/// A text field of the body, or a 400 naming it.
fn text(body: &serde_json::Map<String, Value>, field: &str) -> Result<String, Box<Response>> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("'{field}' must be specified in the request body as JSON text"),
        ))),
    }
}

async fn init(api: &Api, call: &Call<'_>) -> Response {
    let body = match call.body_json() {
        Ok(b) => b,
        Err(r) => return *r,
    };
    for unsupported in ["pgp_keys", "backup"] {
        if body.get(unsupported).is_some_and(is_given) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("{unsupported} is not supported"),
            );
        }
    }
    let (shares, threshold) = match (
        number(&body, "secret_shares"),
        number(&body, "secret_threshold"),
    ) {
        (Ok(s), Ok(t)) => (s.unwrap_or(0), t.unwrap_or(0)),
        (Err(why), _) | (_, Err(why)) => return error(StatusCode::BAD_REQUEST, &why),
    };
    let skip_verification = match vault_core::params::boolean(&body, "require_verification") {
        Ok(required) => required == Some(false),
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let request = RekeyInitRequest {
        secret_shares: shares,
        secret_threshold: threshold,
        skip_verification,
    };
    match api.sys.rekey_init(call.grpc(request)).await {
        Ok(out) => json_reply(StatusCode::OK, &status_json(&out.into_inner())),
        Err(s) => from_status(&s, call.path_and_query),
    }
}

async fn update(api: &Api, call: &Call<'_>) -> Response {
    let (key, nonce) = match share_and_nonce(call) {
        Ok(pair) => pair,
        Err(r) => return *r,
    };
    match api
        .sys
        .rekey_update(call.grpc(RekeyUpdateRequest { nonce, key }))
        .await
    {
        Ok(out) => {
            let out = out.into_inner();
            if out.keys_hex.is_empty() {
                let status = out.status.unwrap_or_default();
                return json_reply(StatusCode::OK, &status_json(&status));
            }
            let nonce = out.status.map(|s| s.nonce).unwrap_or_default();
            json_reply(
                StatusCode::OK,
                &json!({
                    "nonce": nonce,
                    "complete": true,
                    "keys": out.keys_hex,
                    "keys_base64": out.keys_b64,
                    "pgp_fingerprints": null,
                    "backup": false,
                    "verification_required": out.verification_required,
                    "verification_nonce": out.verification_nonce,
                }),
            )
        }
        Err(s) => from_status(&s, call.path_and_query),
    }
}

fn verify_json(s: &RekeyVerifyStatusResponse) -> Value {
    json!({
        "started": s.started,
        "nonce": s.nonce,
        "t": s.t,
        "n": s.n,
        "progress": s.progress,
    })
}

fn verify_reply(
    result: Result<tonic::Response<RekeyVerifyStatusResponse>, tonic::Status>,
    call: &Call<'_>,
) -> Response {
    match result {
        Ok(out) => json_reply(StatusCode::OK, &verify_json(&out.into_inner())),
        Err(s) => from_status(&s, call.path_and_query),
    }
}

async fn verify(api: &Api, call: &Call<'_>) -> Response {
    let (key, nonce) = match share_and_nonce(call) {
        Ok(pair) => pair,
        Err(r) => return *r,
    };
    let asked = nonce.clone();
    match api
        .sys
        .rekey_verify(call.grpc(RekeyVerifyRequest { nonce, key }))
        .await
    {
        Ok(out) => {
            let out = out.into_inner();
            if out.complete {
                json_reply(StatusCode::OK, &json!({ "nonce": asked, "complete": true }))
            } else {
                let status = out.status.unwrap_or_default();
                json_reply(StatusCode::OK, &verify_json(&status))
            }
        }
        Err(s) => from_status(&s, call.path_and_query),
    }
}
