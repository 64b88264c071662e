//! Orderly shutdown flushes what was acknowledged; the debug exporter prints at each verbosity.

use crate::common;

use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink, SinkMode};

fn spans_json(name: &str, n: usize) -> String {
    let spans: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"{:016x}","name":"{name}-{i}"}}"#, i + 1))
        .collect();
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

#[test]
fn sigterm_drains_acknowledged_data_to_a_reachable_destination() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    sink.set_mode(SinkMode::Unavailable { retry_after: None });
    let http = free_port();
    let f = Ferrotel::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{http}"}}
exporters:
  otlp:
    endpoint: {}
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"#,
            sink.grpc_endpoint()
        ),
        &[http],
    );
    let client = reqwest::Client::new();
    for i in 0..40 {
        let resp = rt
            .block_on(
                client
                    .post(format!("http://127.0.0.1:{http}/v1/traces"))
                    .header("content-type", "application/json")
                    .body(spans_json(&format!("r{i}"), 5))
                    .send(),
            )
            .unwrap();
        assert_eq!(resp.status(), 200, "acknowledged into the sending queue");
    }
    assert_eq!(sink.span_count(), 0);
    f.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    sink.set_mode(SinkMode::Accept);
    let status = f.stop(Duration::from_secs(30));
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        sink.span_count(),
        200,
        "every acknowledged span was delivered before exit"
    );
}

#[test]
fn debug_exporter_verbosities() {
    for (verbosity, expect) in [
        ("basic", vec![r#"Traces {"resource spans": 1, "spans": 2}"#]),
        (
            "normal",
            vec!["dbg-0 5b8efff798038103d269b633813fc60c 0000000000000001"],
        ),
        (
            "detailed",
            vec![
                "Span #1",
                "Name           : dbg-1",
                "Trace ID       : 5b8efff798038103d269b633813fc60c",
            ],
        ),
    ] {
        let http = free_port();
        let f = Ferrotel::start(
            &format!(
                "receivers: {{otlp: {{protocols: {{http: {{endpoint: '127.0.0.1:{http}'}}}}}}}}\nexporters: {{debug: {{verbosity: {verbosity}}}}}\nservice: {{pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}}}\n"
            ),
            &[http],
        );
        let resp = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/json")
            .body(spans_json("dbg", 2))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            wait_until(Duration::from_secs(5), || expect
                .iter()
                .all(|e| f.logs().contains(e))),
            "{verbosity}: {}",
            f.logs()
        );
        assert!(f.stop(Duration::from_secs(10)).success());
    }
}

#[test]
fn sighup_reloads_the_configuration() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let http = free_port();
    let debug_cfg = format!(
        "receivers: {{otlp: {{protocols: {{http: {{endpoint: '127.0.0.1:{http}'}}}}}}}}\nexporters: {{debug: }}\nservice: {{pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}}}\n"
    );
    let mut f = Ferrotel::start(&debug_cfg, &[http]);
    let cfg_path = f.dir.path().join("config.yaml");
    let send = |name: &str| {
        reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/traces"))
            .header("content-type", "application/json")
            .body(spans_json(name, 1))
            .send()
            .map(|r| r.status().as_u16())
    };
    // An invalid new config is refused and the running service is kept.
    std::fs::write(
        &cfg_path,
        "receivers: {otlp: {protocols: {http: {endpont: x}}}}",
    )
    .unwrap();
    f.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(5), || f
            .logs()
            .contains("keeping the running one")),
        "{}",
        f.logs()
    );
    assert_eq!(send("still").unwrap(), 200);
    // A valid one replaces it.
    let sink_cfg = debug_cfg
        .replace(
            "exporters: {debug: }",
            &format!(
                "exporters: {{debug: , otlp: {{endpoint: '{}', tls: {{insecure: true}}}}}}",
                sink.grpc_endpoint()
            ),
        )
        .replace("exporters: [debug]", "exporters: [otlp]");
    std::fs::write(&cfg_path, sink_cfg).unwrap();
    f.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(10), || f
            .logs()
            .contains("configuration reloaded")),
        "{}",
        f.logs()
    );
    f.wait_port(http);
    assert!(wait_until(Duration::from_secs(10), || send("after").ok() == Some(200)));
    assert!(
        wait_until(Duration::from_secs(10), || sink.span_count() == 1),
        "{}",
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}
