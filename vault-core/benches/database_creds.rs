//! Dynamic PostgreSQL credentials through the whole pipeline, on SQLite storage,
//! against a real local PostgreSQL (`VAULT_TEST_PG_URL`, a superuser URL as
//! `scripts/pg-start` prints): issue one (`database/creds/bench`: CREATE ROLE
//! in a transaction, lease stored), and issue then revoke one (DROP ROLE,
//! lease deleted), one at a time and 16 at once.

// Benches abort on setup failure: there is nothing to measure otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use vault_core::Vault;
use vault_core::request::{Operation, Request, Response};

const PARALLEL: usize = 16;

fn body(value: Value) -> vault_core::request::Data {
    value.as_object().cloned().unwrap()
}

async fn call(vault: &Vault, token: &str, op: Operation, path: &str, data: Value) -> Response {
    vault
        .handle(
            Request::new(op, path)
                .with_token(token)
                .with_data(body(data)),
        )
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn setup(rt: &Runtime, dir: &std::path::Path) -> (Arc<Vault>, String) {
    let url = std::env::var("VAULT_TEST_PG_URL")
        .expect("set VAULT_TEST_PG_URL (eval \"$(scripts/pg-start)\")");
    let rest = url.strip_prefix("postgres://").expect("a postgres:// URL");
    let (creds, server) = rest.split_once('@').expect("user:password@host");
    let (user, password) = creds.split_once(':').expect("user:password");
    let host = server.split('/').next().expect("host:port");
    rt.block_on(async {
        let vault = Arc::new(Vault::open_sqlite(dir.join("bench.db")).unwrap());
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        let root = init.root_token.expose_secret().to_owned();
        call(
            &vault,
            &root,
            Operation::Update,
            "sys/mounts/database",
            json!({"type": "database"}),
        )
        .await;
        call(
            &vault,
            &root,
            Operation::Update,
            "database/config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@{host}/postgres"),
                "username": user,
                "password": password,
                "allowed_roles": "*",
                "max_open_connections": 8,
            }),
        )
        .await;
        call(
            &vault,
            &root,
            Operation::Update,
            "database/roles/bench",
            json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                "default_ttl": "1h",
            }),
        )
        .await;
        (vault, root)
    })
}

async fn issue(vault: &Vault, root: &str) -> String {
    let r = call(
        vault,
        root,
        Operation::Read,
        "database/creds/bench",
        json!({}),
    )
    .await;
    r.lease.expect("a lease").lease_id
}

async fn revoke(vault: &Vault, root: &str, lease_id: &str) {
    call(
        vault,
        root,
        Operation::Update,
        "sys/leases/revoke",
        json!({ "lease_id": lease_id }),
    )
    .await;
}

/// Runs `iters` operations, `parallel` at a time; returns the elapsed time.
fn run_parallel(
    rt: &Runtime,
    vault: &Arc<Vault>,
    root: &str,
    iters: u64,
    parallel: usize,
    and_revoke: bool,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let per_task = iters.div_ceil(parallel as u64);
        let mut tasks = Vec::new();
        for _ in 0..parallel {
            let vault = Arc::clone(vault);
            let root = root.to_owned();
            tasks.push(tokio::spawn(async move {
                let mut issued = Vec::new();
                for _ in 0..per_task {
                    let id = issue(&vault, &root).await;
                    if and_revoke {
                        revoke(&vault, &root, &id).await;
                    } else {
                        issued.push(id);
                    }
                }
                issued
            }));
        }
        let mut leftover = Vec::new();
        for t in tasks {
            leftover.extend(t.await.unwrap());
        }
        let took = start.elapsed();
        // Clean up outside the measured time, so the database does not grow.
        for id in leftover {
            revoke(vault, root, &id).await;
        }
        took
    })
}

fn creds(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (vault, root) = setup(&rt, dir.path());
    let mut group = c.benchmark_group("database_creds");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (name, parallel, and_revoke) in [
        ("issue/1", 1, false),
        ("issue/16", PARALLEL, false),
        ("issue_revoke/1", 1, true),
        ("issue_revoke/16", PARALLEL, true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| run_parallel(&rt, &vault, &root, iters, parallel, and_revoke))
        });
    }
    group.finish();
    rt.block_on(vault.close()).unwrap();
}

criterion_group!(benches, creds);
criterion_main!(benches);
