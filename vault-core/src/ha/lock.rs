//! High availability on PostgreSQL: one active node, chosen by a lock row whose
//! TTL the database clock judges, and fenced writes (issue 6).
//!
//! # Design: a lock table, not an advisory lock
//!
//! The lock is one row of a table (default `vault_ha_lock`):
//! `(name PK, holder, generation, expires_at, advertise)`. We chose a row over
//! `pg_advisory_lock` on a dedicated session because:
//!
//! - **Fencing needs something a write transaction can check.** An advisory
//!   lock belongs to one session; a write on another pooled session cannot ask
//!   "do I still hold it?" in its own transaction. A row can be read, and locked
//!   `FOR SHARE`, inside every write transaction.
//! - **Loss is visible, not silent.** An advisory lock vanishes with its session
//!   (a network blip, a proxy restart, a failover of PostgreSQL itself), and the
//!   old holder learns of it only when it next looks. A row with a generation
//!   cannot be taken without changing it, and every write and renewal looks.
//! - **Standbys can read it.** `advertise` tells them where the active node is;
//!   `expires_at` tells them when to try.
//! - **Removal is handled.** A row deleted behind the holder's back (the
//!   failure openbao#2097 describes) makes its next renewal return false and its
//!   next write fail with [`StorageError::Fenced`].
//!
//! Time is always the DATABASE's (`clock_timestamp()`): nodes' clocks may
//! disagree, the database is the one judge all of them share.
//!
//! # Fencing and why it serialises with a takeover
//!
//! When a node becomes active it sets a [`Fence`] (holder and generation) on
//! its [`PostgresBackend`]. Every write transaction then first runs
//! `SELECT 1 FROM lock WHERE name = $1 AND holder = $2 AND generation = $3
//! AND expires_at > clock_timestamp() FOR SHARE`, and rolls back (failing with
//! [`StorageError::Fenced`]) when it finds nothing. A takeover is an `INSERT ..
//! ON CONFLICT DO UPDATE` of that row, and taking the row needs a lock that
//! conflicts with `FOR SHARE`. So, in READ COMMITTED:
//!
//! - if the takeover committed before the check, the check sees the new holder
//!   or generation and fails;
//! - if the takeover is in progress, the check waits for it, then re-reads the
//!   new row version and fails;
//! - if the check took the share lock first, the takeover waits until the
//!   write transaction has committed or rolled back.
//!
//! Either way no write of the old holder commits after the new holder's
//! acquisition has returned: writes and takeovers are totally ordered by the
//! row lock. (The check asks for an unexpired row at check time; a write that
//! then outlives the TTL still commits before any takeover can finish.)
//! Reads are not fenced: a standby may read.
//!
//! # Generations
//!
//! A new holder gets the old generation plus one; a holder re-acquiring its
//! own live (or expired but untaken) lock keeps it. A released or deleted row
//! starts again at 1, so `holder` must be unique per process lifetime (a node
//! id plus a random part): holder and generation together name one tenure.

use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::types::ToSql;

use super::fence::Fence;
use crate::storage::StorageError;
use crate::storage::postgres::{PostgresBackend, check_table_name};

/// The lock table used when none is configured.
pub const DEFAULT_LOCK_TABLE: &str = "vault_ha_lock";
/// The lock name used when none is configured.
pub const DEFAULT_LOCK_NAME: &str = "active";

/// Where the lock lives.
#[derive(Debug, Clone)]
pub struct HaLockOptions {
    /// The lock table; a plain lower-case identifier (default `vault_ha_lock`).
    pub table: String,
    /// The row's name: nodes sharing a name compete for one active slot.
    pub name: String,
    /// Do not create the table: it must exist already (default false).
    pub skip_create_table: bool,
}

impl Default for HaLockOptions {
    fn default() -> HaLockOptions {
        HaLockOptions {
            table: DEFAULT_LOCK_TABLE.into(),
            name: DEFAULT_LOCK_NAME.into(),
            skip_create_table: false,
        }
    }
}

/// One tenure of the lock: proof, until renewal fails, that this node is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Who holds it.
    pub holder: String,
    /// Which tenure: higher for each new holder.
    pub generation: i64,
    /// How long each acquisition or renewal keeps the lock.
    pub ttl: Duration,
}

/// The active node as a standby sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The holder id.
    pub holder: String,
    /// The address it advertised, for forwarding.
    pub advertise: String,
    /// How long until the lock expires unless renewed (database clock).
    pub expires_in: Duration,
}

