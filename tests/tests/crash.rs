//! Crash safety: a process writing through the barrier to SQLite with 8 concurrent
//! writers is killed with SIGKILL; every write it had acknowledged reads back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vault_core::Vault;
use vault_tests::{crash_path, crash_value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vault.db");
    let keys = dir.path().join("keys");
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(&db)
        .arg(&keys)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let acks: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let reader = {
        let acks = Arc::clone(&acks);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split_whitespace();
                if parts.next() == Some("ack") {
                    let w = parts.next().unwrap().parse().unwrap();
                    let n = parts.next().unwrap().parse().unwrap();
                    acks.lock().unwrap().push((w, n));
                }
            }
        })
    };
    // Let it write a while (bounded), then kill it mid-flight.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.lock().unwrap().len() < 400 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the writer must have been killed, not finished"
    );
    reader.join().unwrap();
    let acks = acks.lock().unwrap().clone();
    assert!(
        acks.len() >= 400,
        "only {} writes acknowledged before the deadline",
        acks.len()
    );
    let writers: std::collections::BTreeSet<usize> = acks.iter().map(|(w, _)| *w).collect();
    assert_eq!(writers.len(), 8, "all 8 writers wrote");

    let text = std::fs::read_to_string(&keys).unwrap();
    let share = text.lines().next().unwrap();
    let vault = Vault::open_sqlite(&db).unwrap();
    vault.unseal(share).await.unwrap();
    for (w, n) in &acks {
        let value = vault
            .barrier()
            .get(&crash_path(*w, *n))
            .await
            .unwrap_or_else(|e| panic!("write {w}/{n}: {e}"))
            .unwrap_or_else(|| panic!("acknowledged write {w}/{n} is missing"));
        assert_eq!(value.expose_secret(), crash_value(*w, *n).as_slice());
    }
}
