//! Sessions to a configured database: a pool per config ([`crate::pg::pool`],
//! the one the storage backend uses too), of `max_open_connections`, opened
//! lazily, every connect and every operation bounded in time. What is the
//! engine's own: opening with the root password `pending` in a rotation when
//! the current one is refused, and saying which one opened the session.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::target::{UrlTemplate, redact};
use crate::pg::pool::{self, NoSlot, RunError, Session};
use crate::pg::tls::MakeRustls;
use crate::secret::SecretString;

/// A database operation that failed. The message names what failed and
/// carries PostgreSQL's message and SQLSTATE, never a password or a filled
/// connection URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(super) struct DbError {
    /// What to show.
    pub message: String,
    /// The SQLSTATE, for a server error.
    pub code: Option<String>,
}

impl DbError {
    pub(super) fn from_message(message: impl Into<String>) -> DbError {
        DbError {
            message: message.into(),
            code: None,
        }
    }

    /// Describes a tokio-postgres error without secrets: the server's own
    /// message and code for a server error, the error chain otherwise.
    /// `secrets` are cut out of the text in case the server echoed one.
    pub(super) fn from_pg(error: &tokio_postgres::Error, secrets: &[&str]) -> DbError {
        if let Some(db) = error.as_db_error() {
            return DbError {
                message: redact(
                    &format!(
                        "{}: {} (SQLSTATE {})",
                        db.severity(),
                        db.message(),
                        db.code().code()
                    ),
                    secrets,
                ),
                code: Some(db.code().code().to_owned()),
            };
        }
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        DbError::from_message(redact(&message, secrets))
    }

    /// True for a conflict with a concurrent transaction that a retry of the
    /// same transaction resolves: a serialization failure, a deadlock, or
    /// PostgreSQL's "tuple concurrently updated" (two GRANTs on one table at
    /// once, common when many credentials are made in parallel).
    pub(super) fn is_concurrent_update(&self) -> bool {
        is_concurrent_update(self.code.as_deref(), &self.message)
    }

    /// True if the server refused the credentials.
    pub(super) fn is_auth_failure(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(c) if c == SqlState::INVALID_PASSWORD.code()
                || c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION.code()
        )
    }
}

/// See [`DbError::is_concurrent_update`].
fn is_concurrent_update(code: Option<&str>, message: &str) -> bool {
    match code {
        Some("40001" | "40P01") => true,
        Some("XX000") => message.contains("tuple concurrently updated"),
        _ => false,
    }
}

/// True if `error` is a server error that a retry of the whole transaction
/// may resolve (see [`DbError::is_concurrent_update`]).
pub(super) fn pg_is_concurrent_update(error: &tokio_postgres::Error) -> bool {
    error
        .as_db_error()
        .is_some_and(|db| is_concurrent_update(Some(db.code().code()), db.message()))
}

/// Everything needed to open a session. `Debug` shows no password.
pub(super) struct ConnectSpec {
    /// The config's name, for messages.
    pub name: String,
    /// Where to connect.
    pub url: UrlTemplate,
    /// The root user.
    pub username: String,
    /// Its current password.
    pub password: SecretString,
    /// A password a rotation may have set already (see `rotate.rs`).
    pub pending: Option<SecretString>,
    /// How long a connect may take.
    pub connect_timeout: Duration,
    /// How long one operation may take.
    pub operation_timeout: Duration,
    /// The most sessions open at once.
    pub max_open: usize,
}

impl std::fmt::Debug for ConnectSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectSpec")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("pending", &self.pending.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_open", &self.max_open)
            .finish_non_exhaustive()
    }
}

/// Which password opened a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UsedPassword {
    /// The config's current password.
    Current,
    /// The pending one of an interrupted rotation: the database already has it.
    Pending,
}

/// Opens one session for `spec` with `password`: connect (bounded by the
/// connect timeout), spawn the connection task, and make string literals read
/// the same in every session (`standard_conforming_strings`).
async fn open(
    spec: &ConnectSpec,
    tls: &MakeRustls,
    password: &SecretString,
) -> Result<Session, DbError> {
    let secrets = [password.expose_secret()];
    let config = spec
        .url
        .pg_config(
            &spec.username,
            password.expose_secret(),
            spec.connect_timeout,
        )
        .map_err(DbError::from_message)?;
    let connecting = config.connect(tls.clone());
    let (client, connection) = tokio::time::timeout(spec.connect_timeout, connecting)
        .await
        .map_err(|_| {
            DbError::from_message(format!(
                "could not connect within {}",
                crate::params::format_duration_ms(millis(spec.connect_timeout))
            ))
        })?
        .map_err(|e| {
            let mut error = DbError::from_pg(&e, &secrets);
            error.message = format!("could not connect: {}", error.message);
            error
        })?;
    let session = Session::start(client, connection, |e| {
        tracing::debug!(error = %DbError::from_pg(e, &[]), "database connection ended");
    });
    let setup = session
        .client
        .batch_execute("SET standard_conforming_strings = on");
    match tokio::time::timeout(spec.operation_timeout, setup).await {
        Ok(Ok(())) => Ok(session),
        Ok(Err(e)) => {
            session.discard();
            Err(DbError::from_pg(&e, &secrets))
        }
        Err(_) => {
            session.discard();
            Err(DbError::from_message("the session setup timed out"))
        }
    }
}

