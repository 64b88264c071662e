//! OTLP in → pipeline → OTLP out through the real binary, with a recording destination.

use crate::common;

use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink};

fn gateway_yaml(grpc: u16, http: u16, sink: &Sink) -> String {
    format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
exporters:
  otlp:
    endpoint: {}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
    metrics: {{receivers: [otlp], exporters: [otlp]}}
    logs: {{receivers: [otlp], exporters: [otlp]}}
"#,
        sink.grpc_endpoint()
    )
}

#[test]
fn json_over_http_reaches_grpc_destination() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (g, h) = (free_port(), free_port());
    let f = Ferrotel::start(&gateway_yaml(g, h, &sink), &[g, h]);
    let body = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"hello","kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,"attributes":[{"key":"n","value":{"intValue":"5"}}]}]}]}]}"#;
    let resp = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{h}/v1/traces"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    });
    assert_eq!(resp.status(), 200);
    assert!(
        wait_until(Duration::from_secs(10), || sink.span_count() == 1),
        "{}",
        f.logs()
    );
    let st = sink.state.lock().unwrap();
    let span = &st.traces[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "hello");
    assert_eq!(hex(&span.trace_id), "5b8efff798038103d269b633813fc60c");
    assert_eq!(span.start_time_unix_nano, 1544712660000000000);
    drop(st);
    assert!(f.stop(Duration::from_secs(10)).success());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn fan_out_to_pipelines_and_fan_in_to_a_shared_exporter() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (a, b, shared) = (Sink::start(&rt), Sink::start(&rt), Sink::start(&rt));
    let h = free_port();
    let f = Ferrotel::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{h}"}}
exporters:
  otlp/a: {{endpoint: "{}", tls: {{insecure: true}}}}
  otlp_http/b: {{endpoint: "{}"}}
  otlp/shared: {{endpoint: "{}", tls: {{insecure: true}}}}
service:
  pipelines:
    traces/a: {{receivers: [otlp], exporters: [otlp/a, otlp/shared]}}
    traces/b: {{receivers: [otlp], exporters: [otlp_http/b, otlp/shared]}}
"#,
            a.grpc_endpoint(),
            b.http_endpoint(),
            shared.grpc_endpoint()
        ),
        &[h],
    );
    let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"fan"}]}]}]}"#;
    let resp = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{h}/v1/traces"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        wait_until(Duration::from_secs(10), || a.span_count() == 1
            && b.span_count() == 1
            && shared.span_count() == 2),
        "a {} b {} shared {}\n{}",
        a.span_count(),
        b.span_count(),
        shared.span_count(),
        f.logs()
    );
    assert!(f.stop(Duration::from_secs(10)).success());
}
