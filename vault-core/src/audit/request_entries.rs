//! The entries the request pipeline records for each request (before the
//! handler runs) and its response (after). Field names are Vault's.
//!
//! An entry is written for each device straight into its canonical form (see
//! [`super::canonical`]), every secret HMAC'd under that device's key as it
//! is written: no JSON tree is built, copied, redacted, serialised and
//! freed, which took about a fifth of an audited read's CPU. What is
//! HMAC'd: every token and accessor, the data both ways (every string and
//! number in it), token metadata wherever it appears, and an MFA request id
//! (with a passcode, it completes a login).

use super::canonical::{Body, BodyWriter, Members, object, write_scalar, write_strs, write_value};
use super::entry::{Bounded, Hasher, bounded_data};
use crate::error::VaultError;
use crate::request::{Auth, Caller, Request, Response};
use crate::router::MountEntry;

/// What one entry records: a request before it runs, or a request and what
/// came of it.
pub(crate) struct Record<'a> {
    request: &'a Request,
    caller: Option<&'a Caller>,
    mount: Option<&'a MountEntry>,
    // `None` for the request entry.
    result: Option<&'a Result<Response, VaultError>>,
}

impl<'a> Record<'a> {
    /// The `request` entry of `request`.
    pub fn request(
        request: &'a Request,
        caller: Option<&'a Caller>,
        mount: Option<&'a MountEntry>,
    ) -> Self {
        Record {
            request,
            caller,
            mount,
            result: None,
        }
    }

    /// The `response` entry: the request again, and what came of it.
    pub fn response(
        request: &'a Request,
        caller: Option<&'a Caller>,
        mount: Option<&'a MountEntry>,
        result: &'a Result<Response, VaultError>,
    ) -> Self {
        Record {
            request,
            caller,
            mount,
            result: Some(result),
        }
    }

    /// The entry's members as the device with `hasher` writes them, at
    /// `time` (RFC 3339).
    pub fn body(&self, hasher: &Hasher, time: &str) -> Body {
        // The token appears twice in each entry; HMAC'd once.
        let token_hmac = self.request.token.as_ref().map(|t| {
            let mut out = Vec::with_capacity(80);
            hasher.write_hash(t.expose_secret(), &mut out);
            out
        });
        let token_hmac = token_hmac.as_deref();
        let mut body = BodyWriter::default();
        body.member("auth", |out| self.write_auth(hasher, token_hmac, out));
        body.member("error", |out| match self.result {
            Some(Err(e)) => write_scalar(&e.to_string(), out),
            _ => write_scalar("", out),
        });
        body.member("request", |out| self.write_request(hasher, token_hmac, out));
        if let Some(result) = self.result {
            body.member("response", |out| match result {
                Ok(response) => write_response(hasher, response, out),
                Err(_) => write_scalar(&(), out),
            });
        }
        body.member("time", |out| write_scalar(time, out));
        let kind = if self.result.is_some() {
            "response"
        } else {
            "request"
        };
        body.member("type", |out| write_scalar(kind, out));
        body.finish()
    }

    /// Who asked: the token as presented, and what it is: its policies and
    /// its entity's, as this request judged them.
    fn write_auth(&self, hasher: &Hasher, token_hmac: Option<&[u8]>, out: &mut Vec<u8>) {
        let Some((t, caller)) = self.caller.and_then(|c| c.token.as_ref().map(|t| (t, c))) else {
            return object(out, |m| {
                m.member("client_token", |out| hashed(token_hmac, out))
            });
        };
        let identity_policies = caller
            .identity
            .as_ref()
            .map_or(&[][..], |i| i.policies.as_slice());
        let mut policies: Vec<&str> = t
            .policies
            .iter()
            .chain(identity_policies)
            .map(String::as_str)
            .collect();
        policies.sort_unstable();
        policies.dedup();
        // The entity the request was judged as (after a merge, the one the
        // token's went into).
        let entity_id = caller
            .identity
            .as_ref()
            .map_or(t.entity_id.as_str(), |i| i.entity_id.as_str());
        object(out, |m| {
            m.member("accessor", |out| hasher.write_hash(&t.accessor, out));
            m.member("client_token", |out| hashed(token_hmac, out));
            m.member("display_name", |out| write_scalar(&t.display_name, out));
            m.member("entity_id", |out| write_scalar(entity_id, out));
            m.member("identity_policies", |out| {
                write_strs(identity_policies.iter().map(String::as_str), out);
            });
            m.member("metadata", |out| write_hashed_strings(hasher, &t.meta, out));
            m.member("policies", |out| write_strs(policies.iter().copied(), out));
            m.member("token_policies", |out| {
                write_strs(t.policies.iter().map(String::as_str), out);
            });
            m.member("token_type", |out| write_scalar("service", out));
        });
    }

