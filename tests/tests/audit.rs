//! Audit through the real daemon: every request and response is recorded with its
//! secrets HMAC'd, the log is hash-chained and verifiable, and the vault fails
//! closed without waiting on a hung device.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vault_tests::{Daemon, file_device, init, logical, logical_request, unseal, write_config};

fn entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn start(dir: &Path, devices: &str) -> (Daemon, vault_tests::Init) {
    let config = write_config(dir, devices);
    let daemon = Daemon::start_with(&config, dir);
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    (daemon, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_recorded_with_every_secret_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &file_device("file", &log));
    let root = keys.root_token.clone();
    let cli = |args: &[&str]| {
        let out = daemon.cli(Some(&root), args);
        out.expect_code(0);
        out.stdout.trim().to_owned()
    };
    const KV_SECRET: &str = "kv-secret-value-Zq81";
    const PASSWORD: &str = "user-password-Xk27";
    cli(&["secrets", "enable", "--path", "secret", "kv-v2"]);
    cli(&["kv", "put", "secret/app", &format!("password={KV_SECRET}")]);
    assert_eq!(
        cli(&["kv", "get", "--field", "password", "secret/app"]),
        KV_SECRET
    );
    cli(&["auth", "enable", "approle"]);
    cli(&["write", "auth/approle/role/web", "token_policies=default"]);
    let role_id = cli(&[
        "read",
        "--field",
        "role_id",
        "auth/approle/role/web/role-id",
    ]);
    let secret_id = cli(&[
        "write",
        "--field",
        "secret_id",
        "auth/approle/role/web/secret-id",
    ]);
    let login = daemon.cli(
        None,
        &[
            "login",
            "--no-store",
            "--method",
            "approle",
            "--format",
            "json",
            &format!("role_id={role_id}"),
            &format!("secret_id={secret_id}"),
        ],
    );
    login.expect_code(0);
    let app_token = login.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    cli(&["auth", "enable", "userpass"]);
    cli(&[
        "write",
        "auth/userpass/users/alice",
        &format!("password={PASSWORD}"),
    ]);
    daemon
        .cli(
            None,
            &[
                "login",
                "--no-store",
                "--method",
                "userpass",
                "username=alice",
                &format!("password={PASSWORD}"),
            ],
        )
        .expect_code(0);
    let child = cli(&["token", "create", "--field", "token"]);
    daemon
        .cli(Some(&child), &["token", "lookup"])
        .expect_code(0);
    let hash = cli(&["audit", "hash", "file", KV_SECRET]);
    assert!(hash.starts_with("hmac-sha256:"), "{hash}");

    let text = std::fs::read_to_string(&log).unwrap();
    for secret in [
        KV_SECRET,
        PASSWORD,
        &root,
        &root[2..],
        &app_token[2..],
        &child[2..],
        &secret_id,
        &role_id,
    ] {
        assert!(
            !text.contains(secret),
            "in the clear in the audit log: {secret}"
        );
    }
    assert!(
        text.contains(&hash),
        "audit hash must match the logged value"
    );

    // Every request entry has its response entry, and the chain is continuous.
    let all = entries(&log);
    let mut by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1));
        if i > 0 {
            assert_eq!(e["prev_hash"], all[i - 1]["hash"]);
        }
        if let Some(id) = e["request"]["id"].as_str() {
            by_id
                .entry(id.to_owned())
                .or_default()
                .push(e["type"].as_str().unwrap().to_owned());
        }
    }
    let paths: Vec<&str> = all
        .iter()
        .filter_map(|e| e["request"]["path"].as_str())
        .collect();
    for path in [
        "secret/data/app",
        "auth/approle/login",
        "auth/userpass/login/alice",
        "auth/token/create",
        "sys/unseal",
    ] {
        assert!(paths.contains(&path), "{path} not audited");
    }
    assert!(by_id.len() >= 15, "{} requests", by_id.len());
    for (id, types) in &by_id {
        assert!(
            types.contains(&"request".to_owned()) || id.is_empty(),
            "{id}: {types:?}"
        );
        assert!(types.contains(&"response".to_owned()), "{id}: {types:?}");
    }
    assert_eq!(all[0]["type"], "checkpoint");

    // A clean stop closes the log with a checkpoint, and the verifier accepts it.
    assert!(daemon.stop().success());
    let last = entries(&log).pop().unwrap();
    assert_eq!(last["checkpoint"]["reason"], "shutdown");
    let ok = vault_tests::cli(
        "http://127.0.0.1:1",
        None,
        &["audit", "verify", log.to_str().unwrap()],
        None,
    );
    ok.expect_code(0);
}

