use super::*;
use crate::signal::{Logs, Metrics, Signal, Traces};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}

/// Attributes using every kind of value, nested.
fn attrs() -> Vec<KeyValue> {
    vec![
        kv("str", s("value")),
        kv(
            "b",
            AnyValue {
                value: Some(any_value::Value::BoolValue(true)),
            },
        ),
        kv(
            "i",
            AnyValue {
                value: Some(any_value::Value::IntValue(-7)),
            },
        ),
        kv(
            "d",
            AnyValue {
                value: Some(any_value::Value::DoubleValue(1.5)),
            },
        ),
        kv(
            "bytes",
            AnyValue {
                value: Some(any_value::Value::BytesValue(vec![0xff, 0xfe])),
            },
        ),
        kv(
            "arr",
            AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![
                        s("a"),
                        AnyValue {
                            value: Some(any_value::Value::KvlistValue(KeyValueList {
                                values: vec![kv("inner", s("deep"))],
                            })),
                        },
                    ],
                })),
            },
        ),
    ]
}

fn resource() -> Resource {
    Resource {
        attributes: attrs(),
        dropped_attributes_count: 1,
        entity_refs: vec![EntityRef {
            schema_url: "u".into(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into()],
            description_keys: vec!["d".into()],
        }],
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "lib".into(),
        version: "1".into(),
        attributes: attrs(),
        dropped_attributes_count: 2,
    }
}

fn spans(n: usize) -> ExportTraceServiceRequest {
    let span = |i: usize| Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        trace_state: "k=v".into(),
        parent_span_id: if i % 2 == 0 { vec![] } else { vec![3; 8] },
        flags: 1,
        name: format!("span-{i}"),
        kind: 2,
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        attributes: attrs(),
        dropped_attributes_count: 1,
        events: vec![span::Event {
            time_unix_nano: 3,
            name: "ev".into(),
            attributes: attrs(),
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 1,
        links: vec![span::Link {
            trace_id: vec![4; 16],
            span_id: vec![5; 8],
            trace_state: "x".into(),
            attributes: attrs(),
            dropped_attributes_count: 0,
            flags: 256,
        }],
        dropped_links_count: 0,
        status: Some(Status {
            message: "ok".into(),
            code: 1,
        }),
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource()),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope()),
                spans: (0..n).map(span).collect(),
                schema_url: "s".into(),
            }],
            schema_url: "r".into(),
        }],
    }
}

fn logs(n: usize) -> ExportLogsServiceRequest {
    let rec = |i: usize| LogRecord {
        time_unix_nano: 1,
        observed_time_unix_nano: 2,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(s(&format!("log-{i}"))),
        attributes: attrs(),
        dropped_attributes_count: 0,
        flags: 1,
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        event_name: "e".into(),
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource()),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: (0..n).map(rec).collect(),
                schema_url: "s".into(),
            }],
            schema_url: "r".into(),
        }],
    }
}

fn exemplar() -> Exemplar {
    Exemplar {
        filtered_attributes: attrs(),
        time_unix_nano: 1,
        span_id: vec![1; 8],
        trace_id: vec![2; 16],
        value: Some(exemplar::Value::AsDouble(2.0)),
    }
}

fn metrics() -> ExportMetricsServiceRequest {
    let number = |v: i64| NumberDataPoint {
        attributes: attrs(),
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        exemplars: vec![exemplar()],
        flags: 0,
        value: Some(number_data_point::Value::AsInt(v)),
    };
    let metric = |name: &str, data: metric::Data| Metric {
        name: name.into(),
        description: "d".into(),
        unit: "1".into(),
        metadata: attrs(),
        data: Some(data),
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics: vec![
                    metric(
                        "g",
                        metric::Data::Gauge(Gauge {
                            data_points: vec![number(1), number(2)],
                        }),
                    ),
                    metric(
                        "s",
                        metric::Data::Sum(Sum {
                            data_points: vec![number(3)],
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        }),
                    ),
                    metric(
                        "h",
                        metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                attributes: attrs(),
                                count: 3,
                                sum: Some(1.0),
                                bucket_counts: vec![1, 2],
                                explicit_bounds: vec![0.5],
                                exemplars: vec![exemplar()],
                                min: Some(0.1),
                                max: Some(0.9),
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        }),
                    ),
                    metric(
                        "e",
                        metric::Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                attributes: attrs(),
                                count: 2,
                                scale: -3,
                                zero_count: 1,
                                positive: Some(Buckets {
                                    offset: -2,
                                    bucket_counts: vec![1, 300],
                                }),
                                negative: Some(Buckets::default()),
                                exemplars: vec![exemplar()],
                                zero_threshold: 0.01,
                                ..Default::default()
                            }],
                            aggregation_temporality: 2,
                        }),
                    ),
                    metric(
                        "q",
                        metric::Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                attributes: attrs(),
                                count: 1,
                                sum: 2.0,
                                quantile_values: vec![ValueAtQuantile {
                                    quantile: 0.5,
                                    value: 1.0,
                                }],
                                ..Default::default()
                            }],
                        }),
                    ),
                ],
                schema_url: "s".into(),
            }],
            schema_url: "r".into(),
        }],
    }
}

