//! The collector's own telemetry through the real binary: Prometheus counters that count exactly,
//! queue and process gauges, the health_check extension, `ferrotel healthcheck`, log initial fields,
//! and the resourcedetection processor.

use crate::common;
use crate::ops;

use std::time::Duration;

use common::{free_port, run_cli, wait_until, Ferrotel, Sink, SinkMode};

struct Ports {
    grpc: u16,
    http: u16,
    metrics: u16,
    health: u16,
}

fn ports() -> Ports {
    Ports {
        grpc: free_port(),
        http: free_port(),
        metrics: free_port(),
        health: free_port(),
    }
}

/// A gateway: OTLP in, `otlp` (gRPC) out to the sink, metrics and health on their own ports.
fn yaml(p: &Ports, sink: &Sink, exporter_extra: &str, processors: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
processors:
  resourcedetection:
    detectors: [env, system]
    override: false
exporters:
  otlp/out:
    endpoint: {sink}
    tls: {{insecure: true}}
{exporter_extra}
extensions:
  health_check:
    endpoint: "127.0.0.1:{health}"
service:
  extensions: [health_check]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [{processors}], exporters: [otlp/out]}}
    metrics: {{receivers: [otlp], processors: [{processors}], exporters: [otlp/out]}}
    logs: {{receivers: [otlp], processors: [{processors}], exporters: [otlp/out]}}
"#,
        grpc = p.grpc,
        http = p.http,
        health = p.health,
        metrics = p.metrics,
        sink = sink.grpc_endpoint(),
    )
}

