//! Security through the real binary: mutual TLS from an agent to a gateway with certificates made in
//! the test, refusal of clients without a certificate or with one from another CA, bearer tokens and
//! basic auth (401 / UNAUTHENTICATED), certificate and token rotation on disk without a restart,
//! decompression bombs, the connection limit, the Python SDK over TLS, and no secret in any output.

use crate::common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::pki::{self, Ca, Leaf};
use common::{free_port, run_cli, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

const SPAN_JSON: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"hello"}]}]}]}"#;

/// Files of a test PKI in a temp dir: the CA, the gateway's certificate, an agent's client certificate.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    agent: Leaf,
}

impl Pki {
    fn new() -> Pki {
        let ca = Ca::new("ferrotel test CA");
        let gateway = ca.leaf("gateway");
        let agent = ca.leaf("agent");
        let dir = tempfile::tempdir().unwrap();
        pki::write(dir.path(), "ca.crt", &ca.cert_pem);
        pki::write(dir.path(), "gateway.crt", &gateway.cert_pem);
        pki::write(dir.path(), "gateway.key", &gateway.key_pem);
        pki::write(dir.path(), "agent.crt", &agent.cert_pem);
        pki::write(dir.path(), "agent.key", &agent.key_pem);
        Pki { dir, ca, agent }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// The receiver `tls:` block; `mtls` requires client certificates signed by the CA.
    fn server_tls(&self, mtls: bool, extra: &str) -> String {
        let mut s = format!(
            "{{cert_file: {}, key_file: {}",
            self.path("gateway.crt"),
            self.path("gateway.key")
        );
        if mtls {
            s.push_str(&format!(", client_ca_file: {}", self.path("ca.crt")));
        }
        s.push_str(extra);
        s.push('}');
        s
    }
}

fn https_client(ca_pem: &str, identity: Option<&Leaf>) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(10));
    if let Some(l) = identity {
        let pem = format!("{}{}", l.cert_pem, l.key_pem);
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

fn post_json(
    client: &reqwest::blocking::Client,
    url: &str,
    auth: Option<&str>,
) -> Result<u16, String> {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .body(SPAN_JSON);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    req.send()
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("{e:?}"))
}

fn gateway_yaml(
    grpc: u16,
    http: u16,
    grpc_extra: &str,
    http_extra: &str,
    ext: &str,
    sink: &Sink,
) -> String {
    format!(
        r#"
extensions:
{ext}
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"{grpc_extra}}}
      http: {{endpoint: "127.0.0.1:{http}"{http_extra}}}
exporters:
  otlp_grpc:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
  extensions: [{ext_ids}]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
    metrics: {{receivers: [otlp], exporters: [otlp_grpc]}}
    logs: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#,
        sink = sink.grpc_endpoint(),
        ext = if ext.is_empty() {
            "  {}".to_string()
        } else {
            ext.to_string()
        },
        ext_ids = ext
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':'))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn grpc_request(big: usize) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: "s".into(),
                    attributes: vec![KeyValue {
                        key: "big".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("a".repeat(big))),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// One gRPC export; Ok(()) or the status code.
async fn grpc_export(
    channel: tonic::transport::Channel,
    auth: Option<&str>,
    big: usize,
    gzip: bool,
) -> Result<(), tonic::Code> {
    let mut client = TraceServiceClient::new(channel);
    if gzip {
        client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    let mut req = tonic::Request::new(grpc_request(big));
    if let Some(a) = auth {
        req.metadata_mut()
            .insert("authorization", a.parse().unwrap());
    }
    client.export(req).await.map(|_| ()).map_err(|s| s.code())
}

fn plain_channel(port: u16) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy()
}

#[test]
fn mtls_agent_to_gateway_over_grpc_and_http() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let pki = Pki::new();
    let (gg, gh) = (free_port(), free_port());
    let tls = format!(", tls: {}", pki.server_tls(true, ""));
    let gateway = Ferrotel::start(&gateway_yaml(gg, gh, &tls, &tls, "", &sink), &[gg, gh]);
    let client_tls = format!(
        "{{ca_file: {}, cert_file: {}, key_file: {}}}",
        pki.path("ca.crt"),
        pki.path("agent.crt"),
        pki.path("agent.key")
    );
    let ah = free_port();
    let agent = Ferrotel::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{ah}"}}
exporters:
  otlp_grpc:
    endpoint: localhost:{gg}
    tls: {client_tls}
  otlp_http:
    endpoint: https://localhost:{gh}
    tls: {client_tls}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc, otlp_http]}}
