//! Exporter compression end to end: every algorithm and level the `otlp_grpc` and `otlp_http`
//! exporters offer delivers every item exactly once (counted by sequence number at the load
//! generator's sink, which decompresses with ferrotel's receiver), for batches compressed inline
//! and on the blocking pool; the gRPC exporter says what it compressed with; and the gRPC receiver
//! reads gRPC `snappy` (the framing format) from an independent client.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, Ferrotel};

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrotel-loadgen"))
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

#[test]
fn every_exporter_compression_delivers_every_item_once() {
    // (exporter, its compression settings); "" leaves the key out (the default, gzip).
    let cases = [
        ("otlp_grpc", ""),
        ("otlp_grpc", "compression: zstd"),
        ("otlp_grpc", "compression: deflate"),
        ("otlp_grpc", "compression: none"),
        ("otlp_grpc", "compression: snappy"),
        ("otlp_http", ""),
        (
            "otlp_http",
            "compression: gzip, compression_params: {level: 1}",
        ),
        (
            "otlp_http",
            "compression: gzip, compression_params: {level: 9}",
        ),
        (
            "otlp_http",
            "compression: zstd, compression_params: {level: 10}",
        ),
        ("otlp_http", "compression: zlib"),
        ("otlp_http", "compression: snappy"),
        ("otlp_http", "compression: x-snappy-framed"),
        ("otlp_http", "compression: lz4"),
    ];
    for (exporter, settings) in cases {
        let (sg, sh, st) = (free_port(), free_port(), free_port());
        let _sink = KillOnDrop(
            loadgen()
                .args(["--threads", "1", "sink"])
                .args(["--grpc", &format!("127.0.0.1:{sg}")])
                .args(["--http", &format!("127.0.0.1:{sh}")])
                .args(["--stats", &format!("127.0.0.1:{st}")])
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let g = free_port();
        let endpoint = if exporter == "otlp_grpc" {
            format!("\"127.0.0.1:{sg}\", tls: {{insecure: true}}")
        } else {
            format!("\"http://127.0.0.1:{sh}\"")
        };
        let settings = if settings.is_empty() {
            String::new()
        } else {
            format!(", {settings}")
        };
        // Batches of 2000 spans (about 1 MB: compressed on the blocking pool) and the 300-span rest
        // (compressed inline, when the batch timeout sends it).
        let yaml = format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}"}}
processors:
  batch: {{send_batch_size: 2000, send_batch_max_size: 2000, timeout: 200ms}}
exporters:
  {exporter}: {{endpoint: {endpoint}{settings}}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [{exporter}]}}
"#
        );
        let f = Ferrotel::start(&yaml, &[g]);
        let report = run_json(
            loadgen()
                .args(["--threads", "1", "send", "--json", "--signal", "traces"])
                .args(["--protocol", "grpc", "--endpoint"])
                .arg(format!("127.0.0.1:{g}"))
                .args(["--count", "4300", "--items-per-request", "100"])
                .args(["--connections", "2", "--rate", "50000"]),
        );
        assert_eq!(
            report["items_accepted"], 4300,
            "{exporter} {settings}: {report}"
        );
        let stats = run_json(
            loadgen()
                .args(["stats", "--sink", &format!("127.0.0.1:{st}")])
                .args(["--from", "0", "--to", "4300"])
                .args(["--expect", "4300", "--timeout", "60s", "--settle", "30s"]),
        );
        let case = format!("{exporter} {settings}: {stats}\n{}", f.logs());
        assert_eq!(stats["unique"], 4300, "{case}");
        assert_eq!(stats["duplicates"], 0, "{case}");
        assert_eq!(stats["missing_in_range"], 0, "{case}");
        assert!(f.stop(Duration::from_secs(10)).success(), "{case}");
    }
}

/// The gRPC exporter compresses through ferrotel's compression module and frames the message
/// itself: the destination must see `grpc-encoding: gzip` by default (otelcol's default) and no
/// encoding with `compression: none`, and decode every span either way.
#[test]
fn grpc_exporter_announces_its_encoding() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (settings, want) in [("", Some("gzip")), (", compression: none", None)] {
        let sink = common::sink::Sink::start(&rt);
        let g = free_port();
        let yaml = format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}"}}
exporters:
  otlp_grpc: {{endpoint: "{}", tls: {{insecure: true}}{settings}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#,
            sink.grpc_endpoint()
        );
        let f = Ferrotel::start(&yaml, &[g]);
        let report = run_json(
            loadgen()
                .args(["--threads", "1", "send", "--json", "--signal", "traces"])
                .args(["--protocol", "grpc", "--endpoint"])
                .arg(format!("127.0.0.1:{g}"))
                .args(["--count", "700", "--items-per-request", "100"]),
        );
        assert_eq!(report["items_accepted"], 700, "{report}");
        assert!(
            common::wait_until(Duration::from_secs(10), || sink.span_count() == 700),
            "{} spans\n{}",
            sink.span_count(),
            f.logs()
        );
        let st = sink.state.lock().unwrap();
        for h in &st.headers {
            let enc = h
                .iter()
                .find(|(k, _)| k == "grpc-encoding")
                .map(|(_, v)| v.as_str());
            assert_eq!(enc, want, "{h:?}");
        }
        drop(st);
        assert!(f.stop(Duration::from_secs(10)).success());
    }
}

/// A gRPC request compressed with `snappy` as otelcol's gRPC client sends it (the snappy framing
/// format in a message flagged compressed, `grpc-encoding: snappy`), built here by hand and sent
/// over h2c by reqwest, is accepted by the receiver and every span arrives; a raw snappy block is
/// refused with no span forwarded.
#[test]
fn grpc_receiver_accepts_snappy() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    use std::io::Write;

    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = common::sink::Sink::start(&rt);
    let g = free_port();
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}"}}
exporters:
  otlp_grpc: {{endpoint: "{}", tls: {{insecure: true}}, compression: none}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    );
    let f = Ferrotel::start(&yaml, &[g]);
    let spans: Vec<Span> = (0..50u8)
        .map(|i| Span {
            trace_id: vec![i + 1; 16],
            span_id: vec![i + 1; 8],
            name: format!("snappy span {i}"),
            ..Default::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let framed = {
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(&request).unwrap();
        w.into_inner().unwrap()
    };
    let block = snap::raw::Encoder::new().compress_vec(&request).unwrap();
    let client = reqwest::blocking::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let send = |message: &[u8]| {
        let mut body = vec![1u8];
        body.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        body.extend_from_slice(message);
        let resp = client
            .post(format!(
                "http://127.0.0.1:{g}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
            ))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-encoding", "snappy")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        // A refusal is trailers-only: its grpc-status comes with the headers.
        let status = resp
            .headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_string());
        let _ = resp.bytes();
        status
    };
    let refused = send(&block);
    assert_eq!(refused.as_deref(), Some("13"), "a raw block is INTERNAL");
    assert_eq!(
        send(&framed),
        None,
        "accepted: grpc-status OK in the trailers"
    );
    assert!(
        common::wait_until(Duration::from_secs(10), || sink.span_count() == 50),
        "{} spans\n{}",
        sink.span_count(),
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}
