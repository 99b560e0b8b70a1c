//! `status` and the `operator` commands: init, unseal, seal, rekey, rotate,
//! key-status (step-down and members are in [`crate::ha`]).

use anyhow::{Context, bail};
use serde_json::json;
use vault_proto::v1::*;

use crate::client::{Client, failed as fail};
use crate::output::{Format, or_na, print};

/// What a command wants the process to exit with.
pub type Exit = u8;

fn status_rows(s: &SealStatusResponse) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Seal Type", s.r#type.clone()),
        ("Initialized", s.initialized.to_string()),
        ("Sealed", s.sealed.to_string()),
        ("Total Shares", s.n.to_string()),
        ("Threshold", s.t.to_string()),
    ];
    if s.sealed {
        rows.push(("Unseal Progress", format!("{}/{}", s.progress, s.t)));
        rows.push(("Unseal Nonce", or_na(&s.nonce)));
    }
    rows.push(("Version", s.version.clone()));
    rows.push(("Storage Type", s.storage_type.clone()));
    if !s.sealed {
        rows.push((
            "Degraded",
            if s.degraded.is_empty() {
                "false".into()
            } else {
                s.degraded.join("; ")
            },
        ));
    }
    rows
}

/// `status`: exit 0 unsealed, 2 sealed or uninitialised (1 is left to errors).
pub async fn status(client: &mut Client, format: Format) -> anyhow::Result<Exit> {
    let request = client.request(SealStatusRequest {})?;
    let s = client
        .sys
        .seal_status(request)
        .await
        .map_err(|e| fail("Error checking seal status", e))?
        .into_inner();
    let mut rows = status_rows(&s);
    rows.extend(crate::ha::status_rows(&s));
    let mut json = vault_proto::vault_json::seal_status(&s);
    crate::ha::add_status_json(&s, &mut json);
    if s.initialized
        && !s.sealed
        && let Some((revoking, irrevocable)) = failing_leases(client).await
    {
        rows.push(("Leases Revoking", revoking.to_string()));
        rows.push(("Leases Irrevocable", irrevocable.to_string()));
        json["leases_revoking"] = json!(revoking);
        json["leases_irrevocable"] = json!(irrevocable);
    }
    print(format, &rows, &json);
    Ok(if s.initialized && !s.sealed { 0 } else { 2 })
}

/// Leases whose revocation keeps failing, when the caller's token may see them
/// (`sys/leases/count`); `None` otherwise: status needs no token.
async fn failing_leases(client: &mut Client) -> Option<(u64, u64)> {
    let mut body = serde_json::Map::new();
    body.insert("failing_only".into(), json!(true));
    let response = crate::logical::call(client, crate::logical::Op::Read, "sys/leases/count", body)
        .await
        .ok()?;
    let data = crate::logical::data_of(&response).ok()?;
    Some((
        data.get("revoking")?.as_u64()?,
        data.get("irrevocable")?.as_u64()?,
    ))
}

pub async fn init(
    client: &mut Client,
    format: Format,
    shares: u32,
    threshold: u32,
) -> anyhow::Result<Exit> {
    let request = client.request(InitRequest {
        secret_shares: shares,
        secret_threshold: threshold,
    })?;
    let out = client
        .sys
        .init(request)
        .await
        .map_err(|e| fail("Error initializing", e))?
        .into_inner();
    match format {
        Format::Json => print(
            format,
            &[],
            &json!({
                "unseal_keys_b64": out.unseal_keys_b64,
                "unseal_keys_hex": out.unseal_keys_hex,
                "unseal_shares": out.unseal_shares,
                "unseal_threshold": out.unseal_threshold,
                "root_token": out.root_token,
            }),
        ),
        Format::Table => {
            for (i, key) in out.unseal_keys_b64.iter().enumerate() {
                println!("Unseal Key {}: {key}", i + 1);
            }
            println!("\nInitial Root Token: {}\n", out.root_token);
            println!(
                "Vault initialized with {} key shares and a key threshold of {}. Give each share \
                 to a different person and keep them apart: any {} of them unseal the vault.\n\
                 The vault is sealed after init; unseal it with `vault-cli operator unseal`.",
                out.unseal_shares, out.unseal_threshold, out.unseal_threshold
            );
        }
    }
    Ok(0)
}

