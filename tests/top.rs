//! `ferrotel top` driven like a person would: in a real terminal (tmux), reading a running collector,
//! refreshed as data flows, quit with `q` and with Ctrl-C, leaving the terminal as it was.

use crate::common;
use crate::ops;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{bin, free_port, run_cli, wait_until, Ferrotel};

/// A tmux server of the test's own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Tmux {
        let ok = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "tmux is needed for this test (tests/setup.sh installs it)"
        );
        Tmux {
            socket: format!("ferrotel-{name}-{}", std::process::id()),
        }
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts `shell_cmd` in a detached 160x40 session called `name`.
    fn start(&self, name: &str, shell_cmd: &str) {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(["new-session", "-d", "-s", name, "-x", "160", "-y", "40"])
            .arg(shell_cmd)
            .env_remove("TMUX")
            .env("TERM", "xterm-256color")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn screen(&self, name: &str) -> String {
        self.cmd(&["capture-pane", "-p", "-t", name])
    }

    fn keys(&self, name: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

fn collector() -> (Ferrotel, u16, u16) {
    let (http, metrics) = (free_port(), free_port());
    let yaml = format!(
        r#"
receivers: {{otlp: {{protocols: {{http: {{endpoint: "127.0.0.1:{http}"}}}}}}}}
exporters: {{debug: {{verbosity: basic}}}}
service:
  telemetry: {{metrics: {{address: "127.0.0.1:{metrics}"}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
    logs: {{receivers: [otlp], exporters: [debug]}}
"#
    );
    let f = Ferrotel::start(&yaml, &[http, metrics]);
    (f, http, metrics)
}

fn row<'a>(screen: &'a str, first: &str, signal: &str) -> Option<Vec<&'a str>> {
    screen
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|c| c.len() >= 2 && c[0] == first && c[1] == signal)
}

fn top_command(metrics: u16, exit_file: &Path) -> String {
    format!(
        "{} top --endpoint 127.0.0.1:{metrics} --interval 200ms; echo EXIT=$? > {}; echo TERMINAL-BACK; sleep 60",
        bin().display(),
        exit_file.display()
    )
}

#[test]
fn top_shows_live_rates_and_quits_on_q() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (f, http, metrics) = collector();
    let tmux = Tmux::new("q");
    let exit_file = f.dir.path().join("exit-q");
    tmux.start("top", &top_command(metrics, &exit_file));
    assert!(
        wait_until(Duration::from_secs(10), || tmux
            .screen("top")
            .contains("RECEIVER")),
        "{}",
        tmux.screen("top")
    );
    let screen = tmux.screen("top");
    assert!(screen.contains("ferrotel top"), "{screen}");
    assert!(screen.contains("memory "), "{screen}");
    assert!(screen.contains("(nothing received yet)"), "{screen}");

    for _ in 0..4 {
        assert_eq!(ops::post(&rt, http, "/v1/traces", ops::traces(5)), 200);
    }
    assert_eq!(ops::post(&rt, http, "/v1/logs", ops::logs(3)), 200);
    // Totals show up, per receiver and exporter, per signal.
    assert!(
        wait_until(Duration::from_secs(10), || {
            let s = tmux.screen("top");
            row(&s, "otlp", "traces").is_some_and(|r| r.last() == Some(&"20"))
                && row(&s, "otlp", "logs").is_some_and(|r| r.last() == Some(&"3"))
                && row(&s, "debug", "traces").is_some_and(|r| r.get(5) == Some(&"20"))
        }),
        "{}",
        tmux.screen("top")
    );
    // With no more traffic, the rate falls back to zero.
    assert!(
        wait_until(Duration::from_secs(10), || row(
            &tmux.screen("top"),
            "otlp",
            "traces"
        )
        .is_some_and(|r| r[2] == "0.0")),
        "{}",
        tmux.screen("top")
    );

    tmux.keys("top", &["q"]);
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(
            &exit_file
        )
        .is_ok_and(|s| s.trim() == "EXIT=0")),
        "{}",
        tmux.screen("top")
    );
    // The alternate screen is gone: the shell's own output is visible again.
    assert!(wait_until(Duration::from_secs(5), || tmux
        .screen("top")
        .contains("TERMINAL-BACK")));
    assert!(!tmux.screen("top").contains("RECEIVER"));
    assert!(f.stop(Duration::from_secs(10)).success());
}

#[test]
fn top_quits_on_ctrl_c_and_survives_a_collector_restart() {
    let (f, _http, metrics) = collector();
    let tmux = Tmux::new("c");
    let dir = tempfile::tempdir().unwrap();
    let exit_file = dir.path().join("exit-c");
    tmux.start("top", &top_command(metrics, &exit_file));
    assert!(wait_until(Duration::from_secs(10), || tmux
        .screen("top")
        .contains("RECEIVER")));
    // The collector goes away: top says so and keeps trying instead of exiting.
    assert!(f.stop(Duration::from_secs(10)).success());
    assert!(
        wait_until(Duration::from_secs(10), || tmux
            .screen("top")
            .contains("cannot read metrics")),
        "{}",
        tmux.screen("top")
    );
    tmux.keys("top", &["C-c"]);
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(
            &exit_file
        )
        .is_ok_and(|s| s.trim() == "EXIT=0")),
        "{}",
        tmux.screen("top")
    );
}

#[test]
fn top_once_prints_one_frame_without_a_terminal() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (f, http, metrics) = collector();
    assert_eq!(ops::post(&rt, http, "/v1/traces", ops::traces(7)), 200);
    let endpoint = format!("http://127.0.0.1:{metrics}/metrics");
    assert!(wait_until(Duration::from_secs(10), || {
        let (code, out, _) = run_cli(&[
            "top",
            "--once",
            "--interval",
            "100ms",
            "--endpoint",
            &endpoint,
        ]);
        code == 0 && row(&out, "otlp", "traces").is_some_and(|r| r.last() == Some(&"7"))
    }));
    assert!(f.stop(Duration::from_secs(10)).success());
    let (code, out, err) = run_cli(&[
        "top",
        "--once",
        "--interval",
        "10ms",
        "--endpoint",
        &endpoint,
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("cannot read metrics"), "{out}");
    assert!(err.contains("ferrotel top:"), "{err}");
}
