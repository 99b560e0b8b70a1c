//! Static roles at work: creating one (which rotates its password at once, so
//! only the vault knows it), `static-creds/<name>`, `rotate-role/<name>`, and
//! the periodic rotation of every static role that is due.
//!
//! A rotation is crash-sound the way `rotate-root` is (see `rotate.rs`), all
//! under the static role's lock:
//! 1. store the new password as the record's `pending_password`;
//! 2. run the rotation statements in one transaction, over a session of the
//!    config's own user;
//! 3. store it as `password`, clear `pending_password`, the failure count and
//!    `last_rotation_error`.
//!
//! `static-creds` always hands out `password`, the last committed one. A
//! pending password found under the lock belongs to a rotation that crashed,
//! or whose outcome is unknown (a timeout): the database has it or the
//! current one, so the role is due at once and the retry sets a new password.
//! A rotation the server refused clears the pending password again.
//!
//! A failed rotation (the server refused, no connection, the config gone or
//! no longer allowing the role) is stored as `last_rotation_error`, which
//! reads show, and the periodic work tries again no sooner than 5 s later,
//! doubling up to 5 min (`static_role::retry_delay_ms`). Error messages carry
//! PostgreSQL's message with every password cut out.
//!
//! Locks: a session is checked out *before* the static role's lock is taken:
//! checking out may complete an interrupted root rotation, which takes the
//! config's lock (a stripe the static role's may share), and connecting must
//! not hold up others. Creations also hold `Database::static_creations`, so
//! that two static roles cannot take over one user at once.

use std::time::{Duration, Instant};

use super::Database;
use super::config::{ConfigRecord, StoredSecret};
use super::connection::Checkout;
use super::creds::new_password;
use super::issued;
use super::statements::{self, Values};
use super::static_role::{self, StaticRoleRecord};
use crate::engines::{EngineError, View};
use crate::request::{Data, Response};

/// How long one periodic call goes on starting rotations; the roles left are
/// due at the next call. Each rotation is bounded by the config's connect and
/// operation timeouts.
const PERIODIC_BUDGET: Duration = Duration::from_secs(30);

/// Writes static role `name`: a create rotates the password at once and is
/// stored only if that worked (or may have: see [`create`]); an update
/// changes the period or statements and rotates nothing.
pub(super) async fn write(
    db: &Database,
    view: &View<'_>,
    name: &str,
    data: &Data,
) -> Result<Response, EngineError> {
    {
        let _guard = db.stripes.lock(view, &static_role::key(name)).await;
        if let Some(existing) = static_role::load(view, name).await? {
            let record = static_role::apply_write(Some(existing), data)?;
            view.batch(vec![static_role::put(name, &record)?]).await?;
            return Ok(Response::default());
        }
    }
    create(db, view, name, data).await
}

/// Creates static role `name` and rotates its password. If the rotation
/// fails, nothing is stored, unless its outcome is unknown (the database may
/// have the new password): then the role is kept, pending, and the periodic
/// work completes it.
async fn create(
    db: &Database,
    view: &View<'_>,
    name: &str,
    data: &Data,
) -> Result<Response, EngineError> {
    let mut record = static_role::apply_write(None, data)?;
    let (config, mut session) = db.session(view, &record.db_name).await?;
    check_use(name, &record, &config)?;
    let _creating = db.static_creations.lock().await;
    let _guard = db.stripes.lock(view, &static_role::key(name)).await;
    if static_role::load(view, name).await?.is_some() {
        return Err(EngineError::Conflict(format!(
            "static role {name:?} was created by another request meanwhile"
        )));
    }
    check_unclaimed(view, name, &record).await?;
    let now = crate::clock::now_unix_millis();
    match rotate_locked(db, view, name, &mut record, &config, &mut session, now).await {
        Ok(()) => Ok(Response::default()),
        Err(error) if record.pending_password.is_some() => Err(EngineError::Upstream(format!(
            "{error}; static role {name:?} is stored and its first rotation will be retried"
        ))),
        Err(error) => {
            view.delete(&static_role::key(name)).await?;
            Err(error)
        }
    }
}

/// Refuses a role its config may not serve, and the config's own user.
fn check_use(
    name: &str,
    record: &StaticRoleRecord,
    config: &ConfigRecord,
) -> Result<(), EngineError> {
    let db_name = &record.db_name;
    if !config.allows(name) {
        return Err(EngineError::InvalidRequest(format!(
            "{name:?} is not an allowed role of database config {db_name:?} (see its allowed_roles)"
        )));
    }
    if record.username == config.username {
        return Err(root_refused(&record.username, db_name));
    }
    Ok(())
}

fn root_refused(username: &str, db_name: &str) -> EngineError {
    EngineError::InvalidRequest(format!(
        "{username:?} is the user of database config {db_name:?} itself: use rotate-root/{db_name} \
         to rotate its password"
    ))
}

