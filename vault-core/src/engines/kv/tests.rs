//! The KV v2 engine against a real unsealed vault over the memory backend.

use std::sync::Arc;

use serde_json::{Value, json};

use super::KvV2;
use crate::Vault;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Data, Operation, Response};
use crate::storage::MemoryBackend;

const MOUNT: &str = "logical/test/";

async fn unsealed_vault() -> Vault {
    let vault = Vault::new(Arc::new(MemoryBackend::new()));
    let init = vault.init(1, 1).await.unwrap();
    vault
        .unseal(init.shares[0].to_hex().expose_secret())
        .await
        .unwrap();
    vault
}

fn body(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

async fn call(
    kv: &KvV2,
    view: &View<'_>,
    operation: Operation,
    path: &str,
    data: Value,
) -> Result<Response, EngineError> {
    let data = body(data);
    kv.handle(
        view,
        EngineRequest {
            operation,
            path,
            data: &data,
            remote_addr: None,
            mount_path: "",
            caller: &crate::request::Caller::ANONYMOUS,
            client_token: None,
            leases: &crate::engines::NoLeases,
            lease_bounds: crate::engines::LeaseBounds::SYSTEM,
        },
    )
    .await
}

/// The response body of a call that must succeed and return data.
async fn ok(kv: &KvV2, view: &View<'_>, operation: Operation, path: &str, data: Value) -> Value {
    let response = call(kv, view, operation, path, data)
        .await
        .unwrap_or_else(|e| panic!("{operation} {path}: {e}"));
    Value::Object(response.data.unwrap_or_default())
}

async fn write(kv: &KvV2, view: &View<'_>, key: &str, secret: Value) -> u64 {
    let out = ok(
        kv,
        view,
        Operation::Update,
        &format!("data/{key}"),
        json!({ "data": secret }),
    )
    .await;
    out["version"].as_u64().unwrap()
}

async fn read(kv: &KvV2, view: &View<'_>, key: &str) -> Result<Value, EngineError> {
    call(kv, view, Operation::Read, &format!("data/{key}"), json!({}))
        .await
        .map(|r| Value::Object(r.data.unwrap_or_default()))
}

fn is_not_found<T: std::fmt::Debug>(result: Result<T, EngineError>) -> bool {
    matches!(result, Err(EngineError::NotFound(_)))
}

#[tokio::test]
async fn writes_make_versions_and_reads_pick_them() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    assert!(!kv.exists(&view, "data/app").await.unwrap());
    let first = ok(
        &kv,
        &view,
        Operation::Create,
        "data/app",
        json!({"data": {"pw": "one"}}),
    )
    .await;
    assert_eq!(first["version"], 1);
    assert_eq!(first["deletion_time"], "");
    assert_eq!(first["destroyed"], false);
    assert!(first["created_time"].as_str().unwrap().ends_with('Z'));
    assert!(kv.exists(&view, "data/app").await.unwrap());
    assert!(kv.exists(&view, "metadata/app").await.unwrap());
    assert_eq!(write(&kv, &view, "app", json!({"pw": "two"})).await, 2);

    let latest = read(&kv, &view, "app").await.unwrap();
    assert_eq!(latest["data"], json!({"pw": "two"}));
    assert_eq!(latest["metadata"]["version"], 2);
    for version in [json!(1), json!("1")] {
        let old = ok(
            &kv,
            &view,
            Operation::Read,
            "data/app",
            json!({ "version": version }),
        )
        .await;
        assert_eq!(old["data"], json!({"pw": "one"}));
        assert_eq!(old["metadata"]["version"], 1);
    }
    let missing = call(
        &kv,
        &view,
        Operation::Read,
        "data/app",
        json!({"version": 3}),
    )
    .await;
    assert!(is_not_found(missing));
    assert!(is_not_found(read(&kv, &view, "nothing").await));
}

