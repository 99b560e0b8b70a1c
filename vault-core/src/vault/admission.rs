//! What a front end may ask before it reads a request's body: does the token
//! the request carries name a live token? Callers without one get only a
//! small body budget, so that nothing an unauthenticated caller sends costs
//! more than a small, fixed amount of memory, disk or audit space. The check
//! is read-only and cheap (one cached read); the request pipeline judges the
//! token again, fully, when it handles the request.

use super::Vault;

impl Vault {
    /// True if `token` names a token that exists and has not expired (asked
    /// on a standby too, which forwards the request). False when sealed, when
    /// the token store cannot be read, or for anything that is not a token:
    /// the caller then gets the small budget.
    pub async fn token_is_live(&self, token: &str) -> bool {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || self.barrier.is_sealed() {
            return false;
        }
        // On a standby the hash key is not loaded; it is read for this once.
        let Ok(hash) = self.tokens.token_id_from(&self.barrier, token).await else {
            return false;
        };
        match self.tokens.read_shared(&self.barrier, &hash).await {
            Ok(Some(entry)) => !entry.is_expired(crate::clock::now_unix_millis()),
            _ => false,
        }
    }
}

/// Longer than any token this vault issues: not looked up at all.
const MAX_TOKEN_LEN: usize = 256;

#[cfg(test)]
mod tests {
    use crate::Vault;

    #[tokio::test]
    async fn only_a_live_token_is_live() {
        let vault = Vault::new(std::sync::Arc::new(crate::storage::MemoryBackend::new()));
        assert!(!vault.token_is_live("s.anything").await, "sealed");
        let init = vault.init(1, 1).await.unwrap();
        let share = init.shares[0].to_hex();
        vault.unseal(share.expose_secret()).await.unwrap();
        let root = init.root_token.expose_secret().to_owned();
        assert!(vault.token_is_live(&root).await);
        assert!(!vault.token_is_live("s.not-a-token").await);
        assert!(!vault.token_is_live("").await);
        assert!(!vault.token_is_live(&"x".repeat(10_000)).await);
    }
}
