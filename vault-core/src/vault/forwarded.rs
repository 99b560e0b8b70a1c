//! A standby forwards a request to the active node on its client's behalf, and
//! the active node must judge the client's address (a token's `bound_cidrs`,
//! AppRole's CIDR lists, the per-address login limiter, the audit log's
//! `remote_address`), not the standby's. It may believe an address only from
//! a real cluster member: the standby signs it with a key kept in the barrier,
//! which only unsealed nodes can read. The signature covers the address, the
//! time and the caller's token, so it holds only for that caller, within
//! [`FRESHNESS_MS`] of its making. A client that sends the field itself
//! cannot sign it: the field is then ignored, and the connection's own
//! address is judged.

use std::net::IpAddr;
use std::sync::Arc;

use ring::hmac;

use crate::clock;
use crate::secret::Key256;

use super::Vault;

/// Where the key lives, behind the barrier, under the prefix no API call can
/// read or write (`sys/raw` included).
const KEY_PATH: &str = "core/ha/forwarding-key";
/// How old a signature may be, either way, for clocks a little apart.
pub const FRESHNESS_MS: u64 = 30_000;

impl Vault {
    /// The value for a forwarded request's `x-vault-forwarded-for`: `client`,
    /// signed for `token`. `None` when this node has no key yet (the active
    /// node makes it when it takes over) or is sealed: the request then goes
    /// without it, and the active node judges the standby's address.
    pub async fn sign_forwarded_for(&self, client: IpAddr, token: &str) -> Option<String> {
        let key = self.forwarding_key(false).await?;
        let at = clock::now_unix_millis();
        let tag = hmac::sign(&key, message(client, at, token).as_bytes());
        Some(format!("{client};{at};hmac-sha256:{}", hex::encode(tag)))
    }

    /// The client address in a forwarded request's `x-vault-forwarded-for`,
    /// if its signature holds for `token` and it is fresh; `None` otherwise.
    pub async fn verify_forwarded_for(&self, value: &str, token: &str) -> Option<IpAddr> {
        let mut parts = value.splitn(3, ';');
        let client: IpAddr = parts.next()?.parse().ok()?;
        let at: u64 = parts.next()?.parse().ok()?;
        let tag = hex::decode(parts.next()?.strip_prefix("hmac-sha256:")?).ok()?;
        if clock::now_unix_millis().abs_diff(at) > FRESHNESS_MS {
            return None;
        }
        let key = self.forwarding_key(true).await?;
        hmac::verify(&key, message(client, at, token).as_bytes(), &tag).ok()?;
        Some(client)
    }

    /// Makes the forwarding key if the cluster has none (the active node,
    /// when it takes over), so that standbys find it.
    pub(super) async fn ensure_forwarding_key(&self) {
        if self.forwarding_key(true).await.is_none() {
            tracing::warn!("no forwarding key: standbys will forward without the client's address");
        }
    }

    /// The key, from memory or the barrier; made and stored when `make` is set
    /// and there is none (only the active node may write).
    async fn forwarding_key(&self, make: bool) -> Option<hmac::Key> {
        let cached = self
            .forwarding_key
            .read()
            .ok()
            .and_then(|k| k.as_ref().map(Arc::clone));
        let key = match cached {
            Some(key) => key,
            None => {
                let stored = match self.barrier.get_internal(KEY_PATH).await {
                    Ok(Some(bytes)) => Key256::from_slice(bytes.expose_secret()),
                    Ok(None) if make => {
                        let fresh = Key256::generate().ok()?;
                        self.barrier
                            .put_internal(KEY_PATH, fresh.expose_secret())
                            .await
                            .ok()?;
                        Some(fresh)
                    }
                    _ => None,
                };
                let key = Arc::new(stored?);
                if let Ok(mut slot) = self.forwarding_key.write() {
                    *slot = Some(Arc::clone(&key));
                }
                key
            }
        };
        Some(hmac::Key::new(hmac::HMAC_SHA256, key.expose_secret()))
    }
}

/// What is signed: a label of its own, so no other HMAC in the vault can be
/// mistaken for one, then the address, the time and the token.
fn message(client: IpAddr, at: u64, token: &str) -> String {
    format!("vault-forwarded-for-v1\n{client}\n{at}\n{token}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::Vault;
    use crate::storage::MemoryBackend;

    #[tokio::test]
    async fn a_signature_holds_for_its_address_token_and_time_only() {
        let vault = Vault::new(Arc::new(MemoryBackend::new()));
        let init = vault.init(1, 1).await.unwrap();
        vault
            .unseal(init.shares[0].to_hex().expose_secret())
            .await
            .unwrap();
        assert_eq!(
            vault
                .sign_forwarded_for("10.0.0.7".parse().unwrap(), "t")
                .await,
            None,
            "no key yet"
        );
        vault.ensure_forwarding_key().await;
        let client = "10.0.0.7".parse().unwrap();
        let value = vault.sign_forwarded_for(client, "s.token").await.unwrap();
        assert_eq!(
            vault.verify_forwarded_for(&value, "s.token").await,
            Some(client)
        );
        assert_eq!(
            vault.verify_forwarded_for(&value, "s.other").await,
            None,
            "another token"
        );
        let moved = value.replacen("10.0.0.7", "10.0.0.8", 1);
        assert_eq!(
            vault.verify_forwarded_for(&moved, "s.token").await,
            None,
            "another address"
        );
        let (_, rest) = value.split_once(';').unwrap();
        let (_, tag) = rest.split_once(';').unwrap();
        let stale = format!(
            "10.0.0.7;{};{tag}",
            crate::clock::now_unix_millis() - 60_000
        );
        assert_eq!(
            vault.verify_forwarded_for(&stale, "s.token").await,
            None,
            "stale"
        );
        for junk in ["", "x", "10.0.0.7;1;2", "10.0.0.7;1;hmac-sha256:zz"] {
            assert_eq!(
                vault.verify_forwarded_for(junk, "s.token").await,
                None,
                "{junk}"
            );
        }
    }
}