/// Replaces the first occurrence of `from` in `bytes` with `to` (same length).
fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    bytes[at..at + to.len()].copy_from_slice(to);
}

/// `inner` as field `tags[0]` of a message, that as field `tags[1]` of the next, and so on.
fn wrap(tags: &[u32], inner: Vec<u8>) -> Vec<u8> {
    tags.iter().fold(inner, |acc, &tag| {
        let mut out = Vec::new();
        prost::encoding::bytes::encode(tag, &acc, &mut out);
        out
    })
}

fn traces_scan(b: &[u8]) -> Result<usize, DecodeError> {
    Traces::scan(b)
}

#[test]
fn valid_requests_of_every_signal_are_accepted_and_counted() {
    let t = spans(3).encode_to_vec();
    assert_eq!(Traces::scan(&t).unwrap(), 3);
    assert_eq!(Logs::scan(&logs(4).encode_to_vec()).unwrap(), 4);
    // Gauge 2 + sum 1 + histogram 1 + exponential histogram 1 + summary 1.
    assert_eq!(Metrics::scan(&metrics().encode_to_vec()).unwrap(), 6);
    assert_eq!(Traces::scan(&[]).unwrap(), 0);
}

#[test]
fn invalid_utf8_is_refused_naming_the_field_and_counting_the_items() {
    let mut req = spans(5);
    req.resource_spans[0].scope_spans[0].spans[3].name = "BAD~NAME".into();
    let mut b = req.encode_to_vec();
    patch(&mut b, b"BAD~NAME", b"BAD\xffNAME");
    assert!(ExportTraceServiceRequest::decode(&b[..]).is_err());
    let err = traces_scan(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource_spans[0].scope_spans[0].spans[3].name: invalid UTF-8"
    );
    assert_eq!(err.items(), 5);
}

#[test]
fn invalid_utf8_nested_in_attribute_values_is_refused() {
    let mut b = spans(2).encode_to_vec();
    // The first "deep" is in the resource's attributes: arr -> kvlist -> inner.
    patch(&mut b, b"deep", b"de\xc3p");
    let err = traces_scan(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource_spans[0].resource.attributes[5].value.array_value.values[1].kvlist_value.values[0].value.string_value: invalid UTF-8"
    );
    assert_eq!(err.items(), 2);

    let mut l = logs(3).encode_to_vec();
    patch(&mut l, b"log-1", b"log\x80\x80");
    let err = Logs::scan(&l).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource_logs[0].scope_logs[0].log_records[1].body.string_value: invalid UTF-8"
    );
    assert_eq!(err.items(), 3);

    let mut m = metrics().encode_to_vec();
    patch(&mut m, b"service.name", b"service\xffname");
    let err = Metrics::scan(&m).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("entity_refs[0].id_keys[0]: invalid UTF-8"),
        "{err}"
    );
    assert_eq!(err.items(), 6);
}

/// A log body nested `levels` array values deep.
fn nested_log(levels: usize) -> Vec<u8> {
    let mut v = s("leaf");
    for _ in 0..levels {
        v = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![v] })),
        };
    }
    let mut req = logs(2);
    req.resource_logs[0].scope_logs[0].log_records[1].body = Some(v);
    req.encode_to_vec()
}

