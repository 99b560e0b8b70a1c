//! The black-box test harness: start real `vaultd` processes on loopback with a
//! real SQLite file, drive them with the real `vault-cli` and a gRPC client.
//!
//! The binaries are looked up in `VAULT_BIN_DIR`, else next to the test executable
//! (`target/<profile>/`): the README's test command builds them first.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a harness panics to fail the test

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod bao;
pub mod ha_cluster;
pub mod http;
pub mod idp;
pub mod ldap;
pub mod otp;
pub mod secret_scan;
pub mod webdriver;

use serde_json::Value;
use tonic::transport::Channel;
use vault_proto::v1::sys_client::SysClient;

/// How long a daemon may take to start or stop before the test fails.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// The path of a workspace binary.
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("VAULT_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // target/<profile>/deps/<test> -> target/<profile>
            let exe = std::env::current_exe().expect("current_exe");
            exe.parent()
                .and_then(Path::parent)
                .expect("target dir")
                .to_path_buf()
        });
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (cargo build --workspace --bins), or set VAULT_BIN_DIR",
        path.display()
    );
    path
}

/// A running vaultd.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    /// The config file it was started with.
    pub config: PathBuf,
    /// Its stderr log.
    pub log: PathBuf,
    /// What it printed on stdout after its address (a stdout audit device's
    /// entries, for one).
    pub stdout: PathBuf,
    /// Where its log went (and its audit files, usually): searched for the
    /// test's secrets when it is dropped.
    dir: PathBuf,
}

/// The config lines of a file audit device `name` writing to `path`, for
/// [`write_config`]'s `extra`.
pub fn file_device(name: &str, path: &Path) -> String {
    format!(
        "[[audit]]\nname = \"{name}\"\ntype = \"file\"\noptions = {{ file_path = \"{}\" }}\n",
        path.display()
    )
}

