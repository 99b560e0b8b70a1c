//! Durable write throughput of the SQLite backend (`synchronous=FULL`, group
//! commit): one writer, whose every put waits for its own fsync, against 32
//! concurrent writers, whose puts the writer thread can fold into shared
//! commits. Throughput is in elements, so criterion prints puts per second.
//!
//! The database lives in a `tempfile` directory on the default temp filesystem;
//! if that is tmpfs the fsyncs are free and the numbers flatter the backend.
//!
//! Run with `cargo bench -p vault-core --bench sqlite_put`.

// A bench has no caller to report to: if its setup fails it aborts loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vault_core::storage::{Backend, SqliteBackend};

const VALUE_LEN: usize = 256;
const WRITERS: [u64; 2] = [1, 32];

fn sqlite_put(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Arc::new(SqliteBackend::open(dir.path().join("bench.db")).expect("open"));
    let value = vec![0x3Cu8; VALUE_LEN];

    let mut group = c.benchmark_group("sqlite_put");
    // Each sample is a handful of fsyncs; a small, fixed budget keeps the whole
    // run to a minute or so even on a slow disk.
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));

    // Fresh keys every iteration, so every put is an insert rather than an
    // overwrite of a hot row, as a growing vault sees.
    let mut next_key: u64 = 0;
    for writers in WRITERS {
        group.throughput(Throughput::Elements(writers));
        group.bench_with_input(
            BenchmarkId::from_parameter(if writers == 1 {
                "1_writer".to_owned()
            } else {
                format!("{writers}_writers")
            }),
            &writers,
            |b, &writers| {
                b.iter(|| {
                    let first = next_key;
                    next_key += writers;
                    rt.block_on(async {
                        let tasks: Vec<_> = (first..first + writers)
                            .map(|k| {
                                let backend = Arc::clone(&backend);
                                let value = value.clone();
                                tokio::spawn(async move {
                                    backend.put(&format!("bench/{k:016}"), value).await
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.expect("join").expect("put");
                        }
                    });
                });
            },
        );
    }
    group.finish();

    rt.block_on(backend.close()).expect("close");
}

criterion_group!(benches, sqlite_put);
criterion_main!(benches);