#[test]
fn nesting_is_refused_exactly_where_prost_refuses_it() {
    let mut limit = None;
    for levels in 40..60 {
        let b = nested_log(levels);
        let prost_ok = ExportLogsServiceRequest::decode(&b[..]).is_ok();
        let scan = Logs::scan(&b);
        assert_eq!(scan.is_ok(), prost_ok, "{levels} levels: {scan:?}");
        if !prost_ok && limit.is_none() {
            limit = Some(levels);
            let err = scan.unwrap_err();
            assert!(err.to_string().contains("nested deeper than 100"), "{err}");
            assert!(
                err.to_string()
                    .starts_with("resource_logs[0].scope_logs[0].log_records[1].body.array_value"),
                "{err}"
            );
            assert_eq!(err.items(), 2);
        }
    }
    assert!(limit.is_some(), "prost's limit was not reached");
}

#[test]
fn wrong_wire_types_truncation_and_bad_ids_are_refused() {
    // Span name (field 5) sent as a varint.
    let mut span = spans(1).resource_spans[0].scope_spans[0].spans[0].clone();
    span.name = String::new();
    let mut bad_span = span.encode_to_vec();
    bad_span.extend([5 << 3, 1]);
    let b = wrap(&[2, 2, 1], bad_span);
    assert!(ExportTraceServiceRequest::decode(&b[..]).is_err());
    let err = traces_scan(&b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource_spans[0].scope_spans[0].spans[0].name: wrong wire type Varint (expected LengthDelimited)"
    );

    let full = spans(2).encode_to_vec();
    assert!(traces_scan(&full[..full.len() - 3]).is_err());
    assert!(traces_scan(&[0xff, 0xff, 0xff, 0x01, 0x02]).is_err());

    let mut req = spans(1);
    req.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![7; 5];
    let err = traces_scan(&req.encode_to_vec()).unwrap_err();
    assert!(
        err.to_string().contains("invalid trace_id length 5"),
        "{err}"
    );
    let mut req = spans(1);
    req.resource_spans[0].scope_spans[0].spans[0].links[0].span_id = vec![7; 3];
    let err = traces_scan(&req.encode_to_vec()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "resource_spans[0].scope_spans[0].spans[0].links[0].span_id: invalid span_id length 3 (must be 0 or 8)"
    );
}

#[test]
fn unknown_fields_groups_and_unpacked_repeated_are_accepted_as_prost_accepts_them() {
    let mut b = metrics().encode_to_vec();
    // An unknown group field (tag 99) with a nested varint, and an unknown fixed32, at top level.
    prost::encoding::encode_key(99, WireType::StartGroup, &mut b);
    prost::encoding::encode_key(1, WireType::Varint, &mut b);
    prost::encoding::encode_varint(5, &mut b);
    prost::encoding::encode_key(99, WireType::EndGroup, &mut b);
    prost::encoding::encode_key(98, WireType::ThirtyTwoBit, &mut b);
    b.extend([0; 4]);
    assert!(ExportMetricsServiceRequest::decode(&b[..]).is_ok());
    assert_eq!(Metrics::scan(&b).unwrap(), 6);
}

#[test]
fn metric_data_oneof_counts_as_prost_keeps_it() {
    // A metric carrying a gauge of 2 points and then a sum of 1: prost keeps only the sum.
    let gauge = Gauge {
        data_points: vec![NumberDataPoint::default(); 2],
    };
    let sum = Sum {
        data_points: vec![NumberDataPoint::default()],
        ..Default::default()
    };
    let mut metric = Vec::new();
    prost::encoding::message::encode(5, &gauge, &mut metric);
    prost::encoding::message::encode(7, &sum, &mut metric);
    prost::encoding::message::encode(5, &gauge, &mut metric);
    prost::encoding::message::encode(5, &gauge, &mut metric);
    let req = wrap(&[2, 2, 1], metric);
    let decoded = ExportMetricsServiceRequest::decode(&req[..]).unwrap();
    let expected = Metrics::count(&decoded.resource_metrics);
    assert_eq!(expected, 4);
    assert_eq!(Metrics::scan(&req).unwrap(), expected);
}

/// Whether every id in a decoded request has a length the scan accepts.
fn trace_ids_ok(r: &ExportTraceServiceRequest) -> bool {
    r.resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .all(|s| {
            s.trace_id.len() == 16
                && s.span_id.len() == 8
                && [0, 8].contains(&s.parent_span_id.len())
                && s.links.iter().all(|l| {
                    [0, 16].contains(&l.trace_id.len()) && [0, 8].contains(&l.span_id.len())
                })
        })
}

fn log_ids_ok(r: &ExportLogsServiceRequest) -> bool {
    r.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| &s.log_records)
        .all(|l| [0, 16].contains(&l.trace_id.len()) && [0, 8].contains(&l.span_id.len()))
}

