//! Every test doubles as a leak check: the harness notes each secret a test
//! hands to a daemon or gets back from one (tokens, unseal keys, secret_ids,
//! passwords, issued credentials), and when a daemon is dropped its log and
//! the `*.log*` files beside it (the audit devices') are searched for every
//! one of them. A secret found in the clear fails the test that used it.
//!
//! Secrets shorter than [`MIN_LEN`] bytes are not searched for: a test's
//! "pw" would match unrelated text. With `VAULT_TEST_SCAN_REPORT` set, each
//! scan appends `files bytes secrets` to that file, so `scripts/test` can say
//! how much was searched.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

/// The shortest value searched for.
pub const MIN_LEN: usize = 8;

/// Fields whose string values (or lists of strings) are secrets, in requests
/// and answers alike.
const SECRET_FIELDS: &[&str] = &[
    "client_token",
    "root_token",
    "token",
    "secret_id",
    "password",
    "new_password",
    "unseal_keys_hex",
    "unseal_keys_b64",
    "keys_base64",
    "jwt",
    "token_reviewer_jwt",
    "bindpass",
    "client_tls_key",
];

// Per test process: nextest runs each test in a process of its own, so this
// is exactly the secrets of one test.
static SECRETS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Notes `value` as a secret of this test.
pub fn note(value: &str) {
    if value.len() >= MIN_LEN {
        SECRETS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(value.to_owned());
    }
}

/// Notes the secrets in a JSON request or answer (see [`SECRET_FIELDS`]).
pub fn note_in(value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if SECRET_FIELDS.contains(&k.as_str()) {
                    match v {
                        Value::String(s) => note(s),
                        Value::Array(items) => {
                            items.iter().filter_map(Value::as_str).for_each(note)
                        }
                        _ => {}
                    }
                }
                note_in(v);
            }
        }
        Value::Array(items) => items.iter().for_each(note_in),
        _ => {}
    }
}

/// Notes the secrets in `key=value` command-line arguments.
pub fn note_in_args(args: &[&str]) {
    for arg in args {
        if let Some((k, v)) = arg.split_once('=')
            && SECRET_FIELDS.contains(&k)
        {
            note(v);
        }
    }
}

/// The files a daemon wrote that must not hold a secret: its stderr and
/// stdout logs, and every `*.log*` file in its directory.
fn files(log: &Path, stdout: &Path, dir: Option<&Path>) -> Vec<PathBuf> {
    let mut files = vec![log.to_path_buf(), stdout.to_path_buf()];
    if let Some(entries) = dir.and_then(|d| std::fs::read_dir(d).ok()) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.contains(".log") && path.is_file() && !files.contains(&path) {
                files.push(path);
            }
        }
    }
    files
}

/// Searches the daemon's files for this test's secrets; the finding names
/// the file, the line and the secret's first characters.
pub fn scan(log: &Path, stdout: &Path, dir: Option<&Path>) -> Result<(), String> {
    let secrets: Vec<String> = SECRETS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect();
    let files = files(log, stdout, dir);
    let mut bytes = 0u64;
    let finder = aho_corasick::AhoCorasick::new(&secrets)
        .map_err(|e| format!("building the secret scan: {e}"))?;
    let mut found = None;
    for file in &files {
        let Ok(text) = std::fs::read(file) else {
            continue;
        };
        bytes += text.len() as u64;
        if let Some(m) = finder.find(&text) {
            let line = text[..m.start()].iter().filter(|b| **b == b'\n').count() + 1;
            let secret = &secrets[m.pattern().as_usize()];
            found = Some(format!(
                "a secret ({}..., {} bytes) is in the clear in {} line {line}",
                &secret[..4],
                secret.len(),
                file.display()
            ));
            break;
        }
    }
    if let Some(report) = std::env::var_os("VAULT_TEST_SCAN_REPORT")
        && let Ok(mut out) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(report)
    {
        let _ = writeln!(out, "{} {bytes} {}", files.len(), secrets.len());
    }
    found.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_noted_secret_is_found_and_a_short_one_is_not_noted() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("vaultd.log");
        let audit = dir.path().join("audit.log.1");
        std::fs::write(&log, "started\n").unwrap();
        std::fs::write(&audit, "{\"a\":1}\n{\"token\":\"s.leakedtoken123\"}\n").unwrap();
        note_in(&serde_json::json!({"auth": {"client_token": "s.leakedtoken123"}}));
        note("pw");
        let err = scan(&log, &dir.path().join("none"), Some(dir.path())).unwrap_err();
        assert!(err.contains("audit.log.1 line 2"), "{err}");
        assert!(
            !err.contains("leakedtoken"),
            "the finding does not repeat it: {err}"
        );
        std::fs::write(&audit, "pw pw pw\n").unwrap();
        assert!(scan(&log, &dir.path().join("none"), Some(dir.path())).is_ok());
    }
}
