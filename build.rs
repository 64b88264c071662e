//! Generates the Jaeger api_v2 and Zipkin protobuf code from `proto/` at build time, with protox (a
//! protobuf compiler in Rust), so that no `protoc` needs to be installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/jaeger/api_v2/model.proto",
        "proto/jaeger/api_v2/collector.proto",
        "proto/zipkin/zipkin.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
