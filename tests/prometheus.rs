//! The Prometheus components against the real thing: Prometheus 2.42 and node_exporter 1.5 from
//! Debian (`tests/setup.sh` installs them), each started on free ports with a temporary TSDB.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{free_port, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, AggregationTemporality, Metric, ResourceMetrics,
};
use serde_json::Value;

/// A child process killed on drop, with its scratch directory.
struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn need(bin: &str) {
    assert!(
        std::path::Path::new(bin).exists(),
        "{bin} is missing: run `bash tests/setup.sh` (apt-get install prometheus prometheus-node-exporter)"
    );
}

fn spawn(bin: &str, args: &[String], dir: tempfile::TempDir, port: u16, ready: &str) -> Daemon {
    need(bin);
    let log = dir.path().join("log");
    let child = Command::new(bin)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let d = Daemon {
        child,
        dir,
        port,
        log,
    };
    let url = format!("http://127.0.0.1:{port}{ready}");
    assert!(
        wait_until(Duration::from_secs(30), || {
            reqwest::blocking::get(&url).is_ok_and(|r| r.status().is_success())
        }),
        "{bin} did not become ready:\n{}",
        d.logs()
    );
    d
}

fn node_exporter() -> Daemon {
    let port = free_port();
    spawn(
        "/usr/bin/prometheus-node-exporter",
        &[format!("--web.listen-address=127.0.0.1:{port}")],
        tempfile::tempdir().unwrap(),
        port,
        "/metrics",
    )
}

