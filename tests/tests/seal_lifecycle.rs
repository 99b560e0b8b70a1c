//! Init, unseal, seal and status through the real vaultd and vault-cli.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vault_tests::{Daemon, init, status, unseal};

#[test]
fn unseal_counts_distinct_shares_and_any_quorum_opens_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 5, 3);
    assert_eq!(keys.keys_hex.len(), 5);
    assert!(keys.keys_hex.iter().all(|k| k.len() == 66));

    let (code, s) = status(&daemon);
    assert_eq!(code, 2, "sealed after init");
    assert_eq!(
        (s["initialized"].as_bool(), s["sealed"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!((s["t"].as_u64(), s["n"].as_u64()), (Some(3), Some(5)));

    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let two = unseal(&daemon, &keys.keys_b64[1]);
    two.expect_code(0);
    assert_eq!(two.json()["progress"], 2);
    assert_eq!(two.json()["sealed"], true);

    let again = unseal(&daemon, &keys.keys_hex[1]);
    again.expect_code(0);
    assert_eq!(
        again.json()["progress"],
        2,
        "the same share must not count twice"
    );
    assert_eq!(again.json()["duplicate"], true);
    assert!(again.stderr.contains("already given"), "{}", again.stderr);
    assert_eq!(status(&daemon).1["progress"], 2);

    let third = unseal(&daemon, &keys.keys_hex[2]);
    third.expect_code(0);
    assert_eq!(third.json()["sealed"], false);
    let (code, s) = status(&daemon);
    assert_eq!(code, 0);
    assert_eq!(s["sealed"], false);
    assert_eq!(s["storage_type"], "sqlite");

    // A restart comes up sealed; every different quorum of 3 opens it.
    let mut daemon = daemon;
    for quorum in [[4usize, 1, 3], [0, 2, 4]] {
        assert!(daemon.stop().success());
        daemon = Daemon::start(dir.path());
        let (code, s) = status(&daemon);
        assert_eq!(code, 2);
        assert_eq!(s["sealed"], true);
        for i in quorum {
            unseal(&daemon, &keys.keys_hex[i]).expect_code(0);
        }
        assert_eq!(status(&daemon).0, 0, "quorum {quorum:?} must unseal");
    }
}

#[test]
fn a_wrong_quorum_is_an_error_and_resets_progress() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 5, 3);
    // A well-formed share that is not one of ours: flip a byte of its y-values.
    let mut forged = hex_bytes(&keys.keys_hex[2]);
    forged[0] ^= 0x55;
    let forged = hex_string(&forged);

    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    unseal(&daemon, &keys.keys_hex[1]).expect_code(0);
    let out = unseal(&daemon, &forged);
    out.expect_code(1);
    assert!(out.stderr.contains("invalid key"), "{}", out.stderr);
    let (code, s) = status(&daemon);
    assert_eq!(code, 2);
    assert_eq!(s["progress"], 0);
    assert_eq!(s["sealed"], true);
    // And the vault still unseals with a right quorum afterwards.
    for k in &keys.keys_hex[2..5] {
        unseal(&daemon, k).expect_code(0);
    }
    assert_eq!(status(&daemon).0, 0);
}

#[test]
fn malformed_shares_are_refused_without_touching_progress() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 3, 2);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    for bad in ["not-a-key!!", "abcd", &keys.keys_hex[1][..64]] {
        let out = unseal(&daemon, bad);
        out.expect_code(1);
        assert!(out.stderr.contains("invalid key"), "{bad}: {}", out.stderr);
        assert!(
            !out.stderr.contains(&keys.keys_hex[1][..64]),
            "the share must not be echoed"
        );
        assert_eq!(status(&daemon).1["progress"], 1, "after {bad:?}");
    }
}

