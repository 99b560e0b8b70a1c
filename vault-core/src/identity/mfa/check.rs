//! Whether a login needs a second factor, and checking the codes given for
//! it: which enforcements cover the login, the passcodes a caller sent
//! (`sys/mfa/validate`'s `mfa_payload`, or `X-Vault-MFA` headers), and each
//! code against the entity's secret, spent once.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::barrier::Barrier;
use crate::error::VaultError;
use crate::identity::Resolved;
use crate::router::MountEntry;
use crate::secret::SecretString;

use super::store::{Config, MfaStore};
use super::totp;

/// Passcodes one login may carry, and their longest length.
const MAX_CODES: usize = 8;
const MAX_CODE_LEN: usize = 64;
/// Longest `mfa_payload` sent as text.
const MAX_PAYLOAD_TEXT: usize = 4096;

/// The enforcements a login must satisfy, each by one of its methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    /// Enforcement name → its method ids.
    pub constraints: BTreeMap<String, Vec<String>>,
}

impl Requirement {
    /// Vault's `mfa_constraints`: per enforcement, `any` of its methods.
    pub(crate) fn constraints_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (name, methods) in &self.constraints {
            let any: Vec<Value> = methods
                .iter()
                .map(|id| json!({"type": "totp", "id": id, "uses_passcode": true}))
                .collect();
            out.insert(name.clone(), json!({ "any": any }));
        }
        Value::Object(out)
    }
}

/// What covers a login on `mount` by `identity` (its entity and groups):
/// `None` when nothing does.
pub(crate) fn requirement(
    config: &Config,
    mount: &MountEntry,
    identity: Option<&Resolved>,
) -> Option<Requirement> {
    let mut constraints = BTreeMap::new();
    for e in config.enforcements.values() {
        let by_mount = e.auth_method_accessors.contains(&mount.accessor)
            || e.auth_method_types.contains(&mount.kind);
        let by_identity = identity.is_some_and(|i| {
            e.identity_entity_ids.contains(&i.entity_id)
                || i.direct_group_ids
                    .iter()
                    .chain(&i.inherited_group_ids)
                    .any(|g| e.identity_group_ids.contains(g))
        });
        if by_mount || by_identity {
            constraints.insert(e.name.clone(), e.mfa_method_ids.clone());
        }
    }
    (!constraints.is_empty()).then_some(Requirement { constraints })
}

/// Passcodes by method id, as a caller sent them.
#[derive(Default)]
pub(crate) struct Passcodes(BTreeMap<String, Zeroizing<String>>);

impl std::fmt::Debug for Passcodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// A passcode list that cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PasscodeError {
    #[error("mfa_payload must be an object of method ids to lists of one passcode")]
    Shape,
    #[error("X-Vault-MFA must be method_id:passcode")]
    Header,
    #[error(
        "at most {MAX_CODES} MFA methods per login, and passcodes of at most {MAX_CODE_LEN} bytes"
    )]
    TooMany,
    #[error("found multiple passcodes for the same MFA method")]
    Repeated,
}

impl From<PasscodeError> for VaultError {
    fn from(e: PasscodeError) -> Self {
        VaultError::InvalidRequest(e.to_string())
    }
}

impl Passcodes {
    fn add(&mut self, method: &str, code: &str) -> Result<(), PasscodeError> {
        if self.0.len() >= MAX_CODES || code.len() > MAX_CODE_LEN || method.len() > 512 {
            return Err(PasscodeError::TooMany);
        }
        if self
            .0
            .insert(method.to_owned(), Zeroizing::new(code.to_owned()))
            .is_some()
        {
            return Err(PasscodeError::Repeated);
        }
        Ok(())
    }

    /// `sys/mfa/validate`'s `mfa_payload`: `{"<method id>": ["<passcode>"]}`,
    /// or that object as JSON text (what a CLI's `key=value` sends).
    pub(crate) fn from_payload(payload: &Value) -> Result<Passcodes, PasscodeError> {
        let parsed;
        let map = match payload {
            Value::Object(map) => map,
            Value::String(text) if text.len() <= MAX_PAYLOAD_TEXT => {
                parsed = serde_json::from_str::<Value>(text).map_err(|_| PasscodeError::Shape)?;
                parsed.as_object().ok_or(PasscodeError::Shape)?
            }
            _ => return Err(PasscodeError::Shape),
        };
        let mut out = Passcodes::default();
        for (method, codes) in map {
            let code = match codes {
                Value::Array(list) if list.len() == 1 => list[0].as_str(),
                Value::Array(list) if list.len() > 1 => return Err(PasscodeError::Repeated),
                Value::String(s) => Some(s.as_str()),
                _ => None,
            };
            out.add(method, code.ok_or(PasscodeError::Shape)?)?;
        }
        Ok(out)
    }