/// Prometheus with `config` as its config file; `data` keeps the TSDB across restarts.
fn prometheus_in(dir: tempfile::TempDir, port: u16, config: &str, remote_write: bool) -> Daemon {
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(&cfg, config).unwrap();
    let mut args = vec![
        format!("--config.file={}", cfg.display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    if remote_write {
        args.push("--web.enable-remote-write-receiver".into());
    }
    spawn("/usr/bin/prometheus", &args, dir, port, "/-/ready")
}

fn prometheus(config: &str, remote_write: bool) -> Daemon {
    prometheus_in(
        tempfile::tempdir().unwrap(),
        free_port(),
        config,
        remote_write,
    )
}

/// `/api/v1/query` result vector: (labels, value).
fn query(port: u16, q: &str) -> Vec<(serde_json::Map<String, Value>, f64)> {
    let Ok(resp) = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{port}/api/v1/query"))
        .query(&[("query", q)])
        .send()
    else {
        return vec![];
    };
    let v: Value = serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or(Value::Null);
    v["data"]["result"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["metric"].as_object().cloned().unwrap_or_default(),
                        r["value"][1]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(f64::NAN),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn resource_attr(r: &ResourceMetrics, key: &str) -> Option<String> {
    r.resource
        .as_ref()?
        .attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn metrics_of<'a>(rms: &'a [ResourceMetrics], job: &str) -> Vec<&'a Metric> {
    rms.iter()
        .filter(|r| resource_attr(r, "service.name").as_deref() == Some(job))
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect()
}

fn sink_yaml(sink: &Sink) -> String {
    format!(
        "exporters:\n  otlp_grpc:\n    endpoint: {}\n    tls: {{insecure: true}}\n",
        sink.grpc_endpoint()
    )
}

#[test]
fn receiver_scrapes_node_exporter_and_prometheus() {
    let node = node_exporter();
    let prom = prometheus("global: {scrape_interval: 1m}\n", false);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let yaml = format!(
        r#"
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: node
          scrape_interval: 1s
          static_configs: [{{targets: ["127.0.0.1:{node}"], labels: {{team: infra}}}}]
          metric_relabel_configs:
            - {{source_labels: [__name__], regex: "go_.*", action: drop}}
            - {{source_labels: [__name__], regex: "node_load1", target_label: __name__, replacement: renamed_load1}}
        - job_name: prom
          scrape_interval: 1s
          static_configs: [{{targets: ["127.0.0.1:{prom}"]}}]
        - job_name: dropped
          scrape_interval: 1s
          static_configs: [{{targets: ["127.0.0.1:1"]}}]
          relabel_configs:
            - {{source_labels: [job], regex: dropped, action: drop}}
{exporters}
service:
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [otlp_grpc]}}
"#,
        node = node.port,
        prom = prom.port,
        exporters = sink_yaml(&sink)
    );
    let f = Ferrotel::start(&yaml, &[]);
    let has = |job: &str, name: &str| {
        let st = sink.state.lock().unwrap();
        metrics_of(&st.metrics, job).iter().any(|m| m.name == name)
    };
    assert!(
        wait_until(Duration::from_secs(30), || has(
            "node",
            "node_cpu_seconds_total"
        ) && has(
            "prom",
            "prometheus_http_request_duration_seconds"
        ) && has(
            "prom",
            "go_gc_duration_seconds"
        )),
        "{}",
        f.logs()
    );
    let st = sink.state.lock().unwrap();
    // Resource attributes from job/instance, as otelcol sets them.
    let node_rm = st
        .metrics
        .iter()
        .find(|r| resource_attr(r, "service.name").as_deref() == Some("node"))
        .unwrap();
    assert_eq!(
        resource_attr(node_rm, "service.instance.id"),
        Some(format!("127.0.0.1:{}", node.port))
    );
    assert_eq!(
        resource_attr(node_rm, "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        resource_attr(node_rm, "url.scheme").as_deref(),
        Some("http")
    );
    let node_metrics = metrics_of(&st.metrics, "node");
    // up = 1 for both targets.
    for job in ["node", "prom"] {
        let up = metrics_of(&st.metrics, job)
            .into_iter()
            .find(|m| m.name == "up")
            .unwrap_or_else(|| panic!("no up for {job}"));
        let Some(Data::Gauge(g)) = &up.data else {
            panic!("up is a gauge")
        };
        assert_eq!(
            g.data_points[0].value,
            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(1.0))
        );
    }
    // Counters → cumulative monotonic sums with cpu/mode attributes; target labels kept.
    let cpu = node_metrics
        .iter()
        .find(|m| m.name == "node_cpu_seconds_total")
        .unwrap();
    let Some(Data::Sum(sum)) = &cpu.data else {
        panic!("{cpu:?}")
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let keys: Vec<&str> = sum.data_points[0]
        .attributes
        .iter()
        .map(|a| a.key.as_str())
        .collect();
    for k in ["cpu", "mode", "team"] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    assert!(!keys.contains(&"job") && !keys.contains(&"instance"));
    // metric_relabel_configs: drop and rename.
    assert!(!node_metrics.iter().any(|m| m.name.starts_with("go_")));
    assert!(node_metrics.iter().any(|m| m.name == "renamed_load1"));
    assert!(!node_metrics.iter().any(|m| m.name == "node_load1"));
    // relabel_configs: the dropped job's target is never scraped.
    assert!(metrics_of(&st.metrics, "dropped").is_empty());
    // A classic histogram with its buckets, and a summary with its quantiles.
    let prom_metrics = metrics_of(&st.metrics, "prom");
    let h = prom_metrics
        .iter()
        .find(|m| m.name == "prometheus_http_request_duration_seconds")
        .unwrap();
    let Some(Data::Histogram(h)) = &h.data else {
        panic!("{h:?}")
    };
    let p = &h.data_points[0];
    assert!(!p.explicit_bounds.is_empty());
    assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
    let s = prom_metrics
        .iter()
        .find(|m| m.name == "go_gc_duration_seconds")
        .unwrap();
    let Some(Data::Summary(s)) = &s.data else {
        panic!("{s:?}")
    };
    let qs: Vec<f64> = s.data_points[0]
        .quantile_values
        .iter()
        .map(|q| q.quantile)
        .collect();
    assert_eq!(qs, [0.0, 0.25, 0.5, 0.75, 1.0]);
    drop(st);
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn unsupported_service_discovery_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "receivers:\n  prometheus:\n    config:\n      scrape_configs:\n        - job_name: k\n          kubernetes_sd_configs: [{role: pod}]\nexporters:\n  debug:\nservice:\n  pipelines:\n    metrics: {receivers: [prometheus], exporters: [debug]}\n",
    )
    .unwrap();
    let (code, out, err) = common::run_cli(&["validate", "--config", cfg.to_str().unwrap()]);
    assert_ne!(code, 0);
    let all = format!("{out}{err}");
    assert!(
        all.contains("receivers::prometheus::config::scrape_configs::0::kubernetes_sd_configs"),
        "{all}"
    );
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// OTLP/JSON with a counter, a gauge and a histogram for one resource.
fn otlp_metrics(value: i64) -> String {
    let t = now_nanos();
    format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[
  {{"key":"service.name","value":{{"stringValue":"svc"}}}},
  {{"key":"service.namespace","value":{{"stringValue":"ns"}}}},
  {{"key":"service.instance.id","value":{{"stringValue":"inst-1"}}}},
  {{"key":"host.name","value":{{"stringValue":"h1"}}}}]}},
 "scopeMetrics":[{{"metrics":[
  {{"name":"test.requests","unit":"{{request}}","sum":{{"aggregationTemporality":2,"isMonotonic":true,
    "dataPoints":[{{"asInt":"{value}","timeUnixNano":"{t}","attributes":[{{"key":"http.method","value":{{"stringValue":"GET"}}}}]}}]}}}},
  {{"name":"test.temperature","unit":"Cel","gauge":{{"dataPoints":[{{"asDouble":21.5,"timeUnixNano":"{t}"}}]}}}},
  {{"name":"test.latency","unit":"ms","histogram":{{"aggregationTemporality":2,
    "dataPoints":[{{"timeUnixNano":"{t}","count":"6","sum":42.0,"bucketCounts":["1","2","3"],"explicitBounds":[5.0,10.0]}}]}}}}
 ]}}]}}]}}"#
    )
}

