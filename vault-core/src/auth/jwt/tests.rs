//! The JWT method through the pipeline, with keys made here (ECDSA by
//! rcgen, PEM public keys) and tokens signed by ring: a good login and its
//! entity, each way a token can fail, external groups from the groups
//! claim, and the config and role checks.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::auth::test_signer::Signer;

use crate::request::{Data, Operation, Request, Response};
use crate::storage::MemoryBackend;
use crate::{Vault, VaultError};

fn now() -> u64 {
    crate::clock::now_unix()
}

fn good_claims(sub: &str) -> Value {
    json!({
        "iss": "https://ci.example", "sub": sub, "aud": "vault",
        "exp": now() + 300, "iat": now(), "nbf": now() - 5,
        "groups": ["devs"], "project": "payments",
    })
}

struct Fixture {
    vault: Vault,
    root: String,
    signer: Signer,
}

impl Fixture {
    async fn new() -> Fixture {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        let f = Fixture {
            vault,
            root: init.root_token.expose_secret().to_owned(),
            signer: Signer::new(),
        };
        f.root(Operation::Update, "sys/auth/jwt", json!({"type": "jwt"}))
            .await
            .unwrap();
        f.root(
            Operation::Update,
            "auth/jwt/config",
            json!({"jwt_validation_pubkeys": [f.signer.pem], "bound_issuer": "https://ci.example"}),
        )
        .await
        .unwrap();
        f.root(
            Operation::Update,
            "auth/jwt/role/ci",
            json!({
                "role_type": "jwt", "user_claim": "sub", "bound_audiences": ["vault"],
                "groups_claim": "groups", "claim_mappings": {"project": "project"},
                "token_policies": ["ci"], "token_ttl": "10m",
            }),
        )
        .await
        .unwrap();
        f
    }

    async fn root(&self, op: Operation, path: &str, body: Value) -> Result<Response, VaultError> {
        self.vault
            .handle(
                Request::new(op, path)
                    .with_token(&self.root)
                    .with_data(data(body)),
            )
            .await
    }

    async fn login(&self, jwt: &str) -> Result<Response, VaultError> {
        self.vault
            .handle(
                Request::new(Operation::Update, "auth/jwt/login")
                    .with_data(data(json!({"role": "ci", "jwt": jwt}))),
            )
            .await
    }
}

fn data(v: Value) -> Data {
    crate::error::object(v)
}

fn refused_with(result: &Result<Response, VaultError>, words: &str) -> bool {
    matches!(result, Err(VaultError::InvalidRequest(m)) if m.contains(words))
}

