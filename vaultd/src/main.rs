//! vaultd: the vault daemon. Reads its TOML config (or `--dev`), opens the storage,
//! and serves the gRPC API until SIGTERM or SIGINT.
//!
//! Exit codes: 0 clean shutdown; 1 runtime failure; 2 bad configuration or
//! arguments; 3 the storage is not a vault database (a SQLite file or PostgreSQL table
//! that is not ours) or is corrupt.

#![forbid(unsafe_code)]

mod accept;
mod admission;
mod config;
mod config_error;
mod dispatch;
mod forward;
mod ha_config;
mod health;
mod http;
mod hygiene;
mod logical;
mod logical_wire;
mod metrics_json;
mod otlp;
mod process_metrics;
mod rate_limit_config;
mod run_to_end;
mod seal_calls;
mod serve;
mod server;
mod status;
mod sys;
mod sys_answers;
mod tls;
mod trace;
mod ui;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use vault_core::ha::HaNode;
use vault_core::storage::{Backend, PostgresBackend, SqliteBackend, StorageError};
use vault_core::{Vault, VaultError, VaultOptions};

use crate::forward::Forwarder;

use crate::config::{
    Config, ConfigError, ListenerConfig, PG_URL_ENV, StorageChoice, StorageConfig,
};

#[derive(Debug, Parser)]
#[command(name = "vaultd", version, about = "The vault daemon")]
struct Args {
    /// The TOML config file.
    #[arg(long, short, required_unless_present = "dev")]
    config: Option<PathBuf>,
    /// Start an initialised, unsealed server on loopback with a throw-away SQLite
    /// file, and print its unseal key and root token. Never for production.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
    /// The address of the dev server.
    #[arg(long, default_value = "127.0.0.1:8200", requires = "dev")]
    dev_listen_address: String,
}

fn main() -> ExitCode {
    // Before anything secret exists in memory.
    if let Err(e) = hygiene::forbid_core_dumps() {
        eprintln!("vaultd: cannot turn core dumps off: {e}");
        return ExitCode::from(1);
    }
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vaultd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vaultd: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<ConfigError>() {
            return 2;
        }
        let storage = cause.downcast_ref::<StorageError>().or_else(|| {
            match cause.downcast_ref::<VaultError>() {
                Some(VaultError::Storage(s)) => Some(s),
                _ => None,
            }
        });
        if storage.is_some_and(StorageError::is_corruption) {
            return 3;
        }
    }
    1
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Kept alive until exit: dropping it deletes the dev server's data.
    let mut dev_dir = None;
    let config = if args.dev {
        let dir = tempfile::Builder::new()
            .prefix("vaultd-dev-")
            .tempdir()
            .context("creating the dev data directory")?;
        let config = Config {
            listener: ListenerConfig {
                address: args.dev_listen_address.clone(),
                http_address: None,
                tls_cert_file: None,
                tls_key_file: None,
                // Dev mode is plaintext, on loopback unless its address says otherwise.
                tls_disable: true,
                allow_plaintext_non_loopback: false,
                ..ListenerConfig::default()
            },
            storage: StorageConfig::sqlite(dir.path().join("vault.db")),
            log_level: "info".into(),
            log_format: None,
            raw_storage_endpoint: true,
            audit: Vec::new(),
            // As OpenBao's: no audit device through the API, dev mode or not.
            unsafe_allow_api_audit_creation: false,
            allowed_audit_file_dir: None,
            expiration: Default::default(),
            ha: Default::default(),
            disable_mlock: false,
            rate_limit: Default::default(),
            telemetry: Default::default(),
            ui: true,
        };
        config.check()?;
        dev_dir = Some(dir);
        config
    } else {
        // clap guarantees --config when --dev is absent.
        let path = args
            .config
            .as_deref()
            .ok_or_else(|| ConfigError("--config is required".into()))?;
        Config::load(path)?
    };
    init_logging(&config.log_level, config.json_logs()?);
    match hygiene::lock_memory(config.disable_mlock) {
        hygiene::MemoryLock::Locked => tracing::info!("memory locked: nothing is swapped out"),
        hygiene::MemoryLock::Disabled => {
            tracing::info!("memory not locked (disable_mlock = true): keys may reach swap")
        }
        hygiene::MemoryLock::Refused(why) => tracing::warn!(
            reason = %why,
            "memory could not be locked, so keys may reach swap; give vaultd CAP_IPC_LOCK or a \
             larger RLIMIT_MEMLOCK, or set disable_mlock = true to accept it"
        ),
    }

    let tls = config.tls_files();
    let address = config.address()?;
    let limits = config.limits()?;
    let (backend, postgres, storage_name) = open_storage(&config.storage).await?;
    let ha_enabled = config.ha.enabled;
    let vault = Vault::with_options(
        backend,
        VaultOptions {
            raw_storage: config.raw_storage_endpoint,
            audit_devices: config.audit.clone(),
            expiration: config.expiration.options()?,
            standby: ha_enabled,
            node_id: config.ha.node_id.clone().filter(|_| ha_enabled),
            rate_limits: config.rate_limit.limits()?,
            ..VaultOptions::default()
        },
    );
    let vault = Arc::new(vault.with_api_audit(config.api_audit_policy()?));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let forward = match postgres.filter(|_| ha_enabled) {
        None => Forwarder::none(),
        Some(pg) => {
            let options = config.ha.options(bound, scheme)?;
            let ca = match &config.ha.tls_ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    ConfigError(format!(
                        "cannot read ha.tls_ca_file {}: {e}",
                        path.display()
                    ))
                })?),
                None => None,
            };
            tracing::info!(node_id = %options.node_id, advertise = %options.advertise, "high availability on");
            let node = HaNode::new(Arc::clone(&vault), pg, options)
                .await
                .context("preparing high availability")?;
            let node = Arc::new(node);
            vault.attach_ha(&node);
            Forwarder::new(node, config.ha.forwarding(), ca)
        }
    };

    if dev_dir.is_some() {
        print_dev_banner(&vault, &format!("{scheme}://{bound}")).await?;
    }
    // Tests and scripts wait for this line.
    println!("vaultd: listening on {scheme}://{bound}");
    std::io::stdout().flush().ok();
    let mut listeners = vec![listener];
    if let Some(second) = config.http_address()? {
        let extra = tokio::net::TcpListener::bind(second)
            .await
            .with_context(|| format!("binding listener.http_address {second}"))?;
        let extra_bound = extra.local_addr().context("reading the bound address")?;
        println!("vaultd: also listening on {scheme}://{extra_bound}");
        std::io::stdout().flush().ok();
        listeners.push(extra);
    }
    tracing::info!(address = %bound, storage = %storage_name, "vaultd started");

    let serving = server::Serving {
        listeners,
        tls,
        ui: config.ui,
    };
    server::run(
        vault,
        serving,
        forward,
        limits,
        config.telemetry.telemetry()?,
        server::shutdown_signal(),
    )
    .await?;
    drop(dev_dir);
    tracing::info!("vaultd stopped");
    Ok(())
}

