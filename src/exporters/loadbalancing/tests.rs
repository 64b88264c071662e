use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::*;
use crate::component::ConfigResult;
use crate::pipeline::{ConsumeError, Consumer};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// Backends recorded by endpoint: what each received, whether it refuses, whether it was shut down.
#[derive(Default)]
struct Fake {
    received: Mutex<Vec<(String, Vec<u8>)>>,
    refusing: Mutex<Vec<String>>,
    shut: Mutex<Vec<String>>,
}

struct FakeFactory(Arc<Fake>);
struct FakePrepared(Arc<Fake>, String);
struct FakeBackend(Arc<Fake>, String, AtomicBool);

impl ExporterFactory for FakeFactory {
    fn type_name(&self) -> &'static str {
        "fake"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
        if cfg.get("compression").and_then(Value::as_str) == Some("bogus") {
            return Err(vec![ConfigError::new(
                format!("{path}::compression"),
                "bad",
            )]);
        }
        let ep = cfg
            .get("endpoint")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok(Arc::new(FakePrepared(self.0.clone(), ep)))
    }
}

impl PreparedExporter for FakePrepared {
    fn create(&self, _: &ComponentId, _: SignalKind, _: &Host) -> Result<AnyConsumer, StartError> {
        Ok(AnyConsumer::Traces(Arc::new(FakeBackend(
            self.0.clone(),
            self.1.clone(),
            AtomicBool::new(false),
        ))))
    }
}

#[async_trait]
impl Consumer<Traces> for FakeBackend {
    async fn consume(&self, mut batch: Batch<Traces>) -> Result<(), ConsumeError> {
        if self.0.refusing.lock().unwrap().contains(&self.1) || self.2.load(Ordering::SeqCst) {
            return Err(ConsumeError::retryable("down"));
        }
        let mut r = self.0.received.lock().unwrap();
        for rs in batch.resources().unwrap() {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    r.push((self.1.clone(), s.trace_id.clone()));
                }
            }
        }
        Ok(())
    }
    async fn shutdown(&self, _: tokio::time::Instant) {
        self.2.store(true, Ordering::SeqCst);
        self.0.shut.lock().unwrap().push(self.1.clone());
    }
}

