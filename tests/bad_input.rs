//! Bad input of every kind gets its status code and a message naming the problem, and ferrotel keeps
//! serving everyone else.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{free_port, wait_until, Ferrotel, Sink};
use ferrotel::signal::codec::{RawCodec, Segments};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// google.rpc.Status as the receiver encodes it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn request(trace_id: Vec<u8>, spans: usize) -> Vec<u8> {
    let span = Span {
        trace_id,
        span_id: vec![2; 8],
        name: "ok".into(),
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span; spans],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

struct Env {
    rt: tokio::runtime::Runtime,
    sink: Sink,
    f: Ferrotel,
    grpc: u16,
    http: u16,
    client: reqwest::Client,
}

fn start() -> Env {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (grpc, http) = (free_port(), free_port());
    let f = Ferrotel::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}", max_recv_msg_size_mib: 1}}
      http: {{endpoint: "127.0.0.1:{http}", max_request_body_size: 1048576, read_header_timeout: 2s}}
exporters:
  otlp:
    endpoint: {}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"#,
            sink.grpc_endpoint()
        ),
        &[grpc, http],
    );
    Env {
        rt,
        sink,
        f,
        grpc,
        http,
        client: reqwest::Client::new(),
    }
}

impl Env {
    fn post(
        &self,
        ct: &str,
        encoding: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
        self.rt.block_on(async {
            let mut r = self
                .client
                .post(format!("http://127.0.0.1:{}/v1/traces", self.http))
                .header("content-type", ct)
                .body(body);
            if let Some(e) = encoding {
                r = r.header("content-encoding", e);
            }
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            (status, resp.bytes().await.unwrap().to_vec(), headers)
        })
    }

    /// A good request still goes through.
    fn still_serving(&self) {
        let before = self.sink.span_count();
        let (status, _, _) = self.post("application/x-protobuf", None, request(vec![1; 16], 1));
        assert_eq!(status, 200);
        assert!(
            wait_until(Duration::from_secs(10), || self.sink.span_count()
                == before + 1),
            "{}",
            self.f.logs()
        );
    }

    fn expect_status(
        &self,
        ct: &str,
        encoding: Option<&str>,
        body: Vec<u8>,
        want: u16,
        message: &str,
    ) {
        let (status, resp, _) = self.post(ct, encoding, body);
        assert_eq!(status, want, "body: {}", String::from_utf8_lossy(&resp));
        let msg = if ct == "application/json" {
            serde_json::from_slice::<serde_json::Value>(&resp).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_string()
        } else {
            RpcStatus::decode(&resp[..]).unwrap().message
        };
        assert!(
            msg.contains(message),
            "message {msg:?} should contain {message:?}"
        );
        self.still_serving();
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn http_bad_bodies_get_400_with_a_reason() {
    let env = start();
    let good = request(vec![1; 16], 3);
    env.expect_status(
        "application/x-protobuf",
        None,
        good[..good.len() - 5].to_vec(),
        400,
        "cannot decode the OTLP request",
    );
    env.expect_status(
        "application/x-protobuf",
        None,
        vec![0xff, 0xfe, 0xfd, 0x07, 0x00, 0x01],
        400,
        "cannot decode",
    );
    env.expect_status(
        "application/x-protobuf",
        None,
        request(vec![1; 5], 1),
        400,
        "invalid trace_id length 5",
    );
    env.expect_status(
        "application/json",
        None,
        b"{\"resourceSpans\": [".to_vec(),
        400,
        "cannot decode the JSON request",
    );
    let b64 = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"eee19b7ec3c1b174","name":"x"}]}]}]}"#;
    env.expect_status(
        "application/json",
        None,
        b64.as_bytes().to_vec(),
        400,
        "cannot decode the JSON request",
    );
    let short = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff7","spanId":"eee19b7ec3c1b174","name":"x"}]}]}]}"#;
    env.expect_status(
        "application/json",
        None,
        short.as_bytes().to_vec(),
        400,
        "invalid trace_id length 4",
    );
    env.expect_status(
        "application/x-protobuf",
        Some("gzip"),
        b"not gzip at all".to_vec(),
        400,
        "cannot decompress the gzip request body",
    );
    env.expect_status(
        "application/x-protobuf",
        Some("br"),
        good.clone(),
        400,
        "unsupported Content-Encoding \"br\"",
    );
    assert_eq!(env.sink.span_count(), 8, "only the good requests arrived");
}

