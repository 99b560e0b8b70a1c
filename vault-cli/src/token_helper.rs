//! The token helper: `login` keeps the token in `~/.vault-token` (mode 0600), and
//! commands use it when `VAULT_TOKEN` is not set, as Vault's CLI does.

use std::path::PathBuf;

use anyhow::Context;

fn path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".vault-token"))
}

/// The stored token, if any.
pub fn read() -> Option<String> {
    let text = std::fs::read_to_string(path()?).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Stores `token`, readable by the user only.
pub fn store(token: &str) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = path().context("HOME is not set; cannot store the token")?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(token.as_bytes())?;
    Ok(path)
}
