//! Tokens given to vault-cli without putting them on its command line, where
//! `ps` and the shell's history would show them: `-` reads stdin and `@FILE`
//! reads a file, for `login` and for the token that `token lookup`, `renew`,
//! `revoke` and `capabilities` act on (as `k=-` and `k=@FILE` already do for
//! key=value arguments).

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::path::Path;

use vault_tests::{CliOutput, Daemon, cli_with_env, unsealed_with_kv};

/// vault-cli with `HOME=home`, authenticated with `token` if given, fed `stdin`.
fn run(
    daemon: &Daemon,
    home: &Path,
    token: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
) -> CliOutput {
    let env = [("HOME", home.to_str().unwrap())];
    cli_with_env(&daemon.addr, token, args, stdin, &env)
}

/// A child token of `root` with the default policy only, and a TTL so that
/// it can be renewed.
fn child(daemon: &Daemon, home: &Path, root: &str) -> String {
    let out = run(
        daemon,
        home,
        Some(root),
        &[
            "token", "create", "--policy", "default", "--ttl", "1h", "--format", "json",
        ],
        None,
    );
    out.expect_code(0);
    out.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn login_reads_the_token_from_stdin_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let home = tempfile::tempdir().unwrap();
    let stored = home.path().join(".vault-token");

    let out = run(
        &daemon,
        home.path(),
        None,
        &["login", "-"],
        Some(&format!("{}\n", keys.root_token)),
    );
    out.expect_code(0);
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), keys.root_token);

    let token = child(&daemon, home.path(), &keys.root_token);
    let file = home.path().join("token.txt");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let arg = format!("@{}", file.display());
    run(&daemon, home.path(), None, &["login", &arg], None).expect_code(0);
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), token);

    // A file that is not there: the error names it, and nothing is stored.
    let missing = format!("@{}", home.path().join("nope").display());
    let out = run(&daemon, home.path(), None, &["login", &missing], None);
    out.expect_code(1);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), token);
}

#[test]
fn token_commands_read_the_token_they_act_on_from_stdin_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    let home = tempfile::tempdir().unwrap();
    let token = child(&daemon, home.path(), root);
    let file = home.path().join("token.txt");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let from_file = format!("@{}", file.display());
    let stdin = format!("{token}\n");

    let out = run(
        &daemon,
        home.path(),
        Some(root),
        &["token", "lookup", "-", "--format", "json"],
        Some(&stdin),
    );
    out.expect_code(0);
    assert_eq!(out.json()["data"]["id"], token.as_str(), "{}", out.stdout);
    let out = run(
        &daemon,
        home.path(),
        Some(root),
        &["token", "lookup", &from_file, "--format", "json"],
        None,
    );
    out.expect_code(0);
    assert_eq!(out.json()["data"]["id"], token.as_str(), "{}", out.stdout);

    run(
        &daemon,
        home.path(),
        Some(root),
        &["token", "renew", &from_file],
        None,
    )
    .expect_code(0);
    let out = run(
        &daemon,
        home.path(),
        Some(root),
        &["token", "capabilities", "-", "secret/data/x"],
        Some(&stdin),
    );
    out.expect_code(0);
    assert!(out.stdout.contains("deny"), "{}", out.stdout);

    run(
        &daemon,
        home.path(),
        Some(root),
        &["token", "revoke", "-"],
        Some(&stdin),
    )
    .expect_code(0);
    let out = run(
        &daemon,
        home.path(),
        Some(root),
        &["token", "lookup", &from_file],
        None,
    );
    assert_ne!(out.code, 0, "the token was revoked: {}", out.stdout);
}

/// The password a userpass login prompts for can be fed from a pipe, as the
/// unseal prompt can; on a terminal it is asked for without echo.
#[test]
fn the_userpass_password_prompt_reads_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let (daemon, keys) = unsealed_with_kv(dir.path());
    let root = keys.root_token.as_str();
    run(
        &daemon,
        dir.path(),
        Some(root),
        &["auth", "enable", "userpass"],
        None,
    )
    .expect_code(0);
    run(
        &daemon,
        dir.path(),
        Some(root),
        &["write", "auth/userpass/users/alice", "password=piped-pw-1"],
        None,
    )
    .expect_code(0);
    vault_tests::secret_scan::note("piped-pw-1");
    let login = |password: &str| {
        run(
            &daemon,
            dir.path(),
            None,
            &[
                "login",
                "--method",
                "userpass",
                "--no-store",
                "username=alice",
            ],
            Some(password),
        )
    };
    login("piped-pw-1\n").expect_code(0);
    let wrong = login("not-it\n");
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert!(
        wrong.stderr.contains("invalid username or password"),
        "{wrong:?}"
    );
}
