//! otelcol's consistent hash ring: every endpoint takes 100 positions out of 36000 (CRC-32 of the
//! endpoint and the position's index), a key goes to the first position at or after CRC-32(key) mod
//! 36000. Adding an endpoint to N moves about 1/(N+1) of the keys, all of them to the new endpoint.

const MAX_POSITIONS: u32 = 36_000;
const DEFAULT_WEIGHT: u32 = 100;

#[derive(Debug, Clone, Default)]
pub struct Ring {
    items: Vec<(u32, usize)>,
    pub endpoints: Vec<String>,
}

impl Ring {
    /// `endpoints` sorted and deduplicated, as otelcol's resolvers hand them over.
    pub fn new(endpoints: &[String]) -> Ring {
        let mut eps: Vec<String> = endpoints.to_vec();
        eps.sort();
        eps.dedup();
        let mut items = Vec::with_capacity(eps.len() * DEFAULT_WEIGHT as usize);
        for (i, ep) in eps.iter().enumerate() {
            for n in 0..DEFAULT_WEIGHT {
                let mut h = crc32fast::Hasher::new();
                h.update(ep.as_bytes());
                h.update(&[n as u8]);
                items.push((h.finalize() % MAX_POSITIONS, i));
            }
        }
        items.sort();
        Ring {
            items,
            endpoints: eps,
        }
    }

    pub fn endpoint_for(&self, key: &[u8]) -> Option<&str> {
        self.endpoints.get(self.index_for(key)?).map(String::as_str)
    }

    /// The index in `endpoints` of the key's endpoint.
    pub fn index_for(&self, key: &[u8]) -> Option<usize> {
        let pos = crc32fast::hash(key) % MAX_POSITIONS;
        let i = self.items.partition_point(|(p, _)| *p < pos);
        // Past the last position the ring wraps to the first; an empty ring has no endpoint.
        let (_, ep) = self.items.get(i).or_else(|| self.items.first())?;
        Some(*ep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:4317")).collect()
    }

    #[test]
    fn adding_a_backend_moves_about_one_in_n_plus_one() {
        for n in [2usize, 3, 5, 9] {
            let a = Ring::new(&eps(n));
            let b = Ring::new(&eps(n + 1));
            let keys = 20_000u32;
            let mut moved = 0;
            for k in 0..keys {
                let key = k.wrapping_mul(2654435761).to_be_bytes();
                let (x, y) = (a.endpoint_for(&key).unwrap(), b.endpoint_for(&key).unwrap());
                if x != y {
                    moved += 1;
                    assert_eq!(
                        y,
                        format!("10.0.0.{n}:4317"),
                        "keys only move to the new one"
                    );
                }
            }
            let frac = moved as f64 / keys as f64;
            let ideal = 1.0 / (n + 1) as f64;
            assert!(
                frac < 1.5 * ideal && frac > ideal / 1.5,
                "n={n}: {frac} vs {ideal}"
            );
        }
    }

    #[test]
    fn same_set_same_mapping_in_any_order() {
        let mut e = eps(4);
        let a = Ring::new(&e);
        e.reverse();
        let b = Ring::new(&e);
        for k in 0..1000u32 {
            assert_eq!(
                a.endpoint_for(&k.to_le_bytes()),
                b.endpoint_for(&k.to_le_bytes())
            );
        }
        assert_eq!(Ring::new(&[]).endpoint_for(b"x"), None);
    }
}