fn balancer(fake: &Arc<Fake>, yaml: &str) -> Arc<Balancer> {
    let f = Factory {
        backend: Arc::new(FakeFactory(fake.clone())),
    };
    let p = f
        .prepare(
            &serde_yaml::from_str(yaml).unwrap(),
            "exporters::loadbalancing",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
    let _ = p;
    let c: Config = crate::config::parse(&serde_yaml::from_str(yaml).unwrap(), "x").unwrap();
    let b = Arc::new(Balancer {
        id: "loadbalancing".into(),
        signal: SignalKind::Traces,
        key: RoutingKey::TraceId,
        attributes: vec![],
        otlp: c.protocol.otlp.clone(),
        backend: Arc::new(FakeFactory(fake.clone())),
        host: Host::default(),
        path: "exporters::loadbalancing".into(),
        state: RwLock::new(State::default()),
    });
    if let Some(eps) = c.resolver.static_endpoints() {
        b.set_backends(&eps);
    }
    b
}

fn traces(n: u32, spans_per_trace: u32) -> Batch<Traces> {
    let spans = (0..n)
        .flat_map(|t| {
            (0..spans_per_trace).map(move |s| Span {
                trace_id: {
                    let mut id = [0u8; 16];
                    id[..4].copy_from_slice(&t.wrapping_mul(2654435761).to_be_bytes());
                    id[12..].copy_from_slice(&t.to_be_bytes());
                    id.to_vec()
                },
                span_id: s.to_be_bytes().repeat(2),
                ..Default::default()
            })
        })
        .collect();
    Batch::from_resources(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

const STATIC3: &str = "{protocol: {otlp: {tls: {insecure: true}}}, resolver: {static: {hostnames: [a, b, 'c:4000']}}}";

fn owners(fake: &Fake) -> BTreeMap<Vec<u8>, Vec<String>> {
    let mut m: BTreeMap<Vec<u8>, Vec<String>> = BTreeMap::new();
    for (ep, t) in fake.received.lock().unwrap().iter() {
        let v = m.entry(t.clone()).or_default();
        if !v.contains(ep) {
            v.push(ep.clone());
        }
    }
    m
}

#[tokio::test]
async fn every_trace_goes_to_one_backend_and_static_ports_default_to_4317() {
    let fake = Arc::new(Fake::default());
    let b = balancer(&fake, STATIC3);
    let s = LbSender(b.clone());
    for _ in 0..3 {
        Sender::<Traces>::send(&s, &traces(300, 4)).await.unwrap();
    }
    let o = owners(&fake);
    assert_eq!(o.len(), 300);
    assert!(o.values().all(|v| v.len() == 1));
    let used: std::collections::BTreeSet<&String> = o.values().flatten().collect();
    assert_eq!(
        used.into_iter().cloned().collect::<Vec<_>>(),
        ["a:4317", "b:4317", "c:4000"]
    );
}

#[tokio::test]
async fn resize_moves_one_in_n_and_a_failed_backend_is_rerouted_after_removal() {
    let fake = Arc::new(Fake::default());
    let b = balancer(&fake, STATIC3);
    let s = LbSender(b.clone());
    Sender::<Traces>::send(&s, &traces(2000, 1)).await.unwrap();
    let before = owners(&fake);
    fake.received.lock().unwrap().clear();
    b.set_backends(&[
        "a:4317".into(),
        "b:4317".into(),
        "c:4000".into(),
        "d:4317".into(),
    ]);
    Sender::<Traces>::send(&s, &traces(2000, 1)).await.unwrap();
    let after = owners(&fake);
    let moved = before.iter().filter(|(k, v)| after[*k] != **v).count();
    let frac = moved as f64 / 2000.0;
    assert!(frac > 0.25 / 1.5 && frac < 0.25 * 1.5, "moved {frac}");
    // d goes down: sends touching it fail (retryable), nothing is silently dropped...
    fake.refusing.lock().unwrap().push("d:4317".into());
    let err = Sender::<Traces>::send(&s, &traces(2000, 1))
        .await
        .unwrap_err();
    assert!(err.retryable);
    // ...and once it is removed, the same batch goes through the new ring, whole.
    fake.received.lock().unwrap().clear();
    b.set_backends(&["a:4317".into(), "b:4317".into(), "c:4000".into()]);
    Sender::<Traces>::send(&s, &traces(2000, 1)).await.unwrap();
    assert_eq!(owners(&fake).len(), 2000);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*fake.shut.lock().unwrap(), ["d:4317"]);
}

#[test]
fn config_errors_name_their_key() {
    let fake = Arc::new(Fake::default());
    let f = Factory {
        backend: Arc::new(FakeFactory(fake)),
    };
    for (yaml, key, msg) in [
        (
            "{protocol: {otlp: {}}, resolver: {aws_cloud_map: {namespace: x}}}",
            "p::resolver::aws_cloud_map",
            "not supported",
        ),
        (
            "{protocol: {otlp: {}}, resolver: {}}",
            "p::resolver",
            "exactly one",
        ),
        (
            "{protocol: {otlp: {}}, resolver: {static: {hostnames: [a]}}, routing_key: span}",
            "p::routing_key",
            "unsupported",
        ),
        (
            "{protocol: {otlp: {}}, resolver: {static: {hostnames: [a]}}, routing_key: attributes}",
            "p::routing_attributes",
            "at least one",
        ),
        (
            "{protocol: {otlp: {compression: bogus}}, resolver: {static: {hostnames: [a]}}}",
            "p::protocol::otlp::compression",
            "bad",
        ),
        (
            "{protocol: {otlp: {}}, resolver: {dns: {hostname: h, port: x}}}",
            "p::resolver::dns::port",
            "invalid port",
        ),
    ] {
        let errs = match f.prepare(&serde_yaml::from_str(yaml).unwrap(), "p") {
            Err(e) => e,
            Ok(_) => panic!("{yaml} accepted"),
        };
        assert_eq!(errs[0].path, key, "{yaml}");
        assert!(errs[0].message.contains(msg), "{}", errs[0].message);
    }
}

/// A local HTTP server speaking the EndpointSlice list and watch API (responses written from the
/// Kubernetes API reference: `discovery.k8s.io/v1` `EndpointSliceList`, watch events one JSON
/// object per line).
#[tokio::test]
async fn k8s_resolver_lists_then_follows_the_watch() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paths = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = paths.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("").to_string();
            seen.lock().unwrap().push(path.clone());
            if path.contains("watch=true") {
                let ev = r#"{"type":"MODIFIED","object":{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"gw-abc","resourceVersion":"101"},"addressType":"IPv4","endpoints":[{"addresses":["10.1.0.1"],"conditions":{"ready":true}},{"addresses":["10.1.0.2"],"conditions":{"ready":true}},{"addresses":["10.1.0.3"],"conditions":{"ready":true}}],"ports":[{"name":"otlp","port":4317,"protocol":"TCP"}]}}"#;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(format!("{ev}\n").as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            } else {
                let body = r#"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSliceList","metadata":{"resourceVersion":"100"},"items":[{"metadata":{"name":"gw-abc","resourceVersion":"100"},"addressType":"IPv4","endpoints":[{"addresses":["10.1.0.1"],"conditions":{"ready":true}},{"addresses":["10.1.0.2"],"conditions":{"ready":true}},{"addresses":["10.1.0.9"],"conditions":{"ready":false}}],"ports":[{"name":"otlp","port":4317,"protocol":"TCP"}]}]}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        }
    });
    let fake = Arc::new(Fake::default());
    let yaml = format!(
        "{{protocol: {{otlp: {{}}}}, resolver: {{k8s: {{service: gw.obs, ports: [4317], api_server: 'http://{addr}'}}}}}}"
    );
    let b = balancer(&fake, &yaml);
    let c: Config = crate::config::parse(&serde_yaml::from_str(&yaml).unwrap(), "x").unwrap();
    tokio::spawn(c.resolver.run("lb".into(), Arc::downgrade(&b)));
    for _ in 0..200 {
        let eps = b.snapshot().0.endpoints.clone();
        if eps.len() == 3 {
            assert_eq!(eps, ["10.1.0.1:4317", "10.1.0.2:4317", "10.1.0.3:4317"]);
            let p = paths.lock().unwrap().clone();
            assert!(p[0].starts_with("/apis/discovery.k8s.io/v1/namespaces/obs/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dgw"), "{p:?}");
            assert!(
                p.iter()
                    .any(|x| x.contains("watch=true") && x.contains("resourceVersion=100")),
                "{p:?}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("watch never applied: {:?}", b.snapshot().0.endpoints);
}

mod split_encoded {
    use super::*;
    use crate::exporters::loadbalancing::decoded::{decoded_logs, decoded_traces};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};

    /// `msg` with an unknown varint field (100) added to every resource, scope and item message, as
    /// a newer sender's would be; the split must carry them and decoders ignore them.
    fn with_unknowns(msg: &[u8], depth: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = msg;
        while !b.is_empty() {
            let (tag, wire) = decode_key(&mut b).unwrap();
            encode_key(tag, wire, &mut out);
            match wire {
                WireType::LengthDelimited => {
                    let len = decode_varint(&mut b).unwrap() as usize;
                    let (payload, rest) = b.split_at(len);
                    b = rest;
                    let nested = (depth == 0 && tag == 1) || ((1..3).contains(&depth) && tag == 2);
                    let payload = if nested {
                        with_unknowns(payload, depth + 1)
                    } else {
                        payload.to_vec()
                    };
                    encode_varint(payload.len() as u64, &mut out);
                    out.extend(payload);
                }
                WireType::Varint => encode_varint(decode_varint(&mut b).unwrap(), &mut out),
                WireType::SixtyFourBit => {
                    out.extend(&b[..8]);
                    b = &b[8..];
                }
                WireType::ThirtyTwoBit => {
                    out.extend(&b[..4]);
                    b = &b[4..];
                }
                w => panic!("unexpected wire type {w:?}"),
            }
        }
        if depth > 0 {
            encode_key(100, WireType::Varint, &mut out);
            encode_varint(7, &mut out);
        }
        out
    }

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(V::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn resource(attrs: Vec<KeyValue>) -> Option<Resource> {
        Some(Resource {
            attributes: attrs,
            ..Default::default()
        })
    }

    fn scope(name: &str) -> Option<InstrumentationScope> {
        Some(InstrumentationScope {
            name: name.into(),
            ..Default::default()
        })
    }

    fn trace_id(t: u32) -> Vec<u8> {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&t.wrapping_mul(2654435761).to_be_bytes());
        id[12..].copy_from_slice(&t.to_be_bytes());
        id.to_vec()
    }

    fn spans(from: u32, n: u32) -> Vec<Span> {
        (from..from + n)
            .map(|i| Span {
                trace_id: trace_id(i % 23),
                span_id: i.to_be_bytes().repeat(2),
                name: format!("s{i}"),
                attributes: if i % 3 == 0 {
                    vec![kv("k", &format!("{}", i % 5))]
                } else {
                    vec![]
                },
                ..Default::default()
            })
            .collect()
    }

    /// Several resources (with and without a resource, one with only an empty scope), scopes (one
    /// empty, one with a `schema_url`), spans of many traces.
    fn trace_request() -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: resource(vec![kv("service.name", "a"), kv("k", "r")]),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: scope("s1"),
                            spans: spans(0, 40),
                            ..Default::default()
                        },
                        ScopeSpans {
                            scope: scope("empty"),
                            ..Default::default()
                        },
                        ScopeSpans {
                            scope: scope("s3"),
                            spans: spans(40, 25),
                            schema_url: "https://scope".into(),
                        },
                    ],
                    schema_url: "https://resource".into(),
                },
                ResourceSpans {
                    resource: None,
                    scope_spans: vec![ScopeSpans {
                        spans: spans(65, 30),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
                ResourceSpans {
                    resource: resource(vec![kv("service.name", "b")]),
                    scope_spans: vec![ScopeSpans::default()],
                    ..Default::default()
                },
                ResourceSpans {
                    resource: resource(vec![kv("service.name", "c"), kv("x", "y")]),
                    scope_spans: vec![ScopeSpans {
                        scope: scope("s4"),
                        spans: spans(95, 10),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
        }
    }

    fn log_request() -> ExportLogsServiceRequest {
        let t = trace_request();
        ExportLogsServiceRequest {
            resource_logs: t
                .resource_spans
                .into_iter()
                .map(|rs| ResourceLogs {
                    resource: rs.resource,
                    scope_logs: rs
                        .scope_spans
                        .into_iter()
                        .map(|ss| ScopeLogs {
                            scope: ss.scope,
                            log_records: ss
                                .spans
                                .into_iter()
                                .map(|s| LogRecord {
                                    trace_id: s.trace_id,
                                    attributes: s.attributes,
                                    severity_text: s.name,
                                    ..Default::default()
                                })
                                .collect(),
                            schema_url: ss.schema_url,
                        })
                        .collect(),
                    schema_url: rs.schema_url,
                })
                .collect(),
        }
    }

    const KEYS: [RoutingKey; 4] = [
        RoutingKey::TraceId,
        RoutingKey::Service,
        RoutingKey::Resource,
        RoutingKey::Attributes,
    ];

    fn ring() -> Ring {
        Ring::new(&["a:4317".into(), "b:4317".into(), "c:4317".into()])
    }

    fn split_decoded<S: Routed>(
        batch: &Batch<S>,
        key: RoutingKey,
    ) -> BTreeMap<String, Vec<S::Resource>> {
        split_by_key(batch, &ring(), key, &["k".to_string()])
            .unwrap()
            .into_iter()
            .map(|(ep, mut part)| {
                let res = part.resources().unwrap().to_vec();
                assert_eq!(part.items(), S::count(&res), "{key:?} {ep}");
                (ep, res)
            })
            .collect()
    }

    #[test]
    fn trace_split_decodes_to_what_the_decoded_routing_produced() {
        let req = trace_request();
        let plain = Bytes::from(req.encode_to_vec());
        let unknown = Bytes::from(with_unknowns(&plain, 0));
        assert_ne!(plain, unknown);
        let attrs = ["k".to_string()];
        for key in KEYS {
            let want = decoded_traces(&req.resource_spans, &ring(), key, &attrs);
            assert!(want.len() > 1, "{key:?} routes to one backend only");
            for bytes in [&plain, &unknown] {
                let batch = Batch::<Traces>::from_encoded(bytes.clone()).unwrap();
                assert_eq!(split_decoded(&batch, key), want, "{key:?}");
            }
            let decoded = Batch::<Traces>::from_resources(req.resource_spans.clone());
            assert_eq!(split_decoded(&decoded, key), want, "{key:?} (decoded)");
            // Two segments (two requests joined) split as their concatenation.
            let mut joined = Batch::<Traces>::from_encoded(plain.clone()).unwrap();
            joined
                .append(Batch::from_encoded(unknown.clone()).unwrap())
                .unwrap();
            let twice = decoded_traces(
                &[req.resource_spans.clone(), req.resource_spans.clone()].concat(),
                &ring(),
                key,
                &attrs,
            );
            assert_eq!(split_decoded(&joined, key), twice, "{key:?} (joined)");
        }
    }

    #[test]
    fn log_split_decodes_to_what_the_decoded_routing_produced() {
        let req = log_request();
        let plain = Bytes::from(req.encode_to_vec());
        let unknown = Bytes::from(with_unknowns(&plain, 0));
        for key in KEYS {
            let want = decoded_logs(&req.resource_logs, &ring(), key, &["k".to_string()]);
            assert!(want.len() > 1, "{key:?} routes to one backend only");
            for bytes in [&plain, &unknown] {
                let batch = Batch::<Logs>::from_encoded(bytes.clone()).unwrap();
                assert_eq!(split_decoded(&batch, key), want, "{key:?}");
            }
        }
    }

    #[test]
    fn unknown_fields_travel_with_the_bytes_they_belong_to() {
        let plain = trace_request().encode_to_vec();
        let unknown = Bytes::from(with_unknowns(&plain, 0));
        let batch = Batch::<Traces>::from_encoded(unknown).unwrap();
        let parts = split_by_key(&batch, &ring(), RoutingKey::TraceId, &[]).unwrap();
        // Every part: each resource, scope and span message still carries field 100.
        for (_, mut part) in parts {
            let bytes = part.encode_to_bytes();
            let marks = bytes
                .windows(3)
                .filter(|w| *w == [0xa0, 0x06, 0x07])
                .count();
            let res = part.resources().unwrap();
            let scopes: usize = res.iter().map(|r| r.scope_spans.len()).sum();
            assert_eq!(marks, res.len() + scopes + part.items());
        }
    }

    /// Adjacent scope messages with the same scope stay two scope messages, each with its own
    /// `schema_url` (the decoded routing merged them and kept the first one's).
    #[test]
    fn adjacent_scopes_with_the_same_scope_stay_apart() {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![
                    ScopeSpans {
                        scope: scope("s"),
                        spans: spans(0, 1),
                        schema_url: "u1".into(),
                    },
                    ScopeSpans {
                        scope: scope("s"),
                        spans: spans(0, 1),
                        schema_url: "u2".into(),
                    },
                ],
                ..Default::default()
            }],
        };
        let batch = Batch::<Traces>::from_encoded(req.encode_to_vec().into()).unwrap();
        let got = split_decoded(&batch, RoutingKey::TraceId);
        let only: Vec<&Vec<ResourceSpans>> = got.values().collect();
        assert_eq!(only, [&req.resource_spans]);
    }
}
