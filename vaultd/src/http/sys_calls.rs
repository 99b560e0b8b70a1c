//! The HTTP endpoints that are `Sys` calls in gRPC (init, seal status,
//! unseal, seal, health, leader, step-down, key status, rotate, metrics;
//! rekey is in `rekey.rs`), with Vault's request and response field names.
//! Init, unseal and the seal status (with its views, health and leader) are
//! this node's own calls (seal_calls.rs), as in the gRPC service; the rest
//! are requests through the dispatcher, like any path.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use vault_core::request::{Data, Operation};
use vault_proto::v1::*;

use super::body_fields::{is_given, number};
use super::reply::{error, from_status, json_reply, no_content};
use super::{Api, Call};

/// Vault's `active_time` when no node is active.
const NO_TIME: &str = "0001-01-01T00:00:00Z";

/// The lifecycle endpoint for `path`, if it is one.
pub async fn route(api: &Api, call: &Call<'_>, path: &str) -> Option<Response> {
    if let Some(response) = super::rekey::route(api, call, path).await {
        return Some(response);
    }
    let method = &call.method;
    let write = *method == Method::PUT || *method == Method::POST;
    let get = *method == Method::GET;
    Some(match path {
        "sys/init" if get => init_status(api, call).await,
        "sys/init" if write => init(api, call).await,
        "sys/seal-status" if get => seal_status(api, call).await,
        "sys/unseal" if write => unseal(api, call).await,
        "sys/seal" if write => {
            let sealed = call.serve(api, Operation::Update, path, Data::new()).await;
            api.seal.report_health().await;
            empty(sealed)
        }
        "sys/step-down" if write => {
            empty(call.serve(api, Operation::Update, path, Data::new()).await)
        }
        "sys/health" if get || *method == Method::HEAD => health(api, call).await,
        "sys/leader" if get => leader(api, call).await,
        "sys/key-status" if get => key_status(api, call).await,
        "sys/metrics" if get => metrics(api, call).await,
        "sys/rotate" | "sys/rotate/keyring" if write => empty(
            call.serve(api, Operation::Update, "sys/rotate", Data::new())
                .await,
        ),
        other if LIFECYCLE.contains(&other) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not supported on {path}"),
        ),
        _ => return None,
    })
}

/// The lifecycle paths [`route`] serves itself (the rekey ones aside).
const LIFECYCLE: &[&str] = &[
    "sys/init",
    "sys/seal-status",
    "sys/unseal",
    "sys/seal",
    "sys/step-down",
    "sys/health",
    "sys/leader",
    "sys/key-status",
    "sys/rotate",
    "sys/rotate/keyring",
    "sys/metrics",
];

/// Whether `path` is one [`route`] serves itself, some of it outside
/// `Vault::handle` and so without response wrapping.
pub fn beside_the_pipeline(path: &str) -> bool {
    super::rekey::step(path).is_some() || LIFECYCLE.contains(&path)
}

/// `GET sys/metrics?format=prometheus` (the OpenMetrics text), or without
/// `?format` Vault's JSON (metrics_json.rs): through the request pipeline
/// (a token with `read` on `sys/metrics`, audited) unless the config lets
/// scrapers in without one.
async fn metrics(api: &Api, call: &Call<'_>) -> Response {
    let json = match call.query("format") {
        None | Some("") | Some("json") => true,
        Some("prometheus") => false,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "sys/metrics has no format {other:?}: leave format out for JSON, or ask \
                     ?format=prometheus"
                ),
            );
        }
    };
    let text = if api.metrics.unauthenticated() {
        match api.metrics.render().await {
            Ok(text) => text,
            Err(e) => return from_status(&crate::status::from_vault(e), call.path_and_query),
        }
    } else {
        api.metrics.refresh();
        match call
            .serve(api, Operation::Read, "sys/metrics", Data::new())
            .await
        {
            Ok(answer) => answer
                .response
                .data
                .as_ref()
                .and_then(|d| d.get("text"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            Err(refused) => return *refused,
        }
    };
    if json {
        let now = vault_core::clock::rfc3339(vault_core::clock::now_unix());
        return super::reply::json_reply(
            StatusCode::OK,
            &crate::metrics_json::from_openmetrics(&text, &now),
        );
    }
    let mut response = Response::new(axum::body::Body::from(text));
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    response
}

/// `204` for a write with nothing to say.
fn empty<T>(result: Result<T, Box<Response>>) -> Response {
    match result {
        Ok(_) => no_content(),
        Err(refused) => *refused,
    }
}

async fn status_of(api: &Api, call: &Call<'_>) -> Result<SealStatusResponse, Response> {
    api.seal
        .seal_status(call.token())
        .await
        .map_err(|s| from_status(&s, call.path_and_query))
}

async fn init_status(api: &Api, call: &Call<'_>) -> Response {
    match status_of(api, call).await {
        Ok(s) => json_reply(StatusCode::OK, &json!({ "initialized": s.initialized })),
        Err(r) => r,
    }
}

async fn seal_status(api: &Api, call: &Call<'_>) -> Response {
    match status_of(api, call).await {
        Ok(s) => json_reply(StatusCode::OK, &vault_proto::vault_json::seal_status(&s)),
        Err(r) => r,
    }
}

async fn init(api: &Api, call: &Call<'_>) -> Response {
    let body = match call.body_json() {
        Ok(b) => b,
        Err(r) => return *r,
    };
    // The official CLI sends every field, empty when unused: empty is none.
    for unsupported in [
        "pgp_keys",
        "root_token_pgp_key",
        "stored_shares",
        "recovery_pgp_keys",
    ] {
        if body.get(unsupported).is_some_and(is_given) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "{unsupported} is not supported: PGP-encrypted shares and stored shares \
                     are not available here; leave it empty"
                ),
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
    match api.seal.init(shares, threshold).await {
        Ok(out) => json_reply(
            StatusCode::OK,
            &json!({
                "keys": out.unseal_keys_hex,
                "keys_base64": out.unseal_keys_b64,
                "root_token": out.root_token,
            }),
        ),
        Err(s) => from_status(&s, call.path_and_query),
    }
}

async fn unseal(api: &Api, call: &Call<'_>) -> Response {
    let body = match call.body_json() {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let text = |f: &str| body.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
    let reset = body.get("reset").and_then(Value::as_bool).unwrap_or(false);
    if !reset && text("key").is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "'key' must be specified in request body as JSON, or 'reset' set to true",
        );
    }
    let request = UnsealRequest {
        key: text("key"),
        reset,
        nonce: text("nonce"),
    };
    match api.seal.unseal(call.remote(), call.token(), &request).await {
        Ok(out) => {
            let mut body = out
                .status
                .as_ref()
                .map(vault_proto::vault_json::seal_status)
                .unwrap_or(Value::Null);
            if !out.nonce.is_empty() {
                body["nonce"] = json!(out.nonce);
            }
            json_reply(StatusCode::OK, &body)
        }
        Err(s) => from_status(&s, call.path_and_query),
    }
}

