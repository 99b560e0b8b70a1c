//! Generic path commands (`read`, `write`, `list`, `delete`, `patch`) and what
//! every path-based command shares: `k=v` arguments and printing Vault's response
//! envelope.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use tonic::transport::Channel;
use vault_proto::v1::logical_client::LogicalClient;
use vault_proto::v1::{LogicalRequest, LogicalResponse};

use crate::client::{Client, failed};
use crate::output::{Format, print};

/// The operations of the Logical service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
    Patch,
    Delete,
    List,
}

impl Op {
    /// Sends `request` as this operation.
    pub async fn send(
        self,
        logical: &mut LogicalClient<Channel>,
        request: tonic::Request<LogicalRequest>,
    ) -> Result<tonic::Response<LogicalResponse>, tonic::Status> {
        match self {
            Op::Read => logical.read(request).await,
            Op::Write => logical.write(request).await,
            Op::Patch => logical.patch(request).await,
            Op::Delete => logical.delete(request).await,
            Op::List => logical.list(request).await,
        }
    }
}

/// Sends one Logical call; errors read "Error <doing what> <path>: <message>".
pub async fn call(
    client: &mut Client,
    op: Op,
    path: &str,
    data: Map<String, Value>,
) -> anyhow::Result<LogicalResponse> {
    let message = LogicalRequest {
        path: path.to_owned(),
        data_json: if data.is_empty() {
            String::new()
        } else {
            Value::Object(data).to_string()
        },
        // Asked for with the client's --wrap-ttl, as metadata (client.rs).
        wrap_ttl: String::new(),
    };
    let request = client.request(message)?;
    let result = op.send(&mut client.logical, request).await;
    let doing = match op {
        Op::Read => "reading",
        Op::Write => "writing",
        Op::Patch => "patching",
        Op::Delete => "deleting",
        Op::List => "listing",
    };
    result.map(tonic::Response::into_inner).map_err(|status| {
        // A read or list of nothing, in Vault's words (and its exit code, 2).
        if matches!(op, Op::Read | Op::List)
            && status.code() == tonic::Code::NotFound
            && !status.message().starts_with("no handler for route")
        {
            return NoValue::at(path);
        }
        failed(format!("Error {doing} {path}"), status)
    })
}

/// A read or a list found nothing at `path`: Vault's CLI says so and exits 2.
#[derive(Debug)]
pub struct NoValue {
    path: String,
}

impl NoValue {
    /// The error for `path`, named as Vault names it (no trailing `/`).
    pub fn at(path: &str) -> anyhow::Error {
        anyhow::Error::new(NoValue {
            path: path.trim_end_matches('/').to_owned(),
        })
    }
}

impl std::fmt::Display for NoValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "No value found at {}", self.path)
    }
}

impl std::error::Error for NoValue {}

/// Parses `k=v` arguments. `k=@file` reads the value from a file and `k=-` from
/// stdin (at most one `-`).
pub fn parse_pairs(args: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut data = Map::new();
    let mut stdin_used = false;
    let mut take_stdin = |what: &str| -> anyhow::Result<String> {
        if stdin_used {
            bail!("only one value can be read from stdin ({what})");
        }
        stdin_used = true;
        read_bounded(std::io::stdin(), "stdin")
    };
    for arg in args {
        // As Vault's CLI: `-` alone is the whole data as a JSON object from
        // stdin, `@FILE` alone the same from a file; they merge with the
        // key=value pairs around them.
        if arg == "-" {
            data.extend(json_object(&take_stdin("the data")?, "stdin")?);
            continue;
        }
        if let Some(file) = arg.strip_prefix('@').filter(|_| !arg.contains('=')) {
            let text = read_bounded(
                std::fs::File::open(file).with_context(|| format!("reading {file}"))?,
                file,
            )?;
            data.extend(json_object(&text, file)?);
            continue;
        }
        let (key, value) = arg.split_once('=').with_context(|| {
            format!("argument {arg:?} is not of the form key=value, - or @FILE")
        })?;
        if key.is_empty() {
            bail!("argument {arg:?} has an empty key");
        }
        let value = if value == "-" {
            take_stdin(key)?.trim_end_matches('\n').to_owned()
        } else if let Some(file) = value.strip_prefix('@') {
            read_bounded(
                std::fs::File::open(file).with_context(|| format!("reading {file}"))?,
                file,
            )?
        } else {
            value.to_owned()
        };
        data.insert(key.to_owned(), Value::String(value));
    }
    Ok(data)
}

/// The most read from stdin or a file for one command: the server refuses
/// larger bodies anyway (its max_request_size is 32 MiB at most).
const MAX_INPUT: u64 = 32 << 20;

