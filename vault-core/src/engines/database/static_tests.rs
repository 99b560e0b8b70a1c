//! Static roles against a real PostgreSQL: the password taken over at
//! creation, `rotate-role`, the periodic rotation (driven with a given time,
//! so nothing sleeps), failures and their retries, a rotation interrupted
//! before or after `ALTER ROLE`, and what is refused.

use serde_json::{Value, json};

use super::Database;
use super::config::StoredSecret;
use super::static_role;
use super::static_rotate::rotate_due;
use super::tests::Fixture;
use crate::engines::{EngineError, LogicalBackend};
use crate::request::{Operation, Response};

impl Fixture {
    /// A login user of this test, with password `initial`: a name with the
    /// test's prefix, so `reconcile` looks at it.
    async fn user(&self, name: &str) -> String {
        let user = format!("{}{name}", self.prefix());
        self.admin
            .batch_execute(&format!("CREATE ROLE \"{user}\" LOGIN PASSWORD 'initial'"))
            .await
            .unwrap();
        user
    }

    async fn static_role(&self, name: &str, user: &str, period: &str) {
        self.ok(
            Operation::Create,
            &format!("static-roles/{name}"),
            json!({"db_name": "pg", "username": user, "rotation_period": period}),
        )
        .await;
    }

    /// `static-creds/<name>`: its data, checked to come without a lease.
    async fn static_creds(&self, name: &str) -> Value {
        let response = self
            .call(Operation::Read, &format!("static-creds/{name}"), json!({}))
            .await
            .unwrap_or_else(|e| panic!("static-creds/{name}: {e}"));
        assert!(response.secret.is_none() && response.lease.is_none());
        Value::Object(response.data.unwrap())
    }