fn metric_ids_ok(r: &ExportMetricsServiceRequest) -> bool {
    let ok =
        |e: &Exemplar| [0, 16].contains(&e.trace_id.len()) && [0, 8].contains(&e.span_id.len());
    r.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .all(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.iter().flat_map(|p| &p.exemplars).all(ok),
            Some(metric::Data::Sum(g)) => g.data_points.iter().flat_map(|p| &p.exemplars).all(ok),
            Some(metric::Data::Histogram(g)) => {
                g.data_points.iter().flat_map(|p| &p.exemplars).all(ok)
            }
            Some(metric::Data::ExponentialHistogram(g)) => {
                g.data_points.iter().flat_map(|p| &p.exemplars).all(ok)
            }
            _ => true,
        })
}

/// One random change to an encoded request: a flipped, replaced, inserted, removed or duplicated
/// byte range, or a truncation.
fn mutate(rng: &mut StdRng, b: &mut Vec<u8>) {
    if b.is_empty() {
        b.push(rng.random());
        return;
    }
    let at = rng.random_range(0..b.len());
    match rng.random_range(0..8) {
        0 => b[at] ^= 1 << rng.random_range(0..8),
        1 => b[at] = rng.random(),
        // Bytes that are never valid alone in UTF-8, or start a multi-byte sequence.
        2 => b[at] = [0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xf0, 0xf8, 0xff][rng.random_range(0..8)],
        3 => b.insert(at, rng.random()),
        4 => {
            let end = (at + rng.random_range(1..8)).min(b.len());
            b.drain(at..end);
        }
        5 => b.truncate(at),
        6 => {
            let end = (at + rng.random_range(1..32)).min(b.len());
            let copy = b[at..end].to_vec();
            let to = rng.random_range(0..=b.len());
            b.splice(to..to, copy);
        }
        _ => {
            // A length prefix or key nudged by one.
            b[at] = b[at].wrapping_add(if rng.random() { 1 } else { 0xff });
        }
    }
}

