//! The `prometheus` receiver: scrapes Prometheus targets (`config.scrape_configs`, static and
//! file-based discovery) and converts what it scrapes to OTLP metrics as otelcol's receiver does.
//!
//! Each target is scraped by its own task, at a fixed offset into the interval derived from the
//! target (Prometheus' jitter), so a slow or huge target (bounded by `scrape_timeout` and
//! `body_size_limit`) never delays another.

mod cache;
pub mod config;
pub mod convert;
pub mod relabel;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_yaml::Value;
use tokio::sync::watch;

use self::cache::ScrapeCache;
use self::config::{Job, ReceiverConfig};
use self::convert::{kv, SeriesKey};
use crate::component::{
    ConfigResult, Host, PreparedReceiver, Receiver, ReceiverFactory, StartError,
};
use crate::config::ComponentId;
use crate::pipeline::{AnyConsumer, Consumer};
use crate::prom::fasthash::FastMap;
use crate::prom::text;
use crate::signal::pbwrite::{delimited, put_header};
use crate::signal::{Batch, Metrics, SignalKind};
use crate::telemetry::events;

pub const SCOPE_NAME: &str =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver";

pub struct Factory;

struct Prepared {
    jobs: Vec<Arc<Job>>,
    warnings: Vec<String>,
}

