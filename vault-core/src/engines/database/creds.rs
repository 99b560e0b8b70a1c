//! `creds/<role>`: a new database role with a random password, under a lease.
//!
//! The order is what makes a crash harmless (see `issued.rs`): the issued
//! record is stored before the database is touched; the role is created and
//! marked with the mount's engine id in one transaction; the lease id is made
//! here, so the record names the lease the vault will store after we return.
//! If the vault never stores it, `reconcile` finds the role and drops it.

use serde_json::json;
use zeroize::Zeroizing;

use super::Database;
use super::config;
use super::connection::conflict_backoff;
use super::issued::{self, IssuedRecord};
use super::role;
use super::statements::{self, Values, quote_identifier, quote_literal};
use super::template::TemplateInput;
use crate::barrier::BarrierError;
use crate::engines::{EngineError, EngineRequest, View};
use crate::request::{Data, Response, SecretGrant};
use crate::secret::SecretString;

/// Random characters after the fixed `A1a-` of a password.
const PASSWORD_RANDOM_LEN: usize = 20;

/// A fresh password: `A1a-` and 20 random alphanumerics (about 119 bits),
/// so it passes the usual "upper, lower, digit, symbol" rules.
pub(super) fn new_password() -> Result<SecretString, EngineError> {
    let random = Zeroizing::new(
        crate::random::alphanumeric(PASSWORD_RANDOM_LEN).map_err(BarrierError::from)?,
    );
    Ok(SecretString::new(format!("A1a-{}", random.as_str())))
}

/// `ms` since the epoch as a PostgreSQL timestamp literal's content, rounded
/// up to the second: `2026-11-27 09:05:08+00`.
pub(super) fn expiration_text(ms: u64) -> String {
    let secs = ms.div_ceil(1000);
    let rfc = crate::clock::rfc3339(secs);
    format!("{}+00", rfc.trim_end_matches('Z').replacen('T', " ", 1))
}

/// Issues credentials for role `role_name`.
pub(super) async fn issue(
    db: &Database,
    view: &View<'_>,
    request: &EngineRequest<'_>,
    role_name: &str,
) -> Result<Response, EngineError> {
    let role = role::load(view, role_name)
        .await?
        .ok_or_else(|| EngineError::InvalidRequest(format!("unknown role: {role_name}")))?;
    let db_name = role.db_name.clone();
    let config = config::load(view, &db_name).await?.ok_or_else(|| {
        EngineError::InvalidRequest(format!(
            "role {role_name:?} uses database config {db_name:?}, which does not exist"
        ))
    })?;
    if !config.allows(role_name) {
        return Err(EngineError::InvalidRequest(format!(
            "{role_name:?} is not an allowed role of database config {db_name:?} (see its allowed_roles)"
        )));
    }

    let now = crate::clock::now_unix_millis();
    let username = role.template()?.render(&TemplateInput {
        role_name,
        display_name: request.caller.display_name(),
        now_ms: now,
    })?;
    let password = new_password()?;
    let sent = config.statement_password(&password)?;
    // Vault's `{{expiration}}`: when the lease this request registers ends.
    let (validity, _) = request
        .lease_bounds
        .lease_ttls(role.default_ttl_ms, role.max_ttl_ms);
    let expiration = expiration_text(now.saturating_add(validity));
    let values = Values {
        name: &username,
        password: Some(sent.as_str()),
        expiration: Some(&expiration),
    };
    let filled = role
        .creation_statements
        .iter()
        .map(|s| statements::fill(s, &values))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            EngineError::InvalidRequest(format!("role {role_name:?}: creation_statements: {e}"))
        })?;
    let engine_id = db.engine_id(view).await?;
    let marker = format!(
        "COMMENT ON ROLE {} IS {}",
        quote_identifier(&username),
        quote_literal(&issued::marker(&engine_id))
    );
    let lease_id =
        crate::expiration::new_lease_id(&format!("{}creds/{role_name}", request.mount_path))
            .map_err(BarrierError::from)?;

    // 1. The record first: from here on, a role with this name is accounted for.
    // Under the name's lock, so two requests that made the same name (a
    // template without randomness) cannot both claim it; the loser must not
    // delete the winner's record when its CREATE fails.
    let claim = db.stripes.lock(view, &issued::key(&username)).await;
    if issued::load(view, &username).await?.is_some() {
        return Err(EngineError::Conflict(format!(
            "role {role_name:?} made the username {username:?}, which is already issued: its \
             username_template must make unique names"
        )));
    }
    issued::store(
        view,
        &IssuedRecord {
            username: username.clone(),
            lease_id: lease_id.clone(),
            role: role_name.to_owned(),
            db_name: db_name.clone(),
            created_at: now,
            instance: db.instance.clone(),
        },
    )
    .await?;
    drop(claim);
    db.in_flight_add(&username, now);

    // 2. The role, in one transaction with its marker.
    if let Err(e) = create(
        db,
        view,
        &db_name,
        &filled,
        &marker,
        [password.expose_secret(), &sent],
    )
    .await
    {
        db.in_flight_remove(&username);
        // If the commit happened after all (a timeout at COMMIT), the role is
        // marked and has no record: reconcile drops it.
        if let Err(cleanup) = issued::remove(view, &username).await {
            tracing::warn!(%username, error = %cleanup, "could not remove the issued record of a failed creation");
        }
        return Err(EngineError::Upstream(format!(
            "could not create credentials for role {role_name:?}: {e}"
        )));
    }

    let mut data = Data::new();
    data.insert("username".into(), json!(username));
    data.insert("password".into(), json!(password.expose_secret()));
    Ok(Response {
        data: Some(data),
        secret: Some(SecretGrant {
            lease_id,
            ttl: role.default_ttl_ms,
            max_ttl: role.max_ttl_ms,
            renewable: true,
            internal: json!({
                "username": username,
                "role": role_name,
                "db_name": db_name,
            }),
        }),
        ..Response::default()
    })
}

