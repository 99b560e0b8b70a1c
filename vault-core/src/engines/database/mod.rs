//! The database secrets engine for PostgreSQL: dynamic database roles with
//! leases, and static roles (existing users whose passwords the vault
//! rotates), with Vault's API and field names (its `database` engine with the
//! `postgresql-database-plugin`).
//!
//! # Paths
//!
//! | path                  | operations                                          |
//! |-----------------------|-----------------------------------------------------|
//! | `config/<name>`       | read, create/update, delete (`force`): a connection |
//! | `config/`             | list                                                |
//! | `reset/<name>`        | create/update: close the config's sessions          |
//! | `rotate-root/<name>`  | create/update: new random password for its user     |
//! | `roles/<name>`        | read, create/update, delete                         |
//! | `roles/`              | list                                                |
//! | `creds/<role>`        | read: a new database role, leased                   |
//! | `static-roles/<name>` | read, create/update, delete: an existing user to rotate |
//! | `static-roles/`       | list                                                |
//! | `static-creds/<name>` | read: its user and current password, not leased    |
//! | `rotate-role/<name>`  | create/update: rotate a static role's password now  |
//! | `reconcile/<name>`    | create/update (`dry_run`, `include_unmarked`), read (dry run): drop orphans |
//!
//! # Static roles
//!
//! A static role names a user that already exists (`username`) and is not the
//! config's own (that one is `rotate-root`'s). Creating it rotates the
//! password at once, so that only the vault knows it; from then on the
//! periodic work ([`LogicalBackend::periodic`], every few seconds) rotates it
//! each `rotation_period` (at least 5 s), with `rotation_statements` (default
//! `ALTER ROLE {{name}} WITH PASSWORD {{password}}`), and `rotate-role`
//! rotates it on demand. `static-creds` hands out the current password with
//! `last_vault_rotation` and `ttl` (seconds to the next rotation), and no
//! lease: nothing is revoked, and deleting the static role only stops the
//! rotations (the user keeps its last password, as in Vault). A failed
//! rotation is retried (5 s, doubling to 5 min) and shown on reads as
//! `last_rotation_error`. The engine never creates or drops a static role's
//! user; `reconcile` never touches one. Unlike Vault, one user may be rotated
//! by one static role only. See `static_role.rs` and `static_rotate.rs`.
//!
//! # Storage layout (inside the mount's [`View`])
//!
//! - `config/<name>`: `config::ConfigRecord` (holds the root password).
//! - `role/<name>`: `role::RoleRecord`.
//! - `static-role/<name>`: `static_role::StaticRoleRecord` (holds its user's
//!   password, and the pending one of a rotation in progress).
//! - `issued/<username>` and `engine-id`: see `issued.rs`.
//!
//! # Crash safety
//!
//! `creds` stores `issued/<username>` before it touches the database, then
//! creates the role in one transaction that also marks it with this mount's
//! engine id, and only then returns the lease for the vault to store. A crash
//! anywhere leaves either nothing, or a role that `reconcile` can prove is
//! orphaned (marked by this mount, and its lease does not exist). A root
//! rotation stores the new password as `pending` before changing it (see
//! `rotate.rs`); so does a static role's rotation (see `static_rotate.rs`).
//! Revocation is idempotent and never reports a permanent failure: a missing
//! config may come back. So a config is not deleted while issued records name
//! it, unless the request says `force=true`.
//!
//! # Concurrency
//!
//! Config and role writes, root rotations and static role rotations
//! serialise per key on striped locks. Sessions come from one small bounded
//! pool per config (`connection.rs`), replaced whenever the config changes;
//! every connect and operation is bounded in time. Transactions that change
//! privileges (role creation and revocation) run one at a time per config,
//! and are retried when they meet a concurrent change (see
//! `Database::privilege_writer`); each checks out its session before it waits
//! for its turn, and waits at most the operation timeout.
//! The in-memory state (pools, the set of usernames whose lease is not yet
//! confirmed) is per [`Database`]: one instance serves a mount within a
//! process.
//!
//! # Files
//!
//! `config.rs`, `role.rs`, `static_role.rs`: the records and their API
//! fields; `creds.rs`, `lifecycle.rs` (revoke, renew), `rotate.rs`,
//! `static_rotate.rs`, `reconcile.rs`: the operations; `template.rs`
//! (usernames) and `statements.rs` (filling SQL safely); `connection.rs`,
//! `target.rs` (connection URLs), `tls.rs`; `issued.rs`: the bookkeeping
//! behind crash safety; `fields.rs`: names and statement lists in requests.