impl ReceiverFactory for Factory {
    fn type_name(&self) -> &'static str {
        "prometheus"
    }
    fn signals(&self) -> &'static [SignalKind] {
        &[SignalKind::Metrics]
    }
    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedReceiver>> {
        let c: ReceiverConfig = crate::config::parse(cfg, path).map_err(|e| vec![e])?;
        let (jobs, warnings) = c.compile(path)?;
        Ok(Arc::new(Prepared {
            jobs: jobs.into_iter().map(Arc::new).collect(),
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
        let mut clients = Vec::new();
        for (i, job) in self.jobs.iter().enumerate() {
            clients.push(client_for(job).map_err(|e| {
                StartError::new(
                    format!("receivers::{id}::config::scrape_configs::{i}::tls_config"),
                    e,
                )
            })?);
        }
        Ok(Box::new(PromReceiver {
            id: id.to_string(),
            jobs: self.jobs.clone(),
            clients,
            next,
            stop: None,
            tasks: Vec::new(),
        }))
    }
}

fn client_for(job: &Job) -> Result<reqwest::Client, String> {
    let b = reqwest::Client::builder().tcp_nodelay(true).redirect(
        if job.cfg.follow_redirects.unwrap_or(true) {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        },
    );
    let b = job.cfg.tls_config.client_tls().http_client(
        b,
        job.cfg.scheme == "https",
        &[crate::tls::ALPN_HTTP],
    )?;
    b.build().map_err(|e| e.to_string())
}

struct PromReceiver {
    id: String,
    jobs: Vec<Arc<Job>>,
    clients: Vec<reqwest::Client>,
    next: Arc<dyn Consumer<Metrics>>,
    stop: Option<watch::Sender<bool>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[async_trait]
impl Receiver for PromReceiver {
    async fn start(&mut self, _host: &Host) -> Result<(), StartError> {
        let (tx, rx) = watch::channel(false);
        for (job, client) in self.jobs.iter().zip(&self.clients) {
            let ctx = Arc::new(JobCtx {
                receiver: self.id.clone(),
                job: job.clone(),
                client: client.clone(),
                next: self.next.clone(),
                forced_error: std::sync::Mutex::new(None),
            });
            self.tasks.push(tokio::spawn(run_job(ctx, rx.clone())));
        }
        self.stop = Some(tx);
        tracing::info!(receiver = %self.id, jobs = self.jobs.len(), "Prometheus receiver started");
        Ok(())
    }

    async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

struct JobCtx {
    receiver: String,
    job: Arc<Job>,
    client: reqwest::Client,
    next: Arc<dyn Consumer<Metrics>>,
    /// Set while the job has more targets than `target_limit`: every scrape of the job fails
    /// with it, without fetching (Prometheus' forced error).
    forced_error: std::sync::Mutex<Option<String>>,
}

impl JobCtx {
    fn forced_error(&self) -> Option<String> {
        self.forced_error.lock().ok().and_then(|e| e.clone())
    }
}

/// `target_limit`: more targets after relabeling than the limit fails every scrape of the job
/// (`up` = 0), as Prometheus does, until discovery finds few enough.
fn target_limit_error(job: &Job, targets: usize) -> Option<String> {
    let limit = job.cfg.target_limit;
    (limit > 0 && targets > limit)
        .then(|| format!("target_limit exceeded (number of targets: {targets}, limit: {limit})"))
}

/// A target after relabeling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Labels without the `__` ones; includes `job` and `instance`.
    pub labels: Vec<(String, String)>,
    pub url: String,
    pub scheme: String,
}

impl Target {
    fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// `job` and `instance`: the resource its own series (`up`, `scrape_*`) belong to.
    fn resource(&self) -> (String, String) {
        let label = |k| self.label(k).unwrap_or_default().to_string();
        (label("job"), label("instance"))
    }
}

/// Target groups: static ones, then every file_sd file (JSON or YAML lists of {targets, labels}).
fn discover(job: &Job) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for st in &job.cfg.static_configs {
        for t in &st.targets {
            out.push((t.clone(), st.labels.clone()));
        }
    }
    for f in &job.cfg.file_sd_configs {
        for pattern in &f.files {
            for path in glob(pattern) {
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(job = %job.cfg.job_name, file = %path, error = %e, "file_sd: cannot read");
                        continue;
                    }
                };
                let parsed: Result<Vec<config::StaticConfig>, String> = if path.ends_with(".json") {
                    serde_json::from_str(&text).map_err(|e| e.to_string())
                } else {
                    serde_yaml::from_str(&text).map_err(|e| e.to_string())
                };
                match parsed {
                    Ok(groups) => {
                        for g in groups {
                            let mut labels = g.labels.clone();
                            labels.insert("__meta_filepath".into(), path.clone());
                            for t in g.targets {
                                out.push((t, labels.clone()));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(job = %job.cfg.job_name, file = %path, error = %e, "file_sd: cannot parse")
                    }
                }
            }
        }
    }
    out
}

/// Prometheus allows a glob in the last path element (`*`, `?`).
fn glob(pattern: &str) -> Vec<String> {
    let (dir, file) = match pattern.rsplit_once('/') {
        Some((d, f)) => (if d.is_empty() { "/" } else { d }, f),
        None => (".", pattern),
    };
    if !file.contains(['*', '?']) {
        return vec![pattern.to_string()];
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut out: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| wildcard(file.as_bytes(), n.as_bytes()))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    out.sort();
    out
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Builds the target's labels as Prometheus does (`__address__`, `__scheme__`, `__metrics_path__`,
/// `__param_*`, `job`, group labels), relabels, and derives `instance` and the URL.
pub fn make_target(job: &Job, address: &str, group: &BTreeMap<String, String>) -> Option<Target> {
    let c = &job.cfg;
    let mut labels: Vec<(String, String)> = vec![("__address__".into(), address.into())];
    for (k, v) in group {
        labels.push((k.clone(), v.clone()));
    }
    let mut default = |k: &str, v: String| {
        if !labels.iter().any(|(n, _)| n == k) {
            labels.push((k.to_string(), v));
        }
    };
    default("job", c.job_name.clone());
    default("__scheme__", c.scheme.clone());
    default("__metrics_path__", c.metrics_path.clone());
    default(
        "__scrape_interval__",
        crate::config::duration::format(&job.interval),
    );
    default(
        "__scrape_timeout__",
        crate::config::duration::format(&job.timeout),
    );
    for (k, v) in &c.params {
        if let Some(first) = v.first() {
            default(&format!("__param_{k}"), first.clone());
        }
    }
    let labels = relabel::apply(&job.relabel, labels)?;
    let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let address = get("__address__").filter(|a| !a.is_empty())?;
    let scheme = get("__scheme__").unwrap_or_else(|| c.scheme.clone());
    let path = get("__metrics_path__").unwrap_or_else(|| c.metrics_path.clone());
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, vs) in &c.params {
        if let Some(v) = get(&format!("__param_{k}")) {
            params.push((k.clone(), v));
            params.extend(vs.iter().skip(1).map(|v| (k.clone(), v.clone())));
        } else {
            params.extend(vs.iter().map(|v| (k.clone(), v.clone())));
        }
    }
    for (k, v) in &labels {
        if let Some(p) = k.strip_prefix("__param_") {
            if !c.params.contains_key(p) {
                params.push((p.to_string(), v.clone()));
            }
        }
    }
    let mut url = reqwest::Url::parse(&format!("{scheme}://{address}")).ok()?;
    url.set_path(&path);
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    let mut out: Vec<(String, String)> = labels
        .into_iter()
        .filter(|(k, v)| !k.starts_with("__") && !v.is_empty())
        .collect();
    if !out.iter().any(|(k, _)| k == "instance") {
        out.push(("instance".into(), address));
    }
    out.sort();
    Some(Target {
        labels: out,
        url: url.to_string(),
        scheme,
    })
}

async fn run_job(ctx: Arc<JobCtx>, mut stop: watch::Receiver<bool>) {
    let mut loops: HashMap<Target, (watch::Sender<LoopEnd>, tokio::task::JoinHandle<()>)> =
        HashMap::new();
    let refresh = ctx
        .job
        .cfg
        .file_sd_configs
        .iter()
        .map(|f| f.refresh_interval)
        .min();
    loop {
        let mut wanted = HashSet::new();
        for (addr, group) in discover(&ctx.job) {
            if let Some(t) = make_target(&ctx.job, &addr, &group) {
                wanted.insert(t);
            }
        }
        let forced = target_limit_error(&ctx.job, wanted.len());
        if let Some(e) = &forced {
            tracing::warn!(receiver = %ctx.receiver, job = %ctx.job.cfg.job_name, error = %e, "scrapes fail");
        }
        if let Ok(mut f) = ctx.forced_error.lock() {
            *f = forced;
        }
        loops.retain(|t, (tx, _)| {
            let keep = wanted.contains(t);
            if !keep {
                let _ = tx.send(LoopEnd::TargetGone);
            }
            keep
        });
        for t in wanted {
            loops.entry(t.clone()).or_insert_with(|| {
                let (tx, rx) = watch::channel(LoopEnd::Running);
                (tx, tokio::spawn(scrape_loop(ctx.clone(), t, rx)))
            });
        }
        let wait = refresh.unwrap_or(Duration::from_secs(u32::MAX as u64));
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(wait.max(Duration::from_millis(100))) => {}
        }
    }
    for (_, (tx, h)) in loops {
        let _ = tx.send(LoopEnd::Shutdown);
        let _ = h.await;
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Why a scrape loop ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoopEnd {
    Running,
    /// Discovery no longer lists the target: its series end with stale markers.
    TargetGone,
    /// The receiver stops: no stale markers (the series resume after a restart).
    Shutdown,
}

async fn scrape_loop(ctx: Arc<JobCtx>, target: Target, mut stop: watch::Receiver<LoopEnd>) {
    let interval = ctx.job.interval;
    // Prometheus' jitter: a fixed offset into the interval from the target's identity.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    target.hash(&mut h);
    let offset = Duration::from_nanos(h.finish() % (interval.as_nanos().max(1) as u64));
    tokio::select! {
        _ = stop.changed() => return,
        _ = tokio::time::sleep(offset) => {}
    }
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cache = ScrapeCache::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticker.tick() => {}
        }
        scrape_once(&ctx, &target, &mut cache).await;
    }
    // A target that goes away: its series end with stale markers, as in Prometheus.
    let previous = if *stop.borrow() == LoopEnd::TargetGone {
        cache.live()
    } else {
        vec![]
    };
    if !previous.is_empty() {
        let mut groups = Groups::new();
        let mut by: BTreeMap<(String, String), Vec<SeriesKey>> = BTreeMap::new();
        for k in previous {
            by.entry((*k.resource).clone()).or_default().push(k);
        }
        let ts = now_ms();
        for (res, keys) in by {
            groups.insert(
                res,
                Group {
                    metrics: convert::stale_metrics(&keys, ts),
                    ..Group::default()
                },
            );
        }
        send(&ctx, &target, groups).await;
    }
}

/// The `Accept` header Prometheus sends for `scrape_protocols`: each protocol's media type in
/// order, weighted from `q=0.(N+1)` down, where N is the number of protocols Prometheus knows
/// (five: ferrotel knows the same ones), then `*/*` with the next weight.
fn accept_header(protocols: &[String]) -> String {
    let mut parts = Vec::new();
    let mut q = config::PROTOCOLS.len() + 1;
    for p in protocols {
        let media = match p.as_str() {
            "OpenMetricsText1.0.0" => "application/openmetrics-text;version=1.0.0",
            "OpenMetricsText0.0.1" => "application/openmetrics-text;version=0.0.1",
            "PrometheusText0.0.4" => "text/plain;version=0.0.4",
            "PrometheusText1.0.0" => "text/plain;version=1.0.0",
            "PrometheusProto" => crate::prom::protobuf::MEDIA_TYPE,
            _ => continue,
        };
        parts.push(format!("{media};q=0.{q}"));
        q = q.saturating_sub(1);
    }
    parts.push(format!("*/*;q=0.{q}"));
    parts.join(",")
}

/// The exposition format of a scraped body, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    OpenMetrics,
    Protobuf,
}