/// Vault's `sys/health`: the code says the state (200 active, 429 standby,
/// 501 uninitialised, 503 sealed), each overridable by a query parameter.
async fn health(api: &Api, call: &Call<'_>) -> Response {
    // The caller picks each answer's code (Vault's `?activecode=` and the
    // rest), but only among those a proxy frames like any answer with a body:
    // a 1xx announces something else (101: another protocol on this
    // connection), nothing is read after a 204 or 304 so the JSON would be
    // taken for the next answer, a 3xx is a redirect without a Location.
    // All four are checked whichever one answers, as Vault does.
    let mut codes = [
        ("uninitcode", StatusCode::NOT_IMPLEMENTED),
        ("sealedcode", StatusCode::SERVICE_UNAVAILABLE),
        ("standbycode", StatusCode::TOO_MANY_REQUESTS),
        ("activecode", StatusCode::OK),
    ];
    for (name, code) in &mut codes {
        let Some(text) = call.query(name) else {
            continue;
        };
        match text.parse::<u16>().map(StatusCode::from_u16) {
            Ok(Ok(chosen))
                if chosen != StatusCode::NO_CONTENT
                    && (chosen.is_success()
                        || chosen.is_client_error()
                        || chosen.is_server_error()) =>
            {
                *code = chosen;
            }
            // The text is not repeated: the message names the parameter.
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "{name} must be a status code from 200 to 299 but 204, or from 400 to 599"
                    ),
                );
            }
        }
    }
    let [uninit, sealed, standby_code, active] = codes.map(|(_, code)| code);
    let s = match status_of(api, call).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let standby = s.ha_enabled && !s.is_self && !s.sealed;
    let flag = |name: &str| {
        call.query(name)
            .is_some_and(|v| v.is_empty() || v == "true")
    };
    let status = if !s.initialized {
        uninit
    } else if s.sealed {
        sealed
    } else if standby && !flag("standbyok") {
        standby_code
    } else {
        active
    };
    let body = json!({
        "initialized": s.initialized,
        "sealed": s.sealed,
        "standby": standby,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": vault_core::clock::now_unix(),
        "version": s.version,
        "degraded": s.degraded,
    });
    let mut response = json_reply(status, &body);
    if call.method == Method::HEAD {
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}

async fn leader(api: &Api, call: &Call<'_>) -> Response {
    let s = match status_of(api, call).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let active_time = if s.active_time.is_empty() {
        NO_TIME.to_owned()
    } else {
        s.active_time.clone()
    };
    json_reply(
        StatusCode::OK,
        &json!({
            "ha_enabled": s.ha_enabled,
            "is_self": s.is_self,
            "active_time": active_time,
            "leader_address": s.leader_address,
            "leader_cluster_address": "",
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
        }),
    )
}

/// Vault answers `sys/key-status` with the fields at the top level.
async fn key_status(api: &Api, call: &Call<'_>) -> Response {
    match call
        .serve(api, Operation::Read, "sys/key-status", Data::new())
        .await
    {
        Ok(answer) => {
            let data = answer.response.data.unwrap_or_default();
            json_reply(StatusCode::OK, &Value::Object(data))
        }
        Err(refused) => *refused,
    }
}
