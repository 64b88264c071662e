//! `receivers::prometheus` config: `config.scrape_configs` in Prometheus' own schema (the parts that
//! work without service discovery), plus otelcol's receiver-level keys.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::relabel::{RelabelConfig, Rule};
use crate::config::{duration, ConfigError};
use crate::tls::ClientTls;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    #[serde(default)]
    pub config: PromConfig,
    /// otelcol: removes unit and type suffixes from metric names.
    #[serde(default)]
    pub trim_metric_suffixes: bool,
    /// otelcol keys ferrotel accepts and does not implement (warned).
    #[serde(default)]
    pub use_start_time_metric: Option<Value>,
    #[serde(default)]
    pub start_time_metric_regex: Option<Value>,
    #[serde(default)]
    pub target_allocator: Option<Value>,
    #[serde(default)]
    pub api_server: Option<Value>,
    #[serde(default)]
    pub report_extra_scrape_metrics: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromConfig {
    #[serde(default)]
    pub global: Global,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Prometheus keys that have no meaning in a receiver; accepted as otelcol does (warned).
    #[serde(default)]
    pub rule_files: Option<Value>,
    #[serde(default)]
    pub alerting: Option<Value>,
    #[serde(default)]
    pub remote_write: Option<Value>,
    #[serde(default)]
    pub remote_read: Option<Value>,
    #[serde(default)]
    pub scrape_config_files: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    #[serde(default = "d1m", with = "duration")]
    pub scrape_interval: Duration,
    #[serde(default = "d10s", with = "duration")]
    pub scrape_timeout: Duration,
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub evaluation_interval: Option<Value>,
    #[serde(default)]
    pub scrape_protocols: Option<Vec<String>>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            scrape_interval: d1m(),
            scrape_timeout: d10s(),
            external_labels: BTreeMap::new(),
            evaluation_interval: None,
            scrape_protocols: None,
        }
    }
}

fn d1m() -> Duration {
    Duration::from_secs(60)
}
fn d10s() -> Duration {
    Duration::from_secs(10)
}
fn d5m() -> Duration {
    Duration::from_secs(300)
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(default = "d5m", with = "duration")]
    pub refresh_interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default = "bearer", rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub credentials_file: Option<String>,
}

fn bearer() -> String {
    "Bearer".into()
}

/// Prometheus' `tls_config` (its own key names), mapped onto our client TLS settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromTls {
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: Option<String>,
}

impl PromTls {
    pub fn client_tls(&self) -> ClientTls {
        ClientTls {
            insecure_skip_verify: self.insecure_skip_verify,
            ca_file: self.ca_file.clone(),
            ca_pem: self.ca.clone(),
            cert_file: self.cert_file.clone(),
            cert_pem: self.cert.clone(),
            key_file: self.key_file.clone(),
            server_name_override: self.server_name.clone(),
            // Prometheus says TLS12, otelcol "1.2".
            min_version: self.min_version.as_ref().map(|v| match v.as_str() {
                "TLS10" => "1.0".to_string(),
                "TLS11" => "1.1".to_string(),
                "TLS12" => "1.2".to_string(),
                "TLS13" => "1.3".to_string(),
                other => other.to_string(),
            }),
            ..Default::default()
        }
    }
}

/// Service discovery mechanisms Prometheus has and ferrotel does not.
pub const UNSUPPORTED_SD: &[&str] = &[
    "kubernetes_sd_configs",
    "consul_sd_configs",
    "dns_sd_configs",
    "ec2_sd_configs",
    "azure_sd_configs",
    "gce_sd_configs",
    "openstack_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "http_sd_configs",
    "marathon_sd_configs",
    "nomad_sd_configs",
    "serverset_sd_configs",
    "triton_sd_configs",
    "eureka_sd_configs",
    "hetzner_sd_configs",
    "digitalocean_sd_configs",
    "linode_sd_configs",
    "scaleway_sd_configs",
    "puppetdb_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
    "ionos_sd_configs",
    "lightsail_sd_configs",
    "kuma_sd_configs",
    "nerve_sd_configs",
    "zookeeper_sd_configs",
    "ovhcloud_sd_configs",
];