#[test]
fn init_parameters_that_break_a_rule_are_refused_with_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    for (shares, threshold, reason) in [
        ("256", "3", "shares must be at most 255"),
        ("5", "6", "threshold cannot be larger than shares"),
        (
            "5",
            "1",
            "threshold must be at least 2 when there is more than one share",
        ),
        ("0", "0", "shares must be at least 1"),
    ] {
        let out = daemon.cli(
            None,
            &[
                "operator",
                "init",
                "--key-shares",
                shares,
                "--key-threshold",
                threshold,
            ],
        );
        out.expect_code(1);
        assert!(
            out.stderr.contains(reason),
            "{shares}/{threshold}: {}",
            out.stderr
        );
        assert_eq!(status(&daemon).1["initialized"], false);
    }
    // 1/1 is allowed, and init runs only once.
    init(&daemon, 1, 1);
    let out = daemon.cli(
        None,
        &[
            "operator",
            "init",
            "--key-shares",
            "1",
            "--key-threshold",
            "1",
        ],
    );
    out.expect_code(1);
    assert!(out.stderr.contains("already initialized"), "{}", out.stderr);
}

#[test]
fn resetting_an_attempt_needs_its_nonce_or_the_root_token() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 5, 3);
    let first = unseal(&daemon, &keys.keys_hex[0]);
    let nonce = first.json()["nonce"].as_str().unwrap().to_owned();
    assert_eq!(nonce.len(), 36);
    // A stranger sees no nonce and cannot reset.
    assert_eq!(status(&daemon).1["nonce"], "");
    let out = daemon.cli(None, &["operator", "unseal", "--reset"]);
    out.expect_code(1);
    assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
    let out = daemon.cli(
        None,
        &[
            "operator",
            "unseal",
            "--reset",
            "--nonce",
            "00000000-0000-4000-8000-000000000000",
        ],
    );
    out.expect_code(1);
    assert_eq!(status(&daemon).1["progress"], 1);
    // The attempt's nonce resets it.
    daemon
        .cli(None, &["operator", "unseal", "--reset", "--nonce", &nonce])
        .expect_code(0);
    assert_eq!(status(&daemon).1["progress"], 0);
    // So does the root token, which also sees the nonce in status.
    let next = unseal(&daemon, &keys.keys_hex[1]);
    let nonce = next.json()["nonce"].as_str().unwrap().to_owned();
    let shown = daemon
        .cli(Some(&keys.root_token), &["status", "--format", "json"])
        .json();
    assert_eq!(shown["nonce"], nonce.as_str());
    daemon
        .cli(Some(&keys.root_token), &["operator", "unseal", "--reset"])
        .expect_code(0);
    assert_eq!(status(&daemon).1["progress"], 0);
}

#[test]
fn while_sealed_only_status_init_and_unseal_answer() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 1, 1);
    let token = Some(keys.root_token.as_str());
    for args in [
        &["operator", "seal"][..],
        &["operator", "rotate"],
        &["operator", "key-status"],
        &[
            "operator",
            "rekey",
            "--init",
            "--key-shares",
            "3",
            "--key-threshold",
            "2",
        ],
        &["operator", "rekey", "--status"],
        &["operator", "rekey", "--verify", "--status"],
    ] {
        let out = daemon.cli(token, args);
        out.expect_code(1);
        assert!(
            out.stderr.contains("vault is sealed"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("Unavailable"),
            "{args:?}: {}",
            out.stderr
        );
    }
    unseal(&daemon, &keys.keys_b64[0]).expect_code(0);
    // Sealing needs the root token; then everything is refused again.
    let out = daemon.cli(Some("s.wrong"), &["operator", "seal"]);
    out.expect_code(1);
    assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
    daemon.cli(token, &["operator", "seal"]).expect_code(0);
    assert_eq!(status(&daemon).0, 2);
    let out = daemon.cli(token, &["operator", "key-status"]);
    assert!(out.stderr.contains("vault is sealed"), "{}", out.stderr);
}

#[test]
fn unseal_key_can_come_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 1, 1);
    let out = vault_tests::cli(
        &daemon.addr,
        None,
        &["operator", "unseal", "--format", "json"],
        Some(&format!("{}\n", keys.keys_hex[0])),
    );
    out.expect_code(0);
    assert_eq!(out.json()["sealed"], false);
    assert!(!out.stdout.contains(&keys.keys_hex[0]));
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
