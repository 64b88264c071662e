//! OpenTelemetry consistent probability sampling (OTEP 235) as otelcol's `pkg/sampling` implements it:
//! 56-bit randomness and rejection thresholds, the `th`/`rv` values of the `ot` entry in W3C
//! `tracestate`, and the legacy FNV-1a hash of the `hash_seed` mode.

/// 2^56: the number of distinct randomness values, and the "never sample" threshold.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
const NUM_HEX_DIGITS: i32 = 14;
const HEX_BITS: i32 = 4;
/// The smallest probability a threshold can express.
pub const MIN_SAMPLING_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;

/// The legacy hash: 2^14 buckets.
pub const NUM_HASH_BUCKETS_LG2: u32 = 14;
pub const NUM_HASH_BUCKETS: u32 = 1 << NUM_HASH_BUCKETS_LG2;
pub const BIT_MASK_HASH_BUCKETS: u32 = NUM_HASH_BUCKETS - 1;
/// `numHashBuckets / 100.0`, computed (as otelcol does) in 32-bit float.
pub const PERCENTAGE_SCALE_FACTOR: f32 = NUM_HASH_BUCKETS as f32 / 100.0;

/// A rejection threshold: an item is sampled when its randomness is at least the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(pub u64);

impl Threshold {
    pub const ALWAYS: Threshold = Threshold(0);
    pub const NEVER: Threshold = Threshold(MAX_ADJUSTED_COUNT);

    pub fn should_sample(self, randomness: u64) -> bool {
        randomness >= self.0
    }

    /// The sampling probability this threshold stands for.
    pub fn probability(self) -> f64 {
        (MAX_ADJUSTED_COUNT - self.0.min(MAX_ADJUSTED_COUNT)) as f64 / MAX_ADJUSTED_COUNT as f64
    }

    /// The `th` value: 14 hex digits with trailing zeros removed; `0` for always, empty for never.
    pub fn tvalue(self) -> String {
        match self {
            Threshold::ALWAYS => "0".into(),
            Threshold::NEVER => String::new(),
            Threshold(t) => {
                let s = format!("{t:014x}");
                s.trim_end_matches('0').to_string()
            }
        }
    }

    /// Parses a `th` value: 1 to 14 hex digits, right-padded with zeros.
    pub fn from_tvalue(s: &str) -> Result<Threshold, String> {
        if s.is_empty() || s.len() > NUM_HEX_DIGITS as usize {
            return Err(format!("t-value {s:?} must have 1 to 14 hex digits"));
        }
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("t-value {s:?} is not hex"));
        }
        let v = u64::from_str_radix(s, 16).map_err(|e| e.to_string())?;
        Ok(Threshold(v << (HEX_BITS as usize * (14 - s.len()))))
    }
}

/// Parses an `rv` value: exactly 14 hex digits.
pub fn rvalue_to_randomness(s: &str) -> Result<u64, String> {
    if s.len() != NUM_HEX_DIGITS as usize || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("r-value {s:?} must be 14 hex digits"));
    }
    u64::from_str_radix(s, 16).map_err(|e| e.to_string())
}

pub fn randomness_to_rvalue(r: u64) -> String {
    format!("{:014x}", r & (MAX_ADJUSTED_COUNT - 1))
}

/// W3C trace context level 2: the randomness is the trace id's least-significant 56 bits.
pub fn trace_id_randomness(trace_id: &[u8]) -> u64 {
    let mut r = 0u64;
    for b in trace_id.iter().rev().take(7).rev() {
        r = (r << 8) | u64::from(*b);
    }
    r
}

/// `math.Frexp`'s exponent: x = frac × 2^exp with frac in [0.5, 1).
fn frexp_exp(x: f64) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    let bits = x.abs().to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: normalise first.
        return frexp_exp(x * (1u64 << 54) as f64) - 54;
    }
    exp - 1022
}

