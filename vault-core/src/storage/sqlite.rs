//! The embedded default backend: one SQLite file in WAL mode.
//!
//! Durability: `synchronous=FULL`, so a write is acknowledged only after its commit
//! is on disk. Throughput: every write goes to one writer thread, which takes all
//! the writes that queued while the previous commit was syncing and commits them
//! together in one transaction (group commit), each in its own savepoint so one
//! bad write cannot sink its neighbours. Reads run on a pool of separate
//! connections: under WAL they never wait behind the writer. A point read
//! runs on the caller's thread (see `with_reader_here`), a walk of many
//! rows on a blocking thread.
//!
//! The invariant: **a write is answered `Ok` only if the transaction that holds
//! it committed.** SQLite may abandon a whole transaction when one statement
//! fails (`SQLITE_FULL`, `SQLITE_IOERR`, `SQLITE_NOMEM`, an interrupt): the
//! savepoints of the jobs before it are gone with it, and a later `SAVEPOINT`
//! would open a fresh transaction of its own. So after every statement that
//! fails, and before the commit, the writer asks SQLite whether the group's
//! transaction is still open (`is_autocommit`); if it is not, or a savepoint
//! cannot be released or rolled back, or the commit fails, nothing of the group
//! is kept and each job is committed again alone, answered by its own commit.
//! A job answered with an error is wholly absent or (when a commit failed
//! after reaching the disk) wholly applied, never half. Tested by
//! `sqlite_faults.rs` (a real `SQLITE_FULL` and planned faults at every
//! statement of groups of 1 to 32) and, black-box, by `tests/disk_full.rs`.
//!
//! The file is marked with an `application_id`, so a file that is not ours is
//! refused on open. A damaged one is found by `quick_check`, which reads the
//! whole file: it runs on a thread of its own after the open, so a large
//! vault starts serving at once, and its result is [`Backend::integrity`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

use super::{Backend, BatchOp, Integrity, StorageError, immediate_children};

/// "VALT": marks a SQLite file as a vault database.
const APPLICATION_ID: i32 = 0x5641_4C54;
/// The layout of the `kv` table this build reads and writes.
const SCHEMA_VERSION: i32 = 1;
/// Most writes committed in one transaction; bounds the latency of a group.
const MAX_GROUP: usize = 256;
/// Idle read connections kept open. Point reads run on the runtime's
/// worker threads (one connection each at a time), walks on blocking
/// threads; a burst beyond this opens connections that are closed after.
const MAX_IDLE_READERS: usize = 4;
/// Each read connection's page cache, in KiB (SQLite's default is 2,000). A
/// vault's reads are point lookups spread over the whole file, which a
/// per-connection cache cannot hold at any useful size; the kernel's page
/// cache, shared by all of them, does. Left at the default, eight readers'
/// caches were most of vaultd's memory after a load on a large vault.
const READER_CACHE_KIB: i64 = 256;

/// A vault store in one SQLite file.
#[derive(Debug)]
pub struct SqliteBackend {
    path: PathBuf,
    // std Mutex: held only to clone the sender or take it on close, never across an await.
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    // std Mutex: held only to pop or push a connection.
    readers: Arc<Mutex<Vec<Connection>>>,
    closed: AtomicBool,
    // Kept by the writer thread: transactions and the writes they carried.
    totals: Arc<GroupTotals>,
    // Set by the check thread when it finishes; std Mutex, never held across an await.
    integrity: Arc<Mutex<Integrity>>,
}

#[derive(Debug, Default)]
struct GroupTotals {
    commits: std::sync::atomic::AtomicU64,
    writes: std::sync::atomic::AtomicU64,
}

struct WriteJob {
    ops: Vec<BatchOp>,
    done: oneshot::Sender<Result<(), StorageError>>,
}

