//! One KV v2 read through the whole pipeline, unaudited and audited by a file
//! device (fsync before the request proceeds: two durable writes per request).

// Benches abort on setup failure: there is nothing to measure otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use vault_core::audit::DeviceConfig;
use vault_core::request::{Data, Operation, Request};
use vault_core::storage::MemoryBackend;
use vault_core::{Vault, VaultOptions};

fn data(v: Value) -> Data {
    v.as_object().cloned().unwrap()
}

fn setup(rt: &Runtime, audit_file: Option<&std::path::Path>) -> (Vault, String) {
    rt.block_on(async {
        // Declared, as vaultd's [[audit]] does: the API does not enable devices
        // unless the embedder allows it.
        let audit_devices = audit_file
            .map(|path| {
                vec![DeviceConfig {
                    name: "file".into(),
                    kind: "file".into(),
                    options: [("file_path".to_owned(), path.to_str().unwrap().to_owned())].into(),
                }]
            })
            .unwrap_or_default();
        let vault = Vault::with_options(
            Arc::new(MemoryBackend::new()),
            VaultOptions {
                audit_devices,
                ..VaultOptions::default()
            },
        );
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        let root = init.root_token.expose_secret().to_owned();
        let call = |path: &str, body: Value| {
            vault.handle(
                Request::new(Operation::Update, path)
                    .with_token(&root)
                    .with_data(data(body)),
            )
        };
        call("sys/mounts/secret", json!({"type": "kv-v2"}))
            .await
            .unwrap();
        call(
            "secret/data/app",
            json!({"data": {"password": "x".repeat(200)}}),
        )
        .await
        .unwrap();
        (vault, root)
    })
}

fn kv_read(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let mut group = c.benchmark_group("kv_read");
    group.sample_size(30);
    for (name, audit) in [
        ("unaudited", None),
        ("audited_file_fsync", Some(log.as_path())),
    ] {
        let (vault, root) = setup(&rt, audit);
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    vault
                        .handle(Request::new(Operation::Read, "secret/data/app").with_token(&root))
                        .await
                        .unwrap()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, kv_read);
criterion_main!(benches);
