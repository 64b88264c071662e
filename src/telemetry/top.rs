//! `ferrotel top`: a live terminal view of a running collector, read from its Prometheus endpoint.
//! Per component and signal it shows items per second accepted, refused, sent and failed, how full each
//! sending queue is, and the process's memory and CPU, refreshed every interval. `q`, Esc or Ctrl-C
//! quits and gives the terminal back as it was.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, queue, terminal};

use super::http_get;
use crate::signal::SignalKind;

/// One sample of the text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text format; lines it cannot read are skipped.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end;
        loop {
            while chars
                .peek()
                .is_some_and(|(_, c)| *c == ',' || c.is_whitespace())
            {
                chars.next();
            }
            let (start, c) = *chars.peek()?;
            if c == '}' {
                end = start + 1;
                break;
            }
            let eq = body[start..].find('=')? + start;
            let key = body[start..eq].trim().to_string();
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            labels.insert(key, value);
        }
        rest = &body[end..];
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Receiver counts for one receiver and signal (summed over transports).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReceiverCounts {
    pub accepted: f64,
    pub refused: f64,
    pub failed: f64,
}

/// Exporter counts for one exporter and signal.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExporterCounts {
    pub sent: f64,
    pub send_failed: f64,
    pub enqueue_failed: f64,
    pub queue_size: Option<f64>,
    pub queue_capacity: Option<f64>,
}

/// Batch processor sends: how many batches and how many items in them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BatchCounts {
    pub batches: f64,
    pub items: f64,
}

/// What one scrape says, grouped per component.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub uptime: f64,
    pub cpu_seconds: f64,
    pub rss_bytes: f64,
    pub receivers: BTreeMap<(String, SignalKind), ReceiverCounts>,
    pub exporters: BTreeMap<(String, SignalKind), ExporterCounts>,
    pub processors: BTreeMap<String, BatchCounts>,
}

fn item_signal(item: &str) -> Option<SignalKind> {
    Some(match item {
        "spans" => SignalKind::Traces,
        "metric_points" => SignalKind::Metrics,
        "log_records" => SignalKind::Logs,
        _ => return None,
    })
}

impl Snapshot {
    /// Groups samples by component; both otelcol namings (with and without `_total` and unit
    /// suffixes) are understood.
    pub fn from_samples(samples: &[Sample]) -> Snapshot {
        let mut s = Snapshot::default();
        let label = |x: &Sample, k: &str| x.labels.get(k).cloned().unwrap_or_default();
        for x in samples {
            let name = x.name.strip_suffix("_total").unwrap_or(&x.name);
            let v = x.value;
            match name {
                "otelcol_process_uptime" | "otelcol_process_uptime_seconds" => s.uptime = v,
                "otelcol_process_cpu_seconds" => s.cpu_seconds = v,
                "otelcol_process_memory_rss" | "otelcol_process_memory_rss_bytes" => {
                    s.rss_bytes = v
                }
                "otelcol_exporter_queue_size" | "otelcol_exporter_queue_capacity" => {
                    let Some(sig) = SignalKind::parse(&label(x, "data_type")) else {
                        continue;
                    };
                    let e = s.exporters.entry((label(x, "exporter"), sig)).or_default();
                    if name.ends_with("size") {
                        e.queue_size = Some(v);
                    } else {
                        e.queue_capacity = Some(v);
                    }
                }
                "otelcol_processor_batch_batch_send_size_count" => {
                    s.processors
                        .entry(label(x, "processor"))
                        .or_default()
                        .batches = v
                }
                "otelcol_processor_batch_batch_send_size_sum" => {
                    s.processors.entry(label(x, "processor")).or_default().items = v
                }
                _ => {
                    if let Some(rest) = name.strip_prefix("otelcol_receiver_") {
                        let Some((what, item)) = rest.split_once('_') else {
                            continue;
                        };
                        let Some(sig) = item_signal(item) else {
                            continue;
                        };
                        let r = s.receivers.entry((label(x, "receiver"), sig)).or_default();
                        match what {
                            "accepted" => r.accepted += v,
                            "refused" => r.refused += v,
                            "failed" => r.failed += v,
                            _ => {}
                        }
                    } else if let Some(rest) = name.strip_prefix("otelcol_exporter_") {
                        let (field, item) = if let Some(i) = rest.strip_prefix("sent_") {
                            (0, i)
                        } else if let Some(i) = rest.strip_prefix("send_failed_") {
                            (1, i)
                        } else if let Some(i) = rest.strip_prefix("enqueue_failed_") {
                            (2, i)
                        } else {
                            continue;
                        };
                        let Some(sig) = item_signal(item) else {
                            continue;
                        };
                        let e = s.exporters.entry((label(x, "exporter"), sig)).or_default();
                        match field {
                            0 => e.sent += v,
                            1 => e.send_failed += v,
                            _ => e.enqueue_failed += v,
                        }
                    }
                }
            }
        }
        s
    }
}

