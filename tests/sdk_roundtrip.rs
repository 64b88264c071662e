//! Real SDKs (Python, Node.js, Rust) send traces, metrics and logs to an agent ferrotel, which forwards
//! them over `otlp_grpc` or `otlp_http` to a gateway ferrotel, which forwards them to a recording
//! destination. Every field the SDK set is checked on arrival.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

struct Topology {
    _gateway: Ferrotel,
    agent: Ferrotel,
    agent_grpc: u16,
    agent_http: u16,
}

/// Gateway: otlp (gRPC + HTTP) → otlp_grpc to the sink. Agent: otlp → the exporter under test → gateway.
fn topology(sink: &Sink, agent_exporter: &str, compression: &str, encoding: &str) -> Topology {
    let (gg, gh) = (free_port(), free_port());
    let gateway = Ferrotel::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{gg}"}}
      http: {{endpoint: "127.0.0.1:{gh}"}}
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
    metrics: {{receivers: [otlp], exporters: [otlp_grpc]}}
    logs: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#,
            sink = sink.grpc_endpoint()
        ),
        &[gg, gh],
    );
    let exporter = match agent_exporter {
        "otlp_grpc" => format!("otlp_grpc:\n    endpoint: 127.0.0.1:{gg}\n    tls: {{insecure: true}}\n    compression: {compression}"),
        _ => format!("otlp_http:\n    endpoint: http://127.0.0.1:{gh}\n    compression: {compression}\n    encoding: {encoding}"),
    };
    let (ag, ah) = (free_port(), free_port());
    let agent = Ferrotel::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{ag}"}}
      http: {{endpoint: "127.0.0.1:{ah}"}}
exporters:
  {exporter}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [{agent_exporter}]}}
    metrics: {{receivers: [otlp], exporters: [{agent_exporter}]}}
    logs: {{receivers: [otlp], exporters: [{agent_exporter}]}}
"#
        ),
        &[ag, ah],
    );
    Topology {
        _gateway: gateway,
        agent,
        agent_grpc: ag,
        agent_http: ah,
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .expect("run SDK sender (did tests/setup.sh run?)");
    assert!(
        out.status.success(),
        "SDK sender failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python(args: &[&str]) {
    let py = repo().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run tests/setup.sh",
        py.display()
    );
    run(Command::new(py)
        .arg(repo().join("tests/sdk/python/send.py"))
        .args(args));
}

