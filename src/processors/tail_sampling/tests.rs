use super::*;
use crate::processors::testutil::Capture;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, Span, Status};

fn prepare(yaml: &str) -> Config {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    Factory
        .prepare(&v, "processors::tail_sampling")
        .map(|_| ())
        .unwrap();
    crate::config::parse(&v, "p").unwrap()
}

fn build(yaml: &str) -> (Arc<TailSampler>, Arc<Capture<Traces>>) {
    let c = prepare(yaml);
    let mut errors = Vec::new();
    let policies = c
        .policies
        .iter()
        .filter_map(|p| Policy::compile(p, "", &mut errors))
        .collect();
    let cap = Arc::new(Capture::<Traces>::default());
    (
        TailSampler::start("tail_sampling".into(), c, policies, cap.clone()),
        cap,
    )
}

fn span(trace: u32, seq: u32, error: bool, attrs: Vec<KeyValue>) -> Span {
    let mut tid = [0u8; 16];
    tid[..4].copy_from_slice(&trace.to_be_bytes());
    tid[8..12].copy_from_slice(&trace.wrapping_mul(2654435761).to_be_bytes());
    Span {
        trace_id: tid.to_vec(),
        span_id: seq.to_be_bytes().repeat(2),
        name: format!("span-{seq}"),
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 1_000 + u64::from(seq) * 1_000_000,
        status: error.then(|| Status {
            code: StatusCode::Error as i32,
            ..Default::default()
        }),
        attributes: attrs,
        ..Default::default()
    }
}

fn batch(spans: Vec<Span>) -> Batch<Traces> {
    Batch::from_resources(vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }])
}

/// (trace, span name) of everything passed on.
fn received(cap: &Capture<Traces>) -> Vec<(u32, String)> {
    cap.resources()
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| {
            (
                u32::from_be_bytes(s.trace_id[..4].try_into().unwrap()),
                s.name.clone(),
            )
        })
        .collect()
}

const ERRORS_ONLY: &str = r#"
decision_wait: 1s
decision_cache: {sampled_cache_size: 1000, non_sampled_cache_size: 1000}
policies:
  - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
  - {name: none, type: probabilistic, probabilistic: {sampling_percentage: 0}}
"#;

#[tokio::test(start_paused = true)]
async fn keeps_exactly_the_error_traces_whole_and_late_spans_follow() {
    let (ts, cap) = build(ERRORS_ONLY);
    // 100 traces of 3 spans over two batches; every 7th trace has one error span.
    for part in 0..2u32 {
        let mut spans = Vec::new();
        for t in 0..100u32 {
            for s in 0..3u32 {
                if s % 2 == part {
                    spans.push(span(t, s, t % 7 == 0 && s == 2, vec![]));
                }
            }
        }
        ts.consume(batch(spans)).await.unwrap();
    }
    assert!(cap.resources().is_empty(), "nothing before decision_wait");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let got = received(&cap);
    let errors: Vec<u32> = (0..100).filter(|t| t % 7 == 0).collect();
    assert_eq!(got.len(), errors.len() * 3);
    for t in &errors {
        assert_eq!(
            got.iter().filter(|(x, _)| x == t).count(),
            3,
            "trace {t} whole"
        );
    }
    // Late spans: of a sampled trace pass at once, of a dropped one are dropped.
    ts.consume(batch(vec![
        span(7, 9, false, vec![]),
        span(8, 9, false, vec![]),
    ]))
    .await
    .unwrap();
    let got = received(&cap);
    assert!(got.contains(&(7, "span-9".into())));
    assert!(!got.iter().any(|(t, _)| *t == 8));
    assert_eq!(ts.held(), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn drop_wins_and_sample_on_first_match() {
    let flag = |v: bool| {
        vec![KeyValue {
            key: "drop.me".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::BoolValue(v)),
            }),
            ..Default::default()
        }]
    };
    let (ts, cap) = build(
        r#"
decision_wait: 1s
policies:
  - {name: all, type: always_sample}
  - name: dropper
    type: drop
    drop:
      drop_sub_policy:
        - {name: flag, type: boolean_attribute, boolean_attribute: {key: drop.me, value: true}}
"#,
    );
    ts.consume(batch(vec![
        span(1, 0, false, flag(true)),
        span(2, 0, false, flag(false)),
    ]))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(received(&cap), vec![(2, "span-0".into())]);
}