/// Reads a share: the argument, or `-`/nothing from stdin (a hidden prompt when
/// stdin is a terminal).
/// A share: the argument, `@FILE` (read from the file, so it is not on the
/// command line where `ps` shows it), `-` or nothing (stdin, or a prompt
/// without echo on a terminal).
fn read_key(key: Option<String>, prompt: &str) -> anyhow::Result<String> {
    match key.as_deref() {
        Some(k) if k.starts_with('@') => {
            let path = &k[1..];
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the key from {path}"))?;
            Ok(text.trim().to_owned())
        }
        Some(k) if k != "-" => Ok(k.to_owned()),
        _ => crate::stdin_input::secret_line(prompt, "key"),
    }
}

pub async fn unseal(
    client: &mut Client,
    format: Format,
    key: Option<String>,
    reset: bool,
    nonce: Option<String>,
) -> anyhow::Result<Exit> {
    let message = if reset {
        UnsealRequest {
            key: String::new(),
            reset: true,
            nonce: nonce.unwrap_or_default(),
        }
    } else {
        let key = read_key(key, "Unseal Key (will be hidden): ")?;
        if key.is_empty() {
            bail!("no unseal key given");
        }
        UnsealRequest {
            key,
            reset: false,
            nonce: String::new(),
        }
    };
    let request = client.request(message)?;
    let out = client
        .sys
        .unseal(request)
        .await
        .map_err(|e| fail("Error unsealing", e))?
        .into_inner();
    let mut status = out.status.unwrap_or_default();
    if !out.nonce.is_empty() {
        status.nonce = out.nonce.clone();
    }
    // The same rows as `status` shows, HA's included.
    let mut rows = status_rows(&status);
    rows.extend(crate::ha::status_rows(&status));
    let mut json = vault_proto::vault_json::seal_status(&status);
    crate::ha::add_status_json(&status, &mut json);
    json["duplicate"] = json!(out.duplicate);
    if out.duplicate {
        rows.push((
            "Note",
            "this share was already given in this attempt; progress is unchanged".into(),
        ));
        eprintln!("Warning: this share was already given in this attempt; it did not count again");
    }
    print(format, &rows, &json);
    Ok(0)
}

pub async fn seal(client: &mut Client, format: Format) -> anyhow::Result<Exit> {
    let request = client.request(SealRequest {})?;
    client
        .sys
        .seal(request)
        .await
        .map_err(|e| fail("Error sealing", e))?;
    match format {
        Format::Json => print(format, &[], &json!({ "sealed": true })),
        Format::Table => println!("Success! Vault is sealed."),
    }
    Ok(0)
}

fn rekey_rows(s: &RekeyStatusResponse) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Nonce", or_na(&s.nonce)),
        ("Started", s.started.to_string()),
        ("Rekey Progress", format!("{}/{}", s.progress, s.required)),
        ("New Shares", s.new_shares.to_string()),
        ("New Threshold", s.new_threshold.to_string()),
        ("Verification Required", s.verification_required.to_string()),
    ];
    if !s.verification_nonce.is_empty() {
        rows.push(("Verification Nonce", s.verification_nonce.clone()));
    }
    rows
}

fn rekey_json(s: &RekeyStatusResponse) -> serde_json::Value {
    json!({
        "nonce": s.nonce,
        "started": s.started,
        "t": s.t,
        "n": s.n,
        "progress": s.progress,
        "required": s.required,
        "new_shares": s.new_shares,
        "new_threshold": s.new_threshold,
        "verification_required": s.verification_required,
        "verification_nonce": s.verification_nonce,
    })
}

fn verify_rows(s: &RekeyVerifyStatusResponse) -> Vec<(&'static str, String)> {
    vec![
        ("Verification Nonce", or_na(&s.nonce)),
        ("Started", s.started.to_string()),
        ("Verification Progress", format!("{}/{}", s.progress, s.t)),
        ("New Shares", s.n.to_string()),
        ("New Threshold", s.t.to_string()),
    ]
}

/// Vault's field names for sys/rekey/verify.
fn verify_json(s: &RekeyVerifyStatusResponse) -> serde_json::Value {
    json!({
        "nonce": s.nonce,
        "started": s.started,
        "t": s.t,
        "n": s.n,
        "progress": s.progress,
    })
}

/// What `operator rekey` was asked to do.
#[derive(Debug)]
pub enum RekeyAction {
    /// `verify`: the new shares wait for a quorum of them to come back.
    Init {
        shares: u32,
        threshold: u32,
        verify: bool,
    },
    Status,
    Cancel,
    Update {
        nonce: String,
        key: Option<String>,
    },
    /// One new share; without a nonce, the root token looks it up.
    Verify {
        nonce: Option<String>,
        key: Option<String>,
    },
    VerifyStatus,
    VerifyCancel,
}

