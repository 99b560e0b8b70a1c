//! Crash recovery against a real PostgreSQL: the window between creating a
//! role and storing its lease, `reconcile` (what it must never touch, and the
//! races with `creds`), and a root rotation interrupted between `ALTER ROLE`
//! and storing the password.

use serde_json::json;

use super::Database;
use super::config::{self, StoredSecret};
use super::issued::{self, IssuedRecord};
use super::tests::Fixture;
use crate::engines::{EngineError, LogicalBackend};
use crate::request::Operation;

#[tokio::test]
async fn a_crash_before_the_lease_is_stored_is_reconciled_after_a_restart() {
    let f = Fixture::new().await;
    f.configure().await;
    f.role("ro", json!({})).await;
    let (lost, _, _) = f.creds("ro").await;
    let (kept, _, kept_lease) = f.creds("ro").await;
    f.register(&kept_lease);
    // Same instance, right away: the lease may be on its way.
    let report = f.ok(Operation::Update, "reconcile/pg", json!({})).await;
    assert_eq!(report["pending"], json!([lost]), "{report}");
    assert_eq!(report["revoked"], json!([]), "{report}");

    // "Restart": a new engine over the same storage.
    let restarted = Database::new();
    let dry = f
        .call_on(&restarted, Operation::Read, "reconcile/pg", json!({}), "")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["orphans"], json!([lost]), "{dry:?}");
    assert!(f.role_exists(&lost).await);
    let done = f
        .call_on(&restarted, Operation::Update, "reconcile/pg", json!({}), "")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(done["revoked"], json!([lost]), "{done:?}");
    assert_eq!(done["errors"], json!([]), "{done:?}");
    assert!(!f.role_exists(&lost).await);
    assert!(f.role_exists(&kept).await);
    assert!(issued::load(&f.view(), &lost).await.unwrap().is_none());
    assert!(issued::load(&f.view(), &kept).await.unwrap().is_some());

    // A record whose role is gone and whose lease never was: stale.
    f.admin
        .batch_execute(&format!("DROP ROLE \"{kept}\""))
        .await
        .unwrap();
    f.leases.0.lock().unwrap().clear();
    let done = f
        .call_on(&restarted, Operation::Update, "reconcile/pg", json!({}), "")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(done["stale_records"], json!([kept]), "{done:?}");
    assert!(issued::list(&f.view()).await.unwrap().is_empty());
}

#[tokio::test]
async fn marked_orphans_are_dropped_unmarked_roles_only_when_asked_protected_ones_never() {
    let f = Fixture::new().await;
    let p = f.prefix();
    let ours = issued::marker(&f.db.engine_id(&f.view()).await.unwrap());
    f.admin
        .batch_execute(&format!(
            "CREATE ROLE \"{p}manual\" LOGIN; \
             CREATE ROLE \"{p}ghost\" LOGIN; \
             COMMENT ON ROLE \"{p}ghost\" IS '{ours}'; \
             CREATE ROLE \"{p}super\" SUPERUSER; \
             CREATE ROLE \"{p}other\" LOGIN; \
             COMMENT ON ROLE \"{p}other\" IS 'vault-lease:someothermount'; \
             CREATE ROLE \"{p}root\" LOGIN CREATEROLE PASSWORD 'root-pw-{p}'; \
             CREATE ROLE \"notours-{p}\" LOGIN;"
        ))
        .await
        .unwrap();
    f.ok(
        Operation::Create,
        "config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin", "connection_url": f.url(),
            "username": format!("{p}root"), "password": format!("root-pw-{p}"),
            "reconcile_prefix": p,
        }),
    )
    .await;
    let (manual, ghost) = (format!("{p}manual"), format!("{p}ghost"));
    let dry = f
        .ok(Operation::Update, "reconcile/pg", json!({"dry_run": true}))
        .await;
    assert_eq!(dry["orphans"], json!([ghost]), "{dry}");
    assert_eq!(dry["unmarked"], json!([manual]), "{dry}");
    assert_eq!(dry["kept"], 3, "{dry}");
    assert!(f.role_exists(&ghost).await);

    // By default only what this mount made: the prefix alone is no proof.
    let done = f.ok(Operation::Update, "reconcile/pg", json!({})).await;
    assert_eq!(done["revoked"], json!([ghost]), "{done}");
    assert_eq!(done["unmarked"], json!([manual]), "{done}");
    assert!(!f.role_exists(&ghost).await);
    assert!(f.role_exists(&manual).await, "an unmarked role was dropped");

    let dry = f
        .ok(
            Operation::Update,
            "reconcile/pg",
            json!({"dry_run": true, "include_unmarked": true}),
        )
        .await;
    assert_eq!(dry["revoked"], json!([]), "{dry}");
    assert!(f.role_exists(&manual).await, "a dry run dropped a role");
    let done = f
        .ok(
            Operation::Update,
            "reconcile/pg",
            json!({"include_unmarked": true}),
        )
        .await;
    assert_eq!(done["orphans"], json!([]), "{done}");
    assert_eq!(done["unmarked"], json!([manual]), "{done}");
    assert_eq!(done["revoked"], json!([manual]), "{done}");
    assert!(!f.role_exists(&manual).await);
    for protected in ["super", "other", "root"] {
        assert!(
            f.role_exists(&format!("{p}{protected}")).await,
            "{protected}"
        );
    }
    assert!(f.role_exists(&format!("notours-{p}")).await);
}

