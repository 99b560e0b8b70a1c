//! `token`, `policy`, `secrets`, `auth` and `login`: each a thin shape over the
//! Logical service's paths (`auth/token/...`, `sys/policy/...`, `sys/mounts/...`,
//! `sys/auth/...`, `auth/<method>/login...`).
//!
//! A token these commands take as an argument may be given as `-` (read from
//! stdin) or `@FILE` (read from a file), so that it need not be on the command
//! line, where `ps` and the shell's history show it; see [`token_argument`].

use std::io::Read as _;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::logical::{self, Op};
use crate::output::{Format, print};

/// The token `arg` names: `-` reads stdin, `@FILE` reads the file, anything
/// else is the token itself. What is read is trimmed (a trailing newline is
/// not part of a token). Errors name the source, never the token. Tokens and
/// accessors never begin with `@` or equal `-`, so neither reading is
/// ambiguous.
fn token_argument(arg: &str) -> anyhow::Result<String> {
    let (text, source) = if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the token from stdin")?;
        (text, "stdin".to_owned())
    } else if let Some(file) = arg.strip_prefix('@') {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the token from {file}"))?;
        (text, file.to_owned())
    } else {
        return Ok(arg.to_owned());
    };
    let token = text.trim();
    if token.is_empty() {
        bail!("no token in {source}");
    }
    Ok(token.to_owned())
}

/// `vault-cli unwrap [TOKEN]`: as Vault's client, a token given while
/// another is in use travels in the body (the caller's own token
/// authenticates the call); otherwise it is the call's token.
pub async fn unwrap(
    client: &mut Client,
    format: Format,
    token: Option<String>,
    field: Option<&str>,
) -> anyhow::Result<u8> {
    let mut body = Map::new();
    let mut client = client.clone();
    match optional_token(token)? {
        Some(wrapping) if client.token().is_some_and(|own| own != wrapping) => {
            body.insert("token".into(), json!(wrapping));
        }
        Some(wrapping) => client = client.with_token(&wrapping),
        None if client.token().is_none() => {
            bail!("unwrap: give the wrapping token, or set VAULT_TOKEN to it")
        }
        None => {}
    }
    let response = logical::call(&mut client, Op::Write, "sys/wrapping/unwrap", body).await?;
    logical::print_response(format, &response, field)?;
    Ok(0)
}

/// The token in `text` when it is a JSON answer that made one (what
/// `unwrap --format json` prints for a wrapped token or login); `None` when
/// `text` is not JSON, and so the token itself.
fn token_of_answer(text: &str) -> anyhow::Result<Option<String>> {
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let answer: Value =
        serde_json::from_str(text).context("the token given is JSON that does not parse")?;
    match answer.pointer("/auth/client_token").and_then(Value::as_str) {
        Some(token) if !token.is_empty() => Ok(Some(token.to_owned())),
        _ => bail!("the JSON given holds no auth.client_token"),
    }
}

