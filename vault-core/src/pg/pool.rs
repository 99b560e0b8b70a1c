//! A bounded pool of PostgreSQL sessions, one for the storage backend and
//! one per database engine config, of the same shape: a semaphore of `size`
//! permits and a list of idle sessions. A checkout holds a permit, so at most
//! `size` sessions are in use; idle ones came back from a checkout, so there
//! are never more than that many in all. A session goes back to the idle list
//! only after operations that all succeeded; after a failure or a timeout its
//! state is unknown, and it is thrown away (its connection task aborted, a
//! hung query cancelled on the server first).
//!
//! Our own pool rather than `deadpool-postgres`: opening is the user's (the
//! storage backend retries a server that is starting; the database engine
//! tries a rotation's pending password when the current one is refused),
//! and throwing a session away after any failure is the point. That is a
//! page of code, not a dependency.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Statement};

use super::tls::MakeRustls;

/// One open session, the task driving its connection, and the statements
/// prepared on it.
pub(crate) struct Session {
    pub(crate) client: Client,
    task: JoinHandle<()>,
    statements: HashMap<String, Statement>,
}

impl Session {
    /// A session over a connection just made: its task is spawned here.
    /// `ended` is called with the connection's error, if it ends with one.
    pub(crate) fn start<C>(
        client: Client,
        connection: C,
        ended: fn(&tokio_postgres::Error),
    ) -> Session
    where
        C: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
    {
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                ended(&e);
            }
        });
        Session {
            client,
            task,
            statements: HashMap::new(),
        }
    }

    /// Ends the session at once; dropping the client alone would wait for a
    /// hung query.
    pub(crate) fn discard(self) {
        self.task.abort();
    }

    /// The statement for `sql`, prepared on first use in this session.
    pub(crate) async fn statement(
        &mut self,
        sql: &str,
    ) -> Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql).await?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// Why no slot was had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// Every session stayed busy for the whole wait.
    Busy,
    /// The pool was closed.
    Closed,
}

/// How an operation on a session ended, when it did not succeed.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The checkout has no session, or lost it to an earlier failure.
    NoSession,
    /// The operation failed; the session is thrown away.
    Failed(tokio_postgres::Error),
    /// The operation took longer than its limit; the query was cancelled and
    /// the session is thrown away.
    TimedOut(Duration),
}

/// The idle sessions and the permits of one pool.
pub(crate) struct Pool {
    size: usize,
    // std Mutex: held only to push or pop, never across an await.
    idle: Mutex<Vec<Session>>,
    permits: Arc<Semaphore>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool of at most `size` sessions (at least one), holding none yet.
    pub(crate) fn new(size: usize) -> Pool {
        let size = size.max(1);
        Pool {
            size,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(size)),
            closed: AtomicBool::new(false),
        }
    }

    /// The most sessions open at once.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// A slot, waiting at most `wait` for one, with an idle session that is
    /// still open if there is one (else the caller opens one and
    /// [`Checkout::put`]s it).
    pub(crate) async fn checkout(self: &Arc<Self>, wait: Duration) -> Result<Checkout, NoSlot> {
        if self.closed.load(Ordering::Acquire) {
            return Err(NoSlot::Closed);
        }
        let permit = tokio::time::timeout(wait, Arc::clone(&self.permits).acquire_owned())
            .await
            .map_err(|_| NoSlot::Busy)?
            .map_err(|_| NoSlot::Closed)?;
        let reused = loop {
            let next = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            match next {
                Some(session) if session.client.is_closed() => session.discard(),
                other => break other,
            }
        };
        Ok(Checkout {
            pool: Arc::clone(self),
            session: reused,
            failed: false,
            _permit: permit,
        })
    }

    /// Adds a session opened outside a checkout (the first, to prove the
    /// settings) to the idle list.
    pub(crate) fn put_idle(&self, session: Session) {
        match self.idle.lock() {
            Ok(mut idle) if !self.closed.load(Ordering::Acquire) => idle.push(session),
            _ => session.discard(),
        }
    }

    /// Closes the pool: no more checkouts; operations already running may
    /// finish (for at most `drain`), their sessions then thrown away, and
    /// every idle session is ended.
    pub(crate) async fn close(&self, drain: Duration) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let all = u32::try_from(self.size).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(drain, self.permits.acquire_many(all)).await;
        self.permits.close();
        drop(drained);
        let idle = self
            .idle
            .lock()
            .map(|mut idle| std::mem::take(&mut *idle))
            .unwrap_or_default();
        for session in idle {
            session.discard();
        }
    }
}

/// A slot of a pool and its session; the session goes back to the idle list
/// on drop unless an operation on it failed.
pub(crate) struct Checkout {
    pool: Arc<Pool>,
    session: Option<Session>,
    failed: bool,
    _permit: OwnedSemaphorePermit,
}

impl Checkout {
    /// Whether it holds a session (an idle one was reused, or one was put).
    pub(crate) fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// Gives it the session the caller opened.
    pub(crate) fn put(&mut self, session: Session) {
        if let Some(old) = self.session.replace(session) {
            old.discard();
        }
    }

    /// Runs `work` on the session within `limit`. On failure or timeout the
    /// session is thrown away on drop (after a timeout the query is cancelled
    /// on the server, over `tls`, so it frees its locks).
    pub(crate) async fn run<'a, T, F, Fut>(
        &'a mut self,
        limit: Duration,
        tls: &MakeRustls,
        work: F,
    ) -> Result<T, RunError>
    where
        F: FnOnce(&'a mut Session) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        if self.failed {
            return Err(RunError::NoSession);
        }
        let Some(session) = self.session.as_mut() else {
            return Err(RunError::NoSession);
        };
        let cancel = session.client.cancel_token();
        match tokio::time::timeout(limit, work(session)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.failed = true;
                Err(RunError::Failed(e))
            }
            Err(_) => {
                self.failed = true;
                let tls = tls.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(limit, cancel.cancel_query(tls)).await;
                });
                Err(RunError::TimedOut(limit))
            }
        }
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        if self.failed || session.client.is_closed() || self.pool.closed.load(Ordering::Acquire) {
            session.discard();
        } else if let Ok(mut idle) = self.pool.idle.lock() {
            idle.push(session);
        }
    }
}
