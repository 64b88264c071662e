//! Turning a config into a validated plan: every component prepared by its factory, every pipeline's
//! references checked, listeners checked for clashes. Collects every error before anything starts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_yaml::Value;

use crate::component::{
    PreparedConnector, PreparedExporter, PreparedExtension, PreparedProcessor, PreparedReceiver,
    Registry,
};
use crate::config::{self, ComponentId, Config, ConfigError, ConfigErrors, PipelineId, Sources};
use crate::signal::SignalKind;

pub struct Pipeline {
    pub id: PipelineId,
    /// Receivers proper; connectors listed under `receivers` are in `connectors_in`.
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    /// Exporters proper; connectors listed under `exporters` are in `connectors_out`.
    pub exporters: Vec<ComponentId>,
    /// Connectors this pipeline receives from.
    pub connectors_in: Vec<ComponentId>,
    /// Connectors this pipeline exports to.
    pub connectors_out: Vec<ComponentId>,
}

/// One connector instance: a connector for one (exporter-side, receiver-side) signal pair that the
/// configuration uses, as otelcol builds one per pair.
pub struct ConnectorUse {
    pub id: ComponentId,
    pub from: SignalKind,
    pub to: SignalKind,
    /// Indexes into [`Plan::pipelines`] of the pipelines that export to it (signal `from`).
    pub upstream: Vec<usize>,
    /// Indexes into [`Plan::pipelines`] of the pipelines it feeds (signal `to`).
    pub downstream: Vec<usize>,
}

/// A validated configuration, ready to be started.
pub struct Plan {
    pub config: Config,
    pub receivers: BTreeMap<ComponentId, Arc<dyn PreparedReceiver>>,
    pub processors: BTreeMap<ComponentId, Arc<dyn PreparedProcessor>>,
    pub exporters: BTreeMap<ComponentId, Arc<dyn PreparedExporter>>,
    pub extensions: Vec<(ComponentId, Arc<dyn PreparedExtension>)>,
    pub connectors: BTreeMap<ComponentId, Arc<dyn PreparedConnector>>,
    pub pipelines: Vec<Pipeline>,
    /// Every connector instance the pipelines use.
    pub connector_uses: Vec<ConnectorUse>,
    /// Indexes into `pipelines`, each pipeline before those its connectors feed (no cycles).
    pub order: Vec<usize>,
    pub warnings: Vec<String>,
}

