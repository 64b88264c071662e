//! The `resourcedetection` processor: detects where the collector runs once, at start, and adds what
//! it found to every resource passing through, as otelcol-contrib's processor does.
//!
//! Detectors: `env` (`OTEL_RESOURCE_ATTRIBUTES`) and `system` (`host.name`, `os.type`, and on request
//! `host.id` from the machine id and `host.arch`). Earlier detectors win over later ones; `override`
//! decides whether detected values replace attributes the data already has.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{ConfigResult, Host, PreparedProcessor, ProcessorFactory, StartError};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, BuildFor, ConsumeError, Consumer};
use crate::signal::{Batch, Signal, SignalKind};

const DETECTORS: &[&str] = &["env", "system"];
const SYSTEM_ATTRIBUTES: &[&str] = &["host.name", "os.type", "host.id", "host.arch"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_detectors")]
    pub detectors: Vec<String>,
    #[serde(default = "yes", rename = "override")]
    pub override_existing: bool,
    #[serde(default = "default_timeout", with = "crate::config::duration")]
    pub timeout: Duration,
    #[serde(default)]
    pub system: SystemConfig,
    /// Deprecated in otelcol but still honoured: when set, only these detected keys are added.
    #[serde(default)]
    pub attributes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// Where `host.name` comes from, first that works wins: `os` (the kernel's hostname); `dns`,
    /// `cname` and `lookup` are accepted and read the same name (see the README).
    #[serde(default = "default_hostname_sources")]
    pub hostname_sources: Vec<String>,
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, Toggle>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            hostname_sources: default_hostname_sources(),
            resource_attributes: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Toggle {
    pub enabled: bool,
}

fn default_detectors() -> Vec<String> {
    vec!["env".into()]
}
fn yes() -> bool {
    true
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_hostname_sources() -> Vec<String> {
    vec!["dns".into(), "os".into()]
}

impl SystemConfig {
    /// otelcol's defaults: `host.name` and `os.type` on, the rest off.
    fn enabled(&self, attr: &str) -> bool {
        match self.resource_attributes.get(attr) {
            Some(t) => t.enabled,
            None => matches!(attr, "host.name" | "os.type"),
        }
    }
}

pub struct Factory;

impl ProcessorFactory for Factory {
    fn type_name(&self) -> &'static str {
        "resourcedetection"
    }

    fn signals(&self) -> &'static [SignalKind] {
        &SignalKind::ALL
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedProcessor>> {
        let c: Config = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        for (i, d) in c.detectors.iter().enumerate() {
            if !DETECTORS.contains(&d.as_str()) {
                errors.push(ConfigError::new(
                    format!("{path}::detectors::{i}"),
                    format!(
                        "unknown detector {d:?}; ferrotel supports: {}",
                        DETECTORS.join(", ")
                    ),
                ));
            }
        }
        for (i, s) in c.system.hostname_sources.iter().enumerate() {
            if !["os", "dns", "cname", "lookup"].contains(&s.as_str()) {
                errors.push(ConfigError::new(
                    format!("{path}::system::hostname_sources::{i}"),
                    format!("unknown hostname source {s:?} (os, dns, cname, lookup)"),
                ));
            }
        }
        for attr in c.system.resource_attributes.keys() {
            if !SYSTEM_ATTRIBUTES.contains(&attr.as_str()) {
                errors.push(ConfigError::new(
                    format!("{path}::system::resource_attributes::{attr}"),
                    format!(
                        "unknown attribute {attr:?}; the system detector sets: {}",
                        SYSTEM_ATTRIBUTES.join(", ")
                    ),
                ));
            }
        }
        if c.timeout.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}::timeout"),
                "must be greater than zero",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared {
            path: path.to_string(),
            cfg: c,
            detected: OnceLock::new(),
        }))
    }
}

struct Prepared {
    path: String,
    cfg: Config,
    /// Detected once, on the first pipeline that uses this processor.
    detected: OnceLock<Arc<Vec<KeyValue>>>,
}

impl PreparedProcessor for Prepared {
    fn warnings(&self) -> Vec<String> {
        match &self.cfg.attributes {
            Some(_) => vec![format!(
                "{}::attributes is deprecated (as in otelcol): use each detector's resource_attributes",
                self.path
            )],
            None => vec![],
        }
    }
    fn create(
        &self,
        id: &ComponentId,
        _pipeline: &str,
        next: AnyConsumer,
        _host: &Host,
    ) -> Result<AnyConsumer, StartError> {
        let attrs = match self.detected.get() {
            Some(a) => a.clone(),
            None => {
                let mut a = detect_with_timeout(&self.cfg).map_err(|e| StartError::new(id, e))?;
                if let Some(keep) = &self.cfg.attributes {
                    a.retain(|kv| keep.contains(&kv.key));
                }
                let a = Arc::new(a);
                tracing::info!(processor = %id, attributes = ?a.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), "detected resource attributes");
                self.detected.get_or_init(|| a).clone()
            }
        };
        Ok(next.wrap(&Build {
            attrs,
            override_existing: self.cfg.override_existing,
        }))
    }
}

