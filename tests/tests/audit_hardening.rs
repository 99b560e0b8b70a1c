//! Audit attacks through the real daemon (issue 18): what a caller can make the
//! audit log say, and where it can make the vault write. Each test plays the
//! attack against a real vaultd and checks that it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::path::Path;

use serde_json::Value;
use vault_core::audit::{GENESIS_HASH, Hasher, checkpoint_message};
use vault_core::secret::Key256;
use vault_tests::{Daemon, file_device, init, unseal, write_config};

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

/// A policy with `sudo` on `sys/audit/*`: enough, before issue 18, to make the
/// vault write a file anywhere it can.
const AUDIT_ADMIN: &str =
    r#"path "sys/audit/*" { capabilities = ["create", "read", "update", "delete", "sudo"] }"#;

fn audit_admin_token(daemon: &Daemon, root: &str) -> String {
    vault_tests::cli(
        &daemon.addr,
        Some(root),
        &["policy", "write", "audit-admin", "-"],
        Some(AUDIT_ADMIN),
    )
    .expect_code(0);
    let token = daemon.cli(
        Some(root),
        &[
            "token",
            "create",
            "--policy",
            "audit-admin",
            "--field",
            "token",
        ],
    );
    token.expect_code(0);
    token.stdout.trim().to_owned()
}

/// `audit enable --path NAME file file_path=PATH` as `token`; the CLI's output.
fn enable_file_device(
    daemon: &Daemon,
    token: &str,
    name: &str,
    path: &Path,
) -> vault_tests::CliOutput {
    daemon.cli(
        Some(token),
        &[
            "audit",
            "enable",
            "--path",
            name,
            "file",
            &format!("file_path={}", path.display()),
        ],
    )
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn enabling_an_audit_device_through_the_api_is_refused_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = start(dir.path(), "");
    let root = keys.root_token.as_str();
    let admin = audit_admin_token(&daemon, root);
    let target = dir.path().join("chosen-by-caller.log");
    for token in [admin.as_str(), root] {
        let out = enable_file_device(&daemon, token, "evil", &target);
        assert_ne!(out.code, 0, "enabled: {}", out.stdout);
        assert!(
            out.stderr.contains("unsafe_allow_api_audit_creation"),
            "the refusal must name the config key: {}",
            out.stderr
        );
        assert!(!target.exists(), "the vault created {}", target.display());
    }
    // Other device types too: the switch is about the API, not about files.
    let out = daemon.cli(Some(root), &["audit", "enable", "stdout"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("unsafe_allow_api_audit_creation"),
        "{}",
        out.stderr
    );
    let list = daemon.cli(Some(root), &["audit", "list", "--format", "json"]);
    list.expect_code(0);
    assert_eq!(
        list.json(),
        serde_json::json!({}),
        "no device may be enabled"
    );
}

#[test]
fn with_api_creation_allowed_but_no_directory_no_file_device_is_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = start(dir.path(), "unsafe_allow_api_audit_creation = true\n");
    let root = keys.root_token.as_str();
    let target = dir.path().join("audit.log");
    let out = enable_file_device(&daemon, root, "file", &target);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("allowed_audit_file_dir"),
        "the refusal must name the config key: {}",
        out.stderr
    );
    assert!(!target.exists());
}

