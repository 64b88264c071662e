//! The Prometheus text exposition format 0.0.4 and OpenMetrics 1.0.0 text format, parsed into
//! samples plus per-family metadata.
//!
//! Grammar (both formats; OpenMetrics differences noted):
//! ```text
//! line     = comment | sample | blank
//! comment  = "# HELP " name " " text | "# TYPE " name " " type | "# UNIT " name " " unit (OM)
//!          | "# EOF" (OM: required, last) | "#" anything (text: ignored)
//! sample   = name [ "{" [ label { "," label } [","] ] "}" ] value [ timestamp ] [ exemplar ]
//! label    = lname "=" '"' escaped '"'          escapes: \\ \" \n
//! value    = float | "+Inf" | "-Inf" | "NaN"
//! timestamp= integer milliseconds (text) | float seconds (OM)
//! exemplar = " # {" labels "} " value [ timestamp ]   (OM only)
//! ```
//! Nothing here panics on any input: every problem is a [`ParseError`] naming its line.

use super::fasthash::FastMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Unknown,
}

impl MetricType {
    fn parse(s: &str) -> MetricType {
        match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            _ => MetricType::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub mtype: MetricType,
    pub help: String,
    pub unit: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels including `__name__`, first.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<Exemplar>,
    /// What only the protobuf format carries (none for text samples).
    pub extra: Option<Box<Extra>>,
}

/// A sample's data that the text formats express as separate samples or not at all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extra {
    /// The series' created timestamp, in seconds (the text formats' `_created` sample).
    pub created: Option<f64>,
    /// A native histogram: the sample is the whole histogram (its value is unused).
    pub native: Option<NativeHistogram>,
}

/// A native (exponential) histogram, its buckets already in OTLP's form: `offset` is the index
/// of the first bucket's lower boundary and `counts` are dense (gaps between Prometheus' spans
/// filled with zeros).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NativeHistogram {
    pub schema: i32,
    pub count: u64,
    pub sum: f64,
    pub zero_threshold: f64,
    pub zero_count: u64,
    pub positive: Buckets,
    pub negative: Buckets,
    pub exemplars: Vec<Exemplar>,
}

/// One side of a [`NativeHistogram`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Buckets {
    pub offset: i32,
    pub counts: Vec<u64>,
}

impl Sample {
    pub fn name(&self) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == "__name__")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// By family name (as in `# TYPE`).
    pub metadata: FastMap<String, Metadata>,
}

