//! The real directory the LDAP tests log in against: Debian's slapd, started
//! by `scripts/slapd-start` (which `./scripts/test` runs once for the suite,
//! exporting `VAULT_TEST_LDAP_*`; a test that must stop a server starts one
//! of its own). The data the script loads, under `dc=example,dc=test`:
//!
//! - `uid=alice` (UPN `alice@example.test`), `uid=bob` (`bob@example.test`),
//!   `uid=kim\,lee` (a DN-special character), `uid=mallory` (locked by the
//!   directory: `pwdAccountLockedTime`), all with password [`PASSWORD`];
//! - groups `devs` (alice, kim,lee), `engineering` (holds the group `devs`:
//!   nesting), `ops` (bob);
//! - `cn=vault-search` with password [`SEARCH_PASSWORD`], for the vault's
//!   search bind.

use std::path::PathBuf;
use std::process::Command;

use crate::workspace_root;

/// Every user's password.
pub const PASSWORD: &str = "correct horse battery staple";
/// The directory's suffix.
pub const SUFFIX: &str = "dc=example,dc=test";
/// The search bind's DN.
pub const SEARCH_DN: &str = "cn=vault-search,dc=example,dc=test";
/// The search bind's password.
pub const SEARCH_PASSWORD: &str = "search-bind-password";

/// A running directory.
#[derive(Debug)]
pub struct Directory {
    /// `ldap://127.0.0.1:PORT` (StartTLS offered).
    pub url: String,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_url: String,
    /// The test CA, PEM.
    pub ca_pem: String,
    /// `cn=admin`'s password.
    pub admin_password: String,
    // Set for a directory this test started: stopped when dropped.
    own: Option<PathBuf>,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with ./scripts/test, which starts slapd (scripts/slapd-start)")
    })
}

impl Directory {
    /// The suite's directory.
    pub fn shared() -> Directory {
        Directory {
            url: var("VAULT_TEST_LDAP_URL"),
            ldaps_url: var("VAULT_TEST_LDAPS_URL"),
            ca_pem: std::fs::read_to_string(var("VAULT_TEST_LDAP_CA")).unwrap(),
            admin_password: var("VAULT_TEST_LDAP_ADMIN_PASSWORD"),
            own: None,
        }
    }

    /// A directory of this test's own (to stop, say).
    pub fn start_own() -> Directory {
        let out = Command::new(workspace_root().join("scripts/slapd-start"))
            .output()
            .expect("scripts/slapd-start runs");
        assert!(
            out.status.success(),
            "slapd-start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let get = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("slapd-start printed no {name}"))
                .to_owned()
        };
        Directory {
            url: get("VAULT_TEST_LDAP_URL"),
            ldaps_url: get("VAULT_TEST_LDAPS_URL"),
            ca_pem: std::fs::read_to_string(get("VAULT_TEST_LDAP_CA")).unwrap(),
            admin_password: get("VAULT_TEST_LDAP_ADMIN_PASSWORD"),
            own: Some(PathBuf::from(get("VAULT_TEST_LDAP_DIR"))),
        }
    }

    /// Stops a directory this test started (its port then refuses
    /// connections).
    pub fn stop(&mut self) {
        if let Some(dir) = self.own.take() {
            let _ = Command::new(workspace_root().join("scripts/slapd-stop"))
                .arg(&dir)
                .status();
        }
    }

    /// Applies an LDIF change as the directory's administrator.
    pub fn modify(&self, ldif: &str) {
        use std::io::Write as _;
        let mut child = Command::new("ldapmodify")
            .args([
                "-x",
                "-H",
                &self.url,
                "-D",
                &format!("cn=admin,{SUFFIX}"),
                "-w",
            ])
            .arg(&self.admin_password)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ldapmodify runs (ldap-utils)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        assert!(
            child.wait().unwrap().success(),
            "ldapmodify failed:\n{ldif}"
        );
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        self.stop();
    }
}