mod config;
mod connection;
#[cfg(test)]
mod connection_tests;
mod creds;
mod fields;
mod in_flight;
mod issued;
mod lifecycle;
mod reconcile;
#[cfg(test)]
mod recovery_tests;
mod role;
mod rotate;
mod scram;
mod statements;
mod static_role;
mod static_rotate;
#[cfg(test)]
mod static_tests;
mod target;
mod template;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

pub use template::{DEFAULT_USERNAME_TEMPLATE, preview_username};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;
use tracing::Instrument as _;

use self::config::ConfigRecord;
use self::connection::{Checkout, DbError, Pool, UsedPassword};
use crate::engines::shared::Stripes;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::expiration::{Lease, RevokeError};
use crate::request::{Data, Operation, Response};

/// How many locks writes are spread over.
const STRIPES: usize = 32;
/// An issued record this young, from this instance, is never an orphan: its
/// lease may be on its way to storage.
const PENDING_GRACE_MS: u64 = 60_000;
/// How long a username stays "in flight" (created here, lease unconfirmed) at
/// most; past it, only the lease decides.
const IN_FLIGHT_LIMIT_MS: u64 = 10 * 60_000;

/// The PostgreSQL database secrets engine.
pub struct Database {
    /// This process's instance: issued records say which instance wrote them.
    instance: String,
    // std Mutex: held only to look up or swap an entry, never across an await.
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    // tokio Mutexes: each held across the storage reads and writes of one
    // config or role change, or a whole root rotation.
    stripes: Stripes,
    // std Mutex, as for `pools`: the usernames created here whose lease is
    // not known to be stored (in_flight.rs).
    in_flight: Mutex<in_flight::InFlight>,
    // tokio Mutex: held across the storage read (and first write) of the
    // engine id. View prefix -> id.
    engine_ids: tokio::sync::Mutex<HashMap<String, String>>,
    // std Mutex over the table; the tokio Mutex in it is held across one
    // privilege-changing transaction (see `privilege_writer`). Config name ->
    // its writer lock.
    privilege_writers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    // tokio Mutex: held across the creation of one static role (its checks
    // and first rotation), so two cannot take over one user at once. Taken
    // before the static role's stripe, never after.
    static_creations: tokio::sync::Mutex<()>,
    /// Where tests asked an operation to stop (see `pause`).
    #[cfg(test)]
    pauses: Mutex<HashMap<&'static str, Pause>>,
}

/// A test's stop at a named point: the engine reports that it got there on
/// the first, and goes on when the second fires (or is dropped).
#[cfg(test)]
type Pause = (
    tokio::sync::oneshot::Sender<()>,
    tokio::sync::oneshot::Receiver<()>,
);

impl Database {
    /// An engine ready to serve a mount.
    pub fn new() -> Self {
        // The instance id only has to differ between processes; if the
        // system RNG fails, the pid and time still do.
        let instance = crate::random::alphanumeric(16).unwrap_or_else(|_| {
            format!(
                "p{}t{}",
                std::process::id(),
                crate::clock::now_unix_millis()
            )
        });
        Database {
            instance,
            pools: Mutex::new(HashMap::new()),
            stripes: Stripes::new(STRIPES),
            in_flight: Mutex::new(in_flight::InFlight::default()),
            engine_ids: tokio::sync::Mutex::new(HashMap::new()),
            privilege_writers: Mutex::new(HashMap::new()),
            static_creations: tokio::sync::Mutex::new(()),
            #[cfg(test)]
            pauses: Mutex::new(HashMap::new()),
        }
    }

