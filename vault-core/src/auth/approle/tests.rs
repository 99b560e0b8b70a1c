//! AppRole's role and secret_id API through the whole vault (`Vault::handle`
//! over an in-memory backend), and what it leaves in storage. Logins are in
//! `login_tests.rs`; the fixture here serves both.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::request::{Data, Operation, Request, Response};
use crate::storage::{Backend, MemoryBackend};
use crate::{Vault, VaultError};

pub(super) fn data(v: Value) -> Data {
    match v {
        Value::Object(m) => m,
        _ => Data::new(),
    }
}

/// An unsealed vault with AppRole enabled at `auth/approle/`.
pub(super) struct Fixture {
    pub(super) vault: Arc<Vault>,
    pub(super) root: String,
    pub(super) backend: Arc<MemoryBackend>,
}

impl Fixture {
    pub(super) async fn new() -> Fixture {
        let backend = Arc::new(MemoryBackend::new());
        let vault = Vault::new(Arc::clone(&backend) as Arc<dyn Backend>);
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        let f = Fixture {
            vault: Arc::new(vault),
            root: init.root_token.expose_secret().to_owned(),
            backend,
        };
        f.call(
            Operation::Update,
            "sys/auth/approle",
            json!({"type": "approle"}),
        )
        .await
        .unwrap();
        f
    }

    /// A call with the root token.
    pub(super) async fn call(
        &self,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, VaultError> {
        self.vault
            .handle(
                Request::new(op, path)
                    .with_token(&self.root)
                    .with_data(data(body)),
            )
            .await
    }

    /// The data of a successful root call.
    pub(super) async fn ok(&self, op: Operation, path: &str, body: Value) -> Data {
        self.call(op, path, body)
            .await
            .unwrap_or_else(|e| panic!("{op} {path}: {e}"))
            .data
            .unwrap_or_default()
    }

    /// Makes role `name` from `body`; returns its role_id.
    pub(super) async fn role(&self, name: &str, body: Value) -> String {
        let path = format!("auth/approle/role/{name}");
        self.ok(Operation::Update, &path, body).await;
        let id = self
            .ok(Operation::Read, &format!("{path}/role-id"), json!({}))
            .await;
        id["role_id"].as_str().unwrap().to_owned()
    }

    /// A new secret_id of role `name`: (secret_id, accessor).
    pub(super) async fn secret_id(&self, name: &str) -> (String, String) {
        let path = format!("auth/approle/role/{name}/secret-id");
        let r = self.ok(Operation::Update, &path, json!({})).await;
        (
            r["secret_id"].as_str().unwrap().to_owned(),
            r["secret_id_accessor"].as_str().unwrap().to_owned(),
        )
    }

    /// A login without a token, from `remote`.
    pub(super) async fn login(
        &self,
        role_id: &str,
        secret_id: &str,
        remote: Option<&str>,
    ) -> Result<Response, VaultError> {
        login(&self.vault, role_id, secret_id, remote).await
    }

    /// Every storage key the backend holds.
    pub(super) async fn all_keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(dir) = pending.pop() {
            for child in self.backend.list(&dir).await.unwrap() {
                let full = format!("{dir}{child}");
                if child.ends_with('/') {
                    pending.push(full);
                } else {
                    out.push(full);
                }
            }
        }
        out
    }
}

/// A login without a token, from `remote`.
pub(super) async fn login(
    vault: &Vault,
    role_id: &str,
    secret_id: &str,
    remote: Option<&str>,
) -> Result<Response, VaultError> {
    let mut request = Request::new(Operation::Update, "auth/approle/login")
        .with_data(data(json!({"role_id": role_id, "secret_id": secret_id})));
    request.remote_addr = remote.map(|r| r.parse::<IpAddr>().unwrap());
    vault.handle(request).await
}

fn not_found(r: &Result<Response, VaultError>) -> bool {
    matches!(r, Err(VaultError::NotFound(_)))
}

fn invalid(r: &Result<Response, VaultError>, needle: &str) -> bool {
    matches!(r, Err(VaultError::InvalidRequest(m)) if m.contains(needle))
}

