//! `reconcile/<name>`: finds the database roles this mount is responsible for
//! that no lease covers, and drops them (or only lists them, `dry_run`).
//!
//! Candidates are the roles whose name starts with the config's
//! `reconcile_prefix` (default `v-`), every role marked as this mount's (its
//! comment is `vault-lease:<this mount's engine id>`, see `issued.rs`), and
//! every role named by one of this config's issued records. Never touched: the
//! config's own user and the session's user, the users of this config's
//! static roles (the vault rotates them, never drops them), superusers, roles whose comment
//! marks them as another mount's (`vault-lease:<other id>`), and roles whose
//! issued record belongs to another config. A record this instance wrote that
//! may still be waiting for its lease (see [`Database::is_pending`]) is
//! reported as `pending`.
//!
//! What the response lists:
//!
//! - `orphans`: roles this mount made (marked, or with an issued record)
//!   whose lease does not exist. Dropped unless `dry_run`.
//! - `unmarked`: roles with the prefix that carry no marker and have no
//!   record. The vault did not make them, and the prefix alone proves nothing
//!   (`v-` is also Vault's and OpenBao's default, so a co-resident vault's live
//!   credentials look just like this). Dropped only when the request says
//!   `include_unmarked=true` (and not `dry_run`).
//! - `revoked`: the roles dropped; `kept`: how many candidates have a lease
//!   or are never touched; `pending`: see above, and also roles whose record
//!   changed between the judgment and the drop (a credential being issued
//!   under that name), which are left alone.
//! - `stale_records`: issued records of this config whose role is gone and
//!   whose lease does not exist: bookkeeping, deleted unless `dry_run`.
//! - `missing_roles`: issued records whose lease exists but whose role does
//!   not (dropped behind the vault's back). Only reported: the lease's
//!   revocation is idempotent and cleans the record up when it comes.
//! - `errors`: `{username, error}` for what could not be judged or dropped.
//!
//! # Reading order
//!
//! `creds` stores a role's issued record *before* it creates the role. So the
//! roles are read first and the records second: every role seen then has its
//! record visible (the other order would take a role committed between the two
//! reads for one without a record). Roles named only by a record (a template
//! may make any name) are looked up after the records. And before a role is
//! dropped, its record is read again under the lock `creds` claims a username
//! under; if it is not the one judged, the role is left alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::Database;
use super::issued::{self, IssuedRecord, MARKER_PREFIX};
use super::lifecycle::{Dropped, Expect, drop_role};
use super::role;
use super::static_role;
use crate::engines::{EngineError, EngineRequest, View};
use crate::request::{Data, Response};

/// What a reconcile request asks for.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Options {
    /// Only report.
    pub dry_run: bool,
    /// Also drop `unmarked` roles.
    pub include_unmarked: bool,
}

/// A database role as reconcile sees it.
#[derive(Debug)]
struct DbRole {
    name: String,
    superuser: bool,
    comment: Option<String>,
}

/// What to do with a candidate.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    Pending,
    Orphan,
    Unmarked,
}

/// Candidates by prefix or marker. `$1`: a LIKE pattern (`#` escapes);
/// `$2`: this mount's marker.
const ROLES_BY_PREFIX_OR_MARKER: &str = "\
SELECT rolname::text, rolsuper, shobj_description(oid, 'pg_authid') FROM pg_roles
 WHERE rolname LIKE $1 ESCAPE '#' OR shobj_description(oid, 'pg_authid') = $2
 ORDER BY rolname";

/// Candidates by name. `$1`: the names.
const ROLES_BY_NAME: &str = "\
SELECT rolname::text, rolsuper, shobj_description(oid, 'pg_authid') FROM pg_roles
 WHERE rolname = ANY($1)
 ORDER BY rolname";

/// `text` for a LIKE pattern with `#` as the escape character.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '#' | '%' | '_') {
            out.push('#');
        }
        out.push(c);
    }
    out
}

fn db_roles(rows: &[tokio_postgres::Row]) -> Result<Vec<DbRole>, tokio_postgres::Error> {
    rows.iter()
        .map(|row| {
            Ok(DbRole {
                name: row.try_get(0)?,
                superuser: row.try_get(1)?,
                comment: row.try_get(2)?,
            })
        })
        .collect()
}

