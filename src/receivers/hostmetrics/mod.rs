//! The `hostmetrics` receiver (Linux): CPU, load, memory, disk, filesystem, network, paging,
//! processes, per-process and system metrics, read from `/proc` and `/sys` under `root_path`
//! every `collection_interval`, named as otelcol's hostmetrics scrapers name them.

pub mod config;
pub mod scrapers;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric, ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_yaml::Value;
use tokio::sync::watch;

use self::config::{Config, IncludeExclude, ScraperConfig, SCRAPERS};
use self::scrapers::{Out, Stamp};
use crate::component::{
    ConfigResult, Host, PreparedReceiver, Receiver, ReceiverFactory, StartError,
};
use crate::config::{ComponentId, ConfigError};
use crate::pipeline::{AnyConsumer, Consumer};
use crate::signal::{Batch, Metrics, SignalKind};
use crate::telemetry::events;

pub const SCOPE_PREFIX: &str =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver/internal/scraper/";

pub struct Factory;

/// One scraper, compiled.
#[derive(Clone)]
struct Scraper {
    name: String,
    /// Metric switches from `metrics:` (only disabling is meaningful: ferrotel emits the metrics
    /// otelcol enables by default).
    disabled: Vec<String>,
    filter: IncludeExclude,
    fs: Option<Arc<scrapers::FsFilter>>,
    process: Option<Arc<scrapers::ProcessOptions>>,
    /// `load`: per logical CPU.
    cpu_average: bool,
}

struct Prepared {
    cfg: Config,
    scrapers: Vec<Scraper>,
    warnings: Vec<String>,
}

fn ie(
    inc: &Option<config::Filter>,
    exc: &Option<config::Filter>,
    pick: fn(&config::Filter) -> &Vec<String>,
    path: &str,
    keys: (&str, &str),
    errors: &mut Vec<ConfigError>,
) -> IncludeExclude {
    IncludeExclude {
        include: inc
            .as_ref()
            .and_then(|f| f.compile(pick(f), &format!("{path}::{}", keys.0), errors)),
        exclude: exc
            .as_ref()
            .and_then(|f| f.compile(pick(f), &format!("{path}::{}", keys.1), errors)),
    }
}

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        "hostmetrics"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Metrics]
    }
    fn prepare(&self, raw: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
        let cfg: Config = crate::config::parse(raw, path).map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if cfg.collection_interval.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}::collection_interval"),
                "requires positive value",
            ));
        }
        if cfg.scrapers.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::scrapers"),
                "must specify at least one scraper when using hostmetrics receiver",
            ));
        }
        // As otelcol's validation: the root must exist (a relative one is taken from the working
        // directory).
        if !cfg.root_path.is_empty() {
            if let Err(e) = std::fs::metadata(&cfg.root_path) {
                errors.push(ConfigError::new(
                    format!("{path}::root_path"),
                    format!("invalid root_path {:?}: {e}", cfg.root_path),
                ));
            }
        }
        for key in ["timeout", "metadata_collection_interval"] {
            let set = match key {
                "timeout" => cfg.timeout.is_some(),
                _ => cfg.metadata_collection_interval.is_some(),
            };
            if set {
                warnings.push(format!(
                    "{path}::{key}: accepted and not implemented by ferrotel"
                ));
            }
        }
        let mut list = Vec::new();
        for (name, sc) in &cfg.scrapers {
            let p = format!("{path}::scrapers::{name}");
            if !SCRAPERS.contains(&name.as_str()) {
                errors.push(ConfigError::new(
                    &p,
                    format!("invalid scraper key {name:?} ({})", SCRAPERS.join(", ")),
                ));
                continue;
            }
            // The scraper config type is a union: refuse keys that belong to another scraper.
            if let Some(map) = raw
                .get("scrapers")
                .and_then(|s| s.get(name.as_str()))
                .and_then(Value::as_mapping)
            {
                for k in map.keys().filter_map(Value::as_str) {
                    if k != "metrics"
                        && k != "resource_attributes"
                        && !config::allowed_keys(name).contains(&k)
                    {
                        errors.push(ConfigError::new(
                            format!("{p}::{k}"),
                            format!("unknown key for the {name} scraper"),
                        ));
                    }
                }
            }
            let sc: ScraperConfig = sc.clone().unwrap_or_default();
            let mut disabled = Vec::new();
            for (m, sw) in &sc.metrics {
                if !sw.enabled {
                    disabled.push(m.clone());
                } else {
                    warnings.push(format!("{p}::metrics::{m}: enabling metrics that otelcol disables by default is not implemented by ferrotel; only the default set is emitted"));
                }
            }
            if !sc.resource_attributes.is_empty() {
                warnings.push(format!(
                    "{p}::resource_attributes: accepted and not implemented by ferrotel"
                ));
            }
            let filter = match name.as_str() {
                "disk" => ie(
                    &sc.include,
                    &sc.exclude,
                    |f| &f.devices,
                    &p,
                    ("include::devices", "exclude::devices"),
                    &mut errors,
                ),
                "network" => ie(
                    &sc.include,
                    &sc.exclude,
                    |f| &f.interfaces,
                    &p,
                    ("include::interfaces", "exclude::interfaces"),
                    &mut errors,
                ),
                "process" => ie(
                    &sc.include,
                    &sc.exclude,
                    |f| &f.names,
                    &p,
                    ("include::names", "exclude::names"),
                    &mut errors,
                ),
                _ => IncludeExclude::default(),
            };
            let fs = (name == "filesystem").then(|| {
                Arc::new(scrapers::FsFilter {
                    devices: ie(
                        &sc.include_devices,
                        &sc.exclude_devices,
                        |f| &f.devices,
                        &p,
                        ("include_devices::devices", "exclude_devices::devices"),
                        &mut errors,
                    ),
                    fs_types: ie(
                        &sc.include_fs_types,
                        &sc.exclude_fs_types,
                        |f| &f.fs_types,
                        &p,
                        ("include_fs_types::fs_types", "exclude_fs_types::fs_types"),
                        &mut errors,
                    ),
                    mount_points: ie(
                        &sc.include_mount_points,
                        &sc.exclude_mount_points,
                        |f| &f.mount_points,
                        &p,
                        (
                            "include_mount_points::mount_points",
                            "exclude_mount_points::mount_points",
                        ),
                        &mut errors,
                    ),
                    include_virtual: sc.include_virtual_filesystems,
                })
            });
            let all = sc.mute_process_all_errors;
            let process = (name == "process").then(|| {
                Arc::new(scrapers::ProcessOptions {
                    names: filter.clone(),
                    mute_name: all || sc.mute_process_name_error,
                    mute_exe: all || sc.mute_process_exe_error,
                    mute_io: all || sc.mute_process_io_error,
                    mute_user: all || sc.mute_process_user_error,
                })
            });
            if sc.scrape_process_delay.is_some() || sc.mute_process_cgroup_error {
                warnings.push(format!("{p}: scrape_process_delay and mute_process_cgroup_error are accepted and not implemented by ferrotel"));
            }
            list.push(Scraper {
                name: name.clone(),
                disabled,
                filter,
                fs,
                process,
                cpu_average: sc.cpu_average,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Arc::new(Prepared {
            cfg,
            scrapers: list,
            warnings,
        }))
    }
}