/// Per-second change between two readings of a counter; a restart (counter going down) reads as 0.
fn rate(cur: f64, prev: Option<f64>, dt: Option<f64>) -> Option<f64> {
    match (prev, dt) {
        (Some(p), Some(dt)) if dt > 0.0 => Some(((cur - p) / dt).max(0.0)),
        _ => None,
    }
}

fn fmt_rate(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r >= 100.0 => format!("{r:.0}"),
        Some(r) => format!("{r:.1}"),
    }
}

fn fmt_bytes(b: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if b >= 1024.0 * MIB {
        format!("{:.2} GiB", b / 1024.0 / MIB)
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

fn fmt_uptime(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60),
    }
}

/// The lines of one frame. `prev` is the previous snapshot and the seconds between the two scrapes.
pub fn render(
    endpoint: &str,
    cur: &Result<Snapshot, String>,
    prev: Option<(&Snapshot, f64)>,
) -> Vec<String> {
    let mut out = Vec::new();
    let cur = match cur {
        Ok(s) => s,
        Err(e) => {
            out.push(format!("ferrotel top  {endpoint}  (q to quit)"));
            out.push(String::new());
            out.push(format!("cannot read metrics: {e}"));
            out.push("retrying every interval…".into());
            return out;
        }
    };
    let dt = prev.map(|(_, dt)| dt);
    let p = prev.map(|(p, _)| p);
    let cpu = rate(cur.cpu_seconds, p.map(|p| p.cpu_seconds), dt)
        .map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into());
    out.push(format!(
        "ferrotel top  {endpoint}  up {}  memory {}  cpu {cpu}  (q to quit)",
        fmt_uptime(cur.uptime),
        fmt_bytes(cur.rss_bytes),
    ));
    out.push(String::new());
    out.push(format!(
        "{:<24} {:<8} {:>11} {:>10} {:>9} {:>12}",
        "RECEIVER", "SIGNAL", "ACCEPTED/s", "REFUSED/s", "FAILED/s", "ACCEPTED"
    ));
    if cur.receivers.is_empty() {
        out.push("  (nothing received yet)".into());
    }
    for ((id, sig), r) in &cur.receivers {
        let pr = p.and_then(|p| p.receivers.get(&(id.clone(), *sig)));
        out.push(format!(
            "{:<24} {:<8} {:>11} {:>10} {:>9} {:>12}",
            id,
            sig.as_str(),
            fmt_rate(rate(
                r.accepted,
                pr.map(|x| x.accepted).or(p.map(|_| 0.0)),
                dt
            )),
            fmt_rate(rate(
                r.refused,
                pr.map(|x| x.refused).or(p.map(|_| 0.0)),
                dt
            )),
            fmt_rate(rate(r.failed, pr.map(|x| x.failed).or(p.map(|_| 0.0)), dt)),
            r.accepted as u64,
        ));
    }
    if !cur.processors.is_empty() {
        out.push(String::new());
        out.push(format!(
            "{:<24} {:<8} {:>11} {:>10} {:>9} {:>12}",
            "PROCESSOR", "", "ITEMS/s", "BATCHES/s", "AVG SIZE", "BATCHES"
        ));
        for (id, b) in &cur.processors {
            let pb = p.and_then(|p| p.processors.get(id));
            let avg = if b.batches > 0.0 {
                format!("{:.0}", b.items / b.batches)
            } else {
                "-".into()
            };
            out.push(format!(
                "{:<24} {:<8} {:>11} {:>10} {:>9} {:>12}",
                id,
                "",
                fmt_rate(rate(b.items, pb.map(|x| x.items).or(p.map(|_| 0.0)), dt)),
                fmt_rate(rate(
                    b.batches,
                    pb.map(|x| x.batches).or(p.map(|_| 0.0)),
                    dt
                )),
                avg,
                b.batches as u64,
            ));
        }
    }
    out.push(String::new());
    out.push(format!(
        "{:<24} {:<8} {:>11} {:>10} {:>9} {:>12}  {}",
        "EXPORTER", "SIGNAL", "SENT/s", "FAILED/s", "DROPPED/s", "SENT", "QUEUE"
    ));
    if cur.exporters.is_empty() {
        out.push("  (nothing sent yet)".into());
    }
    for ((id, sig), e) in &cur.exporters {
        let pe = p.and_then(|p| p.exporters.get(&(id.clone(), *sig)));
        let queue = match (e.queue_size, e.queue_capacity) {
            (Some(s), Some(c)) if c > 0.0 => format!("{}/{} ({:.0}%)", s, c, s / c * 100.0),
            (Some(s), _) => format!("{s}"),
            _ => "-".into(),
        };
        out.push(format!(
            "{:<24} {:<8} {:>11} {:>10} {:>9} {:>12}  {}",
            id,
            sig.as_str(),
            fmt_rate(rate(e.sent, pe.map(|x| x.sent).or(p.map(|_| 0.0)), dt)),
            fmt_rate(rate(
                e.send_failed,
                pe.map(|x| x.send_failed).or(p.map(|_| 0.0)),
                dt
            )),
            fmt_rate(rate(
                e.enqueue_failed,
                pe.map(|x| x.enqueue_failed).or(p.map(|_| 0.0)),
                dt
            )),
            e.sent as u64,
            queue,
        ));
    }
    out
}

