//! What to do next, after an error: a line under the error for the failures
//! an operator can act on (sealed, no permission, a limit, a deadline, no
//! daemon at the address). Errors the message already explains get none.

use tonic::Code;

/// The hint for `error`, if there is one.
pub fn hint(error: &anyhow::Error) -> Option<&'static str> {
    let status = error.chain().find_map(|cause| {
        cause
            .downcast_ref::<crate::client::CallError>()
            .map(crate::client::CallError::status)
            .or_else(|| cause.downcast_ref::<tonic::Status>())
    });
    if let Some(status) = status {
        let message = status.message();
        return match status.code() {
            Code::Unavailable if message.contains("sealed") => Some(
                "unseal it: each share holder runs `vault-cli operator unseal` until the threshold",
            ),
            Code::FailedPrecondition if message.contains("not initialized") => {
                Some("initialise it once: `vault-cli operator init`")
            }
            // Vault's texts for a refused login: the token is not the point.
            Code::PermissionDenied
                if message.starts_with("invalid username or password")
                    || message.starts_with("invalid role or secret ID") =>
            {
                Some(
                    "check the credentials: the username and password (and TOTP code), or the \
                     role_id and an unused, unexpired secret_id allowed from this address; \
                     repeated failures lock a user out for a while",
                )
            }
            // Sealed: no token can be looked up, and no policy is involved.
            Code::PermissionDenied if message.contains("unseal attempt") => Some(
                "give the attempt's nonce (`--nonce`; `vault-cli status` shows it as Unseal \
                 Nonce) or the root token from init (VAULT_TOKEN)",
            ),
            Code::PermissionDenied => Some(
                "check the token (`vault-cli token lookup`) and what its policies allow on this \
                 path (`vault-cli token capabilities <token> <path>`)",
            ),
            Code::ResourceExhausted => Some(
                "a server limit refused this (named above): wait and retry, or ask the operator \
                 to raise it in the server's config",
            ),
            Code::DeadlineExceeded => Some(
                "the server goes on with the request; its outcome is in the audit log under the \
                 request id above",
            ),
            _ => None,
        };
    }
    let text = format!("{error:#}");
    if text.contains("invalid peer certificate") {
        return Some(
            "the server's certificate is not trusted here: set VAULT_CACERT (or --ca-cert) to \
             the CA that signed it",
        );
    }
    text.contains("cannot connect to the vault").then_some(
        "is vaultd running there? Set VAULT_ADDR (and VAULT_CACERT for an https address)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actionable_failures_get_a_hint_and_others_none() {
        let sealed = anyhow::Error::new(tonic::Status::unavailable("vault is sealed"));
        assert!(hint(&sealed).unwrap().contains("operator unseal"));
        let denied = crate::client::failed(
            "reading secret/data/app",
            tonic::Status::permission_denied("permission denied"),
        );
        assert!(hint(&denied).unwrap().contains("token capabilities"));
        for refusal in ["invalid username or password", "invalid role or secret ID"] {
            let login =
                crate::client::failed("logging in", tonic::Status::permission_denied(refusal));
            let said = hint(&login).unwrap();
            assert!(
                said.contains("credentials") && !said.contains("token"),
                "{said}"
            );
        }
        let limited = anyhow::Error::new(tonic::Status::resource_exhausted("too many"));
        assert!(hint(&limited).unwrap().contains("limit"));
        let refused = anyhow::anyhow!("connection refused")
            .context("cannot connect to the vault at http://127.0.0.1:1");
        assert!(hint(&refused).unwrap().contains("VAULT_ADDR"));
        let untrusted = anyhow::anyhow!("invalid peer certificate: UnknownIssuer")
            .context("cannot connect to the vault at https://127.0.0.1:1");
        assert!(hint(&untrusted).unwrap().contains("VAULT_CACERT"));
        let reset = crate::client::failed(
            "Error unsealing",
            tonic::Status::permission_denied(
                "permission denied: resetting an unseal attempt needs its nonce or the root token",
            ),
        );
        let said = hint(&reset).unwrap();
        assert!(
            said.contains("--nonce") && !said.contains("capabilities"),
            "{said}"
        );
        let plain = anyhow::Error::new(tonic::Status::not_found("no value"));
        assert_eq!(hint(&plain), None);
    }
}
