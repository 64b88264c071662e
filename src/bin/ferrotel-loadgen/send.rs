//! `ferrotel-loadgen send`: OTLP export requests over gRPC or HTTP at a fixed or unbounded rate.
//!
//! Every connection is one task sending one request at a time (as an SDK's exporter does). At a fixed
//! rate, request `k` is due at `start + k × items_per_request / rate` whichever connection sends it, so
//! the offered rate stays even and a late request is sent at once; the report says how late the
//! schedule ran. Requests are never retried: a refusal is counted, and the sink's sequence numbers
//! tell what arrived.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrotel::signal::codec::{RawCodec, Segments};
use ferrotel::signal::{Batch, Logs, Metrics, Signal, SignalKind, Traces};
use prost::Message;
use serde::Serialize;
use tokio::time::Instant;

use crate::gen::{GenConfig, Template, SEQ_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Grpc,
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Proto,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// traces, metrics or logs.
    #[arg(long, default_value = "traces", value_parser = parse_signal)]
    pub signal: SignalKind,
    #[arg(long, value_enum, default_value = "grpc")]
    pub protocol: Protocol,
    /// Body encoding for HTTP (gRPC is always protobuf).
    #[arg(long, value_enum, default_value = "proto")]
    pub encoding: Encoding,
    #[arg(long, value_enum, default_value = "none")]
    pub compression: Compression,
    /// gRPC: host:port. HTTP: host:port (the signal's /v1/… path is added) or a full URL.
    /// Default 127.0.0.1:4317 for gRPC, 127.0.0.1:4318 for HTTP.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Spans, metric data points or log records per request.
    #[arg(long, default_value_t = 100)]
    pub items_per_request: usize,
    /// Concurrent connections, each sending one request at a time.
    #[arg(long, default_value_t = 1)]
    pub connections: usize,
    /// Target items per second over all connections; 0 sends as fast as the collector answers.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// How long to send (Go syntax: 30s, 1m). Default 10s unless --count is given.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// How many items to send in all (the last request may be smaller).
    #[arg(long)]
    pub count: Option<u64>,
    /// Attributes per item besides the `loadgen.seq` sequence attribute.
    #[arg(long, default_value_t = 10)]
    pub attributes: usize,
    /// The first sequence number; items are numbered consecutively from it.
    #[arg(long, default_value_t = 0)]
    pub seq_start: u64,
    /// Timeout of one request.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    #[arg(long, default_value = "ferrotel-loadgen")]
    pub service_name: String,
    /// Retry a refused request (retryable status) after a backoff, 5 ms doubling to 1 s, for up to
    /// 30 s, as SDKs do; without it a refusal is final. Items count once, by their last outcome.
    #[arg(long)]
    pub retry: bool,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_signal(s: &str) -> Result<SignalKind, String> {
    SignalKind::parse(s).ok_or_else(|| format!("unknown signal {s:?}: traces, metrics or logs"))
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    ferrotel::config::duration::parse(s)
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub signal: String,
    pub protocol: Protocol,
    pub encoding: Encoding,
    pub compression: Compression,
    pub endpoint: String,
    pub items_per_request: usize,
    pub request_bytes: usize,
    pub connections: usize,
    pub target_rate: f64,
    pub elapsed_s: f64,
    pub requests: u64,
    pub items_sent: u64,
    pub items_accepted: u64,
    /// Refused with a retryable status (gRPC UNAVAILABLE/RESOURCE_EXHAUSTED, HTTP 429/502/503/504).
    pub items_refused: u64,
    /// Failed otherwise (other statuses, transport errors, timeouts).
    pub items_failed: u64,
    /// Rejected inside an accepted request (partial success).
    pub items_rejected: u64,
    /// Requests sent again after a refusal (`--retry`).
    pub retries: u64,
    pub offered_rate: f64,
    pub achieved_rate: f64,
    /// How far behind its schedule the last fixed-rate request was sent, in ms.
    pub schedule_lag_ms: f64,
    pub latency_ms: Latency,
    /// Sequence numbers used: `seq_start..seq_end`.
    pub seq_start: u64,
    pub seq_end: u64,
    pub errors: BTreeMap<String, u64>,
}

enum Outcome {
    Accepted { rejected: u64 },
    Refused(String),
    Failed(String),
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    requests: u64,
    sent: u64,
    accepted: u64,
    refused: u64,
    failed: u64,
    rejected: u64,
    retries: u64,
    errors: BTreeMap<String, u64>,
    lag: Duration,
    seq_end: u64,
}

/// What every connection shares: the schedule and the request templates.
struct Plan {
    args: SendArgs,
    full: Template,
    /// The last, smaller request when `count` is not a multiple of `items_per_request`.
    rest: Option<Template>,
    total_requests: Option<u64>,
    start: Instant,
    end: Option<Instant>,
    per_request: Option<Duration>,
    next: AtomicU64,
}

impl Plan {
    /// Takes the next request to send: its index and template, once it is due; None when done.
    async fn next_request(&self, lag: &mut Duration) -> Option<(u64, &Template)> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        if self.total_requests.is_some_and(|t| k >= t) {
            return None;
        }
        let now = Instant::now();
        if let Some(per) = self.per_request {
            let due = self.start + per.mul_f64(k as f64);
            if self.end.is_some_and(|e| due >= e) {
                return None;
            }
            if due > now {
                tokio::time::sleep_until(due).await;
            } else {
                *lag = now - due;
            }
        } else if self.end.is_some_and(|e| now >= e) {
            return None;
        }
        let last = self.total_requests.is_some_and(|t| k + 1 == t);
        let t = match (&self.rest, last) {
            (Some(rest), true) => rest,
            _ => &self.full,
        };
        Some((k, t))
    }
}