#[test]
fn api_enabled_file_devices_are_new_files_inside_the_allowed_directory() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir(allowed.join("sub")).unwrap();
    let config = format!(
        "unsafe_allow_api_audit_creation = true\nallowed_audit_file_dir = \"{}\"\n",
        allowed.display()
    );
    let (daemon, keys) = start(dir.path(), &config);
    let root = keys.root_token.as_str();
    let admin = audit_admin_token(&daemon, root);

    // A file the vault did not make, in the directory and outside it.
    const KEEP: &str = "not the vault's file\n";
    let existing = allowed.join("existing.log");
    std::fs::write(&existing, KEEP).unwrap();
    let victim = outside.join("victim.conf");
    std::fs::write(&victim, KEEP).unwrap();
    // Links in the allowed directory to outside it, to a new and an existing file.
    let new_target = outside.join("new-target.log");
    std::os::unix::fs::symlink(&new_target, allowed.join("dangling.log")).unwrap();
    std::os::unix::fs::symlink(&victim, allowed.join("to-victim.log")).unwrap();
    let refused = [
        ("outside", outside.join("x.log")),
        ("dotdot", allowed.join("..").join("outside").join("y.log")),
        ("subdir", allowed.join("sub").join("z.log")),
        ("relative", Path::new("relative.log").to_path_buf()),
        ("dangling", allowed.join("dangling.log")),
        ("symlink", allowed.join("to-victim.log")),
        ("existing", existing.clone()),
        ("dir", allowed.clone()),
    ];
    for (name, path) in &refused {
        let out = enable_file_device(&daemon, &admin, name, path);
        assert_ne!(out.code, 0, "{name}: {} was accepted", path.display());
        assert!(
            !out.stderr.is_empty() && !out.stderr.contains("internal"),
            "{name}: {}",
            out.stderr
        );
    }
    for made in [
        outside.join("x.log"),
        outside.join("y.log"),
        allowed.join("sub/z.log"),
        new_target,
    ] {
        assert!(!made.exists(), "{} was created", made.display());
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), KEEP);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), KEEP);
    let out = enable_file_device(&daemon, &admin, "outside", &outside.join("x.log"));
    assert!(
        out.stderr.contains("allowed_audit_file_dir"),
        "{}",
        out.stderr
    );

    // A new file directly inside the directory: created, 0600, written.
    let log = allowed.join("api.log");
    enable_file_device(&daemon, &admin, "api", &log).expect_code(0);
    assert_eq!(mode(&log), 0o600);
    daemon.cli(Some(root), &["token", "lookup"]).expect_code(0);
    let written = entries(&log);
    assert_eq!(written[0]["type"], "checkpoint");
    assert!(
        written
            .iter()
            .any(|e| e["request"]["path"] == "auth/token/lookup-self")
    );
    // The same path again (under another name) is an existing file now.
    assert_ne!(enable_file_device(&daemon, &admin, "again", &log).code, 0);

    // After a restart the device goes on in its own file.
    assert!(daemon.stop().success());
    let daemon = Daemon::start_with(&write_config(dir.path(), &config), dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    daemon.cli(Some(root), &["token", "lookup"]).expect_code(0);
    let after = entries(&log);
    assert!(after.len() > written.len());
    assert_eq!(mode(&log), 0o600);
    assert!(daemon.stop().success());

    // Its file swapped for a link while the vault was stopped: not followed.
    std::fs::rename(&log, allowed.join("api.log.1")).unwrap();
    std::os::unix::fs::symlink(&victim, &log).unwrap();
    let daemon = Daemon::start_with(&write_config(dir.path(), &config), dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let out = daemon.cli(Some(root), &["token", "lookup"]);
    assert_ne!(out.code, 0, "served without its only audit device");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), KEEP);
}

#[test]
fn an_allowed_audit_file_dir_that_is_relative_or_missing_stops_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, "").unwrap();
    for bad in [
        "relative/dir".to_owned(),
        dir.path().join("missing").display().to_string(),
        not_a_dir.display().to_string(),
    ] {
        let config = write_config(
            dir.path(),
            &format!(
                "unsafe_allow_api_audit_creation = true\nallowed_audit_file_dir = \"{bad}\"\n"
            ),
        );
        let mut child = std::process::Command::new(vault_tests::bin("vaultd"))
            .arg("--config")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = vault_tests::wait_with_timeout(&mut child).expect("vaultd should exit");
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{bad}: {stderr}");
        assert!(stderr.contains("allowed_audit_file_dir"), "{bad}: {stderr}");
    }
}
