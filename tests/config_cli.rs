//! `ferrotel validate`, `print-config`, `components`, `--version`: every config error class names its
//! file and key path; expansion, merging and `--set` behave as otelcol's.

use crate::common;

use common::run_cli;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

const GOOD: &str = r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:14317
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
"#;

fn validate(files: &[&str], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["validate"];
    for f in files {
        args.push("--config");
        args.push(f);
    }
    args.extend_from_slice(extra);
    run_cli(&args)
}

#[test]
fn default_and_example_configs_are_valid() {
    let (code, out, err) = run_cli(&["validate"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configuration is valid"));
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "good.yaml", GOOD);
    assert_eq!(validate(&[&f], &[]).0, 0);
}

#[test]
fn unknown_key_names_file_path_and_accepted_keys() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "bad.yaml",
        &GOOD.replace("endpoint: 127.0.0.1:14317", "endpont: 127.0.0.1:14317"),
    );
    let (code, _, err) = validate(&[&f], &[]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{f}: receivers::otlp::protocols::grpc::endpont: unknown key \"endpont\"; accepted keys: endpoint,")), "{err}");
}

/// Several unknown keys in one component, nested ones, in a list entry, in two components and in
/// `service::telemetry`: every one is reported in the same run, each at its full key path, and an
/// error that remains once they are set aside (here a bad value) is reported with them.
#[test]
fn every_unknown_key_of_every_component_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "bad.yaml",
        r#"
receivers:
  otlp:
    bogus_top: 1
    protocols:
      grpc: {endpont: 127.0.0.1:14317, max_recv_msg_size: 4, keepalive: {server_parameters: {tyme: 1s}}}
      http: {endpoint: 127.0.0.1:14318, cors: {allowed_origin: [x]}}
processors:
  attributes:
    actions:
      - {key: a, action: insert, value: 1, vallue: 2}
      - {key: b, action: delete, patern: x}
  batch: {send_batch_size: 10, send_batch_max_size: 5, timout: 1s}
exporters:
  debug: {verbosityy: basic, sampling: 2}
service:
  telemetry: {logs: {levl: info}, metrics: {lvel: basic}}
  pipelines:
    traces: {receivers: [otlp], processors: [attributes, batch], exporters: [debug]}
"#,
    );
    let (code, _, err) = validate(&[&f], &[]);
    assert_eq!(code, 1, "{err}");
    for key in [
        "service::telemetry::logs::levl",
        "service::telemetry::metrics::lvel",
    ] {
        assert!(
            err.contains(&format!("{key}: unknown key")),
            "missing {key} in\n{err}"
        );
    }
    // The top-level errors come first; once they are fixed, the components' own.
    let fixed = std::fs::read_to_string(&f).unwrap().replace(
        "  telemetry: {logs: {levl: info}, metrics: {lvel: basic}}\n",
        "",
    );
    let f = write(&dir, "bad2.yaml", &fixed);
    let (code, _, err) = validate(&[&f], &[]);
    assert_eq!(code, 1, "{err}");
    for key in [
        "receivers::otlp::bogus_top",
        "receivers::otlp::protocols::grpc::endpont",
        "receivers::otlp::protocols::grpc::max_recv_msg_size",
        "receivers::otlp::protocols::grpc::keepalive::server_parameters::tyme",
        "receivers::otlp::protocols::http::cors::allowed_origin",
        "processors::attributes::actions::0::vallue",
        "processors::attributes::actions::1::patern",
        "processors::batch::timout",
        "exporters::debug::verbosityy",
        "exporters::debug::sampling",
    ] {
        assert!(
            err.contains(&format!("{f}: {key}: unknown key")),
            "missing {key} in\n{err}"
        );
    }
    // What remains once the unknown keys are set aside is reported in the same run.
    assert!(
        err.contains("processors::batch::send_batch_max_size"),
        "{err}"
    );
    assert!(!err.contains("not configured"), "{err}");
}

#[test]
fn wrong_type_names_path() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "bad.yaml",
        &GOOD.replace(
            "        endpoint: 127.0.0.1:14317",
            "        endpoint: 127.0.0.1:14317\n        max_recv_msg_size_mib: lots",
        ),
    );
    let (code, _, err) = validate(&[&f], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("receivers::otlp::protocols::grpc::max_recv_msg_size_mib: invalid type: string \"lots\", expected u64"), "{err}");
}

#[test]
fn every_graph_error_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "bad.yaml",
        r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:14317"}
      http: {endpoint: "127.0.0.1:14317"}
  otlp/unused:
    protocols:
      grpc: {endpoint: "127.0.0.1:14400"}