/// Reconciles config `name`'s database with the leases.
pub(super) async fn reconcile(
    db: &Database,
    view: &View<'_>,
    request: &EngineRequest<'_>,
    name: &str,
    options: Options,
) -> Result<Response, EngineError> {
    let Options {
        dry_run,
        include_unmarked,
    } = options;
    let engine_id = db.engine_id(view).await?;
    let ours = issued::marker(&engine_id);
    let failed = |e| super::upstream(name, e);

    // 1. The roles, before the records (see the module docs).
    let (config, mut session) = db.session(view, name).await?;
    let pattern = format!("{}%", escape_like(&config.reconcile_prefix));
    let marker = ours.as_str();
    let (me, mut roles) = session
        .run(&[], |client| async move {
            let me: String = client
                .query_one("SELECT current_user::text", &[])
                .await?
                .try_get(0)?;
            let rows = client
                .query(ROLES_BY_PREFIX_OR_MARKER, &[&pattern, &marker])
                .await?;
            Ok((me, db_roles(&rows)?))
        })
        .await
        .map_err(failed)?;
    db.pause("reconcile:roles-read").await;

    // 2. The records.
    let all_records: BTreeMap<String, IssuedRecord> = issued::list(view)
        .await?
        .into_iter()
        .map(|r| (r.username.clone(), r))
        .collect();
    let records: BTreeMap<&str, &IssuedRecord> = all_records
        .values()
        .filter(|r| r.db_name == name)
        .map(|r| (r.username.as_str(), r))
        .collect();

    let mut static_users = BTreeSet::new();
    for static_name in static_role::names(view).await? {
        if let Some(record) = static_role::load(view, &static_name).await?
            && record.db_name == name
        {
            static_users.insert(record.username);
        }
    }

    // 3. The roles only a record names, looked up now that it is read.
    let seen: BTreeSet<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    let unseen: Vec<String> = records
        .keys()
        .filter(|n| !seen.contains(*n))
        .map(|n| (*n).to_owned())
        .collect();
    if !unseen.is_empty() {
        let more = session
            .run(&[], |client| async move {
                let rows = client.query(ROLES_BY_NAME, &[&unseen]).await?;
                db_roles(&rows)
            })
            .await
            .map_err(failed)?;
        roles.extend(more);
    }
    drop(session);

    let now = crate::clock::now_unix_millis();
    let mut report = Report::default();
    for db_role in &roles {
        let record = all_records.get(&db_role.name);
        let untouchable = db_role.name == config.username
            || db_role.name == me
            || db_role.superuser
            || static_users.contains(&db_role.name)
            || db_role
                .comment
                .as_deref()
                .is_some_and(|c| c.starts_with(MARKER_PREFIX) && c != ours)
            // Issued through another config of this mount: reconcile that one.
            || record.is_some_and(|r| r.db_name != name);
        let verdict = if untouchable {
            Verdict::Keep
        } else {
            match record {
                None if db_role.comment.as_deref() == Some(ours.as_str()) => Verdict::Orphan,
                None => Verdict::Unmarked,
                Some(record) => match judge(db, request, record, now).await {
                    Ok(verdict) => verdict,
                    Err(e) => {
                        report.error(&db_role.name, e.to_string());
                        continue;
                    }
                },
            }
        };
        let username = &db_role.name;
        let drop_it = match verdict {
            Verdict::Keep => {
                report.kept += 1;
                false
            }
            Verdict::Pending => {
                report.pending.push(username.clone());
                false
            }
            Verdict::Orphan => {
                report.orphans.push(username.clone());
                !dry_run
            }
            Verdict::Unmarked => {
                report.unmarked.push(username.clone());
                include_unmarked && !dry_run
            }
        };
        if drop_it {
            db.pause("reconcile:before-drop").await;
            match revoke_orphan(db, view, name, username, record).await {
                Ok(Dropped::Done) => report.revoked.push(username.clone()),
                Ok(Dropped::RecordChanged) => {
                    report.orphans.retain(|o| o != username);
                    report.unmarked.retain(|o| o != username);
                    report.pending.push(username.clone());
                }
                Err(e) => report.error(username, e.to_string()),
            }
        }
    }

    let present: BTreeSet<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    for record in records.values().copied() {
        let username = &record.username;
        if present.contains(username.as_str()) {
            continue;
        }
        match judge(db, request, record, now).await {
            Ok(Verdict::Orphan) => {
                if !dry_run {
                    match remove_if_unchanged(db, view, record).await {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            report.error(username, e.to_string());
                            continue;
                        }
                    }
                }
                report.stale_records.push(username.clone());
            }
            Ok(Verdict::Keep) => report.missing_roles.push(username.clone()),
            Ok(Verdict::Pending) => report.pending.push(username.clone()),
            // `judge` makes no other verdict.
            Ok(Verdict::Unmarked) => {}
            Err(e) => report.error(username, e.to_string()),
        }
    }
    Ok(report.into_response(dry_run))
}

