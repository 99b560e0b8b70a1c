//! The database engine against a real PostgreSQL (`VAULT_TEST_PG_URL`, a
//! superuser URL; `./scripts/test` starts one): configs, credentials,
//! revocation, renewal and SQL injection, and the fixture the other test files
//! share. Each test works in a database of its own and names its roles with a
//! tag of its own (the display name, and so the `v-<tag>-` prefix), so tests
//! run in parallel on one cluster.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

use super::Database;
use super::issued;
use crate::Vault;
use crate::engines::{EngineError, EngineRequest, LeaseQuery, LogicalBackend, View};
use crate::expiration::{Lease, LeaseParams, RevokeError};
use crate::request::{Data, Operation, Response};
use crate::storage::MemoryBackend;

const MOUNT_PREFIX: &str = "logical/database-test/";
pub(super) const CREATE: &str = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' \
                      VALID UNTIL '{{expiration}}';";

fn test_pg_url() -> String {
    std::env::var("VAULT_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "VAULT_TEST_PG_URL is not set: run ./scripts/test, or eval \"$(./scripts/pg-start)\" \
             and export VAULT_TEST_PG_URL (a PostgreSQL superuser URL)"
        )
    })
}

pub(super) fn body(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Which leases "exist": the ones a test registered.
#[derive(Debug, Default)]
pub(super) struct Leases(pub(super) Mutex<HashSet<String>>);

#[async_trait]
impl LeaseQuery for Leases {
    async fn lease_exists(&self, id: &str) -> Result<bool, EngineError> {
        Ok(self.0.lock().unwrap().contains(id))
    }
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

pub(super) struct Fixture {
    pub(super) vault: Vault,
    pub(super) db: Database,
    pub(super) leases: Leases,
    /// A superuser session in this test's database.
    pub(super) admin: Client,
    /// The superuser's settings for this test's database.
    pub(super) pg: tokio_postgres::Config,
    /// This test's database.
    pub(super) dbname: String,
    /// The test's tag: display name and role-name prefix.
    pub(super) tag: String,
}

impl Fixture {
    pub(super) async fn new() -> Fixture {
        let base = tokio_postgres::Config::from_str(&test_pg_url()).unwrap();
        let tag = crate::random::alphanumeric(8).unwrap().to_lowercase();
        let dbname = format!("vt_{tag}");
        let root = connect(&base).await.unwrap();
        root.batch_execute(&format!("CREATE DATABASE \"{dbname}\""))
            .await
            .unwrap();
        let mut pg = base.clone();
        pg.dbname(&dbname);
        let admin = connect(&pg).await.unwrap();
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        Fixture {
            vault,
            db: Database::new(),
            leases: Leases::default(),
            admin,
            pg,
            dbname,
            tag,
        }
    }

    pub(super) fn view(&self) -> View<'_> {
        View::new(self.vault.barrier(), MOUNT_PREFIX)
    }

    pub(super) fn prefix(&self) -> String {
        format!("v-{}-", self.tag)
    }

    pub(super) fn superuser(&self) -> (String, String) {
        let user = self.pg.get_user().unwrap().to_owned();
        let password = String::from_utf8(self.pg.get_password().unwrap().to_vec()).unwrap();
        (user, password)
    }

    pub(super) fn url(&self) -> String {
        let tokio_postgres::config::Host::Tcp(host) = &self.pg.get_hosts()[0] else {
            panic!("the test cluster must be on TCP");
        };
        let port = self.pg.get_ports()[0];
        format!(
            "postgres://{{{{username}}}}:{{{{password}}}}@{host}:{port}/{}",
            self.dbname
        )
    }

    pub(super) async fn call_on(
        &self,
        db: &Database,
        operation: Operation,
        path: &str,
        data: Value,
        display_name: &str,
    ) -> Result<Response, EngineError> {
        let data = body(data);
        let caller = crate::request::Caller {
            token: Some(crate::token::TokenEntry {
                display_name: display_name.into(),
                ..Default::default()
            }),
            ..crate::request::Caller::default()
        };
        let request = EngineRequest {
            operation,
            path,
            data: &data,
            remote_addr: None,
            mount_path: "database/",
            caller: &caller,
            client_token: None,
            leases: &self.leases,
            lease_bounds: crate::engines::LeaseBounds::SYSTEM,
        };
        db.handle(&self.view(), request).await
    }

    pub(super) async fn call(
        &self,
        operation: Operation,
        path: &str,
        data: Value,
    ) -> Result<Response, EngineError> {
        self.call_on(&self.db, operation, path, data, &self.tag)
            .await
    }

    pub(super) async fn ok(&self, operation: Operation, path: &str, data: Value) -> Value {
        let response = self
            .call(operation, path, data)
            .await
            .unwrap_or_else(|e| panic!("{operation} {path}: {e}"));
        Value::Object(response.data.unwrap_or_default())
    }

    /// A config `pg` as the superuser, allowing every role, with this test's
    /// prefix for reconcile.
    pub(super) async fn configure(&self) {
        let (user, password) = self.superuser();
        self.ok(
            Operation::Create,
            "config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": self.url(),
                "username": user,
                "password": password,
                "allowed_roles": "*",
                "reconcile_prefix": self.prefix(),
            }),
        )
        .await;
    }

    pub(super) async fn role(&self, name: &str, extra: Value) {
        let mut data = body(json!({"db_name": "pg", "creation_statements": [CREATE]}));
        data.extend(body(extra));
        self.ok(
            Operation::Create,
            &format!("roles/{name}"),
            Value::Object(data),
        )
        .await;
    }

    /// Credentials for `role` (the lease is not registered).
    pub(super) async fn creds(&self, role: &str) -> (String, String, Lease) {
        let response = self
            .call(Operation::Read, &format!("creds/{role}"), json!({}))
            .await
            .unwrap_or_else(|e| panic!("creds/{role}: {e}"));
        lease_of(response)
    }

    pub(super) fn register(&self, lease: &Lease) {
        self.leases.0.lock().unwrap().insert(lease.id.clone());
    }

    pub(super) async fn role_exists(&self, name: &str) -> bool {
        self.admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
            .await
            .unwrap()
            .is_some()
    }

    pub(super) async fn login(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        let mut config = self.pg.clone();
        config.user(user).password(password);
        connect(&config).await
    }
}

