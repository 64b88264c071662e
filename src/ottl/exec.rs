//! Walking decoded OTLP data context by context: builds one [`Ctx`] per item of the chosen context and
//! removes the items a callback says to drop. `filter` and `transform` both run on these walkers.

use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;

use super::context::{ContextKind, Ctx, Point};

/// Called once per item; returns whether to drop the item.
pub type Visit<'f> = dyn FnMut(&mut Ctx<'_>) -> Result<bool, String> + 'f;

/// `retain` with a fallible predicate: on the first error, keeps the rest and returns the error.
fn retain<T>(
    v: &mut Vec<T>,
    mut drop: impl FnMut(&mut T) -> Result<bool, String>,
) -> Result<(), String> {
    let mut err = None;
    v.retain_mut(|x| {
        if err.is_some() {
            return true;
        }
        match drop(x) {
            Ok(d) => !d,
            Err(e) => {
                err = Some(e);
                true
            }
        }
    });
    err.map_or(Ok(()), Err)
}

pub fn traces(
    resources: &mut Vec<ResourceSpans>,
    kind: ContextKind,
    f: &mut Visit<'_>,
) -> Result<(), String> {
    retain(resources, |rs| {
        let (res, rurl) = (&mut rs.resource, &mut rs.schema_url);
        if kind == ContextKind::Resource {
            return f(&mut Ctx {
                resource: Some(res),
                resource_schema_url: Some(rurl),
                ..Default::default()
            });
        }
        retain(&mut rs.scope_spans, |ss| {
            let (scope, surl) = (&mut ss.scope, &mut ss.schema_url);
            if kind == ContextKind::Scope {
                return f(&mut Ctx {
                    resource: Some(res),
                    resource_schema_url: Some(rurl),
                    scope: Some(scope),
                    scope_schema_url: Some(surl),
                    ..Default::default()
                });
            }
            retain(&mut ss.spans, |span| {
                if kind == ContextKind::Span {
                    return f(&mut Ctx {
                        resource: Some(res),
                        resource_schema_url: Some(rurl),
                        scope: Some(scope),
                        scope_schema_url: Some(surl),
                        span: Some(span),
                        ..Default::default()
                    });
                }
                // Span events: taken out while they run, so that the span is readable beside them.
                let mut events = std::mem::take(&mut span.events);
                let r = retain(&mut events, |ev| {
                    f(&mut Ctx {
                        resource: Some(res),
                        resource_schema_url: Some(rurl),
                        scope: Some(scope),
                        scope_schema_url: Some(surl),
                        span: Some(span),
                        event: Some(ev),
                        ..Default::default()
                    })
                });
                span.events = events;
                r.map(|_| false)
            })
            .map(|_| false)
        })
        .map(|_| false)
    })
}

pub fn logs(
    resources: &mut Vec<ResourceLogs>,
    kind: ContextKind,
    f: &mut Visit<'_>,
) -> Result<(), String> {
    retain(resources, |rl| {
        let (res, rurl) = (&mut rl.resource, &mut rl.schema_url);
        if kind == ContextKind::Resource {
            return f(&mut Ctx {
                resource: Some(res),
                resource_schema_url: Some(rurl),
                ..Default::default()
            });
        }
        retain(&mut rl.scope_logs, |sl| {
            let (scope, surl) = (&mut sl.scope, &mut sl.schema_url);
            if kind == ContextKind::Scope {
                return f(&mut Ctx {
                    resource: Some(res),
                    resource_schema_url: Some(rurl),
                    scope: Some(scope),
                    scope_schema_url: Some(surl),
                    ..Default::default()
                });
            }
            retain(&mut sl.log_records, |log| {
                f(&mut Ctx {
                    resource: Some(res),
                    resource_schema_url: Some(rurl),
                    scope: Some(scope),
                    scope_schema_url: Some(surl),
                    log: Some(log),
                    ..Default::default()
                })
            })
            .map(|_| false)
        })
        .map(|_| false)
    })
}

/// How many times metrics created by editors are themselves run through the statements.
const MAX_CREATED_ROUNDS: usize = 4;