#[derive(Debug)]
struct Scraped {
    body: Vec<u8>,
    format: Format,
}

impl Scraped {
    /// Parses, relabels, limits and converts a body: the text formats through the target's
    /// scrape cache, the protobuf format through `process`. Returns the groups, the samples
    /// scraped and those kept after relabeling.
    fn convert(
        self,
        ctx: &JobCtx,
        target: &Target,
        cache: &mut ScrapeCache,
    ) -> Result<(Groups, usize, usize), String> {
        match self.format {
            Format::Protobuf => {
                let classic = ctx.job.cfg.scrape_classic_histograms;
                let expo = crate::prom::protobuf::parse_with(&self.body, classic)
                    .map_err(|e| format!("parse error: {e}"))?;
                let (groups, keys, scraped, post) = process(&ctx.job, target, expo, now_ms())?;
                cache.register(keys);
                Ok((groups, scraped, post))
            }
            Format::Text | Format::OpenMetrics => {
                let body = String::from_utf8(self.body)
                    .map_err(|_| "the body is not UTF-8".to_string())?;
                cache.scrape_text(
                    &ctx.job,
                    target,
                    &body,
                    self.format == Format::OpenMetrics,
                    now_ms(),
                )
            }
        }
    }
}

async fn fetch(ctx: &JobCtx, target: &Target) -> Result<Scraped, String> {
    let c = &ctx.job.cfg;
    let mut req = ctx
        .client
        .get(&target.url)
        .header("accept", accept_header(&ctx.job.protocols))
        .header(
            "x-prometheus-scrape-timeout-seconds",
            format!("{}", ctx.job.timeout.as_secs_f64()),
        )
        .header(
            "user-agent",
            concat!("ferrotel/", env!("CARGO_PKG_VERSION")),
        )
        .timeout(ctx.job.timeout);
    if let Some(b) = &c.basic_auth {
        let password = match &b.password_file {
            Some(f) => std::fs::read_to_string(f)
                .map_err(|e| format!("basic_auth password_file {f:?}: {e}"))?
                .trim()
                .to_string(),
            None => b.password.clone().unwrap_or_default(),
        };
        req = req.basic_auth(&b.username, Some(password));
    }
    let authz = c
        .authorization
        .as_ref()
        .map(|a| {
            (
                a.kind.clone(),
                a.credentials.clone(),
                a.credentials_file.clone(),
            )
        })
        .or_else(|| {
            (c.bearer_token.is_some() || c.bearer_token_file.is_some()).then(|| {
                (
                    "Bearer".to_string(),
                    c.bearer_token.clone(),
                    c.bearer_token_file.clone(),
                )
            })
        });
    if let Some((kind, creds, file)) = authz {
        let creds = match file {
            Some(f) => std::fs::read_to_string(&f)
                .map_err(|e| format!("credentials_file {f:?}: {e}"))?
                .trim()
                .to_string(),
            None => creds.unwrap_or_default(),
        };
        req = req.header("authorization", format!("{kind} {creds}"));
    }
    let fut = async {
        let mut resp = req.send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("server returned HTTP status {}", resp.status()));
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let format = if content_type.starts_with("application/openmetrics-text") {
            Format::OpenMetrics
        } else if crate::prom::protobuf::is_protobuf(content_type) {
            Format::Protobuf
        } else {
            Format::Text
        };
        let limit = ctx.job.body_size_limit;
        // Sized from Content-Length when there is one (never beyond the limit, or 64 MiB).
        let cap = if limit > 0 { limit + 1 } else { 64 << 20 };
        let mut body = Vec::with_capacity(resp.content_length().map_or(0, |n| n.min(cap)) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if limit > 0 && body.len() as u64 > limit {
                return Err(format!("body size limit exceeded ({limit} bytes)"));
            }
        }
        Ok(Scraped { body, format })
    };
    tokio::time::timeout(ctx.job.timeout, fut)
        .await
        .map_err(|_| format!("scrape timed out after {:?}", ctx.job.timeout))?
}

