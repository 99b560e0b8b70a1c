//! What a token may do as of now: the ACL of its own policies and its
//! entity's (the entity's and its groups'), with templated policies filled
//! from the entity. The pipeline admits a request with it; the capability
//! endpoints answer with it.

use std::sync::Arc;

use crate::barrier::Barrier;
use crate::error::VaultError;
use crate::policy::Acl;
use crate::policy::store::PolicyStore;
use crate::token::TokenEntry;

use super::{IdentityStore, Resolved};

/// A token's ACL and its entity, as of one request.
#[derive(Debug)]
pub(crate) struct Access {
    /// What it may do. Empty (nothing allowed) when its entity is disabled.
    pub acl: Arc<Acl>,
    /// Its entity, if it has one that still exists.
    pub identity: Option<Arc<Resolved>>,
}

impl Access {
    /// Whether the token's entity is disabled: its tokens are refused.
    pub(crate) fn disabled(&self) -> bool {
        self.identity.as_ref().is_some_and(|i| i.disabled)
    }
}

/// The access of `token` as of now.
pub(crate) async fn access_of(
    barrier: &Barrier,
    policies: &PolicyStore,
    identity: &IdentityStore,
    token: &TokenEntry,
) -> Result<Access, VaultError> {
    let resolved = if token.entity_id.is_empty() {
        None
    } else {
        identity.resolve(barrier, &token.entity_id).await?
    };
    let acl = match &resolved {
        None => policies.acl_for(barrier, &token.policies, None).await?,
        Some(entity) if entity.disabled => Arc::new(Acl::new(&[])),
        Some(entity) => {
            let mut names: Vec<String> = token
                .policies
                .iter()
                .chain(&entity.policies)
                .cloned()
                .collect();
            names.sort();
            names.dedup();
            policies
                .acl_for(barrier, &names, Some(&entity.context))
                .await?
        }
    };
    Ok(Access {
        acl,
        identity: resolved,
    })
}
