//! The end and the extension of a credential: revoking (dropping) a database
//! role, used by lease revocation and by `reconcile`, and renewing one.
//!
//! Revocation is idempotent: a role that no longer exists is revoked. Its
//! failures are always retryable; their messages name the config and carry
//! PostgreSQL's message, never a password.

use serde::Deserialize;
use tokio_postgres::{Client, Transaction};

use super::Database;
use super::connection::{conflict_backoff, pg_is_concurrent_update};
use super::creds::expiration_text;
use super::issued::{self, IssuedRecord};
use super::role;
use super::statements::{self, Values, quote_identifier, quote_literal};
use crate::engines::{EngineError, View};
use crate::expiration::{Lease, RevokeError};

/// What a lease's `internal` holds (see `creds.rs`).
#[derive(Debug, Deserialize)]
struct Internal {
    username: String,
    role: String,
    db_name: String,
}

fn internal(lease: &Lease) -> Result<Internal, RevokeError> {
    serde_json::from_value(lease.internal.clone()).map_err(|_| {
        RevokeError::Retryable(format!(
            "lease {}: its data does not name a database credential",
            lease.id
        ))
    })
}

/// Revokes the credential behind `lease`: drops the role, then forgets its
/// issued record.
pub(super) async fn revoke(
    db: &Database,
    view: &View<'_>,
    lease: &Lease,
) -> Result<(), RevokeError> {
    let Internal {
        username,
        role: role_name,
        db_name,
    } = internal(lease)?;
    // The role may have been deleted since: then the default revocation.
    let custom = role::load(view, &role_name)
        .await
        .map_err(super::retryable)?
        .map(|r| r.revocation_statements)
        .filter(|s| !s.is_empty());
    drop_role(
        db,
        view,
        &db_name,
        &username,
        custom.as_deref(),
        Expect::Anything,
    )
    .await
    .map_err(super::retryable)?;
    issued::remove(view, &username)
        .await
        .map_err(super::retryable)?;
    db.in_flight_remove(&username);
    Ok(())
}

/// Moves the credential's `VALID UNTIL` to the lease's new expiry.
pub(super) async fn renew(
    db: &Database,
    view: &View<'_>,
    lease: &Lease,
) -> Result<(), RevokeError> {
    let Internal {
        username,
        role: role_name,
        db_name,
    } = internal(lease)?;
    let custom = role::load(view, &role_name)
        .await
        .map_err(super::retryable)?
        .map(|r| r.renew_statements)
        .filter(|s| !s.is_empty());
    let statements = custom
        .unwrap_or_else(|| vec!["ALTER ROLE {{name}} VALID UNTIL {{expiration}};".to_owned()]);
    let expiration = expiration_text(lease.expire_time);
    let values = Values {
        name: &username,
        password: None,
        expiration: Some(&expiration),
    };
    let filled = statements
        .iter()
        .map(|s| statements::fill(s, &values))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            RevokeError::Retryable(format!("role {role_name:?}: renew_statements: {e}"))
        })?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (_, mut session) = db.session(view, &db_name).await.map_err(super::retryable)?;
        let outcome = session
            .run(&[], |client| async {
                let tx = client.transaction().await?;
                for statement in &filled {
                    tx.batch_execute(statement).await?;
                }
                tx.commit().await
            })
            .await;
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if e.is_concurrent_update() => match conflict_backoff(attempt) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(super::retryable(super::upstream(&db_name, e))),
            },
            Err(e) => return Err(super::retryable(super::upstream(&db_name, e))),
        }
    }
}

/// What [`drop_role`] makes sure of, under the username's lock (the one
/// `creds` claims a username under), right before it drops the role.
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect<'a> {
    /// Nothing: a lease's revocation drops its own role.
    Anything,
    /// The role's issued record is still this one (or still none): the
    /// judgment `reconcile` made of the role still holds.
    Record(Option<&'a IssuedRecord>),
}

/// What [`drop_role`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropped {
    /// The role is gone (or never existed).
    Done,
    /// Nothing: the issued record was not the expected one.
    RecordChanged,
}

/// Drops database role `username` through config `db_name`, with `custom`
/// revocation statements or the default sequence. Nothing to do (and `Ok`) if
/// the role does not exist.
///
/// Each attempt checks out its session first, then takes the username's lock
/// (with `Expect::Record`), then the config's privilege lock. In that order:
/// no lock of ours is held while connecting, and checking out a session may
/// complete an interrupted root rotation, which takes the config's lock (a
/// stripe the username's may share).
pub(super) async fn drop_role(
    db: &Database,
    view: &View<'_>,
    db_name: &str,
    username: &str,
    custom: Option<&[String]>,
    expect: Expect<'_>,
) -> Result<Dropped, EngineError> {
    let filled = match custom {
        Some(list) => {
            let values = Values {
                name: username,
                password: None,
                expiration: None,
            };
            let filled = list
                .iter()
                .map(|s| statements::fill(s, &values))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| EngineError::InvalidRequest(format!("revocation_statements: {e}")))?;
            Some(filled)
        }
        None => None,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = {
            let (config, mut session) = db.session(view, db_name).await?;
            let _claim = match expect {
                Expect::Anything => None,
                Expect::Record(seen) => {
                    let claim = db.stripes.lock(view, &issued::key(username)).await;
                    if issued::load(view, username).await?.as_ref() != seen {
                        return Ok(Dropped::RecordChanged);
                    }
                    Some(claim)
                }
            };
            // The default revocation takes back what the role owns and holds.
            let changes = filled
                .as_ref()
                .is_none_or(|list| statements::changes_privileges(list.iter().map(|s| s.as_str())));
            let _writer = match changes {
                true => Some(db.privilege_writer(db_name, &config).await?),
                false => None,
            };
            session
                .run(&[], |client| async {
                    match &filled {
                        Some(filled) => run_custom(client, username, filled).await,
                        None => default_revocation(client, username).await,
                    }
                })
                .await
        };
        match outcome {
            Ok(()) => return Ok(Dropped::Done),
            // Concurrent REVOKEs on one table collide like GRANTs do.
            Err(e) if e.is_concurrent_update() => match conflict_backoff(attempt) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(super::upstream(db_name, e)),
            },
            Err(e) => return Err(super::upstream(db_name, e)),
        }
    }
}

