//! Who may reset an unseal attempt, and see its nonce, while the vault is
//! sealed: the attempt's nonce, and the root token made at init for as long as
//! that token lives. While sealed the token store cannot be read, so the check
//! rests on the verifier kept beside the seal configuration; revoking the
//! initial root token must retire it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::json;
use vault_tests::{Daemon, init, logical, logical_request, status, unseal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_root_token_neither_resets_an_unseal_attempt_nor_sees_its_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 3, 2);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    unseal(&daemon, &keys.keys_hex[1]).expect_code(0);
    let initial = keys.root_token.as_str();

    // Another root token (an orphan, so it outlives the initial one), then the
    // initial one revoked by it.
    let other = logical(&daemon)
        .await
        .write(logical_request(
            initial,
            "auth/token/create-orphan",
            json!({"policies": ["root"]}),
        ))
        .await
        .unwrap()
        .into_inner()
        .auth
        .unwrap()
        .client_token;
    vault_tests::secret_scan::note(&other);
    logical(&daemon)
        .await
        .write(logical_request(
            &other,
            "auth/token/revoke",
            json!({"token": initial}),
        ))
        .await
        .unwrap();
    let gone = logical(&daemon)
        .await
        .read(logical_request(
            initial,
            "auth/token/lookup-self",
            json!({}),
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::PermissionDenied);

    // Sealed, with an attempt under way (1 of 2 shares).
    daemon
        .cli(Some(&other), &["operator", "seal"])
        .expect_code(0);
    let first = unseal(&daemon, &keys.keys_hex[0]);
    first.expect_code(0);
    let nonce = first.json()["nonce"].as_str().unwrap().to_owned();
    assert_eq!(nonce.len(), 36);
    assert_eq!(status(&daemon).1["progress"], 1);

    // The revoked token sees no nonce and cannot reset the attempt.
    let shown = daemon
        .cli(Some(initial), &["status", "--format", "json"])
        .json();
    assert_eq!(
        shown["nonce"], "",
        "a revoked root token was shown the unseal nonce"
    );
    let reset = daemon.cli(Some(initial), &["operator", "unseal", "--reset"]);
    reset.expect_code(1);
    assert!(
        reset.stderr.contains("permission denied"),
        "{}",
        reset.stderr
    );
    // The hint speaks of what a reset needs, not of policies on a path
    // (nothing can be looked up while sealed).
    assert!(
        reset.stderr.contains("--nonce") && !reset.stderr.contains("token capabilities"),
        "{}",
        reset.stderr
    );
    assert_eq!(status(&daemon).1["progress"], 1);

    // Nor can the live root token made later: while sealed nothing can tell it
    // is one (the token store is behind the barrier).
    let reset = daemon.cli(Some(&other), &["operator", "unseal", "--reset"]);
    reset.expect_code(1);
    assert_eq!(status(&daemon).1["progress"], 1);

    // The attempt's nonce still resets it.
    daemon
        .cli(None, &["operator", "unseal", "--reset", "--nonce", &nonce])
        .expect_code(0);
    assert_eq!(status(&daemon).1["progress"], 0);

    // And the vault opens as before, for the live root token only.
    unseal(&daemon, &keys.keys_hex[1]).expect_code(0);
    unseal(&daemon, &keys.keys_hex[2]).expect_code(0);
    assert_eq!(status(&daemon).1["sealed"], false);
    logical(&daemon)
        .await
        .read(logical_request(&other, "auth/token/lookup-self", json!({})))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_initial_root_token_by_accessor_retires_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 3, 2);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    unseal(&daemon, &keys.keys_hex[1]).expect_code(0);
    let initial = keys.root_token.as_str();
    let other = logical(&daemon)
        .await
        .write(logical_request(
            initial,
            "auth/token/create-orphan",
            json!({"policies": ["root"]}),
        ))
        .await
        .unwrap()
        .into_inner()
        .auth
        .unwrap()
        .client_token;
    vault_tests::secret_scan::note(&other);
    // Revoked by its accessor this time: no token string at hand.
    let accessor = logical(&daemon)
        .await
        .read(logical_request(
            initial,
            "auth/token/lookup-self",
            json!({}),
        ))
        .await
        .unwrap()
        .into_inner();
    let accessor: serde_json::Value = serde_json::from_str(&accessor.data_json).unwrap();
    logical(&daemon)
        .await
        .write(logical_request(
            &other,
            "auth/token/revoke-accessor",
            json!({"accessor": accessor["accessor"]}),
        ))
        .await
        .unwrap();
    daemon
        .cli(Some(&other), &["operator", "seal"])
        .expect_code(0);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let shown = daemon
        .cli(Some(initial), &["status", "--format", "json"])
        .json();
    assert_eq!(shown["nonce"], "");
    daemon
        .cli(Some(initial), &["operator", "unseal", "--reset"])
        .expect_code(1);
    assert_eq!(status(&daemon).1["progress"], 1);
}
