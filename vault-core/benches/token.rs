//! Token lookup through the whole request pipeline (`auth/token/lookup-self`:
//! path normalisation, routing, token hash and read, ancestry check, ACL
//! compile and check), over the in-memory backend and over SQLite.

// Benches abort on setup failure: there is nothing to measure otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tokio::runtime::Runtime;
use vault_core::Vault;
use vault_core::request::{Operation, Request};
use vault_core::storage::{Backend, MemoryBackend, SqliteBackend};

fn setup(rt: &Runtime, backend: Arc<dyn Backend>) -> (Vault, String) {
    rt.block_on(async {
        let vault = Vault::new(backend);
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        let root = init.root_token.expose_secret().to_owned();
        let body = json!({"policies": ["default"]})
            .as_object()
            .cloned()
            .unwrap();
        let created = vault
            .handle(
                Request::new(Operation::Update, "auth/token/create")
                    .with_token(&root)
                    .with_data(body),
            )
            .await
            .unwrap();
        (vault, created.auth.unwrap().client_token)
    })
}

fn lookup(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("token_lookup_self");
    let backends: [(&str, Arc<dyn Backend>); 2] = [
        ("memory", Arc::new(MemoryBackend::new())),
        (
            "sqlite",
            Arc::new(SqliteBackend::open(dir.path().join("bench.db")).unwrap()),
        ),
    ];
    for (name, backend) in backends {
        let (vault, token) = setup(&rt, backend);
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    vault
                        .handle(
                            Request::new(Operation::Read, "auth/token/lookup-self")
                                .with_token(&token),
                        )
                        .await
                        .unwrap()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
