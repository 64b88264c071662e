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