/// What one scrape produced for one `job`/`instance` pair (one OTLP resource; several when
/// `honor_labels` lets the target name other jobs or instances, as otelcol groups them).
#[derive(Default)]
struct Group {
    /// The scraped metrics, already encoded as `ScopeMetrics` `metrics` fields, and their points.
    encoded: Vec<u8>,
    points: usize,
    /// Metrics added after conversion (stale markers, `up`, `scrape_*`), after the encoded ones.
    metrics: Vec<Metric>,
    target_info: Vec<(String, String)>,
}

type Groups = BTreeMap<(String, String), Group>;

/// One scrape: fetch, parse, relabel, limit, convert, send; the cache keeps its series (for
/// the next scrape's stale markers) and what its lines became.
async fn scrape_once(ctx: &JobCtx, target: &Target, cache: &mut ScrapeCache) {
    let started = Instant::now();
    let ts = now_ms();
    cache.begin();
    let outcome = match ctx.forced_error() {
        Some(e) => Err(e),
        None => match fetch(ctx, target).await {
            Ok(scraped) => scraped.convert(ctx, target, cache),
            Err(e) => Err(e),
        },
    };
    let (mut groups, scraped, post, up) = match outcome {
        Ok((g, scraped, post)) => (g, scraped, post, true),
        Err(e) => {
            tracing::warn!(receiver = %ctx.receiver, target = %target.url, error = %e, "scrape failed");
            cache.forget();
            (Groups::new(), 0, 0, false)
        }
    };
    // Series added are those not in the previous scrape, series gone those of the previous
    // scrape not in this one.
    let (added, gone) = cache.finish();
    let mut by_resource: BTreeMap<(String, String), Vec<SeriesKey>> = BTreeMap::new();
    for k in gone {
        by_resource
            .entry((*k.resource).clone())
            .or_default()
            .push(k);
    }
    for (res, keys) in by_resource {
        groups
            .entry(res)
            .or_default()
            .metrics
            .extend(convert::stale_metrics(&keys, ts));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let own = groups.entry(target.resource()).or_default();
    own.metrics
        .push(convert::gauge("up", if up { 1.0 } else { 0.0 }, ts));
    own.metrics
        .push(convert::gauge("scrape_duration_seconds", elapsed, ts));
    own.metrics
        .push(convert::gauge("scrape_samples_scraped", scraped as f64, ts));
    own.metrics.push(convert::gauge(
        "scrape_samples_post_metric_relabeling",
        post as f64,
        ts,
    ));
    own.metrics
        .push(convert::gauge("scrape_series_added", added as f64, ts));
    send(ctx, target, groups).await;
}

/// A scraped sample's labels for the target: the target's labels added (they win unless
/// `honor_labels`; a conflicting scraped label becomes `exported_<name>`), then
/// `metric_relabel_configs`. `None` when relabeling drops the sample. Without
/// `metric_relabel_configs` (`implicit_ok`) nothing reads a series' `job` and `instance` labels
/// but the grouping into resources (conversion drops them from the attributes), so the target's
/// are not copied: they are returned as a count (for `label_limit`).
fn prepare_labels(
    job: &Job,
    target: &Target,
    implicit_ok: bool,
    mut labels: Vec<(String, String)>,
) -> Option<(Vec<(String, String)>, usize)> {
    let mut implicit = 0usize;
    for (k, v) in &target.labels {
        match labels.iter().position(|(n, _)| n == k) {
            Some(_) if job.cfg.honor_labels => {}
            Some(i) => {
                let old = std::mem::replace(&mut labels[i].1, v.clone());
                if !old.is_empty() {
                    labels.push((format!("exported_{k}"), old));
                }
            }
            None if implicit_ok && (k == "job" || k == "instance") => implicit += 1,
            None => labels.push((k.clone(), v.clone())),
        }
    }
    if implicit_ok {
        Some((labels, implicit))
    } else {
        relabel::apply(&job.metric_relabel, labels).map(|l| (l, implicit))
    }
}

/// `label_limit`, `label_name_length_limit` and `label_value_length_limit` (in bytes), as
/// Prometheus checks a sample after relabeling: every label counts, `__name__` included, and so
/// do the target's `job` and `instance` that `prepare_labels` did not copy (`implicit`).
fn check_label_limits(
    job: &Job,
    target: &Target,
    labels: &[(String, String)],
    implicit: usize,
) -> Result<(), String> {
    let c = &job.cfg;
    check_label_count(job, labels.len() + implicit)?;
    if c.label_name_length_limit == 0 && c.label_value_length_limit == 0 {
        return Ok(());
    }
    let implied = target.labels.iter().filter(|(k, _)| {
        implicit > 0
            && matches!(k.as_str(), "job" | "instance")
            && !labels.iter().any(|(n, _)| n == k)
    });
    let metric = label_or(labels, "__name__", None);
    for (k, v) in labels.iter().chain(implied) {
        if c.label_name_length_limit > 0 && k.len() > c.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded: metric {metric:?}, label name {k:?} has {} bytes (limit {})",
                k.len(),
                c.label_name_length_limit
            ));
        }
        if c.label_value_length_limit > 0 && v.len() > c.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded: metric {metric:?}, label {k:?} has a value of {} bytes (limit {})",
                v.len(),
                c.label_value_length_limit
            ));
        }
    }
    Ok(())
}

