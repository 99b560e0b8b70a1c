//! Rekey and keyring rotation through the real daemon: shares change, terms are
//! added, and the data written before reads back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vault_proto::v1::{RawPathRequest, RawWriteRequest};
use vault_tests::{Daemon, init, status, unseal, with_token};

async fn raw_write(daemon: &Daemon, token: &str, path: &str, value: &[u8]) {
    daemon
        .sys()
        .await
        .raw_write(with_token(
            token,
            RawWriteRequest {
                path: path.into(),
                value: value.to_vec(),
            },
        ))
        .await
        .unwrap();
}

async fn raw_read(daemon: &Daemon, token: &str, path: &str) -> Result<Vec<u8>, tonic::Status> {
    daemon
        .sys()
        .await
        .raw_read(with_token(token, RawPathRequest { path: path.into() }))
        .await
        .map(|r| r.into_inner().value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_to_3_of_2_retires_the_old_shares_and_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let old = init(&daemon, 5, 3);
    let token = old.root_token.clone();
    for k in &old.keys_hex[..3] {
        unseal(&daemon, k).expect_code(0);
    }
    raw_write(&daemon, &token, "secret/app", b"database-password-1").await;

    // Starting needs the token.
    let out = daemon.cli(
        None,
        &[
            "operator",
            "rekey",
            "--init",
            "--key-shares",
            "3",
            "--key-threshold",
            "2",
        ],
    );
    out.expect_code(1);
    assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
    let started = daemon.cli(
        Some(&token),
        &[
            "operator",
            "rekey",
            "--init",
            "--key-shares",
            "3",
            "--key-threshold",
            "2",
            "--format",
            "json",
        ],
    );
    started.expect_code(0);
    let nonce = started.json()["nonce"].as_str().unwrap().to_owned();
    assert_eq!(started.json()["required"], 3);

    // A share with the wrong nonce is refused; the same share twice counts once.
    let out = daemon.cli(
        None,
        &["operator", "rekey", "--nonce", "wrong", &old.keys_hex[0]],
    );
    out.expect_code(1);
    assert!(out.stderr.contains("nonce"), "{}", out.stderr);
    let update = |key: &str| {
        daemon.cli(
            None,
            &[
                "operator", "rekey", "--format", "json", "--nonce", &nonce, key,
            ],
        )
    };
    assert_eq!(update(&old.keys_hex[0]).json()["progress"], 1);
    let dup = update(&old.keys_hex[0]);
    assert_eq!(dup.json()["progress"], 1);
    assert_eq!(dup.json()["duplicate"], true);
    assert_eq!(update(&old.keys_hex[3]).json()["progress"], 2);
    let done = update(&old.keys_b64[4]);
    done.expect_code(0);
    let done = done.json();
    assert_eq!(done["complete"], true);
    let new_keys: Vec<String> = done["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new_keys.len(), 3);
    assert!(new_keys.iter().all(|k| !old.keys_hex.contains(k)));

    // Old shares stop working at once, even on a restarted daemon.
    assert!(daemon.stop().success());
    let daemon = Daemon::start(dir.path());
    let (_, s) = status(&daemon);
    assert_eq!((s["t"].as_u64(), s["n"].as_u64()), (Some(2), Some(3)));
    unseal(&daemon, &old.keys_hex[0]).expect_code(0);
    let out = unseal(&daemon, &old.keys_hex[1]);
    out.expect_code(1);
    assert!(out.stderr.contains("invalid key"), "{}", out.stderr);
    assert_eq!(status(&daemon).1["sealed"], true);

    // Any 2 of the 3 new shares work, and the data reads back.
    unseal(&daemon, &new_keys[2]).expect_code(0);
    unseal(&daemon, &new_keys[0]).expect_code(0);
    assert_eq!(status(&daemon).0, 0);
    assert_eq!(
        raw_read(&daemon, &token, "secret/app").await.unwrap(),
        b"database-password-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rekey_cancel_needs_the_token_and_ends_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 3, 2);
    for k in &keys.keys_hex[..2] {
        unseal(&daemon, k).expect_code(0);
    }
    let token = Some(keys.root_token.as_str());
    let started = daemon.cli(
        token,
        &[
            "operator",
            "rekey",
            "--init",
            "--key-shares",
            "1",
            "--key-threshold",
            "1",
            "--format",
            "json",
        ],
    );
    let nonce = started.json()["nonce"].as_str().unwrap().to_owned();
    daemon
        .cli(None, &["operator", "rekey", "--cancel"])
        .expect_code(1);
    daemon
        .cli(token, &["operator", "rekey", "--cancel"])
        .expect_code(0);
    let status = daemon.cli(
        token,
        &["operator", "rekey", "--status", "--format", "json"],
    );
    assert_eq!(status.json()["started"], false);
    let out = daemon.cli(
        None,
        &["operator", "rekey", "--nonce", &nonce, &keys.keys_hex[0]],
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("no rekey is in progress"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_keeps_old_data_readable_and_new_writes_use_the_new_term() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 1, 1);
    let token = keys.root_token.clone();
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    raw_write(&daemon, &token, "app/before", b"written under term 1").await;

    let ks = daemon.cli(
        Some(&token),
        &["operator", "key-status", "--format", "json"],
    );
    assert_eq!(ks.json()["term"], 1);
    let rotated = daemon.cli(Some(&token), &["operator", "rotate", "--format", "json"]);
    rotated.expect_code(0);
    assert_eq!(rotated.json()["term"], 2);
    daemon.cli(None, &["operator", "rotate"]).expect_code(1);

    raw_write(&daemon, &token, "app/after", b"written under term 2").await;
    assert_eq!(
        raw_read(&daemon, &token, "app/before").await.unwrap(),
        b"written under term 1"
    );

    // The stored envelopes name their terms: version byte, then the term.
    let db = rusqlite::Connection::open(dir.path().join("vault.db")).unwrap();
    let term_of = |key: &str| -> u32 {
        let blob: Vec<u8> = db
            .query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .unwrap();
        u32::from_be_bytes(blob[1..5].try_into().unwrap())
    };
    assert_eq!(term_of("app/before"), 1);
    assert_eq!(term_of("app/after"), 2);
    drop(db);

    // Both terms survive a restart.
    assert!(daemon.stop().success());
    let daemon = Daemon::start(dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    assert_eq!(
        raw_read(&daemon, &token, "app/before").await.unwrap(),
        b"written under term 1"
    );
    assert_eq!(
        raw_read(&daemon, &token, "app/after").await.unwrap(),
        b"written under term 2"
    );
    let ks = daemon.cli(
        Some(&token),
        &["operator", "key-status", "--format", "json"],
    );
    assert_eq!(ks.json()["term"], 2);
}