"#
        ),
        &[ah],
    );
    let status = post_json(
        &reqwest::blocking::Client::new(),
        &format!("http://127.0.0.1:{ah}/v1/traces"),
        None,
    );
    assert_eq!(status, Ok(200));
    assert!(
        wait_until(Duration::from_secs(15), || sink.span_count() == 2),
        "spans: {}\nagent:\n{}\ngateway:\n{}",
        sink.span_count(),
        agent.logs(),
        gateway.logs()
    );
}

#[test]
fn mtls_gateway_refuses_missing_and_foreign_client_certificates() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let pki = Pki::new();
    let (gg, gh) = (free_port(), free_port());
    let tls = format!(", tls: {}", pki.server_tls(true, ""));
    let _gateway = Ferrotel::start(&gateway_yaml(gg, gh, &tls, &tls, "", &sink), &[gg, gh]);
    let url = format!("https://localhost:{gh}/v1/traces");

    // No client certificate.
    let r = post_json(&https_client(&pki.ca.cert_pem, None), &url, None);
    assert!(r.is_err(), "{r:?}");
    // A client certificate from another CA.
    let other = Ca::new("someone else's CA").leaf("intruder");
    let r = post_json(&https_client(&pki.ca.cert_pem, Some(&other)), &url, None);
    assert!(r.is_err(), "{r:?}");
    // Plaintext to the TLS port.
    let r = post_json(
        &reqwest::blocking::Client::new(),
        &format!("http://127.0.0.1:{gh}/v1/traces"),
        None,
    );
    assert!(r.is_err() || r == Ok(400), "{r:?}");
    // The right certificate.
    let r = post_json(
        &https_client(&pki.ca.cert_pem, Some(&pki.agent)),
        &url,
        None,
    );
    assert_eq!(r, Ok(200));

    // gRPC: no client certificate, then a foreign one, then the right one.
    let tls_channel = |id: Option<&Leaf>| {
        let mut t = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&pki.ca.cert_pem))
            .domain_name("localhost");
        if let Some(l) = id {
            t = t.identity(tonic::transport::Identity::from_pem(
                &l.cert_pem,
                &l.key_pem,
            ));
        }
        tonic::transport::Channel::from_shared(format!("https://localhost:{gg}"))
            .unwrap()
            .tls_config(t)
            .unwrap()
            .connect_lazy()
    };
    rt.block_on(async {
        assert!(grpc_export(tls_channel(None), None, 1, false)
            .await
            .is_err());
        assert!(grpc_export(tls_channel(Some(&other)), None, 1, false)
            .await
            .is_err());
        assert_eq!(
            grpc_export(tls_channel(Some(&pki.agent)), None, 1, false).await,
            Ok(())
        );
    });
    assert!(wait_until(Duration::from_secs(10), || sink.span_count() == 2));
}

