//! `ferrotel-loadgen`: a load generator for OTLP collectors, and the counting sink that goes with it.
//!
//! - `send`: OTLP traces, metrics or logs over gRPC or HTTP (protobuf or JSON, gzip) at a fixed or
//!   unbounded rate; every item carries a unique `loadgen.seq` attribute. Reports sent, accepted,
//!   refused, the achieved rate and latency percentiles (`--json` for scripts).
//! - `sink`: an OTLP destination that counts unique, missing and duplicated items by sequence number.
//! - `stats`: waits for a sink to settle and prints its counts as JSON.
#![forbid(unsafe_code)]

mod gen;
#[cfg(test)]
mod gen_tests;
mod send;
mod sink;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferrotel-loadgen",
    version,
    about = "OTLP load generator and counting sink"
)]
struct Cli {
    /// Runtime worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send OTLP data and report what happened.
    Send(send::SendArgs),
    /// Receive OTLP data and count items by their sequence numbers.
    Sink(sink::SinkArgs),
    /// Print a sink's counts as JSON once it has what was expected or has stopped receiving.
    Stats(StatsArgs),
}

#[derive(Debug, clap::Args)]
struct StatsArgs {
    /// The sink's stats address.
    #[arg(long, default_value = "127.0.0.1:4320")]
    sink: String,
    /// Count missing items in the sequence range FROM..TO.
    #[arg(long, requires = "to")]
    from: Option<u64>,
    #[arg(long, requires = "from")]
    to: Option<u64>,
    /// Return as soon as this many unique items have arrived.
    #[arg(long)]
    expect: Option<u64>,
    /// Otherwise return once no item has arrived for this long.
    #[arg(long, default_value = "2s", value_parser = send::parse_duration)]
    settle: Duration,
    /// Give up waiting after this long (the counts are printed anyway).
    #[arg(long, default_value = "120s", value_parser = send::parse_duration)]
    timeout: Duration,
    /// Clear the sink's counts after reading them.
    #[arg(long)]
    reset: bool,
}

/// Resolves on SIGTERM or SIGINT.
pub async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn stats(args: StatsArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut url = format!("http://{}/stats", args.sink);
    if let (Some(from), Some(to)) = (args.from, args.to) {
        url.push_str(&format!("?from={from}&to={to}"));
    }
    let started = tokio::time::Instant::now();
    let mut last_items = None;
    let mut unchanged_since = started;
    let body = loop {
        let body: serde_json::Value =
            serde_json::from_slice(&client.get(&url).send().await?.bytes().await?)?;
        let items = body["items"].as_u64().unwrap_or(0);
        let unique = body["unique"].as_u64().unwrap_or(0);
        if last_items != Some(items) {
            last_items = Some(items);
            unchanged_since = tokio::time::Instant::now();
        }
        let done = args.expect.is_some_and(|e| unique >= e)
            || (args.expect.is_none() && unchanged_since.elapsed() >= args.settle)
            || (args.expect.is_some() && items > 0 && unchanged_since.elapsed() >= args.settle)
            || started.elapsed() >= args.timeout;
        if done {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("{body}");
    if args.reset {
        client
            .post(format!("http://{}/reset", args.sink))
            .send()
            .await?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Send(args) => {
                let json = args.json;
                let report = send::run(args).await?;
                if json {
                    println!("{}", serde_json::to_string(&report)?);
                } else {
                    report.print_text();
                }
                Ok(())
            }
            Command::Sink(args) => sink::run(args).await,
            Command::Stats(args) => stats(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrotel-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}
