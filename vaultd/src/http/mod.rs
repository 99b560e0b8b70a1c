//! Vault's HTTP API, on the same listener as gRPC: `/v1/<path>` over HTTP/1.1
//! or HTTP/2, everything else is gRPC. Each request becomes the very call the
//! gRPC services answer (`Logical` for paths, `Sys` for the calls in
//! `sys_calls.rs` and `rekey.rs`), run in-process on the same service objects, so no rule is implemented
//! twice and a standby forwards HTTP requests as it forwards gRPC ones.
//!
//! Wire conventions, as Vault's: the token in `X-Vault-Token` or
//! `Authorization: Bearer`; `X-Vault-No-Request-Forwarding: true` asks a
//! standby to redirect (307) rather than forward; GET reads (`?list=true`
//! lists, other query parameters are the request data), LIST lists, PUT and
//! POST write, PATCH patches, DELETE deletes; answers in Vault's envelope,
//! errors as `{"errors": [...]}`.

mod body_fields;
mod rekey;
pub(crate) mod reply;
mod sys_calls;

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tonic::metadata::{MetadataMap, MetadataValue};
use vault_core::request::{Data, Operation};

use crate::logical::{Incoming, LogicalService};
use crate::sys::SysService;
use reply::{error, from_status};

/// The services the HTTP API maps onto.
#[derive(Debug)]
pub struct Api {
    pub logical: Arc<LogicalService>,
    pub sys: Arc<SysService>,
    /// `sys/metrics`.
    pub metrics: Arc<crate::process_metrics::ProcessMetrics>,
    /// The JSON limits bodies are checked against before they are parsed.
    pub json: vault_core::json_limits::JsonLimits,
}

/// The `/v1/` routes; anything else answers as gRPC does for an unknown
/// service.
pub fn router(api: Arc<Api>) -> axum::Router {
    axum::Router::new()
        .route("/v1/{*path}", axum::routing::any(handle))
        .with_state(api)
        .fallback(grpc_unimplemented)
}

async fn grpc_unimplemented() -> Response {
    let (parts, ()) = tonic::Status::unimplemented("")
        .into_http::<()>()
        .into_parts();
    Response::from_parts(parts, Body::empty())
}

/// One HTTP request, taken apart.
pub struct Call<'a> {
    pub method: Method,
    pub path_and_query: &'a str,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    query: Vec<(String, String)>,
    body: Bytes,
    json: vault_core::json_limits::JsonLimits,
}

impl Call<'_> {
    /// The caller's token: `X-Vault-Token`, else `Authorization: Bearer`.
    fn token(&self) -> Option<&str> {
        crate::admission::token_of(&self.headers)
    }

    /// `message` as a gRPC request from this caller: its token, its wish
    /// not to be forwarded, and its connection (for the audit log's address).
    pub fn grpc<T>(&self, message: T) -> tonic::Request<T> {
        let mut metadata = MetadataMap::new();
        if let Some(value) = self.token().and_then(|t| MetadataValue::try_from(t).ok()) {
            metadata.insert(vault_proto::TOKEN_METADATA_KEY, value);
        }
        let no_forward = self
            .headers
            .get("x-vault-no-request-forwarding")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        if no_forward {
            metadata.insert(
                vault_proto::NO_FORWARD_METADATA_KEY,
                MetadataValue::from_static("1"),
            );
        }
        if let Some(value) = self
            .headers
            .get(crate::trace::TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| MetadataValue::try_from(v).ok())
        {
            metadata.insert(crate::trace::TRACEPARENT, value);
        }
        tonic::Request::from_parts(metadata, self.extensions.clone(), message)
    }

    /// The first value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as a JSON object (empty: `{}`), checked against the
    /// listener's JSON limits first, or a 400 answer saying why not.
    pub fn body_json(&self) -> Result<Data, Box<Response>> {
        vault_core::json_limits::parse_object(&self.body, &self.json)
            .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, &e.to_string())))
    }
}

