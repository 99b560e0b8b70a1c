//! Unseal and first requests of a vault holding 200,000 stored leases, on
//! SQLite, with the expiration loop running: nothing is loaded at unseal (the
//! schedule is read from an index ordered by due time), so the time should not
//! grow with the number of leases.
//!
//! Each sample opens the database file afresh, unseals, starts the expiration
//! loop, and serves two requests: a token lookup and a lease lookup.
//! `LEASES` overrides the count (e.g. `LEASES=1000` for a quick run).

// Benches abort on setup failure: there is nothing to measure otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tokio::runtime::Runtime;
use vault_core::Vault;
use vault_core::clock;
use vault_core::expiration::{Lease, LeaseParams};
use vault_core::request::{Operation, Request};

/// Leases written per batch in the setup.
const BATCH: usize = 2_000;

fn lease_count() -> usize {
    std::env::var("LEASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

/// Initialises a vault in `db` holding `count` leases due over the next day;
/// returns the unseal key, the root token and one lease id.
fn populate(rt: &Runtime, db: &Path, count: usize) -> (String, String, String) {
    rt.block_on(async {
        let vault = Vault::open_sqlite(db).unwrap();
        let init = vault.init(1, 1).await.unwrap();
        let key = init.shares[0].to_hex().expose_secret().to_owned();
        vault.unseal(&key).await.unwrap();
        let now = clock::now_unix_millis();
        let mut one = String::new();
        let mut made = 0;
        while made < count {
            let n = BATCH.min(count - made);
            let leases: Vec<Lease> = (0..n)
                .map(|i| {
                    let params = LeaseParams {
                        mount_path: "database/".into(),
                        path: "database/creds/bench".into(),
                        // Spread over the day, none due during the bench.
                        ttl: 3_600_000 + ((made + i) as u64 * 400) % 82_800_000,
                        max_ttl: 86_400_000,
                        renewable: true,
                        token_hash: String::new(),
                        internal: json!({"username": format!("v-bench-{}", made + i)}),
                    };
                    Lease::new(params, now).unwrap()
                })
                .collect();
            if one.is_empty() {
                one = leases[0].id.clone();
            }
            vault
                .expiration()
                .register_all(vault.barrier(), leases)
                .await
                .unwrap();
            made += n;
        }
        let root = init.root_token.expose_secret().to_owned();
        vault.close().await.unwrap();
        (key, root, one)
    })
}

fn unseal_with_leases(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("leases.db");
    let count = lease_count();
    let started = Instant::now();
    let (key, root, lease_id) = populate(&rt, &db, count);
    eprintln!("stored {count} leases in {:?}", started.elapsed());

    let mut group = c.benchmark_group("lease_unseal");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function(format!("open_unseal_first_requests/{count}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let start = Instant::now();
                    let vault = Arc::new(Vault::open_sqlite(&db).unwrap());
                    vault.unseal(&key).await.unwrap();
                    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                    let expiring = {
                        let vault = Arc::clone(&vault);
                        tokio::spawn(async move {
                            vault
                                .run_expiration(async {
                                    let _ = stopped.await;
                                })
                                .await;
                        })
                    };
                    vault
                        .handle(
                            Request::new(Operation::Read, "auth/token/lookup-self")
                                .with_token(&root),
                        )
                        .await
                        .unwrap();
                    let body = json!({"lease_id": lease_id}).as_object().cloned().unwrap();
                    vault
                        .handle(
                            Request::new(Operation::Update, "sys/leases/lookup")
                                .with_token(&root)
                                .with_data(body),
                        )
                        .await
                        .unwrap();
                    let took = start.elapsed();
                    let _ = stop.send(());
                    expiring.await.unwrap();
                    vault.close().await.unwrap();
                    took
                });
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, unseal_with_leases);
criterion_main!(benches);
