//! A backend in one PostgreSQL table, so several vaultd nodes can share one store
//! (the HA lock and fencing come on top of it, issue 6).
//!
//! The table is `(key TEXT COLLATE "C" PRIMARY KEY, value BYTEA NOT NULL)`. The
//! "C" collation makes key order byte order, the order [`Backend::scan`] and
//! [`Backend::list`] promise: both read a key range of the primary key index
//! (`key >= prefix AND key < upper(prefix)`), never the whole table. A batch is
//! one transaction, committed before `batch` returns; "durable" is what the
//! server's `synchronous_commit` makes it.
//!
//! A batch is answered `Ok` only when PostgreSQL answered its `COMMIT`. When
//! the connection is lost or the operation times out after `COMMIT` was sent,
//! the transaction may or may not have committed: that is answered as an
//! error that says the outcome is unknown, never as success. Every batch is
//! whole-value puts and deletes, so applying one twice leaves what applying
//! it once does: a caller may retry a batch whose outcome is unknown (lease
//! records, keyring terms and the seal configuration are all written so).
//!
//! Sessions come from the pool the database engine uses too
//! ([`crate::pg::pool`]), of `max_connections`. Every operation runs under a
//! timeout; a session whose operation failed or timed out is thrown away (its
//! transaction state is unknown), never pooled again.
//!
//! The connection URL carries a password: it is held as a [`SecretString`], and
//! error messages carry PostgreSQL's message and SQLSTATE or the I/O error,
//! never the URL, with the password cut out should the server echo it.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio_postgres::error::SqlState;

use super::{Backend, BatchOp, StorageError, immediate_children};
use crate::ha::fence::Fence;
pub(crate) use crate::pg::pool::Session;
use crate::pg::pool::{NoSlot, Pool, RunError};
use crate::pg::tls::{MakeRustls, split_tls_params};
use crate::secret::SecretString;

/// How to reach the database and what to store in it.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user:password@host:port/db?sslmode=...`; `sslmode` and
    /// `sslrootcert` as libpq reads them.
    pub connection_url: SecretString,
    /// The table; a plain lower-case identifier (default `vault_kv`).
    pub table: String,
    /// The most sessions open at once (default 8).
    pub max_connections: usize,
    /// How long one connection attempt may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long `connect` keeps retrying a database that refuses connections,
    /// so a daemon started together with its database waits for it (default 30 s).
    pub connect_retry_for: Duration,
    /// How long one operation (a read, or a whole batch) may take (default 30 s).
    pub operation_timeout: Duration,
    /// Do not create the table: it must exist already (default false).
    pub skip_create_table: bool,
}

/// The table used when none is configured.
pub const DEFAULT_TABLE: &str = "vault_kv";

impl PostgresOptions {
    /// The defaults, for the database at `connection_url`.
    pub fn new(connection_url: SecretString) -> PostgresOptions {
        PostgresOptions {
            connection_url,
            table: DEFAULT_TABLE.into(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            connect_retry_for: Duration::from_secs(30),
            operation_timeout: Duration::from_secs(30),
            skip_create_table: false,
        }
    }
}

/// Refuses a table name that is not a plain lower-case identifier: it goes into
/// SQL text, and an unquoted lower-case name is the one operators will type.
pub fn check_table_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !first_ok || !rest_ok || name.len() > 63 {
        return Err(format!(
            "table {name:?} is not a plain identifier: use lower-case letters, digits and _ \
             (not first), at most 63 characters"
        ));
    }
    Ok(())
}

/// The SQL of every statement, with the table name in it.
#[derive(Debug)]
struct Sql {
    get: String,
    put: String,
    delete: String,
}