/// A probability as a threshold with `precision` hex digits (more near 0 and 1 to keep the relative
/// error small). `None` when the probability is out of range.
pub fn probability_to_threshold(fraction: f64, precision: i32) -> Option<Threshold> {
    if !(MIN_SAMPLING_PROBABILITY..=1.0).contains(&fraction) {
        return None;
    }
    if fraction == 1.0 {
        return Some(Threshold::ALWAYS);
    }
    let exp_f = frexp_exp(fraction);
    let exp_r = frexp_exp(1.0 - fraction);
    // Precision 0 (never from a validated config) means full precision.
    let precision = if precision <= 0 {
        NUM_HEX_DIGITS
    } else {
        precision
    };
    let precision =
        NUM_HEX_DIGITS.min((precision + exp_f / -HEX_BITS).max(precision + exp_r / -HEX_BITS));
    let scaled = (fraction * MAX_ADJUSTED_COUNT as f64).round() as u64;
    let mut threshold = MAX_ADJUSTED_COUNT.saturating_sub(scaled);
    let shift = HEX_BITS * (NUM_HEX_DIGITS - precision);
    if shift > 0 {
        let half = 1u64 << (shift - 1);
        threshold += half;
        threshold >>= shift;
        threshold <<= shift;
    }
    Some(Threshold(threshold))
}

