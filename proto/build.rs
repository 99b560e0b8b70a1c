//! Generates the tonic code from vault.proto with protox, so no system `protoc` is needed.

use prost::Message;

/// The messages whose `Debug` is written in src/redacted.rs, not derived.
const SECRET_MESSAGES: &[&str] = &[
    "LogicalRequest",
    "LogicalResponse",
    "WrapInfo",
    "Auth",
    "MfaRequirement",
    "InitResponse",
    "UnsealRequest",
    "RekeyUpdateRequest",
    "RekeyUpdateResponse",
    "RekeyVerifyRequest",
    "RawReadResponse",
    "RawWriteRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/vault.proto");
    let fds = protox::compile(["vault.proto"], ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // Kept for the gRPC reflection service.
    std::fs::write(out.join("vault_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        // Messages that carry secrets get a redacting Debug (src/redacted.rs).
        .skip_debug(SECRET_MESSAGES.iter().map(|m| format!(".vault.v1.{m}")))
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
