//! The OpenTelemetry Helm chart's default collector config (`config/helm-default.yaml`, kept as the
//! chart renders it) starts with `MY_POD_IP` set and serves every protocol it configures: OTLP gRPC
//! and HTTP, Jaeger gRPC, thrift HTTP and thrift compact (UDP), Zipkin, the health check, the metrics
//! endpoint and the `prometheus` receiver's self-scrape. Ports are rewritten here (only in the test)
//! to free ones, so the test does not clash with anything else on the machine.

use crate::common;
use crate::ops;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{free_port, wait_until, Ferrotel};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn send_legacy(kind: &str, port: u16) {
    let py = repo().join(".venv-jaeger/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run tests/setup.sh",
        py.display()
    );
    let out = Command::new(py)
        .arg(repo().join("tests/sdk/python/jaeger/send.py"))
        .args([kind, "127.0.0.1", &port.to_string(), "helm"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn helm_chart_default_config_serves_every_protocol() {
    let original = std::fs::read_to_string(repo().join("config/helm-default.yaml")).unwrap();
    let mut yaml = original.clone();
    let mut port = std::collections::BTreeMap::new();
    for p in [4317u16, 4318, 14250, 14268, 6831, 9411, 13133, 8888] {
        let new = free_port();
        port.insert(p, new);
        yaml = yaml.replace(&format!("}}:{p}\n"), &format!("}}:{new}\n"));
        yaml = yaml.replace(&format!("port: {p}\n"), &format!("port: {new}\n"));
    }
    for p in port.keys() {
        assert!(
            !yaml.contains(&format!(":{p}\n")),
            "port {p} not rewritten:\n{yaml}"
        );
    }
    let tcp: Vec<u16> = [4317u16, 4318, 14250, 14268, 9411, 13133, 8888]
        .iter()
        .map(|p| port[p])
        .collect();
    let f = Ferrotel::start_with(&yaml, &tcp, &[], &[("MY_POD_IP", "127.0.0.1")]);

    // health_check: healthy once every pipeline runs.
    assert!(
        wait_until(Duration::from_secs(10), || ops::get(port[&13133], "/").0
            == 200),
        "health check\n{}",
        f.logs()
    );

    // OTLP/HTTP and OTLP/gRPC: 3 and 4 spans.
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        ops::post(&rt, port[&4318], "/v1/traces", ops::traces(3)),
        200
    );
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{}", port[&4317]))
            .await
            .unwrap();
        let req = ExportTraceServiceRequest::decode(ops::traces(4).as_slice()).unwrap();
        c.export(req).await.unwrap();
    });

    // Jaeger gRPC, thrift HTTP, thrift compact over UDP, Zipkin JSON: 2 spans each.
    send_legacy("jaeger-grpc", port[&14250]);
    send_legacy("jaeger-thrift-http", port[&14268]);
    send_legacy("jaeger-thrift-udp", port[&6831]);
    send_legacy("zipkin-json", port[&9411]);

    let metrics = port[&8888];
    let accepted = |receiver: &str| {
        ops::value(
            &ops::scrape(metrics),
            "otelcol_receiver_accepted_spans_total",
            &[("receiver", receiver)],
        )
    };
    let ok = wait_until(Duration::from_secs(15), || {
        accepted("otlp") == 7.0 && accepted("jaeger") == 6.0 && accepted("zipkin") == 2.0
    });
    assert!(
        ok,
        "accepted spans: otlp {} (7), jaeger {} (6), zipkin {} (2)\n{}",
        accepted("otlp"),
        accepted("jaeger"),
        accepted("zipkin"),
        f.logs()
    );

    // The prometheus receiver scrapes the collector's own metrics (every 10 s).
    let scraped = wait_until(Duration::from_secs(30), || {
        ops::value(
            &ops::scrape(metrics),
            "otelcol_receiver_accepted_metric_points_total",
            &[("receiver", "prometheus")],
        ) > 0.0
    });
    assert!(scraped, "no self-scrape\n{}", f.logs());
    f.kill();
}
