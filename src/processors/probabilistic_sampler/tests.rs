use super::*;
use crate::processors::testutil::Capture;
use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

fn tid(hex: &str) -> Vec<u8> {
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn cfg(yaml: &str) -> Config {
    let c: Config = crate::config::parse(&serde_yaml::from_str(yaml).unwrap(), "p").unwrap();
    let mut errors = Vec::new();
    c.validate("p", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    c
}

fn span(tid: Vec<u8>, ts: &str, attr: Option<(&str, V)>) -> Span {
    Span {
        trace_id: tid,
        span_id: vec![0, 0, 0, 0, 0xfe, 0xfe, 0xfe, 0xfe],
        trace_state: ts.into(),
        attributes: attr
            .map(|(k, v)| {
                vec![KeyValue {
                    key: k.into(),
                    value: Some(AnyValue { value: Some(v) }),
                    ..Default::default()
                }]
            })
            .unwrap_or_default(),
        ..Default::default()
    }
}

/// One span through the sampler: `Some(tracestate)` when sampled.
fn decide(c: &Config, mut s: Span) -> Option<String> {
    let d = Sampler::new(c, false).sample_span(&mut s);
    d.sampled.then_some(s.trace_state)
}

/// otelcol's `TestHashingFunction` vectors: 50% with the given seed (mode unset → hash_seed).
#[test]
fn hash_seed_decisions_match_otelcol_vectors() {
    let vectors = [
        (653, "474a03c76d75951a4b4c537ced8f1122", true),
        (563, "53a518291e91307e43cd8467bb06f986", true),
        (142, "a56a02f843b9bc6ee0b13889249e90e6", true),
        (904, "4e40762d3ee97a1c0932e4fa584f89a8", false),
        (445, "5224507db93db513f0ea2a4b4e0578c8", true),
        (38, "0c8717ced36216037af657e9d7f8b35b", true),
        (561, "2a8aa76c18d08e1e8be935541f9318c7", false),
        (757, "9e3d0f9481dc422cb613ea550897ae71", false),
        (22, "66a66c516ac22054673e5da5e6492545", false),
        (172, "84a1ce7bcea3e66194e72b4aa2694e31", true),
        (552, "a811a7def34ca4b98d8e320afd115fad", false),
        (546, "e3a345cc8dbb6f014bfa1edad3981820", true),
        (315, "a71effb50e28d27cbdc9892f3765b8c2", false),
        (790, "7629ecbea89398bfd9752a2f51c2c137", true),
        (555, "de6cdfb44d69e211f886c57120d7bda0", true),
        (147, "a8a5c3bb9205883fae17ead6675b2450", false),
        (666, "3ee60b013303bcfda06be89071b90bd1", true),
        (305, "c90c7cf3471bbc3a804a8a831633705b", true),
        (35, "855f493c5b5b1e2fcbc9993f8061eac8", false),
        (561, "0a0af00f63e098a39883705a423b0aa8", true),
        (92, "eb60d98b8f8fe22d8970f44f0e2b6bad", true),
        (70, "19c386ee7a9f2d56ff9ab2e6374540af", false),
        (936, "62dda24e4be24f5198e4d8dd4010c811", true),
        (835, "6c77db08bbded7bdd5c99c6e2fea41d2", false),
        (400, "54156d7434a894ef07f2a80dbf0f1138", true),
        (607, "03240c2748aa67a185909a9345d84aba", false),
        (6, "d6a68b47c66d1f94eed46b8ddc72faf4", false),
        (965, "022315846d42a38322d6fd26250444b3", true),
        (16, "2533c732bed8c1ba4721c25a1205f06c", false),
        (460, "60c3b9a2dde734d71ba5cca7eb164bce", true),
    ];
    for (seed, t, want) in vectors {
        let c = cfg(&format!("{{sampling_percentage: 50, hash_seed: {seed}}}"));
        let got = decide(&c, span(tid(t), "", None));
        assert_eq!(got.is_some(), want, "seed {seed} trace {t}");
        if let Some(ts) = got {
            // hash_seed mode writes the randomness it used and the threshold (ot=rv:…;th:8).
            assert!(ts.starts_with("ot=rv:") && ts.ends_with(";th:8"), "{ts}");
        }
    }
}

/// otelcol's `Test_tracesamplerprocessor_HashSeedTraceState`: 14-bit thresholds as t-values.
#[test]
fn hash_seed_tvalues() {
    for (pct, tv) in [
        (100.0f32, "0"),
        (75.0, "4"),
        (50.0, "8"),
        (25.0, "c"),
        (10.0, "e668"),
        (100.0 / 3.0, "aaac"),
    ] {
        let c = Config {
            sampling_percentage: pct,
            mode: Some("hash_seed".into()),
            hash_seed: 4_000_000,
            ..Default::default()
        };
        assert_eq!(Sampler::new(&c, false).threshold.tvalue(), tv, "{pct}");
    }
}

/// otelcol's `Test_tracesamplerprocessor_TraceState` for both consistent modes:
/// (name, trace id, percentage, precision (0: full, as otelcol's test leaves it unset), arriving tracestate, priority, equalizing, proportional).
#[test]
fn consistent_modes_match_otelcol_vectors() {
    type Case = (
        &'static str,
        &'static str,
        f32,
        i32,
        &'static str,
        Option<i64>,
        Option<&'static str>,
        Option<&'static str>,
    );
    let d = "fefefefefefefefefe80000000000000";
    let improbable = "111111111111111111ffffffffffffff";
    let cases: [Case; 19] = [
        (
            "100%",
            d,
            100.0,
            0,
            "",
            None,
            Some("ot=th:0"),
            Some("ot=th:0"),
        ),
        (
            "50% sampled",
            d,
            50.0,
            0,
            "",
            None,
            Some("ot=th:8"),
            Some("ot=th:8"),
        ),
        (
            "25% sampled",
            "ddddddddddddddddddc0000000000000",
            25.0,
            0,
            "",
            None,
            Some("ot=th:c"),
            Some("ot=th:c"),
        ),
        (
            "25% unsampled",
            "ddddddddddddddddddb0000000000000",
            25.0,
            0,
            "",
            None,
            None,
            None,
        ),
        (
            "1% rv precision 4",
            d,
            1.0,
            4,
            "ot=rv:FD70A3D70A3D71",
            None,
            Some("ot=rv:FD70A3D70A3D71;th:fd70a"),
            Some("ot=rv:FD70A3D70A3D71;th:fd70a"),
        ),
        (
            "1% rv precision 3",
            d,
            1.0,
            3,
            "ot=rv:FD70A3D70A3D71",
            None,
            None,
            None,
        ),
        (
            "1% rv not sampled",
            d,
            1.0,
            0,
            "ot=rv:FD70A3D70A3D70",
            None,
            None,
            None,
        ),
        ("49% default tid", d, 49.0, 0, "", None, None, None),
        (
            "1% tid",
            "a0a0a0a0a0a0a0a0a0fe000000000000",
            1.0,
            4,
            "",
            None,
            Some("ot=th:fd70a"),
            Some("ot=th:fd70a"),
        ),
        (
            "priority keeps",
            d,
            1.0,
            0,
            "",
            Some(2),
            Some("ot=th:0"),
            Some("ot=th:0"),
        ),
        ("priority drops", d, 99.0, 0, "", Some(0), None, None),
        (
            "incoming 50% with rv",
            d,
            50.0,
            0,
            "ot=rv:90000000000000;th:80000000000000",
            None,
            Some("ot=rv:90000000000000;th:8"),
            None,
        ),
        (
            "incoming 50% at 25% not sampled",
            d,
            25.0,
            0,
            "ot=th:8",
            None,
            None,
            None,
        ),
        (
            "incoming 50% at 25% sampled",
            "ffffffffffffffffffffffffffffffff",
            25.0,
            0,
            "ot=th:8",
            None,
            Some("ot=th:c"),
            Some("ot=th:e"),
        ),
        (
            "equalizing vs proportional",
            d,
            50.0,
            0,
            "ot=rv:c0000000000000;th:8",
            None,
            Some("ot=rv:c0000000000000;th:8"),
            Some("ot=rv:c0000000000000;th:c"),
        ),
        (
            "inconsistent arriving th",
            d,
            100.0,
            0,
            "ot=rv:40000000000000;th:8",
            None,
            Some("ot=rv:40000000000000;th:0"),
            Some("ot=rv:40000000000000;th:0"),
        ),
        (
            "40% precision 3 rv",
            d,
            40.0,
            3,
            "ot=rv:a0000000000000",
            None,
            Some("ot=rv:a0000000000000;th:99a"),
            Some("ot=rv:a0000000000000;th:99a"),
        ),
        (
            "arriving 50% at 40% precision 6",
            "a0a0a0a0a0a0a0a0a0d0000000000000",
            40.0,
            6,
            "ot=th:8",
            None,
            Some("ot=th:99999a"),
            Some("ot=th:cccccd"),
        ),
        (
            "tiny probability rounding",
            improbable,
            100.0 * (1.0 / 16384.0),
            0,
            "ot=th:fffc",
            None,
            Some("ot=th:fffc"),
            Some("ot=th:fffffff"),
        ),
    ];
    for (name, t, pct, prec, ts, prio, eq, prop) in cases {
        for (mode, want) in [("equalizing", eq), ("proportional", prop)] {
            let c = Config {
                sampling_percentage: pct,
                sampling_precision: prec,
                mode: Some(mode.into()),
                hash_seed: 4_000_000,
                // otelcol's table leaves fail_closed false (its zero value).
                fail_closed: false,
                ..Default::default()
            };
            let s = span(
                tid(t),
                ts,
                prio.map(|p| ("sampling.priority", V::IntValue(p))),
            );
            assert_eq!(decide(&c, s).as_deref(), want, "{mode} {name}");
        }
    }
}

/// otelcol's `Test_tracesamplerprocessor_TraceStateErrors`: fail_closed drops them all.
#[test]
fn errors_fail_closed_and_open() {
    let d = "fefefefefefefefefe80000000000000";
    let cases = [
        ("00000000000000000000000000000000", ""),
        (d, "ot=rv:abababababababab"),
        (d, "ot=th:abababababababab"),
        (d, "ot=th:-1"),
        ("ffffffffffffffffff70000000000000", "ot=th:8"),
        (d, "ot=th:8;rv:70000000000000"),
    ];
    for mode in ["equalizing", "proportional"] {
        for (t, ts) in cases {
            let mut c = Config {
                sampling_percentage: 100.0,
                mode: Some(mode.into()),
                ..Default::default()
            };
            assert_eq!(decide(&c, span(tid(t), ts, None)), None, "{mode} {t} {ts}");
            c.fail_closed = false;
            assert!(
                decide(&c, span(tid(t), ts, None)).is_some(),
                "{mode} {t} {ts}"
            );
        }
    }
}

#[test]
fn config_errors_name_their_key() {
    for (yaml, key) in [
        ("{sampling_percentage: -1}", "p::sampling_percentage"),
        ("{sampling_percentage: .nan}", "p::sampling_percentage"),
        ("{sampling_percentage: 1, mode: fast}", "p::mode"),
        (
            "{sampling_percentage: 1, sampling_precision: 0}",
            "p::sampling_precision",
        ),
        (
            "{sampling_percentage: 1, sampling_precision: 15}",
            "p::sampling_precision",
        ),
        (
            "{sampling_percentage: 1, attribute_source: span}",
            "p::attribute_source",
        ),
    ] {
        let errs = match Factory.prepare(&serde_yaml::from_str(yaml).unwrap(), "p") {
            Err(e) => e,
            Ok(_) => panic!("{yaml} accepted"),
        };
        assert_eq!(errs[0].path, key, "{yaml}");
    }
    assert!(Factory
        .prepare(
            &serde_yaml::from_str("{sampling_percentage: 1, bogus: 2}").unwrap(),
            "p"
        )
        .is_err());
}

fn log(trace: Vec<u8>, attrs: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        trace_id: trace,
        attributes: attrs,
        ..Default::default()
    }
}

fn kv(k: &str, v: V) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

#[test]
fn logs_by_trace_id_agree_with_spans_and_by_attribute() {
    // The same trace id gets the same decision for a span and a log record (hash_seed mode).
    let c = cfg("{sampling_percentage: 50, hash_seed: 22}");
    let logs = Sampler::new(&c, true);
    let spans = Sampler::new(&c, false);
    for i in 0u32..500 {
        let mut t = vec![0u8; 16];
        t[..4].copy_from_slice(&i.wrapping_mul(2654435761).to_be_bytes());
        t[12..].copy_from_slice(&i.to_be_bytes());
        let mut rec = log(t.clone(), vec![]);
        let mut sp = span(t, "", None);
        assert_eq!(
            logs.sample_log(&mut rec).sampled,
            spans.sample_span(&mut sp).sampled
        );
    }
    // attribute_source: record hashes the attribute; same value → same decision; sampled records
    // carry sampling.randomness and sampling.threshold.
    let c = cfg("{sampling_percentage: 50, attribute_source: record, from_attribute: user}");
    let s = Sampler::new(&c, true);
    let (mut kept, mut total) = (0, 0);
    for i in 0..1000 {
        let user = format!("user-{i}");
        let mut a = log(vec![], vec![kv("user", V::StringValue(user.clone()))]);
        let mut b = log(vec![], vec![kv("user", V::StringValue(user))]);
        let da = s.sample_log(&mut a).sampled;
        assert_eq!(da, s.sample_log(&mut b).sampled);
        total += 1;
        if da {
            kept += 1;
            assert!(string_attr(&a.attributes, "sampling.randomness").is_some());
            assert_eq!(string_attr(&a.attributes, "sampling.threshold"), Some("8"));
        }
    }
    assert!((400..600).contains(&kept), "{kept} of {total}");
    // No attribute and no trace id: fail_closed drops it.
    assert!(!s.sample_log(&mut log(vec![], vec![])).sampled);
    // sampling_priority raises a record's probability.
    let c = cfg("{sampling_percentage: 0.0001, mode: equalizing, sampling_priority: prio}");
    let s = Sampler::new(&c, true);
    let mut rec = log(
        tid("ffffffffffffffffff00000000000001"),
        vec![kv("prio", V::IntValue(100))],
    );
    assert!(s.sample_log(&mut rec).sampled);
}

#[tokio::test]
async fn processor_drops_unsampled_spans_and_empty_containers() {
    let c = cfg("{sampling_percentage: 50, hash_seed: 22}");
    let cap = Arc::new(Capture::<Traces>::default());
    let next = AnyConsumer::Traces(cap.clone());
    let AnyConsumer::Traces(p) = c
        .create(
            &ComponentId::parse("probabilistic_sampler").unwrap(),
            "traces",
            next,
            &Host::default(),
        )
        .unwrap()
    else {
        panic!()
    };
    let mut spans = Vec::new();
    for i in 0u32..2000 {
        let mut t = vec![7u8; 16];
        t[12..].copy_from_slice(&i.to_be_bytes());
        t[..4].copy_from_slice(&i.wrapping_mul(40503).to_le_bytes());
        spans.push(span(t, "", None));
    }
    let want: usize = spans
        .iter()
        .filter(|s| decide(&c, (*s).clone()).is_some())
        .count();
    let rs = vec![ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }];
    p.consume(Batch::from_resources(rs)).await.unwrap();
    assert_eq!(cap.items(), want);
    assert!((800..1200).contains(&want), "{want}");
    // All dropped: nothing is passed on.
    let c0 = cfg("{sampling_percentage: 0}");
    let cap0 = Arc::new(Capture::<Logs>::default());
    let AnyConsumer::Logs(p0) = c0
        .create(
            &ComponentId::parse("probabilistic_sampler").unwrap(),
            "logs",
            AnyConsumer::Logs(cap0.clone()),
            &Host::default(),
        )
        .unwrap()
    else {
        panic!()
    };
    let rl = vec![ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![log(tid(&"ab".repeat(16)), vec![]); 10],
            ..Default::default()
        }],
        ..Default::default()
    }];
    p0.consume(Batch::from_resources(rl)).await.unwrap();
    assert_eq!(cap0.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
}
