//! Faults at the destination, through the real binary: connections reset mid-request (a TCP fault
//! proxy in front of the recording sink), absurd and garbage `Retry-After`, and the exporters'
//! counters in the cases that used to miscount (partial success, debug sampling, `timeout: 0s`, no
//! queue, an invalid header). Spans are named `<test>-<n>` and counted by name at the sink.

use crate::common;
use crate::ops;

use std::time::Duration;

use common::proxy::FaultProxy;
use common::{free_port, wait_until, Ferrotel, Sink, SinkMode};
use prost::Message;

/// Spans named `<prefix>-<first>` … `<prefix>-<first + n - 1>`, as an OTLP/HTTP protobuf body.
fn request(prefix: &str, first: usize, n: usize) -> Vec<u8> {
    common::named_spans("chaos", prefix, first, n).encode_to_vec()
}

fn missing(sink: &Sink, prefix: &str, n: usize) -> Vec<String> {
    let got = sink.received();
    (0..n)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|k| !got.contains_key(k))
        .collect()
}

struct Ports {
    http: u16,
    metrics: u16,
}

/// OTLP/HTTP in, `exporter` (YAML of one exporter named `out`) out; Prometheus on its own port.
fn config(p: &Ports, exporter: &str) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http}"}}
exporters:
  {exporter}
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [{name}]}}
"#,
        http = p.http,
        metrics = p.metrics,
        name = exporter.split(':').next().unwrap().trim(),
    )
}

fn start(exporter: &str) -> (Ferrotel, Ports) {
    let p = Ports {
        http: free_port(),
        metrics: free_port(),
    };
    let f = Ferrotel::start(&config(&p, exporter), &[p.http, p.metrics]);
    (f, p)
}

/// Sends `requests` requests of `per` spans named `<prefix>-<n>`; every one must be acknowledged.
fn send_all(rt: &tokio::runtime::Runtime, p: &Ports, prefix: &str, requests: usize, per: usize) {
    for r in 0..requests {
        let status = ops::post(rt, p.http, "/v1/traces", request(prefix, r * per, per));
        assert_eq!(status, 200, "request {r} was not acknowledged");
    }
}

#[allow(dead_code)]
fn counter(p: &Ports, name: &str, exporter: &str) -> f64 {
    ops::value(&ops::scrape(p.metrics), name, &[("exporter", exporter)])
}

/// Waits until the exporter's sent + send_failed counters reach `total`, then returns them.
fn settled(p: &Ports, exporter: &str, total: f64) -> (f64, f64) {
    let read = || {
        let m = ops::scrape(p.metrics);
        (
            ops::value(
                &m,
                "otelcol_exporter_sent_spans_total",
                &[("exporter", exporter)],
            ),
            ops::value(
                &m,
                "otelcol_exporter_send_failed_spans_total",
                &[("exporter", exporter)],
            ),
        )
    };
    wait_until(Duration::from_secs(20), || {
        let (s, f) = read();
        s + f >= total
    });
    // Anything counted twice would show up a moment later.
    std::thread::sleep(Duration::from_millis(300));
    read()
}

fn resets_are_survived(
    exporter_yaml: impl Fn(&FaultProxy) -> String,
    upstream: fn(&Sink) -> std::net::SocketAddr,
    prefix: &str,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let proxy = rt.block_on(FaultProxy::start(upstream(&sink), 2));
    let yaml = exporter_yaml(&proxy);
    let name = yaml.split(':').next().unwrap().trim().to_string();
    let (f, p) = start(&yaml);
    let (requests, per) = (20, 5);
    send_all(&rt, &p, prefix, requests, per);
    let total = requests * per;
    let ok = wait_until(Duration::from_secs(90), || {
        missing(&sink, prefix, total).is_empty()
    });
    assert!(
        ok,
        "missing after resets: {:?}\n{}",
        missing(&sink, prefix, total),
        f.logs()
    );
    assert_eq!(proxy.resets(), 2, "the proxy did not reset connections");
    let (sent, failed) = settled(&p, &name, total as f64);
    assert_eq!((sent, failed), (total as f64, 0.0), "{}", f.logs());
}

