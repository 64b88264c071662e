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
    /// otelcol accepts it; ferrotel refuses it on purpose with an error at this key (the
    /// component's doc says why).
    Refused(&'static str),
    /// otelcol refuses it; ferrotel accepts it on purpose with a warning naming this key.
    Warned(&'static str),
}

use Expect::{Invalid, Refused, Valid, Warned};
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
        (Exporter, "otlp", "{endpoint: 'localhost:4317', compression: snappy}", "traces", Valid, "configgrpc: snappy"),
        (Exporter, "otlp", "{endpoint: 'localhost:4317', compression: lz4}", "traces", Invalid("exporters::otlp::compression"), "configgrpc: no lz4"),
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
    let component = if body.contains('\n') && !body.starts_with('{') {
        // A block mapping, as otelcol's testdata writes it.
        let indented: String = body.lines().map(|l| format!("    {l}\n")).collect();
        format!("{section}:\n  {id}:\n{indented}")
    } else {
        format!("{section}:\n  {id}: {body}\n")
    };
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
    for (n, (kind, id, body, signal, expect, source)) in
        cases().into_iter().chain(more_cases()).enumerate()
    {
        let body = body
            .replace("FILE", a_file.to_str().unwrap())
            .replace("DIR", a_dir.to_str().unwrap());
        let text = config(&kind, id, &body, signal);
        let path = dir.path().join(format!("case{n}.yaml"));
        std::fs::write(&path, &text).unwrap();
        let (code, out) = validate(&path);
        let ok = match expect {
            Valid => code == 0 && out.contains("configuration is valid"),
            Warned(key) => {
                code == 0
                    && out
                        .lines()
                        .any(|l| l.starts_with(&format!("warning: {key}")))
            }
            Invalid(key) | Refused(key) => {
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
                    Invalid(k) | Refused(k) => format!("an error at {k}"),
                    Warned(k) => format!("valid with a warning at {k}"),
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
    // Every filelog and Stanza operator case of the table, as the peer can load them all.
    let filelog: Vec<(String, String)> = filelog_cases()
        .into_iter()
        .filter(|c| matches!(c.4, Valid | Invalid(_)))
        .map(|(_, _, body, _, _, source)| {
            let text = config(&Receiver, "filelog", body, "logs")
                .replace(
                    "  debug/parity: {}\n",
                    "  otlphttp: {endpoint: 'http://127.0.0.1:4318'}\n",
                )
                .replace("exporters: [debug/parity]", "exporters: [otlphttp]");
            (format!("filelog case {source}"), text)
        })
        .collect();
    let cases = cases
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .chain(filelog);
    let mut failures = Vec::new();
    for (name, text) in cases {
        let path = dir
            .path()
            .join(format!("{}.yaml", name.replace([' ', '/'], "_")));
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
            Warned(key) => {
                code == 0
                    && out
                        .lines()
                        .any(|l| l.starts_with(&format!("warning: {key}")))
            }
            Invalid(key) | Refused(key) => {
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
                    Invalid(k) | Refused(k) => format!("an error at {k}"),
                    Warned(k) => format!("valid with a warning at {k}"),
                }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

/// The other half of the components: otelcol-contrib's `testdata/config.yaml` entries and the
/// invalid cases of each `config_test.go` (and, for what otelcol only checks when it creates the
/// component, what `otelcol validate` reports, since `validate` builds the pipelines).
fn more_cases() -> Vec<Case> {
    let mut v: Vec<Case> = vec![
        // processor/attributesprocessor testdata/config.yaml (each entry) and the action checks
        // of internal/coreinternal/attraction (made when the processor is created).
        (Processor, "attributes/insert", "{actions: [{key: attribute1, value: 123, action: insert}, {key: 'string key', from_attribute: anotherkey, action: insert}]}", "traces", Valid, "attributes config.yaml insert"),
        (Processor, "attributes/regex_insert", r#"{actions: [{key: http.url, pattern: '^(?P<http_protocol>.*):\/\/(?P<http_domain>.*)\/(?P<http_path>.*)(\?|\&)(?P<http_query_params>.*)', action: extract}]}"#, "traces", Invalid("processors::attributes/regex_insert::actions::0::pattern"), "attributes config.yaml regex_insert (unnamed group: otelcol refuses it when it creates the processor; its config_test skips it)"),
        (Processor, "attributes/update", "{actions: [{key: boo, from_attribute: foo, action: update}, {key: db.secret, value: redacted, action: update}]}", "traces", Valid, "attributes config.yaml update"),
        (Processor, "attributes/upsert", "{actions: [{key: region, value: planet-earth, action: upsert}, {key: new_user_key, from_attribute: user_key, action: upsert}]}", "traces", Valid, "attributes config.yaml upsert"),
        (Processor, "attributes/delete", "{actions: [{key: credit_card, action: delete}, {key: duplicate_key, action: delete}]}", "traces", Valid, "attributes config.yaml delete"),
        (Processor, "attributes/hash", "{actions: [{key: user.email, action: hash}]}", "traces", Valid, "attributes config.yaml hash"),
        (Processor, "attributes/convert", "{actions: [{key: http.status_code, action: convert, converted_type: int}]}", "traces", Valid, "attributes config.yaml convert"),
        (Processor, "attributes/excludemulti", "{exclude: {match_type: strict, services: [svcA, svcB], attributes: [{key: env, value: dev}, {key: test_request}]}, actions: [{key: credit_card, action: delete}]}", "traces", Valid, "attributes config.yaml excludemulti"),
        (Processor, "attributes/excluderesources", "{exclude: {match_type: strict, resources: [{key: host.type, value: n1-standard-1}]}, actions: [{key: credit_card, action: delete}]}", "traces", Valid, "attributes config.yaml excluderesources"),
        (Processor, "attributes/excludelibrary", "{exclude: {match_type: strict, libraries: [{name: mongo-java-driver, version: 3.8.0}]}, actions: [{key: credit_card, action: delete}]}", "traces", Valid, "attributes config.yaml excludelibrary"),
        (Processor, "attributes/includeservices", "{include: {match_type: regexp, services: ['auth.*', 'login.*']}, actions: [{key: credit_card, action: delete}]}", "traces", Valid, "attributes config.yaml includeservices"),
        (Processor, "attributes/selectiveprocessing", "{include: {match_type: strict, services: [svcA, svcB]}, exclude: {match_type: strict, attributes: [{key: redact_trace, value: false}]}, actions: [{key: credit_card, action: delete}]}", "traces", Valid, "attributes config.yaml selectiveprocessing"),
        (Processor, "attributes/complex", "{actions: [{key: operation, value: default, action: insert}, {key: svc.operation, from_attribute: operation, action: upsert}, {key: operation, action: delete}]}", "traces", Valid, "attributes config.yaml complex"),
        (Processor, "attributes/regexp", "{include: {match_type: regexp, services: ['auth.*']}, exclude: {match_type: regexp, span_names: ['login.*']}, actions: [{key: password, action: update, value: obfuscated}, {key: token, action: delete}]}", "traces", Valid, "attributes config.yaml regexp"),
        (Processor, "attributes/regexp2", r#"{include: {match_type: regexp, attributes: [{key: env, value: 'SELECT \* FROM USERS.*'}]}, actions: [{key: db.statement, action: update, value: 'SELECT * FROM USERS [obfuscated]'}]}"#, "traces", Valid, "attributes config.yaml regexp2"),
        (Processor, "attributes/log_body_regexp", "{include: {match_type: regexp, log_bodies: ['AUTH.*']}, actions: [{key: password, action: update, value: obfuscated}]}", "logs", Valid, "attributes config.yaml log_body_regexp"),
        (Processor, "attributes/log_severity_regexp", "{include: {match_type: regexp, log_severity_texts: ['debug.*']}, actions: [{key: password, action: update, value: obfuscated}]}", "logs", Valid, "attributes config.yaml log_severity_regexp"),
        (Processor, "attributes/from_context", "{actions: [{key: origin, from_context: metadata.origin, action: insert}, {key: enduser.id, from_context: auth.subject, action: insert}]}", "traces", Valid, "attributes config.yaml from_context"),
        (Processor, "attributes", "{}", "traces", Invalid("processors::attributes::actions"), "attraction: no actions"),
        (Processor, "attributes", "{actions: [{key: '', value: 1, action: insert}]}", "traces", Invalid("processors::attributes::actions::0::key"), "attraction: missing key"),
        (Processor, "attributes", "{actions: [{key: a, value: 1, action: bogus}]}", "traces", Invalid("processors::attributes::actions::0::action"), "attraction: unknown action"),
        (Processor, "attributes", "{actions: [{key: a, action: insert}]}", "traces", Invalid("processors::attributes::actions::0"), "attraction: insert without a value source"),
        (Processor, "attributes", "{actions: [{key: a, value: 1, from_attribute: b, action: upsert}]}", "traces", Invalid("processors::attributes::actions::0"), "attraction: two value sources"),
        (Processor, "attributes", "{actions: [{key: a, pattern: '(', action: extract}]}", "traces", Invalid("processors::attributes::actions::0::pattern"), "attraction: bad extract pattern"),
        (Processor, "attributes", "{actions: [{key: a, pattern: 'abc', action: extract}]}", "traces", Invalid("processors::attributes::actions::0::pattern"), "attraction: extract without named groups"),
        (Processor, "attributes", "{actions: [{key: a, action: convert, converted_type: float}]}", "traces", Invalid("processors::attributes::actions::0::converted_type"), "attraction: bad converted_type"),
        (Processor, "attributes", "{actions: [{key: a, action: delete}], include: {match_type: regexp, services: ['(']}}", "traces", Invalid("processors::attributes::include"), "filterconfig: bad regexp"),
        (Processor, "attributes", "{actions: [{key: a, action: delete}], include: {match_type: fuzzy, services: [a]}}", "traces", Invalid("processors::attributes::include::match_type"), "filterconfig: bad match_type"),
        // processor/resourceprocessor testdata/config.yaml.
        (Processor, "resource", "{attributes: [{key: cloud.availability_zone, value: zone-1, action: upsert}, {key: k8s.cluster.name, from_attribute: k8s-cluster, action: insert}, {key: redundant-attribute, action: delete}]}", "traces", Valid, "resource config.yaml resource"),
        (Processor, "resource/with_defaults", "{attributes: [{key: deployment.environment, value: '', default_value: development, action: upsert}, {key: service.namespace, from_attribute: namespace, default_value: default, action: insert}, {key: cloud.region, from_context: metadata.region, default_value: us-east-1, action: upsert}]}", "traces", Valid, "resource config.yaml with_defaults"),
        (Processor, "resource/empty", "", "traces", Invalid("processors::resource/empty::attributes"), "resource config.yaml empty"),
        // processor/probabilisticsamplerprocessor testdata/config.yaml, invalid*.yaml.
        (Processor, "probabilistic_sampler", "{sampling_percentage: 15.3, mode: proportional}", "traces", Valid, "probabilistic_sampler config.yaml"),
        (Processor, "probabilistic_sampler/logs", "{sampling_percentage: 15.3, hash_seed: 22, attribute_source: record, from_attribute: foo, sampling_priority: bar}", "logs", Valid, "probabilistic_sampler config.yaml logs"),
        (Processor, "probabilistic_sampler", "{sampling_percentage: -15.3, hash_seed: 22}", "traces", Invalid("processors::probabilistic_sampler::sampling_percentage"), "invalid.yaml / invalid_negative.yaml"),
        (Processor, "probabilistic_sampler", "{sampling_percentage: .inf}", "traces", Invalid("processors::probabilistic_sampler::sampling_percentage"), "invalid_inf.yaml"),
        (Processor, "probabilistic_sampler", "{sampling_percentage: .000000000000001}", "traces", Invalid("processors::probabilistic_sampler::sampling_percentage"), "invalid_small.yaml"),
        (Processor, "probabilistic_sampler", "{sampling_percentage: 50, sampling_precision: 15}", "traces", Invalid("processors::probabilistic_sampler::sampling_precision"), "invalid_prec.yaml"),
        (Processor, "probabilistic_sampler", "{sampling_percentage: 15.3, sampling_precision: 0}", "traces", Invalid("processors::probabilistic_sampler::sampling_precision"), "invalid_zero.yaml"),
        (Processor, "probabilistic_sampler", "{sampling_percentage: 15.3, attribute_source: bogus}", "logs", Invalid("processors::probabilistic_sampler::attribute_source"), "invalid attribute_source"),
        (Processor, "probabilistic_sampler", "{sampling_percentage: 15.3, mode: bogus}", "traces", Invalid("processors::probabilistic_sampler::mode"), "unknown mode"),
        // processor/tailsamplingprocessor testdata/tail_sampling_config.yaml, *_errormode.yaml,
        // numeric_attribute_*.yaml.
        (Processor, "tail_sampling", r#"{decision_wait: 10s, num_traces: 100, expected_new_traces_per_sec: 10, policies: [
            {name: test-policy-1, type: always_sample},
            {name: test-policy-2, type: latency, latency: {threshold_ms: 5000}},
            {name: test-policy-3, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}},
            {name: test-policy-4, type: probabilistic, probabilistic: {hash_salt: custom-salt, sampling_percentage: 0.1}},
            {name: test-policy-5, type: status_code, status_code: {status_codes: [ERROR, UNSET]}},
            {name: test-policy-6, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}},
            {name: test-policy-7, type: rate_limiting, rate_limiting: {spans_per_second: 35}},
            {name: test-policy-8, type: span_count, span_count: {min_spans: 2, max_spans: 20}},
            {name: test-policy-9, type: trace_state, trace_state: {key: key3, values: [value1, value2]}},
            {name: test-policy-10, type: boolean_attribute, boolean_attribute: {key: key4, value: true}},
            {name: test-policy-11, type: ottl_condition, ottl_condition: {error_mode: ignore, span: ['attributes["test_attr_key_1"] == "test_attr_val_1"', 'attributes["test_attr_key_2"] != "test_attr_val_1"'], spanevent: ['name != "test_span_event_name"', 'attributes["test_event_attr_key_2"] != "test_event_attr_val_1"']}},
            {name: and-policy-1, type: and, and: {and_sub_policy: [{name: test-and-policy-1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}, {name: test-and-policy-2, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}]}},
            {name: composite-policy-1, type: composite, composite: {max_total_spans_per_second: 1000, policy_order: [test-composite-policy-1, test-composite-policy-2, test-composite-policy-3], composite_sub_policy: [{name: test-composite-policy-1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}, {name: test-composite-policy-2, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}, {name: test-composite-policy-3, type: always_sample}], rate_allocation: [{policy: test-composite-policy-1, percent: 50}, {policy: test-composite-policy-2, percent: 25}]}}]}"#, "traces", Refused("processors::tail_sampling::policies::10::type"), "tail_sampling_config.yaml (ferrotel: no ottl_condition policy yet)"),
        (Processor, "tail_sampling", r#"{policies: [{name: test-policy-ottl, type: ottl_condition, ottl_condition: {span: ['attributes["test_attr"] == "val"']}}]}"#, "traces", Refused("processors::tail_sampling::policies::0::type"), "tail_sampling_config_errormode.yaml (ferrotel: no ottl_condition policy yet)"),
        (Processor, "tail_sampling", "{decision_wait: 10s, num_traces: 100, expected_new_traces_per_sec: 10, decision_cache: {sampled_cache_size: 1000, non_sampled_cache_size: 10000}, policies: [{name: test-policy-3, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 500, max_value: 100}}]}", "traces", Invalid("processors::tail_sampling::policies::0::numeric_attribute"), "numeric_attribute_with_minvalue_greather_than_maxvalue.yaml"),
        (Processor, "tail_sampling", "{policies: [{name: p, type: numeric_attribute, numeric_attribute: {key: key1}}]}", "traces", Invalid("processors::tail_sampling::policies::0::numeric_attribute"), "numeric_attribute_without_minvalue_or_maxvalue.yaml"),
        (Processor, "tail_sampling", "{policies: [{name: p, type: bogus}]}", "traces", Invalid("processors::tail_sampling::policies::0::type"), "unknown policy type"),
        (Processor, "tail_sampling", r#"{policies: [{name: p, type: ottl_condition, ottl_condition: {span: ['attributes[test] == "pass"']}}]}"#, "traces", Invalid("processors::tail_sampling::policies::0"), "bad OTTL in a policy"),
        (Processor, "tail_sampling", "{policies: [{name: p, type: always_sample}, {name: p, type: always_sample}]}", "traces", Invalid("processors::tail_sampling::policies::1::name"), "duplicate policy name"),
        // processor/filterprocessor testdata/config_ottl.yaml, config_regexp.yaml,
        // config_logs_severity_strict.yaml, config_traces_invalid.yaml.
        (Processor, "filter/ottl", r#"{error_mode: ignore, traces: {span: ['attributes["test"] == "pass"'], spanevent: ['attributes["test"] == "pass"']}, metrics: {metric: ['name == "pass"'], datapoint: ['attributes["test"] == "pass"']}, logs: {log_record: ['attributes["test"] == "pass"']}}"#, "traces", Valid, "config_ottl.yaml filter/ottl"),
        (Processor, "filter/multiline", r#"{traces: {span: ['attributes["test"] == "pass"', 'attributes["test"] == "also pass"']}}"#, "traces", Valid, "config_ottl.yaml filter/multiline"),
        (Processor, "filter/spans_mix_config", r#"{spans: {include: {match_type: strict, services: [test, test2], attributes: [{key: should_include, value: "(true|probably_true)"}]}}, traces: {span: ['attributes["test"] == "pass"']}}"#, "traces", Invalid("processors::filter/spans_mix_config"), "config_ottl.yaml spans_mix_config"),
        (Processor, "filter/metrics_mix_config", r#"{metrics: {include: {match_type: expr, expressions: ['Label("foo") == "bar"', 'HasLabel("baz")']}, metric: ['attributes["test"] == "pass"']}}"#, "metrics", Invalid("processors::filter/metrics_mix_config::metrics"), "config_ottl.yaml metrics_mix_config"),
        (Processor, "filter/logs_mix_config", r#"{logs: {include: {match_type: strict, resource_attributes: [{key: should_include, value: "true"}]}, log_record: ['attributes["test"] == "pass"']}}"#, "logs", Invalid("processors::filter/logs_mix_config::logs"), "config_ottl.yaml logs_mix_config"),
        (Processor, "filter/bad_syntax_span", r#"{traces: {span: ['attributes[test] == "pass"']}}"#, "traces", Invalid("processors::filter/bad_syntax_span::traces::span::0"), "config_ottl.yaml bad_syntax_span"),
        (Processor, "filter/bad_syntax_spanevent", r#"{traces: {spanevent: ['attributes[test] == "pass"']}}"#, "traces", Invalid("processors::filter/bad_syntax_spanevent::traces::spanevent::0"), "config_ottl.yaml bad_syntax_spanevent"),
        (Processor, "filter/bad_syntax_metric", r#"{metrics: {metric: ['resource.attributes[test] == "pass"']}}"#, "metrics", Invalid("processors::filter/bad_syntax_metric::metrics::metric::0"), "config_ottl.yaml bad_syntax_metric"),
        (Processor, "filter/bad_syntax_datapoint", r#"{metrics: {datapoint: ['attributes[test] == "pass"']}}"#, "metrics", Invalid("processors::filter/bad_syntax_datapoint::metrics::datapoint::0"), "config_ottl.yaml bad_syntax_datapoint"),
        (Processor, "filter/bad_syntax_log", r#"{logs: {log_record: ['attributes[test] == "pass"']}}"#, "logs", Invalid("processors::filter/bad_syntax_log::logs::log_record::0"), "config_ottl.yaml bad_syntax_log"),
        (Processor, "filter", "{error_mode: test, traces: {span: ['name == \"a\"']}}", "traces", Invalid("processors::filter::error_mode"), "unknown error_mode"),
        (Processor, "filter/include", "{metrics: {include: {match_type: regexp, metric_names: [prefix/.*, prefix_.*, .*/suffix, .*_suffix, .*/contains/.*, .*_contains_.*, full/name/match, full_name_match]}}}", "metrics", Valid, "config_regexp.yaml filter/include"),
        (Processor, "filter/limitedcache", "{metrics: {exclude: {match_type: regexp, metric_names: [prefix/.*], regexp: {cacheenabled: true, cachemaxnumentries: 10}}}}", "metrics", Valid, "config_regexp.yaml filter/limitedcache"),
        (Processor, "filter/includeexclude", "{logs: {include: {match_type: strict, severity_texts: [INFO]}, exclude: {match_type: strict, severity_texts: [DEBUG, DEBUG2, DEBUG3, DEBUG4]}}}", "logs", Valid, "config_logs_severity_strict.yaml"),
        (Processor, "filter/spans", "{spans: {include: {match_type: regexp, services: [test], attributes: [{key: should_include, value: '(true|probably_true)'}]}, exclude: {match_type: regexp}}}", "traces", Invalid("processors::filter/spans::spans::exclude"), "config_traces_invalid.yaml"),
        // processor/transformprocessor testdata/config.yaml.
        (Processor, "transform", r#"{trace_statements: [{context: span, statements: ['set(name, "bear") where attributes["http.path"] == "/animal"', 'keep_keys(attributes, ["http.method", "http.path"])']}, {context: resource, statements: ['set(attributes["name"], "bear")']}], metric_statements: [{context: datapoint, statements: ['set(metric.name, "bear") where attributes["http.path"] == "/animal"', 'keep_keys(attributes, ["http.method", "http.path"])']}, {context: resource, statements: ['set(attributes["name"], "bear")']}], log_statements: [{context: log, statements: ['set(body, "bear") where attributes["http.path"] == "/animal"', 'keep_keys(attributes, ["http.method", "http.path"])']}, {context: resource, statements: ['set(attributes["name"], "bear")']}]}"#, "traces", Valid, "transform config.yaml transform"),
        (Processor, "transform/with_conditions", r#"{trace_statements: [{context: span, conditions: ['attributes["http.path"] == "/animal"'], statements: ['set(name, "bear")']}], metric_statements: [{context: datapoint, conditions: ['attributes["http.path"] == "/animal"'], statements: ['set(metric.name, "bear")']}], log_statements: [{context: log, conditions: ['attributes["http.path"] == "/animal"'], statements: ['set(body, "bear")']}]}"#, "traces", Valid, "transform config.yaml with_conditions"),
        (Processor, "transform/ignore_errors", r#"{error_mode: ignore, trace_statements: [{context: resource, statements: ['set(attributes["name"], "bear")']}]}"#, "traces", Valid, "transform config.yaml ignore_errors"),
        (Processor, "transform/bad_syntax_log", r#"{log_statements: [{context: log, statements: ['set(body, "bear" where attributes["http.path"] == "/animal"', 'keep_keys(attributes, ["http.method", "http.path"])']}]}"#, "logs", Invalid("processors::transform/bad_syntax_log::log_statements::0::statements::0"), "transform config.yaml bad_syntax_log"),
        (Processor, "transform/bad_syntax_metric", r#"{metric_statements: [{context: datapoint, statements: ['set(name, "bear" where attributes["http.path"] == "/animal"']}]}"#, "metrics", Invalid("processors::transform/bad_syntax_metric::metric_statements::0::statements::0"), "transform config.yaml bad_syntax_metric"),
        (Processor, "transform/bad_syntax_trace", r#"{trace_statements: [{context: span, statements: ['set(name, "bear" where attributes["http.path"] == "/animal"']}]}"#, "traces", Invalid("processors::transform/bad_syntax_trace::trace_statements::0::statements::0"), "transform config.yaml bad_syntax_trace"),
        (Processor, "transform/unknown_function_log", r#"{log_statements: [{context: log, statements: ['set(body, "bear") where attributes["http.path"] == "/animal"', 'not_a_function(attributes, ["http.method", "http.path"])']}]}"#, "logs", Invalid("processors::transform/unknown_function_log::log_statements::0::statements::1"), "transform config.yaml unknown_function_log"),
        (Processor, "transform/unknown_function_metric", r#"{metric_statements: [{context: datapoint, statements: ['not_a_function(attributes, ["http.method", "http.path"])']}]}"#, "metrics", Invalid("processors::transform/unknown_function_metric::metric_statements::0::statements::0"), "transform config.yaml unknown_function_metric"),
        (Processor, "transform/unknown_function_trace", r#"{trace_statements: [{context: span, statements: ['not_a_function(attributes, ["http.method", "http.path"])']}]}"#, "traces", Invalid("processors::transform/unknown_function_trace::trace_statements::0::statements::0"), "transform config.yaml unknown_function_trace"),
        (Processor, "transform/unknown_context", r#"{trace_statements: [{context: test, statements: ['set(name, "bear") where attributes["http.path"] == "/animal"']}]}"#, "traces", Invalid("processors::transform/unknown_context::trace_statements::0::context"), "transform config.yaml unknown_context"),
        (Processor, "transform/unknown_error_mode", "{error_mode: test}", "traces", Invalid("processors::transform/unknown_error_mode::error_mode"), "transform config.yaml unknown_error_mode"),
        (Processor, "transform/path_context", r#"{trace_statements: [{context: span, statements: ['set(span.name, "bear") where span.attributes["http.path"] == "/animal"']}], metric_statements: [{context: metric, statements: ['set(metric.name, "bear") where resource.attributes["http.path"] == "/animal"']}], log_statements: [{context: log, statements: ['set(log.body, "bear") where log.attributes["http.path"] == "/animal"']}]}"#, "traces", Valid, "transform config.yaml structured_configuration_with_path_context"),
        (Processor, "transform/inferred_context", r#"{trace_statements: [{statements: ['set(span.name, "bear") where span.attributes["http.path"] == "/animal"', 'set(resource.attributes["name"], "bear")']}], metric_statements: [{statements: ['set(metric.name, "bear") where resource.attributes["http.path"] == "/animal"', 'set(resource.attributes["name"], "bear")']}], log_statements: [{statements: ['set(log.body, "bear") where log.attributes["http.path"] == "/animal"', 'set(resource.attributes["name"], "bear")']}]}"#, "traces", Valid, "transform config.yaml structured_configuration_with_inferred_context"),
        (Processor, "transform/flat_configuration", r#"{trace_statements: ['set(span.name, "bear") where span.attributes["http.path"] == "/animal"', 'set(resource.attributes["name"], "bear")'], metric_statements: ['set(metric.name, "bear") where resource.attributes["http.path"] == "/animal"', 'set(resource.attributes["name"], "bear")'], log_statements: ['set(log.body, "bear") where log.attributes["http.path"] == "/animal"', 'set(resource.attributes["name"], "bear")']}"#, "traces", Valid, "transform config.yaml flat_configuration"),
        (Processor, "transform/mixed_configuration_styles", r#"{trace_statements: ['set(span.name, "bear") where span.attributes["http.path"] == "/animal"', {context: span, statements: ['set(attributes["name"], "bear")', 'keep_keys(attributes, ["http.method", "http.path"])']}]}"#, "traces", Valid, "transform config.yaml mixed_configuration_styles"),
        (Processor, "transform/with_shared_cache_key", r#"{metric_statements: [{statements: ['set(resource.attributes["name"], "silent")'], shared_cache: true}]}"#, "metrics", Invalid("processors::transform/with_shared_cache_key::metric_statements::0"), "transform config.yaml with_shared_cache_key"),
        (Processor, "transform/context_statements_error_mode", r#"{error_mode: ignore, trace_statements: [{error_mode: propagate, statements: ['set(resource.attributes["name"], "propagate")']}, {statements: ['set(resource.attributes["name"], "ignore")']}], metric_statements: [{error_mode: silent, statements: ['set(resource.attributes["name"], "silent")']}], log_statements: [{error_mode: propagate, statements: ['set(resource.attributes["name"], "propagate")']}]}"#, "traces", Valid, "transform config.yaml context_statements_error_mode"),
        // receiver/hostmetricsreceiver testdata/config.yaml, config-*.yaml.
        (Receiver, "hostmetrics", "{scrapers: {cpu: }}", "metrics", Valid, "hostmetrics config.yaml hostmetrics"),
        (Receiver, "hostmetrics/customname", "{collection_interval: 30s, scrapers: {cpu: , disk: , load: {cpu_average: true}, filesystem: , memory: , network: {include: {interfaces: [test1], match_type: strict}}, paging: , processes: , process: {include: {names: [test2, test3], match_type: regexp}}, system: }}", "metrics", Valid, "hostmetrics config.yaml customname"),
        (Receiver, "hostmetrics", "{root_path: /, scrapers: {cpu: }}", "metrics", Valid, "config-root-path.yaml (an existing root)"),
        (Receiver, "hostmetrics", "{root_path: does/not/exist, scrapers: {cpu: }}", "metrics", Invalid("receivers::hostmetrics::root_path"), "config-bad-root-path.yaml"),
        (Receiver, "hostmetrics", "{collection_interval: 1s}", "metrics", Invalid("receivers::hostmetrics::scrapers"), "config-noscrapers.yaml"),
        (Receiver, "hostmetrics", "{scrapers: {invalidscraperkey: }}", "metrics", Invalid("receivers::hostmetrics::scrapers::invalidscraperkey"), "config-invalidscraperkey.yaml"),
        (Receiver, "hostmetrics", "{scrapers: {cpu: {metrics: {system.cpu.utilization: {enabled: true}}}}}", "metrics", Valid, "metadata: a metric switched on"),
        (Receiver, "hostmetrics", "{scrapers: {process: {mute_process_name_error: true, mute_process_exe_error: true, mute_process_io_error: true, mute_process_user_error: true}}}", "metrics", Valid, "processscraper mute_* keys"),
        (Receiver, "hostmetrics", "{collection_interval: 0s, scrapers: {cpu: }}", "metrics", Invalid("receivers::hostmetrics::collection_interval"), "scraperhelper: collection_interval must be positive"),
        // receiver/prometheusreceiver testdata.
        (Receiver, "prometheus/customname", "{trim_metric_suffixes: true, use_start_time_metric: true, start_time_metric_regex: '^(.+_)*process_start_time_seconds$', config: {scrape_configs: [{job_name: demo, scrape_interval: 5s}]}}", "metrics", Valid, "prometheus config.yaml customname (without target_allocator)"),
        (Receiver, "prometheus", "", "metrics", Invalid("receivers::prometheus"), "config.yaml prometheus: no scrape_configs or target_allocator"),
        (Receiver, "prometheus", "{unknow_section: 1, config: {scrape_configs: [{job_name: demo, scrape_interval: 5s}]}}", "metrics", Invalid("receivers::prometheus::unknow_section"), "invalid-config-section.yaml"),
        (Receiver, "prometheus", "{config: {use_start_time_metric: true, scrape_configs: [{job_name: demo, scrape_interval: 5s}]}}", "metrics", Invalid("receivers::prometheus::config::use_start_time_metric"), "invalid-config-prometheus-section.yaml"),
        (Receiver, "prometheus", "{config: {scrape_configs: [{job_name: demo, scrape_interval: 5s}], remote_write: [{url: 'https://example.org/write'}], remote_read: [{url: 'https://example.org/read'}], rule_files: [a, b], alerting: {alertmanagers: [{scheme: http, path_prefix: /prefix1, timeout: 1s}]}}}", "metrics", Invalid("receivers::prometheus::config"), "invalid-config-prometheus-unsupported-features.yaml"),
        (Receiver, "prometheus", "{config: {scrape_configs: [{job_name: demo, static_configs: [{targets: ['localhost:9090']}], tls_config: {cert_file: /nonexistent/cert.pem}}]}}", "metrics", Invalid("receivers::prometheus::config::scrape_configs::0::tls_config"), "invalid-config-prometheus-cert-file-without-key-file.yaml"),
        (Receiver, "prometheus", "{config: {scrape_configs: [{job_name: demo, static_configs: [{targets: ['localhost:9090']}], relabel_configs: [{action: bogus}]}]}}", "metrics", Invalid("receivers::prometheus::config::scrape_configs::0::relabel_configs::0::action"), "an unknown relabel action"),
        (Receiver, "prometheus", "{config: {scrape_configs: [{job_name: a, static_configs: [{targets: ['localhost:9090']}]}, {job_name: a, static_configs: [{targets: ['localhost:9091']}]}]}}", "metrics", Invalid("receivers::prometheus::config::scrape_configs::1::job_name"), "a duplicate job_name (Prometheus' own check)"),
        // exporter/prometheusexporter testdata/config.yaml.
        (Exporter, "prometheus/2", "{endpoint: '1.2.3.4:1234', namespace: test-space, const_labels: {label1: value1, 'another label': spaced value}, send_timestamps: true, metric_expiration: 60m}", "metrics", Valid, "prometheus exporter config.yaml prometheus/2"),
        (Exporter, "prometheus", "{endpoint: 'localhost:9464', translation_strategy: UnderscoreEscapingWithSuffixes}", "metrics", Valid, "translation_strategy"),
        (Exporter, "prometheus", "{endpoint: 'localhost:9464', translation_strategy: bogus}", "metrics", Invalid("exporters::prometheus::translation_strategy"), "an unknown translation_strategy"),
        (Exporter, "prometheus", "{endpoint: 'localhost:9464', metric_expiration: 5m, bogus: 1}", "metrics", Invalid("exporters::prometheus::bogus"), "an unknown key"),
        // exporter/prometheusremotewriteexporter testdata/config.yaml + config_test.go.
        (Exporter, "prometheus_remote_write/2", "{namespace: test-space, max_batch_request_parallelism: 10, retry_on_failure: {enabled: true, initial_interval: 10s, max_interval: 60s, max_elapsed_time: 10m}, endpoint: 'http://localhost:8888', tls: {ca_file: /var/lib/mycert.pem}, write_buffer_size: 524288, add_metric_suffixes: false, headers: {Prometheus-Remote-Write-Version: 0.1.0, X-Scope-OrgID: '234'}, external_labels: {key1: value1, key2: value2}, resource_to_telemetry_conversion: {enabled: true}, remote_write_queue: {queue_size: 2000, num_consumers: 10}}", "metrics", Valid, "prw config.yaml prometheus_remote_write/2"),
        (Exporter, "prometheus_remote_write", "{endpoint: 'http://localhost:8888', remote_write_queue: {queue_size: -1, num_consumers: 10}}", "metrics", Invalid("exporters::prometheus_remote_write::remote_write_queue::queue_size"), "negative_queue_size"),
        (Exporter, "prometheus_remote_write", "{endpoint: 'http://localhost:8888', remote_write_queue: {queue_size: 5, num_consumers: -1}}", "metrics", Invalid("exporters::prometheus_remote_write::remote_write_queue::num_consumers"), "negative_num_consumers"),
        (Exporter, "prometheus_remote_write", "{endpoint: 'http://localhost:8888', max_batch_request_parallelism: 0}", "metrics", Invalid("exporters::prometheus_remote_write::max_batch_request_parallelism"), "less_than_1_max_batch_request_parallelism"),
        (Exporter, "prometheus_remote_write", "{endpoint: 'http://localhost:8888', target_info: {enabled: false}}", "metrics", Valid, "disabled_target_info"),
        (Exporter, "prometheus_remote_write", "{endpoint: 'http://localhost:8888', remote_write_queue: {enabled: false, num_consumers: 10}}", "metrics", Valid, "disabled_queue"),
        (Exporter, "prometheus_remote_write", "{endpoint: 'http://localhost:8888', compression: gzip}", "metrics", Invalid("exporters::prometheus_remote_write::compression"), "non_snappy_compression_type"),
        (Exporter, "prometheus_remote_write", "{endpoint: 'http://localhost:8888', protobuf_message: io.prometheus.write.v4.Request}", "metrics", Invalid("exporters::prometheus_remote_write::protobuf_message"), "unknown_protobuf_message"),
        (Exporter, "prometheus_remote_write", "{endpoint: 'http://localhost:8888', remote_write_queue: {queue_size: 1000, num_consumers: 5}}", "metrics", Valid, "include_metadata_keys (without the key)"),
        (Exporter, "prometheus_remote_write", "{}", "metrics", Invalid("exporters::prometheus_remote_write::endpoint"), "config.yaml default: no endpoint (otelcol: at creation)"),
        // exporter/loadbalancingexporter testdata/config.yaml.
        (Exporter, "loadbalancing", "{protocol: {otlp: {timeout: 1s}}, resolver: {static: {hostnames: [endpoint-1, 'endpoint-2:55678']}}}", "traces", Valid, "loadbalancing config.yaml loadbalancing"),
        (Exporter, "loadbalancing/2", "{protocol: {otlp: }, resolver: {dns: {hostname: service-1}}}", "traces", Valid, "loadbalancing config.yaml loadbalancing/2"),
        (Exporter, "loadbalancing/3", "{protocol: {otlp: }, resolver: {dns: {hostname: service-1, port: 55690}}}", "traces", Valid, "loadbalancing config.yaml loadbalancing/3"),
        (Exporter, "loadbalancing/4", "{protocol: {otlp: }, resolver: {aws_cloud_map: {namespace: cloudmap-1, service_name: service-1, port: 4319}}}", "traces", Invalid("exporters::loadbalancing/4::resolver::aws_cloud_map"), "config.yaml loadbalancing/4 (ferrotel: no AWS Cloud Map resolver; documented)"),
        (Exporter, "loadbalancing/5", "{sending_queue: {enabled: true}, protocol: {otlp: {sending_queue: {enabled: false}}}}", "traces", Invalid("exporters::loadbalancing/5::resolver"), "config.yaml loadbalancing/5: no resolver (otelcol: at creation)"),
        (Exporter, "loadbalancing", "{routing_key: service, protocol: {otlp: }, resolver: {static: {hostnames: [a]}}}", "traces", Valid, "routing_key service"),
        (Exporter, "loadbalancing", "{routing_key: bogus, protocol: {otlp: }, resolver: {static: {hostnames: [a]}}}", "traces", Invalid("exporters::loadbalancing::routing_key"), "an unknown routing_key"),
        (Exporter, "loadbalancing", "{protocol: {otlp: }, resolver: {static: {hostnames: [a]}, dns: {hostname: b}}}", "traces", Invalid("exporters::loadbalancing::resolver"), "two resolvers"),
        // extension/basicauthextension testdata.
        (Extension, "basicauth/client", "{client_auth: {username: username, password: password}}", "traces", Valid, "basicauth valid_config.yml client"),
        (Extension, "basicauth/server", "{htpasswd: {inline: \"username1:password1\\nusername2:password2\\n\"}}", "traces", Valid, "basicauth valid_config.yml server"),
        (Extension, "basicauth", "{htpasswd: {inline: 'username1:password1'}, client_auth: {username: u, password: p}}", "traces", Invalid("extensions::basicauth"), "invalid_config_both.yml"),
        (Extension, "basicauth", "{}", "traces", Invalid("extensions::basicauth"), "invalid_config_none.yml"),
        // extension/headerssetterextension testdata/config.yaml + TestValidateConfig.
        (Extension, "headers_setter/1", "{headers: [{key: X-Scope-OrgID, action: insert, from_context: tenant_id}, {key: User-ID, action: update, from_context: user_id}, {key: User-ID, action: upsert, value: user_id}, {key: User-ID, action: delete}]}", "traces", Valid, "headers_setter config.yaml headers_setter/1"),
        (Extension, "headers_setter", "", "traces", Invalid("extensions::headers_setter::headers"), "headers configuration is missing"),
        (Extension, "headers_setter", "{headers: [{value: test}]}", "traces", Invalid("extensions::headers_setter::headers::0::key"), "missing header name for from value"),
        (Extension, "headers_setter", "{headers: [{from_context: test}]}", "traces", Invalid("extensions::headers_setter::headers::0::key"), "missing header name for from context"),
        (Extension, "headers_setter", "{headers: [{key: name, value: a, from_context: b}]}", "traces", Invalid("extensions::headers_setter::headers::0"), "header value from context and value"),
        (Extension, "headers_setter", "{headers: [{key: name}]}", "traces", Invalid("extensions::headers_setter::headers::0"), "header value source is missing"),
        (Extension, "headers_setter", "{headers: [{key: name, action: bogus, value: a}]}", "traces", Invalid("extensions::headers_setter::headers::0::action"), "an unknown action"),
        // receiver/zipkinreceiver and jaegerreceiver config_test.go.
        (Receiver, "zipkin", "{endpoint: 'localhost:8765', parse_string_tags: true, bogus: 1}", "traces", Invalid("receivers::zipkin::bogus"), "an unknown key"),
        (Receiver, "jaeger", "{protocols: {thrift_compact: {endpoint: 'localhost:6831', queue_size: 0}}}", "traces", Invalid("receivers::jaeger::protocols::thrift_compact::queue_size"), "queue_size 0"),
        (Receiver, "jaeger", "{protocols: {thrift_compact: {endpoint: 'localhost:6831', workers: 0}}}", "traces", Invalid("receivers::jaeger::protocols::thrift_compact::workers"), "workers 0"),
    ];
    v.extend(kafka_cases());
    v.extend(filelog_cases());
    v
}

/// exporter/kafkaexporter and receiver/kafkareceiver testdata/config.yaml.
#[cfg(feature = "kafka")]
fn kafka_cases() -> Vec<Case> {
    vec![
        (Exporter, "kafka", "{logs: {topic: spans}, metrics: {topic: spans}, traces: {topic: spans}, brokers: ['foo:123', 'bar:456'], producer: {max_message_bytes: 10000000, required_acks: -1}, timeout: 10s, partition_traces_by_id: true, partition_metrics_by_resource_attributes: true, partition_logs_by_resource_attributes: true, sending_queue: {enabled: true, num_consumers: 2, queue_size: 10}, retry_on_failure: {enabled: true, initial_interval: 10s, max_interval: 60s, max_elapsed_time: 10m}}", "traces", Valid, "kafka exporter config.yaml kafka"),
        (Exporter, "kafka/per_signal_topic", "{include_metadata_keys: [metadata_key], logs: {topic: per_signal_topic, topic_from_metadata_key: metadata_key}, metrics: {topic: metrics_topic}, traces: {topic: per_signal_topic}}", "traces", Refused("exporters::kafka/per_signal_topic::logs::topic_from_metadata_key"), "kafka exporter config.yaml per_signal_topic (ferrotel: no topic_from_metadata_key)"),
        (Exporter, "kafka/round_robin_partitioner", "{brokers: ['localhost:9092'], record_partitioner: {type: round_robin}}", "traces", Refused("exporters::kafka/round_robin_partitioner::record_partitioner"), "kafka exporter config.yaml round_robin_partitioner (ferrotel: no record_partitioner)"),
        (Exporter, "kafka", "{brokers: ['localhost:9092'], producer: {compression: bogus}}", "traces", Invalid("exporters::kafka::producer::compression"), "an unknown compression"),
        (Exporter, "kafka", "{brokers: ['localhost:9092'], producer: {required_acks: 2}}", "traces", Invalid("exporters::kafka::producer::required_acks"), "required_acks not in -1, 0, 1"),
        (Exporter, "kafka", "{brokers: []}", "traces", Invalid("exporters::kafka::brokers"), "no brokers"),
        (Receiver, "kafka", "{traces: {topic: spans}, metrics: {topic: metrics}, brokers: ['foo:123', 'bar:456'], resolve_canonical_bootstrap_servers_only: true, client_id: otel-collector, group_id: otel-collector, metadata: {retry: {max: 10, backoff: 5s}}}", "traces", Valid, "kafka receiver config.yaml kafka"),
        (Receiver, "kafka/logs", "{logs: {topic: logs, encoding: direct}, brokers: ['coffee:123', 'foobar:456'], client_id: otel-collector, group_id: otel-collector, initial_offset: earliest}", "logs", Refused("receivers::kafka/logs::logs::encoding"), "kafka receiver config.yaml kafka/logs (ferrotel: otlp_proto and otlp_json only)"),
        (Receiver, "kafka", "{brokers: ['localhost:9092'], initial_offset: middle}", "traces", Invalid("receivers::kafka::initial_offset"), "an unknown initial_offset"),
    ]
}

#[cfg(not(feature = "kafka"))]
fn kafka_cases() -> Vec<Case> {
    Vec::new()
}

/// filelog (pkg/stanza/fileconsumer's file_input config) and every Stanza operator's
/// `testdata/config.yaml` under pkg/stanza/operator, each operator as the one entry of a filelog
/// receiver's `operators`, plus invalid variants of each. The expected outcome is `otelcol validate`'s
/// (v0.135 contrib, which builds the operators; the same files are compared with it when installed),
/// except the `Refused` / `Warned` cases, where ferrotel differs on purpose (docs/components/receivers/
/// filelog.md).
fn filelog_cases() -> Vec<Case> {
    vec![
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: attributes.new
    value: [1, 2, 3, 4]"##,
            "logs",
            Valid,
            "add/add_array_to_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: body.new
    value: [1, 2, 3, 4]"##,
            "logs",
            Valid,
            "add/add_array_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: attributes.new
    value: newVal"##,
            "logs",
            Valid,
            "add/add_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: body.new
    value: EXPR(body.key + "_suffix")"##,
            "logs",
            Refused("receivers::filelog::operators::0::value"),
            "add/add_expr",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: body.new
    value:
      nest:
        key: val"##,
            "logs",
            Valid,
            "add/add_nest",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: attributes.one.two
    value: newVal"##,
            "logs",
            Valid,
            "add/add_nested_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: resource.one.two
    value:
      nest:
        key: val"##,
            "logs",
            Valid,
            "add/add_nested_obj_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: resource.new
    value: EXPR(body.key + "_suffix")"##,
            "logs",
            Refused("receivers::filelog::operators::0::value"),
            "add/add_resource_expr",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: body.new
    value: testValue
    on_error: drop"##,
            "logs",
            Valid,
            "add/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: assign_keys
    field: body
    keys: ["foo", "bar"]"##,
            "logs",
            Valid,
            "assign_keys/assign_keys_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: assign_keys
    field: body.nested
    keys: ["foo", "bar"]"##,
            "logs",
            Valid,
            "assign_keys/assign_keys_body_nested",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: assign_keys
    field: attributes.input
    keys: ["foo", "bar"]"##,
            "logs",
            Valid,
            "assign_keys/assign_keys_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: assign_keys
    field: body
    keys: ["foo", "bar"]
    on_error: drop"##,
            "logs",
            Valid,
            "assign_keys/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container"##,
            "logs",
            Valid,
            "container/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    format: "docker""##,
            "logs",
            Valid,
            "container/format",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    on_error: drop"##,
            "logs",
            Valid,
            "container/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    add_metadata_from_file_path: true"##,
            "logs",
            Valid,
            "container/add_metadata_from_file_path",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    max_log_size: 10242"##,
            "logs",
            Valid,
            "container/max_log_size",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    parse_from: body.from"##,
            "logs",
            Valid,
            "container/parse_from_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    parse_to: attributes"##,
            "logs",
            Valid,
            "container/parse_to_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    parse_to: body"##,
            "logs",
            Valid,
            "container/parse_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    parse_to: resource"##,
            "logs",
            Valid,
            "container/parse_to_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    parse_to: body.log"##,
            "logs",
            Valid,
            "container/parse_to_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    severity:
      parse_from: body.severity_field
      mapping:
        critical: 5xx
        error: 4xx
        info: 3xx
        debug: 2xx"##,
            "logs",
            Valid,
            "container/severity",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    timestamp:
      parse_from: body.timestamp_field
      layout_type: strptime
      layout: '%Y-%m-%d'"##,
            "logs",
            Valid,
            "container/timestamp",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    recombine:
      max_batch_size: 2000
      max_unmatched_batch_size: 500"##,
            "logs",
            Valid,
            "container/recombine_custom",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: copy
    from: attributes.key
    to: body.key2"##,
            "logs",
            Valid,
            "copy/attribute_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: copy
    from: attributes.key
    to: attributes.one.two.three"##,
            "logs",
            Valid,
            "copy/attribute_to_nested_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: copy
    from: attributes.key
    to: resource.key2"##,
            "logs",
            Valid,
            "copy/attribute_to_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: copy
    from: body.key
    to: attributes.key2"##,
            "logs",
            Valid,
            "copy/body_to_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: copy
    from: resource.key
    to: resource.one.two.three"##,
            "logs",
            Valid,
            "copy/resource_to_nested_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: copy
    to: body.something"##,
            "logs",
            Invalid("receivers::filelog::operators::0::from"),
            "copy/invalid_missing_from",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: copy
    from: body.nothing"##,
            "logs",
            Invalid("receivers::filelog::operators::0::to"),
            "copy/invalid_missing_to",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: copy"##,
            "logs",
            Invalid("receivers::filelog::operators::0::from"),
            "copy/invalid_missing_to_and_from",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: csv_parser
    parse_from: body.message
    header: id,severity,message"##,
            "logs",
            Valid,
            "csv_parser/basic",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: csv_parser
    parse_from: body.message
    header: id,severity,message
    delimiter: "\t""##,
            "logs",
            Invalid("receivers::filelog::operators::0::header"),
            "csv_parser/delimiter",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: csv_parser
    parse_from: body.message
    header_attribute: header_field
    delimiter: "\t""##,
            "logs",
            Valid,
            "csv_parser/header_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: csv_parser
    parse_from: body.message
    header: id,severity,message
    lazy_quotes: true"##,
            "logs",
            Valid,
            "csv_parser/lazy_quotes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: csv_parser
    header: timestamp_field,severity,message
    timestamp:
      parse_from: body.timestamp_field
      layout_type: strptime
      layout: '%Y-%m-%d'"##,
            "logs",
            Valid,
            "csv_parser/timestamp",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    regex: '(?P<a>'"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "extra/regex_invalid",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    regex: 'abc'"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "extra/regex_no_named_group",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    regex: '(?P<a>.*)'
    regexx: 1"##,
            "logs",
            Valid,
            "extra/regex_unknown_key",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: filter
    expr: body == 'value'
    drop_ratio: 2"##,
            "logs",
            Invalid("receivers::filelog::operators::0::drop_ratio"),
            "extra/filter_ratio_2",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: filter
    expr: 'body =='"##,
            "logs",
            Invalid("receivers::filelog::operators::0::expr"),
            "extra/filter_bad_expr",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: severity_parser
    parse_from: body.from
    preset: nosuch"##,
            "logs",
            Refused("receivers::filelog::operators::0"),
            "extra/severity_bad_preset",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser
    parse_from: body.from
    layout_type: nosuch
    layout: '%Y'"##,
            "logs",
            Invalid("receivers::filelog::operators::0"),
            "extra/time_bad_layout_type",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser
    parse_from: body.from
    layout_type: gotime"##,
            "logs",
            Invalid("receivers::filelog::operators::0"),
            "extra/time_gotime_no_layout",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser
    parse_from: body.from
    layout_type: epoch
    layout: s"##,
            "logs",
            Valid,
            "extra/time_epoch",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser
    parse_from: body.from
    layout_type: epoch
    layout: hours"##,
            "logs",
            Invalid("receivers::filelog::operators::0"),
            "extra/time_epoch_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc9999"##,
            "logs",
            Invalid("receivers::filelog::operators::0::protocol"),
            "extra/syslog_bad_protocol",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: csv_parser"##,
            "logs",
            Invalid("receivers::filelog::operators::0::header"),
            "extra/csv_no_header",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: csv_parser
    header: a,b
    header_attribute: h"##,
            "logs",
            Invalid("receivers::filelog::operators::0::header"),
            "extra/csv_both_headers",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: csv_parser
    header: a,b
    delimiter: ';;'"##,
            "logs",
            Invalid("receivers::filelog::operators::0::delimiter"),
            "extra/csv_long_delimiter",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    delimiter: ";"
    pair_delimiter: ";""##,
            "logs",
            Invalid("receivers::filelog::operators::0::delimiter"),
            "extra/kv_same_delimiters",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: container
    format: nosuch"##,
            "logs",
            Invalid("receivers::filelog::operators::0::format"),
            "extra/container_bad_format",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    combine_field: body
    is_first_entry: body == 'a'"##,
            "logs",
            Valid,
            "extra/recombine_with_first",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    combine_field: body
    is_first_entry: body == 'a'
    is_last_entry: body == 'b'"##,
            "logs",
            Invalid("receivers::filelog::operators::0"),
            "extra/recombine_both",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    combine_field: body
    is_first_entry: body == 'a'
    source_identifier: nosuch"##,
            "logs",
            Invalid("receivers::filelog::operators::0::source_identifier"),
            "extra/recombine_bad_source",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    value: x"##,
            "logs",
            Refused("receivers::filelog::operators::0::field"),
            "extra/add_no_field",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: add
    field: nosuch.x
    value: x"##,
            "logs",
            Invalid("receivers::filelog::operators::0::field"),
            "extra/add_bad_field",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: nosuch
    to: body.x"##,
            "logs",
            Invalid("receivers::filelog::operators::0::from"),
            "extra/move_bad_field",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    on_error: ignore"##,
            "logs",
            Invalid("receivers::filelog::operators::0::on_error"),
            "extra/on_error_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    if: 'body =='"##,
            "logs",
            Invalid("receivers::filelog::operators::0::if"),
            "extra/if_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: nosuch_parser"##,
            "logs",
            Invalid("receivers::filelog::operators::0::type"),
            "extra/unknown_operator",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    parse_to: nosuch.x"##,
            "logs",
            Invalid("receivers::filelog::operators::0::parse_to"),
            "extra/parse_to_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: retain
    fields: []"##,
            "logs",
            Invalid("receivers::filelog::operators::0::fields"),
            "extra/retain_empty",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: flatten
    field: attributes"##,
            "logs",
            Invalid("receivers::filelog::operators::0::field"),
            "extra/flatten_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_replace
    field: body"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "extra/regex_replace_no_regex",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_replace
    field: body
    regex: a
    regex_name: ansi_control_sequences"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "extra/regex_replace_both",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_replace
    field: body
    regex_name: nosuch"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex_name"),
            "extra/regex_replace_bad_name",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: assign_keys
    field: body"##,
            "logs",
            Invalid("receivers::filelog::operators::0::keys"),
            "extra/assign_keys_no_keys",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: trace_parser
    trace_id:
      parse_from: nosuch.x"##,
            "logs",
            Invalid("receivers::filelog::operators::0::trace_id::parse_from"),
            "extra/trace_parser_bad_field",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: filter"##,
            "logs",
            Invalid("receivers::filelog::operators::0::expr"),
            "filter/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: filter
    drop_ratio: 0
    expr: body == 'value'"##,
            "logs",
            Valid,
            "filter/drop_ratio_0",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: filter
    drop_ratio: 0.5
    expr: body == 'value'"##,
            "logs",
            Valid,
            "filter/drop_ratio_half",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: filter
    drop_ratio: 1
    expr: body == 'value'"##,
            "logs",
            Valid,
            "filter/drop_ratio_1",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: filter
    expr: body == 'value'"##,
            "logs",
            Valid,
            "filter/expr",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: flatten
    field: attributes.errField"##,
            "logs",
            Valid,
            "flatten/flatten_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: flatten
    field: body.nested"##,
            "logs",
            Valid,
            "flatten/flatten_one_level",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: flatten
    field: body.nested.secondlevel"##,
            "logs",
            Valid,
            "flatten/flatten_second_level",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_array_parser
    parse_from: body.message
    parse_to: body.messageParsed"##,
            "logs",
            Valid,
            "json_array_parser/basic",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_array_parser
    parse_from: body
    parse_to: attributes.output"##,
            "logs",
            Valid,
            "json_array_parser/parse_to_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_array_parser
    parse_to: body"##,
            "logs",
            Valid,
            "json_array_parser/parse_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_array_parser
    parse_to: resource.output"##,
            "logs",
            Valid,
            "json_array_parser/parse_to_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_array_parser
    parse_to: attributes
    header: A,B,C"##,
            "logs",
            Valid,
            "json_array_parser/parse_with_header_as_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser"##,
            "logs",
            Valid,
            "json_parser/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    on_error: drop"##,
            "logs",
            Valid,
            "json_parser/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    parse_from: body.from"##,
            "logs",
            Valid,
            "json_parser/parse_from_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    parse_to: attributes"##,
            "logs",
            Valid,
            "json_parser/parse_to_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    parse_to: body"##,
            "logs",
            Valid,
            "json_parser/parse_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    parse_to: resource"##,
            "logs",
            Valid,
            "json_parser/parse_to_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    parse_to: body.log"##,
            "logs",
            Valid,
            "json_parser/parse_to_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    scope_name:
      parse_from: body.logger_name_field"##,
            "logs",
            Valid,
            "json_parser/scope_name",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    severity:
      parse_from: body.severity_field
      mapping:
        critical: 5xx
        error: 4xx
        info: 3xx
        debug: 2xx"##,
            "logs",
            Valid,
            "json_parser/severity",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    timestamp:
      parse_from: body.timestamp_field
      layout_type: strptime
      layout: '%Y-%m-%d'"##,
            "logs",
            Valid,
            "json_parser/timestamp",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: json_parser
    jsoniter_config:
      use_number: true"##,
            "logs",
            Valid,
            "json_parser/use_number",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser"##,
            "logs",
            Valid,
            "key_value_parser/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    delimiter: ";""##,
            "logs",
            Valid,
            "key_value_parser/delimiter",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    on_error: drop"##,
            "logs",
            Valid,
            "key_value_parser/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    pair_delimiter: ";""##,
            "logs",
            Valid,
            "key_value_parser/pair_delimiter",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    parse_from: body.from"##,
            "logs",
            Valid,
            "key_value_parser/parse_from_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    parse_to: attributes"##,
            "logs",
            Valid,
            "key_value_parser/parse_to_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    parse_to: body"##,
            "logs",
            Valid,
            "key_value_parser/parse_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    parse_to: resource"##,
            "logs",
            Valid,
            "key_value_parser/parse_to_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    parse_to: body.log"##,
            "logs",
            Valid,
            "key_value_parser/parse_to_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    severity:
      parse_from: body.severity_field
      mapping:
        critical: 5xx
        error: 4xx
        info: 3xx
        debug: 2xx"##,
            "logs",
            Valid,
            "key_value_parser/severity",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: key_value_parser
    timestamp:
      parse_from: body.timestamp_field
      layout_type: strptime
      layout: '%Y-%m-%d'"##,
            "logs",
            Valid,
            "key_value_parser/timestamp",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: attributes.new
    to: body.new"##,
            "logs",
            Valid,
            "move/move_attribute_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: attributes.new
    to: resource.new"##,
            "logs",
            Valid,
            "move/move_attribute_to_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: body.key
    to: body.new"##,
            "logs",
            Valid,
            "move/move_body_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: attributes["dotted.field.name"]
    to: resource.new"##,
            "logs",
            Valid,
            "move/move_bracketed_attribute_to_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: body.nested.nested2
    to: body.nested2"##,
            "logs",
            Valid,
            "move/move_double_nested_object",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: body.one.two
    to: attributes.three.four"##,
            "logs",
            Valid,
            "move/move_nested_body_to_nested_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: resource.new
    to: attributes.new"##,
            "logs",
            Valid,
            "move/move_resource_to_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: body.nested
    to: body"##,
            "logs",
            Valid,
            "move/replace_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    to: body.something"##,
            "logs",
            Invalid("receivers::filelog::operators::0::from"),
            "move/invalid_missing_from",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: body.nothing"##,
            "logs",
            Invalid("receivers::filelog::operators::0::to"),
            "move/invalid_missing_to",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move"##,
            "logs",
            Invalid("receivers::filelog::operators::0::from"),
            "move/invalid_missing_to_and_from",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: move
    from: body.key
    to: body.new
    on_error: drop"##,
            "logs",
            Valid,
            "move/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    combine_with: \t"##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/combine_with_backslash_t",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    combine_with: ABC"##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/combine_with_custom_string",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    combine_with: """##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/combine_with_empty_string",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    combine_with: "line1\nLINE2""##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/combine_with_multiline_string",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    combine_with: "\t""##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/combine_with_tab",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    id: merge-split-lines"##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/custom_id",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    max_log_size: 256kb"##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/custom_max_log_size",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine
    max_unmatched_batch_size: 50"##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/custom_max_unmatched_batch_size",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: recombine"##,
            "logs",
            Invalid("receivers::filelog::operators::0::combine_field"),
            "recombine/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    cache:
      size: 50"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/cache",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    on_error: "drop""##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    parse_from: "body.from""##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/parse_from_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    parse_to: attributes"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/parse_to_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    parse_to: body"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/parse_to_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    parse_to: resource"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/parse_to_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    parse_to: "body.log""##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/parse_to_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    regex: '^Host=(?P<host>[^,]+), Type=(?P<type>.*)$'"##,
            "logs",
            Valid,
            "regex_parser/regex",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    regex: '^Host=(?P<host>[^,]+), Logger=(?P<logger_name_field>.*)$'
    scope_name:
      parse_from: body.logger_name_field"##,
            "logs",
            Valid,
            "regex_parser/scope_name",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    severity:
      parse_from: body.severity_field
      mapping:
        critical: 5xx
        error: 4xx
        info: 3xx
        debug: 2xx"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/severity",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_parser
    timestamp:
      parse_from: body.timestamp_field
      layout_type: strptime
      layout: '%Y-%m-%d'"##,
            "logs",
            Invalid("receivers::filelog::operators::0::regex"),
            "regex_parser/timestamp",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_replace
    field: body.nested
    regex: a
    replace_with: b"##,
            "logs",
            Valid,
            "regex_replace/some_regex_replace",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_replace
    regex_name: ansi_control_sequences
    field: body.nested"##,
            "logs",
            Valid,
            "regex_replace/ansi_control_sequences_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_replace
    regex_name: ansi_control_sequences
    field: attributes.one.two"##,
            "logs",
            Valid,
            "regex_replace/ansi_control_sequences_nested_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_replace
    regex_name: ansi_control_sequences
    field: resource.key"##,
            "logs",
            Valid,
            "regex_replace/ansi_control_sequences_single_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: regex_replace
    field: body.key
    regex: a
    replace_with: b
    on_error: drop"##,
            "logs",
            Valid,
            "regex_replace/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: remove
    field: body.nested"##,
            "logs",
            Valid,
            "remove/remove_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: remove
    field: attributes"##,
            "logs",
            Valid,
            "remove/remove_entire_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: remove
    field: body"##,
            "logs",
            Valid,
            "remove/remove_entire_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: remove
    field: resource"##,
            "logs",
            Valid,
            "remove/remove_entire_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: remove
    field: attributes.one.two"##,
            "logs",
            Valid,
            "remove/remove_nested_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: remove
    field: resource.key"##,
            "logs",
            Valid,
            "remove/remove_single_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: remove"##,
            "logs",
            Invalid("receivers::filelog::operators::0::field"),
            "remove/invalid_empty_field",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: remove
    field: body.key
    on_error: drop"##,
            "logs",
            Valid,
            "remove/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: retain
    fields:
      - body.key
      - body.nested2"##,
            "logs",
            Valid,
            "retain/retain_multi",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: retain
    fields:
      - body.foo
      - body.one.two
      - attributes.foo
      - attributes.one.two
      - resource.foo
      - resource.one.two"##,
            "logs",
            Valid,
            "retain/retain_multilevel",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: retain
    fields:
      - resource.key1
      - attributes.key3
      - body.key"##,
            "logs",
            Valid,
            "retain/retain_one_of_each",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: retain
    fields:
      - resource.key"##,
            "logs",
            Valid,
            "retain/retain_single_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: retain
    fields:
      - body.key
    on_error: drop"##,
            "logs",
            Valid,
            "retain/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: router"##,
            "logs",
            Valid,
            "router/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: router
    routes:
      - output: my_json_parser
        expr: 'body.format == "json"'
        attributes:
          key1: val1"##,
            "logs",
            Invalid("receivers::filelog::operators::0::routes::0::output"),
            "router/routes_attributes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: router
    routes:
      - output: my_json_parser
        expr: 'body.format == "json"'
    default: catchall"##,
            "logs",
            Invalid("receivers::filelog::operators::0::routes::0::output"),
            "router/routes_default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: router
    routes:
      - output: my_json_parser
        expr: 'body.format == "json"'
      - output: my_json_parser2
        expr: 'body.format == "json"2'
      - output: my_json_parser3
        expr: 'body.format == "json"3'"##,
            "logs",
            Invalid("receivers::filelog::operators::0::routes::1::expr"),
            "router/routes_multi",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: router
    routes:
      - output: my_json_parser
        expr: 'body.format == "json"'"##,
            "logs",
            Invalid("receivers::filelog::operators::0::routes::0::output"),
            "router/routes_one",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: scope_name_parser"##,
            "logs",
            Refused("receivers::filelog::operators::0::parse_from"),
            "scope_name_parser/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: scope_name_parser
    on_error: drop"##,
            "logs",
            Refused("receivers::filelog::operators::0::parse_from"),
            "scope_name_parser/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: scope_name_parser
    parse_from: body.from"##,
            "logs",
            Valid,
            "scope_name_parser/parse_from_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: scope_name_parser
    scope_name:
      parse_from: body.logger_name_field"##,
            "logs",
            Refused("receivers::filelog::operators::0::parse_from"),
            "scope_name_parser/no_nested",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: severity_parser"##,
            "logs",
            Invalid("receivers::filelog::operators::0::parse_from"),
            "severity_parser/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: severity_parser
    on_error: drop"##,
            "logs",
            Invalid("receivers::filelog::operators::0::parse_from"),
            "severity_parser/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: severity_parser
    parse_from: body.from"##,
            "logs",
            Valid,
            "severity_parser/parse_from_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: severity_parser
    parse_from: body.from
    preset: http"##,
            "logs",
            Valid,
            "severity_parser/parse_with_preset",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: severity_parser
    severity:
      parse_from: body.severity_field
      mapping:
        critical: 5xx
        error: 4xx
        info: 3xx
        debug: 2xx"##,
            "logs",
            Invalid("receivers::filelog::operators::0::parse_from"),
            "severity_parser/no_nested",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser"##,
            "logs",
            Invalid("receivers::filelog::operators::0::protocol"),
            "syslog_parser/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc3164"##,
            "logs",
            Valid,
            "syslog_parser/rfc3164",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc5424"##,
            "logs",
            Valid,
            "syslog_parser/rfc5424",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc5424
    location: FOO"##,
            "logs",
            Warned("receivers::filelog::operators::0"),
            "syslog_parser/location",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc5424
    on_error: drop"##,
            "logs",
            Valid,
            "syslog_parser/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc5424
    parse_from: body.from"##,
            "logs",
            Valid,
            "syslog_parser/parse_from_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc5424
    parse_to: body.log"##,
            "logs",
            Valid,
            "syslog_parser/parse_to_simple",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc5424
    scope_name:
      parse_from: body.logger_name_field"##,
            "logs",
            Valid,
            "syslog_parser/scope_name",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc5424
    severity:
      parse_from: body.severity_field
      mapping:
        critical: 5xx
        error: 4xx
        info: 3xx
        debug: 2xx"##,
            "logs",
            Valid,
            "syslog_parser/severity",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: syslog_parser
    protocol: rfc5424
    timestamp:
      parse_from: body.timestamp_field
      layout_type: strptime
      layout: '%Y-%m-%d'"##,
            "logs",
            Valid,
            "syslog_parser/timestamp",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser"##,
            "logs",
            Invalid("receivers::filelog::operators::0"),
            "time_parser/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser
    on_error: drop"##,
            "logs",
            Invalid("receivers::filelog::operators::0"),
            "time_parser/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser
    parse_from: body.from
    layout_type: strptime
    layout: '%Y-%m-%d'"##,
            "logs",
            Valid,
            "time_parser/parse_strptime",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser
    parse_from: body.from
    layout_type: gotime
    layout: '2006-01-02'"##,
            "logs",
            Valid,
            "time_parser/parse_gotime",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: time_parser
    timestamp:
      parse_from: body.timestamp_field
      layout_type: strptime
      layout: '%Y-%m-%d'"##,
            "logs",
            Invalid("receivers::filelog::operators::0"),
            "time_parser/no_nested",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: trace_parser"##,
            "logs",
            Valid,
            "trace_parser/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: trace_parser
    on_error: drop"##,
            "logs",
            Valid,
            "trace_parser/on_error_drop",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: trace_parser
    span_id:
      parse_from: body.app_span_id"##,
            "logs",
            Valid,
            "trace_parser/spanid",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: trace_parser
    trace_flags:
      parse_from: body.app_trace_flags_id"##,
            "logs",
            Valid,
            "trace_parser/trace_flags",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: trace_parser
    trace_id:
      parse_from: body.app_trace_id"##,
            "logs",
            Valid,
            "trace_parser/traceid",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: unquote
    field: body.nested"##,
            "logs",
            Valid,
            "unquote/unquote_body",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: unquote
    field: attributes.one.two"##,
            "logs",
            Valid,
            "unquote/unquote_nested_attribute",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
operators:
  - type: unquote
    field: resource.key"##,
            "logs",
            Valid,
            "unquote/unquote_single_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"{}"##,
            "logs",
            Invalid("receivers::filelog::include"),
            "filelog/default",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
encoding: "utf-16le""##,
            "logs",
            Valid,
            "filelog/encoding_lower",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
encoding: "UTF-16lE""##,
            "logs",
            Valid,
            "filelog/encoding_upper",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
encoding: "klingon""##,
            "logs",
            Invalid("receivers::filelog::encoding"),
            "filelog/encoding_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
exclude:
  - "not*.log""##,
            "logs",
            Valid,
            "filelog/exclude_glob",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
exclude:
  - "**/directory/**/not*.log""##,
            "logs",
            Valid,
            "filelog/exclude_glob_double_asterisk_prefix",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
exclude:
  foo: bar"##,
            "logs",
            Invalid("receivers::filelog::exclude"),
            "filelog/exclude_invalid",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
fingerprint_size: 1KB"##,
            "logs",
            Valid,
            "filelog/fingerprint_size_1KB",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
fingerprint_size: 1KiB"##,
            "logs",
            Valid,
            "filelog/fingerprint_size_1KiB",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
fingerprint_size: 1kb"##,
            "logs",
            Valid,
            "filelog/fingerprint_size_1kb_lower",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
fingerprint_size: 1.1kb"##,
            "logs",
            Valid,
            "filelog/fingerprint_size_float",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
fingerprint_size: 1000"##,
            "logs",
            Valid,
            "filelog/fingerprint_size_no_units",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
fingerprint_size: 10"##,
            "logs",
            Invalid("receivers::filelog::fingerprint_size"),
            "filelog/fingerprint_size_small",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
include_file_name: TRUE"##,
            "logs",
            Valid,
            "filelog/include_file_name_upper",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
include_file_name: yes"##,
            "logs",
            Invalid("receivers::filelog::include_file_name"),
            "filelog/include_file_name_yes",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
include_file_path: asdf"##,
            "logs",
            Invalid("receivers::filelog::include_file_path"),
            "filelog/include_file_path_nonbool",
        ),
        (
            Receiver,
            "filelog",
            r##"include:
  - "**.log""##,
            "logs",
            Valid,
            "filelog/include_glob_double_asterisk",
        ),
        (
            Receiver,
            "filelog",
            r##"include:
  - "[a-""##,
            "logs",
            Invalid("receivers::filelog::include::0"),
            "filelog/include_glob_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include:
  foo: bar"##,
            "logs",
            Invalid("receivers::filelog::include"),
            "filelog/include_invalid",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
max_concurrent_files: 9223372036854775807"##,
            "logs",
            Valid,
            "filelog/max_concurrent_large",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
max_concurrent_files: 1"##,
            "logs",
            Valid,
            "filelog/max_concurrent_one",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
max_log_size: 1TOFU"##,
            "logs",
            Invalid("receivers::filelog::max_log_size"),
            "filelog/max_log_size_invalid_unit",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
max_log_size: 1MiB"##,
            "logs",
            Valid,
            "filelog/max_log_size_mib_upper",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
max_log_size: 1mb"##,
            "logs",
            Valid,
            "filelog/max_log_size_mb_lower",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
multiline:
  that_random_field: "this should go nowhere""##,
            "logs",
            Invalid("receivers::filelog::multiline::that_random_field"),
            "filelog/multiline_extra_field",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
multiline:
  line_end_pattern: '%'"##,
            "logs",
            Valid,
            "filelog/multiline_line_end_special",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
multiline:
  line_start_pattern: 'Start'"##,
            "logs",
            Valid,
            "filelog/multiline_line_start_string",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
multiline:
  line_start_pattern: 'Start'
  line_end_pattern: 'End'"##,
            "logs",
            Invalid("receivers::filelog::multiline"),
            "filelog/multiline_both",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
multiline:
  line_start_pattern: '('"##,
            "logs",
            Invalid("receivers::filelog::multiline::line_start_pattern"),
            "filelog/multiline_bad_regex",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
poll_interval: 1000ms"##,
            "logs",
            Valid,
            "filelog/poll_interval_1000ms",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
poll_interval: 1"##,
            "logs",
            Valid,
            "filelog/poll_interval_no_units",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
start_at: "beginning""##,
            "logs",
            Valid,
            "filelog/start_at_string",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
start_at: "middle""##,
            "logs",
            Invalid("receivers::filelog::start_at"),
            "filelog/start_at_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
compression: gzip"##,
            "logs",
            Valid,
            "filelog/compression_gzip",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
compression: auto"##,
            "logs",
            Valid,
            "filelog/compression_auto",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
compression: zip"##,
            "logs",
            Refused("receivers::filelog::compression"),
            "filelog/compression_bad",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
delete_after_read: true
start_at: end"##,
            "logs",
            Invalid("receivers::filelog::delete_after_read"),
            "filelog/delete_after_read_end",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
delete_after_read: true
start_at: beginning"##,
            "logs",
            Warned("receivers::filelog::delete_after_read"),
            "filelog/delete_after_read_begin",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
exclude_older_than: 24h"##,
            "logs",
            Valid,
            "filelog/exclude_older_than",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
ordering_criteria:
  regex: '^(?P<num>\d+)'
  sort_by:
    - regex_key: num
      sort_type: numeric
      ascending: true"##,
            "logs",
            Valid,
            "filelog/ordering_criteria",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
ordering_criteria:
  regex: '^(?P<num>\d+)'
  sort_by:
    - regex_key: num
      sort_type: nosuch"##,
            "logs",
            Invalid("receivers::filelog::ordering_criteria::sort_by::0::sort_type"),
            "filelog/ordering_criteria_bad_sort",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
header:
  metadata_operators:
    - type: regex_parser
      regex: '^#(?P<h>.*)'"##,
            "logs",
            Invalid("receivers::filelog::header"),
            "filelog/header_no_pattern",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
start_at: beginning
header:
  pattern: '^#'
  metadata_operators:
    - type: regex_parser
      regex: '^#(?P<h>.*)'"##,
            "logs",
            Valid,
            "filelog/header_ok",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
header:
  pattern: '^#'
  metadata_operators:
    - type: regex_parser
      regex: '^#(?P<h>.*)'"##,
            "logs",
            Invalid("receivers::filelog::header"),
            "filelog/header_without_beginning",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
storage: file_storage"##,
            "logs",
            Valid,
            "filelog/storage_missing_ext",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
retry_on_failure:
  enabled: true
  initial_interval: 1s
  max_interval: 30s
  max_elapsed_time: 5m"##,
            "logs",
            Valid,
            "filelog/retry_on_failure",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
attributes: {a: b}
resource: {c: d}"##,
            "logs",
            Valid,
            "filelog/attributes_resource",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
force_flush_period: 1s"##,
            "logs",
            Valid,
            "filelog/force_flush_period",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
max_batches: 5"##,
            "logs",
            Valid,
            "filelog/max_batches",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
polls_to_archive: 10"##,
            "logs",
            Valid,
            "filelog/polls_to_archive",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
acquire_fs_lock: true"##,
            "logs",
            Valid,
            "filelog/acquire_fs_lock",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
preserve_leading_whitespaces: true
preserve_trailing_whitespaces: true"##,
            "logs",
            Valid,
            "filelog/preserve_whitespace",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
include_file_owner_name: true
include_file_owner_group_name: true
include_file_record_number: true
include_file_record_offset: true"##,
            "logs",
            Valid,
            "filelog/include_file_owner",
        ),
        (
            Receiver,
            "filelog",
            r##"include: [/tmp/parity-x.log]
bogus: 1"##,
            "logs",
            Invalid("receivers::filelog::bogus"),
            "filelog/unknown_key",
        ),
    ]
}