impl Exposition {
    /// The family a sample belongs to, and its metadata: the sample's own name if declared, else its
    /// name without the suffix its family type adds (`_bucket`, `_sum`, `_count`, `_created`, `_total`,
    /// `_info`, `_gcount`, `_gsum`).
    pub fn family_of<'a>(&'a self, name: &'a str) -> (&'a str, Option<&'a Metadata>) {
        const SUFFIXES: [(&str, &[MetricType]); 8] = [
            (
                "_bucket",
                &[MetricType::Histogram, MetricType::GaugeHistogram],
            ),
            ("_sum", &[MetricType::Histogram, MetricType::Summary]),
            ("_count", &[MetricType::Histogram, MetricType::Summary]),
            (
                "_created",
                &[
                    MetricType::Histogram,
                    MetricType::Summary,
                    MetricType::Counter,
                ],
            ),
            ("_total", &[MetricType::Counter]),
            ("_info", &[MetricType::Info]),
            ("_gcount", &[MetricType::GaugeHistogram]),
            ("_gsum", &[MetricType::GaugeHistogram]),
        ];
        if let Some(m) = self.metadata.get(name) {
            return (name, Some(m));
        }
        for (suffix, types) in SUFFIXES {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(m) = self.metadata.get(base) {
                    if types.contains(&m.mtype) {
                        return (base, Some(m));
                    }
                }
            }
        }
        (name, None)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parses a whole exposition. `openmetrics` selects OpenMetrics rules (seconds timestamps,
/// exemplars, `# EOF`).
pub fn parse(body: &str, openmetrics: bool) -> Result<Exposition, ParseError> {
    let lines = split_lines(body, openmetrics);
    let mut out = Exposition::default();
    let meta_error = parse_metadata(&lines.comments, openmetrics, &mut out.metadata).err();
    let stop = meta_error.as_ref().map_or(usize::MAX, |e| e.line);
    for &(line_no, line) in lines.samples.iter().take_while(|(n, _)| *n < stop) {
        out.samples
            .push(parse_sample(line, openmetrics).map_err(|m| ParseError {
                line: line_no,
                message: m,
            })?);
    }
    match meta_error.or(lines.end_error) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// A body cut into lines: comments and samples with their line numbers (blank lines and the
/// OpenMetrics `# EOF` left out), and the error of a body that does not end as its format
/// requires (content after `# EOF`, or no `# EOF`), found on the last line kept or after it.
#[derive(Debug, Default)]
pub struct Lines<'a> {
    pub comments: Vec<(usize, &'a str)>,
    pub samples: Vec<(usize, &'a str)>,
    pub end_error: Option<ParseError>,
}

/// `str::lines`, with memchr: lines end at `\n` or `\r\n`, the last one may lack it.
fn lines(body: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', body.as_bytes());
    std::iter::from_fn(move || {
        let line = match ends.next() {
            Some(end) => {
                let line = &body[start..end];
                start = end + 1;
                line.strip_suffix('\r').unwrap_or(line)
            }
            None if start < body.len() => {
                let line = &body[start..];
                start = body.len();
                line
            }
            None => return None,
        };
        Some(line)
    })
}

pub fn split_lines(body: &str, openmetrics: bool) -> Lines<'_> {
    let mut out = Lines::default();
    let mut saw_eof = false;
    let mut count = 0;
    for (i, raw) in lines(body).enumerate() {
        count = i + 1;
        if saw_eof {
            if raw.trim().is_empty() {
                continue;
            }
            out.end_error = Some(ParseError {
                line: i + 1,
                message: "content after # EOF".into(),
            });
            return out;
        }
        // Most lines are samples that start with their name: nothing to trim.
        if raw
            .as_bytes()
            .first()
            .is_some_and(|&c| NAME_CHARS[c as usize] & (LETTER | COLON) != 0)
        {
            out.samples.push((i + 1, raw));
            continue;
        }
        let line = if openmetrics { raw } else { raw.trim_start() };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            if openmetrics && rest.trim_start() == "EOF" {
                saw_eof = true;
            } else {
                out.comments.push((i + 1, line));
            }
            continue;
        }
        out.samples.push((i + 1, line));
    }
    if openmetrics && !saw_eof {
        out.end_error = Some(ParseError {
            line: count,
            message: "missing # EOF".into(),
        });
    }
    out
}

/// The `# HELP`, `# TYPE` and `# UNIT` comments into `metadata`; stops at the first comment
/// OpenMetrics does not allow (the text format ignores other comments).
pub fn parse_metadata(
    comments: &[(usize, &str)],
    openmetrics: bool,
    metadata: &mut FastMap<String, Metadata>,
) -> Result<(), ParseError> {
    for &(line_no, line) in comments {
        let rest = line.strip_prefix('#').unwrap_or(line).trim_start();
        let mut parts = rest.splitn(3, [' ', '\t']);
        let keyword = parts.next().unwrap_or("");
        let name = parts.next().unwrap_or("");
        let text = parts.next().unwrap_or("").trim_start();
        match keyword {
            "HELP" | "TYPE" | "UNIT" if !name.is_empty() => {
                let m = metadata.entry(name.to_string()).or_default();
                match keyword {
                    "HELP" => m.help = unescape_help(text),
                    "TYPE" => m.mtype = MetricType::parse(text.trim()),
                    _ => m.unit = text.trim().to_string(),
                }
            }
            _ if openmetrics => {
                return Err(ParseError {
                    line: line_no,
                    message: format!("unexpected comment {line:?}"),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What each byte may be in a metric or label name: a letter or `_` (anywhere), a digit (not
/// first), `:` (metric names only).
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const COLON: u8 = 4;
static NAME_CHARS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() || b == b'_' {
            LETTER
        } else if b.is_ascii_digit() {
            DIGIT
        } else if b == b':' {
            COLON
        } else {
            0
        };
        c += 1;
    }
    t
};

/// A cursor over one line. Every delimiter of the format is ASCII, so the line is scanned as bytes
/// (a UTF-8 continuation byte never equals an ASCII one) and cut only at ASCII positions.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }
    fn name(&mut self, metric: bool) -> Result<&'a str, String> {
        let start = self.pos;
        let colon = if metric { COLON } else { 0 };
        let bytes = self.s.as_bytes();
        if bytes
            .get(start)
            .is_some_and(|&c| NAME_CHARS[c as usize] & (LETTER | colon) != 0)
        {
            let mut i = start + 1;
            while bytes
                .get(i)
                .is_some_and(|&c| NAME_CHARS[c as usize] & (LETTER | DIGIT | colon) != 0)
            {
                i += 1;
            }
            self.pos = i;
        }
        if self.pos == start {
            return Err(format!("expected a name at {:?}", self.rest()));
        }
        Ok(&self.s[start..self.pos])
    }
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' {
                break;
            }
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }
    fn quoted(&mut self) -> Result<String, String> {
        if self.peek() != Some(b'"') {
            return Err("expected '\"' to open a label value".into());
        }
        self.pos += 1;
        let start = self.pos;
        let bytes = self.s.as_bytes();
        // Most values have no escape: one copy of the slice.
        let mut i = start;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(self.s[start..i].to_string());
                }
                b'\\' => break,
                _ => i += 1,
            }
        }
        let mut out = String::with_capacity(i - start + 8);
        out.push_str(&self.s[start..i]);
        let mut run = i;
        loop {
            match bytes.get(i) {
                None => return Err("unterminated label value".into()),
                Some(b'"') => {
                    out.push_str(&self.s[run..i]);
                    self.pos = i + 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.s[run..i]);
                    match bytes.get(i + 1) {
                        Some(b'n') => out.push('\n'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'"') => out.push('"'),
                        // Any other escaped character is kept with its backslash (below).
                        Some(_) => out.push('\\'),
                        None => return Err("unterminated label value".into()),
                    }
                    if matches!(bytes.get(i + 1), Some(b'n' | b'\\' | b'"')) {
                        i += 2;
                    } else {
                        i += 1;
                    }
                    run = i;
                }
                Some(_) => i += 1,
            }
        }
    }
    fn labels(&mut self, out: &mut Vec<(String, String)>) -> Result<(), String> {
        // The caller consumed '{'.
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(());
            }
            let name = self.name(false)?;
            self.skip_ws();
            if self.peek() != Some(b'=') {
                return Err(format!("expected '=' after label name {name:?}"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.quoted()?;
            if out.iter().any(|(k, _)| k == name) {
                return Err(format!("duplicate label {name:?}"));
            }
            out.push((name.to_string(), value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err("expected ',' or '}' in the label set".into()),
            }
        }
    }
}

pub fn parse_float(s: &str) -> Result<f64, String> {
    if let Some(v) = simple_decimal(s) {
        return Ok(v);
    }
    // Rust accepts "inf"/"infinity"/"nan" in any case, as Go's ParseFloat does.
    s.parse::<f64>().map_err(|_| format!("invalid value {s:?}"))
}

/// The common case, `-?digits(.digits)?` with at most 15 digits: the digits as an integer are
/// exact in an f64 (below 2^53), and so is 10^k for k <= 15, so one division gives the correctly
/// rounded value, the same as the full parser's.
fn simple_decimal(s: &str) -> Option<f64> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let mut mantissa = 0u64;
    let mut count = 0u32;
    let mut fraction: Option<u32> = None;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                count += 1;
                if let Some(f) = fraction.as_mut() {
                    *f += 1;
                }
                if count > 15 {
                    return None;
                }
            }
            b'.' if fraction.is_none() => fraction = Some(0),
            _ => return None,
        }
    }
    if count == 0 || fraction == Some(0) {
        return None;
    }
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let v = mantissa as f64 / POW10[fraction.unwrap_or(0) as usize];
    Some(if negative { -v } else { v })
}