/// [`token_argument`] for an optional argument.
fn optional_token(arg: Option<String>) -> anyhow::Result<Option<String>> {
    arg.as_deref().map(token_argument).transpose()
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `token create` options.
#[derive(Debug, Default)]
pub struct TokenCreate {
    pub policies: Vec<String>,
    pub ttl: Option<String>,
    pub explicit_max_ttl: Option<String>,
    pub period: Option<String>,
    pub use_limit: Option<u64>,
    pub orphan: bool,
    pub display_name: Option<String>,
    pub no_default_policy: bool,
    pub metadata: Vec<String>,
}

pub async fn token_create(
    client: &mut Client,
    format: Format,
    opts: TokenCreate,
    field: Option<&str>,
) -> anyhow::Result<u8> {
    let mut body = Map::new();
    if !opts.policies.is_empty() {
        body.insert("policies".into(), json!(opts.policies));
    }
    for (key, value) in [
        ("ttl", opts.ttl),
        ("explicit_max_ttl", opts.explicit_max_ttl),
        ("period", opts.period),
        ("display_name", opts.display_name),
    ] {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    }
    if let Some(n) = opts.use_limit {
        body.insert("num_uses".into(), json!(n));
    }
    if opts.no_default_policy {
        body.insert("no_default_policy".into(), json!(true));
    }
    if !opts.metadata.is_empty() {
        body.insert(
            "meta".into(),
            Value::Object(logical::parse_pairs(&opts.metadata)?),
        );
    }
    let path = if opts.orphan {
        "auth/token/create-orphan"
    } else {
        "auth/token/create"
    };
    let response = logical::call(client, Op::Write, path, body).await?;
    logical::print_response(format, &response, field)?;
    Ok(0)
}

pub async fn token_lookup(
    client: &mut Client,
    format: Format,
    token: Option<String>,
    accessor: bool,
) -> anyhow::Result<u8> {
    let response = match (optional_token(token)?, accessor) {
        (None, false) => {
            logical::call(client, Op::Read, "auth/token/lookup-self", Map::new()).await?
        }
        (Some(a), true) => {
            logical::call(
                client,
                Op::Write,
                "auth/token/lookup-accessor",
                object(json!({ "accessor": a })),
            )
            .await?
        }
        (Some(t), false) => {
            logical::call(
                client,
                Op::Write,
                "auth/token/lookup",
                object(json!({ "token": t })),
            )
            .await?
        }
        (None, true) => bail!("--accessor needs the accessor as an argument"),
    };
    logical::print_response(format, &response, None)?;
    Ok(0)
}

pub async fn token_renew(
    client: &mut Client,
    format: Format,
    token: Option<String>,
    increment: Option<String>,
) -> anyhow::Result<u8> {
    let mut body = Map::new();
    if let Some(i) = increment {
        body.insert("increment".into(), json!(i));
    }
    let path = match optional_token(token)? {
        Some(t) => {
            body.insert("token".into(), json!(t));
            "auth/token/renew"
        }
        None => "auth/token/renew-self",
    };
    let response = logical::call(client, Op::Write, path, body).await?;
    logical::print_response(format, &response, None)?;
    Ok(0)
}

pub async fn token_revoke(
    client: &mut Client,
    token: Option<String>,
    accessor: bool,
    orphan: bool,
) -> anyhow::Result<u8> {
    let (path, body) = match (optional_token(token)?, accessor, orphan) {
        (None, _, _) => ("auth/token/revoke-self", Map::new()),
        (Some(a), true, _) => (
            "auth/token/revoke-accessor",
            object(json!({ "accessor": a })),
        ),
        (Some(t), false, true) => ("auth/token/revoke-orphan", object(json!({ "token": t }))),
        (Some(t), false, false) => ("auth/token/revoke", object(json!({ "token": t }))),
    };
    logical::call(client, Op::Write, path, body).await?;
    println!("Success! Revoked token (if it existed)");
    Ok(0)
}

pub async fn token_capabilities(
    client: &mut Client,
    format: Format,
    args: &[String],
) -> anyhow::Result<u8> {
    let (path, body) = match args {
        [path] => ("sys/capabilities-self", object(json!({ "paths": [path] }))),
        [token, path] => (
            "sys/capabilities",
            object(json!({ "token": token_argument(token)?, "paths": [path] })),
        ),
        _ => bail!("usage: token capabilities [TOKEN] PATH"),
    };
    let response = logical::call(client, Op::Write, path, body).await?;
    let data = logical::data_of(&response)?;
    let caps = data.get("capabilities").cloned().unwrap_or(Value::Null);
    match format {
        Format::Json => print(format, &[], &caps),
        Format::Table => {
            let names: Vec<String> = caps
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect();
            println!("{}", names.join(", "));
        }
    }
    Ok(0)
}

pub async fn policy_write(client: &mut Client, name: &str, source: &str) -> anyhow::Result<u8> {
    let text = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the policy from stdin")?;
        text
    } else {
        std::fs::read_to_string(source).with_context(|| format!("reading {source}"))?
    };
    logical::call(
        client,
        Op::Write,
        &format!("sys/policies/acl/{name}"),
        object(json!({ "policy": text })),
    )
    .await?;
    println!("Success! Uploaded policy: {name}");
    Ok(0)
}