fn node(args: &[&str]) {
    let dir = repo().join("tests/sdk/node");
    assert!(
        dir.join("node_modules").exists(),
        "tests/sdk/node/node_modules is missing: run tests/setup.sh"
    );
    run(Command::new("node")
        .current_dir(&dir)
        .arg("send.js")
        .args(args));
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

/// Waits for the sender's data and checks every field it set.
fn check_all(sink: &Sink, service: &str, prefix: &str, has_child: bool, logs_ts: &Ferrotel) {
    let want_spans = if has_child { 2 } else { 1 };
    assert!(
        wait_until(Duration::from_secs(20), || sink.span_count() >= want_spans
            && sink.metric_point_count() >= 2
            && sink.log_count() >= 1),
        "not everything arrived: spans {} points {} logs {}\nagent log:\n{}",
        sink.span_count(),
        sink.metric_point_count(),
        sink.log_count(),
        logs_ts.logs()
    );
    let st = sink.state.lock().unwrap();

    // Traces
    assert_eq!(sink_spans(&st), want_spans);
    let rs = &st.traces[0];
    let res = rs.resource.as_ref().unwrap();
    assert_eq!(attr(&res.attributes, "service.name"), Some(&s(service)));
    assert_eq!(attr(&res.attributes, "test.run"), Some(&s("sdk")));
    let spans: Vec<_> = st
        .traces
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|ss| ss.spans.iter().map(move |sp| (ss, sp)))
        .collect();
    let (scope, parent) = spans
        .iter()
        .find(|(_, sp)| sp.name == format!("{prefix}-parent"))
        .expect("parent span");
    let scope = scope.scope.as_ref().unwrap();
    assert_eq!(scope.name, format!("{prefix}-scope"));
    assert_eq!(scope.version, "1.2.3");
    assert_eq!(parent.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(parent.trace_id.len(), 16);
    assert_eq!(parent.span_id.len(), 8);
    assert!(
        parent.end_time_unix_nano >= parent.start_time_unix_nano && parent.start_time_unix_nano > 0
    );
    assert_eq!(attr(&parent.attributes, "str"), Some(&s("v")));
    assert_eq!(attr(&parent.attributes, "int"), Some(&Value::IntValue(42)));
    assert_eq!(
        attr(&parent.attributes, "float"),
        Some(&Value::DoubleValue(1.5))
    );
    assert_eq!(
        attr(&parent.attributes, "bool"),
        Some(&Value::BoolValue(true))
    );
    match attr(&parent.attributes, "list") {
        Some(Value::ArrayValue(a)) => assert_eq!(
            a.values,
            vec![
                AnyValue {
                    value: Some(s("a"))
                },
                AnyValue {
                    value: Some(s("b"))
                }
            ]
        ),
        other => panic!("list attribute: {other:?}"),
    }
    assert_eq!(parent.events.len(), 1);
    assert_eq!(parent.events[0].name, format!("{prefix}-event"));
    assert_eq!(attr(&parent.events[0].attributes, "ev.attr"), Some(&s("x")));
    let status = parent.status.as_ref().unwrap();
    assert_eq!(status.code, 2, "STATUS_CODE_ERROR");
    assert_eq!(status.message, "boom");
    if has_child {
        let (_, child) = spans
            .iter()
            .find(|(_, sp)| sp.name == format!("{prefix}-child"))
            .expect("child span");
        assert_eq!(child.trace_id, parent.trace_id);
        assert_eq!(child.parent_span_id, parent.span_id);
    }

    // Metrics
    let metrics: Vec<_> = st
        .metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|sm| &sm.metrics)
        .collect();
    let counter = metrics
        .iter()
        .find(|m| m.name == format!("{prefix}.counter"))
        .expect("counter");
    match &counter.data {
        Some(Data::Sum(sum)) => {
            assert!(sum.is_monotonic);
            let dp = &sum.data_points[0];
            assert_eq!(attr(&dp.attributes, "k"), Some(&s("v")));
            let v = match dp.value {
                Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(
                    i,
                )) => i as f64,
                Some(
                    opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(d),
                ) => d,
                None => panic!("no value"),
            };
            assert_eq!(v, 5.0);
        }
        other => panic!("counter data: {other:?}"),
    }
    let hist = metrics
        .iter()
        .find(|m| m.name == format!("{prefix}.hist"))
        .expect("histogram");
    match &hist.data {
        Some(Data::Histogram(h)) => {
            let dp = &h.data_points[0];
            assert_eq!(dp.count, 1);
            assert_eq!(dp.sum, Some(3.0));
            assert_eq!(dp.bucket_counts.iter().sum::<u64>(), 1);
            assert_eq!(dp.bucket_counts.len(), dp.explicit_bounds.len() + 1);
        }
        other => panic!("histogram data: {other:?}"),
    }

    // Logs
    let rec = st
        .logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|sl| &sl.log_records)
        .next()
        .unwrap();
    assert_eq!(
        rec.body.as_ref().and_then(|b| b.value.as_ref()),
        Some(&s(&format!(
            "hello from {}",
            service.trim_end_matches("-sender")
        )))
    );
    assert_eq!(rec.severity_number, 13, "SEVERITY_NUMBER_WARN");
    assert_eq!(attr(&rec.attributes, "log.attr"), Some(&Value::IntValue(7)));
}

fn sink_spans(st: &common::sink::Recorded) -> usize {
    st.traces
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

#[test]
fn python_grpc_gzip_through_otlp_grpc() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let t = topology(&sink, "otlp_grpc", "gzip", "proto");
    python(&[
        "grpc",
        &format!("http://127.0.0.1:{}", t.agent_grpc),
        "gzip",
    ]);
    check_all(&sink, "python-sender", "py", true, &t.agent);
}

#[test]
fn python_http_protobuf_through_otlp_http() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let t = topology(&sink, "otlp_http", "none", "proto");
    python(&[
        "http",
        &format!("http://127.0.0.1:{}", t.agent_http),
        "none",
    ]);
    check_all(&sink, "python-sender", "py", true, &t.agent);
}

#[test]
fn python_http_gzip_through_otlp_http_zstd() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let t = topology(&sink, "otlp_http", "zstd", "proto");
    python(&[
        "http",
        &format!("http://127.0.0.1:{}", t.agent_http),
        "gzip",
    ]);
    check_all(&sink, "python-sender", "py", true, &t.agent);
}

#[test]
fn node_json_through_otlp_http_json() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let t = topology(&sink, "otlp_http", "gzip", "json");
    node(&[&format!("http://127.0.0.1:{}", t.agent_http), "none"]);
    check_all(&sink, "node-sender", "node", false, &t.agent);
}