#[tokio::test]
async fn a_good_token_logs_in_with_its_entity_alias_and_metadata() {
    let f = Fixture::new().await;
    let response = f
        .login(&f.signer.sign(&good_claims("repo:acme/api")))
        .await
        .unwrap();
    let auth = response.auth.unwrap();
    assert_eq!(auth.token_policies, ["ci", "default"]);
    assert_eq!(auth.metadata["role"], "ci");
    assert_eq!(auth.metadata["project"], "payments");
    assert_eq!(auth.lease_duration, 600);
    let entity = f
        .root(
            Operation::Read,
            &format!("identity/entity/id/{}", auth.entity_id),
            json!({}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    let alias = &entity["aliases"][0];
    assert_eq!(alias["name"], "repo:acme/api");
    assert_eq!(alias["mount_type"], "jwt");
    assert_eq!(alias["metadata"]["project"], "payments");
    let me = f
        .vault
        .handle(
            Request::new(Operation::Read, "auth/token/lookup-self").with_token(&auth.client_token),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["display_name"], "jwt-repo:acme/api");
    let again = f
        .login(&f.signer.sign(&good_claims("repo:acme/api")))
        .await
        .unwrap();
    assert_eq!(again.auth.unwrap().entity_id, auth.entity_id);
}

#[tokio::test]
async fn every_bad_token_is_refused_and_says_why() {
    let f = Fixture::new().await;
    let with = |key: &str, value: Value| {
        let mut c = good_claims("svc");
        c[key] = value;
        c
    };
    let cases = [
        (
            "expired",
            f.signer.sign(&with("exp", json!(now() - 3600))),
            "expired",
        ),
        (
            "not yet valid",
            f.signer.sign(&with("nbf", json!(now() + 3600))),
            "not yet valid",
        ),
        (
            "wrong audience",
            f.signer.sign(&with("aud", json!("other"))),
            "aud",
        ),
        (
            "wrong issuer",
            f.signer.sign(&with("iss", json!("https://evil"))),
            "issuer",
        ),
        (
            "wrong key",
            Signer::new().sign(&good_claims("svc")),
            "signature",
        ),
        (
            "alg none",
            {
                let signed = f
                    .signer
                    .sign_with(json!({"alg": "none"}), &good_claims("svc"));
                let mut parts: Vec<&str> = signed.split('.').collect();
                parts[2] = "";
                parts.join(".")
            },
            "algorithm",
        ),
        (
            "HS256",
            f.signer
                .sign_with(json!({"alg": "HS256"}), &good_claims("svc")),
            "algorithm",
        ),
        (
            "no exp",
            f.signer.sign(&{
                let mut c = good_claims("svc");
                c.as_object_mut().unwrap().remove("exp");
                c
            }),
            "exp",
        ),
        ("not a token", "a.b".to_owned(), "error validating token"),
    ];
    for (name, jwt, words) in cases {
        let result = f.login(&jwt).await;
        assert!(refused_with(&result, words), "{name}: {result:?}");
    }
    let unknown_role = f
        .vault
        .handle(
            Request::new(Operation::Update, "auth/jwt/login").with_data(data(
                json!({"role": "nope", "jwt": f.signer.sign(&good_claims("svc"))}),
            )),
        )
        .await;
    assert!(
        refused_with(&unknown_role, "could not be found"),
        "{unknown_role:?}"
    );
}

#[tokio::test]
async fn the_groups_claim_sets_external_group_membership_at_each_login() {
    let f = Fixture::new().await;
    let auth = f
        .root(Operation::Read, "sys/auth", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    let accessor = auth["jwt/"]["accessor"].as_str().unwrap().to_owned();
    let group = f
        .root(
            Operation::Update,
            "identity/group",
            json!({"name": "devs-ext", "type": "external", "policies": ["devs"]}),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    f.root(
        Operation::Update,
        "identity/group-alias",
        json!({"name": "devs", "mount_accessor": accessor, "canonical_id": group["id"]}),
    )
    .await
    .unwrap();
    let first = f.login(&f.signer.sign(&good_claims("svc"))).await.unwrap();
    let first = first.auth.unwrap();
    assert_eq!(first.identity_policies, ["devs"]);
    let mut without = good_claims("svc");
    without["groups"] = json!(["other"]);
    let second = f
        .login(&f.signer.sign(&without))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert!(second.identity_policies.is_empty(), "{second:?}");
    // And the first token lost it too: membership is live.
    let me = f
        .vault
        .handle(
            Request::new(Operation::Read, "auth/token/lookup-self").with_token(&first.client_token),
        )
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(me.get("identity_policies").is_none(), "{me:?}");
}

#[tokio::test]
async fn config_and_roles_are_checked_when_written() {
    let f = Fixture::new().await;
    let cases = [
        ("auth/jwt/config", json!({}), "exactly one"),
        (
            "auth/jwt/config",
            json!({"jwt_validation_pubkeys": [f.signer.pem], "jwks_url": "https://x"}),
            "exactly one",
        ),
        (
            "auth/jwt/config",
            json!({"jwt_validation_pubkeys": ["not pem"]}),
            "jwt_validation_pubkeys",
        ),
        (
            "auth/jwt/config",
            json!({"jwks_url": "http://plain"}),
            "https://",
        ),
        (
            "auth/jwt/config",
            json!({"oidc_discovery_url": "https://x", "oidc_client_id": "c"}),
            "browser OIDC",
        ),
        (
            "auth/jwt/role/r",
            json!({"user_claim": "sub"}),
            "bound constraint",
        ),
        (
            "auth/jwt/role/r",
            json!({"bound_subject": "x"}),
            "user_claim",
        ),
        (
            "auth/jwt/role/r",
            json!({"role_type": "oidc", "user_claim": "sub", "bound_subject": "x"}),
            "browser OIDC",
        ),
        (
            "auth/jwt/role/r",
            json!({"user_claim": "sub", "bound_subject": "x", "token_policies": ["root"]}),
            "root",
        ),
        (
            "auth/jwt/role/r",
            json!({"user_claim": "sub", "bound_claims": "{not json", "bound_subject": "x"}),
            "bound_claims",
        ),
    ];
    for (path, body, words) in cases {
        let result = f.root(Operation::Update, path, body.clone()).await;
        assert!(refused_with(&result, words), "{path} {body}: {result:?}");
    }
    let role = f
        .root(Operation::Read, "auth/jwt/role/ci", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["user_claim"], "sub");
    assert_eq!(role["token_ttl"], 600);
    assert_eq!(role["expiration_leeway"], 150);
    let listed = f
        .root(Operation::List, "auth/jwt/role", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(listed["keys"], json!(["ci"]));
}