/// Refuses a user that another static role of the same config already
/// rotates (the two would take turns making each other's password wrong) or
/// that is a credential this mount issued (its lease ends it).
async fn check_unclaimed(
    view: &View<'_>,
    name: &str,
    record: &StaticRoleRecord,
) -> Result<(), EngineError> {
    for other in static_role::names(view).await? {
        if other == name {
            continue;
        }
        if let Some(theirs) = static_role::load(view, &other).await?
            && theirs.db_name == record.db_name
            && theirs.username == record.username
        {
            return Err(EngineError::Conflict(format!(
                "user {:?} of database config {:?} is already rotated by static role {other:?}",
                record.username, record.db_name
            )));
        }
    }
    if issued::load(view, &record.username).await?.is_some() {
        return Err(EngineError::InvalidRequest(format!(
            "user {:?} is a dynamic credential of this mount; its lease decides its life",
            record.username
        )));
    }
    Ok(())
}

/// Deletes static role `name`: its rotations stop; the user and its last
/// password stay.
pub(super) async fn delete(
    db: &Database,
    view: &View<'_>,
    name: &str,
) -> Result<Response, EngineError> {
    let _guard = db.stripes.lock(view, &static_role::key(name)).await;
    view.delete(&static_role::key(name)).await?;
    Ok(Response::default())
}

/// `static-roles/<name>`: the role, never a password.
pub(super) async fn read(view: &View<'_>, name: &str) -> Result<Response, EngineError> {
    let record = static_role::load(view, name)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("static-roles/{name}")))?;
    Ok(Response::with_data(
        record.to_data(crate::clock::now_unix_millis()),
    ))
}

/// `static-creds/<name>`: the user and its committed password, without a
/// lease (the vault rotates it; nothing is revoked).
pub(super) async fn read_creds(view: &View<'_>, name: &str) -> Result<Response, EngineError> {
    let record = static_role::load(view, name)
        .await?
        .ok_or_else(|| EngineError::NotFound(format!("static-creds/{name}")))?;
    let db_name = &record.db_name;
    let config = super::config::load(view, db_name).await?.ok_or_else(|| {
        EngineError::InvalidRequest(format!(
            "static role {name:?} uses database config {db_name:?}, which does not exist"
        ))
    })?;
    if !config.allows(name) {
        return Err(EngineError::InvalidRequest(format!(
            "{name:?} is not an allowed role of database config {db_name:?} (see its allowed_roles)"
        )));
    }
    let Some(password) = &record.password else {
        let why = record
            .last_rotation_error
            .as_deref()
            .unwrap_or("in progress");
        return Err(EngineError::Upstream(format!(
            "static role {name:?} has no password yet: its first rotation has not completed \
             ({why})"
        )));
    };
    Ok(Response::with_data(
        record.creds_data(password, crate::clock::now_unix_millis()),
    ))
}

/// `rotate-role/<name>`: rotates now, whatever the schedule.
pub(super) async fn rotate_now(
    db: &Database,
    view: &View<'_>,
    name: &str,
) -> Result<Response, EngineError> {
    match rotate_one(db, view, name, crate::clock::now_unix_millis(), false).await? {
        Rotated::Done => Ok(Response::default()),
        Rotated::Gone => Err(EngineError::NotFound(format!("static-roles/{name}"))),
        // Only a due-only rotation says so; kept for completeness.
        Rotated::NotDue => Err(EngineError::Conflict(format!(
            "static role {name:?} changed meanwhile; try again"
        ))),
    }
}

/// Rotates every static role due at `now` (Unix ms; the periodic work passes
/// the clock's, tests another). Failures are logged and stored in each
/// role; only a storage failure to list them fails the call.
pub(super) async fn rotate_due(
    db: &Database,
    view: &View<'_>,
    now: u64,
) -> Result<(), EngineError> {
    let started = Instant::now();
    for name in static_role::names(view).await? {
        if started.elapsed() > PERIODIC_BUDGET {
            tracing::info!("static role rotations left for the next round");
            break;
        }
        match rotate_one(db, view, &name, now, true).await {
            Ok(Rotated::Done) => {
                tracing::info!(static_role = %name, "rotated a static role's password");
            }
            Ok(Rotated::NotDue | Rotated::Gone) => {}
            Err(error) => tracing::warn!(
                static_role = %name, %error,
                "could not rotate a static role's password; retried later"
            ),
        }
    }
    Ok(())
}

/// What [`rotate_one`] did, when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotated {
    Done,
    /// Only when `only_if_due`: not due (or rotated by someone else since it
    /// was looked at).
    NotDue,
    /// The role is gone, or was made again for another config meanwhile.
    Gone,
}