#[test]
fn bearer_token_refusals_and_rotation_without_secrets_in_logs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let pki = Pki::new();
    let token_file = pki.dir.path().join("token");
    std::fs::write(&token_file, "first-S3CRET-token\n").unwrap();
    let (gg, gh) = (free_port(), free_port());
    let ext = format!("  bearertokenauth:\n    filename: {}", token_file.display());
    let http_extra = format!(
        ", tls: {}, auth: {{authenticator: bearertokenauth}}",
        pki.server_tls(false, "")
    );
    let m = free_port();
    let yaml = gateway_yaml(
        gg,
        gh,
        ", auth: {authenticator: bearertokenauth}",
        &http_extra,
        &ext,
        &sink,
    )
    .replace(
        "\nservice:\n",
        &format!("\nservice:\n  telemetry: {{metrics: {{readers: [{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {m}}}}}}}}}]}}}}\n"),
    );
    let gateway = Ferrotel::start_with(&yaml, &[gg, gh, m], &[], &[("FERROTEL_LOG", "debug")]);
    let client = https_client(&pki.ca.cert_pem, None);
    let url = format!("https://localhost:{gh}/v1/traces");
    assert_eq!(post_json(&client, &url, None), Ok(401));
    assert_eq!(
        post_json(&client, &url, Some("Bearer wrong-GUESS-token")),
        Ok(401)
    );
    assert_eq!(
        post_json(&client, &url, Some("Basic first-S3CRET-token")),
        Ok(401)
    );
    assert_eq!(
        post_json(&client, &url, Some("Bearer first-S3CRET-token")),
        Ok(200)
    );
    rt.block_on(async {
        let ch = plain_channel(gg);
        assert_eq!(
            grpc_export(ch.clone(), None, 1, false).await,
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            grpc_export(ch.clone(), Some("Bearer wrong-GUESS-token"), 1, false).await,
            Err(tonic::Code::Unauthenticated)
        );
        assert_eq!(
            grpc_export(ch, Some("Bearer first-S3CRET-token"), 1, false).await,
            Ok(())
        );
    });

    // The token file is rotated: the new token is accepted without a restart, the old one refused.
    pki::replace(&token_file, "second-S3CRET-token\n");
    assert!(
        wait_until(Duration::from_secs(10), || post_json(
            &client,
            &url,
            Some("Bearer second-S3CRET-token")
        ) == Ok(200)),
        "{}",
        gateway.logs()
    );
    assert_eq!(
        post_json(&client, &url, Some("Bearer first-S3CRET-token")),
        Ok(401)
    );
    assert!(wait_until(Duration::from_secs(10), || sink.span_count() == 3));

    // Every refusal is counted, per receiver and transport: 2 over gRPC; over HTTP 4 and the refusals
    // of the new token seen while waiting for the rotation.
    let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{m}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let count = |transport: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("ferrotel_receiver_unauthenticated_requests")
                    && l.contains(&format!("transport=\"{transport}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
    };
    assert!(count("http").is_some_and(|n| n >= 4), "{metrics}");
    assert_eq!(count("grpc"), Some(2), "{metrics}");

    let logs = gateway.logs();
    assert!(logs.contains("unauthenticated"), "{logs}");
    for secret in ["S3CRET", "GUESS"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

#[test]
fn agent_sends_bearer_token_and_basic_auth_over_tls() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let pki = Pki::new();
    let hash = bcrypt::hash("b4sic-PASSWORD", 4).unwrap();
    let (gg, gh) = (free_port(), free_port());
    let ext = format!(
        "  bearertokenauth:\n    token: agent-S3CRET\n  basicauth:\n    htpasswd:\n      inline: \"agent:{hash}\""
    );
    let tls = pki.server_tls(false, "");
    let gateway = Ferrotel::start(
        &gateway_yaml(
            gg,
            gh,
            &format!(", tls: {tls}, auth: {{authenticator: bearertokenauth}}"),
            &format!(", tls: {tls}, auth: {{authenticator: basicauth}}"),
            &ext,
            &sink,
        ),
        &[gg, gh],
    );
    let ah = free_port();
    let ca = pki.path("ca.crt");
    let agent = Ferrotel::start_with(
        &format!(
            r#"
extensions:
  bearertokenauth:
    token: agent-S3CRET
  basicauth:
    client_auth: {{username: agent, password: b4sic-PASSWORD}}
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{ah}"}}
exporters:
  otlp_grpc:
    endpoint: localhost:{gg}
    tls: {{ca_file: {ca}}}
    auth: {{authenticator: bearertokenauth}}
  otlp_http:
    endpoint: https://localhost:{gh}
    tls: {{ca_file: {ca}}}
    auth: {{authenticator: basicauth}}
service:
  extensions: [bearertokenauth, basicauth]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc, otlp_http]}}
"#
        ),
        &[ah],
        &[],
        &[("FERROTEL_LOG", "debug")],
    );
    let status = post_json(
        &reqwest::blocking::Client::new(),
        &format!("http://127.0.0.1:{ah}/v1/traces"),
        None,
    );
    assert_eq!(status, Ok(200));
    assert!(
        wait_until(Duration::from_secs(15), || sink.span_count() == 2),
        "agent:\n{}\ngateway:\n{}",
        agent.logs(),
        gateway.logs()
    );
    // A wrong password is refused.
    let basic = |u: &str, p: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let client = https_client(&pki.ca.cert_pem, None);
    let url = format!("https://localhost:{gh}/v1/traces");
    assert_eq!(
        post_json(&client, &url, Some(&basic("agent", "nope"))),
        Ok(401)
    );
    assert_eq!(
        post_json(&client, &url, Some(&basic("agent", "b4sic-PASSWORD"))),
        Ok(200)
    );
    let logs = agent.logs() + &gateway.logs();
    assert!(
        !logs.contains("S3CRET") && !logs.contains("PASSWORD"),
        "{logs}"
    );
}

