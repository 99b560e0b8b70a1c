//! Tampering with the SQLite file behind the daemon's back: every altered value is
//! an integrity error (DATA_LOSS), never garbage and never a crash; and nothing
//! secret is stored in the clear.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vault_proto::v1::{RawPathRequest, RawWriteRequest};
use vault_tests::{Daemon, contains, database_bytes, init, status, unseal, with_token};

const VALUES: [(&str, &[u8]); 3] = [
    ("app/alpha", b"alpha-plaintext-value-0001"),
    ("app/beta", b"beta-plaintext-value-0002"),
    ("app/gamma", b"gamma-plaintext-value-0003"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altered_moved_or_truncated_values_are_integrity_errors() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 1, 1);
    let token = keys.root_token.clone();
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let mut sys = daemon.sys().await;
    for (path, value) in VALUES {
        sys.raw_write(with_token(
            &token,
            RawWriteRequest {
                path: path.into(),
                value: value.to_vec(),
            },
        ))
        .await
        .unwrap();
    }
    assert!(daemon.stop().success());

    let db = rusqlite::Connection::open(dir.path().join("vault.db")).unwrap();
    let get = |key: &str| -> Vec<u8> {
        db.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
            .unwrap()
    };
    let set = |key: &str, value: &[u8]| {
        db.execute(
            "UPDATE kv SET value = ?2 WHERE key = ?1",
            rusqlite::params![key, value],
        )
        .unwrap();
    };
    // alpha's row copied over beta's; one byte of gamma flipped; alpha truncated.
    set("app/beta", &get("app/alpha"));
    let mut gamma = get("app/gamma");
    let mid = gamma.len() / 2;
    gamma[mid] ^= 0x01;
    set("app/gamma", &gamma);
    let alpha = get("app/alpha");
    drop(db);

    let daemon = Daemon::start(dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let mut sys = daemon.sys().await;
    let mut read = async |path: &str| {
        sys.raw_read(with_token(&token, RawPathRequest { path: path.into() }))
            .await
    };
    for path in ["app/beta", "app/gamma"] {
        let err = read(path).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::DataLoss, "{path}: {err:?}");
        assert!(
            err.message().contains("integrity check failed"),
            "{}",
            err.message()
        );
        assert!(err.message().contains(path));
    }
    // Truncated at every length, including into the header: an error, never a panic.
    let db = rusqlite::Connection::open(dir.path().join("vault.db")).unwrap();
    for len in [0, 1, 5, 16, 17, 32, alpha.len() - 1] {
        db.execute(
            "UPDATE kv SET value = ?1 WHERE key = 'app/alpha'",
            [&alpha[..len]],
        )
        .unwrap();
        let err = read("app/alpha").await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::DataLoss, "len {len}: {err:?}");
    }
    // The daemon kept serving throughout.
    assert_eq!(status(&daemon).0, 0);
    assert!(!daemon.log_text().contains("panicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_is_in_the_clear_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 3, 2);
    let token = keys.root_token.clone();
    for k in &keys.keys_hex[..2] {
        unseal(&daemon, k).expect_code(0);
    }
    let mut sys = daemon.sys().await;
    for (path, value) in VALUES {
        sys.raw_write(with_token(
            &token,
            RawWriteRequest {
                path: path.into(),
                value: value.to_vec(),
            },
        ))
        .await
        .unwrap();
    }
    let mut needles: Vec<Vec<u8>> = VALUES.iter().map(|(_, v)| v.to_vec()).collect();
    needles.push(token.as_bytes().to_vec());
    needles.push(token.trim_start_matches("s.").as_bytes().to_vec());
    for (hex, b64) in keys.keys_hex.iter().zip(&keys.keys_b64) {
        needles.push(hex.as_bytes().to_vec());
        needles.push(b64.as_bytes().to_vec());
        // The share's raw bytes, and its 32 y-bytes alone.
        let raw: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        needles.push(raw[..32].to_vec());
    }
    // While running (values in the WAL) and after a clean stop (checkpointed).
    let running = database_bytes(&dir.path().join("vault.db"));
    assert!(daemon.stop().success());
    let stopped = database_bytes(&dir.path().join("vault.db"));
    for bytes in [&running, &stopped] {
        assert!(bytes.len() > 4096, "the database files were read");
        for needle in &needles {
            assert!(
                !contains(bytes, needle),
                "found a secret in the clear: {}",
                String::from_utf8_lossy(needle)
            );
        }
    }
    // The check can fail: the path names, which are not secret, are there.
    assert!(contains(&stopped, b"app/alpha"));
}