exporters:
  debug:
  nosuch/x:
service:
  pipelines:
    traces:
      receivers: [otlp, missing]
      processors: [batch/none]
      exporters: [debug]
    logs:
      receivers: [otlp]
    metrics/extra:
      exporters: [debug]
    spans:
      receivers: [otlp]
      exporters: [debug]
"#,
    );
    let (code, _, err) = validate(&[&f], &[]);
    assert_eq!(code, 1, "{err}");
    for want in [
        "exporters::nosuch/x: unknown exporter type \"nosuch\"; known exporters:",
        "service::pipelines::traces::receivers::1: references receiver \"missing\", which is not configured under receivers",
        "service::pipelines::traces::processors::0: references processor \"batch/none\", which is not configured under processors",
        "service::pipelines::logs::exporters: a pipeline needs at least one exporter",
        "service::pipelines::metrics/extra::receivers: a pipeline needs at least one receiver",
        "service::pipelines::spans: invalid pipeline id \"spans\"",
        "receivers::otlp: listens on 127.0.0.1:14317, which receivers::otlp also uses",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
        assert!(err.contains(&f), "errors name the file:\n{err}");
    }
}

#[test]
fn unused_component_is_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "warn.yaml",
        &GOOD.replace(
            "exporters:\n  debug:",
            "exporters:\n  debug:\n  debug/spare:",
        ),
    );
    let (code, _, err) = validate(&[&f], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: exporters::debug/spare is configured but not used in any pipeline"),
        "{err}"
    );
}

#[test]
fn environment_expansion() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "env.yaml",
        &GOOD
            .replace("127.0.0.1:14317", "${env:FT_HOST}:${FT_PORT}")
            .replace("  debug:", "  debug:\n    verbosity: ${env:FT_VERBOSITY:-detailed}\n  debug/dollar:\n    verbosity: basic # $$ is a literal dollar"),
    );
    let out = std::process::Command::new(common::bin())
        .args(["print-config", "--config", &f])
        .env("FT_HOST", "127.0.0.2")
        .env("FT_PORT", "4999")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("endpoint: 127.0.0.2:4999"), "{text}");
    assert!(text.contains("verbosity: detailed"), "{text}");
    let lit = write(
        &dir,
        "lit.yaml",
        &GOOD.replace("  debug:", "  debug:\n    verbosity: $${env:NOPE}"),
    );
    let out = run_cli(&["print-config", "--config", &lit]).1;
    assert!(out.contains("verbosity: ${env:NOPE}"), "{out}");
}