/// The verdict on a role with an issued record.
async fn judge(
    db: &Database,
    request: &EngineRequest<'_>,
    record: &IssuedRecord,
    now: u64,
) -> Result<Verdict, EngineError> {
    if request.leases.lease_exists(&record.lease_id).await? {
        db.in_flight_remove(&record.username);
        return Ok(Verdict::Keep);
    }
    if db.is_pending(record, now) {
        return Ok(Verdict::Pending);
    }
    Ok(Verdict::Orphan)
}

/// Drops a role judged an orphan (or an unmarked one) with its role's
/// revocation statements if its record names a role that still has some, else
/// the default; then forgets its record. Nothing if its record is no longer
/// `record` when it comes to it.
async fn revoke_orphan(
    db: &Database,
    view: &View<'_>,
    db_name: &str,
    username: &str,
    record: Option<&IssuedRecord>,
) -> Result<Dropped, EngineError> {
    let custom = match record {
        Some(record) => role::load(view, &record.role)
            .await?
            .map(|r| r.revocation_statements)
            .filter(|s| !s.is_empty()),
        None => None,
    };
    let dropped = drop_role(
        db,
        view,
        db_name,
        username,
        custom.as_deref(),
        Expect::Record(record),
    )
    .await?;
    if dropped == Dropped::RecordChanged {
        return Ok(dropped);
    }
    // While the record exists, `creds` cannot claim the name, so it is still
    // the one judged.
    if record.is_some() {
        issued::remove(view, username).await?;
    }
    db.in_flight_remove(username);
    Ok(Dropped::Done)
}

/// Deletes `record` (a stale one) if it is still stored as it was read, under
/// the lock `creds` claims its username under. True if it was.
async fn remove_if_unchanged(
    db: &Database,
    view: &View<'_>,
    record: &IssuedRecord,
) -> Result<bool, EngineError> {
    let _claim = db.stripes.lock(view, &issued::key(&record.username)).await;
    if issued::load(view, &record.username).await?.as_ref() != Some(record) {
        return Ok(false);
    }
    issued::remove(view, &record.username).await?;
    Ok(true)
}

#[derive(Debug, Default)]
struct Report {
    orphans: Vec<String>,
    unmarked: Vec<String>,
    revoked: Vec<String>,
    pending: Vec<String>,
    kept: u64,
    stale_records: Vec<String>,
    missing_roles: Vec<String>,
    errors: Vec<(String, String)>,
}

impl Report {
    fn error(&mut self, username: &str, error: String) {
        self.errors.push((username.to_owned(), error));
    }

    fn into_response(self, dry_run: bool) -> Response {
        let errors: Vec<_> = self
            .errors
            .into_iter()
            .map(|(username, error)| json!({"username": username, "error": error}))
            .collect();
        let mut data = Data::new();
        data.insert("dry_run".into(), json!(dry_run));
        data.insert("orphans".into(), json!(self.orphans));
        data.insert("unmarked".into(), json!(self.unmarked));
        data.insert("revoked".into(), json!(self.revoked));
        data.insert("pending".into(), json!(self.pending));
        data.insert("kept".into(), json!(self.kept));
        data.insert("stale_records".into(), json!(self.stale_records));
        data.insert("missing_roles".into(), json!(self.missing_roles));
        data.insert("errors".into(), json!(errors));
        Response::with_data(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(escape_like("v-"), "v-");
        assert_eq!(escape_like("a_b%c#"), "a#_b#%c##");
    }
}
