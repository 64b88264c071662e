//! The legacy trace receivers with real clients: the Python Jaeger (thrift over UDP and HTTP, api_v2
//! gRPC) and Zipkin (v2 JSON and protobuf) exporters send two spans through ferrotel to a recording
//! sink; ids, names, kinds, parentage, status, attributes and events are checked on arrival.

use crate::common;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn start(sink: &Sink, receivers: &str, ports: &[u16]) -> Ferrotel {
    Ferrotel::start(
        &format!(
            r#"
receivers:
{receivers}
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [{names}], exporters: [otlp_grpc]}}
"#,
            sink = sink.grpc_endpoint(),
            names = if receivers.contains("zipkin") {
                "zipkin"
            } else {
                "jaeger"
            },
        ),
        ports,
    )
}

fn send(kind: &str, port: u16, service: &str) {
    let py = repo().join(".venv-jaeger/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run tests/setup.sh",
        py.display()
    );
    let out = Command::new(py)
        .arg(repo().join("tests/sdk/python/jaeger/send.py"))
        .args([kind, "127.0.0.1", &port.to_string(), service])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn attr<'a>(
    attrs: &'a [opentelemetry_proto::tonic::common::v1::KeyValue],
    k: &str,
) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|a| a.key == k)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
}

/// The two spans arrived with every field the app set.
fn check(sink: &Sink, service: &str) {
    assert!(
        wait_until(Duration::from_secs(20), || sink.span_count() >= 2),
        "spans at the sink: {}",
        sink.span_count()
    );
    let st = sink.state.lock().unwrap();
    let mut spans = Vec::new();
    for rs in &st.traces {
        let res = rs.resource.as_ref().unwrap();
        assert_eq!(
            attr(&res.attributes, "service.name"),
            Some(&Value::StringValue(service.into()))
        );
        for ss in &rs.scope_spans {
            for sp in &ss.spans {
                spans.push((ss.scope.clone().unwrap_or_default(), sp.clone()));
            }
        }
    }
    assert_eq!(spans.len(), 2);
    let (pscope, parent) = spans.iter().find(|(_, s)| s.name == "parent").unwrap();
    let (_, child) = spans.iter().find(|(_, s)| s.name == "child").unwrap();
    assert_eq!(pscope.name, "legacy-test");
    assert_eq!(parent.kind, 2, "SERVER");
    assert_eq!(child.kind, 3, "CLIENT");
    assert_eq!(parent.trace_id.len(), 16);
    assert_eq!(child.trace_id, parent.trace_id);
    assert_eq!(child.parent_span_id, parent.span_id);
    assert!(parent.parent_span_id.is_empty());
    let pst = parent.status.clone().unwrap();
    assert_eq!(pst.code, 2, "ERROR");
    // The Python Zipkin exporters write the status as `OK`, which otelcol's Zipkin translator does
    // not know (it reads `STATUS_CODE_OK` or `Ok`): Unset, as in otelcol.
    let ok = if service.starts_with("zipkin") { 0 } else { 1 };
    assert_eq!(
        child.status.clone().unwrap_or_default().code,
        ok,
        "{child:?}"
    );
    assert!(
        parent.end_time_unix_nano >= parent.start_time_unix_nano && parent.start_time_unix_nano > 0
    );
    assert_eq!(
        attr(&parent.attributes, "s"),
        Some(&Value::StringValue("text".into()))
    );
    assert_eq!(parent.events.len(), 1);
    let ev = &parent.events[0];
    if service.starts_with("zipkin") {
        // The Python Zipkin exporter writes `{"name": {attributes}}` as the annotation value, which
        // otelcol's translator (expecting `name|{attributes}`) keeps whole as the event name.
        assert_eq!(ev.name, r#"{"ev": {"k": "v"}}"#);
    } else {
        // The Python Jaeger exporters put the event name in a `message` field, not in `event`
        // (otelcol's name key), so the name stays empty and `message` is an attribute.
        assert_eq!(ev.name, "", "{ev:?}");
        assert_eq!(
            attr(&ev.attributes, "message"),
            Some(&Value::StringValue("ev".into())),
            "{ev:?}"
        );
        assert_eq!(
            attr(&ev.attributes, "k"),
            Some(&Value::StringValue("v".into()))
        );
    }
}

#[test]
fn jaeger_thrift_udp_compact() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (p, h) = (free_port(), free_port());
    let _f = start(&sink, &format!("  jaeger:\n    protocols:\n      thrift_compact: {{endpoint: \"127.0.0.1:{p}\"}}\n      thrift_http: {{endpoint: \"127.0.0.1:{h}\"}}"), &[h]);
    // Malformed packets before the good ones are dropped and counted, and do not stop the receiver.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    for bad in [
        &b"garbage"[..],
        &[0x82, 0x81, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07][..],
        &[][..],
    ] {
        u.send_to(bad, ("127.0.0.1", p)).unwrap();
    }
    send("jaeger-thrift-udp", p, "jaeger-udp");
    check(&sink, "jaeger-udp");
    let st = sink.state.lock().unwrap();
    let parent = st
        .traces
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .find(|s| s.name == "parent")
        .unwrap();
    assert_eq!(attr(&parent.attributes, "i"), Some(&Value::IntValue(42)));
    assert_eq!(attr(&parent.attributes, "b"), Some(&Value::BoolValue(true)));
    assert_eq!(parent.status.clone().unwrap().message, "boom");
}

