//! vault-cli read as Vault's CLI reads: the whole data object as JSON from
//! `-` (stdin) or `@file`, nested values kept; a missing secret is exit 2
//! with Vault's words; `kv put` and `kv get` show a secret's metadata alike.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use vault_tests::{Daemon, cli, cli_with_env, unsealed_with_kv};

/// What vaultd holds at `path` (the answer's `data`), read over gRPC-backed
/// vault-cli in JSON.
fn held(daemon: &Daemon, token: &str, path: &str) -> Value {
    let out = daemon.cli(Some(token), &["--format", "json", "read", path]);
    out.expect_code(0);
    out.json()["data"].clone()
}

#[test]
fn whole_json_data_comes_from_stdin_or_a_file_nested_values_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    let nested = json!({"a": {"b": [1, 2]}, "c": "d"});
    let run = |args: &[&str], stdin: Option<&str>| {
        let out = cli(&daemon.addr, Some(root), args, stdin);
        out.expect_code(0);
        out
    };

    run(
        &["kv", "put", "secret/stdin", "-"],
        Some(&nested.to_string()),
    );
    assert_eq!(held(&daemon, root, "secret/data/stdin")["data"], nested);
    let file = dir.path().join("secret.json");
    std::fs::write(&file, nested.to_string()).unwrap();
    let at_file = format!("@{}", file.display());
    run(&["kv", "put", "secret/file", &at_file], None);
    assert_eq!(held(&daemon, root, "secret/data/file")["data"], nested);
    run(
        &["kv", "patch", "secret/file", "-"],
        Some(r#"{"e": {"f": true}}"#),
    );
    assert_eq!(
        held(&daemon, root, "secret/data/file")["data"],
        json!({"a": {"b": [1, 2]}, "c": "d", "e": {"f": true}})
    );

    // The generic commands take the body whole.
    run(
        &["write", "secret/data/generic", "-"],
        Some(&json!({"data": nested}).to_string()),
    );
    assert_eq!(held(&daemon, root, "secret/data/generic")["data"], nested);
    run(
        &["patch", "secret/data/generic", "-"],
        Some(r#"{"data": {"c": "patched"}}"#),
    );
    assert_eq!(
        held(&daemon, root, "secret/data/generic")["data"]["c"],
        "patched"
    );
    // A value of one field from stdin still works as before.
    run(&["kv", "put", "secret/one", "pw=-"], Some("from-stdin"));
    assert_eq!(
        held(&daemon, root, "secret/data/one")["data"],
        json!({"pw": "from-stdin"})
    );
    // Not an object: refused, naming what is wrong.
    let bad = cli(
        &daemon.addr,
        Some(root),
        &["kv", "put", "secret/bad", "-"],
        Some("[1]"),
    );
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stderr.contains("JSON object"), "{bad:?}");
}

#[test]
fn a_missing_secret_is_exit_2_in_vaults_words_and_put_shows_what_get_shows() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    for args in [
        &["kv", "get", "secret/missing"][..],
        &["read", "secret/data/missing"][..],
    ] {
        let out = daemon.cli(Some(root), args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains("No value found at secret/data/missing"),
            "{args:?}: {}",
            out.stderr
        );
    }

    let put = daemon.cli(Some(root), &["kv", "put", "secret/app", "k=v"]);
    put.expect_code(0);
    let get = daemon.cli(Some(root), &["kv", "get", "secret/app"]);
    get.expect_code(0);
    let line = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .map(|l| l[key.len()..].trim().to_owned())
            .unwrap_or_else(|| panic!("no {key} line in:\n{text}"))
    };
    for key in ["custom_metadata", "deletion_time", "destroyed", "version"] {
        assert_eq!(
            line(&put.stdout, key),
            line(&get.stdout, key),
            "{key}: put shows\n{}\nget shows\n{}",
            put.stdout,
            get.stdout
        );
    }
    assert_eq!(line(&get.stdout, "custom_metadata"), "<nil>");
    assert_eq!(line(&get.stdout, "deletion_time"), "n/a");
}

/// Vault's CLI takes long flags with one dash (`-path=foo`, `-format=json`),
/// and every Vault user types them so.
#[test]
fn single_dash_flags_work_as_in_vault() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    daemon
        .cli(
            Some(root),
            &["secrets", "enable", "-path=team", "-version=2", "kv"],
        )
        .expect_code(0);
    daemon
        .cli(Some(root), &["kv", "put", "-mount=team", "app", "k=v"])
        .expect_code(0);
    let field = daemon.cli(Some(root), &["kv", "get", "-field=k", "team/app"]);
    field.expect_code(0);
    assert_eq!(field.stdout.trim(), "v");
    let made = daemon.cli(
        Some(root),
        &[
            "token",
            "create",
            "-policy=default",
            "-ttl",
            "1h",
            "-format=json",
        ],
    );
    made.expect_code(0);
    assert!(made.json()["auth"]["lease_duration"].as_u64().unwrap() <= 3600);
    // A lone `-` is still stdin, not a flag.
    let out = cli(
        &daemon.addr,
        Some(root),
        &["kv", "put", "team/piped", "-"],
        Some(r#"{"x":"y"}"#),
    );
    out.expect_code(0);
}