/// The SQL of the lock, with the table name in it.
#[derive(Debug)]
struct Sql {
    acquire: String,
    renew: String,
    release: String,
    current: String,
    check: String,
    take_over: String,
}

/// The HA lock: one row of the lock table, over a backend's session pool.
#[derive(Debug)]
pub struct HaLock {
    backend: Arc<PostgresBackend>,
    table: String,
    name: String,
    sql: Sql,
}

/// Owned statement parameters, moved into a storage operation.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// A TTL as whole milliseconds for SQL, at least 1.
fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
}

impl HaLock {
    /// The lock `options.name` in `options.table`, over `backend`'s pool.
    /// Creates the table unless `skip_create_table`, then checks it exists.
    pub async fn new(
        backend: Arc<PostgresBackend>,
        options: HaLockOptions,
    ) -> Result<HaLock, StorageError> {
        check_table_name(&options.table).map_err(StorageError::Io)?;
        let t = options.table.clone();
        let lock = HaLock {
            sql: Sql {
                acquire: format!(
                    "INSERT INTO {t} AS l (name, holder, generation, expires_at, advertise) \
                     VALUES ($1, $2, 1, clock_timestamp() + $3::bigint * interval '1 millisecond', $4) \
                     ON CONFLICT (name) DO UPDATE SET \
                       holder = EXCLUDED.holder, advertise = EXCLUDED.advertise, \
                       expires_at = EXCLUDED.expires_at, \
                       generation = CASE WHEN l.holder = EXCLUDED.holder \
                                    THEN l.generation ELSE l.generation + 1 END \
                     WHERE l.expires_at < clock_timestamp() OR l.holder = EXCLUDED.holder \
                     RETURNING generation"
                ),
                renew: format!(
                    "UPDATE {t} SET expires_at = clock_timestamp() + $4::bigint * interval '1 millisecond' \
                     WHERE name = $1 AND holder = $2 AND generation = $3 \
                       AND expires_at > clock_timestamp()"
                ),
                release: format!(
                    "DELETE FROM {t} WHERE name = $1 AND holder = $2 AND generation = $3"
                ),
                current: format!(
                    "SELECT holder, advertise, \
                       (extract(epoch FROM (expires_at - clock_timestamp())) * 1000)::bigint \
                     FROM {t} WHERE name = $1 AND expires_at > clock_timestamp()"
                ),
                check: format!(
                    "SELECT 1 FROM {t} WHERE name = $1 AND holder = $2 AND generation = $3 \
                       AND expires_at > clock_timestamp() FOR SHARE"
                ),
                take_over: format!(
                    "UPDATE {t} SET holder = $3, advertise = $5, generation = generation + 1, \
                       expires_at = clock_timestamp() + $4::bigint * interval '1 millisecond' \
                     WHERE name = $1 AND holder = $2 RETURNING generation"
                ),
            },
            table: options.table,
            name: options.name,
            backend,
        };
        lock.prepare_table(options.skip_create_table).await?;
        Ok(lock)
    }

    async fn prepare_table(&self, skip_create: bool) -> Result<(), StorageError> {
        let table = self.table.clone();
        if !skip_create {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {table} (name TEXT PRIMARY KEY, holder TEXT NOT NULL, \
                 generation BIGINT NOT NULL, expires_at TIMESTAMPTZ NOT NULL, advertise TEXT NOT NULL)"
            );
            self.backend.create_table(create).await?;
        }
        let name = table.clone();
        let exists: bool = self
            .backend
            .run(move |s| {
                Box::pin(async move {
                    let row = s
                        .client
                        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                        .await?;
                    Ok(row.get(0))
                })
            })
            .await?;
        if !exists {
            return Err(StorageError::Io(format!(
                "the HA lock table {table} does not exist (skip_create_table is set: create it with \
                 CREATE TABLE {table} (name TEXT PRIMARY KEY, holder TEXT NOT NULL, generation BIGINT \
                 NOT NULL, expires_at TIMESTAMPTZ NOT NULL, advertise TEXT NOT NULL))"
            )));
        }
        Ok(())
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the lock for `ttl` if it is free, expired, or already ours
    /// (then the generation is kept and the TTL extended). `None`: another
    /// holder's lock is live.
    pub async fn try_acquire(
        &self,
        holder: &str,
        advertise: &str,
        ttl: Duration,
    ) -> Result<Option<Held>, StorageError> {
        let params: Params = vec![
            Box::new(self.name.clone()),
            Box::new(holder.to_owned()),
            Box::new(ttl_millis(ttl)),
            Box::new(advertise.to_owned()),
        ];
        self.take(self.sql.acquire.clone(), params, holder, ttl)
            .await
    }

