//! The ferrotel command line: run, validate, components, print-config, top, healthcheck.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ferrotel::config;
use ferrotel::pipeline::graph;
use ferrotel::pipeline::service::{self, Service};

#[derive(Parser)]
#[command(
    name = "ferrotel",
    version,
    about = "An OpenTelemetry Collector-compatible telemetry daemon",
    args_conflicts_with_subcommands = false
)]
struct Cli {
    /// Configuration file (repeat to merge several, later files win); `yaml:...` for inline YAML.
    /// Without any, the embedded default config is used.
    #[arg(long = "config", short = 'c', global = true, value_name = "FILE")]
    config: Vec<String>,
    /// Override one key, e.g. `--set service.telemetry.logs.level=debug` (or `a::b::c=v`).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// One budget for an orderly shutdown (and for draining the old service on reload): receivers get
    /// at most half of it for requests in flight, processors and exporters flush within the rest.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// Reload when a `--config` file's content changes (checked every second), as SIGHUP does.
    /// ferrotel only: otelcol has no such flag. Files named inside the config (`${file:…}`,
    /// certificates) are not watched.
    #[arg(long, global = true)]
    watch_config: bool,
    /// otelcol's feature gates; accepted for compatibility, ferrotel has none yet.
    #[arg(long = "feature-gates", global = true, value_name = "GATES")]
    feature_gates: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration: exit 1 with every error found, else 0. Start-time problems that can be
    /// seen without the network (missing or unparsable certificate files, authenticator or storage ids
    /// that name no suitable extension, unusable storage directories) are printed as warnings, as
    /// otelcol's `validate` does not open files that may only exist at run time.
    Validate {
        /// Treat every warning as an error (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// List every receiver, processor, exporter and extension with the signals it supports.
    Components,
    /// Print the merged, expanded configuration.
    PrintConfig,
    /// A live view of a running ferrotel, read from its metrics endpoint (q or Ctrl-C quits).
    Top {
        /// The running collector's metrics endpoint (`host:port` or a URL).
        #[arg(long, default_value = "http://localhost:8888/metrics")]
        endpoint: String,
        /// How often to refresh.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// Print one frame (rates over one interval) and exit, as when stdout is not a terminal.
        #[arg(long)]
        once: bool,
    },
    /// Exit 0 if a health_check endpoint answers 200, else 1 (for container HEALTHCHECKs).
    Healthcheck {
        #[arg(long, default_value = "http://localhost:13133/")]
        url: String,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::duration::parse(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Components) => {
            print_components();
            ExitCode::SUCCESS
        }
        Some(Command::Validate { strict }) => match load_plan(&cli) {
            Ok(plan) => {
                if let Err(e) = ferrotel::telemetry::check(&plan.config.service.telemetry) {
                    eprintln!("invalid configuration:\n{}", config::ConfigErrors(e));
                    return ExitCode::FAILURE;
                }
                // Creating extensions to see what they are may need a runtime to be present.
                let warnings = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => {
                        let _in = rt.enter();
                        all_warnings(&plan)
                    }
                    Err(_) => plan.warnings.clone(),
                };
                let label = if strict { "error" } else { "warning" };
                for w in &warnings {
                    eprintln!("{label}: {w}");
                }
                if strict && !warnings.is_empty() {
                    eprintln!(
                        "invalid configuration: {} problem(s) found with --strict",
                        warnings.len()
                    );
                    return ExitCode::FAILURE;
                }
                println!("configuration is valid");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Some(Command::PrintConfig) => match config::load(&cli.config, &cli.set) {
            Ok((mut merged, _)) => {
                // Tokens, passwords and keys are never printed.
                config::secret::redact(&mut merged);
                print!("{}", serde_yaml::to_string(&merged).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid configuration:\n{e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Top {
            ref endpoint,
            interval,
            once,
        }) => match ferrotel::telemetry::top::run(endpoint, interval, once) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferrotel top: {e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Healthcheck { ref url }) => {
            match ferrotel::telemetry::http_get::get(url, Duration::from_secs(3)) {
                Ok(r) if r.status == 200 => ExitCode::SUCCESS,
                Ok(r) => {
                    eprintln!("{url}: HTTP {} {}", r.status, r.body.trim());
                    ExitCode::FAILURE
                }
                Err(e) => {
                    eprintln!("{url}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            one_malloc_arena();
            run(cli)
        }
    }
}

/// glibc's malloc gives threads that allocate at the same time arenas of their own (up to 8 per core)
/// and each arena keeps what was freed in it; with tokio's workers and the blocking pool (where
/// compression runs) that retention was 2.5–4 MiB of a 25–30 MiB peak RSS at 20,000 spans/s, for no
/// measurable CPU gain (threads keep their small-allocation caches with one arena). The arena count
/// is read from the environment only when the process starts, and the crate has no `unsafe` to call
/// `mallopt`, so the collector runs itself again once with `MALLOC_ARENA_MAX=1` (same PID, same
/// arguments). A `MALLOC_ARENA_MAX` set by the user is kept as it is, and if the exec fails the
/// collector goes on with glibc's default.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const VAR: &str = "MALLOC_ARENA_MAX";
        if std::env::var_os(VAR).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
        // `exec` returns only when it failed.
        let _ = std::process::Command::new(&exe)
            .arg0(arg0)
            .args(args)
            .env(VAR, "1")
            .exec();
    }
}

fn load_plan(cli: &Cli) -> Result<graph::Plan, ExitCode> {
    let (merged, sources) = config::load(&cli.config, &cli.set).map_err(|e| {
        eprintln!("invalid configuration:\n{e}");
        ExitCode::FAILURE
    })?;
    graph::plan_with(&ferrotel::components::builtin(), &merged, &sources).map_err(|e| {
        eprintln!("invalid configuration:\n{e}");
        ExitCode::FAILURE
    })
}

/// The plan's warnings and the start-time problems visible without the network.
fn all_warnings(plan: &graph::Plan) -> Vec<String> {
    let mut w = plan.warnings.clone();
    w.extend(graph::start_warnings(plan));
    w
}

fn print_components() {
    let sigs = |s: &[ferrotel::signal::SignalKind]| {
        s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
    };
    println!("receivers:");
    for f in ferrotel::components::receivers() {
        println!("  {}: [{}]", f.type_name(), sigs(f.signals()));
    }
    println!("processors:");
    for f in ferrotel::components::processors() {
        println!("  {}: [{}]", f.type_name(), sigs(f.signals()));
    }
    println!("exporters:");
    for f in ferrotel::components::exporters() {
        let aliases = f.aliases();
        let alias = if aliases.is_empty() {
            String::new()
        } else {
            format!(" (also: {})", aliases.join(", "))
        };
        println!("  {}: [{}]{alias}", f.type_name(), sigs(f.signals()));
    }
    println!("extensions:");
    for f in ferrotel::components::extensions() {
        println!("  {}", f.type_name());
    }
    println!("connectors:");
    for f in ferrotel::components::connectors() {
        let pairs = f
            .signal_pairs()
            .iter()
            .map(|(a, b)| format!("{a}->{b}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!("  {}: [{pairs}]", f.type_name());
    }
}

fn run(cli: Cli) -> ExitCode {
    if !cli.feature_gates.is_empty() {
        eprintln!(
            "warning: --feature-gates {:?} ignored: ferrotel has no feature gates",
            cli.feature_gates
        );
    }
    let plan = match load_plan(&cli) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Err(e) = ferrotel::telemetry::check(&plan.config.service.telemetry) {
        eprintln!("invalid configuration:\n{}", config::ConfigErrors(e));
        return ExitCode::FAILURE;
    }
    if let Err(e) = ferrotel::telemetry::init_logs(&plan.config.service.telemetry.logs) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let metrics = ferrotel::telemetry::prometheus::settings(&plan.config.service.telemetry.metrics)
        .expect("checked above");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferrotel")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async move {
        // Installed before the service starts, so that a signal is never missed (or, for SIGHUP, fatal).
        let watch = cli.watch_config.then(|| ConfigWatch::new(&cli.config));
        let mut signals = match Signals::new(watch) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let metrics_server = match ferrotel::telemetry::prometheus::start(&metrics).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("failed to start: {e}");
                return ExitCode::FAILURE;
            }
        };
        for w in all_warnings(&plan) {
            tracing::warn!("{w}");
        }
        let mut service = match Service::start(&plan).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("failed to start: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut plan = plan;
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "ferrotel is running");
        while let Signal::Reload(why) = signals.next().await {
            // As otelcol, SIGHUP re-reads the configuration; unlike otelcol, only what changed is
            // restarted, and a configuration that fails (invalid, a port in use, an unreadable
            // certificate) is logged and counted, and the running one is kept.
            let next = match load_plan(&cli) {
                Ok(p) => p,
                Err(_) => {
                    ferrotel::telemetry::events::config_reload(false);
                    tracing::error!("{why}: the new configuration is invalid (see above); keeping the running one");
                    continue;
                }
            };
            tracing::info!("{why}: reloading the configuration");
            for w in all_warnings(&next) {
                tracing::warn!("{w}");
            }
            match service::reload(&mut service, &plan, &next, cli.shutdown_timeout).await {
                Ok(service::Reloaded::Success) => {
                    plan = next;
                    ferrotel::telemetry::events::config_reload(true);
                    tracing::info!("configuration reloaded");
                }
                Ok(service::Reloaded::Failed(e)) => {
                    ferrotel::telemetry::events::config_reload(false);
                    tracing::error!("{why}: the new configuration failed to start: {e}; keeping the running one");
                }
                Err(e) => {
                    tracing::error!("{why}: neither the new nor the previous configuration could start again: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        tracing::info!("shutting down");
        service.shutdown(cli.shutdown_timeout).await;
        if let Some(m) = metrics_server {
            m.shutdown().await;
        }
        tracing::info!("shutdown complete");
        ExitCode::SUCCESS
    });
    // Blocking work still running (a file write, a password check) must not hold the exit.
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}

#[derive(PartialEq)]
enum Signal {
    Stop,
    /// Reload, and what asked for it (for the logs).
    Reload(&'static str),
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    watch: Option<ConfigWatch>,
}

impl Signals {
    fn new(watch: Option<ConfigWatch>) -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            watch,
        })
    }

    async fn next(&mut self) -> Signal {
        let watch = &mut self.watch;
        let changed = async {
            match watch {
                Some(w) => w.changed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload("SIGHUP"),
            _ = changed => Signal::Reload("--watch-config"),
        }
    }
}

/// `--watch-config`: polls the content of the `--config` files (inline `yaml:` ones never change)
/// with the same loop that watches certificates ([`ferrotel::watch`]).
struct ConfigWatch {
    changed: std::sync::Arc<tokio::sync::Notify>,
    _task: Option<tokio::task::JoinHandle<()>>,
}

impl ConfigWatch {
    fn new(config: &[String]) -> ConfigWatch {
        let files = config
            .iter()
            .filter(|f| !f.starts_with("yaml:"))
            .map(|f| f.strip_prefix("file:").unwrap_or(f).into())
            .collect();
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let notify = changed.clone();
        // A change is reported once; whether the new config is valid is the reload's business (an
        // invalid one is counted as a failed reload, and the next edit is reported again).
        let task = ferrotel::watch::spawn(files, Duration::from_secs(1), move |_| {
            notify.notify_one();
            ferrotel::watch::Outcome::Applied
        });
        ConfigWatch {
            changed,
            _task: task,
        }
    }

    /// Returns once a file's content has changed since the last call (changes in between coalesce).
    async fn changed(&mut self) {
        self.changed.notified().await
    }
}