impl SqliteBackend {
    /// Opens the vault database at `path`, creating it (mode 0600) if it does not
    /// exist. Fails with [`StorageError::NotOurs`] for a file that is not a vault
    /// database and [`StorageError::Corrupt`] for one whose header is damaged;
    /// damage further in is found by the check it starts ([`Backend::integrity`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
        let conn = open_connection(&path, false)?;
        prepare_schema(&conn, &path)?;
        let (tx, rx) = mpsc::channel();
        let totals = Arc::new(GroupTotals::default());
        let counted = Arc::clone(&totals);
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &counted))
            .map_err(|e| StorageError::Io(format!("cannot start the writer thread: {e}")))?;
        let integrity = Arc::new(Mutex::new(Integrity::Running));
        let (checked, check_path) = (Arc::clone(&integrity), path.clone());
        // Not joined: it only reads, through its own connection, and a result
        // nobody asks for any more (the vault closed) is harmless.
        std::thread::Builder::new()
            .name("sqlite-check".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                let outcome = check_file(&check_path);
                match &outcome {
                    Integrity::Failed(found) => {
                        tracing::error!(path = %check_path.display(), %found,
                            "the storage failed its integrity check");
                    }
                    _ => tracing::info!(
                        path = %check_path.display(),
                        seconds = started.elapsed().as_secs_f64(),
                        "the storage passed its integrity check"
                    ),
                }
                if let Ok(mut state) = checked.lock() {
                    *state = outcome;
                }
            })
            .map_err(|e| StorageError::Io(format!("cannot start the check thread: {e}")))?;
        Ok(SqliteBackend {
            path,
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            readers: Arc::new(Mutex::new(Vec::new())),
            closed: AtomicBool::new(false),
            totals,
            integrity,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled read connection on a blocking thread: for reads
    /// that walk many rows (list, scan).
    async fn with_reader<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        let pool = Arc::clone(&self.readers);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || read_pooled(&pool, &path, f))
            .await
            .map_err(|e| StorageError::Io(format!("read task failed: {e}")))?
    }

    /// Runs `f` on a pooled read connection on the calling thread: for a
    /// point read, a walk down one b-tree. Its pages are in the kernel's
    /// page cache unless the vault was just started from a cold disk, so it
    /// takes microseconds, less than a hop to a blocking thread and back,
    /// which cost a large vault (where reads miss the barrier's cache) a
    /// third of its throughput.
    fn with_reader_here<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T>,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(StorageError::Closed);
        }
        read_pooled(&self.readers, &self.path, f)
    }
}