#[test]
fn node_json_gzip_through_otlp_grpc() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let t = topology(&sink, "otlp_grpc", "none", "proto");
    node(&[&format!("http://127.0.0.1:{}", t.agent_http), "gzip"]);
    check_all(&sink, "node-sender", "node", false, &t.agent);
}

mod rust_sdk {
    use opentelemetry::logs::{LogRecord, Logger, LoggerProvider, Severity};
    use opentelemetry::metrics::MeterProvider;
    use opentelemetry::trace::{Span, SpanKind, Status, Tracer, TracerProvider};
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_otlp::{
        Compression, Protocol, WithExportConfig, WithHttpConfig, WithTonicConfig,
    };
    use opentelemetry_sdk::Resource;

    fn resource() -> Resource {
        Resource::builder()
            .with_service_name("rust-sender")
            .with_attribute(KeyValue::new("test.run", "sdk"))
            .build()
    }

    /// Sends the same known data as the Python and Node senders, over gRPC or HTTP protobuf.
    pub fn send(grpc: bool, endpoint: &str, compression: Option<Compression>) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _guard = rt.enter();
        macro_rules! exporter {
            ($b:expr, $path:expr) => {
                if grpc {
                    let mut b = $b.with_tonic().with_endpoint(endpoint);
                    if let Some(c) = compression {
                        b = b.with_compression(c);
                    }
                    b.build().unwrap()
                } else {
                    let mut b = $b
                        .with_http()
                        .with_protocol(Protocol::HttpBinary)
                        .with_endpoint(format!("{endpoint}{}", $path));
                    if let Some(c) = compression {
                        b = b.with_compression(c);
                    }
                    b.build().unwrap()
                }
            };
        }
        let scope = InstrumentationScope::builder("rust-scope")
            .with_version("1.2.3")
            .build();

        let tp = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_resource(resource())
            .with_simple_exporter(exporter!(
                opentelemetry_otlp::SpanExporter::builder(),
                "/v1/traces"
            ))
            .build();
        let tracer = tp.tracer_with_scope(scope.clone());
        let mut parent = tracer
            .span_builder("rust-parent")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("str", "v"),
                KeyValue::new("int", 42),
                KeyValue::new("float", 1.5),
                KeyValue::new("bool", true),
                KeyValue::new(
                    "list",
                    opentelemetry::Value::Array(
                        vec![
                            opentelemetry::StringValue::from("a"),
                            opentelemetry::StringValue::from("b"),
                        ]
                        .into(),
                    ),
                ),
            ])
            .start(&tracer);
        parent.add_event("rust-event", vec![KeyValue::new("ev.attr", "x")]);
        parent.set_status(Status::error("boom"));
        parent.end();
        tp.force_flush().unwrap();
        tp.shutdown().unwrap();

        let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter!(
            opentelemetry_otlp::MetricExporter::builder(),
            "/v1/metrics"
        ))
        .build();
        let mp = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_resource(resource())
            .with_reader(reader)
            .build();
        let meter = mp.meter_with_scope(scope.clone());
        meter
            .u64_counter("rust.counter")
            .build()
            .add(5, &[KeyValue::new("k", "v")]);
        meter.f64_histogram("rust.hist").build().record(3.0, &[]);
        mp.force_flush().unwrap();
        mp.shutdown().unwrap();

        let lp = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
            .with_resource(resource())
            .with_simple_exporter(exporter!(
                opentelemetry_otlp::LogExporter::builder(),
                "/v1/logs"
            ))
            .build();
        let logger = lp.logger_with_scope(scope);
        let mut rec = logger.create_log_record();
        rec.set_body("hello from rust".into());
        rec.set_severity_number(Severity::Warn);
        rec.set_severity_text("WARN");
        rec.add_attribute("log.attr", 7);
        logger.emit(rec);
        lp.force_flush().unwrap();
        lp.shutdown().unwrap();
    }
}

#[test]
fn rust_grpc_zstd_through_otlp_grpc_gzip() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let t = topology(&sink, "otlp_grpc", "gzip", "proto");
    let ep = format!("http://127.0.0.1:{}", t.agent_grpc);
    std::thread::spawn(move || {
        rust_sdk::send(true, &ep, Some(opentelemetry_otlp::Compression::Zstd))
    })
    .join()
    .unwrap();
    check_all(&sink, "rust-sender", "rust", false, &t.agent);
}

#[test]
fn rust_http_protobuf_through_otlp_http() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let t = topology(&sink, "otlp_http", "none", "proto");
    let ep = format!("http://127.0.0.1:{}", t.agent_http);
    std::thread::spawn(move || rust_sdk::send(false, &ep, None))
        .join()
        .unwrap();
    check_all(&sink, "rust-sender", "rust", false, &t.agent);
}