fn kinds_list(names: impl Iterator<Item = &'static str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}

/// Validates `merged` (the merged, expanded YAML) and prepares every component of `registry`
/// (`ferrotel::components::builtin()` for the components built into this binary).
pub fn plan_with(
    registry: &Registry,
    merged: &Value,
    sources: &Sources,
) -> Result<Plan, ConfigErrors> {
    let attribute = |mut errs: Vec<ConfigError>| {
        for e in &mut errs {
            if e.source.is_none() {
                e.source = sources.origin(&e.path);
            }
        }
        ConfigErrors(errs)
    };
    let config: Config =
        config::every_unknown_key(merged, "", |v| config::parse(v, "").map_err(|e| vec![e]))
            .map_err(attribute)?;
    let mut errors = Vec::new();
    let mut warnings = crate::telemetry::warnings(&config.service.telemetry);

    let rf = &registry.receivers;
    let pf = &registry.processors;
    let ef = &registry.exporters;
    let xf = &registry.extensions;

    let mut receivers = BTreeMap::new();
    let mut receiver_signals: BTreeMap<ComponentId, &'static [SignalKind]> = BTreeMap::new();
    for (key, v) in &config.receivers {
        let path = format!("receivers::{key}");
        let Some(id) = parse_id(key, &path, &mut errors) else {
            continue;
        };
        match rf.iter().find(|f| f.type_name() == id.kind) {
            None => errors.push(ConfigError::new(
                path,
                format!(
                    "unknown receiver type {:?}; known receivers: {}",
                    id.kind,
                    kinds_list(rf.iter().map(|f| f.type_name()))
                ),
            )),
            Some(f) => match config::every_unknown_key(v, &path, |v| f.prepare(v, &path)) {
                Ok(p) => {
                    warnings.extend(p.warnings());
                    receiver_signals.insert(id.clone(), f.signals());
                    receivers.insert(id, p);
                }
                Err(e) => errors.extend(e),
            },
        }
    }

    let mut processors = BTreeMap::new();
    let mut processor_signals: BTreeMap<ComponentId, &'static [SignalKind]> = BTreeMap::new();
    for (key, v) in &config.processors {
        let path = format!("processors::{key}");
        let Some(id) = parse_id(key, &path, &mut errors) else {
            continue;
        };
        match pf.iter().find(|f| f.type_name() == id.kind) {
            None => errors.push(ConfigError::new(
                path,
                format!(
                    "unknown processor type {:?}; known processors: {}",
                    id.kind,
                    kinds_list(pf.iter().map(|f| f.type_name()))
                ),
            )),
            Some(f) => match config::every_unknown_key(v, &path, |v| f.prepare(v, &path)) {
                Ok(p) => {
                    warnings.extend(p.warnings());
                    processor_signals.insert(id.clone(), f.signals());
                    processors.insert(id, p);
                }
                Err(e) => errors.extend(e),
            },
        }
    }

    let mut exporters = BTreeMap::new();
    let mut exporter_signals: BTreeMap<ComponentId, &'static [SignalKind]> = BTreeMap::new();
    for (key, v) in &config.exporters {
        let path = format!("exporters::{key}");
        let Some(id) = parse_id(key, &path, &mut errors) else {
            continue;
        };
        match ef
            .iter()
            .find(|f| f.type_name() == id.kind || f.aliases().contains(&id.kind.as_str()))
        {
            None => errors.push(ConfigError::new(
                path,
                format!(
                    "unknown exporter type {:?}; known exporters: {}",
                    id.kind,
                    kinds_list(ef.iter().flat_map(|f| {
                        std::iter::once(f.type_name()).chain(f.aliases().iter().copied())
                    }))
                ),
            )),
            Some(f) => match config::every_unknown_key(v, &path, |v| f.prepare(v, &path)) {
                Ok(p) => {
                    warnings.extend(p.warnings());
                    exporter_signals.insert(id.clone(), f.signals());
                    exporters.insert(id, p);
                }
                Err(e) => errors.extend(e),
            },
        }
    }

    let mut defined_extensions = BTreeMap::new();
    for (key, v) in &config.extensions {
        let path = format!("extensions::{key}");
        let Some(id) = parse_id(key, &path, &mut errors) else {
            continue;
        };
        match xf.iter().find(|f| f.type_name() == id.kind) {
            None => errors.push(ConfigError::new(
                path,
                format!(
                    "unknown extension type {:?}; known extensions: {}",
                    id.kind,
                    kinds_list(xf.iter().map(|f| f.type_name()))
                ),
            )),
            Some(f) => match config::every_unknown_key(v, &path, |v| f.prepare(v, &path)) {
                Ok(p) => {
                    warnings.extend(p.warnings());
                    defined_extensions.insert(id, p);
                }
                Err(e) => errors.extend(e),
            },
        }
    }
    let cf = &registry.connectors;
    let mut connectors = BTreeMap::new();
    let mut connector_pairs: BTreeMap<ComponentId, &'static [(SignalKind, SignalKind)]> =
        BTreeMap::new();
    for (key, v) in &config.connectors {
        let path = format!("connectors::{key}");
        let Some(id) = parse_id(key, &path, &mut errors) else {
            continue;
        };
        // A pipeline's `receivers` and `exporters` lists name connectors too, so an id must say
        // which one it means (otelcol refuses the same ambiguity).
        for (section, taken) in [
            ("a receiver", config.receivers.contains_key(key)),
            ("an exporter", config.exporters.contains_key(key)),
        ] {
            if taken {
                errors.push(ConfigError::new(
                    path.clone(),
                    format!(
                        "ambiguous id: {key:?} names both {section} and a connector; rename one \
                         (e.g. the connector to \"{key}/connector\")"
                    ),
                ));
            }
        }
        match cf.iter().find(|f| f.type_name() == id.kind) {
            None => errors.push(ConfigError::new(
                path,
                format!(
                    "unknown connector type {:?}; known connectors: {}",
                    id.kind,
                    kinds_list(cf.iter().map(|f| f.type_name()))
                ),
            )),
            Some(f) => match config::every_unknown_key(v, &path, |v| f.prepare(v, &path)) {
                Ok(p) => {
                    warnings.extend(p.warnings());
                    connector_pairs.insert(id.clone(), f.signal_pairs());
                    connectors.insert(id, p);
                }
                Err(e) => errors.extend(e),
            },
        }
    }

    let mut extensions = Vec::new();
    for (i, key) in config.service.extensions.iter().enumerate() {
        let path = format!("service::extensions::{i}");
        let Some(id) = parse_id(key, &path, &mut errors) else {
            continue;
        };
        match defined_extensions.get(&id) {
            Some(p) => extensions.push((id, p.clone())),
            // Defined but invalid: its own errors are reported already.
            None if defined(&config, "extensions", key) => {}
            None => errors.push(ConfigError::new(
                path,
                format!("references extension {key:?}, which is not configured under extensions"),
            )),
        }
    }
    for id in defined_extensions.keys() {
        if !extensions.iter().any(|(e, _)| e == id) {
            warnings.push(format!("extensions::{id} is configured but not enabled in service::extensions; it will not run"));
        }
    }

    let mut pipelines = Vec::new();
    let mut used: BTreeSet<(&'static str, ComponentId)> = BTreeSet::new();
    // Where each connector is listed: (pipeline index, key path of the list entry).
    let mut connector_out_at: BTreeMap<ComponentId, Vec<(usize, String)>> = BTreeMap::new();
    let mut connector_in_at: BTreeMap<ComponentId, Vec<(usize, String)>> = BTreeMap::new();
    if config.service.pipelines.is_empty() {
        errors.push(ConfigError::new(
            "service::pipelines",
            "no pipelines are configured; at least one is required",
        ));
    }
    for (key, p) in &config.service.pipelines {
        let path = format!("service::pipelines::{key}");
        let id = match PipelineId::parse(key) {
            Ok(id) => id,
            Err(e) => {
                errors.push(ConfigError::new(path, e));
                continue;
            }
        };
        let sig = id.signal;
        let index = pipelines.len();
        let mut connectors_in = Vec::new();
        let mut connectors_out = Vec::new();
        let mut check = |section: &'static str,
                         list: &[String],
                         known: &BTreeMap<ComponentId, &'static [SignalKind]>,
                         errors: &mut Vec<ConfigError>| {
            let mut out = Vec::new();
            for (i, name) in list.iter().enumerate() {
                let epath = format!("{path}::{section}::{i}");
                let Some(cid) = parse_id(name, &epath, errors) else {
                    continue;
                };
                if !known.contains_key(&cid) && section != "processors" {
                    if let Some(pairs) = connector_pairs.get(&cid) {
                        // A connector: as an exporter it takes this pipeline's signal, as a receiver
                        // it produces it.
                        let (side, fits): (&str, Vec<SignalKind>) = if section == "exporters" {
                            (
                                "exporter",
                                pairs.iter().filter(|p| p.0 == sig).map(|p| p.1).collect(),
                            )
                        } else {
                            (
                                "receiver",
                                pairs.iter().filter(|p| p.1 == sig).map(|p| p.0).collect(),
                            )
                        };
                        if fits.is_empty() {
                            errors.push(ConfigError::new(
                                epath,
                                format!(
                                    "connector {name:?} cannot be used as {side} in a {sig} pipeline \
                                     (it connects: {})",
                                    pairs_list(pairs)
                                ),
                            ));
                            continue;
                        }
                        let (at, listed) = if section == "exporters" {
                            (&mut connector_out_at, &mut connectors_out)
                        } else {
                            (&mut connector_in_at, &mut connectors_in)
                        };
                        if listed.contains(&cid) {
                            errors.push(ConfigError::new(
                                epath,
                                format!("connector {name:?} is listed twice in this pipeline"),
                            ));
                            continue;
                        }
                        at.entry(cid.clone()).or_default().push((index, epath));
                        listed.push(cid.clone());
                        used.insert(("connectors", cid));
                        continue;
                    }
                }
                match known.get(&cid) {
                    None if !defined(&config, section, name) => errors.push(ConfigError::new(
                        epath,
                        format!(
                            "references {} {name:?}, which is not configured under {}",
                            &section[..section.len() - 1],
                            if section == "processors" {
                                "processors"
                            } else {
                                if section == "receivers" {
                                    "receivers or connectors"
                                } else {
                                    "exporters or connectors"
                                }
                            }
                        ),
                    )),
                    None => {} // defined but invalid: its own error is reported already
                    Some(sigs) if !sigs.contains(&sig) => errors.push(ConfigError::new(
                        epath,
                        format!(
                            "{} {name:?} does not support {sig} (it supports: {})",
                            &section[..section.len() - 1],
                            sigs.iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )),
                    Some(_) => {
                        if section == "processors" && out.contains(&cid) {
                            errors.push(ConfigError::new(
                                epath,
                                format!("processor {name:?} is listed twice in this pipeline"),
                            ));
                        }
                        used.insert((section, cid.clone()));
                        out.push(cid);
                    }
                }
            }
            out
        };
        let r = check("receivers", &p.receivers, &receiver_signals, &mut errors);
        let pr = check("processors", &p.processors, &processor_signals, &mut errors);
        let ex = check("exporters", &p.exporters, &exporter_signals, &mut errors);
        for (i, cid) in p.exporters.iter().enumerate() {
            let Ok(cid) = ComponentId::parse(cid) else {
                continue;
            };
            if let Some(Err(e)) = exporters.get(&cid).map(|x| x.check_signal(sig)) {
                errors.push(ConfigError::new(
                    format!("{path}::exporters::{i}"),
                    format!("exporter {cid}: {e}"),
                ));
            }
        }
        if p.receivers.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::receivers"),
                "a pipeline needs at least one receiver",
            ));
        }
        if p.exporters.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::exporters"),
                "a pipeline needs at least one exporter",
            ));
        }
        pipelines.push(Pipeline {
            id,
            receivers: r,
            processors: pr,
            exporters: ex,
            connectors_in,
            connectors_out,
        });
    }
    for (section, ids) in [
        ("receivers", receivers.keys().collect::<Vec<_>>()),
        ("processors", processors.keys().collect()),
        ("exporters", exporters.keys().collect()),
        ("connectors", connectors.keys().collect()),
    ] {
        for id in ids {
            if !used.contains(&(section, (*id).clone())) {
                warnings.push(format!(
                    "{section}::{id} is configured but not used in any pipeline"
                ));
            }
        }
    }

    let connector_uses = connector_wiring(
        &pipelines,
        &connectors,
        &connector_pairs,
        &connector_out_at,
        &connector_in_at,
        &mut errors,
    );
    let order = topological_order(&pipelines, &connector_uses, &connector_out_at, &mut errors);

    // Two listeners on one address cannot both start.
    let mut listeners: Vec<(String, String)> = Vec::new();
    for (id, r) in &receivers {
        if pipelines.iter().any(|p| p.receivers.contains(id)) {
            for ep in r.endpoints() {
                listeners.push((format!("receivers::{id}"), ep));
            }
        }
    }
    for (id, x) in &extensions {
        for ep in x.endpoints() {
            listeners.push((format!("extensions::{id}"), ep));
        }
    }
    if let Some(ep) = crate::telemetry::metrics_endpoint(&config.service.telemetry) {
        listeners.push(("service::telemetry::metrics".into(), ep));
    }
    for i in 0..listeners.len() {
        for j in 0..i {
            if endpoints_clash(&listeners[i].1, &listeners[j].1) {
                errors.push(ConfigError::new(
                    listeners[i].0.clone(),
                    format!(
                        "listens on {}, which {} also uses",
                        listeners[i].1, listeners[j].0
                    ),
                ));
            }
        }
    }

    if !errors.is_empty() {
        return Err(attribute(errors));
    }
    Ok(Plan {
        config,
        receivers,
        processors,
        exporters,
        extensions,
        connectors,
        pipelines,
        connector_uses,
        order,
        warnings,
    })
}

