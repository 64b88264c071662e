//! `ferrotel-loadgen sink`: an OTLP destination (gRPC and HTTP, ferrotel's own receiver) that reads the
//! `loadgen.seq` attribute of every item it gets and counts unique, duplicated and unsequenced items.
//! Its counts are served as JSON on a small stats port (`GET /stats[?from=A&to=B]`, `POST /reset`) and
//! printed when it stops.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use ferrotel::component::{Host, ReceiverFactory};
use ferrotel::config::ComponentId;
use ferrotel::pipeline::{ConsumeError, Consumer, SignalConsumer};
use ferrotel::signal::{Batch, Signal, SignalKind};
use serde::Serialize;

use crate::gen::SEQ_KEY;

/// Sequence numbers above this are counted as unsequenced, so a stray value cannot allocate gigabytes.
const MAX_TRACKED_SEQ: u64 = 1 << 34;

/// The set of sequence numbers seen, as a growable bitmap.
#[derive(Default)]
struct SeqSet {
    words: Vec<u64>,
}

impl SeqSet {
    /// Inserts `seq`; false if it was already there.
    fn insert(&mut self, seq: u64) -> bool {
        let (w, bit) = ((seq / 64) as usize, seq % 64);
        if w >= self.words.len() {
            self.words.resize((w + 1).next_power_of_two(), 0);
        }
        let mask = 1u64 << bit;
        let fresh = self.words[w] & mask == 0;
        self.words[w] |= mask;
        fresh
    }

    fn count_in(&self, from: u64, to: u64) -> u64 {
        (from..to)
            .filter(|s| {
                self.words
                    .get((s / 64) as usize)
                    .is_some_and(|w| w & (1 << (s % 64)) != 0)
            })
            .count() as u64
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub requests: u64,
    /// Every item received, duplicates included.
    pub items: u64,
    pub unique: u64,
    pub duplicates: u64,
    /// Items without a `loadgen.seq` attribute (or with one out of range).
    pub unsequenced: u64,
    pub min_seq: Option<u64>,
    pub max_seq: Option<u64>,
    /// Sequence numbers between min_seq and max_seq never seen.
    pub gaps: u64,
    pub first_received_unix_ms: Option<u64>,
    pub last_received_unix_ms: Option<u64>,
    /// Items of the first and of the last request, and when the request before the last arrived:
    /// the rate between the first and the last request leaves out start-up and the last, partial
    /// batch (sent on a timeout), which a short run would otherwise count as fixed latency.
    pub first_request_items: u64,
    pub last_request_items: u64,
    pub previous_received_unix_ms: Option<u64>,
    /// Set when the query gives a range `from..to`: how many of it were never seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_in_range: Option<u64>,
}

#[derive(Default)]
pub struct Stats {
    inner: Mutex<(SeqSet, Counts)>,
}

impl Stats {
    fn record(&self, seqs: &[Option<u64>]) {
        let now = unix_ms();
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (set, c) = &mut *guard;
        c.requests += 1;
        c.items += seqs.len() as u64;
        if c.first_received_unix_ms.is_none() {
            c.first_received_unix_ms = Some(now);
            c.first_request_items = seqs.len() as u64;
        }
        c.previous_received_unix_ms = c.last_received_unix_ms;
        c.last_received_unix_ms = Some(now);
        c.last_request_items = seqs.len() as u64;
        for s in seqs {
            match s {
                Some(s) if *s <= MAX_TRACKED_SEQ => {
                    if set.insert(*s) {
                        c.unique += 1;
                    } else {
                        c.duplicates += 1;
                    }
                    c.min_seq = Some(c.min_seq.map_or(*s, |m| m.min(*s)));
                    c.max_seq = Some(c.max_seq.map_or(*s, |m| m.max(*s)));
                }
                _ => c.unsequenced += 1,
            }
        }
    }

    pub fn snapshot(&self, range: Option<(u64, u64)>) -> Counts {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (set, c) = &*guard;
        let mut c = c.clone();
        if let (Some(lo), Some(hi)) = (c.min_seq, c.max_seq) {
            c.gaps = (hi - lo + 1).saturating_sub(c.unique);
        }
        c.missing_in_range = range.map(|(from, to)| (to - from) - set.count_in(from, to));
        c
    }

    fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Default::default();
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A malformed protobuf message.
#[derive(Debug)]
pub struct Malformed;

enum Val<'a> {
    Int(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(b: &mut &[u8]) -> Result<u64, Malformed> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first().ok_or(Malformed)?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(Malformed)
}

/// Calls `f` with every field of the message `b`, without allocating.
fn each<'a>(
    mut b: &'a [u8],
    mut f: impl FnMut(u32, Val<'a>) -> Result<(), Malformed>,
) -> Result<(), Malformed> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], Malformed> {
        let v = b.get(..n).ok_or(Malformed)?;
        *b = &b[n..];
        Ok(v)
    }
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let val = match key & 7 {
            0 => Val::Int(varint(&mut b)?),
            1 => take(&mut b, 8).map(|_| Val::Fixed)?,
            2 => {
                let len = usize::try_from(varint(&mut b)?).map_err(|_| Malformed)?;
                Val::Bytes(take(&mut b, len)?)
            }
            5 => take(&mut b, 4).map(|_| Val::Fixed)?,
            _ => return Err(Malformed),
        };
        f((key >> 3) as u32, val)?;
    }
    Ok(())
}

/// Calls `f` with every length-delimited field `tag` of `b`.
fn each_message<'a>(
    b: &'a [u8],
    tag: u32,
    mut f: impl FnMut(&'a [u8]) -> Result<(), Malformed>,
) -> Result<(), Malformed> {
    each(b, |t, v| match v {
        Val::Bytes(m) if t == tag => f(m),
        _ => Ok(()),
    })
}

/// Pushes one entry per item of an encoded export request: its sequence number if it carries one.
pub fn scan_seqs(
    kind: SignalKind,
    req: &[u8],
    out: &mut Vec<Option<u64>>,
) -> Result<(), Malformed> {
    each_message(req, 1, |resource| {
        each_message(resource, 2, |scope| {
            each_message(scope, 2, |item| {
                match kind {
                    SignalKind::Traces => out.push(item_seq(item, 9)?),
                    SignalKind::Logs => out.push(item_seq(item, 6)?),
                    SignalKind::Metrics => metric_seqs(item, out)?,
                }
                Ok(())
            })
        })
    })
}

fn metric_seqs(metric: &[u8], out: &mut Vec<Option<u64>>) -> Result<(), Malformed> {
    each(metric, |tag, v| {
        // data point attributes: gauge/sum 7, histogram 9, exponential histogram 1, summary 7
        let attr_tag = match tag {
            5 | 7 | 11 => 7,
            9 => 9,
            10 => 1,
            _ => return Ok(()),
        };
        let Val::Bytes(data) = v else {
            return Err(Malformed);
        };
        each_message(data, 1, |point| {
            out.push(item_seq(point, attr_tag)?);
            Ok(())
        })
    })
}