#[test]
fn certificate_rotation_on_disk_is_picked_up_without_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let pki = Pki::new();
    let (gg, gh) = (free_port(), free_port());
    let tls = format!(
        ", tls: {}",
        pki.server_tls(false, ", reload_interval: 100ms")
    );
    let gateway = Ferrotel::start(&gateway_yaml(gg, gh, "", &tls, "", &sink), &[gg, gh]);
    let url = format!("https://localhost:{gh}/v1/traces");
    let old_client = https_client(&pki.ca.cert_pem, None);
    assert_eq!(post_json(&old_client, &url, None), Ok(200));

    // A new CA issues the gateway's next certificate; the files are replaced in place.
    let new_ca = Ca::new("next CA");
    let next = new_ca.leaf("gateway-next");
    pki::replace(&pki.dir.path().join("gateway.key"), &next.key_pem);
    pki::replace(&pki.dir.path().join("gateway.crt"), &next.cert_pem);
    let new_client = https_client(&new_ca.cert_pem, None);
    assert!(
        wait_until(Duration::from_secs(10), || post_json(
            &new_client,
            &url,
            None
        ) == Ok(200)),
        "{}",
        gateway.logs()
    );
    // New connections no longer get the old certificate.
    let fresh_old = https_client(&pki.ca.cert_pem, None);
    assert!(post_json(&fresh_old, &url, None).is_err());
    assert!(gateway.logs().contains("TLS certificates reloaded"));
}

#[test]
fn bad_certificate_files_are_named_at_start_up() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let pki = Pki::new();
    let other = Ca::new("x").leaf("x");
    pki::write(pki.dir.path(), "other.key", &other.key_pem);
    pki::write(pki.dir.path(), "junk.crt", "not a certificate");
    let cases = [
        (
            format!(
                "{{cert_file: {}/missing.crt, key_file: {}}}",
                pki.dir.path().display(),
                pki.path("gateway.key")
            ),
            "missing.crt\": file not found",
        ),
        (
            format!(
                "{{cert_file: {}, key_file: {}}}",
                pki.path("junk.crt"),
                pki.path("gateway.key")
            ),
            "junk.crt\" is not PEM",
        ),
        (
            format!(
                "{{cert_file: {}, key_file: {}}}",
                pki.path("gateway.crt"),
                pki.path("other.key")
            ),
            "other.key\" does not match the certificate",
        ),
    ];
    for (tls, want) in cases {
        let g = free_port();
        let yaml = gateway_yaml(g, free_port(), &format!(", tls: {tls}"), "", "", &sink);
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        let out = Command::new(common::bin())
            .arg("--config")
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(want), "want {want:?} in:\n{err}");
        assert!(err.contains("receivers::otlp::protocols::grpc"), "{err}");
        assert!(!err.contains("PRIVATE KEY-----"), "{err}");
    }
}