#[tokio::test]
async fn roles_are_created_read_updated_listed_and_deleted() {
    let f = Fixture::new().await;
    f.role(
        "web",
        json!({
            "token_policies": ["Dev", "ops", "dev"],
            "token_ttl": "1h",
            "token_max_ttl": 7200,
            "token_num_uses": 4,
            "token_period": 0,
            "token_bound_cidrs": ["10.0.0.0/8"],
            "secret_id_ttl": "10m",
            "secret_id_num_uses": 5,
            "secret_id_bound_cidrs": "10.0.0.0/8, 192.168.1.1",
        }),
    )
    .await;
    let r = f
        .ok(Operation::Read, "auth/approle/role/web", json!({}))
        .await;
    assert_eq!(r["token_policies"], json!(["dev", "ops"]));
    assert_eq!(r["token_ttl"], 3600);
    assert_eq!(r["token_max_ttl"], 7200);
    assert_eq!(r["token_num_uses"], 4);
    assert_eq!(r["token_bound_cidrs"], json!(["10.0.0.0/8"]));
    assert_eq!(r["secret_id_ttl"], 600);
    assert_eq!(r["secret_id_num_uses"], 5);
    assert_eq!(
        r["secret_id_bound_cidrs"],
        json!(["10.0.0.0/8", "192.168.1.1"])
    );
    assert_eq!(r["bind_secret_id"], true);
    assert!(
        !r.contains_key("role_id"),
        "a read must not show the role_id"
    );

    // An update changes only what it names; `policies` is the old spelling.
    f.ok(
        Operation::Update,
        "auth/approle/role/web",
        json!({"policies": "admin", "token_ttl": 60}),
    )
    .await;
    let r = f
        .ok(Operation::Read, "auth/approle/role/web", json!({}))
        .await;
    assert_eq!(r["token_policies"], json!(["admin"]));
    assert_eq!(r["token_ttl"], 60);
    assert_eq!(r["secret_id_num_uses"], 5);

    f.role("api", json!({})).await;
    let list = f.ok(Operation::List, "auth/approle/role", json!({})).await;
    assert_eq!(list["keys"], json!(["api", "web"]));

    f.ok(Operation::Delete, "auth/approle/role/web", json!({}))
        .await;
    let r = f
        .call(Operation::Read, "auth/approle/role/web", json!({}))
        .await;
    assert!(not_found(&r), "{r:?}");
    let list = f.ok(Operation::List, "auth/approle/role/", json!({})).await;
    assert_eq!(list["keys"], json!(["api"]));
    // Deleting again is not an error.
    f.ok(Operation::Delete, "auth/approle/role/web", json!({}))
        .await;
}

#[tokio::test]
async fn bad_role_input_is_refused_with_the_field_named() {
    let f = Fixture::new().await;
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a",
            json!({"secret_id_bound_cidrs": ["10.0.0.0/33"]}),
        )
        .await;
    assert!(invalid(&r, "secret_id_bound_cidrs"), "{r:?}");
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a",
            json!({"token_bound_cidrs": "nonsense"}),
        )
        .await;
    assert!(invalid(&r, "token_bound_cidrs"), "{r:?}");
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a",
            json!({"token_policies": ["root"]}),
        )
        .await;
    assert!(invalid(&r, "root"), "{r:?}");
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a",
            json!({"bind_secret_id": false}),
        )
        .await;
    assert!(invalid(&r, "constraint"), "{r:?}");
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a",
            json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
        )
        .await;
    assert!(invalid(&r, "token_max_ttl"), "{r:?}");
    for bad in ["a b", "a@b", "caf\u{e9}"] {
        let r = f
            .call(
                Operation::Update,
                &format!("auth/approle/role/{bad}"),
                json!({}),
            )
            .await;
        assert!(invalid(&r, "invalid role name"), "{bad:?}: {r:?}");
    }
    let r = f
        .call(Operation::Read, "auth/approle/role/a/nothing", json!({}))
        .await;
    assert!(matches!(r, Err(VaultError::Unsupported(_))), "{r:?}");
    // Nothing was made by the refused writes.
    let list = f.ok(Operation::List, "auth/approle/role", json!({})).await;
    assert_eq!(list["keys"], json!([]));
}

