use super::*;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

fn prepare(yaml: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    Factory.prepare(&v, "exporters::kafka")
}

fn parse(yaml: &str) -> Config {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    crate::config::parse(&v, "exporters::kafka").unwrap()
}

fn errors(yaml: &str) -> Vec<String> {
    match prepare(yaml) {
        Ok(_) => vec![],
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn defaults_are_otelcols() {
    let c = parse("{}");
    assert_eq!(c.brokers, ["localhost:9092"]);
    assert_eq!(c.client_id, "otel-collector");
    assert_eq!(c.topic_for(SignalKind::Traces), "otlp_spans");
    assert_eq!(c.topic_for(SignalKind::Metrics), "otlp_metrics");
    assert_eq!(c.topic_for(SignalKind::Logs), "otlp_logs");
    assert_eq!(c.encoding_key(SignalKind::Logs).1, "otlp_proto");
    assert_eq!(c.producer.max_message_bytes, 1_000_000);
    assert_eq!(c.producer.required_acks, 1);
    assert_eq!(c.producer.compression, "none");
    assert_eq!(c.producer.linger, Duration::from_millis(10));
    assert!(c.producer.allow_auto_topic_creation);
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert!(prepare("{}").is_ok());
}

#[test]
fn signal_settings_win_over_the_deprecated_top_level_ones() {
    let c = parse("{topic: all, encoding: otlp_json, traces: {topic: t, encoding: otlp_proto}}");
    assert_eq!(c.topic_for(SignalKind::Traces), "t");
    assert_eq!(c.topic_for(SignalKind::Logs), "all");
    assert_eq!(c.encoding_key(SignalKind::Traces).1, "otlp_proto");
    assert_eq!(c.encoding_key(SignalKind::Metrics).1, "otlp_json");
    let w = prepare("{topic: all, encoding: otlp_json}")
        .unwrap()
        .warnings();
    assert!(
        w.iter().any(|w| w.starts_with("exporters::kafka::topic:")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("exporters::kafka::encoding:")),
        "{w:?}"
    );
}

#[test]
fn bad_values_name_their_keys() {
    let e = errors("{traces: {encoding: jaeger_proto}}");
    assert!(
        e.iter()
            .any(|e| e.contains("exporters::kafka::traces::encoding") && e.contains("otlp_proto")),
        "{e:?}"
    );
    let e = errors("{producer: {required_acks: 2, compression: brotli, max_message_bytes: 10}}");
    for key in ["required_acks", "compression", "max_message_bytes"] {
        assert!(
            e.iter().any(|e| e.contains(&format!("producer::{key}"))),
            "{key}: {e:?}"
        );
    }
    let e = errors("{producer: {compression: gzip, compression_params: {level: 12}}}");
    assert!(
        e.iter().any(|e| e.contains("compression_params::level")),
        "{e:?}"
    );
    let e = errors("{auth: {sasl: {mechanism: GSSAPI, username: u, password: p}}}");
    assert!(
        e.iter().any(|e| e.contains("auth::sasl::mechanism")),
        "{e:?}"
    );
    let e = errors("{auth: {kerberos: {username: u}}}");
    assert!(e.iter().any(|e| e.contains("auth::kerberos")), "{e:?}");
    let e = errors("{brokers: []}");
    assert!(
        e.iter().any(|e| e.contains("exporters::kafka::brokers")),
        "{e:?}"
    );
    let e = errors("{producr: {}}");
    assert!(e.iter().any(|e| e.contains("producr")), "{e:?}");
}

#[test]
fn accepted_but_ignored_keys_are_warned_by_name() {
    let w = prepare("{protocol_version: 2.1.0, metadata: {full: false}, tls: {min_version: '1.3', ca_file: /x}}")
        .unwrap()
        .warnings();
    for key in ["protocol_version", "metadata::full", "tls::min_version"] {
        assert!(
            w.iter()
                .any(|w| w.starts_with(&format!("exporters::kafka::{key}:"))),
            "{key}: {w:?}"
        );
    }
}

#[test]
fn client_properties_follow_the_settings() {
    let c = parse(
        "{brokers: [a:1, b:2], client_id: me, auth: {sasl: {mechanism: SCRAM-SHA-512, username: u, password: p}}, tls: {ca_file: /ca.pem}, producer: {required_acks: -1, compression: zstd, linger: 25ms}}",
    );
    let p = c.producer_config();
    assert_eq!(p.get("bootstrap.servers"), Some("a:1,b:2"));
    assert_eq!(p.get("client.id"), Some("me"));
    assert_eq!(p.get("security.protocol"), Some("sasl_ssl"));
    assert_eq!(p.get("sasl.mechanisms"), Some("SCRAM-SHA-512"));
    assert_eq!(p.get("ssl.ca.location"), Some("/ca.pem"));
    assert_eq!(p.get("acks"), Some("-1"));
    assert_eq!(p.get("compression.type"), Some("zstd"));
    assert_eq!(p.get("linger.ms"), Some("25"));
    assert_eq!(p.get("partitioner"), Some("murmur2_random"));
    let plain = parse("{tls: {insecure: true}}").producer_config();
    assert_eq!(plain.get("security.protocol"), Some("plaintext"));
}

fn spans(n: usize, traces: usize) -> Vec<ResourceSpans> {
    vec![ResourceSpans {
        resource: None,
        scope_spans: vec![ScopeSpans {
            spans: (0..n)
                .map(|i| Span {
                    name: format!("s{i}"),
                    trace_id: ((i % traces) as u128 + 1).to_be_bytes().to_vec(),
                    span_id: vec![1; 8],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }]
}

fn names(values: &[Bytes]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| {
            ExportTraceServiceRequest::decode(v.clone())
                .unwrap()
                .resource_spans
        })
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .map(|s| s.name)
        .collect()
}

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

#[test]
fn large_requests_split_under_the_limit_keeping_every_item_in_order() {
    for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
        let mut out = Vec::new();
        encode_split::<Traces>(encoding, 2000, spans(500, 1), &mut out).unwrap();
        assert!(out.len() > 1);
        assert!(out.iter().all(|v| v.len() <= 2000));
        if encoding == Encoding::OtlpProto {
            let want: Vec<String> = (0..500).map(|i| format!("s{i}")).collect();
            assert_eq!(names(&out), want);
        }
    }
    // One span larger than the limit cannot be split: a permanent error.
    let mut big = spans(1, 1);
    big[0].scope_spans[0].spans[0].name = "x".repeat(5000);
    let e = encode_split::<Traces>(Encoding::OtlpProto, 2000, big, &mut Vec::new()).unwrap_err();
    assert!(!e.retryable, "{e}");
}

#[test]
fn metrics_split_down_to_data_points() {
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    };
    let rm = vec![ResourceMetrics {
        scope_metrics: vec![ScopeMetrics {
            metrics: vec![Metric {
                name: "g".into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint::default(); 1000],
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }];
    let mut out = Vec::new();
    encode_split::<Metrics>(Encoding::OtlpProto, 1000, rm, &mut out).unwrap();
    let total: usize = out
        .iter()
        .map(|v| Batch::<Metrics>::from_encoded(v.clone()).unwrap().items())
        .sum();
    assert_eq!(total, 1000);
    assert!(out.iter().all(|v| v.len() <= 1000));
}

#[test]
fn spans_are_grouped_by_trace_id() {
    let groups = split::by_trace_id(spans(30, 3));
    assert_eq!(groups.len(), 3);
    for (key, rs) in &groups {
        assert_eq!(key.len(), 32);
        let ss: Vec<&Span> = rs
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        assert_eq!(ss.len(), 10);
        assert!(ss.iter().all(|s| split::hex(&s.trace_id) == *key));
    }
}

#[test]
fn encoded_requests_are_packed_under_the_limit_without_decoding() {
    // Five requests of 10 spans, named s00..s49 in order (all five of the same size).
    let reqs: Vec<Bytes> = (0..5)
        .map(|k| {
            let mut r = spans(10, 1);
            for (i, s) in r[0].scope_spans[0].spans.iter_mut().enumerate() {
                s.name = format!("s{:02}", k * 10 + i);
            }
            Bytes::from(ExportTraceServiceRequest { resource_spans: r }.encode_to_vec())
        })
        .collect();
    let one = reqs[0].len();
    let out = pack_segments(reqs.clone(), one * 2 + one / 2).unwrap();
    assert_eq!(
        out.iter().map(Bytes::len).collect::<Vec<_>>(),
        [2 * one, 2 * one, one]
    );
    let want: Vec<String> = (0..50).map(|i| format!("s{i:02}")).collect();
    assert_eq!(names(&out), want);
    // Everything fits: one message; a request above the limit alone: the decoding path.
    assert_eq!(pack_segments(reqs.clone(), 10 * one).unwrap().len(), 1);
    assert!(pack_segments(reqs, one - 1).is_none());
}
