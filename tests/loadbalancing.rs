//! The `loadbalancing` exporter under topology changes, against the real binary on loopback: an
//! agent in front of pass-through gateways (no queue, so a gateway acknowledges only what the sink
//! took), each stamping `gateway: <port>` on what it forwards to one recording sink.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{free_port, wait_until, Ferrotel, Sink};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

fn gateway_yaml(port: u16, sink: &Sink) -> String {
    gateway_yaml_at(&format!("127.0.0.1:{port}"), &format!("g{port}"), sink)
}

/// A gateway listening on `addr`, stamping `gateway: <tag>`.
fn gateway_yaml_at(addr: &str, tag: &str, sink: &Sink) -> String {
    format!(
        r#"
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "{addr}"}}}}}}
processors:
  resource:
    attributes: [{{key: gateway, value: "{tag}", action: upsert}}]
exporters:
  otlp:
    endpoint: {}
    tls: {{insecure: true}}
    sending_queue: {{enabled: false}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [resource], exporters: [otlp]}}
"#,
        sink.grpc_endpoint()
    )
}

fn agent_yaml(port: u16, gateways: &[u16]) -> String {
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
    sending_queue: {{queue_size: 100000}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [loadbalancing]}}
"#,
        hosts.join(", ")
    )
}

fn trace_id(t: u64) -> Vec<u8> {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&t.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    id[8..].copy_from_slice(&t.to_be_bytes());
    id.to_vec()
}