/// The `loadgen.seq` integer among an item's attributes (field `attr_tag`).
fn item_seq(item: &[u8], attr_tag: u32) -> Result<Option<u64>, Malformed> {
    let mut seq = None;
    each_message(item, attr_tag, |kv| {
        let (mut key, mut value) = (&[][..], None);
        each(kv, |t, v| {
            match (t, v) {
                (1, Val::Bytes(k)) => key = k,
                (2, Val::Bytes(any)) => value = Some(any),
                _ => {}
            }
            Ok(())
        })?;
        if key == SEQ_KEY.as_bytes() {
            if let Some(any) = value {
                each(any, |t, v| {
                    if let (3, Val::Int(n)) = (t, v) {
                        seq = Some(n);
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    })?;
    Ok(seq)
}

struct Counter<S> {
    stats: Arc<Stats>,
    _signal: std::marker::PhantomData<fn() -> S>,
}

#[async_trait]
impl<S: Signal> Consumer<S> for Counter<S> {
    async fn consume(&self, batch: Batch<S>) -> Result<(), ConsumeError> {
        let mut seqs = Vec::with_capacity(batch.items());
        // A JSON request arrives decoded; encoding it again keeps one counting path.
        for seg in batch.encoded_segments() {
            scan_seqs(S::KIND, &seg, &mut seqs)
                .map_err(|_| ConsumeError::InvalidArgument("malformed request".to_string()))?;
        }
        self.stats.record(&seqs);
        Ok(())
    }
}

fn counter<S: Signal>(stats: &Arc<Stats>) -> Arc<Counter<S>> {
    Arc::new(Counter {
        stats: stats.clone(),
        _signal: std::marker::PhantomData,
    })
}

#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    /// OTLP/gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:4317")]
    pub grpc: String,
    /// OTLP/HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:4318")]
    pub http: String,
    /// Stats listen address: `GET /stats[?from=A&to=B]` answers JSON, `POST /reset` clears.
    #[arg(long, default_value = "127.0.0.1:4320")]
    pub stats: String,
}

pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let stats = Arc::new(Stats::default());
    let yaml = format!(
        "protocols:\n  grpc:\n    endpoint: \"{}\"\n    max_recv_msg_size_mib: 1024\n  http:\n    endpoint: \"{}\"\n    max_request_body_size: 1073741824\n",
        args.grpc, args.http
    );
    let cfg: serde_yaml::Value = serde_yaml::from_str(&yaml)?;
    let prepared = ferrotel::receivers::otlp::Factory
        .prepare(&cfg, "receivers::otlp")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let host = Host::default();
    let id = ComponentId::parse("otlp/sink").map_err(anyhow::Error::msg)?;
    let mut receiver = prepared
        .create(
            &id,
            SignalKind::ALL
                .into_iter()
                .map(|signal| ferrotel::with_signal!(signal, S => S::any(counter::<S>(&stats))))
                .collect(),
            &host,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    receiver
        .start(&host)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let listener = tokio::net::TcpListener::bind(&args.stats).await?;
    let app_stats = stats.clone();
    let app = axum::Router::new()
        .route(
            "/stats",
            axum::routing::get(move |uri: http::Uri| {
                let st = app_stats.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, "application/json")],
                        serde_json::to_string(&st.snapshot(parse_range(uri.query())))
                            .unwrap_or_default(),
                    )
                }
            }),
        )
        .route(
            "/reset",
            axum::routing::post({
                let st = stats.clone();
                move || {
                    st.reset();
                    async { "reset\n" }
                }
            }),
        );
    eprintln!(
        "sink: OTLP/gRPC on {}, OTLP/HTTP on {}, stats on http://{}/stats",
        args.grpc, args.http, args.stats
    );
    let server = axum::serve(listener, app).with_graceful_shutdown(crate::stop_signal());
    server.await?;
    receiver.shutdown().await;
    println!("{}", serde_json::to_string(&stats.snapshot(None))?);
    Ok(())
}

fn parse_range(q: Option<&str>) -> Option<(u64, u64)> {
    let q = q?;
    let get = |k: &str| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(key, _)| *key == k)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let (from, to) = (get("from")?, get("to")?);
    (to >= from).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::{GenConfig, Template};

    #[test]
    fn reads_the_sequence_of_every_item() {
        for kind in SignalKind::ALL {
            let t = Template::new(&GenConfig {
                signal: kind,
                items_per_request: 23,
                attributes: 4,
                service_name: "s".into(),
            });
            let mut buf = Vec::new();
            t.render(100, 1, &mut buf);
            let mut seqs = Vec::new();
            scan_seqs(kind, &buf, &mut seqs).unwrap();
            let want: Vec<_> = (100..123).map(Some).collect();
            assert_eq!(seqs, want, "{kind}");
        }
    }

    #[test]
    fn counts_duplicates_and_gaps() {
        let st = Stats::default();
        st.record(&[Some(0), Some(1), Some(1), None, Some(5)]);
        let c = st.snapshot(Some((0, 8)));
        assert_eq!((c.unique, c.duplicates, c.unsequenced), (3, 1, 1));
        assert_eq!(c.gaps, 3);
        assert_eq!(c.missing_in_range, Some(5));
        assert!(scan_seqs(SignalKind::Traces, &[0x0a, 0x05, 1], &mut vec![]).is_err());
    }
}
