//! The official `bao agent` and `bao proxy` (2.7.2) against a real vaultd and
//! PostgreSQL: AppRole auto-auth from role_id/secret_id files, a token sink,
//! templates rendering a KV v2 secret and a database credential to files,
//! the credential's lease renewed by the agent, and the proxy answering a
//! client without a token with its auto-auth token.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers panic to fail the test

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use vault_tests::http::http;
use vault_tests::{Daemon, eventually, init, pg_connect, pg_database_config, pg_url_parts, unseal};

/// How long the agent may take to log in and render; it needs about a second.
const RENDER_LIMIT: Duration = Duration::from_secs(30);

/// A `bao agent` or `bao proxy` process, stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bao <mode> -config=<config>` in `dir`, with nothing from the
/// environment (no token, no address but the config's).
fn start(mode: &str, config: &Path, dir: &Path) -> Running {
    let log = std::fs::File::create(dir.join(format!("{mode}.log"))).unwrap();
    let child = Command::new(vault_tests::bao::binary())
        .arg(mode)
        .arg(format!("-config={}", config.display()))
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn bao");
    Running(child)
}

/// A port nothing listens on now, on loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The auto-auth block both modes use: AppRole from files in their directory.
const AUTO_AUTH: &str = r#"
auto_auth {
  method "approle" {
    config = {
      role_id_file_path = "role_id"
      secret_id_file_path = "secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config = { path = "sink-token" }
  }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_renders_secrets_and_renews_its_credential_and_the_proxy_serves_tokenless_clients()
 {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path());
    let keys = init(&daemon, 1, 1);
    unseal(&daemon, &keys.keys_hex[0]).expect_code(0);
    let root = keys.root_token.as_str();
    let ok = |method, path: &str, body: Value| {
        let (status, answer) = http(&daemon, root, method, path, Some(body));
        assert!(status < 300, "{method} {path}: {status} {answer}");
        answer
    };
    let url = vault_tests::postgres_url();
    let role = format!("agent{}", std::process::id());
    ok("POST", "sys/mounts/secret", json!({"type": "kv-v2"}));
    ok(
        "POST",
        "secret/data/app",
        json!({"data": {"password": "agent-rendered-pw"}}),
    );
    ok("POST", "sys/mounts/database", json!({"type": "database"}));
    ok("POST", "database/config/pg", pg_database_config(&url));
    ok(
        "POST",
        &format!("database/roles/{role}"),
        json!({
            "db_name": "pg",
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
            "username_template": "v-{{.RoleName}}-{{random 10}}",
            "default_ttl": "6s",
            "max_ttl": "5m",
        }),
    );
    ok(
        "PUT",
        "sys/policies/acl/agent",
        json!({"policy": format!(
            "path \"secret/data/app\" {{ capabilities = [\"read\"] }}\n\
             path \"database/creds/{role}\" {{ capabilities = [\"read\"] }}"
        )}),
    );
    ok("POST", "sys/auth/approle", json!({"type": "approle"}));
    ok(
        "POST",
        "auth/approle/role/agent",
        json!({"token_policies": "agent", "token_ttl": "1h"}),
    );
    let role_id = ok("GET", "auth/approle/role/agent/role-id", json!({}))["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id = ok("POST", "auth/approle/role/agent/secret-id", json!({}))["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    vault_tests::secret_scan::note(&secret_id);

    // The agent: auto-auth, a sink, two templates.
    let agent_dir = dir.path().join("agent");
    std::fs::create_dir(&agent_dir).unwrap();
    std::fs::write(agent_dir.join("role_id"), &role_id).unwrap();
    std::fs::write(agent_dir.join("secret_id"), &secret_id).unwrap();
    let config = agent_dir.join("agent.hcl");
    std::fs::write(
        &config,
        format!(
            "vault {{ address = \"{addr}\" }}\n{AUTO_AUTH}\n\
             template {{\n  contents = \"{{{{ with secret \\\"secret/data/app\\\" }}}}{{{{ .Data.data.password }}}}{{{{ end }}}}\"\n  destination = \"app.txt\"\n}}\n\
             template {{\n  contents = \"{{{{ with secret \\\"database/creds/{role}\\\" }}}}{{{{ .Data.username }}}} {{{{ .Data.password }}}} {{{{ .LeaseID }}}}{{{{ end }}}}\"\n  destination = \"db.txt\"\n}}\n",
            addr = daemon.addr
        ),
    )
    .unwrap();
    let _agent = start("agent", &config, &agent_dir);
    let read = |name: &str| std::fs::read_to_string(agent_dir.join(name)).unwrap_or_default();
    let rendered = eventually(RENDER_LIMIT, || async {
        !read("app.txt").is_empty() && read("db.txt").split(' ').count() == 3
    })
    .await;
    assert!(
        rendered.is_some(),
        "the agent rendered nothing in {RENDER_LIMIT:?}: {}",
        read("agent.log")
    );
    assert_eq!(read("app.txt"), "agent-rendered-pw");
    let db = read("db.txt");
    let fields: Vec<&str> = db.split(' ').collect();
    let (db_user, db_password, lease_id) = (fields[0], fields[1], fields[2].to_owned());
    vault_tests::secret_scan::note(db_password);
    assert!(db_user.starts_with(&format!("v-{role}-")), "{db_user}");
    let (user, password, _) = pg_url_parts(&url);
    let login = url.replacen(
        &format!("{user}:{password}"),
        &format!("{db_user}:{db_password}"),
        1,
    );
    let client = pg_connect(&login).await;
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1, "the rendered credential logs in");

    // The sink holds the agent's token, with the agent policy.
    let sink = read("sink-token");
    vault_tests::secret_scan::note(&sink);
    let (_, me) = http(&daemon, sink.trim(), "GET", "auth/token/lookup-self", None);
    assert_eq!(
        me["data"]["policies"],
        json!(["agent", "default"]),
        "{}",
        me["data"]["policies"]
    );

    // The agent renews the 6 s lease: it is still alive well past 6 s, and
    // PostgreSQL's VALID UNTIL moved with it.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let (status, lease) = http(
        &daemon,
        root,
        "PUT",
        "sys/leases/lookup",
        Some(json!({"lease_id": lease_id})),
    );
    assert_eq!(
        status, 200,
        "the lease outlived its 6 s by the agent's renewals: {lease}"
    );
    assert!(!lease["data"]["last_renewal"].is_null(), "{lease}");
    let admin = pg_connect(&url).await;
    let left: f64 = admin
        .query_one(
            "SELECT extract(epoch FROM rolvaliduntil - now())::float8 FROM pg_roles WHERE rolname = $1",
            &[&db_user],
        )
        .await
        .unwrap()
        .get(0);
    assert!(left > 0.0, "VALID UNTIL follows the renewals: {left}s left");

    // Revoked, the role is dropped.
    ok("PUT", "sys/leases/revoke", json!({"lease_id": lease_id}));
    let roles = vault_tests::pg_roles_with_prefix(&admin, db_user).await;
    assert!(
        roles.is_empty(),
        "the revoked credential's role is still there"
    );

    // The proxy: a client without a token is served with the auto-auth token.
    let proxy_dir = dir.path().join("proxy");
    std::fs::create_dir(&proxy_dir).unwrap();
    std::fs::write(proxy_dir.join("role_id"), &role_id).unwrap();
    std::fs::write(proxy_dir.join("secret_id"), &secret_id).unwrap();
    let port = free_port();
    let config = proxy_dir.join("proxy.hcl");
    std::fs::write(
        &config,
        format!(
            "vault {{ address = \"{addr}\" }}\n{AUTO_AUTH}\n\
             api_proxy {{ use_auto_auth_token = true }}\n\
             listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\n",
            addr = daemon.addr
        ),
    )
    .unwrap();
    let _proxy = start("proxy", &config, &proxy_dir);
    let proxied = format!("http://127.0.0.1:{port}/v1/secret/data/app");
    let served = eventually(RENDER_LIMIT, || async {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5", &proxied])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("agent-rendered-pw")
    })
    .await;
    assert!(
        served.is_some(),
        "the proxy did not answer a tokenless read: {}",
        std::fs::read_to_string(proxy_dir.join("proxy.log")).unwrap_or_default()
    );
}
