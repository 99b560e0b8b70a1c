//! The official OpenBao CLI (`bao` 2.7.2, tests/src/bao.rs) against a real
//! vaultd: each command as an operator types it, its exit code, its JSON
//! answer, and what vaultd holds afterwards, read back through vault-cli.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use vault_tests::bao::Bao;
use vault_tests::{Daemon, init, unseal};

/// An unsealed vaultd (1 of 1) with its root token, and `bao` holding it.
fn unsealed(dir: &std::path::Path) -> (Daemon, String, Bao) {
    let daemon = Daemon::start(dir);
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let bao = Bao::new(&daemon.addr, dir).with_token(&keys.root_token);
    (daemon, keys.root_token, bao)
}

/// What vaultd holds at `path`, read through vault-cli: the answer's `data`,
/// or `None` when there is nothing.
fn held(daemon: &Daemon, token: &str, path: &str) -> Option<Value> {
    let out = daemon.cli(Some(token), &["--format", "json", "read", path]);
    match out.code {
        0 => Some(out.json()["data"].clone()),
        _ => None,
    }
}

#[test]
fn kv_commands_write_and_read_what_vaultd_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root, bao) = unsealed(dir.path());
    bao.ok(&["secrets", "enable", "-path=secret", "-version=2", "kv"]);

    // put with key=value, then from stdin and from a file, nested values kept.
    let put = bao.json(&[
        "kv",
        "put",
        "-format=json",
        "secret/app",
        "user=alice",
        "password=hunter2",
    ]);
    assert_eq!(put["data"]["version"], 1, "{put}");
    let held_app = held(&daemon, &root, "secret/data/app").expect("secret/app stored");
    assert_eq!(
        held_app["data"],
        json!({"user": "alice", "password": "hunter2"})
    );
    let nested = json!({"a": {"b": [1, 2]}, "c": "d"});
    bao.run_with_input(
        &["kv", "put", "secret/nested", "-"],
        Some(&nested.to_string()),
    )
    .expect_code(0);
    assert_eq!(
        held(&daemon, &root, "secret/data/nested").unwrap()["data"],
        nested
    );
    let file = dir.path().join("secret.json");
    std::fs::write(&file, json!({"list": [{"k": "v"}], "n": 3}).to_string()).unwrap();
    bao.ok(&[
        "kv",
        "put",
        "secret/from-file",
        &format!("@{}", file.display()),
    ]);
    assert_eq!(
        held(&daemon, &root, "secret/data/from-file").unwrap()["data"],
        json!({"list": [{"k": "v"}], "n": 3})
    );

    // get: whole, one field, an older version, by -mount.
    let got = bao.json(&["kv", "get", "-format=json", "secret/app"]);
    assert_eq!(got["data"]["data"]["user"], "alice", "{got}");
    assert_eq!(got["data"]["metadata"]["version"], 1);
    let field = bao.ok(&["kv", "get", "-field=user", "secret/app"]);
    assert_eq!(field.trim(), "alice");
    bao.ok(&["kv", "put", "secret/app", "user=bob"]);
    let old = bao.json(&["kv", "get", "-format=json", "-version=1", "secret/app"]);
    assert_eq!(old["data"]["data"]["user"], "alice", "{old}");
    let by_mount = bao.json(&["kv", "get", "-format=json", "-mount=secret", "app"]);
    assert_eq!(by_mount["data"]["data"]["user"], "bob", "{by_mount}");

    // check-and-set: a stale version is refused, the current one accepted.
    let stale = bao.run(&["kv", "put", "-cas=1", "secret/app", "user=carol"]);
    assert_eq!(stale.code, 2, "{stale:?}");
    assert!(stale.stderr.contains("check-and-set"), "{stale:?}");
    bao.ok(&["kv", "put", "-cas=2", "secret/app", "user=carol"]);
    assert_eq!(
        held(&daemon, &root, "secret/data/app").unwrap()["metadata"]["version"],
        3
    );

    // patch merges into the latest version.
    bao.ok(&["kv", "patch", "secret/app", "role=admin"]);
    let patched = held(&daemon, &root, "secret/data/app").unwrap();
    assert_eq!(patched["data"], json!({"user": "carol", "role": "admin"}));
    assert_eq!(patched["metadata"]["version"], 4);

    // list.
    let keys = bao.json(&["kv", "list", "-format=json", "secret/"]);
    let mut keys: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["app", "from-file", "nested"]);

    // delete the latest, undelete it, destroy an old one.
    bao.ok(&["kv", "delete", "secret/app"]);
    assert!(
        held(&daemon, &root, "secret/data/app").is_none(),
        "the latest version is deleted"
    );
    bao.ok(&["kv", "undelete", "-versions=4", "secret/app"]);
    assert_eq!(
        held(&daemon, &root, "secret/data/app").unwrap()["data"]["role"],
        "admin"
    );
    bao.ok(&["kv", "destroy", "-versions=1", "secret/app"]);
    let meta = held(&daemon, &root, "secret/metadata/app").unwrap();
    assert_eq!(meta["versions"]["1"]["destroyed"], true, "{meta}");

    // metadata put, get, delete.
    bao.ok(&[
        "kv",
        "metadata",
        "put",
        "-max-versions=5",
        "-custom-metadata=owner=ops",
        "secret/app",
    ]);
    let meta = bao.json(&["kv", "metadata", "get", "-format=json", "secret/app"]);
    assert_eq!(meta["data"]["max_versions"], 5, "{meta}");
    assert_eq!(meta["data"]["custom_metadata"]["owner"], "ops", "{meta}");
    assert_eq!(meta["data"]["current_version"], 4, "{meta}");
    let held_meta = held(&daemon, &root, "secret/metadata/app").unwrap();
    assert_eq!(held_meta["custom_metadata"]["owner"], "ops");
    bao.ok(&["kv", "metadata", "delete", "secret/app"]);
    assert!(held(&daemon, &root, "secret/metadata/app").is_none());

    // A token whose policy reaches only secret/data/nested learns the
    // mount's version as root does; a mount it reaches nothing under stays
    // hidden behind a plain permission denied.
    bao.run_with_input(
        &["policy", "write", "nested-reader", "-"],
        Some(r#"path "secret/data/nested" { capabilities = ["read"] }"#),
    )
    .expect_code(0);
    bao.ok(&["secrets", "enable", "-path=other", "-version=2", "kv"]);
    let narrow = bao.json(&["token", "create", "-format=json", "-policy=nested-reader"]);
    let narrow = bao.with_token(narrow["auth"]["client_token"].as_str().unwrap());
    let read = narrow.json(&["kv", "get", "-format=json", "secret/nested"]);
    assert_eq!(read["data"]["data"], nested, "{read}");
    let hidden = narrow.run(&["kv", "get", "other/x"]);
    assert_eq!(hidden.code, 2, "{hidden:?}");
    assert!(hidden.stderr.contains("permission denied"), "{hidden:?}");

    // A missing secret: Vault's words and exit code 2.
    let missing = bao.run(&["kv", "get", "secret/missing"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("No value found at secret/data/missing"),
        "{missing:?}"
    );
}

/// Vault's mount semantics: `kv` is version 1 (plain paths, no versions),
/// `kv-v2` or `-version=2` is version 2; both CLIs follow the mount.
#[test]
fn secrets_enable_kv_is_version_1_and_kv_v2_is_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root, bao) = unsealed(dir.path());
    bao.ok(&["secrets", "enable", "-path=one", "kv"]);
    bao.ok(&["secrets", "enable", "-path=two", "kv-v2"]);
    bao.ok(&["secrets", "enable", "-path=cli-one", "-version=1", "kv"]);
    daemon
        .cli(
            Some(&root),
            &["secrets", "enable", "--path", "cli-two", "kv-v2"],
        )
        .expect_code(0);
    let mounts = bao.json(&["secrets", "list", "-format=json"]);
    for (mount, version) in [
        ("one/", "1"),
        ("two/", "2"),
        ("cli-one/", "1"),
        ("cli-two/", "2"),
    ] {
        assert_eq!(mounts[mount]["type"], "kv", "{mount}: {mounts}");
        assert_eq!(
            mounts[mount]["options"]["version"], version,
            "{mount}: {mounts}"
        );
    }

    // Version 1: the secret is stored at its plain path, whole.
    bao.ok(&["kv", "put", "one/app", "user=alice"]);
    assert_eq!(
        held(&daemon, &root, "one/app").unwrap(),
        json!({"user": "alice"})
    );
    bao.run_with_input(&["write", "one/nested", "-"], Some(r#"{"a":{"b":1}}"#))
        .expect_code(0);
    let got = bao.json(&["kv", "get", "-format=json", "one/nested"]);
    assert_eq!(got["data"], json!({"a": {"b": 1}}), "{got}");
    let keys = bao.json(&["kv", "list", "-format=json", "one/"]);
    assert_eq!(keys, json!(["app", "nested"]));
    bao.ok(&["kv", "delete", "one/app"]);
    assert!(held(&daemon, &root, "one/app").is_none());
    // bao leaves -cas out on a version 1 mount: a plain write.
    bao.ok(&["kv", "put", "-cas=0", "one/app", "user=bob"]);
    assert_eq!(
        held(&daemon, &root, "one/app").unwrap(),
        json!({"user": "bob"})
    );

    // vault-cli's kv commands follow the mount's version too.
    daemon
        .cli(
            Some(&root),
            &["kv", "put", "cli-one/db", "password=s3cret-v1"],
        )
        .expect_code(0);
    assert_eq!(
        held(&daemon, &root, "cli-one/db").unwrap(),
        json!({"password": "s3cret-v1"})
    );
    let out = daemon.cli(
        Some(&root),
        &["--format", "json", "kv", "get", "cli-one/db"],
    );
    out.expect_code(0);
    assert_eq!(out.json()["data"], json!({"password": "s3cret-v1"}));
    daemon
        .cli(
            Some(&root),
            &["kv", "put", "cli-two/db", "password=s3cret-v2"],
        )
        .expect_code(0);
    assert_eq!(
        held(&daemon, &root, "cli-two/data/db").unwrap()["data"],
        json!({"password": "s3cret-v2"})
    );
}

/// The seal lifecycle as an operator runs it with `bao operator`: init (the
/// CLI sends its empty PGP fields), status (exit 2 sealed, 0 unsealed),
/// unseal with 3 of 5 shares, key-status, rotate, seal.
#[test]
fn operator_commands_take_a_vault_through_its_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let bao = Bao::new(&daemon.addr, dir.path());
    assert_eq!(bao.run(&["status"]).code, 2, "uninitialised is exit 2");
    let init = bao.json(&[
        "operator",
        "init",
        "-key-shares=5",
        "-key-threshold=3",
        "-format=json",
    ]);
    let shares: Vec<&str> = init["unseal_keys_b64"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(shares.len(), 5, "{init}");
    assert_eq!(init["unseal_threshold"], 3, "{init}");
    let root = init["root_token"].as_str().unwrap();
    vault_tests::secret_scan::note(root);
    let sealed = bao.run(&["status", "-format=json"]);
    assert_eq!(sealed.code, 2, "{sealed:?}");
    assert_eq!(sealed.json()["sealed"], true);

    for (i, share) in shares.iter().skip(1).take(3).enumerate() {
        let step = bao.json(&["operator", "unseal", "-format=json", share]);
        assert_eq!(step["sealed"], i < 2, "after share {}: {step}", i + 1);
    }
    let status = bao.json(&["status", "-format=json"]);
    assert_eq!(
        (
            status["sealed"].clone(),
            status["t"].clone(),
            status["n"].clone()
        ),
        (json!(false), json!(3), json!(5))
    );
    let (code, held_status) = vault_tests::status(&daemon);
    assert_eq!((code, held_status["sealed"].clone()), (0, json!(false)));

    let bao = bao.with_token(root);
    let before = bao.json(&["operator", "key-status", "-format=json"]);
    assert_eq!(before["term"], 1, "{before}");
    let rotated = bao.json(&["operator", "rotate", "-format=json"]);
    assert_eq!(rotated["term"], 2, "{rotated}");
    let held_term = daemon.cli(Some(root), &["--format", "json", "operator", "key-status"]);
    assert_eq!(held_term.json()["term"], 2, "{held_term:?}");

    bao.ok(&["operator", "seal"]);
    assert_eq!(bao.run(&["status"]).code, 2);
    assert_eq!(
        vault_tests::status(&daemon).0,
        2,
        "vaultd holds itself sealed"
    );
}

/// Secrets engines and auth methods enabled, tuned, listed and disabled;
/// policies; tokens with their limits; userpass and AppRole logins; audit
/// devices; the generic read, write, list, patch and delete.
#[test]
fn mounts_policies_tokens_logins_and_audit_devices() {
    let dir = tempfile::tempdir().unwrap();
    let audit_dir = dir.path().join("audit");
    std::fs::create_dir(&audit_dir).unwrap();
    let config = vault_tests::write_config(
        dir.path(),
        &format!(
            "unsafe_allow_api_audit_creation = true\nallowed_audit_file_dir = \"{}\"\n",
            audit_dir.display()
        ),
    );
    let daemon = Daemon::start_with(&config, dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = keys.root_token.as_str();
    let bao = Bao::new(&daemon.addr, dir.path()).with_token(root);

    // Secrets engines: enable, tune, list, disable.
    bao.ok(&[
        "secrets",
        "enable",
        "-path=kv",
        "-description=team secrets",
        "kv-v2",
    ]);
    bao.ok(&[
        "secrets",
        "tune",
        "-default-lease-ttl=1h",
        "-max-lease-ttl=2h",
        "kv/",
    ]);
    let tuned = held(&daemon, root, "sys/mounts/kv/tune").unwrap();
    assert_eq!(
        (
            tuned["default_lease_ttl"].clone(),
            tuned["max_lease_ttl"].clone()
        ),
        (json!(3600), json!(7200)),
        "{tuned}"
    );
    let listed = bao.json(&["secrets", "list", "-format=json"]);
    assert_eq!(listed["kv/"]["description"], "team secrets", "{listed}");
    bao.ok(&["secrets", "disable", "kv/"]);
    assert!(
        held(&daemon, root, "sys/mounts")
            .unwrap()
            .get("kv/")
            .is_none()
    );

    // Auth methods: enable, list, disable.
    bao.ok(&["auth", "enable", "-path=people", "userpass"]);
    bao.ok(&["auth", "enable", "approle"]);
    let methods = bao.json(&["auth", "list", "-format=json"]);
    assert_eq!(methods["people/"]["type"], "userpass", "{methods}");
    assert_eq!(methods["approle/"]["type"], "approle", "{methods}");

    // Policies.
    bao.run_with_input(
        &["policy", "write", "reader", "-"],
        Some(r#"path "secret/*" { capabilities = ["read", "list"] }"#),
    )
    .expect_code(0);
    let text = bao.ok(&["policy", "read", "reader"]);
    assert!(text.contains(r#"path "secret/*""#), "{text}");
    let names = bao.json(&["policy", "list", "-format=json"]);
    assert!(
        names.as_array().unwrap().contains(&json!("reader")),
        "{names}"
    );
    assert!(held(&daemon, root, "sys/policies/acl/reader").is_some());

    // Tokens with limits, looked up, renewed, their capabilities, revoked.
    let made = bao.json(&[
        "token",
        "create",
        "-format=json",
        "-policy=reader",
        "-ttl=1h",
        "-explicit-max-ttl=2h",
        "-use-limit=5",
    ]);
    let token = made["auth"]["client_token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&token);
    let seen = bao.json(&["token", "lookup", "-format=json", &token]);
    let data = &seen["data"];
    assert_eq!(data["policies"], json!(["default", "reader"]), "{data}");
    assert_eq!(
        (data["explicit_max_ttl"].clone(), data["num_uses"].clone()),
        (json!(7200), json!(5))
    );
    assert!(data["ttl"].as_u64().unwrap() <= 3600);
    let renewed = bao.json(&["token", "renew", "-format=json", "-increment=30m", &token]);
    assert_eq!(renewed["auth"]["lease_duration"], 1800, "{renewed}");
    let caps = bao.ok(&["token", "capabilities", &token, "secret/data/x"]);
    assert!(caps.contains("read") && caps.contains("list"), "{caps}");
    let orphan = bao.json(&["token", "create", "-format=json", "-orphan", "-period=30m"]);
    assert_eq!(orphan["auth"]["orphan"], true, "{orphan}");
    assert_eq!(orphan["auth"]["lease_duration"], 1800);
    bao.ok(&["token", "revoke", &token]);
    let gone = bao.run(&["token", "lookup", &token]);
    assert_eq!(gone.code, 2, "{gone:?}");
    assert!(gone.stderr.contains("bad token"), "{gone:?}");

    // userpass login, and a refused one in Vault's words.
    bao.ok(&[
        "write",
        "auth/people/users/alice",
        "password=alice-pw",
        "token_policies=reader",
    ]);
    let login = bao.json(&[
        "login",
        "-method=userpass",
        "-path=people",
        "-no-store",
        "-format=json",
        "username=alice",
        "password=alice-pw",
    ]);
    assert_eq!(
        login["auth"]["policies"],
        json!(["default", "reader"]),
        "{login}"
    );
    let refused = bao.run(&[
        "login",
        "-method=userpass",
        "-path=people",
        "-no-store",
        "username=alice",
        "password=wrong-pw",
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("invalid username or password"),
        "{refused:?}"
    );

    // AppRole: role, role_id, a secret_id made with -f (no body), login.
    bao.ok(&[
        "write",
        "auth/approle/role/web",
        "token_policies=reader",
        "secret_id_ttl=10m",
    ]);
    let role_id = bao.ok(&["read", "-field=role_id", "auth/approle/role/web/role-id"]);
    let secret_id = bao.ok(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/web/secret-id",
    ]);
    vault_tests::secret_scan::note(secret_id.trim());
    let login = bao.json(&[
        "write",
        "-format=json",
        "auth/approle/login",
        &format!("role_id={}", role_id.trim()),
        &format!("secret_id={}", secret_id.trim()),
    ]);
    assert_eq!(
        login["auth"]["policies"],
        json!(["default", "reader"]),
        "{login}"
    );

    // Audit devices.
    let log = audit_dir.join("bao.log");
    bao.ok(&[
        "audit",
        "enable",
        "file",
        &format!("file_path={}", log.display()),
    ]);
    let devices = bao.json(&["audit", "list", "-format=json"]);
    assert_eq!(devices["file/"]["type"], "file", "{devices}");
    bao.ok(&["read", "sys/mounts"]);
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("sys/mounts")
    );
    bao.ok(&["audit", "disable", "file/"]);
    assert_eq!(bao.json(&["audit", "list", "-format=json"]), json!({}));

    // The generic commands on a KV version 1 mount.
    bao.ok(&["secrets", "enable", "-path=plain", "kv"]);
    bao.ok(&["write", "plain/a", "x=1", "y=2"]);
    bao.run_with_input(&["write", "plain/b", "-"], Some(r#"{"n":{"m":[1]}}"#))
        .expect_code(0);
    assert_eq!(
        held(&daemon, root, "plain/b").unwrap(),
        json!({"n": {"m": [1]}})
    );
    let read = bao.json(&["read", "-format=json", "plain/a"]);
    assert_eq!(read["data"], json!({"x": "1", "y": "2"}), "{read}");
    assert_eq!(
        bao.json(&["list", "-format=json", "plain/"]),
        json!(["a", "b"])
    );
    bao.ok(&["delete", "plain/a"]);
    let missing = bao.run(&["read", "plain/a"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("No value found at plain/a"),
        "{missing:?}"
    );
    // patch on a KV version 2 secret, through the generic command.
    bao.ok(&["secrets", "enable", "-path=versioned", "kv-v2"]);
    bao.ok(&["kv", "put", "versioned/p", "a=1"]);
    bao.run_with_input(
        &["patch", "versioned/data/p", "-"],
        Some(r#"{"data":{"b":"2"}}"#),
    )
    .expect_code(0);
    assert_eq!(
        held(&daemon, root, "versioned/data/p").unwrap()["data"],
        json!({"a": "1", "b": "2"})
    );
}

/// PostgreSQL credentials and their leases through `bao`: read creds, lease
/// lookup, renew, revoke (one, by prefix, by force), checked in pg_roles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_credentials_and_lease_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root, bao) = unsealed(dir.path());
    let url = vault_tests::postgres_url();
    let (user, password, host) = vault_tests::pg_url_parts(&url);
    let admin = vault_tests::pg_connect(&url).await;
    let role = format!("bao{}", std::process::id());
    bao.ok(&["secrets", "enable", "database"]);
    bao.ok(&[
        "write",
        "database/config/pg",
        "plugin_name=postgresql-database-plugin",
        &format!("connection_url=postgres://{{{{username}}}}:{{{{password}}}}@{host}/postgres"),
        &format!("username={user}"),
        &format!("password={password}"),
        "allowed_roles=*",
    ]);
    let creation =
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';";
    bao.ok(&[
        "write",
        &format!("database/roles/{role}"),
        "db_name=pg",
        &format!("creation_statements={creation}"),
        "username_template=v-{{.RoleName}}-{{random 10}}",
        "default_ttl=1h",
        "max_ttl=24h",
    ]);
    let prefix = format!("v-{role}-");
    let creds = |bao: &Bao| {
        let answer = bao.json(&["read", "-format=json", &format!("database/creds/{role}")]);
        (
            answer["lease_id"].as_str().unwrap().to_owned(),
            answer["data"]["username"].as_str().unwrap().to_owned(),
            answer["lease_duration"].clone(),
        )
    };
    let (lease, username, duration) = creds(&bao);
    assert_eq!(duration, 3600);
    assert!(username.starts_with(&prefix), "{username}");
    assert_eq!(
        vault_tests::pg_roles_with_prefix(&admin, &username).await,
        std::slice::from_ref(&username)
    );

    let looked = bao.json(&["lease", "lookup", "-format=json", &lease]);
    assert_eq!(looked["data"]["id"], lease.as_str(), "{looked}");
    assert!(looked["data"]["ttl"].as_u64().unwrap() <= 3600);
    let renewed = bao.json(&["lease", "renew", "-format=json", "-increment=2h", &lease]);
    assert_eq!(renewed["lease_duration"], 7200, "{renewed}");
    let expiry = vault_tests::pg_connect(&url)
        .await
        .query_one(
            "SELECT extract(epoch FROM rolvaliduntil - now())::float8 FROM pg_roles WHERE rolname = $1",
            &[&username],
        )
        .await
        .unwrap()
        .get::<_, f64>(0);
    assert!(
        (expiry - 7200.0).abs() < 60.0,
        "VALID UNTIL follows the renewal: {expiry}s left"
    );

    bao.ok(&["lease", "revoke", &lease]);
    assert!(
        vault_tests::pg_roles_with_prefix(&admin, &username)
            .await
            .is_empty(),
        "revoking the lease drops the role"
    );
    let gone = bao.run(&["lease", "lookup", &lease]);
    assert_eq!(gone.code, 2, "{gone:?}");

    let _ = creds(&bao);
    let _ = creds(&bao);
    assert_eq!(
        vault_tests::pg_roles_with_prefix(&admin, &prefix)
            .await
            .len(),
        2
    );
    bao.ok(&[
        "lease",
        "revoke",
        "-prefix",
        &format!("database/creds/{role}"),
    ]);
    assert!(
        vault_tests::pg_roles_with_prefix(&admin, &prefix)
            .await
            .is_empty()
    );

    let _ = creds(&bao);
    bao.ok(&[
        "lease",
        "revoke",
        "-force",
        "-prefix",
        &format!("database/creds/{role}"),
    ]);
    let listed = daemon.cli(
        Some(&root),
        &[
            "lease",
            "list",
            &format!("database/creds/{role}/"),
            "--format",
            "json",
        ],
    );
    assert!(
        listed.code != 0 || listed.json() == json!([]),
        "no lease is left after a forced revocation: {listed:?}"
    );
}

#[test]
fn login_mfa_in_two_steps_and_in_one_with_dash_mfa() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, _root, bao) = unsealed(dir.path());
    bao.ok(&["auth", "enable", "userpass"]);
    bao.ok(&[
        "write",
        "auth/userpass/users/dana",
        "password=dana-password",
    ]);
    let anonymous = Bao::new(&daemon.addr, dir.path());
    let login = |extra: &[&str]| {
        let mut args = vec!["login", "-no-store", "-format=json", "-method=userpass"];
        args.extend(extra);
        args.extend(["username=dana", "password=dana-password"]);
        anonymous.json(&args)
    };
    let first = login(&[]);
    let entity = first["auth"]["entity_id"].as_str().unwrap().to_owned();
    let accessor = bao.json(&["auth", "list", "-format=json"])["userpass/"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let method = bao.json(&[
        "write",
        "-format=json",
        "identity/mfa/method/totp",
        "issuer=vault",
    ])["data"]["method_id"]
        .as_str()
        .unwrap()
        .to_owned();
    bao.ok(&[
        "write",
        "identity/mfa/login-enforcement/people",
        &format!("mfa_method_ids={method}"),
        &format!("auth_method_accessors={accessor}"),
    ]);
    let generated = bao.json(&[
        "write",
        "-format=json",
        "identity/mfa/method/totp/admin-generate",
        &format!("method_id={method}"),
        &format!("entity_id={entity}"),
    ]);
    let key = vault_tests::otp::key_of(generated["data"]["url"].as_str().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = |step: u64| vault_core::identity::mfa::totp::code(&key, now + step * 30);

    // Without a code: the requirement, no token.
    let pending = login(&[]);
    assert_eq!(pending["auth"]["client_token"], "", "{pending}");
    let request_id = pending["auth"]["mfa_requirement"]["mfa_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The second step as bao writes it.
    let body = json!({"mfa_request_id": request_id, "mfa_payload": {method.as_str(): [code(0)]}});
    let out = anonymous.run_with_input(
        &["write", "-format=json", "sys/mfa/validate", "-"],
        Some(&body.to_string()),
    );
    out.expect_code(0);
    let token = out.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(token.starts_with("s."), "{token}");

    // One step, with -mfa (the X-Vault-MFA header); a used code fails.
    let used = anonymous.run(&[
        "login",
        "-no-store",
        "-method=userpass",
        &format!("-mfa={method}:{}", code(0)),
        "username=dana",
        "password=dana-password",
    ]);
    assert_ne!(used.code, 0, "a replayed code logged in");
    let fresh = login(&[&format!("-mfa={method}:{}", code(1))]);
    assert!(
        fresh["auth"]["client_token"]
            .as_str()
            .unwrap()
            .starts_with("s."),
        "{fresh}"
    );
}

#[test]
fn dash_wrap_ttl_and_unwrap_hand_a_secret_id_over_once() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root, bao) = unsealed(dir.path());
    bao.ok(&["auth", "enable", "approle"]);
    bao.ok(&["write", "auth/approle/role/app", "token_policies=default"]);
    bao.ok(&["secrets", "enable", "-path=secret", "-version=2", "kv"]);
    bao.ok(&["kv", "put", "secret/app", "user=alice"]);

    // The secret-zero flow: a wrapped secret_id, unwrapped by an
    // application that holds no token of its own.
    let wrapped = bao.json(&[
        "write",
        "-wrap-ttl=60s",
        "-format=json",
        "-f",
        "auth/approle/role/app/secret-id",
    ]);
    let info = &wrapped["wrap_info"];
    assert_eq!(info["ttl"], 60, "{wrapped}");
    assert_eq!(info["creation_path"], "auth/approle/role/app/secret-id");
    assert!(wrapped["data"].is_null(), "{wrapped}");
    let token = info["token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&token);
    let app = Bao::new(&daemon.addr, &dir.path().join("app"));
    let inside = app.json(&["unwrap", "-format=json", &token]);
    assert_eq!(
        inside["data"]["secret_id_accessor"], info["wrapped_accessor"],
        "{inside}"
    );
    let secret_id = inside["data"]["secret_id"].as_str().unwrap();
    vault_tests::secret_scan::note(secret_id);
    // It is a live secret_id: it logs in.
    let role_id = bao.ok(&["read", "-field=role_id", "auth/approle/role/app/role-id"]);
    let login = bao.json(&[
        "write",
        "-format=json",
        "auth/approle/login",
        &format!("role_id={}", role_id.trim()),
        &format!("secret_id={secret_id}"),
    ]);
    vault_tests::secret_scan::note_in(&login);
    assert!(login["auth"]["client_token"].is_string(), "{login}");
    // Whoever comes second gets Vault's error and bao's exit code 2.
    let again = app.run(&["unwrap", &token]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("wrapping token is not valid or does not exist"),
        "{}",
        again.stderr
    );

    // A wrapped KV read, unwrapped by a caller with a token of its own
    // (the wrapping token then travels in the body).
    let wrapped = bao.json(&["kv", "get", "-wrap-ttl=5m", "-format=json", "secret/app"]);
    let token = wrapped["wrap_info"]["token"].as_str().unwrap().to_owned();
    vault_tests::secret_scan::note(&token);
    let looked = bao.json(&[
        "write",
        "-format=json",
        "sys/wrapping/lookup",
        &format!("token={token}"),
    ]);
    assert_eq!(
        looked["data"]["creation_path"], "secret/data/app",
        "{looked}"
    );
    let inside = bao.json(&["unwrap", "-format=json", &token]);
    assert_eq!(inside["data"]["data"]["user"], "alice", "{inside}");
    assert!(held(&daemon, &root, "secret/data/app").is_some());
}