#[tokio::test]
async fn a_custom_role_id_replaces_the_old_one_and_is_unique() {
    let f = Fixture::new().await;
    let old = f.role("a", json!({})).await;
    assert_eq!(old.len(), 36, "a UUID by default");
    let (secret, _) = f.secret_id("a").await;
    f.ok(
        Operation::Update,
        "auth/approle/role/a/role-id",
        json!({"role_id": "my-custom-role-id"}),
    )
    .await;
    let r = f
        .ok(Operation::Read, "auth/approle/role/a/role-id", json!({}))
        .await;
    assert_eq!(r["role_id"], "my-custom-role-id");
    assert!(f.login(&old, &secret, None).await.is_err());
    f.login("my-custom-role-id", &secret, None).await.unwrap();

    // Another role cannot take it, on creation or later.
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/b",
            json!({"role_id": "my-custom-role-id"}),
        )
        .await;
    assert!(invalid(&r, "already in use"), "{r:?}");
    f.role("b", json!({})).await;
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/b/role-id",
            json!({"role_id": "my-custom-role-id"}),
        )
        .await;
    assert!(invalid(&r, "already in use"), "{r:?}");
    let r = f
        .call(Operation::Read, "auth/approle/role/zz/role-id", json!({}))
        .await;
    assert!(not_found(&r), "{r:?}");
}

#[tokio::test]
async fn secret_ids_are_made_listed_looked_up_and_destroyed_by_value() {
    let f = Fixture::new().await;
    let role_id = f
        .role(
            "a",
            json!({"secret_id_ttl": "1h", "secret_id_num_uses": 3,
                   "secret_id_bound_cidrs": ["10.0.0.0/8"]}),
        )
        .await;
    let made = f
        .ok(
            Operation::Update,
            "auth/approle/role/a/secret-id",
            json!({"metadata": {"host": "web-1"}}),
        )
        .await;
    assert_eq!(made["secret_id_ttl"], 3600);
    assert_eq!(made["secret_id_num_uses"], 3);
    let secret = made["secret_id"].as_str().unwrap().to_owned();
    let accessor = made["secret_id_accessor"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 36);

    // Vault's CLI sends metadata as a JSON string.
    let custom = f
        .ok(
            Operation::Update,
            "auth/approle/role/a/custom-secret-id",
            json!({"secret_id": "my-own-secret", "metadata": "{\"k\": \"v\"}", "num_uses": 1}),
        )
        .await;
    assert_eq!(custom["secret_id"], "my-own-secret");
    assert_eq!(custom["secret_id_num_uses"], 1);
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a/custom-secret-id",
            json!({"secret_id": "my-own-secret"}),
        )
        .await;
    assert!(invalid(&r, "already registered"), "{r:?}");
    // Overrides may only narrow the role's limits.
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a/secret-id",
            json!({"num_uses": 4}),
        )
        .await;
    assert!(invalid(&r, "num_uses"), "{r:?}");

    let list = f
        .ok(Operation::List, "auth/approle/role/a/secret-id", json!({}))
        .await;
    let mut want = vec![
        accessor.clone(),
        custom["secret_id_accessor"].as_str().unwrap().to_owned(),
    ];
    want.sort();
    assert_eq!(list["keys"], json!(want));

    let look = f
        .ok(
            Operation::Update,
            "auth/approle/role/a/secret-id/lookup",
            json!({"secret_id": secret}),
        )
        .await;
    assert_eq!(look["secret_id_accessor"], accessor.as_str());
    assert_eq!(look["metadata"], json!({"host": "web-1"}));
    assert_eq!(look["secret_id_num_uses"], 3);
    assert_eq!(look["secret_id_ttl"], 3600);
    assert_eq!(look["cidr_list"], json!(["10.0.0.0/8"]));
    for k in ["creation_time", "expiration_time", "last_updated_time"] {
        assert!(look[k].as_str().unwrap().ends_with('Z'), "{k}: {look:?}");
    }
    let by_accessor = f
        .ok(
            Operation::Update,
            "auth/approle/role/a/secret-id-accessor/lookup",
            json!({"secret_id_accessor": accessor}),
        )
        .await;
    assert_eq!(by_accessor, look);

    f.ok(
        Operation::Update,
        "auth/approle/role/a/secret-id/destroy",
        json!({"secret_id": secret}),
    )
    .await;
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a/secret-id/lookup",
            json!({"secret_id": secret}),
        )
        .await;
    assert!(not_found(&r), "{r:?}");
    assert!(f.login(&role_id, &secret, Some("10.0.0.1")).await.is_err());
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a/secret-id-accessor/lookup",
            json!({"secret_id_accessor": accessor}),
        )
        .await;
    assert!(not_found(&r), "{r:?}");
    // The custom one still works, once.
    f.login(&role_id, "my-own-secret", Some("10.0.0.1"))
        .await
        .unwrap();
    let list = f
        .ok(Operation::List, "auth/approle/role/a/secret-id", json!({}))
        .await;
    assert_eq!(list["keys"], json!([]));
}

