//! The mount table: which engine or auth method serves which path prefix.
//!
//! Secrets engines mount at `<path>/`, auth methods at `auth/<path>/`. Routing is
//! by longest prefix. Each mount stores under its own UUID (`logical/<uuid>/` or
//! `auth/<uuid>/`), so its handler cannot see another mount's data, and a mount
//! disabled and enabled again at the same path starts empty.
//!
//! Built-in mounts are not in the stored table and cannot be disabled or
//! shadowed: `sys/` (the system backend), `auth/token/` (the token store),
//! `identity/` (the identity store) and `cubbyhole/` (each token's private
//! storage).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::random::{self, RandomError};

/// Where the mount table is stored (behind the barrier).
pub const MOUNT_TABLE_PATH: &str = "core/mounts";

/// Seconds in 768 hours: Vault's default for both `default_lease_ttl` and
/// `max_lease_ttl`.
pub const SYSTEM_MAX_TTL: u64 = 768 * 3600;

/// Kinds served by the vault itself, not by an engine.
pub const SYSTEM_KIND: &str = "system";
/// The token store's kind.
pub const TOKEN_KIND: &str = "token";
/// The identity store's kind.
pub const IDENTITY_KIND: &str = "identity";
/// The kind of `cubbyhole/`: each token's private storage.
pub const CUBBYHOLE_KIND: &str = "cubbyhole";

/// Whether `kind` is served by the vault itself (a built-in mount).
pub fn is_builtin_kind(kind: &str) -> bool {
    matches!(
        kind,
        SYSTEM_KIND | TOKEN_KIND | IDENTITY_KIND | CUBBYHOLE_KIND
    )
}

/// One mounted engine or auth method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    /// The full prefix, ending in `/` (`secret/`, `auth/approle/`).
    pub path: String,
    /// The engine or method (`kv`, `approle`, `userpass`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Names the mount's storage.
    pub uuid: String,
    /// A stable handle for audit entries (`kv_1a2b3c4d`).
    pub accessor: String,
    /// What the operator said it is for.
    #[serde(default)]
    pub description: String,
    /// TTL tuning.
    #[serde(default)]
    pub config: MountConfig,
    /// Engine options (`version = "2"` for kv).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// TTL tuning of a mount; 0 means "the system default" (768h).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    /// Seconds.
    pub default_lease_ttl: u64,
    /// Seconds.
    pub max_lease_ttl: u64,
}

impl MountConfig {
    /// The default TTL in force.
    pub fn effective_default_ttl(&self) -> u64 {
        let max = self.effective_max_ttl();
        match self.default_lease_ttl {
            0 => SYSTEM_MAX_TTL.min(max),
            d => d.min(max),
        }
    }

    /// The maximum TTL in force.
    pub fn effective_max_ttl(&self) -> u64 {
        match self.max_lease_ttl {
            0 => SYSTEM_MAX_TTL,
            m => m,
        }
    }
}

impl MountEntry {
    /// True for auth methods.
    pub fn is_auth(&self) -> bool {
        self.path.starts_with("auth/")
    }

    /// The storage prefix of the mount's view.
    pub fn storage_prefix(&self) -> String {
        if self.is_auth() {
            format!("auth/{}/", self.uuid)
        } else {
            format!("logical/{}/", self.uuid)
        }
    }
}

/// Why a mount could not be made or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MountError {
    /// The path is taken, or overlaps a mount.
    #[error("path is already in use at {0}")]
    InUse(String),
    /// Nothing is mounted there.
    #[error("no mount at {0}")]
    NotMounted(String),
    /// The path is reserved or malformed.
    #[error("cannot mount at {0:?}: {1}")]
    BadPath(String, &'static str),
    /// The engine or method is unknown.
    #[error("unknown {class} type {kind:?}")]
    UnknownType {
        /// "secrets engine" or "auth method".
        class: &'static str,
        /// What was asked for.
        kind: String,
    },
    /// No randomness for the UUID.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The whole table, built-ins included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountTable {
    /// Every mount, stored ones and built-ins.
    pub entries: Vec<MountEntry>,
}

fn builtin(path: &str, kind: &str) -> MountEntry {
    MountEntry {
        path: path.into(),
        kind: kind.into(),
        uuid: kind.into(),
        accessor: format!("{kind}_builtin"),
        description: String::new(),
        config: MountConfig::default(),
        options: BTreeMap::new(),
    }
}

impl MountTable {
    /// A table with only the built-ins.
    pub fn with_builtins() -> Self {
        MountTable {
            entries: vec![
                builtin("sys/", SYSTEM_KIND),
                builtin("auth/token/", TOKEN_KIND),
                builtin("identity/", IDENTITY_KIND),
                builtin("cubbyhole/", CUBBYHOLE_KIND),
            ],
        }
    }

    /// Decodes a stored table (stored entries only) and adds the built-ins.
    pub fn from_stored(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let stored: Vec<MountEntry> = serde_json::from_slice(bytes)?;
        let mut table = Self::with_builtins();
        table.entries.extend(stored);
        Ok(table)
    }

