//! `timestamp:` blocks and the `time_parser`: strptime, Go reference layouts (`gotime`) and epoch.
//!
//! Supported strptime directives: `%Y %y %m %d %e %H %I %p %M %S %f %L %s %z %Z %b %h %B %a %A %j %T %D %F
//! %%`; `%Z` accepts `UTC`, `GMT`, `Z` and fixed offsets. Go layouts are translated to the same set
//! (`2006 06 01 Jan January 02 _2 15 03 PM 04 05 .000 .999999999 Z07:00 -0700 MST Mon Monday`).
//! `location` names other than `UTC`/`Local` are not resolved (a warning says so); times without an
//! offset are taken as UTC.

use serde::Deserialize;
use serde_json::Value;

use super::entry::{as_text, Entry, Field};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeConfig {
    #[serde(default = "default_time_from")]
    pub parse_from: Field,
    #[serde(default = "default_layout_type")]
    pub layout_type: String,
    #[serde(default)]
    pub layout: String,
    #[serde(default)]
    pub location: Option<String>,
}

fn default_time_from() -> Field {
    Field::attr("time")
}
fn default_layout_type() -> String {
    "strptime".into()
}

#[derive(Debug, Clone)]
pub enum Layout {
    Strptime(Vec<Piece>),
    Epoch(EpochUnit),
}

#[derive(Debug, Clone, Copy)]
pub enum EpochUnit {
    S,
    Ms,
    Us,
    Ns,
    SMs,
    SUs,
    SNs,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Lit(char),
    Dir(char),
}

#[derive(Debug, Clone)]
pub struct TimeParser {
    pub parse_from: Field,
    pub layout: Layout,
}

impl TimeConfig {
    pub fn build(&self) -> Result<TimeParser, String> {
        let layout = match self.layout_type.as_str() {
            "strptime" => Layout::Strptime(strptime_pieces(&self.layout)?),
            "gotime" => Layout::Strptime(strptime_pieces(&gotime_to_strptime(&self.layout))?),
            "epoch" => Layout::Epoch(match self.layout.as_str() {
                "s" => EpochUnit::S,
                "ms" => EpochUnit::Ms,
                "us" => EpochUnit::Us,
                "ns" => EpochUnit::Ns,
                "s.ms" => EpochUnit::SMs,
                "s.us" => EpochUnit::SUs,
                "s.ns" => EpochUnit::SNs,
                l => {
                    return Err(format!(
                        "invalid epoch layout {l:?} (s, ms, us, ns, s.ms, s.us, s.ns)"
                    ))
                }
            }),
            t => {
                return Err(format!(
                    "invalid layout_type {t:?} (strptime, gotime, epoch)"
                ))
            }
        };
        if self.layout.is_empty() {
            return Err("missing required field layout".into());
        }
        Ok(TimeParser {
            parse_from: self.parse_from.clone(),
            layout,
        })
    }

    pub fn warnings(&self) -> Vec<String> {
        match self.location.as_deref() {
            None | Some("UTC") | Some("Local") | Some("") => vec![],
            Some(l) => vec![format!(
                "location {l:?} is not resolved: times without an offset are taken as UTC"
            )],
        }
    }
}

impl TimeParser {
    pub fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let v = e
            .get(&self.parse_from)
            .ok_or_else(|| format!("time field {} is missing", self.parse_from))?;
        e.timestamp = self.parse_value(v)?;
        Ok(())
    }

    pub fn parse_value(&self, v: &Value) -> Result<u64, String> {
        match &self.layout {
            Layout::Epoch(u) => {
                let f = match v {
                    Value::Number(n) => n.as_f64().unwrap_or(0.0),
                    Value::String(s) => s
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| format!("invalid epoch time {s:?}"))?,
                    _ => return Err("epoch time must be a number or a string".into()),
                };
                // Integer units parse exactly from text; fractional ones through f64.
                let exact = v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
                let ns = match (u, exact) {
                    (EpochUnit::S, Some(i)) => i.saturating_mul(1_000_000_000),
                    (EpochUnit::Ms, Some(i)) => i.saturating_mul(1_000_000),
                    (EpochUnit::Us, Some(i)) => i.saturating_mul(1_000),
                    (EpochUnit::Ns, Some(i)) => i,
                    (EpochUnit::S | EpochUnit::SMs | EpochUnit::SUs | EpochUnit::SNs, _) => {
                        (f * 1e9) as u64
                    }
                    (EpochUnit::Ms, None) => (f * 1e6) as u64,
                    (EpochUnit::Us, None) => (f * 1e3) as u64,
                    (EpochUnit::Ns, None) => f as u64,
                };
                Ok(ns)
            }
            Layout::Strptime(p) => strptime(p, &as_text(v)),
        }
    }
}