/// FNV-1a (32 bit) over the seed's four little-endian bytes, then `b`: otelcol's `computeHash`.
pub fn compute_hash(b: &[u8], seed: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for byte in seed.to_le_bytes().iter().chain(b) {
        h ^= u32::from(*byte);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The legacy hash made into 56-bit randomness so that `threshold.should_sample` decides exactly
/// as `hash & 0x3fff < scaled_rate` did: the top 14 bits are the inverted bucket.
pub fn randomness_from_bytes(b: &[u8], seed: u32) -> u64 {
    let hashed32 = compute_hash(b, seed);
    let hashed = u64::from(hashed32 & BIT_MASK_HASH_BUCKETS);
    let rprime14 = u64::from(NUM_HASH_BUCKETS) - 1 - hashed;
    let unused18 = u64::from(hashed32 >> (32 - NUM_HASH_BUCKETS_LG2));
    let mixed28 = unused18 ^ (unused18 << 10);
    (rprime14 << 42) | (mixed28 << 14) | hashed
}

/// The `ot` entry of a W3C `tracestate`, and the other vendors' entries kept in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceState {
    pub threshold: Option<Threshold>,
    pub tvalue: String,
    pub randomness: Option<u64>,
    /// The `rv` value as it arrived (case kept), or as generated.
    pub rvalue: String,
    /// Other `key:value` fields of the `ot` entry, in order.
    pub ot_extra: Vec<String>,
    /// Other vendors' `key=value` entries, in order.
    pub others: Vec<String>,
}

impl TraceState {
    /// Parses a tracestate; an invalid `ot` entry is an error (otelcol then fails open or closed).
    pub fn parse(raw: &str) -> Result<TraceState, String> {
        let mut ts = TraceState::default();
        for entry in raw.split(',') {
            let entry = entry.trim_matches([' ', '\t']);
            if entry.is_empty() {
                continue;
            }
            let Some((key, value)) = entry.split_once('=') else {
                return Err(format!("tracestate entry {entry:?} has no '='"));
            };
            if key.is_empty() {
                return Err(format!("tracestate entry {entry:?} has an empty key"));
            }
            if key != "ot" {
                ts.others.push(entry.to_string());
                continue;
            }
            if value.len() > 256 {
                return Err("tracestate ot entry is longer than 256 bytes".into());
            }
            for field in value.split(';') {
                if field.is_empty() {
                    continue;
                }
                let Some((k, v)) = field.split_once(':') else {
                    return Err(format!("tracestate ot field {field:?} has no ':'"));
                };
                match k {
                    "th" => {
                        ts.threshold = Some(Threshold::from_tvalue(v)?);
                        ts.tvalue = v.to_string();
                    }
                    "rv" => {
                        ts.randomness = Some(rvalue_to_randomness(v)?);
                        ts.rvalue = v.to_string();
                    }
                    _ => ts.ot_extra.push(field.to_string()),
                }
            }
        }
        Ok(ts)
    }

    /// Sets `th` after a positive decision, refusing to raise the probability of an arriving `th`
    /// (otelcol's `UpdateTValueWithSampling`).
    pub fn update_threshold(&mut self, th: Threshold) -> Result<(), &'static str> {
        if let Some(existing) = self.threshold {
            if !self.tvalue.is_empty() && existing > th {
                return Err("inconsistent sampling: the threshold may not be lowered");
            }
        }
        self.threshold = Some(th);
        self.tvalue = th.tvalue();
        Ok(())
    }

    pub fn clear_threshold(&mut self) {
        self.threshold = None;
        self.tvalue.clear();
    }

    pub fn set_randomness(&mut self, r: u64) {
        self.randomness = Some(r);
        self.rvalue = randomness_to_rvalue(r);
    }

    /// `ot` first (rv, th, the rest, as otelcol writes it), then the other vendors' entries.
    pub fn serialize(&self) -> String {
        let mut fields = Vec::new();
        if !self.rvalue.is_empty() {
            fields.push(format!("rv:{}", self.rvalue));
        }
        if !self.tvalue.is_empty() {
            fields.push(format!("th:{}", self.tvalue));
        }
        fields.extend(self.ot_extra.iter().cloned());
        let mut entries = Vec::new();
        if !fields.is_empty() {
            entries.push(format!("ot={}", fields.join(";")));
        }
        entries.extend(self.others.iter().cloned());
        entries.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a reference values (Go's `hash/fnv` on the same bytes).
    #[test]
    fn fnv1a_matches_reference() {
        // FNV-1a 32 of the empty input is the offset basis; of "a" is 0xe40c292c.
        let mut h: u32 = 0x811c_9dc5;
        for b in b"a" {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
        assert_eq!(h, 0xe40c_292c);
        // With the seed's bytes written first: seed 0 is four zero bytes.
        let mut manual: u32 = 0x811c_9dc5;
        for b in [0u8, 0, 0, 0, b'a'] {
            manual ^= u32::from(b);
            manual = manual.wrapping_mul(0x0100_0193);
        }
        assert_eq!(compute_hash(b"a", 0), manual);
        assert_ne!(compute_hash(b"a", 1), compute_hash(b"a", 0));
    }

    #[test]
    fn hash_randomness_decides_as_the_legacy_comparison() {
        for pct in [0.5f32, 1.0, 10.0, 33.3, 50.0, 99.9] {
            let scaled = (pct * PERCENTAGE_SCALE_FACTOR) as u32;
            let th = Threshold(u64::from(NUM_HASH_BUCKETS - scaled) << 42);
            for i in 0u32..5000 {
                let mut tid = [0u8; 16];
                tid[..4].copy_from_slice(&i.to_be_bytes());
                tid[12..].copy_from_slice(&i.wrapping_mul(2654435761).to_le_bytes());
                let legacy = compute_hash(&tid, 22) & BIT_MASK_HASH_BUCKETS < scaled;
                assert_eq!(
                    th.should_sample(randomness_from_bytes(&tid, 22)),
                    legacy,
                    "pct {pct} i {i}"
                );
            }
        }
    }

    /// Test vectors from otelcol's `pkg/sampling` (probability → t-value, precision 4).
    #[test]
    fn probability_to_tvalue_vectors() {
        let cases = [
            (1.0, "0"),
            (0.5, "8"),
            (0.25, "c"),
            (0.75, "4"),
            (2.0 / 3.0, "5555"),
            (1.0 / 3.0, "aaab"),
            (0.1, "e666"),
            (0.01, "fd70a"),
            (0.001, "ffbe77"),
        ];
        for (p, tv) in cases {
            assert_eq!(
                probability_to_threshold(p, 4).unwrap().tvalue(),
                tv,
                "probability {p}"
            );
        }
        assert!(probability_to_threshold(0.0, 4).is_none());
        assert!(probability_to_threshold(1.5, 4).is_none());
    }

    #[test]
    fn tvalue_round_trip_and_tracestate() {
        let th = Threshold::from_tvalue("c").unwrap();
        assert_eq!(th.0, 0xc << 52);
        assert!((th.probability() - 0.25).abs() < 1e-12);
        let mut ts = TraceState::parse("vendor=x, ot=rv:0123456789abcd;xx:y").unwrap();
        assert_eq!(ts.randomness, Some(0x0123456789abcd));
        ts.update_threshold(Threshold::from_tvalue("8").unwrap())
            .unwrap();
        assert_eq!(ts.serialize(), "ot=rv:0123456789abcd;th:8;xx:y,vendor=x");
        assert!(ts
            .update_threshold(Threshold::from_tvalue("4").unwrap())
            .is_err());
        assert!(TraceState::parse("ot=th:xyz").is_err());
        assert!(TraceState::parse("ot=rv:123").is_err());
        assert!(TraceState::parse("ot=th:0123456789abcdef").is_err());
    }

    #[test]
    fn trace_id_randomness_is_the_low_56_bits() {
        let tid: Vec<u8> = (0u8..16).collect();
        assert_eq!(trace_id_randomness(&tid), 0x090a0b0c0d0e0f);
    }
}
