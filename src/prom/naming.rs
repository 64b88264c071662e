//! OTLP → Prometheus names as otelcol's translator (`pkg/translator/prometheus`) builds them: unit
//! and `_total` suffixes, sanitization of metric and label names.

/// The Prometheus word for an OTLP (UCUM) unit, as otelcol maps it.
fn unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit_word(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Removes `{annotations}` and replaces characters Prometheus does not allow.
fn clean_unit(unit: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            c if c.is_ascii_alphanumeric() => out.push(c),
            _ => out.push('_'),
        }
    }
    out.trim_matches('_').to_string()
}

fn tokens(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// What kind of OTLP metric a name is built for (decides the `_total` and `_ratio` suffixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    MonotonicSum,
    Gauge,
    Other,
}

/// The Prometheus metric name for an OTLP metric, as otelcol's `BuildCompliantName`.
pub fn metric_name(
    name: &str,
    unit: &str,
    kind: NameKind,
    namespace: &str,
    add_suffixes: bool,
) -> String {
    let mut out = if add_suffixes {
        let mut toks = tokens(name);
        let (main, per) = match unit.split_once('/') {
            Some((m, p)) => (m, Some(p)),
            None => (unit, None),
        };
        let main = main.trim();
        let main_word = unit_word(main)
            .map(str::to_string)
            .unwrap_or_else(|| clean_unit(main));
        if !main_word.is_empty() && !toks.contains(&main_word) {
            toks.push(main_word);
        }
        if let Some(per) = per.map(str::trim).filter(|p| !p.is_empty()) {
            let per_word = per_unit_word(per)
                .map(str::to_string)
                .unwrap_or_else(|| clean_unit(per));
            if !per_word.is_empty() && !toks.contains(&per_word) {
                toks.push("per".into());
                toks.push(per_word);
            }
        }
        if kind == NameKind::MonotonicSum {
            toks.retain(|t| t != "total");
            toks.push("total".into());
        }
        if kind == NameKind::Gauge && unit == "1" && !toks.iter().any(|t| t == "ratio") {
            toks.push("ratio".into());
        }
        toks.join("_")
    } else {
        sanitize_metric(name)
    };
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if !namespace.is_empty() {
        out = format!("{}_{out}", sanitize_metric(namespace));
    }
    out
}

/// Replaces characters outside `[a-zA-Z0-9_:]` with `_`.
pub fn sanitize_metric(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A label name as otelcol's `NormalizeLabel`: invalid characters → `_`, a leading digit gets
/// `key_`, a single leading `_` gets `key`.
pub fn label_name(name: &str) -> String {
    if name.is_empty() {
        return String::new();
    }
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{s}")
    } else if s.starts_with('_') && !s.starts_with("__") {
        format!("key{s}")
    } else {
        s
    }
}

/// Escapes a label value for the text format.
pub fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Formats a float as Prometheus does (`+Inf`, `-Inf`, `NaN`).
pub fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_otelcol_builds_them() {
        let n = |name, unit, kind| metric_name(name, unit, kind, "", true);
        assert_eq!(
            n("http.server.duration", "ms", NameKind::Other),
            "http_server_duration_milliseconds"
        );
        assert_eq!(
            n("system.network.io", "By", NameKind::MonotonicSum),
            "system_network_io_bytes_total"
        );
        assert_eq!(
            n("requests.total", "{request}", NameKind::MonotonicSum),
            "requests_total"
        );
        assert_eq!(
            n("system.cpu.utilization", "1", NameKind::Gauge),
            "system_cpu_utilization_ratio"
        );
        assert_eq!(
            n("throughput", "By/s", NameKind::Gauge),
            "throughput_bytes_per_second"
        );
        assert_eq!(
            n("latency_seconds", "s", NameKind::Other),
            "latency_seconds"
        );
        assert_eq!(n("1xx", "", NameKind::Gauge), "_1xx");
        assert_eq!(
            metric_name("a.b", "s", NameKind::MonotonicSum, "ns", false),
            "ns_a_b"
        );
        assert_eq!(
            metric_name("a", "", NameKind::Gauge, "my-ns", true),
            "my_ns_a"
        );
    }

    #[test]
    fn labels_as_otelcol_normalizes_them() {
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("0abc"), "key_0abc");
        assert_eq!(label_name("_x"), "key_x");
        assert_eq!(label_name("__x"), "__x");
    }
}