/// Copies of the log, each edited once, and the line the verifier must name.
#[test]
fn every_edit_of_the_log_is_detected_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &file_device("file", &log));
    for i in 0..5 {
        daemon
            .cli(
                Some(&keys.root_token),
                &["token", "create", "--display-name", &format!("t{i}")],
            )
            .expect_code(0);
    }
    assert!(daemon.stop().success());
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines.len() > 12, "{} lines", lines.len());
    let verify = |name: &str, edited: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
        vault_tests::cli(
            "http://127.0.0.1:1",
            None,
            &["audit", "verify", path.to_str().unwrap()],
            None,
        )
    };
    let mut changed = lines.clone();
    changed[5] = changed[5].replacen("token", "tokem", 1);
    let mut deleted = lines.clone();
    deleted.remove(6);
    let mut swapped = lines.clone();
    swapped.swap(7, 8);
    let mut inserted = lines.clone();
    inserted.insert(4, lines[2].clone());
    let truncated = lines[..lines.len() - 3].to_vec();
    for (name, edited, line) in [
        ("changed", changed, Some(6)),
        ("deleted", deleted, Some(7)),
        ("swapped", swapped, Some(8)),
        ("inserted", inserted, Some(5)),
        ("truncated", truncated, None),
    ] {
        let out = verify(name, &edited);
        out.expect_code(1);
        let said = format!("{}{}", out.stdout, out.stderr);
        if let Some(line) = line {
            assert!(said.contains(&format!("line {line}")), "{name}: {said}");
        } else {
            assert!(said.contains("checkpoint"), "{name}: {said}");
        }
    }
    verify("untouched", &lines).expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_closed_without_a_working_device_and_resume_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let devices = format!("{}{}", file_device("a", &a), file_device("b", &b));
    let (daemon, keys) = start(dir.path(), &devices);
    let root = Some(keys.root_token.as_str());
    daemon
        .cli(root, &["secrets", "enable", "--path", "secret", "kv-v2"])
        .expect_code(0);
    daemon
        .cli(root, &["kv", "put", "secret/app", "pw=the-secret-value"])
        .expect_code(0);
    let full = |path: &Path| {
        std::fs::remove_file(path).unwrap();
        std::os::unix::fs::symlink("/dev/full", path).unwrap();
    };
    // One device "disk full": the other still records, so requests succeed.
    full(&a);
    daemon
        .cli(root, &["kv", "get", "secret/app"])
        .expect_code(0);
    // Both: every request fails, says why, and returns no secret.
    full(&b);
    for args in [
        &["kv", "get", "secret/app"][..],
        &["kv", "put", "secret/app", "pw=new-value"],
    ] {
        let out = daemon.cli(root, args);
        out.expect_code(1);
        assert!(
            out.stderr.contains("audit log is unavailable"),
            "{}",
            out.stderr
        );
        assert!(!out.stdout.contains("the-secret-value"));
    }
    // The health service reports the failing devices.
    let channel = tonic::transport::Endpoint::from_shared(daemon.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "vault.audit".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        if status == tonic_health::pb::health_check_response::ServingStatus::NotServing {
            break;
        }
        assert!(Instant::now() < deadline, "audit health still {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The refused write was not applied; once a device works again, service resumes.
    std::fs::remove_file(&b).unwrap();
    let get = daemon.cli(root, &["kv", "get", "--field", "pw", "secret/app"]);
    get.expect_code(0);
    assert_eq!(get.stdout.trim(), "the-secret-value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_device_that_never_reads_does_not_stall_requests() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    // Accepts connections and never reads from them.
    let held = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            match stream {
                Ok(s) => held.push(s),
                Err(_) => break,
            }
        }
        held
    });
    let _ = held;
    let devices = format!(
        "{}[[audit]]\nname = \"sock\"\ntype = \"socket\"\noptions = {{ address = \"{address}\" }}\n",
        file_device("file", &dir.path().join("audit.log"))
    );
    let (daemon, keys) = start(dir.path(), &devices);
    let mut client = logical(&daemon).await;
    client
        .write(logical_request(
            &keys.root_token,
            "sys/mounts/secret",
            json!({"type": "kv-v2"}),
        ))
        .await
        .unwrap();
    // Big entries fill the socket's buffers quickly: 1,000 values (each an
    // HMAC in the entry) under long keys, within the bound past which an
    // entry records the body as one HMAC.
    let mut data = serde_json::Map::new();
    for i in 0..1000 {
        data.insert(format!("key{i:04}-{}", "k".repeat(40)), json!("v"));
    }
    let body = json!({ "data": data });
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for i in 0..60 {
        let t = Instant::now();
        client
            .write(logical_request(
                &keys.root_token,
                &format!("secret/data/k{i}"),
                body.clone(),
            ))
            .await
            .unwrap();
        slowest = slowest.max(t.elapsed());
        assert!(started.elapsed() < Duration::from_secs(120), "bounded");
    }
    // No request waited much past the device timeout (2 s).
    assert!(
        slowest < Duration::from_secs(5),
        "slowest request took {slowest:?}"
    );
    let list = daemon
        .cli(
            Some(&keys.root_token),
            &["audit", "list", "--format", "json"],
        )
        .json();
    assert_eq!(list["file/"]["healthy"], true);
    // The scenario happened: the socket device did hang and was skipped.
    let log = daemon.log_text();
    assert!(
        log.contains("device=sock"),
        "the socket device never failed: {log}"
    );
}

