//! Partial reload (#13): a reload restarts only what changed. Under steady load, reloads that change
//! one processor's setting lose nothing acknowledged, and the unchanged exporter keeps its one TCP
//! connection and its counters; a changed receiver endpoint moves the listener; a failed reload
//! (invalid config, or a port that cannot be bound) leaves everything running.

use crate::common;
use crate::ops;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::proxy::FaultProxy;
use common::{free_port, wait_until, Ferrotel, Sink};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrotel-loadgen"))
}

fn json_of(out: std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "loadgen failed");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// One receiver, an `attributes` processor whose value each reload changes, a batch processor, and
/// one OTLP/gRPC exporter whose config never changes.
fn yaml(grpc: u16, http: u16, metrics: u16, backend: &str, generation: usize) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
processors:
  attributes:
    actions: [{{key: reload.generation, value: "gen-{generation}", action: upsert}}]
  batch: {{timeout: 50ms, send_batch_size: 512}}
exporters:
  otlp_grpc:
    endpoint: "{backend}"
    tls: {{insecure: true}}
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [attributes, batch], exporters: [otlp_grpc]}}
"#
    )
}

fn sent_spans(metrics: u16) -> f64 {
    ops::value(
        &ops::scrape(metrics),
        "otelcol_exporter_sent_spans_total",
        &[("exporter", "otlp_grpc")],
    )
}