/// Rotates static role `name` (if `only_if_due`, only when due at `now`).
async fn rotate_one(
    db: &Database,
    view: &View<'_>,
    name: &str,
    now: u64,
    only_if_due: bool,
) -> Result<Rotated, EngineError> {
    let Some(seen) = static_role::load(view, name).await? else {
        return Ok(Rotated::Gone);
    };
    if only_if_due && seen.due_at() > now {
        return Ok(Rotated::NotDue);
    }
    // The session before the lock (see the module docs); its failure is the
    // rotation's, recorded below.
    let session = db.session(view, &seen.db_name).await;
    let _guard = db.stripes.lock(view, &static_role::key(name)).await;
    let Some(mut record) = static_role::load(view, name).await? else {
        return Ok(Rotated::Gone);
    };
    if record.db_name != seen.db_name {
        return Ok(Rotated::Gone);
    }
    if only_if_due && record.due_at() > now {
        return Ok(Rotated::NotDue);
    }
    let (config, mut session) = match session {
        Ok(session) => session,
        Err(error) => return Err(record_failure(view, name, &mut record, now, error).await),
    };
    rotate_locked(db, view, name, &mut record, &config, &mut session, now).await?;
    Ok(Rotated::Done)
}

/// The rotation itself (see the module docs), with the static role's lock
/// held and `record` read under it. On failure the record says so.
async fn rotate_locked(
    db: &Database,
    view: &View<'_>,
    name: &str,
    record: &mut StaticRoleRecord,
    config: &ConfigRecord,
    session: &mut Checkout,
    now: u64,
) -> Result<(), EngineError> {
    if let Err(error) = check_use(name, record, config) {
        return Err(record_failure(view, name, record, now, error).await);
    }
    let password = new_password()?;
    let sent = config.statement_password(&password)?;
    let values = Values {
        name: &record.username,
        password: Some(sent.as_str()),
        expiration: None,
    };
    let filled = match record
        .statements()
        .iter()
        .map(|s| statements::fill(s, &values))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(filled) => filled,
        Err(e) => {
            let error = EngineError::InvalidRequest(format!(
                "static role {name:?}: rotation_statements: {e}"
            ));
            return Err(record_failure(view, name, record, now, error).await);
        }
    };

    // 1. Pending first.
    record.pending_password = Some(StoredSecret(password.clone()));
    let stored = match static_role::put(name, record) {
        Ok(op) => view.batch(vec![op]).await.map_err(EngineError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        record.pending_password = None;
        return Err(e);
    }
    db.pause("static:pending-stored").await;

    // 2. The change, refused if the session's own user is the role's (a
    // config whose username differs from the user it logs in as).
    let username = record.username.as_str();
    let outcome = session
        .run(&[password.expose_secret(), &sent], |client| async move {
            let tx = client.transaction().await?;
            let me: String = tx
                .query_one("SELECT session_user::text", &[])
                .await?
                .try_get(0)?;
            if me == username {
                tx.rollback().await?;
                return Ok(false);
            }
            for statement in &filled {
                tx.batch_execute(statement).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
        .await;
    let error = match outcome {
        Ok(true) => None,
        Ok(false) => {
            record.pending_password = None;
            Some(root_refused(&record.username, &record.db_name))
        }
        Err(error) => {
            if error.code.is_some() {
                // The server refused it: the current password still holds.
                record.pending_password = None;
            }
            Some(super::upstream(&record.db_name, error))
        }
    };
    if let Some(error) = error {
        return Err(record_failure(view, name, record, now, error).await);
    }

    // 3. Commit it as the password. `record` changes only once stored: if
    // storing fails, it still says (as storage does) that the rotation is
    // pending.
    let mut committed = record.clone();
    committed.password = Some(StoredSecret(password));
    committed.pending_password = None;
    committed.last_vault_rotation_ms = now;
    committed.last_attempt_ms = now;
    committed.failures = 0;
    committed.last_rotation_error = None;
    view.batch(vec![static_role::put(name, &committed)?])
        .await?;
    *record = committed;
    Ok(())
}

/// Stores that a rotation of `record` failed with `error` at `now`, and
/// returns `error` (the storage failure is only logged: the rotation's error
/// says more).
async fn record_failure(
    view: &View<'_>,
    name: &str,
    record: &mut StaticRoleRecord,
    now: u64,
    error: EngineError,
) -> EngineError {
    record.failures = record.failures.saturating_add(1);
    record.last_attempt_ms = now;
    record.last_rotation_error = Some(error.to_string());
    let stored = match static_role::put(name, record) {
        Ok(op) => view.batch(vec![op]).await.map_err(EngineError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::warn!(static_role = %name, error = %e, "could not store a failed rotation");
    }
    error
}