pub async fn rekey(
    client: &mut Client,
    format: Format,
    action: RekeyAction,
) -> anyhow::Result<Exit> {
    let status = match action {
        RekeyAction::Init {
            shares,
            threshold,
            verify,
        } => {
            let request = client.request(RekeyInitRequest {
                secret_shares: shares,
                secret_threshold: threshold,
                skip_verification: !verify,
            })?;
            let status = client
                .sys
                .rekey_init(request)
                .await
                .map_err(|e| fail("Error starting the rekey", e))?;
            if !verify {
                eprintln!(
                    "Warning: verification skipped: the new shares take effect in the answer that \
                     hands them out. If that answer is lost on its way (a dropped connection, a \
                     closed terminal), the old shares no longer open the vault and nobody holds \
                     the new ones: after its next seal the vault cannot be unsealed."
                );
            }
            status
        }
        RekeyAction::Status => {
            let request = client.request(RekeyStatusRequest {})?;
            let s = client
                .sys
                .rekey_status(request)
                .await
                .map_err(|e| fail("Error reading the rekey status", e))?
                .into_inner();
            let mut rows = rekey_rows(&s);
            let mut json = rekey_json(&s);
            if !s.verification_nonce.is_empty() {
                let v = verify_status(client).await?;
                rows.push(("Verification Progress", format!("{}/{}", v.progress, v.t)));
                json["verification_progress"] = json!(v.progress);
            }
            print(format, &rows, &json);
            return Ok(0);
        }
        RekeyAction::Cancel => {
            let request = client.request(RekeyCancelRequest {})?;
            client
                .sys
                .rekey_cancel(request)
                .await
                .map_err(|e| fail("Error cancelling the rekey", e))?;
            println!(
                "Success! Canceled rekeying (if it was started); the current shares stay in effect"
            );
            return Ok(0);
        }
        RekeyAction::Update { nonce, key } => {
            let key = read_key(key, "Rekey Key (will be hidden): ")?;
            let request = client.request(RekeyUpdateRequest { nonce, key })?;
            let out = client
                .sys
                .rekey_update(request)
                .await
                .map_err(|e| fail("Error posting unseal key", e))?
                .into_inner();
            return Ok(print_rekey_update(format, &out));
        }
        RekeyAction::Verify { nonce, key } => {
            let nonce = match nonce {
                Some(nonce) => nonce,
                None => verification_nonce(client).await?,
            };
            let key = read_key(key, "New Unseal Key (will be hidden): ")?;
            if key.is_empty() {
                bail!("no key given");
            }
            let request = client.request(RekeyVerifyRequest { nonce, key })?;
            let out = client
                .sys
                .rekey_verify(request)
                .await
                .map_err(|e| fail("Error verifying the new shares", e))?
                .into_inner();
            return Ok(print_rekey_verify(format, &out));
        }
        RekeyAction::VerifyStatus => {
            let s = verify_status(client).await?;
            print(format, &verify_rows(&s), &verify_json(&s));
            return Ok(0);
        }
        RekeyAction::VerifyCancel => {
            let request = client.request(RekeyVerifyCancelRequest {})?;
            let s = client
                .sys
                .rekey_verify_cancel(request)
                .await
                .map_err(|e| fail("Error restarting the verification", e))?
                .into_inner();
            if format == Format::Table {
                println!(
                    "Success! Verification restarted: new shares given so far were dropped. The \
                     rekey and its new shares stay; give them with the new verification nonce.\n"
                );
            }
            print(format, &verify_rows(&s), &verify_json(&s));
            return Ok(0);
        }
    };
    let s = status.into_inner();
    print(format, &rekey_rows(&s), &rekey_json(&s));
    Ok(0)
}

async fn verify_status(client: &mut Client) -> anyhow::Result<RekeyVerifyStatusResponse> {
    let request = client.request(RekeyVerifyStatusRequest {})?;
    Ok(client
        .sys
        .rekey_verify_status(request)
        .await
        .map_err(|e| fail("Error reading the rekey verification status", e))?
        .into_inner())
}