#[tokio::test(start_paused = true)]
async fn policies_on_attributes_latency_count_and_not() {
    let s = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
        ..Default::default()
    };
    let n = |k: &str, v: i64| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    };
    let cases: Vec<(&str, Vec<Span>, bool)> = vec![
        ("{type: string_attribute, string_attribute: {key: k, values: [a, b]}}", vec![span(1, 1, false, vec![s("k", "b")])], true),
        ("{type: string_attribute, string_attribute: {key: k, values: [a]}}", vec![span(1, 1, false, vec![s("k", "c")])], false),
        ("{type: string_attribute, string_attribute: {key: k, values: ['^x.*'], enabled_regex_matching: true}}", vec![span(1, 1, false, vec![s("k", "xyz")])], true),
        ("{type: string_attribute, string_attribute: {key: k, values: [a], invert_match: true}}", vec![span(1, 1, false, vec![s("k", "a")])], false),
        ("{type: string_attribute, string_attribute: {key: k, values: [a], invert_match: true}}", vec![span(1, 1, false, vec![s("k", "z")])], true),
        ("{type: numeric_attribute, numeric_attribute: {key: n, min_value: 5, max_value: 10}}", vec![span(1, 1, false, vec![n("n", 7)])], true),
        ("{type: numeric_attribute, numeric_attribute: {key: n, min_value: 5}}", vec![span(1, 1, false, vec![n("n", 4)])], false),
        ("{type: latency, latency: {threshold_ms: 5}}", vec![span(1, 1, false, vec![]), span(1, 6, false, vec![])], true),
        ("{type: latency, latency: {threshold_ms: 5, upper_threshold_ms: 6}}", vec![span(1, 9, false, vec![])], false),
        ("{type: span_count, span_count: {min_spans: 2}}", vec![span(1, 1, false, vec![]), span(1, 2, false, vec![])], true),
        ("{type: span_count, span_count: {min_spans: 2, max_spans: 2}}", vec![span(1, 1, false, vec![])], false),
        ("{type: probabilistic, probabilistic: {sampling_percentage: 100}}", vec![span(1, 1, false, vec![])], true),
        ("{type: rate_limiting, rate_limiting: {spans_per_second: 1}}", vec![span(1, 1, false, vec![]), span(1, 2, false, vec![])], false),
        ("{type: bytes_limiting, bytes_limiting: {bytes_per_second: 100000}}", vec![span(1, 1, false, vec![])], true),
        ("{type: not, not: {not_sub_policy: {type: status_code, status_code: {status_codes: [ERROR]}}}}", vec![span(1, 1, true, vec![])], false),
        ("{type: and, and: {and_sub_policy: [{type: always_sample}, {type: status_code, status_code: {status_codes: [ERROR]}}]}}", vec![span(1, 1, true, vec![])], true),
        ("{type: composite, composite: {max_total_spans_per_second: 10, policy_order: [a], composite_sub_policy: [{name: a, type: always_sample}], rate_allocation: [{policy: a, percent: 50}]}}", vec![span(1, 1, false, vec![])], true),
    ];
    for (policy, spans, want) in cases {
        let (ts, cap) = build(&format!("{{decision_wait: 1s, policies: [{policy}]}}"));
        ts.consume(batch(spans)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(!cap.resources().is_empty(), want, "{policy}");
    }
    // trace_state
    let (ts, cap) = build(
        "{decision_wait: 1s, policies: [{type: trace_state, trace_state: {key: k, values: [v]}}]}",
    );
    let mut sp = span(1, 1, false, vec![]);
    sp.trace_state = "a=b,k=v".into();
    ts.consume(batch(vec![sp])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(!cap.resources().is_empty());
}

#[test]
fn config_errors_name_their_key() {
    for (yaml, key, msg) in [
        ("{policies: [{name: x, type: ottl_condition, ottl_condition: {}}]}", "p::policies::0::type", "not supported by ferrotel yet"),
        ("{policies: [{name: x, type: nope}]}", "p::policies::0::type", "unknown sampling policy"),
        ("{policies: [{name: x, type: latency}]}", "p::policies::0::latency", "needs its"),
        ("{policies: []}", "p::policies", "at least one"),
        ("{num_traces: 0, policies: [{type: always_sample}]}", "p::num_traces", "greater than 0"),
        ("{policies: [{name: x, type: status_code, status_code: {status_codes: [BAD]}}]}", "p::policies::0::status_code::status_codes::0", "unknown status code"),
        ("{policies: [{name: a, type: and, and: {and_sub_policy: [{name: s, type: string_attribute, string_attribute: {key: k, values: ['('], enabled_regex_matching: true}}]}}]}", "p::policies::0::and::and_sub_policy::0::string_attribute::values::0", "invalid regex"),
    ] {
        let errs = match Factory.prepare(&serde_yaml::from_str(yaml).unwrap(), "p") {
            Err(e) => e,
            Ok(_) => panic!("{yaml} accepted"),
        };
        assert_eq!(errs[0].path, key, "{yaml}");
        assert!(errs[0].message.contains(msg), "{}", errs[0].message);
    }
}

/// The memory bounds hold, evictions are counted, and what a pending span costs is measured against
/// its encoded size (printed; `cargo test --lib tail_sampling -- --nocapture`).
#[tokio::test(start_paused = true)]
async fn memory_bounds_and_bytes_per_span() {
    let (ts, _cap) = build(
        "{decision_wait: 10s, num_traces: 1000, maximum_total_bytes: 200000, maximum_trace_size_bytes: 5000, policies: [{type: always_sample}]}",
    );
    let mut encoded = 0usize;
    for b in 0..50u32 {
        let spans: Vec<Span> = (0..100u32)
            .map(|i| {
                let mut s = span(b * 100 + i, i, false, vec![]);
                s.attributes = vec![KeyValue {
                    key: "http.route".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("/api/v1/items/{id}".into())),
                    }),
                    ..Default::default()
                }];
                s
            })
            .collect();
        let batch = batch(spans);
        encoded += batch.encode_to_bytes().len();
        ts.consume(batch).await.unwrap();
        let (bytes, traces) = ts.held();
        assert!(bytes <= 200_000, "{bytes}");
        assert!(traces <= 1000);
    }
    let (bytes, traces) = ts.held();
    // Every held trace has one span here; bytes held per span vs the span's share of the request.
    let per_span = bytes as f64 / traces as f64;
    let encoded_per_span = encoded as f64 / 5000.0;
    println!(
        "tail_sampling: {per_span:.0} bytes held per pending span, {encoded_per_span:.0} encoded ({:.2}x)",
        per_span / encoded_per_span
    );
    assert!(per_span <= 1.5 * encoded_per_span);
    // One trace over maximum_trace_size_bytes is dropped with its later spans.
    let big: Vec<Span> = (0..200).map(|i| span(99_999, i, false, vec![])).collect();
    ts.consume(batch(big)).await.unwrap();
    assert!(ts
        .lock()
        .too_large
        .contains(&trace_key(&span(99_999, 0, false, vec![]).trace_id)));
}
