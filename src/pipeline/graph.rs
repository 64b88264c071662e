//! Turning a config into a validated plan: every component prepared by its factory, every pipeline's
//! references checked, listeners checked for clashes. Collects every error before anything starts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_yaml::Value;

use crate::component::{
    PreparedExporter, PreparedExtension, PreparedProcessor, PreparedReceiver, Registry,
};
use crate::config::{self, ComponentId, Config, ConfigError, ConfigErrors, PipelineId, Sources};
use crate::signal::SignalKind;

pub struct Pipeline {
    pub id: PipelineId,
    pub receivers: Vec<ComponentId>,
    pub processors: Vec<ComponentId>,
    pub exporters: Vec<ComponentId>,
}

/// A validated configuration, ready to be started.
pub struct Plan {
    pub config: Config,
    pub receivers: BTreeMap<ComponentId, Arc<dyn PreparedReceiver>>,
    pub processors: BTreeMap<ComponentId, Arc<dyn PreparedProcessor>>,
    pub exporters: BTreeMap<ComponentId, Arc<dyn PreparedExporter>>,
    pub extensions: Vec<(ComponentId, Arc<dyn PreparedExtension>)>,
    pub pipelines: Vec<Pipeline>,
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
    let config: Config = config::parse(merged, "").map_err(|e| attribute(vec![e]))?;
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
            Some(f) => match f.prepare(v, &path) {
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
            Some(f) => match f.prepare(v, &path) {
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
            Some(f) => match f.prepare(v, &path) {
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
            Some(f) => match f.prepare(v, &path) {
                Ok(p) => {
                    warnings.extend(p.warnings());
                    defined_extensions.insert(id, p);
                }
                Err(e) => errors.extend(e),
            },
        }
    }
    for key in config.connectors.keys() {
        errors.push(ConfigError::new(
            format!("connectors::{key}"),
            "connectors are not supported by ferrotel yet (see the README)",
        ));
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
                match known.get(&cid) {
                    None if !defined(&config, section, name) => errors.push(ConfigError::new(
                        epath,
                        format!(
                            "references {} {name:?}, which is not configured under {section}",
                            &section[..section.len() - 1]
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
        });
    }
    for (section, ids) in [
        ("receivers", receivers.keys().collect::<Vec<_>>()),
        ("processors", processors.keys().collect()),
        ("exporters", exporters.keys().collect()),
    ] {
        for id in ids {
            if !used.contains(&(section, (*id).clone())) {
                warnings.push(format!(
                    "{section}::{id} is configured but not used in any pipeline"
                ));
            }
        }
    }

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
        pipelines,
        warnings,
    })
}

fn defined(config: &Config, section: &str, name: &str) -> bool {
    match section {
        "receivers" => config.receivers.contains_key(name),
        "processors" => config.processors.contains_key(name),
        "exporters" => config.exporters.contains_key(name),
        "extensions" => config.extensions.contains_key(name),
        _ => false,
    }
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
