//! vault-cli: the operator and application CLI. A gRPC client like any
//! application; it knows nothing of vault-core.
//!
//! Exit codes: 0 success; 1 an error; 2 from `status` when the vault is sealed or
//! not initialised (and from bad arguments).
//!
//! A command that a standby turns away, naming the active node, runs once more
//! there ([`leader`]).

#![forbid(unsafe_code)]

mod audit;
mod bench;
mod client;
mod commands;
mod ha;
mod hints;
mod kv;
mod leader;
mod lease;
mod lease_watch;
mod logical;
mod operator;
mod output;
mod stdin_input;
mod token_helper;
mod vault_flags;
mod verify;
#[cfg(test)]
mod verify_props;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::client::{Client, Target};
use crate::kv::KvAction;
use crate::logical::Op;
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
    /// Ask a standby to answer with the active node's address instead of
    /// forwarding the request; the command is then retried there.
    #[arg(
        long,
        global = true,
        env = "VAULT_NO_REQUEST_FORWARDING",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new()
    )]
    no_request_forwarding: bool,
    /// Wrap the answer into a single-use wrapping token that lives this
    /// long ("30s", "5m", seconds); what it holds is taken with `unwrap`.
    #[arg(long = "wrap-ttl", global = true, env = "VAULT_WRAP_TTL")]
    wrap_ttl: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Subcommand)]
