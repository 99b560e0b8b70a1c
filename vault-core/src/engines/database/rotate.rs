//! `rotate-root/<name>`: a new random password for the config's own user,
//! known only to the vault from then on.
//!
//! Crash-sound in three steps under the config's lock:
//! 1. store the new password as `pending_password` in the config;
//! 2. `ALTER ROLE … WITH PASSWORD …` (or the config's
//!    `root_rotation_statements`) over a session opened with the current one;
//! 3. store it as the password and clear `pending_password`.
//!
//! A crash between 2 and 3 leaves the database with the pending password and
//! the config with both: every connect tries the current password and then the
//! pending one, and a session opened with the pending one completes step 3
//! ([`promote_pending`]). A step 2 the server refused clears the pending
//! password again; a step 2 whose outcome is unknown (a timeout) keeps it.

use std::sync::Arc;

use super::Database;
use super::config::{self, StoredSecret};
use super::connection::{Pool, UsedPassword};
use super::creds::new_password;
use super::statements::{self, Values};
use crate::engines::{EngineError, View};
use crate::request::Response;

const DEFAULT_ROTATION: &str = "ALTER ROLE {{name}} WITH PASSWORD {{password}};";

/// Rotates config `name`'s root password.
pub(super) async fn rotate_root(
    db: &Database,
    view: &View<'_>,
    name: &str,
) -> Result<Response, EngineError> {
    let _guard = db.stripes.lock(view, &config::key(name)).await;
    let mut record = config::load(view, name)
        .await?
        .ok_or_else(|| EngineError::NotFound(config::key(name)))?;
    if record.username.is_empty() {
        return Err(EngineError::InvalidRequest(format!(
            "database config {name:?} has no username to rotate"
        )));
    }
    // One session of our own, so we know which password opened it.
    let spec = record
        .spec(name)
        .map_err(|e| EngineError::InvalidRequest(format!("database config {name:?}: {e}")))?;
    let pool =
        Arc::new(Pool::new(spec, record.revision.clone()).map_err(|e| super::upstream(name, e))?);
    let mut session = pool
        .checkout()
        .await
        .map_err(|e| super::upstream(name, e))?;
    if session.used == UsedPassword::Pending
        && let Some(pending) = record.pending_password.take()
    {
        // An earlier rotation got as far as the database: finish it first.
        record.password = pending;
    }

    let password = new_password()?;
    let sent = record.statement_password(&password)?;
    let statements_list = if record.root_rotation_statements.is_empty() {
        vec![DEFAULT_ROTATION.to_owned()]
    } else {
        record.root_rotation_statements.clone()
    };
    let values = Values {
        name: &record.username,
        password: Some(sent.as_str()),
        expiration: None,
    };
    let filled = statements_list
        .iter()
        .map(|s| statements::fill(s, &values))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            EngineError::InvalidRequest(format!(
                "database config {name:?}: root_rotation_statements: {e}"
            ))
        })?;

    // 1. Pending first.
    record.pending_password = Some(StoredSecret(password.clone()));
    record.revision = config::new_revision()?;
    view.batch(vec![config::put(name, &record)?]).await?;
    db.drop_pool(name);

    // 2. The change itself.
    let outcome = session
        .run(&[password.expose_secret(), &sent], |client| async move {
            let tx = client.transaction().await?;
            for statement in &filled {
                tx.batch_execute(statement).await?;
            }
            tx.commit().await
        })
        .await;
    if let Err(error) = outcome {
        if error.code.is_some() {
            // The server refused it: the old password still holds.
            record.pending_password = None;
            record.revision = config::new_revision()?;
            view.batch(vec![config::put(name, &record)?]).await?;
            db.drop_pool(name);
        }
        return Err(super::upstream(name, error));
    }

    // 3. Commit it as the password.
    record.password = StoredSecret(password);
    record.pending_password = None;
    record.revision = config::new_revision()?;
    view.batch(vec![config::put(name, &record)?]).await?;
    db.drop_pool(name);
    Ok(Response::default())
}

/// Completes an interrupted rotation of config `name`: a session just opened
/// with its pending password, so the database has that one. Does nothing if
/// the config changed since `seen_revision` was read.
pub(super) async fn promote_pending(
    db: &Database,
    view: &View<'_>,
    name: &str,
    seen_revision: &str,
) -> Result<(), EngineError> {
    let _guard = db.stripes.lock(view, &config::key(name)).await;
    let Some(mut record) = config::load(view, name).await? else {
        return Ok(());
    };
    if record.revision != seen_revision {
        return Ok(());
    }
    let Some(pending) = record.pending_password.take() else {
        return Ok(());
    };
    record.password = pending;
    record.revision = config::new_revision()?;
    view.batch(vec![config::put(name, &record)?]).await?;
    db.drop_pool(name);
    tracing::info!(config = name, "completed an interrupted root rotation");
    Ok(())
}
