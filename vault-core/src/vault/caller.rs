//! Who is calling, once the pipeline has checked the token and the ACL: what
//! the handlers behind `Vault::handle` (the sys and token endpoints, the
//! lease endpoints, the engines' lease bounds) are told of the caller. Its
//! own file, so those handlers need not import the pipeline that calls them.

use crate::token::TokenEntry;

/// The caller of one request, as the pipeline admitted it.
#[derive(Debug)]
pub(super) struct Caller {
    /// The caller's token entry (`None` on an unauthenticated login path).
    pub token: Option<TokenEntry>,
    /// The ACL's `sudo` for the path.
    pub sudo: bool,
}
