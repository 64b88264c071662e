//! The `file_storage` extension: a directory on local disk where exporters keep their persistent
//! sending queues (`sending_queue.storage: file_storage/NAME`). Keys and defaults are otelcol's.
//!
//! Each queue gets its own sub-directory, `exporter_<exporter id>_<signal>` percent-encoded (see
//! [`escape_name`]) and locked while in use; the queue's file format, lock and recovery rules are in
//! `exporters::helper::persistent`.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_yaml::Value;

use crate::component::{
    ConfigResult, Extension, ExtensionFactory, Host, PreparedExtension, StartError, Storage,
};
use crate::config::{duration, ComponentId, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_directory")]
    pub directory: PathBuf,
    /// How long an append to a queue may take before the sender is refused (retryably).
    #[serde(default = "d1s", with = "duration")]
    pub timeout: Duration,
    /// fsync after every write: data survives a power loss, not only a crash of ferrotel.
    #[serde(default)]
    pub fsync: bool,
    #[serde(default)]
    pub create_directory: bool,
    /// Octal permissions for directories this extension creates (`0750`).
    #[serde(default = "default_permissions")]
    pub directory_permissions: String,
    /// otelcol deletes the database at start; ferrotel never deletes queued data and refuses `true`.
    #[serde(default)]
    pub recreate: bool,
    #[serde(default)]
    pub compaction: Compaction,
    /// Keys accepted and ignored, filled in by `prepare`.
    #[serde(skip)]
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compaction {
    /// Rewrites what survives in partly sent segments into a fresh segment at start.
    #[serde(default)]
    pub on_start: bool,
    /// Accepted for otelcol compatibility: segments are deleted as soon as everything in them was
    /// sent, and an emptied queue starts a new segment, so space comes back without it.
    #[serde(default)]
    pub on_rebound: bool,
    /// Ignored (with a warning): compaction copies records within the queue directory.
    #[serde(default)]
    pub directory: Option<PathBuf>,
    #[serde(default = "default_max_transaction_size")]
    pub max_transaction_size: u64,
    #[serde(default = "default_rebound_needed")]
    pub rebound_needed_threshold_mib: u64,
    #[serde(default = "default_rebound_trigger")]
    pub rebound_trigger_threshold_mib: u64,
    #[serde(default = "d5s", with = "duration")]
    pub check_interval: Duration,
    /// Removes compaction's temporary files left by an interrupted compaction at start.
    #[serde(default)]
    pub cleanup_on_start: bool,
}

impl Default for Compaction {
    fn default() -> Self {
        Compaction {
            on_start: false,
            on_rebound: false,
            directory: None,
            max_transaction_size: default_max_transaction_size(),
            rebound_needed_threshold_mib: default_rebound_needed(),
            rebound_trigger_threshold_mib: default_rebound_trigger(),
            check_interval: d5s(),
            cleanup_on_start: false,
        }
    }
}

fn default_directory() -> PathBuf {
    PathBuf::from("/var/lib/otelcol/file_storage")
}
fn default_permissions() -> String {
    "0750".into()
}
fn d1s() -> Duration {
    Duration::from_secs(1)
}
fn d5s() -> Duration {
    Duration::from_secs(5)
}
fn default_max_transaction_size() -> u64 {
    65536
}
fn default_rebound_needed() -> u64 {
    100
}
fn default_rebound_trigger() -> u64 {
    10
}

impl Config {
    fn permissions(&self) -> Result<u32, String> {
        u32::from_str_radix(self.directory_permissions.trim_start_matches("0o"), 8)
            .ok()
            .filter(|p| *p <= 0o777)
            .ok_or_else(|| {
                format!(
                    "invalid octal permissions {:?} (e.g. 0750)",
                    self.directory_permissions
                )
            })
    }
}

pub struct Factory;

impl ExtensionFactory for Factory {
    fn type_name(&self) -> &'static str {
        "file_storage"
    }

    fn prepare(&self, cfg: &Value, path: &str) -> ConfigResult<Arc<dyn PreparedExtension>> {
        let c: Config = if cfg.is_null() {
            crate::config::parse(&Value::Mapping(Default::default()), path)
        } else {
            crate::config::parse(cfg, path)
        }
        .map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        if c.directory.as_os_str().is_empty() {
            errors.push(ConfigError::new(
                format!("{path}::directory"),
                "must not be empty",
            ));
        }
        // As otelcol's Validate: the permissions are only read when ferrotel creates directories.
        if c.create_directory {
            if let Err(e) = c.permissions() {
                errors.push(ConfigError::new(
                    format!("{path}::directory_permissions"),
                    e,
                ));
            }
        }
        // As otelcol's Validate: the directory (and the compaction directory, when set and
        // compaction is on) must exist unless create_directory, and must be a directory.
        let mut dirs = vec![("directory", c.directory.clone())];
        if c.compaction.on_start || c.compaction.on_rebound {
            if let Some(d) = &c.compaction.directory {
                dirs.push(("compaction::directory", d.clone()));
            }
        }
        for (key, dir) in dirs {
            if dir.as_os_str().is_empty() {
                continue;
            }
            let problem = match std::fs::metadata(&dir) {
                Ok(m) if !m.is_dir() => Some("is not a directory".to_string()),
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (!c.create_directory).then(|| {
                        "directory must exist; set create_directory: true to create it".to_string()
                    })
                }
                Err(e) => Some(format!("cannot be accessed: {e}")),
            };
            if let Some(p) = problem {
                errors.push(ConfigError::new(
                    format!("{path}::{key}"),
                    format!("{}: {p}", dir.display()),
                ));
            }
        }
        if c.recreate {
            errors.push(ConfigError::new(
                format!("{path}::recreate"),
                "ferrotel never deletes queued data at start; remove the directory's contents instead",
            ));
        }
        if c.compaction.rebound_trigger_threshold_mib > c.compaction.rebound_needed_threshold_mib {
            errors.push(ConfigError::new(
                format!("{path}::compaction::rebound_trigger_threshold_mib"),
                "must not exceed rebound_needed_threshold_mib",
            ));
        }
        if c.timeout.is_zero() {
            errors.push(ConfigError::new(
                format!("{path}::timeout"),
                "must be positive",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut c = c;
        c.ignored = ignored_keys(&c.compaction, path);
        Ok(Arc::new(c))
    }
}

/// Compaction keys ferrotel accepts but does not use, each with why (see the extension's docs).
fn ignored_keys(c: &Compaction, path: &str) -> Vec<String> {
    let d = Compaction::default();
    let p = format!("{path}::compaction");
    let mut w = Vec::new();
    if c.directory.is_some() {
        w.push(format!("{p}::directory is ignored: ferrotel compacts in place (copies appended to the queue's own active segment), it writes no temporary files"));
    }
    if c.on_rebound {
        w.push(format!("{p}::on_rebound is ignored: segments are deleted as soon as everything in them is sent, so space comes back without it"));
    }
    for (key, set) in [
        (
            "rebound_needed_threshold_mib",
            c.rebound_needed_threshold_mib != d.rebound_needed_threshold_mib,
        ),
        (
            "rebound_trigger_threshold_mib",
            c.rebound_trigger_threshold_mib != d.rebound_trigger_threshold_mib,
        ),
        ("check_interval", c.check_interval != d.check_interval),
    ] {
        if set {
            w.push(format!("{p}::{key} is ignored: ferrotel has no rebound compaction (space comes back as segments are sent)"));
        }
    }
    w
}

impl PreparedExtension for Config {
    /// The directories as they are now (nothing is created or written): `validate` warns about what
    /// would fail at start, and the keys accepted but ignored.
    fn warnings(&self) -> Vec<String> {
        let mut w = self.ignored.clone();
        let mut dirs = vec![("directory", &self.directory)];
        if let Some(d) = &self.compaction.directory {
            dirs.push(("compaction::directory", d));
        }
        for (key, dir) in dirs {
            // Missing or not a directory: errors in `prepare` (as otelcol). What otelcol does not
            // check is a warning: a directory ferrotel cannot write.
            let problem = match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() && m.permissions().readonly() => {
                    Some("is not writable".to_string())
                }
                _ => None,
            };
            if let Some(p) = problem {
                w.push(format!(
                    "extensions::file_storage::{key}: {} {p}",
                    dir.display()
                ));
            }
        }
        w
    }

    fn create(&self, id: &ComponentId) -> Result<Arc<dyn Extension>, StartError> {
        Ok(Arc::new(FileStorage {
            id: id.clone(),
            config: self.clone(),
            legacy_claims: Default::default(),
        }))
    }
}

/// A started `file_storage` extension, found by exporters through [`Host::extension`].
pub struct FileStorage {
    id: ComponentId,
    config: Config,
    /// Old-style directories already moved for a client of this process (old path → client).
    legacy_claims: std::sync::Mutex<std::collections::HashMap<PathBuf, String>>,
}

impl FileStorage {
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// The directory of one client's data (created if needed), e.g. a sending queue's
    /// `exporter%5Fotlp%2Fbackend%5Ftraces`: the client name with every byte outside `[A-Za-z0-9-]`
    /// percent-encoded, so two names never share a directory (`otlp/a_b` and `otlp/a b` used to), and
    /// no new name is ever an old-style name (those never hold `%`).
    ///
    /// A directory left by an older ferrotel under the old naming (those bytes replaced by `_`) is
    /// renamed to the new name when the new one does not exist yet; if two clients of this process map
    /// to the same old directory, the first to start takes it and the second is told so in the log.
    pub fn client_directory(&self, client: &str) -> Result<PathBuf, String> {
        let dir = self.config.directory.join(escape_name(client));
        let legacy = self.config.directory.join(legacy_name(client));
        if legacy != dir && !dir.exists() {
            let mut claimed = self.legacy_claims.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(owner) = claimed.get(&legacy) {
                tracing::warn!(
                    client,
                    old_directory = %legacy.display(),
                    taken_by = %owner,
                    "an old-style queue directory matched two clients; its data went to the first"
                );
            } else if legacy.is_dir() {
                std::fs::rename(&legacy, &dir).map_err(|e| {
                    format!(
                        "cannot move the old queue directory {} to {}: {e}",
                        legacy.display(),
                        dir.display()
                    )
                })?;
                tracing::info!(
                    client,
                    from = %legacy.display(),
                    to = %dir.display(),
                    "moved a queue directory written under the old naming"
                );
                claimed.insert(legacy, client.to_string());
            }
        }
        create_dir(&dir, self.config.permissions().unwrap_or(0o750))
            .map_err(|e| format!("cannot create queue directory {}: {e}", dir.display()))?;
        Ok(dir)
    }
}

/// A client name as one directory name: bytes outside `[A-Za-z0-9-]` become `%XX`. Injective
/// (`%` itself is escaped), never `.`/`..`, never contains `/`.
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The naming before escaping (ferrotel 0.1): anything but `[A-Za-z0-9.-]` replaced by `_`.
fn legacy_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn create_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
}

