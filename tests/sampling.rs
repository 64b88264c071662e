//! Two tiers on loopback: two agents with the `loadbalancing` exporter (static resolver) in front of
//! three gateways with `tail_sampling`, all gateways exporting to one recording sink. Each gateway
//! stamps its resources with `gateway: gN`, so the sink knows where every span went.

use crate::common;
use crate::ops;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::trace::v1::{
    status::StatusCode, ResourceSpans, ScopeSpans, Span, Status,
};

fn telemetry(m: u16) -> String {
    format!("  telemetry: {{metrics: {{readers: [{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {m}}}}}}}}}]}}}}\n")
}

fn gateway_yaml(port: u16, m: u16, name: &str, sink: &Sink, policies: &str) -> String {
    format!(
        r#"
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}"}}}}}}
processors:
  tail_sampling:
    decision_wait: 1s
    decision_cache: {{sampled_cache_size: 10000, non_sampled_cache_size: 10000}}
    policies: {policies}
  resource:
    attributes: [{{key: gateway, value: {name}, action: upsert}}]
exporters:
  otlp:
    endpoint: {}
    tls: {{insecure: true}}
service:
{}  pipelines:
    traces: {{receivers: [otlp], processors: [tail_sampling, resource], exporters: [otlp]}}
"#,
        sink.grpc_endpoint(),
        telemetry(m)
    )
}

fn agent_yaml(port: u16, m: u16, gateways: &[u16]) -> String {
    let hosts: Vec<String> = gateways.iter().map(|g| format!("127.0.0.1:{g}")).collect();
    format!(
        r#"
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}"}}}}}}
exporters:
  loadbalancing:
    protocol: {{otlp: {{tls: {{insecure: true}}, timeout: 2s}}}}
    resolver: {{static: {{hostnames: [{}]}}}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0}}
service:
{}  pipelines:
    traces: {{receivers: [otlp], exporters: [loadbalancing]}}
"#,
        hosts.join(", "),
        telemetry(m)
    )
}