/// All of `input` as UTF-8, refused past [`MAX_INPUT`].
fn read_bounded(input: impl Read, what: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    input
        .take(MAX_INPUT + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {what}"))?;
    if text.len() as u64 > MAX_INPUT {
        bail!("{what} holds more than {} MiB", MAX_INPUT >> 20);
    }
    Ok(text)
}

/// `text` as a JSON object, or an error naming `what` it came from.
fn json_object(text: &str, what: &str) -> anyhow::Result<Map<String, Value>> {
    match serde_json::from_str(text).with_context(|| format!("{what} is not valid JSON"))? {
        Value::Object(map) => Ok(map),
        _ => bail!("{what} must hold a JSON object (the data as {{\"key\": value, ...}})"),
    }
}

/// The response's data as a JSON object (empty if none).
pub fn data_of(response: &LogicalResponse) -> anyhow::Result<Map<String, Value>> {
    if response.data_json.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str(&response.data_json)
        .context("the vault sent data that is not JSON")?
    {
        Value::Object(map) => Ok(map),
        _ => bail!("the vault sent data that is not a JSON object"),
    }
}

/// Vault's envelope: `request_id, lease_id, lease_duration, renewable, data,
/// warnings` (and `auth` when a token was made).
pub fn envelope(response: &LogicalResponse) -> anyhow::Result<Value> {
    let data = data_of(response)?;
    let auth = response.auth.as_ref().map(|a| {
        json!({
            "client_token": a.client_token,
            "accessor": a.accessor,
            "policies": a.policies,
            "token_policies": token_policies(a),
            "identity_policies": a.identity_policies,
            "entity_id": a.entity_id,
            "lease_duration": a.lease_duration,
            "renewable": a.renewable,
            "metadata": a.metadata.iter().collect::<BTreeMap<_, _>>(),
            "num_uses": a.num_uses,
            "orphan": a.orphan,
            "mfa_requirement": a.mfa_requirement.as_ref().map(|m| json!({
                "mfa_request_id": m.mfa_request_id,
                "mfa_constraints": serde_json::from_str::<Value>(&m.mfa_constraints_json)
                    .unwrap_or(Value::Null),
            })),
        })
    });
    let wrap_info = response.wrap_info.as_ref().map(|w| {
        json!({
            "token": w.token,
            "accessor": w.accessor,
            "ttl": w.ttl,
            "creation_time": w.creation_time,
            "creation_path": w.creation_path,
            "wrapped_accessor": w.wrapped_accessor,
        })
    });
    Ok(json!({
        "request_id": response.request_id,
        "lease_id": response.lease_id,
        "lease_duration": response.lease_duration,
        "renewable": response.renewable,
        "data": if data.is_empty() { Value::Null } else { Value::Object(data) },
        "warnings": if response.warnings.is_empty() { Value::Null } else { json!(response.warnings) },
        "auth": auth.unwrap_or(Value::Null),
        "wrap_info": wrap_info.unwrap_or(Value::Null),
    }))
}

/// The token's own policies (a server that predates identity sends only
/// `policies`).
fn token_policies(auth: &vault_proto::v1::Auth) -> &[String] {
    if auth.token_policies.is_empty() {
        &auth.policies
    } else {
        &auth.token_policies
    }
}

/// A value as a table cell, as Vault's CLI shows it: null is `<nil>`, an
/// empty string `n/a`, a list `[a b]`.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "n/a".into(),
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Array(items) => crate::output::list(items.iter().map(|item| match item {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })),
        other => other.to_string(),
    }
}

/// Prints a response: one field (`--field`), Vault's envelope (json) or a table.
pub fn print_response(
    format: Format,
    response: &LogicalResponse,
    field: Option<&str>,
) -> anyhow::Result<()> {
    for warning in &response.warnings {
        eprintln!("WARNING! {warning}");
    }
    if let Some(wrap) = &response.wrap_info {
        return print_wrap_info(format, response, wrap, field);
    }
    let data = data_of(response)?;
    if let Some(name) = field {
        let value = match (&response.auth, name) {
            (Some(a), "token") => Value::String(a.client_token.clone()),
            (Some(a), "token_accessor") => Value::String(a.accessor.clone()),
            (Some(a), "token_duration") => json!(a.lease_duration),
            (Some(a), "token_policies") => json!(token_policies(a)),
            (Some(a), "identity_policies") => json!(a.identity_policies),
            (Some(a), "policies") => json!(a.policies),
            (Some(a), "token_entity_id" | "entity_id") => Value::String(a.entity_id.clone()),
            _ => data
                .get(name)
                .cloned()
                .with_context(|| format!("field {name:?} not present in the response"))?,
        };
        println!("{}", text(&value));
        return Ok(());
    }
    if format == Format::Json {
        print(format, &[], &envelope(response)?);
        return Ok(());
    }
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(a) = &response.auth {
        rows.push(("token".into(), a.client_token.clone()));
        rows.push(("token_accessor".into(), a.accessor.clone()));
        // A token without a TTL (root) lasts for ever: Vault shows ∞.
        let duration = match a.lease_duration {
            0 => "∞".to_owned(),
            secs => crate::output::duration(secs),
        };
        rows.push(("token_duration".into(), duration));
        rows.push(("token_renewable".into(), a.renewable.to_string()));
        // Vault's rows: the token's own policies, its entity's, and both.
        rows.push((
            "token_policies".into(),
            crate::output::list(token_policies(a)),
        ));
        rows.push((
            "identity_policies".into(),
            crate::output::list(&a.identity_policies),
        ));
        rows.push(("policies".into(), crate::output::list(&a.policies)));
        for (k, v) in &a.metadata {
            rows.push((format!("token_meta_{k}"), v.clone()));
        }
    }
    if !response.lease_id.is_empty() {
        rows.push(("lease_id".into(), response.lease_id.clone()));
        rows.push((
            "lease_duration".into(),
            crate::output::duration(response.lease_duration),
        ));
        rows.push(("lease_renewable".into(), response.renewable.to_string()));
    }
    for (k, v) in &data {
        rows.push((k.clone(), cell(k, v)));
    }
    if rows.is_empty() {
        return Ok(());
    }
    let borrowed: Vec<(&str, String)> = rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    print(format, &borrowed, &Value::Null);
    Ok(())
}