/// A backend that resets the first connections mid-request: `otlp_grpc` (tonic reports the reset as
/// `Unknown` or `Internal`) retries, with the default queue and retry, and nothing is lost.
#[test]
fn grpc_exporter_retries_connections_reset_mid_request() {
    resets_are_survived(
        |proxy| {
            format!(
                "otlp/otlp_out: {{endpoint: \"{}\", tls: {{insecure: true}}}}",
                proxy.addr
            )
        },
        |s| s.grpc_addr,
        "grpc-reset",
    );
}

#[test]
fn http_exporter_retries_connections_reset_mid_request() {
    resets_are_survived(
        |proxy| {
            format!(
                "otlp_http/otlp_out: {{endpoint: \"http://{}\"}}",
                proxy.addr
            )
        },
        |s| s.http_addr,
        "http-reset",
    );
}

/// `Retry-After: 2^64−1` used to overflow `elapsed + wait` and kill the worker; garbage is ignored.
/// Both are survived and everything is delivered once the destination recovers.
#[test]
fn absurd_and_garbage_retry_after_are_survived() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Throttle {
        status: 503,
        retry_after: "18446744073709551615".into(),
    });
    let (mut f, p) = start(&format!(
        "otlp_http/out: {{endpoint: \"{}\", retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms}}}}",
        sink.http_endpoint()
    ));
    send_all(&rt, &p, "throttle", 4, 5);
    let attempts = || sink.state.lock().unwrap().attempts.len();
    assert!(wait_until(Duration::from_secs(10), || attempts() >= 6));
    sink.set_mode(SinkMode::Throttle {
        status: 429,
        retry_after: "garbage".into(),
    });
    let seen = attempts();
    assert!(wait_until(Duration::from_secs(10), || attempts() >= seen + 6));
    sink.set_mode(SinkMode::Throttle {
        status: 503,
        retry_after: "99999999999999999999999999".into(),
    });
    let seen = attempts();
    assert!(wait_until(Duration::from_secs(10), || attempts() >= seen + 4));
    sink.set_mode(SinkMode::Accept);
    assert!(
        wait_until(Duration::from_secs(30), || missing(&sink, "throttle", 20)
            .is_empty()),
        "missing: {:?}\n{}",
        missing(&sink, "throttle", 20),
        f.logs()
    );
    assert!(f.child.try_wait().unwrap().is_none(), "ferrotel exited");
    assert!(!f.logs().contains("panicked"), "{}", f.logs());
    assert_eq!(settled(&p, "otlp_http/out", 20.0), (20.0, 0.0));
}

/// A partial success counts the accepted items as sent and the rejected ones as send_failed.
#[test]
fn partial_success_counts_accepted_and_rejected_apart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::PartialSuccess { rejected: 3 });
    let (_f, p) = start(&format!(
        "otlp_http/out: {{endpoint: \"{}\"}}",
        sink.http_endpoint()
    ));
    send_all(&rt, &p, "partial", 2, 10);
    assert_eq!(settled(&p, "otlp_http/out", 20.0), (14.0, 6.0));
}

/// The debug exporter's sampling limits what is logged; every batch counts as sent.
#[test]
fn debug_exporter_counts_sampled_out_batches_as_sent() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_f, p) = start("debug: {sampling_initial: 1, sampling_thereafter: 1000}");
    send_all(&rt, &p, "debug", 6, 2);
    assert_eq!(settled(&p, "debug", 12.0), (12.0, 0.0));
}

