//! AppRole and userpass through the real daemon: concurrent secret_id uses, CIDR
//! binding, cross-role accessors, TOTP, lockout; and what the SQLite file holds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::sync::Arc;

use serde_json::{Value, json};
use vault_core::identity::mfa::totp;
use vault_tests::{
    cli_with_env, contains, database_bytes, logical, logical_request, unsealed_with_kv,
};

fn data(response: &vault_proto::v1::LogicalResponse) -> Value {
    serde_json::from_str(&response.data_json).unwrap()
}

async fn write(daemon: &vault_tests::Daemon, token: &str, path: &str, body: Value) -> Value {
    let response = logical(daemon)
        .await
        .write(logical_request(token, path, body))
        .await
        .unwrap_or_else(|e| panic!("{path}: {e:?}"))
        .into_inner();
    if response.data_json.is_empty() {
        Value::Null
    } else {
        data(&response)
    }
}

async fn approle_login(
    daemon: &vault_tests::Daemon,
    role_id: &str,
    secret_id: &str,
) -> Result<String, tonic::Status> {
    let request = vault_proto::v1::LogicalRequest {
        path: "auth/approle/login".into(),
        data_json: json!({"role_id": role_id, "secret_id": secret_id}).to_string(),
        ..Default::default()
    };
    logical(daemon)
        .await
        .write(tonic::Request::new(request))
        .await
        .map(|r| r.into_inner().auth.unwrap().client_token)
}

