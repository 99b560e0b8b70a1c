//! `identity/mfa/...`: TOTP methods, each entity's secret for them, and
//! login enforcements, with Vault's paths and fields:
//!
//! | path                                     | operations                          |
//! |------------------------------------------|-------------------------------------|
//! | `mfa/method/totp`                        | write: create (`issuer`, `name`, `key_size`) → `method_id`; list |
//! | `mfa/method/totp/<id>`                   | read, write (update), delete        |
//! | `mfa/method/totp/admin-generate`         | write `{method_id, entity_id}` → `url` (`otpauth://`) |
//! | `mfa/method/totp/admin-destroy`          | write `{method_id, entity_id}`      |
//! | `mfa/method/totp/generate`               | write `{method_id}`: the caller's own entity |
//! | `mfa/method`                             | list: every method                  |
//! | `mfa/login-enforcement/<name>`           | read, write, delete                 |
//! | `mfa/login-enforcement`                  | list                                |
//!
//! Only SHA1, 6 digits, a 30-second period and a skew of one step are
//! served: other values are refused by name rather than accepted and
//! ignored. No QR `barcode` is drawn; the `url` is what one encodes.

use serde_json::{Value, json};

use crate::error::{VaultError, field, object};
use crate::params;
use crate::request::{Caller, Data, Operation, Response};

use super::model::{self, Enforcement, EntitySecret, TotpMethod};
use super::store::MfaStore;
use super::totp;
use crate::identity::ctx::Ctx;
use crate::identity::fields::{self, invalid};

/// Enforcements and methods kept at most (each login reads them all).
const MAX_ENFORCEMENTS: usize = 256;
const MAX_METHODS: usize = 256;
/// Ids one enforcement list may hold.
const MAX_LISTED: usize = 256;

/// Serves `mfa/<rest>` of the identity mount.
pub(crate) async fn handle(
    ctx: &Ctx<'_>,
    store: &MfaStore,
    rest: &str,
    op: Operation,
    data: &Data,
    caller: &Caller,
) -> Result<Option<Response>, VaultError> {
    let write = matches!(op, Operation::Create | Operation::Update);
    let parts: Vec<&str> = rest.split('/').collect();
    Ok(Some(match (parts.as_slice(), op) {
        (["method"] | ["method", "totp"], Operation::List) => list_methods(ctx, store).await?,
        (["method", "totp"], _) if write => write_method(ctx, store, None, data).await?,
        (["method", "totp", "admin-generate"], _) if write => {
            let entity = required(data, "entity_id")?;
            generate(ctx, store, data, &entity).await?
        }
        (["method", "totp", "generate"], _) if write => {
            let entity = caller
                .token
                .as_ref()
                .map(|t| t.entity_id.clone())
                .filter(|e| !e.is_empty())
                .ok_or_else(|| invalid("the token has no entity to generate a secret for"))?;
            generate(ctx, store, data, &entity).await?
        }
        (["method", "totp", "admin-destroy"], _) if write => destroy(ctx, store, data).await?,
        (["method", "totp", id], Operation::Read) => read_method(ctx, store, id).await?,
        (["method", "totp", id], _) if write => write_method(ctx, store, Some(id), data).await?,
        (["method", "totp", id], Operation::Delete) => delete_method(ctx, store, id).await?,
        (["login-enforcement"], Operation::List) => list_enforcements(ctx, store).await?,
        (["login-enforcement", name], Operation::Read) => {
            read_enforcement(ctx, store, name).await?
        }
        (["login-enforcement", name], _) if write => {
            write_enforcement(ctx, store, name, data).await?
        }
        (["login-enforcement", name], Operation::Delete) => {
            delete_enforcement(ctx, store, name).await?
        }
        _ => return Ok(None),
    }))
}

fn required(data: &Data, key: &str) -> Result<String, VaultError> {
    fields::id(data, key)?.ok_or_else(|| invalid(format!("missing {key}")))
}

fn keys(keys: Vec<String>) -> Response {
    Response::with_data(object(json!({ "keys": keys })))
}