fn scrape(endpoint: &str) -> Result<Snapshot, String> {
    let resp = http_get::get(endpoint, Duration::from_secs(2))?;
    if resp.status != 200 {
        return Err(format!("{endpoint} answered HTTP {}", resp.status));
    }
    Ok(Snapshot::from_samples(&parse_exposition(&resp.body)))
}

/// Restores the terminal however `run` ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let mut out = std::io::stdout();
        let _ = execute!(out, cursor::Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}

/// Runs the view until `q`, Esc or Ctrl-C. Without a terminal (or with `once`), prints one frame,
/// from two scrapes `interval` apart, and returns.
pub fn run(endpoint: &str, interval: Duration, once: bool) -> std::io::Result<()> {
    let endpoint = if endpoint.contains("://") || endpoint.contains('/') {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}/metrics")
    };
    if once || !std::io::stdout().is_terminal() {
        let first = scrape(&endpoint);
        let start = Instant::now();
        std::thread::sleep(interval);
        let second = scrape(&endpoint);
        let prev = first
            .as_ref()
            .ok()
            .map(|s| (s, start.elapsed().as_secs_f64()));
        for line in render(&endpoint, &second, prev) {
            println!("{line}");
        }
        return match second {
            Ok(_) => Ok(()),
            Err(e) => Err(std::io::Error::other(e)),
        };
    }

    terminal::enable_raw_mode()?;
    let _guard = TerminalGuard;
    let mut out = std::io::stdout();
    execute!(out, terminal::EnterAlternateScreen, cursor::Hide)?;
    let mut prev: Option<(Snapshot, Instant)> = None;
    loop {
        let cur = scrape(&endpoint);
        let now = Instant::now();
        let lines = render(
            &endpoint,
            &cur,
            prev.as_ref()
                .map(|(s, t)| (s, now.duration_since(*t).as_secs_f64())),
        );
        let (width, height) = terminal::size().unwrap_or((120, 40));
        queue!(out, cursor::MoveTo(0, 0))?;
        for line in lines.iter().take(height as usize) {
            let shown: String = line.chars().take(width as usize).collect();
            queue!(
                out,
                crossterm::style::Print(shown),
                terminal::Clear(terminal::ClearType::UntilNewLine),
                crossterm::style::Print("\r\n")
            )?;
        }
        queue!(out, terminal::Clear(terminal::ClearType::FromCursorDown))?;
        out.flush()?;
        if let Ok(s) = cur {
            prev = Some((s, now));
        }
        let next = now + interval;
        loop {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if event::poll(left)? {
                if let Event::Key(k) = event::read()? {
                    if k.kind != KeyEventKind::Press {
                        continue;
                    }
                    let ctrl_c =
                        k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c || matches!(k.code, KeyCode::Char('q' | 'Q') | KeyCode::Esc) {
                        return Ok(());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP otelcol_receiver_accepted_spans_total x
# TYPE otelcol_receiver_accepted_spans_total counter
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 10
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 5
otelcol_receiver_refused_log_records_total{receiver="otlp",transport="http"} 2
otelcol_exporter_sent_spans_total{exporter="otlp/gw"} 15
otelcol_exporter_send_failed_spans_total{exporter="otlp/gw"} 1
otelcol_exporter_queue_size{exporter="otlp/gw",data_type="traces"} 3
otelcol_exporter_queue_capacity{exporter="otlp/gw",data_type="traces"} 1000
otelcol_processor_batch_batch_send_size_sum{processor="batch"} 150
otelcol_processor_batch_batch_send_size_count{processor="batch"} 3
otelcol_process_memory_rss_bytes 10485760
otelcol_process_cpu_seconds_total 1.5
otelcol_process_uptime_seconds_total 65.2
weird{a="x\"y,z}",b="2"} 1 1700000000
"#;

    #[test]
    fn parses_labels_with_escapes() {
        let s = parse_exposition(TEXT);
        let w = s.iter().find(|x| x.name == "weird").unwrap();
        assert_eq!(w.labels["a"], "x\"y,z}");
        assert_eq!(w.labels["b"], "2");
        assert_eq!(w.value, 1.0);
    }

    #[test]
    fn groups_per_component() {
        let snap = Snapshot::from_samples(&parse_exposition(TEXT));
        let r = snap.receivers[&("otlp".into(), SignalKind::Traces)];
        assert_eq!(r.accepted, 15.0);
        assert_eq!(
            snap.receivers[&("otlp".into(), SignalKind::Logs)].refused,
            2.0
        );
        let e = snap.exporters[&("otlp/gw".into(), SignalKind::Traces)];
        assert_eq!((e.sent, e.send_failed), (15.0, 1.0));
        assert_eq!((e.queue_size, e.queue_capacity), (Some(3.0), Some(1000.0)));
        assert_eq!(snap.processors["batch"].batches, 3.0);
        assert_eq!(snap.rss_bytes, 10485760.0);
        assert_eq!(snap.uptime, 65.2);
    }

    #[test]
    fn rates_between_two_scrapes() {
        let a = Snapshot::from_samples(&parse_exposition(TEXT));
        let mut b = a.clone();
        b.receivers
            .get_mut(&("otlp".into(), SignalKind::Traces))
            .unwrap()
            .accepted += 20.0;
        b.cpu_seconds += 0.5;
        let lines = render("http://x/metrics", &Ok(b), Some((&a, 2.0)));
        let text = lines.join("\n");
        assert!(text.contains("memory 10.0 MiB"), "{text}");
        assert!(text.contains("cpu 25.0%"), "{text}");
        assert!(text.contains("up 1m05s"), "{text}");
        let row = lines
            .iter()
            .find(|l| l.starts_with("otlp ") && l.contains("traces"))
            .unwrap();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols, ["otlp", "traces", "10.0", "0.0", "0.0", "35"]);
        assert!(text.contains("3/1000 (0%)"), "{text}");
    }

    #[test]
    fn unreachable_endpoint_is_shown_not_fatal() {
        let lines = render("http://x/metrics", &Err("refused".into()), None);
        assert!(lines.join("\n").contains("cannot read metrics: refused"));
    }
}
