//! The daemon as an operator meets it: refusing bad storage and bad config with
//! clear messages and distinct exit codes, private files, health, dev mode.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use vault_proto::v1::RawWriteRequest;
use vault_tests::{
    Daemon, Init, bin, eventually, init, unseal, wait_with_timeout, with_token, write_config,
};

/// A daemon on a fresh vault in `dir`, initialised with one share and unsealed.
fn unsealed_daemon(dir: &std::path::Path) -> (Daemon, Init) {
    let daemon = Daemon::start(dir);
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    (daemon, keys)
}

/// Runs vaultd with `config`, expecting it to exit by itself: (code, stderr).
fn run_to_exit(config: &std::path::Path) -> (i32, String) {
    let mut child = Command::new(bin("vaultd"))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_with_timeout(&mut child).expect("vaultd should have exited");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_file_that_is_not_a_vault_database_is_refused_with_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    std::fs::write(dir.path().join("vault.db"), vec![0x42u8; 8192]).unwrap();
    let (code, stderr) = run_to_exit(&config);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("is not a vault database"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Another program's SQLite database is not ours either, and is left untouched.
    std::fs::remove_file(dir.path().join("vault.db")).unwrap();
    let other = rusqlite::Connection::open(dir.path().join("vault.db")).unwrap();
    other
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
        .unwrap();
    drop(other);
    let (code, stderr) = run_to_exit(&config);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("application_id"), "{stderr}");
    let other = rusqlite::Connection::open(dir.path().join("vault.db")).unwrap();
    let body: String = other
        .query_row("SELECT body FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "hi");
}

/// The check of the whole file runs after start-up (a large vault must not
/// wait for it): a damaged file is served, and `status`, sealed and unsealed,
/// names the damage and what to do; the health service says degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_vault_database_is_reported_as_degraded() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_daemon(dir.path());
    let mut sys = daemon.sys().await;
    for i in 0..300 {
        let request = RawWriteRequest {
            path: format!("bulk/{i:04}"),
            value: vec![7u8; 200],
        };
        sys.raw_write(with_token(&keys.root_token, request))
            .await
            .unwrap();
    }
    drop(sys);
    assert!(daemon.stop().success());
    // Overwrite the middle of the file (b-tree pages) with garbage.
    let path = dir.path().join("vault.db");
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 16 * 4096,
        "the database should span many pages"
    );
    let mid = bytes.len() / 2;
    bytes[mid..mid + 8192].fill(0xA5);
    std::fs::write(&path, bytes).unwrap();

    let daemon = Daemon::start(dir.path());
    let reasons = |daemon: &Daemon| -> Vec<String> {
        let out = daemon.cli(None, &["status", "--format", "json"]);
        serde_json::from_value(out.json()["degraded"].clone()).unwrap_or_default()
    };
    let damaged = |daemon: &Daemon| {
        reasons(daemon)
            .iter()
            .any(|r| r.contains("integrity check") && r.contains("restore"))
    };
    let limit = std::time::Duration::from_secs(20);
    let seen = eventually(limit, || async { damaged(&daemon) }).await;
    assert!(seen.is_some(), "status never named the damage (sealed)");
    // Anyone may ask for the status: the reason does not say where the file is.
    let dir_text = dir.path().display().to_string();
    let shown = reasons(&daemon);
    assert!(shown.iter().all(|r| !r.contains(&dir_text)), "{shown:?}");
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    assert!(
        damaged(&daemon),
        "status stopped naming the damage once unsealed"
    );
    let channel = tonic::transport::Endpoint::from_shared(daemon.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "vault.not_degraded".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::NotServing);
}

/// A sound file passes its check: nothing is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_vault_database_is_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _keys) = unsealed_daemon(dir.path());
    assert!(daemon.stop().success());
    let daemon = Daemon::start(dir.path());
    // Long enough for the check of a file this small to have finished.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let out = daemon.cli(None, &["status", "--format", "json"]);
    assert_eq!(out.json()["degraded"], serde_json::json!([]), "{out:?}");
}