/// The property: for arbitrary mutations of valid requests, the scan accepts exactly when prost
/// decodes the request (and its ids have valid lengths), and then counts what prost decodes.
#[test]
fn scan_accepts_only_what_prost_decodes() {
    let mut rng = StdRng::seed_from_u64(0x5ca7);
    let seeds = [
        spans(3).encode_to_vec(),
        logs(3).encode_to_vec(),
        metrics().encode_to_vec(),
        nested_log(48),
    ];
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..30_000 {
        let which = i % seeds.len();
        let mut b = seeds[which].clone();
        for _ in 0..rng.random_range(1..4) {
            mutate(&mut rng, &mut b);
        }
        // Each signal's scan is checked against each mutated seed, so every table sees every
        // message shape (as unknown fields or wrong types).
        let t = Traces::scan(&b);
        match ExportTraceServiceRequest::decode(&b[..]) {
            Ok(r) => {
                if trace_ids_ok(&r) {
                    assert_eq!(
                        t.as_ref().ok(),
                        Some(&Traces::count(&r.resource_spans)),
                        "{b:?}"
                    );
                } else {
                    assert!(t.is_err());
                }
            }
            Err(e) => assert!(t.is_err(), "scan accepted what prost refuses ({e}): {b:?}"),
        }
        let l = Logs::scan(&b);
        match ExportLogsServiceRequest::decode(&b[..]) {
            Ok(r) => {
                if log_ids_ok(&r) {
                    assert_eq!(
                        l.as_ref().ok(),
                        Some(&Logs::count(&r.resource_logs)),
                        "{b:?}"
                    );
                } else {
                    assert!(l.is_err());
                }
            }
            Err(e) => assert!(l.is_err(), "scan accepted what prost refuses ({e}): {b:?}"),
        }
        let m = Metrics::scan(&b);
        match ExportMetricsServiceRequest::decode(&b[..]) {
            Ok(r) => {
                if metric_ids_ok(&r) {
                    assert_eq!(
                        m.as_ref().ok(),
                        Some(&Metrics::count(&r.resource_metrics)),
                        "{b:?}"
                    );
                } else {
                    assert!(m.is_err());
                }
            }
            Err(e) => assert!(m.is_err(), "scan accepted what prost refuses ({e}): {b:?}"),
        }
        let own = match which {
            0 => &t,
            2 => &m,
            _ => &l,
        };
        if own.is_ok() {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    // The mutations must exercise both sides.
    assert!(accepted > 1000 && refused > 1000, "{accepted} / {refused}");
}

/// The word-at-a-time UTF-8 check agrees with `str::from_utf8` on strings of every length up to 40
/// with a bad (or good multi-byte) sequence at every position: after long ASCII prefixes, at the
/// end, across word boundaries.
#[test]
fn utf8_check_agrees_with_std_at_every_position() {
    let inserts: [&[u8]; 8] = [
        b"\xff",
        b"\x80",
        b"\xc3",
        b"\xc3\xa9",
        b"\xe2\x82\xac",
        b"\xe2\x82",
        b"\xf0\x9f\x98\x80",
        b"\xed\xa0\x80",
    ];
    for len in 0..40 {
        let ascii = vec![b'a'; len];
        assert!(utf8(&ascii));
        for at in 0..=len {
            for ins in inserts {
                let mut s = ascii.clone();
                s.splice(at..at, ins.iter().copied());
                assert_eq!(
                    utf8(&s),
                    std::str::from_utf8(&s).is_ok(),
                    "{s:?} (len {len}, at {at})"
                );
            }
        }
    }
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..20_000 {
        let n = rng.random_range(0..48);
        let s: Vec<u8> = (0..n)
            .map(|_| {
                if rng.random_bool(0.9) {
                    rng.random_range(0x20..0x7f)
                } else {
                    rng.random()
                }
            })
            .collect();
        assert_eq!(utf8(&s), std::str::from_utf8(&s).is_ok(), "{s:?}");
    }
}

/// The unrolled `KeyValue` / `AnyValue` walks refuse invalid UTF-8 after a long ASCII prefix and at
/// the very end of keys and string values, also nested in arrays and lists, naming the field as the
/// table walk does; and they refuse a wrong wire type on their fields as prost does.
#[test]
fn key_value_fast_path_refuses_what_prost_refuses() {
    let long = "x".repeat(61);
    let mut req = spans(2);
    let span = &mut req.resource_spans[0].scope_spans[0].spans[1];
    span.attributes.push(kv(&format!("{long}KEYEND"), s("ok")));
    span.attributes.push(kv("k", s(&format!("{long}VALEND"))));
    span.attributes.push(kv(
        "nested",
        AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: vec![kv("inner", s(&format!("{long}NESTED")))],
                    })),
                }],
            })),
        },
    ));
    let good = req.encode_to_vec();
    assert_eq!(traces_scan(&good).unwrap(), 2);
    let base = "resource_spans[0].scope_spans[0].spans[1]";
    let n = spans(2).resource_spans[0].scope_spans[0].spans[1]
        .attributes
        .len();
    for (from, to, path) in [
        (&b"KEYEND"[..], &b"KEYEN\xc3"[..], format!("attributes[{n}].key")),
        (
            b"VALEND",
            b"VAL\xe2\x82D",
            format!("attributes[{}].value.string_value", n + 1),
        ),
        (
            b"NESTED",
            b"NESTE\xff",
            format!(
                "attributes[{}].value.array_value.values[0].kvlist_value.values[0].value.string_value",
                n + 2
            ),
        ),
    ] {
        let mut b = good.clone();
        patch(&mut b, from, to);
        assert!(ExportTraceServiceRequest::decode(&b[..]).is_err());
        let err = traces_scan(&b).unwrap_err();
        assert_eq!(err.to_string(), format!("{base}.{path}: invalid UTF-8"));
        assert_eq!(err.items(), 2);
    }
    // `key` sent as a varint, `string_value` as fixed32: wrong wire types for the unrolled walks.
    for (kv_bytes, what) in [
        (&b"\x08\x01"[..], "key: wrong wire type"),
        (
            b"\x12\x05\x0d\x00\x00\x00\x00",
            "value.string_value: wrong wire type",
        ),
    ] {
        let mut span = Vec::new();
        prost::encoding::bytes::encode(1, &vec![1u8; 16], &mut span);
        prost::encoding::bytes::encode(2, &vec![1u8; 8], &mut span);
        prost::encoding::bytes::encode(9, &kv_bytes.to_vec(), &mut span);
        let b = wrap(&[2, 2, 1], span);
        assert!(ExportTraceServiceRequest::decode(&b[..]).is_err());
        let err = traces_scan(&b).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "resource_spans[0].scope_spans[0].spans[0].attributes[0].{what}"
            )),
            "{err}"
        );
    }
}