async fn list_methods(ctx: &Ctx<'_>, store: &MfaStore) -> Result<Response, VaultError> {
    let config = store.config(ctx.barrier).await?;
    if config.methods.is_empty() {
        return Err(VaultError::NotFound(String::new()));
    }
    Ok(keys(config.methods.keys().cloned().collect()))
}

async fn read_method(ctx: &Ctx<'_>, store: &MfaStore, id: &str) -> Result<Response, VaultError> {
    let config = store.config(ctx.barrier).await?;
    let method = config
        .methods
        .get(id)
        .ok_or_else(|| VaultError::NotFound(format!("no MFA method {id:?}")))?;
    Ok(Response::with_data(object(method.shown())))
}

/// Refuses a TOTP parameter we do not serve, by name.
fn only(data: &Data, key: &str, allowed: &Value) -> Result<(), VaultError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v == allowed || v.as_str() == Some(&allowed.to_string()) => Ok(()),
        Some(Value::String(s)) if allowed.as_str().is_some_and(|a| a.eq_ignore_ascii_case(s)) => {
            Ok(())
        }
        Some(_) => Err(invalid(format!(
            "{key}: only {allowed} is supported (SHA1, 6 digits, a 30-second period, a skew \
             of 1: what authenticator apps compute)"
        ))),
    }
}

async fn write_method(
    ctx: &Ctx<'_>,
    store: &MfaStore,
    id: Option<&str>,
    data: &Data,
) -> Result<Response, VaultError> {
    only(data, "algorithm", &json!(model::ALGORITHM))?;
    only(data, "digits", &json!(model::DIGITS))?;
    only(data, "period", &json!(model::PERIOD))?;
    only(data, "skew", &json!(model::SKEW))?;
    for unserved in ["max_validation_attempts", "qr_size"] {
        if data.get(unserved).is_some_and(|v| !v.is_null()) {
            return Err(invalid(format!(
                "{unserved} is not supported: failed codes count towards the auth mount's \
                 lockout, and no QR image is drawn"
            )));
        }
    }
    let issuer = field(params::string(data, "issuer"))?;
    let name = fields::name(data, "name")?;
    let key_size = field(params::unsigned(data, "key_size"))?;
    if let Some(size) = key_size
        && !model::KEY_SIZES.contains(&size)
    {
        return Err(invalid(format!(
            "key_size must be {} to {} bytes",
            model::KEY_SIZES.start(),
            model::KEY_SIZES.end()
        )));
    }
    if let Some(issuer) = &issuer {
        fields::check_name("issuer", issuer)?;
    }
    let new_id = match id {
        Some(_) => None,
        None => Some(crate::random::uuid_v4().map_err(|e| VaultError::Internal(e.to_string()))?),
    };
    let created = new_id.is_some();
    let id = store
        .change(ctx.barrier, |config| {
            let mut method = match (&new_id, id) {
                (Some(new), _) => {
                    if config.methods.len() >= MAX_METHODS {
                        return Err(invalid(format!("at most {MAX_METHODS} MFA methods")));
                    }
                    TotpMethod {
                        id: new.clone(),
                        name: String::new(),
                        issuer: String::new(),
                        key_size: model::KEY_SIZE,
                    }
                }
                (None, Some(id)) => config
                    .methods
                    .get(id)
                    .cloned()
                    .ok_or_else(|| VaultError::NotFound(format!("no MFA method {id:?}")))?,
                (None, None) => return Err(VaultError::Internal("no method id".into())),
            };
            if let Some(issuer) = &issuer {
                method.issuer.clone_from(issuer);
            }
            if let Some(name) = &name {
                let taken = config
                    .methods
                    .values()
                    .any(|m| m.id != method.id && &m.name == name);
                if taken {
                    return Err(invalid(format!("an MFA method is already named {name:?}")));
                }
                method.name.clone_from(name);
            }
            if let Some(size) = key_size {
                method.key_size = size;
            }
            if method.issuer.is_empty() {
                return Err(invalid("issuer must be set"));
            }
            let op = MfaStore::put_method(&method)?;
            let id = method.id.clone();
            config.methods.insert(id.clone(), method);
            Ok((vec![op], id))
        })
        .await?;
    if created {
        Ok(Response::with_data(object(json!({ "method_id": id }))))
    } else {
        Ok(Response::default())
    }
}

