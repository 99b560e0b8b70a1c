//! Vault's HTTP API, on the same listener as gRPC: `/v1/<path>` over HTTP/1.1
//! or HTTP/2, everything else is gRPC. An adapter, as the gRPC services are:
//! each request becomes a `vault_core::Request` for the dispatcher
//! (dispatch.rs), which forwards it from a standby or runs it through
//! `Vault::handle`, and the answer Vault's envelope. Init, unseal and the
//! seal status are this node's own calls (seal_calls.rs); `sys_calls.rs`
//! and `rekey.rs` give the `sys/` endpoints whose answers Vault shapes
//! differently from a logical read.
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
use vault_core::request::{self as core, Data, Operation};

use crate::dispatch::{Answer, Dispatcher};
use crate::seal_calls::SealCalls;
use reply::{error, from_status};

/// What the HTTP API serves requests with.
#[derive(Debug)]
pub struct Api {
    pub dispatch: Arc<Dispatcher>,
    pub seal: Arc<SealCalls>,
    /// `sys/metrics`.
    pub metrics: Arc<crate::process_metrics::ProcessMetrics>,
    /// The JSON limits bodies are checked against before they are parsed.
    pub json: vault_core::json_limits::JsonLimits,
}

/// The `/v1/` routes, and the UI's when `ui` is set; anything else answers
/// as gRPC does for an unknown service.
pub fn router(api: Arc<Api>, ui: bool) -> axum::Router {
    let api = axum::Router::new()
        .route("/v1/{*path}", axum::routing::any(handle))
        .with_state(api)
        .layer(axum::middleware::map_response(no_store));
    let routes = api.merge(if ui {
        crate::ui::router()
    } else {
        crate::ui::off()
    });
    routes.fallback(grpc_unimplemented)
}

/// An API answer may carry a secret: no cache keeps it (Vault's header).
async fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
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

    /// `operation` on `path` with `data`, from this caller: its token, its
    /// wish not to be forwarded, its trace and its connection.
    pub fn dispatched(
        &self,
        operation: Operation,
        path: &str,
        data: Data,
    ) -> crate::dispatch::Call {
        let request = core::Request::new(operation, path).with_data(data);
        crate::dispatch::Call::from_wire(request, &self.headers, &self.extensions)
    }

    /// `operation` on `path` with `data`, served by the dispatcher.
    pub async fn serve(
        &self,
        api: &Api,
        operation: Operation,
        path: &str,
        data: Data,
    ) -> Result<Answer, Box<Response>> {
        api.dispatch
            .serve(self.dispatched(operation, path, data))
            .await
            .map_err(|status| Box::new(from_status(&status, self.path_and_query)))
    }

    /// The client's address (a forwarded request's, once admission verified
    /// it).
    pub fn remote(&self) -> Option<std::net::IpAddr> {
        crate::dispatch::client_address(&self.extensions)
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
    // A client asking for a wrapped answer must not get the secret itself:
    // what is served beside the pipeline (seal state, init, rekey, health)
    // has no wrapping, so asking for it there is refused.
    if call
        .headers
        .contains_key(vault_proto::WRAP_TTL_METADATA_KEY)
        && sys_calls::beside_the_pipeline(&path)
    {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("response wrapping (X-Vault-Wrap-TTL) is not available on {path}"),
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
    match call.serve(api, op, &path, data).await {
        Ok(answer) => {
            let mut response = reply::envelope(&answer.request_id, &answer.response);
            if let Ok(value) = answer.traceparent.parse() {
                response
                    .headers_mut()
                    .insert(crate::trace::TRACEPARENT, value);
            }
            response
        }
        Err(refused) => *refused,
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
