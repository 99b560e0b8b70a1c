//! `lease lookup|renew|revoke|list|count|watch`: Vault's `lease` commands over
//! `sys/leases/`, plus `--failing` (leases whose revocation is being retried)
//! and `watch` (renews in the background until the lease's max TTL).

use std::io::IsTerminal as _;

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Map, Value, json};

use crate::client::Client;
use crate::logical::{Op, call, data_of, print_keys, print_response};
use crate::output::{Format, print};

/// How often `lease revoke --prefix` looks at what is left.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `revoking` (one server-side revoke-prefix call) while showing, on
/// stderr, how many leases are still listed directly under `prefix` (for a
/// role's prefix, the leases themselves) and the time taken.
async fn with_progress<T>(
    mut watcher: Client,
    prefix: &str,
    revoking: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    use std::io::Write as _;
    let started = std::time::Instant::now();
    let path = format!("sys/leases/lookup/{}/", prefix.trim_matches('/'));
    tokio::pin!(revoking);
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    tick.tick().await;
    let result = loop {
        tokio::select! {
            done = &mut revoking => break done,
            _ = tick.tick() => {
                let left = call(&mut watcher, Op::List, &path, Map::new())
                    .await
                    .ok()
                    .and_then(|r| data_of(&r).ok())
                    .and_then(|d| d.get("keys").and_then(Value::as_array).map(Vec::len));
                eprint!("\r{}", progress_line(prefix, left, started.elapsed()));
                let _ = std::io::stderr().flush();
            }
        }
    };
    if started.elapsed() >= PROGRESS_EVERY {
        eprintln!();
    }
    result
}

/// `revoking under P: N left (Ts)`.
fn progress_line(prefix: &str, left: Option<usize>, elapsed: std::time::Duration) -> String {
    let left = left.map_or_else(|| "?".to_owned(), |n| n.to_string());
    format!(
        "revoking under {prefix}: {left} left ({}s)",
        elapsed.as_secs()
    )
}

#[derive(Debug, Clone, Subcommand)]
pub enum LeaseCommand {
    /// Show a lease: TTL, expiry, state, and revocation attempts if failing.
    Lookup { lease_id: String },
    /// Renew a lease (by its current TTL unless --increment).
    Renew {
        lease_id: String,
        #[arg(long)]
        increment: Option<String>,
    },
    /// Revoke a lease, or every lease under a prefix (--prefix, needs sudo).
    /// --force deletes the leases WITHOUT revoking their secrets (needs sudo).
    Revoke {
        lease_id: String,
        #[arg(long)]
        prefix: bool,
        #[arg(long)]
        force: bool,
    },
    /// List lease ids under a prefix, or the failing leases (--failing).
    List {
        #[arg(default_value = "")]
        prefix: String,
        #[arg(long)]
        failing: bool,
    },
    /// Count leases by state: active, revoking, irrevocable.
    Count,
    /// Keep a lease renewed until its max TTL, printing each renewal.
    Watch {
        lease_id: String,
        #[arg(long)]
        increment: Option<String>,
        /// Revoke the lease when interrupted (Ctrl-C).
        #[arg(long)]
        revoke_on_exit: bool,
    },
}

fn body(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect()
}

pub async fn run(client: &mut Client, format: Format, command: LeaseCommand) -> anyhow::Result<u8> {
    match command {
        LeaseCommand::Lookup { lease_id } => {
            let r = call(
                client,
                Op::Write,
                "sys/leases/lookup",
                body(&[("lease_id", &lease_id)]),
            )
            .await?;
            print_response(format, &r, None)?;
        }
        LeaseCommand::Renew {
            lease_id,
            increment,
        } => {
            let mut data = body(&[("lease_id", &lease_id)]);
            if let Some(i) = increment {
                data.insert("increment".into(), Value::String(i));
            }
            let r = call(client, Op::Write, "sys/leases/renew", data).await?;
            for warning in &r.warnings {
                eprintln!("WARNING! {warning}");
            }
            let rows = [
                ("lease_id", r.lease_id.clone()),
                ("lease_duration", crate::output::duration(r.lease_duration)),
                ("lease_renewable", r.renewable.to_string()),
            ];
            let out = json!({
                "lease_id": r.lease_id,
                "lease_duration": r.lease_duration,
                "renewable": r.renewable,
                "warnings": r.warnings,
            });
            print(format, &rows, &out);
        }
        LeaseCommand::Revoke {
            lease_id,
            prefix,
            force,
        } => {
            let r = if force {
                call(
                    client,
                    Op::Write,
                    &format!("sys/leases/revoke-force/{lease_id}"),
                    Map::new(),
                )
                .await?
            } else if prefix {
                let watcher = client.clone();
                let path = format!("sys/leases/revoke-prefix/{lease_id}");
                let revoking = call(client, Op::Write, &path, Map::new());
                if std::io::stderr().is_terminal() {
                    with_progress(watcher, &lease_id, revoking).await?
                } else {
                    revoking.await?
                }
            } else {
                call(
                    client,
                    Op::Write,
                    "sys/leases/revoke",
                    body(&[("lease_id", &lease_id)]),
                )
                .await?
            };
            if force || prefix {
                print_response(format, &r, None)?;
            } else if format == Format::Table {
                println!("Success! Revoked lease: {lease_id}");
            }
        }
        LeaseCommand::List { prefix, failing } => {
            if failing {
                let r = call(client, Op::Read, "sys/leases/failing", Map::new()).await?;
                let data = data_of(&r)?;
                let leases = data.get("leases").cloned().unwrap_or(json!([]));
                match format {
                    Format::Json => print(format, &[], &leases),
                    // A health question: none failing is the good answer.
                    Format::Table if leases.as_array().is_none_or(Vec::is_empty) => {
                        println!("No lease is failing revocation.");
                    }
                    Format::Table => {
                        for lease in leases.as_array().into_iter().flatten() {
                            let field = |k: &str| match lease.get(k) {
                                Some(Value::String(s)) => s.clone(),
                                Some(Value::Null) | None => "-".into(),
                                Some(v) => v.to_string(),
                            };
                            println!(
                                "{}\tstate={}\tattempts={}\tnext={}\terror={}",
                                field("id"),
                                field("state"),
                                field("attempts"),
                                field("next_attempt"),
                                field("last_error")
                            );
                        }
                    }
                }
            } else {
                let path = format!("sys/leases/lookup/{}", prefix.trim_start_matches('/'));
                let r = call(client, Op::List, &path, Map::new()).await?;
                print_keys(format, &r, &path)?;
            }
        }
        LeaseCommand::Count => {
            let r = call(client, Op::Read, "sys/leases/count", Map::new()).await?;
            print_response(format, &r, None)?;
        }
        LeaseCommand::Watch {
            lease_id,
            increment,
            revoke_on_exit,
        } => {
            if lease_id.is_empty() {
                bail!("lease watch needs a lease id");
            }
            crate::lease_watch::watch(client, format, &lease_id, increment, revoke_on_exit).await?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_progress_line_says_what_is_left() {
        let line = super::progress_line(
            "database/creds/app",
            Some(1200),
            std::time::Duration::from_secs(14),
        );
        assert_eq!(line, "revoking under database/creds/app: 1200 left (14s)");
        let unknown = super::progress_line("x", None, std::time::Duration::ZERO);
        assert!(unknown.contains("? left"));
    }
}