    /// `X-Vault-MFA` headers: `method_id:passcode` each (a method's name
    /// serves as well as its id).
    pub(crate) fn from_headers(
        headers: &[SecretString],
        config: &Config,
    ) -> Result<Passcodes, PasscodeError> {
        let mut out = Passcodes::default();
        for header in headers {
            let (method, code) = header
                .expose_secret()
                .split_once(':')
                .ok_or(PasscodeError::Header)?;
            let id = config
                .methods
                .values()
                .find(|m| !m.name.is_empty() && m.name == method)
                .map_or(method, |m| m.id.as_str());
            out.add(id, code)?;
        }
        Ok(out)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks `codes` against every enforcement in `requirement` for
/// `entity_id` at `now_secs`: each enforcement needs one of its methods'
/// codes right, and each code is spent (stored) before this returns.
/// `Ok(false)`: a code missing, wrong or used before.
pub(crate) async fn satisfy(
    barrier: &Barrier,
    store: &MfaStore,
    requirement: &Requirement,
    entity_id: &str,
    codes: &Passcodes,
    now_secs: u64,
) -> Result<bool, VaultError> {
    let mut passed: BTreeSet<&str> = BTreeSet::new();
    for methods in requirement.constraints.values() {
        if methods.iter().any(|m| passed.contains(m.as_str())) {
            continue;
        }
        let mut satisfied = false;
        for method in methods {
            let Some(code) = codes.0.get(method) else {
                continue;
            };
            if spend(barrier, store, method, entity_id, code, now_secs).await? {
                passed.insert(method);
                satisfied = true;
                break;
            }
        }
        if !satisfied {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Checks one code and, if right and fresh, stores its step as the last
/// one used: the check and the write under the secret's lock, so two
/// requests with the same code cannot both pass.
async fn spend(
    barrier: &Barrier,
    store: &MfaStore,
    method_id: &str,
    entity_id: &str,
    code: &str,
    now_secs: u64,
) -> Result<bool, VaultError> {
    let _lock = store.lock_secret(method_id, entity_id).await;
    let Some(mut secret) = MfaStore::secret(barrier, method_id, entity_id).await? else {
        return Ok(false);
    };
    let mut last_step = secret.last_step;
    match totp::spend(&secret.secret, &mut last_step, code, now_secs) {
        Ok(true) => {}
        Ok(false) => return Ok(false),
        Err(_) => {
            tracing::error!(method = %method_id, entity = %entity_id, "stored MFA secret does not decode");
            return Ok(false);
        }
    }
    secret.last_step = last_step;
    barrier
        .batch(vec![MfaStore::put_secret(method_id, entity_id, &secret)?])
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::mfa::model::{Enforcement, TotpMethod};

    fn config() -> Config {
        let mut config = Config::default();
        config.methods.insert(
            "m1".into(),
            TotpMethod {
                id: "m1".into(),
                name: "phone".into(),
                issuer: "vault".into(),
                key_size: 20,
            },
        );
        config.enforcements.insert(
            "ops".into(),
            Enforcement {
                name: "ops".into(),
                id: "e1".into(),
                mfa_method_ids: vec!["m1".into()],
                identity_group_ids: vec!["g-parent".into()],
                ..Enforcement::default()
            },
        );
        config
    }

    #[test]
    fn payloads_are_read_as_vault_sends_them_and_bounded() {
        let codes = Passcodes::from_payload(&json!({"m1": ["123456"]})).unwrap();
        assert_eq!(codes.0["m1"].as_str(), "123456");
        let text = Passcodes::from_payload(&json!(r#"{"m1": ["123456"]}"#)).unwrap();
        assert_eq!(text.0["m1"].as_str(), "123456");
        assert!(matches!(
            Passcodes::from_payload(&json!({"m1": ["1", "2"]})),
            Err(PasscodeError::Repeated)
        ));
        assert!(matches!(
            Passcodes::from_payload(&json!(["m1"])),
            Err(PasscodeError::Shape)
        ));
        let many: serde_json::Map<String, Value> = (0..=MAX_CODES)
            .map(|i| (format!("m{i}"), json!(["1"])))
            .collect();
        assert!(matches!(
            Passcodes::from_payload(&Value::Object(many)),
            Err(PasscodeError::TooMany)
        ));
        let long = "1".repeat(MAX_CODE_LEN + 1);
        assert!(matches!(
            Passcodes::from_payload(&json!({"m1": [long]})),
            Err(PasscodeError::TooMany)
        ));
        let huge = "x".repeat(MAX_PAYLOAD_TEXT + 1);
        assert!(Passcodes::from_payload(&json!(huge)).is_err());
    }

    #[test]
    fn headers_name_a_method_by_id_or_name() {
        let config = config();
        let header = |s: &str| vec![SecretString::from(s)];
        let by_name = Passcodes::from_headers(&header("phone:123456"), &config).unwrap();
        assert_eq!(by_name.0["m1"].as_str(), "123456");
        let by_id = Passcodes::from_headers(&header("m1:654321"), &config).unwrap();
        assert_eq!(by_id.0["m1"].as_str(), "654321");
        assert!(matches!(
            Passcodes::from_headers(&header("no-colon"), &config),
            Err(PasscodeError::Header)
        ));
        // The Debug of passcodes shows which methods, never the codes.
        assert!(!format!("{by_id:?}").contains("654321"));
    }

    #[test]
    fn an_enforcement_on_a_parent_group_covers_its_members() {
        let config = config();
        let mount = MountEntry {
            path: "auth/userpass/".into(),
            kind: "userpass".into(),
            uuid: "u".into(),
            accessor: "auth_userpass_1".into(),
            description: String::new(),
            config: crate::router::MountConfig::default(),
            options: Default::default(),
        };
        let mut member = Resolved {
            entity_id: "ent".into(),
            ..Resolved::default()
        };
        assert_eq!(requirement(&config, &mount, Some(&member)), None);
        member.inherited_group_ids = vec!["g-parent".into()];
        let required = requirement(&config, &mount, Some(&member)).unwrap();
        assert_eq!(required.constraints["ops"], ["m1"]);
        assert_eq!(
            required.constraints_json(),
            json!({"ops": {"any": [{"type": "totp", "id": "m1", "uses_passcode": true}]}})
        );
    }
}