#[tokio::test]
async fn bad_bodies_and_paths_are_refused() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    for bad in [json!({}), json!({"data": "x"}), json!({"data": [1]})] {
        let result = call(&kv, &view, Operation::Update, "data/k", bad).await;
        assert!(
            matches!(&result, Err(EngineError::InvalidRequest(m)) if m.contains("data")),
            "{result:?}"
        );
    }
    for path in ["data/", "metadata/"] {
        let result = call(&kv, &view, Operation::Update, path, json!({"data": {}})).await;
        assert!(
            matches!(result, Err(EngineError::InvalidRequest(_))),
            "{path}"
        );
    }
    for (operation, path) in [
        (Operation::Read, "secrets/k"),
        (Operation::List, "data/"),
        (Operation::Read, "delete/k"),
        (Operation::Delete, "config"),
    ] {
        let result = call(&kv, &view, operation, path, json!({})).await;
        assert!(
            matches!(result, Err(EngineError::UnsupportedOperation { .. })),
            "{operation} {path}"
        );
    }
    let result = call(&kv, &view, Operation::Update, "delete/k", json!({})).await;
    assert!(matches!(result, Err(EngineError::InvalidRequest(_))));
}

#[tokio::test]
async fn check_and_set_guards_writes() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    // A key that does not exist is at version 0.
    let wrong = json!({"data": {"v": 1}, "options": {"cas": 1}});
    let result = call(&kv, &view, Operation::Create, "data/k", wrong).await;
    assert!(matches!(result, Err(EngineError::Conflict(_))));
    let first = json!({"data": {"v": 1}, "options": {"cas": 0}});
    assert_eq!(
        ok(&kv, &view, Operation::Create, "data/k", first).await["version"],
        1
    );

    let stale = json!({"data": {"v": 2}, "options": {"cas": 0}});
    let result = call(&kv, &view, Operation::Update, "data/k", stale).await;
    assert!(matches!(&result, Err(EngineError::Conflict(m))
            if m == "check-and-set parameter did not match the current version"));
    let stored = read(&kv, &view, "k").await.unwrap();
    assert_eq!(
        stored["data"],
        json!({"v": 1}),
        "a refused write changed nothing"
    );
    assert_eq!(stored["metadata"]["version"], 1);
    let next = json!({"data": {"v": 2}, "options": {"cas": "1"}});
    assert_eq!(
        ok(&kv, &view, Operation::Update, "data/k", next).await["version"],
        2
    );
}

#[tokio::test]
async fn cas_required_by_the_mount_or_the_key() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    let required = |r: Result<Response, EngineError>| {
        matches!(&r, Err(EngineError::InvalidRequest(m))
            if m == "check-and-set parameter required for this call")
    };

    write(&kv, &view, "free", json!({"a": 1})).await;
    ok(
        &kv,
        &view,
        Operation::Update,
        "metadata/free",
        json!({"cas_required": true}),
    )
    .await;
    let result = call(
        &kv,
        &view,
        Operation::Update,
        "data/free",
        json!({"data": {}}),
    )
    .await;
    assert!(required(result));
    let with_cas = json!({"data": {}, "options": {"cas": 1}});
    ok(&kv, &view, Operation::Update, "data/free", with_cas).await;

    assert!(!kv.exists(&view, "config").await.unwrap());
    let config = ok(&kv, &view, Operation::Read, "config", json!({})).await;
    assert_eq!(
        config,
        json!({"max_versions": 0, "cas_required": false, "delete_version_after": "0s"})
    );
    ok(
        &kv,
        &view,
        Operation::Create,
        "config",
        json!({"cas_required": true, "max_versions": 5}),
    )
    .await;
    assert!(kv.exists(&view, "config").await.unwrap());
    let config = ok(&kv, &view, Operation::Read, "config", json!({})).await;
    assert_eq!(config["cas_required"], true);
    assert_eq!(config["max_versions"], 5);
    let result = call(
        &kv,
        &view,
        Operation::Create,
        "data/other",
        json!({"data": {}}),
    )
    .await;
    assert!(required(result));
    let with_cas = json!({"data": {}, "options": {"cas": 0}});
    ok(&kv, &view, Operation::Create, "data/other", with_cas).await;
}