#[test]
fn the_verifier_checks_checkpoint_signatures_and_the_tail_with_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &file_device("file", &log));
    let root = Some(keys.root_token.as_str());
    for _ in 0..3 {
        daemon.cli(root, &["token", "create"]).expect_code(0);
    }
    let path = log.to_str().unwrap();
    // The live log: its open end is vouched for by the vault, its checkpoint signed.
    let out = daemon.cli(
        root,
        &["audit", "verify", "--vault", "--device", "file", path],
    );
    out.expect_code(0);
    // A copy without its last entries: the vault knows it recorded more.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = dir.path().join("cut.log");
    std::fs::write(&cut, lines[..lines.len() - 2].join("\n") + "\n").unwrap();
    let out = daemon.cli(
        root,
        &[
            "audit",
            "verify",
            "--vault",
            "--device",
            "file",
            cut.to_str().unwrap(),
        ],
    );
    out.expect_code(1);
    // A forged checkpoint signature is caught by the vault.
    let mut forged: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let mut first: Value = serde_json::from_str(&forged[0]).unwrap();
    first["checkpoint"]["signature"] = json!(format!("hmac-sha256:{}", "ab".repeat(32)));
    first.as_object_mut().unwrap().remove("hash");
    let hash = vault_core::audit::entry_hash(&first);
    first["hash"] = json!(hash);
    forged[0] = first.to_string();
    // Re-chain the second line onto the forged first, so only the signature is wrong.
    let mut second: Value = serde_json::from_str(&forged[1]).unwrap();
    second["prev_hash"] = json!(hash);
    second.as_object_mut().unwrap().remove("hash");
    let h2 = vault_core::audit::entry_hash(&second);
    second["hash"] = json!(h2);
    forged[1] = second.to_string();
    let forged_path = dir.path().join("forged.log");
    std::fs::write(&forged_path, forged[..2].join("\n") + "\n").unwrap();
    let out = daemon.cli(
        root,
        &[
            "audit",
            "verify",
            "--vault",
            "--allow-open-end",
            "--device",
            "file",
            forged_path.to_str().unwrap(),
        ],
    );
    out.expect_code(1);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("line 1") && said.contains("signature"),
        "{said}"
    );
}