// No `deny_unknown_fields` (serde cannot combine it with `flatten`): unknown keys land in `other`
// and are refused by `compile`, naming the key.
#[derive(Debug, Clone, Deserialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default, with = "opt_duration")]
    pub scrape_interval: Option<Duration>,
    #[serde(default, with = "opt_duration")]
    pub scrape_timeout: Option<Duration>,
    #[serde(default = "metrics_path")]
    pub metrics_path: String,
    #[serde(default = "http")]
    pub scheme: String,
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// Deprecated Prometheus forms of `authorization`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    #[serde(default)]
    pub tls_config: PromTls,
    #[serde(default)]
    pub sample_limit: usize,
    #[serde(default)]
    pub label_limit: usize,
    #[serde(default)]
    pub label_name_length_limit: usize,
    #[serde(default)]
    pub label_value_length_limit: usize,
    #[serde(default)]
    pub target_limit: usize,
    /// Bytes; Prometheus' units (`10MB`, `1GiB`) or a plain number. 0 = no limit.
    #[serde(default)]
    pub body_size_limit: Option<Value>,
    #[serde(default)]
    pub scrape_protocols: Option<Vec<String>>,
    #[serde(default)]
    pub enable_compression: Option<bool>,
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    #[serde(default)]
    pub track_timestamps_staleness: bool,
    #[serde(default)]
    pub scrape_classic_histograms: bool,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub enable_http2: Option<bool>,
    /// Every other key: service discovery we refuse by name, or an unknown key.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

fn metrics_path() -> String {
    "/metrics".into()
}
fn http() -> String {
    "http".into()
}

mod opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| crate::config::duration::parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Prometheus' byte sizes: `512`, `10KB`, `10KiB`, `1MB`, `1GB` (Prometheus treats KB as 1024).
pub fn parse_bytes(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| format!("invalid size {n}")),
        Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
            let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
                "" | "B" => 1,
                "KB" | "KIB" | "K" => 1 << 10,
                "MB" | "MIB" | "M" => 1 << 20,
                "GB" | "GIB" | "G" => 1 << 30,
                "TB" | "TIB" | "T" => 1 << 40,
                _ => return Err(format!("invalid size {s:?} (B, KB, MB, GB, TB)")),
            };
            Ok(n.saturating_mul(mult))
        }
        _ => Err("expected a size such as 10MB".into()),
    }
}

pub const PROTOCOLS: &[&str] = &[
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
    "PrometheusProto",
];

/// One scrape config, validated and compiled.
#[derive(Debug, Clone)]
pub struct Job {
    pub cfg: ScrapeConfig,
    pub interval: Duration,
    pub timeout: Duration,
    pub body_size_limit: u64,
    pub protocols: Vec<String>,
    pub relabel: Vec<Rule>,
    pub metric_relabel: Vec<Rule>,
    /// The receiver's `trim_metric_suffixes`.
    pub trim_suffixes: bool,
}

