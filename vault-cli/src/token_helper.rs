//! The token helper: `login` keeps the token in `~/.vault-token` (mode 0600), and
//! commands use it when `VAULT_TOKEN` is not set, as Vault's CLI does.
//!
//! The file is never written in place: the token goes into a new file, created
//! exclusively with mode 0600 in the same directory, which is then renamed over
//! `~/.vault-token`. So an old file's loose mode is not kept (opening it would
//! keep its mode), a symlink planted at the path is replaced rather than
//! followed (opening it would write the token wherever it points), and a
//! reader never sees half a token.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Names tried for the new file before giving up: each is unique to this
/// process and moment, so a clash means another writer in the same instant.
const TEMP_ATTEMPTS: u32 = 16;

fn path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".vault-token"))
}

/// The stored token, if any.
pub fn read() -> Option<String> {
    let text = std::fs::read_to_string(path()?).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Stores `token` in `~/.vault-token`, readable by the user only.
pub fn store(token: &str) -> anyhow::Result<PathBuf> {
    let path = path().context("HOME is not set; cannot store the token")?;
    store_at(&path, token).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Replaces whatever is at `path` with a regular file of mode 0600 holding
/// `token`, through a new file in the same directory renamed into place.
fn store_at(path: &Path, token: &str) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let (temp, mut file) = create_temp(dir)?;
    let written = (|| {
        file.write_all(token.as_bytes())?;
        // Exactly 0600 whatever the umask left (it can only have taken bits
        // away), and on disk before the rename makes it the token file.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the one returned.
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    // The rename is durable once the directory is; failing that, the old
    // file (or none) comes back after a crash, which a new login fixes.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A new, empty file of mode 0600 in `dir`. `create_new` (O_EXCL) never
/// opens an existing file and never follows a symlink, so nothing planted in
/// `dir` can receive the token.
fn create_temp(dir: &Path) -> std::io::Result<(PathBuf, File)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last = None;
    for attempt in 0..TEMP_ATTEMPTS {
        let temp = dir.join(format!(
            ".vault-token.{}.{nanos}.{attempt}.tmp",
            std::process::id()
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
        {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no name left for a new token file")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new directory of the test's own (no tempfile crate in this package),
    /// removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "vault-cli-token-helper-{name}-{}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_store_leaves_nothing_behind() {
        let dir = Scratch::new("failed");
        // A non-empty directory at the path: the rename over it must fail.
        let path = dir.0.join(".vault-token");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("keep"), "x").unwrap();
        assert!(store_at(&path, "s.token").is_err());
        assert_eq!(names(&dir.0), [".vault-token"]);
        assert_eq!(names(&path), ["keep"]);
    }

    #[test]
    fn a_store_replaces_the_file_and_leaves_only_it() {
        let dir = Scratch::new("replace");
        let path = dir.0.join(".vault-token");
        store_at(&path, "s.first").unwrap();
        store_at(&path, "s.second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s.second");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(names(&dir.0), [".vault-token"]);
    }
}
