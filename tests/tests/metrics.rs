//! `sys/metrics?format=prometheus` on the real daemon: scraped before and
//! after a scripted session (logins, KV reads and writes, database creds, a
//! revocation made to fail by stopping PostgreSQL), each counter has moved by
//! what the session did, the failing revocation shows, and no secret is in
//! the output.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::process::Command;

use serde_json::json;
use vault_tests::{
    Daemon, PgCluster, init, logical, logical_request, pg_database_config, pg_url_parts, unseal,
    write_config,
};

/// `GET /v1/sys/metrics?format=prometheus` with `token`: (HTTP code, body).
fn scrape(daemon: &Daemon, token: Option<&str>) -> (String, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--max-time", "30", "-w", "\n%{http_code}"]);
    if let Some(token) = token {
        cmd.args(["-H", &format!("X-Vault-Token: {token}")]);
    }
    let out = cmd
        .arg(format!("{}/v1/sys/metrics?format=prometheus", daemon.addr))
        .output()
        .expect("curl must be installed (./scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().to_owned(), body.to_owned())
}

/// The value of the sample `series` (name and labels exactly as rendered),
/// if the scrape has it.
fn find_sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// The value of the sample `series`; a series missing from the scrape fails
/// the test, so that a misspelt name cannot pass a check for 0.
#[track_caller]
fn sample(text: &str, series: &str) -> f64 {
    find_sample(text, series).unwrap_or_else(|| {
        let name = series.split('{').next().unwrap_or(series);
        let family: Vec<&str> = text.lines().filter(|l| l.starts_with(name)).collect();
        panic!("no series {series} in the scrape; of {name}: {family:#?}")
    })
}

/// A check that a counter did not move passed when the series did not exist
/// at all (a misspelt name, a label that is never rendered), because a
/// missing series read as 0. The helper must fail on one instead.
#[test]
#[should_panic(expected = "no series")]
fn a_missing_series_is_a_failure_not_zero() {
    let text = "vault_sealed 0\nvault_lease_revocations_total{outcome=\"revoked\"} 3\n";
    assert_eq!(sample(text, "vault_sealed"), 0.0);
    assert_eq!(
        sample(text, "vault_lease_revocations_total{outcome=\"revoked\"}"),
        3.0
    );
    sample(text, "vault_lease_revocations_total{outcome=\"revokd\"}");
}

fn requests(op: &str, mount_type: &str, outcome: &str) -> String {
    format!(
        "vault_requests_total{{operation=\"{op}\",mount_type=\"{mount_type}\",outcome=\"{outcome}\"}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_by_what_a_session_did() {
    let cluster = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    // No retry of the failed revocation within the test: one failure, counted once.
    let config = write_config(
        dir.path(),
        "[expiration]\nrevoke_backoff_base = \"1h\"\nrevoke_backoff_cap = \"1h\"\n",
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = keys.root_token.clone();
    let mut client = logical(&daemon).await;
    for (path, body) in [
        (
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        ),
        ("sys/mounts/database", json!({"type": "database"})),
        ("sys/auth/userpass", json!({"type": "userpass"})),
        (
            "auth/userpass/users/app",
            json!({"password": "app-password-123", "token_policies": "default"}),
        ),
        ("database/config/pg", pg_database_config(&cluster.url)),
        (
            "database/roles/app",
            json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
                "default_ttl": "1h",
            }),
        ),
    ] {
        client
            .write(logical_request(&root, path, body))
            .await
            .unwrap();
    }

    // Without a token: refused. With the root token: served.
    let (code, _) = scrape(&daemon, None);
    assert_eq!(code, "403");
    let (code, before) = scrape(&daemon, Some(&root));
    assert_eq!(code, "200", "{before}");
    assert!(before.ends_with("# EOF\n"), "{before}");

    // The session.
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let login = client
            .write(logical_request(
                "",
                "auth/userpass/login/app",
                json!({"password": "app-password-123"}),
            ))
            .await
            .unwrap()
            .into_inner();
        tokens.push(login.auth.unwrap().client_token);
    }
    client
        .write(logical_request(
            "",
            "auth/userpass/login/app",
            json!({"password": "wrong"}),
        ))
        .await
        .unwrap_err();
    for i in 0..2 {
        client
            .write(logical_request(
                &root,
                "secret/data/app",
                json!({"data": {"v": format!("kv-secret-{i}")}}),
            ))
            .await
            .unwrap();
    }
    for _ in 0..4 {
        client
            .read(logical_request(&root, "secret/data/app", json!({})))
            .await
            .unwrap();
    }
    let mut creds = Vec::new();
    for _ in 0..2 {
        let out = client
            .read(logical_request(&root, "database/creds/app", json!({})))
            .await
            .unwrap()
            .into_inner();
        let data: serde_json::Value = serde_json::from_str(&out.data_json).unwrap();
        creds.push((out.lease_id, data["password"].as_str().unwrap().to_owned()));
    }
    // PostgreSQL goes away; revoking one lease fails and is kept for retry.
    cluster.stop_server();
    let revoke = daemon.cli(Some(&root), &["lease", "revoke", &creds[0].0]);
    assert_ne!(
        revoke.code, 0,
        "the revocation cannot succeed: {}",
        revoke.stdout
    );

    let (code, after) = scrape(&daemon, Some(&root));
    assert_eq!(code, "200", "{after}");
    // A labelled series appears when it is first counted, so it may be
    // missing before the session (as 0) but must be there after it.
    let delta = |series: &str| sample(&after, series) - find_sample(&before, series).unwrap_or(0.0);
    assert_eq!(delta(&requests("update", "userpass", "ok")), 3.0, "{after}");
    assert_eq!(
        delta(&requests("update", "userpass", "permission_denied")),
        1.0
    );
    assert_eq!(delta(&requests("update", "kv", "ok")), 2.0);
    assert_eq!(delta(&requests("read", "kv", "ok")), 4.0);
    assert_eq!(delta(&requests("read", "database", "ok")), 2.0);
    assert_eq!(
        delta("vault_request_duration_seconds_count{operation=\"read\",mount_type=\"kv\"}"),
        4.0
    );
    assert_eq!(
        delta("vault_lease_revocations_total{outcome=\"failed\"}"),
        1.0
    );
    assert_eq!(
        delta("vault_lease_revocations_total{outcome=\"revoked\"}"),
        0.0
    );
    assert_eq!(sample(&after, "vault_leases{state=\"revoking\"}"), 1.0);
    assert_eq!(sample(&after, "vault_leases{state=\"active\"}"), 1.0);
    assert_eq!(
        sample(&after, "vault_leases_by_mount{mount=\"database/\"}"),
        2.0
    );
    // Root, the three login tokens, and their orphan parents: at least 4.
    assert!(sample(&after, "vault_tokens") >= 4.0, "{after}");
    // Storage: the session's writes were committed (in groups of one or
    // more), and its reads timed.
    assert!(delta("vault_storage_commits_total") >= 1.0, "{after}");
    assert!(
        sample(&after, "vault_storage_committed_writes_total")
            >= sample(&after, "vault_storage_commits_total")
    );
    assert!(
        delta("vault_storage_operation_duration_seconds_count{operation=\"batch\"}") >= 1.0,
        "{after}"
    );
    assert_eq!(sample(&after, "vault_sealed"), 0.0);
    // Not an HA server: no HA series to be misread as "this node is active".
    assert!(
        find_sample(&after, "vault_ha_active").is_none(),
        "vault_ha_active without HA: {after}"
    );
    assert!(sample(&after, "vault_process_resident_memory_bytes") > 1e6);
    assert!(sample(&after, "vault_process_open_fds") >= 3.0);

    // Nothing secret: no token, password or credential, in either scrape.
    let (_, password, _) = pg_url_parts(&cluster.url);
    let mut secrets = vec![root.clone(), "app-password-123".into(), password];
    secrets.extend(tokens);
    secrets.extend(creds.iter().map(|(_, p)| p.clone()));
    secrets.extend((0..2).map(|i| format!("kv-secret-{i}")));
    for secret in &secrets {
        assert!(!after.contains(secret.as_str()) && !before.contains(secret.as_str()));
    }
    cluster.start_server();
}

