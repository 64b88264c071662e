//! ferrotel-loadgen end to end: its sink counts exactly what its sender sent through ferrotel.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, Ferrotel};

fn loadgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferrotel-loadgen"))
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.stderr(Stdio::inherit()).output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

#[test]
fn every_item_sent_through_ferrotel_is_counted_once() {
    let (sg, sh, st) = (free_port(), free_port(), free_port());
    let _sink = KillOnDrop(
        loadgen()
            .args(["--threads", "1", "sink"])
            .args(["--grpc", &format!("127.0.0.1:{sg}")])
            .args(["--http", &format!("127.0.0.1:{sh}")])
            .args(["--stats", &format!("127.0.0.1:{st}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (g, h) = (free_port(), free_port());
    let yaml = format!(
        r#"
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{g}"}}
      http: {{endpoint: "127.0.0.1:{h}"}}
exporters:
  otlp_grpc:
    endpoint: "127.0.0.1:{sg}"
    tls: {{insecure: true}}
  otlp_http:
    endpoint: "http://127.0.0.1:{sh}"
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp_grpc]}}
    logs: {{receivers: [otlp], exporters: [otlp_http]}}
    metrics: {{receivers: [otlp], exporters: [otlp_grpc]}}
"#
    );
    let f = Ferrotel::start(&yaml, &[g, h]);
    let mut seq = 0u64;
    for (signal, protocol, extra) in [
        ("traces", "grpc", vec!["--compression", "gzip"]),
        ("logs", "http", vec!["--encoding", "json"]),
        ("metrics", "http", vec!["--compression", "gzip"]),
    ] {
        let port = if protocol == "grpc" { g } else { h };
        let report = run_json(
            loadgen()
                .args(["--threads", "1", "send", "--json", "--signal", signal])
                .args(["--protocol", protocol, "--endpoint"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["--count", "1050", "--items-per-request", "100"])
                .args(["--connections", "2", "--rate", "20000"])
                .args(["--seq-start", &seq.to_string()])
                .args(&extra),
        );
        assert_eq!(report["items_accepted"], 1050, "{signal}: {report}");
        assert_eq!(report["requests"], 11, "{signal}: {report}");
        seq += 1050;
    }
    let stats = run_json(
        loadgen()
            .args(["stats", "--sink", &format!("127.0.0.1:{st}")])
            .args(["--from", "0", "--to", &seq.to_string()])
            .args(["--expect", &seq.to_string(), "--timeout", "30s"]),
    );
    assert_eq!(stats["unique"], seq, "{stats}\n{}", f.logs());
    assert_eq!(stats["duplicates"], 0, "{stats}");
    assert_eq!(stats["missing_in_range"], 0, "{stats}");
    assert_eq!(stats["unsequenced"], 0, "{stats}");
    assert!(f.stop(Duration::from_secs(10)).success());
}