/// `label_limit` on a series of `count` labels.
fn check_label_count(job: &Job, count: usize) -> Result<(), String> {
    if job.cfg.label_limit > 0 && count > job.cfg.label_limit {
        return Err(format!(
            "label_limit exceeded: a series has {} labels (limit {})",
            count, job.cfg.label_limit
        ));
    }
    Ok(())
}

/// `sample_limit`: counts one more sample kept after relabeling (`post`).
fn count_sample(job: &Job, post: &mut usize) -> Result<(), String> {
    *post += 1;
    if job.cfg.sample_limit > 0 && *post > job.cfg.sample_limit {
        return Err(format!(
            "sample_limit exceeded: more than {} samples",
            job.cfg.sample_limit
        ));
    }
    Ok(())
}

fn process(
    job: &Job,
    target: &Target,
    mut expo: text::Exposition,
    ts: i64,
) -> Result<(Groups, Vec<SeriesKey>, usize, usize), String> {
    let scraped = expo.samples.len();
    // Without metric_relabel_configs nothing reads a series' `job` and `instance` labels but the
    // grouping into resources (conversion drops them from the attributes), so the target's are not
    // copied into every series: they are counted for label_limit and used as the resource.
    let implicit_ok = job.metric_relabel.is_empty();
    let (target_job, target_instance) = (target.label("job"), target.label("instance"));
    // Resources in the order first seen, and an index by (job, instance).
    let mut resources: Vec<((String, String), Vec<convert::ScrapedSample>)> = Vec::new();
    let mut resource_index: FastMap<(String, String), usize> = FastMap::default();
    let mut last = usize::MAX;
    let mut post = 0usize;
    for s in std::mem::take(&mut expo.samples) {
        let Some((labels, implicit)) = prepare_labels(job, target, implicit_ok, s.labels) else {
            continue;
        };
        check_label_limits(job, target, &labels, implicit)?;
        count_sample(job, &mut post)?;
        let t = match s.timestamp_ms {
            Some(t) if job.cfg.honor_timestamps => t,
            _ => ts,
        };
        let (rj, ri) = resource_of(&labels, (target_job, target_instance), implicit_ok);
        let same_as_last = resources
            .get(last)
            .is_some_and(|((j, i), _)| j == rj && i == ri);
        let at = if same_as_last {
            last
        } else {
            let res = (rj.to_string(), ri.to_string());
            match resource_index.get(&res) {
                Some(&i) => i,
                None => {
                    resource_index.insert(res.clone(), resources.len());
                    resources.push((res, Vec::new()));
                    resources.len() - 1
                }
            }
        };
        last = at;
        if let Some((_, samples)) = resources.get_mut(at) {
            samples.push((labels, s.value, t, s.exemplar, s.extra));
        }
    }
    let mut groups = Groups::new();
    let mut keys = Vec::new();
    for (res, samples) in resources {
        let mut encoded = Vec::new();
        let (points, target_info, k) =
            convert::to_encoded_metrics(&res, job.trim_suffixes, &expo, samples, &mut encoded);
        keys.extend(k);
        groups.insert(
            res,
            Group {
                encoded,
                points,
                metrics: vec![],
                target_info,
            },
        );
    }
    Ok((groups, keys, scraped, post))
}