#[test]
fn sighup_rotation_starts_a_new_file_linked_to_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let (daemon, keys) = start(dir.path(), &file_device("file", &log));
    let root = Some(keys.root_token.as_str());
    daemon.cli(root, &["token", "create"]).expect_code(0);
    let rotated = dir.path().join("audit.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &daemon.pid().to_string()])
        .status()
        .unwrap();
    daemon.cli(root, &["token", "create"]).expect_code(0);
    assert!(daemon.stop().success());
    let first = entries(&log).remove(0);
    assert_eq!(first["checkpoint"]["reason"], "open");
    assert_eq!(first["prev_hash"], entries(&rotated).pop().unwrap()["hash"]);
    let both = vault_tests::cli(
        "http://127.0.0.1:1",
        None,
        &[
            "audit",
            "verify",
            rotated.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        None,
    );
    both.expect_code(0);
    // The two files in the wrong order do not verify.
    let wrong = vault_tests::cli(
        "http://127.0.0.1:1",
        None,
        &[
            "audit",
            "verify",
            log.to_str().unwrap(),
            rotated.to_str().unwrap(),
        ],
        None,
    );
    wrong.expect_code(1);
}

#[test]
fn a_log_cut_while_the_vault_was_stopped_stays_detectable() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let config = write_config(dir.path(), &file_device("file", &log));
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    for _ in 0..3 {
        daemon
            .cli(Some(&keys.root_token), &["token", "create"])
            .expect_code(0);
    }
    assert!(daemon.stop().success());
    // Someone cuts the last lines (the closing checkpoint among them) while it is down.
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&log, lines[..lines.len() - 3].join("\n") + "\n").unwrap();
    let daemon = Daemon::start_with(&config, dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    // The vault continues from its own record, not from the cut file...
    assert!(
        daemon
            .log_text()
            .contains("does not end where the vault left it"),
        "{}",
        daemon.log_text()
    );
    assert!(daemon.stop().success());
    // ...so the gap stays visible to the verifier.
    let out = vault_tests::cli(
        "http://127.0.0.1:1",
        None,
        &["audit", "verify", log.to_str().unwrap()],
        None,
    );
    out.expect_code(1);
}

#[test]
fn a_device_that_cannot_open_yet_fails_closed_then_recovers_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let later = dir.path().join("not-mounted-yet");
    let (daemon, keys) = start(dir.path(), &file_device("file", &later.join("audit.log")));
    let root = Some(keys.root_token.as_str());
    let out = daemon.cli(root, &["token", "lookup"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("audit log is unavailable"),
        "{}",
        out.stderr
    );
    std::fs::create_dir(&later).unwrap();
    daemon.cli(root, &["token", "lookup"]).expect_code(0);
    let first = entries(&later.join("audit.log")).remove(0);
    assert_eq!(first["checkpoint"]["reason"], "open");
}

#[test]
fn a_stdout_device_writes_the_same_hashed_chained_entries() {
    let dir = tempfile::tempdir().unwrap();
    let devices = "[[audit]]\nname = \"out\"\ntype = \"stdout\"\n";
    let (daemon, keys) = start(dir.path(), devices);
    let root = Some(keys.root_token.as_str());
    daemon
        .cli(root, &["secrets", "enable", "--path", "secret", "kv-v2"])
        .expect_code(0);
    daemon
        .cli(root, &["kv", "put", "secret/app", "pw=stdout-secret-value"])
        .expect_code(0);
    let stdout = daemon.stdout.clone();
    assert!(daemon.stop().success());
    // The drain thread may trail the exit by a moment: wait (bounded) for the end.
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&stdout).unwrap_or_default();
        if text.contains("\"shutdown\"") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let all: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(all.len() > 6, "{text}");
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1));
        assert_eq!(
            e["hash"].as_str().unwrap(),
            vault_core::audit::entry_hash(e)
        );
    }
    assert!(!text.contains("stdout-secret-value"));
    assert!(!text.contains(&keys.root_token[2..]));
    assert_eq!(all.last().unwrap()["checkpoint"]["reason"], "shutdown");
}