/// Runs `f` on an idle read connection (or a new one), then keeps it for
/// the next read if the pool has room.
fn read_pooled<T>(
    pool: &Mutex<Vec<Connection>>,
    path: &Path,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, StorageError> {
    let idle = pool.lock().ok().and_then(|mut p| p.pop());
    let conn = match idle {
        Some(conn) => conn,
        None => open_connection(path, true)?,
    };
    let out = f(&conn).map_err(map_error);
    if let Ok(mut idle) = pool.lock()
        && idle.len() < MAX_IDLE_READERS
    {
        idle.push(conn);
    }
    out
}

/// The keys from a prefix on, in order (the caller stops at the prefix's end
/// and a page's size). Two statements, not one with `(?2 IS NULL OR key > ?2)
/// ... LIMIT ?3`: SQLite plans such a statement for the values bound to `?2`
/// and to `LIMIT`, so binding others made it parse and plan the statement
/// again on every scan (`a_scan_statement_is_prepared_once`).
const SCAN_FIRST: &str = "SELECT key FROM kv WHERE key >= ?1 ORDER BY key";
/// The keys after `?2`.
const SCAN_AFTER: &str = "SELECT key FROM kv WHERE key >= ?1 AND key > ?2 ORDER BY key";

#[async_trait]
impl Backend for SqliteBackend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.with_reader_here(|conn| {
            conn.prepare_cached("SELECT value FROM kv WHERE key = ?1")?
                .query_row([key], |row| row.get::<_, Vec<u8>>(0))
                .optional()
        })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.to_owned();
        self.with_reader(move |conn| {
            let mut stmt = conn.prepare_cached(SCAN_FIRST)?;
            let mut rows = stmt.query([&prefix])?;
            let mut keys = Vec::new();
            while let Some(row) = rows.next()? {
                let key: String = row.get(0)?;
                if !key.starts_with(&prefix) {
                    break;
                }
                keys.push(key);
            }
            Ok(immediate_children(&prefix, keys.iter().map(String::as_str)))
        })
        .await
    }

    async fn scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.to_owned();
        let start = after.map(str::to_owned);
        self.with_reader(move |conn| {
            // A range on the primary key: the rows read are the rows returned.
            let mut stmt;
            let mut rows;
            match &start {
                None => {
                    stmt = conn.prepare_cached(SCAN_FIRST)?;
                    rows = stmt.query([&prefix])?;
                }
                Some(after) => {
                    stmt = conn.prepare_cached(SCAN_AFTER)?;
                    rows = stmt.query([&prefix, after])?;
                }
            }
            let mut keys = Vec::new();
            while keys.len() < limit
                && let Some(row) = rows.next()?
            {
                let key: String = row.get(0)?;
                if !key.starts_with(&prefix) {
                    break;
                }
                keys.push(key);
            }
            Ok(keys)
        })
        .await
    }

    async fn batch(&self, ops: Vec<BatchOp>) -> Result<(), StorageError> {
        if ops.is_empty() {
            return Ok(());
        }
        let sender = self
            .writer
            .lock()
            .map_err(|_| StorageError::Io("writer lock poisoned".into()))?
            .clone()
            .ok_or(StorageError::Closed)?;
        let (done, wait) = oneshot::channel();
        sender
            .send(WriteJob { ops, done })
            .map_err(|_| StorageError::Closed)?;
        wait.await
            .map_err(|_| StorageError::Io("the writer thread stopped".into()))?
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn commit_totals(&self) -> Option<super::CommitTotals> {
        use std::sync::atomic::Ordering::Relaxed;
        Some(super::CommitTotals {
            commits: self.totals.commits.load(Relaxed),
            writes: self.totals.writes.load(Relaxed),
        })
    }

    fn integrity(&self) -> Integrity {
        self.integrity
            .lock()
            .map_or_else(|p| p.into_inner().clone(), |s| s.clone())
    }

    async fn close(&self) -> Result<(), StorageError> {
        self.closed.store(true, Ordering::Release);
        // Dropping the sender lets the writer finish what is queued, then stop.
        if let Ok(mut writer) = self.writer.lock() {
            writer.take();
        }
        let thread = self.writer_thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .map_err(|e| StorageError::Io(format!("joining the writer failed: {e}")))?
                .map_err(|_| StorageError::Io("the writer thread panicked".into()))?;
        }
        if let Ok(mut readers) = self.readers.lock() {
            readers.clear();
        }
        Ok(())
    }
}

/// Creates the database file with mode 0600 before SQLite sees it; SQLite gives its
/// `-wal` and `-shm` files the database file's mode.
fn create_private_file(path: &Path) -> Result<(), StorageError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StorageError::Io(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

fn open_connection(path: &Path, reader: bool) -> Result<Connection, StorageError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StorageError::Io(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(map_error)?;
    if reader {
        conn.pragma_update(None, "query_only", true)
            .map_err(map_error)?;
        conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)
            .map_err(map_error)?;
    }
    Ok(conn)
}

/// Creates the schema in an empty file, or checks that a non-empty file is ours.
fn prepare_schema(conn: &Connection, path: &Path) -> Result<(), StorageError> {
    let not_ours = |reason: String| StorageError::NotOurs {
        path: path.display().to_string(),
        reason,
    };
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| not_ours(e.to_string()))?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| not_ours(e.to_string()))?;
    if app_id == 0 && objects == 0 {
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {SCHEMA_VERSION};
             CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;"
        ))
        .map_err(map_error)?;
    } else if app_id != APPLICATION_ID {
        return Err(not_ours(format!(
            "its application_id is {app_id:#x}, a vault database has {APPLICATION_ID:#x}"
        )));
    }
    let version: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(map_error)?;
    if version != SCHEMA_VERSION {
        return Err(not_ours(format!(
            "schema version {version}, this build reads version {SCHEMA_VERSION}"
        )));
    }
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
        .map_err(map_error)?;
    Ok(())
}