#[test]
fn counters_are_exact_and_gauges_are_reported() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let p = ports();
    let f = Ferrotel::start(
        &yaml(&p, &sink, "", ""),
        &[p.grpc, p.http, p.metrics, p.health],
    );
    // 7 trace requests of 1..=7 spans (28), 5 metric requests of 3 points (15), 4 log requests of 2 (8).
    let (mut spans, mut points, mut records) = (0, 0, 0);
    for i in 1..=7 {
        assert_eq!(ops::post(&rt, p.http, "/v1/traces", ops::traces(i)), 200);
        spans += i;
    }
    for _ in 0..5 {
        assert_eq!(ops::post(&rt, p.http, "/v1/metrics", ops::metrics(3)), 200);
        points += 3;
    }
    for _ in 0..4 {
        assert_eq!(ops::post(&rt, p.http, "/v1/logs", ops::logs(2)), 200);
        records += 2;
    }
    assert!(
        wait_until(Duration::from_secs(10), || sink.span_count() == spans
            && sink.metric_point_count() == points
            && sink.log_count() == records),
        "{}",
        f.logs()
    );
    let recv = [("receiver", "otlp"), ("transport", "http")];
    let exp = [("exporter", "otlp/out")];
    // The exporter counts after the destination answered; the sink recorded before answering.
    assert!(wait_until(Duration::from_secs(10), || {
        let m = ops::scrape(p.metrics);
        ops::value(&m, "otelcol_exporter_sent_log_records_total", &exp) == records as f64
            && ops::value(&m, "otelcol_exporter_sent_spans_total", &exp) == spans as f64
            && ops::value(&m, "otelcol_exporter_sent_metric_points_total", &exp) == points as f64
    }));
    let m = ops::scrape(p.metrics);
    for (name, want) in [
        ("otelcol_receiver_accepted_spans_total", spans),
        ("otelcol_receiver_accepted_metric_points_total", points),
        ("otelcol_receiver_accepted_log_records_total", records),
    ] {
        assert_eq!(ops::value(&m, name, &recv), want as f64, "{name}\n{m}");
    }
    for (name, want) in [
        ("otelcol_exporter_sent_spans_total", spans),
        ("otelcol_exporter_sent_metric_points_total", points),
        ("otelcol_exporter_sent_log_records_total", records),
    ] {
        assert_eq!(ops::value(&m, name, &exp), want as f64, "{name}\n{m}");
    }
    assert_eq!(sink.span_count(), spans);
    assert!(!m.contains("otelcol_receiver_refused"), "{m}");
    assert!(!m.contains("otelcol_exporter_send_failed"), "{m}");
    for sig in ["traces", "metrics", "logs"] {
        let q = [("exporter", "otlp/out"), ("data_type", sig)];
        assert_eq!(
            ops::value(&m, "otelcol_exporter_queue_capacity", &q),
            1000.0,
            "{m}"
        );
    }
    assert!(wait_until(Duration::from_secs(5), || ops::value(
        &ops::scrape(p.metrics),
        "otelcol_exporter_queue_size",
        &[("exporter", "otlp/out")]
    ) == 0.0));
    assert!(ops::value(&m, "otelcol_process_memory_rss_bytes", &[]) > 1_000_000.0);
    assert!(m.contains("# TYPE otelcol_process_uptime_seconds_total counter"));
    assert!(m.contains("# TYPE otelcol_process_cpu_seconds_total counter"));
    // A second scrape never goes backwards.
    assert_eq!(
        ops::value(
            &ops::scrape(p.metrics),
            "otelcol_receiver_accepted_spans_total",
            &recv
        ),
        spans as f64
    );
    assert_eq!(ops::get(p.metrics, "/other").0, 404);
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn refusals_and_failures_are_counted() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    let p = ports();
    // No queue and no retries: the sink's refusal travels straight back to the sender.
    let extra = "    sending_queue: {enabled: false}\n    retry_on_failure: {enabled: false}";
    let f = Ferrotel::start(
        &yaml(&p, &sink, extra, ""),
        &[p.grpc, p.http, p.metrics, p.health],
    );
    for _ in 0..3 {
        assert_eq!(ops::post(&rt, p.http, "/v1/traces", ops::traces(4)), 503);
    }
    sink.set_mode(SinkMode::BadRequest);
    assert_eq!(ops::post(&rt, p.http, "/v1/logs", ops::logs(5)), 500);
    let m = ops::scrape(p.metrics);
    let recv = [("receiver", "otlp"), ("transport", "http")];
    let exp = [("exporter", "otlp/out")];
    assert_eq!(
        ops::value(&m, "otelcol_receiver_refused_spans_total", &recv),
        12.0,
        "{m}"
    );
    assert_eq!(
        ops::value(&m, "otelcol_receiver_accepted_spans_total", &recv),
        0.0
    );
    // A retryable failure without a queue goes back to the caller (counted above as the receiver's
    // refused), not as the exporter's send_failed; a permanent one is the exporter's (below).
    assert_eq!(
        ops::value(&m, "otelcol_exporter_send_failed_spans_total", &exp),
        0.0
    );
    assert_eq!(
        ops::value(&m, "otelcol_receiver_failed_log_records_total", &recv),
        5.0,
        "{m}"
    );
    assert_eq!(
        ops::value(&m, "otelcol_exporter_send_failed_log_records_total", &exp),
        5.0
    );
    assert_eq!(
        ops::value(&m, "otelcol_exporter_sent_spans_total", &exp),
        0.0
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn full_queue_counts_enqueue_failed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    let p = ports();
    let extra = "    sending_queue: {queue_size: 2, num_consumers: 1}\n    retry_on_failure: {initial_interval: 50ms, max_interval: 100ms, max_elapsed_time: 0s}";
    let f = Ferrotel::start(
        &yaml(&p, &sink, extra, ""),
        &[p.grpc, p.http, p.metrics, p.health],
    );
    let mut codes = vec![];
    for _ in 0..5 {
        codes.push(ops::post(&rt, p.http, "/v1/traces", ops::traces(3)));
    }
    // Two requests fill the queue; the rest are refused.
    assert_eq!(codes, [200, 200, 503, 503, 503]);
    let m = ops::scrape(p.metrics);
    let q = [("exporter", "otlp/out"), ("data_type", "traces")];
    assert_eq!(
        ops::value(&m, "otelcol_exporter_queue_size", &q),
        2.0,
        "{m}"
    );
    assert_eq!(ops::value(&m, "otelcol_exporter_queue_capacity", &q), 2.0);
    assert_eq!(
        ops::value(
            &m,
            "otelcol_exporter_enqueue_failed_spans_total",
            &[("exporter", "otlp/out")]
        ),
        9.0
    );
    let recv = [("receiver", "otlp"), ("transport", "http")];
    assert_eq!(
        ops::value(&m, "otelcol_receiver_accepted_spans_total", &recv),
        6.0
    );
    assert_eq!(
        ops::value(&m, "otelcol_receiver_refused_spans_total", &recv),
        9.0
    );
    sink.set_mode(SinkMode::Accept);
    assert!(wait_until(Duration::from_secs(10), || sink.span_count() == 6));
    assert!(wait_until(Duration::from_secs(10), || {
        let m = ops::scrape(p.metrics);
        ops::value(&m, "otelcol_exporter_queue_size", &q) == 0.0
            && ops::value(
                &m,
                "otelcol_exporter_sent_spans_total",
                &[("exporter", "otlp/out")],
            ) == 6.0
    }));
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn health_check_is_200_while_running_and_503_while_shutting_down() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let p = ports();
    let extra = "    retry_on_failure: {initial_interval: 50ms, max_interval: 100ms}";
    let f = Ferrotel::start(
        &yaml(&p, &sink, extra, ""),
        &[p.grpc, p.http, p.metrics, p.health],
    );
    assert!(wait_until(Duration::from_secs(5), || ops::get(
        p.health, "/"
    )
    .0 == 200));
    let (code, body) = ops::get(p.health, "/");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "Server available");
    assert!(v["upSince"].as_str().unwrap().contains('T'));
    assert!(!v["uptime"].as_str().unwrap().is_empty());
    assert_eq!(ops::get(p.health, "/nope").0, 404);
    let (code, _) = ops::get(p.health, "/");
    assert_eq!(code, 200);
    let ok = run_cli(&[
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{}/", p.health),
    ]);
    assert_eq!(ok.0, 0, "{ok:?}");

    // Keep the exporter retrying so shutdown takes a while, and watch the health endpoint meanwhile.
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    assert_eq!(ops::post(&rt, p.http, "/v1/traces", ops::traces(2)), 200);
    assert!(wait_until(Duration::from_secs(5), || !sink
        .state
        .lock()
        .unwrap()
        .attempts
        .is_empty()));
    f.signal("TERM");
    assert!(
        wait_until(Duration::from_secs(10), || ops::get(p.health, "/").0 == 503),
        "{}",
        f.logs()
    );
    let (_, body) = ops::get(p.health, "/");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "Server not available");
    let bad = run_cli(&[
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{}/", p.health),
    ]);
    assert_eq!(bad.0, 1, "{bad:?}");
    sink.set_mode(SinkMode::Accept);
    assert!(f.stop(Duration::from_secs(20)).success());
    assert_eq!(sink.span_count(), 2, "nothing lost while shutting down");
    let gone = run_cli(&[
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{}/", p.health),
    ]);
    assert_eq!(gone.0, 1);
}

