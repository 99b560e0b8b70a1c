//! `kv ...`: the KV v2 helpers, which turn `kv put secret/app k=v` into the
//! engine's `secret/data/app` paths and body shape.

use anyhow::Context;
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::logical::{self, Op};
use crate::output::Format;

/// What `kv` was asked to do.
#[derive(Debug)]
pub enum KvAction {
    Put {
        pairs: Vec<String>,
        cas: Option<u64>,
    },
    Get {
        version: Option<u64>,
    },
    Patch {
        pairs: Vec<String>,
        cas: Option<u64>,
    },
    Delete {
        versions: Option<String>,
    },
    Undelete {
        versions: String,
    },
    Destroy {
        versions: String,
    },
    MetadataGet,
    MetadataDelete,
    List,
}

/// Splits `secret/app` into the mount and the key (`--mount` wins).
fn split(path: &str, mount: Option<&str>) -> anyhow::Result<(String, String)> {
    let path = path.trim_start_matches('/');
    if let Some(m) = mount {
        return Ok((m.trim_matches('/').to_owned(), path.to_owned()));
    }
    let (m, key) = path.split_once('/').unwrap_or((path, ""));
    if m.is_empty() {
        anyhow::bail!("give a path as MOUNT/KEY, or --mount");
    }
    Ok((m.to_owned(), key.to_owned()))
}

fn versions(list: &str) -> anyhow::Result<Value> {
    let parsed: Result<Vec<u64>, _> = list.split(',').map(|v| v.trim().parse::<u64>()).collect();
    Ok(json!(
        parsed.context("--versions takes numbers like 1,2,3")?
    ))
}

pub async fn run(
    client: &mut Client,
    format: Format,
    path: &str,
    mount: Option<&str>,
    action: KvAction,
    field: Option<&str>,
) -> anyhow::Result<u8> {
    let (mount, key) = split(path, mount)?;
    let at = |section: &str| format!("{mount}/{section}/{key}");
    let (op, target, body) = match action {
        KvAction::Put { pairs, cas } => (Op::Write, at("data"), with_cas(&pairs, cas)?),
        KvAction::Patch { pairs, cas } => (Op::Patch, at("data"), with_cas(&pairs, cas)?),
        KvAction::Get { version } => {
            let mut body = Map::new();
            if let Some(v) = version {
                body.insert("version".into(), json!(v));
            }
            (Op::Read, at("data"), body)
        }
        KvAction::Delete { versions: None } => (Op::Delete, at("data"), Map::new()),
        KvAction::Delete { versions: Some(v) } => (
            Op::Write,
            at("delete"),
            object(json!({ "versions": versions(&v)? })),
        ),
        KvAction::Undelete { versions: v } => (
            Op::Write,
            at("undelete"),
            object(json!({ "versions": versions(&v)? })),
        ),
        KvAction::Destroy { versions: v } => (
            Op::Write,
            at("destroy"),
            object(json!({ "versions": versions(&v)? })),
        ),
        KvAction::MetadataGet => (Op::Read, at("metadata"), Map::new()),
        KvAction::MetadataDelete => (Op::Delete, at("metadata"), Map::new()),
        KvAction::List => (Op::List, at("metadata"), Map::new()),
    };
    let response = logical::call(client, op, &target, body).await?;
    match op {
        Op::List => logical::print_keys(format, &response)?,
        Op::Delete if format == Format::Table => {
            println!("Success! Data deleted (if it existed) at: {target}")
        }
        Op::Read if format == Format::Table && field.is_none() && target.contains("/data/") => {
            // Show the secret itself, as `vault kv get` does.
            let data = logical::data_of(&response)?;
            if let Some(Value::Object(meta)) = data.get("metadata") {
                println!("======= Metadata =======");
                print_map(meta);
                println!();
            }
            println!("====== Data ======");
            if let Some(Value::Object(secret)) = data.get("data") {
                print_map(secret);
            }
        }
        Op::Read if field.is_some() && target.contains("/data/") => {
            // --field names a key of the secret, not of the envelope.
            let data = logical::data_of(&response)?;
            let name = field.unwrap_or_default();
            let value = data
                .get("data")
                .and_then(|d| d.get(name))
                .with_context(|| format!("field {name:?} not present in the secret"))?;
            println!(
                "{}",
                value
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| value.to_string())
            );
        }
        _ if response.data_json.is_empty() && format == Format::Table => {
            println!("Success! Data written to: {target}")
        }
        _ => logical::print_response(format, &response, field)?,
    }
    Ok(0)
}

fn with_cas(pairs: &[String], cas: Option<u64>) -> anyhow::Result<Map<String, Value>> {
    let data = logical::parse_pairs(pairs)?;
    let mut body = Map::new();
    body.insert("data".into(), Value::Object(data));
    if let Some(cas) = cas {
        body.insert("options".into(), json!({ "cas": cas }));
    }
    Ok(body)
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn print_map(map: &Map<String, Value>) {
    let width = map.keys().map(String::len).max().unwrap_or(3).max(3);
    println!("{:<width$}    Value", "Key");
    println!("{:<width$}    -----", "---");
    for (k, v) in map {
        let text = v
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string());
        println!("{k:<width$}    {text}");
    }
}