    async fn static_password(&self, name: &str) -> String {
        self.static_creds(name).await["password"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn stored(&self, name: &str) -> static_role::StaticRoleRecord {
        static_role::load(&self.view(), name)
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn creating_a_static_role_takes_over_the_password_and_rotate_role_changes_it() {
    let f = Fixture::new().await;
    f.configure().await;
    let user = f.user("app").await;
    f.login(&user, "initial").await.unwrap();
    f.static_role("app", &user, "1h").await;
    assert!(
        f.login(&user, "initial").await.is_err(),
        "the old password still works"
    );
    let creds = f.static_creds("app").await;
    let first = creds["password"].as_str().unwrap().to_owned();
    assert!(first.starts_with("A1a-") && first.len() == 24);
    f.login(&user, &first).await.unwrap();
    let stored = f.stored("app").await;
    assert_eq!(creds["username"], user.as_str());
    assert_eq!(creds["rotation_period"], 3600);
    let ttl = creds["ttl"].as_u64().unwrap();
    assert!((3590..=3600).contains(&ttl), "{creds}");
    assert_eq!(
        creds["last_vault_rotation"],
        crate::clock::rfc3339(stored.last_vault_rotation_ms / 1000)
    );
    assert!(creds.get("last_rotation_error").is_none(), "{creds}");

    let read = f.ok(Operation::Read, "static-roles/app", json!({})).await;
    assert!(!read.to_string().contains(&first), "{read}");
    assert_eq!(read["username"], user.as_str());
    assert_eq!(read["db_name"], "pg");
    assert_eq!(read["rotation_period"], 3600);
    assert_eq!(read["credential_type"], "password");
    assert!(read["last_vault_rotation"].is_string(), "{read}");
    let listed = f.ok(Operation::List, "static-roles/", json!({})).await;
    assert_eq!(listed["keys"], json!(["app"]));
    assert!(f.db.exists(&f.view(), "static-roles/app").await.unwrap());
    assert!(!f.db.exists(&f.view(), "static-roles/nope").await.unwrap());
    // An update changes the period, not the password.
    f.ok(
        Operation::Update,
        "static-roles/app",
        json!({"rotation_period": "2h"}),
    )
    .await;
    assert_eq!(f.static_password("app").await, first);
    assert_eq!(f.stored("app").await.rotation_period_ms, 7_200_000);

    let response = f
        .call(Operation::Update, "rotate-role/app", json!({}))
        .await
        .unwrap();
    assert!(response.data.is_none());
    let second = f.static_password("app").await;
    assert_ne!(second, first);
    assert!(f.login(&user, &first).await.is_err());
    f.login(&user, &second).await.unwrap();
    let record = f.stored("app").await;
    assert!(!format!("{record:?} {:?}", f.db).contains("A1a-"));

    // Deleted, it is no longer rotated; the user and its password stay.
    f.ok(Operation::Delete, "static-roles/app", json!({})).await;
    for path in ["static-roles/app", "static-creds/app"] {
        let err = f.call(Operation::Read, path, json!({})).await.unwrap_err();
        assert!(matches!(err, EngineError::NotFound(_)), "{path}: {err:?}");
    }
    let later = crate::clock::now_unix_millis() + 86_400_000;
    rotate_due(&f.db, &f.view(), later).await.unwrap();
    f.login(&user, &second).await.unwrap();
}

#[tokio::test]
async fn periodic_work_rotates_once_the_period_has_passed_and_not_before() {
    let f = Fixture::new().await;
    f.configure().await;
    let user = f.user("tick").await;
    f.static_role("tick", &user, "5s").await;
    let first = f.static_password("tick").await;
    let t0 = f.stored("tick").await.last_vault_rotation_ms;

    rotate_due(&f.db, &f.view(), t0 + 4_999).await.unwrap();
    assert_eq!(f.static_password("tick").await, first, "rotated early");
    assert_eq!(f.stored("tick").await.last_vault_rotation_ms, t0);

    rotate_due(&f.db, &f.view(), t0 + 5_000).await.unwrap();
    let second = f.static_password("tick").await;
    assert_ne!(second, first, "not rotated when due");
    assert_eq!(f.stored("tick").await.last_vault_rotation_ms, t0 + 5_000);
    assert!(f.login(&user, &first).await.is_err());
    f.login(&user, &second).await.unwrap();
    // The engine's own periodic work uses the clock: the new period has not
    // passed.
    f.db.periodic(&f.view()).await.unwrap();
    assert_eq!(f.static_password("tick").await, second);
}

#[tokio::test]
async fn a_failed_rotation_is_reported_keeps_the_password_and_is_retried_with_backoff() {
    let f = Fixture::new().await;
    f.configure().await;
    let user = f.user("gone").await;
    f.static_role("gone", &user, "5s").await;
    let first = f.static_password("gone").await;
    let t0 = f.stored("gone").await.last_vault_rotation_ms;
    // Dropped behind the vault's back.
    f.admin
        .batch_execute(&format!("DROP ROLE \"{user}\""))
        .await
        .unwrap();

    rotate_due(&f.db, &f.view(), t0 + 5_000).await.unwrap();
    let record = f.stored("gone").await;
    assert_eq!((record.failures, record.last_attempt_ms), (1, t0 + 5_000));
    assert!(record.pending_password.is_none(), "the server refused it");
    assert_eq!(record.last_vault_rotation_ms, t0);
    let creds = f.static_creds("gone").await;
    assert_eq!(creds["password"], first.as_str(), "the password changed");
    let error = creds["last_rotation_error"].as_str().unwrap().to_owned();
    assert!(error.contains("does not exist"), "{error}");
    assert!(!error.contains("A1a-"), "{error}");
    let read = f.ok(Operation::Read, "static-roles/gone", json!({})).await;
    assert_eq!(read["last_rotation_error"], error.as_str());

    // Retried 5 s later, then 10 s later: not sooner.
    rotate_due(&f.db, &f.view(), t0 + 9_999).await.unwrap();
    assert_eq!(f.stored("gone").await.failures, 1);
    rotate_due(&f.db, &f.view(), t0 + 10_000).await.unwrap();
    assert_eq!(f.stored("gone").await.failures, 2);
    rotate_due(&f.db, &f.view(), t0 + 19_999).await.unwrap();
    assert_eq!(f.stored("gone").await.failures, 2);

    // rotate-role reports the failure itself, without a password.
    let err = f
        .call(Operation::Update, "rotate-role/gone", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Upstream(_)), "{err:?}");
    assert!(
        err.to_string().contains("does not exist") && !err.to_string().contains("A1a-"),
        "{err}"
    );
    assert_eq!(f.stored("gone").await.failures, 3);

    // The user comes back: the next retry works and clears the error.
    f.admin
        .batch_execute(&format!("CREATE ROLE \"{user}\" LOGIN PASSWORD 'again'"))
        .await
        .unwrap();
    let retry_at = f.stored("gone").await.due_at();
    rotate_due(&f.db, &f.view(), retry_at).await.unwrap();
    let record = f.stored("gone").await;
    assert_eq!(record.failures, 0);
    assert!(record.last_rotation_error.is_none());
    let creds = f.static_creds("gone").await;
    assert!(creds.get("last_rotation_error").is_none(), "{creds}");
    let second = creds["password"].as_str().unwrap();
    assert_ne!(second, first);
    f.login(&user, second).await.unwrap();
    assert!(f.login(&user, "again").await.is_err());
}

#[tokio::test]
async fn a_rotation_interrupted_before_or_after_alter_role_is_sound() {
    let f = Fixture::new().await;
    f.configure().await;
    let user = f.user("crash").await;
    f.static_role("crash", &user, "1h").await;
    let first = f.static_password("crash").await;

    // Stopped with its pending password stored: reads give the current one,
    // which still works.
    let (reached, go_on) = f.db.pause_at("static:pending-stored");
    let rotate = f.call(Operation::Update, "rotate-role/crash", json!({}));
    let meanwhile = async {
        reached.await.unwrap();
        assert!(f.stored("crash").await.pending_password.is_some());
        assert_eq!(f.static_password("crash").await, first);
        f.login(&user, &first).await.unwrap();
        go_on.send(()).unwrap();
    };
    let (rotated, ()) = tokio::join!(rotate, meanwhile);
    rotated.unwrap();
    let second = f.static_password("crash").await;
    assert_ne!(second, first);
    f.login(&user, &second).await.unwrap();

    // A crash after ALTER ROLE, before the commit: the database has the
    // pending password, the record both.
    f.admin
        .batch_execute(&format!("ALTER ROLE \"{user}\" PASSWORD 'lost'"))
        .await
        .unwrap();
    let mut record = f.stored("crash").await;
    record.pending_password = Some(StoredSecret::new("lost".into()));
    f.view()
        .batch(vec![static_role::put("crash", &record).unwrap()])
        .await
        .unwrap();
    assert_eq!(
        f.static_password("crash").await,
        second,
        "a pending password is not handed out"
    );
    // A restarted engine retries at once, though the period has not passed.
    let restarted = Database::new();
    rotate_due(&restarted, &f.view(), crate::clock::now_unix_millis())
        .await
        .unwrap();
    let record = f.stored("crash").await;
    assert!(record.pending_password.is_none());
    let third = f.static_password("crash").await;
    assert!(third != second && third != "lost");
    f.login(&user, &third).await.unwrap();
    assert!(f.login(&user, "lost").await.is_err());
}

async fn create(f: &Fixture, name: &str, user: &str) -> Result<Response, EngineError> {
    f.call(
        Operation::Create,
        &format!("static-roles/{name}"),
        json!({"db_name": "pg", "username": user, "rotation_period": "1h"}),
    )
    .await
}

#[tokio::test]
async fn static_roles_refuse_the_root_user_others_users_and_disallowed_names() {
    let f = Fixture::new().await;
    f.configure().await;
    let (root, _) = f.superuser();
    let err = create(&f, "root", &root).await.unwrap_err();
    assert!(
        matches!(err, EngineError::InvalidRequest(ref m) if m.contains("rotate-root")),
        "{err:?}"
    );
    // A user that does not exist: nothing is stored.
    let ghost = format!("{}ghost", f.prefix());
    let err = create(&f, "ghost", &ghost).await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    for path in [
        "static-roles/root",
        "static-roles/ghost",
        "static-creds/nope",
    ] {
        let err = f.call(Operation::Read, path, json!({})).await.unwrap_err();
        assert!(matches!(err, EngineError::NotFound(_)), "{path}: {err:?}");
    }
    let err = f
        .call(Operation::Update, "rotate-role/nope", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::NotFound(_)), "{err:?}");
    let listed = f.ok(Operation::List, "static-roles/", json!({})).await;
    assert_eq!(listed["keys"], json!([]));

    // One user, one static role; and never a dynamic credential.
    let user = f.user("one").await;
    f.static_role("one", &user, "1h").await;
    let err = create(&f, "two", &user).await.unwrap_err();
    assert!(matches!(err, EngineError::Conflict(_)), "{err:?}");
    f.role("ro", json!({})).await;
    let (dynamic, _, _) = f.creds("ro").await;
    let err = create(&f, "dyn", &dynamic).await.unwrap_err();
    assert!(err.to_string().contains("dynamic credential"), "{err}");

    // The config must allow the role's name, as for dynamic roles.
    let password = f.static_password("one").await;
    f.ok(
        Operation::Update,
        "config/pg",
        json!({"allowed_roles": "ro"}),
    )
    .await;
    let other = f.user("other").await;
    let err = create(&f, "other", &other).await.unwrap_err();
    assert!(err.to_string().contains("allowed"), "{err}");
    f.login(&other, "initial").await.unwrap();
    let err = f
        .call(Operation::Read, "static-creds/one", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("allowed"), "{err}");
    let err = f
        .call(Operation::Update, "rotate-role/one", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("allowed"), "{err}");
    f.login(&user, &password).await.unwrap();
}

#[tokio::test]
async fn reconcile_never_touches_a_static_roles_user() {
    let f = Fixture::new().await;
    f.configure().await;
    // The test's prefix is the config's reconcile prefix: a candidate.
    let user = f.user("kept").await;
    f.static_role("kept", &user, "1h").await;
    let report = f
        .ok(
            Operation::Update,
            "reconcile/pg",
            json!({"include_unmarked": true}),
        )
        .await;
    assert_eq!(report["revoked"], json!([]), "{report}");
    assert_eq!(report["unmarked"], json!([]), "{report}");
    assert!(f.role_exists(&user).await);
    let password = f.static_password("kept").await;
    f.login(&user, &password).await.unwrap();
}
