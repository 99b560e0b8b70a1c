//! Embedding the vault with dynamic PostgreSQL credentials: a service opens an
//! SQLite-backed vault, enables the `database` engine, issues itself a
//! short-lived login, uses it, and keeps its lease alive with
//! `vault_client::LeaseWatcher` until the lease's max TTL; then the vault's
//! expiration loop drops the role. No daemon: every request goes through
//! `Vault::handle`, the one request path vaultd uses too.
//!
//! Needs a PostgreSQL superuser URL (`postgres://user:password@host:port/db`)
//! in `DATABASE_URL`. With a throwaway cluster, from the workspace root:
//!
//! ```text
//! eval "$(scripts/pg-start)"
//! DATABASE_URL=$VAULT_TEST_PG_URL cargo run -p vault-client --example embedded_database
//! scripts/pg-stop "$VAULT_TEST_PG_DIR"
//! ```
//!
//! It takes about 15 s (the role's TTL is 4 s, its max TTL 12 s) and exits
//! non-zero unless every step worked, the role's removal included.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep, timeout, timeout_at};
use tokio_postgres::{Client, Config, NoTls};
use vault_client::{
    ClientError, LeaseApi, LeaseWatcher, Renewal, WatchEvent, WatchOptions, WatchedLease,
};
use vault_core::Vault;
use vault_core::request::{Data, Operation, Request, Response};
use vault_core::secret::SecretString;

type BoxError = Box<dyn Error>;

/// The credential's TTL and max TTL, in seconds: short, so the whole life of a
/// lease (issue, renewals, cap, expiry) fits in a quarter of a minute.
const DEFAULT_TTL_SECS: u64 = 4;
const MAX_TTL_SECS: u64 = 12;

/// The longest one request to the vault may take. Writing the config makes
/// the engine connect to PostgreSQL, so this covers a connection attempt.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest a connection to PostgreSQL, or one query on it, may take.
const PG_TIMEOUT: Duration = Duration::from_secs(10);

/// How long after the expiry the role may take to disappear: the expiration
/// loop wakes at the vault's expiry, which the watcher's never passes.
const DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the expiration loop may take to stop.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

const NO_DATABASE_URL: &str = "\
DATABASE_URL is not set. This example needs a PostgreSQL superuser URL,
postgres://user:password@host:port/db. For a throwaway local cluster, from the
workspace root:

    eval \"$(scripts/pg-start)\"
    DATABASE_URL=$VAULT_TEST_PG_URL cargo run -p vault-client --example embedded_database
    scripts/pg-stop \"$VAULT_TEST_PG_DIR\"
";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprint!("{NO_DATABASE_URL}");
        return Err("DATABASE_URL is not set".into());
    };
    let admin = Admin::from_url(&url)?;

    // A throwaway directory keeps the example repeatable: `init` runs only
    // once per database.
    let dir = tempfile::tempdir()?;
    let vault = Arc::new(Vault::open_sqlite(dir.path().join("vault.db"))?);
    // One share is enough for an example; a deployment spreads several.
    let init = vault.init(1, 1).await?;
    let share = init.shares.first().ok_or("init returned no share")?;
    let unsealed = vault.unseal(share.to_hex().expose_secret()).await?;
    if unsealed.status.sealed {
        return Err("still sealed after the one share".into());
    }
    println!("vault initialized and unsealed");
    let token = init.root_token;

    // Without this loop nothing revokes a lease when it runs out: the vault
    // only answers requests. vaultd spawns it the same way.
    let (stop, stopped) = oneshot::channel::<()>();
    let expiration = tokio::spawn({
        let vault = Arc::clone(&vault);
        async move {
            vault
                .run_expiration(async {
                    // A dropped sender stops the loop as well as a sent ().
                    let _ = stopped.await;
                })
                .await;
        }
    });

    let outcome = run(&vault, &token, &admin).await;

    // Shut down whatever happened, so a failure still closes the database.
    let _ = stop.send(());
    let stopped = timeout(SHUTDOWN_TIMEOUT, expiration).await;
    let closed = vault.close().await;
    // The first failure is the one worth reporting.
    outcome?;
    stopped
        .map_err(|_| "the expiration loop did not stop in time")?
        .map_err(|e| format!("the expiration loop panicked: {e}"))?;
    closed?;
    println!("vault closed");
    Ok(())
}