/// Runs the detectors on a thread of their own so a slow one cannot hold start-up past `timeout`.
fn detect_with_timeout(cfg: &Config) -> Result<Vec<KeyValue>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let c = cfg.clone();
    std::thread::spawn(move || {
        let _ = tx.send(detect(&c, |k| std::env::var(k).ok()));
    });
    rx.recv_timeout(cfg.timeout)
        .map_err(|_| format!("resource detection did not finish within {:?}", cfg.timeout))
}

/// Runs each configured detector in order; an attribute found by an earlier one is kept.
fn detect(cfg: &Config, env: impl Fn(&str) -> Option<String>) -> Vec<KeyValue> {
    let mut out: Vec<(String, String)> = Vec::new();
    let add = |k: String, v: String, out: &mut Vec<(String, String)>| {
        if !out.iter().any(|(ok, _)| *ok == k) {
            out.push((k, v));
        }
    };
    for d in &cfg.detectors {
        match d.as_str() {
            "env" => {
                for (k, v) in
                    parse_resource_attributes(&env("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default())
                {
                    add(k, v, &mut out);
                }
            }
            "system" => {
                let s = &cfg.system;
                if s.enabled("host.name") {
                    if let Some(h) = hostname(&env) {
                        add("host.name".into(), h, &mut out);
                    }
                }
                if s.enabled("os.type") {
                    add("os.type".into(), os_type().into(), &mut out);
                }
                if s.enabled("host.id") {
                    if let Some(id) = machine_id() {
                        add("host.id".into(), id, &mut out);
                    }
                }
                if s.enabled("host.arch") {
                    add("host.arch".into(), host_arch().into(), &mut out);
                }
            }
            _ => {}
        }
    }
    out.into_iter()
        .map(|(key, v)| KeyValue {
            key,
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v)),
            }),
            ..Default::default()
        })
        .collect()
}

/// `key1=value1,key2=value2`, values percent-decoded (the OpenTelemetry SDK's environment format).
/// Malformed pairs are logged and skipped.
pub fn parse_resource_attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.push((k.trim().to_string(), percent_decode(v.trim())))
            }
            _ => tracing::warn!(
                pair,
                "ignoring a malformed OTEL_RESOURCE_ATTRIBUTES entry (expected key=value)"
            ),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hostname(env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .chain(env("HOSTNAME"))
        .find(|s| !s.is_empty())
}

/// otelcol's `os.type` values (Go's GOOS names).
fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// otelcol's `host.arch` values (Go's GOARCH names).
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    }
}

fn machine_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}

/// Access to the resource of each signal's top-level message.
pub trait HasResource {
    fn resource_mut(&mut self) -> &mut Option<Resource>;
}

impl HasResource for ResourceSpans {
    fn resource_mut(&mut self) -> &mut Option<Resource> {
        &mut self.resource
    }
}
impl HasResource for ResourceMetrics {
    fn resource_mut(&mut self) -> &mut Option<Resource> {
        &mut self.resource
    }
}
impl HasResource for ResourceLogs {
    fn resource_mut(&mut self) -> &mut Option<Resource> {
        &mut self.resource
    }
}

/// Adds `attrs` to `resource`: missing keys are inserted; present ones replaced only with `override`.
fn apply(resource: &mut Option<Resource>, attrs: &[KeyValue], override_existing: bool) {
    let r = resource.get_or_insert_with(Resource::default);
    for kv in attrs {
        match r.attributes.iter_mut().find(|a| a.key == kv.key) {
            Some(existing) if override_existing => existing.value = kv.value.clone(),
            Some(_) => {}
            None => r.attributes.push(kv.clone()),
        }
    }
}

struct Build {
    attrs: Arc<Vec<KeyValue>>,
    override_existing: bool,
}