#[test]
fn jaeger_thrift_http() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let h = free_port();
    let _f = start(
        &sink,
        &format!("  jaeger:\n    protocols:\n      thrift_http: {{endpoint: \"127.0.0.1:{h}\"}}"),
        &[h],
    );
    // Truncated thrift and a forged 2 GiB length: 400, no crash.
    let c = reqwest::blocking::Client::new();
    for bad in [
        vec![0x0c, 0x00],
        vec![0x0b, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff],
    ] {
        let r = c
            .post(format!("http://127.0.0.1:{h}/api/traces"))
            .header("content-type", "application/x-thrift")
            .body(bad)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    send("jaeger-thrift-http", h, "jaeger-http");
    check(&sink, "jaeger-http");
}

#[test]
fn jaeger_grpc() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let g = free_port();
    let _f = start(
        &sink,
        &format!("  jaeger:\n    protocols:\n      grpc: {{endpoint: \"127.0.0.1:{g}\"}}"),
        &[g],
    );
    send("jaeger-grpc", g, "jaeger-grpc");
    check(&sink, "jaeger-grpc");
}

#[test]
fn zipkin_json_and_proto() {
    for kind in ["zipkin-json", "zipkin-proto"] {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sink = Sink::start(&rt);
        let z = free_port();
        let _f = start(
            &sink,
            &format!("  zipkin:\n    endpoint: \"127.0.0.1:{z}\""),
            &[z],
        );
        let c = reqwest::blocking::Client::new();
        let r = c
            .post(format!("http://127.0.0.1:{z}/api/v2/spans"))
            .header("content-type", "application/json")
            .body("[{")
            .send()
            .unwrap();
        assert_eq!(r.status(), 400);
        send(kind, z, kind);
        check(&sink, kind);
    }
}

/// What the UDP receiver drops itself is counted exactly on the metrics endpoint, by reason:
/// datagrams over `max_packet_size` (`too_large`) and datagrams that are not a thrift `Batch`
/// (`undecodable`).
#[test]
fn udp_drops_are_counted_on_the_metrics_endpoint() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (p, m) = (free_port(), free_port());
    let f = Ferrotel::start(
        &format!(
            r#"
receivers:
  jaeger:
    protocols:
      thrift_compact: {{endpoint: "127.0.0.1:{p}", max_packet_size: 100}}
exporters:
  otlp_grpc: {{endpoint: {sink}, tls: {{insecure: true}}}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{m}"}}}}
  pipelines:
    traces: {{receivers: [jaeger], exporters: [otlp_grpc]}}
"#,
            sink = sink.grpc_endpoint()
        ),
        &[m],
    );
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        u.send_to(&[0u8; 200], ("127.0.0.1", p)).unwrap();
    }
    for bad in [
        &b"garbage"[..],
        &[0x82, 0x81, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07][..],
    ] {
        u.send_to(bad, ("127.0.0.1", p)).unwrap();
    }
    let count = |reason: &str| {
        let text = ferrotel::telemetry::http_get::get(
            &format!("http://127.0.0.1:{m}/metrics"),
            Duration::from_secs(5),
        )
        .map(|r| r.body)
        .unwrap_or_default();
        ferrotel::telemetry::top::parse_exposition(&text)
            .iter()
            .filter(|s| s.name == "ferrotel_receiver_udp_dropped_packets_total")
            .filter(|s| s.labels.get("reason").map(String::as_str) == Some(reason))
            .map(|s| s.value)
            .sum::<f64>()
    };
    let ok = wait_until(Duration::from_secs(10), || {
        count("too_large") == 3.0 && count("undecodable") == 2.0
    });
    // Settled: nothing counted twice.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        ok && count("too_large") == 3.0 && count("undecodable") == 2.0,
        "too_large {} (3), undecodable {} (2)\n{}",
        count("too_large"),
        count("undecodable"),
        f.logs()
    );
}