fn request(names: &[(u64, String)]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: names
                    .iter()
                    .map(|(t, n)| Span {
                        trace_id: trace_id(*t),
                        span_id: vec![1; 8],
                        name: n.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Span name → gateways it arrived through.
fn arrivals(sink: &Sink) -> BTreeMap<String, BTreeSet<String>> {
    let st = sink.state.lock().unwrap();
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
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
            m.entry(s.name.clone()).or_default().insert(gw.clone());
        }
    }
    m
}

/// Sends batches of fresh spans (`load-<n>`) until stopped, each retried until acknowledged;
/// returns the acknowledged names.
fn load(
    rt: &tokio::runtime::Runtime,
    port: u16,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<String>> {
    let handle = rt.handle().clone();
    std::thread::spawn(move || {
        handle.block_on(async move {
            let mut acked = Vec::new();
            let mut next = 1_000_000u64;
            let mut client = None;
            while !stop.load(Ordering::SeqCst) {
                let batch: Vec<(u64, String)> = (next..next + 20)
                    .map(|t| (t, format!("load-{t}")))
                    .collect();
                next += 20;
                loop {
                    if client.is_none() {
                        client = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
                            .await
                            .ok();
                    }
                    if let Some(c) = client.as_mut() {
                        if c.export(request(&batch)).await.is_ok() {
                            break;
                        }
                        client = None;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acked.extend(batch.into_iter().map(|(_, n)| n));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            acked
        })
    })
}

/// Sends probe spans `<phase>-<t>` for trace ids 0..n through the agent.
fn probe(rt: &tokio::runtime::Runtime, port: u16, phase: &str, n: u64) {
    rt.block_on(async {
        let mut c = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
            let names: Vec<(u64, String)> =
                chunk.iter().map(|t| (*t, format!("{phase}-{t}"))).collect();
            c.export(request(&names)).await.unwrap();
        }
    });
}

fn owners(m: &BTreeMap<String, BTreeSet<String>>, phase: &str, n: u64) -> Vec<String> {
    (0..n)
        .map(|t| {
            let g = &m[&format!("{phase}-{t}")];
            assert_eq!(g.len(), 1);
            g.iter().next().unwrap().clone()
        })
        .collect()
}

#[test]
fn resize_3_4_3_by_reload_moves_one_in_n_and_loses_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let gports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let _gateways: Vec<Ferrotel> = gports
        .iter()
        .map(|p| Ferrotel::start(&gateway_yaml(*p, &sink), &[*p]))
        .collect();
    let ap = free_port();
    let agent = Ferrotel::start(&agent_yaml(ap, &gports[..3]), &[ap]);
    let cfg = agent.dir.path().join("config.yaml");
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(&rt, ap, stop.clone());
    const N: u64 = 3000;
    // A reload is done when the new exporter has applied its backend list (it logs it) and the
    // receiver accepts again.
    let reload = |gws: &[u16], marker: &str| {
        let applied = |logs: &str| logs.matches("backend list changed").count();
        let before = applied(&agent.logs());
        std::fs::write(&cfg, agent_yaml(ap, gws)).unwrap();
        agent.signal("HUP");
        assert!(
            wait_until(Duration::from_secs(20), || {
                applied(&agent.logs()) > before
                    && std::net::TcpStream::connect(("127.0.0.1", ap)).is_ok()
            }),
            "{marker}: {}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    probe(&rt, ap, "p3", N);
    reload(&gports, "to 4");
    probe(&rt, ap, "p4", N);
    reload(&gports[..3], "back to 3");
    probe(&rt, ap, "q3", N);
    stop.store(true, Ordering::SeqCst);
    let acked = loader.join().unwrap();
    assert_resized(&sink, &acked, N, &format!("g{}", gports[3]));
}

/// After probes `p3` (3 gateways), `p4` (a 4th, `new_gw`, added) and `q3` (back to 3) of `n` trace
/// ids each, under a load that acknowledged `acked`: nothing acknowledged is lost, each probe span
/// reached one gateway, about 1/4 of the trace ids moved, all to the new gateway, and back at 3 the
/// mapping is the first one again.
fn assert_resized(sink: &Sink, acked: &[String], n: u64, new_gw: &str) {
    let total = acked.len() + 3 * n as usize;
    let all_in = wait_until(Duration::from_secs(30), || arrivals(sink).len() >= total);
    let m = arrivals(sink);
    let missing: Vec<&String> = acked.iter().filter(|a| !m.contains_key(*a)).collect();
    assert!(
        all_in && missing.is_empty(),
        "{} acknowledged spans lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let (a, b, c) = (
        owners(&m, "p3", n),
        owners(&m, "p4", n),
        owners(&m, "q3", n),
    );
    let moved = a.iter().zip(&b).filter(|(x, y)| x != y).count() as f64 / n as f64;
    assert!(
        a.iter().zip(&b).all(|(x, y)| x == y || y == new_gw),
        "keys move only to the new gateway"
    );
    println!("3→4: {:.1}% of trace ids moved (ideal 25%)", moved * 100.0);
    assert!(moved > 0.25 / 1.5 && moved < 0.25 * 1.5, "moved {moved}");
    assert_eq!(a, c, "back to the same 3 gateways: the same mapping");
    assert!(acked.len() > 100, "the load ran ({} spans)", acked.len());
}

/// A DNS server on 127.0.0.1 for the `dns` resolver's `nameserver` key: answers every A query with
/// the current address list (and AAAA queries with none).
struct DnsServer {
    addr: std::net::SocketAddr,
    ips: Arc<std::sync::Mutex<Vec<Ipv4Addr>>>,
}

impl DnsServer {
    async fn start(ips: &[Ipv4Addr]) -> DnsServer {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let list = Arc::new(std::sync::Mutex::new(ips.to_vec()));
        let l = list.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let q = &buf[..n];
                // Header (12 bytes), one question: the name, type, class.
                let mut end = 12;
                while end < n && q[end] != 0 {
                    end += 1 + q[end] as usize;
                }
                let qend = end + 5;
                if qend > n {
                    continue;
                }
                let qtype = u16::from_be_bytes([q[end + 1], q[end + 2]]);
                let ips: Vec<Ipv4Addr> = if qtype == 1 {
                    l.lock().unwrap().clone()
                } else {
                    Vec::new()
                };
                let mut a = q[..qend].to_vec();
                a[2] = 0x81;
                a[3] = 0x80;
                a[6..8].copy_from_slice(&(ips.len() as u16).to_be_bytes());
                a[8..12].fill(0);
                for ip in ips {
                    a.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
                    a.extend_from_slice(&ip.octets());
                }
                let _ = sock.send_to(&a, from).await;
            }
        });
        DnsServer { addr, ips: list }
    }

    fn set(&self, ips: &[Ipv4Addr]) {
        *self.ips.lock().unwrap() = ips.to_vec();
    }
}

/// The `dns` resolver: the name's address list goes 3 → 4 → 3 gateways (127.0.0.2-5, one port)
/// under load, served by a DNS server in the test through the ferrotel-only `nameserver` key. The
/// same properties as the reload resize: nothing acknowledged lost, ~1/4 of the trace ids move, all
/// to the new gateway, and trace ids stay on one gateway between changes.
#[test]
fn dns_resize_3_4_3_moves_one_in_n_and_loses_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let port = free_port();
    let ips: Vec<Ipv4Addr> = (2..6).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let _gateways: Vec<Ferrotel> = ips
        .iter()
        .map(|ip| {
            let g = Ferrotel::start(
                &gateway_yaml_at(&format!("{ip}:{port}"), &format!("g{ip}"), &sink),
                &[],
            );
            assert!(
                wait_until(Duration::from_secs(20), || std::net::TcpStream::connect((
                    *ip, port
                ))
                .is_ok()),
                "gateway {ip}:{port}:\n{}",
                g.logs()
            );
            g
        })
        .collect();
    let dns = rt.block_on(DnsServer::start(&ips[..3]));
    let ap = free_port();
    let agent = Ferrotel::start(
        &format!(
            r#"
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{ap}"}}}}}}
exporters:
  loadbalancing:
    protocol: {{otlp: {{tls: {{insecure: true}}, timeout: 2s}}}}
    resolver: {{dns: {{hostname: gateways.test, port: "{port}", interval: 100ms, timeout: 1s, nameserver: "{}"}}}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0}}
    sending_queue: {{queue_size: 100000}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [loadbalancing]}}
"#,
            dns.addr
        ),
        &[ap],
    );
    let applied = || agent.logs().matches("backend list changed").count();
    assert!(
        wait_until(Duration::from_secs(20), || applied() >= 1),
        "{}",
        agent.logs()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(&rt, ap, stop.clone());
    let resize = |to: &[Ipv4Addr], marker: &str| {
        let before = applied();
        dns.set(to);
        assert!(
            wait_until(Duration::from_secs(20), || applied() > before),
            "{marker}: {}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    const N: u64 = 3000;
    probe(&rt, ap, "p3", N);
    resize(&ips, "to 4");
    probe(&rt, ap, "p4", N);
    resize(&ips[..3], "back to 3");
    probe(&rt, ap, "q3", N);
    stop.store(true, Ordering::SeqCst);
    let acked = loader.join().unwrap();
    assert_eq!(applied(), 3, "exactly the two changes were applied");
    assert_resized(&sink, &acked, N, &format!("g{}", ips[3]));
}

#[test]
fn killing_a_gateway_under_load_and_restarting_it_loses_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sink = Sink::start(&rt);
    let gports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut gateways: Vec<Option<Ferrotel>> = gports
        .iter()
        .map(|p| Some(Ferrotel::start(&gateway_yaml(*p, &sink), &[*p])))
        .collect();
    let ap = free_port();
    let agent = Ferrotel::start(&agent_yaml(ap, &gports), &[ap]);
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(&rt, ap, stop.clone());
    std::thread::sleep(Duration::from_secs(1));
    if let Some(g) = gateways[1].take() {
        g.kill();
    }
    std::thread::sleep(Duration::from_secs(2));
    gateways[1] = Some(Ferrotel::start(
        &gateway_yaml(gports[1], &sink),
        &[gports[1]],
    ));
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    let acked = loader.join().unwrap();
    let ok = wait_until(Duration::from_secs(30), || {
        let m = arrivals(&sink);
        acked.iter().all(|n| m.contains_key(n))
    });
    let m = arrivals(&sink);
    let missing = acked.iter().filter(|n| !m.contains_key(*n)).count();
    assert!(
        ok,
        "{missing} of {} acknowledged spans lost:\n{}",
        acked.len(),
        agent.logs()
    );
    let through_killed = m
        .values()
        .filter(|g| g.contains(&format!("g{}", gports[1])))
        .count();
    assert!(
        through_killed > 0,
        "the restarted gateway took its share again"
    );
}

/// An agent whose backends are recording sinks directly (each behind a proxy that counts its TCP
/// connections). One queue consumer, so batches leave in the order they came.
fn direct_agent_yaml(port: u16, backends: &[String]) -> String {
    format!(
        r#"
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{port}"}}}}}}
exporters:
  loadbalancing:
    protocol: {{otlp: {{tls: {{insecure: true}}, timeout: 2s}}}}
    resolver: {{static: {{hostnames: [{}]}}}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0}}
    sending_queue: {{queue_size: 100000, num_consumers: 1}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [loadbalancing]}}
"#,
        backends.join(", ")
    )
}