/// `creds` stores a record and then commits its role: a reconcile that reads
/// in between must not see the role without its record.
#[tokio::test]
async fn a_credential_issued_while_reconcile_reads_is_not_an_orphan() {
    let f = Fixture::new().await;
    f.configure().await;
    f.role("ro", json!({})).await;
    let (reached, go_on) = f.db.pause_at("reconcile:roles-read");
    let reconcile = f.call(Operation::Update, "reconcile/pg", json!({}));
    let issue = async {
        reached.await.unwrap();
        let (username, _, lease) = f.creds("ro").await;
        f.register(&lease);
        go_on.send(()).unwrap();
        username
    };
    let (report, username) = tokio::join!(reconcile, issue);
    let report = report.unwrap().data.unwrap();
    assert_eq!(report["revoked"], json!([]), "{report:?}");
    assert_eq!(report["errors"], json!([]), "{report:?}");
    assert_eq!(report["kept"], 1, "{report:?}");
    assert!(
        f.role_exists(&username).await,
        "a live credential was dropped"
    );
    assert!(issued::load(&f.view(), &username).await.unwrap().is_some());
}

/// A role judged an orphan is dropped only if its record is still the one
/// judged when the drop comes (read again under the lock `creds` claims under).
#[tokio::test]
async fn a_record_that_appears_before_the_drop_keeps_the_role() {
    let f = Fixture::new().await;
    f.configure().await;
    let ours = issued::marker(&f.db.engine_id(&f.view()).await.unwrap());
    let ghost = format!("{}ghost", f.prefix());
    f.admin
        .batch_execute(&format!(
            "CREATE ROLE \"{ghost}\" LOGIN; COMMENT ON ROLE \"{ghost}\" IS '{ours}';"
        ))
        .await
        .unwrap();
    let (reached, go_on) = f.db.pause_at("reconcile:before-drop");
    let reconcile = f.call(Operation::Update, "reconcile/pg", json!({}));
    let claim = async {
        reached.await.unwrap();
        issued::store(
            &f.view(),
            &IssuedRecord {
                username: ghost.clone(),
                lease_id: "database/creds/ro/claimed".into(),
                role: "ro".into(),
                db_name: "pg".into(),
                created_at: crate::clock::now_unix_millis(),
                instance: "another".into(),
            },
        )
        .await
        .unwrap();
        go_on.send(()).unwrap();
    };
    let (report, ()) = tokio::join!(reconcile, claim);
    let report = report.unwrap().data.unwrap();
    assert_eq!(report["revoked"], json!([]), "{report:?}");
    assert_eq!(report["pending"], json!([ghost]), "{report:?}");
    assert!(f.role_exists(&ghost).await, "a claimed role was dropped");
    // Its lease never comes: the next reconcile drops it, record and all.
    let report = f.ok(Operation::Update, "reconcile/pg", json!({})).await;
    assert_eq!(report["revoked"], json!([ghost]), "{report}");
    assert!(!f.role_exists(&ghost).await);
    assert!(issued::load(&f.view(), &ghost).await.unwrap().is_none());
}