#[tokio::test]
async fn scraping_without_a_token_is_a_configured_choice() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "[telemetry]\nunauthenticated_metrics_access = true",
    );
    let daemon = Daemon::start_with(&config, dir.path());
    // Sealed and uninitialised, a scraper still learns that much.
    let (code, text) = scrape(&daemon, None);
    assert_eq!(code, "200", "{text}");
    assert_eq!(sample(&text, "vault_sealed"), 1.0, "{text}");
    // Without ?format, Vault's JSON: gauges, counters and samples by name.
    let out = Command::new("curl")
        .args(["-s", &format!("{}/v1/sys/metrics", daemon.addr)])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let sealed = json["Gauges"]
        .as_array()
        .unwrap_or_else(|| panic!("no Gauges: {json}"))
        .iter()
        .find(|g| g["Name"] == "vault_sealed")
        .unwrap_or_else(|| panic!("no vault_sealed gauge: {json}"));
    assert_eq!(sealed["Value"], 1.0, "{sealed}");
    for key in ["Counters", "Samples", "Points"] {
        assert!(json[key].is_array(), "{key}: {json}");
    }
    assert!(json["Timestamp"].is_string(), "{json}");
    // Any other format is refused, naming the two there are.
    let out = Command::new("curl")
        .args(["-s", &format!("{}/v1/sys/metrics?format=xml", daemon.addr)])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("prometheus"));
}