/// Trace ids the steady load cycles through: each gets many spans over the run.
const TRACE_IDS: u64 = 60;

/// Sequence number → the backends (sink indexes) it arrived at, over all `sinks`.
fn arrivals_by_seq(sinks: &[Sink]) -> BTreeMap<u64, Vec<usize>> {
    let mut m: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, s) in sinks.iter().enumerate() {
        for name in s.span_names() {
            if let Some(seq) = name.strip_prefix('l').and_then(|n| n.parse::<u64>().ok()) {
                m.entry(seq).or_default().push(i);
            }
        }
    }
    m
}

/// The in-place change of `resolver.static.hostnames` on reload, under steady load: two backends
/// become two others (one kept, one removed, one added). Nothing acknowledged is lost; every trace id
/// goes to one backend before the reload and to one backend after it (a trace id the kept backend
/// owned stays there or moves to the new one, as consistent hashing promises); the removed backend gets
/// nothing sent after the reload and the new one gets traffic; and the kept backend's exporter is the
/// same instance — its one TCP connection is never replaced.
#[test]
fn static_hostname_change_on_reload_is_applied_in_place_under_load() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sinks: Vec<Sink> = (0..3).map(|_| Sink::start(&rt)).collect();
    let proxies: Vec<common::proxy::FaultProxy> = sinks
        .iter()
        .map(|s| rt.block_on(common::proxy::FaultProxy::start(s.grpc_addr, 0)))
        .collect();
    let eps: Vec<String> = proxies.iter().map(|p| p.addr.to_string()).collect();
    let (removed, kept, added) = (0, 1, 2);
    let ap = free_port();
    let agent = Ferrotel::start(
        &direct_agent_yaml(ap, &[eps[removed].clone(), eps[kept].clone()]),
        &[ap],
    );
    let cfg = agent.dir.path().join("config.yaml");

    // One request at a time, 20 spans `l<seq>` on trace ids seq % TRACE_IDS, retried until
    // acknowledged; `acked`: every span below it is acknowledged.
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let retried = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let (acked, retried, stop) = (acked.clone(), retried.clone(), stop.clone());
        let handle = rt.handle().clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let mut client = None;
                let mut next = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let batch: Vec<(u64, String)> = (next..next + 20)
                        .map(|s| (s % TRACE_IDS, format!("l{s}")))
                        .collect();
                    loop {
                        if client.is_none() {
                            client = TraceServiceClient::connect(format!("http://127.0.0.1:{ap}"))
                                .await
                                .ok();
                        }
                        if let Some(c) = client.as_mut() {
                            if c.export(request(&batch)).await.is_ok() {
                                break;
                            }
                            client = None;
                        }
                        retried.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    next += 20;
                    acked.store(next, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
    };
    let received = |i: usize| sinks[i].span_count();
    assert!(
        wait_until(Duration::from_secs(20), || received(removed) > 0
            && received(kept) > 0
            && acked.load(Ordering::SeqCst) >= 2000),
        "both first backends take traffic:\n{}",
        agent.logs()
    );

    let applied = |logs: &str| logs.matches("backend list changed").count();
    // Acknowledged is not yet routed (the exporter queues first): the spans counted as "before the
    // reload" are those that reached a backend before it.
    let before_reload = acked.load(Ordering::SeqCst);
    assert!(wait_until(Duration::from_secs(20), || {
        let m = arrivals_by_seq(&sinks);
        (0..before_reload).all(|s| m.contains_key(&s))
    }));
    let before = applied(&agent.logs());
    std::fs::write(
        &cfg,
        direct_agent_yaml(ap, &[eps[kept].clone(), eps[added].clone()]),
    )
    .unwrap();
    agent.signal("HUP");
    assert!(
        wait_until(Duration::from_secs(20), || applied(&agent.logs()) > before
            && agent.logs().contains("configuration reloaded")),
        "{}",
        agent.logs()
    );
    // The request in flight when the new list was applied may have gone either way.
    let after_reload = acked.load(Ordering::SeqCst) + 20;
    assert!(
        wait_until(Duration::from_secs(20), || {
            let m = arrivals_by_seq(&sinks);
            m.range(after_reload..)
                .filter(|(_, at)| at.contains(&added))
                .count()
                > 1000
                && acked.load(Ordering::SeqCst) >= after_reload + 2000
        }),
        "the new backend takes traffic after the reload:\n{}",
        agent.logs()
    );
    stop.store(true, Ordering::SeqCst);
    loader.join().unwrap();
    let acked = acked.load(Ordering::SeqCst);
    let retried = retried.load(Ordering::SeqCst);

    let all_in = wait_until(Duration::from_secs(30), || {
        let m = arrivals_by_seq(&sinks);
        (0..acked).all(|s| m.contains_key(&s))
    });
    let m = arrivals_by_seq(&sinks);
    let missing: Vec<u64> = (0..acked).filter(|s| !m.contains_key(s)).collect();
    assert!(
        all_in && missing.is_empty(),
        "{} of {acked} acknowledged spans lost, e.g. {:?}:\n{}",
        missing.len(),
        &missing[..missing.len().min(10)],
        agent.logs()
    );
    let duplicates = m.values().filter(|at| at.len() > 1).count();

    // Per trace id: the backends its spans reached before the reload, and after it.
    let mut owners: BTreeMap<u64, (BTreeSet<usize>, BTreeSet<usize>)> = BTreeMap::new();
    for (seq, at) in &m {
        let e = owners.entry(seq % TRACE_IDS).or_default();
        if *seq < before_reload {
            e.0.extend(at);
        } else if *seq >= after_reload && *seq < acked {
            e.1.extend(at);
        }
    }
    let mut moved_to_added = 0;
    for (t, (old, new)) in &owners {
        assert_eq!(
            old.len(),
            1,
            "trace id {t} before the reload went to {old:?}"
        );
        assert_eq!(
            new.len(),
            1,
            "trace id {t} after the reload went to {new:?}"
        );
        let (old, new) = (*old.iter().next().unwrap(), *new.iter().next().unwrap());
        assert_ne!(
            new, removed,
            "trace id {t} went to the removed backend after the reload"
        );
        if old == kept {
            assert!(
                new == kept || new == added,
                "trace id {t} left the kept backend for another old one"
            );
        }
        if new == added {
            moved_to_added += 1;
        }
    }
    assert!(moved_to_added > 0, "no trace id moved to the new backend");
    assert_eq!(
        proxies[kept].accepted.load(Ordering::SeqCst),
        1,
        "the kept backend's exporter was rebuilt (it opened a new connection)"
    );
    assert!(proxies[added].accepted.load(Ordering::SeqCst) >= 1);
    println!(
        "{acked} spans over {TRACE_IDS} trace ids, {retried} retried requests, {duplicates} spans \
         received twice; {moved_to_added} trace ids moved to the new backend; kept backend: 1 connection"
    );
    assert!(agent.stop(Duration::from_secs(20)).success());
}
