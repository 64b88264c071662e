//! Generates the Prometheus Remote-Write protobuf types from `proto/` (pure Rust: protox parses the
//! `.proto` files, so no `protoc` is needed).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["prometheus/remote.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
