//! The README runs as written. Every command of every shell block (```console
//! lines after `$ `, ```shell blocks, and indented blocks) runs in order, in
//! one working directory with a `HOME` of its own, against real `vaultd`
//! processes started by the README's own commands. A command passes when it
//! exits as the README says (0, or the `# exit code N` it names) and prints
//! the lines the README shows after it (`...` and `<placeholders>` match
//! anything).
//!
//! `tests/readme/table.toml` holds what a reader supplies: the addresses and
//! files of this machine (substitutions), prompts fed from stdin,
//! placeholders (`<nonce>`, `...`) filled from earlier answers, and `a | b`
//! alternatives spelled out. A command is left out only through the skip
//! list there, with a reason. An entry that matches no README command fails
//! the test, so the table cannot outlive the text it describes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use vault_core::identity::mfa::totp;
use vault_tests::{Daemon, bin, postgres_url, secret_scan, workspace_root};

/// How long one README command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    substitute: Vec<Substitute>,
    #[serde(default)]
    file: Vec<FileSpec>,
    #[serde(default)]
    line: Vec<LineSpec>,
    #[serde(default)]
    skip: Vec<Skip>,
}

/// Text of this machine in place of the README's (`from` -> `to`), in every
/// command, expected line and file, in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Substitute {
    from: String,
    to: String,
}

/// A file the reader has (a password file, the config).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    path: String,
    #[serde(default)]
    text: String,
    /// The README's `toml` blocks whose first line starts with these, joined.
    #[serde(default)]
    from_readme_toml: Vec<String>,
    /// Edits to the text: `[from, to]`.
    #[serde(default)]
    replace: Vec<(String, String)>,
}

/// How to run one README command.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineSpec {
    /// The command as the README writes it, after `$ `, comment included.
    readme: String,
    /// Placeholders of this line: `[from, to]`.
    #[serde(default)]
    replace: Vec<(String, String)>,
    /// It starts vaultd, which keeps running (the previous one is stopped,
    /// and the shell's variables start afresh, as in a new terminal).
    #[serde(default)]
    daemon: bool,
    /// The daemon prints `export NAME='value'` lines: the reader runs them.
    #[serde(default)]
    source_exports: bool,
    /// Why the README's output lines after it are not checked.
    #[serde(default)]
    unchecked_output: Option<String>,
    /// Run after every other line, with the daemon stopped.
    #[serde(default)]
    at_end: bool,
    /// The runs; none means one run of the line as written.
    #[serde(default)]
    runs: Vec<Run>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    /// Instead of the line (an alternative of `a | b`, say).
    command: Option<String>,
    stdin: Option<String>,
    /// The exit code, where the line does not say it.
    code: Option<i32>,
    /// Shell steps of the reader's own before the command (not counted).
    #[serde(default)]
    before: Vec<String>,
    /// Files written before the command: `[path, text]`.
    #[serde(default)]
    write: Vec<(String, String)>,
    /// Values taken from the output into `$README_<name>`.
    #[serde(default)]
    capture: Vec<Capture>,
    /// `$README_TOTP` is set to the current code of this base32 secret.
    totp_from: Option<String>,
    /// Sends SIGINT (Ctrl-C) after this many seconds.
    interrupt_after_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Capture {
    name: String,
    /// The text that starts the value's line (after any indent); empty:
    /// the whole of stdout.
    after: String,
    /// `after` may stand anywhere in the line.
    #[serde(default)]
    anywhere: bool,
    /// A secret: the daemon's log and audit files are searched for it.
    #[serde(default)]
    secret: bool,
    /// Characters that end the value (besides whitespace).
    #[serde(default)]
    until: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Skip {
    readme: String,
    reason: String,
}

/// One command of the README, with the output lines shown after it.
#[derive(Debug)]
struct ReadmeCommand {
    line: usize,
    text: String,
    expected: Vec<String>,
}

/// The commands of every shell block, in order.
fn readme_commands(readme: &str) -> Vec<ReadmeCommand> {
    let mut commands: Vec<ReadmeCommand> = Vec::new();
    let mut fence: Option<(String, String)> = None; // (indent, language)
    let mut previous_blank = true;
    let mut lines = readme.lines().enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let trimmed = raw.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => Some((raw[..raw.len() - trimmed.len()].to_owned(), lang.to_owned())),
            };
            previous_blank = false;
            continue;
        }
        match &fence {
            Some((indent, lang)) if lang == "console" => {
                let body = raw.strip_prefix(indent.as_str()).unwrap_or(raw);
                if let Some(command) = body.strip_prefix("$ ") {
                    let mut text = command.to_owned();
                    while text.ends_with('\\') {
                        let Some((_, next)) = lines.next() else { break };
                        text.push('\n');
                        text.push_str(next.strip_prefix(indent.as_str()).unwrap_or(next));
                    }
                    commands.push(ReadmeCommand {
                        line: i + 1,
                        text,
                        expected: Vec::new(),
                    });
                } else if !body.trim().is_empty()
                    && !body.trim_start().starts_with('#')
                    && let Some(last) = commands.last_mut()
                {
                    last.expected.push(body.to_owned());
                }
            }
            Some((_, lang)) if lang == "shell" => {
                if body_is_command(raw) {
                    let mut text = raw.to_owned();
                    while text.ends_with('\\') {
                        let Some((_, next)) = lines.next() else { break };
                        text.push('\n');
                        text.push_str(next);
                    }
                    commands.push(ReadmeCommand {
                        line: i + 1,
                        text,
                        expected: Vec::new(),
                    });
                }
            }
            Some(_) => {}
            None => {
                // An indented code block: four spaces after a blank line (or
                // after another such line), outside any list.
                let indented = raw.strip_prefix("    ").filter(|r| !r.starts_with(' '));
                match indented {
                    Some(command) if previous_blank || is_indented_command(&commands, i) => {
                        commands.push(ReadmeCommand {
                            line: i + 1,
                            text: command.to_owned(),
                            expected: Vec::new(),
                        });
                    }
                    _ => {}
                }
            }
        }
        previous_blank = raw.trim().is_empty();
    }
    commands
}