pub fn strptime_pieces(layout: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut it = layout.chars();
    while let Some(c) = it.next() {
        if c == '%' {
            let d = it.next().ok_or("layout ends with %")?;
            match d {
                'T' => out.extend(strptime_pieces("%H:%M:%S")?),
                'D' => out.extend(strptime_pieces("%m/%d/%y")?),
                'F' => out.extend(strptime_pieces("%Y-%m-%d")?),
                '%' => out.push(Piece::Lit('%')),
                'Y' | 'y' | 'm' | 'd' | 'e' | 'H' | 'I' | 'p' | 'M' | 'S' | 'f' | 'L' | 's'
                | 'z' | 'Z' | 'b' | 'h' | 'B' | 'a' | 'A' | 'j' => out.push(Piece::Dir(d)),
                other => return Err(format!("unsupported strptime directive %{other}")),
            }
        } else {
            out.push(Piece::Lit(c));
        }
    }
    Ok(out)
}

/// Translates a Go reference layout to strptime.
pub fn gotime_to_strptime(l: &str) -> String {
    const MAP: &[(&str, &str)] = &[
        ("January", "%B"),
        ("Monday", "%A"),
        ("Z07:00", "%z"),
        ("-07:00", "%z"),
        ("-0700", "%z"),
        ("Z0700", "%z"),
        (".000000000", ".%f"),
        (".999999999", ".%f"),
        (".000000", ".%f"),
        (".999999", ".%f"),
        (".000", ".%f"),
        (".999", ".%f"),
        ("2006", "%Y"),
        ("Jan", "%b"),
        ("Mon", "%a"),
        ("MST", "%Z"),
        ("01", "%m"),
        ("02", "%d"),
        ("_2", "%e"),
        ("15", "%H"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("PM", "%p"),
    ];
    let mut out = String::new();
    let mut rest = l;
    'outer: while !rest.is_empty() {
        for (go, sp) in MAP {
            if let Some(r) = rest.strip_prefix(go) {
                out.push_str(sp);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("non-empty");
        if c == '%' {
            out.push('%');
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn num(s: &[u8], i: &mut usize, max: usize) -> Result<i64, String> {
    let start = *i;
    while *i < s.len() && *i - start < max && s[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i == start {
        return Err("expected a number".into());
    }
    std::str::from_utf8(&s[start..*i])
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| "bad number".into())
}

fn name(s: &[u8], i: &mut usize, names: &[&str]) -> Result<usize, String> {
    let rest = std::str::from_utf8(&s[*i..])
        .unwrap_or("")
        .to_ascii_lowercase();
    // Full names first, then three-letter abbreviations.
    for (n, full) in names.iter().enumerate() {
        if rest.starts_with(full) {
            *i += full.len();
            return Ok(n);
        }
    }
    for (n, full) in names.iter().enumerate() {
        if rest.starts_with(&full[..3]) {
            *i += 3;
            return Ok(n);
        }
    }
    Err("expected a month or day name".into())
}

/// `YYYY-MM-DDTHH:MM:SS.fZ` (1 to 9 fraction digits, UTC) in Unix nanoseconds: the container
/// runtimes' timestamps, read without the general parser. `None` for any other text (then
/// [`strptime`] decides); where both parse, they agree.
pub fn rfc3339_utc(text: &str) -> Option<u64> {
    let s = text.as_bytes();
    let (date, rest) = (s.get(..20)?, s.get(20..)?);
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        date[r].iter().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    if date[4] != b'-'
        || date[7] != b'-'
        || date[10] != b'T'
        || date[13] != b':'
        || date[16] != b':'
        || date[19] != b'.'
    {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi, sec) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let (frac, zone) = rest.split_at(rest.len().checked_sub(1)?);
    if zone != b"Z" || frac.is_empty() || frac.len() > 9 {
        return None;
    }
    let mut ns = 0i64;
    for c in frac {
        if !c.is_ascii_digit() {
            return None;
        }
        ns = ns * 10 + i64::from(c - b'0');
    }
    ns *= 10i64.pow(9 - frac.len() as u32);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(y, mo as u32, d as u32) * 86400 + h * 3600 + mi * 60 + sec;
    if secs < 0 {
        return Some(0);
    }
    Some(
        (secs as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ns as u64),
    )
}

/// Parses `text` with strptime pieces into Unix nanoseconds.
pub fn strptime(pieces: &[Piece], text: &str) -> Result<u64, String> {
    strptime_zoned(pieces, text, &|secs| secs)
}

/// [`strptime`] with a time zone for texts that carry no offset: `to_utc` maps wall-clock seconds
/// (counted as if UTC) to Unix seconds. A `%Z` abbreviation other than UTC/GMT/Z is skipped with
/// a zero offset, as Go's parser does for abbreviations it does not know.
pub fn strptime_zoned(
    pieces: &[Piece],
    text: &str,
    to_utc: &dyn Fn(i64) -> i64,
) -> Result<u64, String> {
    let s = text.as_bytes();
    let mut had_zone = false;
    let mut i = 0;
    let (mut y, mut mo, mut d, mut h, mut mi, mut sec, mut ns) =
        (1970i64, 1u32, 1u32, 0i64, 0i64, 0i64, 0i64);
    let mut off_s = 0i64;
    let mut pm: Option<bool> = None;
    let mut epoch: Option<i64> = None;
    let mut yday: Option<i64> = None;
    let err = |what: &str| format!("cannot parse {text:?}: {what}");
    for p in pieces {
        match p {
            Piece::Lit(c) => {
                let mut buf = [0u8; 4];
                let enc = c.encode_utf8(&mut buf).as_bytes();
                if c.is_whitespace() {
                    while i < s.len() && s[i].is_ascii_whitespace() {
                        i += 1;
                    }
                } else if s.get(i..i + enc.len()) == Some(enc) {
                    i += enc.len();
                } else {
                    return Err(err(&format!("expected {c:?} at {i}")));
                }
            }
            Piece::Dir(dch) => {
                let r: Result<(), String> = (|| {
                    match dch {
                        'Y' => {
                            let neg = s.get(i) == Some(&b'-');
                            if neg {
                                i += 1;
                            }
                            y = num(s, &mut i, 4)?;
                            if neg {
                                y = -y;
                            }
                        }
                        'y' => {
                            let v = num(s, &mut i, 2)?;
                            y = if v < 69 { 2000 + v } else { 1900 + v };
                        }
                        'm' => mo = num(s, &mut i, 2)? as u32,
                        'd' => d = num(s, &mut i, 2)? as u32,
                        'e' => {
                            while s.get(i) == Some(&b' ') {
                                i += 1;
                            }
                            d = num(s, &mut i, 2)? as u32
                        }
                        'H' | 'I' => h = num(s, &mut i, 2)?,
                        'M' => mi = num(s, &mut i, 2)?,
                        'S' => sec = num(s, &mut i, 2)?,
                        'j' => yday = Some(num(s, &mut i, 3)?),
                        'f' | 'L' => {
                            let start = i;
                            let v = num(s, &mut i, 9)?;
                            let digits = (i - start) as u32;
                            ns = v * 10i64.pow(9 - digits);
                            while i < s.len() && s[i].is_ascii_digit() {
                                i += 1;
                            }
                        }
                        's' => epoch = Some(num(s, &mut i, 19)?),
                        'p' => {
                            let t = s
                                .get(i..i + 2)
                                .ok_or("expected AM/PM")?
                                .to_ascii_uppercase();
                            pm = Some(match &t[..] {
                                b"AM" => false,
                                b"PM" => true,
                                _ => return Err("expected AM/PM".into()),
                            });
                            i += 2;
                        }
                        'b' | 'h' | 'B' => mo = name(s, &mut i, &MONTHS)? as u32 + 1,
                        'a' | 'A' => {
                            name(s, &mut i, &DAYS)?;
                        }
                        'Z' if s.get(i).is_some_and(|c| c.is_ascii_alphabetic())
                            && s.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) =>
                        {
                            had_zone = true;
                            while s.get(i).is_some_and(|c| c.is_ascii_alphabetic()) {
                                i += 1;
                            }
                        }
                        'z' | 'Z' => {
                            had_zone = true;
                            if s.get(i) == Some(&b'Z') {
                                i += 1;
                            } else if s.get(i..i + 3) == Some(b"UTC")
                                || s.get(i..i + 3) == Some(b"GMT")
                            {
                                i += 3;
                            } else {
                                let sign = match s.get(i) {
                                    Some(b'+') => 1,
                                    Some(b'-') => -1,
                                    _ => return Err("expected a time zone offset".into()),
                                };
                                i += 1;
                                let hh = num(s, &mut i, 2)?;
                                if s.get(i) == Some(&b':') {
                                    i += 1;
                                }
                                let mm = num(s, &mut i, 2).unwrap_or(0);
                                off_s = sign * (hh * 3600 + mm * 60);
                            }
                        }
                        _ => return Err(format!("unsupported directive %{dch}")),
                    }
                    Ok(())
                })();
                r.map_err(|e| err(&e))?;
            }
        }
    }
    if i != s.len() {
        return Err(err("trailing characters"));
    }
    if let Some(e) = epoch {
        return Ok((e.max(0) as u64).saturating_mul(1_000_000_000));
    }
    match pm {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        _ => {}
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(err("field out of range"));
    }
    let days = match yday {
        Some(j) => days_from_civil(y, 1, 1) + j - 1,
        None => days_from_civil(y, mo, d),
    };
    let wall = days * 86400 + h * 3600 + mi * 60 + sec;
    let secs = if had_zone { wall - off_s } else { to_utc(wall) };
    if secs < 0 {
        return Ok(0);
    }
    Ok((secs as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ns as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(layout: &str, t: &str) -> u64 {
        strptime(&strptime_pieces(layout).unwrap(), t).unwrap()
    }

    #[test]
    fn layouts() {
        assert_eq!(
            p("%Y-%m-%dT%H:%M:%S.%fZ", "2024-01-02T03:04:05.5Z"),
            1_704_164_645_500_000_000
        );
        assert_eq!(
            p("%Y-%m-%dT%H:%M:%S%z", "2024-01-02T04:04:05+01:00"),
            1_704_164_645_000_000_000
        );
        assert_eq!(p("%b %e %H:%M:%S", "Jan  2 03:04:05") % 1_000_000_000, 0);
        assert_eq!(
            p("%d/%b/%Y:%H:%M:%S %z", "02/Jan/2024:03:04:05 +0000"),
            1_704_164_645_000_000_000
        );
        let go = gotime_to_strptime("2006-01-02T15:04:05.999999999Z07:00");
        assert_eq!(
            p(&go, "2024-01-02T03:04:05.123456789Z"),
            1_704_164_645_123_456_789
        );
        assert!(strptime(&strptime_pieces("%Y").unwrap(), "x").is_err());
    }

    #[test]
    fn rfc3339_utc_agrees_with_strptime() {
        let layout = strptime_pieces("%Y-%m-%dT%H:%M:%S.%f%z").unwrap();
        for t in [
            "2024-01-02T03:04:05.123456789Z",
            "2024-01-02T03:04:05.5Z",
            "2024-02-29T23:59:60.000001Z",
            "1969-12-31T23:59:59.9Z",
            "0000-01-01T00:00:00.1Z",
            "9999-12-31T23:59:59.999999999Z",
        ] {
            assert_eq!(rfc3339_utc(t), Some(strptime(&layout, t).unwrap()), "{t}");
        }
        // Not its form, or out of range: left to strptime.
        for t in [
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05.1234567891Z",
            "2024-01-02T03:04:05.123+01:00",
            "2024-01-02 03:04:05.1Z",
            "2024-13-02T03:04:05.1Z",
            "2024-01-02T24:04:05.1Z",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05.1Zx",
            "2024-01-0xT03:04:05.1Z",
            "2024-01-02T03:04:05.1",
            "",
            "é",
        ] {
            assert_eq!(rfc3339_utc(t), None, "{t}");
        }
    }
}
