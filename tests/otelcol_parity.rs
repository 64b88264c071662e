//! otelcol's own component config tests (`config_test.go` + `testdata/*.yaml` of
//! opentelemetry-collector and -contrib), ported as tables: each case is one component's config as
//! otelcol's tests load it, wrapped in a minimal pipeline, run through `ferrotel validate` (unmarshal
//! plus the component's validation). Valid → exit 0; invalid → exit 1 with an error at the same key.
//! Where the small otelcol build from `shared/peers/install.sh` has the components, the same file is
//! also given to `otelcol validate` and the exit codes must agree (skipped when it is not installed).

use crate::common;

use std::path::PathBuf;
use std::process::Command;

enum Kind {
    Receiver,
    Processor,
    Exporter,
    Extension,
}

enum Expect {
    Valid,
    /// An error naming this key path (a substring of the line).
    Invalid(&'static str),
}

use Expect::{Invalid, Valid};
use Kind::{Exporter, Extension, Processor, Receiver};

/// (component kind, component id, its config, the pipeline signal, expectation, where otelcol has it)
type Case = (
    Kind,
    &'static str,
    &'static str,
    &'static str,
    Expect,
    &'static str,
);

fn cases() -> Vec<Case> {
    vec![
        // receiver/otlpreceiver: testdata/config.yaml, uds.yaml, typo_default_proto_config.yaml,
        // bad_proto_config.yaml, bad_no_proto_config.yaml, invalid_*_path.yaml, only_*.yaml.
        (Receiver, "otlp", "{protocols: {grpc: , http: }}", "traces", Valid, "config.yaml otlp"),
        (Receiver, "otlp/only_grpc", "{protocols: {grpc: }}", "traces", Valid, "only_grpc.yaml"),
        (Receiver, "otlp/only_http", "{protocols: {http: }}", "traces", Valid, "only_http.yaml"),
        (Receiver, "otlp/only_http_empty_map", "{protocols: {http: {}}}", "traces", Valid, "only_http_empty_map.yaml"),
        (Receiver, "otlp/slash", "{protocols: {http: {traces_url_path: /traces, metrics_url_path: v2/metrics, logs_url_path: /logs}}}", "traces", Valid, "only_http_slash_prefix.yaml"),
        (Receiver, "otlp/customname", "{protocols: {grpc: {endpoint: 'localhost:9090'}}}", "traces", Valid, "config.yaml otlp/customname"),
        (Receiver, "otlp/keepalive", "{protocols: {grpc: {keepalive: {server_parameters: {max_connection_idle: 11s, max_connection_age: 12s, max_connection_age_grace: 13s, time: 30s, timeout: 5s}, enforcement_policy: {min_time: 10s, permit_without_stream: true}}}}}", "traces", Valid, "config.yaml otlp/keepalive"),
        (Receiver, "otlp/msg-size", "{protocols: {grpc: {max_recv_msg_size_mib: 32, max_concurrent_streams: 16, read_buffer_size: 1024, write_buffer_size: 1024, keepalive: {server_parameters: {max_connection_idle: 10s}}}}}", "traces", Valid, "config.yaml otlp/msg-size-conc-connect-max-idle"),
        (Receiver, "otlp/uds", "{protocols: {grpc: {transport: unix, endpoint: /tmp/grpc_otlp.sock}, http: {transport: unix, endpoint: /tmp/http_otlp.sock}}}", "traces", Valid, "uds.yaml (recent otelcol: http transport)"),
        (Receiver, "otlp/cors", "{protocols: {http: {cors: {allowed_origins: ['https://*.test.com', 'https://test.com'], max_age: 7200}}}}", "traces", Valid, "config.yaml otlp/cors"),
        (Receiver, "otlp/corsheader", "{protocols: {http: {cors: {allowed_origins: ['https://*.test.com'], allowed_headers: [ExampleHeader]}}}}", "traces", Valid, "config.yaml otlp/corsheader"),
        (Receiver, "otlp", "{protocols: {htttp: }}", "traces", Invalid("receivers::otlp::protocols::htttp"), "typo_default_proto_config.yaml"),
        (Receiver, "otlp", "{protocols: {thrift: {endpoint: 'localhost:14250'}}}", "traces", Invalid("receivers::otlp::protocols::thrift"), "bad_proto_config.yaml"),
        (Receiver, "otlp", "{protocols: }", "traces", Invalid("receivers::otlp::protocols"), "bad_no_proto_config.yaml"),
        (Receiver, "otlp", "{protocols: {http: {traces_url_path: ':invalid'}}}", "traces", Invalid("receivers::otlp::protocols::http::traces_url_path"), "invalid_traces_path.yaml"),
        (Receiver, "otlp", "{protocols: {http: {metrics_url_path: ':invalid'}}}", "traces", Invalid("receivers::otlp::protocols::http::metrics_url_path"), "invalid_metrics_path.yaml"),
        (Receiver, "otlp", "{protocols: {http: {logs_url_path: ':invalid'}}}", "traces", Invalid("receivers::otlp::protocols::http::logs_url_path"), "invalid_logs_path.yaml"),
        // processor/memorylimiterprocessor (internal/memorylimiter config_test.go).
        (Processor, "memory_limiter", "{check_interval: 5s, limit_mib: 4000, spike_limit_mib: 500}", "traces", Valid, "config.yaml"),
        (Processor, "memory_limiter", "{check_interval: 1s, limit_mib: 100, max_gc_interval_when_soft_limited: 10s, max_gc_interval_when_hard_limited: 1s}", "traces", Valid, "recent otelcol: max_gc_interval_*"),
        (Processor, "memory_limiter", "{limit_mib: 100}", "traces", Invalid("processors::memory_limiter::check_interval"), "zero check_interval"),
        (Processor, "memory_limiter", "{check_interval: 1s}", "traces", Invalid("processors::memory_limiter::limit_mib"), "no limit"),
        (Processor, "memory_limiter", "{check_interval: 1s, limit_mib: 100, spike_limit_mib: 100}", "traces", Invalid("processors::memory_limiter::spike_limit_mib"), "spike >= limit"),
        (Processor, "memory_limiter", "{check_interval: 1s, limit_percentage: 101, spike_limit_percentage: 10}", "traces", Invalid("processors::memory_limiter::limit_percentage"), "percentage > 100"),
        (Processor, "memory_limiter", "{check_interval: 1s, limit_mib: 100, min_gc_interval_when_soft_limited: 1s, min_gc_interval_when_hard_limited: 5s}", "traces", Invalid("processors::memory_limiter::min_gc_interval_when_soft_limited"), "inconsistent GC intervals"),
        // processor/batchprocessor.
        (Processor, "batch", "{timeout: 10s, send_batch_size: 10000, send_batch_max_size: 11000, metadata_keys: [tenant_id, user_agent], metadata_cardinality_limit: 1000}", "traces", Valid, "testdata/config.yaml"),
        (Processor, "batch", "{send_batch_size: 100, send_batch_max_size: 10}", "traces", Invalid("processors::batch::send_batch_max_size"), "max < size"),
        (Processor, "batch", "{metadata_keys: [a, A]}", "traces", Invalid("processors::batch::metadata_keys"), "duplicate metadata key"),
        // processor/resourcedetectionprocessor testdata/config.yaml (deprecated attributes key).
        (Processor, "resourcedetection", "{detectors: [env, system], timeout: 2s, override: false, attributes: [a, b]}", "traces", Valid, "config.yaml resourcedetection/gce"),
        (Processor, "resourcedetection", "{detectors: [bogus]}", "traces", Invalid("processors::resourcedetection::detectors::0"), "unknown detector (otelcol: at start)"),
        // exporter/debugexporter testdata/config_verbosity*.yaml, config.yaml.
        (Exporter, "debug", "{verbosity: detailed, sampling_initial: 10, sampling_thereafter: 50}", "traces", Valid, "config_verbosity_detailed.yaml"),
        (Exporter, "debug", "{use_internal_logger: false, output_paths: [stdout]}", "traces", Valid, "recent otelcol: output_paths"),
        (Exporter, "debug", "{verbosity: test}", "traces", Invalid("exporters::debug::verbosity"), "invalid_verbosity.yaml"),
        // exporter/otlpexporter testdata/config.yaml and config_test.go TestUnmarshalInvalidConfig/validate.
        (Exporter, "otlp", "{endpoint: '1.2.3.4:1234', compression: none, tls: {ca_file: /var/lib/mycert.pem}, timeout: 10s, sending_queue: {enabled: true, num_consumers: 2, queue_size: 10}, retry_on_failure: {enabled: true, initial_interval: 10s, randomization_factor: 0.7, multiplier: 1.3, max_interval: 60s, max_elapsed_time: 10m}, auth: {authenticator: nop}, headers: {'can you have a . here?': 'F0000000-0000-0000-0000-000000000000', header1: '234', another: somevalue}, keepalive: {time: 20s, timeout: 30s, permit_without_stream: true}, balancer_name: round_robin}", "traces", Valid, "config.yaml (auth and header warnings)"),
        (Exporter, "otlp", "{endpoint: 'dns://authority/backend.example.com:4317'}", "traces", Valid, "dns:// with authority"),
        (Exporter, "otlp", "{endpoint: 'dns:///backend.example.com:4317'}", "traces", Valid, "dns:/// without authority"),
        (Exporter, "otlp", "{endpoint: 'unix:///var/run/otel.sock'}", "traces", Valid, "unix:// (fails at start in ferrotel)"),
        (Exporter, "otlp", "{endpoint: 'https://backend.example.com:443'}", "traces", Valid, "https://"),
        (Exporter, "otlp", "{endpoint: ''}", "traces", Invalid("exporters::otlp::endpoint"), "empty endpoint"),
        (Exporter, "otlp", "{endpoint: 'example.com'}", "traces", Invalid("exporters::otlp::endpoint"), "no port"),
        (Exporter, "otlp", "{endpoint: 'example.com:port'}", "traces", Invalid("exporters::otlp::endpoint"), "invalid port"),
        (Exporter, "otlp", "{endpoint: 'dns://a/b/c:4317'}", "traces", Invalid("exporters::otlp::endpoint"), "invalid dns scheme format"),
        (Exporter, "otlp", "{endpoint: 'localhost:4317', retry_on_failure: {multiplier: 0}}", "traces", Valid, "configretry: multiplier 0"),
        (Exporter, "otlp", "{endpoint: 'localhost:4317', retry_on_failure: {randomization_factor: 2}}", "traces", Invalid("exporters::otlp::retry_on_failure::randomization_factor"), "configretry: factor > 1"),
        (Exporter, "otlp", "{endpoint: 'localhost:4317', sending_queue: {queue_size: 0}}", "traces", Invalid("exporters::otlp::sending_queue::queue_size"), "queue_size 0"),
        // exporter/otlphttpexporter testdata/config.yaml, bad_invalid_encoding.yaml, bad_empty_config.
        (Exporter, "otlphttp", "{endpoint: 'https://1.2.3.4:1234', tls: {ca_file: /var/lib/mycert.pem}, compression: gzip, encoding: json, timeout: 10s, headers: {'can you have a . here?': 'F0000000-0000-0000-0000-000000000000', header1: '234'}, read_buffer_size: 123, write_buffer_size: 345, sending_queue: {enabled: true, num_consumers: 2, queue_size: 10}, retry_on_failure: {enabled: true, initial_interval: 10s, randomization_factor: 0.7, multiplier: 1.3, max_interval: 60s, max_elapsed_time: 10m}}", "traces", Valid, "config.yaml (buffer and header warnings)"),
        (Exporter, "otlphttp", "{endpoint: 'https://1.2.3.4:1234', profiles_endpoint: 'https://1.2.3.4:1234/v1development/profiles'}", "traces", Valid, "recent otelcol: profiles_endpoint"),
        (Exporter, "otlphttp", "{traces_endpoint: 'http://localhost:4318/v1/traces'}", "traces", Valid, "only traces_endpoint, in a traces pipeline"),
        (Exporter, "otlphttp", "{traces_endpoint: 'http://localhost:4318/v1/traces'}", "logs", Invalid("service::pipelines::logs::exporters::0"), "only traces_endpoint, in a logs pipeline (fails at build)"),
        (Exporter, "otlphttp", "{}", "traces", Invalid("exporters::otlphttp::endpoint"), "bad_empty_config.yaml"),
        (Exporter, "otlphttp", "{endpoint: 'http://localhost:4318', encoding: invalid}", "traces", Invalid("exporters::otlphttp::encoding"), "bad_invalid_encoding.yaml"),
        // extension/healthcheckextension testdata/config.yaml + config_test.go.
        (Extension, "health_check", "{endpoint: 'localhost:13', tls: {ca_file: /path/to/ca, key_file: /path/to/key, cert_file: /path/to/cert}, path: /health/status}", "traces", Valid, "config.yaml (tls warned)"),
        (Extension, "health_check", "{path: health}", "traces", Invalid("extensions::health_check::path"), "path must start with /"),
        (Extension, "health_check", "{endpoint: ''}", "traces", Invalid("extensions::health_check::endpoint"), "missing endpoint"),
        // extension/storage/filestorage config_test.go.
        (Extension, "file_storage", "{directory: /nonexistent/parity-dir}", "traces", Invalid("extensions::file_storage::directory"), "directory must exist"),
        (Extension, "file_storage", "{directory: /nonexistent/parity-dir, create_directory: false}", "traces", Invalid("extensions::file_storage::directory"), "create_directory false"),
        (Extension, "file_storage", "{directory: /nonexistent/parity-dir, create_directory: true}", "traces", Valid, "create_directory true"),
        (Extension, "file_storage", "{directory: FILE}", "traces", Invalid("extensions::file_storage::directory"), "a file, not a directory"),
        (Extension, "file_storage", "{directory: DIR, create_directory: true, directory_permissions: '0999'}", "traces", Invalid("extensions::file_storage::directory_permissions"), "invalid octal"),
        (Extension, "file_storage", "{directory: DIR, create_directory: true, directory_permissions: '01777'}", "traces", Invalid("extensions::file_storage::directory_permissions"), "invalid permission bits"),
        (Extension, "file_storage", "{directory: DIR, create_directory: false, directory_permissions: '0999'}", "traces", Valid, "permissions unchecked without create_directory"),
        (Extension, "file_storage", "{directory: DIR, compaction: {on_start: true, directory: /nonexistent/compaction}}", "traces", Invalid("extensions::file_storage::compaction::directory"), "missing compaction directory"),
        // extension/bearertokenauthextension config_test.go.
        (Extension, "bearertokenauth", "{token: sometoken}", "traces", Valid, "token"),
        (Extension, "bearertokenauth", "{token: sometoken, filename: /tmp/parity-token}", "traces", Valid, "token and filename (file wins)"),
        (Extension, "bearertokenauth", "{tokens: [a, b], filename: /tmp/parity-token}", "traces", Valid, "tokens and filename"),
        (Extension, "bearertokenauth", "{token: a, tokens: [b]}", "traces", Invalid("extensions::bearertokenauth::tokens"), "token and tokens"),
        (Extension, "bearertokenauth", "{scheme: Bearer}", "traces", Invalid("extensions::bearertokenauth"), "no token"),
        // receiver/jaegerreceiver and zipkinreceiver testdata/config.yaml.
        (Receiver, "jaeger", "{protocols: {grpc: {endpoint: 'localhost:9876'}, thrift_http: {endpoint: ':3456'}, thrift_compact: {endpoint: '0.0.0.0:456', queue_size: 100000, max_packet_size: 131072, workers: 100, socket_buffer_size: 65536}, thrift_binary: {endpoint: '0.0.0.0:789', queue_size: 100000, max_packet_size: 131072, workers: 100, socket_buffer_size: 65536}}}", "traces", Valid, "config.yaml jaeger/customname"),
        (Receiver, "jaeger", "{protocols: {}}", "traces", Invalid("receivers::jaeger"), "empty protocols"),
        (Receiver, "jaeger", "{protocols: {grpc: }, remote_sampling: {host_endpoint: 'localhost:5778'}}", "traces", Invalid("receivers::jaeger::remote_sampling"), "remote_sampling (moved to an extension)"),
        (Receiver, "zipkin", "{endpoint: 'localhost:8765', parse_string_tags: true}", "traces", Valid, "config.yaml zipkin/customname"),
    ]
}

fn component_section(kind: &Kind) -> &'static str {
    match kind {
        Receiver => "receivers",
        Processor => "processors",
        Exporter => "exporters",
        Extension => "extensions",
    }
}

