//! The KV version 1 secrets engine, as Vault's `kv` without versioning: a
//! secret is one JSON object at its plain mount-relative path (`kv/app`),
//! written whole, read whole, deleted for good, listed by folder. No versions,
//! metadata or check-and-set: a write replaces what was there.
//!
//! # Storage layout (inside the mount's [`View`])
//!
//! - `<key>`: the secret as a JSON object, under the key itself, so listing a
//!   folder of the mount lists the view's folder.
//!
//! Every request is one whole-value put, get, delete or list: there is no
//! read-modify-write, so no lock is needed (the last write wins, as in Vault).

use async_trait::async_trait;

use super::paths;
use crate::engines::{EngineError, EngineRequest, LogicalBackend, View};
use crate::request::{Data, Operation, Response};

/// The KV version 1 engine. Holds nothing.
#[derive(Debug, Default)]
pub struct KvV1;

impl KvV1 {
    /// An engine ready to serve a mount.
    pub fn new() -> Self {
        KvV1
    }
}

const MALFORMED: &str = "the stored KV record is malformed";

#[async_trait]
impl LogicalBackend for KvV1 {
    async fn exists(&self, view: &View<'_>, path: &str) -> Result<bool, EngineError> {
        if paths::check_key(path).is_err() {
            // The handler refuses it; there is nothing to update.
            return Ok(false);
        }
        Ok(view.get(path).await?.is_some())
    }

    async fn handle(
        &self,
        view: &View<'_>,
        request: EngineRequest<'_>,
    ) -> Result<Response, EngineError> {
        use Operation::{Create, Delete, List, Read, Update};
        let EngineRequest {
            operation,
            path,
            data,
            ..
        } = request;
        match operation {
            List => {
                let folder = paths::list_folder(path)?;
                let keys = view.list(&folder).await?;
                if keys.is_empty() {
                    return Err(EngineError::NotFound(folder));
                }
                let mut out = Data::new();
                out.insert("keys".into(), serde_json::json!(keys));
                Ok(Response::with_data(out))
            }
            Read => {
                paths::check_key(path)?;
                let secret: Data = crate::engines::shared::load_json(view, path, MALFORMED)
                    .await?
                    .ok_or_else(|| EngineError::NotFound(path.to_owned()))?;
                Ok(Response::with_data(secret))
            }
            Create | Update => {
                paths::check_key(path)?;
                if data.is_empty() {
                    return Err(EngineError::InvalidRequest(
                        "missing data fields: a KV version 1 secret needs at least one key".into(),
                    ));
                }
                view.batch(vec![crate::engines::shared::put_json(
                    path.to_owned(),
                    data,
                )?])
                .await?;
                Ok(Response::default())
            }
            Delete => {
                paths::check_key(path)?;
                view.delete(path).await?;
                Ok(Response::default())
            }
            _ => Err(request.unsupported()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn object(v: serde_json::Value) -> Data {
        v.as_object().unwrap().clone()
    }

    async fn unsealed_vault() -> crate::Vault {
        let vault = crate::Vault::new(std::sync::Arc::new(crate::storage::MemoryBackend::new()));
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        vault
    }

    #[tokio::test]
    async fn a_secret_is_written_read_listed_and_deleted_whole() {
        let vault = unsealed_vault().await;
        let view = View::new(vault.barrier(), "logical/v1/");
        let kv = KvV1::new();
        let call = |op, path: &'static str, data: Data| {
            let kv = &kv;
            let view = &view;
            async move { kv.handle(view, EngineRequest::new(op, path, &data)).await }
        };
        let secret = object(json!({"user": "alice", "nested": {"a": [1, 2]}}));
        call(Operation::Create, "app/db", secret.clone())
            .await
            .unwrap();
        call(Operation::Update, "app/web", object(json!({"k": "v"})))
            .await
            .unwrap();
        assert!(kv.exists(&view, "app/db").await.unwrap());
        let read = call(Operation::Read, "app/db", Data::new()).await.unwrap();
        assert_eq!(read.data, Some(secret));
        let listed = call(Operation::List, "app/", Data::new()).await.unwrap();
        assert_eq!(listed.data.unwrap()["keys"], json!(["db", "web"]));
        let root = call(Operation::List, "", Data::new()).await.unwrap();
        assert_eq!(root.data.unwrap()["keys"], json!(["app/"]));

        // A write replaces the whole secret.
        call(Operation::Update, "app/db", object(json!({"user": "bob"})))
            .await
            .unwrap();
        let read = call(Operation::Read, "app/db", Data::new()).await.unwrap();
        assert_eq!(read.data, Some(object(json!({"user": "bob"}))));

        call(Operation::Delete, "app/db", Data::new())
            .await
            .unwrap();
        assert!(matches!(
            call(Operation::Read, "app/db", Data::new()).await,
            Err(EngineError::NotFound(_))
        ));
        assert!(!kv.exists(&view, "app/db").await.unwrap());
    }

    #[tokio::test]
    async fn bad_keys_empty_writes_and_patches_are_refused() {
        let vault = unsealed_vault().await;
        let view = View::new(vault.barrier(), "logical/v1/");
        let kv = KvV1::new();
        let empty = Data::new();
        for (op, path) in [
            (Operation::Create, "a//b"),
            (Operation::Read, "../x"),
            (Operation::Create, "x"),
            (Operation::Patch, "x"),
        ] {
            let refused = kv.handle(&view, EngineRequest::new(op, path, &empty)).await;
            assert!(refused.is_err(), "{op} {path}: {refused:?}");
        }
        assert!(matches!(
            kv.handle(&view, EngineRequest::new(Operation::List, "", &empty))
                .await,
            Err(EngineError::NotFound(_))
        ));
    }
}