async fn role(
    daemon: &vault_tests::Daemon,
    root: &str,
    name: &str,
    body: Value,
) -> (String, String, String) {
    write(daemon, root, &format!("auth/approle/role/{name}"), body).await;
    let read = logical(daemon)
        .await
        .read(logical_request(
            root,
            &format!("auth/approle/role/{name}/role-id"),
            json!({}),
        ))
        .await
        .unwrap()
        .into_inner();
    let role_id = data(&read)["role_id"].as_str().unwrap().to_owned();
    let secret = write(
        daemon,
        root,
        &format!("auth/approle/role/{name}/secret-id"),
        json!({}),
    )
    .await;
    (
        role_id,
        secret["secret_id"].as_str().unwrap().to_owned(),
        secret["secret_id_accessor"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approle_uses_cidrs_and_accessors() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.clone();
    write(
        &daemon,
        &root,
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    write(
        &daemon,
        &root,
        "sys/policy/app",
        json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"}),
    )
    .await;

    // A secret_id with 3 uses: exactly 3 of 20 concurrent logins succeed.
    let (role_id, secret_id, _) = role(
        &daemon,
        &root,
        "three",
        json!({"token_policies": "app", "secret_id_num_uses": 3}),
    )
    .await;
    let daemon = Arc::new(daemon);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (d, r, s) = (Arc::clone(&daemon), role_id.clone(), secret_id.clone());
        tasks.push(tokio::spawn(async move { approle_login(&d, &r, &s).await }));
    }
    let mut ok = 0;
    let mut refusals = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::PermissionDenied);
                refusals.insert(status.message().to_owned());
            }
        }
    }
    assert_eq!(ok, 3, "a 3-use secret_id must allow exactly 3 logins");
    // A wrong role_id and a wrong secret_id get the same answer as a used-up one.
    for (r, s) in [
        ("not-a-role", secret_id.as_str()),
        (role_id.as_str(), "not-a-secret"),
    ] {
        refusals.insert(
            approle_login(&daemon, r, s)
                .await
                .unwrap_err()
                .message()
                .to_owned(),
        );
    }
    assert_eq!(refusals.len(), 1, "{refusals:?}");

    // The token it gives carries the role's policy and reads what it allows.
    let (role_id, secret_id, _) =
        role(&daemon, &root, "plain", json!({"token_policies": "app"})).await;
    let token = approle_login(&daemon, &role_id, &secret_id).await.unwrap();
    let me = logical(&daemon)
        .await
        .read(logical_request(&token, "auth/token/lookup-self", json!({})))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(data(&me)["policies"], json!(["app", "default"]));
    assert_eq!(data(&me)["orphan"], true);

    // Bound CIDRs: the daemon sees this test at 127.0.0.1.
    let (r, s, _) = role(
        &daemon,
        &root,
        "far",
        json!({"secret_id_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    assert_eq!(
        approle_login(&daemon, &r, &s).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );
    let (r, s, _) = role(
        &daemon,
        &root,
        "near",
        json!({"secret_id_bound_cidrs": "127.0.0.0/8"}),
    )
    .await;
    approle_login(&daemon, &r, &s).await.unwrap();

    // Role B's accessor cannot touch role A's secret_id.
    let (a_role, a_secret, a_accessor) = role(&daemon, &root, "role-a", json!({})).await;
    role(&daemon, &root, "role-b", json!({})).await;
    let cross = logical(&daemon)
        .await
        .write(logical_request(
            &root,
            "auth/approle/role/role-b/secret-id-accessor/destroy",
            json!({"secret_id_accessor": a_accessor}),
        ))
        .await;
    assert!(
        cross.is_err(),
        "destroying another role's secret_id must fail"
    );
    approle_login(&daemon, &a_role, &a_secret).await.unwrap();

    // The CLI logs in the same way and stores the token for later commands.
    let (r, s, _) = role(&daemon, &root, "cli", json!({"token_policies": "app"})).await;
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let env = [("HOME", home.to_str().unwrap())];
    let role_arg = format!("role_id={r}");
    let secret_arg = format!("secret_id={s}");
    cli_with_env(
        &daemon.addr,
        None,
        &["login", "--method", "approle", &role_arg, &secret_arg],
        None,
        &env,
    )
    .expect_code(0);
    let stored = std::fs::read_to_string(home.join(".vault-token")).unwrap();
    assert!(stored.starts_with("s."));
    // Nothing there yet: Vault's exit code 2 for a read of nothing.
    cli_with_env(&daemon.addr, None, &["kv", "get", "secret/app"], None, &env).expect_code(2);
    daemon
        .cli(Some(&root), &["kv", "put", "secret/app", "k=v"])
        .expect_code(0);
    cli_with_env(&daemon.addr, None, &["kv", "get", "secret/app"], None, &env).expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userpass_totp_lockout_and_nothing_in_the_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.clone();
    const PASSWORD: &str = "correct-horse-battery-staple";
    write(
        &daemon,
        &root,
        "sys/auth/userpass",
        json!({"type": "userpass"}),
    )
    .await;
    write(
        &daemon,
        &root,
        "auth/userpass/users/alice",
        json!({"password": PASSWORD, "token_policies": "default"}),
    )
    .await;
    let enrol = write(&daemon, &root, "auth/userpass/users/alice/totp", json!({})).await;
    let url = enrol["url"].as_str().unwrap();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    let secret_b32 = url
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let secret = totp::base32_decode(&secret_b32).unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let wrong = format!(
        "{:06}",
        (totp::code(&secret, now()).parse::<u32>().unwrap() + 500_000) % 1_000_000
    );

    let login = |extra: &[String]| {
        let mut args: Vec<String> = vec![
            "login".into(),
            "--method".into(),
            "userpass".into(),
            "--no-store".into(),
            "username=alice".into(),
        ];
        args.extend_from_slice(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        daemon.cli(None, &args)
    };
    let pw = format!("password={PASSWORD}");
    login(std::slice::from_ref(&pw)).expect_code(1);
    login(&[pw.clone(), format!("totp={wrong}")]).expect_code(1);
    let ok = login(&[pw.clone(), format!("totp={}", totp::code(&secret, now()))]);
    ok.expect_code(0);
    assert!(
        ok.stdout.contains("token_policies") && ok.stdout.contains("s."),
        "{}",
        ok.stdout
    );

    // Five bad passwords lock alice out; then even the right one fails, until unlocked.
    write(
        &daemon,
        &root,
        "auth/userpass/users/bob",
        json!({"password": PASSWORD}),
    )
    .await;
    let bob = |password: &str| {
        daemon.cli(
            None,
            &[
                "login",
                "--method",
                "userpass",
                "--no-store",
                "username=bob",
                &format!("password={password}"),
            ],
        )
    };
    bob(PASSWORD).expect_code(0);
    for _ in 0..5 {
        let out = bob("wrong-password");
        out.expect_code(1);
        // Vault's words, and a hint about the credentials, not the token.
        assert!(
            out.stderr.contains("invalid username or password")
                && out.stderr.contains("check the credentials"),
            "{}",
            out.stderr
        );
    }
    bob(PASSWORD).expect_code(1);
    write(&daemon, &root, "auth/userpass/users/bob/unlock", json!({})).await;
    bob(PASSWORD).expect_code(0);

    // Nothing secret in the clear in the database files: tokens, the KV value,
    // the password, the TOTP secret, an AppRole secret_id.
    write(
        &daemon,
        &root,
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    let (_, secret_id, _) = role(&daemon, &root, "scan", json!({})).await;
    daemon
        .cli(
            Some(&root),
            &["kv", "put", "secret/scan", "value=kv-plaintext-needle-42"],
        )
        .expect_code(0);
    let child = daemon
        .cli(Some(&root), &["token", "create", "--field", "token"])
        .stdout
        .trim()
        .to_owned();
    let running = database_bytes(&dir.path().join("vault.db"));
    assert!(daemon.stop().success());
    let stopped = database_bytes(&dir.path().join("vault.db"));
    let needles: Vec<&[u8]> = vec![
        root.as_bytes(),
        &root.as_bytes()[2..],
        &child.as_bytes()[2..],
        b"kv-plaintext-needle-42",
        PASSWORD.as_bytes(),
        secret_b32.as_bytes(),
        &secret,
        secret_id.as_bytes(),
    ];
    for bytes in [&running, &stopped] {
        assert!(
            contains(bytes, b"sys/token/id/"),
            "the scan reads the token records' keys"
        );
        for needle in &needles {
            assert!(
                !contains(bytes, needle),
                "in the clear: {}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}
