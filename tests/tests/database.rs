//! Dynamic PostgreSQL credentials through the real daemon and CLI against a real
//! PostgreSQL: roles made on demand, renewed, revoked on time, by prefix and
//! with their token; kept revoking through an outage and a SIGKILL; never left
//! behind by disconnecting clients, crashes or injection attempts.
//!
//! Tests on the shared cluster tell their roles apart by a unique role name in
//! every username; tests that stop PostgreSQL or reconcile by prefix get a
//! private cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vault_tests::{
    Daemon, PgCluster, eventually, init, logical, logical_request, pg_connect, pg_url_parts,
    unseal, write_config,
};

/// A vault with the database engine at `database/` and a connection `pg` to
/// the cluster at `url` as its superuser.
struct Fixture {
    daemon: Daemon,
    root: String,
    key: String,
    dir: tempfile::TempDir,
    admin: tokio_postgres::Client,
    url: String,
}

/// A name no other test uses, for roles, tables and usernames.
fn unique(tag: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{tag}{}x{n}", std::process::id())
}

impl Fixture {
    async fn start(url: &str, extra_config: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), extra_config);
        let daemon = Daemon::start_with(&config, dir.path());
        let keys = init(&daemon, 1, 1);
        unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
        let root = keys.root_token.clone();
        daemon
            .cli(Some(&root), &["secrets", "enable", "database"])
            .expect_code(0);
        let (user, password, host) = pg_url_parts(url);
        daemon
            .cli(
                Some(&root),
                &[
                    "write",
                    "database/config/pg",
                    "plugin_name=postgresql-database-plugin",
                    &format!(
                        "connection_url=postgres://{{{{username}}}}:{{{{password}}}}@{host}/postgres"
                    ),
                    &format!("username={user}"),
                    &format!("password={password}"),
                    "allowed_roles=*",
                ],
            )
            .expect_code(0);
        let admin = pg_connect(url).await;
        Fixture {
            daemon,
            root,
            key: keys.keys_hex[0].clone(),
            dir,
            admin,
            url: url.to_owned(),
        }
    }

    /// A role whose creation statements make a login that may read `table`.
    fn role(&self, name: &str, table: &str, ttls: &[&str]) {
        let creation = format!(
            "CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}'; \
             GRANT SELECT ON {table} TO \"{{{{name}}}}\";"
        );
        // The whole role name in every username (the default template cuts it
        // to 8 characters), so a test can find its roles by it.
        let mut args = vec![
            "write".to_owned(),
            format!("database/roles/{name}"),
            "db_name=pg".into(),
            format!("creation_statements={creation}"),
            "username_template=v-{{.RoleName}}-{{random 12}}".into(),
        ];
        args.extend(ttls.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.daemon.cli(Some(&self.root), &args).expect_code(0);
    }

    /// A fresh table with one row, for roles to be granted.
    async fn table(&self) -> String {
        let table = unique("t");
        self.admin
            .batch_execute(&format!(
                "CREATE TABLE {table} (v int); INSERT INTO {table} VALUES (42);"
            ))
            .await
            .unwrap();
        table
    }

    /// `read database/creds/<role>` through the CLI: (lease_id, username, password).
    fn creds(&self, role: &str) -> (String, String, String) {
        self.creds_as(&self.root, role)
    }

    fn creds_as(&self, token: &str, role: &str) -> (String, String, String) {
        let out = self.daemon.cli(
            Some(token),
            &[
                "read",
                &format!("database/creds/{role}"),
                "--format",
                "json",
            ],
        );
        out.expect_code(0);
        let json = out.json();
        (
            json["lease_id"].as_str().unwrap().to_owned(),
            json["data"]["username"].as_str().unwrap().to_owned(),
            json["data"]["password"].as_str().unwrap().to_owned(),
        )
    }

    /// `count` creds for `role` over gRPC, `parallel` at a time: lease ids.
    async fn creds_bulk(&self, role: &str, count: usize, parallel: usize) -> Vec<String> {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(parallel));
        let mut tasks = Vec::new();
        for _ in 0..count {
            let permit = Arc::clone(&semaphore).acquire_owned().await.unwrap();
            let mut client = logical(&self.daemon).await;
            let request = logical_request(&self.root, &format!("database/creds/{role}"), json!({}));
            tasks.push(tokio::spawn(async move {
                let response = client.read(request).await.unwrap().into_inner();
                drop(permit);
                response.lease_id
            }));
        }
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        ids
    }

    /// Roles in PostgreSQL whose name contains `needle`.
    async fn roles_containing(&self, needle: &str) -> Vec<String> {
        let pattern = format!("%{needle}%");
        self.admin
            .query(
                "SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1",
                &[&pattern],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn role_exists(&self, name: &str) -> bool {
        !self
            .admin
            .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
            .await
            .unwrap()
            .is_empty()
    }

    /// Lease ids under `database/creds/<role>/`.
    fn leases(&self, role: &str) -> Vec<String> {
        let out = self.daemon.cli(
            Some(&self.root),
            &[
                "lease",
                "list",
                &format!("database/creds/{role}/"),
                "--format",
                "json",
            ],
        );
        // None is Vault's "No value found", exit 2.
        if out.code == 2 && out.stderr.starts_with("No value found") {
            return Vec::new();
        }
        out.expect_code(0);
        serde_json::from_value(out.json()).unwrap()
    }

    /// `lease revoke --prefix database/creds/<role>`.
    fn revoke_all(&self, role: &str) {
        self.daemon
            .cli(
                Some(&self.root),
                &[
                    "lease",
                    "revoke",
                    "--prefix",
                    &format!("database/creds/{role}"),
                ],
            )
            .expect_code(0);
    }

    fn lookup(&self, lease_id: &str) -> Value {
        let out = self.daemon.cli(
            Some(&self.root),
            &["lease", "lookup", lease_id, "--format", "json"],
        );
        out.expect_code(0);
        out.json()["data"].clone()
    }

    /// Logs in to PostgreSQL as a generated user.
    async fn login(&self, user: &str, password: &str) -> Result<tokio_postgres::Client, String> {
        let (_, _, host) = pg_url_parts(&self.url);
        let mut config = tokio_postgres::Config::new();
        let (h, p) = host.split_once(':').unwrap();
        config
            .host(h)
            .port(p.parse().unwrap())
            .user(user)
            .password(password)
            .dbname("postgres");
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                Ok(client)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// SIGKILLs the daemon and starts it again on the same database, unsealed.
    fn kill_and_restart(&mut self) {
        self.kill();
        self.restart();
    }

    fn kill(&self) {
        let pid = self.daemon.pid().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Starts a new daemon on the same config and database, and unseals it.
    fn restart(&mut self) {
        let config = self.daemon.config.clone();
        let old = std::mem::replace(
            &mut self.daemon,
            Daemon::start_with(&config, self.dir.path()),
        );
        drop(old);
        unseal(&self.daemon, &self.key).expect_code(0);
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn shared_url() -> String {
    vault_tests::postgres_url()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creds_give_a_login_that_can_select_what_the_role_grants() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("ro");
    f.role(&role, &table, &["default_ttl=1h", "max_ttl=24h"]);
    let (lease_id, user, password) = f.creds(&role);
    assert!(
        lease_id.starts_with(&format!("database/creds/{role}/")),
        "{lease_id}"
    );
    assert!(user.contains(&role), "{user}");

    let client = f.login(&user, &password).await.unwrap();
    let v: i32 = client
        .query_one(&format!("SELECT v FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 42);
    // Only what the role grants: another table stays closed.
    let other = f.table().await;
    let denied = client
        .query_one(&format!("SELECT v FROM {other}"), &[])
        .await
        .unwrap_err();
    let denied = denied.as_db_error().map(|e| e.message().to_owned());
    assert!(
        denied
            .as_deref()
            .is_some_and(|m| m.contains("permission denied")),
        "{denied:?}"
    );

    let lease = f.lookup(&lease_id);
    assert_eq!(lease["state"], "active");
    assert!(lease["ttl"].as_u64().unwrap() > 3500, "{lease}");
    // The password is nowhere in the vault's log.
    assert!(!f.daemon.log_text().contains(&password));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_of_three_seconds_drops_its_role_on_time() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("short");
    f.role(&role, &table, &["default_ttl=3s", "max_ttl=1h"]);
    let issued = Instant::now();
    let (lease_id, user, password) = f.creds(&role);
    assert!(f.role_exists(&user).await);
    assert_eq!(f.lookup(&lease_id)["renewable"], true);

    // Gone within 2 s after the 3 s expiry.
    let gone = eventually(Duration::from_secs(10), || async {
        !f.role_exists(&user).await
    })
    .await
    .expect("the role outlived its lease");
    let after_issue = issued.elapsed();
    assert!(
        after_issue <= Duration::from_secs(5) + Duration::from_millis(500),
        "dropped {after_issue:?} after issue (waited {gone:?})"
    );
    assert!(f.login(&user, &password).await.is_err());
    // And the lease is gone with it.
    assert!(f.leases(&role).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_credential_exists_from_the_start_and_is_revoked_on_time_unopened() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("wrapped");
    f.role(&role, &table, &["default_ttl=4s", "max_ttl=1h"]);
    let issued = Instant::now();
    let out = f.daemon.cli(
        Some(&f.root),
        &[
            "read",
            &format!("database/creds/{role}"),
            "--wrap-ttl",
            "1h",
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    let wrapped = out.json();
    assert!(wrapped["data"].is_null(), "{wrapped}");
    assert_eq!(wrapped["lease_id"], "");
    assert_eq!(
        wrapped["wrap_info"]["creation_path"],
        format!("database/creds/{role}")
    );
    // The credential exists already, under a lease of the token that asked.
    let leases = f.leases(&role);
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(f.roles_containing(&role).await.len(), 1);

    // Nobody unwraps it: its lease still ends it on time, though the
    // wrapping token lives for an hour.
    let gone = eventually(Duration::from_secs(15), || async {
        f.roles_containing(&role).await.is_empty()
    })
    .await;
    assert!(gone.is_some(), "the wrapped credential outlived its lease");
    assert!(
        issued.elapsed() <= Duration::from_secs(10),
        "dropped {:?} after issue",
        issued.elapsed()
    );
    assert!(f.leases(&role).is_empty());
    // Unwrapped late, it hands over the same (now dead) credential, once.
    let token = wrapped["wrap_info"]["token"].as_str().unwrap();
    // As the application that receives it: no token of its own.
    let home = f.dir.path().to_str().unwrap();
    let unwrapped = vault_tests::cli_with_env(
        &f.daemon.addr,
        None,
        &["unwrap", token, "--format", "json"],
        None,
        &[("HOME", home)],
    );
    unwrapped.expect_code(0);
    let inside = unwrapped.json();
    assert!(
        inside["lease_id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("database/creds/{role}/")),
        "{inside}"
    );
    assert!(
        f.login(
            inside["data"]["username"].as_str().unwrap(),
            inside["data"]["password"].as_str().unwrap()
        )
        .await
        .is_err()
    );
}

/// A role's `VALID UNTIL`, in Unix seconds.
async fn valid_until(admin: &tokio_postgres::Client, user: &str) -> f64 {
    admin
        .query_one(
            "SELECT extract(epoch FROM rolvaliduntil)::float8 FROM pg_roles WHERE rolname = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0)
}

/// Unix seconds now.
fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Vault's `{{expiration}}`: the role's `VALID UNTIL` is the lease's expiry
/// when it is made, and each renewal moves it to the new expiry (forwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roles_valid_until_is_the_leases_expiry_at_issue_and_after_each_renewal() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("expiry");
    f.role(&role, &table, &["default_ttl=1h", "max_ttl=24h"]);
    let (lease_id, user, _) = f.creds(&role);
    let expiry = |lease: &Value| now_secs() + lease["ttl"].as_f64().unwrap();
    let issued = expiry(&f.lookup(&lease_id));
    let at_issue = valid_until(&f.admin, &user).await;
    assert!(
        (at_issue - issued).abs() < 5.0,
        "VALID UNTIL {at_issue} is not the lease's expiry {issued} (a 1h lease of a role with a 24h max)"
    );
    let out = f.daemon.cli(
        Some(&f.root),
        &["lease", "renew", &lease_id, "--increment", "2h"],
    );
    out.expect_code(0);
    // A duration reads as everywhere else in vault-cli (and in Vault): 2h.
    assert!(
        out.stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["lease_duration", "2h"])),
        "{}",
        out.stdout
    );
    let renewed = expiry(&f.lookup(&lease_id));
    let after = valid_until(&f.admin, &user).await;
    assert!(
        (after - renewed).abs() < 5.0 && after > at_issue + 3000.0,
        "VALID UNTIL {after} is not the renewed expiry {renewed} (it was {at_issue})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewing_a_lease_moves_the_roles_valid_until() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("renew");
    f.role(&role, &table, &["default_ttl=1m", "max_ttl=2h"]);
    let (lease_id, user, _) = f.creds(&role);
    let before = valid_until(&f.admin, &user).await;
    let out = f.daemon.cli(
        Some(&f.root),
        &[
            "lease",
            "renew",
            &lease_id,
            "--increment",
            "1h",
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    let renewed = out.json();
    assert_eq!(renewed["lease_id"], lease_id.as_str());
    assert!(
        renewed["lease_duration"].as_u64().unwrap() > 3500,
        "{renewed}"
    );
    let after = valid_until(&f.admin, &user).await;
    // From now + 1m to now + 1h: it moved to the lease's new expiry.
    let now = now_secs();
    assert!(
        (after - (now + 3600.0)).abs() < 120.0,
        "rolvaliduntil {after} is not the new expiry (now {now}, before {before})"
    );
    assert!(
        (after - before).abs() > 1.0,
        "rolvaliduntil did not move: {before} -> {after}"
    );

    // Past the max TTL the renewal is capped, with a warning.
    let out = f.daemon.cli(
        Some(&f.root),
        &[
            "lease",
            "renew",
            &lease_id,
            "--increment",
            "10h",
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    assert!(
        out.stderr.contains("capped") || out.stdout.contains("capped"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_prefix_drops_two_hundred_roles() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("bulk");
    f.role(&role, &table, &["default_ttl=1h"]);
    let ids = f.creds_bulk(&role, 200, 16).await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 200);
    assert_eq!(f.roles_containing(&role).await.len(), 200);

    let out = f.daemon.cli(
        Some(&f.root),
        &[
            "lease",
            "revoke",
            "--prefix",
            &format!("database/creds/{role}"),
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    assert_eq!(out.json()["data"]["revoked"], 200, "{}", out.stdout);
    assert!(f.roles_containing(&role).await.is_empty());
    assert!(f.leases(&role).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_make_a_hundred_roles_and_leases() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("many");
    f.role(&role, &table, &["default_ttl=1h"]);
    let ids = f.creds_bulk(&role, 100, 100).await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 100);
    let roles = f.roles_containing(&role).await;
    assert_eq!(roles.iter().collect::<HashSet<_>>().len(), 100);
    assert_eq!(f.leases(&role).len(), 100);
}

/// `count` creds requests for `role`, all at once: how many were served, and
/// the refusals' messages (panics on any other failure).
async fn creds_at_once(f: &Fixture, role: &str, count: usize) -> (usize, Vec<String>) {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let mut client = logical(&f.daemon).await;
        let request = logical_request(&f.root, &format!("database/creds/{role}"), json!({}));
        tasks.push(tokio::spawn(async move { client.read(request).await }));
    }
    let (mut served, mut refused) = (0, Vec::new());
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => served += 1,
            Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                refused.push(s.message().to_owned())
            }
            Err(s) => panic!("unexpected failure: {s:?}"),
        }
    }
    (served, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_quota_of_ten_refuses_the_eleventh_creds_request() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let (capped, free) = (unique("quota"), unique("free"));
    f.role(&capped, &table, &["default_ttl=1h"]);
    f.role(&free, &table, &["default_ttl=1h"]);
    let quota = |name: &str, path: &str, max: u32| {
        f.daemon
            .cli(
                Some(&f.root),
                &[
                    "write",
                    &format!("sys/quotas/lease-count/{name}"),
                    &format!("path={path}"),
                    &format!("max_leases={max}"),
                ],
            )
            .expect_code(0);
    };
    quota("one-role", &format!("database/creds/{capped}"), 10);

    // 25 requests at once: exactly 10 are served, the rest refused before a
    // role is made, with the quota named.
    let (served, refused) = creds_at_once(&f, &capped, 25).await;
    assert_eq!(served, 10, "{refused:?}");
    assert_eq!(refused.len(), 15);
    assert!(
        refused
            .iter()
            .all(|m| m.contains("lease quota \"one-role\" reached")),
        "{refused:?}"
    );
    assert_eq!(f.roles_containing(&capped).await.len(), 10);
    assert_eq!(f.leases(&capped).len(), 10);
    // The quota is per role: the other role is not held back.
    f.creds(&free);

    // Revoking one lease frees one slot, and only one.
    let leases = f.leases(&capped);
    f.daemon
        .cli(
            Some(&f.root),
            &[
                "lease",
                "revoke",
                &format!("database/creds/{capped}/{}", leases[0]),
            ],
        )
        .expect_code(0);
    let (served, refused) = creds_at_once(&f, &capped, 3).await;
    assert_eq!((served, refused.len()), (1, 2));

    // A quota on the whole mount counts every role's leases (11 so far).
    quota("whole-mount", "database", 13);
    let (served, refused) = creds_at_once(&f, &free, 5).await;
    assert_eq!((served, refused.len()), (2, 3));
    assert!(
        refused.iter().all(|m| m.contains("\"whole-mount\"")),
        "{refused:?}"
    );
    let read = f.daemon.cli(
        Some(&f.root),
        &[
            "read",
            "sys/quotas/lease-count/whole-mount",
            "--format",
            "json",
        ],
    );
    read.expect_code(0);
    let data = &read.json()["data"];
    assert_eq!(
        (data["max_leases"].as_u64(), data["leases"].as_u64()),
        (Some(13), Some(13))
    );

    // A quota must name a mount that exists.
    let bad = f.daemon.cli(
        Some(&f.root),
        &[
            "write",
            "sys/quotas/lease-count/typo",
            "path=databse",
            "max_leases=1",
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("not in any mount"), "{}", bad.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_revokes_the_ten_leases_it_made() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("tok");
    f.role(&role, &table, &["default_ttl=1h"]);
    let policy = format!(
        "path \"database/creds/{role}\" {{ capabilities = [\"read\"] }}\n\
         path \"sys/leases/revoke\" {{ capabilities = [\"update\"] }}\n"
    );
    let policy_file = f.path().join("creds.hcl");
    std::fs::write(&policy_file, policy).unwrap();
    f.daemon
        .cli(
            Some(&f.root),
            &["policy", "write", "creds", policy_file.to_str().unwrap()],
        )
        .expect_code(0);
    let out = f.daemon.cli(
        Some(&f.root),
        &["token", "create", "--policy", "creds", "--field", "token"],
    );
    out.expect_code(0);
    let app = out.stdout.trim().to_owned();
    let users: Vec<String> = (0..10).map(|_| f.creds_as(&app, &role).1).collect();
    // The app's own token may not look at the root token's leases, but may at its own.
    assert_eq!(f.roles_containing(&role).await.len(), 10);
    // A lease from another token is invisible to the app.
    let (other, _, _) = f.creds(&role);
    let denied = f.daemon.cli(Some(&app), &["lease", "lookup", &other]);
    assert_ne!(denied.code, 0);
    assert_ne!(
        f.daemon.cli(Some(&app), &["lease", "renew", &other]).code,
        0
    );
    // Revoking a lease that is not its own looks like revoking one already
    // gone, and does nothing.
    f.daemon
        .cli(Some(&app), &["lease", "revoke", &other])
        .expect_code(0);
    assert_eq!(f.lookup(&other)["state"], "active");
    // Without sudo: no prefix or forced revocation, no listing of all leases.
    let prefix = format!("database/creds/{role}");
    for args in [
        vec!["lease", "revoke", "--prefix", prefix.as_str()],
        vec!["lease", "revoke", "--force", prefix.as_str()],
        vec!["lease", "list", "database/creds/"],
        vec!["lease", "list", "--failing"],
    ] {
        let out = f.daemon.cli(Some(&app), &args);
        assert_ne!(out.code, 0, "{args:?} allowed without sudo: {}", out.stdout);
    }
    assert_eq!(f.roles_containing(&role).await.len(), 11);

    f.daemon
        .cli(Some(&f.root), &["token", "revoke", &app])
        .expect_code(0);
    for user in &users {
        assert!(!f.role_exists(user).await, "{user} outlived its token");
    }
    // The root token's lease is untouched.
    assert_eq!(f.roles_containing(&role).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_leave_no_role_without_a_lease_or_lease_without_a_role() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("hang");
    f.role(&role, &table, &["default_ttl=1h"]);
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let mut client = logical(&f.daemon).await;
        let request = logical_request(&f.root, &format!("database/creds/{role}"), json!({}));
        tasks.push(tokio::spawn(async move {
            // Hang up after 0..10 ms: some before the request is read, some
            // while the role is being made, some after.
            let wait = Duration::from_micros((i * 7919) % 10_000);
            tokio::time::timeout(wait, client.read(request))
                .await
                .is_ok()
        }));
    }
    let mut answered = 0;
    for task in tasks {
        answered += usize::from(task.await.unwrap());
    }
    // Requests the daemon started finish on their own; wait until it is quiet.
    let settled = eventually(Duration::from_secs(30), || async {
        let a = f.roles_containing(&role).await.len();
        tokio::time::sleep(Duration::from_millis(500)).await;
        a == f.roles_containing(&role).await.len()
    })
    .await;
    assert!(settled.is_some());
    let roles = f.roles_containing(&role).await.len();
    let leases = f.leases(&role).len();
    assert!(answered < 100, "no client hung up: nothing was tested");
    assert!(
        roles > answered,
        "no request finished after its client hung up ({answered} answered, {roles} roles): \
         nothing was tested"
    );
    eprintln!("{answered} answered, {roles} roles made");
    assert_eq!(
        roles, leases,
        "roles and leases differ ({answered} answered)"
    );
    // And each role has a lease: revoking every lease leaves no role.
    f.revoke_all(&role);
    assert!(f.roles_containing(&role).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_across_expiry_is_retried_until_the_role_is_dropped() {
    let cluster = PgCluster::start();
    // Backoff 100 ms doubling to a 1 s cap: ten intervals take about 7.5 s.
    let f = Fixture::start(
        &cluster.url,
        "[expiration]\nrevoke_backoff_base = \"100ms\"\nrevoke_backoff_cap = \"1s\"\n",
    )
    .await;
    let table = f.table().await;
    let role = unique("outage");
    f.role(&role, &table, &["default_ttl=2s"]);
    let (lease_id, user, _) = f.creds(&role);
    let lasting = unique("lasting");
    f.role(&lasting, &table, &["default_ttl=1h"]);
    let (asked_lease, asked_user, _) = f.creds(&lasting);
    cluster.stop_server();

    // Revoked by hand while PostgreSQL is down: the answer says it is queued
    // and retried, not that it failed.
    let asked = f
        .daemon
        .cli(Some(&f.root), &["lease", "revoke", &asked_lease]);
    assert_ne!(asked.code, 0, "{asked:?}");
    assert!(
        asked.stderr.contains("queued") && asked.stderr.contains("retried by itself"),
        "{}",
        asked.stderr
    );

    // Past expiry, revocation fails and is retried, visibly.
    let attempts = |lease: &Value| lease["attempts"].as_u64().unwrap_or(0);
    let mut lease = Value::Null;
    let retried = eventually(Duration::from_secs(40), || {
        lease = f.lookup(&lease_id);
        let done = attempts(&lease) >= 11;
        async move { done }
    })
    .await;
    assert!(retried.is_some(), "not retried ten times: {lease}");
    assert_eq!(lease["state"], "revoking");
    assert!(!lease["last_error"].as_str().unwrap().is_empty());
    let failing = f.daemon.cli(
        Some(&f.root),
        &["lease", "list", "--failing", "--format", "json"],
    );
    failing.expect_code(0);
    assert!(failing.stdout.contains(&lease_id), "{}", failing.stdout);
    let count = f
        .daemon
        .cli(Some(&f.root), &["lease", "count", "--format", "json"]);
    // The expired lease and the one revoked by hand.
    assert_eq!(count.json()["data"]["revoking"], 2, "{}", count.stdout);
    let status = f.daemon.cli(Some(&f.root), &["status", "--format", "json"]);
    status.expect_code(0);
    assert_eq!(status.json()["leases_revoking"], 2, "{}", status.stdout);

    cluster.start_server();
    let back = Instant::now();
    let admin = pg_connect(&cluster.url).await;
    let gone = eventually(Duration::from_secs(20), || {
        let admin = &admin;
        let user = user.clone();
        async move {
            admin
                .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&user])
                .await
                .map(|r| r.is_empty())
                .unwrap_or(false)
        }
    })
    .await;
    let took = back.elapsed();
    assert!(gone.is_some(), "the role was never dropped");
    let asked_gone = eventually(Duration::from_secs(20), || async {
        admin
            .query("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&asked_user])
            .await
            .map(|r| r.is_empty())
            .unwrap_or(false)
    })
    .await;
    assert!(
        asked_gone.is_some(),
        "the queued revocation never dropped its role"
    );
    // Within two backoff caps (2 s) of PostgreSQL being back, plus the 100 ms
    // poll of this test.
    assert!(
        took <= Duration::from_millis(2_300),
        "dropped {took:?} after PostgreSQL came back"
    );
    let lookup = f.daemon.cli(Some(&f.root), &["lease", "lookup", &lease_id]);
    assert_ne!(lookup.code, 0, "the lease outlived its revocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_leases_survive_a_sigkill_and_are_revoked_on_time() {
    let mut f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("kill");
    f.role(&role, &table, &["default_ttl=20s"]);
    // And a few that expire while the daemon is down: due the moment it is
    // back, before its mount table is loaded.
    let brief = unique("brief");
    f.role(&brief, &table, &["default_ttl=1s"]);
    let started = Instant::now();
    let ids = f.creds_bulk(&role, 500, 16).await;
    let issued_by = started.elapsed();
    assert_eq!(ids.len(), 500);
    assert_eq!(f.roles_containing(&role).await.len(), 500);
    f.creds_bulk(&brief, 5, 5).await;
    assert_eq!(f.roles_containing(&brief).await.len(), 5);
    f.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    f.restart();
    let gone = eventually(Duration::from_secs(3), || async {
        f.roles_containing(&brief).await.is_empty()
    })
    .await;
    assert!(
        gone.is_some(),
        "leases that expired while down were not revoked"
    );
    let count = f
        .daemon
        .cli(Some(&f.root), &["lease", "count", "--format", "json"]);
    assert_eq!(count.json()["data"]["irrevocable"], 0, "{}", count.stdout);
    assert!(
        started.elapsed() < Duration::from_secs(19),
        "too slow to test expiry after restart: {:?}",
        started.elapsed()
    );
    // Nothing is revoked early...
    assert_eq!(f.roles_containing(&role).await.len(), 500);
    // ...and all are gone within 2 s after the last expiry.
    let deadline = issued_by + Duration::from_secs(22);
    let left = deadline.saturating_sub(started.elapsed()) + Duration::from_secs(1);
    let gone = eventually(left, || async {
        f.roles_containing(&role).await.is_empty()
    })
    .await;
    assert!(
        gone.is_some(),
        "{} roles left {:?} after issue",
        f.roles_containing(&role).await.len(),
        started.elapsed()
    );
    assert!(f.leases(&role).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_drops_roles_without_a_lease_and_keeps_the_rest() {
    // A private cluster: reconcile looks at every role with the engine's prefix.
    let cluster = PgCluster::start();
    let mut f = Fixture::start(&cluster.url, "").await;
    let table = f.table().await;
    let role = unique("rec");
    f.role(&role, &table, &["default_ttl=1h"]);
    let (_, live, _) = f.creds(&role);
    f.admin
        .batch_execute(
            "CREATE ROLE \"v-sneaky\" LOGIN PASSWORD 'x'; \
             CREATE ROLE \"v-admin\" SUPERUSER LOGIN PASSWORD 'x';",
        )
        .await
        .unwrap();

    let dry = f.daemon.cli(
        Some(&f.root),
        &[
            "write",
            "database/reconcile/pg",
            "dry_run=true",
            "--format",
            "json",
        ],
    );
    dry.expect_code(0);
    let dry = dry.json()["data"].clone();
    // The live credential is kept; the role made behind the vault's back has
    // the prefix but not the mount's marker: listed apart, never dropped unless
    // asked (another Vault's credentials may share the prefix).
    assert_eq!(dry["orphans"], json!([]), "{dry}");
    assert_eq!(dry["unmarked"], json!(["v-sneaky"]), "{dry}");
    assert!(f.role_exists("v-sneaky").await, "a dry run dropped a role");
    let plain = f.daemon.cli(
        Some(&f.root),
        &["write", "database/reconcile/pg", "--format", "json"],
    );
    plain.expect_code(0);
    let plain = plain.json()["data"].clone();
    assert_eq!(plain["unmarked"], json!(["v-sneaky"]), "{plain}");
    assert!(
        f.role_exists("v-sneaky").await,
        "an unmarked role was dropped unasked"
    );

    // A daemon killed in the middle of making roles: whatever it made, after
    // restart and reconcile every role has a lease and every lease a role.
    let bulk = {
        let root = f.root.clone();
        let daemon_addr = f.daemon.addr.clone();
        let role = role.clone();
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..100 {
                let root = root.clone();
                let addr = daemon_addr.clone();
                let role = role.clone();
                tasks.push(tokio::spawn(async move {
                    let Ok(mut client) =
                        vault_proto::v1::logical_client::LogicalClient::connect(addr).await
                    else {
                        return;
                    };
                    let request =
                        logical_request(&root, &format!("database/creds/{role}"), json!({}));
                    let _ = client.read(request).await;
                }));
            }
            for t in tasks {
                let _ = t.await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    f.kill_and_restart();
    let _ = bulk.await;

    let out = f.daemon.cli(
        Some(&f.root),
        &[
            "write",
            "database/reconcile/pg",
            "include_unmarked=true",
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    let report = out.json()["data"].clone();
    assert!(
        report["revoked"]
            .as_array()
            .unwrap()
            .contains(&json!("v-sneaky")),
        "{report}"
    );
    assert!(!f.role_exists("v-sneaky").await);
    assert!(f.role_exists("v-admin").await, "a superuser was touched");
    assert!(
        f.role_exists(&live).await,
        "a role with a live lease was dropped"
    );
    // Every role left has a lease (revoking them all leaves none) and every
    // lease a role (the counts match).
    let roles = f.roles_containing(&role).await.len();
    assert_eq!(roles, f.leases(&role).len(), "{report}");
    f.revoke_all(&role);
    assert!(f.roles_containing(&role).await.is_empty(), "{report}");
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_and_semicolons_in_names_cannot_inject_sql() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("inj");
    // A template that makes a username full of SQL.
    let template = format!(
        "username_template=v-{{{{.RoleName}}}}-\"; DROP TABLE {table}; --'{{{{random 6}}}}"
    );
    f.role(&role, &table, &["default_ttl=1h", &template]);
    let (lease_id, user, password) = f.creds(&role);
    assert!(user.contains("\"; DROP TABLE"), "{user}");
    // The role exists under exactly that name, and the table is intact.
    assert!(f.role_exists(&user).await);
    let client = f.login(&user, &password).await.unwrap();
    let v: i32 = client
        .query_one(&format!("SELECT v FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 42);
    drop(client);
    f.daemon
        .cli(Some(&f.root), &["lease", "revoke", &lease_id])
        .expect_code(0);
    assert!(!f.role_exists(&user).await);
    assert!(
        f.admin
            .query(&format!("SELECT v FROM {table}"), &[])
            .await
            .is_ok()
    );

    // A role name with quotes is refused, with the reason.
    let bad = f.daemon.cli(
        Some(&f.root),
        &[
            "write",
            "database/roles/x\";DROP",
            "db_name=pg",
            "creation_statements=SELECT 1",
        ],
    );
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.to_lowercase().contains("role name"),
        "{}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_capped_by_the_mount_and_by_the_token_that_made_it() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("cap");
    f.role(&role, &table, &["default_ttl=1h", "max_ttl=24h"]);
    f.daemon
        .cli(
            Some(&f.root),
            &["write", "sys/mounts/database/tune", "max_lease_ttl=2m"],
        )
        .expect_code(0);
    let out = f.daemon.cli(
        Some(&f.root),
        &[
            "read",
            &format!("database/creds/{role}"),
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    assert_eq!(out.json()["lease_duration"], 120, "{}", out.stdout);

    // A token with 30 s left makes leases of at most 30 s, renewed no further.
    let out = f.daemon.cli(
        Some(&f.root),
        &["token", "create", "--ttl", "30s", "--field", "token"],
    );
    out.expect_code(0);
    let short = out.stdout.trim().to_owned();
    let out = f.daemon.cli(
        Some(&short),
        &[
            "read",
            &format!("database/creds/{role}"),
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    let json = out.json();
    let duration = json["lease_duration"].as_u64().unwrap();
    assert!((25..=30).contains(&duration), "{json}");
    assert!(out.stderr.contains("capped"), "{}", out.stderr);
    let lease_id = json["lease_id"].as_str().unwrap();
    let renewed = f.daemon.cli(
        Some(&f.root),
        &[
            "lease",
            "renew",
            lease_id,
            "--increment",
            "1h",
            "--format",
            "json",
        ],
    );
    renewed.expect_code(0);
    assert!(
        renewed.json()["lease_duration"].as_u64().unwrap() <= 30,
        "{}",
        renewed.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_the_mount_revokes_its_credentials_first() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("dis");
    f.role(&role, &table, &["default_ttl=1h"]);
    let users: Vec<String> = (0..3).map(|_| f.creds(&role).1).collect();
    f.daemon
        .cli(Some(&f.root), &["secrets", "disable", "database"])
        .expect_code(0);
    for user in &users {
        assert!(!f.role_exists(user).await, "{user} outlived its mount");
    }
    let count = f
        .daemon
        .cli(Some(&f.root), &["lease", "count", "--format", "json"]);
    assert_eq!(count.json()["data"]["total"], 0, "{}", count.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_role_takes_over_a_users_password_and_rotates_it_by_itself() {
    let f = Fixture::start(&shared_url(), "").await;
    let user = unique("static");
    f.admin
        .batch_execute(&format!("CREATE ROLE \"{user}\" LOGIN PASSWORD 'initial'"))
        .await
        .unwrap();
    let name = unique("st");
    f.daemon
        .cli(
            Some(&f.root),
            &[
                "write",
                &format!("database/static-roles/{name}"),
                "db_name=pg",
                &format!("username={user}"),
                "rotation_period=5s",
            ],
        )
        .expect_code(0);
    let read = || {
        let out = f.daemon.cli(
            Some(&f.root),
            &[
                "read",
                &format!("database/static-creds/{name}"),
                "--format",
                "json",
            ],
        );
        out.expect_code(0);
        out.json()
    };
    let creds = read();
    assert_eq!(creds["data"]["username"], user.as_str(), "{creds}");
    assert_eq!(creds["data"]["rotation_period"], 5, "{creds}");
    assert!(
        creds["lease_id"].as_str().unwrap_or("").is_empty(),
        "static credentials are not leased: {creds}"
    );
    let first = creds["data"]["password"].as_str().unwrap().to_owned();
    f.login(&user, &first).await.unwrap();
    assert!(
        f.login(&user, "initial").await.is_err(),
        "the password was not taken over"
    );

    // The vault rotates it by itself once the period has passed.
    let mut latest = first.clone();
    let changed = eventually(Duration::from_secs(15), || {
        latest = read()["data"]["password"].as_str().unwrap().to_owned();
        let changed = latest != first;
        async move { changed }
    })
    .await;
    assert!(changed.is_some(), "not rotated within 15 s");
    f.login(&user, &latest).await.unwrap();
    assert!(f.login(&user, &first).await.is_err());
    let log = f.daemon.log_text();
    assert!(!log.contains(&first) && !log.contains(&latest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_watch_renews_until_the_max_ttl_then_sees_the_lease_expire() {
    let f = Fixture::start(&shared_url(), "").await;
    let table = f.table().await;
    let role = unique("watch");
    f.role(&role, &table, &["default_ttl=2s", "max_ttl=6s"]);
    let (lease_id, user, _) = f.creds(&role);
    // Bounded by the lease itself: it ends 6 s after issue at the latest.
    let out = f.daemon.cli(
        Some(&f.root),
        &["lease", "watch", &lease_id, "--format", "json"],
    );
    out.expect_code(0);
    let events: Vec<String> = out
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(events.iter().any(|e| e == "renewed"), "{events:?}");
    assert!(events.iter().any(|e| e == "capped"), "{events:?}");
    assert_eq!(
        events.last().map(String::as_str),
        Some("expired"),
        "{events:?}"
    );
    // The vault dropped the role once the lease ended.
    let gone = eventually(Duration::from_secs(5), || async {
        !f.role_exists(&user).await
    })
    .await;
    assert!(gone.is_some(), "the role outlived its watched lease");
}