fn body_is_command(raw: &str) -> bool {
    let t = raw.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// Whether the line before `i` was an indented command too.
fn is_indented_command(commands: &[ReadmeCommand], i: usize) -> bool {
    commands.last().is_some_and(|c| c.line == i)
}

/// The exit code a README line names (`# exit code N`), else 0.
fn named_exit_code(text: &str) -> i32 {
    text.split_once("# exit code ")
        .and_then(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Whether `output` has a line holding the literal parts of `expected`, in
/// order (`...` and `<...>` match anything).
fn shows(output: &str, expected: &str) -> bool {
    let expected = expected.split("  #").next().unwrap_or(expected).trim();
    let mut parts = Vec::new();
    let mut rest = expected;
    while !rest.is_empty() {
        let next_dots = rest.find("...");
        let next_angle = rest.find('<');
        let cut = match (next_dots, next_angle) {
            (Some(d), Some(a)) => d.min(a),
            (Some(d), None) => d,
            (None, Some(a)) => a,
            (None, None) => {
                parts.push(rest);
                break;
            }
        };
        let before = &rest[..cut];
        if rest[cut..].starts_with("...") {
            // `7pGH...` stands for a whole value: the word before the dots is
            // an example, not a literal.
            parts.push(before.rfind(' ').map_or("", |space| &before[..space]));
        } else {
            parts.push(before);
        }
        rest = if rest[cut..].starts_with("...") {
            &rest[cut + 3..]
        } else {
            rest[cut..].split_once('>').map_or("", |(_, r)| r)
        };
    }
    let parts: Vec<&str> = parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    output.lines().any(|line| {
        let mut at = 0;
        parts.iter().all(|p| match line[at..].find(p) {
            Some(found) => {
                at += found + p.len();
                true
            }
            None => false,
        })
    })
}

/// The reader's shell: a working directory, its variables, the running vaultd.
struct Reader {
    work: PathBuf,
    env: BTreeMap<String, String>,
    /// `README_*` values (captures and the machine's addresses).
    values: BTreeMap<String, String>,
    daemon: Option<Daemon>,
    substitutes: Vec<(String, String)>,
}

impl Reader {
    /// A fresh shell: PATH with the built binaries, HOME in the work dir.
    fn fresh_env(work: &Path) -> BTreeMap<String, String> {
        let bin_dir = bin("vaultd").parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        BTreeMap::from([
            ("PATH".into(), path),
            ("HOME".into(), work.join("home").display().to_string()),
            ("LANG".into(), "C.UTF-8".into()),
        ])
    }

    /// `$README_NAME` replaced by its value.
    fn expand(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Longest names first, so README_KEY_10 is not read as README_KEY_1.
        let mut names: Vec<&String> = self.values.keys().collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        for name in names {
            out = out.replace(&format!("$README_{name}"), &self.values[name]);
        }
        assert!(
            !out.contains("$README_"),
            "no value yet for a placeholder in {out}"
        );
        out
    }

    /// The README's text made this machine's.
    fn localise(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (from, to) in &self.substitutes {
            out = out.replace(from, to);
        }
        self.expand(&out)
    }

    /// Runs `command` in bash; (exit code, stdout, stderr).
    fn shell(&mut self, command: &str, stdin: Option<&str>, interrupt: Option<u64>) -> Output {
        use std::os::unix::process::CommandExt as _;
        let dump = self.work.join(".readme-env");
        let script = format!(
            "{command}\n__rc=$?\nenv -0 > '{}'\nexit $__rc",
            dump.display()
        );
        let out_path = self.work.join(".readme-stdout");
        let err_path = self.work.join(".readme-stderr");
        let mut child = Command::new("bash")
            .args(["-o", "pipefail", "-c", &script])
            .current_dir(&self.work)
            .env_clear()
            .envs(&self.env)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            let _ = pipe.write_all(format!("{text}\n").as_bytes());
        }
        let started = Instant::now();
        let mut interrupted = false;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if let Some(secs) = interrupt
                && !interrupted
                && started.elapsed() >= Duration::from_secs(secs)
            {
                let _ = Command::new("kill")
                    // The group (the shell and its command): `--` so that
                    // the negative number is read as a group, not an option.
                    .args(["-s", "INT", "--", &format!("-{}", child.id())])
                    .status();
                interrupted = true;
            }
            if started.elapsed() > COMMAND_TIMEOUT {
                let _ = child.kill();
                panic!("{command}: still running after {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Ok(mut file) = std::fs::File::open(&dump) {
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            self.env = text
                .split('\0')
                .filter_map(|kv| kv.split_once('='))
                .filter(|(k, _)| !matches!(*k, "_" | "SHLVL" | "PWD" | "OLDPWD" | "__rc"))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let _ = std::fs::remove_file(&dump);
        }
        Output {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        }
    }

    /// Starts the vaultd that `command` runs, in a new shell.
    fn start_daemon(&mut self, command: &str) -> String {
        if let Some(old) = self.daemon.take() {
            old.stop();
        }
        self.env = Self::fresh_env(&self.work);
        let logs = self.work.join("var/log/vault");
        let mut shell = Command::new("bash");
        shell
            .args(["-c", &format!("exec {command}")])
            .current_dir(&self.work)
            .env_clear()
            .envs(&self.env);
        let daemon = Daemon::spawn(shell, &self.work.join("vaultd.toml"), &logs);
        self.values.insert("ADDR".into(), daemon.addr.clone());
        self.values
            .insert("VAULTD_PID".into(), daemon.pid().to_string());
        // Its banner after the address, once it is written.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut banner = String::new();
        while Instant::now() < deadline {
            banner = std::fs::read_to_string(&daemon.stdout).unwrap_or_default();
            if !command.contains("--dev") || banner.contains("Root Token") {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let shown = format!("vaultd: listening on {}\n{banner}", daemon.addr);
        self.daemon = Some(daemon);
        shown
    }
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn capture(reader: &mut Reader, capture: &Capture, output: &str, command: &str) {
    let value = if capture.after.is_empty() {
        output.trim().to_owned()
    } else {
        output
            .lines()
            .find_map(|l| {
                if capture.anywhere {
                    l.split_once(capture.after.as_str()).map(|(_, v)| v)
                } else {
                    l.trim_start().strip_prefix(capture.after.as_str())
                }
            })
            .map(|v| {
                v.trim_start()
                    .split(|c: char| c.is_whitespace() || capture.until.contains(c))
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_else(|| {
                panic!(
                    "{command}: nothing after {:?} to capture as {} in:\n{output}",
                    capture.after, capture.name
                )
            })
    };
    assert!(!value.is_empty(), "{command}: empty {}", capture.name);
    if capture.secret {
        secret_scan::note(&value);
    }
    reader.values.insert(capture.name.clone(), value);
}

/// The machine's side of the walkthrough: TLS files, directories, a
/// PostgreSQL database with an admin and an application user, a socket audit
/// receiver.
fn provide(work: &Path, values: &mut BTreeMap<String, String>) {
    for dir in ["home", "etc/vault", "var/lib/vault", "var/log/vault/api"] {
        std::fs::create_dir_all(work.join(dir)).unwrap();
    }
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(work.join("etc/vault/tls.crt"), certified.cert.pem()).unwrap();
    std::fs::write(work.join("etc/vault/ca.pem"), certified.cert.pem()).unwrap();
    std::fs::write(
        work.join("etc/vault/tls.key"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    values.insert("DIR".into(), work.display().to_string());
    // The checkout, for the reader's own steps that use its scripts
    // (bench/jwt.sh signs the README's example CI token).
    values.insert("REPO".into(), workspace_root().display().to_string());
    // The suite's directory (scripts/slapd-start), for the LDAP walkthrough.
    let ldap = vault_tests::ldap::Directory::shared();
    values.insert("LDAP_URL".into(), ldap.url.clone());
    values.insert(
        "LDAP_CA".into(),
        std::env::var("VAULT_TEST_LDAP_CA").unwrap_or_default(),
    );

    // A socket audit device's receiver, reading everything it is sent.
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    values.insert(
        "SOCKET_PORT".into(),
        receiver.local_addr().unwrap().port().to_string(),
    );
    std::thread::spawn(move || {
        for stream in receiver.incoming() {
            let Ok(mut stream) = stream else { break };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
            });
        }
    });

    let url = postgres_url();
    let (_, _, server) = vault_tests::pg_url_parts(&url);
    let suffix = std::process::id();
    let (db, admin, app) = (
        format!("readme_app_{suffix}"),
        format!("readme_vault_admin_{suffix}"),
        format!("readme_app_user_{suffix}"),
    );
    let admin_password = format!("readme-admin-{suffix}-pw");
    secret_scan::note(&admin_password);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = vault_tests::pg_connect(&url).await;
        // One statement each: CREATE DATABASE refuses a transaction block.
        for statement in [
            format!("CREATE DATABASE {db}"),
            format!("CREATE ROLE {admin} LOGIN CREATEROLE PASSWORD '{admin_password}'"),
            format!("CREATE ROLE {app} LOGIN PASSWORD 'initial'"),
        ] {
            client.batch_execute(&statement).await.unwrap();
        }
    });
    values.insert("PG_SERVER".into(), server);
    values.insert("PG_DB".into(), db);
    values.insert("PG_ADMIN".into(), admin);
    values.insert("PG_ADMIN_PASSWORD".into(), admin_password);
    values.insert("PG_APP_USER".into(), app);
}

/// The README's `toml` blocks whose first line starts with one of `starts`.
fn readme_toml(readme: &str, starts: &[String]) -> String {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some((_, after)) = rest.split_once("```toml\n") {
        let (block, tail) = after.split_once("```").unwrap();
        let block: String = block
            .lines()
            .map(|l| l.strip_prefix("  ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        blocks.push(block);
        rest = tail;
    }
    starts
        .iter()
        .map(|start| {
            blocks
                .iter()
                .find(|b| b.trim_start().starts_with(start.as_str()))
                .unwrap_or_else(|| panic!("no README toml block starts with {start:?}"))
                .clone()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_readme_command_runs_as_written() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let table: Table =
        toml::from_str(&std::fs::read_to_string(root.join("tests/readme/table.toml")).unwrap())
            .unwrap();
    let commands = readme_commands(&readme);
    assert!(commands.len() > 50, "{} README commands", commands.len());

    // Every entry of the table describes a command the README has.
    for text in table
        .line
        .iter()
        .map(|l| &l.readme)
        .chain(table.skip.iter().map(|s| &s.readme))
    {
        assert!(
            commands.iter().any(|c| &c.text == text),
            "tests/readme/table.toml names a command the README no longer has: {text}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().to_path_buf();
    let mut values = BTreeMap::new();
    provide(&work, &mut values);
    let mut reader = Reader {
        env: Reader::fresh_env(&work),
        work: work.clone(),
        values,
        daemon: None,
        substitutes: table
            .substitute
            .iter()
            .map(|s| (s.from.clone(), s.to.clone()))
            .collect(),
    };
    for file in &table.file {
        let mut text = file.text.clone();
        text.push_str(&readme_toml(&readme, &file.from_readme_toml));
        for (from, to) in &file.replace {
            assert!(text.contains(from.as_str()), "{}: no {from:?}", file.path);
            text = text.replace(from, to);
        }
        std::fs::write(work.join(&file.path), reader.localise(&text)).unwrap();
    }

    let mut ran = 0;
    let mut skipped = Vec::new();
    let mut deferred = Vec::new();
    for command in &commands {
        if let Some(skip) = table.skip.iter().find(|s| s.readme == command.text) {
            skipped.push(format!(
                "README:{} {} ({})",
                command.line, command.text, skip.reason
            ));
            continue;
        }
        let spec = table.line.iter().find(|l| l.readme == command.text);
        if spec.is_some_and(|s| s.at_end) {
            deferred.push((command, spec));
            continue;
        }
        run_command(&mut reader, command, spec);
        ran += 1;
    }
    if let Some(daemon) = reader.daemon.take() {
        daemon.stop();
    }
    for (command, spec) in deferred {
        run_command(&mut reader, command, spec);
        ran += 1;
    }
    println!(
        "README: ran {ran} of {} commands; skipped {}:",
        commands.len(),
        skipped.len()
    );
    for skip in &skipped {
        println!("  {skip}");
    }
    assert_eq!(ran + skipped.len(), commands.len());
}

fn run_command(reader: &mut Reader, command: &ReadmeCommand, spec: Option<&LineSpec>) {
    let mut text = command.text.clone();
    for (from, to) in spec.map(|s| s.replace.as_slice()).unwrap_or_default() {
        assert!(
            text.contains(from.as_str()),
            "{}: no {from:?}",
            command.text
        );
        text = text.replace(from, to);
    }
    let context = format!("README:{} `{}`", command.line, command.text);

    if spec.is_some_and(|s| s.daemon) {
        let line = reader.localise(&text);
        let shown = reader.start_daemon(&line);
        if spec.is_some_and(|s| s.source_exports) {
            for export in shown
                .lines()
                .filter_map(|l| l.trim().strip_prefix("export "))
            {
                let (name, value) = export.split_once('=').unwrap();
                reader
                    .env
                    .insert(name.into(), value.trim_matches('\'').into());
            }
        }
        check_output(reader, command, spec, &shown, &context);
        return;
    }

    let default_run = [Run::default()];
    let runs = match spec {
        Some(s) if !s.runs.is_empty() => s.runs.as_slice(),
        _ => &default_run,
    };
    let mut shown = String::new();
    for run in runs {
        for (path, body) in &run.write {
            std::fs::write(reader.work.join(path), reader.expand(body)).unwrap();
        }
        for step in &run.before {
            let step = reader.localise(step);
            let out = reader.shell(&step, None, None);
            assert_eq!(
                out.code, 0,
                "{context}: the step `{step}` failed: {}{}",
                out.stdout, out.stderr
            );
        }
        if let Some(secret) = &run.totp_from {
            let secret = totp::base32_decode(&reader.expand(secret)).unwrap();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            reader
                .values
                .insert("TOTP".into(), totp::code(&secret, now));
        }
        let cmd = reader.localise(run.command.as_deref().unwrap_or(&text));
        let stdin = run.stdin.as_ref().map(|s| reader.expand(s));
        let out = reader.shell(&cmd, stdin.as_deref(), run.interrupt_after_secs);
        let code = run.code.unwrap_or_else(|| named_exit_code(&command.text));
        assert_eq!(
            out.code, code,
            "{context}: `{cmd}` exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            out.code, out.stdout, out.stderr
        );
        let both = format!("{}\n{}", out.stdout, out.stderr);
        for c in &run.capture {
            let source = if c.after.is_empty() {
                &out.stdout
            } else {
                &both
            };
            capture(reader, c, source, &context);
        }
        shown.push_str(&both);
    }
    check_output(reader, command, spec, &shown, &context);
}

fn check_output(
    reader: &Reader,
    command: &ReadmeCommand,
    spec: Option<&LineSpec>,
    shown: &str,
    context: &str,
) {
    if spec.is_some_and(|s| s.unchecked_output.is_some()) {
        return;
    }
    for expected in &command.expected {
        let expected = reader.localise(expected);
        assert!(
            shows(shown, &expected),
            "{context}: the README shows `{expected}`, the command printed:\n{shown}"
        );
    }
}