/// Fails unless `dir` exists (or may be created) and a file can be written in it.
fn check_directory(dir: &Path, create: bool, mode: u32) -> Result<(), String> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(format!("storage directory {shown} is not a directory")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            create_dir(dir, mode)
                .map_err(|e| format!("cannot create storage directory {shown}: {e}"))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
            "storage directory {shown} does not exist (create it, or set create_directory: true)"
        ))
        }
        Err(e) => return Err(format!("cannot access storage directory {shown}: {e}")),
    }
    let probe = dir.join(".ferrotel-write-check");
    std::fs::write(&probe, b"ok")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| format!("storage directory {shown} is not writable: {e}"))
}

#[async_trait]
impl Extension for FileStorage {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let component = format!("extensions::{}", self.id);
        let mode = self
            .config
            .permissions()
            .map_err(|e| StartError::new(&component, e))?;
        check_directory(&self.config.directory, self.config.create_directory, mode)
            .map_err(|e| StartError::new(&component, e))?;
        Ok(())
    }

    async fn shutdown(&self) {}

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn storage(&self) -> Option<&dyn Storage> {
        Some(self)
    }
}

impl Storage for FileStorage {
    fn client_directory(&self, client: &str) -> Result<PathBuf, String> {
        FileStorage::client_directory(self, client)
    }

