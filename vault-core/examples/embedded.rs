//! Embedding the vault in a Rust service: open an SQLite-backed vault, initialise
//! and unseal it, store and read a secret, then seal and close it.
//!
//! Run with `cargo run -p vault-core --example embedded`.

use vault_core::Vault;
use vault_core::barrier::BarrierError;
use vault_core::request::{Operation, Request};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A throwaway directory keeps the example repeatable: `init` runs only once
    // per database, so a fixed path would fail on the second run.
    let dir = tempfile::tempdir()?;
    let vault = Vault::open_sqlite(dir.path().join("vault.db"))?;

    // Five shares, any three of which unseal. In a real deployment each share
    // goes to a different operator and never sits in one process like this.
    let init = vault.init(5, 3).await?;
    println!(
        "initialized: {} shares, threshold {}",
        init.shares.len(),
        init.threshold
    );

    // The vault starts sealed even straight after init; unsealing is always a
    // separate, deliberate step by the share holders.
    for share in init.shares.iter().take(3) {
        let outcome = vault.unseal(share.to_hex().expose_secret()).await?;
        println!(
            "unseal: progress {}/{}, sealed = {}",
            outcome.status.progress, outcome.status.t, outcome.status.sealed
        );
    }

    // The barrier encrypts with the path as associated data, so a value only
    // decrypts at the path it was written to.
    let path = "app/database-password";
    vault
        .barrier()
        .put(path, b"correct horse battery staple")
        .await?;
    let value = vault
        .barrier()
        .get(path)
        .await?
        .ok_or("the value just written is missing")?;
    // Print only the length: a service should not log secrets either.
    println!("read {path}: {} bytes", value.len());

    // The encryption count starts from the block of uses reserved on disk
    // (65,536 at a time), not from the writes made so far: after a crash the
    // vault may overcount GCM nonce use, but it can never undercount it.
    let token = init.root_token.expose_secret();
    // Operator calls are requests like any other, judged by the token's policies.
    let key = vault
        .handle(Request::new(Operation::Read, "sys/key-status").with_token(token))
        .await?
        .data
        .unwrap_or_default();
    println!(
        "keyring: term {}, installed at {}, {} encryptions",
        key["term"],
        key["install_time"].as_str().unwrap_or("?"),
        key["encryptions"]
    );

    // Sealing drops every key from memory; the data stays on disk, unreadable
    // until a quorum unseals again.
    vault
        .handle(Request::new(Operation::Update, "sys/seal").with_token(token))
        .await?;
    match vault.barrier().get(path).await {
        Err(BarrierError::Sealed) => {
            println!("after seal, reading {path} fails: vault is sealed");
        }
        Err(e) => return Err(e.into()),
        Ok(_) => return Err("a sealed vault returned a value".into()),
    }

    // close() lets the writer thread finish and checkpoint the WAL, so the
    // database is one clean file after a normal shutdown.
    vault.close().await?;
    println!("closed");
    Ok(())
}
