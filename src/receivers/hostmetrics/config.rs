//! `receivers::hostmetrics` config, as otelcol's: `collection_interval`, `initial_delay`,
//! `root_path`, and `scrapers` with their include/exclude filters and `metrics` switches.

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

use crate::config::{duration, ConfigError};

fn d1m() -> Duration {
    Duration::from_secs(60)
}
fn d1s() -> Duration {
    Duration::from_secs(1)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "d1m", with = "duration")]
    pub collection_interval: Duration,
    #[serde(default = "d1s", with = "duration")]
    pub initial_delay: Duration,
    #[serde(default)]
    pub root_path: String,
    #[serde(default)]
    pub scrapers: BTreeMap<String, Option<ScraperConfig>>,
    #[serde(default)]
    pub timeout: Option<serde_yaml::Value>,
    #[serde(default)]
    pub metadata_collection_interval: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSwitch {
    pub enabled: bool,
}

/// The union of every scraper's keys; `validate` refuses keys that do not belong to a scraper.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScraperConfig {
    #[serde(default)]
    pub metrics: BTreeMap<String, MetricSwitch>,
    #[serde(default)]
    pub resource_attributes: BTreeMap<String, MetricSwitch>,
    // disk, network, process
    #[serde(default)]
    pub include: Option<Filter>,
    #[serde(default)]
    pub exclude: Option<Filter>,
    // filesystem
    #[serde(default)]
    pub include_devices: Option<Filter>,
    #[serde(default)]
    pub exclude_devices: Option<Filter>,
    #[serde(default)]
    pub include_fs_types: Option<Filter>,
    #[serde(default)]
    pub exclude_fs_types: Option<Filter>,
    #[serde(default)]
    pub include_mount_points: Option<Filter>,
    #[serde(default)]
    pub exclude_mount_points: Option<Filter>,
    #[serde(default)]
    pub include_virtual_filesystems: bool,
    // load: divide the load averages by the number of logical CPUs.
    #[serde(default)]
    pub cpu_average: bool,
    // process
    #[serde(default)]
    pub mute_process_name_error: bool,
    #[serde(default)]
    pub mute_process_exe_error: bool,
    #[serde(default)]
    pub mute_process_io_error: bool,
    #[serde(default)]
    pub mute_process_user_error: bool,
    #[serde(default)]
    pub mute_process_cgroup_error: bool,
    #[serde(default)]
    pub mute_process_all_errors: bool,
    #[serde(default)]
    pub scrape_process_delay: Option<serde_yaml::Value>,
}

/// `{devices|interfaces|names|fs_types|mount_points: [...], match_type: strict|regexp}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default)]
    pub devices: Vec<String>,
    #[serde(default)]
    pub interfaces: Vec<String>,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub fs_types: Vec<String>,
    #[serde(default)]
    pub mount_points: Vec<String>,
    #[serde(default)]
    pub match_type: Option<String>,
}

/// A compiled filter: strict names or anchored-free regexps (otelcol's filterset).
#[derive(Debug, Clone)]
pub enum Matcher {
    Strict(Vec<String>),
    Regexp(Vec<Regex>),
}

impl Matcher {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Strict(v) => v.iter().any(|x| x == s),
            Matcher::Regexp(v) => v.iter().any(|r| r.is_match(s)),
        }
    }
}

impl Filter {
    pub fn compile(
        &self,
        items: &[String],
        path: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Matcher> {
        match self.match_type.as_deref() {
            Some("strict") => Some(Matcher::Strict(items.to_vec())),
            Some("regexp") => {
                let mut v = Vec::new();
                for (i, s) in items.iter().enumerate() {
                    match Regex::new(s) {
                        Ok(r) => v.push(r),
                        Err(e) => errors.push(ConfigError::new(
                            format!("{path}::{i}"),
                            format!("invalid regular expression: {e}"),
                        )),
                    }
                }
                Some(Matcher::Regexp(v))
            }
            None if items.is_empty() => None,
            None => {
                errors.push(ConfigError::new(
                    format!("{path}::match_type"),
                    "match_type must be specified (strict or regexp)",
                ));
                None
            }
            Some(other) => {
                errors.push(ConfigError::new(
                    format!("{path}::match_type"),
                    format!("unknown match_type {other:?} (strict, regexp)"),
                ));
                None
            }
        }
    }
}

/// Include (if set) must match; exclude (if set) must not.
#[derive(Debug, Clone, Default)]
pub struct IncludeExclude {
    pub include: Option<Matcher>,
    pub exclude: Option<Matcher>,
}

impl IncludeExclude {
    pub fn allows(&self, s: &str) -> bool {
        self.include.as_ref().is_none_or(|m| m.matches(s))
            && !self.exclude.as_ref().is_some_and(|m| m.matches(s))
    }
}

pub const SCRAPERS: &[&str] = &[
    "cpu",
    "disk",
    "filesystem",
    "load",
    "memory",
    "network",
    "paging",
    "processes",
    "process",
    "system",
];

/// Which keys each scraper takes besides `metrics` and `resource_attributes`.
pub fn allowed_keys(scraper: &str) -> &'static [&'static str] {
    match scraper {
        "disk" | "network" => &["include", "exclude"],
        "load" => &["cpu_average"],
        "filesystem" => &[
            "include_devices",
            "exclude_devices",
            "include_fs_types",
            "exclude_fs_types",
            "include_mount_points",
            "exclude_mount_points",
            "include_virtual_filesystems",
        ],
        "process" => &[
            "include",
            "exclude",
            "mute_process_name_error",
            "mute_process_exe_error",
            "mute_process_io_error",
            "mute_process_user_error",
            "mute_process_cgroup_error",
            "mute_process_all_errors",
            "scrape_process_delay",
        ],
        _ => &[],
    }
}