/// The issue's test: ~5k spans/s for the whole run while 10 reloads change the `attributes` value.
#[test]
fn ten_processor_reloads_under_load_keep_the_exporter_connection_and_lose_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
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
    let sink_addr = format!("127.0.0.1:{sg}").parse().unwrap();
    // Counts the exporter's TCP connections to the sink.
    let proxy = rt.block_on(FaultProxy::start(sink_addr, 0));
    let backend = proxy.addr.to_string();
    let (g, h, m) = (free_port(), free_port(), free_port());
    let f = Ferrotel::start(&yaml(g, h, m, &backend, 0), &[g, h, m]);
    let cfg = f.dir.path().join("config.yaml");

    const COUNT: u64 = 75_000;
    let sender = loadgen()
        .args(["--threads", "1", "send", "--json", "--signal", "traces"])
        .args([
            "--protocol",
            "grpc",
            "--endpoint",
            &format!("127.0.0.1:{g}"),
        ])
        .args(["--count", &COUNT.to_string(), "--items-per-request", "50"])
        .args(["--connections", "2", "--rate", "5000", "--retry"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    assert!(
        wait_until(Duration::from_secs(20), || sent_spans(m) > 0.0),
        "no spans exported before the first reload:\n{}",
        f.logs()
    );
    let mut last_sent = sent_spans(m);
    let reloaded = |n: usize| f.logs().matches("configuration reloaded").count() >= n;
    for i in 1..=10usize {
        std::fs::write(&cfg, yaml(g, h, m, &backend, i)).unwrap();
        f.signal("HUP");
        assert!(
            wait_until(Duration::from_secs(20), || reloaded(i)),
            "reload {i}:\n{}",
            f.logs()
        );
        // The exporter was kept: its counter keeps counting from where it was.
        let grew = wait_until(Duration::from_secs(10), || sent_spans(m) > last_sent);
        let now = sent_spans(m);
        assert!(
            grew && now >= last_sent,
            "reload {i}: otelcol_exporter_sent_spans went from {last_sent} to {now}"
        );
        last_sent = now;
        assert_eq!(
            proxy.accepted.load(Ordering::SeqCst),
            1,
            "reload {i}: the unchanged exporter opened a new connection"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    let report = json_of(sender.wait_with_output().unwrap());
    assert_eq!(report["items_accepted"], COUNT, "{report}");
    let stats = json_of(
        loadgen()
            .args(["stats", "--sink", &format!("127.0.0.1:{st}")])
            .args(["--from", "0", "--to", &COUNT.to_string()])
            .args(["--expect", &COUNT.to_string(), "--timeout", "60s"])
            .stderr(Stdio::inherit())
            .output()
            .unwrap(),
    );
    assert_eq!(stats["unique"], COUNT, "{stats}\n{}", f.logs());
    assert_eq!(stats["missing_in_range"], 0, "{stats}");
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        1,
        "the exporter's connection was replaced"
    );
    assert!(sent_spans(m) >= COUNT as f64);
    let text = ops::scrape(m);
    assert_eq!(
        ops::value(
            &text,
            "ferrotel_config_reloads_total",
            &[("outcome", "success")]
        ),
        10.0,
        "{text}"
    );
    eprintln!(
        "{COUNT} spans at {} spans/s over {} s, 10 reloads: {} unique at the sink, 1 exporter connection",
        report["target_rate"], report["elapsed_s"], stats["unique"]
    );
    assert!(f.stop(Duration::from_secs(20)).success());
}

fn post(client: &reqwest::blocking::Client, port: u16, name: &str) -> Option<u16> {
    let body = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"{name}","kind":1,"startTimeUnixNano":"1","endTimeUnixNano":"2"}}]}}]}}]}}"#
    );
    client
        .post(format!("http://127.0.0.1:{port}/v1/traces"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// Span name → its `reload.generation` attribute, as the sink received them.
fn generations(sink: &Sink) -> Vec<(String, String)> {
    let st = sink.state.lock().unwrap();
    let mut out = Vec::new();
    for rs in &st.traces {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                let g = s
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "reload.generation")
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(|v| match &v.value {
                        Some(
                            opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(
                                s,
                            ),
                        ) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                out.push((s.name.clone(), g));
            }
        }
    }
    out
}

/// A reload that moves the HTTP receiver to another port: the new port serves with the new processor
/// setting, the old one is closed, the unchanged gRPC exporter keeps its connection, and every
/// acknowledged span arrives. Then two failing reloads (invalid config; a port another process holds)
/// change nothing and are counted as failures.
#[test]
fn endpoint_change_moves_the_listener_and_failed_reloads_change_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let proxy = rt.block_on(FaultProxy::start(sink.grpc_addr, 0));
    let backend = proxy.addr.to_string();
    let (g, h1, h2, m) = (free_port(), free_port(), free_port(), free_port());
    // The watch flag is exercised here (the first test uses SIGHUP).
    let mut f = Ferrotel::start_with(
        &yaml(g, h1, m, &backend, 0),
        &[g, h1, m],
        &["--watch-config"],
        &[],
    );
    let cfg = f.dir.path().join("config.yaml");
    let client = reqwest::blocking::Client::new();
    let mut acked = BTreeSet::new();
    for i in 0..20 {
        let name = format!("before-{i}");
        assert_eq!(post(&client, h1, &name), Some(200));
        acked.insert(name);
    }

    std::fs::write(&cfg, yaml(g, h2, m, &backend, 1)).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || f
            .logs()
            .contains("configuration reloaded")),
        "{}",
        f.logs()
    );
    f.wait_port(h2);
    for i in 0..20 {
        let name = format!("after-{i}");
        assert_eq!(post(&client, h2, &name), Some(200));
        acked.insert(name);
    }
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            h1
        ))
        .is_err()),
        "the old endpoint is still listening"
    );

    // An invalid config: counted as a failure, nothing changes.
    std::fs::write(
        &cfg,
        yaml(g, h2, m, &backend, 2).replace("action: upsert", "action: no_such_action"),
    )
    .unwrap();
    let failures = |n: f64| {
        ops::value(
            &ops::scrape(m),
            "ferrotel_config_reloads_total",
            &[("outcome", "failure")],
        ) >= n
    };
    assert!(
        wait_until(Duration::from_secs(20), || failures(1.0)),
        "{}",
        f.logs()
    );
    // A port another process holds: the new receiver cannot start, nothing changes.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    std::fs::write(&cfg, yaml(g, taken_port, m, &backend, 3)).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || failures(2.0)),
        "{}",
        f.logs()
    );
    for i in 0..20 {
        let name = format!("failed-{i}");
        assert_eq!(post(&client, h2, &name), Some(200), "{}", f.logs());
        acked.insert(name);
    }

    assert!(
        wait_until(Duration::from_secs(20), || {
            let got: BTreeSet<String> = generations(&sink).into_iter().map(|(n, _)| n).collect();
            acked.is_subset(&got)
        }),
        "acknowledged spans missing at the sink:\n{}",
        f.logs()
    );
    // Spans sent after the endpoint change went through the new processor setting, and the failed
    // reloads did not touch it.
    for (name, generation) in generations(&sink) {
        let want = if name.starts_with("before-") {
            "gen-0"
        } else {
            "gen-1"
        };
        assert_eq!(generation, want, "{name}");
    }
    assert_eq!(
        proxy.accepted.load(Ordering::SeqCst),
        1,
        "the unchanged exporter opened a new connection"
    );
    let text = ops::scrape(m);
    assert_eq!(
        ops::value(
            &text,
            "ferrotel_config_reloads_total",
            &[("outcome", "success")]
        ),
        1.0,
        "{text}"
    );
    drop(taken);
    assert!(f.stop(Duration::from_secs(20)).success());
}