fn trace_id(t: u32) -> Vec<u8> {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&t.wrapping_mul(2654435761).to_be_bytes());
    id[12..].copy_from_slice(&t.to_be_bytes());
    id.to_vec()
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn span(t: u32, seq: u32, error: bool) -> Span {
    Span {
        trace_id: trace_id(t),
        span_id: (t * 8 + seq).to_be_bytes().repeat(2),
        name: format!("t{t}-s{seq}"),
        status: error.then(|| Status {
            code: StatusCode::Error as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Per trace: span names received and the gateways they came through.
fn by_trace(sink: &Sink) -> BTreeMap<u32, (Vec<String>, BTreeSet<String>)> {
    let st = sink.state.lock().unwrap();
    let mut m: BTreeMap<u32, (Vec<String>, BTreeSet<String>)> = BTreeMap::new();
    for rs in &st.traces {
        let gw = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "gateway"))
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                V::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for s in rs.scope_spans.iter().flat_map(|s| &s.spans) {
            let t = s.name[1..s.name.find('-').unwrap()].parse().unwrap();
            let e = m.entry(t).or_default();
            e.0.push(s.name.clone());
            e.1.insert(gw.clone());
        }
    }
    m
}

struct Tiers {
    _gateways: Vec<Ferrotel>,
    agents: Vec<Ferrotel>,
    agent_ports: Vec<u16>,
    gateway_metrics: Vec<u16>,
    agent_metrics: Vec<u16>,
}

fn start(sink: &Sink, policies: &str) -> Tiers {
    let gports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let gateway_metrics: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let gateways = gports
        .iter()
        .zip(&gateway_metrics)
        .enumerate()
        .map(|(i, (p, m))| {
            Ferrotel::start(
                &gateway_yaml(*p, *m, &format!("g{i}"), sink, policies),
                &[*p, *m],
            )
        })
        .collect();
    let agent_ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let agent_metrics: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let agents = agent_ports
        .iter()
        .zip(&agent_metrics)
        .map(|(p, m)| Ferrotel::start(&agent_yaml(*p, *m, &gports), &[*p, *m]))
        .collect();
    Tiers {
        _gateways: gateways,
        agents,
        agent_ports,
        gateway_metrics,
        agent_metrics,
    }
}

/// Sends `n` traces of 3 spans: spans 0 and 2 through agent 0, span 1 through agent 1; the traces
/// with `error(t)` have span 1 in error. Returns when every request was acknowledged.
fn send(rt: &tokio::runtime::Runtime, tiers: &Tiers, n: u32, error: impl Fn(u32) -> bool) {
    rt.block_on(async {
        let mut a =
            TraceServiceClient::connect(format!("http://127.0.0.1:{}", tiers.agent_ports[0]))
                .await
                .unwrap();
        let mut b =
            TraceServiceClient::connect(format!("http://127.0.0.1:{}", tiers.agent_ports[1]))
                .await
                .unwrap();
        for chunk in (0..n).collect::<Vec<_>>().chunks(50) {
            let first: Vec<Span> = chunk
                .iter()
                .flat_map(|t| [span(*t, 0, false), span(*t, 2, false)])
                .collect();
            let second: Vec<Span> = chunk.iter().map(|t| span(*t, 1, error(*t))).collect();
            a.export(request(first)).await.unwrap();
            b.export(request(second)).await.unwrap();
        }
    });
}

#[test]
fn traces_split_over_two_agents_land_whole_on_one_gateway() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let tiers = start(&sink, "[{name: all, type: always_sample}]");
    send(&rt, &tiers, 300, |_| false);
    let done = wait_until(Duration::from_secs(30), || sink.span_count() >= 900);
    assert!(
        done,
        "got {} of 900 spans:\n{}",
        sink.span_count(),
        tiers.agents[0].logs()
    );
    let m = by_trace(&sink);
    assert_eq!(m.len(), 300);
    let mut used = BTreeSet::new();
    for (t, (names, gws)) in &m {
        assert_eq!(names.len(), 3, "trace {t}: {names:?}");
        assert_eq!(gws.len(), 1, "trace {t} went through {gws:?}");
        used.extend(gws.iter().cloned());
    }
    assert_eq!(used.len(), 3, "every gateway takes a share");
}

#[test]
fn error_policy_with_probabilistic_zero_keeps_exactly_the_error_traces_whole() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let tiers = start(
        &sink,
        "[{name: errors, type: status_code, status_code: {status_codes: [ERROR]}}, {name: rest, type: probabilistic, probabilistic: {sampling_percentage: 0}}]",
    );
    let error = |t: u32| t % 7 == 3;
    send(&rt, &tiers, 300, error);
    let want: BTreeSet<u32> = (0..300).filter(|t| error(*t)).collect();
    let done = wait_until(Duration::from_secs(30), || {
        sink.span_count() >= want.len() * 3
    });
    assert!(done, "got {} spans", sink.span_count());
    // Let the other traces' decisions pass too, then check nothing else arrived.
    std::thread::sleep(Duration::from_secs(2));
    let m = by_trace(&sink);
    assert_eq!(m.keys().copied().collect::<BTreeSet<_>>(), want);
    for (t, (names, gws)) in &m {
        assert_eq!(names.len(), 3, "trace {t} whole: {names:?}");
        assert_eq!(gws.len(), 1);
    }

    // Counters, exact: every trace is decided once, on one gateway, by both policies
    // (sample_on_first_match is off); summed over the three gateways.
    let sum = |ports: &[u16], name: &str, labels: &[(&str, &str)]| -> f64 {
        ports
            .iter()
            .map(|p| ops::value(&ops::scrape(*p), name, labels))
            .sum()
    };
    let g = &tiers.gateway_metrics;
    let traces = "otelcol_processor_tail_sampling_count_traces_sampled_total";
    let spans = "otelcol_processor_tail_sampling_count_spans_sampled_total";
    let errors = want.len() as f64;
    let p =
        |policy: &'static str, sampled: &'static str| [("policy", policy), ("sampled", sampled)];
    assert_eq!(sum(g, traces, &p("errors", "true")), errors);
    assert_eq!(sum(g, traces, &p("errors", "false")), 300.0 - errors);
    assert_eq!(sum(g, spans, &p("errors", "true")), errors * 3.0);
    assert_eq!(sum(g, traces, &p("rest", "false")), 300.0);
    assert_eq!(sum(g, traces, &p("rest", "true")), 0.0);
    let global = "otelcol_processor_tail_sampling_global_count_traces_sampled_total";
    assert_eq!(sum(g, global, &[("sampled", "true")]), errors);
    assert_eq!(sum(g, global, &[("sampled", "false")]), 300.0 - errors);
    // The agents: three backends each, every span sent by some backend exporter, no failure.
    let a = &tiers.agent_metrics;
    for port in a {
        let text = ops::scrape(*port);
        assert_eq!(
            ops::value(&text, "otelcol_loadbalancer_num_backends", &[]),
            3.0,
            "{text}"
        );
        assert!(
            ops::value(
                &text,
                "otelcol_loadbalancer_num_resolutions_total",
                &[("resolver", "static"), ("success", "true")]
            ) >= 1.0
        );
        assert_eq!(
            ops::value(
                &text,
                "otelcol_loadbalancer_backend_outcome_total",
                &[("success", "false")]
            ),
            0.0
        );
    }
    // The loadbalancing exporter's own count (its backend exporters count the same spans again
    // under their own ids).
    assert_eq!(
        sum(
            a,
            "otelcol_exporter_sent_spans_total",
            &[("exporter", "loadbalancing")]
        ),
        900.0
    );
    assert!(
        sum(
            a,
            "otelcol_loadbalancer_backend_outcome_total",
            &[("success", "true")]
        ) >= 3.0
    );
}

