//! Writes a vault holding many leases, for `bench/vaultd/lease-unseal.sh`,
//! which measures how soon vaultd answers after unsealing it.
//!
//! `cargo run --release -p vault-core --example seed_leases -- DB COUNT OUT`
//! initialises the SQLite vault `DB` (5 shares, threshold 3), stores `COUNT`
//! database leases due over the next day (none during a bench), and writes
//! the shares, the root token and one lease id to `OUT` (JSON, mode 0600): a
//! bench fixture, never a way to keep real shares.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use serde_json::json;
use vault_core::Vault;
use vault_core::clock;
use vault_core::expiration::{Lease, LeaseParams};

/// Leases written per batch.
const BATCH: usize = 2_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [db, count, out] = args.as_slice() else {
        return Err("usage: seed_leases DB COUNT OUT".into());
    };
    let count: usize = count.parse().map_err(|_| "COUNT must be a number")?;
    let vault = Vault::open_sqlite(db)?;
    let init = vault.init(5, 3).await?;
    for share in init.shares.iter().take(3) {
        vault.unseal(share.to_hex().expose_secret()).await?;
    }
    let now = clock::now_unix_millis();
    let mut one = String::new();
    let mut made = 0;
    while made < count {
        let n = BATCH.min(count - made);
        let leases = (0..n)
            .map(|i| {
                let params = LeaseParams {
                    mount_path: "database/".into(),
                    path: "database/creds/bench".into(),
                    // Spread over the day from an hour on.
                    ttl: 3_600_000 + ((made + i) as u64 * 400) % 82_800_000,
                    max_ttl: 86_400_000,
                    renewable: true,
                    token_hash: String::new(),
                    internal: json!({"username": format!("v-bench-{}", made + i)}),
                };
                Lease::new(params, now)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if one.is_empty() {
            one = leases.first().map(|l| l.id.clone()).unwrap_or_default();
        }
        vault
            .expiration()
            .register_all(vault.barrier(), leases)
            .await?;
        made += n;
    }
    let fixture = json!({
        "keys": init.shares.iter().map(|s| s.to_hex().expose_secret().to_owned()).collect::<Vec<_>>(),
        "root_token": init.root_token.expose_secret(),
        "lease_id": one,
        "leases": count,
    });
    vault.close().await?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)?;
    writeln!(file, "{fixture}")?;
    println!("stored {count} leases in {db}");
    Ok(())
}