async fn delete_method(ctx: &Ctx<'_>, store: &MfaStore, id: &str) -> Result<Response, VaultError> {
    let secrets = MfaStore::secret_deletions(ctx.barrier, id).await?;
    store
        .change(ctx.barrier, |config| {
            if !config.methods.contains_key(id) {
                return Ok((Vec::new(), ()));
            }
            if let Some(e) = config
                .enforcements
                .values()
                .find(|e| e.mfa_method_ids.iter().any(|m| m == id))
            {
                return Err(invalid(format!(
                    "the method is used by login enforcement {:?}",
                    e.name
                )));
            }
            config.methods.remove(id);
            let mut ops = vec![MfaStore::delete_method(id)];
            ops.extend(secrets);
            Ok((ops, ()))
        })
        .await?;
    Ok(Response::default())
}

/// A method that exists, and an entity that does.
async fn method_and_entity(
    ctx: &Ctx<'_>,
    store: &MfaStore,
    data: &Data,
    entity_id: &str,
) -> Result<TotpMethod, VaultError> {
    let method_id = required(data, "method_id")?;
    let config = store.config(ctx.barrier).await?;
    let method = config
        .methods
        .get(&method_id)
        .cloned()
        .ok_or_else(|| invalid(format!("no MFA method {method_id:?}")))?;
    let exists = ctx
        .store
        .read(ctx.barrier, |index| index.entity(entity_id).is_some())
        .await?;
    if !exists {
        return Err(invalid(format!("no entity {entity_id:?}")));
    }
    Ok(method)
}

/// Makes `entity_id`'s secret for the method: the `otpauth://` URL, once.
async fn generate(
    ctx: &Ctx<'_>,
    store: &MfaStore,
    data: &Data,
    entity_id: &str,
) -> Result<Response, VaultError> {
    let method = method_and_entity(ctx, store, data, entity_id).await?;
    let _secret = store.lock_secret(&method.id, entity_id).await;
    if MfaStore::secret(ctx.barrier, &method.id, entity_id)
        .await?
        .is_some()
    {
        // Vault's answer: a secret is shown once; a new one needs
        // admin-destroy first.
        return Ok(Response {
            warnings: vec![format!(
                "Entity already has a secret for MFA method {:?}",
                method.name
            )],
            ..Response::default()
        });
    }
    let len = usize::try_from(method.key_size).unwrap_or(model::KEY_SIZE as usize);
    let mut key = zeroize::Zeroizing::new(vec![0u8; len]);
    crate::random::fill(&mut key).map_err(|e| VaultError::Internal(e.to_string()))?;
    let secret = EntitySecret {
        secret: totp::base32_encode(&key),
        last_step: None,
    };
    ctx.barrier
        .batch(vec![MfaStore::put_secret(&method.id, entity_id, &secret)?])
        .await?;
    let url = zeroize::Zeroizing::new(totp::otpauth_url(&method.issuer, entity_id, &secret.secret));
    Ok(Response::with_data(object(json!({
        "url": url.as_str(),
        "barcode": "",
    }))))
}

async fn destroy(ctx: &Ctx<'_>, store: &MfaStore, data: &Data) -> Result<Response, VaultError> {
    let entity_id = required(data, "entity_id")?;
    let method = method_and_entity(ctx, store, data, &entity_id).await?;
    let _secret = store.lock_secret(&method.id, &entity_id).await;
    ctx.barrier
        .batch(vec![crate::barrier::BarrierOp::Delete {
            path: super::store::secret_path(&method.id, &entity_id),
        }])
        .await?;
    Ok(Response::default())
}