#[tokio::test]
async fn an_accessor_acts_only_under_its_own_role() {
    let f = Fixture::new().await;
    f.role("a", json!({})).await;
    let b_role_id = f.role("b", json!({})).await;
    let (a_secret, a_accessor) = f.secret_id("a").await;
    let (b_secret, b_accessor) = f.secret_id("b").await;

    // B's accessor under A's path: not found, and nothing is destroyed.
    for action in ["lookup", "destroy"] {
        let r = f
            .call(
                Operation::Update,
                &format!("auth/approle/role/a/secret-id-accessor/{action}"),
                json!({"secret_id_accessor": b_accessor}),
            )
            .await;
        assert!(not_found(&r), "{action}: {r:?}");
    }
    // Nor does B's secret_id by value under A's path.
    f.ok(
        Operation::Update,
        "auth/approle/role/a/secret-id/destroy",
        json!({"secret_id": b_secret}),
    )
    .await;
    let r = f
        .call(
            Operation::Update,
            "auth/approle/role/a/secret-id/lookup",
            json!({"secret_id": b_secret}),
        )
        .await;
    assert!(not_found(&r), "{r:?}");
    f.ok(
        Operation::Update,
        "auth/approle/role/b/secret-id-accessor/lookup",
        json!({"secret_id_accessor": b_accessor}),
    )
    .await;
    f.login(&b_role_id, &b_secret, None).await.unwrap();

    // Under its own role, the accessor destroys.
    f.ok(
        Operation::Update,
        "auth/approle/role/b/secret-id-accessor/destroy",
        json!({"secret_id_accessor": b_accessor}),
    )
    .await;
    assert!(f.login(&b_role_id, &b_secret, None).await.is_err());
    // A's secret_id was never touched.
    let look = f
        .ok(
            Operation::Update,
            "auth/approle/role/a/secret-id/lookup",
            json!({"secret_id": a_secret}),
        )
        .await;
    assert_eq!(look["secret_id_accessor"], a_accessor.as_str());
}

#[tokio::test]
async fn deleting_a_role_removes_its_secret_ids_and_index() {
    let f = Fixture::new().await;
    let old_role_id = f.role("a", json!({})).await;
    let (secret, _) = f.secret_id("a").await;
    f.secret_id("a").await;
    let before = f.all_keys().await.len();
    f.ok(Operation::Delete, "auth/approle/role/a", json!({}))
        .await;
    let after = f.all_keys().await;
    // Gone: the role, its role_id entry, 2 secret_ids and 2 accessor entries.
    assert_eq!(before - after.len(), 6, "{after:?}");
    // (The token store's `sys/token/accessor/` is not ours.)
    assert!(
        !after
            .iter()
            .any(|k| k.starts_with("auth/")
                && (k.contains("/secret_id/") || k.contains("/accessor/"))),
        "{after:?}"
    );
    // A new role of the same name does not inherit the old secret_ids.
    let new_role_id = f.role("a", json!({})).await;
    assert_ne!(new_role_id, old_role_id);
    assert!(f.login(&new_role_id, &secret, None).await.is_err());
    assert!(f.login(&old_role_id, &secret, None).await.is_err());
}

#[tokio::test]
async fn no_credential_appears_in_a_storage_key() {
    let f = Fixture::new().await;
    let mut credentials = vec![f.role("a", json!({})).await];
    f.role("b", json!({"role_id": "b-custom-role-id"})).await;
    credentials.push("b-custom-role-id".into());
    for role in ["a", "b"] {
        let (secret, accessor) = f.secret_id(role).await;
        credentials.push(secret);
        credentials.push(accessor);
    }
    f.ok(
        Operation::Update,
        "auth/approle/role/a/custom-secret-id",
        json!({"secret_id": "custom-secret-value"}),
    )
    .await;
    credentials.push("custom-secret-value".into());

    let keys = f.all_keys().await;
    let approle: Vec<&String> = keys.iter().filter(|k| k.starts_with("auth/")).collect();
    assert!(approle.iter().any(|k| k.ends_with("/salt")), "{approle:?}");
    assert!(
        approle.iter().any(|k| k.contains("/role_id/")),
        "{approle:?}"
    );
    assert!(
        approle.iter().any(|k| k.contains("/secret_id/a/")),
        "{approle:?}"
    );
    for credential in &credentials {
        for key in &keys {
            assert!(!key.contains(credential.as_str()), "{credential} in {key}");
        }
    }
}
