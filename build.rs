//! Generates protobuf code from `proto/` at build time with protox (a protobuf compiler in Rust), so
//! that no `protoc` needs to be installed: Prometheus Remote-Write types, Prometheus' scrape protobuf
//! format (`io.prometheus.client`, client_model's `metrics.proto`), and the Jaeger api_v2 and
//! Zipkin messages and gRPC services. Also hands the linker the code layout of the `ferrotel` binary
//! (`layout/ferrotel.order`, see [`link_layout`]).

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
    link_layout();
    Ok(())
}

/// How the `ferrotel` binary is linked, to keep the pages it maps few (docs/performance.md, "Code
/// layout"); only the layout changes, never the code:
/// - `layout/ferrotel.order` (written by `layout/generate.sh` from callgrind runs of the shipped
///   configs) lists the functions a running collector executes; the linker places them together at
///   the start of the code, so the rest (other components, error paths) is never read from disk. A
///   name that no longer exists (the code changed since the file was written) is skipped: the layout
///   gets a little worse, never wrong.
/// - Relative relocations are packed (`DT_RELR`, glibc 2.36+): the loader reads a few kilobytes at
///   start-up instead of the ~900 KB `.rela.dyn` table.
///
/// rust-lld is this target's default linker since Rust 1.90; nothing is passed when another linker is
/// configured or `FERROTEL_LINK_LAYOUT=0`.
fn link_layout() {
    println!("cargo:rerun-if-changed=layout/ferrotel.order");
    println!("cargo:rerun-if-env-changed=FERROTEL_LINK_LAYOUT");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("TARGET") != "x86_64-unknown-linux-gnu"
        || std::env::var_os("RUSTC_LINKER").is_some()
        || var("FERROTEL_LINK_LAYOUT") == "0"
    {
        return;
    }
    println!("cargo:rustc-link-arg-bin=ferrotel=-Wl,-z,pack-relative-relocs");
    let file = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("layout/ferrotel.order");
    if file.exists() {
        let file = file.display();
        println!("cargo:rustc-link-arg-bin=ferrotel=-Wl,--symbol-ordering-file={file}");
        println!("cargo:rustc-link-arg-bin=ferrotel=-Wl,--no-warn-symbol-ordering");
    }
}