#[tokio::test]
async fn patch_merges_into_a_new_version() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    let result = call(
        &kv,
        &view,
        Operation::Patch,
        "data/p",
        json!({"data": {"a": 1}}),
    )
    .await;
    assert!(is_not_found(result));
    write(
        &kv,
        &view,
        "p",
        json!({"a": "1", "b": {"c": "2", "d": "3"}, "gone": true}),
    )
    .await;
    let patch = json!({"data": {"a": "9", "b": {"d": null, "e": "4"}, "gone": null}});
    assert_eq!(
        ok(&kv, &view, Operation::Patch, "data/p", patch).await["version"],
        2
    );
    let latest = read(&kv, &view, "p").await.unwrap();
    assert_eq!(latest["data"], json!({"a": "9", "b": {"c": "2", "e": "4"}}));

    let stale = json!({"data": {"a": "x"}, "options": {"cas": 1}});
    let result = call(&kv, &view, Operation::Patch, "data/p", stale).await;
    assert!(matches!(result, Err(EngineError::Conflict(_))));

    ok(&kv, &view, Operation::Delete, "data/p", json!({})).await;
    let result = call(
        &kv,
        &view,
        Operation::Patch,
        "data/p",
        json!({"data": {"a": 1}}),
    )
    .await;
    assert!(is_not_found(result), "the latest version is deleted");
}

#[tokio::test]
async fn soft_delete_then_undelete() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    write(&kv, &view, "s", json!({"v": 1})).await;
    write(&kv, &view, "s", json!({"v": 2})).await;

    ok(&kv, &view, Operation::Delete, "data/s", json!({})).await;
    assert!(is_not_found(read(&kv, &view, "s").await));
    let meta = ok(&kv, &view, Operation::Read, "metadata/s", json!({})).await;
    assert_ne!(meta["versions"]["2"]["deletion_time"], "");
    assert_eq!(meta["versions"]["1"]["deletion_time"], "");
    ok(
        &kv,
        &view,
        Operation::Update,
        "undelete/s",
        json!({"versions": [2]}),
    )
    .await;
    assert_eq!(
        read(&kv, &view, "s").await.unwrap()["data"],
        json!({"v": 2})
    );

    ok(
        &kv,
        &view,
        Operation::Update,
        "delete/s",
        json!({"versions": [1, 2]}),
    )
    .await;
    assert!(is_not_found(read(&kv, &view, "s").await));
    let old = call(&kv, &view, Operation::Read, "data/s", json!({"version": 1})).await;
    assert!(is_not_found(old));
    ok(
        &kv,
        &view,
        Operation::Update,
        "undelete/s",
        json!({"versions": "1,2"}),
    )
    .await;
    assert_eq!(
        read(&kv, &view, "s").await.unwrap()["data"],
        json!({"v": 2})
    );
    // A key that does not exist: nothing to do, not an error.
    ok(
        &kv,
        &view,
        Operation::Update,
        "delete/none",
        json!({"versions": [1]}),
    )
    .await;
}

#[tokio::test]
async fn destroy_is_for_good() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    write(&kv, &view, "d", json!({"v": 1})).await;
    write(&kv, &view, "d", json!({"v": 2})).await;
    ok(
        &kv,
        &view,
        Operation::Update,
        "destroy/d",
        json!({"versions": [2]}),
    )
    .await;
    assert!(is_not_found(read(&kv, &view, "d").await));
    assert!(view.get("ver/d/2").await.unwrap().is_none(), "data is gone");
    ok(
        &kv,
        &view,
        Operation::Update,
        "undelete/d",
        json!({"versions": [2]}),
    )
    .await;
    assert!(is_not_found(read(&kv, &view, "d").await));
    let meta = ok(&kv, &view, Operation::Read, "metadata/d", json!({})).await;
    assert_eq!(meta["versions"]["2"]["destroyed"], true);
    let old = ok(&kv, &view, Operation::Read, "data/d", json!({"version": 1})).await;
    assert_eq!(old["data"], json!({"v": 1}));
}

