//! `vault-cli bench` against a fresh daemon and the test PostgreSQL: every
//! scenario runs, briefly, without an error, and reports the daemon's memory.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test panics to fail

use vault_tests::{Daemon, init, postgres_url, unseal};

const SCENARIOS: [&str; 6] = [
    "kv-read",
    "kv-write",
    "token-lookup",
    "approle-login",
    "db-creds",
    "lease-renew",
];

#[test]
fn bench_all_runs_every_scenario_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let pid = daemon.pid().to_string();
    let pg = postgres_url();
    let args = [
        "bench",
        "--scenario",
        "all",
        "--clients",
        "4",
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--format",
        "json",
        "--pid",
        &pid,
        "--pg-url",
        &pg,
    ];
    let out = daemon.cli(Some(&keys.root_token), &args);
    out.expect_code(0);
    let json = out.json();
    let results = json.as_array().unwrap();
    for name in SCENARIOS {
        let r = results
            .iter()
            .find(|r| r["scenario"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {}", out.stdout));
        assert!(r["ops"].as_u64().unwrap() > 0, "{name}: {r}");
        assert_eq!(r["errors"], 0, "{name}: {r}");
        assert_eq!(r["clients"], 4, "{name}: {r}");
        for field in ["rss_before_kib", "rss_after_kib", "hwm_after_kib"] {
            assert!(r[field].as_u64().unwrap() > 0, "{name}: {field}: {r}");
        }
    }
    let db = results
        .iter()
        .find(|r| r["scenario"] == "db-creds")
        .unwrap();
    assert_eq!(db["revoked"], db["ops"], "every credential revoked: {db}");

    // A second run reuses what the first made.
    let again = daemon.cli(
        Some(&keys.root_token),
        &[
            "bench",
            "--scenario",
            "kv-read",
            "--clients",
            "2",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--format",
            "json",
        ],
    );
    again.expect_code(0);
    assert_eq!(again.json()[0]["errors"], 0, "{}", again.stdout);
}

#[test]
fn bench_refuses_bad_arguments_with_exit_code_two() {
    // Checked before any connection: no daemon needed.
    for args in [
        vec!["bench", "--scenario", "kv-read", "--clients", "0"],
        vec!["bench", "--scenario", "kv-read", "--clients", "1025"],
        vec!["bench", "--scenario", "kv-read", "--duration", "11m"],
        vec!["bench", "--scenario", "kv-read", "--duration", "0s"],
        vec!["bench", "--scenario", "kv-read", "--warmup", "soon"],
        vec!["bench", "--scenario", "db-creds"],
        vec![
            "bench",
            "--scenario",
            "db-creds",
            "--pg-url",
            "mysql://u:secret@h/db",
        ],
    ] {
        let out = vault_tests::cli("http://127.0.0.1:1", Some("t"), &args, None);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("secret"), "{}", out.stderr);
    }
}