#[tokio::test]
async fn a_lease_whose_role_is_gone_is_reported_and_left_to_its_revocation() {
    let f = Fixture::new().await;
    f.configure().await;
    f.role("ro", json!({})).await;
    let (username, _, lease) = f.creds("ro").await;
    f.register(&lease);
    f.admin
        .batch_execute(&format!("DROP ROLE \"{username}\""))
        .await
        .unwrap();
    let report = f.ok(Operation::Update, "reconcile/pg", json!({})).await;
    assert_eq!(report["missing_roles"], json!([username]), "{report}");
    assert_eq!(report["stale_records"], json!([]), "{report}");
    assert_eq!(report["revoked"], json!([]), "{report}");
    assert!(issued::load(&f.view(), &username).await.unwrap().is_some());
    // The lease's revocation finds nothing to drop and forgets the record.
    f.db.revoke(&f.view(), &lease).await.unwrap();
    assert!(issued::load(&f.view(), &username).await.unwrap().is_none());
}

#[tokio::test]
async fn rotate_root_changes_the_password_and_the_engine_still_connects() {
    let f = Fixture::new().await;
    let root = format!("{}root", f.prefix());
    let first = format!("first-{}", f.tag);
    f.admin
        .batch_execute(&format!(
            "CREATE ROLE \"{root}\" LOGIN CREATEROLE PASSWORD '{first}'"
        ))
        .await
        .unwrap();
    f.ok(
        Operation::Create,
        "config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin", "connection_url": f.url(),
            "username": root, "password": first, "allowed_roles": ["ro"],
        }),
    )
    .await;
    f.role("ro", json!({})).await;
    f.creds("ro").await;
    let response = f
        .call(Operation::Update, "rotate-root/pg", json!({}))
        .await
        .unwrap();
    assert!(response.data.is_none());
    assert!(
        f.login(&root, &first).await.is_err(),
        "the old password is dead"
    );
    let stored = config::load(&f.view(), "pg").await.unwrap().unwrap();
    assert!(stored.pending_password.is_none());
    let current = stored.password.0.expose_secret().to_owned();
    assert_ne!(current, first);
    f.login(&root, &current).await.unwrap();
    let read = f.ok(Operation::Read, "config/pg", json!({})).await;
    assert!(!read.to_string().contains(&current));
    let (user, password, _) = f.creds("ro").await;
    f.login(&user, &password).await.unwrap();

    // A crash between ALTER ROLE and storing: the database has the pending
    // password, the config still the old one. A restarted engine finds out.
    let next = format!("next-{}", f.tag);
    f.admin
        .batch_execute(&format!("ALTER ROLE \"{root}\" PASSWORD '{next}'"))
        .await
        .unwrap();
    let mut record = stored;
    record.pending_password = Some(StoredSecret::new(next.clone()));
    f.view()
        .batch(vec![config::put("pg", &record).unwrap()])
        .await
        .unwrap();
    let restarted = Database::new();
    f.call_on(&restarted, Operation::Read, "creds/ro", json!({}), "x")
        .await
        .unwrap();
    let promoted = config::load(&f.view(), "pg").await.unwrap().unwrap();
    assert_eq!(promoted.password.0.expose_secret(), next);
    assert!(promoted.pending_password.is_none());
    // And a rotation from there works too.
    f.call_on(
        &restarted,
        Operation::Update,
        "rotate-root/pg",
        json!({}),
        "",
    )
    .await
    .unwrap();
    assert!(f.login(&root, &next).await.is_err());
}

#[tokio::test]
async fn a_template_that_repeats_names_is_refused_without_harm() {
    let f = Fixture::new().await;
    f.configure().await;
    f.role(
        "fixed",
        json!({"username_template": "v-{{.DisplayName}}-{{.RoleName}}"}),
    )
    .await;
    let (username, _, lease) = f.creds("fixed").await;
    f.register(&lease);
    let err = f
        .call(Operation::Read, "creds/fixed", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Conflict(_)), "{err:?}");
    let record = issued::load(&f.view(), &username).await.unwrap().unwrap();
    assert_eq!(
        record.lease_id, lease.id,
        "the first credential keeps its record"
    );
    assert!(f.role_exists(&username).await);
    let report = f.ok(Operation::Update, "reconcile/pg", json!({})).await;
    assert_eq!(report["revoked"], json!([]), "{report}");
}