/// `num_traces` bounds what is held: with room for 10 pending traces, 50 new ones evict the 40
/// oldest undecided, counted exactly (otelcol's `…_sampling_trace_dropped_too_early`, ferrotel's
/// evicted spans by reason); the 10 still held are decided at shutdown and delivered.
#[test]
fn num_traces_evicts_the_oldest_and_counts_them() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (port, m) = (free_port(), free_port());
    let yaml = gateway_yaml(port, m, "g0", &sink, "[{name: all, type: always_sample}]").replace(
        "decision_wait: 1s",
        "decision_wait: 60s\n    num_traces: 10",
    );
    let g = Ferrotel::start(&yaml, &[port, m]);
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        for t in 0..50 {
            c.export(request(vec![span(t, 0, false), span(t, 1, false)]))
                .await
                .unwrap();
        }
    });
    let text = ops::scrape(m);
    let by = [("processor", "tail_sampling")];
    assert_eq!(
        ops::value(
            &text,
            "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total",
            &by
        ),
        40.0,
        "{text}"
    );
    assert_eq!(
        ops::value(
            &text,
            "ferrotel_processor_tail_sampling_evicted_spans_total",
            &[("processor", "tail_sampling"), ("reason", "num_traces")]
        ),
        80.0
    );
    assert_eq!(sink.span_count(), 0, "nothing decided within decision_wait");
    assert!(g.stop(Duration::from_secs(20)).success());
    let m = by_trace(&sink);
    assert_eq!(
        m.keys().copied().collect::<Vec<_>>(),
        (40..50).collect::<Vec<_>>()
    );
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The issue's memory case: one million traces in flight with `num_traces: 100000`. The processor
/// holds at most 100,000 pending traces (its own gauge says so), evicts and counts the other
/// 900,000, keeps the peak RSS far below what holding them all would take, and at shutdown decides
/// and delivers exactly the 100,000 newest, whole.
#[test]
fn one_million_traces_in_flight_stay_within_num_traces() {
    const TRACES: u32 = 1_000_000;
    const HELD: u32 = 100_000;
    const PER_REQUEST: u32 = 2_000;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let (port, m) = (free_port(), free_port());
    let yaml = gateway_yaml(port, m, "g0", &sink, "[{name: all, type: always_sample}]").replace(
        "decision_wait: 1s",
        &format!("decision_wait: 300s\n    num_traces: {HELD}"),
    );
    let g = Ferrotel::start(&yaml, &[port, m]);
    let pid = g.child.id();
    let baseline_kib = status_kib(pid, "VmRSS:");
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        for first in (0..TRACES).step_by(PER_REQUEST as usize) {
            let spans = (first..first + PER_REQUEST)
                .map(|t| span(t, 0, false))
                .collect();
            c.export(request(spans)).await.unwrap();
        }
    });
    let peak_kib = status_kib(pid, "VmHWM:");
    let text = ops::scrape(m);
    let by = [("processor", "tail_sampling")];
    let on_memory = ops::value(
        &text,
        "otelcol_processor_tail_sampling_sampling_traces_on_memory",
        &by,
    );
    let dropped = ops::value(
        &text,
        "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total",
        &by,
    );
    eprintln!(
        "1M traces, num_traces {HELD}: {on_memory} held, {dropped} evicted; RSS {} MiB before, peak {} MiB",
        baseline_kib / 1024,
        peak_kib / 1024
    );
    assert_eq!(on_memory, HELD as f64, "{text}");
    assert_eq!(dropped, (TRACES - HELD) as f64, "{text}");
    // Holding every trace would take well over 1M × the ~100 bytes each span is encoded in; the
    // bound holds the peak to what 100,000 traces (and the requests in flight) need.
    let grown_mib = peak_kib.saturating_sub(baseline_kib) / 1024;
    assert!(
        grown_mib < 100,
        "peak RSS grew by {grown_mib} MiB for {HELD} held traces"
    );
    assert_eq!(sink.span_count(), 0, "nothing decided within decision_wait");
    let mut g = g;
    g.signal("TERM");
    assert!(wait_until(Duration::from_secs(60), || g
        .child
        .try_wait()
        .unwrap()
        .is_some()));
    let kept = by_trace(&sink);
    assert_eq!(kept.len(), HELD as usize, "{}", g.logs());
    assert_eq!(kept.keys().next(), Some(&(TRACES - HELD)));
    assert_eq!(kept.keys().last(), Some(&(TRACES - 1)));
}
