//! Moving the items a predicate picks out of decoded data, keeping a copy of their resource and
//! scope (otelcol's `Move*If` helpers of the routing connector). The OTTL walkers of
//! [`crate::ottl::exec`] evaluate the predicate item by item; the items are then moved in the same
//! order the walker visited them.

use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, Metric, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

use crate::ottl::{exec, ContextKind, Ctx};
use crate::pipeline::SignalConsumer;
use crate::signal::{Logs, Metrics, Traces};

/// A signal the routing connector can split.
pub trait Routable: SignalConsumer {
    /// The OTTL contexts a route may use for this signal.
    const CONTEXTS: &'static [ContextKind];
    /// Removes from `resources` every item of context `kind` for which `pick` is true and returns
    /// them, each under a copy of its resource (and scope). Containers left empty are removed.
    fn split(
        resources: &mut Vec<Self::Resource>,
        kind: ContextKind,
        pick: &mut dyn FnMut(&Ctx<'_>) -> bool,
    ) -> Vec<Self::Resource>;
    /// Visits every item of context `kind` in `resources` (see [`exec`]).
    fn walk(
        resources: &mut Vec<Self::Resource>,
        kind: ContextKind,
        visit: &mut exec::Visit<'_>,
    ) -> Result<(), String>;
}

/// `v` split by `flags` (in order; missing flags are false): (picked, kept).
fn partition<T>(v: Vec<T>, flags: &mut impl Iterator<Item = bool>) -> (Vec<T>, Vec<T>) {
    let mut picked = Vec::new();
    let mut kept = Vec::new();
    for x in v {
        if flags.next().unwrap_or(false) {
            picked.push(x);
        } else {
            kept.push(x);
        }
    }
    (picked, kept)
}

/// The predicate's answer for every item the walker visits, in visiting order.
fn flags(
    walk: impl FnOnce(&mut exec::Visit<'_>) -> Result<(), String>,
    pick: &mut dyn FnMut(&Ctx<'_>) -> bool,
) -> std::vec::IntoIter<bool> {
    let mut out = Vec::new();
    let _ = walk(&mut |ctx: &mut Ctx<'_>| {
        out.push(pick(ctx));
        Ok(false)
    });
    out.into_iter()
}

impl Routable for Traces {
    fn walk(
        resources: &mut Vec<ResourceSpans>,
        kind: ContextKind,
        visit: &mut exec::Visit<'_>,
    ) -> Result<(), String> {
        exec::traces(resources, kind, visit)
    }

    const CONTEXTS: &'static [ContextKind] = &[ContextKind::Resource, ContextKind::Span];

    fn split(
        resources: &mut Vec<ResourceSpans>,
        kind: ContextKind,
        pick: &mut dyn FnMut(&Ctx<'_>) -> bool,
    ) -> Vec<ResourceSpans> {
        let mut f = flags(|v| exec::traces(resources, kind, v), pick);
        if kind == ContextKind::Resource {
            let (picked, kept) = partition(std::mem::take(resources), &mut f);
            *resources = kept;
            return picked;
        }
        let mut out = Vec::new();
        for rs in resources.iter_mut() {
            let mut scopes = Vec::new();
            for ss in rs.scope_spans.iter_mut() {
                let (picked, kept) = partition(std::mem::take(&mut ss.spans), &mut f);
                ss.spans = kept;
                if !picked.is_empty() {
                    scopes.push(ScopeSpans {
                        scope: ss.scope.clone(),
                        schema_url: ss.schema_url.clone(),
                        spans: picked,
                    });
                }
            }
            if !scopes.is_empty() {
                out.push(ResourceSpans {
                    resource: rs.resource.clone(),
                    schema_url: rs.schema_url.clone(),
                    scope_spans: scopes,
                });
            }
        }
        resources.retain_mut(|rs| {
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
            !rs.scope_spans.is_empty()
        });
        out
    }
}

impl Routable for Logs {
    fn walk(
        resources: &mut Vec<ResourceLogs>,
        kind: ContextKind,
        visit: &mut exec::Visit<'_>,
    ) -> Result<(), String> {
        exec::logs(resources, kind, visit)
    }

    const CONTEXTS: &'static [ContextKind] = &[ContextKind::Resource, ContextKind::Log];

    fn split(
        resources: &mut Vec<ResourceLogs>,
        kind: ContextKind,
        pick: &mut dyn FnMut(&Ctx<'_>) -> bool,
    ) -> Vec<ResourceLogs> {
        let mut f = flags(|v| exec::logs(resources, kind, v), pick);
        if kind == ContextKind::Resource {
            let (picked, kept) = partition(std::mem::take(resources), &mut f);
            *resources = kept;
            return picked;
        }
        let mut out = Vec::new();
        for rl in resources.iter_mut() {
            let mut scopes = Vec::new();
            for sl in rl.scope_logs.iter_mut() {
                let (picked, kept) = partition(std::mem::take(&mut sl.log_records), &mut f);
                sl.log_records = kept;
                if !picked.is_empty() {
                    scopes.push(ScopeLogs {
                        scope: sl.scope.clone(),
                        schema_url: sl.schema_url.clone(),
                        log_records: picked,
                    });
                }
            }
            if !scopes.is_empty() {
                out.push(ResourceLogs {
                    resource: rl.resource.clone(),
                    schema_url: rl.schema_url.clone(),
                    scope_logs: scopes,
                });
            }
        }
        resources.retain_mut(|rl| {
            rl.scope_logs.retain(|sl| !sl.log_records.is_empty());
            !rl.scope_logs.is_empty()
        });
        out
    }
}

/// The data points of `m` picked by `f`, under a copy of the metric; `m` keeps the rest.
fn split_points(m: &mut Metric, f: &mut impl Iterator<Item = bool>) -> Option<Metric> {
    macro_rules! points {
        ($d:expr, $variant:ident) => {{
            let (picked, kept) = partition(std::mem::take(&mut $d.data_points), f);
            $d.data_points = kept;
            if picked.is_empty() {
                None
            } else {
                let mut copy = $d.clone();
                copy.data_points = picked;
                Some(Data::$variant(copy))
            }
        }};
    }
    let data = match &mut m.data {
        Some(Data::Gauge(d)) => points!(d, Gauge),
        Some(Data::Sum(d)) => points!(d, Sum),
        Some(Data::Histogram(d)) => points!(d, Histogram),
        Some(Data::ExponentialHistogram(d)) => points!(d, ExponentialHistogram),
        Some(Data::Summary(d)) => points!(d, Summary),
        None => None,
    }?;
    Some(Metric {
        name: m.name.clone(),
        description: m.description.clone(),
        unit: m.unit.clone(),
        metadata: m.metadata.clone(),
        data: Some(data),
    })
}

impl Routable for Metrics {
    fn walk(
        resources: &mut Vec<ResourceMetrics>,
        kind: ContextKind,
        visit: &mut exec::Visit<'_>,
    ) -> Result<(), String> {
        exec::metrics(resources, kind, visit)
    }

    const CONTEXTS: &'static [ContextKind] = &[
        ContextKind::Resource,
        ContextKind::Metric,
        ContextKind::DataPoint,
    ];

    fn split(
        resources: &mut Vec<ResourceMetrics>,
        kind: ContextKind,
        pick: &mut dyn FnMut(&Ctx<'_>) -> bool,
    ) -> Vec<ResourceMetrics> {
        let mut f = flags(|v| exec::metrics(resources, kind, v), pick);
        if kind == ContextKind::Resource {
            let (picked, kept) = partition(std::mem::take(resources), &mut f);
            *resources = kept;
            return picked;
        }
        let mut out = Vec::new();
        for rm in resources.iter_mut() {
            let mut scopes = Vec::new();
            for sm in rm.scope_metrics.iter_mut() {
                let picked = if kind == ContextKind::Metric {
                    let (picked, kept) = partition(std::mem::take(&mut sm.metrics), &mut f);
                    sm.metrics = kept;
                    picked
                } else {
                    let picked: Vec<Metric> = sm
                        .metrics
                        .iter_mut()
                        .filter_map(|m| split_points(m, &mut f))
                        .collect();
                    sm.metrics.retain(|m| exec::point_count(&m.data) > 0);
                    picked
                };
                if !picked.is_empty() {
                    scopes.push(ScopeMetrics {
                        scope: sm.scope.clone(),
                        schema_url: sm.schema_url.clone(),
                        metrics: picked,
                    });
                }
            }
            if !scopes.is_empty() {
                out.push(ResourceMetrics {
                    resource: rm.resource.clone(),
                    schema_url: rm.schema_url.clone(),
                    scope_metrics: scopes,
                });
            }
        }
        resources.retain_mut(|rm| {
            rm.scope_metrics.retain(|sm| !sm.metrics.is_empty());
            !rm.scope_metrics.is_empty()
        });
        out
    }
}
