//! Audit attacks through the real daemon (issue 18): what a caller can make the
//! audit log say, and where it can make the vault write. Each test plays the
//! attack against a real vaultd and checks that it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::path::Path;

use serde_json::Value;
use vault_core::audit::{GENESIS_HASH, Hasher, checkpoint_message};
use vault_core::secret::Key256;
use vault_tests::{Daemon, init, unseal, write_config};

fn file_device(name: &str, path: &Path) -> String {
    format!(
        "[[audit]]\nname = \"{name}\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
        path.display()
    )
}

fn entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn start(dir: &Path, extra: &str) -> (Daemon, vault_tests::Init) {
    let config = write_config(dir, extra);
    let daemon = Daemon::start_with(&config, dir);
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    (daemon, keys)
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Asks the vault whether `signature` is device `device`'s checkpoint
/// signature at `seq` after `prev_hash`.
fn vault_says_valid(
    daemon: &Daemon,
    root: &str,
    device: &str,
    seq: u64,
    prev_hash: &str,
    signature: &str,
) -> bool {
    let out = daemon.cli(
        Some(root),
        &[
            "write",
            "--format",
            "json",
            &format!("sys/audit/{device}/verify-checkpoint"),
            &format!("seq={seq}"),
            &format!("prev_hash={prev_hash}"),
            &format!("signature={signature}"),
        ],
    );
    out.expect_code(0);
    out.json()["data"]["valid"].as_bool().unwrap()
}

/// The label the checkpoint key was once derived with: HMAC(device key, label),
/// exactly what the device writes for that string wherever a caller puts it.
const OLD_CHECKPOINT_LABEL: &str = "vault-audit-checkpoint-key-v1";

#[test]
fn a_checkpoint_key_read_from_the_log_cannot_forge_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &file_device("file", &log));
    let root = keys.root_token.as_str();
    daemon
        .cli(Some(root), &["auth", "enable", "approle"])
        .expect_code(0);

    // The attacker: no token, one failed login whose secret_id is the label.
    let login = daemon.cli(
        None,
        &[
            "write",
            "auth/approle/login",
            "role_id=not-a-role",
            &format!("secret_id={OLD_CHECKPOINT_LABEL}"),
        ],
    );
    assert_ne!(login.code, 0, "the login itself must fail");

    // What the log gives the attacker: the device's HMAC of the label.
    let all = entries(&log);
    let logged = all
        .iter()
        .find_map(|e| {
            (e["type"] == "request" && e["request"]["path"] == "auth/approle/login")
                .then(|| e["request"]["data"]["secret_id"].as_str())
                .flatten()
        })
        .expect("the login's request entry, with its secret_id HMAC'd");
    let key_hex = logged.strip_prefix("hmac-sha256:").unwrap();
    let candidate_key = Key256::from_slice(&unhex(key_hex)).unwrap();

    // A checkpoint the vault never wrote, signed with that key.
    let forged_prev = "ab".repeat(32);
    let forged_seq = 4242;
    let forged = Hasher::new(&candidate_key)
        .unwrap()
        .hash(&checkpoint_message(forged_seq, &forged_prev));

    // A real checkpoint verifies (so the endpoint answers at all)...
    let first = &all[0];
    assert_eq!(first["type"], "checkpoint");
    assert_eq!(first["prev_hash"], GENESIS_HASH);
    assert!(
        vault_says_valid(
            &daemon,
            root,
            "file",
            1,
            GENESIS_HASH,
            first["checkpoint"]["signature"].as_str().unwrap(),
        ),
        "the vault's own checkpoint must verify"
    );
    // ...and the forged one must not.
    assert!(
        !vault_says_valid(&daemon, root, "file", forged_seq, &forged_prev, &forged),
        "a checkpoint signed with a key read from the audit log verified: the \
         checkpoint key is the device's HMAC of {OLD_CHECKPOINT_LABEL:?}"
    );
    // The same forgery, of the real first checkpoint's position.
    let forged_first = Hasher::new(&candidate_key)
        .unwrap()
        .hash(&checkpoint_message(1, GENESIS_HASH));
    assert!(!vault_says_valid(
        &daemon,
        root,
        "file",
        1,
        GENESIS_HASH,
        &forged_first
    ));
}

#[test]
fn token_metadata_is_never_in_the_clear_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &file_device("file", &log));
    let root = keys.root_token.as_str();
    const TEAM: &str = "team-metadata-value-Qv47";
    let token = daemon.cli(
        Some(root),
        &[
            "token",
            "create",
            "--metadata",
            &format!("team={TEAM}"),
            "--field",
            "token",
        ],
    );
    token.expect_code(0);
    let token = token.stdout.trim().to_owned();
    // Every request the token makes carries its metadata in `auth`.
    daemon
        .cli(Some(&token), &["token", "lookup"])
        .expect_code(0);
    daemon
        .cli(Some(&token), &["read", "sys/mounts"])
        .expect_code(0);

    let text = std::fs::read_to_string(&log).unwrap();
    let in_clear: Vec<&str> = text.lines().filter(|l| l.contains(TEAM)).collect();
    assert!(
        in_clear.is_empty(),
        "token metadata in the clear in the audit log: {in_clear:#?}"
    );
    // It is there, HMAC'd, in the entries of the token's own requests.
    let hash = daemon.cli(Some(root), &["audit", "hash", "file", TEAM]);
    hash.expect_code(0);
    let hash = hash.stdout.trim();
    let used = entries(&log)
        .into_iter()
        .filter(|e| e["request"]["path"] == "sys/mounts")
        .collect::<Vec<_>>();
    assert!(!used.is_empty(), "the token's read is audited");
    for entry in used {
        assert_eq!(entry["auth"]["metadata"]["team"], hash, "{entry}");
    }
}
