//! The nodes sharing a PostgreSQL storage, as each last reported itself: one
//! row per node id in a members table (default `vault_ha_members`), upserted
//! by each node's HA loop, read by `operator members`. Outside the barrier
//! and unfenced (standbys write here), and holding nothing secret: a node id,
//! an address, a state, a version, and when it was last seen by the database
//! clock.

use std::sync::Arc;

use crate::storage::StorageError;
use crate::storage::postgres::{PostgresBackend, check_table_name};

/// The members table used when none is configured.
pub const DEFAULT_MEMBERS_TABLE: &str = "vault_ha_members";

/// Nodes not seen for this long are no longer listed.
const FORGET_AFTER_SECS: i64 = 24 * 3600;

/// One node as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The node's configured id.
    pub node_id: String,
    /// Where it serves the API.
    pub api_address: String,
    /// `active`, `standby` or `sealed`.
    pub state: String,
    /// Its version.
    pub version: String,
    /// When it last reported, seconds since the epoch (database clock).
    pub last_seen: u64,
    /// How long ago that was, in seconds (database clock).
    pub seen_ago: u64,
}

/// The members table over a backend's session pool.
#[derive(Debug)]
pub struct Members {
    backend: Arc<PostgresBackend>,
    upsert: String,
    list: String,
}

impl Members {
    /// The members table `table` over `backend`, created unless
    /// `skip_create_table`.
    pub async fn new(
        backend: Arc<PostgresBackend>,
        table: &str,
        skip_create_table: bool,
    ) -> Result<Members, StorageError> {
        check_table_name(table).map_err(StorageError::Io)?;
        if !skip_create_table {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {table} (node_id TEXT PRIMARY KEY, api_address TEXT NOT NULL, \
                 state TEXT NOT NULL, version TEXT NOT NULL, last_seen TIMESTAMPTZ NOT NULL)"
            );
            backend.create_table(create).await?;
        }
        Ok(Members {
            backend,
            upsert: format!(
                "INSERT INTO {table} (node_id, api_address, state, version, last_seen) \
                 VALUES ($1, $2, $3, $4, clock_timestamp()) \
                 ON CONFLICT (node_id) DO UPDATE SET api_address = EXCLUDED.api_address, \
                   state = EXCLUDED.state, version = EXCLUDED.version, last_seen = EXCLUDED.last_seen"
            ),
            list: format!(
                "SELECT node_id, api_address, state, version, extract(epoch FROM last_seen)::bigint, \
                   extract(epoch FROM clock_timestamp() - last_seen)::bigint \
                 FROM {table} WHERE last_seen > clock_timestamp() - $1::bigint * interval '1 second' \
                 ORDER BY node_id"
            ),
        })
    }

    /// Records that `node_id` is alive in `state`.
    pub async fn report(
        &self,
        node_id: &str,
        api_address: &str,
        state: &str,
    ) -> Result<(), StorageError> {
        let sql = self.upsert.clone();
        let (id, addr, state) = (node_id.to_owned(), api_address.to_owned(), state.to_owned());
        let version = env!("CARGO_PKG_VERSION").to_owned();
        self.backend
            .run(move |s| {
                Box::pin(async move {
                    let statement = s.statement(&sql).await?;
                    s.client
                        .execute(&statement, &[&id, &addr, &state, &version])
                        .await?;
                    Ok(())
                })
            })
            .await
    }

    /// The nodes seen in the last day, by node id.
    pub async fn list(&self) -> Result<Vec<Member>, StorageError> {
        let sql = self.list.clone();
        self.backend
            .run(move |s| {
                Box::pin(async move {
                    let statement = s.statement(&sql).await?;
                    let rows = s.client.query(&statement, &[&FORGET_AFTER_SECS]).await?;
                    Ok(rows
                        .iter()
                        .map(|r| Member {
                            node_id: r.get(0),
                            api_address: r.get(1),
                            state: r.get(2),
                            version: r.get(3),
                            last_seen: u64::try_from(r.get::<_, i64>(4)).unwrap_or(0),
                            seen_ago: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
                        })
                        .collect())
                })
            })
            .await
    }
}