/// The verification nonce, looked up with the caller's (root) token; said on
/// stderr so that a share holder can check it is the one they were given.
async fn verification_nonce(client: &mut Client) -> anyhow::Result<String> {
    let s = verify_status(client)
        .await
        .context("give --nonce (the verification nonce), or use the root token to look it up")?;
    if !s.started {
        bail!("no rekey verification is in progress");
    }
    eprintln!("Verification nonce: {}", s.nonce);
    Ok(s.nonce)
}

fn print_rekey_update(format: Format, out: &RekeyUpdateResponse) -> Exit {
    let status = out.status.clone().unwrap_or_default();
    if out.duplicate {
        eprintln!("Warning: this share was already given in this rekey; it did not count again");
    }
    if out.keys_hex.is_empty() {
        let mut json = rekey_json(&status);
        json["complete"] = json!(false);
        json["duplicate"] = json!(out.duplicate);
        print(format, &rekey_rows(&status), &json);
        return 0;
    }
    // The new shares: in effect already (`complete`), or awaiting verification.
    match format {
        Format::Json => print(
            format,
            &[],
            &json!({
                "nonce": status.nonce,
                "complete": out.complete,
                "keys": out.keys_hex,
                "keys_base64": out.keys_b64,
                "new_shares": out.new_shares,
                "new_threshold": out.new_threshold,
                "verification_required": out.verification_required,
                "verification_nonce": out.verification_nonce,
            }),
        ),
        Format::Table => {
            for (i, key) in out.keys_b64.iter().enumerate() {
                println!("Key {}: {key}", i + 1);
            }
            if !status.nonce.is_empty() {
                println!("\nOperation nonce: {}", status.nonce);
            }
            if out.complete {
                println!(
                    "\nVault rekeyed with {} key shares and a key threshold of {}. The old shares \
                     no longer work.",
                    out.new_shares, out.new_threshold
                );
            } else {
                println!(
                    "Verification nonce: {nonce}\n\nThe new shares are NOT in effect yet: give {t} \
                     of them to `vault-cli operator rekey --verify --nonce {nonce}`; until then \
                     the old shares keep working. If these shares are lost, cancel the rekey \
                     (`vault-cli operator rekey --cancel`) and start again.",
                    nonce = out.verification_nonce,
                    t = out.new_threshold
                );
            }
        }
    }
    0
}

fn print_rekey_verify(format: Format, out: &RekeyVerifyResponse) -> Exit {
    let status = out.status.clone().unwrap_or_default();
    if out.duplicate {
        eprintln!(
            "Warning: this share was already given in this verification; it did not count again"
        );
    }
    let mut json = verify_json(&status);
    json["complete"] = json!(out.complete);
    json["duplicate"] = json!(out.duplicate);
    match format {
        Format::Table if out.complete => println!(
            "Success! The new shares are verified and in effect ({} key shares, key threshold \
             {}); the old shares no longer open the vault.",
            status.n, status.t
        ),
        _ => print(format, &verify_rows(&status), &json),
    }
    0
}

fn key_rows(s: &KeyStatusResponse) -> Vec<(&'static str, String)> {
    vec![
        ("Key Term", s.term.to_string()),
        ("Install Time", s.install_time.clone()),
        ("Encryption Count", s.encryptions.to_string()),
    ]
}

fn key_json(s: &KeyStatusResponse) -> serde_json::Value {
    json!({ "term": s.term, "install_time": s.install_time, "encryptions": s.encryptions })
}

pub async fn rotate(client: &mut Client, format: Format) -> anyhow::Result<Exit> {
    let request = client.request(RotateRequest {})?;
    let s = client
        .sys
        .rotate(request)
        .await
        .map_err(|e| fail("Error rotating key", e))?
        .into_inner();
    if format == Format::Table {
        println!("Success! Rotated key\n");
    }
    print(format, &key_rows(&s), &key_json(&s));
    Ok(0)
}

pub async fn key_status(client: &mut Client, format: Format) -> anyhow::Result<Exit> {
    let request = client.request(KeyStatusRequest {})?;
    let s = client
        .sys
        .key_status(request)
        .await
        .map_err(|e| fail("Error reading key status", e))?
        .into_inner();
    print(format, &key_rows(&s), &key_json(&s));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_can_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("share");
        std::fs::write(&file, "abcd1234\n").unwrap();
        let given = format!("@{}", file.display());
        assert_eq!(read_key(Some(given), "").unwrap(), "abcd1234");
        assert_eq!(read_key(Some("abcd".into()), "").unwrap(), "abcd");
        let missing = format!("@{}", dir.path().join("nope").display());
        assert!(read_key(Some(missing), "").is_err());
    }
}