/// A vault store in one PostgreSQL table.
pub struct PostgresBackend {
    table: String,
    sql: Sql,
    config: tokio_postgres::Config,
    tls: MakeRustls,
    /// The URL and its password, cut out of every error message.
    secrets: Vec<SecretString>,
    connect_timeout: Duration,
    operation_timeout: Duration,
    pool: Arc<Pool>,
    /// The HA lock tenure every write must still hold (`None`: no HA, or a
    /// standby). std Mutex: cloned out before any await.
    fence: Mutex<Option<Fence>>,
    /// How many writes the fence has refused: the HA loop watches it to step
    /// down at the first refusal instead of at the next renewal.
    fenced_writes: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("table", &self.table)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Connects (retrying a database that is not up yet for
    /// `options.connect_retry_for`), then creates the table if it is missing, or
    /// with `skip_create_table` checks that it exists. A table that exists with
    /// another layout is refused with [`StorageError::NotOurs`].
    pub async fn connect(options: PostgresOptions) -> Result<PostgresBackend, StorageError> {
        check_table_name(&options.table).map_err(StorageError::Io)?;
        let url = options.connection_url.expose_secret().trim();
        let mut secrets = vec![options.connection_url.clone()];
        secrets.extend(raw_password(url).map(SecretString::from));
        let (url, tls_settings) = split_tls_params(url).map_err(StorageError::Io)?;
        let mut config = tokio_postgres::Config::from_str(&url).map_err(|e| {
            StorageError::Io(format!(
                "invalid connection_url: {}",
                error_chain(&e, &secrets)
            ))
        })?;
        if let Some(password) = config
            .get_password()
            .and_then(|p| std::str::from_utf8(p).ok())
        {
            secrets.push(SecretString::from(password));
        }
        config.connect_timeout(options.connect_timeout);
        config.ssl_mode(tls_settings.mode.negotiation());
        if config.get_application_name().is_none() {
            config.application_name("vault-storage");
        }
        let tls = tls_settings.connector().map_err(StorageError::Io)?;
        let table = options.table.clone();
        let backend = PostgresBackend {
            sql: Sql {
                get: format!("SELECT value FROM {table} WHERE key = $1"),
                put: format!(
                    "INSERT INTO {table} (key, value) VALUES ($1, $2) \
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                delete: format!("DELETE FROM {table} WHERE key = $1"),
            },
            table,
            config,
            tls,
            secrets,
            connect_timeout: options.connect_timeout,
            operation_timeout: options.operation_timeout,
            pool: Arc::new(Pool::new(options.max_connections)),
            fence: Mutex::new(None),
            fenced_writes: tokio::sync::watch::Sender::new(0),
        };
        let session = backend.open_with_retry(options.connect_retry_for).await?;
        backend.pool.put_idle(session);
        backend.prepare_table(options.skip_create_table).await?;
        Ok(backend)
    }

    /// The table this backend stores in.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Fences every later write with `fence` (set when this node becomes active)
    /// or stops fencing (`None`, when it steps down). While set, a write whose
    /// transaction does not find this tenure in the lock table fails with
    /// [`StorageError::Fenced`] and lands nothing; see [`crate::ha::lock`].
    pub fn set_fence(&self, fence: Option<Fence>) {
        if let Ok(mut current) = self.fence.lock() {
            *current = fence;
        }
    }

    /// Counts the writes the fence refused; changes with each refusal.
    pub fn fenced_writes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.fenced_writes.subscribe()
    }

    /// The fence writes are checked against, if any.
    pub fn fence(&self) -> Option<Fence> {
        self.fence.lock().ok().and_then(|f| f.clone())
    }

    /// Opens a session, retrying with a capped backoff while the server refuses
    /// connections or is starting, for at most `retry_for` in all.
    async fn open_with_retry(&self, retry_for: Duration) -> Result<Session, StorageError> {
        let deadline = Instant::now() + retry_for;
        let mut delay = Duration::from_millis(100);
        loop {
            match self.open().await {
                Ok(session) => return Ok(session),
                Err((error, retryable)) => {
                    let now = Instant::now();
                    if !retryable || now + delay > deadline {
                        return Err(error);
                    }
                    tracing::warn!(error = %error, retry_in = ?delay, "PostgreSQL storage not reachable yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Opens one session. On failure, says whether a retry may help (the server
    /// is down, starting or full) as opposed to a refusal (bad password, no such
    /// database).
    async fn open(&self) -> Result<Session, (StorageError, bool)> {
        let connecting = self.config.connect(self.tls.clone());
        let (client, connection) =
            match tokio::time::timeout(self.connect_timeout, connecting).await {
                Err(_) => {
                    return Err((
                        StorageError::Io(format!(
                            "could not connect to PostgreSQL within {:?}",
                            self.connect_timeout
                        )),
                        true,
                    ));
                }
                Ok(Err(e)) => {
                    let retryable = match e.code() {
                        None => true,
                        Some(code) => {
                            *code == SqlState::CANNOT_CONNECT_NOW
                                || *code == SqlState::TOO_MANY_CONNECTIONS
                        }
                    };
                    let error = StorageError::Io(format!(
                        "could not connect to PostgreSQL: {}",
                        error_chain(&e, &self.secrets)
                    ));
                    return Err((error, retryable));
                }
                Ok(Ok(pair)) => pair,
            };
        Ok(Session::start(client, connection, |e| {
            tracing::debug!(error = %e, "PostgreSQL storage session ended");
        }))
    }

    /// Runs `work` on a pooled session (an idle one still open, else a new
    /// one; a free slot is waited for at most the operation timeout) within
    /// the operation timeout. On failure or timeout the session is thrown
    /// away (a hung query is cancelled first).
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        F: for<'s> FnOnce(
            &'s mut Session,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send + 's>,
        >,
    {
        let mut checkout =
            self.pool
                .checkout(self.operation_timeout)
                .await
                .map_err(|no| match no {
                    NoSlot::Closed => StorageError::Closed,
                    NoSlot::Busy => StorageError::Io(format!(
                        "all {} PostgreSQL storage sessions stayed busy",
                        self.pool.size()
                    )),
                })?;
        if !checkout.has_session() {
            checkout.put(self.open().await.map_err(|(error, _)| error)?);
        }
        match checkout.run(self.operation_timeout, &self.tls, work).await {
            Ok(value) => Ok(value),
            Err(RunError::NoSession) => Err(StorageError::Closed),
            Err(RunError::Failed(e)) => Err(StorageError::Io(format!(
                "PostgreSQL storage: {}",
                error_chain(&e, &self.secrets)
            ))),
            Err(RunError::TimedOut(limit)) => Err(StorageError::Io(format!(
                "a PostgreSQL storage operation timed out after {limit:?}"
            ))),
        }
    }

    /// Runs a `CREATE TABLE IF NOT EXISTS`. Two nodes creating a table at
    /// once: one of them meets the other's catalog row (the table's, or its
    /// row type's: `type ... already exists`); the table exists either way,
    /// so that is not an error, and the layout check that follows looks at
    /// what is there.
    pub(crate) async fn create_table(&self, create: String) -> Result<(), StorageError> {
        self.run(move |s| {
            Box::pin(async move {
                match s.client.batch_execute(&create).await {
                    Err(e)
                        if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                            || e.code() == Some(&SqlState::DUPLICATE_TABLE)
                            || e.code() == Some(&SqlState::DUPLICATE_OBJECT) =>
                    {
                        Ok(())
                    }
                    other => other,
                }
            })
        })
        .await
    }

    /// Creates the table (or checks it exists), then checks its layout.
    async fn prepare_table(&self, skip_create: bool) -> Result<(), StorageError> {
        let table = self.table.clone();
        if !skip_create {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {table} \
                 (key TEXT COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL)"
            );
            self.create_table(create).await?;
        }
        let name = table.clone();
        let layout: Vec<(String, String)> = self
            .run(move |s| {
                Box::pin(async move {
                    let rows = s
                        .client
                        .query(
                            "SELECT a.attname::text, \
                                    coalesce(c.collname::text, '') || ':' || format_type(a.atttypid, a.atttypmod) \
                             FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation \
                             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                            &[&name],
                        )
                        .await?;
                    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
                })
            })
            .await?;
        if layout.is_empty() {
            return Err(StorageError::Io(format!(
                "the table {table} does not exist (skip_create_table is set: create it with \
                 CREATE TABLE {table} (key TEXT COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL))"
            )));
        }
        let column = |name: &str| {
            layout
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.as_str())
        };
        let key_ok = matches!(column("key"), Some("C:text" | "POSIX:text"));
        let value_ok = matches!(column("value"), Some(":bytea"));
        if !key_ok || !value_ok {
            return Err(StorageError::NotOurs {
                path: format!("PostgreSQL table {table}"),
                reason: "a vault table has key TEXT COLLATE \"C\" and value BYTEA".into(),
            });
        }
        Ok(())
    }

    /// Keys in `[lower, upper)` (or `(lower, upper)` when `exclusive`), in order,
    /// at most `limit`. One range scan of the primary key.
    async fn range(
        &self,
        lower: &str,
        exclusive: bool,
        upper: Option<String>,
        limit: Option<i64>,
    ) -> Result<Vec<String>, StorageError> {
        let table = &self.table;
        let op = if exclusive { ">" } else { ">=" };
        let mut sql = format!("SELECT key FROM {table} WHERE key {op} $1");
        let mut next = 2;
        if upper.is_some() {
            sql.push_str(" AND key < $2");
            next = 3;
        }
        sql.push_str(" ORDER BY key");
        if limit.is_some() {
            sql.push_str(&format!(" LIMIT ${next}"));
        }
        let lower = lower.to_owned();
        self.run(move |s| {
            Box::pin(async move {
                let statement = s.statement(&sql).await?;
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&lower];
                if let Some(upper) = &upper {
                    params.push(upper);
                }
                if let Some(limit) = &limit {
                    params.push(limit);
                }
                let rows = s.client.query(&statement, &params).await?;
                Ok(rows.iter().map(|r| r.get(0)).collect())
            })
        })
        .await
    }
}

/// The least string above every string that starts with `prefix`, in byte order
/// (UTF-8 byte order is code point order): `prefix` with its last character
/// raised by one. `None` when there is none (empty, or only `char::MAX`).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `error`'s message and causes, with the password cut out. Server errors show
/// PostgreSQL's message and SQLSTATE.
fn error_chain(error: &tokio_postgres::Error, secrets: &[SecretString]) -> String {
    let mut message = match error.as_db_error() {
        Some(db) => format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            message
        }
    };
    for secret in secrets {
        let secret = secret.expose_secret();
        if !secret.is_empty() {
            message = message.replace(secret, "<redacted>");
        }
    }
    message
}

/// The password as written in a URL's user info (still percent-encoded), if any.
fn raw_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo
        .split_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty())
}

