//! What the barrier's encryption costs: a bare AES-256-GCM envelope seal+open of a
//! 1 KiB value, and the same value written and read back through an unsealed
//! vault's `Barrier` over the in-memory backend (so storage time is out of the
//! picture and what remains is envelope, keyring and path checks).
//!
//! Run with `cargo bench -p vault-core --bench barrier`.

// A bench has no caller to report to: if its setup fails it aborts loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use aes_gcm::{Aes256Gcm, KeyInit};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vault_core::Vault;
use vault_core::barrier::envelope::{open, seal};
use vault_core::storage::MemoryBackend;

const VALUE_LEN: usize = 1024;

fn envelope_round_trip(c: &mut Criterion) {
    // A fixed key is fine here: only the speed of the cipher is measured.
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    let value = vec![0xA5u8; VALUE_LEN];
    let path = "bench/value";

    let mut group = c.benchmark_group("barrier");
    group.throughput(Throughput::Bytes(VALUE_LEN as u64));
    group.bench_function("encrypt_decrypt_1KiB", |b| {
        b.iter(|| {
            let blob = seal(&cipher, 1, black_box(path), black_box(&value)).expect("seal");
            let plain = open(&cipher, path, &blob).expect("open");
            black_box(plain.len())
        });
    });
    group.finish();
}

fn vault_put_get(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let vault = rt.block_on(async {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let init = vault.init(1, 1).await.expect("init");
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .expect("unseal");
        vault
    });
    let value = vec![0x5Au8; VALUE_LEN];
    let path = "bench/value";

    let mut group = c.benchmark_group("barrier");
    group.throughput(Throughput::Bytes(VALUE_LEN as u64));
    // block_on per iteration rather than `to_async`: criterion's async_tokio
    // feature is not enabled, and the runtime's entry cost is tiny next to the
    // two AEAD passes.
    group.bench_function("vault_put_get_1KiB_memory", |b| {
        b.iter(|| {
            rt.block_on(async {
                vault
                    .barrier()
                    .put(black_box(path), black_box(&value))
                    .await
                    .expect("put");
                let got = vault.barrier().get(path).await.expect("get");
                black_box(got.map(|v| v.len()))
            })
        });
    });
    group.finish();
}

criterion_group!(benches, envelope_round_trip, vault_put_get);
criterion_main!(benches);
