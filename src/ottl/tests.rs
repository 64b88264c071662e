//! Table tests for the grammar, the printer, comparisons, paths and functions.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::*;
use crate::ottl::value::Value;

pub(crate) fn sv(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Av::StringValue(s.into())),
    })
}

pub(crate) fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v,
        ..Default::default()
    }
}

pub(crate) fn skv(k: &str, v: &str) -> KeyValue {
    kv(k, sv(v))
}

fn get<'a>(m: &'a [KeyValue], k: &str) -> Option<&'a AnyValue> {
    m.iter().find(|x| x.key == k).and_then(|x| x.value.as_ref())
}

fn span() -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "GET /users".into(),
        kind: 2,
        start_time_unix_nano: 1_000_000_000,
        end_time_unix_nano: 3_500_000_000,
        attributes: vec![
            skv("http.route", "/users/{id}"),
            skv("http.target", "/user/123/list/456"),
            kv(
                "http.status_code",
                Some(AnyValue {
                    value: Some(Av::IntValue(200)),
                }),
            ),
            skv("token", "password=secret123 rest"),
            skv("long", "abcdefghij"),
            skv("json", r#"{"a":{"b":1},"c":[1,2]}"#),
        ],
        ..Default::default()
    }
}

/// Runs statements in the span context on a copy of `span()` and returns it.
fn run_span(statements: &[&str]) -> Span {
    let mut s = span();
    let mut res = Some(Resource {
        attributes: vec![skv("service.name", "api")],
        ..Default::default()
    });
    let mut scope = Some(InstrumentationScope {
        name: "lib".into(),
        ..Default::default()
    });
    for text in statements {
        let st =
            compile_statement(text, ContextKind::Span).unwrap_or_else(|e| panic!("{text}: {e}"));
        let mut ctx = Ctx {
            resource: Some(&mut res),
            scope: Some(&mut scope),
            span: Some(&mut s),
            ..Default::default()
        };
        st.execute(&mut ctx)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    s
}

fn cond_span(text: &str) -> bool {
    let mut s = span();
    let mut res = Some(Resource {
        attributes: vec![skv("service.name", "api")],
        ..Default::default()
    });
    let c = compile_condition(text, ContextKind::Span).unwrap_or_else(|e| panic!("{text}: {e}"));
    let ctx = Ctx {
        resource: Some(&mut res),
        span: Some(&mut s),
        ..Default::default()
    };
    c.test(&ctx).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Statements and conditions from otelcol-contrib's transform and filter processor READMEs and the
/// OTTL docs: all parse, and printing then parsing again gives the same text.
const CORPUS: &[&str] = &[
    r#"keep_keys(attributes, ["service.name", "service.namespace", "cloud.region", "process.command_line"])"#,
    r#"replace_pattern(attributes["process.command_line"], "password\\=[^\\s]*(\\s?)", "password=***")"#,
    r#"limit(attributes, 100, [])"#,
    r#"truncate_all(attributes, 4096)"#,
    r#"set(status.code, 1) where attributes["http.path"] == "/health""#,
    r#"set(name, attributes["http.route"])"#,
    r#"replace_match(attributes["http.target"], "/user/*/list/*", "/user/{userId}/list/{listId}")"#,
    r#"set(description, "Sum") where type == "Sum""#,
    r#"convert_sum_to_gauge() where name == "system.processes.count""#,
    r#"convert_gauge_to_sum("cumulative", false) where name == "prometheus_metric""#,
    r#"set(severity_text, "FAIL") where body == "request failed""#,
    r#"replace_all_matches(attributes, "/user/*/list/*", "/user/{userId}/list/{listId}")"#,
    r#"replace_all_patterns(attributes, "value", "/account/\\d{4}", "/account/{accountId}")"#,
    r#"set(body, attributes["http.route"])"#,
    r#"merge_maps(attributes, ParseJSON(body), "upsert") where IsMatch(body, "^\\{")"#,
    r#"set(attributes["test"], "pass") where dropped_attributes_count == 1 and not (name == "x" or kind == SPAN_KIND_SERVER)"#,
    r#"set(span.attributes["x"], Concat([span.name, "-", resource.attributes["service.name"]], "")) where span.end_time - span.start_time > Duration("2s")"#,
    r#"set(attributes["n"], 1 + 2 * 3 - (4 - 5) / -1)"#,
    r#"set(attributes["b"], 0xdeadbeef) where trace_id == TraceID(0x0102030405060708090a0b0c0d0e0f10)"#,
    r#"set(attributes["m"], {"a": 1, "b": [1.5, "x", nil, true]})"#,
    r#"set(attributes["nested"]["deeper"][0], "v")"#,
    r#"replace_pattern(attributes["x"], "a", "b", SHA256, "sha:%s")"#,
    r#"flatten(attributes, prefix = "p", depth = 1)"#,
    r#"set(attributes["esc"], "quote \" backslash \\ newline \n tab \t")"#,
];

#[test]
fn corpus_parses_and_round_trips_through_the_printer() {
    for src in CORPUS {
        let a = parse_statement(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let printed = a.to_string();
        let b = parse_statement(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(printed, b.to_string(), "round trip of {src}");
    }
}

/// A property test over generated trees: print → parse → print is stable, and parsing recovers the
/// same structure.
#[test]
fn generated_expressions_round_trip() {
    use crate::ottl::ast::{CmpOp, Expr, MathOp, Path};
    use rand::{Rng, SeedableRng};
    fn gen(r: &mut rand::rngs::StdRng, depth: u32) -> Expr {
        let leaf = depth == 0 || r.random_bool(0.3);
        if leaf {
            return match r.random_range(0..8) {
                0 => Expr::Int(r.random_range(-1000..1000)),
                1 => Expr::Float(r.random_range(-100..100) as f64 / 4.0),
                2 => Expr::Str(["a", "b\"c", "\\d", "é", ""][r.random_range(0..5)].into()),
                3 => Expr::Bool(r.random_bool(0.5)),
                4 => Expr::Nil,
                5 => Expr::Bytes(vec![r.random(), r.random()]),
                6 => Expr::Enum("SPAN_KIND_SERVER".into(), 0),
                _ => Expr::Path(Path {
                    fields: vec!["attributes".into()],
                    keys: vec![crate::ottl::ast::Key::Str("k".into())],
                    column: 0,
                }),
            };
        }
        let a = Box::new(gen(r, depth - 1));
        let b = Box::new(gen(r, depth - 1));
        match r.random_range(0..6) {
            0 => Expr::Math(
                [MathOp::Add, MathOp::Sub, MathOp::Mul, MathOp::Div][r.random_range(0..4)],
                a,
                b,
            ),
            1 => Expr::Compare(
                [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Ge][r.random_range(0..4)],
                a,
                b,
            ),
            2 => Expr::And(a, b),
            3 => Expr::Or(a, b),
            4 => Expr::Not(a),
            _ => Expr::List(vec![*a, *b]),
        }
    }
    fn strip(e: &Expr) -> String {
        // Columns differ between generated and parsed trees; compare the printed forms instead.
        e.to_string()
    }
    let mut r = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..2000 {
        let e = gen(&mut r, 4);
        let printed = e.to_string();
        let parsed = parse_condition(&printed).unwrap_or_else(|err| panic!("{printed}: {err}"));
        assert_eq!(strip(&parsed), printed);
        // Negative literals print as `-1`; everything else parses back to the same tree.
        let again = parse_condition(&parsed.to_string()).unwrap();
        assert_eq!(again.to_string(), printed);
    }
}

#[test]
fn parse_errors_name_the_column_and_what_was_expected() {
    let cases: &[(&str, usize, &str)] = &[
        (r#"set(attributes["a"], "x""#, 25, "expected \",\" or \")\""),
        (r#"set(attributes["a"] "x")"#, 21, "expected \",\" or \")\""),
        (r#"Set(name, "x")"#, 1, "converters cannot be statements"),
        (
            r#"set(name, "x") whre name == "y""#,
            16,
            "expected \"where\" or end of statement",
        ),
        (r#"set(name, "x) "#, 11, "unterminated string"),
        (r#"set(name, 0xabc)"#, 11, "even number of hex digits"),
        (r#"set(name, "x") where name == "#, 30, "expected a value"),
        (r#"set(name, @)"#, 11, "unexpected character"),
        (r#"set(name, set(x, 1))"#, 11, "cannot be used as a value"),
        (r#"set(a = name, "x")"#, 15, "named argument"),
    ];
    for (src, col, want) in cases {
        let e = parse_statement(src).unwrap_err();
        assert!(e.message.contains(want), "{src}: {e}");
        assert_eq!(e.column, *col, "{src}: {e}");
    }
    let deep = format!("set(name, {}1{})", "(".repeat(500), ")".repeat(500));
    assert!(parse_statement(&deep)
        .unwrap_err()
        .message
        .contains("nested"));
}

#[test]
fn compile_errors_name_the_problem() {
    let cases: &[(&str, ContextKind, &str)] = &[
        (
            r#"sett(name, "x")"#,
            ContextKind::Span,
            "unknown editor sett",
        ),
        (
            r#"set(name, Nope(1))"#,
            ContextKind::Span,
            "unknown converter Nope",
        ),
        (
            r#"set(nmae, "x")"#,
            ContextKind::Span,
            "unknown path nmae in the span context",
        ),
        (r#"set(name)"#, ContextKind::Span, "missing \"value\""),
        (
            r#"set(name, "x", "y")"#,
            ContextKind::Span,
            "at most 2 argument",
        ),
        (
            r#"set(name, "x") where name"#,
            ContextKind::Span,
            "expected a boolean expression",
        ),
        (r#"set(log.body, "x")"#, ContextKind::Span, "cannot reach"),
        (
            r#"set(attributes["x"], FormatTime(Now(), "%Y"))"#,
            ContextKind::Span,
            "not supported by ferrotel yet",
        ),
        (
            r#"copy_metric()"#,
            ContextKind::Metric,
            "not supported by ferrotel yet",
        ),
        (
            r#"aggregate_on_attributes("avg")"#,
            ContextKind::Metric,
            "invalid aggregation function",
        ),
        (
            r#"extract_sum_metric(true)"#,
            ContextKind::DataPoint,
            "only available in the metric context",
        ),
        (
            r#"set(attributes["t"], Time("x", "%Y", "Nowhere/Atlantis"))"#,
            ContextKind::Span,
            "unknown time zone",
        ),
        (
            r#"set(attributes["t"], Time("x", "%Y", "", "it"))"#,
            ContextKind::Span,
            "not supported by ferrotel yet",
        ),
        (
            r#"set(trace_state["a"]["b"], "x")"#,
            ContextKind::Span,
            "trace_state takes one key",
        ),
        (
            r#"set(name, "x") where kind == SPAN_KIND_NOPE"#,
            ContextKind::Span,
            "unknown enum SPAN_KIND_NOPE",
        ),
        (
            r#"replace_pattern(name, "(", "x")"#,
            ContextKind::Span,
            "invalid regex",
        ),
        (
            r#"convert_sum_to_gauge()"#,
            ContextKind::Span,
            "only available in the metric context",
        ),
        (
            r#"set(body, "x") where IsRootSpan()"#,
            ContextKind::Log,
            "only available in the span context",
        ),
        (
            r#"set(name["k"], "v")"#,
            ContextKind::Span,
            "cannot be indexed",
        ),
        (
            r#"limit(attributes, 1, ["a", "b"])"#,
            ContextKind::Span,
            "more priority_keys",
        ),
    ];
    for (src, ctx, want) in cases {
        let e = match compile_statement(src, *ctx) {
            Ok(_) => panic!("{src}: compiled"),
            Err(e) => e,
        };
        assert!(e.contains(want), "{src}: {e}");
        assert!(e.starts_with("column "), "{src}: {e}");
    }
}

#[test]
fn typed_comparisons_follow_ottl_rules() {
    let cases: &[(&str, bool)] = &[
        (r#"1 == 1"#, true),
        (r#"1 == 1.0"#, true),
        (r#"1 < 1.5"#, true),
        (r#"2.5 >= 2"#, true),
        (r#""a" < "b""#, true),
        (r#""1" == 1"#, false),
        (r#""1" != 1"#, true),
        (r#""1" < 2"#, false),
        (r#"nil == nil"#, true),
        (r#"attributes["missing"] == nil"#, true),
        (r#"attributes["missing"] != nil"#, false),
        (r#"attributes["missing"] < 1"#, false),
        (r#"true == true"#, true),
        (r#"false < true"#, false),
        (r#"0x0102 == 0x0102"#, true),
        (r#"0x0102 < 0x0103"#, true),
        (r#"[1, 2] == [1, 2]"#, true),
        (r#"{"a": 1} == {"a": 1}"#, true),
        (r#"{"a": 1} < {"a": 2}"#, false),
        (r#"attributes["http.status_code"] == 200"#, true),
        (
            r#"attributes["http.status_code"] >= 200 and attributes["http.status_code"] < 300"#,
            true,
        ),
        (r#"name == "GET /users" and kind == SPAN_KIND_SERVER"#, true),
        (r#"kind.string == "Server""#, true),
        (r#"kind.deprecated_string == "SPAN_KIND_SERVER""#, true),
        (
            r#"not (kind == SPAN_KIND_CLIENT) and (false or true)"#,
            true,
        ),
        (r#"resource.attributes["service.name"] == "api""#, true),
        (r#"span.name == "GET /users""#, true),
        (
            r#"trace_id.string == "01010101010101010101010101010101""#,
            true,
        ),
        (r#"span_id == SpanID(0x0202020202020202)"#, true),
        (r#"end_time - start_time == Duration("2500ms")"#, true),
        (
            r#"end_time_unix_nano - start_time_unix_nano > 2000000000"#,
            true,
        ),
        (r#"UnixSeconds(start_time) == 1"#, true),
        (r#"IsRootSpan()"#, true),
        (r#"1 + 2 * 3 == 7"#, true),
        (r#"(1 + 2) * 3 == 9"#, true),
        (r#"10 / 4 == 2"#, true),
        (r#"10.0 / 4.0 == 2.5"#, true),
        (r#"-1 < 0"#, true),
        (r#"status.code == STATUS_CODE_UNSET"#, true),
        (
            r#"SEVERITY_NUMBER_WARN == 13 and SEVERITY_NUMBER_ERROR4 == 20"#,
            true,
        ),
        (r#"ParseJSON(attributes["json"])["a"]["b"] == 1.0"#, true),
        (r#"ParseJSON(attributes["json"])["c"][1] == 2.0"#, true),
        (
            r#"attributes[Concat(["http", "route"], ".")] == "/users/{id}""#,
            true,
        ),
    ];
    for (src, want) in cases {
        assert_eq!(cond_span(src), *want, "{src}");
    }
}

#[test]
fn converters() {
    let cases: &[(&str, Value)] = &[
        (
            r#"Concat(["a", 1, true, 1.5], "-")"#,
            Value::str("a-1-true-1.5"),
        ),
        (
            r#"ConvertCase("Hello World", "lower")"#,
            Value::str("hello world"),
        ),
        (
            r#"ConvertCase("hello_world", "camel")"#,
            Value::str("HelloWorld"),
        ),
        (
            r#"ConvertCase("HelloWorld", "snake")"#,
            Value::str("hello_world"),
        ),
        (r#"Double("1.5")"#, Value::Double(1.5)),
        (r#"Double(2)"#, Value::Double(2.0)),
        (r#"Int("42")"#, Value::Int(42)),
        (r#"Int(3.9)"#, Value::Int(3)),
        (r#"Int(true)"#, Value::Int(1)),
        (r#"Int("x")"#, Value::Nil),
        (r#"String(12)"#, Value::str("12")),
        (r#"String(0x0aff)"#, Value::str("0aff")),
        (r#"Hex("ab")"#, Value::str("6162")),
        (r#"HasPrefix(name, "GET")"#, Value::Bool(true)),
        (r#"HasSuffix(name, "GET")"#, Value::Bool(false)),
        (r#"IsBool(true)"#, Value::Bool(true)),
        (r#"IsDouble(1)"#, Value::Bool(false)),
        (
            r#"IsInt(attributes["http.status_code"])"#,
            Value::Bool(true),
        ),
        (r#"IsMap(attributes)"#, Value::Bool(true)),
        (r#"IsString(name)"#, Value::Bool(true)),
        (r#"IsMatch(name, "^GET ")"#, Value::Bool(true)),
        (
            r#"IsMatch(attributes["http.status_code"], "^2\\d\\d$")"#,
            Value::Bool(true),
        ),
        (r#"Len(name)"#, Value::Int(10)),
        (r#"Len(attributes)"#, Value::Int(6)),
        (r#"Log(1)"#, Value::Double(0.0)),
        (
            r#"SHA256("test")"#,
            Value::str("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ),
        (
            r#"SHA1("test")"#,
            Value::str("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
        ),
        (r#"Split("a,b,c", ",")[1]"#, Value::str("b")),
        (r#"Substring("abcdef", 1, 3)"#, Value::str("bcd")),
        (r#"ToLowerCase("AbC")"#, Value::str("abc")),
        (r#"ToUpperCase("AbC")"#, Value::str("ABC")),
        (r#"Trim("  x  ")"#, Value::str("x")),
        (r#"Trim("--x--", "-")"#, Value::str("x")),
        (r#"UnixMilli(start_time)"#, Value::Int(1000)),
        (r#"UnixNano(end_time)"#, Value::Int(3_500_000_000)),
        (r#"UnixMicro(start_time)"#, Value::Int(1_000_000)),
        (
            r#"Format("%s has %d items (%.2f)", ["cart", 3, 1.5])"#,
            Value::str("cart has 3 items (1.50)"),
        ),
        (r#"Keys({"a": 1, "b": 2})[1]"#, Value::str("b")),
        (r#"Values({"a": 1, "b": 2})[1]"#, Value::Int(2)),
        (
            r#"ExtractPatterns("user=alice id=7", "user=(?P<user>\\w+) id=(?P<id>\\d+)")["user"]"#,
            Value::str("alice"),
        ),
        (
            r#"ParseKeyValue("a=1 b=\"two words\"")["b"]"#,
            Value::str("two words"),
        ),
        (
            r#"ParseKeyValue("k:v;k:w", ":", ";")["k"][1]"#,
            Value::str("w"),
        ),
        (
            r#"ParseJSON("{\"x\": [1, \"y\"]}")["x"][1]"#,
            Value::str("y"),
        ),
    ];
    for (src, want) in cases {
        let st = format!("set(attributes[\"out\"], {src})");
        let s = run_span(&[&st]);
        let got = get(&s.attributes, "out")
            .map(Value::from_any)
            .unwrap_or(Value::Nil)
            .into_owned();
        assert_eq!(&got, want, "{src}");
    }
}

#[test]
fn editors() {
    let s = run_span(&[
        r#"set(attributes["new"], "v")"#,
        r#"set(attributes["nested"]["k"], 1)"#,
        r#"set(attributes["nil"], nil)"#,
        r#"delete_key(attributes, "long")"#,
        r#"replace_pattern(attributes["token"], "password=[^\\s]*(\\s?)", "password=***$1")"#,
        r#"replace_match(attributes["http.target"], "/user/*/list/*", "/user/{userId}/list/{listId}")"#,
        r#"set(name, attributes["http.route"]) where kind == SPAN_KIND_SERVER"#,
        r#"set(status.code, STATUS_CODE_ERROR) where attributes["http.status_code"] >= 200"#,
        r#"set(status.message, "bad")"#,
        r#"append(attributes["tags"], "a")"#,
        r#"append(attributes["tags"], values = ["b", "c"])"#,
    ]);
    assert_eq!(get(&s.attributes, "new"), sv("v").as_ref());
    assert!(get(&s.attributes, "nested").is_some());
    assert!(get(&s.attributes, "nil").is_none());
    assert!(get(&s.attributes, "long").is_none());
    assert_eq!(
        get(&s.attributes, "token"),
        sv("password=*** rest").as_ref()
    );
    assert_eq!(
        get(&s.attributes, "http.target"),
        sv("/user/{userId}/list/{listId}").as_ref()
    );
    assert_eq!(s.name, "/users/{id}");
    assert_eq!(
        s.status.as_ref().map(|x| (x.code, x.message.as_str())),
        Some((2, "bad"))
    );
    match get(&s.attributes, "tags").and_then(|v| v.value.as_ref()) {
        Some(Av::ArrayValue(a)) => assert_eq!(a.values.len(), 3),
        other => panic!("tags: {other:?}"),
    }

    let s = run_span(&[
        r#"keep_keys(attributes, ["http.route", "json"])"#,
        r#"truncate_all(attributes, 3)"#,
    ]);
    assert_eq!(
        s.attributes,
        vec![skv("http.route", "/us"), skv("json", "{\"a")]
    );

    let s = run_span(&[r#"limit(attributes, 2, ["long"])"#]);
    assert_eq!(
        s.attributes
            .iter()
            .map(|k| k.key.as_str())
            .collect::<Vec<_>>(),
        ["http.route", "long"]
    );

    let s = run_span(&[r#"delete_matching_keys(attributes, "^http\\.")"#]);
    assert!(s.attributes.iter().all(|k| !k.key.starts_with("http.")));
    let s = run_span(&[r#"keep_matching_keys(attributes, "^http\\.")"#]);
    assert_eq!(s.attributes.len(), 3);

    let s = run_span(&[
        r#"set(attributes["parsed"], ParseJSON(attributes["json"]))"#,
        r#"merge_maps(attributes, attributes["parsed"], "insert")"#,
        r#"flatten(attributes["parsed"])"#,
    ]);
    let parsed = match get(&s.attributes, "parsed").and_then(|v| v.value.as_ref()) {
        Some(Av::KvlistValue(m)) => m.values.iter().map(|k| k.key.clone()).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(parsed, ["a.b", "c.0", "c.1"]);
    assert!(get(&s.attributes, "a").is_some() && get(&s.attributes, "c").is_some());

    let s = run_span(&[r#"replace_all_patterns(attributes, "key", "^http\\.", "h.")"#]);
    assert!(get(&s.attributes, "h.route").is_some());
    let s = run_span(&[
        r#"replace_pattern(attributes["token"], "secret(\\d+)", "$1", SHA256, "h:%s")"#,
    ]);
    assert_eq!(
        get(&s.attributes, "token"),
        sv("password=h:a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3 rest")
            .as_ref()
    );
    let s = run_span(&[
        r#"set(trace_id.string, "0f0e0d0c0b0a09080706050403020100")"#,
        r#"set(kind, SPAN_KIND_CLIENT)"#,
    ]);
    assert_eq!(s.trace_id[0], 15);
    assert_eq!(s.kind, 3);
    let s = run_span(&[r#"set(end_time, start_time + Duration("1ms"))"#]);
    assert_eq!(s.end_time_unix_nano, 1_001_000_000);
}

#[test]
fn runtime_errors_are_errors_not_panics() {
    let st = compile_statement(
        r#"set(attributes["x"], Substring(name, 5, 100))"#,
        ContextKind::Span,
    )
    .unwrap();
    let mut s = span();
    let mut ctx = Ctx {
        span: Some(&mut s),
        ..Default::default()
    };
    let e = st.execute(&mut ctx).unwrap_err();
    assert!(
        e.contains("Substring") && e.contains("set(attributes"),
        "{e}"
    );
    let st = compile_statement(r#"set(attributes["x"], 1 / 0)"#, ContextKind::Span).unwrap();
    assert!(st
        .execute(&mut ctx)
        .unwrap_err()
        .contains("division by zero"));
    let st = compile_statement(r#"set(attributes["x"], "a" + 1)"#, ContextKind::Span).unwrap();
    assert!(st.execute(&mut ctx).unwrap_err().contains("cannot apply +"));
}

#[test]
fn log_paths_and_body() {
    let mut log = LogRecord {
        body: sv(r#"{"level":"warn","msg":"disk full"}"#),
        severity_number: 13,
        ..Default::default()
    };
    for text in [
        r#"merge_maps(attributes, ParseJSON(body), "upsert") where IsMatch(body, "^\\{")"#,
        r#"set(severity_text, "WARN") where severity_number >= SEVERITY_NUMBER_WARN"#,
        r#"set(body, attributes["msg"])"#,
        r#"set(attributes["upper"], ToUpperCase(body.string))"#,
        r#"set(event_name, "disk") where body == "disk full""#,
    ] {
        let st =
            compile_statement(text, ContextKind::Log).unwrap_or_else(|e| panic!("{text}: {e}"));
        st.execute(&mut Ctx {
            log: Some(&mut log),
            ..Default::default()
        })
        .unwrap();
    }
    assert_eq!(log.body, sv("disk full"));
    assert_eq!(log.severity_text, "WARN");
    assert_eq!(log.event_name, "disk");
    assert_eq!(get(&log.attributes, "level"), sv("warn").as_ref());
    assert_eq!(get(&log.attributes, "upper"), sv("DISK FULL").as_ref());
}

#[test]
fn context_inference_picks_the_deepest_prefix() {
    let t = contexts_of(crate::signal::SignalKind::Traces);
    assert_eq!(
        infer_statement(r#"set(span.name, resource.attributes["a"])"#, t),
        Ok(ContextKind::Span)
    );
    assert_eq!(
        infer_statement(r#"set(resource.attributes["a"], "b")"#, t),
        Ok(ContextKind::Resource)
    );
    assert_eq!(
        infer_statement(r#"set(spanevent.name, span.name)"#, t),
        Ok(ContextKind::SpanEvent)
    );
    assert_eq!(
        infer_condition(r#"scope.name == "x""#, t),
        Ok(ContextKind::Scope)
    );
    assert!(infer_statement(r#"set(name, "x")"#, t)
        .unwrap_err()
        .contains("cannot infer"));
    assert!(infer_statement(r#"set(log.body, "x")"#, t).is_err());
    let m = contexts_of(crate::signal::SignalKind::Metrics);
    assert_eq!(
        infer_condition(
            r#"datapoint.attributes["a"] == "b" and metric.name == "m""#,
            m
        ),
        Ok(ContextKind::DataPoint)
    );
}

/// `Time` on the ottlfuncs README examples (English locale): wall-clock times without an offset are
/// UTC unless a `location` is given; an unknown `%Z` abbreviation counts as UTC, as in Go.
#[test]
fn time_converter_readme_examples() {
    let s = |secs: i64| Value::Time(secs * 1_000_000_000);
    let cases: &[(&str, Value)] = &[
        (r#"Time("02/04/2023", "%m/%d/%Y")"#, s(1_675_468_800)),
        (r#"Time("Feb 15, 2023", "%b %d, %Y")"#, s(1_676_419_200)),
        (
            r#"Time("2023-05-26 12:34:56 HST", "%Y-%m-%d %H:%M:%S %Z")"#,
            s(1_685_104_496),
        ),
        (
            r#"Time("1986-10-01T00:17:33 MST", "%Y-%m-%dT%H:%M:%S %Z")"#,
            s(528_509_853),
        ),
        (
            r#"Time("2012-11-01T22:08:41+0000 EST", "%Y-%m-%dT%H:%M:%S%z %Z")"#,
            s(1_351_807_721),
        ),
        (
            r#"UnixMilli(Time("02/04/2023", "%m/%d/%Y"))"#,
            Value::Int(1_675_468_800_000),
        ),
        (
            r#"UnixSeconds(Time("02/04/2023", "%m/%d/%Y"))"#,
            Value::Int(1_675_468_800),
        ),
        (
            r#"Time("2023-05-26 12:34:56.250", "%F %T.%L")"#,
            Value::Time(1_685_104_496_250_000_000),
        ),
        (r#"Time("05/26/23 01:02:03 pm", "%D %r")"#, s(1_685_106_123)),
    ];
    for (text, want) in cases {
        let st = format!("set(attributes[\"t\"], {text})");
        let sp = run_span(&[&st]);
        let got = get(&sp.attributes, "t").cloned();
        assert_eq!(got, Some(want.clone().into_any()), "{text}");
    }
    // A location applies to texts without an offset (EDT is UTC-4 in May).
    if std::path::Path::new("/usr/share/zoneinfo/America/New_York").exists() {
        let sp = run_span(&[
            r#"set(attributes["t"], UnixSeconds(Time("2023-05-26 12:34:56", "%Y-%m-%d %H:%M:%S", "America/New_York")))"#,
        ]);
        assert_eq!(
            get(&sp.attributes, "t"),
            Some(&AnyValue {
                value: Some(Av::IntValue(1_685_118_896))
            })
        );
    }
    // Bad input is an evaluation error, not a panic.
    let st = compile_statement(
        r#"set(attributes["t"], Time(name, "%Y-%m-%d"))"#,
        ContextKind::Span,
    )
    .unwrap();
    let mut sp = span();
    let mut ctx = Ctx {
        span: Some(&mut sp),
        ..Default::default()
    };
    assert!(st.execute(&mut ctx).unwrap_err().contains("Time"));
}

#[test]
fn trace_state_paths() {
    let mut sp = span();
    sp.trace_state = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into();
    let run = |sp: &mut Span, text: &str| {
        let st = compile_statement(text, ContextKind::Span).unwrap_or_else(|e| panic!("{e}"));
        st.execute(&mut Ctx {
            span: Some(sp),
            ..Default::default()
        })
    };
    run(&mut sp, r#"set(attributes["c"], trace_state["congo"])"#).unwrap();
    assert_eq!(get(&sp.attributes, "c"), sv("t61rcWkgMzE").as_ref());
    run(&mut sp, r#"set(attributes["whole"], span.trace_state)"#).unwrap();
    assert_eq!(
        get(&sp.attributes, "whole"),
        sv("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").as_ref()
    );
    // A new or updated member moves to the front (W3C).
    run(&mut sp, r#"set(span.trace_state["congo"], "x")"#).unwrap();
    assert_eq!(sp.trace_state, "congo=x,rojo=00f067aa0ba902b7");
    run(
        &mut sp,
        r#"set(trace_state["th"], "8") where trace_state["rojo"] != nil"#,
    )
    .unwrap();
    assert_eq!(sp.trace_state, "th=8,congo=x,rojo=00f067aa0ba902b7");
    run(&mut sp, r#"set(trace_state, "a=b")"#).unwrap();
    assert_eq!(sp.trace_state, "a=b");
    // A missing member is nil; invalid keys and values are evaluation errors.
    run(
        &mut sp,
        r#"set(attributes["m"], "yes") where trace_state["nope"] == nil"#,
    )
    .unwrap();
    assert_eq!(get(&sp.attributes, "m"), sv("yes").as_ref());
    assert!(run(&mut sp, r#"set(trace_state["Bad Key"], "v")"#).is_err());
    assert!(run(&mut sp, r#"set(trace_state["k"], "a,b")"#).is_err());
    assert!(run(&mut sp, r#"set(trace_state["k"], 1)"#).is_err());
    assert_eq!(sp.trace_state, "a=b");
}

mod metric_functions {
    use super::*;
    use crate::ottl::exec;
    use opentelemetry_proto::tonic::metrics::v1::{
        metric::Data, number_data_point::Value as Nv, Gauge, Histogram, HistogramDataPoint, Metric,
        NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
    };

    /// Runs the statements in the metric context, each metric through all of them in order (as a
    /// transform group does), and returns the scope's metrics.
    fn run(metrics: Vec<Metric>, statements: &[&str]) -> Result<Vec<Metric>, String> {
        let sts: Vec<_> = statements
            .iter()
            .map(|t| {
                compile_statement(t, ContextKind::Metric).unwrap_or_else(|e| panic!("{t}: {e}"))
            })
            .collect();
        let mut rm = vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }];
        exec::metrics(&mut rm, ContextKind::Metric, &mut |ctx| {
            for st in &sts {
                st.execute(ctx)?;
            }
            Ok(false)
        })?;
        Ok(rm.remove(0).scope_metrics.remove(0).metrics)
    }

    fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
        pairs.iter().map(|(k, v)| skv(k, v)).collect()
    }

    fn histogram() -> Metric {
        let p = |a: &str, sum: Option<f64>, count: u64| HistogramDataPoint {
            attributes: attrs(&[("a", a)]),
            start_time_unix_nano: 5,
            time_unix_nano: 10,
            count,
            sum,
            bucket_counts: vec![count, 0],
            explicit_bounds: vec![1.0],
            ..Default::default()
        };
        Metric {
            name: "h".into(),
            description: "d".into(),
            unit: "ms".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![p("x", Some(1.5), 3), p("y", None, 4)],
                aggregation_temporality: 1,
            })),
            ..Default::default()
        }
    }

    fn summary() -> Metric {
        Metric {
            name: "s".into(),
            data: Some(Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: attrs(&[("a", "x")]),
                    time_unix_nano: 10,
                    count: 7,
                    sum: 12.5,
                    ..Default::default()
                }],
            })),
            ..Default::default()
        }
    }

    fn sum_of(m: &Metric) -> &Sum {
        match &m.data {
            Some(Data::Sum(s)) => s,
            other => panic!("{}: not a sum: {other:?}", m.name),
        }
    }

    fn values(m: &Metric) -> Vec<Nv> {
        let pts = match &m.data {
            Some(Data::Sum(s)) => &s.data_points,
            Some(Data::Gauge(g)) => &g.data_points,
            other => panic!("{other:?}"),
        };
        pts.iter().map(|p| p.value.unwrap()).collect()
    }

    #[test]
    fn extract_sum_and_count_metric_readme_examples() {
        let out = run(
            vec![histogram(), summary()],
            // The created sums run through these statements too; the `where` keeps them from being
            // an error (a Sum is not a valid input).
            &[
                r#"extract_sum_metric(true, ".sum") where metric.type != METRIC_DATA_TYPE_SUM"#,
                r#"extract_count_metric(false, ".count") where metric.type != METRIC_DATA_TYPE_SUM"#,
            ],
        )
        .unwrap();
        let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["h", "s", "h.sum", "h.count", "s.sum", "s.count"]);
        // Histogram: only points with a sum; temporality, description, unit, attributes and times
        // copied.
        let hs = sum_of(&out[2]);
        assert_eq!((hs.aggregation_temporality, hs.is_monotonic), (1, true));
        assert_eq!(hs.data_points.len(), 1);
        assert_eq!(hs.data_points[0].value, Some(Nv::AsDouble(1.5)));
        assert_eq!(hs.data_points[0].attributes, attrs(&[("a", "x")]));
        assert_eq!(
            (
                hs.data_points[0].start_time_unix_nano,
                hs.data_points[0].time_unix_nano
            ),
            (5, 10)
        );
        assert_eq!(
            (out[2].description.as_str(), out[2].unit.as_str()),
            ("d", "ms")
        );
        assert_eq!(values(&out[3]), [Nv::AsInt(3), Nv::AsInt(4)]);
        assert!(!sum_of(&out[3]).is_monotonic);
        // Summary: cumulative.
        assert_eq!(sum_of(&out[4]).aggregation_temporality, 2);
        assert_eq!(values(&out[4]), [Nv::AsDouble(12.5)]);
        assert_eq!(values(&out[5]), [Nv::AsInt(7)]);
        // Default suffixes; a sum metric is an error (error_mode decides), as in otelcol.
        let out = run(
            vec![histogram()],
            &[r#"extract_sum_metric(false) where metric.name == "h""#],
        )
        .unwrap();
        assert_eq!(out[1].name, "h_sum");
        let e = run(
            vec![Metric {
                name: "c".into(),
                data: Some(Data::Sum(Sum::default())),
                ..Default::default()
            }],
            &["extract_count_metric(true)"],
        )
        .unwrap_err();
        assert!(
            e.contains("Histogram, ExponentialHistogram or Summary, got Sum"),
            "{e}"
        );
    }

    #[test]
    fn created_metrics_run_through_the_later_statements() {
        let out = run(
            vec![histogram()],
            &[
                r#"extract_sum_metric(true) where metric.name == "h""#,
                r#"set(metric.description, "from h") where metric.name == "h_sum""#,
            ],
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].description, "from h");
    }

    #[test]
    fn convert_summary_vals_to_sum_readme_examples() {
        let out = run(
            vec![summary(), histogram()],
            &[
                r#"convert_summary_count_val_to_sum("delta", true, ".count")"#,
                r#"convert_summary_sum_val_to_sum("cumulative", false, ".sum")"#,
            ],
        )
        .unwrap();
        let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
        // Only summaries; a histogram is left alone.
        assert_eq!(names, ["s", "h", "s.count", "s.sum"]);
        let c = sum_of(&out[2]);
        assert_eq!((c.aggregation_temporality, c.is_monotonic), (1, true));
        assert_eq!(values(&out[2]), [Nv::AsInt(7)]);
        let s = sum_of(&out[3]);
        assert_eq!((s.aggregation_temporality, s.is_monotonic), (2, false));
        assert_eq!(values(&out[3]), [Nv::AsDouble(12.5)]);
        let out = run(
            vec![summary()],
            &[r#"convert_summary_sum_val_to_sum("delta", true)"#],
        )
        .unwrap();
        assert_eq!(out[1].name, "s_sum");
    }

    fn gauge(name: &str, points: &[(&[(&str, &str)], Nv)]) -> Metric {
        Metric {
            name: name.into(),
            data: Some(Data::Gauge(Gauge {
                data_points: points
                    .iter()
                    .map(|(a, v)| NumberDataPoint {
                        attributes: attrs(a),
                        time_unix_nano: 10,
                        value: Some(*v),
                        ..Default::default()
                    })
                    .collect(),
            })),
            ..Default::default()
        }
    }

    #[test]
    fn aggregate_on_attributes_readme_examples() {
        let usage = || {
            gauge(
                "system.memory.usage",
                &[
                    (
                        &[("attr1", "a"), ("attr2", "b"), ("attr3", "x")],
                        Nv::AsInt(1),
                    ),
                    (
                        &[("attr2", "b"), ("attr1", "a"), ("attr3", "y")],
                        Nv::AsInt(5),
                    ),
                    (&[("attr1", "c"), ("attr3", "x")], Nv::AsInt(2)),
                ],
            )
        };
        let one = |st: &str| {
            let out = run(
                vec![
                    usage(),
                    gauge("other", &[(&[], Nv::AsInt(1)), (&[], Nv::AsInt(1))]),
                ],
                &[st],
            )
            .unwrap();
            assert_eq!(values(&out[1]).len(), 2, "{st}: other metrics untouched");
            out.into_iter().next().unwrap()
        };
        // Grouped on the listed keys (their order in the point does not matter).
        let m = one(
            r#"aggregate_on_attributes("sum", ["attr1", "attr2"]) where metric.name == "system.memory.usage""#,
        );
        assert_eq!(values(&m), [Nv::AsInt(6), Nv::AsInt(2)]);
        match &m.data {
            Some(Data::Gauge(g)) => {
                assert_eq!(
                    g.data_points[0].attributes,
                    attrs(&[("attr1", "a"), ("attr2", "b")])
                );
                assert_eq!(g.data_points[1].attributes, attrs(&[("attr1", "c")]));
            }
            other => panic!("{other:?}"),
        }
        // Omitted: the full attribute sets, which all differ here.
        let m = one(r#"aggregate_on_attributes("max") where metric.name == "system.memory.usage""#);
        assert_eq!(values(&m), [Nv::AsInt(1), Nv::AsInt(5), Nv::AsInt(2)]);
        // []: everything into one point.
        let m =
            one(r#"aggregate_on_attributes("max", []) where metric.name == "system.memory.usage""#);
        assert_eq!(values(&m), [Nv::AsInt(5)]);
        for (f, want) in [
            ("min", 1),
            ("mean", 2),
            ("median", 2),
            ("count", 3),
            ("sum", 8),
        ] {
            let m = one(&format!(
                r#"aggregate_on_attributes("{f}", []) where metric.name == "system.memory.usage""#
            ));
            assert_eq!(values(&m), [Nv::AsInt(want)], "{f}");
        }
        let doubles = gauge(
            "d",
            &[
                (&[], Nv::AsDouble(1.0)),
                (&[], Nv::AsDouble(2.0)),
                (&[], Nv::AsDouble(4.0)),
                (&[], Nv::AsDouble(10.0)),
            ],
        );
        let out = run(vec![doubles], &[r#"aggregate_on_attributes("median", [])"#]).unwrap();
        assert_eq!(values(&out[0]), [Nv::AsDouble(3.0)]);
        // Histograms merge by summing counts, buckets and sums; summaries are an error.
        let out = run(
            vec![histogram()],
            &[r#"aggregate_on_attributes("sum", [])"#],
        )
        .unwrap();
        match &out[0].data {
            Some(Data::Histogram(h)) => {
                assert_eq!(h.data_points.len(), 1);
                let p = &h.data_points[0];
                assert_eq!(
                    (p.count, p.sum, p.bucket_counts.clone()),
                    (7, Some(1.5), vec![7, 0])
                );
            }
            other => panic!("{other:?}"),
        }
        let e = run(vec![summary()], &[r#"aggregate_on_attributes("sum")"#]).unwrap_err();
        assert!(e.contains("Summary"), "{e}");
    }
}

/// Found by the `ottl_parse` fuzz target: `-9E5050` parsed as -Inf, which prints as text that does not
/// parse. A float literal beyond f64's range is an error, as Go's `strconv.ParseFloat` makes it.
#[test]
fn float_literals_beyond_f64_are_refused() {
    for text in ["-9E5050", "9e400", "attributes[\"x\"] > 1e999"] {
        let e = crate::ottl::parse_condition(text).expect_err(text);
        assert!(e.to_string().contains("out of range"), "{text}: {e}");
    }
    assert!(crate::ottl::parse_condition("attributes[\"x\"] > 1.5e300").is_ok());
}