/// The case wrapped in a minimal pipeline of `signal`.
fn config(kind: &Kind, id: &str, body: &str, signal: &str) -> String {
    let section = component_section(kind);
    let (mut recv, mut procs, mut exps, mut exts) = (
        "otlp/parity".to_string(),
        String::new(),
        "debug/parity".to_string(),
        String::new(),
    );
    match kind {
        Receiver => recv = id.to_string(),
        Processor => procs = id.to_string(),
        Exporter => exps = id.to_string(),
        Extension => exts = id.to_string(),
    }
    let component = format!("{section}:\n  {id}: {body}\n");
    let mut out = String::new();
    if !matches!(kind, Receiver) {
        out.push_str("receivers:\n  otlp/parity: {protocols: {grpc: {endpoint: '127.0.0.1:0'}}}\n");
    }
    if !matches!(kind, Exporter) {
        out.push_str("exporters:\n  debug/parity: {}\n");
    }
    out.push_str(&component);
    out.push_str(&format!(
        "service:\n  extensions: [{exts}]\n  pipelines:\n    {signal}: {{receivers: [{recv}], processors: [{procs}], exporters: [{exps}]}}\n"
    ));
    out
}

fn validate(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(common::bin())
        .args(["validate", "--config"])
        .arg(path)
        .output()
        .expect("run ferrotel validate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn otelcol_component_config_cases_agree() {
    let dir = tempfile::tempdir().unwrap();
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, "x").unwrap();
    let a_dir = dir.path().join("a-dir");
    std::fs::create_dir(&a_dir).unwrap();
    let mut failures = Vec::new();
    for (n, (kind, id, body, signal, expect, source)) in cases().into_iter().enumerate() {
        let body = body
            .replace("FILE", a_file.to_str().unwrap())
            .replace("DIR", a_dir.to_str().unwrap());
        let text = config(&kind, id, &body, signal);
        let path = dir.path().join(format!("case{n}.yaml"));
        std::fs::write(&path, &text).unwrap();
        let (code, out) = validate(&path);
        let ok = match expect {
            Valid => code == 0 && out.contains("configuration is valid"),
            Invalid(key) => {
                code == 1
                    && out
                        .lines()
                        .any(|l| l.contains(&format!(": {key}")) || l.contains(&format!(": {key}:")))
                    // One error per problem: no follow-on "not configured" for a component that failed.
                    && !out.contains("which is not configured")
            }
        };
        if !ok {
            failures.push(format!(
                "[{source}] {id} {body} ({signal}): expected {}, got exit {code}\n{text}\n{out}",
                match expect {
                    Valid => "valid".to_string(),
                    Invalid(k) => format!("an error at {k}"),
                }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

/// `validate` reports every error of every component in one pass, with no follow-on errors for a
/// component that failed to load.
#[test]
fn every_error_of_every_component_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("multi.yaml");
    std::fs::write(
        &path,
        "receivers: {otlp: {protocols: {grpc: {endpont: x}}}}\n\
         processors: {batch: {bogus: 1}}\n\
         exporters: {debug: {verbosityy: basic}}\n\
         extensions: {health_check: {path: nope}}\n\
         service:\n  extensions: [health_check]\n  pipelines:\n    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}\n",
    )
    .unwrap();
    let (code, out) = validate(&path);
    assert_eq!(code, 1, "{out}");
    for key in [
        "receivers::otlp::protocols::grpc::endpont",
        "processors::batch::bogus",
        "exporters::debug::verbosityy",
        "extensions::health_check::path",
    ] {
        assert!(out.contains(key), "missing {key} in\n{out}");
    }
    assert!(!out.contains("not configured"), "{out}");
}

/// The small otelcol build (filelog, batch, memory_limiter, otlphttp), if installed.
fn otelcol() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("OTELCOL").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/peers/otelcol")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// The same files through `otelcol validate` and `ferrotel validate`: the exit codes agree. Only
/// configs the small otelcol build can load (its receiver is `filelog`, so logs pipelines).
#[test]
fn exit_codes_agree_with_otelcol_validate() {
    let Some(otelcol) = otelcol() else {
        eprintln!("otelcol not installed (bash ../shared/peers/install.sh): comparison skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("x.log");
    let recv = format!(
        "receivers:\n  filelog: {{include: ['{}']}}\n",
        log.display()
    );
    let pipe = |procs: &str| {
        format!("service:\n  pipelines:\n    logs: {{receivers: [filelog], processors: [{procs}], exporters: [otlphttp]}}\n")
    };
    let http = "exporters:\n  otlphttp: {endpoint: 'http://127.0.0.1:4318'}\n";
    let cases: Vec<(&str, String)> = vec![
        ("batch default", format!("{recv}processors: {{batch: {{}}}}\n{http}{}", pipe("batch"))),
        ("batch max < size", format!("{recv}processors: {{batch: {{send_batch_size: 100, send_batch_max_size: 10}}}}\n{http}{}", pipe("batch"))),
        ("batch duplicate metadata key", format!("{recv}processors: {{batch: {{metadata_keys: [a, A]}}}}\n{http}{}", pipe("batch"))),
        ("memory_limiter valid", format!("{recv}processors: {{memory_limiter: {{check_interval: 1s, limit_mib: 100}}}}\n{http}{}", pipe("memory_limiter"))),
        ("memory_limiter spike", format!("{recv}processors: {{memory_limiter: {{check_interval: 1s, limit_mib: 100, spike_limit_mib: 100}}}}\n{http}{}", pipe("memory_limiter"))),
        ("memory_limiter percentage", format!("{recv}processors: {{memory_limiter: {{check_interval: 1s, limit_percentage: 101, spike_limit_percentage: 10}}}}\n{http}{}", pipe("memory_limiter"))),
        ("memory_limiter gc intervals", format!("{recv}processors: {{memory_limiter: {{check_interval: 1s, limit_mib: 100, min_gc_interval_when_soft_limited: 1s, min_gc_interval_when_hard_limited: 5s}}}}\n{http}{}", pipe("memory_limiter"))),
        ("memory_limiter no check_interval", format!("{recv}processors: {{memory_limiter: {{limit_mib: 100}}}}\n{http}{}", pipe("memory_limiter"))),
        ("otlphttp no endpoint", format!("{recv}exporters: {{otlphttp: {{}}}}\n{}", pipe(""))),
        ("otlphttp traces_endpoint in logs", format!("{recv}exporters: {{otlphttp: {{traces_endpoint: 'http://127.0.0.1:4318/v1/traces'}}}}\n{}", pipe(""))),
        ("otlphttp logs_endpoint only", format!("{recv}exporters: {{otlphttp: {{logs_endpoint: 'http://127.0.0.1:4318/v1/logs'}}}}\n{}", pipe(""))),
        ("otlphttp profiles_endpoint", format!("{recv}exporters: {{otlphttp: {{endpoint: 'http://127.0.0.1:4318', profiles_endpoint: 'http://127.0.0.1:4318/p'}}}}\n{}", pipe(""))),
        ("otlphttp header with spaces", format!("{recv}exporters: {{otlphttp: {{endpoint: 'http://127.0.0.1:4318', headers: {{'can you have a . here?': v}}}}}}\n{}", pipe(""))),
        ("otlphttp bad compression", format!("{recv}exporters: {{otlphttp: {{endpoint: 'http://127.0.0.1:4318', compression: bogus}}}}\n{}", pipe(""))),
        ("otlphttp bad encoding", format!("{recv}exporters: {{otlphttp: {{endpoint: 'http://127.0.0.1:4318', encoding: xml}}}}\n{}", pipe(""))),
        ("otlphttp multiplier 0", format!("{recv}exporters: {{otlphttp: {{endpoint: 'http://127.0.0.1:4318', retry_on_failure: {{multiplier: 0}}}}}}\n{}", pipe(""))),
        ("otlphttp queue_size 0", format!("{recv}exporters: {{otlphttp: {{endpoint: 'http://127.0.0.1:4318', sending_queue: {{queue_size: 0}}}}}}\n{}", pipe(""))),
        ("filelog start_at", format!("receivers:\n  filelog: {{include: ['{}'], start_at: middle}}\n{http}{}", log.display(), pipe(""))),
        ("filelog no include", format!("receivers:\n  filelog: {{}}\n{http}{}", pipe(""))),
        ("unknown key", format!("{recv}processors: {{batch: {{bogus: 1}}}}\n{http}{}", pipe("batch"))),
        ("unknown component", format!("{recv}processors: {{nosuch: {{}}}}\n{http}{}", pipe("nosuch"))),
        ("pipeline without exporter", format!("{recv}{http}service:\n  pipelines:\n    logs: {{receivers: [filelog], exporters: []}}\n")),
    ];
    let mut failures = Vec::new();
    for (name, text) in cases {
        let path = dir.path().join(format!("{}.yaml", name.replace(' ', "_")));
        std::fs::write(&path, &text).unwrap();
        let theirs = Command::new(&otelcol)
            .args(["validate", "--config"])
            .arg(&path)
            .output()
            .expect("run otelcol validate");
        let (ours, out) = validate(&path);
        let theirs_code = theirs.status.code().unwrap_or(-1);
        if ours != theirs_code {
            failures.push(format!(
                "{name}: ferrotel {ours}, otelcol {theirs_code}\n{text}\nferrotel: {out}\notelcol: {}",
                String::from_utf8_lossy(&theirs.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

/// connector/routingconnector: config_test.go (`TestLoadConfig`'s testdata/config/*.yaml and
/// `TestValidateConfig`'s table), plus statements with the other editors otelcol's routing connector
/// registers (`delete_key`, `delete_matching_keys`, functions.go) and one it does not. Each case is the
/// connector's config in a traces pipeline feeding `traces/a` and `traces/b`.
#[test]
fn otelcol_routing_connector_cases_agree() {
    let cases: &[(&str, Expect, &str)] = &[
        (
            r#"{default_pipelines: [traces/b], table: [{statement: 'route() where attributes["X-Tenant"] == "acme"', pipelines: [traces/a, traces/b]}, {statement: 'route() where attributes["X-Tenant"] == "globex"', pipelines: [traces/b]}]}"#,
            Valid,
            "testdata/config/traces.yaml",
        ),
        (
            "{table: [{pipelines: [traces/a]}]}",
            Invalid("connectors::routing::table::0"),
            "no statement provided",
        ),
        (
            r#"{table: [{statement: 'route() where attributes["attr"] == "acme"'}]}"#,
            Invalid("connectors::routing::table::0::pipelines"),
            "no pipeline provided",
        ),
        (
            "{default_pipelines: [traces/a]}",
            Invalid("connectors::routing::table"),
            "no routes provided",
        ),
        ("{}", Invalid("connectors::routing::table"), "empty config"),
        (
            r#"{table: [{condition: 'attributes["attr"] == "acme"', pipelines: [traces/a]}]}"#,
            Valid,
            "condition provided",
        ),
        (
            r#"{table: [{statement: 'route() where attributes["attr"] == "acme"', pipelines: [traces/a]}]}"#,
            Valid,
            "statement provided",
        ),
        (
            r#"{table: [{condition: 'attributes["attr"] == "acme"', statement: 'route() where attributes["attr"] == "acme"', pipelines: [traces/a]}]}"#,
            Invalid("connectors::routing::table::0"),
            "both condition and statement provided",
        ),
        (
            r#"{table: [{context: invalid, statement: 'route() where attributes["attr"] == "acme"', pipelines: [traces/a]}]}"#,
            Invalid("connectors::routing::table::0::context"),
            "invalid context",
        ),
        (
            r#"{table: [{context: request, statement: 'route() where attributes["attr"] == "acme"', pipelines: [traces/a]}]}"#,
            Invalid("connectors::routing::table::0::statement"),
            "request context with statement",
        ),
        (
            r#"{table: [{context: request, condition: 'request["attr"] == "acme"', pipelines: [traces/a]}]}"#,
            Valid,
            "request context with condition",
        ),
        (
            r#"{table: [{context: request, condition: 'attributes["attr"] == "acme"', pipelines: [traces/a]}]}"#,
            Invalid("connectors::routing::table::0::condition"),
            "request context with invalid condition",
        ),
        (
            r#"{table: [{statement: 'delete_key(attributes, "X-Tenant") where attributes["X-Tenant"] == "acme"', pipelines: [traces/a]}]}"#,
            Valid,
            "functions.go: delete_key",
        ),
        (
            r#"{table: [{context: span, statement: 'delete_matching_keys(attributes, "^x") where name == "a"', pipelines: [traces/a]}]}"#,
            Valid,
            "functions.go: delete_matching_keys",
        ),
        (
            r#"{table: [{statement: 'set(attributes["x"], "y") where attributes["X-Tenant"] == "acme"', pipelines: [traces/a]}]}"#,
            Invalid("connectors::routing::table::0::statement"),
            "functions.go: set is not registered",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (n, (body, expect, source)) in cases.iter().enumerate() {
        let text = format!(
            "receivers:\n  otlp/parity: {{protocols: {{grpc: {{endpoint: '127.0.0.1:0'}}}}}}\n\
             exporters:\n  debug/parity: {{}}\n\
             connectors:\n  routing: {body}\n\
             service:\n  pipelines:\n\
             \x20   traces/in: {{receivers: [otlp/parity], exporters: [routing]}}\n\
             \x20   traces/a: {{receivers: [routing], exporters: [debug/parity]}}\n\
             \x20   traces/b: {{receivers: [routing], exporters: [debug/parity]}}\n"
        );
        let path = dir.path().join(format!("routing{n}.yaml"));
        std::fs::write(&path, &text).unwrap();
        let (code, out) = validate(&path);
        let ok = match expect {
            Valid => code == 0 && out.contains("configuration is valid"),
            Invalid(key) => {
                code == 1
                    && out
                        .lines()
                        .any(|l| l.contains(&format!("{key}:")) || l.contains(&format!("{key} ")))
            }
        };
        if !ok {
            failures.push(format!(
                "[{source}] {body}: expected {}, got exit {code}\n{text}\n{out}",
                match expect {
                    Valid => "valid".to_string(),
                    Invalid(k) => format!("an error at {k}"),
                }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