    /// Runs a statement that takes the lock for `holder` and returns the new
    /// generation, or no row when the lock was not free to take.
    async fn take(
        &self,
        sql: String,
        params: Params,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Held>, StorageError> {
        let generation: Option<i64> = self
            .backend
            .run(move |s| {
                Box::pin(async move {
                    let statement = s.statement(&sql).await?;
                    let refs: Vec<&(dyn ToSql + Sync)> =
                        params.iter().map(|p| p.as_ref() as _).collect();
                    let row = s.client.query_opt(&statement, &refs).await?;
                    Ok(row.map(|r| r.get(0)))
                })
            })
            .await?;
        Ok(generation.map(|generation| Held {
            holder: holder.to_owned(),
            generation,
            ttl,
        }))
    }

    /// Extends `held` by its TTL if it is still ours and live. `false`: the lock
    /// was lost (expired, taken, or removed) and the caller must step down at
    /// once.
    pub async fn renew(&self, held: &Held) -> Result<bool, StorageError> {
        let (sql, name) = (self.sql.renew.clone(), self.name.clone());
        let (who, generation, ms) = (held.holder.clone(), held.generation, ttl_millis(held.ttl));
        self.backend
            .run(move |s| {
                Box::pin(async move {
                    let statement = s.statement(&sql).await?;
                    let n = s
                        .client
                        .execute(&statement, &[&name, &who, &generation, &ms])
                        .await?;
                    Ok(n == 1)
                })
            })
            .await
    }

    /// Gives the lock up (graceful shutdown, step-down) if it is still ours, so a
    /// standby can take it at once. `false`: it was no longer ours.
    pub async fn release(&self, held: &Held) -> Result<bool, StorageError> {
        let (sql, name) = (self.sql.release.clone(), self.name.clone());
        let (who, generation) = (held.holder.clone(), held.generation);
        self.backend
            .run(move |s| {
                Box::pin(async move {
                    let statement = s.statement(&sql).await?;
                    let n = s
                        .client
                        .execute(&statement, &[&name, &who, &generation])
                        .await?;
                    Ok(n == 1)
                })
            })
            .await
    }

    /// The live holder, if any (an expired row counts as none).
    pub async fn current(&self) -> Result<Option<LockHolder>, StorageError> {
        let (sql, name) = (self.sql.current.clone(), self.name.clone());
        self.backend
            .run(move |s| {
                Box::pin(async move {
                    let statement = s.statement(&sql).await?;
                    let row = s.client.query_opt(&statement, &[&name]).await?;
                    Ok(row.map(|r| {
                        let ms: i64 = r.get(2);
                        LockHolder {
                            holder: r.get(0),
                            advertise: r.get(1),
                            expires_in: Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
                        }
                    }))
                })
            })
            .await
    }

    /// A fence no tenure matches: a standby sets it so that any write it
    /// attempts by mistake is refused, not committed beside the active node's.
    pub fn standby_fence(&self, holder: &str) -> Fence {
        // Generations start at 1.
        Fence::new(
            self.name.clone(),
            holder.to_owned(),
            0,
            self.sql.check.clone(),
        )
    }

    /// Takes the lock from a previous run of this same node (`holder` differs,
    /// its `node_id:` prefix is ours): that process is dead, since node ids
    /// are unique and this process is the node now, so waiting for its TTL
    /// would only keep the cluster without an active node. The generation
    /// goes up, so anything the dead run left in flight is fenced.
    pub async fn take_over_own(
        &self,
        previous: &str,
        holder: &str,
        advertise: &str,
        ttl: Duration,
    ) -> Result<Option<Held>, StorageError> {
        let params: Params = vec![
            Box::new(self.name.clone()),
            Box::new(previous.to_owned()),
            Box::new(holder.to_owned()),
            Box::new(ttl_millis(ttl)),
            Box::new(advertise.to_owned()),
        ];
        self.take(self.sql.take_over.clone(), params, holder, ttl)
            .await
    }

    /// The fence for `held`: give it to [`PostgresBackend::set_fence`] on
    /// becoming active.
    pub fn fence(&self, held: &Held) -> Fence {
        Fence::new(
            self.name.clone(),
            held.holder.clone(),
            held.generation,
            self.sql.check.clone(),
        )
    }
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