/// Every step after unseal: engine set-up, a credential, its use, its lease's
/// life, and the check that the role is gone.
async fn run(vault: &Arc<Vault>, token: &SecretString, admin: &Admin) -> Result<(), BoxError> {
    enable_database_engine(vault, token, admin).await?;

    let credential = issue_credential(vault, token).await?;
    let issued_at = Instant::now();
    println!(
        "issued {}: lease {}, ttl {}s, renewable = {}",
        credential.username,
        credential.lease.lease_id,
        credential.lease.lease_duration.as_secs(),
        credential.lease.renewable
    );

    let current_user = select_current_user(admin, &credential).await?;
    if current_user != credential.username {
        return Err(format!(
            "connected as {current_user}, not as the issued {}",
            credential.username
        )
        .into());
    }
    println!("connected to PostgreSQL: SELECT current_user = {current_user}");

    let leases = EmbeddedLeases {
        vault: Arc::clone(vault),
        token: token.clone(),
    };
    watch_until_expired(leases, credential.lease, issued_at).await?;

    wait_until_dropped(admin, &credential.username).await?;
    println!(
        "[{:>5.1}s] role {} is gone from pg_roles: the expiration loop dropped it",
        issued_at.elapsed().as_secs_f64(),
        credential.username
    );
    Ok(())
}

/// The PostgreSQL superuser the engine manages roles with, from `DATABASE_URL`.
struct Admin {
    /// For this example's own connections (the check that the role is gone).
    config: Config,
    /// `DATABASE_URL` with `{{username}}:{{password}}` for its credentials: the
    /// engine fills them in itself, so it never stores a URL with a password.
    connection_url: String,
    username: String,
    password: SecretString,
}

impl Admin {
    fn from_url(url: &str) -> Result<Admin, BoxError> {
        // Neither error message quotes the URL: it holds a password.
        let bad_url = "DATABASE_URL is not postgres://user:password@host:port/db";
        let config: Config = url.parse().map_err(|_| bad_url)?;
        let username = config.get_user().ok_or(bad_url)?.to_owned();
        let password = config.get_password().ok_or(bad_url)?;
        let password = SecretString::new(
            String::from_utf8(password.to_vec())
                .map_err(|_| "DATABASE_URL: password is not UTF-8")?,
        );
        let (scheme, rest) = url.split_once("://").ok_or(bad_url)?;
        // The credentials end at the last '@' of the authority, which ends at
        // the path or the query.
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (_, host) = authority.rsplit_once('@').ok_or(bad_url)?;
        Ok(Admin {
            config,
            connection_url: format!("{scheme}://{{{{username}}}}:{{{{password}}}}@{host}{tail}"),
            username,
            password,
        })
    }
}

/// Mounts the engine at `database/`, points config `pg` at the server and
/// creates role `app`, whose logins live DEFAULT_TTL_SECS, at most MAX_TTL_SECS.
async fn enable_database_engine(
    vault: &Arc<Vault>,
    token: &SecretString,
    admin: &Admin,
) -> Result<(), BoxError> {
    call(
        vault,
        token,
        Operation::Update,
        "sys/mounts/database",
        json!({ "type": "database" }),
    )
    .await?;
    call(
        vault,
        token,
        Operation::Update,
        "database/config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": admin.connection_url,
            "username": admin.username,
            "password": admin.password.expose_secret(),
            "allowed_roles": "app",
        }),
    )
    .await?;
    call(
        vault,
        token,
        Operation::Update,
        "database/roles/app",
        json!({
            "db_name": "pg",
            // VALID UNTIL makes PostgreSQL refuse the password after the
            // expiry even if the revocation were late.
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "default_ttl": format!("{DEFAULT_TTL_SECS}s"),
            "max_ttl": format!("{MAX_TTL_SECS}s"),
        }),
    )
    .await?;
    println!(
        "database engine enabled: config pg, role app (ttl {DEFAULT_TTL_SECS}s, max ttl {MAX_TTL_SECS}s)"
    );
    Ok(())
}