/// A config with connectors: `traces/in` (the `attributes` processor whose value each reload changes)
/// feeds a `routing` connector into `traces/a` and `traces/b`, and a `count` connector into a metrics
/// pipeline. Each of the three exporters sends to its own sink and never changes. The routing table
/// sends resources whose `tenant` is `routed` to `traces/a`; everything else goes to `traces/b`.
fn connectors_yaml(grpc: u16, sinks: [&str; 3], generation: usize, routed: &str) -> String {
    let [a, b, m] = sinks;
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
processors:
  attributes:
    actions: [{{key: reload.generation, value: "gen-{generation}", action: upsert}}]
  batch: {{timeout: 50ms, send_batch_size: 512}}
exporters:
  otlp_grpc/a: {{endpoint: "{a}", tls: {{insecure: true}}}}
  otlp_grpc/b: {{endpoint: "{b}", tls: {{insecure: true}}}}
  otlp_grpc/m: {{endpoint: "{m}", tls: {{insecure: true}}}}
connectors:
  routing:
    default_pipelines: [traces/b]
    table:
      - condition: attributes["tenant"] == "{routed}"
        pipelines: [traces/a]
  count:
service:
  pipelines:
    traces/in: {{receivers: [otlp], processors: [attributes], exporters: [routing, count]}}
    traces/a: {{receivers: [routing], processors: [batch], exporters: [otlp_grpc/a]}}
    traces/b: {{receivers: [routing], processors: [batch], exporters: [otlp_grpc/b]}}
    metrics: {{receivers: [count], processors: [batch], exporters: [otlp_grpc/m]}}
"#
    )
}

const TENANTS: [&str; 3] = ["acme", "ecorp", "other"];

/// The tenant of span `seq`: its request puts it under the resource of that tenant.
fn tenant(seq: u64) -> &'static str {
    TENANTS[(seq % 3) as usize]
}

