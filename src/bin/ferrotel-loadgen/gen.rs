//! Realistic OTLP export requests, encoded once as a template and then stamped per request.
//!
//! Encoding 100 spans with prost for every request would cost the load generator more CPU than the
//! collector it measures. Instead a request is encoded once with placeholders of fixed width (ids,
//! timestamps, and the `loadgen.seq` attribute whose integer is written as a varint padded to
//! [`SEQ_WIDTH`] bytes: valid protobuf that any decoder reads as the plain number) and each request
//! copies the template and overwrites the placeholders. Item `i` of a request whose first sequence
//! number is `s` carries `loadgen.seq = s + i`; a receiving side counts missing and duplicated items
//! with it.
//!
//! Shared with `benches/codec.rs` (included by path), so it depends only on the library and prost.

use ferrotel::signal::SignalKind;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

/// The attribute every generated item carries, with its unique sequence number.
pub const SEQ_KEY: &str = "loadgen.seq";
/// Bytes of the padded varint holding a sequence number: 7 bits each, so up to 2^42 - 1.
pub const SEQ_WIDTH: usize = 6;
pub const SEQ_MAX: u64 = (1 << (7 * SEQ_WIDTH)) - 1;
/// Spans per trace: the first of each group is the root, the others its children.
const SPANS_PER_TRACE: u64 = 10;
/// Data points per metric in a metrics request.
const POINTS_PER_METRIC: usize = 10;

#[derive(Debug, Clone)]
pub struct GenConfig {
    pub signal: SignalKind,
    pub items_per_request: usize,
    /// Attributes per item besides `loadgen.seq`.
    pub attributes: usize,
    pub service_name: String,
}

#[derive(Debug, Clone, Copy)]
enum What {
    Seq,
    SpanId,
    ParentSpanId,
    TraceId,
    /// A timestamp before now (start time of a span, of a cumulative series).
    StartTime,
    Now,
}

#[derive(Debug, Clone, Copy)]
struct Patch {
    offset: usize,
    item: u32,
    what: What,
}

/// Encoded protobuf with the positions of its placeholders.
#[derive(Debug, Clone, Default)]
struct Enc {
    bytes: Vec<u8>,
    patches: Vec<Patch>,
}