#[async_trait]
impl Backend for PostgresBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let key = key.to_owned();
        let sql = self.sql.get.clone();
        self.run(move |s| {
            Box::pin(async move {
                let statement = s.statement(&sql).await?;
                let row = s.client.query_opt(&statement, &[&key]).await?;
                Ok(row.map(|r| r.get(0)))
            })
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        // Every key under the prefix, folded here (as SQLite does): the range
        // is read from the index, and lists are of one folder.
        let keys = self
            .range(prefix, false, prefix_upper_bound(prefix), None)
            .await?;
        Ok(immediate_children(prefix, keys.iter().map(String::as_str)))
    }

    async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (lower, exclusive) = match after {
            Some(a) if a >= prefix => (a, true),
            _ => (prefix, false),
        };
        self.range(lower, exclusive, prefix_upper_bound(prefix), Some(limit))
            .await
    }

    async fn batch(&self, ops: Vec<BatchOp>) -> Result<(), StorageError> {
        if ops.is_empty() {
            return Ok(());
        }
        let (put_sql, delete_sql) = (self.sql.put.clone(), self.sql.delete.clone());
        // A poisoned fence lock must not turn into "no fence": refuse instead.
        let fence = self
            .fence
            .lock()
            .map(|f| f.clone())
            .map_err(|_| StorageError::Fenced("the fence state is unreadable".into()))?;
        let lock_name = fence.as_ref().map(|f| f.lock_name().to_owned());
        // Set once COMMIT is sent: an error after that (the connection lost,
        // the timeout) leaves the outcome unknown, and the answer says so.
        let committing = Arc::new(AtomicBool::new(false));
        let sent = Arc::clone(&committing);
        let landed = self
            .run(move |s| {
                Box::pin(async move {
                    let put = s.statement(&put_sql).await?;
                    let delete = s.statement(&delete_sql).await?;
                    let check = match &fence {
                        Some(fence) => Some((fence, s.statement(fence.check_sql()).await?)),
                        None => None,
                    };
                    let tx = s.client.transaction().await?;
                    // The fencing check: in this transaction, before any write.
                    // It takes a FOR SHARE lock on the lock row, so a takeover
                    // (which must UPDATE or DELETE that row) waits for this
                    // transaction to end, and a takeover that committed first
                    // makes the check find nothing (see `ha.rs`).
                    if let Some((fence, check)) = &check {
                        let params = fence.check_params();
                        if tx.query_opt(check, &params).await?.is_none() {
                            tx.rollback().await?;
                            return Ok(false);
                        }
                    }
                    for op in &ops {
                        match op {
                            BatchOp::Put { key, value } => tx.execute(&put, &[key, value]).await?,
                            BatchOp::Delete { key } => tx.execute(&delete, &[key]).await?,
                        };
                    }
                    sent.store(true, Ordering::Release);
                    tx.commit().await?;
                    Ok(true)
                })
            })
            .await
            .map_err(|e| match e {
                StorageError::Io(reason) if committing.load(Ordering::Acquire) => {
                    StorageError::Io(format!(
                        "the outcome of the commit is unknown (it may have landed; \
                         reading the value back tells): {reason}"
                    ))
                }
                other => other,
            })?;
        if landed {
            Ok(())
        } else {
            self.fenced_writes.send_modify(|n| *n += 1);
            Err(StorageError::Fenced(lock_name.unwrap_or_default()))
        }
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn close(&self) -> Result<(), StorageError> {
        // Operations already running may finish (their sessions are then
        // dropped, not pooled), for at most one operation timeout.
        self.pool.close(self.operation_timeout).await;
        Ok(())
    }
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
