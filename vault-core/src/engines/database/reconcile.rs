//! `reconcile/<name>`: finds the database roles this mount is responsible for
//! that no lease covers, and drops them (or only lists them, `dry_run`).
//!
//! Candidates are the roles whose name starts with the config's
//! `reconcile_prefix` (default `v-`), plus every role named by one of this
//! config's issued records. Never touched: the config's own user and the
//! session's user, superusers, roles whose comment marks them as another
//! mount's (`vault-lease:<other id>`), and roles whose issued record belongs
//! to another config. A record this instance wrote that may still be waiting
//! for its lease (see [`Database::is_pending`]) is reported as `pending`.
//!
//! A candidate is an orphan when it has no issued record, or its record's
//! lease does not exist. *An unmarked role with the prefix and no record is an
//! orphan*: it was made behind the vault's back in the namespace the vault
//! owns. That is what the prefix means; choose one no person's role uses.
//!
//! Issued records of this config whose role is gone and whose lease does not
//! exist are stale bookkeeping and are deleted too (`stale_records`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::Database;
use super::issued::{self, IssuedRecord, MARKER_PREFIX};
use super::lifecycle::drop_role;
use super::role;
use crate::engines::{EngineError, EngineRequest, View};
use crate::request::{Data, Response};

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
}

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

/// Reconciles config `name`'s database with the leases.
pub(super) async fn reconcile(
    db: &Database,
    view: &View<'_>,
    request: &EngineRequest<'_>,
    name: &str,
    dry_run: bool,
) -> Result<Response, EngineError> {
    let engine_id = db.engine_id(view).await?;
    let ours = issued::marker(&engine_id);
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
    let named: Vec<String> = records.keys().map(|k| (*k).to_owned()).collect();

    let (config, mut session) = db.session(view, name).await?;
    let pattern = format!("{}%", escape_like(&config.reconcile_prefix));
    let (me, rows) = session
        .run(&[], |client| async move {
            let me: String = client
                .query_one("SELECT current_user::text", &[])
                .await?
                .try_get(0)?;
            let rows = client
                .query(
                    "SELECT rolname::text, rolsuper, shobj_description(oid, 'pg_authid') \
                     FROM pg_roles WHERE rolname LIKE $1 ESCAPE '#' OR rolname = ANY($2)",
                    &[&pattern, &named],
                )
                .await?;
            Ok((me, rows))
        })
        .await
        .map_err(|e| super::upstream(name, e))?;
    drop(session);
    let roles = rows
        .iter()
        .map(|row| {
            Ok(DbRole {
                name: row.try_get(0)?,
                superuser: row.try_get(1)?,
                comment: row.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|e| super::upstream(name, super::connection::DbError::from_pg(&e, &[])))?;

    let now = crate::clock::now_unix_millis();
    let mut report = Report::default();
    for db_role in &roles {
        let record = all_records.get(&db_role.name);
        let untouchable = db_role.name == config.username
            || db_role.name == me
            || db_role.superuser
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
                None => Verdict::Orphan,
                Some(record) => match judge(db, request, record, now).await {
                    Ok(verdict) => verdict,
                    Err(e) => {
                        report.error(&db_role.name, e.to_string());
                        continue;
                    }
                },
            }
        };
        match verdict {
            Verdict::Keep => report.kept += 1,
            Verdict::Pending => report.pending.push(db_role.name.clone()),
            Verdict::Orphan => {
                report.orphans.push(db_role.name.clone());
                if !dry_run {
                    match revoke_orphan(db, view, name, &db_role.name, record).await {
                        Ok(()) => report.revoked.push(db_role.name.clone()),
                        Err(e) => report.error(&db_role.name, e.to_string()),
                    }
                }
            }
        }
    }

    let present: BTreeSet<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    for record in records.values().copied() {
        if present.contains(record.username.as_str()) {
            continue;
        }
        match judge(db, request, record, now).await {
            Ok(Verdict::Orphan) => {
                if !dry_run && let Err(e) = issued::remove(view, &record.username).await {
                    report.error(&record.username, e.to_string());
                    continue;
                }
                report.stale_records.push(record.username.clone());
            }
            Ok(_) => {}
            Err(e) => report.error(&record.username, e.to_string()),
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

/// Drops an orphan with its role's revocation statements if its record names a
/// role that still has some, else the default; then forgets its record.
async fn revoke_orphan(
    db: &Database,
    view: &View<'_>,
    db_name: &str,
    username: &str,
    record: Option<&IssuedRecord>,
) -> Result<(), EngineError> {
    let custom = match record {
        Some(record) => role::load(view, &record.role)
            .await?
            .map(|r| r.revocation_statements)
            .filter(|s| !s.is_empty()),
        None => None,
    };
    drop_role(db, view, db_name, username, custom.as_deref()).await?;
    if record.is_some() {
        issued::remove(view, username).await?;
    }
    db.in_flight_remove(username);
    Ok(())
}

#[derive(Debug, Default)]
struct Report {
    orphans: Vec<String>,
    revoked: Vec<String>,
    pending: Vec<String>,
    kept: u64,
    stale_records: Vec<String>,
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
        data.insert("revoked".into(), json!(self.revoked));
        data.insert("pending".into(), json!(self.pending));
        data.insert("kept".into(), json!(self.kept));
        data.insert("stale_records".into(), json!(self.stale_records));
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