    /// In tests, stops at `point` once if a test asked to (`pause_at`), so it
    /// can act in a window that is otherwise too short to hit. Nothing in
    /// other builds.
    async fn pause(&self, point: &'static str) {
        #[cfg(test)]
        {
            let stop = self.pauses.lock().ok().and_then(|mut p| p.remove(point));
            if let Some((reached, go_on)) = stop {
                let _ = reached.send(());
                let _ = go_on.await;
            }
        }
        #[cfg(not(test))]
        let _ = point;
    }

    /// Makes the next pass through `point` stop: the receiver fires when it
    /// gets there, and it goes on when the sender fires or is dropped.
    #[cfg(test)]
    fn pause_at(
        &self,
        point: &'static str,
    ) -> (
        tokio::sync::oneshot::Receiver<()>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (reached_tx, reached_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel();
        if let Ok(mut pauses) = self.pauses.lock() {
            pauses.insert(point, (reached_tx, go_rx));
        }
        (reached_rx, go_tx)
    }

    /// The pool of config `name` at `record`'s revision, made if needed.
    fn pool(&self, name: &str, record: &ConfigRecord) -> Result<Arc<Pool>, EngineError> {
        if let Some(pool) = self.pools.lock().ok().and_then(|pools| {
            pools
                .get(name)
                .filter(|p| p.revision == record.revision)
                .cloned()
        }) {
            return Ok(pool);
        }
        // Made outside the lock: it may read a root certificate file.
        let spec = record
            .spec(name)
            .map_err(|e| upstream(name, DbError::from_message(e)))?;
        let fresh =
            Arc::new(Pool::new(spec, record.revision.clone()).map_err(|e| upstream(name, e))?);
        let mut pools = self
            .pools
            .lock()
            .map_err(|_| EngineError::Upstream("the connection pool table is poisoned".into()))?;
        let pool = match pools.get(name) {
            Some(existing) if existing.revision == record.revision => Arc::clone(existing),
            _ => {
                pools.insert(name.to_owned(), Arc::clone(&fresh));
                fresh
            }
        };
        Ok(pool)
    }

    /// Forgets config `name`'s pool; its sessions close as their checkouts end.
    fn drop_pool(&self, name: &str) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.remove(name);
        }
    }

    /// Waits for the right to run a transaction that changes privileges
    /// (creating or dropping a role) in config `db_name`'s database, at most
    /// `config`'s operation timeout.
    ///
    /// The credentials of one role all get the same GRANTs, and PostgreSQL
    /// fails concurrent changes to one object's privileges ("tuple
    /// concurrently updated") after making the later one wait for the
    /// earlier: run in parallel they are serial anyway, plus failures and
    /// retries. So this engine runs them one at a time per config; conflicts
    /// with other clients of the database are still retried. Statements that
    /// change no shared privileges (`statements::changes_privileges`) do not
    /// take it and run in parallel.
    ///
    /// Callers check out their session *before* they wait here: connecting
    /// (which may take the whole connect timeout when the server does not
    /// answer) must not happen under the lock, or every other change of the
    /// config would queue behind it. The bounded wait keeps a slow holder from
    /// stalling the rest for longer than an operation may take.
    async fn privilege_writer(
        &self,
        db_name: &str,
        config: &ConfigRecord,
    ) -> Result<tokio::sync::OwnedMutexGuard<()>, EngineError> {
        let lock = self
            .privilege_writers
            .lock()
            .map(|mut writers| Arc::clone(writers.entry(db_name.to_owned()).or_default()))
            .unwrap_or_else(|_| Arc::new(tokio::sync::Mutex::new(())));
        let limit = std::time::Duration::from_millis(config.operation_timeout_ms);
        tokio::time::timeout(limit, lock.lock_owned())
            .await
            .map_err(|_| {
                upstream(
                    db_name,
                    DbError::from_message("timed out waiting for other privilege changes"),
                )
            })
    }

    /// A session to config `db_name`'s database, with the config it was made
    /// from. Completes an interrupted root rotation if the pending password is
    /// the one that worked.
    async fn session(
        &self,
        view: &View<'_>,
        db_name: &str,
    ) -> Result<(ConfigRecord, Checkout), EngineError> {
        let record = config::load(view, db_name).await?.ok_or_else(|| {
            EngineError::InvalidRequest(format!("database config {db_name:?} does not exist"))
        })?;
        let pool = self.pool(db_name, &record)?;
        let checkout = pool.checkout().await.map_err(|e| upstream(db_name, e))?;
        if checkout.used == UsedPassword::Pending {
            rotate::promote_pending(self, view, db_name, &record.revision).await?;
        }
        Ok((record, checkout))
    }

    /// The mount's engine id (see `issued.rs`), cached per view.
    async fn engine_id(&self, view: &View<'_>) -> Result<String, EngineError> {
        let mut ids = self.engine_ids.lock().await;
        if let Some(id) = ids.get(view.prefix()) {
            return Ok(id.clone());
        }
        let id = issued::engine_id(view).await?;
        ids.insert(view.prefix().to_owned(), id.clone());
        Ok(id)
    }

    fn in_flight_add(&self, username: &str, now: u64) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.add(username, now, IN_FLIGHT_LIMIT_MS);
        }
    }

    fn in_flight_remove(&self, username: &str) {
        if let Ok(mut set) = self.in_flight.lock() {
            set.remove(username);
        }
    }

    /// True if `record` may still be waiting for its lease to be stored: this
    /// instance wrote it, and it is in flight or younger than the grace time.
    fn is_pending(&self, record: &issued::IssuedRecord, now: u64) -> bool {
        if record.instance != self.instance {
            return false;
        }
        if now.saturating_sub(record.created_at) < PENDING_GRACE_MS {
            return true;
        }
        self.in_flight.lock().is_ok_and(|set| {
            set.since(&record.username)
                .is_some_and(|at| now.saturating_sub(at) < IN_FLIGHT_LIMIT_MS)
        })
    }

    async fn read_config(&self, view: &View<'_>, name: &str) -> Result<Response, EngineError> {
        let record = config::load(view, name)
            .await?
            .ok_or_else(|| EngineError::NotFound(config::key(name)))?;
        Ok(Response::with_data(record.to_data()))
    }

    async fn write_config(
        &self,
        view: &View<'_>,
        name: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let _guard = self.stripes.lock(view, &config::key(name)).await;
        let existing = config::load(view, name).await?;
        let record = config::apply_write(existing, data)?;
        if record.verify_connection {
            verify(name, &record).await?;
        }
        view.batch(vec![config::put(name, &record)?]).await?;
        self.drop_pool(name);
        Ok(Response::default())
    }

    /// Deletes config `name`, unless issued records still name it and the
    /// request does not say `force=true`: without the config, the revocations
    /// of those credentials would fail until it came back.
    async fn delete_config(
        &self,
        view: &View<'_>,
        request: &EngineRequest<'_>,
        name: &str,
    ) -> Result<Response, EngineError> {
        let force = crate::params::boolean(request.data, "force")
            .map_err(|e| EngineError::InvalidRequest(e.to_string()))?
            .unwrap_or(false);
        let _guard = self.stripes.lock(view, &config::key(name)).await;
        if !force {
            let records: Vec<_> = issued::list(view)
                .await?
                .into_iter()
                .filter(|r| r.db_name == name)
                .collect();
            if !records.is_empty() {
                return Err(EngineError::Conflict(still_issued(
                    name,
                    request.mount_path,
                    &records,
                )));
            }
        }
        view.delete(&config::key(name)).await?;
        self.drop_pool(name);
        Ok(Response::default())
    }

    async fn write_role(
        &self,
        view: &View<'_>,
        name: &str,
        data: &Data,
    ) -> Result<Response, EngineError> {
        let _guard = self.stripes.lock(view, &role::key(name)).await;
        let existing = role::load(view, name).await?;
        let record = role::apply_write(existing, data)?;
        view.batch(vec![role::put(name, &record)?]).await?;
        Ok(Response::default())
    }

    async fn delete_role(&self, view: &View<'_>, name: &str) -> Result<Response, EngineError> {
        let _guard = self.stripes.lock(view, &role::key(name)).await;
        view.delete(&role::key(name)).await?;
        Ok(Response::default())
    }
}

