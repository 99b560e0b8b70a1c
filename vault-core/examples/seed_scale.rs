//! Writes a vault the size of a company's, for `bench/vaultd/scale.sh`, which
//! measures how reads, lookups, memory, start-up, list and revoke-prefix grow
//! with the number of stored items (issue 24).
//!
//! `cargo run --release -p vault-core --example seed_scale -- DB OUTDIR`
//! initialises the SQLite vault `DB` (5 shares, threshold 3), mounts KV v2 at
//! `secret/` and fills it through the library's own request pipeline
//! (`Vault::handle`, as a caller would):
//!
//! - `SCALE_KV_PATHS` paths (default 100,000) in ten folders `f0`..`f9`, each
//!   written `SCALE_KV_VERSIONS` times (default 10, the mount's `max_versions`);
//! - `SCALE_TOKENS` service tokens (default 300,000) made by `auth/token/create`;
//! - `SCALE_LEASES` lease records (default 300,000) under three prefixes
//!   `secret/leased/p0..p2/`. They are leases on the KV mount, whose engine
//!   has nothing external to revoke: revoke-prefix measures the vault's own
//!   cost, not a database's.
//!
//! Into `OUTDIR` (mode 0600 files) go `fixture.json` (shares, root token, the
//! folder to list and the lease prefix to revoke), `kv_paths.txt` and
//! `tokens.txt`, one per line, for the random-key wrk scripts: bench fixtures,
//! never a way to keep real shares or tokens.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use vault_core::Vault;
use vault_core::clock;
use vault_core::expiration::{Lease, LeaseParams};
use vault_core::request::{Data, Operation, Request};

/// Requests in flight while filling: enough to fill SQLite's write groups.
const IN_FLIGHT: usize = 128;
/// Lease records written per batch.
const LEASE_BATCH: usize = 2_000;
/// Folders the KV paths are spread over.
const FOLDERS: usize = 10;
/// Lease prefixes the leases are spread over.
const LEASE_PREFIXES: usize = 3;

type Error = Box<dyn std::error::Error + Send + Sync>;

fn count(name: &str, default: usize) -> Result<usize, Error> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{name} must be a number, not {v:?}").into()),
        Err(_) => Ok(default),
    }
}

fn data(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        _ => Data::new(),
    }
}

fn kv_path(n: usize) -> String {
    format!("f{}/k{n:06}", n % FOLDERS)
}

/// Runs `job(i)` for every `i` in `0..total`, `IN_FLIGHT` at a time.
async fn run_all<F, Fut>(total: usize, job: F) -> Result<(), Error>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), Error>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let next = Arc::clone(&next);
        let job = Arc::clone(&job);
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), Error>(());
                }
                job(i).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done??;
    }
    Ok(())
}

fn private_file(path: &Path) -> Result<std::fs::File, Error> {
    Ok(std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, out] = args.as_slice() else {
        return Err("usage: seed_scale DB OUTDIR".into());
    };
    let out = Path::new(out);
    let paths = count("SCALE_KV_PATHS", 100_000)?;
    let versions = count("SCALE_KV_VERSIONS", 10)?;
    let tokens = count("SCALE_TOKENS", 300_000)?;
    let leases = count("SCALE_LEASES", 300_000)?;

    let vault = Arc::new(Vault::open_sqlite(db)?);
    let init = vault.init(5, 3).await?;
    for share in init.shares.iter().take(3) {
        vault.unseal(share.to_hex().expose_secret()).await?;
    }
    let root: Arc<str> = Arc::from(init.root_token.expose_secret());
    vault
        .handle(
            Request::new(Operation::Update, "sys/mounts/secret")
                .with_token(&root)
                .with_data(data(json!({"type": "kv", "options": {"version": "2"}}))),
        )
        .await?;

    let started = Instant::now();
    {
        let (vault, root) = (Arc::clone(&vault), Arc::clone(&root));
        // Round by round, so a path's versions are written in order.
        run_all(paths * versions, move |i| {
            let (vault, root) = (Arc::clone(&vault), Arc::clone(&root));
            async move {
                let (n, round) = (i % paths, i / paths);
                let body =
                    json!({"data": {"value": format!("value-{n}-{round}"), "owner": "team-a"}});
                vault
                    .handle(
                        Request::new(Operation::Update, format!("secret/data/{}", kv_path(n)))
                            .with_token(&root)
                            .with_data(data(body)),
                    )
                    .await?;
                Ok(())
            }
        })
        .await?;
    }
    println!(
        "wrote {} versions ({paths} paths) in {:.1} s",
        paths * versions,
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let made = Arc::new(std::sync::Mutex::new(Vec::with_capacity(tokens)));
    {
        let (vault, root, made) = (Arc::clone(&vault), Arc::clone(&root), Arc::clone(&made));
        run_all(tokens, move |_| {
            let (vault, root, made) = (Arc::clone(&vault), Arc::clone(&root), Arc::clone(&made));
            async move {
                let answer = vault
                    .handle(
                        Request::new(Operation::Update, "auth/token/create")
                            .with_token(&root)
                            .with_data(data(json!({"policies": ["default"], "ttl": "768h"}))),
                    )
                    .await?;
                let token = answer
                    .auth
                    .ok_or("token create answered no auth")?
                    .client_token;
                made.lock().map_err(|_| "token list poisoned")?.push(token);
                Ok(())
            }
        })
        .await?;
    }
    println!(
        "created {tokens} tokens in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let now = clock::now_unix_millis();
    let mut stored = 0;
    while stored < leases {
        let n = LEASE_BATCH.min(leases - stored);
        let batch = (stored..stored + n)
            .map(|i| {
                let params = LeaseParams {
                    mount_path: "secret/".into(),
                    path: format!("secret/leased/p{}", i % LEASE_PREFIXES),
                    // Spread over the day from an hour on: none falls due during a run.
                    ttl: 3_600_000 + (i as u64 * 400) % 82_800_000,
                    max_ttl: 86_400_000,
                    renewable: true,
                    token_hash: String::new(),
                    internal: json!({}),
                };
                Lease::new(params, now)
            })
            .collect::<Result<Vec<_>, _>>()?;
        vault
            .expiration()
            .register_all(vault.barrier(), batch)
            .await?;
        stored += n;
    }
    println!(
        "stored {leases} leases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    vault.close().await?;

    let mut file = private_file(&out.join("kv_paths.txt"))?;
    for n in 0..paths {
        writeln!(file, "{}", kv_path(n))?;
    }
    let mut file = private_file(&out.join("tokens.txt"))?;
    for token in made.lock().map_err(|_| "token list poisoned")?.iter() {
        writeln!(file, "{token}")?;
    }
    let fixture = json!({
        "keys": init.shares.iter().map(|s| s.to_hex().expose_secret().to_owned()).collect::<Vec<_>>(),
        "root_token": &*root,
        "kv_mount": "secret",
        "list_folder": "f0",
        "list_folder_count": paths.div_ceil(FOLDERS),
        "lease_prefix": "secret/leased/p0/",
        "lease_prefix_count": leases.div_ceil(LEASE_PREFIXES),
    });
    writeln!(private_file(&out.join("fixture.json"))?, "{fixture}")?;
    Ok(())
}
