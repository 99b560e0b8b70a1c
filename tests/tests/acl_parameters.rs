//! Policy parameter constraints through the real daemon: `denied_parameters` and
//! `allowed_parameters` judge a value as the engine will read it. A
//! comma-separated string is the list the engine makes of it, and a boolean
//! spelled `"f"` is `false`, so neither spelling slips past a constraint written
//! against the value.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use serde_json::{Value, json};
use vault_tests::{Daemon, logical, logical_request, unsealed_with_kv};

async fn write(
    daemon: &Daemon,
    token: &str,
    path: &str,
    body: Value,
) -> Result<Value, tonic::Status> {
    let response = logical(daemon)
        .await
        .write(logical_request(token, path, body))
        .await?
        .into_inner();
    Ok(if response.data_json.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&response.data_json).unwrap()
    })
}

async fn read(daemon: &Daemon, token: &str, path: &str) -> Value {
    let response = logical(daemon)
        .await
        .read(logical_request(token, path, json!({})))
        .await
        .unwrap_or_else(|e| panic!("{path}: {e:?}"))
        .into_inner();
    serde_json::from_str(&response.data_json).unwrap()
}

/// An unsealed daemon with AppRole enabled, and a token holding only the policy
/// `text` (written as `role-writer`).
async fn with_role_writer(dir: &std::path::Path, text: &str) -> (Daemon, String, String) {
    let (daemon, keys) = unsealed_with_kv(dir);
    let root = keys.root_token.clone();
    write(
        &daemon,
        &root,
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await
    .unwrap();
    write(
        &daemon,
        &root,
        "sys/policy/role-writer",
        json!({"policy": text}),
    )
    .await
    .unwrap();
    let created = logical(&daemon)
        .await
        .write(logical_request(
            &root,
            "auth/token/create",
            json!({"policies": ["role-writer"]}),
        ))
        .await
        .unwrap()
        .into_inner();
    let token = created.auth.unwrap().client_token;
    (daemon, root, token)
}

/// The policies of a token the role `name` logs in with.
async fn login_policies(daemon: &Daemon, root: &str, name: &str) -> Value {
    let role_id = read(daemon, root, &format!("auth/approle/role/{name}/role-id")).await["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = write(
        daemon,
        root,
        &format!("auth/approle/role/{name}/secret-id"),
        json!({}),
    )
    .await
    .unwrap();
    let login = logical(daemon)
        .await
        .write(tonic::Request::new(vault_proto::v1::LogicalRequest {
            path: "auth/approle/login".into(),
            data_json: json!({"role_id": role_id, "secret_id": secret["secret_id"]}).to_string(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let token = login.auth.unwrap().client_token;
    read(daemon, &token, "auth/token/lookup-self").await["policies"].clone()
}

fn assert_denied(result: Result<Value, tonic::Status>, what: &str) {
    match result {
        Err(status) => assert_eq!(
            status.code(),
            tonic::Code::PermissionDenied,
            "{what}: {status:?}"
        ),
        Ok(body) => panic!("{what} was accepted: {body}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_policy_cannot_be_smuggled_in_a_comma_list() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root, token) = with_role_writer(
        dir.path(),
        r#"path "auth/approle/role/*" {
            capabilities = ["create", "update", "read"]
            denied_parameters = { "token_policies" = ["admin"], "bind_secret_id" = [false] }
        }"#,
    )
    .await;
    for body in [
        json!({"token_policies": "web,admin"}),
        json!({"token_policies": "web, admin"}),
        json!({"token_policies": ["web", "admin"]}),
        // The engine reads "f" as false: a role that needs no secret_id.
        json!({"bind_secret_id": "f"}),
        json!({"bind_secret_id": 0}),
    ] {
        assert_denied(
            write(&daemon, &token, "auth/approle/role/app", body.clone()).await,
            &body.to_string(),
        );
    }
    // Nothing was written: the role does not exist.
    let missing = logical(&daemon)
        .await
        .read(logical_request(&root, "auth/approle/role/app", json!({})))
        .await;
    assert!(
        missing.is_err() || missing.unwrap().into_inner().data_json.is_empty(),
        "a refused write left a role behind"
    );
    // A list without the denied item is written, and logs in with just it.
    write(
        &daemon,
        &token,
        "auth/approle/role/app",
        json!({"token_policies": "web,dev"}),
    )
    .await
    .unwrap();
    assert_eq!(
        login_policies(&daemon, &root, "app").await,
        json!(["default", "dev", "web"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_parameters_judge_every_item_of_a_comma_list() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, root, token) = with_role_writer(
        dir.path(),
        r#"path "auth/approle/role/*" {
            capabilities = ["create", "update", "read"]
            allowed_parameters = { "token_policies" = ["web", "dev", "prod-*"] }
        }"#,
    )
    .await;
    for body in [
        // As one string it matches "prod-*"; as the list the engine makes of
        // it, "admin" is not allowed.
        json!({"token_policies": "prod-a,admin"}),
        json!({"token_policies": "web,admin"}),
        json!({"token_policies": ["web", "admin"]}),
        // An empty list is a value too (it would drop the role's policies).
        json!({"token_policies": []}),
    ] {
        assert_denied(
            write(&daemon, &token, "auth/approle/role/app", body.clone()).await,
            &body.to_string(),
        );
    }
    // Every item allowed: accepted, however it is spelled.
    for (name, body) in [
        ("comma", json!({"token_policies": "web,prod-a"})),
        ("array", json!({"token_policies": ["dev", "web"]})),
    ] {
        write(&daemon, &token, &format!("auth/approle/role/{name}"), body)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    assert_eq!(
        login_policies(&daemon, &root, "comma").await,
        json!(["default", "prod-a", "web"])
    );
    assert_eq!(
        login_policies(&daemon, &root, "array").await,
        json!(["default", "dev", "web"])
    );
}
