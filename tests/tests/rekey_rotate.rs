//! Rekey and keyring rotation through the real daemon: shares change, terms are
//! added, and the data written before reads back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use vault_proto::v1::{RawPathRequest, RawWriteRequest};
use vault_tests::{CliOutput, Daemon, init, secret_scan, status, unseal, with_token};

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
async fn rekey_without_verification_retires_the_old_shares_at_once_and_keeps_the_data() {
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
            "--skip-verification",
            "--format",
            "json",
        ],
    );
    started.expect_code(0);
    let nonce = started.json()["nonce"].as_str().unwrap().to_owned();
    assert_eq!(started.json()["required"], 3);
    assert_eq!(started.json()["verification_required"], false);
    // The operator is told what skipping verification risks.
    assert!(started.stderr.contains("answer"), "{}", started.stderr);

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
    assert_eq!(done["verification_required"], false);
    assert_eq!(done["verification_nonce"], "");
    let new_keys = new_shares_of(&done);
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

// Rekey with verification (on by default): the new shares take effect only
// once a quorum of them has come back. Each test walks a daemon through the
// ceremony with vault-cli, as operators would.

/// `operator rekey --init` to `shares`/`threshold` with the root token, JSON.
fn rekey_init(daemon: &Daemon, token: &str, shares: u32, threshold: u32) -> Value {
    let out = daemon.cli(
        Some(token),
        &[
            "operator",
            "rekey",
            "--init",
            "--key-shares",
            &shares.to_string(),
            "--key-threshold",
            &threshold.to_string(),
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    out.json()
}

/// One current share given to the rekey with `nonce`, JSON.
fn rekey_update(daemon: &Daemon, nonce: &str, key: &str) -> CliOutput {
    daemon.cli(
        None,
        &[
            "operator", "rekey", "--format", "json", "--nonce", nonce, key,
        ],
    )
}

/// One new share given to the verification with `nonce`, JSON. Needs no token.
fn rekey_verify(daemon: &Daemon, nonce: &str, key: &str) -> CliOutput {
    daemon.cli(
        None,
        &[
            "operator", "rekey", "--verify", "--format", "json", "--nonce", nonce, key,
        ],
    )
}

/// `operator rekey --verify --status` with the root token, JSON.
fn verify_status(daemon: &Daemon, token: &str) -> Value {
    let out = daemon.cli(
        Some(token),
        &[
            "operator", "rekey", "--verify", "--status", "--format", "json",
        ],
    );
    out.expect_code(0);
    out.json()
}

/// `operator rekey --status` with the root token, JSON.
fn rekey_status(daemon: &Daemon, token: &str) -> Value {
    let out = daemon.cli(
        Some(token),
        &["operator", "rekey", "--status", "--format", "json"],
    );
    out.expect_code(0);
    out.json()
}

/// The new shares (hex) of a final rekey answer, noted as secrets of the test
/// (the harness notes only the base64 ones by itself).
fn new_shares_of(answer: &Value) -> Vec<String> {
    let keys: Vec<String> = answer["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no new shares in {answer}"))
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    keys.iter().for_each(|k| secret_scan::note(k));
    keys
}

/// A share's identifier: its last byte (shares are `y || x`).
fn share_id(hex: &str) -> &str {
    &hex[hex.len() - 2..]
}

/// A daemon initialised 3-of-2 and unsealed, with a value written.
fn unsealed_3_of_2(dir: &std::path::Path) -> (Daemon, vault_tests::Init) {
    let daemon = Daemon::start(dir);
    let keys = init(&daemon, 3, 2);
    for k in &keys.keys_hex[..2] {
        unseal(&daemon, k).expect_code(0);
    }
    (daemon, keys)
}

/// Seals with the root token.
fn seal(daemon: &Daemon, token: &str) {
    daemon
        .cli(Some(token), &["operator", "seal"])
        .expect_code(0);
    assert_eq!(status(daemon).1["sealed"], true);
}

/// Starts a rekey to 5 shares, 3 to unseal, and gives it the current quorum;
/// returns the final answer (new shares, verification nonce).
fn rekey_to_pending_verification(daemon: &Daemon, keys: &vault_tests::Init) -> Value {
    let started = rekey_init(daemon, &keys.root_token, 5, 3);
    assert_eq!(started["verification_required"], true, "{started}");
    let nonce = started["nonce"].as_str().unwrap().to_owned();
    rekey_update(daemon, &nonce, &keys.keys_hex[2]).expect_code(0);
    let done = rekey_update(daemon, &nonce, &keys.keys_hex[0]);
    done.expect_code(0);
    let done = done.json();
    assert_eq!(done["complete"], false, "{done}");
    assert_eq!(done["verification_required"], true, "{done}");
    assert!(
        !done["verification_nonce"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{done}"
    );
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_rekey_answer_leaves_the_old_shares_working() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let old = init(&daemon, 3, 2);
    let token = old.root_token.clone();
    for k in &old.keys_hex[..2] {
        unseal(&daemon, k).expect_code(0);
    }
    raw_write(&daemon, &token, "secret/app", b"database-password-1").await;

    let started = rekey_init(&daemon, &token, 4, 3);
    let nonce = started["nonce"].as_str().unwrap().to_owned();
    rekey_update(&daemon, &nonce, &old.keys_hex[1]).expect_code(0);
    // The last current share: the server makes the new shares and answers
    // with them, and the answer is lost on its way (the client went away).
    // Nothing of it is used but the words it says.
    let lost = daemon.cli(
        None,
        &["operator", "rekey", "--nonce", &nonce, &old.keys_hex[2]],
    );
    lost.expect_code(0);
    // The server did process it: a verification is pending.
    let pending = rekey_status(&daemon, &token);

    // Sealing drops the pending rekey (it is only in memory), and the shares
    // the owners hold still open the vault.
    seal(&daemon, &token);
    let answers: Vec<CliOutput> = [&old.keys_hex[0], &old.keys_hex[2]]
        .into_iter()
        .map(|k| unseal(&daemon, k))
        .collect();
    let (code, s) = status(&daemon);
    assert_eq!(
        code, 0,
        "a quorum of the old shares no longer opens the vault after a rekey whose answer \
         was lost: the owners are locked out. status={s} unseal answers={answers:?}"
    );
    assert_eq!((s["t"].as_u64(), s["n"].as_u64()), (Some(2), Some(3)));
    assert_eq!(
        raw_read(&daemon, &token, "secret/app").await.unwrap(),
        b"database-password-1"
    );

    // (Checked after the unseal, so that a server that commits at once fails
    // on what matters: the owners locked out.) Before the seal the rekey was
    // waiting for a quorum of the new shares, under a verification nonce...
    assert_eq!(pending["started"], true, "{pending}");
    assert_eq!(pending["verification_required"], true, "{pending}");
    let verification_nonce = pending["verification_nonce"].as_str().unwrap_or_default();
    assert!(!verification_nonce.is_empty(), "{pending}");
    assert_ne!(verification_nonce, nonce);
    // ...and the answer said so, with the next step.
    assert!(
        lost.stdout.contains("NOT in effect yet") && lost.stdout.contains(verification_nonce),
        "{}",
        lost.stdout
    );
    // The seal dropped it.
    assert_eq!(rekey_status(&daemon, &token)["started"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_rekey_retires_the_old_shares() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, old) = unsealed_3_of_2(dir.path());
    let token = old.root_token.clone();
    raw_write(&daemon, &token, "secret/app", b"database-password-1").await;

    let done = rekey_to_pending_verification(&daemon, &old);
    let new_keys = new_shares_of(&done);
    assert_eq!(new_keys.len(), 5);
    assert!(new_keys.iter().all(|k| !old.keys_hex.contains(k)));
    let vnonce = done["verification_nonce"].as_str().unwrap().to_owned();
    let nonce = done["nonce"].as_str().unwrap().to_owned();

    // The rekey takes no more current shares: it waits for the new ones.
    let out = rekey_update(&daemon, &nonce, &old.keys_hex[1]);
    out.expect_code(1);
    assert!(out.stderr.contains("verif"), "{}", out.stderr);

    let vs = verify_status(&daemon, &token);
    assert_eq!(vs["started"], true, "{vs}");
    assert_eq!(vs["nonce"], vnonce.as_str());
    // Verification asks for the new threshold, not the current one.
    assert_eq!((vs["t"].as_u64(), vs["n"].as_u64()), (Some(3), Some(5)));
    assert_eq!(vs["progress"], 0);
    // The verification status needs the root token.
    daemon
        .cli(None, &["operator", "rekey", "--verify", "--status"])
        .expect_code(1);

    // A share with another nonce (the rekey's own, say) is refused.
    let out = rekey_verify(&daemon, &nonce, &new_keys[0]);
    out.expect_code(1);
    assert!(out.stderr.contains("nonce"), "{}", out.stderr);

    // One new share; the same one again does not count twice.
    let first = rekey_verify(&daemon, &vnonce, &new_keys[0]);
    first.expect_code(0);
    assert_eq!(first.json()["progress"], 1);
    assert_eq!(first.json()["complete"], false);
    let dup = rekey_verify(&daemon, &vnonce, &new_keys[0]);
    dup.expect_code(0);
    assert_eq!(dup.json()["progress"], 1);
    assert_eq!(dup.json()["duplicate"], true);
    assert_eq!(dup.json()["complete"], false);
    // rekey --status shows the verification and its progress.
    let rs = rekey_status(&daemon, &token);
    assert_eq!(rs["verification_nonce"], vnonce.as_str(), "{rs}");
    assert_eq!(rs["verification_progress"], 1, "{rs}");

    assert_eq!(
        rekey_verify(&daemon, &vnonce, &new_keys[2]).json()["progress"],
        2
    );
    seal_config_unchanged(&daemon);

    // The third new share completes the verification and installs them.
    let last = rekey_verify(&daemon, &vnonce, &new_keys[4]);
    last.expect_code(0);
    assert_eq!(last.json()["complete"], true, "{}", last.stdout);
    assert_eq!(rekey_status(&daemon, &token)["started"], false);
    assert_eq!(verify_status(&daemon, &token)["started"], false);

    seal(&daemon, &token);
    let (_, s) = status(&daemon);
    assert_eq!((s["t"].as_u64(), s["n"].as_u64()), (Some(3), Some(5)));
    // The old shares: two were a quorum; now three are asked for, and they do
    // not open the vault.
    for k in &old.keys_hex[..2] {
        unseal(&daemon, k).expect_code(0);
    }
    let out = unseal(&daemon, &old.keys_hex[2]);
    out.expect_code(1);
    assert!(out.stderr.contains("invalid key"), "{}", out.stderr);
    assert_eq!(status(&daemon).1["sealed"], true);
    for k in &new_keys[1..4] {
        unseal(&daemon, k).expect_code(0);
    }
    assert_eq!(status(&daemon).0, 0);
    assert_eq!(
        raw_read(&daemon, &token, "secret/app").await.unwrap(),
        b"database-password-1"
    );
}

#[test]
fn cancelling_during_verification_keeps_the_old_shares() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, old) = unsealed_3_of_2(dir.path());
    let token = old.root_token.clone();
    let done = rekey_to_pending_verification(&daemon, &old);
    let new_keys = new_shares_of(&done);
    let vnonce = done["verification_nonce"].as_str().unwrap().to_owned();
    rekey_verify(&daemon, &vnonce, &new_keys[0]).expect_code(0);

    // Cancelling the verification (root token) starts it over under a new
    // nonce; the rekey and its new shares stay.
    daemon
        .cli(None, &["operator", "rekey", "--verify", "--cancel"])
        .expect_code(1);
    let reset = daemon.cli(
        Some(&token),
        &[
            "operator", "rekey", "--verify", "--cancel", "--format", "json",
        ],
    );
    reset.expect_code(0);
    let vs = verify_status(&daemon, &token);
    assert_eq!(vs["started"], true, "{vs}");
    assert_eq!(vs["progress"], 0, "{vs}");
    let vnonce2 = vs["nonce"].as_str().unwrap().to_owned();
    assert_ne!(vnonce2, vnonce);
    assert_eq!(reset.json()["nonce"], vnonce2.as_str());
    let out = rekey_verify(&daemon, &vnonce, &new_keys[1]);
    out.expect_code(1);
    assert!(out.stderr.contains("nonce"), "{}", out.stderr);
    rekey_verify(&daemon, &vnonce2, &new_keys[1]).expect_code(0);

    // Cancelling the rekey ends everything: no verification takes shares.
    daemon
        .cli(Some(&token), &["operator", "rekey", "--cancel"])
        .expect_code(0);
    assert_eq!(rekey_status(&daemon, &token)["started"], false);
    let out = rekey_verify(&daemon, &vnonce2, &new_keys[2]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("no rekey is in progress"),
        "{}",
        out.stderr
    );

    // The new shares never took effect; the old ones still open the vault.
    seal(&daemon, &token);
    seal_config_unchanged(&daemon);
    unseal(&daemon, &new_keys[0]).expect_code(0);
    let out = unseal(&daemon, &new_keys[1]);
    out.expect_code(1);
    assert!(out.stderr.contains("invalid key"), "{}", out.stderr);
    unseal(&daemon, &old.keys_hex[1]).expect_code(0);
    unseal(&daemon, &old.keys_hex[2]).expect_code(0);
    assert_eq!(status(&daemon).0, 0);
}

#[test]
fn a_foreign_share_resets_the_verification_without_completing_it() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, old) = unsealed_3_of_2(dir.path());
    let token = old.root_token.clone();
    let done = rekey_to_pending_verification(&daemon, &old);
    let new_keys = new_shares_of(&done);
    let vnonce = done["verification_nonce"].as_str().unwrap().to_owned();

    rekey_verify(&daemon, &vnonce, &new_keys[0]).expect_code(0);
    rekey_verify(&daemon, &vnonce, &new_keys[1]).expect_code(0);
    // An old share is foreign to the new key: with it the quorum is full but
    // does not open the root key kept for the rekey. (One with a given new
    // share's identifier would only count as a duplicate: pick another.)
    let foreign = old
        .keys_hex
        .iter()
        .find(|k| new_keys[..2].iter().all(|n| share_id(k) != share_id(n)))
        .unwrap();
    let out = rekey_verify(&daemon, &vnonce, foreign);
    out.expect_code(1);
    assert!(out.stderr.contains("invalid key"), "{}", out.stderr);

    // Not complete: progress is back to zero under a new nonce (as Vault),
    // and the old nonce is refused.
    let vs = verify_status(&daemon, &token);
    assert_eq!(vs["started"], true, "{vs}");
    assert_eq!(vs["progress"], 0, "{vs}");
    let vnonce2 = vs["nonce"].as_str().unwrap().to_owned();
    assert_ne!(vnonce2, vnonce);
    rekey_verify(&daemon, &vnonce, &new_keys[2]).expect_code(1);
    seal_config_unchanged(&daemon);

    // The pending shares were kept: a right quorum under the new nonce
    // completes the rekey.
    for k in &new_keys[2..4] {
        rekey_verify(&daemon, &vnonce2, k).expect_code(0);
    }
    let last = rekey_verify(&daemon, &vnonce2, &new_keys[4]);
    last.expect_code(0);
    assert_eq!(last.json()["complete"], true, "{}", last.stdout);
    seal(&daemon, &token);
    for k in [&new_keys[0], &new_keys[1], &new_keys[4]] {
        unseal(&daemon, k).expect_code(0);
    }
    assert_eq!(status(&daemon).0, 0);
}

/// The vault still runs on the seal configuration init made (3 shares, 2 to
/// unseal): nothing of a pending rekey is stored.
fn seal_config_unchanged(daemon: &Daemon) {
    let (_, s) = status(daemon);
    assert_eq!((s["t"].as_u64(), s["n"].as_u64()), (Some(2), Some(3)));
}