#[tokio::test]
async fn max_versions_trims_the_oldest() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    ok(
        &kv,
        &view,
        Operation::Create,
        "metadata/t",
        json!({"max_versions": 3}),
    )
    .await;
    for n in 1..=5 {
        assert_eq!(write(&kv, &view, "t", json!({ "n": n })).await, n);
    }
    let meta = ok(&kv, &view, Operation::Read, "metadata/t", json!({})).await;
    assert_eq!(meta["current_version"], 5);
    assert_eq!(meta["oldest_version"], 3);
    let kept: Vec<&String> = meta["versions"].as_object().unwrap().keys().collect();
    assert_eq!(kept, ["3", "4", "5"]);
    for gone in 1..=2 {
        let result = call(
            &kv,
            &view,
            Operation::Read,
            "data/t",
            json!({"version": gone}),
        )
        .await;
        assert!(is_not_found(result));
        assert!(view.get(&format!("ver/t/{gone}")).await.unwrap().is_none());
    }
    // Lowering the limit trims at once.
    ok(
        &kv,
        &view,
        Operation::Patch,
        "metadata/t",
        json!({"max_versions": 1}),
    )
    .await;
    let meta = ok(&kv, &view, Operation::Read, "metadata/t", json!({})).await;
    assert_eq!(meta["oldest_version"], 5);
    assert!(view.get("ver/t/4").await.unwrap().is_none());

    // Without a key setting, the mount's applies, and 10 without either.
    ok(
        &kv,
        &view,
        Operation::Update,
        "config",
        json!({"max_versions": 2}),
    )
    .await;
    for n in 1..=3 {
        write(&kv, &view, "m", json!({ "n": n })).await;
    }
    let meta = ok(&kv, &view, Operation::Read, "metadata/m", json!({})).await;
    assert_eq!(meta["versions"].as_object().unwrap().len(), 2);
    ok(
        &kv,
        &view,
        Operation::Update,
        "config",
        json!({"max_versions": 0}),
    )
    .await;
    for n in 1..=12 {
        write(&kv, &view, "ten", json!({ "n": n })).await;
    }
    let meta = ok(&kv, &view, Operation::Read, "metadata/ten", json!({})).await;
    assert_eq!(meta["versions"].as_object().unwrap().len(), 10);
    assert_eq!(meta["oldest_version"], 3);
}

#[tokio::test]
async fn metadata_reads_writes_and_patches() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    let result = call(&kv, &view, Operation::Read, "metadata/x", json!({})).await;
    assert!(is_not_found(result));
    write(&kv, &view, "x", json!({"a": 1})).await;
    let meta = ok(&kv, &view, Operation::Read, "metadata/x", json!({})).await;
    let fields: Vec<&String> = meta.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "cas_required",
            "created_time",
            "current_version",
            "custom_metadata",
            "delete_version_after",
            "max_versions",
            "oldest_version",
            "updated_time",
            "versions"
        ]
    );
    assert_eq!(meta["current_version"], 1);
    assert_eq!(meta["oldest_version"], 0);
    assert_eq!(meta["max_versions"], 0);
    assert_eq!(meta["cas_required"], false);
    assert_eq!(meta["custom_metadata"], Value::Null);
    assert_eq!(meta["delete_version_after"], "0s");
    assert_eq!(meta["versions"]["1"]["destroyed"], false);

    let settings = json!({"max_versions": 4, "custom_metadata": {"owner": "ops", "tier": "1"}});
    ok(&kv, &view, Operation::Update, "metadata/x", settings).await;
    let patch = json!({"custom_metadata": {"tier": null, "env": "prod"}, "cas_required": true});
    ok(&kv, &view, Operation::Patch, "metadata/x", patch).await;
    let meta = ok(&kv, &view, Operation::Read, "metadata/x", json!({})).await;
    assert_eq!(meta["max_versions"], 4);
    assert_eq!(meta["cas_required"], true);
    assert_eq!(
        meta["custom_metadata"],
        json!({"owner": "ops", "env": "prod"})
    );
    let with_cas = json!({"data": {"a": 2}, "options": {"cas": 1}});
    let written = ok(&kv, &view, Operation::Update, "data/x", with_cas).await;
    assert_eq!(
        written["custom_metadata"],
        json!({"owner": "ops", "env": "prod"})
    );

    let bad = json!({"custom_metadata": {"n": 1}});
    let result = call(&kv, &view, Operation::Update, "metadata/x", bad).await;
    assert!(matches!(result, Err(EngineError::InvalidRequest(_))));
    let result = call(&kv, &view, Operation::Patch, "metadata/none", json!({})).await;
    assert!(is_not_found(result));
    let result = call(
        &kv,
        &view,
        Operation::Update,
        "config",
        json!({"delete_version_after": "1h"}),
    )
    .await;
    assert!(matches!(result, Err(EngineError::InvalidRequest(_))));
}

