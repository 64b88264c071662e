//! Tests of the request templates (kept out of gen.rs, which benches/codec.rs includes by path).
use crate::gen::*;
use ferrotel::signal::SignalKind;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;

fn cfg(signal: SignalKind, n: usize) -> GenConfig {
    GenConfig {
        signal,
        items_per_request: n,
        attributes: 10,
        service_name: "svc".into(),
    }
}

fn seq_of(attrs: &[KeyValue]) -> i64 {
    let kv = attrs.iter().find(|a| a.key == SEQ_KEY).unwrap();
    match kv.value.as_ref().unwrap().value {
        Some(any_value::Value::IntValue(v)) => v,
        _ => panic!("not an int"),
    }
}

#[test]
fn spans_carry_their_sequence_numbers_and_valid_ids() {
    let t = Template::new(&cfg(SignalKind::Traces, 25));
    let mut buf = Vec::new();
    t.render(1_000_000, 1_700_000_000_000_000_000, &mut buf);
    let req = ExportTraceServiceRequest::decode(buf.as_slice()).unwrap();
    let spans: Vec<_> = req.resource_spans[0].scope_spans[0].spans.clone();
    assert_eq!(spans.len(), 25);
    for (i, sp) in spans.iter().enumerate() {
        assert_eq!(seq_of(&sp.attributes), 1_000_000 + i as i64);
        assert_eq!(sp.attributes.len(), 11);
        assert_eq!(sp.trace_id.len(), 16);
        assert_eq!(sp.span_id, (1_000_001 + i as u64).to_be_bytes());
        assert!(sp.end_time_unix_nano > sp.start_time_unix_nano);
    }
    assert!(spans[0].parent_span_id.is_empty());
    assert_eq!(spans[3].parent_span_id, spans[0].span_id);
    assert_eq!(
        ferrotel::signal::Batch::<ferrotel::signal::Traces>::from_encoded(buf.into())
            .unwrap()
            .items(),
        25
    );
}

#[test]
fn metrics_and_logs_count_as_requested() {
    let t = Template::new(&cfg(SignalKind::Metrics, 25));
    let mut buf = Vec::new();
    t.render(SEQ_MAX - 25, 1, &mut buf);
    let req = ExportMetricsServiceRequest::decode(buf.as_slice()).unwrap();
    let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 3);
    let b = ferrotel::signal::Batch::<ferrotel::signal::Metrics>::from_encoded(buf.clone().into());
    assert_eq!(b.unwrap().items(), 25);

    let t = Template::new(&cfg(SignalKind::Logs, 7));
    t.render(5, 1, &mut buf);
    let req = ExportLogsServiceRequest::decode(buf.as_slice()).unwrap();
    let logs = &req.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(seq_of(&logs[6].attributes), 11);
}