/// A wrapped answer, under the names Vault's CLI gives its rows (and takes
/// for `--field`).
fn print_wrap_info(
    format: Format,
    response: &LogicalResponse,
    wrap: &vault_proto::v1::WrapInfo,
    field: Option<&str>,
) -> anyhow::Result<()> {
    let rows = [
        ("wrapping_token", wrap.token.clone()),
        ("wrapping_accessor", wrap.accessor.clone()),
        ("wrapping_token_ttl", crate::output::duration(wrap.ttl)),
        ("wrapping_token_creation_time", wrap.creation_time.clone()),
        ("wrapping_token_creation_path", wrap.creation_path.clone()),
        ("wrapped_accessor", wrap.wrapped_accessor.clone()),
    ];
    if let Some(name) = field {
        let (_, value) = rows
            .iter()
            .find(|(key, _)| *key == name)
            .with_context(|| format!("field {name:?} not present in the wrapped answer"))?;
        println!("{value}");
        return Ok(());
    }
    let rows: Vec<(&str, String)> = rows
        .into_iter()
        .filter(|(key, value)| *key != "wrapped_accessor" || !value.is_empty())
        .collect();
    print(format, &rows, &envelope(response)?);
    Ok(())
}

/// A data field as a table cell. As in Vault's CLI, a field that looks like
/// a TTL (`ttl`, `period`, `*_ttl`, `*_period`) holding seconds reads as a
/// duration.
fn cell(key: &str, value: &Value) -> String {
    let looks_like_ttl =
        key == "ttl" || key == "period" || key.ends_with("_ttl") || key.ends_with("_period");
    match value.as_u64() {
        Some(secs) if looks_like_ttl => crate::output::duration(secs),
        _ => text(value),
    }
}

/// Prints the keys of a list response, one per line (table) or as JSON.
/// No keys is Vault's "No value found" (the API answers an empty list 404).
pub fn print_keys(format: Format, response: &LogicalResponse, path: &str) -> anyhow::Result<()> {
    let data = data_of(response)?;
    let keys = data.get("keys").cloned().unwrap_or(Value::Array(vec![]));
    if keys.as_array().is_none_or(Vec::is_empty) {
        return Err(NoValue::at(path));
    }
    match format {
        Format::Json => print(format, &[], &keys),
        Format::Table => {
            println!("Keys\n----");
            for key in keys.as_array().into_iter().flatten() {
                println!("{}", text(key));
            }
        }
    }
    Ok(())
}

/// `read|write|patch|delete|list PATH [k=v ...]`.
pub async fn run(
    client: &mut Client,
    format: Format,
    op: Op,
    path: &str,
    pairs: &[String],
    field: Option<&str>,
) -> anyhow::Result<u8> {
    let data = parse_pairs(pairs)?;
    let response = call(client, op, path, data).await?;
    match op {
        Op::List => print_keys(format, &response, path)?,
        Op::Delete => {
            if format == Format::Json {
                print(format, &[], &envelope(&response)?);
            } else {
                println!("Success! Data deleted (if it existed) at: {path}");
            }
        }
        Op::Write | Op::Patch
            if response.data_json.is_empty() && response.auth.is_none() && field.is_none() =>
        {
            if format == Format::Json {
                print(format, &[], &envelope(&response)?);
            } else {
                println!("Success! Data written to: {path}");
            }
        }
        _ => print_response(format, &response, field)?,
    }
    Ok(0)
}
