//! The ferrotel command line: run, validate, components, print-config, top, healthcheck.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ferrotel::config;
use ferrotel::pipeline::{graph, service::Service};

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
    /// How long an orderly shutdown may take to flush processors and drain exporters.
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// otelcol's feature gates; accepted for compatibility, ferrotel has none yet.
    #[arg(long = "feature-gates", global = true, value_name = "GATES")]
    feature_gates: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check the configuration: exit 0 if it would start, 1 with every error found.
    Validate,
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
        Some(Command::Validate) => match load_plan(&cli) {
            Ok(plan) => {
                for w in &plan.warnings {
                    eprintln!("warning: {w}");
                }
                if let Err(e) = ferrotel::telemetry::check(&plan.config.service.telemetry) {
                    eprintln!("invalid configuration:\n{}", config::ConfigErrors(e));
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
        None => run(cli),
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
    println!("connectors: none");
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
    for w in &plan.warnings {
        tracing::warn!("{w}");
    }
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
    rt.block_on(async move {
        // Installed before the service starts, so that a signal is never missed (or, for SIGHUP, fatal).
        let mut signals = match Signals::new() {
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
        let mut service = match Service::start(plan).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("failed to start: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(version = env!("CARGO_PKG_VERSION"), "ferrotel is running");
        while signals.next().await == Signal::Reload {
            // As otelcol: SIGHUP re-reads the configuration and rebuilds the whole service. An invalid
            // new configuration is logged and the running service is kept.
            let plan = match load_plan(&cli) {
                Ok(p) => p,
                Err(_) => {
                    tracing::error!("SIGHUP: the new configuration is invalid (see above); keeping the running one");
                    continue;
                }
            };
            tracing::info!("SIGHUP: reloading the configuration");
            service.shutdown(cli.shutdown_timeout).await;
            service = match Service::start(plan).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("failed to start after reload: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tracing::info!("configuration reloaded");
        }
        tracing::info!("shutting down");
        service.shutdown(cli.shutdown_timeout).await;
        if let Some(m) = metrics_server {
            m.shutdown().await;
        }
        tracing::info!("shutdown complete");
        ExitCode::SUCCESS
    })
}

#[derive(PartialEq)]
enum Signal {
    Stop,
    Reload,
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}
