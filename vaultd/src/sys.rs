//! The `Sys` gRPC service, an adapter. Init, unseal and seal status are this
//! node's own calls (seal_calls.rs); every other method is a request on a
//! `sys/` path through the dispatcher (dispatch.rs), so the ACL decides
//! (with `sudo` where Vault asks for it), the attempt is audited, and a
//! standby forwards it like any request. The answers become messages in
//! sys_answers.rs.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tonic::{Request, Response, Status};
use vault_core::request::{self as core, Data, Operation};
use vault_proto::v1::sys_server::Sys;
use vault_proto::v1::*;

use crate::dispatch::{Call, Dispatcher};
use crate::seal_calls::SealCalls;
use crate::sys_answers as answers;

/// Serves `vault.v1.Sys`.
#[derive(Debug)]
pub struct SysService {
    seal: Arc<SealCalls>,
    dispatch: Arc<Dispatcher>,
}

/// The caller's token from the request metadata, if any.
fn token<T>(request: &Request<T>) -> Option<&str> {
    request
        .metadata()
        .get(vault_proto::TOKEN_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
}

fn object(value: Value) -> Data {
    match value {
        Value::Object(map) => map,
        _ => Data::new(),
    }
}

impl SysService {
    pub fn new(seal: Arc<SealCalls>, dispatch: Arc<Dispatcher>) -> Self {
        SysService { seal, dispatch }
    }

    /// `operation` on `sys/<path>` with `data`, from the caller of
    /// `request`, through the dispatcher. Returns the answer's data.
    async fn handled<T>(
        &self,
        request: Request<T>,
        operation: Operation,
        path: &str,
        data: Data,
    ) -> Result<Data, Status> {
        let (metadata, extensions, _) = request.into_parts();
        let asked = core::Request::new(operation, format!("sys/{path}")).with_data(data);
        let call = Call::from_wire(asked, &metadata.into_headers(), &extensions);
        let answer = self.dispatch.serve(call).await?;
        Ok(answer.response.data.unwrap_or_default())
    }
}

#[tonic::async_trait]
impl Sys for SysService {
    async fn seal_status(
        &self,
        request: Request<SealStatusRequest>,
    ) -> Result<Response<SealStatusResponse>, Status> {
        let status = self.seal.seal_status(token(&request)).await?;
        Ok(Response::new(status))
    }

    async fn init(&self, request: Request<InitRequest>) -> Result<Response<InitResponse>, Status> {
        let asked = request.into_inner();
        let out = self
            .seal
            .init(asked.secret_shares, asked.secret_threshold)
            .await?;
        Ok(Response::new(out))
    }

    async fn unseal(
        &self,
        request: Request<UnsealRequest>,
    ) -> Result<Response<UnsealResponse>, Status> {
        let remote = request.remote_addr().map(|a| a.ip());
        let out = self
            .seal
            .unseal(remote, token(&request), request.get_ref())
            .await?;
        Ok(Response::new(out))
    }

    async fn seal(&self, request: Request<SealRequest>) -> Result<Response<SealResponse>, Status> {
        let result = self
            .handled(request, Operation::Update, "seal", Data::new())
            .await;
        self.seal.report_health().await;
        result?;
        Ok(Response::new(SealResponse {}))
    }

    async fn rekey_init(
        &self,
        request: Request<RekeyInitRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        let asked = request.get_ref();
        let data = object(json!({
            "secret_shares": asked.secret_shares,
            "secret_threshold": asked.secret_threshold,
            "require_verification": !asked.skip_verification,
        }));
        let status = self
            .handled(request, Operation::Update, "rekey/init", data)
            .await?;
        Ok(Response::new(answers::rekey_status(&status)))
    }

    async fn rekey_update(
        &self,
        request: Request<RekeyUpdateRequest>,
    ) -> Result<Response<RekeyUpdateResponse>, Status> {
        let asked = request.get_ref();
        let data = object(json!({ "nonce": asked.nonce, "key": asked.key }));
        let out = self
            .handled(request, Operation::Update, "rekey/update", data)
            .await?;
        Ok(Response::new(answers::rekey_update(&out)))
    }

    async fn rekey_cancel(
        &self,
        request: Request<RekeyCancelRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        let status = self
            .handled(request, Operation::Delete, "rekey/init", Data::new())
            .await?;
        Ok(Response::new(answers::rekey_status(&status)))
    }

    async fn rekey_status(
        &self,
        request: Request<RekeyStatusRequest>,
    ) -> Result<Response<RekeyStatusResponse>, Status> {
        let status = self
            .handled(request, Operation::Read, "rekey/init", Data::new())
            .await?;
        Ok(Response::new(answers::rekey_status(&status)))
    }

    async fn rekey_verify(
        &self,
        request: Request<RekeyVerifyRequest>,
    ) -> Result<Response<RekeyVerifyResponse>, Status> {
        let asked = request.get_ref();
        let data = object(json!({ "nonce": asked.nonce, "key": asked.key }));
        let out = self
            .handled(request, Operation::Update, "rekey/verify", data)
            .await?;
        Ok(Response::new(answers::rekey_verify(&out)))
    }

    async fn rekey_verify_status(
        &self,
        request: Request<RekeyVerifyStatusRequest>,
    ) -> Result<Response<RekeyVerifyStatusResponse>, Status> {
        let status = self
            .handled(request, Operation::Read, "rekey/verify", Data::new())
            .await?;
        Ok(Response::new(answers::rekey_verify_status(&status)))
    }

    async fn rekey_verify_cancel(
        &self,
        request: Request<RekeyVerifyCancelRequest>,
    ) -> Result<Response<RekeyVerifyStatusResponse>, Status> {
        let status = self
            .handled(request, Operation::Delete, "rekey/verify", Data::new())
            .await?;
        Ok(Response::new(answers::rekey_verify_status(&status)))
    }

    async fn rotate(
        &self,
        request: Request<RotateRequest>,
    ) -> Result<Response<KeyStatusResponse>, Status> {
        let status = self
            .handled(request, Operation::Update, "rotate", Data::new())
            .await?;
        Ok(Response::new(answers::key_status(&status)))
    }

    async fn key_status(
        &self,
        request: Request<KeyStatusRequest>,
    ) -> Result<Response<KeyStatusResponse>, Status> {
        let status = self
            .handled(request, Operation::Read, "key-status", Data::new())
            .await?;
        Ok(Response::new(answers::key_status(&status)))
    }

    async fn raw_read(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawReadResponse>, Status> {
        let path = format!("raw/{}", request.get_ref().path);
        let answer = self
            .handled(request, Operation::Read, &path, base64_encoding())
            .await?;
        let text = answer
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        // The decoder's error is not passed on: it quotes the value.
        let value = BASE64
            .decode(text)
            .map_err(|_| Status::internal("sys/raw answered a value that is not base64"))?;
        Ok(Response::new(RawReadResponse { value }))
    }

    async fn raw_write(
        &self,
        request: Request<RawWriteRequest>,
    ) -> Result<Response<RawWriteResponse>, Status> {
        let path = format!("raw/{}", request.get_ref().path);
        let mut data = base64_encoding();
        data.insert(
            "value".into(),
            Value::String(BASE64.encode(&request.get_ref().value)),
        );
        self.handled(request, Operation::Update, &path, data)
            .await?;
        Ok(Response::new(RawWriteResponse {}))
    }

    async fn raw_delete(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawWriteResponse>, Status> {
        let path = format!("raw/{}", request.get_ref().path);
        self.handled(request, Operation::Delete, &path, Data::new())
            .await?;
        Ok(Response::new(RawWriteResponse {}))
    }

    async fn raw_list(
        &self,
        request: Request<RawPathRequest>,
    ) -> Result<Response<RawListResponse>, Status> {
        let path = format!("raw/{}", request.get_ref().path);
        let answer = self
            .handled(request, Operation::List, &path, Data::new())
            .await?;
        Ok(Response::new(RawListResponse {
            keys: answers::raw_keys(&answer),
        }))
    }

    async fn step_down(
        &self,
        request: Request<StepDownRequest>,
    ) -> Result<Response<StepDownResponse>, Status> {
        self.handled(request, Operation::Update, "step-down", Data::new())
            .await?;
        Ok(Response::new(StepDownResponse {}))
    }

    async fn members(
        &self,
        request: Request<MembersRequest>,
    ) -> Result<Response<MembersResponse>, Status> {
        let answer = self
            .handled(request, Operation::Read, "ha/members", Data::new())
            .await?;
        Ok(Response::new(answers::members(&answer)))
    }
}

/// `encoding=base64`: raw values cross as base64, so any bytes do.
fn base64_encoding() -> Data {
    let mut data = Data::new();
    data.insert("encoding".into(), Value::String("base64".into()));
    data
}