impl PreparedReceiver for Prepared {
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
    fn endpoints(&self) -> Vec<String> {
        vec![]
    }
    fn create(
        &self,
        id: &ComponentId,
        consumers: Vec<AnyConsumer>,
        _host: &Host,
    ) -> Result<Box<dyn Receiver>, StartError> {
        let next = consumers
            .iter()
            .find_map(AnyConsumer::typed::<Metrics>)
            .ok_or_else(|| StartError::new(format!("receivers::{id}"), "no metrics pipeline"))?;
        Ok(Box::new(HostMetrics {
            id: id.to_string(),
            interval: self.cfg.collection_interval,
            initial_delay: self.cfg.initial_delay,
            root: self.cfg.root_path.trim_end_matches('/').to_string(),
            scrapers: self.scrapers.clone(),
            next,
            stop: None,
            task: None,
        }))
    }
}

struct HostMetrics {
    id: String,
    interval: Duration,
    initial_delay: Duration,
    root: String,
    scrapers: Vec<Scraper>,
    next: Arc<dyn Consumer<Metrics>>,
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[async_trait]
impl Receiver for HostMetrics {
    async fn start(&mut self, _host: &Host) -> Result<(), StartError> {
        let (tx, mut rx) = watch::channel(false);
        let (id, interval, delay, root, scrapers, next) = (
            self.id.clone(),
            self.interval,
            self.initial_delay,
            self.root.clone(),
            self.scrapers.clone(),
            self.next.clone(),
        );
        self.task = Some(tokio::spawn(async move {
            tokio::select! {
                _ = rx.changed() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = rx.changed() => return,
                    _ = ticker.tick() => {}
                }
                let root2 = root.clone();
                let scrapers2 = scrapers.clone();
                let resources = tokio::task::spawn_blocking(move || collect(&root2, &scrapers2))
                    .await
                    .unwrap_or_default();
                let batch = Batch::<Metrics>::from_resources(resources);
                let n = batch.items();
                if n == 0 {
                    continue;
                }
                match next.consume(batch).await {
                    Ok(()) => events::receiver_accepted(&id, "", SignalKind::Metrics, n),
                    Err(e) => {
                        if e.is_retryable() {
                            events::receiver_refused(&id, "", SignalKind::Metrics, n);
                        } else {
                            events::receiver_failed(&id, "", SignalKind::Metrics, n);
                        }
                        tracing::warn!(receiver = %id, error = %e, "host metrics refused by the pipeline");
                    }
                }
            }
        }));
        self.stop = Some(tx);
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn scope(name: &str, metrics: Vec<Metric>) -> ScopeMetrics {
    ScopeMetrics {
        scope: Some(InstrumentationScope {
            name: format!("{SCOPE_PREFIX}{name}scraper"),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }),
        metrics,
        schema_url: String::new(),
    }
}

fn points(m: &Metric) -> usize {
    match &m.data {
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        _ => 0,
    }
}

/// One collection: every scraper once. Host scrapers share one resource (no attributes, as
/// otelcol); each process is its own resource.
pub fn collect_all(root: &str, names: &[&str]) -> Vec<ResourceMetrics> {
    let scrapers: Vec<Scraper> = names
        .iter()
        .map(|n| Scraper {
            name: n.to_string(),
            disabled: vec![],
            filter: IncludeExclude::default(),
            fs: (*n == "filesystem").then(|| {
                Arc::new(scrapers::FsFilter {
                    devices: IncludeExclude::default(),
                    fs_types: IncludeExclude::default(),
                    mount_points: IncludeExclude::default(),
                    include_virtual: false,
                })
            }),
            process: (*n == "process").then(|| {
                Arc::new(scrapers::ProcessOptions {
                    names: IncludeExclude::default(),
                    mute_name: true,
                    mute_exe: true,
                    mute_io: true,
                    mute_user: true,
                })
            }),
            cpu_average: false,
        })
        .collect();
    collect(root, &scrapers)
}

fn collect(root: &str, list: &[Scraper]) -> Vec<ResourceMetrics> {
    let now = now_nanos();
    let boot = scrapers::boot_time(root)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000);
    let stamp = Stamp { now, start: boot };
    let mut host_scopes = Vec::new();
    let mut out = Vec::new();
    for s in list {
        let mut o = Out { metrics: vec![] };
        let result = match s.name.as_str() {
            "cpu" => scrapers::cpu(root, stamp, &mut o),
            "load" => scrapers::load(root, s.cpu_average, stamp, &mut o),
            "memory" => scrapers::memory(root, stamp, &mut o),
            "disk" => scrapers::disk(root, &s.filter, stamp, &mut o),
            "filesystem" => match &s.fs {
                Some(f) => scrapers::filesystem(root, f, stamp, &mut o),
                None => Ok(()),
            },
            "network" => scrapers::network(root, &s.filter, stamp, &mut o),
            "paging" => scrapers::paging(root, stamp, &mut o),
            "processes" => scrapers::processes(root, stamp, &mut o),
            "system" => scrapers::system(root, stamp, &mut o),
            "process" => {
                let mut errors = Vec::new();
                if let Some(opts) = &s.process {
                    for p in scrapers::process(root, opts, now, &mut errors) {
                        let metrics: Vec<Metric> = p
                            .metrics
                            .into_iter()
                            .filter(|m| !s.disabled.contains(&m.name))
                            .collect();
                        out.push(ResourceMetrics {
                            resource: Some(Resource {
                                attributes: p.resource,
                                ..Default::default()
                            }),
                            scope_metrics: vec![scope("process", metrics)],
                            schema_url: String::new(),
                        });
                    }
                }
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} errors reading processes, first: {}",
                        errors.len(),
                        errors[0]
                    ))
                }
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(scraper = %s.name, error = %e, "hostmetrics scraper failed");
        }
        o.metrics
            .retain(|m| !s.disabled.contains(&m.name) && points(m) > 0);
        if !o.metrics.is_empty() {
            host_scopes.push(scope(&s.name, o.metrics));
        }
    }
    if !host_scopes.is_empty() {
        out.insert(
            0,
            ResourceMetrics {
                resource: Some(Resource::default()),
                scope_metrics: host_scopes,
                schema_url: String::new(),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scraper_produces_its_default_metrics() {
        let rms = collect_all("", SCRAPERS);
        let names: Vec<String> = rms
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .map(|m| m.name.clone())
            .collect();
        for want in [
            "system.cpu.time",
            "system.cpu.load_average.1m",
            "system.memory.usage",
            "system.network.io",
            "system.processes.count",
            "system.uptime",
            "system.filesystem.usage",
            "process.cpu.time",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
    }

    #[test]
    fn root_path_reads_a_fake_proc() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proc")).unwrap();
        std::fs::write(
            dir.path().join("proc/loadavg"),
            "1.50 0.25 0.125 1/100 42\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("proc/meminfo"),
            "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 10 kB\nCached: 200 kB\nSReclaimable: 50 kB\nSUnreclaim: 5 kB\n",
        )
        .unwrap();
        let rms = collect_all(dir.path().to_str().unwrap(), &["load", "memory"]);
        let metrics = &rms[0].scope_metrics;
        let load = &metrics[0].metrics[0];
        assert_eq!(load.name, "system.cpu.load_average.1m");
        let Some(metric::Data::Gauge(g)) = &load.data else {
            panic!()
        };
        assert_eq!(
            g.data_points[0].value,
            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(1.5))
        );
        let mem = &metrics[1].metrics[0];
        let Some(metric::Data::Sum(s)) = &mem.data else {
            panic!()
        };
        assert!(!s.is_monotonic);
        // used = 1000 - 100 - 10 - (200 + 50) kB
        assert_eq!(
            s.data_points[0].value,
            Some(
                opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(
                    640 * 1024
                )
            )
        );
    }
}
