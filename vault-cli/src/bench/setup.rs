//! What the load runs against, made with the operator's (root) token under names
//! starting `bench-`, idempotently: a mount that is there with the right type is
//! kept, policies and roles are written over, and a new service token and AppRole
//! secret_id are made each run. A mount of the same name but another type stops
//! the run rather than being replaced: it may hold someone's data.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};

use super::conn::Conn;
use crate::logical::{Op, data_of};

/// The secret kv-read reads; its value is [`value_256`].
pub const HOT_SECRET: &str = "bench-kv/data/hot";
/// kv-write's keys are `<prefix><client>-<n>`.
pub const WRITE_PREFIX: &str = "bench-kv/data/w/";
pub const LOGIN_PATH: &str = "auth/bench-approle/login";
pub const CREDS_PATH: &str = "bench-db/creds/bench";
/// Revokes every lease the database scenarios issued.
pub const REVOKE_CREDS_PATH: &str = "sys/leases/revoke-prefix/bench-db/creds/bench";

const POLICY: &str = r#"# Written by vault-cli bench.
path "bench-kv/data/*" { capabilities = ["read"] }
path "bench-kv/data/w/*" { capabilities = ["create", "update"] }
path "bench-db/creds/bench" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
"#;

/// A KV v2 write body whose one value is 256 bytes.
pub fn value_256() -> String {
    let value: String = (0..256u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    json!({ "data": { "value": value } }).to_string()
}

/// A PostgreSQL the database engine can make roles in, from
/// `postgres://user:password@host:port/db`.
#[derive(Clone)]
pub struct PgUrl {
    user: String,
    password: String,
    /// `host:port/db`, with any `?query`.
    rest: String,
}

// By hand, so the password never reaches a Debug print.
impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgUrl")
            .field("user", &self.user)
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for PgUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<PgUrl, String> {
        let shape = "expected postgres://USER:PASSWORD@HOST:PORT/DB";
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or(shape)?;
        // The password may hold '@'; the host cannot.
        let (creds, server) = rest.rsplit_once('@').ok_or(shape)?;
        let (user, password) = creds.split_once(':').ok_or(shape)?;
        let (host, db) = server.split_once('/').ok_or(shape)?;
        if user.is_empty() || host.is_empty() || db.is_empty() {
            return Err(shape.to_owned());
        }
        Ok(PgUrl {
            user: user.to_owned(),
            password: password.to_owned(),
            rest: server.to_owned(),
        })
    }
}

/// What the scenarios need from the setup.
#[derive(Debug)]
pub struct Needs<'a> {
    pub approle: bool,
    pub database: Option<&'a PgUrl>,
    /// How long the service token must live: the whole run.
    pub token_ttl: Duration,
}