fn post_metrics(port: u16, body: String) {
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/metrics"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn otlp_in(http: u16) -> String {
    format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{http}\n"
    )
}

#[test]
fn remote_write_reaches_prometheus_with_otelcol_names() {
    let prom = prometheus("global: {scrape_interval: 1m}\n", true);
    let http = free_port();
    let yaml = format!(
        r#"{otlp}
exporters:
  prometheusremotewrite:
    endpoint: http://127.0.0.1:{port}/api/v1/write
    external_labels: {{cluster: c1}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms}}
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheusremotewrite]}}
"#,
        otlp = otlp_in(http),
        port = prom.port
    );
    let f = Ferrotel::start(&yaml, &[http]);
    post_metrics(http, otlp_metrics(7));
    let q = |expr: &str| query(prom.port, expr);
    assert!(
        wait_until(Duration::from_secs(20), || !q("test_requests_total")
            .is_empty()),
        "{}\n{}",
        f.logs(),
        prom.logs()
    );
    let r = q("test_requests_total");
    assert_eq!(r.len(), 1);
    let (labels, value) = &r[0];
    assert_eq!(*value, 7.0);
    for (k, v) in [
        ("job", "ns/svc"),
        ("instance", "inst-1"),
        ("http_method", "GET"),
        ("cluster", "c1"),
    ] {
        assert_eq!(
            labels.get(k).and_then(Value::as_str),
            Some(v),
            "{k} in {labels:?}"
        );
    }
    assert_eq!(q("test_temperature_celsius")[0].1, 21.5);
    let buckets = q("test_latency_milliseconds_bucket");
    let mut by_le: Vec<(String, f64)> = buckets
        .iter()
        .map(|(l, v)| (l["le"].as_str().unwrap().to_string(), *v))
        .collect();
    by_le.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_le,
        [
            ("+Inf".to_string(), 6.0),
            ("10".to_string(), 3.0),
            ("5".to_string(), 1.0)
        ]
    );
    assert_eq!(q("test_latency_milliseconds_sum")[0].1, 42.0);
    assert_eq!(q("test_latency_milliseconds_count")[0].1, 6.0);
    let ti = q("target_info");
    assert_eq!(ti.len(), 1);
    assert_eq!(ti[0].0.get("host_name").and_then(Value::as_str), Some("h1"));

    // Prometheus goes away and comes back (same TSDB, same port): what was sent meanwhile is
    // retried and arrives.
    let (port, dir) = (prom.port, {
        let mut p = prom;
        let _ = p.child.kill();
        let _ = p.child.wait();
        std::mem::replace(&mut p.dir, tempfile::tempdir().unwrap())
    });
    post_metrics(http, otlp_metrics(9));
    std::thread::sleep(Duration::from_millis(300));
    let prom = prometheus_in(dir, port, "global: {scrape_interval: 1m}\n", true);
    assert!(
        wait_until(Duration::from_secs(20), || {
            query(prom.port, "test_requests_total").first().map(|r| r.1) == Some(9.0)
        }),
        "{}",
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn prometheus_scrapes_the_exporter() {
    let http = free_port();
    let exp = free_port();
    let yaml = format!(
        r#"{otlp}
exporters:
  prometheus:
    endpoint: 127.0.0.1:{exp}
    const_labels: {{region: eu}}
service:
  pipelines:
    metrics: {{receivers: [otlp], exporters: [prometheus]}}
"#,
        otlp = otlp_in(http)
    );
    let f = Ferrotel::start(&yaml, &[http, exp]);
    post_metrics(http, otlp_metrics(11));
    let body = reqwest::blocking::get(format!("http://127.0.0.1:{exp}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        body.contains("# TYPE test_requests_total counter"),
        "{body}"
    );
    let prom = prometheus(
        &format!(
            "scrape_configs:\n  - job_name: ferrotel\n    honor_labels: true\n    scrape_interval: 1s\n    static_configs: [{{targets: ['127.0.0.1:{exp}']}}]\n"
        ),
        false,
    );
    assert!(
        wait_until(Duration::from_secs(20), || !query(
            prom.port,
            "test_requests_total"
        )
        .is_empty()),
        "{}\n{body}",
        prom.logs()
    );
    let r = query(prom.port, "test_requests_total");
    assert_eq!(r[0].1, 11.0);
    for (k, v) in [
        ("job", "ns/svc"),
        ("instance", "inst-1"),
        ("http_method", "GET"),
        ("region", "eu"),
    ] {
        assert_eq!(
            r[0].0.get(k).and_then(Value::as_str),
            Some(v),
            "{k} in {:?}",
            r[0].0
        );
    }
    assert_eq!(query(prom.port, "test_temperature_celsius")[0].1, 21.5);
    assert_eq!(
        query(prom.port, "test_latency_milliseconds_count")[0].1,
        6.0
    );
    assert_eq!(
        query(prom.port, "up{job=\"ns/svc\"}").len(),
        0,
        "honor_labels keeps the exported job"
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}

/// A scrape target the test controls: serves `body` as the text format and records each
/// request's head.
struct Target {
    port: u16,
    body: std::sync::Arc<std::sync::Mutex<String>>,
    requests: Requests,
}

fn target(initial: &str) -> Target {
    let body = std::sync::Arc::new(std::sync::Mutex::new(initial.to_string()));
    let b = body.clone();
    let (port, requests) = serve(move |_| {
        (
            "text/plain; version=0.0.4",
            b.lock().unwrap().clone().into_bytes(),
        )
    });
    Target {
        port,
        body,
        requests,
    }
}

type Requests = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// An HTTP/1.1 server on a free port answering each request with `respond(head)` (content type,
/// body); returns the port and the heads of the requests it received.
fn serve(respond: impl Fn(&str) -> (&'static str, Vec<u8>) + Send + 'static) -> (u16, Requests) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let requests = Requests::default();
    let r = requests.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let (content_type, body) = respond(&head);
            r.lock().unwrap().push(head);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    (port, requests)
}

fn gauge_points(rms: &[ResourceMetrics], job: &str, name: &str) -> Vec<(f64, u32)> {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as V;
    metrics_of(rms, job)
        .into_iter()
        .filter(|m| m.name == name)
        .flat_map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.clone(),
            Some(Data::Sum(s)) => s.data_points.clone(),
            _ => vec![],
        })
        .map(|p| {
            let v = match p.value {
                Some(V::AsDouble(d)) => d,
                Some(V::AsInt(i)) => i as f64,
                None => f64::NAN,
            };
            (v, p.flags)
        })
        .collect()
}

#[test]
fn receiver_limits_staleness_auth_and_file_sd() {
    let small = target("# TYPE temp gauge\ntemp{room=\"a\",job=\"scraped\"} 21\n");
    let huge = target(&"x 1\n".repeat(50_000));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let sd = tempfile::tempdir().unwrap();
    std::fs::write(
        sd.path().join("targets.json"),
        format!(
            r#"[{{"targets": ["127.0.0.1:{}"], "labels": {{"zone": "z1"}}}}]"#,
            small.port
        ),
    )
    .unwrap();
    let yaml = format!(
        r#"
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: small
          scrape_interval: 200ms
          basic_auth: {{username: u, password: p}}
          params: {{module: [m1]}}
          static_configs: [{{targets: ["127.0.0.1:{small}"]}}]
        - job_name: honor
          scrape_interval: 200ms
          honor_labels: true
          static_configs: [{{targets: ["127.0.0.1:{small}"]}}]
        - job_name: huge
          scrape_interval: 200ms
          body_size_limit: 10KB
          static_configs: [{{targets: ["127.0.0.1:{huge}"]}}]
        - job_name: limited
          scrape_interval: 200ms
          sample_limit: 10
          static_configs: [{{targets: ["127.0.0.1:{huge}"]}}]
        - job_name: filesd
          scrape_interval: 200ms
          file_sd_configs: [{{files: ["{sd}/*.json"], refresh_interval: 1s}}]
        - job_name: toomany
          scrape_interval: 200ms
          target_limit: 1
          static_configs: [{{targets: ["127.0.0.1:{small}", "localhost:{small}"]}}]
        - job_name: longvalue
          scrape_interval: 200ms
          label_value_length_limit: 3
          static_configs: [{{targets: ["127.0.0.1:{small}"]}}]
{exporters}
service:
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [otlp_grpc]}}
"#,
        small = small.port,
        huge = huge.port,
        sd = sd.path().display(),
        exporters = sink_yaml(&sink)
    );
    let f = Ferrotel::start(&yaml, &[]);
    let st = || sink.state.lock().unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || {
            let s = st();
            !gauge_points(&s.metrics, "small", "temp").is_empty()
                && !gauge_points(&s.metrics, "filesd", "temp").is_empty()
                && !gauge_points(&s.metrics, "huge", "up").is_empty()
                && !gauge_points(&s.metrics, "limited", "up").is_empty()
                && !gauge_points(&s.metrics, "toomany", "up").is_empty()
                && !gauge_points(&s.metrics, "longvalue", "up").is_empty()
                && !gauge_points(&s.metrics, "scraped", "temp").is_empty()
        }),
        "{}",
        f.logs()
    );
    {
        let s = st();
        // A body over body_size_limit, or more samples than sample_limit, fails the scrape: up = 0.
        assert!(gauge_points(&s.metrics, "huge", "up")
            .iter()
            .all(|p| p.0 == 0.0));
        assert!(gauge_points(&s.metrics, "limited", "up")
            .iter()
            .all(|p| p.0 == 0.0));
        assert!(metrics_of(&s.metrics, "huge").iter().all(|m| m.name != "x"));
        // More targets than target_limit fails every scrape of the job; a label value longer
        // than label_value_length_limit fails the scrape.
        for job in ["toomany", "longvalue"] {
            assert!(gauge_points(&s.metrics, job, "up")
                .iter()
                .all(|p| p.0 == 0.0));
            assert!(gauge_points(&s.metrics, job, "temp").is_empty());
        }
        // Without honor_labels the scraped job label becomes exported_job; with it, it wins.
        let small_temp = metrics_of(&s.metrics, "small")
            .into_iter()
            .find(|m| m.name == "temp")
            .unwrap();
        let Some(Data::Gauge(g)) = &small_temp.data else {
            panic!()
        };
        let attrs: Vec<(&str, String)> = g.data_points[0]
            .attributes
            .iter()
            .map(|a| (a.key.as_str(), format!("{:?}", a.value)))
            .collect();
        assert!(
            attrs
                .iter()
                .any(|(k, v)| *k == "exported_job" && v.contains("scraped")),
            "{attrs:?}"
        );
        // file_sd group labels reach the points.
        let fsd = metrics_of(&s.metrics, "filesd")
            .into_iter()
            .find(|m| m.name == "temp")
            .unwrap();
        let Some(Data::Gauge(g)) = &fsd.data else {
            panic!()
        };
        assert!(g.data_points[0].attributes.iter().any(|a| a.key == "zone"));
    }
    // basic_auth and params are sent.
    {
        let reqs = small.requests.lock().unwrap();
        let auth = reqs
            .iter()
            .find(|r| r.contains("module=m1"))
            .expect("params sent");
        assert!(
            auth.to_ascii_lowercase()
                .contains("authorization: basic dtpw"),
            "{auth}"
        );
        assert!(auth
            .to_ascii_lowercase()
            .contains("accept: application/openmetrics-text"));
    }
    // The series disappears: the next scrape reports it once with the NoRecordedValue flag.
    *small.body.lock().unwrap() = "# TYPE other gauge\nother 1\n".into();
    assert!(
        wait_until(Duration::from_secs(20), || {
            gauge_points(&st().metrics, "small", "temp")
                .iter()
                .any(|p| p.1 & 1 == 1)
        }),
        "{}",
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}