/// `timeout: 0s` is no timeout (otelcol), not "every attempt times out at once" (which sent
/// duplicates and counted them as failed).
#[test]
fn zero_timeout_means_no_timeout() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (f, p) = start(&format!(
        "otlp/out: {{endpoint: \"{}\", tls: {{insecure: true}}, timeout: 0s}}",
        sink.grpc_endpoint()
    ));
    send_all(&rt, &p, "timeout0", 5, 4);
    assert_eq!(settled(&p, "otlp/out", 20.0), (20.0, 0.0), "{}", f.logs());
    let got = sink.received();
    assert_eq!(got.len(), 20);
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
}

/// Without a queue the caller gets the error. A retryable one is the caller's to count (the
/// receiver counts the items as refused: the client was told 503 and keeps them), not the
/// exporter's: it did not drop them.
#[test]
fn exporter_without_queue_hands_a_retryable_failure_back_uncounted() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    let (_f, p) = start(&format!(
        "otlp_http/out: {{endpoint: \"{}\", sending_queue: {{enabled: false}}, retry_on_failure: {{enabled: false}}}}",
        sink.http_endpoint()
    ));
    for r in 0..3 {
        let status = ops::post(&rt, p.http, "/v1/traces", request("noqueue", r * 4, 4));
        assert_eq!(status, 503, "the destination's refusal reaches the client");
    }
    std::thread::sleep(Duration::from_millis(300));
    let m = ops::scrape(p.metrics);
    let exp = [("exporter", "otlp_http/out")];
    assert_eq!(
        ops::value(&m, "otelcol_exporter_sent_spans_total", &exp)
            + ops::value(&m, "otelcol_exporter_send_failed_spans_total", &exp),
        0.0,
        "{m}"
    );
    assert_eq!(
        ops::value(
            &m,
            "otelcol_receiver_refused_spans_total",
            &[("receiver", "otlp")]
        ),
        12.0,
        "{m}"
    );
}

/// A batch processor in front of an exporter without a queue retries what the exporter hands back.
/// Counted once each: `sent + send_failed` equals the items offered, however many attempts it took
/// (it used to count `send_failed` per failed attempt and then `sent`); a permanent refusal is
/// `send_failed` once and never retried.
#[test]
fn exporter_without_queue_behind_a_retrying_batch_processor_counts_each_item_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for permanent in [false, true] {
        let sink = Sink::start(&rt);
        sink.set_mode(if permanent {
            SinkMode::BadRequest
        } else {
            SinkMode::Unavailable { retry_after: None }
        });
        let p = Ports {
            http: free_port(),
            metrics: free_port(),
        };
        let yaml = config(
            &p,
            &format!(
                "otlp_http/out: {{endpoint: \"{}\", sending_queue: {{enabled: false}}, retry_on_failure: {{enabled: false}}}}",
                sink.http_endpoint()
            ),
        )
        .replace(
            "traces: {receivers: [otlp], exporters: [otlp_http/out]}",
            "traces: {receivers: [otlp], processors: [batch], exporters: [otlp_http/out]}",
        )
        .replace("exporters:\n", "processors:\n  batch: {timeout: 20ms}\nexporters:\n");
        let f = Ferrotel::start(&yaml, &[p.http, p.metrics]);
        send_all(&rt, &p, "batched", 5, 4);
        let attempts = || sink.state.lock().unwrap().attempts.len();
        if permanent {
            let (sent, failed) = settled(&p, "otlp_http/out", 20.0);
            assert_eq!((sent, failed), (0.0, 20.0), "{}", f.logs());
        } else {
            // Refused at least three times over, then the destination comes back.
            assert!(
                wait_until(Duration::from_secs(20), || attempts() >= 3),
                "the batch processor did not retry:\n{}",
                f.logs()
            );
            sink.set_mode(SinkMode::Accept);
            let (sent, failed) = settled(&p, "otlp_http/out", 20.0);
            assert_eq!((sent, failed), (20.0, 0.0), "{}", f.logs());
            assert!(missing(&sink, "batched", 20).is_empty());
        }
        let m = ops::scrape(p.metrics);
        assert_eq!(
            ops::value(
                &m,
                "otelcol_receiver_accepted_spans_total",
                &[("receiver", "otlp")]
            ),
            20.0,
            "offered: {m}"
        );
    }
}