    /// The stored form: every entry but the built-ins.
    pub fn to_stored(&self) -> Result<Vec<u8>, serde_json::Error> {
        let stored: Vec<&MountEntry> = self
            .entries
            .iter()
            .filter(|e| !is_builtin_kind(&e.kind))
            .collect();
        serde_json::to_vec(&stored)
    }

    /// The mount serving `path` (longest prefix), with the path relative to it.
    pub fn route<'a, 'p>(&'a self, path: &'p str) -> Option<(&'a MountEntry, &'p str)> {
        self.entries
            .iter()
            .filter_map(|e| {
                let rest = path
                    .strip_prefix(e.path.as_str())
                    .or_else(|| (path == e.path.trim_end_matches('/')).then_some(""))?;
                Some((e, rest))
            })
            .max_by_key(|(e, _)| e.path.len())
    }

    /// The entry at exactly `path` (with or without the trailing `/`).
    pub fn get(&self, path: &str) -> Option<&MountEntry> {
        let path = with_slash(path);
        self.entries.iter().find(|e| e.path == path)
    }

    /// Adds a mount at `path` (secrets) or `auth/path` (auth); returns it.
    pub fn mount(
        &mut self,
        path: &str,
        kind: &str,
        description: String,
        config: MountConfig,
        options: BTreeMap<String, String>,
    ) -> Result<MountEntry, MountError> {
        let path = with_slash(path.trim_start_matches('/'));
        if path == "/" || path.contains("//") {
            return Err(MountError::BadPath(
                path,
                "the path is empty or has an empty segment",
            ));
        }
        for reserved in [
            "sys/",
            "auth/token/",
            "core/",
            "logical/",
            "cubbyhole/",
            "identity/",
        ] {
            if path.starts_with(reserved) || reserved.starts_with(&path) {
                return Err(MountError::BadPath(path, "the path is reserved"));
            }
        }
        if path == "auth/" {
            return Err(MountError::BadPath(path, "an auth method needs a name"));
        }
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.path.starts_with(&path) || path.starts_with(&e.path))
        {
            return Err(MountError::InUse(e.path.clone()));
        }
        let uuid = random::uuid_v4()?;
        let entry = MountEntry {
            accessor: format!("{kind}_{}", &uuid[..8]),
            path,
            kind: kind.into(),
            uuid,
            description,
            config,
            options,
        };
        self.entries.push(entry.clone());
        Ok(entry)
    }

    /// Removes the mount at `path`; returns it.
    pub fn unmount(&mut self, path: &str) -> Result<MountEntry, MountError> {
        let path = with_slash(path.trim_start_matches('/'));
        let index = self
            .entries
            .iter()
            .position(|e| e.path == path)
            .ok_or_else(|| MountError::NotMounted(path.clone()))?;
        if is_builtin_kind(&self.entries[index].kind) {
            return Err(MountError::BadPath(
                path,
                "built-in mounts cannot be disabled",
            ));
        }
        Ok(self.entries.remove(index))
    }
}

fn with_slash(path: &str) -> String {
    if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_longest_prefix_and_refuses_overlaps() {
        let mut t = MountTable::with_builtins();
        t.mount(
            "secret",
            "kv",
            String::new(),
            MountConfig::default(),
            BTreeMap::new(),
        )
        .unwrap();
        t.mount(
            "auth/approle",
            "approle",
            String::new(),
            MountConfig::default(),
            BTreeMap::new(),
        )
        .unwrap();
        let (e, rest) = t.route("secret/data/app").unwrap();
        assert_eq!((e.kind.as_str(), rest), ("kv", "data/app"));
        assert_eq!(t.route("secret").unwrap().1, "");
        assert_eq!(t.route("auth/approle/login").unwrap().0.kind, "approle");
        assert_eq!(t.route("auth/token/create").unwrap().0.kind, TOKEN_KIND);
        assert!(t.route("nothing/here").is_none());
        assert!(t.route("secretive/x").is_none());
        assert!(matches!(
            t.mount(
                "secret/inner",
                "kv",
                String::new(),
                MountConfig::default(),
                BTreeMap::new()
            ),
            Err(MountError::InUse(_))
        ));
        assert!(matches!(
            t.mount(
                "sys/x",
                "kv",
                String::new(),
                MountConfig::default(),
                BTreeMap::new()
            ),
            Err(MountError::BadPath(..))
        ));
        assert!(t.unmount("sys").is_err());
        let stored = t.to_stored().unwrap();
        let back = MountTable::from_stored(&stored).unwrap();
        assert_eq!(back, t);
        assert_eq!(
            back.get("secret").unwrap().storage_prefix(),
            format!("logical/{}/", back.get("secret/").unwrap().uuid)
        );
    }

    #[test]
    fn ttl_defaults_are_768h_and_default_never_exceeds_max() {
        let c = MountConfig::default();
        assert_eq!(
            (c.effective_default_ttl(), c.effective_max_ttl()),
            (SYSTEM_MAX_TTL, SYSTEM_MAX_TTL)
        );
        let c = MountConfig {
            default_lease_ttl: 0,
            max_lease_ttl: 3600,
        };
        assert_eq!(c.effective_default_ttl(), 3600);
    }
}