#[test]
fn health_check_custom_path_and_body() {
    let p = ports();
    let yaml = format!(
        r#"
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}}}}}
exporters: {{debug: {{}}}}
extensions:
  health_check: {{endpoint: "127.0.0.1:{health}", path: /health/status, response_body: {{healthy: I'm OK, unhealthy: not yet}}}}
service:
  extensions: [health_check]
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{logs: {{receivers: [otlp], exporters: [debug]}}}}
"#,
        http = p.http,
        health = p.health
    );
    let f = Ferrotel::start(&yaml, &[p.http, p.health]);
    assert!(wait_until(Duration::from_secs(5), || ops::get(
        p.health,
        "/health/status"
    ) == (
        200,
        "I'm OK".into()
    )));
    assert_eq!(ops::get(p.health, "/").0, 404);
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn level_none_serves_no_metrics_and_bad_levels_are_rejected() {
    let p = ports();
    let yaml = format!(
        r#"
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}}}}}
exporters: {{debug: {{}}}}
service:
  telemetry: {{metrics: {{level: none, address: "127.0.0.1:{metrics}"}}}}
  pipelines: {{logs: {{receivers: [otlp], exporters: [debug]}}}}
"#,
        http = p.http,
        metrics = p.metrics
    );
    let f = Ferrotel::start(&yaml, &[p.http]);
    assert_eq!(ops::get(p.metrics, "/metrics").0, 0, "nothing listens");
    assert!(f.stop(Duration::from_secs(10)).success());

    let bad = "receivers: {otlp: {protocols: {http: {endpoint: '127.0.0.1:0'}}}}\nexporters: {debug: {}}\nservice: {telemetry: {metrics: {level: loud, readers: [{periodic: {exporter: {otlp: {}}}}]}}, pipelines: {logs: {receivers: [otlp], exporters: [debug]}}}";
    let (code, _, err) = run_cli(&["validate", "--config", &format!("yaml:{bad}")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("service::telemetry::metrics::level: unknown level \"loud\""),
        "{err}"
    );
    assert!(
        err.contains("service::telemetry::metrics::readers::0::periodic"),
        "{err}"
    );
}

