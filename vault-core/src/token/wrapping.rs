//! Response-wrapping tokens in the token store: made with the wrapped
//! response already in their cubbyhole (one batch), and spent by taking that
//! response, which removes them in the same step, so that exactly one
//! caller ever gets it.

use crate::barrier::{Barrier, BarrierOp};
use crate::policy::RESPONSE_WRAPPING;
use crate::secret::{SecretBytes, SecretString};

use super::{
    ID_PREFIX, TokenEntry, TokenError, TokenStore, cubbyhole_prefix, expiry_key, generate_accessor,
    generate_token,
};

/// Where in its cubbyhole a wrapping token keeps the response (Vault's key).
const RESPONSE_KEY: &str = "response";

impl TokenStore {
    /// Stores a wrapping token for the response `record` made at
    /// `creation_path`: an orphan with one use, `ttl` ms to live, no renewal
    /// and only the `response-wrapping` policy. The token, its indexes and
    /// the record are written in one batch.
    pub(crate) async fn create_wrapping(
        &self,
        barrier: &Barrier,
        ttl: u64,
        creation_path: &str,
        record: SecretBytes,
        now: u64,
    ) -> Result<(SecretString, TokenEntry), TokenError> {
        let (token, entry, ops) = self.wrapping_ops(ttl, creation_path, record, now)?;
        barrier.batch(ops).await?;
        Ok((token, entry))
    }

    /// A new wrapping token for `record` and the writes that store it.
    fn wrapping_ops(
        &self,
        ttl: u64,
        creation_path: &str,
        record: SecretBytes,
        now: u64,
    ) -> Result<(SecretString, TokenEntry, Vec<BarrierOp>), TokenError> {
        let token = generate_token()?;
        let expire = now.saturating_add(ttl);
        let entry = TokenEntry {
            id_hash: self.token_id(token.expose_secret())?,
            accessor: generate_accessor()?,
            policies: vec![RESPONSE_WRAPPING.to_owned()],
            path: creation_path.to_owned(),
            display_name: RESPONSE_WRAPPING.to_owned(),
            num_uses: 1,
            creation_time: now,
            creation_ttl: ttl,
            expire_time: expire,
            explicit_max_ttl: ttl,
            max_expire_time: expire,
            wrapping: true,
            ..TokenEntry::default()
        };
        let mut ops = self.entry_ops(&entry)?;
        ops.push(BarrierOp::Put {
            path: format!("{}{RESPONSE_KEY}", cubbyhole_prefix(&entry.id_hash)),
            value: record,
        });
        Ok((token, entry, ops))
    }

    /// Moves the response wrapped by `token` to a new wrapping token with
    /// the same path and TTL: the new token is stored and the old one
    /// removed in one batch, under the write lock, so the response is never
    /// held by both or by neither. The new token, its entry and the record;
    /// `None` if `token` is no live wrapping token.
    pub(crate) async fn rewrap(
        &self,
        barrier: &Barrier,
        token: &str,
        now: u64,
    ) -> Result<Option<(SecretString, TokenEntry, SecretBytes)>, TokenError> {
        let hash = self.token_id(token)?;
        let _serial = self.writes.lock().await;
        let Some(old) = self
            .read(barrier, &hash)
            .await?
            .filter(|e| e.wrapping && !e.is_expired(now))
        else {
            return Ok(None);
        };
        let response_key = format!("{}{RESPONSE_KEY}", cubbyhole_prefix(&hash));
        let Some(record) = barrier.get(&response_key).await? else {
            return Ok(None);
        };
        let (new, entry, mut ops) =
            self.wrapping_ops(old.creation_ttl, &old.path, record.clone(), now)?;
        // A wrapping token is an orphan whose cubbyhole holds the response
        // alone (it is refused everywhere but the wrapping endpoints).
        ops.extend([
            BarrierOp::Delete {
                path: format!("{ID_PREFIX}{hash}"),
            },
            BarrierOp::Delete {
                path: self.accessor_key(&old.accessor)?,
            },
            BarrierOp::Delete { path: response_key },
        ]);
        ops.extend(expiry_key(old.expire_time, &hash).map(|path| BarrierOp::Delete { path }));
        barrier.batch(ops).await?;
        Ok(Some((new, entry, record)))
    }

    /// The live wrapping token `token`, without spending it; `None` if it is
    /// not one (unknown, expired, already unwrapped, or an ordinary token).
    pub(crate) async fn wrapping_entry(
        &self,
        barrier: &Barrier,
        token: &str,
        now: u64,
    ) -> Result<Option<TokenEntry>, TokenError> {
        Ok(self
            .lookup(barrier, token, now)
            .await?
            .filter(|entry| entry.wrapping))
    }

    /// Takes the response wrapped by `token`: reads it and removes the token
    /// with its cubbyhole, under the store's write lock, so that of two
    /// callers racing only one gets it. `None` if `token` is no live
    /// wrapping token.
    pub(crate) async fn take_wrapped(
        &self,
        barrier: &Barrier,
        token: &str,
        now: u64,
    ) -> Result<Option<(TokenEntry, SecretBytes)>, TokenError> {
        let hash = self.token_id(token)?;
        let _serial = self.writes.lock().await;
        let Some(entry) = self
            .read(barrier, &hash)
            .await?
            .filter(|e| e.wrapping && !e.is_expired(now))
        else {
            return Ok(None);
        };
        let record = barrier
            .get(&format!("{}{RESPONSE_KEY}", cubbyhole_prefix(&hash)))
            .await?;
        // Gone before it is handed out: a failure to remove it fails the
        // unwrap, and a second unwrap finds nothing.
        self.remove(barrier, &hash).await?;
        Ok(record.map(|r| (entry, r)))
    }
}
