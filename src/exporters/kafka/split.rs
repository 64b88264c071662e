//! Splitting export requests so that each message stays under `producer::max_message_bytes`, and
//! grouping spans by trace for `partition_traces_by_id`.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use crate::signal::{Logs, Metrics, Signal, Traces};

/// Two halves of a resource list.
pub type Halves<R> = (Vec<R>, Vec<R>);

/// A signal whose requests can be cut in two.
pub trait Split: Signal {
    /// Cuts `resources` into two non-empty halves, at the highest level that has more than one
    /// element (resources, then scopes, then items, then a metric's data points). `None` when it
    /// holds a single item, which cannot be cut.
    fn halve(resources: Vec<Self::Resource>) -> Option<Halves<Self::Resource>>;
}

fn halve_vec<T>(mut v: Vec<T>) -> (Vec<T>, Vec<T>) {
    let second = v.split_off(v.len() / 2);
    (v, second)
}

/// Halves a resource list by resources when it has several; otherwise calls `one` on the only one.
fn halve_resources<R>(
    mut resources: Vec<R>,
    one: impl FnOnce(R) -> Option<(R, R)>,
) -> Option<Halves<R>> {
    if resources.len() > 1 {
        return Some(halve_vec(resources));
    }
    let r = resources.pop()?;
    one(r).map(|(a, b)| (vec![a], vec![b]))
}

macro_rules! halve_scopes {
    ($r:expr, $scopes:ident, $items:ident, $item_split:expr) => {{
        let mut r = $r;
        if r.$scopes.len() > 1 {
            let (a, b) = halve_vec(std::mem::take(&mut r.$scopes));
            let mut ra = r.clone();
            ra.$scopes = a;
            r.$scopes = b;
            return Some((ra, r));
        }
        let mut scope = r.$scopes.pop()?;
        let (a, b) = if scope.$items.len() > 1 {
            let (a, b) = halve_vec(std::mem::take(&mut scope.$items));
            let mut sa = scope.clone();
            sa.$items = a;
            scope.$items = b;
            (sa, scope)
        } else {
            let item = scope.$items.pop()?;
            let (ia, ib) = $item_split(item)?;
            let mut sa = scope.clone();
            sa.$items = vec![ia];
            scope.$items = vec![ib];
            (sa, scope)
        };
        let mut ra = r.clone();
        ra.$scopes = vec![a];
        r.$scopes = vec![b];
        Some((ra, r))
    }};
}

impl Split for Traces {
    fn halve(resources: Vec<ResourceSpans>) -> Option<Halves<ResourceSpans>> {
        halve_resources(resources, |r| {
            halve_scopes!(r, scope_spans, spans, |_| None)
        })
    }
}

impl Split for Logs {
    fn halve(resources: Vec<ResourceLogs>) -> Option<Halves<ResourceLogs>> {
        halve_resources(resources, |r| {
            halve_scopes!(r, scope_logs, log_records, |_| None)
        })
    }
}

impl Split for Metrics {
    fn halve(resources: Vec<ResourceMetrics>) -> Option<Halves<ResourceMetrics>> {
        halve_resources(resources, |r| {
            halve_scopes!(r, scope_metrics, metrics, halve_metric)
        })
    }
}

/// One metric with several data points cut into two metrics of the same name and kind.
fn halve_metric(m: Metric) -> Option<(Metric, Metric)> {
    macro_rules! points {
        ($m:expr, $variant:ident) => {{
            let mut m = $m;
            let Some(metric::Data::$variant(d)) = &mut m.data else {
                return None;
            };
            if d.data_points.len() < 2 {
                return None;
            }
            let (a, b) = halve_vec(std::mem::take(&mut d.data_points));
            d.data_points = b;
            let mut ma = m.clone();
            if let Some(metric::Data::$variant(da)) = &mut ma.data {
                da.data_points = a;
            }
            Some((ma, m))
        }};
    }
    match &m.data {
        Some(metric::Data::Gauge(_)) => points!(m, Gauge),
        Some(metric::Data::Sum(_)) => points!(m, Sum),
        Some(metric::Data::Histogram(_)) => points!(m, Histogram),
        Some(metric::Data::ExponentialHistogram(_)) => points!(m, ExponentialHistogram),
        Some(metric::Data::Summary(_)) => points!(m, Summary),
        None => None,
    }
}

/// The spans of `resources` grouped by trace id (lower-case hex, otelcol's message key), each group
/// keeping its resource and scope.
pub fn by_trace_id(resources: Vec<ResourceSpans>) -> BTreeMap<String, Vec<ResourceSpans>> {
    let mut out: BTreeMap<String, Vec<ResourceSpans>> = BTreeMap::new();
    for mut r in resources {
        let scopes = std::mem::take(&mut r.scope_spans);
        for mut s in scopes {
            let spans = std::mem::take(&mut s.spans);
            for span in spans {
                let key = hex(&span.trace_id);
                let group = out.entry(key).or_default();
                // Reuse the last resource/scope of the group when they are the same ones.
                let same_resource = group
                    .last()
                    .is_some_and(|g| g.resource == r.resource && g.schema_url == r.schema_url);
                if !same_resource {
                    let mut nr = r.clone();
                    nr.scope_spans = Vec::new();
                    group.push(nr);
                }
                let Some(gr) = group.last_mut() else { continue };
                let same_scope = gr
                    .scope_spans
                    .last()
                    .is_some_and(|gs| gs.scope == s.scope && gs.schema_url == s.schema_url);
                if !same_scope {
                    let mut ns = s.clone();
                    ns.spans = Vec::new();
                    gr.scope_spans.push(ns);
                }
                if let Some(gs) = gr.scope_spans.last_mut() {
                    gs.spans.push(span);
                }
            }
        }
    }
    out
}

pub fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}
