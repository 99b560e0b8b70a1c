//! Response wrapping in the pipeline (DESIGN.md, step 7): a response asked
//! to be wrapped goes into a new wrapping token's cubbyhole and the caller
//! gets `wrap_info`; and the `sys/wrapping/*` endpoints that wrap data,
//! look a wrapping token up, unwrap it once, or rewrap it. What is wrapped
//! keeps the lease it was registered with when the response was made, on
//! the token that asked, so a credential nobody unwraps is still revoked on
//! time.

use serde_json::{Value, json};

use crate::clock;
use crate::request::{Request, Response, WrapInfo};
use crate::secret::SecretString;
use crate::token::TokenEntry;
use crate::wrapping::{LOOKUP, REWRAP, UNWRAP, WRAP, Wrapped, wrapped_accessor};

use super::{Vault, VaultError};

/// The answer to a wrapping token that is unknown, expired, already
/// unwrapped or not a wrapping token at all (Vault's text).
const NOT_VALID: &str = "wrapping token is not valid or does not exist";

impl Vault {
    /// `response` to the request at `creation_path`, wrapped for `ttl` ms.
    pub(super) async fn wrap(
        &self,
        creation_path: &str,
        response: &Response,
        ttl: u64,
    ) -> Result<Response, VaultError> {
        let now = clock::now_unix_millis();
        let record = Wrapped::encode(response)?;
        let (token, entry) = self
            .tokens
            .create_wrapping(&self.barrier, ttl, creation_path, record, now)
            .await?;
        Ok(wrapped_answer(&token, entry, response))
    }

    /// Serves `sys/<relative>` for the wrapping endpoints; `wrap` is the
    /// wrapping TTL the request asked for.
    pub(super) async fn wrapping_call(
        &self,
        request: &Request,
        relative: &str,
        wrap: Option<u64>,
    ) -> Result<Response, VaultError> {
        let now = clock::now_unix_millis();
        match relative {
            // The data as given, wrapped by the pipeline's own step.
            WRAP => {
                if wrap.is_none() {
                    return Err(VaultError::InvalidRequest(
                        "endpoint requires response wrapping to be used".into(),
                    ));
                }
                if request.data.is_empty() {
                    return Err(VaultError::InvalidRequest("no data provided".into()));
                }
                Ok(Response::with_data(request.data.clone()))
            }
            UNWRAP => {
                let (_, record) = self
                    .tokens
                    .take_wrapped(&self.barrier, target(request)?, now)
                    .await?
                    .ok_or_else(not_valid)?;
                Wrapped::decode(&record)
            }
            LOOKUP => {
                let entry = self
                    .tokens
                    .wrapping_entry(&self.barrier, target(request)?, now)
                    .await?
                    .ok_or_else(not_valid)?;
                let mut data = crate::request::Data::new();
                data.insert("creation_path".into(), json!(entry.path));
                data.insert(
                    "creation_time".into(),
                    json!(clock::rfc3339(entry.creation_time / 1000)),
                );
                data.insert("creation_ttl".into(), json!(entry.creation_ttl / 1000));
                Ok(Response::with_data(data))
            }
            // A new token for the same response, path and TTL, stored in
            // the batch that removes the old one.
            REWRAP => {
                let (token, entry, record) = self
                    .tokens
                    .rewrap(&self.barrier, target(request)?, now)
                    .await?
                    .ok_or_else(not_valid)?;
                Ok(wrapped_answer(&token, entry, &Wrapped::decode(&record)?))
            }
            _ => Err(VaultError::NoRoute(request.path.clone())),
        }
    }

    /// The accessor of the live wrapping token `request` names, if any:
    /// recorded with each unwrap, lookup and rewrap, so that an operator
    /// sees every attempt on one wrapping token, a second party's too.
    pub(super) async fn wrapping_accessor(&self, request: &Request) -> Option<String> {
        let token = target(request).ok()?;
        let now = clock::now_unix_millis();
        match self.tokens.wrapping_entry(&self.barrier, token, now).await {
            Ok(entry) => entry.map(|e| e.accessor),
            Err(_) => None,
        }
    }

    /// A wrapped response whose answer could not be recorded: nobody will
    /// ever get it, so the wrapping token goes and so does the lease of
    /// what it wrapped.
    pub(super) async fn unwrap_unanswered(&self, wrap: &WrapInfo) {
        let now = clock::now_unix_millis();
        match self
            .tokens
            .take_wrapped(&self.barrier, &wrap.token, now)
            .await
        {
            Ok(Some((_, record))) => {
                if let Ok(Response {
                    lease: Some(lease), ..
                }) = Wrapped::decode(&record)
                {
                    self.revoke_unanswered(&lease.lease_id).await;
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "an unanswered wrapping token is left to its TTL"),
        }
    }
}

/// The answer to a request whose `response` is now held by the wrapping
/// token `token` (`entry`).
fn wrapped_answer(token: &SecretString, entry: TokenEntry, response: &Response) -> Response {
    Response {
        wrap_info: Some(WrapInfo {
            token: token.expose_secret().to_owned(),
            accessor: entry.accessor,
            ttl: entry.creation_ttl / 1000,
            creation_time: clock::rfc3339(entry.creation_time / 1000),
            creation_path: entry.path,
            wrapped_accessor: wrapped_accessor(response),
        }),
        ..Response::default()
    }
}

/// The wrapping token a request names: `token` in the body, else the
/// caller's own token.
fn target(request: &Request) -> Result<&str, VaultError> {
    match request.data.get("token") {
        Some(Value::String(token)) if !token.is_empty() => Ok(token),
        Some(Value::String(_)) | None => request
            .token
            .as_ref()
            .map(|t| t.expose_secret())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                VaultError::InvalidRequest(
                    "error validating wrapping token: no token in the body or the \
                     X-Vault-Token header"
                        .into(),
                )
            }),
        Some(_) => Err(VaultError::InvalidRequest(
            "the token field must be a string".into(),
        )),
    }
}

fn not_valid() -> VaultError {
    VaultError::InvalidRequest(NOT_VALID.into())
}