fn pairs_list(pairs: &[(SignalKind, SignalKind)]) -> String {
    pairs
        .iter()
        .map(|(a, b)| format!("{a} to {b}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that every use of a connector has a counterpart (a pipeline exporting to it has a
/// pipeline of a supported signal receiving from it, and the reverse, as otelcol requires), and
/// returns one [`ConnectorUse`] per (connector, signal pair) the configuration wires.
fn connector_wiring(
    pipelines: &[Pipeline],
    connectors: &BTreeMap<ComponentId, Arc<dyn PreparedConnector>>,
    pairs: &BTreeMap<ComponentId, &'static [(SignalKind, SignalKind)]>,
    out_at: &BTreeMap<ComponentId, Vec<(usize, String)>>,
    in_at: &BTreeMap<ComponentId, Vec<(usize, String)>>,
    errors: &mut Vec<ConfigError>,
) -> Vec<ConnectorUse> {
    let none = Vec::new();
    let mut uses = Vec::new();
    for (id, prepared) in connectors {
        let outs = out_at.get(id).unwrap_or(&none);
        let ins = in_at.get(id).unwrap_or(&none);
        let supported = pairs.get(id).copied().unwrap_or(&[]);
        for (p, epath) in outs {
            let sig = pipelines[*p].id.signal;
            let fed = ins
                .iter()
                .any(|(q, _)| supported.contains(&(sig, pipelines[*q].id.signal)));
            if !fed {
                errors.push(ConfigError::new(
                    epath.clone(),
                    format!(
                        "connector \"{id}\" is used as exporter in {sig} pipeline {} but not used \
                         as receiver in any pipeline it supports (it connects: {})",
                        pipelines[*p].id,
                        pairs_list(supported)
                    ),
                ));
            }
        }
        for (q, epath) in ins {
            let sig = pipelines[*q].id.signal;
            let fed = outs
                .iter()
                .any(|(p, _)| supported.contains(&(pipelines[*p].id.signal, sig)));
            if !fed {
                errors.push(ConfigError::new(
                    epath.clone(),
                    format!(
                        "connector \"{id}\" is used as receiver in {sig} pipeline {} but not used \
                         as exporter in any pipeline it supports (it connects: {})",
                        pipelines[*q].id,
                        pairs_list(supported)
                    ),
                ));
            }
        }
        for &(from, to) in supported {
            let upstream: Vec<usize> = outs
                .iter()
                .map(|(p, _)| *p)
                .filter(|p| pipelines[*p].id.signal == from)
                .collect();
            let downstream: Vec<usize> = ins
                .iter()
                .map(|(q, _)| *q)
                .filter(|q| pipelines[*q].id.signal == to)
                .collect();
            if upstream.is_empty() || downstream.is_empty() {
                continue;
            }
            let ids: Vec<PipelineId> = downstream
                .iter()
                .map(|q| pipelines[*q].id.clone())
                .collect();
            errors.extend(prepared.check_wiring(&format!("connectors::{id}"), from, to, &ids));
            uses.push(ConnectorUse {
                id: id.clone(),
                from,
                to,
                upstream,
                downstream,
            });
        }
    }
    uses
}

/// Orders pipelines so that each comes before every pipeline its connectors feed; a cycle through
/// connectors is an error naming the exporter entry that closes it and the whole loop.
fn topological_order(
    pipelines: &[Pipeline],
    uses: &[ConnectorUse],
    out_at: &BTreeMap<ComponentId, Vec<(usize, String)>>,
    errors: &mut Vec<ConfigError>,
) -> Vec<usize> {
    // Edges p -> q through connector c.
    let mut edges: Vec<Vec<(usize, &ComponentId)>> = vec![Vec::new(); pipelines.len()];
    for u in uses {
        for &p in &u.upstream {
            for &q in &u.downstream {
                if !edges[p].iter().any(|(t, c)| *t == q && *c == &u.id) {
                    edges[p].push((q, &u.id));
                }
            }
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; pipelines.len()];
    let mut post = Vec::with_capacity(pipelines.len());
    let mut reported = BTreeSet::new();
    for root in 0..pipelines.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // Iterative depth-first search; `stack` holds (pipeline, next edge to follow, via).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        mark[root] = Mark::Open;
        while let Some(&(p, next)) = stack.last() {
            if let Some(&(q, c)) = edges[p].get(next) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match mark[q] {
                    Mark::New => {
                        mark[q] = Mark::Open;
                        stack.push((q, 0));
                    }
                    Mark::Open => {
                        // The loop is q .. p on the stack, closed by p's exporter entry for c.
                        let from = stack.iter().position(|(s, _)| *s == q).unwrap_or(0);
                        let mut names = Vec::new();
                        for w in stack[from..].windows(2) {
                            let (a, ai) = w[0];
                            let via = edges[a][ai - 1].1;
                            names.push(format!("{} -> {via}", pipelines[a].id));
                        }
                        names.push(format!("{} -> {c}", pipelines[p].id));
                        names.push(pipelines[q].id.to_string());
                        let epath = out_at
                            .get(c)
                            .and_then(|v| v.iter().find(|(i, _)| *i == p))
                            .map(|(_, e)| e.clone())
                            .unwrap_or_else(|| format!("service::pipelines::{}", pipelines[p].id));
                        if reported.insert(epath.clone()) {
                            errors.push(ConfigError::new(
                                epath,
                                format!("cycle through connectors: {}", names.join(" -> ")),
                            ));
                        }
                    }
                    Mark::Done => {}
                }
            } else {
                mark[p] = Mark::Done;
                post.push(p);
                stack.pop();
            }
        }
    }
    post.reverse();
    post
}

fn defined(config: &Config, section: &str, name: &str) -> bool {
    let own = match section {
        "receivers" => config.receivers.contains_key(name),
        "processors" => config.processors.contains_key(name),
        "exporters" => config.exporters.contains_key(name),
        "extensions" => config.extensions.contains_key(name),
        _ => false,
    };
    own || (section != "processors" && config.connectors.contains_key(name))
}

fn parse_id(key: &str, path: &str, errors: &mut Vec<ConfigError>) -> Option<ComponentId> {
    match ComponentId::parse(key) {
        Ok(id) => Some(id),
        Err(e) => {
            errors.push(ConfigError::new(path, e));
            None
        }
    }
}

pub use crate::net::split_host_port;

fn endpoints_clash(a: &str, b: &str) -> bool {
    let (Some((ha, pa)), Some((hb, pb))) = (split_host_port(a), split_host_port(b)) else {
        return false;
    };
    if pa != pb || pa == 0 {
        return false;
    }
    let any = |h: &str| h.is_empty() || h == "0.0.0.0" || h == "::";
    let norm = |h: &str| {
        if h == "localhost" {
            "127.0.0.1".to_string()
        } else {
            h.to_string()
        }
    };
    any(ha) || any(hb) || norm(ha) == norm(hb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clash_rules() {
        assert!(endpoints_clash("localhost:4317", "127.0.0.1:4317"));
        assert!(endpoints_clash("0.0.0.0:4317", "127.0.0.1:4317"));
        assert!(!endpoints_clash("localhost:4317", "localhost:4318"));
        assert!(!endpoints_clash("127.0.0.1:0", "127.0.0.1:0"));
    }
}

#[cfg(test)]
mod signal_tests {
    use std::sync::Arc;

    use super::*;
    use crate::component::{ConfigResult, ExporterFactory, Host, PreparedExporter, StartError};
    use crate::pipeline::AnyConsumer;

    /// An exporter that only takes traces, to check the signal-support error.
    struct TracesOnly;
    impl PreparedExporter for TracesOnly {
        fn create(
            &self,
            _: &ComponentId,
            _: SignalKind,
            _: &Host,
        ) -> Result<AnyConsumer, StartError> {
            Err(StartError::new("x", "not used"))
        }
    }
    impl ExporterFactory for TracesOnly {
        fn type_name(&self) -> &'static str {
            "tracesonly"
        }
        fn signals(&self) -> &'static [SignalKind] {
            &[SignalKind::Traces]
        }
        fn prepare(&self, _: &Value, _: &str) -> ConfigResult<Arc<dyn PreparedExporter>> {
            Ok(Arc::new(TracesOnly))
        }
    }

    #[test]
    fn component_used_with_a_signal_it_does_not_support() {
        let mut registry = crate::components::builtin();
        registry.exporters.push(Box::new(TracesOnly));
        let yaml = "receivers: {otlp: {protocols: {grpc: {endpoint: 'localhost:0'}}}}\nexporters: {tracesonly: }\nservice: {pipelines: {logs: {receivers: [otlp], exporters: [tracesonly]}}}";
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        let err = plan_with(&registry, &v, &Sources::default())
            .err()
            .expect("must fail")
            .to_string();
        assert!(
            err.contains("service::pipelines::logs::exporters::0: exporter \"tracesonly\" does not support logs (it supports: traces)"),
            "{err}"
        );
    }
}

/// Start-time problems that can be seen without the network, for `validate` (errors with `--strict`)
/// and the start-up log: certificate files missing or not PEM, `auth::authenticator` ids that name no
/// enabled extension able to authenticate that way, `sending_queue::storage` ids that name no enabled
/// storage extension, and extensions that cannot be built. Warnings only, as otelcol's `validate`
/// does not open files (certificates are often mounted only at run time).
///
/// Builds (never starts) each enabled extension to learn what it can do; call it with a tokio
/// runtime entered.
pub fn start_warnings(plan: &Plan) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut server_auth = BTreeSet::new();
    let mut client_auth = BTreeSet::new();
    let mut enabled = BTreeSet::new();
    for (id, p) in &plan.extensions {
        enabled.insert(id.to_string());
        match p.create(id) {
            Ok(ext) => {
                if ext.server_authenticator().is_some() {
                    server_auth.insert(id.to_string());
                }
                if ext.client_authenticator().is_some() {
                    client_auth.insert(id.to_string());
                }
            }
            Err(e) => warnings.push(format!("extensions::{id}: {}", e.message)),
        }
    }
    let sections = [
        ("receivers", &plan.config.receivers),
        ("processors", &plan.config.processors),
        ("exporters", &plan.config.exporters),
        ("extensions", &plan.config.extensions),
    ];
    for (section, components) in sections {
        for (key, v) in components {
            let path = format!("{section}::{key}");
            walk(v, &path, &mut |path, k, v| {
                let Some(s) = v.as_str() else { return };
                match k {
                    "cert_file" | "key_file" | "ca_file" | "client_ca_file" => {
                        if let Err(e) = crate::tls::ClientTls::read_pem(s, "file") {
                            warnings.push(format!("{path}::{k}: {e}"));
                        }
                    }
                    "authenticator" if path.ends_with("::auth") => {
                        let (suitable, how) = if section == "receivers" {
                            (&server_auth, "authenticate incoming requests")
                        } else {
                            (&client_auth, "add credentials to outgoing requests")
                        };
                        if !enabled.contains(s) {
                            warnings.push(format!("{path}::{k}: {s:?} names no extension configured and enabled in service::extensions"));
                        } else if !suitable.contains(s) {
                            warnings.push(format!("{path}::{k}: extension {s:?} cannot {how}"));
                        }
                    }
                    "storage" if path.ends_with("::sending_queue") => {
                        if !enabled.contains(s) {
                            warnings.push(format!("{path}::{k}: {s:?} names no extension configured and enabled in service::extensions"));
                        } else if ComponentId::parse(s).map_or(true, |id| id.kind != "file_storage")
                        {
                            warnings.push(format!(
                                "{path}::{k}: extension {s:?} is not a storage extension"
                            ));
                        }
                    }
                    _ => {}
                }
            });
        }
    }
    warnings
}

/// Calls `f(path, key, value)` for every key of every mapping under `v`.
fn walk(v: &Value, path: &str, f: &mut dyn FnMut(&str, &str, &Value)) {
    if let Value::Mapping(m) = v {
        for (k, child) in m {
            let Some(k) = k.as_str() else { continue };
            f(path, k, child);
            walk(child, &format!("{path}::{k}"), f);
        }
    }
}

#[cfg(test)]
mod connector_tests;