/// A target that negotiates like a client library: the protobuf format when the `Accept` header
/// asks for it, else the text format. Records each request's head.
struct NegotiatingTarget {
    port: u16,
    proto: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    requests: Requests,
}

fn negotiating_target(text: &str, proto: Vec<u8>) -> NegotiatingTarget {
    let proto = std::sync::Arc::new(std::sync::Mutex::new(proto));
    let (p, text) = (proto.clone(), text.to_string());
    let (port, requests) = serve(move |head| {
        let wants_proto = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("accept:") && l.contains("application/vnd.google.protobuf")
        });
        if wants_proto {
            (
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
                p.lock().unwrap().clone(),
            )
        } else {
            ("text/plain; version=0.0.4", text.clone().into_bytes())
        }
    });
    NegotiatingTarget {
        port,
        proto,
        requests,
    }
}

/// A counter with a created timestamp and a native histogram with positive, negative and zero
/// buckets, as a client library encodes them.
fn protobuf_body() -> Vec<u8> {
    use ferrotel::prom::protobuf::client::{
        BucketSpan, Counter, Histogram, LabelPair, Metric, MetricFamily, MetricType,
    };
    use prost::Message;
    let label = |n: &str, v: &str| LabelPair {
        name: Some(n.into()),
        value: Some(v.into()),
    };
    let span = |offset: i32, length: u32| BucketSpan {
        offset: Some(offset),
        length: Some(length),
    };
    let families = [
        MetricFamily {
            name: Some("jobs_total".into()),
            help: Some("Jobs run.".into()),
            r#type: Some(MetricType::Counter as i32),
            metric: vec![Metric {
                label: vec![label("queue", "q1")],
                counter: Some(Counter {
                    value: Some(42.0),
                    exemplar: None,
                    created_timestamp: Some(prost_types::Timestamp {
                        seconds: 1_700_000_000,
                        nanos: 0,
                    }),
                }),
                ..Default::default()
            }],
            unit: None,
        },
        MetricFamily {
            name: Some("request_seconds".into()),
            help: Some("Request latency.".into()),
            r#type: Some(MetricType::Histogram as i32),
            metric: vec![Metric {
                label: vec![label("route", "/api")],
                histogram: Some(Histogram {
                    sample_count: Some(12),
                    sample_sum: Some(3.25),
                    schema: Some(3),
                    zero_threshold: Some(1e-128),
                    zero_count: Some(2),
                    positive_span: vec![span(-2, 2), span(1, 2)],
                    positive_delta: vec![1, 2, -1, 0],
                    negative_span: vec![span(1, 1)],
                    negative_delta: vec![3],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            unit: None,
        },
    ];
    let mut out = Vec::new();
    for f in &families {
        f.encode_length_delimited(&mut out).unwrap();
    }
    out
}

#[test]
fn receiver_negotiates_the_protobuf_format_and_native_histograms() {
    use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
    let good = protobuf_body();
    let t = negotiating_target("# TYPE only_text gauge\nonly_text 1\n", good.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let yaml = format!(
        r#"
receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: proto
          scrape_interval: 200ms
          scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0, PrometheusText0.0.4]
          static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
        - job_name: text
          scrape_interval: 200ms
          static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
{exporters}
service:
  pipelines:
    metrics: {{receivers: [prometheus], exporters: [otlp_grpc]}}
"#,
        port = t.port,
        exporters = sink_yaml(&sink)
    );
    let f = Ferrotel::start(&yaml, &[]);
    let st = || sink.state.lock().unwrap();
    let has = |job: &str, name: &str| {
        metrics_of(&st().metrics, job)
            .iter()
            .any(|m| m.name == name)
    };
    assert!(
        wait_until(Duration::from_secs(20), || {
            has("proto", "request_seconds") && has("text", "only_text")
        }),
        "{}",
        f.logs()
    );
    {
        let s = st();
        let proto = metrics_of(&s.metrics, "proto");
        assert!(proto.iter().all(|m| m.name != "only_text"));
        assert!(metrics_of(&s.metrics, "text")
            .iter()
            .all(|m| m.name != "request_seconds"));
        let counter = proto.iter().find(|m| m.name == "jobs_total").unwrap();
        let Some(Data::Sum(c)) = &counter.data else {
            panic!("{counter:?}")
        };
        assert!(c.is_monotonic);
        assert_eq!(
            c.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(
            c.data_points[0].start_time_unix_nano,
            1_700_000_000_000_000_000
        );
        let h = proto.iter().find(|m| m.name == "request_seconds").unwrap();
        assert_eq!(h.description, "Request latency.");
        let Some(Data::ExponentialHistogram(x)) = &h.data else {
            panic!("{h:?}")
        };
        let p = &x.data_points[0];
        assert_eq!((p.scale, p.count, p.sum), (3, 12, Some(3.25)));
        assert_eq!((p.zero_threshold, p.zero_count), (1e-128, 2));
        // Spans (-2, 2) and (1, 2) with deltas 1, 2, -1, 0: counts 1, 3, [gap], 2, 2 from
        // Prometheus index -2, which is OTLP offset -3.
        assert_eq!(
            p.positive,
            Some(Buckets {
                offset: -3,
                bucket_counts: vec![1, 3, 0, 2, 2]
            })
        );
        assert_eq!(
            p.negative,
            Some(Buckets {
                offset: 0,
                bucket_counts: vec![3]
            })
        );
        assert_eq!(gauge_points(&s.metrics, "proto", "up")[0].0, 1.0);
    }
    // The Accept header Prometheus sends for these protocols, and its default one.
    {
        let reqs = t.requests.lock().unwrap();
        let accepts: Vec<String> = reqs
            .iter()
            .flat_map(|r| r.lines().map(str::to_string).collect::<Vec<_>>())
            .filter(|l| l.to_ascii_lowercase().starts_with("accept:"))
            .map(|l| l["accept:".len()..].trim().to_string())
            .collect();
        for want in [
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,\
             application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3",
            "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,\
             text/plain;version=0.0.4;q=0.4,*/*;q=0.3",
        ] {
            assert!(accepts.iter().any(|a| a == want), "{want} in {accepts:?}");
        }
    }
    // A malformed protobuf body fails the scrape (up = 0), and the next good one recovers.
    let cut = good[..good.len() - 5].to_vec();
    *t.proto.lock().unwrap() = cut;
    assert!(
        wait_until(Duration::from_secs(20), || {
            gauge_points(&st().metrics, "proto", "up")
                .iter()
                .any(|p| p.0 == 0.0)
        }),
        "{}",
        f.logs()
    );
    assert!(f.logs().contains("parse error"), "{}", f.logs());
    let seen = gauge_points(&st().metrics, "proto", "up").len();
    *t.proto.lock().unwrap() = good;
    assert!(
        wait_until(Duration::from_secs(20), || {
            gauge_points(&st().metrics, "proto", "up")[seen..]
                .iter()
                .any(|p| p.0 == 1.0)
        }),
        "{}",
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}