    fn fsync(&self) -> bool {
        self.config.fsync
    }

    fn compact_on_start(&self) -> bool {
        self.config.compaction.on_start
    }

    fn compaction_batch(&self) -> u64 {
        self.config.compaction.max_transaction_size
    }

    fn timeout(&self) -> Duration {
        self.config.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepare(yaml: &str) -> ConfigResult<Arc<dyn PreparedExtension>> {
        Factory.prepare(
            &serde_yaml::from_str(yaml).unwrap(),
            "extensions::file_storage",
        )
    }

    #[test]
    fn defaults_are_otelcols() {
        let c: Config = crate::config::parse(
            &Value::Mapping(Default::default()),
            "extensions::file_storage",
        )
        .unwrap();
        assert_eq!(c.directory, PathBuf::from("/var/lib/otelcol/file_storage"));
        assert_eq!(c.timeout, Duration::from_secs(1));
        assert!(!c.fsync && !c.create_directory);
        assert!(!c.compaction.on_start && !c.compaction.on_rebound);
        assert_eq!(c.compaction.rebound_needed_threshold_mib, 100);
        assert_eq!(c.compaction.rebound_trigger_threshold_mib, 10);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_path() {
        let errs = match prepare("{directory: /tmp, fsink: true}") {
            Err(e) => e,
            Ok(_) => panic!("accepted an unknown key"),
        };
        assert!(errs[0].to_string().contains("fsink"), "{errs:?}");
        let errs = match prepare(
            "{directory: /tmp, create_directory: true, directory_permissions: '9z', recreate: true}",
        ) {
            Err(e) => e,
            Ok(_) => panic!("accepted bad values"),
        };
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0]
            .path
            .ends_with("file_storage::directory_permissions"));
    }