/// The username, password and lease a creds response carries.
pub(super) fn lease_of(response: Response) -> (String, String, Lease) {
    let data = response.data.unwrap();
    let grant = response.secret.unwrap();
    let mut lease = Lease::new(
        LeaseParams {
            mount_path: "database/".into(),
            path: "database/creds/x".into(),
            ttl: 3_600_000,
            max_ttl: 7_200_000,
            renewable: grant.renewable,
            token_hash: String::new(),
            internal: grant.internal,
        },
        crate::clock::now_unix_millis(),
    )
    .unwrap();
    lease.id = grant.lease_id;
    (
        data["username"].as_str().unwrap().to_owned(),
        data["password"].as_str().unwrap().to_owned(),
        lease,
    )
}

#[tokio::test]
async fn a_bad_password_fails_verification_clearly_and_without_the_password() {
    let f = Fixture::new().await;
    let (user, _) = f.superuser();
    let wrong = format!("wrong-{}", f.tag);
    let err = f
        .call(
            Operation::Create,
            "config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": f.url(),
                "username": user,
                "password": wrong,
            }),
        )
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, EngineError::Upstream(_)), "{err:?}");
    assert!(message.contains("\"pg\""), "{message}");
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(message.contains("28P01"), "{message}");
    assert!(!message.contains(&wrong), "{message}");
    assert!(
        f.call(Operation::Read, "config/pg", json!({}))
            .await
            .is_err(),
        "a config that failed verification is not stored"
    );
    // Without verification it is stored, and using it fails the same way.
    f.ok(
        Operation::Create,
        "config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin", "connection_url": f.url(),
            "username": user, "password": wrong, "verify_connection": false,
            "allowed_roles": "ro",
        }),
    )
    .await;
    f.role("ro", json!({})).await;
    let err = f
        .call(Operation::Read, "creds/ro", json!({}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("password authentication failed") && !err.contains(&wrong),
        "{err}"
    );
    assert!(issued::list(&f.view()).await.unwrap().is_empty());
}

