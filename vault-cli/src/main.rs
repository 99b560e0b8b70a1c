//! vault-cli: the operator and application CLI. A gRPC client like any
//! application; it knows nothing of vault-core.
//!
//! Exit codes: 0 success; 1 an error; 2 from `status` when the vault is sealed or
//! not initialised (and from bad arguments).

#![forbid(unsafe_code)]

mod client;
mod operator;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::{Client, Target};
use crate::operator::RekeyAction;
use crate::output::Format;

#[derive(Debug, Parser)]
#[command(name = "vault-cli", version, about = "Operate and use the vault")]
struct Cli {
    /// The vault's address.
    #[arg(
        long,
        global = true,
        env = "VAULT_ADDR",
        default_value = "http://127.0.0.1:8200"
    )]
    address: String,
    /// A PEM file of the CA that signed the vault's certificate.
    #[arg(long = "ca-cert", global = true, env = "VAULT_CACERT")]
    ca_cert: Option<PathBuf>,
    /// The token to authenticate with.
    #[arg(long, global = true, env = "VAULT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Output format.
    #[arg(
        long,
        global = true,
        env = "VAULT_FORMAT",
        value_enum,
        default_value = "table"
    )]
    format: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the seal status (exit 0 unsealed, 2 sealed or uninitialised).
    Status,
    /// Operator commands: init, unseal, seal, rekey, rotate, key-status.
    #[command(subcommand)]
    Operator(Operator),
}

#[derive(Debug, Subcommand)]
enum Operator {
    /// Initialise the vault: split a new unseal key into shares.
    Init {
        /// Shares to split the unseal key into (1..=255).
        #[arg(long, default_value_t = 5)]
        key_shares: u32,
        /// Shares needed to unseal (at least 2 when there are several shares).
        #[arg(long, default_value_t = 3)]
        key_threshold: u32,
    },
    /// Give one unseal key share (prompted without echo when KEY is omitted; `-`
    /// reads it from stdin).
    Unseal {
        /// The share, hex or base64.
        key: Option<String>,
        /// Abandon the current attempt (needs --nonce or the root token).
        #[arg(long)]
        reset: bool,
        /// The attempt's nonce, for --reset.
        #[arg(long, requires = "reset")]
        nonce: Option<String>,
    },
    /// Seal the vault: every key leaves memory.
    Seal,
    /// Replace the unseal key shares.
    Rekey {
        /// Start a rekey (root token).
        #[arg(long, conflicts_with_all = ["status", "cancel", "nonce"])]
        init: bool,
        /// New share count, with --init.
        #[arg(long, default_value_t = 5)]
        key_shares: u32,
        /// New threshold, with --init.
        #[arg(long, default_value_t = 3)]
        key_threshold: u32,
        /// Show the rekey in progress (root token).
        #[arg(long, conflicts_with_all = ["cancel", "nonce"])]
        status: bool,
        /// Cancel the rekey in progress (root token).
        #[arg(long, conflicts_with = "nonce")]
        cancel: bool,
        /// The rekey's nonce, with a current share.
        #[arg(long)]
        nonce: Option<String>,
        /// A current share, with --nonce.
        key: Option<String>,
    },
    /// Install a new keyring term; old data stays readable.
    Rotate,
    /// Show the active keyring term.
    KeyStatus,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let target = Target {
        address: cli.address,
        ca_cert: cli.ca_cert,
        token: cli.token,
    };
    let mut client = Client::connect(&target).await?;
    let format = cli.format;
    match cli.command {
        Command::Status => operator::status(&mut client, format).await,
        Command::Operator(op) => match op {
            Operator::Init {
                key_shares,
                key_threshold,
            } => operator::init(&mut client, format, key_shares, key_threshold).await,
            Operator::Unseal { key, reset, nonce } => {
                operator::unseal(&mut client, format, key, reset, nonce).await
            }
            Operator::Seal => operator::seal(&mut client, format).await,
            Operator::Rekey {
                init,
                key_shares,
                key_threshold,
                status,
                cancel,
                nonce,
                key,
            } => {
                let action = if init {
                    RekeyAction::Init {
                        shares: key_shares,
                        threshold: key_threshold,
                    }
                } else if status {
                    RekeyAction::Status
                } else if cancel {
                    RekeyAction::Cancel
                } else if let Some(nonce) = nonce {
                    RekeyAction::Update { nonce, key }
                } else {
                    anyhow::bail!(
                        "operator rekey: give --init, --status, --cancel, or --nonce with a key"
                    );
                };
                operator::rekey(&mut client, format, action).await
            }
            Operator::Rotate => operator::rotate(&mut client, format).await,
            Operator::KeyStatus => operator::key_status(&mut client, format).await,
        },
    }
}
