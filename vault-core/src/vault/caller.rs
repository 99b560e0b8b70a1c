//! Who asks for an operator call made outside the logical paths (seal, rotate,
//! key status, rekey, raw storage, step-down, members): the token, and the
//! address the request came from. The address is judged against the token's
//! `bound_cidrs` and recorded in the audit log, as for any request; a caller
//! without an address (an embedding application's own call) cannot use a
//! token bound to networks.

use std::net::IpAddr;

/// The token and the client's address. `Debug` never shows the token.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    /// The caller's token.
    pub token: &'a str,
    /// Where the request came from, if known.
    pub remote_addr: Option<IpAddr>,
}

impl<'a> Caller<'a> {
    /// `token`, used from `remote_addr`.
    pub fn new(token: &'a str, remote_addr: Option<IpAddr>) -> Self {
        Caller { token, remote_addr }
    }
}

impl<'a> From<&'a str> for Caller<'a> {
    fn from(token: &'a str) -> Self {
        Caller::new(token, None)
    }
}

impl<'a> From<&'a String> for Caller<'a> {
    fn from(token: &'a String) -> Self {
        Caller::new(token, None)
    }
}

impl std::fmt::Debug for Caller<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("token", &"<redacted>")
            .field("remote_addr", &self.remote_addr)
            .finish()
    }
}