#[tokio::test]
async fn metadata_delete_removes_everything() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    for n in 1..=3 {
        write(&kv, &view, "gone", json!({ "n": n })).await;
    }
    ok(&kv, &view, Operation::Delete, "metadata/gone", json!({})).await;
    assert!(!kv.exists(&view, "data/gone").await.unwrap());
    assert!(is_not_found(read(&kv, &view, "gone").await));
    let result = call(&kv, &view, Operation::Read, "metadata/gone", json!({})).await;
    assert!(is_not_found(result));
    for n in 1..=3 {
        assert!(view.get(&format!("ver/gone/{n}")).await.unwrap().is_none());
    }
    // Written again, the key starts over.
    assert_eq!(write(&kv, &view, "gone", json!({"n": 9})).await, 1);
}

#[tokio::test]
async fn list_has_folder_semantics() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let kv = KvV2::new();
    for key in ["a", "a/b", "a/c/d", "e"] {
        write(&kv, &view, key, json!({"k": key})).await;
    }
    let keys = |v: Value| v["keys"].clone();
    for root in ["metadata", "metadata/"] {
        let out = ok(&kv, &view, Operation::List, root, json!({})).await;
        assert_eq!(keys(out), json!(["a", "a/", "e"]));
    }
    for prefix in ["metadata/a", "metadata/a/"] {
        let out = ok(&kv, &view, Operation::List, prefix, json!({})).await;
        assert_eq!(keys(out), json!(["b", "c/"]));
    }
    let result = call(&kv, &view, Operation::List, "metadata/zzz/", json!({})).await;
    assert!(is_not_found(result));
    let result = call(&kv, &view, Operation::List, "metadata/e", json!({})).await;
    assert!(
        is_not_found(result),
        "a key without children is not a folder"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_get_distinct_versions() {
    let vault = Arc::new(unsealed_vault().await);
    let kv = Arc::new(KvV2::new());
    let mut tasks = Vec::new();
    for n in 0..20u64 {
        let (vault, kv) = (vault.clone(), kv.clone());
        tasks.push(tokio::spawn(async move {
            let view = View::new(vault.barrier(), MOUNT);
            write(&kv, &view, "race", json!({ "writer": n })).await
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<u64>>());
    let view = View::new(vault.barrier(), MOUNT);
    let meta = ok(&kv, &view, Operation::Read, "metadata/race", json!({})).await;
    assert_eq!(meta["current_version"], 20);
    assert_eq!(meta["oldest_version"], 11);
}

#[tokio::test]
async fn another_mount_sees_nothing() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    let other = View::new(vault.barrier(), "logical/other/");
    let kv = KvV2::new();
    write(&kv, &view, "shared-name", json!({"v": "mine"})).await;
    assert!(is_not_found(read(&kv, &other, "shared-name").await));
    assert!(!kv.exists(&other, "data/shared-name").await.unwrap());
    let result = call(&kv, &other, Operation::List, "metadata/", json!({})).await;
    assert!(is_not_found(result));
    assert_eq!(
        write(&kv, &other, "shared-name", json!({"v": "theirs"})).await,
        1
    );
    assert_eq!(
        read(&kv, &view, "shared-name").await.unwrap()["data"],
        json!({"v": "mine"})
    );
}

#[tokio::test]
async fn state_survives_a_new_engine() {
    let vault = unsealed_vault().await;
    let view = View::new(vault.barrier(), MOUNT);
    write(&KvV2::new(), &view, "kept", json!({"v": 1})).await;
    let again = KvV2::new();
    assert_eq!(
        read(&again, &view, "kept").await.unwrap()["data"],
        json!({"v": 1})
    );
    assert_eq!(write(&again, &view, "kept", json!({"v": 2})).await, 2);
}