/// A login the vault issued, and its lease.
struct Credential {
    username: String,
    password: SecretString,
    lease: WatchedLease,
}

async fn issue_credential(
    vault: &Arc<Vault>,
    token: &SecretString,
) -> Result<Credential, BoxError> {
    let response = call(
        vault,
        token,
        Operation::Read,
        "database/creds/app",
        json!({}),
    )
    .await?;
    let field = |name: &str| {
        response
            .data
            .as_ref()
            .and_then(|d| d.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("database/creds/app: no {name} in the answer"))
    };
    let username = field("username")?;
    let password = SecretString::new(field("password")?);
    let lease = response
        .lease
        .as_ref()
        .ok_or("database/creds/app: the credential came without a lease")?;
    Ok(Credential {
        username,
        password,
        lease: WatchedLease {
            lease_id: lease.lease_id.clone(),
            lease_duration: Duration::from_secs(lease.lease_duration),
            renewable: lease.renewable,
        },
    })
}

/// Logs in with the issued credential and asks PostgreSQL who we are.
async fn select_current_user(admin: &Admin, credential: &Credential) -> Result<String, BoxError> {
    let mut config = admin.config.clone();
    config
        .user(&credential.username)
        .password(credential.password.expose_secret());
    let (client, connection) = connect(&config).await?;
    let row = timeout(
        PG_TIMEOUT,
        client.query_one("SELECT current_user::text", &[]),
    )
    .await
    .map_err(|_| "SELECT current_user: no answer in time")??;
    let user: String = row.try_get(0)?;
    // Log out before the lease ends: the role should be dropped with no
    // session of ours left on it.
    drop(client);
    timeout(PG_TIMEOUT, connection)
        .await
        .map_err(|_| "the PostgreSQL session did not close in time")???;
    Ok(user)
}

/// Watches the lease until it expires, printing each event. Fails if a
/// renewal failed, or if the lease did not go renewed, then capped, then
/// expired.
async fn watch_until_expired(
    leases: EmbeddedLeases,
    lease: WatchedLease,
    issued_at: Instant,
) -> Result<(), BoxError> {
    // Nothing is scheduled past the max TTL, which counts from the issue.
    let deadline = issued_at + Duration::from_secs(MAX_TTL_SECS) + Duration::from_secs(5);
    let mut watcher = LeaseWatcher::spawn(Arc::new(leases), lease, WatchOptions::default());
    let (mut renewed, mut capped, mut failed) = (0, false, 0);
    loop {
        let event = timeout_at(deadline, watcher.next_event())
            .await
            .map_err(|_| "the lease outlived its max TTL")?;
        let at = issued_at.elapsed().as_secs_f64();
        match event {
            Some(WatchEvent::Renewed { ttl }) => {
                renewed += 1;
                println!("[{at:>5.1}s] renewed: ttl {}s", ttl.as_secs());
            }
            Some(WatchEvent::Capped { ttl }) => {
                capped = true;
                println!(
                    "[{at:>5.1}s] capped at the max TTL: the lease ends in {}s (time to fetch a new credential)",
                    ttl.as_secs()
                );
            }
            Some(WatchEvent::RenewFailed { error, ttl_left }) => {
                failed += 1;
                println!(
                    "[{at:>5.1}s] renewal failed ({error}); {}s left, retrying",
                    ttl_left.as_secs()
                );
            }
            Some(WatchEvent::Expired) => {
                println!("[{at:>5.1}s] expired");
                break;
            }
            Some(WatchEvent::Revoked) => return Err("the lease was revoked, not expired".into()),
            None => return Err("the watch ended before the lease expired".into()),
        }
    }
    if failed > 0 {
        return Err(format!("{failed} renewals failed").into());
    }
    if renewed == 0 || !capped {
        return Err(format!(
            "expected renewals then a cap; got {renewed} renewals, capped = {capped}"
        )
        .into());
    }
    Ok(())
}

