//! Shared helpers for the black-box tests: run the real `ferrotel` binary on ephemeral ports, and a
//! recording OTLP destination (gRPC and HTTP) whose answers a test can steer.
#![allow(dead_code)]

pub mod pki;
pub mod proxy;
pub mod sink;

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use sink::{Sink, SinkMode};

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests on loopback).
/// A port nothing listens on now, and one this test process has not handed out before: the
/// kernel may give a released port to the next `bind(0)`, and two tests running at once would
/// then start collectors on the same port.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if GIVEN.lock().unwrap_or_else(|p| p.into_inner()).insert(port) {
            return port;
        }
    }
}

/// The binary under test: `FERROTEL_BIN` when set (`.ci/run` points it at the release build, so the
/// black-box suites run against what users run), otherwise the one cargo built for this test run.
pub fn bin() -> PathBuf {
    match std::env::var_os("FERROTEL_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_ferrotel")),
    }
}

/// A running ferrotel. Killed on drop; `stop` sends SIGTERM and waits for the exit status.
pub struct Ferrotel {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Ferrotel {
    /// Starts ferrotel with `yaml` as its only config file and waits until each of `ports` accepts.
    pub fn start(yaml: &str, ports: &[u16]) -> Ferrotel {
        Self::start_with(yaml, ports, &[], &[])
    }

    pub fn start_with(yaml: &str, ports: &[u16], args: &[&str], env: &[(&str, &str)]) -> Ferrotel {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.yaml");
        std::fs::File::create(&cfg)
            .unwrap()
            .write_all(yaml.as_bytes())
            .unwrap();
        let log = dir.path().join("ferrotel.log");
        let logf = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&cfg)
            .args(args)
            .stdout(Stdio::null())
            .stderr(logf);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn ferrotel");
        let mut f = Ferrotel { child, dir, log };
        for p in ports {
            f.wait_port(*p);
        }
        f
    }

    pub fn wait_port(&mut self, port: u16) {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("ferrotel exited early with {st}:\n{}", self.logs());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ferrotel did not listen on {port}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
    }

    /// SIGTERM, then waits (up to `timeout`) for the process to exit.
    pub fn stop(mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                start.elapsed() < timeout,
                "ferrotel did not exit within {timeout:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Ferrotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `ferrotel <args>` to completion and returns (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    f()
}

/// The log without terminal colour codes.
pub fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Spans named `<prefix>-<first>` … `<prefix>-<first + n - 1>` (each with its own trace id) under
/// one resource with `service.name` = `service`.
pub fn named_spans(
    service: &str,
    prefix: &str,
    first: usize,
    n: usize,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    let spans = (first..first + n)
        .map(|i| Span {
            name: format!("{prefix}-{i}"),
            trace_id: (i as u128 + 1).to_be_bytes().to_vec(),
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_000_100,
            ..Default::default()
        })
        .collect();
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(service.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}