/// The opened store, the PostgreSQL one again (for HA) if that is what it
/// is, and a name for the log (never the URL).
type Opened = (Arc<dyn Backend>, Option<Arc<PostgresBackend>>, String);

/// Opens the configured store.
async fn open_storage(storage: &StorageConfig) -> anyhow::Result<Opened> {
    match storage.choice(std::env::var(PG_URL_ENV).ok())? {
        StorageChoice::Sqlite(path) => {
            let backend = SqliteBackend::open(&path)
                .with_context(|| format!("opening storage {}", path.display()))?;
            Ok((Arc::new(backend), None, path.display().to_string()))
        }
        StorageChoice::Postgres(options) => {
            let name = format!("postgres table {}", options.table);
            let backend = Arc::new(
                PostgresBackend::connect(options)
                    .await
                    .with_context(|| format!("opening storage: {name}"))?,
            );
            Ok((backend.clone(), Some(backend), name))
        }
    }
}

/// Initialises and unseals the dev server, and prints how to reach it.
async fn print_dev_banner(vault: &Vault, address: &str) -> anyhow::Result<()> {
    let init = vault
        .init(1, 1)
        .await
        .context("initialising the dev server")?;
    let share = init.shares.first().context("init returned no share")?;
    vault
        .unseal(share.to_base64().expose_secret())
        .await
        .context("unsealing the dev server")?;
    // As Vault's dev server: KV version 2 at secret/.
    let mut body = vault_core::request::Data::new();
    body.insert("type".into(), "kv-v2".into());
    vault
        .handle(
            vault_core::request::Request::new(
                vault_core::request::Operation::Update,
                "sys/mounts/secret",
            )
            .with_token(init.root_token.expose_secret())
            .with_data(body),
        )
        .await
        .context("mounting kv at secret/ on the dev server")?;
    println!(
        "WARNING: dev mode. The vault is unsealed, in memory of a temp dir, and its data \
         is deleted on exit. Never use it for real secrets.\n\n\
         \x20   export VAULT_ADDR='{address}'\n\
         \x20   export VAULT_TOKEN='{token}'\n\n\
         Unseal Key: {}\n\
         Root Token: {token}\n",
        share.to_base64().expose_secret(),
        token = init.root_token.expose_secret()
    );
    Ok(())
}

fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    if json {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }
}
