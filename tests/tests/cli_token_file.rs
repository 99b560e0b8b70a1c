//! `vault-cli login`'s token file, `~/.vault-token`, with `HOME` set to a
//! temporary directory: it is readable by its owner only whatever it was
//! before, and it is always a regular file of its own: a symlink planted at
//! its path is replaced, never written through.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use vault_tests::{Daemon, cli_with_env, unsealed_with_kv};

/// `vault-cli login <token>` with `HOME=home`.
fn login(daemon: &Daemon, home: &Path, token: &str) {
    cli_with_env(
        &daemon.addr,
        None,
        &["login", token],
        None,
        &[("HOME", home.to_str().unwrap())],
    )
    .expect_code(0);
}

/// The permission bits of `path` itself (not a link's target), in octal.
fn mode(path: &Path) -> String {
    let bits = std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode();
    format!("{:o}", bits & 0o777)
}

/// The names in `dir`: nothing but the token file may be left behind.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_existing_loose_token_file_becomes_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let outside = tempfile::tempdir().unwrap();
    let home = outside.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let file = home.join(".vault-token");
    std::fs::write(&file, "an old token").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();

    login(&daemon, &home, &keys.root_token);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        keys.root_token,
        "the token is stored"
    );
    assert_eq!(mode(&file), "600", "the file is the owner's only");
    assert_eq!(names(&home), [".vault-token"]);
}

#[test]
fn a_symlink_at_the_token_path_is_replaced_and_its_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let outside = tempfile::tempdir().unwrap();
    let home = outside.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let file = home.join(".vault-token");
    // A file someone else would read (or a file of the user's that the
    // token would overwrite), and a path that does not exist yet.
    let target = outside.path().join("elsewhere");
    std::fs::write(&target, "not a token").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let missing = outside.path().join("missing");

    for link_to in [&target, &missing] {
        let _ = std::fs::remove_file(&file);
        symlink(link_to, &file).unwrap();
        login(&daemon, &home, &keys.root_token);
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(meta.file_type().is_file(), "{link_to:?}: {meta:?}");
        assert_eq!(mode(&file), "600");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), keys.root_token);
        assert_eq!(names(&home), [".vault-token"]);
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "not a token");
    assert_eq!(mode(&target), "644");
    assert!(!missing.exists(), "nothing was created through the link");
}