impl Enc {
    fn key(&mut self, tag: u32, wt: WireType) {
        encode_key(tag, wt, &mut self.bytes);
    }
    fn message<M: Message>(&mut self, tag: u32, m: &M) {
        prost::encoding::message::encode(tag, m, &mut self.bytes);
    }
    fn string(&mut self, tag: u32, s: &str) {
        prost::encoding::string::encode(tag, &s.to_string(), &mut self.bytes);
    }
    fn varint(&mut self, tag: u32, v: u64) {
        self.key(tag, WireType::Varint);
        encode_varint(v, &mut self.bytes);
    }
    fn placeholder(&mut self, item: u32, what: What, len: usize) {
        self.patches.push(Patch {
            offset: self.bytes.len(),
            item,
            what,
        });
        self.bytes.resize(self.bytes.len() + len, 0);
    }
    fn id(&mut self, tag: u32, item: u32, what: What, len: usize) {
        self.key(tag, WireType::LengthDelimited);
        encode_varint(len as u64, &mut self.bytes);
        self.placeholder(item, what, len);
    }
    fn time(&mut self, tag: u32, item: u32, what: What) {
        self.key(tag, WireType::SixtyFourBit);
        self.placeholder(item, what, 8);
    }
    /// `KeyValue { key: "loadgen.seq", value: AnyValue { int_value: <padded> } }` as field `tag`.
    fn seq_attribute(&mut self, tag: u32, item: u32) {
        let mut kv = Enc::default();
        kv.string(1, SEQ_KEY);
        kv.key(2, WireType::LengthDelimited);
        encode_varint(1 + SEQ_WIDTH as u64, &mut kv.bytes);
        kv.key(3, WireType::Varint);
        kv.placeholder(item, What::Seq, SEQ_WIDTH);
        self.nested(tag, kv);
    }
    fn attributes(&mut self, tag: u32, attrs: &[KeyValue]) {
        for a in attrs {
            self.message(tag, a);
        }
    }
    /// Appends `inner` as the length-delimited field `tag`, keeping its placeholders.
    fn nested(&mut self, tag: u32, inner: Enc) {
        self.key(tag, WireType::LengthDelimited);
        encode_varint(inner.bytes.len() as u64, &mut self.bytes);
        self.append(inner);
    }
    fn append(&mut self, inner: Enc) {
        let base = self.bytes.len();
        self.bytes.extend_from_slice(&inner.bytes);
        self.patches
            .extend(inner.patches.into_iter().map(|p| Patch {
                offset: p.offset + base,
                ..p
            }));
    }
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

fn resource(service: &str) -> Resource {
    use any_value::Value::IntValue;
    Resource {
        attributes: vec![
            kv("service.name", s(service)),
            kv("service.namespace", s("shop")),
            kv("service.version", s("1.14.2")),
            kv(
                "service.instance.id",
                s("6f1c4b0e-2b7a-4d7e-9a53-3c2d8e1f0a11"),
            ),
            kv("deployment.environment.name", s("production")),
            kv("host.name", s("ip-10-0-12-34.eu-west-1.compute.internal")),
            kv("host.arch", s("amd64")),
            kv("os.type", s("linux")),
            kv("process.pid", IntValue(4242)),
            kv("process.runtime.name", s("go")),
            kv("telemetry.sdk.name", s("opentelemetry")),
            kv("telemetry.sdk.language", s("go")),
            kv("telemetry.sdk.version", s("1.38.0")),
            kv("cloud.provider", s("aws")),
            kv("cloud.region", s("eu-west-1")),
        ],
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "ferrotel-loadgen".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// `n` attributes of the kinds instrumentation libraries emit (strings, ints, a bool, a double);
/// `i` varies some values between items.
fn item_attributes(n: usize, i: usize) -> Vec<KeyValue> {
    use any_value::Value::{BoolValue, DoubleValue, IntValue};
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let pool: Vec<(&str, any_value::Value)> = vec![
        ("http.request.method", s(methods[i % methods.len()])),
        ("url.path", s(&format!("/api/v1/items/{}", 1000 + i))),
        ("http.response.status_code", IntValue(200 + (i % 3) as i64)),
        ("server.address", s("catalog.shop.svc.cluster.local")),
        ("server.port", IntValue(8080)),
        ("network.protocol.version", s("1.1")),
        (
            "user_agent.original",
            s("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"),
        ),
        ("client.address", s(&format!("10.1.{}.{}", i % 250, i % 7))),
        ("http.route", s("/api/v1/items/{id}")),
        ("url.scheme", s("https")),
        ("app.cache_hit", BoolValue(i % 2 == 0)),
        ("app.items_returned", IntValue((i % 50) as i64)),
        ("app.ratio", DoubleValue(0.25 + (i % 4) as f64 / 8.0)),
        ("db.system.name", s("postgresql")),
        (
            "db.query.text",
            s("SELECT id, name, price FROM items WHERE id = $1"),
        ),
    ];
    (0..n)
        .map(|k| {
            let (key, v) = &pool[k % pool.len()];
            if k < pool.len() {
                kv(key, v.clone())
            } else {
                kv(&format!("{key}.{}", k / pool.len()), v.clone())
            }
        })
        .collect()
}

fn span(item: u32, attrs: usize) -> Enc {
    let i = item as usize;
    let root = item as u64 % SPANS_PER_TRACE == 0;
    let names = [
        "GET /api/v1/items/{id}",
        "SELECT items",
        "cache get",
        "render",
    ];
    let mut e = Enc::default();
    e.id(1, item, What::TraceId, 16);
    e.id(2, item, What::SpanId, 8);
    if !root {
        e.id(4, item, What::ParentSpanId, 8);
    }
    e.string(5, names[i % names.len()]);
    e.varint(6, if root { 2 } else { 3 }); // SERVER, CLIENT
    e.time(7, item, What::StartTime);
    e.time(8, item, What::Now);
    e.attributes(9, &item_attributes(attrs, i));
    e.seq_attribute(9, item);
    // status { code: OK }
    e.nested(15, {
        let mut st = Enc::default();
        st.varint(3, 1);
        st
    });
    e
}

fn log_record(item: u32, attrs: usize) -> Enc {
    let i = item as usize;
    let sev = [(9, "INFO"), (9, "INFO"), (13, "WARN"), (17, "ERROR")][i % 4];
    let mut e = Enc::default();
    e.time(1, item, What::Now);
    e.varint(2, sev.0);
    e.string(3, sev.1);
    e.message(
        5,
        &AnyValue {
            value: Some(s(&format!(
                "served item {} to 10.1.{}.{} in {} ms",
                1000 + i,
                i % 250,
                i % 7,
                3 + i % 40
            ))),
        },
    );
    e.attributes(6, &item_attributes(attrs, i));
    e.seq_attribute(6, item);
    e.id(9, item, What::TraceId, 16);
    e.id(10, item, What::SpanId, 8);
    e.time(11, item, What::Now);
    e
}

fn number_point(item: u32, attrs: usize) -> Enc {
    let mut e = Enc::default();
    e.time(2, item, What::StartTime);
    e.time(3, item, What::Now);
    e.key(6, WireType::SixtyFourBit); // as_int (sfixed64)
    e.bytes
        .extend_from_slice(&(1000 + item as i64 * 7).to_le_bytes());
    e.attributes(7, &item_attributes(attrs, item as usize));
    e.seq_attribute(7, item);
    e
}

/// A metric holding the data points `first..first+n`: a monotonic cumulative sum or a gauge.
fn metric(k: usize, first: u32, n: usize, attrs: usize) -> Enc {
    let names = [
        ("http.server.request.duration.count", "{request}", true),
        ("process.memory.usage", "By", false),
        ("db.client.connection.count", "{connection}", false),
        ("http.server.active_requests", "{request}", true),
    ];
    let (name, unit, sum) = names[k % names.len()];
    let mut data = Enc::default();
    for item in first..first + n as u32 {
        data.nested(1, number_point(item, attrs));
    }
    let mut e = Enc::default();
    e.string(
        1,
        &if k < names.len() {
            name.to_string()
        } else {
            format!("{name}.{}", k / names.len())
        },
    );
    e.string(2, "generated by ferrotel-loadgen");
    e.string(3, unit);
    if sum {
        data.varint(2, 2); // CUMULATIVE
        data.varint(3, 1); // is_monotonic
        e.nested(7, data);
    } else {
        e.nested(5, data);
    }
    e
}

/// One encoded export request, stamped per request by [`Template::render`].
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
    patches: Vec<Patch>,
    items: usize,
}

impl Template {
    pub fn new(cfg: &GenConfig) -> Template {
        let n = cfg.items_per_request;
        let mut scope_part = Enc::default();
        scope_part.message(1, &scope());
        match cfg.signal {
            SignalKind::Traces => {
                for i in 0..n {
                    scope_part.nested(2, span(i as u32, cfg.attributes));
                }
            }
            SignalKind::Logs => {
                for i in 0..n {
                    scope_part.nested(2, log_record(i as u32, cfg.attributes));
                }
            }
            SignalKind::Metrics => {
                let mut first = 0;
                let mut k = 0;
                while first < n {
                    let count = POINTS_PER_METRIC.min(n - first);
                    scope_part.nested(2, metric(k, first as u32, count, cfg.attributes));
                    first += count;
                    k += 1;
                }
            }
        }
        let mut resource_part = Enc::default();
        resource_part.message(1, &resource(&cfg.service_name));
        resource_part.nested(2, scope_part);
        let mut req = Enc::default();
        req.nested(1, resource_part);
        Template {
            bytes: req.bytes,
            patches: req.patches,
            items: n,
        }
    }

    pub fn items(&self) -> usize {
        self.items
    }

    pub fn encoded_len(&self) -> usize {
        self.bytes.len()
    }

    /// Writes the request whose items are numbered `first_seq..`, stamped with `now_ns`, into `out`.
    pub fn render(&self, first_seq: u64, now_ns: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        for p in &self.patches {
            let seq = first_seq + p.item as u64;
            let at = &mut out[p.offset..];
            match p.what {
                What::Seq => put_padded_varint(seq, &mut at[..SEQ_WIDTH]),
                What::SpanId => at[..8].copy_from_slice(&(seq + 1).to_be_bytes()),
                What::ParentSpanId => {
                    let root = seq - seq % SPANS_PER_TRACE;
                    at[..8].copy_from_slice(&(root + 1).to_be_bytes())
                }
                What::TraceId => {
                    let trace = seq / SPANS_PER_TRACE + 1;
                    at[..8].copy_from_slice(&0x4bf9_2f35_77b3_4da6_u64.to_be_bytes());
                    at[8..16].copy_from_slice(&trace.to_be_bytes());
                }
                What::StartTime => at[..8].copy_from_slice(
                    &now_ns
                        .saturating_sub(1_500_000 + seq % 997 * 1000)
                        .to_le_bytes(),
                ),
                What::Now => at[..8].copy_from_slice(&now_ns.to_le_bytes()),
            }
        }
    }
}

/// A varint of exactly `out.len()` bytes (continuation bits set on all but the last).
fn put_padded_varint(mut v: u64, out: &mut [u8]) {
    let last = out.len() - 1;
    for (k, b) in out.iter_mut().enumerate() {
        let bits = (v & 0x7f) as u8;
        v >>= 7;
        *b = if k == last { bits } else { bits | 0x80 };
    }
}