fn parse_timestamp(s: &str, openmetrics: bool) -> Result<i64, String> {
    if openmetrics {
        let secs = parse_float(s)?;
        if !secs.is_finite() {
            return Err(format!("invalid timestamp {s:?}"));
        }
        Ok((secs * 1000.0).round() as i64)
    } else {
        s.parse::<i64>()
            .map_err(|_| format!("invalid timestamp {s:?}"))
    }
}

fn parse_sample(line: &str, openmetrics: bool) -> Result<Sample, String> {
    let mut c = Cursor { s: line, pos: 0 };
    let labels = c.series()?;
    let (value, timestamp_ms, exemplar) = c.sample_rest(openmetrics)?;
    Ok(Sample {
        labels,
        value,
        timestamp_ms,
        exemplar,
        extra: None,
    })
}

/// A sample line cut after its series, `name{labels}` exactly as written: what a scrape cache
/// keys on (the same bytes always parse to the same labels, see [`parse_series`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleLine<'a> {
    pub series: &'a str,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<Exemplar>,
}

/// Splits a sample line without reading its labels: finds where the label set ends (quotes and
/// escapes respected) and parses what follows. A line this rejects gets [`parse`]'s error for it.
pub fn split_sample(line: &str, openmetrics: bool) -> Result<SampleLine<'_>, String> {
    let mut c = Cursor { s: line, pos: 0 };
    let split = c.skip_series(openmetrics).and_then(|series_end| {
        let (value, timestamp_ms, exemplar) = c.sample_rest(openmetrics)?;
        Ok(SampleLine {
            series: &line[..series_end],
            value,
            timestamp_ms,
            exemplar,
        })
    });
    split.map_err(|e| parse_sample(line, openmetrics).err().unwrap_or(e))
}

