//! `Debug` for the messages that carry secrets (tokens, unseal and rekey
//! shares, request and response data, raw storage values), with those fields
//! shown only as `<redacted>` (or `<empty>`), so a message that reaches a log
//! or an error through `{:?}` does not take its secrets along. prost's derived
//! `Debug` is turned off for these messages in `build.rs`; the field lists
//! below are written out, so a field added to the .proto later is left out of
//! `Debug` until someone decides whether it is secret.

use std::fmt;

use crate::v1;

/// How a secret field shows: whether it was set, never what it holds.
struct Redacted(bool);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "<redacted>" } else { "<empty>" })
    }
}

/// Whether a secret field holds anything.
trait Set {
    fn is_set(&self) -> bool;
}

impl Set for String {
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
}

impl Set for Vec<u8> {
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
}

impl Set for Vec<String> {
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
}

impl Set for std::collections::HashMap<String, String> {
    fn is_set(&self) -> bool {
        !self.is_empty()
    }
}

/// `Debug` for message `$name`: the `shown` fields as they are, the `secret`
/// ones redacted.
macro_rules! redacted_debug {
    ($name:ident { shown: [$($shown:ident),*], secret: [$($secret:ident),*] }) => {
        impl fmt::Debug for v1::$name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = f.debug_struct(stringify!($name));
                $(out.field(stringify!($shown), &self.$shown);)*
                $(out.field(stringify!($secret), &Redacted(self.$secret.is_set()));)*
                out.finish_non_exhaustive()
            }
        }
    };
}

redacted_debug!(LogicalRequest {
    shown: [path, wrap_ttl],
    secret: [data_json]
});
redacted_debug!(LogicalResponse {
    shown: [
        request_id,
        lease_id,
        lease_duration,
        renewable,
        warnings,
        auth,
        wrap_info
    ],
    secret: [data_json]
});
redacted_debug!(WrapInfo {
    shown: [
        accessor,
        ttl,
        creation_time,
        creation_path,
        wrapped_accessor
    ],
    secret: [token]
});
redacted_debug!(Auth {
    shown: [
        accessor,
        policies,
        lease_duration,
        renewable,
        num_uses,
        orphan,
        entity_id,
        token_policies,
        identity_policies,
        mfa_requirement
    ],
    secret: [client_token, metadata]
});
redacted_debug!(MfaRequirement {
    shown: [mfa_constraints_json],
    secret: [mfa_request_id]
});
redacted_debug!(InitResponse {
    shown: [unseal_shares, unseal_threshold],
    secret: [unseal_keys_hex, unseal_keys_b64, root_token]
});
redacted_debug!(UnsealRequest {
    shown: [reset],
    secret: [key, nonce]
});
redacted_debug!(RekeyUpdateRequest {
    shown: [],
    secret: [nonce, key]
});
redacted_debug!(RekeyUpdateResponse {
    shown: [
        complete,
        duplicate,
        status,
        new_shares,
        new_threshold,
        verification_required
    ],
    secret: [keys_hex, keys_b64, verification_nonce]
});
redacted_debug!(RekeyVerifyRequest {
    shown: [],
    secret: [nonce, key]
});
redacted_debug!(RawReadResponse {
    shown: [],
    secret: [value]
});
redacted_debug!(RawWriteRequest {
    shown: [path],
    secret: [value]
});

#[cfg(test)]
mod tests {
    use super::v1;

    const SECRET: &str = "s.SENTINEL-never-in-debug";

    fn auth() -> v1::Auth {
        v1::Auth {
            client_token: SECRET.into(),
            accessor: "acc".into(),
            metadata: [("owner".to_owned(), SECRET.to_owned())].into(),
            policies: vec!["default".into()],
            mfa_requirement: Some(v1::MfaRequirement {
                mfa_request_id: SECRET.into(),
                mfa_constraints_json: "{}".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn secrets_never_show_in_debug_and_the_rest_does() {
        let shown: Vec<(String, &str)> = vec![
            (
                format!(
                    "{:?}",
                    v1::LogicalRequest {
                        path: "secret/data/app".into(),
                        data_json: SECRET.into(),
                        wrap_ttl: String::new(),
                    }
                ),
                "secret/data/app",
            ),
            (
                format!(
                    "{:?}",
                    v1::LogicalResponse {
                        request_id: "req-1".into(),
                        data_json: SECRET.into(),
                        auth: Some(auth()),
                        wrap_info: Some(v1::WrapInfo {
                            token: SECRET.into(),
                            accessor: "wrap-acc".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }
                ),
                "wrap-acc",
            ),
            (format!("{:?}", auth()), "default"),
            (
                format!(
                    "{:?}",
                    v1::InitResponse {
                        unseal_keys_hex: vec![SECRET.into()],
                        unseal_keys_b64: vec![SECRET.into()],
                        unseal_shares: 5,
                        unseal_threshold: 3,
                        root_token: SECRET.into(),
                    }
                ),
                "unseal_threshold: 3",
            ),
            (
                format!(
                    "{:?}",
                    v1::UnsealRequest {
                        key: SECRET.into(),
                        reset: false,
                        nonce: SECRET.into(),
                    }
                ),
                "reset: false",
            ),
            (
                format!(
                    "{:?}",
                    v1::RekeyUpdateRequest {
                        nonce: SECRET.into(),
                        key: SECRET.into(),
                    }
                ),
                "RekeyUpdateRequest",
            ),
            (
                format!(
                    "{:?}",
                    v1::RekeyUpdateResponse {
                        keys_hex: vec![SECRET.into()],
                        keys_b64: vec![SECRET.into()],
                        verification_nonce: SECRET.into(),
                        new_shares: 5,
                        ..Default::default()
                    }
                ),
                "new_shares: 5",
            ),
            (
                format!(
                    "{:?}",
                    v1::RekeyVerifyRequest {
                        nonce: SECRET.into(),
                        key: SECRET.into(),
                    }
                ),
                "RekeyVerifyRequest",
            ),
            (
                format!(
                    "{:?}",
                    v1::RawReadResponse {
                        value: SECRET.as_bytes().to_vec(),
                    }
                ),
                "RawReadResponse",
            ),
            (
                format!(
                    "{:?}",
                    v1::RawWriteRequest {
                        path: "sys/raw/x".into(),
                        value: SECRET.as_bytes().to_vec(),
                    }
                ),
                "sys/raw/x",
            ),
        ];
        for (text, expected) in shown {
            assert!(!text.contains("SENTINEL"), "a secret in Debug: {text}");
            // Raw bytes would show as numbers: the sentinel's first bytes.
            assert!(
                !text.contains("115, 46, 83"),
                "raw secret bytes in Debug: {text}"
            );
            assert!(text.contains(expected), "{expected:?} missing from {text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
        let empty = format!("{:?}", v1::WrapInfo::default());
        assert!(empty.contains("token: <empty>"), "{empty}");
    }
}
