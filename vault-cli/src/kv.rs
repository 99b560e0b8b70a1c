//! `kv ...`: the KV helpers. They ask the vault which mount serves a path and
//! at which KV version, then turn `kv put secret/app k=v` into the version 2
//! engine's `secret/data/app` path and body shape, or version 1's plain path.

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

/// The mount serving `path` (`--mount` wins) and its KV version, as the
/// vault says (`sys/internal/ui/mounts/<path>`, as Vault's CLI asks), and
/// the key below the mount.
async fn locate(
    client: &mut Client,
    path: &str,
    mount: Option<&str>,
) -> anyhow::Result<(String, String, KvVersion)> {
    let path = path.trim_start_matches('/');
    let asked = match mount {
        Some(m) => format!("{}/{path}", m.trim_matches('/')),
        None => path.to_owned(),
    };
    if asked.split('/').next().unwrap_or("").is_empty() {
        anyhow::bail!("give a path as MOUNT/KEY, or --mount");
    }
    let found = logical::call(
        client,
        Op::Read,
        &format!("sys/internal/ui/mounts/{}", asked.trim_end_matches('/')),
        Map::new(),
    )
    .await
    .with_context(|| format!("finding the KV mount of {asked:?}"))?;
    let found = logical::data_of(&found)?;
    let mount_path = found
        .get("path")
        .and_then(Value::as_str)
        .context("the vault did not say which mount serves the path")?;
    if found.get("type").and_then(Value::as_str) != Some("kv") {
        anyhow::bail!("{mount_path} is not a KV mount");
    }
    let version = match found
        .get("options")
        .and_then(|o| o.get("version"))
        .and_then(Value::as_str)
    {
        Some("2") => KvVersion::Two,
        _ => KvVersion::One,
    };
    let key = asked.strip_prefix(mount_path).unwrap_or("").to_owned();
    Ok((mount_path.trim_end_matches('/').to_owned(), key, version))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KvVersion {
    /// Plain paths, one whole secret each.
    One,
    /// `data/`, `metadata/`, ... with versions.
    Two,
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
    let (mount, key, version) = locate(client, path, mount).await?;
    let (op, target, body) = match version {
        KvVersion::Two => version_2(&mount, &key, action)?,
        KvVersion::One => version_1(&mount, &key, action)?,
    };
    // A version 2 secret read: its data is one level down, beside its metadata.
    let v2_secret = version == KvVersion::Two && target.starts_with(&format!("{mount}/data/"));
    let response = logical::call(client, op, &target, body).await?;
    match op {
        Op::List => logical::print_keys(format, &response, &target)?,
        Op::Delete if format == Format::Table => {
            println!("Success! Data deleted (if it existed) at: {target}")
        }
        Op::Read if format == Format::Table && field.is_none() && v2_secret => {
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
        Op::Read if field.is_some() && v2_secret => {
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

/// The call `action` makes on a KV version 2 mount.
fn version_2(
    mount: &str,
    key: &str,
    action: KvAction,
) -> anyhow::Result<(Op, String, Map<String, Value>)> {
    let at = |section: &str| format!("{mount}/{section}/{key}");
    Ok(match action {
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
    })
}

/// The call `action` makes on a KV version 1 mount: the plain path, and no
/// versions, check-and-set, patch or metadata, which version 1 has not.
fn version_1(
    mount: &str,
    key: &str,
    action: KvAction,
) -> anyhow::Result<(Op, String, Map<String, Value>)> {
    let target = format!("{mount}/{key}");
    let only_v2 =
        |what: &str| anyhow::anyhow!("{what} needs a KV version 2 mount; {mount}/ is version 1");
    Ok(match action {
        KvAction::Put { cas: Some(_), .. } | KvAction::Patch { cas: Some(_), .. } => {
            return Err(only_v2("check-and-set (--cas)"));
        }
        KvAction::Put { pairs, cas: None } => (Op::Write, target, logical::parse_pairs(&pairs)?),
        KvAction::Get { version: None } => (Op::Read, target, Map::new()),
        KvAction::Delete { versions: None } => (Op::Delete, target, Map::new()),
        KvAction::List => (Op::List, target, Map::new()),
        KvAction::Patch { .. } => return Err(only_v2("kv patch")),
        KvAction::Get { version: Some(_) } | KvAction::Delete { versions: Some(_) } => {
            return Err(only_v2("--version(s)"));
        }
        KvAction::Undelete { .. } => return Err(only_v2("kv undelete")),
        KvAction::Destroy { .. } => return Err(only_v2("kv destroy")),
        KvAction::MetadataGet | KvAction::MetadataDelete => return Err(only_v2("kv metadata")),
    })
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
        println!("{k:<width$}    {}", logical::text(v));
    }
}
