//! `lease watch LEASE_ID`: keeps a lease alive until its max TTL with
//! vault-client's `LeaseWatcher`, printing one line per event (one JSON object
//! per line with `--format json`) on stdout. Returns once the lease has been
//! revoked or has expired (after a capped renewal too); on Ctrl-C it revokes
//! the lease if `--revoke-on-exit`, else leaves it to expire.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde_json::json;
use vault_client::{GrpcLeases, LeaseWatcher, Token, WatchEvent, WatchOptions, parse_duration};

use crate::client::Client;
use crate::output::{Format, duration};

/// Watches `lease_id` until it ends or the user presses Ctrl-C.
pub async fn watch(
    client: &Client,
    format: Format,
    lease_id: &str,
    increment: Option<String>,
    revoke_on_exit: bool,
) -> anyhow::Result<()> {
    let increment = increment
        .as_deref()
        .map(parse_duration)
        .transpose()
        .context("--increment")?;
    let leases = GrpcLeases::new(client.logical.clone(), token_of(client)?);
    let lease = leases.lookup(lease_id).await?;
    eprintln!(
        "Watching lease {lease_id}: ttl {}, {}",
        duration(lease.lease_duration.as_secs()),
        if lease.renewable {
            "renewable"
        } else {
            "not renewable"
        }
    );
    // Not `revoke_on_drop`: the runtime ends with the command, before a
    // revocation spawned at the drop could finish. With --revoke-on-exit,
    // every way out below revokes explicitly.
    let options = WatchOptions {
        increment,
        ..WatchOptions::default()
    };
    let mut watcher = LeaseWatcher::spawn(Arc::new(leases), lease, options);

    match follow(&mut watcher, format).await {
        Ok(Ended::Finished) => Ok(()),
        Ok(Ended::Interrupted) if revoke_on_exit => {
            revoke(&watcher).await?;
            finish_revoked(&mut watcher, format).await
        }
        Ok(Ended::Interrupted) => {
            eprintln!(
                "Interrupted: lease {lease_id} is left to expire (--revoke-on-exit revokes it)"
            );
            Ok(())
        }
        // Leaving early (stdout closed, no Ctrl-C handler) is an exit too.
        Err(error) if revoke_on_exit => {
            match revoke(&watcher).await {
                Ok(()) => eprintln!("Lease {lease_id} revoked"),
                Err(revoke_error) => {
                    eprintln!("Could not revoke lease {lease_id}: {revoke_error:#}")
                }
            }
            Err(error)
        }
        Err(error) => Err(error),
    }
}

enum Ended {
    /// The lease expired or was revoked.
    Finished,
    /// The user pressed Ctrl-C.
    Interrupted,
}

/// Prints events until the watch ends or the user interrupts it.
async fn follow(watcher: &mut LeaseWatcher, format: Format) -> anyhow::Result<Ended> {
    // One listener for the whole watch, so a Ctrl-C between two events is not missed.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let event = tokio::select! {
            event = watcher.next_event() => event,
            signal = &mut interrupted => {
                signal.context("listening for Ctrl-C")?;
                return Ok(Ended::Interrupted);
            }
        };
        let Some(event) = event else {
            bail!("the lease watcher stopped without a last event");
        };
        print_event(format, watcher.lease_id(), &event)?;
        if matches!(event, WatchEvent::Expired | WatchEvent::Revoked) {
            return Ok(Ended::Finished);
        }
    }
}

/// Revokes the lease now; a second Ctrl-C gives up waiting for the vault.
async fn revoke(watcher: &LeaseWatcher) -> anyhow::Result<()> {
    tokio::select! {
        result = watcher.revoke() => Ok(result?),
        // Once listened for, Ctrl-C no longer kills the process: a vault that
        // does not answer must not leave the user without a way out.
        _ = tokio::signal::ctrl_c() => bail!(
            "interrupted again: lease {} may not have been revoked",
            watcher.lease_id()
        ),
    }
}

/// Prints what the watch had left to say; it ends right after a revocation.
async fn finish_revoked(watcher: &mut LeaseWatcher, format: Format) -> anyhow::Result<()> {
    let lease_id = watcher.lease_id().to_owned();
    let mut revoked = false;
    while let Some(event) = watcher.next_event().await {
        revoked |= matches!(event, WatchEvent::Revoked);
        print_event(format, &lease_id, &event)?;
    }
    if !revoked {
        // The watch had ended before the revocation, so it could not say so.
        print_event(format, &lease_id, &WatchEvent::Revoked)?;
    }
    Ok(())
}

fn print_event(format: Format, lease_id: &str, event: &WatchEvent) -> anyhow::Result<()> {
    let line = match format {
        Format::Json => {
            let object = match event {
                WatchEvent::Renewed { ttl } => {
                    json!({ "event": "renewed", "lease_id": lease_id, "ttl": ttl.as_secs() })
                }
                WatchEvent::Capped { ttl } => {
                    json!({ "event": "capped", "lease_id": lease_id, "ttl": ttl.as_secs() })
                }
                WatchEvent::RenewFailed { error, ttl_left } => json!({
                    "event": "renew_failed",
                    "lease_id": lease_id,
                    "ttl_left": ttl_left.as_secs(),
                    "error": error.to_string(),
                }),
                WatchEvent::Expired => json!({ "event": "expired", "lease_id": lease_id }),
                WatchEvent::Revoked => json!({ "event": "revoked", "lease_id": lease_id }),
            };
            object.to_string()
        }
        Format::Table => match event {
            WatchEvent::Renewed { ttl } => format!("renewed       ttl={}", duration(ttl.as_secs())),
            WatchEvent::Capped { ttl } => format!(
                "capped        ttl={} (the lease ends at its max TTL: get new credentials before then)",
                duration(ttl.as_secs())
            ),
            WatchEvent::RenewFailed { error, ttl_left } => format!(
                "renew-failed  ttl_left={} error={error}",
                duration(ttl_left.as_secs())
            ),
            WatchEvent::Expired => "expired".to_owned(),
            WatchEvent::Revoked => "revoked".to_owned(),
        },
    };
    // Not println!: it panics when stdout is closed (e.g. piped to `head`).
    writeln!(std::io::stdout().lock(), "{line}").context("writing to stdout")
}

/// The token `client` authenticates with. `Client` keeps it private and only
/// attaches it to requests; taking it from one reuses its rules for finding
/// the token (VAULT_TOKEN, then the token helper) rather than repeating them.
fn token_of(client: &Client) -> anyhow::Result<Token> {
    let request = client.request(())?;
    match request.metadata().get(vault_proto::TOKEN_METADATA_KEY) {
        Some(value) => Ok(Token::from(value.clone())),
        None => bail!("lease watch needs a token: set VAULT_TOKEN or run `vault-cli login`"),
    }
}
