//! The child process of the crash test: writes through the barrier into a real
//! SQLite file with 8 concurrent writers and prints `ack W N` after each write is
//! acknowledged, until it is killed (or has written its bounded maximum).
//!
//! Usage: crash_writer DB KEYS. On a new database it initialises the vault 1-of-1
//! and stores the share and root token in KEYS (a test fixture; never do this
//! with a real vault).

#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use vault_core::Vault;
use vault_tests::{crash_path, crash_value};

const WRITERS: usize = 8;
/// Bounds the run if nobody kills it.
const MAX_WRITES_PER_WRITER: usize = 20_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let db = args.next().context("usage: crash_writer DB KEYS")?;
    let keys = args.next().context("usage: crash_writer DB KEYS")?;
    let vault = Arc::new(Vault::open_sqlite(&db)?);
    let init = vault.init(1, 1).await?;
    let share = init.shares.first().context("no share")?.to_hex();
    std::fs::write(
        &keys,
        format!(
            "{}\n{}\n",
            share.expose_secret(),
            init.root_token.expose_secret()
        ),
    )?;
    vault.unseal(share.expose_secret()).await?;
    println!("ready");

    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let vault = Arc::clone(&vault);
        tasks.push(tokio::spawn(async move {
            for n in 0..MAX_WRITES_PER_WRITER {
                vault
                    .barrier()
                    .put(&crash_path(writer, n), &crash_value(writer, n))
                    .await?;
                // Printed only after the write is acknowledged (durable).
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {writer} {n}")?;
                out.flush()?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}