/// Why config `name` may not be deleted: `records` name it. Says how to
/// revoke their leases (one prefix per vault role).
fn still_issued(name: &str, mount_path: &str, records: &[issued::IssuedRecord]) -> String {
    let roles: std::collections::BTreeSet<&str> = records.iter().map(|r| r.role.as_str()).collect();
    let commands: Vec<String> = roles
        .iter()
        .map(|role| format!("lease revoke --prefix {mount_path}creds/{role}"))
        .collect();
    let count = records.len();
    let noun = if count == 1 {
        "credential"
    } else {
        "credentials"
    };
    format!(
        "database config {name:?} still has {count} issued {noun}; revoke their leases first \
         ({}) or pass force=true",
        commands.join("; ")
    )
}

/// Connects with `record`'s settings (not through a pool) and runs `SELECT 1`.
async fn verify(name: &str, record: &ConfigRecord) -> Result<(), EngineError> {
    let spec = record
        .spec(name)
        .map_err(|e| EngineError::InvalidRequest(format!("database config {name:?}: {e}")))?;
    let pool =
        Arc::new(Pool::new(spec, record.revision.clone()).map_err(|e| verify_failed(name, e))?);
    let mut session = pool.checkout().await.map_err(|e| verify_failed(name, e))?;
    session
        .run(&[], |client| async move {
            client.batch_execute("SELECT 1").await
        })
        .await
        .map_err(|e| verify_failed(name, e))
}