/// The labels (with `__name__` first) of `line`'s series (its [`SampleLine::series`]); a line this
/// rejects gets [`parse`]'s error for it.
pub fn parse_series_of(
    line: &str,
    series: &str,
    openmetrics: bool,
) -> Result<Vec<(String, String)>, String> {
    parse_series(series).map_err(|e| parse_sample(line, openmetrics).err().unwrap_or(e))
}

/// The labels (with `__name__` first) of a [`SampleLine`]'s series.
pub fn parse_series(series: &str) -> Result<Vec<(String, String)>, String> {
    let mut c = Cursor { s: series, pos: 0 };
    let labels = c.series()?;
    if !c.rest().is_empty() {
        return Err(format!("unexpected {:?} after the series", c.rest()));
    }
    Ok(labels)
}

impl<'a> Cursor<'a> {
    /// The metric name and label set.
    fn series(&mut self) -> Result<Vec<(String, String)>, String> {
        let name = self.name(true)?;
        let mut labels = Vec::with_capacity(8);
        labels.push(("__name__".to_string(), name.to_string()));
        self.skip_ws();
        if self.peek() == Some(b'{') {
            self.pos += 1;
            self.labels(&mut labels)?;
        }
        Ok(labels)
    }

    /// Moves past the series as [`Cursor::series`] does, without building labels; returns where
    /// the series ends (after the name, or after the label set's `}`).
    fn skip_series(&mut self, openmetrics: bool) -> Result<usize, String> {
        self.name(true)?;
        let end = self.pos;
        self.skip_ws();
        if self.peek() != Some(b'{') {
            return Ok(end);
        }
        let bytes = self.s.as_bytes();
        if !openmetrics {
            // In the text format nothing after a valid label set (value, timestamp) contains a
            // '}': the last one ends the set, and a line where it does not is an error anyway.
            let mut i = bytes.len();
            while i > self.pos + 1 {
                i -= 1;
                if bytes[i] == b'}' {
                    self.pos = i + 1;
                    return Ok(self.pos);
                }
            }
            return Err("unterminated label set".into());
        }
        // OpenMetrics exemplars have label sets too: scan forward. Outside quotes the set ends
        // at '}'; inside, a backslash escapes the next byte.
        let mut i = self.pos + 1;
        let mut quoted = false;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'}' if !quoted => {
                    self.pos = i + 1;
                    return Ok(self.pos);
                }
                _ => {}
            }
            i += 1;
        }
        Err("unterminated label set".into())
    }

    /// Value, timestamp and (OpenMetrics) exemplar, after the series.
    fn sample_rest(
        &mut self,
        openmetrics: bool,
    ) -> Result<(f64, Option<i64>, Option<Exemplar>), String> {
        let c = self;
        c.skip_ws();
        let value = parse_float(c.token())?;
        c.skip_ws();
        let mut timestamp_ms = None;
        let mut exemplar = None;
        if !c.rest().is_empty() && c.peek() != Some(b'#') {
            timestamp_ms = Some(parse_timestamp(c.token(), openmetrics)?);
            c.skip_ws();
        }
        if c.peek() == Some(b'#') && openmetrics {
            c.pos += 1;
            c.skip_ws();
            if c.peek() != Some(b'{') {
                return Err("expected '{' to open an exemplar".into());
            }
            c.pos += 1;
            let mut ex_labels = Vec::new();
            c.labels(&mut ex_labels)?;
            c.skip_ws();
            let v = parse_float(c.token())?;
            c.skip_ws();
            let ts = if c.rest().trim().is_empty() {
                None
            } else {
                Some(parse_timestamp(c.token(), true)?)
            };
            exemplar = Some(Exemplar {
                labels: ex_labels,
                value: v,
                timestamp_ms: ts,
            });
            c.skip_ws();
        }
        if !c.rest().trim().is_empty() {
            return Err(format!("unexpected {:?} after the sample", c.rest()));
        }
        Ok((value, timestamp_ms, exemplar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let body = "# HELP http_requests_total The total.\n# TYPE http_requests_total counter\n\
            http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
            http_requests_total{method=\"a\\\"b\\\\c\\nd\"} 3\n\
            # TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 1.5\nlat_count 2\n\
            plain +Inf\nnan NaN\n";
        let e = parse(body, false).unwrap();
        assert_eq!(e.samples.len(), 8);
        assert_eq!(e.samples[0].timestamp_ms, Some(1395066363000));
        assert_eq!(e.samples[1].labels[1].1, "a\"b\\c\nd");
        assert_eq!(e.family_of("lat_bucket").0, "lat");
        assert_eq!(
            e.family_of("lat_count").1.map(|m| m.mtype),
            Some(MetricType::Histogram)
        );
        assert_eq!(e.family_of("http_requests_total").0, "http_requests_total");
        assert!(e.samples[6].value.is_infinite());
        assert!(e.samples[7].value.is_nan());
        assert_eq!(
            e.metadata["http_requests_total"].help,
            "The total.".to_string()
        );
    }

    #[test]
    fn openmetrics_format() {
        let body = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total{a=\"1\"} 17 1520879607.789 # {trace_id=\"abc\"} 1.0 1520879607.7\nfoo_created 1520430000.123\n# EOF\n";
        let e = parse(body, true).unwrap();
        assert_eq!(e.samples.len(), 2);
        assert_eq!(e.samples[0].timestamp_ms, Some(1520879607789));
        assert_eq!(e.family_of("foo_total").0, "foo");
        assert_eq!(e.family_of("foo_created").0, "foo");
        assert_eq!(e.metadata["foo"].unit, "seconds");
        let ex = e.samples[0].exemplar.as_ref().unwrap();
        assert_eq!(ex.labels, vec![("trace_id".into(), "abc".into())]);
        assert!(parse("foo 1\n", true).is_err(), "missing EOF");
        assert!(parse("# EOF\nfoo 1\n", true).is_err());
    }

    #[test]
    fn lines_are_str_lines() {
        for body in [
            "",
            "\n",
            "a",
            "a\n",
            "a\r\nb",
            "a\rb\r",
            "a\r\n\r\n",
            "\r",
            "x\n\ny\r\n",
            "é\nü",
        ] {
            assert_eq!(
                lines(body).collect::<Vec<_>>(),
                body.lines().collect::<Vec<_>>(),
                "{body:?}"
            );
        }
    }

    #[test]
    fn split_sample_finds_the_series_as_the_parser_does() {
        for (line, series) in [
            ("a 1", "a"),
            ("a{x=\"}\"} 1 2", "a{x=\"}\"}"),
            ("a {x=\"\\\"}\\\\\"} 1", "a {x=\"\\\"}\\\\\"}"),
            ("a{} -Inf", "a{}"),
        ] {
            for om in [false, true] {
                let s = split_sample(line, om).unwrap();
                assert_eq!(s.series, series, "{line}");
                assert_eq!(
                    parse_series(s.series).unwrap(),
                    parse_sample(line, om).unwrap().labels
                );
            }
        }
        let om = "a{x=\"1\"} 2 # {t=\"}\"} 3";
        assert_eq!(split_sample(om, true).unwrap().series, "a{x=\"1\"}");
        for bad in ["a{x=\"1\"} 1}", "a{x=\"1\" 1", "a{x=\"1\"}} 1", "a{x=1} 1"] {
            for om in [false, true] {
                let split = split_sample(bad, om)
                    .and_then(|s| parse_series_of(bad, s.series, om).map(|_| ()));
                assert_eq!(
                    split.unwrap_err(),
                    parse_sample(bad, om).unwrap_err(),
                    "{bad}"
                );
            }
        }
    }

    #[test]
    fn simple_decimals_parse_as_the_full_parser_does() {
        for s in [
            "0",
            "-0",
            "1",
            "12.5",
            "-3.25",
            "0.1",
            "0.3",
            "123456789012345",
            "1234567.12345678",
            "99999999999999.9",
            "0.000000000000001",
            "007",
            "1.0",
            "42.",
        ] {
            let want: f64 = s.parse().unwrap();
            assert_eq!(parse_float(s).unwrap().to_bits(), want.to_bits(), "{s}");
        }
        for s in [
            "",
            "-",
            ".",
            "-.",
            ".5",
            "1.2.3",
            "1e3",
            "+1",
            "1_0",
            "1234567890123456",
        ] {
            assert_eq!(
                parse_float(s).ok().map(f64::to_bits),
                s.parse::<f64>().ok().map(f64::to_bits),
                "{s}"
            );
        }
        // Every decimal with up to 15 digits and any point position, sampled.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = 1 + (x % 15) as usize;
            let m = x % 10u64.pow(digits as u32);
            let mut t = format!("{m:0digits$}");
            let point = (x >> 40) as usize % (digits + 1);
            if point < digits {
                t.insert(point.max(1), '.');
            }
            let want: f64 = t.parse().unwrap();
            assert_eq!(parse_float(&t).unwrap().to_bits(), want.to_bits(), "{t}");
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [
            "x{",
            "x{a=\"}",
            "x{a=1} 2",
            "x 1 2 3",
            "x{a=\"1\",a=\"2\"} 1",
            "{} 1",
            "x abc",
            "x{a=\"é\"} 1 9999999999999999999999",
            "é 1",
        ] {
            assert!(parse(bad, false).is_err(), "{bad}");
        }
        assert!(parse("x{a=\"é\"} 1", false).is_ok());
    }
}