#[test]
fn http_limits_and_routing() {
    let env = start();
    // Declared too large.
    env.expect_status(
        "application/x-protobuf",
        None,
        vec![0; 2 << 20],
        413,
        "exceeds max_request_body_size",
    );
    // A gzip bomb: 64 MiB of zeros in ~64 KiB; refused without inflating it all.
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 1 << 20);
    env.expect_status(
        "application/x-protobuf",
        Some("gzip"),
        bomb,
        413,
        "decompressed request body exceeds max_request_body_size",
    );
    // Wrong media type, wrong method, unknown path.
    let (status, body, _) = env.post("text/plain", None, b"hello".to_vec());
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("unsupported media type"));
    let (get, missing) = env.rt.block_on(async {
        let get = env
            .client
            .get(format!("http://127.0.0.1:{}/v1/traces", env.http))
            .send()
            .await
            .unwrap();
        let missing = env
            .client
            .post(format!("http://127.0.0.1:{}/v1/nothing", env.http))
            .send()
            .await
            .unwrap();
        (get, missing)
    });
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");
    assert_eq!(missing.status(), 404);
    // Metrics have no pipeline here: 404, as otelcol.
    let m = env
        .rt
        .block_on(
            env.client
                .post(format!("http://127.0.0.1:{}/v1/metrics", env.http))
                .header("content-type", "application/x-protobuf")
                .send(),
        )
        .unwrap();
    assert_eq!(m.status(), 404);
    // Zero items: acknowledged, not passed on.
    let (status, _, _) = env.post("application/x-protobuf", None, Vec::new());
    assert_eq!(status, 200);
    env.still_serving();
}

#[test]
fn json_response_for_json_request() {
    let env = start();
    let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","someFutureField":1}]}]}]}"#;
    let (status, resp, headers) = env.post("application/json", None, body.as_bytes().to_vec());
    assert_eq!(status, 200, "unknown JSON fields are ignored");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(resp, b"{}");
}

#[test]
fn slow_header_client_is_cut_off_and_others_are_served() {
    let env = start();
    let mut slow = TcpStream::connect(("127.0.0.1", env.http)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let header = b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n";
    let mut closed = false;
    for b in header.iter() {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        env.still_serving();
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(12) {
            break;
        }
    }
    if !closed {
        let mut buf = [0u8; 256];
        // The server answers 408 or closes the connection once read_header_timeout (2s) passes. A
        // read that merely times out is neither: the server kept the socket open.
        match slow.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(text.contains("408"), "{text}");
            }
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                ),
                "the server neither answered nor closed the connection: {e}"
            ),
        }
    }
    env.still_serving();
}

#[test]
fn grpc_bad_messages() {
    let env = start();
    let call_with = |body: Vec<u8>, gzip: bool| {
        env.rt.block_on(async {
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", env.grpc))
                    .unwrap()
                    .connect()
                    .await
                    .unwrap();
            let mut grpc = tonic::client::Grpc::new(channel);
            if gzip {
                grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
            }
            grpc.ready().await.unwrap();
            grpc.unary::<_, bytes::Bytes, _>(
                tonic::Request::new(Segments(vec![bytes::Bytes::from(body)])),
                http::uri::PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                ),
                RawCodec,
            )
            .await
        })
    };
    let call = |body: Vec<u8>| call_with(body, false);
    // A gzip bomb over gRPC: small on the wire, past the limit once inflated.
    let err = call_with(vec![0; 64 << 20], true).unwrap_err();
    assert!(
        matches!(
            err.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{err:?}"
    );
    let err = call(vec![0xff, 0xfe, 0xfd, 0x07]).unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("cannot decode the OTLP request"),
        "{err:?}"
    );
    let err = call(request(vec![1; 3], 1)).unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("invalid trace_id length 3"),
        "{err:?}"
    );
    let err = call(vec![0; 2 << 20]).unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::OutOfRange,
        "over max_recv_msg_size_mib: {err:?}"
    );
    call(request(vec![1; 16], 2)).unwrap();
    assert!(wait_until(Duration::from_secs(10), || env
        .sink
        .span_count()
        == 2));
    env.still_serving();
}
