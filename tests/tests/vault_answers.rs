//! The failures clients tell apart, answered with Vault's status code and
//! text. Each row was taken from OpenBao 2.7.2 (its `bao` binary's dev
//! server, asked with curl; `../shared/reference/openbao-behaviour.md` §5)
//! and is checked here against a real vaultd over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use vault_tests::http::http;
use vault_tests::unsealed_with_kv;

/// One request and the answer OpenBao 2.7.2 gave it.
struct Row {
    what: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    status: u16,
    /// The `errors` list, whole.
    errors: Value,
}

#[test]
fn failures_answer_with_vaults_status_codes_and_texts() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    let setup = |method, path: &str, body: Value| {
        let (status, answer) = http(&daemon, root, method, path, Some(body));
        assert!(status < 300, "{method} {path}: {status} {answer}");
        answer
    };
    setup("POST", "sys/auth/approle", json!({"type": "approle"}));
    setup("POST", "sys/auth/userpass", json!({"type": "userpass"}));
    setup(
        "POST",
        "auth/approle/role/app",
        json!({"token_policies": "default"}),
    );
    setup(
        "POST",
        "auth/userpass/users/alice",
        json!({"password": "right-pw"}),
    );
    setup("POST", "secret/data/a", json!({"data": {"x": "1"}}));
    let role_id =
        http(&daemon, root, "GET", "auth/approle/role/app/role-id", None).1["data"]["role_id"]
            .as_str()
            .unwrap()
            .to_owned();

    let rows = [
        Row {
            what: "AppRole login with a wrong secret_id",
            method: "POST",
            path: "auth/approle/login",
            body: Some(json!({"role_id": role_id, "secret_id": "wrong"})),
            status: 400,
            errors: json!(["invalid role or secret ID"]),
        },
        Row {
            what: "AppRole login with an unknown role_id",
            method: "POST",
            path: "auth/approle/login",
            body: Some(json!({"role_id": "unknown", "secret_id": "wrong"})),
            status: 400,
            errors: json!(["invalid role or secret ID"]),
        },
        Row {
            what: "userpass login with a wrong password",
            method: "POST",
            path: "auth/userpass/login/alice",
            body: Some(json!({"password": "wrong-pw"})),
            status: 400,
            errors: json!(["invalid username or password"]),
        },
        Row {
            what: "userpass login of an unknown user",
            method: "POST",
            path: "auth/userpass/login/bob",
            body: Some(json!({"password": "wrong-pw"})),
            status: 400,
            errors: json!(["invalid username or password"]),
        },
        Row {
            what: "lookup of an unknown lease",
            method: "PUT",
            path: "sys/leases/lookup",
            body: Some(json!({"lease_id": "database/creds/ro/unknown"})),
            status: 400,
            errors: json!(["invalid lease"]),
        },
        Row {
            what: "renewal of an unknown lease",
            method: "PUT",
            path: "sys/leases/renew",
            body: Some(json!({"lease_id": "database/creds/ro/unknown"})),
            status: 400,
            errors: json!(["lease not found"]),
        },
        Row {
            what: "revocation of an unknown lease",
            method: "PUT",
            path: "sys/leases/revoke",
            body: Some(json!({"lease_id": "database/creds/ro/unknown"})),
            status: 204,
            errors: Value::Null,
        },
        Row {
            what: "read of a missing KV v2 secret",
            method: "GET",
            path: "secret/data/missing",
            body: None,
            status: 404,
            errors: json!([]),
        },
        Row {
            what: "read of a missing KV v2 version",
            method: "GET",
            path: "secret/data/a?version=7",
            body: None,
            status: 404,
            errors: json!([]),
        },
        Row {
            what: "write to a path no mount serves",
            method: "POST",
            path: "nomount/x",
            body: Some(json!({})),
            status: 404,
            errors: json!(["no handler for route \"nomount/x\". route entry not found."]),
        },
        Row {
            what: "lookup of a token that does not exist",
            method: "POST",
            path: "auth/token/lookup",
            body: Some(json!({"token": "s.doesnotexist"})),
            status: 403,
            errors: json!(["bad token"]),
        },
        Row {
            what: "renewal of a token that does not exist",
            method: "POST",
            path: "auth/token/renew",
            body: Some(json!({"token": "s.doesnotexist"})),
            status: 400,
            errors: json!(["token not found"]),
        },
        Row {
            what: "tuning a mount that does not exist",
            method: "POST",
            path: "sys/mounts/nope/tune",
            body: Some(json!({"default_lease_ttl": "1h"})),
            status: 400,
            errors: json!(["tune of path \"nope/\" failed: no mount entry found"]),
        },
        Row {
            what: "reading the tuning of a mount that does not exist",
            method: "GET",
            path: "sys/mounts/nope/tune",
            body: None,
            status: 400,
            errors: json!(["cannot fetch sysview for path \"nope/\""]),
        },
        Row {
            what: "disabling a mount that does not exist",
            method: "DELETE",
            path: "sys/mounts/nope",
            body: None,
            status: 204,
            errors: Value::Null,
        },
    ];
    let mut wrong = Vec::new();
    for row in &rows {
        let (status, answer) = http(&daemon, root, row.method, row.path, row.body.clone());
        let errors = answer.get("errors").cloned().unwrap_or(Value::Null);
        if status != row.status || errors != row.errors {
            wrong.push(format!(
                "{}: {} {} answered {status} {errors}, OpenBao answers {} {}",
                row.what, row.method, row.path, row.status, row.errors
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // And two answers that succeed, in Vault's shape: a root token's
    // capabilities are "root", and a renewal names the token it renewed.
    let (_, caps) = http(
        &daemon,
        root,
        "POST",
        "sys/capabilities-self",
        Some(json!({"paths": ["secret/data/a"]})),
    );
    assert_eq!(caps["data"]["capabilities"], json!(["root"]), "{caps}");
    let (_, made) = http(
        &daemon,
        root,
        "POST",
        "auth/token/create",
        Some(json!({"ttl": "1h"})),
    );
    let child = made["auth"]["client_token"].as_str().unwrap();
    let (status, renewed) = http(
        &daemon,
        child,
        "POST",
        "auth/token/renew-self",
        Some(json!({})),
    );
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["auth"]["client_token"], child, "{renewed}");
}