/// Runs the filled creation statements and the marker in one transaction,
/// again if it met a concurrent update (it was rolled back: nothing is done
/// twice).
async fn create(
    db: &Database,
    view: &View<'_>,
    db_name: &str,
    filled: &[Zeroizing<String>],
    marker: &str,
    secrets: [&str; 2],
) -> Result<(), EngineError> {
    let text = one_query(filled, marker);
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The session before the privilege lock: connecting is not done
        // under it (see `Database::privilege_writer`).
        let outcome = {
            let (config, mut session) = db.session(view, db_name).await?;
            let _writer = match statements::changes_privileges(filled.iter().map(|s| s.as_str())) {
                true => Some(db.privilege_writer(db_name, &config).await?),
                false => None,
            };
            let text = &text;
            session
                .run(&secrets, |client| async move {
                    client.batch_execute(text).await
                })
                .await
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if e.is_concurrent_update() => match conflict_backoff(attempt) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(super::upstream(db_name, e)),
            },
            Err(e) => return Err(super::upstream(db_name, e)),
        }
    }
}

/// The statements and the marker as one simple query: PostgreSQL runs the
/// statements of one query string in one implicit transaction (all or
/// nothing, the session left clean on an error), and the client sends it in
/// one round trip instead of four (BEGIN, statements, marker, COMMIT).
/// Each statement is ended on a line of its own, so one that ends in a
/// `--` comment or without a semicolon still ends where it should.
fn one_query(filled: &[Zeroizing<String>], marker: &str) -> Zeroizing<String> {
    let len = filled.iter().map(|s| s.len() + 3).sum::<usize>() + marker.len();
    let mut text = Zeroizing::new(String::with_capacity(len));
    for statement in filled {
        text.push_str(statement);
        text.push_str("\n;\n");
    }
    text.push_str(marker);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_meet_complexity_rules_and_differ() {
        let a = new_password().unwrap();
        let b = new_password().unwrap();
        assert_eq!(a.expose_secret().len(), 24);
        assert!(a.expose_secret().starts_with("A1a-"));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn expirations_are_postgres_timestamps_rounded_up() {
        assert_eq!(expiration_text(1_795_770_308_000), "2026-11-27 09:05:08+00");
        assert_eq!(expiration_text(1_795_770_307_001), "2026-11-27 09:05:08+00");
    }
}
