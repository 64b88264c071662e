//! The two duration histograms: explicit bounds (otelcol's default) and base-2 exponential with a
//! bucket budget (`max_size`), which lowers its scale as the observed range widens.

use std::sync::Arc;

use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;

/// Counts per explicit bucket: bucket `i` holds values in `(bounds[i-1], bounds[i]]`, the last one
/// everything above the last bound (OTLP's rule).
#[derive(Debug, Clone)]
pub struct Explicit {
    pub bounds: Arc<[f64]>,
    pub bucket_counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

impl Explicit {
    pub fn new(bounds: Arc<[f64]>) -> Self {
        let n = bounds.len() + 1;
        Explicit {
            bounds,
            bucket_counts: vec![0; n],
            count: 0,
            sum: 0.0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        let i = self.bounds.partition_point(|b| *b < value);
        if let Some(c) = self.bucket_counts.get_mut(i) {
            *c = c.saturating_add(1);
        }
        self.count = self.count.saturating_add(1);
        self.sum += value;
    }
}

/// The scale a new exponential histogram starts at (the finest the OTLP mapping defines).
pub const MAX_SCALE: i32 = 20;
/// The coarsest scale: at -10 two buckets cover every finite f64.
pub const MIN_SCALE: i32 = -10;

/// A base-2 exponential histogram of non-negative values. Bucket `i` at scale `s` holds values in
/// `(2^(i/2^s), 2^((i+1)/2^s)]`; zero has its own count.
#[derive(Debug, Clone)]
pub struct Exponential {
    max_size: usize,
    pub scale: i32,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub zero_count: u64,
    /// Index of `counts[0]`.
    pub offset: i32,
    pub counts: Vec<u64>,
}

impl Exponential {
    pub fn new(max_size: usize) -> Self {
        Exponential {
            max_size: max_size.max(2),
            scale: MAX_SCALE,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zero_count: 0,
            offset: 0,
            counts: Vec::new(),
        }
    }

    /// Records `value`; negative, NaN and infinite values are counted as zero (durations are never
    /// negative; the caller clamps them).
    pub fn observe(&mut self, value: f64) {
        let value = if value.is_finite() && value > 0.0 {
            value
        } else {
            0.0
        };
        self.count = self.count.saturating_add(1);
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value == 0.0 {
            self.zero_count = self.zero_count.saturating_add(1);
            return;
        }
        let mut index = map_to_index(value, self.scale);
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(1);
            return;
        }
        let high_now = self.offset + self.counts.len() as i32 - 1;
        let low = self.offset.min(index);
        let high = high_now.max(index);
        let change = scale_change(low, high, self.max_size).min(self.scale - MIN_SCALE);
        if change > 0 {
            self.downscale(change);
            index = map_to_index(value, self.scale);
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            let mut counts = vec![0; grow];
            counts.append(&mut self.counts);
            self.counts = counts;
            self.offset = index;
        } else {
            let last = self.offset + self.counts.len() as i32 - 1;
            if index > last {
                self.counts
                    .resize(self.counts.len() + (index - last) as usize, 0);
            }
        }
        if let Some(c) = self.counts.get_mut((index - self.offset) as usize) {
            *c = c.saturating_add(1);
        }
    }

    /// Lowers the scale by `change`, merging each 2^change neighbouring buckets into one.
    fn downscale(&mut self, change: i32) {
        let mut merged: Vec<u64> = Vec::new();
        let new_offset = self.offset >> change;
        for (i, c) in self.counts.iter().enumerate() {
            let j = ((self.offset + i as i32) >> change) - new_offset;
            let j = j as usize;
            if merged.len() <= j {
                merged.resize(j + 1, 0);
            }
            merged[j] = merged[j].saturating_add(*c);
        }
        self.counts = merged;
        self.offset = new_offset;
        self.scale -= change;
    }