pub async fn run(mut args: SendArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        args.items_per_request > 0,
        "--items-per-request must be > 0"
    );
    anyhow::ensure!(args.connections > 0, "--connections must be > 0");
    anyhow::ensure!(
        args.rate >= 0.0 && args.rate.is_finite(),
        "--rate must be >= 0"
    );
    anyhow::ensure!(
        !(args.protocol == Protocol::Grpc && args.encoding == Encoding::Json),
        "OTLP/gRPC is always protobuf; --encoding json needs --protocol http"
    );
    if args.duration.is_none() && args.count.is_none() {
        args.duration = Some(Duration::from_secs(10));
    }
    let endpoint = match (&args.endpoint, args.protocol) {
        (Some(e), Protocol::Grpc) => e.trim_start_matches("http://").to_string(),
        (Some(e), Protocol::Http) if e.contains("://") => e.clone(),
        (Some(e), Protocol::Http) => format!("http://{e}/v1/{}", args.signal),
        (None, Protocol::Grpc) => "127.0.0.1:4317".to_string(),
        (None, Protocol::Http) => format!("http://127.0.0.1:4318/v1/{}", args.signal),
    };
    let ipr = args.items_per_request as u64;
    let gen = |n: usize| {
        Template::new(&GenConfig {
            signal: args.signal,
            items_per_request: n,
            attributes: args.attributes,
            service_name: args.service_name.clone(),
        })
    };
    let full = gen(args.items_per_request);
    let (total_requests, rest) = match args.count {
        Some(c) => {
            let rest = (c % ipr != 0).then(|| gen((c % ipr) as usize));
            (Some(c.div_ceil(ipr)), rest)
        }
        None => (None, None),
    };
    if let Some(t) = total_requests {
        anyhow::ensure!(
            args.seq_start + t * ipr <= SEQ_MAX,
            "sequence numbers would pass {SEQ_MAX}"
        );
    }
    let per_request = (args.rate > 0.0)
        .then(|| Duration::from_secs_f64(args.items_per_request as f64 / args.rate));
    let start = Instant::now() + Duration::from_millis(100);
    let plan = Arc::new(Plan {
        args: args.clone(),
        full,
        rest,
        total_requests,
        start,
        end: args.duration.map(|d| start + d),
        per_request,
        next: AtomicU64::new(0),
    });
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let plan = plan.clone();
        let endpoint = endpoint.clone();
        tasks.push(tokio::spawn(async move {
            match plan.args.signal {
                SignalKind::Traces => worker::<Traces>(plan, endpoint).await,
                SignalKind::Metrics => worker::<Metrics>(plan, endpoint).await,
                SignalKind::Logs => worker::<Logs>(plan, endpoint).await,
            }
        }));
    }
    let mut all = WorkerResult::default();
    for t in tasks {
        let r = t.await??;
        all.latencies_us.extend(r.latencies_us);
        all.requests += r.requests;
        all.sent += r.sent;
        all.accepted += r.accepted;
        all.refused += r.refused;
        all.failed += r.failed;
        all.rejected += r.rejected;
        all.retries += r.retries;
        all.lag = all.lag.max(r.lag);
        all.seq_end = all.seq_end.max(r.seq_end);
        for (k, v) in r.errors {
            *all.errors.entry(k).or_default() += v;
        }
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    all.latencies_us.sort_unstable();
    let pct = |q: f64| -> f64 {
        if all.latencies_us.is_empty() {
            return 0.0;
        }
        let i =
            ((all.latencies_us.len() as f64 * q).ceil() as usize).clamp(1, all.latencies_us.len());
        all.latencies_us[i - 1] as f64 / 1000.0
    };
    let mean = if all.latencies_us.is_empty() {
        0.0
    } else {
        all.latencies_us.iter().map(|&v| v as f64).sum::<f64>()
            / all.latencies_us.len() as f64
            / 1000.0
    };
    Ok(Report {
        signal: args.signal.to_string(),
        protocol: args.protocol,
        encoding: args.encoding,
        compression: args.compression,
        endpoint,
        items_per_request: args.items_per_request,
        request_bytes: plan.full.encoded_len(),
        connections: args.connections,
        target_rate: args.rate,
        elapsed_s: elapsed,
        requests: all.requests,
        items_sent: all.sent,
        items_accepted: all.accepted,
        items_refused: all.refused,
        items_failed: all.failed,
        items_rejected: all.rejected,
        retries: all.retries,
        offered_rate: all.sent as f64 / elapsed,
        achieved_rate: all.accepted as f64 / elapsed,
        schedule_lag_ms: all.lag.as_secs_f64() * 1000.0,
        latency_ms: Latency {
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            p999: pct(0.999),
            max: pct(1.0),
            mean,
        },
        seq_start: args.seq_start,
        seq_end: all.seq_end.max(args.seq_start),
        errors: all.errors,
    })
}