#[test]
fn secrets_never_in_validate_or_print_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        r#"
extensions:
  bearertokenauth:
    token: tok-S3CRET
    tokens: [tok2-S3CRET]
  basicauth:
    client_auth: {username: u, password: 12345678}
    htpasswd: {inline: "u:plain-S3CRET"}
  headers_setter:
    headers: [{key: X-Api-Key, value: api-S3CRET, bogus: 1}]
receivers:
  otlp:
    protocols:
      http:
        tls: {cert_file: /nonexistent.crt, key_pem: "-----BEGIN PRIVATE KEY-----\nS3CRETKEY\n-----END PRIVATE KEY-----", cert_pem: x}
exporters:
  otlp_http:
    endpoint: https://example.invalid
    headers: {Authorization: "Bearer hdr-S3CRET"}
service:
  extensions: [bearertokenauth, basicauth, headers_setter]
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp_http]}
"#,
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (code, out, err) = run_cli(&["validate", "--config", cfg]);
    assert_ne!(code, 0);
    let all = out + &err;
    assert!(all.contains("extensions::bearertokenauth"), "{all}");
    assert!(all.contains("extensions::basicauth"), "{all}");
    assert!(
        !all.contains("S3CRET") && !all.contains("12345678"),
        "{all}"
    );

    let (code, out, err) = run_cli(&["print-config", "--config", cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[REDACTED]"), "{out}");
    assert!(
        !out.contains("S3CRET") && !out.contains("12345678"),
        "{out}"
    );
}

#[test]
fn decompression_bombs_are_refused_and_harmless() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (gg, gh) = (free_port(), free_port());
    let f = Ferrotel::start(
        &gateway_yaml(
            gg,
            gh,
            ", max_recv_msg_size_mib: 1",
            ", max_request_body_size: 1048576",
            "",
            &sink,
        ),
        &[gg, gh],
    );
    // gRPC: a 16 MiB message that compresses to a few KiB.
    rt.block_on(async {
        let r = grpc_export(plain_channel(gg), None, 16 << 20, true).await;
        assert_eq!(r, Err(tonic::Code::ResourceExhausted));
        assert_eq!(grpc_export(plain_channel(gg), None, 10, true).await, Ok(()));
    });
    // HTTP: 64 MiB of zeros, gzip and zstd.
    let zeros = vec![0u8; 64 << 20];
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&zeros).unwrap();
    let gz = gz.finish().unwrap();
    let zs = zstd::stream::encode_all(&zeros[..], 3).unwrap();
    assert!(gz.len() < 1 << 20 && zs.len() < 1 << 20);
    let client = reqwest::blocking::Client::new();
    for (enc, body) in [("gzip", gz), ("zstd", zs)] {
        let r = client
            .post(format!("http://127.0.0.1:{gh}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", enc)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 413, "{enc}");
    }
    assert_eq!(
        post_json(&client, &format!("http://127.0.0.1:{gh}/v1/traces"), None),
        Ok(200)
    );
    assert!(wait_until(Duration::from_secs(10), || sink.span_count() == 2));
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn connection_limit_holds_new_connections_until_one_closes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let h = free_port();
    let g = free_port();
    let _f = Ferrotel::start(
        &gateway_yaml(g, h, "", ", max_connections: 2", "", &sink),
        &[g],
    );
    // Ferrotel::start's port probe may hold a slot briefly; wait until requests are answered.
    let request = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{SPAN_JSON}",
        SPAN_JSON.len()
    );
    let answered = |s: &mut std::net::TcpStream| -> bool {
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        if s.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200")
    };
    // Only the gRPC port was waited for: the HTTP listener may come up a moment later.
    let connect = || {
        let mut s = None;
        wait_until(Duration::from_secs(10), || {
            s = std::net::TcpStream::connect(("127.0.0.1", h)).ok();
            s.is_some()
        });
        s.expect("the HTTP receiver never listened")
    };
    let mut a = connect();
    assert!(wait_until(Duration::from_secs(10), || answered(&mut a)));
    let mut b = connect();
    assert!(answered(&mut b));
    // The third connection is accepted by the kernel but not served while two are open.
    let mut c = connect();
    assert!(!answered(&mut c));
    drop(a);
    let mut buf = [0u8; 12];
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.read_exact(&mut buf).unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 200"));
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python(args: &[&str]) {
    let py = repo().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run tests/setup.sh",
        py.display()
    );
    // requests lets REQUESTS_CA_BUNDLE override the exporter's certificate_file (requests#3829);
    // the CA file must be what the SDK trusts here.
    let out = Command::new(py)
        .arg(repo().join("tests/sdk/python/send.py"))
        .args(args)
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "SDK sender failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_sdk_sends_over_tls_with_a_ca_file() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let pki = Pki::new();
    let (gg, gh) = (free_port(), free_port());
    let tls = format!(", tls: {}", pki.server_tls(false, ""));
    let gateway = Ferrotel::start(&gateway_yaml(gg, gh, &tls, &tls, "", &sink), &[gg, gh]);
    let ca = pki.path("ca.crt");
    python(&["grpc", &format!("localhost:{gg}"), "gzip", "--ca", &ca]);
    python(&[
        "http",
        &format!("https://localhost:{gh}"),
        "none",
        "--ca",
        &ca,
    ]);
    assert!(
        wait_until(Duration::from_secs(15), || sink.span_count() >= 4),
        "spans {}\n{}",
        sink.span_count(),
        gateway.logs()
    );
}

