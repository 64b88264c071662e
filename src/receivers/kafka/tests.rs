use super::*;

fn parse(yaml: &str) -> Config {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    crate::config::parse(&v, "receivers::kafka").unwrap()
}

fn prepare(yaml: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
    let v: Value = serde_yaml::from_str(yaml).unwrap();
    Factory.prepare(&v, "receivers::kafka")
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
    assert_eq!(c.group_id, "otel-collector");
    assert_eq!(c.initial_offset, "latest");
    assert_eq!(c.topics_for(SignalKind::Traces), ["otlp_spans"]);
    assert_eq!(c.topics_for(SignalKind::Metrics), ["otlp_metrics"]);
    assert_eq!(c.topics_for(SignalKind::Logs), ["otlp_logs"]);
    assert!(!c.message_marking.after);
    assert!(!c.on_permanent_error());
    assert!(c.autocommit.enable);
    assert_eq!(c.session_timeout, Duration::from_secs(10));
    assert_eq!(c.heartbeat_interval, Duration::from_secs(3));
    let p = c.consumer_config();
    assert_eq!(p.get("enable.auto.offset.store"), Some("false"));
    assert_eq!(p.get("auto.offset.reset"), Some("latest"));
    assert_eq!(p.get("group.id"), Some("otel-collector"));
}

#[test]
fn on_permanent_error_defaults_to_on_error() {
    assert!(parse("{message_marking: {on_error: true}}").on_permanent_error());
    assert!(
        !parse("{message_marking: {on_error: true, on_permanent_error: false}}")
            .on_permanent_error()
    );
    assert!(parse("{message_marking: {on_permanent_error: true}}").on_permanent_error());
}

#[test]
fn topics_regex_and_deprecated_topic() {
    let c = parse("{traces: {topics: ['^otlp_.*_spans$', other]}, logs: {topic: old}, topic: all}");
    assert_eq!(
        c.topics_for(SignalKind::Traces),
        ["^otlp_.*_spans$", "other"]
    );
    assert_eq!(c.topics_for(SignalKind::Logs), ["old"]);
    assert_eq!(c.topics_for(SignalKind::Metrics), ["all"]);
    let w = prepare("{logs: {topic: old}, traces: {topics: ['^a'], exclude_topics: ['^ab']}}")
        .unwrap()
        .warnings();
    assert!(
        w.iter()
            .any(|w| w.starts_with("receivers::kafka::logs::topic:")),
        "{w:?}"
    );
    assert!(!w.iter().any(|w| w.contains("exclude_topics")), "{w:?}");
}

/// otelcol: `exclude_topics` only with a regular expression in `topics`; its entries are
/// regular expressions matched unanchored.
#[test]
fn exclude_topics_needs_a_regex_topic_and_valid_expressions() {
    let e = errors("{traces: {topics: [plain], exclude_topics: ['^p']}}");
    assert!(
        e.iter()
            .any(|e| e.contains("receivers::kafka::traces::exclude_topics")),
        "{e:?}"
    );
    let e = errors("{logs: {topics: ['^l'], exclude_topics: [ok, '(']}}");
    assert!(
        e.iter()
            .any(|e| e.contains("receivers::kafka::logs::exclude_topics::1")),
        "{e:?}"
    );
    assert!(
        errors("{metrics: {topics: ['^m-.*', other], exclude_topics: ['^m-test$']}}").is_empty()
    );
    assert!(parse("{}").topic_filter(SignalKind::Traces).is_none());
}

#[test]
fn topic_filter_selects_regex_and_plain_topics_minus_the_excluded() {
    let c = parse(
        "{logs: {topics: ['^logs-.*', audit], exclude_topics: ['^logs-(test|dev)$', internal]}}",
    );
    let f = c.topic_filter(SignalKind::Logs).unwrap();
    let got = f.select([
        "logs-prod",
        "logs-test",
        "logs-dev",
        "logs-devops",
        "logs-internal-x",
        "audit",
        "audit2",
        "other",
        "__consumer_offsets",
    ]);
    let want: BTreeSet<String> = ["audit", "logs-devops", "logs-prod"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn bad_values_name_their_keys() {
    let e = errors("{initial_offset: middle, group_rebalance_strategy: fair, traces: {topics: ['^(']}, metrics: {encoding: raw}}");
    for key in [
        "initial_offset",
        "group_rebalance_strategy",
        "traces::topics::0",
        "metrics::encoding",
    ] {
        assert!(
            e.iter()
                .any(|e| e.contains(&format!("receivers::kafka::{key}"))),
            "{key}: {e:?}"
        );
    }
    let e = errors("{traces: {topic: a, topics: [b]}}");
    assert!(e.iter().any(|e| e.contains("traces::topic")), "{e:?}");
    let e = errors("{heartbeat_interval: 20s}");
    assert!(e.iter().any(|e| e.contains("heartbeat_interval")), "{e:?}");
    let e = errors("{message_marking: {afterwards: true}}");
    assert!(e.iter().any(|e| e.contains("afterwards")), "{e:?}");
}

#[test]
fn backoff_never_spins_and_never_overflows() {
    let off = ErrorBackoff::default();
    assert_eq!(backoff(&off, 0), MIN_BACKOFF);
    let on = ErrorBackoff {
        enabled: true,
        initial_interval: Duration::from_millis(10),
        randomization_factor: 0.0,
        multiplier: 2.0,
        max_interval: Duration::from_secs(30),
        max_elapsed_time: Duration::ZERO,
    };
    assert_eq!(backoff(&on, 0), MIN_BACKOFF);
    assert_eq!(backoff(&on, 10), Duration::from_secs_f64(10.24));
    assert_eq!(backoff(&on, u32::MAX), Duration::from_secs(30));
}

#[tokio::test]
async fn headers_become_resource_attributes() {
    let mut b = Batch::<Traces>::from_resources(vec![Default::default()]);
    add_headers(&mut b, &[("tenant".into(), "a".into())]).unwrap();
    let r = &b.resources().unwrap()[0];
    let attrs = &r.resource.as_ref().unwrap().attributes;
    assert_eq!(attrs[0].key, "kafka.header.tenant");
}
