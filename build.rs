//! Generates protobuf code from `proto/` at build time with protox (a protobuf compiler in Rust), so
//! that no `protoc` needs to be installed: Prometheus Remote-Write types, Prometheus' scrape protobuf
//! format (`io.prometheus.client`, client_model's `metrics.proto`), and the Jaeger api_v2 and
//! Zipkin messages and gRPC services.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(
        ["prometheus/remote.proto", "prometheus/metrics.proto"],
        ["proto"],
    )?;
    prost_build::Config::new().compile_fds(fds)?;
    let files = [
        "proto/jaeger/api_v2/model.proto",
        "proto/jaeger/api_v2/collector.proto",
        "proto/zipkin/zipkin.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