enum Client {
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
    Http(reqwest::Client),
}

async fn connect(args: &SendArgs, endpoint: &str) -> anyhow::Result<Client> {
    Ok(match args.protocol {
        Protocol::Grpc => {
            // One channel per connection task: its own HTTP/2 connection.
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))?
                .tcp_nodelay(true)
                .connect()
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to {endpoint}: {e}"))?;
            let mut grpc = tonic::client::Grpc::new(channel)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(1 << 30);
            if args.compression == Compression::Gzip {
                grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
            }
            Client::Grpc(grpc)
        }
        Protocol::Http => Client::Http(
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .build()?,
        ),
    })
}

const RETRY_FOR: Duration = Duration::from_secs(30);

async fn worker<S: Signal>(plan: Arc<Plan>, endpoint: String) -> anyhow::Result<WorkerResult> {
    let args = &plan.args;
    let mut client = connect(args, &endpoint).await?;
    let mut r = WorkerResult::default();
    let mut buf = Vec::new();
    let ipr = args.items_per_request as u64;
    while let Some((k, template)) = plan.next_request(&mut r.lag).await {
        let first_seq = args.seq_start + k * ipr;
        template.render(first_seq, unix_nanos(), &mut buf);
        let body = encode_body::<S>(args, &buf)?;
        let items = template.items() as u64;
        r.seq_end = r.seq_end.max(first_seq + items);
        let sent_at = Instant::now();
        let mut backoff = Duration::from_millis(5);
        let outcome = loop {
            let attempt = tokio::time::timeout(
                args.timeout,
                send::<S>(&mut client, &endpoint, args, body.clone()),
            )
            .await
            .unwrap_or_else(|_| Outcome::Failed("timeout".to_string()));
            match attempt {
                Outcome::Refused(_) if args.retry && sent_at.elapsed() < RETRY_FOR => {
                    r.retries += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                other => break other,
            }
        };
        let us = sent_at.elapsed().as_micros().min(u32::MAX as u128) as u32;
        r.latencies_us.push(us);
        r.requests += 1;
        r.sent += items;
        match outcome {
            Outcome::Accepted { rejected } => {
                let rejected = rejected.min(items);
                r.accepted += items - rejected;
                r.rejected += rejected;
            }
            Outcome::Refused(e) => {
                r.refused += items;
                *r.errors.entry(e).or_default() += 1;
            }
            Outcome::Failed(e) => {
                r.failed += items;
                *r.errors.entry(e).or_default() += 1;
            }
        }
    }
    Ok(r)
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The request body for HTTP (JSON and gzip as asked); gRPC compresses in tonic.
fn encode_body<S: Signal>(args: &SendArgs, proto: &[u8]) -> anyhow::Result<Bytes> {
    let body = match args.encoding {
        Encoding::Proto => Bytes::copy_from_slice(proto),
        Encoding::Json => {
            let mut b = Batch::<S>::from_encoded(Bytes::copy_from_slice(proto))?;
            Bytes::from(b.to_json()?)
        }
    };
    if args.protocol == Protocol::Http && args.compression == Compression::Gzip {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&body)?;
        return Ok(Bytes::from(enc.finish()?));
    }
    Ok(body)
}

async fn send<S: Signal>(client: &mut Client, url: &str, args: &SendArgs, body: Bytes) -> Outcome {
    match client {
        Client::Grpc(grpc) => {
            if let Err(e) = grpc.ready().await {
                return Outcome::Failed(format!("transport: {e}"));
            }
            let req = tonic::Request::new(Segments(vec![body]));
            let path = http::uri::PathAndQuery::from_static(S::GRPC_PATH);
            match grpc.unary(req, path, RawCodec).await {
                Ok(resp) => Outcome::Accepted {
                    rejected: S::Response::decode(resp.into_inner())
                        .ok()
                        .and_then(|r| S::partial_success(&r))
                        .map_or(0, |(n, _)| n.max(0) as u64),
                },
                Err(st) => {
                    let what = format!("grpc {:?}", st.code());
                    match st.code() {
                        tonic::Code::Unavailable | tonic::Code::ResourceExhausted => {
                            Outcome::Refused(what)
                        }
                        _ => Outcome::Failed(what),
                    }
                }
            }
        }
        Client::Http(http) => {
            let mut req = http.post(url).header(
                "content-type",
                match args.encoding {
                    Encoding::Proto => "application/x-protobuf",
                    Encoding::Json => "application/json",
                },
            );
            if args.compression == Compression::Gzip {
                req = req.header("content-encoding", "gzip");
            }
            let resp = match req.body(body).send().await {
                Ok(r) => r,
                Err(e) => return Outcome::Failed(format!("transport: {e}")),
            };
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            match status.as_u16() {
                200..=299 => Outcome::Accepted {
                    rejected: if args.encoding == Encoding::Proto {
                        S::Response::decode(body)
                            .ok()
                            .and_then(|r| S::partial_success(&r))
                            .map_or(0, |(n, _)| n.max(0) as u64)
                    } else {
                        serde_json::from_slice::<S::Response>(&body)
                            .ok()
                            .and_then(|r| S::partial_success(&r))
                            .map_or(0, |(n, _)| n.max(0) as u64)
                    },
                },
                429 | 502 | 503 | 504 => Outcome::Refused(format!("http {}", status.as_u16())),
                _ => Outcome::Failed(format!("http {}", status.as_u16())),
            }
        }
    }
}

impl Report {
    pub fn print_text(&self) {
        println!(
            "{} over {:?} ({:?}, compression {:?}) to {}: {} items/request ({} bytes), {} connection(s), target {}",
            self.signal,
            self.protocol,
            self.encoding,
            self.compression,
            self.endpoint,
            self.items_per_request,
            self.request_bytes,
            self.connections,
            if self.target_rate > 0.0 {
                format!("{} items/s", self.target_rate)
            } else {
                "unbounded".to_string()
            }
        );
        println!(
            "  {:.2}s: {} requests, {} items sent, {} accepted, {} refused, {} failed, {} rejected",
            self.elapsed_s,
            self.requests,
            self.items_sent,
            self.items_accepted,
            self.items_refused,
            self.items_failed,
            self.items_rejected
        );
        if self.retries > 0 {
            println!("  {} request(s) retried after a refusal", self.retries);
        }
        println!(
            "  rate: offered {:.0} items/s, achieved {:.0} items/s; schedule lag {:.1} ms",
            self.offered_rate, self.achieved_rate, self.schedule_lag_ms
        );
        let l = &self.latency_ms;
        println!(
            "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2}",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean
        );
        println!("  sequence numbers {}..{}", self.seq_start, self.seq_end);
        for (e, n) in &self.errors {
            println!("  error {e}: {n} request(s)");
        }
    }
}