    pub fn positive(&self) -> Buckets {
        Buckets {
            offset: self.offset,
            bucket_counts: self.counts.clone(),
        }
    }
}

/// The smallest scale reduction after which `low..=high` fits in `max_size` buckets.
fn scale_change(mut low: i32, mut high: i32, max_size: usize) -> i32 {
    let mut change = 0;
    while (high as i64 - low as i64 + 1) > max_size as i64 {
        low >>= 1;
        high >>= 1;
        change += 1;
    }
    change
}

/// The bucket index of a positive finite `value` at `scale` (OTLP's exponential mapping; exact for
/// powers of two, which sit at the upper edge of their bucket).
pub fn map_to_index(value: f64, scale: i32) -> i32 {
    let bits = value.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = bits & ((1u64 << 52) - 1);
    if exp_bits == 0 {
        // Subnormal: far below any duration this connector sees; the logarithm is close enough.
        let idx = (value.log2() * 2f64.powi(scale)).ceil() as i64 - 1;
        return idx.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    }
    let exponent = exp_bits - 1023;
    let power_of_two = mantissa == 0;
    if scale <= 0 {
        let base = if power_of_two { exponent - 1 } else { exponent };
        return base >> -scale;
    }
    if power_of_two {
        return (exponent << scale) - 1;
    }
    let scale_factor = std::f64::consts::LOG2_E * 2f64.powi(scale);
    let idx = (value.ln() * scale_factor).floor() as i64;
    // Rounding near a bucket edge may land one off; the edges are exact powers of 2^(1/2^scale).
    idx.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_bucket_edges_are_upper_inclusive() {
        let mut h = Explicit::new(Arc::from(vec![2.0, 4.0, 10.0]));
        for v in [0.0, 2.0, 2.5, 4.0, 9.9, 10.0, 10.1, 1e9] {
            h.observe(v);
        }
        // (-inf,2]: 0, 2 | (2,4]: 2.5, 4 | (4,10]: 9.9, 10 | (10,+inf): 10.1, 1e9
        assert_eq!(h.bucket_counts, vec![2, 2, 2, 2]);
        assert_eq!(h.count, 8);
    }

    #[test]
    fn exponential_index_at_scale_zero_and_one() {
        // scale 0: bucket i holds (2^i, 2^(i+1)].
        assert_eq!(map_to_index(1.0, 0), -1);
        assert_eq!(map_to_index(1.5, 0), 0);
        assert_eq!(map_to_index(2.0, 0), 0);
        assert_eq!(map_to_index(3.0, 0), 1);
        assert_eq!(map_to_index(4.0, 0), 1);
        // scale 1: bucket i holds (2^(i/2), 2^((i+1)/2)].
        assert_eq!(map_to_index(1.2, 1), 0);
        assert_eq!(map_to_index(1.5, 1), 1);
        assert_eq!(map_to_index(2.0, 1), 1);
        // scale -1: bucket i holds (4^i, 4^(i+1)].
        assert_eq!(map_to_index(4.0, -1), 0);
        assert_eq!(map_to_index(5.0, -1), 1);
    }

    #[test]
    fn exponential_downscales_to_fit_max_size() {
        let mut h = Exponential::new(4);
        for v in [1.5, 3.0, 6.0, 12.0, 24.0, 48.0] {
            h.observe(v);
        }
        h.observe(0.0);
        assert!(h.counts.len() <= 4, "{} buckets", h.counts.len());
        assert_eq!(h.counts.iter().sum::<u64>(), 6);
        assert_eq!(h.zero_count, 1);
        assert_eq!(h.count, 7);
        // Every value must sit in the bucket its scale says.
        for v in [1.5, 3.0, 6.0, 12.0, 24.0, 48.0] {
            let i = map_to_index(v, h.scale) - h.offset;
            assert!(i >= 0 && (i as usize) < h.counts.len(), "{v} outside");
        }
        // Six values one octave apart need six buckets at scale 0; four fit at scale -1.
        assert_eq!(h.scale, -1);
        // scale -1 buckets: (1,4]: 1.5, 3 | (4,16]: 6, 12 | (16,64]: 24, 48
        assert_eq!(h.offset, 0);
        assert_eq!(h.counts, vec![2, 2, 2]);
        assert_eq!(h.min, 0.0);
        assert_eq!(h.max, 48.0);
    }

    #[test]
    fn exponential_single_value_keeps_finest_scale() {
        let mut h = Exponential::new(160);
        h.observe(100.0);
        h.observe(100.0);
        assert_eq!(h.scale, MAX_SCALE);
        assert_eq!(h.counts, vec![2]);
    }
}
