//! Vault HTTP API compatibility: a fresh vaultd driven end to end by the real,
//! unmodified third-party Python client hvac (Debian's python3-hvac 0.11.2), with
//! tests/compat/hvac_suite.py: init and unseal, tokens, policies, KV v2,
//! AppRole, PostgreSQL credentials and their leases, seal.
//!
//! The suite runs under the system interpreter, where Debian installs hvac;
//! `./scripts/test` installs python3-hvac when it is missing. Without it this
//! test fails rather than skips, so a machine that cannot run it says so.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vault_tests::{Daemon, postgres_url, workspace_root};

/// The interpreter Debian's python3-hvac is installed for (not a pyenv
/// `python3` that may come first on PATH).
const PYTHON: &str = "/usr/bin/python3";

/// How long the whole suite may take; it needs a few seconds.
const SUITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads a child's pipe to the end on a thread, so a chatty child never blocks.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` at most `limit`, killing it past that: its exit code, or
/// `None` if it was killed (by us or by a signal).
fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the suite") {
            return status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_hvac_installed() {
    let probe = Command::new(PYTHON).args(["-c", "import hvac"]).output();
    let ok = matches!(&probe, Ok(out) if out.status.success());
    assert!(
        ok,
        "{PYTHON} cannot import hvac ({}): ./scripts/test installs Debian's python3-hvac \
         (or run: apt-get install python3-hvac)",
        match &probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        }
    );
}

/// Runs the suite against `daemon`: (exit code or `None` on timeout, stdout, stderr).
fn run_suite(daemon: &Daemon, script: &Path, pg_url: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(PYTHON)
        .arg(script)
        .env("VAULT_ADDR", &daemon.addr)
        .env("VAULT_TEST_PG_URL", pg_url)
        // Nothing from the environment may stand between hvac and the daemon:
        // no ambient token, TLS settings or proxy for loopback.
        .env_remove("VAULT_TOKEN")
        .env_remove("VAULT_CACERT")
        .env_remove("VAULT_CAPATH")
        .env_remove("VAULT_CLIENT_CERT")
        .env_remove("VAULT_CLIENT_KEY")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {PYTHON} {}: {e}", script.display()));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let code = wait_or_kill(&mut child, SUITE_TIMEOUT);
    (code, stdout.join().unwrap(), stderr.join().unwrap())
}

#[test]
fn the_hvac_client_runs_its_suite_against_a_fresh_vaultd() {
    assert_hvac_installed();
    let pg_url = postgres_url();
    let script = workspace_root().join("tests/compat/hvac_suite.py");
    assert!(script.exists(), "{} is missing", script.display());

    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let (code, stdout, stderr) = run_suite(&daemon, &script, &pg_url);
    let outcome = match code {
        Some(0) => return,
        Some(code) => format!("exited with {code}"),
        None => format!("was killed or timed out after {SUITE_TIMEOUT:?}"),
    };
    panic!(
        "the hvac suite {outcome}\n--- suite stdout ---\n{stdout}\n--- suite stderr ---\n{stderr}\n\
         --- vaultd log ---\n{}",
        daemon.log_text()
    );
}
