//! What login MFA keeps: TOTP methods, login enforcements, and each
//! entity's TOTP secret per method, as stored behind the barrier and as
//! shown (Vault's field names).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Seconds per code, digits and hash: the only TOTP parameters served
/// (what every authenticator app computes by default).
pub(crate) const PERIOD: u64 = super::totp::STEP_SECS;
pub(crate) const DIGITS: u32 = super::totp::DIGITS;
pub(crate) const ALGORITHM: &str = "SHA1";
/// Steps either side of now a code may be from: one, Vault's default.
pub(crate) const SKEW: u64 = 1;
/// Secret bytes by default, and the range allowed.
pub(crate) const KEY_SIZE: u64 = 20;
pub(crate) const KEY_SIZES: std::ops::RangeInclusive<u64> = 16..=64;

/// `identity/mfa/method/totp/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TotpMethod {
    pub id: String,
    /// Optional; unique among methods when set (the header may name it).
    #[serde(default)]
    pub name: String,
    /// Shown in the authenticator app.
    pub issuer: String,
    /// Bytes of each entity's secret.
    pub key_size: u64,
}

impl TotpMethod {
    pub(crate) fn shown(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": "totp",
            "issuer": self.issuer,
            "period": PERIOD,
            "digits": DIGITS,
            "algorithm": ALGORITHM,
            "key_size": self.key_size,
            "skew": SKEW,
            "namespace_id": "root",
            "namespace_path": "",
        })
    }
}

/// `identity/mfa/login-enforcement/<name>`: logins it covers must pass one
/// of its methods. A login is covered when its mount's accessor or type,
/// its entity, or one of the entity's groups (direct or inherited) is named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Enforcement {
    pub name: String,
    pub id: String,
    pub mfa_method_ids: Vec<String>,
    pub auth_method_accessors: Vec<String>,
    pub auth_method_types: Vec<String>,
    pub identity_entity_ids: Vec<String>,
    pub identity_group_ids: Vec<String>,
}

impl Enforcement {
    pub(crate) fn shown(&self) -> Value {
        json!({
            "name": self.name,
            "id": self.id,
            "mfa_method_ids": self.mfa_method_ids,
            "auth_method_accessors": self.auth_method_accessors,
            "auth_method_types": self.auth_method_types,
            "identity_entity_ids": self.identity_entity_ids,
            "identity_group_ids": self.identity_group_ids,
            "namespace_id": "root",
            "namespace_path": "",
        })
    }
}

/// An entity's secret for one method, and the last step a code of it was
/// accepted for: stored, so that no code is accepted twice, also after a
/// restart.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct EntitySecret {
    /// The key, base32.
    pub secret: String,
    #[serde(default)]
    pub last_step: Option<u64>,
}

impl fmt::Debug for EntitySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntitySecret")
            .field("secret", &"<redacted>")
            .field("last_step", &self.last_step)
            .finish()
    }
}