#[test]
fn exporter_picks_up_a_rotated_client_certificate() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let pki = Pki::new();
    let (gg, gh) = (free_port(), free_port());
    let tls = format!(", tls: {}", pki.server_tls(true, ""));
    let _gateway = Ferrotel::start(&gateway_yaml(gg, gh, "", &tls, "", &sink), &[gg, gh]);
    // The agent starts with a certificate the gateway does not trust.
    let stranger = Ca::new("old CA").leaf("agent");
    let crt = pki::write(pki.dir.path(), "rot.crt", &stranger.cert_pem);
    let key = pki::write(pki.dir.path(), "rot.key", &stranger.key_pem);
    let ah = free_port();
    let agent = Ferrotel::start(
        &format!(
            r#"
receivers:
  otlp:
    protocols:
      http: {{endpoint: "127.0.0.1:{ah}"}}
exporters:
  otlp_http:
    endpoint: https://localhost:{gh}
    tls: {{ca_file: {ca}, cert_file: {crt}, key_file: {key}, reload_interval: 100ms}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_http]}}
"#,
            ca = pki.path("ca.crt"),
            crt = crt.display(),
            key = key.display()
        ),
        &[ah],
    );
    let status = post_json(
        &reqwest::blocking::Client::new(),
        &format!("http://127.0.0.1:{ah}/v1/traces"),
        None,
    );
    assert_eq!(status, Ok(200));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(sink.span_count(), 0);
    // The certificate is renewed by the gateway's CA, on disk: retries now get through.
    pki::replace(&key, &pki.agent.key_pem);
    pki::replace(&crt, &pki.agent.cert_pem);
    assert!(
        wait_until(Duration::from_secs(15), || sink.span_count() == 1),
        "{}",
        agent.logs()
    );
}