impl Build {
    fn make<S: Signal>(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>>
    where
        S::Resource: HasResource,
    {
        if self.attrs.is_empty() {
            return next;
        }
        Arc::new(ResourceDetection {
            attrs: self.attrs.clone(),
            override_existing: self.override_existing,
            next,
        })
    }
}

impl<S: Signal> BuildFor<S> for Build
where
    S::Resource: HasResource,
{
    fn build(&self, next: Arc<dyn Consumer<S>>) -> Arc<dyn Consumer<S>> {
        self.make(next)
    }
}

struct ResourceDetection<S: Signal> {
    attrs: Arc<Vec<KeyValue>>,
    override_existing: bool,
    next: Arc<dyn Consumer<S>>,
}

#[async_trait]
impl<S: Signal> Consumer<S> for ResourceDetection<S>
where
    S::Resource: HasResource,
{
    async fn consume(&self, mut batch: Batch<S>) -> Result<(), ConsumeError> {
        // An encoded batch stays encoded: only its resources are decoded and edited.
        let mut edit = |r: &mut Option<Resource>| apply(r, &self.attrs, self.override_existing);
        if !batch.edit_encoded_resources(&mut edit)? {
            for r in batch.resources_mut()?.iter_mut() {
                edit(r.resource_mut());
            }
        }
        self.next.consume(batch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Traces;
    use std::sync::Mutex;

    fn cfg(yaml: &str) -> Config {
        crate::config::parse(
            &serde_yaml::from_str(yaml).unwrap(),
            "processors::resourcedetection",
        )
        .unwrap()
    }

    fn s(v: &KeyValue) -> (&str, &str) {
        match &v.value.as_ref().unwrap().value {
            Some(any_value::Value::StringValue(x)) => (v.key.as_str(), x.as_str()),
            _ => panic!("not a string"),
        }
    }

    #[test]
    fn env_format() {
        assert_eq!(
            parse_resource_attributes(
                " service.name=checkout , deployment.environment=prod%20eu,bad, k=a%2Cb"
            ),
            vec![
                ("service.name".into(), "checkout".into()),
                ("deployment.environment".into(), "prod eu".into()),
                ("k".into(), "a,b".into()),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn detectors_in_order_first_wins() {
        let env = |k: &str| match k {
            "OTEL_RESOURCE_ATTRIBUTES" => Some("host.name=from-env,team=a".to_string()),
            _ => None,
        };
        let c = cfg(
            "detectors: [env, system]\nsystem: {resource_attributes: {host.arch: {enabled: true}}}",
        );
        let got = detect(&c, env);
        let got: Vec<_> = got.iter().map(s).collect();
        assert_eq!(got[0], ("host.name", "from-env"));
        assert_eq!(got[1], ("team", "a"));
        assert!(got.contains(&("os.type", os_type())));
        assert!(got.contains(&("host.arch", host_arch())));
        assert!(
            !got.iter().any(|(k, _)| *k == "host.id"),
            "host.id is off by default"
        );
        let c = cfg("detectors: [system, env]\nsystem: {resource_attributes: {host.id: {enabled: true}, os.type: {enabled: false}}}");
        let got = detect(&c, env);
        let got: Vec<_> = got.iter().map(s).collect();
        assert_ne!(got[0], ("host.name", "from-env"));
        assert!(!got.iter().any(|(k, _)| *k == "os.type"));
        if let Some(id) = machine_id() {
            assert!(got.contains(&("host.id", id.as_str())));
        }
    }

    #[test]
    fn override_or_keep() {
        let attrs = vec![KeyValue {
            key: "host.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("detected".into())),
            }),
            ..Default::default()
        }];
        let original = Some(Resource {
            attributes: vec![KeyValue {
                key: "host.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("app".into())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        });
        let mut r = original.clone();
        apply(&mut r, &attrs, false);
        assert_eq!(s(&r.as_ref().unwrap().attributes[0]).1, "app");
        let mut r = original;
        apply(&mut r, &attrs, true);
        assert_eq!(s(&r.as_ref().unwrap().attributes[0]).1, "detected");
        let mut none = None;
        apply(&mut none, &attrs, false);
        assert_eq!(none.unwrap().attributes.len(), 1);
    }

    #[test]
    fn config_errors() {
        let e = Factory
            .prepare(
                &serde_yaml::from_str("detectors: [env, ec2]\ntimeout: 0s\nsystem: {resource_attributes: {host.cpu.model: {enabled: true}}}").unwrap(),
                "processors::resourcedetection",
            )
            .err()
            .unwrap();
        let paths: Vec<_> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "processors::resourcedetection::detectors::1",
                "processors::resourcedetection::system::resource_attributes::host.cpu.model",
                "processors::resourcedetection::timeout"
            ]
        );
        let c = cfg("{}");
        assert_eq!(c.detectors, ["env"]);
        assert!(c.override_existing);
        assert_eq!(c.timeout, Duration::from_secs(5));
    }

    struct Collect(Mutex<Vec<ResourceSpans>>);
    #[async_trait]
    impl Consumer<Traces> for Collect {
        async fn consume(&self, b: Batch<Traces>) -> Result<(), ConsumeError> {
            self.0.lock().unwrap().extend(b.into_resources()?);
            Ok(())
        }
    }

    #[tokio::test]
    async fn adds_attributes_to_every_resource() {
        let sink = Arc::new(Collect(Mutex::new(vec![])));
        let attrs = Arc::new(detect(&cfg("detectors: [env]"), |_| {
            Some("a=1".to_string())
        }));
        let build = Build {
            attrs,
            override_existing: true,
        };
        let p = BuildFor::<Traces>::build(&build, sink.clone());
        let batch = Batch::<Traces>::from_resources(vec![ResourceSpans::default(); 2]);
        p.consume(batch).await.unwrap();
        let got = sink.0.lock().unwrap();
        assert_eq!(got.len(), 2);
        for r in got.iter() {
            assert_eq!(s(&r.resource.as_ref().unwrap().attributes[0]), ("a", "1"));
        }
    }
}
