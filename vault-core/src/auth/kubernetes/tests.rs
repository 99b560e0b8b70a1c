//! The Kubernetes method with `pem_keys` (tokens verified here, no
//! TokenReview), through the pipeline; the TokenReview path is covered
//! black-box against a loopback stand-in (tests/tests/machine_logins.rs).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::test_signer::Signer;
use crate::request::{Operation, Request, Response};
use crate::storage::MemoryBackend;
use crate::{Vault, VaultError};

fn claims(namespace: &str, name: &str, aud: &str, exp: u64) -> Value {
    json!({
        "iss": "kubernetes/serviceaccount", "aud": [aud], "exp": exp,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": "u-1"}},
    })
}

async fn call(
    vault: &Vault,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> Result<Response, VaultError> {
    let mut request = Request::new(Operation::Update, path).with_data(crate::error::object(body));
    if let Some(t) = token {
        request = request.with_token(t);
    }
    vault.handle(request).await
}

#[tokio::test]
async fn pem_keys_verify_locally_and_bounds_audience_and_expiry_are_checked() {
    let vault = Vault::new(Arc::new(MemoryBackend::new()));
    let init = vault.init(1, 1).await.unwrap();
    vault
        .unseal(init.shares[0].to_hex().expose_secret())
        .await
        .unwrap();
    let root = Some(init.root_token.expose_secret());
    let signer = Signer::new();
    call(&vault, root, "sys/auth/k8s", json!({"type": "kubernetes"}))
        .await
        .unwrap();
    call(
        &vault,
        root,
        "auth/k8s/config",
        json!({"kubernetes_host": "https://127.0.0.1:1", "pem_keys": [signer.pem]}),
    )
    .await
    .unwrap();
    call(
        &vault,
        root,
        "auth/k8s/role/app",
        json!({"bound_service_account_names": ["app"], "bound_service_account_namespaces": ["prod-*"],
               "audience": "vault", "alias_name_source": "serviceaccount_name"}),
    )
    .await
    .unwrap();
    let now = crate::clock::now_unix();
    let login = |jwt: String| {
        let vault = &vault;
        async move {
            call(
                vault,
                None,
                "auth/k8s/login",
                json!({"role": "app", "jwt": jwt}),
            )
            .await
        }
    };
    let good = login(signer.sign(&claims("prod-eu", "app", "vault", now + 600)))
        .await
        .unwrap();
    let auth = good.auth.unwrap();
    assert_eq!(auth.metadata["service_account_namespace"], "prod-eu");
    let entity = call(
        &vault,
        root,
        "identity/lookup/entity",
        json!({"id": auth.entity_id}),
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(entity["aliases"][0]["name"], "prod-eu/app");

    let refused = [
        (
            signer.sign(&claims("dev", "app", "vault", now + 600)),
            "namespace not authorized",
        ),
        (
            signer.sign(&claims("prod-eu", "other", "vault", now + 600)),
            "service account name",
        ),
        (
            signer.sign(&claims("prod-eu", "app", "other", now + 600)),
            "audience",
        ),
        (
            signer.sign(&claims("prod-eu", "app", "vault", now - 3600)),
            "expired",
        ),
        (
            Signer::new().sign(&claims("prod-eu", "app", "vault", now + 600)),
            "signature",
        ),
    ];
    for (jwt, words) in refused {
        let result = login(jwt).await;
        let message = match &result {
            Err(VaultError::LoginRefused(m)) => m.to_string(),
            Err(VaultError::InvalidRequest(m)) => m.clone(),
            other => panic!("{words}: {other:?}"),
        };
        assert!(message.contains(words), "{words}: {message}");
    }
    // A CA that is not a certificate is refused when written.
    let bad_ca = call(
        &vault,
        root,
        "auth/k8s/config",
        json!({"kubernetes_ca_cert": "not a cert"}),
    )
    .await;
    assert!(
        matches!(&bad_ca, Err(VaultError::InvalidRequest(m)) if m.contains("kubernetes_ca_cert")),
        "{bad_ca:?}"
    );
    // Both bounds "*" would admit every account of the cluster.
    let wide = call(
        &vault,
        root,
        "auth/k8s/role/all",
        json!({"bound_service_account_names": "*", "bound_service_account_namespaces": "*"}),
    )
    .await;
    assert!(
        matches!(wide, Err(VaultError::InvalidRequest(_))),
        "{wide:?}"
    );
}