/// Waits until the collector logged that every component started (a UDP receiver has no port a
/// test could probe).
fn wait_running(f: &Ferrotel) {
    assert!(
        wait_until(Duration::from_secs(20), || f
            .logs()
            .contains("ferrotel is running")),
        "{}",
        f.logs()
    );
}

/// One `emitBatch` datagram as the Python Jaeger exporter sends it (one span), captured on a UDP
/// socket of the test.
fn captured_jaeger_packet() -> Vec<u8> {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let port = u.local_addr().unwrap().port();
    send("jaeger-thrift-udp", port, "captured");
    let mut buf = vec![0u8; 65_536];
    let (n, _) = u
        .recv_from(&mut buf)
        .expect("a datagram from the Jaeger exporter");
    buf.truncate(n);
    buf
}

/// A TCP gate in front of `upstream`: each connection's first bytes are read and counted, then held
/// until [`Gate::open`]; after that, everything is forwarded both ways.
struct Gate {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    open: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
}

impl Gate {
    fn start(rt: &tokio::runtime::Runtime, upstream: std::net::SocketAddr) -> Gate {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let gate = Gate {
            addr: listener.local_addr().unwrap(),
            seen: Default::default(),
            open: std::sync::Arc::new(tokio::sync::watch::channel(false).0),
        };
        let (seen, open) = (gate.seen.clone(), gate.open.clone());
        rt.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (seen, mut open) = (seen.clone(), open.subscribe());
                tokio::spawn(async move {
                    let mut first = vec![0u8; 65_536];
                    let Ok(n) = client.read(&mut first).await else {
                        return;
                    };
                    seen.fetch_add(n, Ordering::SeqCst);
                    if open.wait_for(|o| *o).await.is_err() {
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    if server.write_all(&first[..n]).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        gate
    }

    fn seen(&self) -> usize {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn open(&self) {
        self.open.send_replace(true);
    }
}

/// The metric `name` with `labels` (all of them) on the metrics endpoint, summed.
fn metric(port: u16, name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = ferrotel::telemetry::http_get::get(
        &format!("http://127.0.0.1:{port}/metrics"),
        Duration::from_secs(5),
    )
    .map(|r| r.body)
    .unwrap_or_default();
    ferrotel::telemetry::top::parse_exposition(&text)
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// A UDP receiver whose one worker is stuck on a pipeline that does not answer (the exporter has no
/// queue and its backend holds the request) keeps `queue_size` packets and drops the rest as
/// `queue_full`: with `queue_size: 1` and ten packets, the worker holds the first, the queue the
/// second, and exactly eight are dropped. Once the backend answers, exactly the two kept packets'
/// spans arrive.
#[test]
fn a_full_udp_queue_drops_exactly_what_does_not_fit() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let gate = Gate::start(&rt, sink.http_addr);
    let packet = captured_jaeger_packet();
    let (p, m) = (free_port(), free_port());
    let f = Ferrotel::start(
        &format!(
            r#"
receivers:
  jaeger:
    protocols:
      thrift_compact: {{endpoint: "127.0.0.1:{p}", queue_size: 1, workers: 1}}
exporters:
  otlp_http:
    endpoint: http://{gate}
    timeout: 120s
    sending_queue: {{enabled: false}}
    retry_on_failure: {{enabled: false}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{m}"}}}}
  pipelines:
    traces: {{receivers: [jaeger], exporters: [otlp_http]}}
"#,
            gate = gate.addr
        ),
        &[m],
    );
    wait_running(&f);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    // The first packet: the worker takes it and waits on the exporter, which waits on the gate.
    u.send_to(&packet, ("127.0.0.1", p)).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || gate.seen() > 0),
        "the export of the first packet never reached the backend\n{}",
        f.logs()
    );
    // Nine more, in order on one socket: the second fills the queue, the other eight find it full.
    for _ in 0..9 {
        u.send_to(&packet, ("127.0.0.1", p)).unwrap();
    }
    let dropped = || {
        metric(
            m,
            "ferrotel_receiver_udp_dropped_packets_total",
            &[("reason", "queue_full")],
        )
    };
    let ok = wait_until(Duration::from_secs(10), || dropped() == 8.0);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        ok && dropped() == 8.0,
        "queue_full drops: {} (8)\n{}",
        dropped(),
        f.logs()
    );
    // The backend answers: the held packet and the queued one are delivered, nothing else.
    gate.open();
    assert!(
        wait_until(Duration::from_secs(20), || sink.span_count() == 2),
        "spans at the sink: {}",
        sink.span_count()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.span_count(), 2);
    assert_eq!(dropped(), 8.0);
    assert_eq!(
        metric(
            m,
            "otelcol_receiver_accepted_spans_total",
            &[("receiver", "jaeger")]
        ),
        2.0,
        "{}",
        f.logs()
    );
}

type Flat = (
    opentelemetry_proto::tonic::resource::v1::Resource,
    opentelemetry_proto::tonic::common::v1::InstrumentationScope,
    opentelemetry_proto::tonic::trace::v1::Span,
);

/// Every span at `sink` whose resource has `service.name` = `service`, by span id.
fn spans_of(sink: &Sink, service: &str) -> std::collections::BTreeMap<Vec<u8>, Flat> {
    let st = sink.state.lock().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for rs in &st.traces {
        let res = rs.resource.clone().unwrap_or_default();
        if attr(&res.attributes, "service.name") != Some(&Value::StringValue(service.into())) {
            continue;
        }
        for ss in &rs.scope_spans {
            for sp in &ss.spans {
                out.insert(
                    sp.span_id.clone(),
                    (
                        res.clone(),
                        ss.scope.clone().unwrap_or_default(),
                        sp.clone(),
                    ),
                );
            }
        }
    }
    out
}

fn sorted(
    mut attrs: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    attrs
}

fn kv(k: &str, v: Value) -> opentelemetry_proto::tonic::common::v1::KeyValue {
    opentelemetry_proto::tonic::common::v1::KeyValue {
        key: k.into(),
        value: Some(opentelemetry_proto::tonic::common::v1::AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn value_of(kv: &opentelemetry_proto::tonic::common::v1::KeyValue) -> Option<&Value> {
    kv.value.as_ref().and_then(|v| v.value.as_ref())
}

/// Python's `round(ns / 1000)` as the exporters write microseconds.
fn us_round(ns: u64) -> u64 {
    (ns + 500) / 1_000
}

/// What the span the app sent as OTLP becomes through `kind`'s Python exporter and ferrotel's
/// receiver, following otelcol's translators (`pkg/translator/jaeger`, `pkg/translator/zipkin/
/// zipkinv2`) and what the Python exporters put on the wire. Every change made here is an expected
/// difference from the OTLP the app sent; anything else that differs is a bug. `got` is used only
/// for the api_v2 timestamps, which the Python gRPC exporter computes in floating point (off by up
/// to a microsecond).
fn expected_through(kind: &str, sent: &Flat, got: &Flat) -> Flat {
    let (mut res, mut scope, mut sp) = sent.clone();
    let resource_attrs = res.attributes.clone();
    // Times: microseconds on both wire formats, start and duration rounded separately.
    let (start_us, dur_us) = (
        us_round(sp.start_time_unix_nano),
        us_round(sp.end_time_unix_nano - sp.start_time_unix_nano),
    );
    sp.start_time_unix_nano = start_us * 1_000;
    sp.end_time_unix_nano = (start_us + dur_us) * 1_000;
    for e in &mut sp.events {
        e.time_unix_nano = us_round(e.time_unix_nano) * 1_000;
    }
    if kind == "jaeger-grpc" {
        let near = |a: u64, b: u64| a.abs_diff(b) <= 1_000;
        let g = &got.2;
        if near(g.start_time_unix_nano, sent.2.start_time_unix_nano)
            && near(g.end_time_unix_nano, sent.2.end_time_unix_nano)
        {
            sp.start_time_unix_nano = g.start_time_unix_nano;
            sp.end_time_unix_nano = g.end_time_unix_nano;
        }
        for (e, ge) in sp.events.iter_mut().zip(&g.events) {
            if near(ge.time_unix_nano, e.time_unix_nano) {
                e.time_unix_nano = ge.time_unix_nano;
            }
        }
    }
    scope.attributes.clear();
    let (name, version) = (scope.name.clone(), scope.version.clone());
    if kind.starts_with("jaeger") {
        // The exporter sends the resource attributes as span tags (and, over gRPC only, as
        // process tags too); the thrift process carries only the service name.
        sp.attributes.extend(resource_attrs.iter().cloned());
        if kind != "jaeger-grpc" {
            res.attributes.retain(|a| a.key == "service.name");
        }
        // Arrays are sent as Python's text of a tuple.
        for a in &mut sp.attributes {
            if let Some(Value::ArrayValue(arr)) = value_of(a) {
                let items: Vec<String> = arr
                    .values
                    .iter()
                    .map(|v| match &v.value {
                        Some(Value::StringValue(s)) => format!("'{s}'"),
                        other => format!("{other:?}"),
                    })
                    .collect();
                *a = kv(
                    &a.key,
                    Value::StringValue(format!("({})", items.join(", "))),
                );
            }
        }
        // Scope: sent as both otel.scope.* and otel.library.* tags; otelcol takes the scope
        // from otel.scope.* and keeps otel.library.* as attributes.
        sp.attributes
            .push(kv("otel.library.name", Value::StringValue(name)));
        sp.attributes
            .push(kv("otel.library.version", Value::StringValue(version)));
        // An event's name goes in a `message` field, and otelcol names events after `event`.
        for e in &mut sp.events {
            let name = std::mem::take(&mut e.name);
            e.attributes.push(kv("message", Value::StringValue(name)));
        }
        // A link becomes a FOLLOWS_FROM reference: no attributes or trace state, and otelcol
        // marks the link with its reference type.
        for l in &mut sp.links {
            l.trace_state.clear();
            l.flags = 0;
            l.dropped_attributes_count = 0;
            l.attributes = vec![kv(
                "opentracing.ref_type",
                Value::StringValue("follows_from".into()),
            )];
        }
    } else {
        // Zipkin tags are strings (parse_string_tags is off), written as Python does.
        for a in &mut sp.attributes {
            let text = match value_of(a) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                Some(Value::ArrayValue(arr)) => format!(
                    "[{}]",
                    arr.values
                        .iter()
                        .map(|v| match &v.value {
                            Some(Value::StringValue(s)) => format!("{s:?}"),
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                other => format!("{other:?}"),
            };
            *a = kv(&a.key, Value::StringValue(text));
        }
        // The resource attributes travel as tags and otelcol moves the semantic-convention
        // resource keys back to the resource: all of them here.
        // Scope: from otel.library.*; otel.scope.* stay as attributes.
        sp.attributes
            .push(kv("otel.scope.name", Value::StringValue(name)));
        sp.attributes
            .push(kv("otel.scope.version", Value::StringValue(version)));
        // Status: the exporter writes `otel.status_code` as OK/ERROR, which otelcol's table
        // (STATUS_CODE_*, Ok, Error) does not know, so it reads as UNSET; an `error` tag (the
        // description) makes the span ERROR, without a message, and stays an attribute.
        if let Some(st) = &mut sp.status {
            if st.code == 2 {
                sp.attributes.push(kv(
                    "error",
                    Value::StringValue(std::mem::take(&mut st.message)),
                ));
            } else {
                st.code = 0;
                st.message.clear();
            }
        }
        // An event becomes the annotation `{"name": {attrs}}` (Python's json.dumps), which has
        // no `|` and so is all name.
        for e in &mut sp.events {
            let attrs: Vec<String> = e
                .attributes
                .iter()
                .map(|a| {
                    let v = match value_of(a) {
                        Some(Value::StringValue(s)) => format!("{s:?}"),
                        Some(Value::IntValue(i)) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    format!("{:?}: {v}", a.key)
                })
                .collect();
            e.name = format!("{{{:?}: {{{}}}}}", e.name, attrs.join(", "));
            e.attributes.clear();
        }
        // No links in Zipkin.
        sp.links.clear();
        // An INTERNAL span is sent without a kind.
        if sp.kind == 1 {
            sp.kind = 0;
        }
    }
    normalized(&(res, scope, sp))
}

fn normalized(f: &Flat) -> Flat {
    let (mut res, scope, mut sp) = f.clone();
    // An UNSET status with no message is the same whether sent or left out.
    if sp.status.is_none() {
        sp.status = Some(Default::default());
    }
    res.attributes = sorted(res.attributes);
    sp.attributes = sorted(sp.attributes);
    for e in &mut sp.events {
        e.attributes = sorted(std::mem::take(&mut e.attributes));
    }
    (res, scope, sp)
}

/// The same Python app exports the same five spans through each legacy exporter and through the
/// OTLP/HTTP exporter into one ferrotel; the legacy receivers' output is compared field by field with
/// the OTLP the app sent (ids, parent, name, kind, times, status, attributes, events, links, scope,
/// resource), after applying only the expected differences listed in [`expected_through`].
#[test]
fn translation_matches_the_otlp_of_the_same_app() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let legacy = Sink::start(&rt);
    let otlp = Sink::start(&rt);
    let (udp, th, g, z, oh) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let f = Ferrotel::start(
        &format!(
            r#"
receivers:
  jaeger:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}"}}
      thrift_http: {{endpoint: "127.0.0.1:{th}"}}
      thrift_compact: {{endpoint: "127.0.0.1:{udp}"}}
  zipkin: {{endpoint: "127.0.0.1:{z}"}}
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{oh}"}}
exporters:
  otlp_grpc/legacy: {{endpoint: {legacy}, tls: {{insecure: true}}}}
  otlp_grpc/otlp: {{endpoint: {otlp}, tls: {{insecure: true}}}}
service:
  pipelines:
    traces/legacy: {{receivers: [jaeger, zipkin], exporters: [otlp_grpc/legacy]}}
    traces/otlp: {{receivers: [otlp], exporters: [otlp_grpc/otlp]}}
"#,
            legacy = legacy.grpc_endpoint(),
            otlp = otlp.grpc_endpoint(),
        ),
        &[th, g, z, oh],
    );
    wait_running(&f);
    let kinds = [
        ("jaeger-thrift-udp", udp),
        ("jaeger-thrift-http", th),
        ("jaeger-grpc", g),
        ("zipkin-json", z),
        ("zipkin-proto", z),
    ];
    let py = repo().join(".venv-jaeger/bin/python");
    for (kind, port) in kinds {
        let out = Command::new(&py)
            .arg(repo().join("tests/sdk/python/jaeger/send.py"))
            .args([kind, "127.0.0.1", &port.to_string(), kind])
            .arg(format!("http://127.0.0.1:{oh}/v1/traces"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        wait_until(Duration::from_secs(30), || legacy.span_count() >= 25
            && otlp.span_count() >= 25),
        "legacy {} otlp {} spans\n{}",
        legacy.span_count(),
        otlp.span_count(),
        f.logs()
    );
    let mut diffs = Vec::new();
    for (kind, _) in kinds {
        let (ours, theirs) = (spans_of(&legacy, kind), spans_of(&otlp, kind));
        assert_eq!(
            ours.len(),
            5,
            "{kind}: {} spans through the legacy receiver",
            ours.len()
        );
        assert_eq!(theirs.len(), 5, "{kind}: {} spans as OTLP", theirs.len());
        for (id, sent) in &theirs {
            let Some(got) = ours.get(id) else {
                diffs.push(format!("{kind}: span {:?} missing", sent.2.name));
                continue;
            };
            let (want, got) = (expected_through(kind, sent, got), normalized(got));
            if want != got {
                diffs.push(format!(
                    "{kind}: span {:?}\n  expected {want:?}\n  got      {got:?}",
                    sent.2.name
                ));
            }
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
