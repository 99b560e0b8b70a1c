//! Token roles, as Vault has them (`auth/token/roles/:name`,
//! `auth/token/create/:role`): the way an operator hands out a narrow
//! token-minting right, and binds the tokens made to networks. Black box,
//! over HTTP, against a real vaultd listening on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use vault_tests::http::http;
use vault_tests::{Daemon, unsealed_with_kv};

/// A token made by `token` at `path` with `body`: (status, answer).
fn create(daemon: &Daemon, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, answer) = http(daemon, token, "POST", path, Some(body));
    if let Some(made) = answer["auth"]["client_token"].as_str() {
        vault_tests::secret_scan::note(made);
    }
    (status, answer)
}

fn token_of(answer: &Value) -> String {
    answer["auth"]["client_token"].as_str().unwrap().to_owned()
}

#[test]
fn a_role_hands_out_a_narrow_right_to_mint_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    let ok = |method, path: &str, body: Value| {
        let (status, answer) = http(&daemon, root, method, path, Some(body));
        assert!(status < 300, "{method} {path}: {status} {answer}");
        answer
    };
    ok(
        "PUT",
        "sys/policies/acl/app",
        json!({"policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"}),
    );
    ok(
        "PUT",
        "sys/policies/acl/admin",
        json!({"policy": "path \"*\" { capabilities = [\"sudo\", \"read\"] }"}),
    );
    ok(
        "PUT",
        "sys/policies/acl/minter",
        json!({"policy": "path \"auth/token/create/app-minter\" { capabilities = [\"update\"] }"}),
    );
    ok(
        "POST",
        "auth/token/roles/app-minter",
        json!({
            "allowed_policies": ["app"],
            "disallowed_policies": ["admin"],
            "orphan": true,
            "token_period": "1h",
            "token_explicit_max_ttl": "0",
            "token_bound_cidrs": ["127.0.0.1/32"],
            "path_suffix": "v1",
        }),
    );
    let role = ok("GET", "auth/token/roles/app-minter", json!({}));
    assert_eq!(role["data"]["allowed_policies"], json!(["app"]), "{role}");
    assert_eq!(role["data"]["orphan"], true);
    assert_eq!(role["data"]["token_period"], 3600);
    let (status, listed) = http(&daemon, root, "LIST", "auth/token/roles", None);
    assert_eq!(
        (status, listed["data"]["keys"].clone()),
        (200, json!(["app-minter"]))
    );

    // The minter holds none of the role's policies, yet mints app tokens
    // through the role, and nothing else.
    let (_, minter) = create(
        &daemon,
        root,
        "auth/token/create",
        json!({"policies": ["minter"]}),
    );
    let minter = token_of(&minter);
    let (status, app) = create(&daemon, &minter, "auth/token/create/app-minter", json!({}));
    assert_eq!(status, 200, "{app}");
    let app_token = token_of(&app);
    let seen = http(&daemon, &app_token, "GET", "auth/token/lookup-self", None).1;
    let data = &seen["data"];
    assert_eq!(data["policies"], json!(["app", "default"]), "{data}");
    assert_eq!(data["orphan"], true);
    assert_eq!(data["period"], 3600);
    assert_eq!(data["path"], "auth/token/create/app-minter/v1");
    assert_eq!(data["bound_cidrs"], json!(["127.0.0.1/32"]));
    let (status, read) = http(&daemon, &app_token, "GET", "secret/data/app", None);
    assert_eq!(status, 404, "the app token may read its secret: {read}");

    let (status, refused) = create(
        &daemon,
        &minter,
        "auth/token/create/app-minter",
        json!({"policies": ["admin"]}),
    );
    assert_eq!(status, 400, "admin through the role: {refused}");
    let (status, refused) = create(&daemon, &minter, "auth/token/create", json!({}));
    assert_eq!(status, 403, "the minter outside its role: {refused}");

    // A role's networks bind the tokens made: outside them a token is refused.
    ok(
        "POST",
        "auth/token/roles/far",
        json!({"allowed_policies": ["app"], "token_bound_cidrs": ["10.0.0.0/8"]}),
    );
    let (status, far) = create(&daemon, root, "auth/token/create/far", json!({}));
    assert_eq!(status, 200, "{far}");
    let (status, _) = http(
        &daemon,
        &token_of(&far),
        "GET",
        "auth/token/lookup-self",
        None,
    );
    assert_eq!(
        status, 403,
        "a token bound to 10.0.0.0/8 used from 127.0.0.1"
    );

    // A child of a bound parent: the role's networks must lie inside the
    // parent's.
    let (_, bound) = create(
        &daemon,
        root,
        "auth/token/create",
        json!({"bound_cidrs": ["127.0.0.0/8"]}),
    );
    let (status, refused) = create(
        &daemon,
        &token_of(&bound),
        "auth/token/create/far",
        json!({}),
    );
    assert_eq!(
        status, 400,
        "10.0.0.0/8 under a parent bound to 127.0.0.0/8: {refused}"
    );

    let (status, _) = http(&daemon, root, "DELETE", "auth/token/roles/far", None);
    assert_eq!(status, 204);
    let (status, _) = create(&daemon, root, "auth/token/create/far", json!({}));
    assert_eq!(status, 400, "a deleted role makes nothing");
}