/// A series' resource, its `job` and `instance`: its own labels, else the target's (`implied`) when
/// `prepare_labels` did not copy them into the series (`implicit_ok`).
fn resource_of<'a>(
    labels: &'a [(String, String)],
    implied: (Option<&'a str>, Option<&'a str>),
    implicit_ok: bool,
) -> (&'a str, &'a str) {
    let (job, instance) = if implicit_ok { implied } else { (None, None) };
    (
        label_or(labels, "job", job),
        label_or(labels, "instance", instance),
    )
}

/// A label's value, else `implied` (the target's, not copied into the series), else empty.
fn label_or<'a>(labels: &'a [(String, String)], k: &str, implied: Option<&'a str>) -> &'a str {
    labels
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .or(implied)
        .unwrap_or("")
}

fn resource_attributes(
    job: &str,
    instance: &str,
    scheme: &str,
    target_info: &[(String, String)],
) -> Vec<opentelemetry_proto::tonic::common::v1::KeyValue> {
    let mut attrs = vec![kv("service.name", job), kv("service.instance.id", instance)];
    let (host, port) = match instance.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h.trim_matches(['[', ']']), p),
        _ => (instance, ""),
    };
    attrs.push(kv("server.address", host));
    if !port.is_empty() {
        attrs.push(kv("server.port", port));
    }
    attrs.push(kv("url.scheme", scheme));
    for (k, v) in target_info {
        if let Some(a) = attrs.iter_mut().find(|a| &a.key == k) {
            *a = kv(k, v);
        } else {
            attrs.push(kv(k, v));
        }
    }
    attrs
}