    /// The request; its data bounded ([`bounded_data`]), tighter for a
    /// request without a valid token.
    fn write_request(&self, hasher: &Hasher, token_hmac: Option<&[u8]>, out: &mut Vec<u8>) {
        let request = self.request;
        let authenticated = self.caller.is_some_and(|c| c.token.is_some());
        let data = bounded_data(&request.data, authenticated);
        let mount = self.mount;
        object(out, |m| {
            m.member("client_token", |out| hashed(token_hmac, out));
            m.member("data", |out| match &data {
                Bounded::Whole(map) => hasher.write_hashed_map(map, out),
                Bounded::Summarized(text) => object(out, |m| {
                    m.member("summarized_body", |out| hasher.write_hash(text, out));
                }),
            });
            if let Bounded::Summarized(text) = &data {
                m.member("data_length", |out| write_scalar(&text.len(), out));
            }
            m.member("id", |out| write_scalar(&request.id, out));
            m.member("mount_accessor", |out| {
                write_scalar(&mount.map(|m| &m.accessor), out);
            });
            m.member("mount_point", |out| {
                write_scalar(&mount.map(|m| &m.path), out)
            });
            m.member("mount_type", |out| {
                write_scalar(&mount.map(|m| &m.kind), out)
            });
            m.member("operation", |out| {
                write_scalar(request.operation.as_str(), out);
            });
            m.member("path", |out| write_scalar(&request.path, out));
            m.member("remote_address", |out| {
                write_scalar(&request.remote_addr.map(|a| a.to_string()), out);
            });
            // As asked, in seconds; text that is not a duration was refused
            // and is left out.
            if let Ok(Some(ms)) = crate::wrapping::requested_ttl(request.wrap_ttl.as_deref()) {
                m.member("wrap_ttl", |out| write_scalar(&(ms / 1000), out));
            }
            if let Some(accessor) = self.caller.and_then(|c| c.wrapping_accessor.as_ref()) {
                m.member("wrapping_token_accessor", |out| {
                    hasher.write_hash(accessor, out);
                });
            }
        });
    }
}

/// What a request answered with.
fn write_response(hasher: &Hasher, response: &Response, out: &mut Vec<u8>) {
    object(out, |m| {
        m.member("auth", |out| match &response.auth {
            Some(auth) => write_granted(hasher, auth, out),
            None => write_scalar(&(), out),
        });
        m.member("data", |out| match &response.data {
            Some(data) => hasher.write_hashed_map(data, out),
            None => write_scalar(&(), out),
        });
        // Lease ids are not secret: they are how an operator follows a
        // credential from its issue to its revocation.
        m.member("secret", |out| match &response.lease {
            Some(lease) => object(out, |m| {
                m.member("lease_duration", |out| {
                    write_scalar(&lease.lease_duration, out)
                });
                m.member("lease_id", |out| write_scalar(&lease.lease_id, out));
                m.member("renewable", |out| write_scalar(&lease.renewable, out));
            }),
            None => write_scalar(&(), out),
        });
        m.member("warnings", |out| {
            write_strs(response.warnings.iter().map(String::as_str), out);
        });
        m.member("wrap_info", |out| match &response.wrap_info {
            Some(wrap) => object(out, |m| {
                m.member("accessor", |out| hasher.write_hash(&wrap.accessor, out));
                m.member("creation_path", |out| {
                    write_scalar(&wrap.creation_path, out)
                });
                m.member("creation_time", |out| {
                    write_scalar(&wrap.creation_time, out)
                });
                m.member("token", |out| hasher.write_hash(&wrap.token, out));
                m.member("ttl", |out| write_scalar(&wrap.ttl, out));
                m.member("wrapped_accessor", |out| {
                    hasher.write_hash(&wrap.wrapped_accessor, out);
                });
            }),
            None => write_scalar(&(), out),
        });
    });
}