pub async fn policy_read(client: &mut Client, format: Format, name: &str) -> anyhow::Result<u8> {
    let response = logical::call(
        client,
        Op::Read,
        &format!("sys/policies/acl/{name}"),
        Map::new(),
    )
    .await?;
    match format {
        Format::Json => logical::print_response(format, &response, None)?,
        Format::Table => {
            let data = logical::data_of(&response)?;
            println!(
                "{}",
                data.get("policy")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
        }
    }
    Ok(0)
}

pub async fn policy_list(client: &mut Client, format: Format) -> anyhow::Result<u8> {
    let response = logical::call(client, Op::List, "sys/policies/acl", Map::new()).await?;
    let data = logical::data_of(&response)?;
    let keys = data.get("keys").cloned().unwrap_or(Value::Array(vec![]));
    match format {
        Format::Json => print(format, &[], &keys),
        Format::Table => keys
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .for_each(|k| println!("{k}")),
    }
    Ok(0)
}

pub async fn policy_delete(client: &mut Client, name: &str) -> anyhow::Result<u8> {
    logical::call(
        client,
        Op::Delete,
        &format!("sys/policies/acl/{name}"),
        Map::new(),
    )
    .await?;
    println!("Success! Deleted policy: {name}");
    Ok(0)
}

/// `secrets enable` / `auth enable`.
#[derive(Debug)]
pub struct Enable {
    pub kind: String,
    pub path: Option<String>,
    pub description: Option<String>,
    pub default_lease_ttl: Option<String>,
    pub max_lease_ttl: Option<String>,
    pub version: Option<String>,
}

pub async fn enable(client: &mut Client, auth: bool, opts: Enable) -> anyhow::Result<u8> {
    let path = opts.path.clone().unwrap_or_else(|| opts.kind.clone());
    let path = path.trim_matches('/');
    let mut config = Map::new();
    if let Some(d) = opts.default_lease_ttl {
        config.insert("default_lease_ttl".into(), json!(d));
    }
    if let Some(m) = opts.max_lease_ttl {
        config.insert("max_lease_ttl".into(), json!(m));
    }
    let mut body = object(
        json!({ "type": opts.kind, "description": opts.description.unwrap_or_default(), "config": config }),
    );
    if let Some(v) = opts.version {
        body.insert("options".into(), json!({ "version": v }));
    }
    let (table, what) = if auth {
        ("sys/auth", "auth method")
    } else {
        ("sys/mounts", "secrets engine")
    };
    logical::call(client, Op::Write, &format!("{table}/{path}"), body).await?;
    println!("Success! Enabled the {} {what} at: {path}/", opts.kind);
    Ok(0)
}

pub async fn disable(client: &mut Client, auth: bool, path: &str) -> anyhow::Result<u8> {
    let path = path.trim_matches('/');
    let table = if auth { "sys/auth" } else { "sys/mounts" };
    logical::call(client, Op::Delete, &format!("{table}/{path}"), Map::new()).await?;
    println!(
        "Success! Disabled the {} at: {path}/",
        if auth {
            "auth method"
        } else {
            "secrets engine"
        }
    );
    Ok(0)
}

pub async fn list_mounts(client: &mut Client, format: Format, auth: bool) -> anyhow::Result<u8> {
    let table = if auth { "sys/auth" } else { "sys/mounts" };
    let response = logical::call(client, Op::Read, table, Map::new()).await?;
    let data = logical::data_of(&response)?;
    match format {
        Format::Json => print(format, &[], &Value::Object(data)),
        Format::Table => {
            println!(
                "{:<20}  {:<10}  {:<22}  Description",
                "Path", "Type", "Accessor"
            );
            println!(
                "{:<20}  {:<10}  {:<22}  -----------",
                "----", "----", "--------"
            );
            for (path, entry) in &data {
                let get = |k: &str| {
                    entry
                        .get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                println!(
                    "{path:<20}  {:<10}  {:<22}  {}",
                    get("type"),
                    get("accessor"),
                    crate::output::or_na(&get("description"))
                );
            }
        }
    }
    Ok(0)
}

pub async fn tune(
    client: &mut Client,
    path: &str,
    default_lease_ttl: Option<String>,
    max_lease_ttl: Option<String>,
) -> anyhow::Result<u8> {
    let mut body = Map::new();
    if let Some(d) = default_lease_ttl {
        body.insert("default_lease_ttl".into(), json!(d));
    }
    if let Some(m) = max_lease_ttl {
        body.insert("max_lease_ttl".into(), json!(m));
    }
    let path = path.trim_matches('/');
    logical::call(client, Op::Write, &format!("sys/mounts/{path}/tune"), body).await?;
    println!("Success! Tuned the secrets engine at: {path}/");
    Ok(0)
}

/// `login [TOKEN] [--method M] [--path P] [k=v ...]`: checks the credential,
/// stores the token in `~/.vault-token` and shows it.
pub async fn login(
    client: &mut Client,
    format: Format,
    method: &str,
    path: Option<&str>,
    args: &[String],
    no_store: bool,
) -> anyhow::Result<u8> {
    let response = match method {
        "token" => {
            let token = match args {
                [t] if !t.contains('=') => token_argument(t)?,
                [] => crate::stdin_input::secret_line("Token (will be hidden): ", "token")?,
                _ => bail!("usage: login [TOKEN]"),
            };
            let token = token_of_answer(&token)?.unwrap_or(token);
            let mut lookup = client.clone().with_token(&token);
            logical::call(&mut lookup, Op::Read, "auth/token/lookup-self", Map::new()).await?;
            store_and_say(&token, no_store)?;
            return Ok(0);
        }
        "approle" => {
            let body = logical::parse_pairs(args)?;
            let mount = path.unwrap_or("approle");
            logical::call(
                client,
                Op::Write,
                &format!("auth/{}/login", mount.trim_matches('/')),
                body,
            )
            .await?
        }
        // Both take a username in the path and a password (prompted for).
        kind @ ("userpass" | "ldap") => {
            let mut body = logical::parse_pairs(args)?;
            let username = match body.remove("username") {
                Some(Value::String(u)) => u,
                _ => bail!("{kind} login needs username=NAME"),
            };
            if !body.contains_key("password") {
                let password =
                    crate::stdin_input::secret_line("Password (will be hidden): ", "password")?;
                body.insert("password".into(), json!(password));
            }
            let mount = path.unwrap_or(kind);
            logical::call(
                client,
                Op::Write,
                &format!("auth/{}/login/{username}", mount.trim_matches('/')),
                body,
            )
            .await?
        }
        other => bail!("unknown login method {other:?} (token, approle, userpass, ldap)"),
    };
    if response.wrap_info.is_some() {
        // Wrapped (--wrap-ttl): the token is for whoever unwraps it.
        logical::print_response(format, &response, None)?;
        return Ok(0);
    }
    if let Some(requirement) = response
        .auth
        .as_ref()
        .and_then(|a| a.mfa_requirement.as_ref())
    {
        // No token yet: say how to finish, store nothing.
        if format == Format::Json {
            logical::print_response(format, &response, None)?;
        } else {
            println!(
                "This login needs a second factor (login MFA). Finish it with\n  \
                 vault-cli write sys/mfa/validate mfa_request_id={} \
                 'mfa_payload={{\"METHOD_ID\": [\"PASSCODE\"]}}'\n\
                 or log in again with --mfa METHOD_ID:PASSCODE.\n\nmfa_request_id    {}\nmfa_constraints   {}",
                requirement.mfa_request_id,
                requirement.mfa_request_id,
                requirement.mfa_constraints_json
            );
        }
        return Ok(0);
    }
    let token = response
        .auth
        .as_ref()
        .map(|a| a.client_token.clone())
        .context("the login answer carried no token")?;
    if !no_store {
        crate::token_helper::store(&token)?;
    }
    if format == Format::Table {
        let stored = if no_store {
            ""
        } else {
            " The token below is already stored in the token helper."
        };
        println!("Success! You are now authenticated.{stored}\n");
    }
    logical::print_response(format, &response, None)?;
    Ok(0)
}

fn store_and_say(token: &str, no_store: bool) -> anyhow::Result<()> {
    if !no_store {
        let path = crate::token_helper::store(token)?;
        println!(
            "Success! You are now authenticated; the token is stored in {}",
            path.display()
        );
    }
    Ok(())
}
