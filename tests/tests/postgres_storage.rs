//! vaultd on the PostgreSQL storage backend, black box: init, unseal, write and
//! read through the CLI, restart, unseal, read back; nothing in the table is in
//! the clear. Each test works in a database of its own on the shared cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use vault_tests::{
    Daemon, contains, init, pg_connect, pg_create_database, postgres_url, unseal,
    write_postgres_config,
};

/// A database name no other test uses.
fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}_{}_{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_survives_a_restart_on_postgres() {
    let url = pg_create_database(&postgres_url(), &unique("vault_pg_kv")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_postgres_config(dir.path(), &url, "");
    let secret = format!("hunter2-{}", unique("s"));

    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = keys.root_token.clone();
    daemon
        .cli(
            Some(&root),
            &["secrets", "enable", "--path", "secret", "kv-v2"],
        )
        .expect_code(0);
    daemon
        .cli(
            Some(&root),
            &["kv", "put", "secret/app", &format!("password={secret}")],
        )
        .expect_code(0);
    let got = daemon.cli(
        Some(&root),
        &["kv", "get", "--format", "json", "secret/app"],
    );
    got.expect_code(0);
    assert!(got.stdout.contains(&secret), "{}", got.stdout);
    assert!(daemon.stop().success());

    // Nothing stored in the clear: not the secret, not the root token.
    let client = pg_connect(&url).await;
    let rows = client
        .query("SELECT key, value FROM vault_kv", &[])
        .await
        .unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        let key: String = row.get(0);
        let value: Vec<u8> = row.get(1);
        for needle in [secret.as_bytes(), root.as_bytes()] {
            assert!(!contains(key.as_bytes(), needle) && !contains(&value, needle));
        }
    }

    let daemon = Daemon::start_with(&config, dir.path());
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let got = daemon.cli(
        Some(&root),
        &["kv", "get", "--format", "json", "secret/app"],
    );
    got.expect_code(0);
    assert!(got.stdout.contains(&secret), "{}", got.stdout);
    let status = daemon.cli(None, &["status", "--format", "json"]);
    assert!(status.stdout.contains("postgres"), "{}", status.stdout);
    assert!(daemon.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_with_skip_create_table_is_refused() {
    let url = pg_create_database(&postgres_url(), &unique("vault_pg_skip")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_postgres_config(dir.path(), &url, "");
    let text = std::fs::read_to_string(&config).unwrap() + "skip_create_table = true\n";
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(vault_tests::bin("vaultd"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("vault_kv") && stderr.contains("does not exist"),
        "{stderr}"
    );
    let password = url.split('@').next().unwrap().rsplit(':').next().unwrap();
    assert!(
        !stderr.contains(password),
        "the password is in the error: {stderr}"
    );
}