/// What the setup made.
pub struct Fixture {
    /// The token the load runs with: policies `bench` and `default`.
    pub service_token: String,
    /// The AppRole login body (role_id and secret_id), when asked for.
    pub login_body: Option<String>,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture").finish_non_exhaustive()
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Makes everything `needs` asks for with `admin`, which carries the root token.
pub async fn prepare(admin: &mut Conn, needs: &Needs<'_>) -> anyhow::Result<Fixture> {
    ensure_mount(admin, false, "bench-kv", "kv-v2").await?;
    let body = object(serde_json::from_str(&value_256()).context("the KV body")?);
    admin.admin(Op::Write, HOT_SECRET, body).await?;
    admin
        .admin(
            Op::Write,
            "sys/policies/acl/bench",
            object(json!({ "policy": POLICY })),
        )
        .await?;
    let created = admin
        .admin(
            Op::Write,
            "auth/token/create",
            object(json!({
                "policies": ["bench"],
                "ttl": format!("{}s", needs.token_ttl.as_secs().max(60)),
                "display_name": "bench",
            })),
        )
        .await?;
    let auth = created
        .auth
        .context("auth/token/create answered without a token")?;
    if !auth.policies.iter().any(|p| p == "bench") {
        bail!(
            "the service token was made with policies {:?}, not bench",
            auth.policies
        );
    }
    let login_body = if needs.approle {
        Some(approle(admin).await?)
    } else {
        None
    };
    if let Some(pg) = needs.database {
        database(admin, pg).await?;
    }
    Ok(Fixture {
        service_token: auth.client_token,
        login_body,
    })
}

/// Mounts `kind` at `name` unless it is there already; a mount of another
/// type there is an error.
/// A listed mount's type as `secrets enable` names it: `kv-v2` for a KV
/// version 2 mount (listed as `kv` with `options.version` 2).
fn mount_kind(entry: &Value) -> String {
    let kind = entry.get("type").and_then(Value::as_str).unwrap_or("");
    let version = entry.pointer("/options/version").and_then(Value::as_str);
    match (kind, version) {
        ("kv", Some("2")) => "kv-v2".to_owned(),
        _ => kind.to_owned(),
    }
}

async fn ensure_mount(admin: &mut Conn, auth: bool, name: &str, kind: &str) -> anyhow::Result<()> {
    let table = if auth { "sys/auth" } else { "sys/mounts" };
    let listing = admin.admin(Op::Read, table, Map::new()).await?;
    let mounts = data_of(&listing)?;
    let existing = mounts
        .iter()
        .find(|(path, _)| path.trim_end_matches('/') == name)
        .map(|(_, entry)| mount_kind(entry));
    match existing {
        Some(found) if found == kind => Ok(()),
        Some(found) => bail!(
            "{table}/{name} is a {found:?} mount, not {kind:?}: disable it, or run bench \
             against another vault"
        ),
        None => {
            admin
                .admin(
                    Op::Write,
                    &format!("{table}/{name}"),
                    object(json!({ "type": kind, "description": "vault-cli bench" })),
                )
                .await?;
            Ok(())
        }
    }
}

/// The AppRole mount and role `bench`; a new secret_id. Returns the login body.
async fn approle(admin: &mut Conn) -> anyhow::Result<String> {
    ensure_mount(admin, true, "bench-approle", "approle").await?;
    // The tokens logins make are not revoked by the bench: they expire within
    // the hour.
    admin
        .admin(
            Op::Write,
            "auth/bench-approle/role/bench",
            object(json!({
                "token_policies": ["bench"],
                "secret_id_num_uses": 0,
                "token_ttl": "1h",
                "token_max_ttl": "1h",
            })),
        )
        .await?;
    let role = admin
        .admin(
            Op::Read,
            "auth/bench-approle/role/bench/role-id",
            Map::new(),
        )
        .await?;
    let role_id = data_of(&role)?
        .get("role_id")
        .and_then(Value::as_str)
        .context("the role-id answer has no role_id")?
        .to_owned();
    let secret = admin
        .admin(
            Op::Write,
            "auth/bench-approle/role/bench/secret-id",
            Map::new(),
        )
        .await?;
    let secret_id = data_of(&secret)?
        .get("secret_id")
        .and_then(Value::as_str)
        .context("the secret-id answer has no secret_id")?
        .to_owned();
    Ok(json!({ "role_id": role_id, "secret_id": secret_id }).to_string())
}

/// The database mount, its connection `pg` and role `bench`.
async fn database(admin: &mut Conn, pg: &PgUrl) -> anyhow::Result<()> {
    ensure_mount(admin, false, "bench-db", "database").await?;
    admin
        .admin(
            Op::Write,
            "bench-db/config/pg",
            object(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@{}", pg.rest),
                "username": pg.user,
                "password": pg.password,
                "allowed_roles": "*",
            })),
        )
        .await?;
    admin
        .admin(
            Op::Write,
            "bench-db/roles/bench",
            object(json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                "default_ttl": "1h",
            })),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_urls_split_into_credentials_and_server() {
        let url: PgUrl = "postgres://postgres:p@ss@127.0.0.1:5432/postgres?sslmode=disable"
            .parse()
            .unwrap();
        assert_eq!(url.user, "postgres");
        assert_eq!(url.password, "p@ss");
        assert_eq!(url.rest, "127.0.0.1:5432/postgres?sslmode=disable");
        for bad in [
            "mysql://a:b@h/db",
            "postgres://a@h/db",
            "postgres://a:b@h",
            "postgres://:b@h/db",
        ] {
            assert!(bad.parse::<PgUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_kv_value_is_256_bytes() {
        let body: Value = serde_json::from_str(&value_256()).unwrap();
        assert_eq!(body["data"]["value"].as_str().unwrap().len(), 256);
    }
}
