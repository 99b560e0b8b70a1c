//! A client that hangs up cannot stop a state change halfway: the operation runs
//! to its end on the server and is audited either way.
//!
//! To hang up at a known point, the test holds SQLite's write lock on the
//! vault's file (a second connection in `BEGIN IMMEDIATE`), so the operation
//! waits in storage; the client's deadline cuts the call; then the lock is
//! let go.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vault_proto::v1::{KeyStatusRequest, RotateRequest};
use vault_tests::{Daemon, eventually, init, unseal, with_token, write_config};

/// Holds the write lock of the SQLite file at `db` until dropped.
struct WriteLock(rusqlite::Connection);

impl WriteLock {
    fn take(db: &Path) -> WriteLock {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        WriteLock(conn)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

fn audit_entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotate_whose_caller_hangs_up_completes_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let config = write_config(
        dir.path(),
        &format!(
            "[[audit]]\nname = \"file\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
            audit.display()
        ),
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let token = keys.root_token.clone();
    let mut sys = daemon.sys().await;
    let term = |status: vault_proto::v1::KeyStatusResponse| status.term;
    let before = term(
        sys.key_status(with_token(&token, KeyStatusRequest {}))
            .await
            .unwrap()
            .into_inner(),
    );

    let lock = WriteLock::take(&dir.path().join("vault.db"));
    let mut cut = with_token(&token, RotateRequest {});
    cut.set_timeout(Duration::from_millis(500));
    let answer = sys.rotate(cut).await;
    assert!(
        answer.is_err(),
        "the rotate must still be waiting on the held lock when the caller leaves"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(lock);

    // The rotate finishes on the server: the new term is in effect...
    let done = eventually(Duration::from_secs(20), || {
        let mut sys = sys.clone();
        let token = token.clone();
        async move {
            sys.key_status(with_token(&token, KeyStatusRequest {}))
                .await
                .is_ok_and(|s| s.into_inner().term == before + 1)
        }
    })
    .await;
    assert!(
        done.is_some(),
        "the rotate did not complete on the server after its caller hung up"
    );
    // ...and the audit log holds its response.
    let answered = eventually(Duration::from_secs(10), || {
        let audit = audit.clone();
        async move {
            audit_entries(&audit)
                .iter()
                .any(|e| e["type"] == "response" && e["request"]["path"] == "sys/rotate")
        }
    })
    .await;
    assert!(
        answered.is_some(),
        "no response entry for the rotate in the audit log"
    );
    // And after a restart the term is the same (the new keyring was stored).
    daemon.stop();
    let daemon = Daemon::start_with(&config, dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let after = daemon
        .sys()
        .await
        .key_status(with_token(&token, KeyStatusRequest {}))
        .await
        .unwrap()
        .into_inner()
        .term;
    assert_eq!(after, before + 1);
}