async fn role_exists(tx: &Transaction<'_>, username: &str) -> Result<bool, tokio_postgres::Error> {
    Ok(tx
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&username])
        .await?
        .is_some())
}

async fn run_custom(
    client: &mut Client,
    username: &str,
    filled: &[zeroize::Zeroizing<String>],
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    if role_exists(&tx, username).await? {
        for statement in filled {
            tx.batch_execute(statement).await?;
        }
    }
    tx.commit().await
}

/// The default revocation, in one transaction:
///
/// 1. `REASSIGN OWNED BY <role> TO CURRENT_USER; DROP OWNED BY <role>`: what
///    the role created in this database is kept (now the admin's), and DROP
///    OWNED then revokes every privilege and default privilege the role holds
///    here, which is what keeps `DROP ROLE` from failing. Both need the admin
///    to hold the role's privileges (a superuser does; a `CREATEROLE` admin
///    may not): if refused, the step is undone (savepoint) and instead every
///    privilege the role holds in this database (on tables and their columns,
///    sequences, routines, schemas and the database itself, read from the
///    catalogs) is revoked one object at a time, each in its own savepoint.
///    What the admin may not revoke, or objects the role owns, then make
///    step 3 fail with PostgreSQL's explanation.
/// 2. End the role's sessions (`pg_terminate_backend`; skipped if the admin
///    may not signal them).
/// 3. `DROP ROLE IF EXISTS`. If the role still owns something elsewhere (in
///    another database), this fails with PostgreSQL's explanation and the
///    revocation is retried: nothing is half-done.
async fn default_revocation(
    client: &mut Client,
    username: &str,
) -> Result<(), tokio_postgres::Error> {
    let ident = quote_identifier(username);
    let mut tx = client.transaction().await?;
    if !role_exists(&tx, username).await? {
        return tx.commit().await;
    }
    let owned = format!("REASSIGN OWNED BY {ident} TO CURRENT_USER; DROP OWNED BY {ident};");
    if !try_step(&mut tx, &owned).await? {
        // One REVOKE per object the role holds a privilege on here, each in
        // its own step: a refusal on one object must not undo the others.
        let revokes: Vec<String> = tx
            .query(GRANTS_HELD, &[&username])
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        for revoke in &revokes {
            try_step(&mut tx, revoke).await?;
        }
    }
    let terminate = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE usename = {} AND pid <> pg_backend_pid();",
        quote_literal(username)
    );
    try_step(&mut tx, &terminate).await?;
    tx.batch_execute(&format!("DROP ROLE IF EXISTS {ident};"))
        .await?;
    tx.commit().await
}

/// For role `$1`, a `REVOKE ALL` statement per object in this database it
/// holds a privilege on. The server quotes the names (`%I`).
const GRANTS_HELD: &str = "\
WITH target AS (SELECT oid FROM pg_roles WHERE rolname = $1)
SELECT DISTINCT stmt FROM (
    SELECT format('REVOKE ALL ON TABLE %I.%I FROM %I', n.nspname, c.relname, $1::text) AS stmt
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL aclexplode(c.relacl) a
     WHERE a.grantee = (SELECT oid FROM target) AND c.relkind <> 'S'
    UNION ALL
    SELECT format('REVOKE ALL ON TABLE %I.%I FROM %I', n.nspname, c.relname, $1::text)
      FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL aclexplode(att.attacl) a
     WHERE a.grantee = (SELECT oid FROM target)
    UNION ALL
    SELECT format('REVOKE ALL ON SEQUENCE %I.%I FROM %I', n.nspname, c.relname, $1::text)
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL aclexplode(c.relacl) a
     WHERE a.grantee = (SELECT oid FROM target) AND c.relkind = 'S'
    UNION ALL
    SELECT format('REVOKE ALL ON ROUTINE %I.%I(%s) FROM %I', n.nspname, p.proname,
                  pg_get_function_identity_arguments(p.oid), $1::text)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      CROSS JOIN LATERAL aclexplode(p.proacl) a
     WHERE a.grantee = (SELECT oid FROM target)
    UNION ALL
    SELECT format('REVOKE ALL ON SCHEMA %I FROM %I', n.nspname, $1::text)
      FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
     WHERE a.grantee = (SELECT oid FROM target)
    UNION ALL
    SELECT format('REVOKE ALL ON DATABASE %I FROM %I', d.datname, $1::text)
      FROM pg_database d CROSS JOIN LATERAL aclexplode(d.datacl) a
     WHERE d.datname = current_database() AND a.grantee = (SELECT oid FROM target)
) grants";

/// Runs `sql` in a savepoint: `true` if it worked, `false` (and undone) if the
/// server refused it. A lost connection, or a conflict with a concurrent
/// transaction (which the caller retries whole), is still an error: such a
/// step must not be mistaken for one the admin may not take.
async fn try_step(tx: &mut Transaction<'_>, sql: &str) -> Result<bool, tokio_postgres::Error> {
    let step = tx.savepoint("vault_revoke_step").await?;
    match step.batch_execute(sql).await {
        Ok(()) => {
            step.commit().await?;
            Ok(true)
        }
        Err(e) if e.as_db_error().is_some() && !pg_is_concurrent_update(&e) => {
            step.rollback().await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