#[tokio::test]
async fn config_reads_show_vaults_shape_and_never_the_password() {
    let f = Fixture::new().await;
    f.configure().await;
    let (_, password) = f.superuser();
    let read = f.ok(Operation::Read, "config/pg", json!({})).await;
    let text = read.to_string();
    assert!(!text.contains(&password), "{text}");
    assert_eq!(read["plugin_name"], "postgresql-database-plugin");
    assert_eq!(read["connection_details"]["connection_url"], f.url());
    assert_eq!(read["connection_details"]["max_open_connections"], 4);
    assert_eq!(read["allowed_roles"], json!(["*"]));
    assert_eq!(read["verify_connection"], true);
    // An update without a password keeps it: the engine still connects.
    f.ok(
        Operation::Update,
        "config/pg",
        json!({"max_open_connections": 2}),
    )
    .await;
    let listed = f.ok(Operation::List, "config/", json!({})).await;
    assert_eq!(listed["keys"], json!(["pg"]));
    assert!(!format!("{:?}", f.db).contains(&password));
    f.ok(Operation::Delete, "config/pg", json!({})).await;
    assert!(
        f.call(Operation::Read, "config/pg", json!({}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn scram_verifiers_made_by_the_vault_log_in_and_keep_the_password_from_the_server() {
    let f = Fixture::new().await;
    f.configure().await;
    f.ok(
        Operation::Update,
        "config/pg",
        json!({"password_authentication": "scram-sha-256"}),
    )
    .await;
    let shown = f
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(shown["password_authentication"], "scram-sha-256");
    f.role("v", json!({"default_ttl": "1h"})).await;
    let response = f.call(Operation::Read, "creds/v", json!({})).await.unwrap();
    let (username, password, _) = lease_of(response);
    // PostgreSQL stored the verifier as sent: the password never reached it.
    let stored: String = f
        .admin
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains(&password));
    let user = f.login(&username, &password).await.unwrap();
    let one: i32 = user.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    assert!(f.login(&username, "A1a-wrong").await.is_err());

    let bad = f
        .call(
            Operation::Update,
            "config/pg",
            json!({"password_authentication": "md5"}),
        )
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("password_authentication"), "{bad}");

    // Fewer rounds, when the operator says so: PostgreSQL keeps them, and
    // the login works.
    f.ok(
        Operation::Update,
        "config/pg",
        json!({"scram_iterations": 16}),
    )
    .await;
    let shown = f
        .call(Operation::Read, "config/pg", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(shown["scram_iterations"], 16);
    let response = f.call(Operation::Read, "creds/v", json!({})).await.unwrap();
    let (username, password, _) = lease_of(response);
    let stored: String = f
        .admin
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$16:"), "{stored}");
    f.login(&username, &password).await.unwrap();
    for (body, says) in [
        (json!({"scram_iterations": 0}), "between 1 and"),
        (json!({"scram_iterations": 2_000_000}), "between 1 and"),
        (
            json!({"password_authentication": "password"}),
            "applies only",
        ),
    ] {
        let bad = f
            .call(Operation::Update, "config/pg", body.clone())
            .await
            .unwrap_err();
        assert!(bad.to_string().contains(says), "{body}: {bad}");
    }
}

#[tokio::test]
async fn creds_log_in_and_read_what_the_role_grants() {
    let f = Fixture::new().await;
    f.admin
        .batch_execute("CREATE TABLE t (v int); INSERT INTO t VALUES (42);")
        .await
        .unwrap();
    f.configure().await;
    f.role(
        "ro",
        json!({
            "creation_statements": [CREATE, "GRANT SELECT ON t TO \"{{name}}\";"],
            "default_ttl": "1h", "max_ttl": "24h",
        }),
    )
    .await;
    let response = f
        .call(Operation::Read, "creds/ro", json!({}))
        .await
        .unwrap();
    let grant = response.secret.clone().unwrap();
    assert!(
        grant.lease_id.starts_with("database/creds/ro/"),
        "{}",
        grant.lease_id
    );
    assert_eq!(
        (grant.ttl, grant.max_ttl, grant.renewable),
        (3_600_000, 86_400_000, true)
    );
    assert!(!grant.internal.to_string().contains("A1a-"));
    let (username, password, _) = lease_of(response);
    assert!(username.starts_with(&f.prefix()), "{username}");
    assert!(username.len() <= 63);
    assert!(password.starts_with("A1a-") && password.len() == 24);

    let user = f.login(&username, &password).await.unwrap();
    let v: i32 = user.query_one("SELECT v FROM t", &[]).await.unwrap().get(0);
    assert_eq!(v, 42);
    assert!(
        user.batch_execute("INSERT INTO t VALUES (1)")
            .await
            .is_err()
    );

    let row = f
        .admin
        .query_one(
            "SELECT shobj_description(oid, 'pg_authid'), rolvaliduntil IS NOT NULL \
             FROM pg_roles WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap();
    let comment: String = row.get(0);
    assert!(comment.starts_with("vault-lease:"), "{comment}");
    assert!(!comment.contains(&grant.lease_id));
    assert!(row.get::<_, bool>(1));
    let record = issued::load(&f.view(), &username).await.unwrap().unwrap();
    assert_eq!(record.lease_id, grant.lease_id);
    assert_eq!(
        (record.role.as_str(), record.db_name.as_str()),
        ("ro", "pg")
    );

    // Roles a config does not allow get nothing.
    f.ok(
        Operation::Update,
        "config/pg",
        json!({"allowed_roles": "other"}),
    )
    .await;
    let err = f
        .call(Operation::Read, "creds/ro", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("allowed"), "{err}");
}

#[tokio::test]
async fn a_creation_is_all_or_nothing_whatever_its_statements_end_with() {
    let f = Fixture::new().await;
    f.configure().await;
    // A statement ending in a line comment, one without a semicolon: the
    // role is made, and marked in the same transaction.
    f.role(
        "commented",
        json!({
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' -- made by the vault",
                "COMMENT ON ROLE \"{{name}}\" IS 'overwritten by the marker'"
            ],
            "default_ttl": "1h",
        }),
    )
    .await;
    let response = f
        .call(Operation::Read, "creds/commented", json!({}))
        .await
        .unwrap();
    let (username, password, _) = lease_of(response);
    f.login(&username, &password).await.unwrap();
    let comment: String = f
        .admin
        .query_one(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap()
        .get(0);
    assert!(comment.starts_with("vault-lease:"), "{comment}");

    // A later statement fails: neither the role nor the record is left.
    f.role(
        "broken",
        json!({
            "creation_statements": [CREATE, "GRANT SELECT ON no_such_table TO \"{{name}}\";"],
            "default_ttl": "1h",
        }),
    )
    .await;
    let err = f
        .call(Operation::Read, "creds/broken", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no_such_table"), "{err}");
    let left: i64 = f
        .admin
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1",
            &[&format!("{}%", f.prefix())],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1, "only the first role exists");
    let records = issued::list(&f.view()).await.unwrap();
    assert_eq!(records.len(), 1);
}

#[tokio::test]
async fn revoke_drops_the_role_and_is_idempotent() {
    let f = Fixture::new().await;
    f.admin
        .batch_execute("CREATE TABLE t (v int);")
        .await
        .unwrap();
    f.configure().await;
    f.role(
        "rw",
        json!({"creation_statements": [
            CREATE,
            "GRANT ALL ON t TO \"{{name}}\"; GRANT CREATE ON SCHEMA public TO \"{{name}}\";",
        ]}),
    )
    .await;
    let (username, password, lease) = f.creds("rw").await;
    // The role owns a table and is logged in: revocation still goes through.
    let user = f.login(&username, &password).await.unwrap();
    user.batch_execute("CREATE TABLE mine (x int);")
        .await
        .unwrap();
    f.db.revoke(&f.view(), &lease).await.unwrap();
    assert!(!f.role_exists(&username).await);
    assert!(f.login(&username, &password).await.is_err());
    assert!(issued::load(&f.view(), &username).await.unwrap().is_none());
    let owner: String = f
        .admin
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'mine'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        owner,
        f.superuser().0,
        "what it made is kept, handed to the admin"
    );
    f.db.revoke(&f.view(), &lease).await.unwrap();

    // With custom statements, and with the role deleted since (the default).
    f.role(
        "custom",
        json!({"revocation_statements": "DROP ROLE \"{{name}}\";"}),
    )
    .await;
    let (custom_user, _, custom_lease) = f.creds("custom").await;
    f.db.revoke(&f.view(), &custom_lease).await.unwrap();
    assert!(!f.role_exists(&custom_user).await);
    f.db.revoke(&f.view(), &custom_lease).await.unwrap();
    let (orphan_user, _, orphan_lease) = f.creds("rw").await;
    f.ok(Operation::Delete, "roles/rw", json!({})).await;
    f.db.revoke(&f.view(), &orphan_lease).await.unwrap();
    assert!(!f.role_exists(&orphan_user).await);
}

#[tokio::test]
async fn revoke_and_renew_failures_are_retryable_and_secret_free() {
    let f = Fixture::new().await;
    f.configure().await;
    f.role("ro", json!({})).await;
    let (username, password, lease) = f.creds("ro").await;
    f.ok(Operation::Delete, "config/pg", json!({"force": true}))
        .await;
    let err = f.db.revoke(&f.view(), &lease).await.unwrap_err();
    assert!(
        matches!(err, RevokeError::Retryable(ref m) if m.contains("\"pg\"")),
        "{err:?}"
    );
    let err = f.db.renew(&f.view(), &lease).await.unwrap_err();
    assert!(matches!(err, RevokeError::Retryable(_)), "{err:?}");
    assert!(!err.to_string().contains(&password));
    assert!(f.role_exists(&username).await);
    // The config comes back: the retry succeeds.
    f.configure().await;
    f.db.revoke(&f.view(), &lease).await.unwrap();
    assert!(!f.role_exists(&username).await);
}

#[tokio::test]
async fn a_config_with_live_credentials_is_deleted_only_by_force() {
    let f = Fixture::new().await;
    f.configure().await;
    f.role("ro", json!({})).await;
    f.role("rw", json!({})).await;
    f.creds("ro").await;
    let (username, _, lease) = f.creds("rw").await;
    let err = f
        .call(Operation::Delete, "config/pg", json!({}))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, EngineError::Conflict(_)), "{err:?}");
    assert!(
        message.starts_with("database config \"pg\" still has 2 issued credentials;"),
        "{message}"
    );
    assert!(
        message.contains(
            "(lease revoke --prefix database/creds/ro; lease revoke --prefix database/creds/rw)"
        ) && message.ends_with("or pass force=true"),
        "{message}"
    );
    f.ok(Operation::Read, "config/pg", json!({})).await;
    // Revocations work while it stays; forced, it goes anyway.
    f.db.revoke(&f.view(), &lease).await.unwrap();
    assert!(!f.role_exists(&username).await);
    let err = f
        .call(Operation::Delete, "config/pg", json!({"force": false}))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("still has 1 issued credential;"),
        "{err}"
    );
    f.ok(Operation::Delete, "config/pg", json!({"force": "true"}))
        .await;
    assert!(
        f.call(Operation::Read, "config/pg", json!({}))
            .await
            .is_err()
    );
}

