//! Compiles the wire contract without a system `protoc`: `protox` parses the
//! proto files in pure Rust and `tonic-prost-build` generates the code. The
//! encoded descriptor set is also written to OUT_DIR so server reflection can
//! serve it (grpcurl works without the proto file).
use std::{env, fs, path::PathBuf};

use protox::prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/alertsink.proto", "proto/sinkwatch/v1/watch.proto"];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("alertsink_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