pub fn metrics(
    resources: &mut Vec<ResourceMetrics>,
    kind: ContextKind,
    f: &mut Visit<'_>,
) -> Result<(), String> {
    retain(resources, |rm| {
        let (res, rurl) = (&mut rm.resource, &mut rm.schema_url);
        if kind == ContextKind::Resource {
            return f(&mut Ctx {
                resource: Some(res),
                resource_schema_url: Some(rurl),
                ..Default::default()
            });
        }
        retain(&mut rm.scope_metrics, |sm| {
            let (scope, surl) = (&mut sm.scope, &mut sm.schema_url);
            if kind == ContextKind::Scope {
                return f(&mut Ctx {
                    resource: Some(res),
                    resource_schema_url: Some(rurl),
                    scope: Some(scope),
                    scope_schema_url: Some(surl),
                    ..Default::default()
                });
            }
            if kind == ContextKind::Metric {
                // Metrics created by editors join the scope after the current ones and run through
                // the same statements, as in otelcol's loop over the growing slice. Rounds are
                // bounded so that statements creating metrics from created metrics end.
                let mut created = Vec::new();
                let mut r = retain(&mut sm.metrics, |metric| {
                    f(&mut Ctx {
                        resource: Some(res),
                        resource_schema_url: Some(rurl),
                        scope: Some(scope),
                        scope_schema_url: Some(surl),
                        metric: Some(metric),
                        new_metrics: Some(&mut created),
                        ..Default::default()
                    })
                });
                let mut rounds = 0;
                while !created.is_empty() && r.is_ok() && rounds < MAX_CREATED_ROUNDS {
                    rounds += 1;
                    let mut batch = std::mem::take(&mut created);
                    r = retain(&mut batch, |metric| {
                        f(&mut Ctx {
                            resource: Some(res),
                            resource_schema_url: Some(rurl),
                            scope: Some(scope),
                            scope_schema_url: Some(surl),
                            metric: Some(metric),
                            new_metrics: Some(&mut created),
                            ..Default::default()
                        })
                    });
                    sm.metrics.append(&mut batch);
                }
                sm.metrics.append(&mut created);
                return r.map(|_| false);
            }
            retain(&mut sm.metrics, |metric| {
                // Data points: taken out while they run, so that the metric is readable beside them.
                macro_rules! points {
                    ($variant:ident, $point:ident) => {{
                        let mut pts = match &mut metric.data {
                            Some(Data::$variant(d)) => std::mem::take(&mut d.data_points),
                            _ => unreachable!("matched below"),
                        };
                        let r = retain(&mut pts, |p| {
                            f(&mut Ctx {
                                resource: Some(res),
                                resource_schema_url: Some(rurl),
                                scope: Some(scope),
                                scope_schema_url: Some(surl),
                                metric: Some(metric),
                                point: Some(Point::$point(p)),
                                ..Default::default()
                            })
                        });
                        if let Some(Data::$variant(d)) = &mut metric.data {
                            d.data_points = pts;
                        }
                        r
                    }};
                }
                match &metric.data {
                    Some(Data::Gauge(_)) => points!(Gauge, Number),
                    Some(Data::Sum(_)) => points!(Sum, Number),
                    Some(Data::Histogram(_)) => points!(Histogram, Histogram),
                    Some(Data::ExponentialHistogram(_)) => {
                        points!(ExponentialHistogram, ExpHistogram)
                    }
                    Some(Data::Summary(_)) => points!(Summary, Summary),
                    None => Ok(()),
                }
                .map(|_| false)
            })
            .map(|_| false)
        })
        .map(|_| false)
    })
}

/// How many data points a metric has.
pub fn point_count(data: &Option<Data>) -> usize {
    match data {
        Some(Data::Gauge(d)) => d.data_points.len(),
        Some(Data::Sum(d)) => d.data_points.len(),
        Some(Data::Histogram(d)) => d.data_points.len(),
        Some(Data::ExponentialHistogram(d)) => d.data_points.len(),
        Some(Data::Summary(d)) => d.data_points.len(),
        None => 0,
    }
}