#[test]
fn files_merge_in_order_and_set_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(&dir, "a.yaml", GOOD);
    let b = write(
        &dir,
        "b.yaml",
        "exporters:\n  debug:\n    verbosity: normal\nservice:\n  pipelines:\n    traces:\n      exporters: [debug, debug/2]\n",
    );
    let c = write(&dir, "c.yaml", "exporters:\n  debug/2:\n");
    let (code, out, err) = run_cli(&[
        "print-config",
        "--config",
        &a,
        "--config",
        &b,
        "--config",
        &c,
        "--set",
        "service.telemetry.logs.level=debug",
        "--set",
        "exporters::debug::sampling_initial=7",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_yaml::Value = serde_yaml::from_str(&out).unwrap();
    assert_eq!(v["exporters"]["debug"]["verbosity"], "normal");
    assert_eq!(v["exporters"]["debug"]["sampling_initial"], 7);
    assert_eq!(
        v["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"], "127.0.0.1:14317",
        "maps merge deeply"
    );
    assert_eq!(
        v["service"]["pipelines"]["traces"]["exporters"],
        serde_yaml::from_str::<serde_yaml::Value>("[debug, debug/2]").unwrap(),
        "lists are replaced"
    );
    assert_eq!(v["service"]["telemetry"]["logs"]["level"], "debug");
    assert_eq!(validate(&[&a, &b, &c], &[]).0, 0);
}

#[test]
fn unreadable_and_malformed_files() {
    let (code, _, err) = validate(&["/nonexistent/ferrotel.yaml"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/ferrotel.yaml: cannot read"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "broken.yaml", "receivers: [\n");
    let (code, _, err) = validate(&[&f], &[]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{f}: invalid YAML")), "{err}");
}

#[test]
fn components_version_help() {
    let (code, out, _) = run_cli(&["components"]);
    assert_eq!(code, 0);
    assert!(out.contains("otlp: [traces, metrics, logs]"), "{out}");
    assert!(
        out.contains("otlp_grpc: [traces, metrics, logs] (also: otlp)"),
        "{out}"
    );
    assert!(
        out.contains("otlp_http: [traces, metrics, logs] (also: otlphttp)"),
        "{out}"
    );
    assert!(out.contains("debug: [traces, metrics, logs]"), "{out}");
    let (code, out, _) = run_cli(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ferrotel "), "{out}");
    let (code, out, _) = run_cli(&["--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("validate") && out.contains("--config") && out.contains("--set"),
        "{out}"
    );
}

/// Problems that would stop `run` but that `validate` cannot be sure of (files mounted only at run
/// time): warnings by default, as otelcol's exit code; errors with `--strict`. Each names its key path.
#[test]
fn start_time_problems_are_warnings_and_errors_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    // A queue directory ferrotel cannot write (otelcol does not check this; a missing directory
    // is an error in both, see tests/otelcol_parity.rs).
    let ro = dir.path().join("readonly");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    let f = write(
        &dir,
        "start.yaml",
        &r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:14317
        tls: {cert_file: /nonexistent/server.crt, key_file: /nonexistent/server.key}
      http:
        endpoint: 127.0.0.1:14318
        auth: {authenticator: bearertokenauth/missing}
extensions:
  file_storage:
    directory: READONLY_DIR
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
    sending_queue: {storage: file_storage/other}
service:
  extensions: [file_storage]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp]
"#
        .replace("READONLY_DIR", ro.to_str().unwrap()),
    );
    let (code, out, err) = validate(&[&f], &[]);
    assert_eq!(code, 0, "otelcol's exit code: valid unless --strict\n{err}");
    assert!(out.contains("configuration is valid"), "{out}");
    for expected in [
        "warning: receivers::otlp::protocols::grpc::tls::cert_file: cannot read file \"/nonexistent/server.crt\"",
        "warning: receivers::otlp::protocols::grpc::tls::key_file:",
        "warning: receivers::otlp::protocols::http::auth::authenticator: \"bearertokenauth/missing\" names no extension",
        "warning: exporters::otlp::sending_queue::storage: \"file_storage/other\" names no extension",
        "is not writable",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let (code, _, err) = validate(&[&f], &["--strict"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("error: receivers::otlp::protocols::grpc::tls::cert_file"),
        "{err}"
    );
    // A config without such problems passes --strict.
    let good = write(&dir, "good.yaml", GOOD);
    let (code, _, err) = validate(&[&good], &["--strict"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn strict_rejects_an_authenticator_that_cannot_authenticate_that_way() {
    let dir = tempfile::tempdir().unwrap();
    // headers_setter adds headers to outgoing requests; it cannot check incoming ones.
    let f = write(
        &dir,
        "auth.yaml",
        &GOOD
            .replace(
                "endpoint: 127.0.0.1:14317",
                "endpoint: 127.0.0.1:14317\n        auth: {authenticator: headers_setter}",
            )
            .replace(
                "service:",
                "extensions:\n  headers_setter:\n    headers: [{key: x, value: y}]\nservice:\n  extensions: [headers_setter]",
            ),
    );
    let (code, _, err) = validate(&[&f], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("receivers::otlp::protocols::grpc::auth::authenticator: extension \"headers_setter\" cannot authenticate incoming requests"),
        "{err}"
    );
    assert_eq!(validate(&[&f], &["--strict"]).0, 1);
}

/// Issue 10 item 11: every key that is accepted but not implemented is a warning naming it (printed
/// by `validate`, logged at start-up); keys otelcol does not have on a component are errors naming
/// them; typed keys are typed.
#[test]
fn keys_accepted_but_ignored_are_warned_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "ignored.yaml",
        r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:14317
        read_buffer_size: 524288
        write_buffer_size: 65536
      http:
        endpoint: 127.0.0.1:14318
        compression_algorithms: [snappy, lz4]
extensions:
  file_storage:
    directory: /tmp
    compaction: {on_start: true, on_rebound: true, directory: /tmp, rebound_needed_threshold_mib: 50, rebound_trigger_threshold_mib: 5, check_interval: 1s}
exporters:
  otlp_http:
    endpoint: http://127.0.0.1:4318
    read_buffer_size: 4096
    max_idle_conns: 10
    max_idle_conns_per_host: 2
    idle_conn_timeout: 30s
    tls: {reload_interval: 0s}
service:
  extensions: [file_storage]
  telemetry:
    logs:
      output_paths: [/var/log/ferrotel.log]
      sampling: {initial: 5, thereafter: 100}
    metrics:
      views: [{selector: {instrument_name: x}, stream: {name: y}}]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_http]
"#,
    );
    let (code, out, err) = validate(&[&f], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration is valid"), "{out}");
    for key in [
        "receivers::otlp::protocols::grpc::read_buffer_size",
        "receivers::otlp::protocols::grpc::write_buffer_size",
        "extensions::file_storage::compaction::on_rebound",
        "extensions::file_storage::compaction::directory",
        "extensions::file_storage::compaction::rebound_needed_threshold_mib",
        "extensions::file_storage::compaction::rebound_trigger_threshold_mib",
        "extensions::file_storage::compaction::check_interval",
        "exporters::otlp_http::read_buffer_size",
        "service::telemetry::logs::output_paths",
        "service::telemetry::logs::sampling",
        "service::telemetry::metrics::views",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with("warning:") && l.contains(key)),
            "no warning naming {key} in:\n{err}"
        );
    }
    // Implemented keys are not warned about: snappy/lz4 decode, the idle-connection pool keys and
    // `reload_interval: 0s` (never reload, as otelcol) work, `compaction.on_start` compacts.
    for key in [
        "compression_algorithms",
        "max_idle_conns",
        "idle_conn_timeout",
        "reload_interval",
        "on_start",
    ] {
        assert!(
            !err.contains(key),
            "{key} is implemented, not ignored:\n{err}"
        );
    }

    // otelcol's HTTP server has no buffer sizes: an unknown key, named.
    let http = write(
        &dir,
        "http_buffer.yaml",
        &GOOD.replace(
            "        endpoint: 127.0.0.1:14317",
            "        endpoint: 127.0.0.1:14317\n      http:\n        read_buffer_size: 1024",
        ),
    );
    let (code, _, err) = validate(&[&http], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("receivers::otlp::protocols::http") && err.contains("read_buffer_size"),
        "{err}"
    );
    // Typed: a pool size must be a number.
    let typed = write(
        &dir,
        "typed.yaml",
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:14317\nexporters:\n  otlp_http:\n    endpoint: http://127.0.0.1:4318\n    max_idle_conns: lots\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp_http]\n",
    );
    let (code, _, err) = validate(&[&typed], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("exporters::otlp_http::max_idle_conns"),
        "{err}"
    );
}

/// `ferrotel` (the run command) runs itself again once with `MALLOC_ARENA_MAX=1`: same PID, same
/// arguments, the variable in its environment; a value the user set is kept (src/main.rs).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn run_limits_malloc_arenas_in_place_unless_the_user_chose() {
    use common::{free_port, Ferrotel};
    let environ_of = |f: &Ferrotel| {
        let raw = std::fs::read(format!("/proc/{}/environ", f.child.id())).unwrap();
        raw.split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .find(|v| v.starts_with("MALLOC_ARENA_MAX="))
    };
    let yaml = |port: u16| GOOD.replace("127.0.0.1:14317", &format!("127.0.0.1:{port}"));
    let port = free_port();
    let f = Ferrotel::start(&yaml(port), &[port]);
    assert_eq!(environ_of(&f).as_deref(), Some("MALLOC_ARENA_MAX=1"));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", f.child.id())).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("--config"),
        "arguments kept"
    );
    let port = free_port();
    let g = Ferrotel::start_with(&yaml(port), &[port], &[], &[("MALLOC_ARENA_MAX", "4")]);
    assert_eq!(environ_of(&g).as_deref(), Some("MALLOC_ARENA_MAX=4"));
    assert!(f.stop(std::time::Duration::from_secs(10)).success());
    assert!(g.stop(std::time::Duration::from_secs(10)).success());
}

/// `layout/ferrotel.order`, the code layout build.rs hands the linker: one symbol name per line, each
/// once, no bare addresses (callgrind names a function without a symbol by its address), the header
/// saying how to regenerate it, and the functions of the shipped configs' paths. The linker skips a name
/// it does not know without a word, so a broken generator would only show as a larger RSS: this says so.
#[test]
fn link_layout_lists_each_executed_function_once() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("layout/ferrotel.order");
    let text = std::fs::read_to_string(&path).expect("layout/ferrotel.order");
    assert!(text.starts_with('#') && text.contains("layout/generate.sh"));
    let names: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(names.len() > 1000, "{} names", names.len());
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        assert!(!n.is_empty() && !n.contains(char::is_whitespace), "{n:?}");
        assert!(!n.starts_with("0x") && !n.ends_with('\''), "{n:?}");
        assert!(seen.insert(*n), "{n} twice");
    }
    for part in [
        "filelog",
        "otlp_http",
        "batch",
        "otlp_grpc",
        "memory_limiter",
    ] {
        assert!(names.iter().any(|n| n.contains(part)), "nothing of {part}");
    }
}