    #[tokio::test]
    async fn missing_or_unwritable_directory_is_a_start_error_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("a/b");
        // A missing directory is a config error, as otelcol's Validate.
        let errs = match prepare(&format!("{{directory: {}}}", missing.display())) {
            Err(e) => e,
            Ok(_) => panic!("accepted a missing directory"),
        };
        assert!(
            errs[0].to_string().contains(&missing.display().to_string()),
            "{errs:?}"
        );

        let p = prepare(&format!(
            "{{directory: {}, create_directory: true}}",
            missing.display()
        ))
        .unwrap();
        let ext = p
            .create(&ComponentId::parse("file_storage").unwrap())
            .unwrap();
        ext.start(&Host::default()).await.unwrap();
        assert!(missing.is_dir());

        let file = tmp.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let errs = match prepare(&format!("{{directory: {}}}", file.display())) {
            Err(e) => e,
            Ok(_) => panic!("accepted a file as the directory"),
        };
        assert!(
            errs[0].to_string().contains(&file.display().to_string()),
            "{errs:?}"
        );
    }

    #[test]
    fn escaped_names_never_collide() {
        let names = [
            "exporter_otlp/a_b_traces",
            "exporter_otlp/a b_traces",
            "exporter_otlp/a.b_traces",
            "exporter_otlp/a%2Fb_traces",
            "exporter_otlp/é_traces",
            "..",
        ];
        let escaped: std::collections::BTreeSet<String> =
            names.iter().map(|n| escape_name(n)).collect();
        assert_eq!(escaped.len(), names.len(), "{escaped:?}");
        for e in &escaped {
            assert!(!e.contains('/') && !e.contains('.') && !e.is_empty(), "{e}");
        }
        assert_eq!(
            escape_name("exporter_otlp/a_b_traces"),
            "exporter%5Fotlp%2Fa%5Fb%5Ftraces"
        );
    }

    #[tokio::test]
    async fn an_old_style_directory_moves_to_its_new_name_once() {
        let tmp = tempfile::tempdir().unwrap();
        let old = tmp.path().join("exporter_otlp_backend_traces");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join("seg-00000000000000000000.dat"), b"x").unwrap();
        let p = prepare(&format!("{{directory: {}}}", tmp.path().display())).unwrap();
        let ext = p
            .create(&ComponentId::parse("file_storage").unwrap())
            .unwrap();
        let fs = ext.as_any().downcast_ref::<FileStorage>().unwrap();
        let dir = fs.client_directory("exporter_otlp/backend_traces").unwrap();
        assert_eq!(dir, tmp.path().join("exporter%5Fotlp%2Fbackend%5Ftraces"));
        assert!(dir.join("seg-00000000000000000000.dat").exists());
        assert!(!old.exists());
        // Another client whose old name was the same gets a fresh directory, not that data.
        let other = fs.client_directory("exporter_otlp_backend_traces").unwrap();
        assert_ne!(other, dir);
        assert!(!other.join("seg-00000000000000000000.dat").exists());
    }

    #[test]
    fn ignored_compaction_keys_are_warned_by_name() {
        let p = prepare("{directory: /tmp, compaction: {on_start: true, directory: /tmp, on_rebound: true, check_interval: 1s}}").unwrap();
        let w = p.warnings().join("\n");
        for key in [
            "compaction::directory",
            "compaction::on_rebound",
            "compaction::check_interval",
        ] {
            assert!(
                w.contains(&format!("extensions::file_storage::{key}")),
                "{w}"
            );
        }
        assert!(!w.contains("on_start"), "{w}");
        assert!(prepare("{directory: /tmp}").unwrap().warnings().is_empty());
    }
}
