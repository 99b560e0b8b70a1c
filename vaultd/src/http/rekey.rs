//! Rekey over HTTP, at Vault's paths (`sys/rekey/init`, `/update`, `/verify`)
//! and OpenBao's (`sys/rotate/root/...`), with their field names. Each is a
//! request on Vault's path through the dispatcher, as the gRPC service's
//! rekey calls are, and its answer goes through the same message
//! (sys_answers.rs) on its way to Vault's JSON. Where Vault's fields differ
//! from the gRPC messages: `t` and `n` are the new threshold and share count,
//! `required` the current threshold, and the answer that hands out the new
//! shares says `complete: true` (the update phase is over) with
//! `verification_nonce` set while they await verification.
//!
//! Stricter than Vault: starting, reading and cancelling a rekey need `sudo`
//! on `sys/rekey/init`; verification is on unless the body says
//! `"require_verification": false`.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use vault_core::request::{Data, Operation};
use vault_proto::vault_json;

use super::body_fields::{is_given, number};
use super::reply::{error, json_reply, no_content};
use super::{Api, Call};
use crate::sys_answers as answers;

/// The rekey step `path` names, at Vault's paths or OpenBao's.
pub fn step(path: &str) -> Option<&str> {
    path.strip_prefix("sys/rekey/")
        .or_else(|| path.strip_prefix("sys/rotate/root/"))
}

/// The rekey endpoint for `path`, if it is one.
pub async fn route(api: &Api, call: &Call<'_>, path: &str) -> Option<Response> {
    let step = step(path)?;
    let method = &call.method;
    let write = *method == Method::PUT || *method == Method::POST;
    // Served at Vault's paths whichever the caller used.
    let at = |step: &str| format!("sys/rekey/{step}");
    Some(match step {
        "init" if *method == Method::GET => {
            match call
                .serve(api, Operation::Read, &at("init"), Data::new())
                .await
            {
                Ok(answer) => status_reply(&answer.response.data.unwrap_or_default()),
                Err(refused) => *refused,
            }
        }
        "init" if write => init(api, call).await,
        "init" if *method == Method::DELETE => {
            match call
                .serve(api, Operation::Delete, &at("init"), Data::new())
                .await
            {
                Ok(_) => no_content(),
                Err(refused) => *refused,
            }
        }
        "update" if write => update(api, call).await,
        "verify" if *method == Method::GET || *method == Method::DELETE => {
            let op = if *method == Method::GET {
                Operation::Read
            } else {
                Operation::Delete
            };
            match call.serve(api, op, &at("verify"), Data::new()).await {
                Ok(answer) => {
                    let data = answer.response.data.unwrap_or_default();
                    json_reply(
                        StatusCode::OK,
                        &vault_json::rekey_verify_status(&answers::rekey_verify_status(&data)),
                    )
                }
                Err(refused) => *refused,
            }
        }
        "verify" if write => verify(api, call).await,
        "init" | "update" | "verify" => error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not supported on {path}"),
        ),
        _ => return None,
    })
}

fn status_reply(data: &Data) -> Response {
    json_reply(
        StatusCode::OK,
        &vault_json::rekey_status(&answers::rekey_status(data)),
    )
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
    let data = json!({
        "secret_shares": shares,
        "secret_threshold": threshold,
        "require_verification": !skip_verification,
    });
    let data = match data {
        Value::Object(map) => map,
        _ => Data::new(),
    };
    match call
        .serve(api, Operation::Update, "sys/rekey/init", data)
        .await
    {
        Ok(answer) => status_reply(&answer.response.data.unwrap_or_default()),
        Err(refused) => *refused,
    }
}

/// The share (`key`) and `nonce` go to the pipeline as the body gave them;
/// vault-core's operator.rs says which is missing.
async fn update(api: &Api, call: &Call<'_>) -> Response {
    let data = match call.body_json() {
        Ok(body) => body,
        Err(r) => return *r,
    };
    let out = match call
        .serve(api, Operation::Update, "sys/rekey/update", data)
        .await
    {
        Ok(answer) => answers::rekey_update(&answer.response.data.unwrap_or_default()),
        Err(refused) => return *refused,
    };
    if out.keys_hex.is_empty() {
        let status = out.status.unwrap_or_default();
        return json_reply(StatusCode::OK, &vault_json::rekey_status(&status));
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

async fn verify(api: &Api, call: &Call<'_>) -> Response {
    let data = match call.body_json() {
        Ok(body) => body,
        Err(r) => return *r,
    };
    let asked = data.get("nonce").cloned().unwrap_or(Value::Null);
    let out = match call
        .serve(api, Operation::Update, "sys/rekey/verify", data)
        .await
    {
        Ok(answer) => answers::rekey_verify(&answer.response.data.unwrap_or_default()),
        Err(refused) => return *refused,
    };
    if out.complete {
        json_reply(StatusCode::OK, &json!({ "nonce": asked, "complete": true }))
    } else {
        let status = out.status.unwrap_or_default();
        json_reply(StatusCode::OK, &vault_json::rekey_verify_status(&status))
    }
}