async fn valid_until(admin: &Client, username: &str) -> u64 {
    let row = admin
        .query_one(
            "SELECT extract(epoch FROM rolvaliduntil)::float8 FROM pg_roles WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap();
    row.get::<_, f64>(0) as u64
}

#[tokio::test]
async fn renew_moves_valid_until_to_the_new_expiry() {
    let f = Fixture::new().await;
    f.configure().await;
    f.role("ro", json!({"default_ttl": "1h"})).await;
    let (username, _, mut lease) = f.creds("ro").await;
    let first = valid_until(&f.admin, &username).await;
    let now = crate::clock::now_unix();
    assert!(
        first >= now + 3_590 && first <= now + 3_700,
        "{first} vs {now}"
    );
    lease.expire_time = (now + 2 * 86_400) * 1000 + 1;
    f.db.renew(&f.view(), &lease).await.unwrap();
    assert_eq!(valid_until(&f.admin, &username).await, now + 2 * 86_400 + 1);
}

#[tokio::test]
async fn hostile_display_names_cannot_inject_sql() {
    let f = Fixture::new().await;
    f.admin
        .batch_execute("CREATE TABLE t (v int); INSERT INTO t VALUES (1);")
        .await
        .unwrap();
    f.configure().await;
    // Both Vault's quoted form and bare placeholders, and the name as a literal.
    f.role(
        "weird",
        json!({
            "username_template": "{{.DisplayName}}-{{random 4}}",
            "creation_statements": [
                "CREATE ROLE {{name}} WITH LOGIN PASSWORD {{password}} VALID UNTIL {{expiration}};",
                "GRANT SELECT ON t TO \"{{name}}\"; COMMENT ON TABLE t IS '{{username}}';",
            ],
        }),
    )
    .await;
    let hostile = [
        "x\"; DROP TABLE t; --",
        "x'; DROP TABLE t; --",
        "b\\'; DROP TABLE t; --",
        "ü$$; DROP TABLE t; $$",
    ];
    for display in hostile {
        let response = f
            .call_on(&f.db, Operation::Read, "creds/weird", json!({}), display)
            .await
            .unwrap_or_else(|e| panic!("{display}: {e}"));
        let (username, password, lease) = lease_of(response);
        assert!(username.starts_with(display), "{username}");
        assert!(f.role_exists(&username).await, "{username}");
        let comment: String = f
            .admin
            .query_one("SELECT obj_description('t'::regclass, 'pg_class')", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(comment, username);
        let user = f.login(&username, &password).await.unwrap();
        let v: i32 = user.query_one("SELECT v FROM t", &[]).await.unwrap().get(0);
        assert_eq!(v, 1);
        drop(user);
        f.db.revoke(&f.view(), &lease).await.unwrap();
        assert!(!f.role_exists(&username).await);
    }
    let count: i64 = f
        .admin
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1, "table t is intact");
}

#[tokio::test]
async fn paths_and_names_are_checked() {
    let f = Fixture::new().await;
    for path in ["roles/a b", "roles/x\"y", "creds/..", "config/a%2Fb"] {
        let err = f.call(Operation::Read, path, json!({})).await.unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidRequest(_)),
            "{path}: {err:?}"
        );
    }
    assert!(matches!(
        f.call(Operation::Read, "nope/x", json!({})).await,
        Err(EngineError::UnsupportedOperation { .. })
    ));
    let err = f
        .call(Operation::Read, "creds/missing", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown role"), "{err}");
    f.configure().await;
    f.role("ro", json!({})).await;
    let listed = f.ok(Operation::List, "roles/", json!({})).await;
    assert_eq!(listed["keys"], json!(["ro"]));
    let read = f.ok(Operation::Read, "roles/ro", json!({})).await;
    assert_eq!(read["db_name"], "pg");
    assert!(f.db.exists(&f.view(), "roles/ro").await.unwrap());
    assert!(!f.db.exists(&f.view(), "roles/nope").await.unwrap());
}

#[tokio::test]
async fn a_createrole_admin_revokes_what_it_granted() {
    let f = Fixture::new().await;
    let root = format!("{}admin", f.prefix());
    let pw = format!("admin-{}", f.tag);
    f.admin
        .batch_execute(&format!(
            "CREATE ROLE \"{root}\" LOGIN CREATEROLE PASSWORD '{pw}'; \
             CREATE TABLE t (v int); GRANT SELECT ON t TO \"{root}\" WITH GRANT OPTION; \
             CREATE TABLE private (v int);"
        ))
        .await
        .unwrap();
    f.ok(
        Operation::Create,
        "config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin", "connection_url": f.url(),
            "username": root, "password": pw, "allowed_roles": "*",
        }),
    )
    .await;
    f.role(
        "ro",
        json!({"creation_statements": [CREATE, "GRANT SELECT ON t TO \"{{name}}\";"]}),
    )
    .await;
    let (username, password, lease) = f.creds("ro").await;
    let session = f.login(&username, &password).await.unwrap();
    session
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap();
    f.db.revoke(&f.view(), &lease).await.unwrap();
    assert!(!f.role_exists(&username).await);
    f.db.revoke(&f.view(), &lease).await.unwrap();
}