#[test]
fn metrics_endpoint_clash_is_a_config_error() {
    let port = free_port();
    let yaml = format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: 'localhost:{port}'}}}}}}}}\nexporters: {{debug: {{}}}}\nservice: {{telemetry: {{metrics: {{address: '127.0.0.1:{port}'}}}}, pipelines: {{logs: {{receivers: [otlp], exporters: [debug]}}}}}}"
    );
    let (code, _, err) = run_cli(&["validate", "--config", &format!("yaml:{yaml}")]);
    assert_eq!(code, 1);
    assert!(err.contains("service::telemetry::metrics"), "{err}");
    assert!(err.contains("also uses"), "{err}");
}

#[test]
fn logs_carry_initial_fields() {
    let p = ports();
    let yaml = format!(
        r#"
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}}}}}
exporters: {{debug: {{}}}}
service:
  telemetry:
    logs: {{encoding: json, initial_fields: {{deployment: gateway-eu, shard: 3}}}}
    metrics: {{level: none}}
  pipelines: {{logs: {{receivers: [otlp], exporters: [debug]}}}}
"#,
        http = p.http
    );
    let f = Ferrotel::start(&yaml, &[p.http]);
    assert!(wait_until(Duration::from_secs(5), || f
        .logs()
        .contains("ferrotel is running")));
    let logs = f.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("ferrotel is running"))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["deployment"], "gateway-eu", "{line}");
    assert_eq!(v["shard"], 3, "{line}");
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn resourcedetection_adds_env_and_system_attributes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let p = ports();
    let f = Ferrotel::start_with(
        &yaml(&p, &sink, "", "resourcedetection"),
        &[p.grpc, p.http, p.metrics, p.health],
        &[],
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test%20env,service.name=from-env",
        )],
    );
    assert_eq!(ops::post(&rt, p.http, "/v1/traces", ops::traces(2)), 200);
    assert_eq!(ops::post(&rt, p.http, "/v1/logs", ops::logs(1)), 200);
    assert!(wait_until(Duration::from_secs(10), || sink.span_count()
        == 2
        && sink.log_count() == 1));
    let st = sink.state.lock().unwrap();
    let attrs = |a: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        a.iter()
            .map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(
                        opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s),
                    ) => s.clone(),
                    other => format!("{other:?}"),
                };
                (kv.key.clone(), v)
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    for r in [
        attrs(&st.traces[0].resource.as_ref().unwrap().attributes),
        attrs(&st.logs[0].resource.as_ref().unwrap().attributes),
    ] {
        assert_eq!(r["deployment.environment"], "test env");
        // override: false keeps what the data says.
        assert_eq!(r["service.name"], "ops-test");
        assert_eq!(r["os.type"], "linux");
        assert!(!r["host.name"].is_empty());
    }
    drop(st);
    assert!(f.stop(Duration::from_secs(10)).success());
}