/// Waits, as the superuser, until `username` is no longer a role.
async fn wait_until_dropped(admin: &Admin, username: &str) -> Result<(), BoxError> {
    let deadline = Instant::now() + DROP_TIMEOUT;
    let (client, connection) = connect(&admin.config).await?;
    loop {
        let rows = timeout(
            PG_TIMEOUT,
            client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username]),
        )
        .await
        .map_err(|_| "the pg_roles query got no answer in time")??;
        if rows.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "role {username} still exists {}s after its lease expired",
                DROP_TIMEOUT.as_secs()
            )
            .into());
        }
        sleep(Duration::from_millis(200)).await;
    }
    drop(client);
    timeout(PG_TIMEOUT, connection)
        .await
        .map_err(|_| "the PostgreSQL session did not close in time")???;
    Ok(())
}

/// Connects without TLS (a local server); the session runs in its own task,
/// which ends once the client is dropped.
async fn connect(
    config: &Config,
) -> Result<
    (
        Client,
        tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    ),
    BoxError,
> {
    let (client, connection) = timeout(PG_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| "connecting to PostgreSQL timed out")??;
    Ok((client, tokio::spawn(connection)))
}

/// One request to the vault as `token`, waited for at most CALL_TIMEOUT.
///
/// The request runs on a task of its own, so giving up waiting never cancels
/// it halfway: a credential made must get its lease stored (see
/// `Vault::handle`).
async fn call(
    vault: &Arc<Vault>,
    token: &SecretString,
    op: Operation,
    path: &str,
    data: Value,
) -> Result<Response, BoxError> {
    let request = Request::new(op, path)
        .with_token(token.expose_secret())
        .with_data(body(data));
    let vault = Arc::clone(vault);
    let task = tokio::spawn(async move { vault.handle(request).await });
    timeout(CALL_TIMEOUT, task)
        .await
        .map_err(|_| format!("{path}: no answer in time"))?
        .map_err(|e| format!("{path}: the request task failed: {e}"))?
        .map_err(|e| format!("{path}: {e}").into())
}

fn body(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        _ => Data::new(),
    }
}

/// [`LeaseApi`] over a vault in this process: the watcher's renewals and
/// revocations go through `Vault::handle` with the token that made the lease,
/// exactly as they would over gRPC.
#[derive(Debug)]
struct EmbeddedLeases {
    vault: Arc<Vault>,
    /// `Debug` shows `<redacted>`; read only where a request is built.
    token: SecretString,
}

impl EmbeddedLeases {
    async fn write(
        &self,
        path: &str,
        data: Value,
        doing: &'static str,
    ) -> Result<Response, ClientError> {
        let request = Request::new(Operation::Update, path)
            .with_token(self.token.expose_secret())
            .with_data(body(data));
        self.vault
            .handle(request)
            .await
            .map_err(|e| ClientError::Embedded {
                doing,
                source: Box::new(e),
            })
    }
}

#[async_trait]
impl LeaseApi for EmbeddedLeases {
    async fn renew(&self, lease_id: &str, increment: Duration) -> Result<Renewal, ClientError> {
        const DOING: &str = "renewing the lease";
        // Whole seconds, rounded up, as GrpcLeases asks: a grant rounded down
        // from what was asked would read as capped.
        let secs = increment
            .as_secs()
            .saturating_add(u64::from(increment.subsec_nanos() > 0))
            .max(1);
        let data = json!({ "lease_id": lease_id, "increment": format!("{secs}s") });
        let response = self.write("sys/leases/renew", data, DOING).await?;
        let lease = response
            .lease
            .ok_or_else(|| ClientError::UnexpectedResponse {
                doing: DOING,
                reason: "no lease in the answer".to_owned(),
            })?;
        Ok(Renewal {
            lease_duration: Duration::from_secs(lease.lease_duration),
            renewable: lease.renewable,
            warnings: response.warnings,
        })
    }

    async fn revoke(&self, lease_id: &str) -> Result<(), ClientError> {
        self.write(
            "sys/leases/revoke",
            json!({ "lease_id": lease_id }),
            "revoking the lease",
        )
        .await
        .map(drop)
    }
}
