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
    // The Watch server once more, sending `proto::wire::Wire` instead of
    // `WatchEvent`: the same bytes on the wire, but a batch of live alerts
    // can be encoded once and the bytes shared by every viewer (see
    // src/sink/watch.rs). The generated client keeps decoding WatchEvent.
    let subscribe = tonic_build::manual::Method::builder()
        .name("subscribe")
        .route_name("Subscribe")
        .input_type("crate::proto::watch::SubscribeRequest")
        .output_type("crate::proto::wire::Wire")
        .codec_path("tonic_prost::ProstCodec")
        .server_streaming()
        .build();
    let watch = tonic_build::manual::Service::builder()
        .name("Watch")
        .package("sinkwatch.v1")
        .method(subscribe)
        .build();
    tonic_build::manual::Builder::new()
        .build_client(false)
        .compile(&[watch]);
    Ok(())
}