/// `operator unseal` shows the rows `status` shows (HA's included), and a
/// nonce that is not there reads `n/a`, not an empty cell.
#[test]
fn unseal_shows_what_status_shows_and_empty_nonces_read_n_a() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = vault_tests::init(&daemon, 1, 1);
    let unsealed = daemon.cli(None, &["operator", "unseal", &keys.keys_hex[0]]);
    unsealed.expect_code(0);
    assert!(
        unsealed.stdout.contains("HA Enabled"),
        "{}",
        unsealed.stdout
    );
    let rekey = daemon.cli(Some(&keys.root_token), &["operator", "rekey", "--status"]);
    rekey.expect_code(0);
    let nonce = rekey
        .stdout
        .lines()
        .find(|l| l.starts_with("Nonce"))
        .unwrap_or_else(|| panic!("{}", rekey.stdout));
    assert!(nonce.ends_with("n/a"), "{nonce:?}");
}

/// The value of the table row `key` in `out`.
fn row(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| {
            l.strip_prefix(key)
                .filter(|rest| rest.starts_with(' '))
                .map(|rest| rest.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no {key} row in:\n{out}"))
}

/// Durations read as Vault's CLI writes them (`1h`, `59m58s`, `0s`) and
/// lists as `[a b]`, in every table: token create and token lookup alike.
#[test]
fn durations_and_lists_read_one_way() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    let created = daemon.cli(
        Some(root),
        &["token", "create", "--policy", "default", "--ttl", "1h"],
    );
    created.expect_code(0);
    assert_eq!(row(&created.stdout, "token_duration"), "1h");
    assert_eq!(row(&created.stdout, "token_policies"), "[default]");
    let token = row(&created.stdout, "token");
    let looked = daemon.cli(Some(root), &["token", "lookup", &token]);
    looked.expect_code(0);
    assert_eq!(row(&looked.stdout, "creation_ttl"), "1h");
    assert_eq!(row(&looked.stdout, "explicit_max_ttl"), "0s");
    assert_eq!(row(&looked.stdout, "period"), "0s");
    let ttl = row(&looked.stdout, "ttl");
    assert!(ttl == "1h" || ttl.starts_with("59m"), "ttl {ttl}");
    assert_eq!(row(&looked.stdout, "policies"), "[default]");
}

/// An empty variable is an unset one, as in Vault's CLI: not a usage error
/// (whose exit code 2 is `status`'s "sealed").
#[test]
fn empty_environment_variables_are_unset_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _keys) = unsealed_with_kv(dir.path());
    for var in [
        "VAULT_CACERT",
        "VAULT_FORMAT",
        "VAULT_NO_REQUEST_FORWARDING",
    ] {
        let out = cli_with_env(&daemon.addr, None, &["status"], None, &[(var, "")]);
        assert_eq!(out.code, 0, "{var}=: {}", out.stderr);
    }
    // An empty address is the default one (nothing listens there here).
    let out = cli_with_env(&daemon.addr, None, &["status"], None, &[("VAULT_ADDR", "")]);
    assert!(!out.stderr.contains("not a URL"), "{}", out.stderr);
}

/// An empty list says so as Vault's CLI does: "No value found at PATH" and
/// exit 2 for keys (list, kv list, lease list), "No audit devices are
/// enabled." for audit list. `kv list MOUNT/` (a trailing slash) lists.
#[test]
fn empty_lists_say_so_as_vault_does() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    let empty = |args: &[&str], said: &str| {
        let out = daemon.cli(Some(root), args);
        assert_eq!(out.code, 2, "{args:?}: {}{}", out.stdout, out.stderr);
        assert_eq!(out.stderr.trim(), said, "{args:?}");
    };
    empty(
        &["list", "secret/metadata"],
        "No value found at secret/metadata",
    );
    empty(
        &["kv", "list", "secret/"],
        "No value found at secret/metadata",
    );
    empty(
        &["kv", "list", "secret"],
        "No value found at secret/metadata",
    );
    empty(
        &["lease", "list", "database/creds/x/"],
        "No value found at sys/leases/lookup/database/creds/x",
    );
    empty(&["audit", "list"], "No audit devices are enabled.");
    let failing = daemon.cli(Some(root), &["lease", "list", "--failing"]);
    failing.expect_code(0);
    assert!(failing.stdout.contains("No lease"), "{}", failing.stdout);

    daemon
        .cli(Some(root), &["kv", "put", "secret/a", "x=1"])
        .expect_code(0);
    let listed = daemon.cli(Some(root), &["kv", "list", "secret/"]);
    listed.expect_code(0);
    assert_eq!(listed.stdout.lines().last(), Some("a"), "{}", listed.stdout);
    // A mount without a description reads n/a, as in Vault.
    let mounts = daemon.cli(Some(root), &["secrets", "list"]);
    let secret = mounts
        .stdout
        .lines()
        .find(|l| l.starts_with("secret/"))
        .unwrap_or_else(|| panic!("{}", mounts.stdout));
    assert!(secret.ends_with("n/a"), "{secret:?}");
}