fn verify_failed(name: &str, error: DbError) -> EngineError {
    EngineError::Upstream(format!(
        "database config {name:?}: could not verify the connection: {error}"
    ))
}

/// A database failure as the engine reports it.
fn upstream(db_name: &str, error: DbError) -> EngineError {
    EngineError::Upstream(format!("database {db_name:?}: {error}"))
}

/// An engine error as a revocation or renewal failure: always retryable (the
/// config or database may come back; only the vault decides a lease is lost).
fn retryable(error: EngineError) -> RevokeError {
    RevokeError::Retryable(error.to_string())
}

impl Default for Database {
    fn default() -> Self {
        Database::new()
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pools: Vec<String> = self
            .pools
            .lock()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("Database")
            .field("instance", &self.instance)
            .field("pools", &pools)
            .field("stripes", &self.stripes.len())
            .finish_non_exhaustive()
    }
}

/// Where a request is aimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Configs,
    Config(&'a str),
    Reset(&'a str),
    RotateRoot(&'a str),
    Roles,
    Role(&'a str),
    Creds(&'a str),
    StaticRoles,
    StaticRole(&'a str),
    StaticCreds(&'a str),
    RotateRole(&'a str),
    Reconcile(&'a str),
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Route<'a>> {
        match path {
            "config" | "config/" => return Some(Route::Configs),
            "roles" | "roles/" => return Some(Route::Roles),
            "static-roles" | "static-roles/" => return Some(Route::StaticRoles),
            _ => {}
        }
        let (head, name) = path.split_once('/')?;
        Some(match head {
            "config" => Route::Config(name),
            "reset" => Route::Reset(name),
            "rotate-root" => Route::RotateRoot(name),
            "roles" => Route::Role(name),
            "creds" => Route::Creds(name),
            "static-roles" => Route::StaticRole(name),
            "static-creds" => Route::StaticCreds(name),
            "rotate-role" => Route::RotateRole(name),
            "reconcile" => Route::Reconcile(name),
            _ => return None,
        })
    }

    /// The name in the path and what kind of name it is.
    fn name(self) -> Option<(&'static str, &'a str)> {
        match self {
            Route::Config(n) | Route::Reset(n) | Route::RotateRoot(n) | Route::Reconcile(n) => {
                Some(("database config", n))
            }
            Route::Role(n) | Route::Creds(n) => Some(("role", n)),
            Route::StaticRole(n) | Route::StaticCreds(n) | Route::RotateRole(n) => {
                Some(("static role", n))
            }
            Route::Configs | Route::Roles | Route::StaticRoles => None,
        }
    }
}

async fn list(view: &View<'_>, prefix: &str) -> Result<Response, EngineError> {
    let mut keys = view.list(prefix).await?;
    keys.sort();
    let mut data = Data::new();
    data.insert("keys".into(), json!(keys));
    Ok(Response::with_data(data))
}

#[async_trait]
impl LogicalBackend for Database {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        let route = Route::parse(path);
        if let Some((kind, name)) = route.and_then(Route::name)
            && fields::check_name(kind, name).is_err()
        {
            return Ok(false);
        }
        match route {
            Some(Route::Config(name)) => Ok(config::load(view, name).await?.is_some()),
            Some(Route::Role(name)) => Ok(role::load(view, name).await?.is_some()),
            Some(Route::StaticRole(name)) => Ok(static_role::load(view, name).await?.is_some()),
            // Actions on a thing, not things: a write is always an update.
            Some(
                Route::Reset(_) | Route::RotateRoot(_) | Route::RotateRole(_) | Route::Reconcile(_),
            ) => Ok(true),
            _ => Ok(false),
        }
    }

    fn may_issue_lease(&self, path: &str, operation: Operation) -> bool {
        operation == Operation::Read && matches!(Route::parse(path), Some(Route::Creds(_)))
    }

    async fn handle(
        &self,
        view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        use Operation::{Create, Delete, List, Read, Update};
        let route = request.route(Route::parse)?;
        let unsupported = || request.unsupported();
        let EngineRequest {
            operation, data, ..
        } = request;
        if let Some((kind, name)) = route.name() {
            fields::check_name(kind, name)?;
        }
        match (route, operation) {
            (Route::Configs, List) => list(view, config::CONFIG_PREFIX).await,
            (Route::Config(name), Read) => self.read_config(view, name).await,
            (Route::Config(name), Create | Update) => self.write_config(view, name, data).await,
            (Route::Config(name), Delete) => self.delete_config(view, &request, name).await,
            (Route::Reset(name), Create | Update) => {
                self.drop_pool(name);
                Ok(Response::default())
            }
            (Route::RotateRoot(name), Create | Update) => {
                rotate::rotate_root(self, view, name).await
            }
            (Route::Roles, List) => list(view, role::ROLE_PREFIX).await,
            (Route::Role(name), Read) => {
                let record = role::load(view, name)
                    .await?
                    .ok_or_else(|| EngineError::NotFound(format!("roles/{name}")))?;
                Ok(Response::with_data(record.to_data()))
            }
            (Route::Role(name), Create | Update) => self.write_role(view, name, data).await,
            (Route::Role(name), Delete) => self.delete_role(view, name).await,
            (Route::Creds(name), Read) => {
                creds::issue(self, view, &request, name)
                    .instrument(tracing::debug_span!("database.creds", role = %name))
                    .await
            }
            (Route::StaticRoles, List) => list(view, static_role::STATIC_ROLE_PREFIX).await,
            (Route::StaticRole(name), Read) => static_rotate::read(view, name).await,
            (Route::StaticRole(name), Create | Update) => {
                static_rotate::write(self, view, name, data).await
            }
            (Route::StaticRole(name), Delete) => static_rotate::delete(self, view, name).await,
            (Route::StaticCreds(name), Read) => static_rotate::read_creds(view, name).await,
            (Route::RotateRole(name), Create | Update) => {
                static_rotate::rotate_now(self, view, name).await
            }
            (Route::Reconcile(name), Read | Create | Update) => {
                let flag = |field| {
                    crate::params::boolean(data, field)
                        .map_err(|e| EngineError::InvalidRequest(e.to_string()))
                };
                let options = reconcile::Options {
                    // A read only ever looks.
                    dry_run: operation == Read || flag("dry_run")?.unwrap_or(false),
                    include_unmarked: flag("include_unmarked")?.unwrap_or(false),
                };
                reconcile::reconcile(self, view, &request, name, options).await
            }
            _ => Err(unsupported()),
        }
    }

    async fn revoke(&self, view: &View<'_>, lease: &Lease) -> Result<(), RevokeError> {
        lifecycle::revoke(self, view, lease).await
    }

    async fn renew(&self, view: &View<'_>, lease: &Lease) -> Result<(), RevokeError> {
        lifecycle::renew(self, view, lease).await
    }

    /// Rotates the static roles that are due.
    async fn periodic(&self, view: &View<'_>) -> Result<(), EngineError> {
        static_rotate::rotate_due(self, view, crate::clock::now_unix_millis()).await
    }
}