/// A config for a daemon storing in `dir/vault.db`, listening on a free port, with
/// the raw barrier methods on (the tests' way to write and read data).
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("vaultd.toml");
    let text = format!(
        "raw_storage_endpoint = true\nlog_level = \"info\"\n{extra}\n\
         [listener]\naddress = \"127.0.0.1:0\"\ntls_disable = true\n\
         [storage]\nkind = \"sqlite\"\npath = \"{}\"\n",
        dir.join("vault.db").display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// A config for a daemon storing in PostgreSQL at `url` (table `vault_kv`),
/// listening on a free port, with the raw barrier methods on. Its log and any
/// files go to `dir`.
pub fn write_postgres_config(dir: &Path, url: &str, extra: &str) -> PathBuf {
    let config = dir.join("vaultd.toml");
    let text = format!(
        "raw_storage_endpoint = true\nlog_level = \"info\"\n{extra}\n\
         [listener]\naddress = \"127.0.0.1:0\"\ntls_disable = true\n\
         [storage]\nkind = \"postgres\"\nconnection_url = \"{url}\"\n"
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// A fresh database named `name` on the test cluster at `url`; returns its URL
/// (the same server and credentials).
pub async fn pg_create_database(url: &str, name: &str) -> String {
    pg_connect(url)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
    let (server, _db) = url.rsplit_once('/').expect("a database in the URL");
    format!("{server}/{name}")
}

impl Daemon {
    /// Starts vaultd with a fresh config in `dir` (reusing its database if any).
    pub fn start(dir: &Path) -> Daemon {
        let config = write_config(dir, "");
        Self::start_with(&config, dir)
    }

    /// Starts vaultd with `config`, logging to `dir`.
    pub fn start_with(config: &Path, dir: &Path) -> Daemon {
        let mut command = Command::new(bin("vaultd"));
        command.arg("--config").arg(config);
        Self::spawn(command, config, dir)
    }

    /// Runs `command`, which starts vaultd with `config` (through a shell
    /// that sets limits first, say), logging to `dir`.
    pub fn spawn(mut command: Command, config: &Path, dir: &Path) -> Daemon {
        let log = dir.join(format!("vaultd-{}.log", unique()));
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn vaultd");
        let stdout = dir.join(format!("vaultd-stdout-{}.log", unique()));
        let addr = wait_for_address(&mut child, &stdout).unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "vaultd did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Daemon {
            child,
            addr,
            config: config.to_path_buf(),
            log,
            stdout,
            dir: dir.to_path_buf(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(self) -> ExitStatus {
        self.signal("TERM")
    }

    /// Sends `signal` (a name: `TERM`, `ABRT`), then waits for the exit.
    pub fn signal(mut self, signal: &str) -> ExitStatus {
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        wait_with_timeout(&mut self.child)
            .unwrap_or_else(|| panic!("vaultd did not stop after SIG{signal}"))
    }

    /// Runs vault-cli against this daemon.
    pub fn cli(&self, token: Option<&str>, args: &[&str]) -> CliOutput {
        cli(&self.addr, token, args, None)
    }

    /// A gRPC client for the Sys service.
    pub async fn sys(&self) -> SysClient<Channel> {
        SysClient::connect(self.addr.clone())
            .await
            .expect("connect")
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Err(finding) = secret_scan::scan(&self.log, &self.stdout, Some(&self.dir))
            && !std::thread::panicking()
        {
            panic!("{finding}");
        }
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Reads the daemon's stdout until it prints its address, then keeps draining it
/// on a thread (so the pipe never fills) into the file `rest`.
fn wait_for_address(child: &mut Child, rest: &Path) -> Option<String> {
    use std::io::Write;
    let stdout = child.stdout.take()?;
    let mut sink = std::fs::File::create(rest).ok()?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.strip_prefix("vaultd: listening on ") {
                let _ = tx.send(addr.to_owned());
            } else {
                let _ = writeln!(sink, "{line}");
            }
        }
    });
    rx.recv_timeout(PROCESS_TIMEOUT).ok()
}

/// Waits for `child` to exit, at most [`PROCESS_TIMEOUT`].
pub fn wait_with_timeout(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + PROCESS_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().ok()? {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// What a vault-cli run printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliOutput {
    /// Stdout parsed as JSON; panics with both streams if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): stdout={} stderr={}",
                self.stdout, self.stderr
            )
        })
    }

    /// Panics unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code: stdout={} stderr={}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs vault-cli with `VAULT_ADDR=addr` and, if given, `VAULT_TOKEN`, feeding
/// `stdin` when given.
pub fn cli(addr: &str, token: Option<&str>, args: &[&str], stdin: Option<&str>) -> CliOutput {
    cli_with_env(addr, token, args, stdin, &[])
}

/// [`cli`] with extra environment variables.
pub fn cli_with_env(
    addr: &str,
    token: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> CliOutput {
    if let Some(token) = token {
        secret_scan::note(token);
    }
    secret_scan::note_in_args(args);
    let mut cmd = Command::new(bin("vault-cli"));
    cmd.args(args)
        .env("VAULT_ADDR", addr)
        .env_remove("VAULT_TOKEN")
        .env_remove("VAULT_FORMAT")
        .env_remove("VAULT_CACERT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    if let Some(token) = token {
        cmd.env("VAULT_TOKEN", token);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("spawn vault-cli");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().expect("vault-cli output");
    if let Ok(answer) = serde_json::from_slice::<Value>(&out.stdout) {
        secret_scan::note_in(&answer);
    }
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The result of `operator init --format json`.
#[derive(Debug, Clone)]
pub struct Init {
    /// Shares, hex.
    pub keys_hex: Vec<String>,
    /// Shares, base64.
    pub keys_b64: Vec<String>,
    /// The root token.
    pub root_token: String,
}

/// Initialises the daemon with `shares`/`threshold` through the CLI.
pub fn init(daemon: &Daemon, shares: u32, threshold: u32) -> Init {
    let out = daemon.cli(
        None,
        &[
            "operator",
            "init",
            "--key-shares",
            &shares.to_string(),
            "--key-threshold",
            &threshold.to_string(),
            "--format",
            "json",
        ],
    );
    out.expect_code(0);
    let json = out.json();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    // (The CLI's answer was noted already: keys and root token.)
    Init {
        keys_hex: strings(&json["unseal_keys_hex"]),
        keys_b64: strings(&json["unseal_keys_b64"]),
        root_token: json["root_token"].as_str().unwrap().to_owned(),
    }
}

/// `operator unseal KEY --format json`.
pub fn unseal(daemon: &Daemon, key: &str) -> CliOutput {
    daemon.cli(None, &["operator", "unseal", "--format", "json", key])
}

/// `status --format json`: (exit code, JSON).
pub fn status(daemon: &Daemon) -> (i32, Value) {
    let out = daemon.cli(None, &["status", "--format", "json"]);
    (out.code, out.json())
}

/// A request carrying `token` in the metadata.
pub fn with_token<T>(token: &str, message: T) -> tonic::Request<T> {
    secret_scan::note(token);
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(vault_proto::TOKEN_METADATA_KEY, token.parse().unwrap());
    request
}

/// Every byte of the SQLite database and its WAL and shared-memory files.
pub fn database_bytes(db: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(bytes) = std::fs::read(PathBuf::from(name)) {
            all.extend(bytes);
        }
    }
    all
}

/// True if `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The value the crash writer stores at `(writer, n)`: distinct per key and long
/// enough to span a few AES blocks.
pub fn crash_value(writer: usize, n: usize) -> Vec<u8> {
    format!("crash-test value of writer {writer}, write {n}; ")
        .repeat(3)
        .into_bytes()
}

/// The path the crash writer stores `(writer, n)` at.
pub fn crash_path(writer: usize, n: usize) -> String {
    format!("crash/w{writer}/{n:06}")
}

/// A daemon initialised 1-of-1 and unsealed, with KV v2 mounted at `secret/`.
pub fn unsealed_with_kv(dir: &Path) -> (Daemon, Init) {
    let daemon = Daemon::start(dir);
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    daemon
        .cli(
            Some(&keys.root_token),
            &["secrets", "enable", "--path", "secret", "kv-v2"],
        )
        .expect_code(0);
    (daemon, keys)
}

/// A channel to `daemon` from the local address `from` (another loopback
/// address, say 127.0.0.2, is another client on this machine).
pub async fn channel_from(daemon: &Daemon, from: &str) -> Channel {
    let from: std::net::IpAddr = from.parse().unwrap();
    tonic::transport::Endpoint::from_shared(daemon.addr.clone())
        .unwrap()
        .local_address(Some(from))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting from {from}: {e}"))
}

/// A gRPC Logical client.
pub async fn logical(daemon: &Daemon) -> vault_proto::v1::logical_client::LogicalClient<Channel> {
    vault_proto::v1::logical_client::LogicalClient::connect(daemon.addr.clone())
        .await
        .expect("connect")
}

/// A Logical request for `path` with a JSON body, carrying `token`.
pub fn logical_request(
    token: &str,
    path: &str,
    body: Value,
) -> tonic::Request<vault_proto::v1::LogicalRequest> {
    secret_scan::note_in(&body);
    with_token(
        token,
        vault_proto::v1::LogicalRequest {
            path: path.into(),
            data_json: body.to_string(),
            ..Default::default()
        },
    )
}

/// The URL of the test PostgreSQL cluster (a superuser on loopback) that
/// `scripts/test` starts. Tests that need PostgreSQL fail, rather than skip,
/// without it.
pub fn postgres_url() -> String {
    std::env::var("VAULT_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("VAULT_TEST_PG_URL is not set: run the suite with ./scripts/test (it starts PostgreSQL), or start one with scripts/pg-start")
    })
}

/// A private PostgreSQL cluster, for tests that stop and start the server (an
/// outage): started with `scripts/pg-start`, removed on drop.
#[derive(Debug)]
pub struct PgCluster {
    /// `postgres://postgres:<password>@127.0.0.1:<port>/postgres`.
    pub url: String,
    dir: PathBuf,
    port: String,
}

impl PgCluster {
    /// Starts a fresh cluster on a free port.
    pub fn start() -> PgCluster {
        let script = workspace_root().join("scripts/pg-start");
        let out = Command::new(&script)
            .output()
            .expect("run scripts/pg-start");
        assert!(
            out.status.success(),
            "pg-start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("pg-start printed no {key}: {text}"))
                .to_owned()
        };
        let url = value("VAULT_TEST_PG_URL=");
        let dir = PathBuf::from(value("VAULT_TEST_PG_DIR="));
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.split('/').next())
            .expect("port in the URL")
            .to_owned();
        PgCluster { url, dir, port }
    }

    /// Stops the server (fast shutdown: sessions are cut), keeping its data.
    pub fn stop_server(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    /// Starts the server again on the same port.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=300 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        self.pg_ctl(&[
            "-l",
            &log.display().to_string(),
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "start",
        ]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries under /usr/lib/postgresql")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin/pg_ctl"))
            .find(|p| p.exists())
            .expect("pg_ctl");
        let data = self.dir.join("data");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        let status = command
            .arg("-D")
            .arg(&data)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl");
        assert!(status.success(), "pg_ctl {args:?} failed");
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new(workspace_root().join("scripts/pg-stop"))
            .arg(&self.dir)
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The workspace's root directory (where `scripts/` is).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// A superuser connection to PostgreSQL at `url`, its connection task spawned.
pub async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to PostgreSQL: {e}"));
    tokio::spawn(connection);
    client
}

/// `postgres://user:password@host:port/db` -> (user, password, host:port).
pub fn pg_url_parts(url: &str) -> (String, String, String) {
    let rest = url.strip_prefix("postgres://").unwrap();
    let (creds, server) = rest.split_once('@').unwrap();
    let (user, password) = creds.split_once(':').unwrap();
    let host = server.split('/').next().unwrap();
    (user.into(), password.into(), host.into())
}

/// The body of `database/config/<name>` for the PostgreSQL at `url`
/// (`postgres://user:password@host:port/db`), connecting as its admin to the
/// `postgres` database, every role allowed.
pub fn pg_database_config(url: &str) -> Value {
    let (user, password, host) = pg_url_parts(url);
    serde_json::json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@{host}/postgres"),
        "username": user,
        "password": password,
        "allowed_roles": "*",
    })
}

/// The login roles whose names start with `prefix`, sorted.
pub async fn pg_roles_with_prefix(admin: &tokio_postgres::Client, prefix: &str) -> Vec<String> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = admin
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1",
            &[&pattern],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// Polls `check` every 100 ms until it returns true or `limit` passes; returns
/// the time it took, or `None` if it never held.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