/// The token a login or token creation made.
fn write_granted(hasher: &Hasher, auth: &Auth, out: &mut Vec<u8>) {
    let strs = |items: &Vec<String>, out: &mut Vec<u8>| {
        write_strs(items.iter().map(String::as_str), out);
    };
    object(out, |m: &mut Members<'_>| {
        m.member("accessor", |out| hasher.write_hash(&auth.accessor, out));
        m.member("client_token", |out| {
            hasher.write_hash(&auth.client_token, out)
        });
        m.member("entity_id", |out| write_scalar(&auth.entity_id, out));
        m.member("identity_policies", |out| {
            strs(&auth.identity_policies, out)
        });
        m.member("lease_duration", |out| {
            write_scalar(&auth.lease_duration, out)
        });
        m.member("metadata", |out| {
            write_hashed_strings(hasher, &auth.metadata, out)
        });
        m.member("mfa_requirement", |out| match &auth.mfa_requirement {
            Some(mfa) => object(out, |m| {
                m.member("mfa_constraints", |out| {
                    write_value(&mfa.mfa_constraints, out)
                });
                m.member("mfa_request_id", |out| {
                    hasher.write_hash(&mfa.mfa_request_id, out);
                });
            }),
            None => write_scalar(&(), out),
        });
        m.member("num_uses", |out| write_scalar(&auth.num_uses, out));
        m.member("policies", |out| strs(&auth.policies, out));
        m.member("renewable", |out| write_scalar(&auth.renewable, out));
        m.member("token_policies", |out| strs(&auth.token_policies, out));
    });
}

/// A token's HMAC, written already as a JSON string, or `null`.
fn hashed(token_hmac: Option<&[u8]>, out: &mut Vec<u8>) {
    match token_hmac {
        Some(hmac) => out.extend_from_slice(hmac),
        None => write_scalar(&(), out),
    }
}