/// A header otelcol accepts in config but HTTP cannot carry: a warning at start-up naming it, and
/// every export fails permanently (counted once, never retried, nothing sent).
#[test]
fn invalid_header_warns_and_fails_permanently() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (f, p) = start(&format!(
        "otlp_http/out: {{endpoint: \"{}\", headers: {{\"can you have a . here?\": v}}, retry_on_failure: {{initial_interval: 50ms}}}}",
        sink.http_endpoint()
    ));
    send_all(&rt, &p, "header", 2, 3);
    assert_eq!(settled(&p, "otlp_http/out", 6.0), (0.0, 6.0));
    assert!(sink.state.lock().unwrap().attempts.is_empty());
    assert!(
        f.logs()
            .contains("exporters::otlp_http/out::headers::can you have a . here?"),
        "{}",
        f.logs()
    );
}

/// Issue 10 item 11: `headers_setter` actions as otelcol documents them, through both exporters:
/// `insert` leaves a header the exporter already sets, `update` changes only a present one, `upsert`
/// always sets, `delete` removes one the exporter sets, and `from_context` reads the incoming
/// request's metadata (`default_value` when absent).
#[test]
fn headers_setter_actions_reach_the_destination() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (sink_h, sink_g) = (Sink::start(&rt), Sink::start(&rt));
    let (http, metrics) = (free_port(), free_port());
    let own = "headers: {x-present: old, x-update: old, x-delete: old}, auth: {authenticator: headers_setter}";
    let yaml = format!(
        r#"
extensions:
  headers_setter:
    headers:
      - {{key: x-present, action: insert, value: new}}
      - {{key: x-tenant, action: insert, from_context: tenant, default_value: anon}}
      - {{key: x-update, action: update, value: new}}
      - {{key: x-missing, action: update, value: new}}
      - {{key: x-delete, action: delete}}
      - {{key: x-up, value: up}}
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http}", include_metadata: true}}
exporters:
  otlp_http/h: {{endpoint: "{}", {own}}}
  otlp/g: {{endpoint: "{}", tls: {{insecure: true}}, {own}}}
service:
  extensions: [headers_setter]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_http/h, otlp/g]}}
"#,
        sink_h.http_endpoint(),
        sink_g.grpc_endpoint()
    );
    let _f = Ferrotel::start(&yaml, &[http, metrics]);
    for tenant in [Some("acme"), None] {
        let status = rt.block_on(async {
            let mut req = reqwest::Client::new()
                .post(format!("http://127.0.0.1:{http}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(request("hs", 0, 1));
            if let Some(t) = tenant {
                req = req.header("tenant", t);
            }
            req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        });
        assert_eq!(status, 200);
    }
    for (name, sink) in [("otlp_http", &sink_h), ("otlp_grpc", &sink_g)] {
        assert!(
            wait_until(Duration::from_secs(20), || sink
                .state
                .lock()
                .unwrap()
                .headers
                .len()
                >= 2),
            "{name}: two requests expected"
        );
        let st = sink.state.lock().unwrap();
        let mut tenants = Vec::new();
        for h in &st.headers {
            let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            assert_eq!(get("x-present"), Some("old"), "{name}: insert keeps {h:?}");
            tenants.push(get("x-tenant").unwrap_or("").to_string());
            assert_eq!(get("x-update"), Some("new"), "{name}: update {h:?}");
            assert_eq!(get("x-missing"), None, "{name}: update of an absent {h:?}");
            assert_eq!(get("x-delete"), None, "{name}: delete {h:?}");
            assert_eq!(get("x-up"), Some("up"), "{name}: upsert {h:?}");
        }
        tenants.sort();
        assert_eq!(
            tenants,
            ["acme", "anon"],
            "{name}: from_context, default_value"
        );
    }
}