#[test]
fn bad_configuration_exits_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let plaintext_public = dir.path().join("public.toml");
    std::fs::write(
        &plaintext_public,
        "[listener]\naddress = \"0.0.0.0:18299\"\ntls_disable = true\n\
         [storage]\nkind = \"sqlite\"\npath = \"/tmp/never.db\"\n",
    )
    .unwrap();
    let (code, stderr) = run_to_exit(&plaintext_public);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("without TLS"), "{stderr}");

    // Plaintext is never the default, even on loopback: it must be asked for.
    let no_tls = dir.path().join("no-tls.toml");
    std::fs::write(
        &no_tls,
        "[listener]\naddress = \"127.0.0.1:0\"\n[storage]\nkind = \"sqlite\"\npath = \"/tmp/never.db\"\n",
    )
    .unwrap();
    let (code, stderr) = run_to_exit(&no_tls);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("TLS is required"), "{stderr}");

    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "listner = 1\n").unwrap();
    let (code, stderr) = run_to_exit(&unknown);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid config"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _keys) = unsealed_daemon(dir.path());
    for suffix in ["", "-wal", "-shm"] {
        let path = dir.path().join(format!("vault.db{suffix}"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    // A clean stop exits 0 and checkpoints the WAL into the main file.
    assert!(daemon.stop().success());
    let wal = std::fs::metadata(dir.path().join("vault.db-wal"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert_eq!(wal, 0, "the WAL is folded back on a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_seal() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let channel = tonic::transport::Endpoint::from_shared(daemon.addr.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let mut check = async || {
        health
            .check(HealthCheckRequest {
                service: "vault.v1.Sys".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status()
    };
    assert_eq!(check().await, ServingStatus::NotServing);
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    assert_eq!(check().await, ServingStatus::Serving);
    daemon
        .cli(Some(&keys.root_token), &["operator", "seal"])
        .expect_code(0);
    assert_eq!(check().await, ServingStatus::NotServing);
}

#[test]
fn dev_mode_starts_unsealed_and_prints_its_key_and_token() {
    let mut child = Command::new(bin("vaultd"))
        .args(["--dev", "--dev-listen-address", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut key, mut token, mut addr) = (None, None, None);
    for line in lines.by_ref().take(50) {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("Unseal Key: ") {
            key = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("Root Token: ") {
            token = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("vaultd: listening on ") {
            addr = Some(v.to_owned());
            break;
        }
    }
    let (key, token, addr) = (key.unwrap(), token.unwrap(), addr.unwrap());
    assert!(addr.starts_with("http://127.0.0.1:"));
    assert_eq!(key.len(), 44, "a base64 share");
    let out = vault_tests::cli(&addr, None, &["status", "--format", "json"], None);
    out.expect_code(0);
    assert_eq!(out.json()["sealed"], false);
    vault_tests::cli(&addr, Some(&token), &["operator", "key-status"], None).expect_code(0);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    // Drain what is left so the daemon never blocks on a full pipe while stopping.
    let drain = std::thread::spawn(move || lines.count());
    let code = wait_with_timeout(&mut child).unwrap();
    assert!(code.success());
    drain.join().unwrap();
}

#[test]
fn status_of_a_stopped_vault_is_an_error_exit_1() {
    let out = vault_tests::cli("http://127.0.0.1:1", None, &["status"], None);
    out.expect_code(1);
    assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
}

#[test]
fn a_tls_listener_serves_the_cli_that_trusts_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let config = dir.path().join("tls.toml");
    std::fs::write(
        &config,
        format!(
            "[listener]\naddress = \"127.0.0.1:0\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n\
             [storage]\nkind = \"sqlite\"\npath = \"{}\"\n",
            cert.display(),
            key.display(),
            dir.path().join("vault.db").display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start_with(&config, dir.path());
    assert!(
        daemon.addr.starts_with("https://127.0.0.1:"),
        "{}",
        daemon.addr
    );
    let cacert = cert.display().to_string();
    let out = vault_tests::cli_with_env(
        &daemon.addr,
        None,
        &["status", "--format", "json"],
        None,
        &[("VAULT_CACERT", &cacert)],
    );
    out.expect_code(2);
    assert_eq!(out.json()["initialized"], false);
    // Without the CA the certificate is not trusted: an error, not a
    // plaintext fallback, that names its cause once.
    let out = vault_tests::cli(&daemon.addr, None, &["status"], None);
    out.expect_code(1);
    assert_eq!(
        out.stderr.matches("UnknownIssuer").count(),
        1,
        "{}",
        out.stderr
    );
    // And a plaintext client cannot talk to it: told to use https://.
    let plain = daemon.addr.replace("https://", "http://");
    let out = vault_tests::cli(&plain, None, &["status"], None);
    out.expect_code(1);
    assert!(
        out.stderr.contains("use https://") && !out.stderr.contains("h2 protocol error"),
        "{}",
        out.stderr
    );
    // The other way round: https:// to a plaintext listener.
    let other = tempfile::tempdir().unwrap();
    let plaintext = Daemon::start(other.path());
    let tls_to_plain = plaintext.addr.replace("http://", "https://");
    let out = vault_tests::cli(&tls_to_plain, None, &["status"], None);
    out.expect_code(1);
    assert!(
        out.stderr.contains("use http://") && !out.stderr.contains("InvalidContentType"),
        "{}",
        out.stderr
    );
    // The HTTP API shares the port over TLS, for HTTP/1.1 clients that
    // announce their protocol (ALPN) as well as HTTP/2 ones.
    for version in ["--http1.1", "--http2"] {
        let out = std::process::Command::new("curl")
            .args(["-sS", version, "--cacert", &cacert])
            .arg(format!("{}/v1/sys/seal-status", daemon.addr))
            .output()
            .expect("curl must be installed (./scripts/test installs it)");
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && body.contains("\"initialized\":false"),
            "{version}: {body} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_dev_server_prints_the_exports_a_client_needs() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(vault_tests::bin("vaultd"));
    command.args(["--dev", "--dev-listen-address", "127.0.0.1:0"]);
    let daemon = Daemon::spawn(command, &dir.path().join("none.toml"), dir.path());
    let printed = std::fs::read_to_string(&daemon.stdout).unwrap();
    let token = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("export VAULT_TOKEN='"))
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no export VAULT_TOKEN line in: {printed}"))
        .to_owned();
    assert!(
        printed.contains(&format!("export VAULT_ADDR='{}'", daemon.addr)),
        "{printed}"
    );
    // The token printed is the root token: it reads the mounts. (Not noted
    // for the secret scan: the dev banner prints it on purpose.)
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut client = vault_tests::logical(&daemon).await;
        let mut request = tonic::Request::new(vault_proto::v1::LogicalRequest {
            path: "sys/mounts".into(),
            data_json: String::new(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert(vault_proto::TOKEN_METADATA_KEY, token.parse().unwrap());
        client
            .read(request)
            .await
            .expect("the printed token reads sys/mounts");
    });
}