/// Token metadata: its keys, and its values HMAC'd (a `BTreeMap` iterates in
/// the byte order of its keys, as the canonical form needs).
fn write_hashed_strings(
    hasher: &Hasher,
    map: &std::collections::BTreeMap<String, String>,
    out: &mut Vec<u8>,
) {
    object(out, |m| {
        for (key, value) in map {
            m.member(key, |out| hasher.write_hash(value, out));
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use crate::audit::{GENESIS_HASH, canonical_json};
    use crate::identity::Resolved;
    use crate::request::{LeaseInfo, MfaRequirement, Operation, WrapInfo};
    use crate::secret::Key256;
    use crate::token::TokenEntry;

    const TIME: &str = "2026-12-07T20:00:00Z";

    /// A request and what its entry records of it besides.
    type Case<'a> = (
        Request,
        Option<&'a Caller>,
        Option<&'a MountEntry>,
        Option<&'a Result<Response, VaultError>>,
    );

    fn hasher() -> Hasher {
        Hasher::new(&Key256::from_slice(&[7; 32]).unwrap()).unwrap()
    }

    fn mount() -> MountEntry {
        MountEntry {
            path: "secret/".into(),
            kind: "kv".into(),
            uuid: "u-1".into(),
            accessor: "kv_1a2b".into(),
            description: String::new(),
            config: Default::default(),
            options: Default::default(),
        }
    }

    fn caller() -> Caller {
        Caller {
            token: Some(TokenEntry {
                accessor: "acc-of-token".into(),
                policies: vec!["z-app".into(), "default".into()],
                display_name: "approle".into(),
                meta: [
                    ("team".into(), "payments-oncall".into()),
                    ("a".into(), "b\"\n".into()),
                ]
                .into_iter()
                .collect(),
                entity_id: "ent-old".into(),
                ..Default::default()
            }),
            sudo: false,
            identity: Some(Arc::new(Resolved {
                entity_id: "ent-merged".into(),
                policies: vec!["default".into(), "group-pol".into()],
                ..Default::default()
            })),
            wrapping_accessor: Some("wrapping-acc".into()),
        }
    }

    fn request(data: Value) -> Request {
        let Value::Object(data) = data else { panic!() };
        let mut request = Request::new(Operation::Update, "secret/data/app")
            .with_token("s.the-token")
            .with_data(data);
        request.remote_addr = Some("10.1.2.3".parse().unwrap());
        request.wrap_ttl = Some("5m".into());
        request
    }

    fn granted() -> Response {
        Response {
            data: Some(
                json!({"data": {"pw": "hunter2", "pin": 1234, "f": 1.5, "ok": true, "n": null,
                        "list": ["x", 2, {"k": "v"}], "é": "ü\u{1}"}})
                .as_object()
                .unwrap()
                .clone(),
            ),
            warnings: vec!["TTL capped".into()],
            auth: Some(Auth {
                client_token: "s.new-token".into(),
                accessor: "new-acc".into(),
                policies: vec!["default".into()],
                token_policies: vec!["default".into()],
                identity_policies: vec![],
                entity_id: "e".into(),
                lease_duration: 3600,
                renewable: true,
                metadata: [("role_name".into(), "web".into())].into_iter().collect(),
                num_uses: 0,
                orphan: true,
                mfa_requirement: Some(MfaRequirement {
                    mfa_request_id: "mfa-req".into(),
                    mfa_constraints: json!({"m": {"any": [{"type": "totp", "id": "i"}]}}),
                }),
            }),
            lease: Some(LeaseInfo {
                lease_id: "database/creds/r/abc".into(),
                lease_duration: 60,
                renewable: true,
            }),
            wrap_info: Some(WrapInfo {
                token: "s.wrapping".into(),
                accessor: "wrap-acc".into(),
                ttl: 300,
                creation_time: TIME.into(),
                creation_path: "secret/data/app".into(),
                wrapped_accessor: String::new(),
            }),
            ..Default::default()
        }
    }

    fn line(body: &Body) -> String {
        let mut out = Vec::new();
        body.chained_line(1, GENESIS_HASH, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_entry_is_written_as_the_tree_it_replaced_would_be() {
        let hasher = hasher();
        let (caller, mount) = (caller(), mount());
        let nested = json!({"data": {"pw": "hunter2", "n": [1, -2, 3.25, "x"], "o": {"b": 1, "a": null},
                                     "t": true, "esc": "\"\\\u{7f}\u{2028}"}});
        let big = json!({"a": (0..10_000).collect::<Vec<_>>()});
        let ok = Ok(granted());
        let mfa_only = Ok(Response {
            auth: Some(Auth {
                mfa_requirement: granted().auth.unwrap().mfa_requirement,
                ..Default::default()
            }),
            ..Default::default()
        });
        let refused: Result<Response, VaultError> =
            Err(VaultError::PermissionDenied("no \"policy\""));
        let empty = Ok(Response::default());
        let anonymous = Caller::ANONYMOUS;
        let lifecycle = Request::new(Operation::Update, "sys/unseal");
        let cases: Vec<Case<'_>> = vec![
            (lifecycle.clone(), None, None, None),
            (lifecycle, None, None, Some(&ok)),
            (request(nested.clone()), Some(&caller), Some(&mount), None),
            (
                request(nested.clone()),
                Some(&caller),
                Some(&mount),
                Some(&ok),
            ),
            (
                request(nested),
                Some(&anonymous),
                Some(&mount),
                Some(&refused),
            ),
            (request(big.clone()), Some(&anonymous), Some(&mount), None),
            (request(big), Some(&caller), Some(&mount), Some(&mfa_only)),
            (request(json!({})), Some(&caller), None, Some(&empty)),
        ];
        for (request, caller, mount, result) in cases {
            let record = Record {
                request: &request,
                caller,
                mount,
                result,
            };
            let streamed = line(&record.body(&hasher, TIME));
            let tree = oracle::entry(&hasher, &request, caller, mount, result, TIME);
            let expected = line(&Body::new(tree.as_object().unwrap()));
            assert_eq!(streamed, expected);
            let parsed: Value = serde_json::from_str(&streamed).unwrap();
            assert_eq!(canonical_json(&parsed), streamed);
        }
    }

    #[test]
    fn secrets_are_hashed_and_the_rest_kept() {
        let hasher = hasher();
        let (caller, mount) = (caller(), mount());
        let request = request(json!({"data": {"pw": "hunter2", "n": 3}}));
        let ok = Ok(granted());
        let record = Record::response(&request, Some(&caller), Some(&mount), &ok);
        let text = line(&record.body(&hasher, TIME));
        let secrets = [
            "s.the-token",
            "acc-of-token",
            "payments-oncall",
            "hunter2",
            "1234",
            "s.new-token",
            "new-acc",
            "\"web\"",
            "mfa-req",
            "s.wrapping",
            "wrap-acc",
            "wrapping-acc",
        ];
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let entry: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(entry["request"]["path"], "secret/data/app");
        assert_eq!(entry["request"]["data"]["data"]["n"], hasher.hash("3"));
        assert_eq!(
            entry["request"]["data"]["data"]["pw"],
            hasher.hash("hunter2")
        );
        assert_eq!(entry["auth"]["client_token"], hasher.hash("s.the-token"));
        assert_eq!(entry["request"]["client_token"], hasher.hash("s.the-token"));
        assert_eq!(
            entry["auth"]["policies"],
            json!(["default", "group-pol", "z-app"])
        );
        assert_eq!(entry["auth"]["entity_id"], "ent-merged");
        assert_eq!(entry["request"]["wrap_ttl"], 300);
        assert_eq!(
            entry["response"]["secret"]["lease_id"],
            "database/creds/r/abc"
        );
        assert_eq!(entry["response"]["data"]["data"]["ok"], true);
        assert_eq!(entry["type"], "response");
    }

    #[test]
    fn large_request_data_is_recorded_as_one_hmac_and_its_length() {
        let hasher = hasher();
        let big = json!({"a": (0..10_000).collect::<Vec<_>>()});
        let text = canonical_json(&big);
        let request = request(big);
        let anonymous = Caller::ANONYMOUS;
        let record = Record::request(&request, Some(&anonymous), None);
        let written = line(&record.body(&hasher, TIME));
        assert!(written.len() < 1000, "{} bytes", written.len());
        let entry: Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            entry["request"]["data"]["summarized_body"],
            hasher.hash(&text)
        );
        assert_eq!(entry["request"]["data_length"], text.len());
    }

    /// The entries as they were made before they were written straight from
    /// the request: a JSON tree, its secret fields HMAC'd in place. Kept as
    /// the reference the streamed entries must equal byte for byte.
    mod oracle {
        use super::*;

        const SECRET_FIELDS: &[&str] = &[
            "/auth/client_token",
            "/auth/accessor",
            "/auth/metadata",
            "/request/client_token",
            "/request/data",
            "/response/data",
            "/response/auth/client_token",
            "/response/auth/accessor",
            "/response/auth/metadata",
            "/response/auth/mfa_requirement/mfa_request_id",
            "/request/wrapping_token_accessor",
            "/response/wrap_info/token",
            "/response/wrap_info/accessor",
            "/response/wrap_info/wrapped_accessor",
        ];

        pub fn entry(
            hasher: &Hasher,
            request: &Request,
            caller: Option<&Caller>,
            mount: Option<&MountEntry>,
            result: Option<&Result<Response, VaultError>>,
            time: &str,
        ) -> Value {
            let mut entry = json!({
                "time": time,
                "type": if result.is_some() { "response" } else { "request" },
                "auth": auth_json(request, caller),
                "request": request_json(request, caller, mount),
                "error": "",
            });
            if let Some(result) = result {
                let (response, error) = match result {
                    Ok(r) => (response_json(r), String::new()),
                    Err(e) => (Value::Null, e.to_string()),
                };
                entry["response"] = response;
                entry["error"] = json!(error);
            }
            for path in SECRET_FIELDS {
                if let Some(target) = entry.pointer_mut(path).filter(|v| !v.is_null()) {
                    hash_in_place(hasher, target);
                }
            }
            entry
        }

        fn hash_in_place(hasher: &Hasher, value: &mut Value) {
            match value {
                Value::String(s) => *s = hasher.hash(s),
                Value::Number(n) => *value = Value::String(hasher.hash(&n.to_string())),
                Value::Array(items) => items.iter_mut().for_each(|v| hash_in_place(hasher, v)),
                Value::Object(map) => map.values_mut().for_each(|v| hash_in_place(hasher, v)),
                Value::Bool(_) | Value::Null => {}
            }
        }

        fn response_json(r: &Response) -> Value {
            json!({
                "data": r.data,
                "warnings": r.warnings,
                "auth": r.auth.as_ref().map(|a| json!({
                    "client_token": a.client_token,
                    "accessor": a.accessor,
                    "policies": a.policies,
                    "token_policies": a.token_policies,
                    "identity_policies": a.identity_policies,
                    "entity_id": a.entity_id,
                    "metadata": a.metadata,
                    "lease_duration": a.lease_duration,
                    "renewable": a.renewable,
                    "num_uses": a.num_uses,
                    "mfa_requirement": a.mfa_requirement.as_ref().map(|m| json!({
                        "mfa_request_id": m.mfa_request_id,
                        "mfa_constraints": m.mfa_constraints,
                    })),
                })),
                "secret": r.lease.as_ref().map(|l| json!({
                    "lease_id": l.lease_id,
                    "lease_duration": l.lease_duration,
                    "renewable": l.renewable,
                })),
                "wrap_info": r.wrap_info.as_ref().map(|w| json!({
                    "token": w.token,
                    "accessor": w.accessor,
                    "ttl": w.ttl,
                    "creation_time": w.creation_time,
                    "creation_path": w.creation_path,
                    "wrapped_accessor": w.wrapped_accessor,
                })),
            })
        }

        fn auth_json(request: &Request, caller: Option<&Caller>) -> Value {
            let client_token = request.token.as_ref().map(|t| t.expose_secret().to_owned());
            let Some((t, caller)) = caller.and_then(|c| c.token.as_ref().map(|t| (t, c))) else {
                return json!({ "client_token": client_token });
            };
            let identity_policies = caller
                .identity
                .as_ref()
                .map(|i| i.policies.clone())
                .unwrap_or_default();
            let mut policies: Vec<&String> = t.policies.iter().chain(&identity_policies).collect();
            policies.sort();
            policies.dedup();
            json!({
                "client_token": client_token,
                "accessor": t.accessor,
                "display_name": t.display_name,
                "policies": policies,
                "token_policies": t.policies,
                "identity_policies": identity_policies,
                "entity_id": caller.identity.as_ref().map_or(t.entity_id.as_str(), |i| i.entity_id.as_str()),
                "metadata": t.meta,
                "token_type": "service",
            })
        }

        fn request_json(
            request: &Request,
            caller: Option<&Caller>,
            mount: Option<&MountEntry>,
        ) -> Value {
            let authenticated = caller.is_some_and(|c| c.token.is_some());
            let (data, data_length) = match bounded_data(&request.data, authenticated) {
                Bounded::Whole(map) => (Value::Object(map.clone()), None),
                Bounded::Summarized(text) => {
                    let length = text.len();
                    (json!({ "summarized_body": text }), Some(length))
                }
            };
            let mut out = json!({
                "id": request.id,
                "operation": request.operation.as_str(),
                "path": request.path,
                "mount_point": mount.map(|m| m.path.clone()),
                "mount_type": mount.map(|m| m.kind.clone()),
                "mount_accessor": mount.map(|m| m.accessor.clone()),
                "data": data,
                "remote_address": request.remote_addr.map(|a| a.to_string()),
                "client_token": request.token.as_ref().map(|t| t.expose_secret().to_owned()),
            });
            if let Some(length) = data_length {
                out["data_length"] = json!(length);
            }
            if let Ok(Some(ms)) = crate::wrapping::requested_ttl(request.wrap_ttl.as_deref()) {
                out["wrap_ttl"] = json!(ms / 1000);
            }
            if let Some(accessor) = caller.and_then(|c| c.wrapping_accessor.as_ref()) {
                out["wrapping_token_accessor"] = json!(accessor);
            }
            out
        }
    }
}
