//! The identity store through the pipeline: logins make and find entities,
//! a token's policies follow its entity and groups as they are now, a
//! disabled entity's tokens are refused, templates narrow, merges keep
//! tokens working, and everything survives a seal.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::request::{Data, Operation, Request, Response};
use crate::storage::MemoryBackend;
use crate::{Vault, VaultError};

const PASSWORD: &str = "correct horse battery staple";

struct Fixture {
    vault: Vault,
    root: String,
    share: String,
}

fn data(v: Value) -> Data {
    crate::error::object(v)
}

impl Fixture {
    /// A vault with userpass at `auth/up/` and `auth/up2/`, kv v2 at
    /// `secret/`, and users alice and bob on `up`.
    async fn new() -> Fixture {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let init = vault.init(1, 1).await.unwrap();
        let share = init.shares[0].to_hex().expose_secret().to_owned();
        vault.unseal(&share).await.unwrap();
        let f = Fixture {
            vault,
            root: init.root_token.expose_secret().to_owned(),
            share,
        };
        for mount in ["up", "up2"] {
            f.root(
                Operation::Update,
                &format!("sys/auth/{mount}"),
                json!({"type": "userpass"}),
            )
            .await;
            for user in ["alice", "bob"] {
                f.root(
                    Operation::Update,
                    &format!("auth/{mount}/users/{user}"),
                    json!({"password": PASSWORD, "token_policies": ["own"]}),
                )
                .await;
            }
        }
        f.root(
            Operation::Update,
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await;
        f
    }

    async fn call(
        &self,
        token: &str,
        op: Operation,
        path: &str,
        body: Value,
    ) -> Result<Response, VaultError> {
        let mut request = Request::new(op, path).with_data(data(body));
        if !token.is_empty() {
            request = request.with_token(token);
        }
        self.vault.handle(request).await
    }

    /// As root; must succeed; the answer's data.
    async fn root(&self, op: Operation, path: &str, body: Value) -> Value {
        let response = self
            .call(&self.root, op, path, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        json!(response.data)
    }

    /// Logs `user` in on `mount`; the token and the entity id.
    async fn login(&self, mount: &str, user: &str) -> (String, String) {
        let response = self
            .call(
                "",
                Operation::Update,
                &format!("auth/{mount}/login/{user}"),
                json!({"password": PASSWORD}),
            )
            .await
            .unwrap();
        let auth = response.auth.unwrap();
        (auth.client_token, auth.entity_id)
    }

    async fn accessor(&self, mount: &str) -> String {
        let auth = self.root(Operation::Read, "sys/auth", json!({})).await;
        auth[format!("{mount}/")]["accessor"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Whether `token` may read `secret/data/<path>` (written first as root).
    async fn can_read(&self, token: &str, path: &str) -> bool {
        self.root(
            Operation::Update,
            &format!("secret/data/{path}"),
            json!({"data": {"k": "v"}}),
        )
        .await;
        match self
            .call(
                token,
                Operation::Read,
                &format!("secret/data/{path}"),
                json!({}),
            )
            .await
        {
            Ok(_) => true,
            Err(VaultError::PermissionDenied(_)) => false,
            Err(e) => panic!("{path}: {e}"),
        }
    }

    async fn policy(&self, name: &str, text: &str) {
        self.root(
            Operation::Update,
            &format!("sys/policies/acl/{name}"),
            json!({ "policy": text }),
        )
        .await;
    }
}

#[tokio::test]
async fn a_login_makes_its_entity_once_and_the_token_carries_it() {
    let f = Fixture::new().await;
    f.policy(
        "own",
        r#"path "auth/token/create" { capabilities = ["update"] }"#,
    )
    .await;
    let (token, entity) = f.login("up", "alice").await;
    assert!(!entity.is_empty());
    let (_, again) = f.login("up", "alice").await;
    assert_eq!(again, entity, "the second login finds the same entity");
    let (_, bob) = f.login("up", "bob").await;
    assert_ne!(bob, entity);
    let me = f
        .call(&token, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["entity_id"], json!(entity));
    let read = f
        .root(
            Operation::Read,
            &format!("identity/entity/id/{entity}"),
            json!({}),
        )
        .await;
    let aliases = read["aliases"].as_array().unwrap();
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0]["name"], "alice");
    assert_eq!(aliases[0]["mount_accessor"], json!(f.accessor("up").await));
    assert_eq!(aliases[0]["mount_type"], "userpass");
    // A child token acts for the same entity.
    let child = f
        .call(&token, Operation::Update, "auth/token/create", json!({}))
        .await
        .unwrap()
        .auth
        .unwrap();
    assert_eq!(child.entity_id, entity);
}

#[tokio::test]
async fn group_policies_reach_live_tokens_and_a_disabled_entity_is_refused_at_once() {
    let f = Fixture::new().await;
    f.policy(
        "team",
        r#"path "secret/data/team/*" { capabilities = ["read"] }"#,
    )
    .await;
    let (token, entity) = f.login("up", "alice").await;
    assert!(!f.can_read(&token, "team/plan").await);

    let group = f
        .root(
            Operation::Update,
            "identity/group",
            json!({"name": "devs", "member_entity_ids": [entity]}),
        )
        .await;
    let group_id = group["id"].as_str().unwrap().to_owned();
    assert!(
        !f.can_read(&token, "team/plan").await,
        "the group has no policy yet"
    );
    f.root(
        Operation::Update,
        &format!("identity/group/id/{group_id}"),
        json!({"policies": ["team"]}),
    )
    .await;
    assert!(
        f.can_read(&token, "team/plan").await,
        "the existing token gains it"
    );
    let me = f
        .call(&token, Operation::Read, "auth/token/lookup-self", json!({}))
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(me["identity_policies"], json!(["team"]));
    assert_eq!(me["policies"], json!(["default", "own"]));

    // Through a parent group too.
    f.root(
        Operation::Update,
        &format!("identity/group/id/{group_id}"),
        json!({"policies": []}),
    )
    .await;
    assert!(!f.can_read(&token, "team/plan").await);
    f.root(
        Operation::Update,
        "identity/group",
        json!({"name": "staff", "policies": ["team"], "member_group_ids": [group_id]}),
    )
    .await;
    assert!(
        f.can_read(&token, "team/plan").await,
        "inherited from the parent group"
    );

    f.root(
        Operation::Update,
        &format!("identity/entity/id/{entity}"),
        json!({"disabled": true}),
    )
    .await;
    let refused = f
        .call(&token, Operation::Read, "auth/token/lookup-self", json!({}))
        .await;
    assert!(
        matches!(refused, Err(VaultError::PermissionDenied(_))),
        "{refused:?}"
    );
    let login = f
        .call(
            "",
            Operation::Update,
            "auth/up/login/alice",
            json!({"password": PASSWORD}),
        )
        .await;
    assert!(
        matches!(login, Err(VaultError::PermissionDenied(_))),
        "{login:?}"
    );
    f.root(
        Operation::Update,
        &format!("identity/entity/id/{entity}"),
        json!({"disabled": false}),
    )
    .await;
    assert!(
        f.can_read(&token, "team/plan").await,
        "enabled again, the token works"
    );

    // Leaving the group takes the policy away.
    f.root(
        Operation::Update,
        &format!("identity/group/id/{group_id}"),
        json!({"member_entity_ids": []}),
    )
    .await;
    assert!(!f.can_read(&token, "team/plan").await);
}

#[tokio::test]
async fn templated_policies_narrow_to_the_callers_own_space() {
    let f = Fixture::new().await;
    let accessor = f.accessor("up").await;
    f.policy(
        "own",
        &format!(
            r#"path "secret/data/{{{{identity.entity.aliases.{accessor}.name}}}}/*" {{ capabilities = ["read"] }}
               path "secret/data/by-meta/{{{{identity.entity.metadata.team}}}}/*" {{ capabilities = ["read"] }}"#
        ),
    )
    .await;
    let (alice, entity) = f.login("up", "alice").await;
    let (bob, _) = f.login("up", "bob").await;
    assert!(f.can_read(&alice, "alice/notes").await);
    assert!(!f.can_read(&alice, "bob/notes").await);
    assert!(f.can_read(&bob, "bob/notes").await);
    // No metadata yet: the rule grants nothing rather than anything.
    assert!(!f.can_read(&alice, "by-meta/payments/x").await);
    f.root(
        Operation::Update,
        &format!("identity/entity/id/{entity}"),
        json!({"metadata": {"team": "payments"}}),
    )
    .await;
    assert!(f.can_read(&alice, "by-meta/payments/x").await);
    assert!(!f.can_read(&alice, "by-meta/other/x").await);
    // A value with a glob or a slash fills nothing.
    for team in ["*", "payments/x", ".."] {
        f.root(
            Operation::Update,
            &format!("identity/entity/id/{entity}"),
            json!({"metadata": {"team": team}}),
        )
        .await;
        assert!(!f.can_read(&alice, "by-meta/payments/x/y").await, "{team}");
    }
    // A templated rule is refused when it names an unknown parameter.
    let bad = f
        .call(
            &f.root,
            Operation::Update,
            "sys/policies/acl/bad",
            json!({"policy": r#"path "secret/{{identity.entity.uid}}" { capabilities = ["read"] }"#}),
        )
        .await;
    assert!(matches!(bad, Err(VaultError::InvalidRequest(_))), "{bad:?}");
}

#[tokio::test]
async fn merged_entities_keep_their_tokens_groups_and_aliases() {
    let f = Fixture::new().await;
    f.policy(
        "team",
        r#"path "secret/data/team/*" { capabilities = ["read"] }"#,
    )
    .await;
    let (on_up, first) = f.login("up", "alice").await;
    let (on_up2, second) = f.login("up2", "alice").await;
    assert_ne!(first, second, "two mounts, two entities until merged");
    f.root(
        Operation::Update,
        "identity/group",
        json!({"name": "devs", "policies": ["team"], "member_entity_ids": [first]}),
    )
    .await;
    assert!(!f.can_read(&on_up2, "team/x").await);
    f.root(
        Operation::Update,
        "identity/entity/merge",
        json!({"from_entity_ids": [first], "to_entity_id": second}),
    )
    .await;
    assert!(
        f.can_read(&on_up2, "team/x").await,
        "the group followed the merge"
    );
    assert!(f.can_read(&on_up, "team/x").await, "the merged id resolves");
    let (_, again) = f.login("up", "alice").await;
    assert_eq!(again, second, "the alias moved");
    let merged = f
        .root(
            Operation::Read,
            &format!("identity/entity/id/{second}"),
            json!({}),
        )
        .await;
    assert_eq!(merged["merged_entity_ids"], json!([first]));
    assert_eq!(merged["aliases"].as_array().unwrap().len(), 2);
    // Merging two aliases on one mount needs a choice.
    let (_, third) = f.login("up", "bob").await;
    let clash = f
        .call(
            &f.root,
            Operation::Update,
            "identity/entity/merge",
            json!({"from_entity_ids": [third], "to_entity_id": second}),
        )
        .await;
    assert!(
        matches!(&clash, Err(VaultError::InvalidRequest(m)) if m.contains("conflicting")),
        "{clash:?}"
    );
}

#[tokio::test]
async fn names_aliases_and_group_hierarchy_are_checked() {
    let f = Fixture::new().await;
    let created = f
        .root(
            Operation::Update,
            "identity/entity",
            json!({"name": "svc", "policies": "a,b"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    // Written again by name: an update, as in Vault.
    let again = f
        .call(
            &f.root,
            Operation::Update,
            "identity/entity",
            json!({"name": "svc", "policies": ["c"]}),
        )
        .await
        .unwrap();
    assert!(again.data.is_none());
    let read = f
        .root(Operation::Read, "identity/entity/name/svc", json!({}))
        .await;
    assert_eq!(read["id"], json!(id));
    assert_eq!(read["policies"], json!(["c"]));

    let accessor = f.accessor("up").await;
    let alias = f
        .root(
            Operation::Update,
            "identity/entity-alias",
            json!({"name": "svc-user", "mount_accessor": accessor, "canonical_id": id}),
        )
        .await;
    assert_eq!(alias["canonical_id"], json!(id));
    let second = f
        .call(
            &f.root,
            Operation::Update,
            "identity/entity-alias",
            json!({"name": "other", "mount_accessor": accessor, "canonical_id": id}),
        )
        .await;
    assert!(
        matches!(second, Err(VaultError::InvalidRequest(_))),
        "one alias per mount"
    );
    let bad_mount = f
        .call(
            &f.root,
            Operation::Update,
            "identity/entity-alias",
            json!({"name": "x", "mount_accessor": "nope"}),
        )
        .await;
    assert!(
        matches!(&bad_mount, Err(VaultError::InvalidRequest(m)) if m.contains("invalid mount accessor")),
        "{bad_mount:?}"
    );
    let found = f
        .root(
            Operation::Update,
            "identity/lookup/entity",
            json!({"alias_name": "svc-user", "alias_mount_accessor": accessor}),
        )
        .await;
    assert_eq!(found["id"], json!(id));
    let nothing = f
        .call(
            &f.root,
            Operation::Update,
            "identity/lookup/entity",
            json!({"name": "nobody"}),
        )
        .await
        .unwrap();
    assert!(nothing.data.is_none());

    let a = f
        .root(Operation::Update, "identity/group", json!({"name": "a"}))
        .await;
    let a = a["id"].as_str().unwrap().to_owned();
    let b = f
        .root(
            Operation::Update,
            "identity/group",
            json!({"name": "b", "member_group_ids": [a]}),
        )
        .await;
    let b = b["id"].as_str().unwrap().to_owned();
    let cycle = f
        .call(
            &f.root,
            Operation::Update,
            &format!("identity/group/id/{a}"),
            json!({"member_group_ids": [b]}),
        )
        .await;
    assert!(
        matches!(&cycle, Err(VaultError::InvalidRequest(m)) if m.contains("hierarchy")),
        "{cycle:?}"
    );
    let external = f
        .root(
            Operation::Update,
            "identity/group",
            json!({"name": "ext", "type": "external"}),
        )
        .await;
    let members = f
        .call(
            &f.root,
            Operation::Update,
            &format!("identity/group/id/{}", external["id"].as_str().unwrap()),
            json!({"member_entity_ids": [id]}),
        )
        .await;
    assert!(
        matches!(members, Err(VaultError::InvalidRequest(_))),
        "{members:?}"
    );
    let listed = f
        .root(Operation::List, "identity/entity/name", json!({}))
        .await;
    assert!(listed["keys"].as_array().unwrap().contains(&json!("svc")));
}

#[tokio::test]
async fn the_store_survives_a_seal_and_a_refused_write_leaves_it_as_it_was() {
    let f = Fixture::new().await;
    f.policy(
        "team",
        r#"path "secret/data/team/*" { capabilities = ["read"] }"#,
    )
    .await;
    let (token, entity) = f.login("up", "alice").await;
    f.root(
        Operation::Update,
        "identity/group",
        json!({"name": "devs", "policies": ["team"], "member_entity_ids": [entity]}),
    )
    .await;
    let bad = f
        .call(
            &f.root,
            Operation::Update,
            "identity/group/name/devs",
            json!({"member_entity_ids": [entity, "no-such-entity"]}),
        )
        .await;
    assert!(matches!(bad, Err(VaultError::InvalidRequest(_))), "{bad:?}");
    f.root(Operation::Update, "sys/seal", json!({})).await;
    f.vault.unseal(&f.share).await.unwrap();
    assert!(
        f.can_read(&token, "team/x").await,
        "loaded again from storage"
    );
    let (_, again) = f.login("up", "alice").await;
    assert_eq!(again, entity);
}
