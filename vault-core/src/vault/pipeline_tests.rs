//! The request pipeline end to end inside the library: tokens, policies, mounts
//! and KV v2 through `Vault::handle`, over an in-memory backend.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::request::{Data, Operation, Request, Response};
use crate::storage::MemoryBackend;
use crate::{Vault, VaultError};

fn data(v: Value) -> Data {
    match v {
        Value::Object(m) => m,
        _ => Data::new(),
    }
}

struct Fixture {
    vault: Vault,
    root: String,
}

impl Fixture {
    async fn new() -> Fixture {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        let root = init.root_token.expose_secret().to_owned();
        let f = Fixture { vault, root };
        f.call(
            &f.root,
            Operation::Update,
            "sys/mounts/secret",
            json!({"type": "kv-v2"}),
        )
        .await
        .unwrap();
        f
    }

    async fn call(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, VaultError> {
        self.vault
            .handle(
                Request::new(op, path)
                    .with_token(token)
                    .with_data(data(body)),
            )
            .await
    }

    async fn token(&self, parent: &str, body: Value) -> String {
        let r = self
            .call(parent, Operation::Update, "auth/token/create", body)
            .await
            .unwrap();
        r.auth.unwrap().client_token
    }
}

fn denied(r: Result<Response, VaultError>) -> bool {
    matches!(r, Err(VaultError::PermissionDenied(_)))
}

#[tokio::test]
async fn a_read_only_policy_reads_and_nothing_more() {
    let f = Fixture::new().await;
    f.call(
        &f.root,
        Operation::Update,
        "secret/data/app",
        json!({"data": {"pw": "hunter2"}}),
    )
    .await
    .unwrap();
    f.call(
        &f.root,
        Operation::Update,
        "sys/policy/app-ro",
        json!({
            "policy": "path \"secret/data/app\" { capabilities = [\"read\"] }"
        }),
    )
    .await
    .unwrap();
    let t = f.token(&f.root, json!({"policies": ["app-ro"]})).await;
    let read = f
        .call(&t, Operation::Read, "secret/data/app", json!({}))
        .await
        .unwrap();
    assert_eq!(read.data.unwrap()["data"]["pw"], "hunter2");
    assert!(denied(
        f.call(
            &t,
            Operation::Update,
            "secret/data/app",
            json!({"data": {"x": "y"}})
        )
        .await
    ));
    assert!(denied(
        f.call(&t, Operation::Read, "secret/data/other", json!({}))
            .await
    ));
    assert!(denied(
        f.call(
            &t,
            Operation::Update,
            "sys/policy/app-ro",
            json!({"policy": ""})
        )
        .await
    ));
    // The default policy lets it look itself up.
    let me = f
        .call(&t, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap();
    let policies = me.data.unwrap()["policies"].clone();
    assert_eq!(policies, json!(["app-ro", "default"]));
}

#[tokio::test]
async fn dot_segments_are_refused_before_any_policy() {
    let f = Fixture::new().await;
    let r = f
        .call(&f.root, Operation::Read, "secret/data/a/../b", json!({}))
        .await;
    assert!(matches!(r, Err(VaultError::InvalidPath(_))), "{r:?}");
    // Even without a token: the path is refused before the token is looked at.
    let r = f
        .vault
        .handle(Request::new(Operation::Read, "secret/data/a/../b"))
        .await;
    assert!(matches!(r, Err(VaultError::InvalidPath(_))), "{r:?}");
}

#[tokio::test]
async fn revoking_a_parent_kills_its_children_at_once() {
    let f = Fixture::new().await;
    f.call(
        &f.root,
        Operation::Update,
        "sys/policy/tokens",
        json!({
            "policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"
        }),
    )
    .await
    .unwrap();
    let parent = f.token(&f.root, json!({"policies": ["tokens"]})).await;
    let child = f.token(&parent, json!({})).await;
    let grandchild = f.token(&child, json!({})).await;
    f.call(&child, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap();
    f.call(
        &f.root,
        Operation::Update,
        "auth/token/revoke",
        json!({"token": parent}),
    )
    .await
    .unwrap();
    for t in [&parent, &child, &grandchild] {
        assert!(denied(
            f.call(t, Operation::Read, "auth/token/lookup-self", json!({}))
                .await
        ));
    }
}

#[tokio::test]
async fn children_cannot_gain_policies_or_be_orphans_without_sudo() {
    let f = Fixture::new().await;
    f.call(
        &f.root,
        Operation::Update,
        "sys/policy/tokens",
        json!({
            "policy": "path \"auth/token/create*\" { capabilities = [\"update\"] }"
        }),
    )
    .await
    .unwrap();
    let t = f.token(&f.root, json!({"policies": ["tokens"]})).await;
    assert!(denied(
        f.call(
            &t,
            Operation::Update,
            "auth/token/create",
            json!({"policies": ["root"]})
        )
        .await
    ));
    assert!(denied(
        f.call(
            &t,
            Operation::Update,
            "auth/token/create",
            json!({"policies": ["admin"]})
        )
        .await
    ));
    assert!(denied(
        f.call(&t, Operation::Update, "auth/token/create-orphan", json!({}))
            .await
    ));
    assert!(denied(
        f.call(
            &t,
            Operation::Update,
            "auth/token/create",
            json!({"no_parent": true})
        )
        .await
    ));
    f.call(
        &t,
        Operation::Update,
        "auth/token/create",
        json!({"policies": ["tokens"]}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_two_use_token_works_twice() {
    let f = Fixture::new().await;
    let t = f.token(&f.root, json!({"num_uses": 2})).await;
    f.call(&t, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap();
    f.call(&t, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap();
    assert!(denied(
        f.call(&t, Operation::Read, "auth/token/lookup-self", json!({}))
            .await
    ));
}

#[tokio::test]
async fn renew_is_capped_at_the_explicit_max_with_a_warning() {
    let f = Fixture::new().await;
    let t = f
        .token(&f.root, json!({"ttl": "1h", "explicit_max_ttl": "90m"}))
        .await;
    let r = f
        .call(
            &t,
            Operation::Update,
            "auth/token/renew-self",
            json!({"increment": "2h"}),
        )
        .await
        .unwrap();
    let ttl = r.auth.unwrap().lease_duration;
    assert!(ttl <= 90 * 60 && ttl > 89 * 60, "{ttl}");
    assert!(
        r.warnings.iter().any(|w| w.contains("capped")),
        "{:?}",
        r.warnings
    );
}

#[tokio::test]
async fn mounts_and_policies_persist_across_seal() {
    let f = Fixture::new().await;
    f.call(
        &f.root,
        Operation::Update,
        "secret/data/x",
        json!({"data": {"a": "1"}}),
    )
    .await
    .unwrap();
    f.call(
        &f.root,
        Operation::Update,
        "sys/policy/p",
        json!({"policy": "path \"secret/*\" { capabilities = [\"list\"] }"}),
    )
    .await
    .unwrap();
    let listing = f
        .call(&f.root, Operation::Read, "sys/mounts", json!({}))
        .await
        .unwrap();
    assert!(listing.data.unwrap().contains_key("secret/"));
    let caps = f
        .call(
            &f.root,
            Operation::Update,
            "sys/capabilities",
            json!({"token": f.root, "path": "secret/data/x"}),
        )
        .await
        .unwrap();
    // As Vault says it for a root token.
    assert_eq!(caps.data.unwrap()["capabilities"], json!(["root"]));
    let p = f
        .call(&f.root, Operation::Read, "sys/policy/p", json!({}))
        .await
        .unwrap();
    assert!(
        p.data.unwrap()["rules"]
            .as_str()
            .unwrap()
            .contains("secret/*")
    );
    f.call(&f.root, Operation::Delete, "sys/mounts/secret", json!({}))
        .await
        .unwrap();
    let r = f
        .call(&f.root, Operation::Read, "secret/data/x", json!({}))
        .await;
    assert!(matches!(r, Err(VaultError::NoRoute(_))), "{r:?}");
}

#[tokio::test]
async fn sealed_and_tokenless_requests_are_refused() {
    let f = Fixture::new().await;
    let r = f
        .vault
        .handle(Request::new(Operation::Read, "secret/data/x"))
        .await;
    assert!(denied(r));
    let r = f
        .call("s.not-a-token", Operation::Read, "secret/data/x", json!({}))
        .await;
    assert!(denied(r));
    f.vault
        .sys_as(&f.root, Operation::Update, "seal")
        .await
        .unwrap();
    let r = f
        .call(&f.root, Operation::Read, "secret/data/x", json!({}))
        .await;
    assert!(matches!(r, Err(VaultError::Sealed)));
}

#[tokio::test]
async fn the_last_use_of_a_token_cannot_be_renewed_back_to_life() {
    let f = Fixture::new().await;
    let t = f.token(&f.root, json!({"num_uses": 2})).await;
    f.call(&t, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap();
    // The second (last) use is a renewal: allowed, but the token is gone after it.
    let _ = f
        .call(&t, Operation::Update, "auth/token/renew-self", json!({}))
        .await;
    assert!(denied(
        f.call(&t, Operation::Read, "auth/token/lookup-self", json!({}))
            .await
    ));
    assert!(denied(
        f.call(&t, Operation::Read, "auth/token/lookup-self", json!({}))
            .await
    ));
}

#[tokio::test]
async fn token_trees_are_bounded_in_depth() {
    let f = Fixture::new().await;
    let mut parent = f.root.clone();
    let mut refused = None;
    for depth in 1..=70 {
        let r = f
            .call(&parent, Operation::Update, "auth/token/create", json!({}))
            .await;
        match r {
            Ok(r) => parent = r.auth.unwrap().client_token,
            Err(e) => {
                refused = Some((depth, e));
                break;
            }
        }
    }
    let (depth, err) = refused.expect("a 70-deep chain must be refused");
    assert_eq!(depth, 65, "{err}");
    assert!(err.to_string().contains("too deep"), "{err}");
}

#[tokio::test]
async fn names_are_judged_as_written() {
    let f = Fixture::new().await;
    for (path, body) in [
        ("sys/policy/ADMIN", json!({"policy": ""})),
        ("sys/policy/admin/", json!({"policy": ""})),
        ("sys/mounts/auth/sneaky", json!({"type": "approle"})),
    ] {
        let r = f.call(&f.root, Operation::Update, path, body).await;
        assert!(
            matches!(
                r,
                Err(VaultError::InvalidRequest(_) | VaultError::InvalidPath(_))
            ),
            "{path}: {r:?}"
        );
    }
    // A periodic token needs sudo; a token without it cannot make one.
    f.call(
        &f.root,
        Operation::Update,
        "sys/policy/tokens",
        json!({
            "policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"
        }),
    )
    .await
    .unwrap();
    let t = f.token(&f.root, json!({"policies": ["tokens"]})).await;
    assert!(denied(
        f.call(
            &t,
            Operation::Update,
            "auth/token/create",
            json!({"period": "1h"})
        )
        .await
    ));
    f.call(
        &f.root,
        Operation::Update,
        "auth/token/create",
        json!({"period": "1h"}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn strangers_cannot_map_mounts_and_raw_reads_need_the_switch() {
    let f = Fixture::new().await;
    let r = f
        .vault
        .handle(Request::new(Operation::Read, "nowhere/x"))
        .await;
    assert!(denied(r));
    let r = f
        .call(&f.root, Operation::Read, "nowhere/x", json!({}))
        .await;
    assert!(matches!(r, Err(VaultError::NoRoute(_))), "{r:?}");
    let r = f
        .vault
        .sys_as(&f.root, Operation::Read, "raw/logical/x")
        .await;
    assert!(matches!(r, Err(VaultError::RawDisabled)), "{r:?}");
}

#[tokio::test]
async fn disabling_an_auth_method_logs_out_its_tokens() {
    let f = Fixture::new().await;
    f.call(
        &f.root,
        Operation::Update,
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await
    .unwrap();
    f.call(
        &f.root,
        Operation::Update,
        "auth/approle/role/web",
        json!({}),
    )
    .await
    .unwrap();
    let role_id = f
        .call(
            &f.root,
            Operation::Read,
            "auth/approle/role/web/role-id",
            json!({}),
        )
        .await
        .unwrap();
    let role_id = role_id.data.unwrap()["role_id"].clone();
    let secret = f
        .call(
            &f.root,
            Operation::Update,
            "auth/approle/role/web/secret-id",
            json!({}),
        )
        .await
        .unwrap();
    let secret_id = secret.data.unwrap()["secret_id"].clone();
    let login = f
        .vault
        .handle(
            Request::new(Operation::Update, "auth/approle/login").with_data(data(json!({
                "role_id": role_id, "secret_id": secret_id
            }))),
        )
        .await
        .unwrap();
    let token = login.auth.unwrap().client_token;
    f.call(&token, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap();
    f.call(&f.root, Operation::Delete, "sys/auth/approle", json!({}))
        .await
        .unwrap();
    assert!(denied(
        f.call(&token, Operation::Read, "auth/token/lookup-self", json!({}))
            .await
    ));
}

#[tokio::test]
async fn expired_tokens_are_found_by_the_index_and_a_renewal_moves_them() {
    let f = Fixture::new().await;
    let short = f.token(&f.root, json!({"ttl": "1h"})).await;
    let renewed = f.token(&f.root, json!({"ttl": "2h"})).await;
    f.call(&short, Operation::Update, "cubbyhole/x", json!({"a": "b"}))
        .await
        .unwrap();
    f.call(
        &renewed,
        Operation::Update,
        "auth/token/renew-self",
        json!({"increment": "3h"}),
    )
    .await
    .unwrap();
    let (tokens, barrier) = (&f.vault.tokens, &f.vault.barrier);
    let now = crate::clock::now_unix_millis();
    let hour = 3_600_000;
    assert!(tokens.expired(barrier, now, 10).await.unwrap().is_empty());
    // The renewal moved the second token from 2h to 3h: at 2.5h only the
    // first is due, and the root token (no TTL) never is.
    let due = tokens
        .expired(barrier, now + 5 * hour / 2, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(
        tokens
            .expired(barrier, now + 4 * hour, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    // Not yet expired at `now`: left alone.
    assert!(
        tokens
            .remove_expired(barrier, &due[0], now)
            .await
            .unwrap()
            .is_empty()
    );
    let removed = tokens
        .remove_expired(barrier, &due[0], now + 5 * hour / 2)
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert!(denied(
        f.call(&short, Operation::Read, "auth/token/lookup-self", json!({}))
            .await
    ));
    // Its index key and cubbyhole went with it; the other token's key stays.
    assert_eq!(
        tokens
            .expired(barrier, now + 4 * hour, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let cubbyholes = barrier.list("sys/token/cubbyhole/").await.unwrap();
    assert!(cubbyholes.is_empty(), "{cubbyholes:?}");
}

/// A request's future is moved by value on its way into a task (tokio's
/// `spawn` copies it at each layer, and vaultd spawns every request): the
/// pipeline inside is boxed, so those copies stay small. Unboxed it was
/// about 15 KiB in a release build, and boxing it took `memmove` from 11.6%
/// to 6.6% of vaultd's CPU under token lookups (BENCHMARKS.md).
#[test]
fn the_request_future_is_small() {
    let vault = Vault::new(Arc::new(MemoryBackend::new()));
    let handled = vault.handle(Request::new(Operation::Read, "sys/health"));
    let size = std::mem::size_of_val(&handled);
    assert!(size <= 4096, "Vault::handle's future is {size} bytes");
}
