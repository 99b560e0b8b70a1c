//! What an ACL decision costs: `Acl::check` over 20 request paths (hits on
//! exact, `*` and `+` patterns, denies, parameter checks and misses) against an
//! ACL compiled from 50 policies of 10 rules each, and `Acl::new` compiling those
//! 50 policies. The check runs on every request; the compile once per token
//! lookup unless cached.
//!
//! Run with `cargo bench -p vault-core --bench acl`.

// A bench has no caller to report to: if its setup fails it aborts loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use vault_core::policy::{Acl, Policy, parse};
use vault_core::request::Operation;

const POLICIES: usize = 50;

/// Policy `i`: a team's rules, some shared by every team (so they merge).
fn policy_text(i: usize) -> String {
    format!(
        r#"
path "secret/data/team{i}/config" {{ capabilities = ["read"] }}
path "secret/data/team{i}/*" {{ capabilities = ["read", "list"] }}
path "secret/metadata/team{i}/*" {{ capabilities = ["list"] }}
path "secret/data/team{i}/private/*" {{ capabilities = ["deny"] }}
path "secret/data/+/team{i}/shared" {{ capabilities = ["read"] }}
path "kv/+/app{i}/*" {{ capabilities = ["read", "update"] }}
path "transit/encrypt/key{i}" {{
  capabilities = ["update"]
  allowed_parameters = {{ "plaintext" = [], "context" = [], "key_version" = [1, 2] }}
  denied_parameters = {{ "batch_input" = [] }}
}}
path "sys/leases/lookup/team{i}/*" {{ capabilities = ["list", "sudo"] }}
path "auth/token/lookup-self" {{ capabilities = ["read"] }}
path "pki/issue/+" {{ capabilities = ["update"] }}
"#
    )
}

fn policies() -> Vec<Arc<Policy>> {
    (0..POLICIES)
        .map(|i| Arc::new(parse(&format!("team-{i}"), &policy_text(i)).expect("policy")))
        .collect()
}

/// One request: operation, path, data.
type Request = (Operation, &'static str, Option<Map<String, Value>>);

fn requests() -> Vec<Request> {
    let params = |v: Value| v.as_object().cloned();
    vec![
        (Operation::Read, "secret/data/team7/config", None),
        (Operation::Read, "secret/data/team49/app/db", None),
        (Operation::List, "secret/metadata/team3/", None),
        (Operation::Read, "secret/data/team5/private/key", None),
        (Operation::Read, "secret/data/ops/team12/shared", None),
        (Operation::Read, "secret/data/ops/team99/shared", None),
        (Operation::Update, "kv/eu/app12/settings", None),
        (Operation::Delete, "kv/eu/app12/settings", None),
        (
            Operation::Update,
            "transit/encrypt/key9",
            params(json!({"plaintext": "aGVsbG8=", "key_version": 2})),
        ),
        (
            Operation::Update,
            "transit/encrypt/key9",
            params(json!({"batch_input": []})),
        ),
        (Operation::List, "sys/leases/lookup/team20/", None),
        (Operation::Read, "auth/token/lookup-self", None),
        (
            Operation::Update,
            "pki/issue/web",
            params(json!({"common_name": "a.example"})),
        ),
        (Operation::Update, "pki/issue/web/extra", None),
        (Operation::Read, "nothing/here", None),
        (Operation::Read, "secret/data", None),
        (Operation::Read, "secret/data/team", None),
        (Operation::List, "secret/data/team31/", None),
        (Operation::Read, "sys/mounts", None),
        (Operation::Read, "kv/eu", None),
    ]
}

fn check(c: &mut Criterion) {
    let acl = Acl::new(&policies());
    let requests = requests();
    let mut group = c.benchmark_group("acl");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function("check_20_paths_50_policies", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for (op, path, params) in &requests {
                let d = acl.check(*op, black_box(path), params.as_ref());
                allowed += u32::from(d.allowed);
            }
            black_box(allowed)
        });
    });
    group.finish();
}

fn compile(c: &mut Criterion) {
    let policies = policies();
    let mut group = c.benchmark_group("acl");
    group.throughput(Throughput::Elements(POLICIES as u64));
    group.bench_function("new_50_policies", |b| {
        b.iter(|| black_box(Acl::new(black_box(&policies))));
    });
    group.finish();
}

criterion_group!(benches, check, compile);
criterion_main!(benches);