impl ReceiverConfig {
    pub fn compile(&self, path: &str) -> Result<(Vec<Job>, Vec<String>), Vec<ConfigError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let cp = format!("{path}::config");
        for (key, v) in [
            ("use_start_time_metric", &self.use_start_time_metric),
            ("start_time_metric_regex", &self.start_time_metric_regex),
            ("target_allocator", &self.target_allocator),
            ("api_server", &self.api_server),
        ] {
            if v.is_some() {
                warnings.push(format!(
                    "{path}::{key}: accepted and not implemented by ferrotel"
                ));
            }
        }
        for (key, v) in [
            ("rule_files", &self.config.rule_files),
            ("alerting", &self.config.alerting),
            ("remote_write", &self.config.remote_write),
            ("remote_read", &self.config.remote_read),
        ] {
            // otelcol refuses them ("unsupported features").
            if v.is_some() {
                errors.push(ConfigError::new(
                    format!("{cp}::{key}"),
                    "unsupported feature of the Prometheus configuration in a receiver",
                ));
            }
        }
        if self.config.scrape_config_files.is_some() {
            errors.push(ConfigError::new(
                format!("{cp}::scrape_config_files"),
                "not supported by ferrotel; list the jobs under scrape_configs",
            ));
        }
        if self.config.scrape_configs.is_empty() {
            errors.push(ConfigError::new(
                format!("{cp}::scrape_configs"),
                "no Prometheus scrape_configs",
            ));
        }
        let g = &self.config.global;
        let mut jobs = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, sc) in self.config.scrape_configs.iter().enumerate() {
            let p = format!("{cp}::scrape_configs::{i}");
            if sc.job_name.is_empty() {
                errors.push(ConfigError::new(
                    format!("{p}::job_name"),
                    "job_name is empty",
                ));
            } else if !names.insert(sc.job_name.clone()) {
                errors.push(ConfigError::new(
                    format!("{p}::job_name"),
                    format!(
                        "found multiple scrape configs with job name {:?}",
                        sc.job_name
                    ),
                ));
            }
            for key in sc.other.keys() {
                if UNSUPPORTED_SD.contains(&key.as_str()) {
                    errors.push(ConfigError::new(
                        format!("{p}::{key}"),
                        "this service discovery is not supported by ferrotel; use static_configs or file_sd_configs (see docs/components/receivers/prometheus.md)",
                    ));
                } else {
                    errors.push(ConfigError::new(
                        format!("{p}::{key}"),
                        "unknown key in a scrape config",
                    ));
                }
            }
            let interval = sc.scrape_interval.unwrap_or(g.scrape_interval);
            let timeout = sc.scrape_timeout.unwrap_or(g.scrape_timeout.min(interval));
            if interval.is_zero() {
                errors.push(ConfigError::new(
                    format!("{p}::scrape_interval"),
                    "must be positive",
                ));
            }
            if timeout > interval {
                errors.push(ConfigError::new(
                    format!("{p}::scrape_timeout"),
                    format!(
                        "scrape timeout {} greater than scrape interval {}",
                        duration::format(&timeout),
                        duration::format(&interval)
                    ),
                ));
            }
            if !["http", "https"].contains(&sc.scheme.as_str()) {
                errors.push(ConfigError::new(
                    format!("{p}::scheme"),
                    format!("unsupported scheme {:?} (http, https)", sc.scheme),
                ));
            }
            if !sc.metrics_path.starts_with('/') {
                errors.push(ConfigError::new(
                    format!("{p}::metrics_path"),
                    "must start with /",
                ));
            }
            let auths = [
                sc.basic_auth.is_some(),
                sc.authorization.is_some(),
                sc.bearer_token.is_some() || sc.bearer_token_file.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if auths > 1 {
                errors.push(ConfigError::new(
                    format!("{p}::authorization"),
                    "at most one of basic_auth, authorization and bearer_token/bearer_token_file must be configured",
                ));
            }
            if let Some(b) = &sc.basic_auth {
                if b.password.is_some() && b.password_file.is_some() {
                    errors.push(ConfigError::new(
                        format!("{p}::basic_auth"),
                        "at most one of basic_auth password & password_file must be configured",
                    ));
                }
            }
            if let Some(a) = &sc.authorization {
                if a.kind.eq_ignore_ascii_case("basic") {
                    errors.push(ConfigError::new(
                        format!("{p}::authorization::type"),
                        "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
                    ));
                }
                if a.credentials.is_some() && a.credentials_file.is_some() {
                    errors.push(ConfigError::new(
                        format!("{p}::authorization"),
                        "at most one of authorization credentials & credentials_file must be configured",
                    ));
                }
            }
            sc.tls_config
                .client_tls()
                .validate(&format!("{p}::tls_config"), &mut errors);
            let body_size_limit = match &sc.body_size_limit {
                None => 0,
                Some(v) => parse_bytes(v).unwrap_or_else(|e| {
                    errors.push(ConfigError::new(format!("{p}::body_size_limit"), e));
                    0
                }),
            };
            let protocols = sc
                .scrape_protocols
                .clone()
                .or_else(|| g.scrape_protocols.clone())
                .unwrap_or_else(|| {
                    vec![
                        "OpenMetricsText1.0.0".into(),
                        "OpenMetricsText0.0.1".into(),
                        "PrometheusText0.0.4".into(),
                    ]
                });
            for (j, proto) in protocols.iter().enumerate() {
                if !PROTOCOLS.contains(&proto.as_str()) {
                    errors.push(ConfigError::new(
                        format!("{p}::scrape_protocols::{j}"),
                        format!(
                            "unknown scrape protocol {proto:?} ({})",
                            PROTOCOLS.join(", ")
                        ),
                    ));
                }
            }
            for (key, set) in [
                ("proxy_url", sc.proxy_url.is_some()),
                ("track_timestamps_staleness", sc.track_timestamps_staleness),
            ] {
                if set {
                    warnings.push(format!(
                        "{p}::{key}: accepted and not implemented by ferrotel"
                    ));
                }
            }
            let mut compile = |rules: &[RelabelConfig], key: &str| {
                rules
                    .iter()
                    .enumerate()
                    .filter_map(|(j, r)| r.compile(&format!("{p}::{key}::{j}"), &mut errors))
                    .collect::<Vec<_>>()
            };
            let relabel = compile(&sc.relabel_configs, "relabel_configs");
            let metric_relabel = compile(&sc.metric_relabel_configs, "metric_relabel_configs");
            for (j, st) in sc.static_configs.iter().enumerate() {
                for (k, t) in st.targets.iter().enumerate() {
                    if t.contains('/') {
                        errors.push(ConfigError::new(
                            format!("{p}::static_configs::{j}::targets::{k}"),
                            format!("{t:?} is not a valid hostname (host:port, without a scheme or path)"),
                        ));
                    }
                }
            }
            for (j, f) in sc.file_sd_configs.iter().enumerate() {
                if f.files.is_empty() {
                    errors.push(ConfigError::new(
                        format!("{p}::file_sd_configs::{j}::files"),
                        "file service discovery config must contain at least one path name",
                    ));
                }
            }
            jobs.push(Job {
                cfg: sc.clone(),
                interval,
                timeout,
                body_size_limit,
                protocols,
                relabel,
                metric_relabel,
                trim_suffixes: self.trim_metric_suffixes,
            });
        }
        if errors.is_empty() {
            Ok((jobs, warnings))
        } else {
            Err(errors)
        }
    }
}