/// `a=1&b=x%20y` as pairs, percent- and plus-decoded.
fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

async fn handle(State(api): State<Arc<Api>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // Read whole already, within its budget and time (admission.rs,
    // run_to_end.rs): this only takes the bytes.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the request body could not be read: {e}"),
            );
        }
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    // Percent-decoded, as Vault reads URL paths: `my%20key` is the key
    // `my key`, and an encoded `..` meets the same refusal as a plain one.
    let raw_path = parts.uri.path().strip_prefix("/v1/").unwrap_or_default();
    let path = match percent_encoding::percent_decode_str(raw_path).decode_utf8() {
        Ok(p) => p.into_owned(),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the request path is not valid UTF-8 once percent-decoded",
            );
        }
    };
    let call = Call {
        method: parts.method,
        path_and_query: &path_and_query,
        headers: parts.headers,
        extensions: parts.extensions,
        query: parse_query(parts.uri.query()),
        body,
        json: api.json,
    };
    // A client asking for a wrapped answer must not get the secret itself.
    if call.headers.contains_key("x-vault-wrap-ttl") {
        return error(
            StatusCode::BAD_REQUEST,
            "response wrapping (X-Vault-Wrap-TTL) is not supported",
        );
    }
    if let Some(response) = sys_calls::route(&api, &call, &path).await {
        return response;
    }
    logical(&api, &call, path).await
}

/// Which logical operation a method (and `?list=true`) asks for. A write is
/// an update here; the pipeline makes it a create where nothing exists yet.
fn operation(method: &Method, list_query: bool) -> Option<Operation> {
    Some(match method.as_str() {
        "GET" if list_query => Operation::List,
        "GET" => Operation::Read,
        "LIST" => Operation::List,
        "PUT" | "POST" => Operation::Update,
        "PATCH" => Operation::Patch,
        "DELETE" => Operation::Delete,
        _ => return None,
    })
}

async fn logical(api: &Api, call: &Call<'_>, path: String) -> Response {
    let list_query = call.query("list").is_some_and(|v| v == "true" || v == "1");
    let Some(op) = operation(&call.method, list_query) else {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} is not supported", call.method),
        );
    };
    // Reads, lists and deletes take their data from the query, writes from
    // the body.
    let data = match op {
        Operation::Update | Operation::Create | Operation::Patch => match call.body_json() {
            Ok(map) => map,
            Err(r) => return *r,
        },
        Operation::Read | Operation::List | Operation::Delete => call
            .query
            .iter()
            .filter(|(k, _)| !(k == "list" && op == Operation::List))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    };
    let request = call.grpc(Incoming { path, data });
    match api.logical.serve(op, request).await {
        Ok(out) => {
            let mut response = reply::envelope(&out.message, out.data);
            if let Ok(value) = out.traceparent.parse() {
                response
                    .headers_mut()
                    .insert(crate::trace::TRACEPARENT, value);
            }
            response
        }
        Err(status) => from_status(&status, call.path_and_query),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded() {
        assert_eq!(
            parse_query(Some("list=true&a=x%20y&b=c+d&flag")),
            vec![
                ("list".into(), "true".into()),
                ("a".into(), "x y".into()),
                ("b".into(), "c d".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert!(parse_query(None).is_empty());
    }

    #[test]
    fn methods_map_to_vaults_operations() {
        assert_eq!(operation(&Method::GET, false), Some(Operation::Read));
        assert_eq!(operation(&Method::GET, true), Some(Operation::List));
        let list = Method::from_bytes(b"LIST").unwrap();
        assert_eq!(operation(&list, false), Some(Operation::List));
        assert_eq!(operation(&Method::PUT, false), Some(Operation::Update));
        assert_eq!(operation(&Method::POST, false), Some(Operation::Update));
        assert_eq!(operation(&Method::PATCH, false), Some(Operation::Patch));
        assert_eq!(operation(&Method::DELETE, false), Some(Operation::Delete));
        assert_eq!(operation(&Method::OPTIONS, false), None);
    }
}