async fn list_enforcements(ctx: &Ctx<'_>, store: &MfaStore) -> Result<Response, VaultError> {
    let config = store.config(ctx.barrier).await?;
    if config.enforcements.is_empty() {
        return Err(VaultError::NotFound(String::new()));
    }
    Ok(keys(config.enforcements.keys().cloned().collect()))
}

async fn read_enforcement(
    ctx: &Ctx<'_>,
    store: &MfaStore,
    name: &str,
) -> Result<Response, VaultError> {
    let config = store.config(ctx.barrier).await?;
    let e = config
        .enforcements
        .get(name)
        .ok_or_else(|| VaultError::NotFound(format!("no login enforcement {name:?}")))?;
    Ok(Response::with_data(object(e.shown())))
}

/// A list field, bounded.
fn listed(data: &Data, key: &str) -> Result<Option<Vec<String>>, VaultError> {
    let items = fields::ids(data, key)?;
    if items.as_ref().is_some_and(|i| i.len() > MAX_LISTED) {
        return Err(invalid(format!("{key} holds more than {MAX_LISTED} ids")));
    }
    Ok(items)
}

async fn write_enforcement(
    ctx: &Ctx<'_>,
    store: &MfaStore,
    name: &str,
    data: &Data,
) -> Result<Response, VaultError> {
    fields::check_name("name", name)?;
    let methods = listed(data, "mfa_method_ids")?;
    let accessors = listed(data, "auth_method_accessors")?;
    let types = listed(data, "auth_method_types")?;
    let entities = listed(data, "identity_entity_ids")?;
    let groups = listed(data, "identity_group_ids")?;
    if let Some(accessors) = &accessors {
        for accessor in accessors {
            ctx.auth_mount(accessor)?;
        }
    }
    let new_id = crate::random::uuid_v4().map_err(|e| VaultError::Internal(e.to_string()))?;
    store
        .change(ctx.barrier, |config| {
            let mut e = match config.enforcements.get(name) {
                Some(e) => e.clone(),
                None => {
                    if config.enforcements.len() >= MAX_ENFORCEMENTS {
                        return Err(invalid(format!(
                            "at most {MAX_ENFORCEMENTS} login enforcements"
                        )));
                    }
                    Enforcement {
                        name: name.to_owned(),
                        id: new_id,
                        ..Enforcement::default()
                    }
                }
            };
            for (target, given) in [
                (&mut e.mfa_method_ids, methods),
                (&mut e.auth_method_accessors, accessors),
                (&mut e.auth_method_types, types),
                (&mut e.identity_entity_ids, entities),
                (&mut e.identity_group_ids, groups),
            ] {
                if let Some(given) = given {
                    *target = given;
                }
            }
            if e.mfa_method_ids.is_empty() {
                return Err(invalid("mfa_method_ids must name at least one method"));
            }
            if let Some(missing) = e
                .mfa_method_ids
                .iter()
                .find(|m| !config.methods.contains_key(*m))
            {
                return Err(invalid(format!("no MFA method {missing:?}")));
            }
            let targets = e.auth_method_accessors.len()
                + e.auth_method_types.len()
                + e.identity_entity_ids.len()
                + e.identity_group_ids.len();
            if targets == 0 {
                return Err(invalid(
                    "at least one of auth_method_accessors, auth_method_types, \
                     identity_entity_ids or identity_group_ids must be set",
                ));
            }
            let op = MfaStore::put_enforcement(&e)?;
            config.enforcements.insert(e.name.clone(), e);
            Ok((vec![op], ()))
        })
        .await?;
    Ok(Response::default())
}

async fn delete_enforcement(
    ctx: &Ctx<'_>,
    store: &MfaStore,
    name: &str,
) -> Result<Response, VaultError> {
    store
        .change(ctx.barrier, |config| {
            if config.enforcements.remove(name).is_none() {
                return Ok((Vec::new(), ()));
            }
            Ok((vec![MfaStore::delete_enforcement(name)], ()))
        })
        .await?;
    Ok(Response::default())
}