/// Reads the whole file with `quick_check` (every page and b-tree, without
/// the slower index-to-table cross-check of `integrity_check`).
fn check_file(path: &Path) -> Integrity {
    let found = open_connection(path, true).and_then(|conn| {
        conn.query_row("PRAGMA quick_check(1)", [], |r| r.get::<_, String>(0))
            .map_err(map_error)
    });
    // Without the path: the reason is shown to unauthenticated health
    // checks; the log line names the file.
    match found {
        Ok(check) if check == "ok" => Integrity::Passed,
        Ok(check) => Integrity::Failed(format!("the file is damaged: {check}")),
        Err(e) => Integrity::Failed(format!(
            "the file could not be read through: {}",
            e.to_string().replace(&path.display().to_string(), "it")
        )),
    }
}

fn map_error(e: rusqlite::Error) -> StorageError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StorageError::Corrupt(e.to_string())
        }
        _ => StorageError::Io(e.to_string()),
    }
}

fn writer_loop(conn: Connection, jobs: mpsc::Receiver<WriteJob>, totals: &GroupTotals) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let outcome = commit_group(&conn, &group);
        totals
            .commits
            .fetch_add(outcome.transactions, std::sync::atomic::Ordering::Relaxed);
        totals
            .writes
            .fetch_add(group.len() as u64, std::sync::atomic::Ordering::Relaxed);
        for (job, result) in group.into_iter().zip(outcome.results) {
            // The caller may have gone away; the write stands either way.
            let _ = job.done.send(result);
        }
    }
    // Closed: fold the WAL back into the main file so a clean stop leaves one file.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
}

/// The answers to one group of jobs, in order, and how many transactions
/// committed to give them.
struct GroupOutcome {
    results: Vec<Result<(), StorageError>>,
    transactions: u64,
}

/// Commits every job of `group`. A job is answered `Ok` only if the transaction
/// holding it committed: the group is tried as one transaction, and if that
/// transaction is lost (see the module docs), each job is committed alone and
/// answered by its own commit.
fn commit_group(conn: &Connection, group: &[WriteJob]) -> GroupOutcome {
    if group.len() > 1
        && let Some(results) = commit_together(conn, group)
    {
        return GroupOutcome {
            results,
            transactions: 1,
        };
    }
    let results: Vec<_> = group
        .iter()
        .map(|job| commit_alone(conn, &job.ops))
        .collect();
    GroupOutcome {
        transactions: results.iter().filter(|r| r.is_ok()).count() as u64,
        results,
    }
}

/// The group in one transaction, each job in a savepoint. `None` when the
/// transaction did not commit as a whole (SQLite abandoned it, a savepoint
/// could not be released or rolled back, or the commit failed): nothing of it
/// is in the file, and no job has been answered.
fn commit_together(conn: &Connection, group: &[WriteJob]) -> Option<Vec<Result<(), StorageError>>> {
    if let Err(e) = begin(conn) {
        // Nothing was written: every job fails with the reason (a busy
        // lock waited for busy_timeout already; retrying each would wait again).
        let e = map_error(e);
        return Some(group.iter().map(|_| Err(clone_error(&e))).collect());
    }
    let mut results = Vec::with_capacity(group.len());
    for job in group {
        match apply_in_savepoint(conn, &job.ops) {
            Ok(result) => results.push(result),
            Err(_lost) => {
                rollback(conn);
                return None;
            }
        }
    }
    let committed = !conn.is_autocommit()
        && fault::step(conn)
            .and_then(|()| control(conn, "COMMIT"))
            .is_ok();
    if committed {
        Some(results)
    } else {
        rollback(conn);
        None
    }
}

/// The transaction the group was in is gone or unusable: the whole group must
/// be answered some other way.
struct GroupLost;

/// One job in a savepoint of the group's transaction: `Ok(Ok)` applied,
/// `Ok(Err)` undone by its savepoint while the transaction goes on,
/// `Err(GroupLost)` when the transaction itself can no longer be trusted.
fn apply_in_savepoint(
    conn: &Connection,
    ops: &[BatchOp],
) -> Result<Result<(), StorageError>, GroupLost> {
    let savepoint = fault::step(conn).and_then(|()| control(conn, "SAVEPOINT job"));
    if savepoint.is_err() {
        return Err(GroupLost);
    }
    match apply_ops(conn, ops) {
        Ok(()) => {
            let released = fault::step(conn).and_then(|()| control(conn, "RELEASE job"));
            if released.is_ok() && !conn.is_autocommit() {
                Ok(Ok(()))
            } else {
                Err(GroupLost)
            }
        }
        Err(e) => {
            // Undo this job only, if SQLite left the transaction standing.
            let undone = fault::step(conn)
                .and_then(|()| control(conn, "ROLLBACK TO job"))
                .and_then(|()| fault::step(conn))
                .and_then(|()| control(conn, "RELEASE job"));
            if undone.is_ok() && !conn.is_autocommit() {
                Ok(Err(map_error(e)))
            } else {
                Err(GroupLost)
            }
        }
    }
}

