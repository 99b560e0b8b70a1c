//! The fence: the HA lock's tenure that a [`crate::storage::postgres::PostgresBackend`]
//! checks in every write transaction, so a node that lost the lock cannot
//! commit beside the new active node. Made by [`super::lock::HaLock`] (which
//! checked the table name in its SQL), read by the backend.

use tokio_postgres::types::ToSql;

/// One tenure of the lock: its row, its holder and generation, and the SQL
/// that checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    lock_name: String,
    holder: String,
    generation: i64,
    check_sql: String,
}

impl Fence {
    pub(super) fn new(
        lock_name: String,
        holder: String,
        generation: i64,
        check_sql: String,
    ) -> Fence {
        Fence {
            lock_name,
            holder,
            generation,
            check_sql,
        }
    }

    /// The lock row's name.
    pub fn lock_name(&self) -> &str {
        &self.lock_name
    }

    /// The fenced generation.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    pub(crate) fn check_sql(&self) -> &str {
        &self.check_sql
    }

    pub(crate) fn check_params(&self) -> [&(dyn ToSql + Sync); 3] {
        [&self.lock_name, &self.holder, &self.generation]
    }
}