/// One request of spans `first..first + n`, named `s<seq>`, grouped under one resource per tenant.
fn tenant_request(
    first: u64,
    n: u64,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let resource_spans = TENANTS
        .iter()
        .map(|t| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "tenant".into(),
                    value: Some(AnyValue {
                        value: Some(V::StringValue(t.to_string())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (first..first + n)
                    .filter(|s| tenant(*s) == *t)
                    .map(|s| Span {
                        name: format!("s{s}"),
                        trace_id: (u128::from(s) + 1).to_be_bytes().to_vec(),
                        span_id: (s + 1).to_be_bytes().to_vec(),
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        end_time_unix_nano: 1_700_000_000_000_000_100,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest { resource_spans }
}

/// A steady sender: one request at a time of `PER_REQUEST` spans with consecutive sequence numbers,
/// each retried until acknowledged. `acked` is the first sequence number not yet acknowledged (all
/// below it are), `retried` counts failed attempts (a retried request may arrive twice).
struct SteadySender {
    acked: std::sync::Arc<std::sync::atomic::AtomicU64>,
    retried: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

const PER_REQUEST: u64 = 30;

impl SteadySender {
    fn start(rt: &tokio::runtime::Runtime, port: u16) -> SteadySender {
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
        use std::sync::atomic::{AtomicBool, AtomicU64};
        use std::sync::Arc;
        let acked = Arc::new(AtomicU64::new(0));
        let retried = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = rt.handle().clone();
        let (a, r, s) = (acked.clone(), retried.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            handle.block_on(async move {
                let mut client = None;
                let mut next = 0u64;
                while !s.load(Ordering::SeqCst) {
                    loop {
                        if client.is_none() {
                            client =
                                TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
                                    .await
                                    .ok();
                        }
                        if let Some(c) = client.as_mut() {
                            if c.export(tenant_request(next, PER_REQUEST)).await.is_ok() {
                                break;
                            }
                            client = None;
                        }
                        r.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    next += PER_REQUEST;
                    a.store(next, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        });
        SteadySender {
            acked,
            retried,
            stop,
            thread,
        }
    }

    fn acked(&self) -> u64 {
        self.acked.load(Ordering::SeqCst)
    }

    /// Stops after the request in hand is acknowledged; returns (spans acknowledged, failed attempts).
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap();
        (
            self.acked.load(Ordering::SeqCst),
            self.retried.load(Ordering::SeqCst),
        )
    }
}

/// Span sequence number → (times received, its `reload.generation`), as `sink` received them.
fn by_seq(sink: &Sink) -> std::collections::BTreeMap<u64, (usize, String)> {
    let mut out = std::collections::BTreeMap::new();
    for (name, generation) in generations(sink) {
        let Some(seq) = name.strip_prefix('s').and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        let e = out.entry(seq).or_insert((0, String::new()));
        e.0 += 1;
        e.1 = generation;
    }
    out
}

/// The sum of every `trace.span.count` data point `sink` received: the `count` connector's output.
fn counted_spans(sink: &Sink) -> i64 {
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
    let st = sink.state.lock().unwrap();
    st.metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "trace.span.count")
        .filter_map(|m| match &m.data {
            Some(Data::Sum(s)) => Some(&s.data_points),
            _ => None,
        })
        .flatten()
        .map(|p| match p.value {
            Some(Value::AsInt(v)) => v,
            _ => 0,
        })
        .sum()
}

/// Partial reload of a config with connectors, under steady load: four reloads change the
/// `attributes` value in front of the connectors, and one of them also changes the routing table's
/// entry. Every acknowledged span arrives exactly once (no retries were needed) at the sink its route
/// picks — by the old table before that reload and by the new one after it — the three unchanged
/// exporters keep their one TCP connection each, and both connectors' outputs keep flowing after every
/// reload (the `count` connector's total is exact).
#[test]
fn reloads_with_connectors_keep_routes_counts_and_connections_and_lose_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sinks: Vec<Sink> = (0..3).map(|_| Sink::start(&rt)).collect();
    let proxies: Vec<FaultProxy> = sinks
        .iter()
        .map(|s| rt.block_on(FaultProxy::start(s.grpc_addr, 0)))
        .collect();
    let addrs: Vec<String> = proxies.iter().map(|p| p.addr.to_string()).collect();
    let ends = [addrs[0].as_str(), addrs[1].as_str(), addrs[2].as_str()];
    let (sink_a, sink_b, sink_m) = (&sinks[0], &sinks[1], &sinks[2]);
    let g = free_port();
    let f = Ferrotel::start(&connectors_yaml(g, ends, 0, "acme"), &[g]);
    let cfg = f.dir.path().join("config.yaml");
    let sender = SteadySender::start(&rt, g);
    // Each phase (before the first reload, after each) carries at least 900 spans through both
    // connectors.
    let flowing = |what: &str| {
        let (a, b, m) = (
            sink_a.span_count(),
            sink_b.span_count(),
            counted_spans(sink_m),
        );
        assert!(
            wait_until(Duration::from_secs(30), || sink_a.span_count() > a + 300
                && sink_b.span_count() > b + 600
                && counted_spans(sink_m) > m + 900),
            "{what}: a connector output stopped (a {a}, b {b}, counted {m}):\n{}",
            f.logs()
        );
    };
    flowing("before the first reload");

    // Reload 2 moves the route from tenant "acme" to tenant "ecorp". Spans acknowledged before its
    // SIGHUP were routed by the old table; spans sent after it was applied, by the new one.
    let mut routed = "acme";
    let (mut old_table_until, mut new_table_from) = (0, 0);
    let mut last_from = 0;
    let reloads = 4;
    for i in 1..=reloads {
        if i == 2 {
            routed = "ecorp";
            old_table_until = sender.acked();
        }
        std::fs::write(&cfg, connectors_yaml(g, ends, i, routed)).unwrap();
        f.signal("HUP");
        assert!(
            wait_until(Duration::from_secs(20), || f
                .logs()
                .matches("configuration reloaded")
                .count()
                >= i),
            "reload {i}:\n{}",
            f.logs()
        );
        // The request in flight when the reload was applied may have gone either way.
        let from = sender.acked() + PER_REQUEST;
        if i == 2 {
            new_table_from = from;
        }
        last_from = from;
        flowing(&format!("after reload {i}"));
        for (p, name) in proxies
            .iter()
            .zip(["otlp_grpc/a", "otlp_grpc/b", "otlp_grpc/m"])
        {
            assert_eq!(
                p.accepted.load(Ordering::SeqCst),
                1,
                "reload {i}: the unchanged exporter {name} opened a new connection"
            );
        }
    }
    let (acked, retried) = sender.finish();

    let all_in = wait_until(Duration::from_secs(30), || {
        let (a, b) = (by_seq(sink_a), by_seq(sink_b));
        (0..acked).all(|s| a.contains_key(&s) || b.contains_key(&s))
    });
    let (a, b) = (by_seq(sink_a), by_seq(sink_b));
    let missing: Vec<u64> = (0..acked)
        .filter(|s| !a.contains_key(s) && !b.contains_key(s))
        .collect();
    assert!(
        all_in && missing.is_empty(),
        "{} of {acked} acknowledged spans lost, e.g. {:?}:\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        f.logs()
    );
    let times = |s: u64| a.get(&s).map_or(0, |e| e.0) + b.get(&s).map_or(0, |e| e.0);
    if retried == 0 {
        let dup: Vec<u64> = (0..acked).filter(|s| times(*s) != 1).collect();
        assert!(
            dup.is_empty(),
            "spans received twice: {:?}",
            &dup[..dup.len().min(10)]
        );
    }
    for s in 0..acked {
        let want_a = if s < old_table_until {
            tenant(s) == "acme"
        } else if s >= new_table_from {
            tenant(s) == "ecorp"
        } else {
            continue;
        };
        assert_eq!(
            a.contains_key(&s),
            want_a,
            "span {s} (tenant {}) went to the wrong pipeline (table changed between {old_table_until} and {new_table_from})",
            tenant(s)
        );
        assert_eq!(
            b.contains_key(&s),
            !want_a,
            "span {s} (tenant {})",
            tenant(s)
        );
    }
    // The processor's new setting applies from the reload on.
    let last = format!("gen-{reloads}");
    for s in last_from..acked {
        let got = a.get(&s).or_else(|| b.get(&s)).map(|e| e.1.as_str());
        assert_eq!(got, Some(last.as_str()), "span {s}");
    }
    assert!(
        wait_until(Duration::from_secs(20), || counted_spans(sink_m)
            >= acked as i64),
        "count connector: {} spans counted of {acked}",
        counted_spans(sink_m)
    );
    if retried == 0 {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(counted_spans(sink_m), acked as i64, "count connector total");
    }
    for (p, name) in proxies
        .iter()
        .zip(["otlp_grpc/a", "otlp_grpc/b", "otlp_grpc/m"])
    {
        assert_eq!(
            p.accepted.load(Ordering::SeqCst),
            1,
            "the unchanged exporter {name} opened a new connection"
        );
    }
    eprintln!(
        "{acked} spans, {reloads} reloads (one routing-table change), {retried} retried requests: \
         0 lost, 1 connection per exporter"
    );
    assert!(f.stop(Duration::from_secs(20)).success());
}
