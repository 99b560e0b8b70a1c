//! PostgreSQL, as the storage backend and the database engine both reach
//! it: the connection URL and its TLS options (`tls.rs`, the one reader of
//! `sslmode` and `sslrootcert`) and the session pool (`pool.rs`). What each
//! does over a session (a key/value table, roles and grants) is its own.

pub(crate) mod pool;
pub(crate) mod tls;