enum Command {
    /// Show the seal status (exit 0 unsealed, 2 sealed or uninitialised).
    Status,
    /// Operator commands: init, unseal, seal, rekey, rotate, key-status, step-down,
    /// members.
    #[command(subcommand)]
    Operator(Operator),
    /// Authenticate and store the token in ~/.vault-token.
    Login {
        /// token (default), approle, userpass or ldap.
        #[arg(long, default_value = "token")]
        method: String,
        /// The auth method's mount path (default: the method's name).
        #[arg(long)]
        path: Option<String>,
        /// Do not store the token.
        #[arg(long)]
        no_store: bool,
        /// A login MFA passcode, `METHOD_ID:PASSCODE` (or the method's name
        /// for its id): sent with the login (Vault's `-mfa`, the
        /// `X-Vault-MFA` header). Repeat for several methods.
        #[arg(long)]
        mfa: Vec<String>,
        /// The token (`-`: stdin, `@FILE`: a file, omitted: prompted), or the
        /// method's key=value credentials (role_id=.. secret_id=..,
        /// username=.. [password=..] [totp=..]; a value may be `-` or `@FILE`).
        args: Vec<String>,
    },
    /// Read a path.
    Read {
        path: String,
        /// Query parameters, key=value.
        pairs: Vec<String>,
        /// Print only this field.
        #[arg(long)]
        field: Option<String>,
    },
    /// Write key=value pairs to a path (`@file` and `-` for stdin as values).
    Write {
        path: String,
        pairs: Vec<String>,
        #[arg(long)]
        field: Option<String>,
    },
    /// Take the response a wrapping token holds (once): TOKEN, or the
    /// token in use (VAULT_TOKEN) when omitted; `-` reads it from stdin.
    Unwrap {
        token: Option<String>,
        /// Print only this field.
        #[arg(long)]
        field: Option<String>,
    },
    /// Merge key=value pairs into a path.
    Patch { path: String, pairs: Vec<String> },
    /// List a path's children.
    List { path: String },
    /// Delete a path.
    Delete { path: String },
    /// Key/value secrets (KV version 1 or 2, as the mount is).
    Kv {
        #[command(subcommand)]
        command: KvCommand,
    },
    /// Tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// ACL policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Secrets engines.
    #[command(subcommand)]
    Secrets(MountCommand),
    /// Auth methods.
    #[command(subcommand)]
    Auth(MountCommand),
    /// Leases: lookup, renew, revoke (one, a prefix, or by force), list, count, watch.
    #[command(subcommand)]
    Lease(lease::LeaseCommand),
    /// Audit devices, and the verifier of their logs.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Load-test a running vault: throughput and latency of KV, token, AppRole
    /// and database operations, made under `bench-` names with the root token.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Clone, Subcommand)]
enum AuditCommand {
    /// Enable an audit device of TYPE (file, stdout, socket) with its options.
    Enable {
        kind: String,
        /// The device's name (default: its type).
        #[arg(long)]
        path: Option<String>,
        /// The device's options, key=value (e.g. file_path=/var/log/vault_audit.log).
        options: Vec<String>,
    },
    /// Disable the device NAME.
    Disable { name: String },
    /// List the devices, with their health and last seq.
    List,
    /// The HMAC device NAME writes for INPUT (`-` reads it from stdin), to search
    /// its log for a known value.
    Hash { name: String, input: String },
    /// Verify audit log files offline: a device's files, oldest first. Exit 0 when
    /// they verify, 1 with the first line changed, removed, inserted or moved.
    Verify {
        /// Also ask the vault (VAULT_ADDR, VAULT_TOKEN) to check the checkpoint
        /// signatures and where the log ends; give the live file last.
        #[arg(long, requires = "device")]
        vault: bool,
        /// The device whose log this is, with --vault.
        #[arg(long, requires = "vault")]
        device: Option<String>,
        /// Accept a log that does not end with a shutdown checkpoint, or whose last line
        /// is incomplete (a live or crashed one).
        #[arg(long)]
        allow_open_end: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum KvCommand {
    /// Write a new version.
    Put {
        path: String,
        pairs: Vec<String>,
        /// Check-and-set: the version this write expects to replace (0: none).
        #[arg(long)]
        cas: Option<u64>,
        #[arg(long)]
        mount: Option<String>,
    },
    /// Read the latest (or a given) version.
    Get {
        path: String,
        #[arg(long)]
        version: Option<u64>,
        #[arg(long)]
        mount: Option<String>,
        #[arg(long)]
        field: Option<String>,
    },
    /// Merge into the latest version.
    Patch {
        path: String,
        pairs: Vec<String>,
        #[arg(long)]
        cas: Option<u64>,
        #[arg(long)]
        mount: Option<String>,
    },
    /// Soft-delete the latest version, or --versions.
    Delete {
        path: String,
        #[arg(long)]
        versions: Option<String>,
        #[arg(long)]
        mount: Option<String>,
    },
    /// Restore soft-deleted versions.
    Undelete {
        path: String,
        #[arg(long)]
        versions: String,
        #[arg(long)]
        mount: Option<String>,
    },
    /// Remove versions for good.
    Destroy {
        path: String,
        #[arg(long)]
        versions: String,
        #[arg(long)]
        mount: Option<String>,
    },
    /// Metadata of a key.
    #[command(subcommand)]
    Metadata(KvMetadata),
    /// List keys.
    List {
        path: String,
        #[arg(long)]
        mount: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum KvMetadata {
    Get {
        path: String,
        #[arg(long)]
        mount: Option<String>,
    },
    Delete {
        path: String,
        #[arg(long)]
        mount: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum TokenCommand {
    /// Create a child token (or an orphan with --orphan).
    Create {
        #[arg(long = "policy")]
        policies: Vec<String>,
        #[arg(long)]
        ttl: Option<String>,
        #[arg(long)]
        explicit_max_ttl: Option<String>,
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        use_limit: Option<u64>,
        #[arg(long)]
        orphan: bool,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        no_default_policy: bool,
        /// key=value, repeatable.
        #[arg(long)]
        metadata: Vec<String>,
        #[arg(long)]
        field: Option<String>,
    },
    /// Look up a token (yours when none is given).
    Lookup {
        // Its own id: `token` is the global --token/VAULT_TOKEN, which clap would
        // otherwise fill this argument from.
        /// The token (`-`: stdin, `@FILE`: a file), or an accessor with --accessor.
        #[arg(id = "target_token", value_name = "TOKEN")]
        token: Option<String>,
        /// The argument is an accessor.
        #[arg(long)]
        accessor: bool,
    },
    /// Renew a token (yours when none is given).
    Renew {
        /// The token (`-`: stdin, `@FILE`: a file).
        #[arg(id = "target_token", value_name = "TOKEN")]
        token: Option<String>,
        #[arg(long)]
        increment: Option<String>,
    },
    /// Revoke a token and its children (yours when none is given).
    Revoke {
        /// The token (`-`: stdin, `@FILE`: a file), or an accessor with --accessor.
        #[arg(id = "target_token", value_name = "TOKEN")]
        token: Option<String>,
        #[arg(long)]
        accessor: bool,
        /// `orphan`: revoke only this token; its children stay, as orphans.
        #[arg(long, default_value = "")]
        mode: String,
    },
    /// A token's capabilities on a path: `[TOKEN] PATH` (TOKEN may be `-`
    /// for stdin or `@FILE`).
    Capabilities { args: Vec<String> },
}

#[derive(Debug, Clone, Subcommand)]
enum PolicyCommand {
    /// Upload a policy from a file, or `-` for stdin.
    Write {
        name: String,
        file: String,
    },
    Read {
        name: String,
    },
    List,
    Delete {
        name: String,
    },
}

#[derive(Debug, Clone, Subcommand)]
enum MountCommand {
    /// Enable an engine or method of TYPE.
    Enable {
        kind: String,
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        default_lease_ttl: Option<String>,
        #[arg(long)]
        max_lease_ttl: Option<String>,
        /// KV version (2).
        #[arg(long)]
        version: Option<String>,
    },
    /// Disable the one at PATH (deleting its data).
    Disable { path: String },
    /// List them.
    List,
    /// Change TTL tuning (secrets engines).
    Tune {
        path: String,
        #[arg(long)]
        default_lease_ttl: Option<String>,
        #[arg(long)]
        max_lease_ttl: Option<String>,
    },
}

#[derive(Debug, Clone, Subcommand)]
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
    /// reads it from stdin, `@FILE` from a file: a share given as an argument
    /// is visible to every user of the machine in the process list).
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
    /// Replace the unseal key shares. The new shares take effect only once a
    /// quorum of them has been given back (--verify): until then the current
    /// shares keep opening the vault.
    Rekey {
        /// Start a rekey (a token with sudo on sys/rekey/init).
        #[arg(long, conflicts_with_all = ["status", "cancel", "nonce", "verify"])]
        init: bool,
        /// New share count, with --init.
        #[arg(long, default_value_t = 5)]
        key_shares: u32,
        /// New threshold, with --init.
        #[arg(long, default_value_t = 3)]
        key_threshold: u32,
        /// With --init: the new shares take effect in the answer that hands
        /// them out, without verification. If that answer is lost, nobody
        /// holds a share that opens the vault after its next seal.
        #[arg(long, requires = "init")]
        skip_verification: bool,
        /// The verification step: give one new share (with --nonce, the
        /// verification nonce; without it the root token looks the nonce up),
        /// or with --status / --cancel show or restart the verification.
        #[arg(long)]
        verify: bool,
        /// Show the rekey in progress, or with --verify its verification (root
        /// token).
        #[arg(long, conflicts_with_all = ["cancel", "nonce"])]
        status: bool,
        /// Cancel the rekey in progress (sudo on sys/rekey/); with --verify, only start
        /// its verification over under a new nonce.
        #[arg(long, conflicts_with = "nonce")]
        cancel: bool,
        /// The rekey's nonce, with a current share; with --verify, the
        /// verification nonce, with a new share.
        #[arg(long)]
        nonce: Option<String>,
        /// A current share, with --nonce; a new share with --verify (prompted
        /// without echo when omitted; `-` reads it from stdin, `@FILE` from a
        /// file).
        key: Option<String>,
    },
    /// Install a new keyring term; old data stays readable.
    Rotate,
    /// Show the active keyring term.
    KeyStatus,
    /// Make the active node give up the lock so another takes over (sudo on sys/step-down).
    StepDown,
    /// List the nodes sharing the storage, as they last reported (sudo on sys/ha/members).
    Members,
}

fn main() -> ExitCode {
    let matches = vault_flags::empty_env_unset(Cli::command())
        .get_matches_from(vault_flags::double_dashed(std::env::args_os()));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
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
    let Cli {
        address,
        ca_cert,
        token,
        format,
        no_request_forwarding,
        wrap_ttl,
        command,
    } = cli;
    let shown_address = address.clone();
    let target = Target {
        address,
        ca_cert,
        token,
        no_forward: no_request_forwarding,
        wrap_ttl,
    };
    let outcome = match command {
        // Before any connection: verifying files needs no vault, and with
        // --vault it drives its own calls on the runtime between reads.
        Command::Audit(AuditCommand::Verify {
            vault,
            device,
            allow_open_end,
            files,
        }) => {
            let args = audit::VerifyArgs {
                files,
                vault,
                device,
                allow_open_end,
            };
            audit::verify(&runtime, &target, format, args)
        }
        // On a multi-threaded runtime of its own, against the given address only.
        Command::Bench(args) => bench::run(&target, format, args),
        command => {
            let input_from_stdin = stdin_input::reads_stdin(&command);
            runtime.block_on(leader::follow(target, input_from_stdin, |target| {
                run(target, format, command.clone())
            }))
        }
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.chain().any(|c| c.is::<logical::NoValue>()) => {
            eprintln!("{}", output::error_text(&e));
            ExitCode::from(2)
        }
        Err(e) => {
            match client::tls_expected(&shown_address, &e) {
                Some(said) => eprintln!("{said}"),
                None => eprintln!("{}", output::error_text(&e)),
            }
            if let Some(next) = hints::hint(&e) {
                eprintln!("hint: {next}");
            }
            ExitCode::from(1)
        }
    }
}

async fn run(target: Target, format: Format, command: Command) -> anyhow::Result<u8> {
    let mut client = Client::connect(&target).await?;
    match command {
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
                skip_verification,
                verify,
                status,
                cancel,
                nonce,
                key,
            } => {
                let action = if init {
                    RekeyAction::Init {
                        shares: key_shares,
                        threshold: key_threshold,
                        verify: !skip_verification,
                    }
                } else if verify && status {
                    RekeyAction::VerifyStatus
                } else if verify && cancel {
                    RekeyAction::VerifyCancel
                } else if verify {
                    RekeyAction::Verify { nonce, key }
                } else if status {
                    RekeyAction::Status
                } else if cancel {
                    RekeyAction::Cancel
                } else if let Some(nonce) = nonce {
                    RekeyAction::Update { nonce, key }
                } else {
                    anyhow::bail!(
                        "operator rekey: give --init, --status, --cancel, --nonce with a key, or \
                         --verify"
                    );
                };
                operator::rekey(&mut client, format, action).await
            }
            Operator::Rotate => operator::rotate(&mut client, format).await,
            Operator::KeyStatus => operator::key_status(&mut client, format).await,
            Operator::StepDown => ha::step_down(&mut client, &target.address).await,
            Operator::Members => ha::members(&mut client, format).await,
        },
        Command::Login {
            method,
            path,
            no_store,
            mfa,
            args,
        } => {
            let mut client = client.with_mfa(&mfa);
            commands::login(
                &mut client,
                format,
                &method,
                path.as_deref(),
                &args,
                no_store,
            )
            .await
        }
        Command::Read { path, pairs, field } => {
            logical::run(
                &mut client,
                format,
                Op::Read,
                &path,
                &pairs,
                field.as_deref(),
            )
            .await
        }
        Command::Write { path, pairs, field } => {
            logical::run(
                &mut client,
                format,
                Op::Write,
                &path,
                &pairs,
                field.as_deref(),
            )
            .await
        }
        Command::Unwrap { token, field } => {
            commands::unwrap(&mut client, format, token, field.as_deref()).await
        }
        Command::Patch { path, pairs } => {
            logical::run(&mut client, format, Op::Patch, &path, &pairs, None).await
        }
        Command::List { path } => {
            logical::run(&mut client, format, Op::List, &path, &[], None).await
        }
        Command::Delete { path } => {
            logical::run(&mut client, format, Op::Delete, &path, &[], None).await
        }
        Command::Kv { command } => {
            let (path, mount, action, field) = match command {
                KvCommand::Put {
                    path,
                    pairs,
                    cas,
                    mount,
                } => (path, mount, KvAction::Put { pairs, cas }, None),
                KvCommand::Get {
                    path,
                    version,
                    mount,
                    field,
                } => (path, mount, KvAction::Get { version }, field),
                KvCommand::Patch {
                    path,
                    pairs,
                    cas,
                    mount,
                } => (path, mount, KvAction::Patch { pairs, cas }, None),
                KvCommand::Delete {
                    path,
                    versions,
                    mount,
                } => (path, mount, KvAction::Delete { versions }, None),
                KvCommand::Undelete {
                    path,
                    versions,
                    mount,
                } => (path, mount, KvAction::Undelete { versions }, None),
                KvCommand::Destroy {
                    path,
                    versions,
                    mount,
                } => (path, mount, KvAction::Destroy { versions }, None),
                KvCommand::Metadata(KvMetadata::Get { path, mount }) => {
                    (path, mount, KvAction::MetadataGet, None)
                }
                KvCommand::Metadata(KvMetadata::Delete { path, mount }) => {
                    (path, mount, KvAction::MetadataDelete, None)
                }
                KvCommand::List { path, mount } => (path, mount, KvAction::List, None),
            };
            kv::run(
                &mut client,
                format,
                &path,
                mount.as_deref(),
                action,
                field.as_deref(),
            )
            .await
        }
        Command::Token(command) => match command {
            TokenCommand::Create {
                policies,
                ttl,
                explicit_max_ttl,
                period,
                use_limit,
                orphan,
                display_name,
                no_default_policy,
                metadata,
                field,
            } => {
                let opts = commands::TokenCreate {
                    policies,
                    ttl,
                    explicit_max_ttl,
                    period,
                    use_limit,
                    orphan,
                    display_name,
                    no_default_policy,
                    metadata,
                };
                commands::token_create(&mut client, format, opts, field.as_deref()).await
            }
            TokenCommand::Lookup { token, accessor } => {
                commands::token_lookup(&mut client, format, token, accessor).await
            }
            TokenCommand::Renew { token, increment } => {
                commands::token_renew(&mut client, format, token, increment).await
            }
            TokenCommand::Revoke {
                token,
                accessor,
                mode,
            } => commands::token_revoke(&mut client, token, accessor, mode == "orphan").await,
            TokenCommand::Capabilities { args } => {
                commands::token_capabilities(&mut client, format, &args).await
            }
        },
        Command::Policy(command) => match command {
            PolicyCommand::Write { name, file } => {
                commands::policy_write(&mut client, &name, &file).await
            }
            PolicyCommand::Read { name } => commands::policy_read(&mut client, format, &name).await,
            PolicyCommand::List => commands::policy_list(&mut client, format).await,
            PolicyCommand::Delete { name } => commands::policy_delete(&mut client, &name).await,
        },
        Command::Secrets(command) => mounts(&mut client, format, false, command).await,
        Command::Auth(command) => mounts(&mut client, format, true, command).await,
        Command::Audit(command) => audit_devices(&mut client, format, command).await,
        Command::Lease(command) => lease::run(&mut client, format, command).await,
        Command::Bench(_) => anyhow::bail!("bench runs on its own runtime (see main)"),
    }
}

async fn audit_devices(
    client: &mut Client,
    format: Format,
    command: AuditCommand,
) -> anyhow::Result<u8> {
    match command {
        AuditCommand::Enable {
            kind,
            path,
            options,
        } => audit::enable(client, &kind, path.as_deref(), &options).await,
        AuditCommand::Disable { name } => audit::disable(client, &name).await,
        AuditCommand::List => audit::list(client, format).await,
        AuditCommand::Hash { name, input } => audit::hash(client, format, &name, &input).await,
        AuditCommand::Verify { .. } => {
            anyhow::bail!("audit verify runs before connecting (see main)")
        }
    }
}

async fn mounts(
    client: &mut Client,
    format: Format,
    auth: bool,
    command: MountCommand,
) -> anyhow::Result<u8> {
    match command {
        MountCommand::Enable {
            kind,
            path,
            description,
            default_lease_ttl,
            max_lease_ttl,
            version,
        } => {
            let opts = commands::Enable {
                kind,
                path,
                description,
                default_lease_ttl,
                max_lease_ttl,
                version,
            };
            commands::enable(client, auth, opts).await
        }
        MountCommand::Disable { path } => commands::disable(client, auth, &path).await,
        MountCommand::List => commands::list_mounts(client, format, auth).await,
        MountCommand::Tune {
            path,
            default_lease_ttl,
            max_lease_ttl,
        } => commands::tune(client, &path, default_lease_ttl, max_lease_ttl).await,
    }
}