/// One job in a transaction of its own, answered by its commit.
fn commit_alone(conn: &Connection, ops: &[BatchOp]) -> Result<(), StorageError> {
    begin(conn).map_err(map_error)?;
    let committed = apply_ops(conn, ops)
        .and_then(|()| fault::step(conn))
        .and_then(|()| control(conn, "COMMIT"));
    if let Err(e) = committed {
        rollback(conn);
        return Err(map_error(e));
    }
    Ok(())
}

/// `BEGIN IMMEDIATE`, after ending any transaction a failure left open.
fn begin(conn: &Connection) -> rusqlite::Result<()> {
    if !conn.is_autocommit() {
        rollback(conn);
    }
    fault::step(conn)?;
    control(conn, "BEGIN IMMEDIATE")
}

/// Ends the open transaction, if any, without keeping any of it. A failed
/// rollback leaves it open; the next `begin` tries again, and until one
/// succeeds every write is answered with the error.
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = control(conn, "ROLLBACK")
    {
        tracing::warn!(error = %e, "rolling back a failed SQLite transaction failed");
    }
}

/// Runs one of the writer's transaction statements (`BEGIN IMMEDIATE`,
/// `SAVEPOINT job`, `COMMIT`, ...) from the connection's statement cache:
/// the writer runs them for every group and job, and parsing them each time
/// showed in profiles of write loads.
fn control(conn: &Connection, sql: &'static str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn apply_ops(conn: &Connection, ops: &[BatchOp]) -> rusqlite::Result<()> {
    for op in ops {
        fault::step(conn)?;
        match op {
            BatchOp::Put { key, value } => {
                conn.prepare_cached(
                    "INSERT INTO kv (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(rusqlite::params![key, value])?;
            }
            BatchOp::Delete { key } => {
                conn.prepare_cached("DELETE FROM kv WHERE key = ?1")?
                    .execute([key])?;
            }
        }
    }
    Ok(())
}

fn clone_error(e: &StorageError) -> StorageError {
    match e {
        StorageError::Corrupt(m) => StorageError::Corrupt(m.clone()),
        other => StorageError::Io(other.to_string()),
    }
}

/// Fault injection for the tests: before each statement the writer runs,
/// [`fault::step`] may fail it on purpose (`faults.rs` plans where). A no-op
/// outside tests.
#[cfg(not(test))]
mod fault {
    #[inline(always)]
    pub(super) fn step(_conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "sqlite_faults.rs"]
mod fault;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list_delete_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteBackend::open(dir.path().join("v.db")).unwrap();
        db.put("a/b", b"1".to_vec()).await.unwrap();
        db.put("a/c/d", b"2".to_vec()).await.unwrap();
        assert_eq!(db.get("a/b").await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.list("a/").await.unwrap(), vec!["b", "c/"]);
        db.batch(vec![
            BatchOp::Delete { key: "a/b".into() },
            BatchOp::Put {
                key: "z".into(),
                value: b"3".to_vec(),
            },
        ])
        .await
        .unwrap();
        assert_eq!(db.get("a/b").await.unwrap(), None);
        assert_eq!(db.get("z").await.unwrap(), Some(b"3".to_vec()));
        db.close().await.unwrap();
        assert!(matches!(db.get("z").await, Err(StorageError::Closed)));
    }

    #[tokio::test]
    async fn scan_pages_through_a_prefix_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteBackend::open(dir.path().join("v.db")).unwrap();
        let memory = crate::storage::MemoryBackend::new();
        let backends: [&dyn Backend; 2] = [&sqlite, &memory];
        for db in backends {
            for key in [
                "a",
                "idx/0003/x",
                "idx/0001/y",
                "idx/0002/z",
                "idx/0002/a",
                "j",
            ] {
                db.put(key, b"v".to_vec()).await.unwrap();
            }
            let first = db.scan("idx/", None, 2).await.unwrap();
            assert_eq!(first, vec!["idx/0001/y", "idx/0002/a"], "{}", db.kind());
            let rest = db.scan("idx/", Some(&first[1]), 10).await.unwrap();
            assert_eq!(rest, vec!["idx/0002/z", "idx/0003/x"], "{}", db.kind());
            assert!(
                db.scan("idx/", Some("idx/0003/x"), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert!(db.scan("none/", None, 10).await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn reopens_with_data_and_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let db = SqliteBackend::open(&path).unwrap();
        db.put("k", b"v".to_vec()).await.unwrap();
        db.close().await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let db = SqliteBackend::open(&path).unwrap();
        assert_eq!(db.get("k").await.unwrap(), Some(b"v".to_vec()));
    }

    #[test]
    fn refuses_a_file_that_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, b"this is not a database at all, just some text ....").unwrap();
        assert!(matches!(
            SqliteBackend::open(&text),
            Err(StorageError::NotOurs { .. })
        ));
        let other = dir.path().join("other.db");
        let conn = Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        drop(conn);
        assert!(matches!(
            SqliteBackend::open(&other),
            Err(StorageError::NotOurs { .. })
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(SqliteBackend::open(dir.path().join("v.db")).unwrap());
        let mut tasks = Vec::new();
        for w in 0..16 {
            let db = Arc::clone(&db);
            tasks.push(tokio::spawn(async move {
                for i in 0..20 {
                    db.put(&format!("w{w}/{i}"), vec![w as u8, i as u8])
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for w in 0..16u8 {
            let keys = db.list(&format!("w{w}/")).await.unwrap();
            assert_eq!(keys.len(), 20);
        }
    }

    /// A connection (a reader's when `reader`) to a vault database made for
    /// the test, and the directory that holds it.
    fn fresh_connection(reader: bool) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteBackend::open(dir.path().join("v.db")).unwrap();
        drop(db);
        let conn = open_connection(&dir.path().join("v.db"), reader).unwrap();
        (dir, conn)
    }

    /// The writer's transaction statements are run from the statement cache
    /// (`control`), not parsed again for every group and job.
    #[test]
    fn transaction_statements_are_prepared_once() {
        let (_dir, conn) = fresh_connection(false);
        let job = |key: &str| {
            let (done, _answer) = oneshot::channel();
            WriteJob {
                ops: vec![BatchOp::Put {
                    key: key.into(),
                    value: b"v".to_vec(),
                }],
                done,
            }
        };
        for round in 0..3 {
            let group = [job(&format!("a/{round}")), job(&format!("b/{round}"))];
            let outcome = commit_group(&conn, &group);
            assert!(outcome.results.iter().all(Result::is_ok));
            assert_eq!(outcome.transactions, 1);
        }
        for (sql, runs) in [
            ("BEGIN IMMEDIATE", 3),
            ("SAVEPOINT job", 6),
            ("RELEASE job", 6),
            ("COMMIT", 3),
        ] {
            let stmt = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::Run),
                runs,
                "{sql} was not run from the statement cache"
            );
        }
    }

    #[test]
    fn a_scan_statement_is_prepared_once() {
        let (_dir, conn) = fresh_connection(true);
        let scans: [(&str, Vec<Box<dyn rusqlite::ToSql>>); 4] = [
            (SCAN_FIRST, vec![Box::new("a/")]),
            (SCAN_FIRST, vec![Box::new("b/")]),
            (SCAN_AFTER, vec![Box::new("a/"), Box::new("a/1")]),
            (SCAN_AFTER, vec![Box::new("b/"), Box::new("b/9")]),
        ];
        for (sql, params) in &scans {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            let params: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.as_ref()).collect();
            let mut rows = stmt.query(params.as_slice()).unwrap();
            while rows.next().unwrap().is_some() {}
        }
        for sql in [SCAN_FIRST, SCAN_AFTER] {
            let stmt = conn.prepare_cached(sql).unwrap();
            assert_eq!(
                stmt.get_status(rusqlite::StatementStatus::RePrepare),
                0,
                "{sql} was prepared again for new values"
            );
        }
    }
}