/// Opens a session with the current password, or with the pending one if the
/// server refuses the current one.
async fn open_any(
    spec: &ConnectSpec,
    tls: &MakeRustls,
) -> Result<(Session, UsedPassword), DbError> {
    match open(spec, tls, &spec.password).await {
        Ok(session) => Ok((session, UsedPassword::Current)),
        Err(error) if error.is_auth_failure() => match &spec.pending {
            Some(pending) => match open(spec, tls, pending).await {
                Ok(session) => Ok((session, UsedPassword::Pending)),
                // The first refusal is the one that explains the problem.
                Err(_) => Err(error),
            },
            None => Err(error),
        },
        Err(error) => Err(error),
    }
}

/// How many times a transaction that met a concurrent update is tried.
const CONFLICT_ATTEMPTS: u32 = 6;

/// How long to wait before try `attempt` (1-based) of a transaction that met
/// a concurrent update: about 10 ms doubling, with jitter so the transactions
/// that collided do not collide again; `None` once the attempts are used up.
pub(super) fn conflict_backoff(attempt: u32) -> Option<Duration> {
    if attempt >= CONFLICT_ATTEMPTS {
        return None;
    }
    let base = 10u64 << attempt.min(10);
    let mut jitter = [0u8; 1];
    // Without randomness the wait is just not jittered.
    let _ = crate::random::fill(&mut jitter);
    Some(Duration::from_millis(
        base + base * u64::from(jitter[0]) / 255,
    ))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The sessions of one config, at one revision of it.
pub(super) struct Pool {
    /// The config revision this pool was made from.
    pub revision: String,
    spec: ConnectSpec,
    tls: MakeRustls,
    sessions: Arc<pool::Pool>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("revision", &self.revision)
            .field("spec", &self.spec)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for `spec`, opening nothing yet.
    pub(super) fn new(spec: ConnectSpec, revision: String) -> Result<Pool, DbError> {
        let tls = spec.url.tls.connector().map_err(DbError::from_message)?;
        let sessions = Arc::new(pool::Pool::new(spec.max_open));
        Ok(Pool {
            revision,
            spec,
            tls,
            sessions,
        })
    }

    /// A session: an idle one if any is still open, else a new one. Waits for
    /// a free slot at most the operation timeout.
    pub(super) async fn checkout(self: &Arc<Self>) -> Result<Checkout, DbError> {
        let mut slot = self
            .sessions
            .checkout(self.spec.operation_timeout)
            .await
            .map_err(|no| match no {
                NoSlot::Busy => DbError::from_message(format!(
                    "all {} connections stayed busy",
                    self.spec.max_open
                )),
                NoSlot::Closed => DbError::from_message("the connection pool is closed"),
            })?;
        let used = if slot.has_session() {
            UsedPassword::Current
        } else {
            let (session, used) = open_any(&self.spec, &self.tls).await?;
            slot.put(session);
            used
        };
        Ok(Checkout {
            pool: Arc::clone(self),
            slot,
            used,
        })
    }

    /// Passwords to cut out of error messages.
    fn secrets(&self) -> Vec<&str> {
        let mut secrets = vec![self.spec.password.expose_secret()];
        secrets.extend(self.spec.pending.as_ref().map(|p| p.expose_secret()));
        secrets
    }
}

/// A session taken from a pool, returned when dropped if its operations
/// succeeded.
pub(super) struct Checkout {
    pool: Arc<Pool>,
    slot: pool::Checkout,
    /// Which password opened it (a reused session: the current one).
    pub used: UsedPassword,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

impl Checkout {
    /// Runs `work` on the session within the operation timeout. On failure or
    /// timeout the session is thrown away (a hung query is cancelled first),
    /// so a pooled session never carries a half-done transaction. `secrets`
    /// (generated passwords) are cut out of error messages, as are the
    /// config's own.
    pub(super) async fn run<'a, T, F, Fut>(
        &'a mut self,
        secrets: &[&str],
        work: F,
    ) -> Result<T, DbError>
    where
        F: FnOnce(&'a mut Client) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let limit = self.pool.spec.operation_timeout;
        let outcome = self
            .slot
            .run(limit, &self.pool.tls, |session| work(&mut session.client))
            .await;
        match outcome {
            Ok(value) => Ok(value),
            Err(RunError::NoSession) => Err(DbError::from_message("the session failed earlier")),
            Err(RunError::Failed(e)) => {
                let mut all: Vec<&str> = self.pool.secrets();
                all.extend_from_slice(secrets);
                Err(DbError::from_pg(&e, &all))
            }
            Err(RunError::TimedOut(limit)) => Err(DbError::from_message(format!(
                "the operation timed out after {}",
                crate::params::format_duration_ms(millis(limit))
            ))),
        }
    }
}