/// Sends one scrape's groups as one request, encoded directly (see `convert::to_encoded_metrics`):
/// a `ResourceMetrics` per group, with one `ScopeMetrics` of the receiver's scope.
async fn send(ctx: &JobCtx, target: &Target, groups: Groups) {
    let scope = InstrumentationScope {
        name: SCOPE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut points = 0usize;
    for ((job, instance), g) in groups {
        if g.encoded.is_empty() && g.metrics.is_empty() {
            continue;
        }
        let resource = Resource {
            attributes: resource_attributes(&job, &instance, &target.scheme, &g.target_info),
            ..Default::default()
        };
        let mut metrics = g.encoded;
        points += g.points;
        for m in &g.metrics {
            points += convert::data_points(m);
            prost::encoding::message::encode(2, m, &mut metrics);
        }
        // ResourceMetrics: resource 1, scope_metrics 2; ScopeMetrics: scope 1, metrics 2.
        let scope_metrics_len = 1 + delimited(scope.encoded_len()) + metrics.len();
        let resource_metrics_len =
            1 + delimited(resource.encoded_len()) + 1 + delimited(scope_metrics_len);
        put_header(1, resource_metrics_len, &mut out);
        prost::encoding::message::encode(1, &resource, &mut out);
        put_header(2, scope_metrics_len, &mut out);
        prost::encoding::message::encode(1, &scope, &mut out);
        out.extend_from_slice(&metrics);
    }
    let batch = Batch::<Metrics>::from_own_encoding(out.into(), points);
    let n = batch.items();
    match ctx.next.consume(batch).await {
        Ok(()) => events::receiver_accepted(&ctx.receiver, "http", SignalKind::Metrics, n),
        Err(e) => {
            if e.is_retryable() {
                events::receiver_refused(&ctx.receiver, "http", SignalKind::Metrics, n);
            } else {
                events::receiver_failed(&ctx.receiver, "http", SignalKind::Metrics, n);
            }
            tracing::warn!(receiver = %ctx.receiver, target = %target.url, error = %e, "scraped metrics refused by the pipeline");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(yaml: &str) -> Job {
        let c: ReceiverConfig = serde_yaml::from_str(yaml).unwrap();
        c.compile("r").unwrap().0.remove(0)
    }

    #[test]
    fn target_labels_url_and_relabeling() {
        let j = job(r#"
config:
  scrape_configs:
    - job_name: blackbox
      metrics_path: /probe
      params: {module: [http_2xx]}
      static_configs: [{targets: ["example.com"]}]
      relabel_configs:
        - {source_labels: [__address__], target_label: __param_target}
        - {source_labels: [__param_target], target_label: instance}
        - {target_label: __address__, replacement: "127.0.0.1:9115"}
"#);
        let t = make_target(&j, "example.com", &BTreeMap::new()).unwrap();
        assert_eq!(
            t.url,
            "http://127.0.0.1:9115/probe?module=http_2xx&target=example.com"
        );
        assert_eq!(
            t.labels,
            vec![
                ("instance".to_string(), "example.com".to_string()),
                ("job".to_string(), "blackbox".to_string())
            ]
        );
        let mut group = BTreeMap::new();
        group.insert("__scheme__".to_string(), "https".to_string());
        group.insert("env".to_string(), "prod".to_string());
        let j = job("config: {scrape_configs: [{job_name: x}]}");
        let t = make_target(&j, "h:1", &group).unwrap();
        assert_eq!(t.url, "https://h:1/metrics");
        assert_eq!(t.scheme, "https");
        assert!(t.labels.contains(&("env".to_string(), "prod".to_string())));
        assert!(t
            .labels
            .contains(&("instance".to_string(), "h:1".to_string())));
    }

    #[test]
    fn target_limit_counts_targets_after_relabeling() {
        let j = job("config: {scrape_configs: [{job_name: x, target_limit: 2}]}");
        assert_eq!(target_limit_error(&j, 2), None);
        assert_eq!(
            target_limit_error(&j, 3).as_deref(),
            Some("target_limit exceeded (number of targets: 3, limit: 2)")
        );
        let j = job("config: {scrape_configs: [{job_name: x}]}");
        assert_eq!(target_limit_error(&j, 10_000), None);
    }

    #[test]
    fn accept_header_is_prometheus_one() {
        let j = job("config: {scrape_configs: [{job_name: x}]}");
        assert_eq!(
            accept_header(&j.protocols),
            "application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
        );
        let all: Vec<String> = config::PROTOCOLS.iter().map(|p| p.to_string()).collect();
        let h = accept_header(&all);
        assert!(h.starts_with("application/openmetrics-text;version=1.0.0;q=0.6,"));
        assert!(h.contains(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2,"
        ));
        assert!(h.ends_with("*/*;q=0.1"));
    }

    #[test]
    fn config_errors_name_their_keys() {
        let c: ReceiverConfig = serde_yaml::from_str(
            r#"
config:
  scrape_configs:
    - {job_name: a, scrape_interval: 1s, scrape_timeout: 5s, consul_sd_configs: [{}], bogus: 1}
    - {job_name: a, body_size_limit: 10XB, scrape_protocols: [Nope]}
"#,
        )
        .unwrap();
        let errs = c.compile("receivers::prometheus").unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for want in [
            "receivers::prometheus::config::scrape_configs::0::consul_sd_configs",
            "receivers::prometheus::config::scrape_configs::0::bogus",
            "receivers::prometheus::config::scrape_configs::0::scrape_timeout",
            "receivers::prometheus::config::scrape_configs::1::job_name",
            "receivers::prometheus::config::scrape_configs::1::body_size_limit",
            "receivers::prometheus::config::scrape_configs::1::scrape_protocols::0",
        ] {
            assert!(paths.contains(&want), "{want} in {paths:?}");
        }
    }
}
