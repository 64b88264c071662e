//! IANA time zones for `Time(target, format, location)`: the zone's offsets read once, at config
//! validation, from the system's TZif files (`$ZONEINFO`, else `/usr/share/zoneinfo`), as Go's
//! `time.LoadLocation` does. Only the transition table is used: after a zone's last listed
//! transition (2037 in the usual "fat" files) its last offset holds.

/// A zone's UTC offsets over time.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Transition instants (Unix seconds), ascending.
    at: Vec<i64>,
    /// The offset (seconds east of UTC) that starts at each transition.
    offset: Vec<i32>,
    /// The offset before the first transition.
    initial: i32,
}

fn be32(b: &[u8], i: usize) -> Option<i64> {
    Some(i32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?) as i64)
}

fn be64(b: &[u8], i: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?))
}

/// Parses a TZif file (RFC 8536), preferring the 64-bit block of version 2 and later.
pub fn parse_tzif(b: &[u8]) -> Option<Zone> {
    if b.get(0..4)? != b"TZif" {
        return None;
    }
    let counts = |h: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (k, slot) in c.iter_mut().enumerate() {
            *slot = usize::try_from(be32(b, h + 20 + 4 * k)?).ok()?;
        }
        Some(c)
    };
    let [isut, isstd, leap, time, typ, chars] = counts(0)?;
    let v1_len = time * 5 + typ * 6 + chars + leap * 8 + isstd + isut;
    let (h, tsize) = if *b.get(4)? >= b'2' {
        (44 + v1_len, 8)
    } else {
        (0, 4)
    };
    let [_, _, _, time, typ, _] = if h == 0 {
        [isut, isstd, leap, time, typ, chars]
    } else {
        counts(h)?
    };
    let base = h + 44;
    let mut at = Vec::with_capacity(time);
    for k in 0..time {
        at.push(if tsize == 8 {
            be64(b, base + 8 * k)?
        } else {
            be32(b, base + 4 * k)?
        });
    }
    let idx_base = base + tsize * time;
    let types_base = idx_base + time;
    let utoff = |t: usize| -> Option<i32> {
        if t >= typ {
            return None;
        }
        Some(be32(b, types_base + 6 * t)? as i32)
    };
    let mut offset = Vec::with_capacity(time);
    for k in 0..time {
        offset.push(utoff(*b.get(idx_base + k)? as usize)?);
    }
    // RFC 8536: local time before the first transition uses the first type.
    let initial = utoff(0)?;
    Some(Zone {
        at,
        offset,
        initial,
    })
}

impl Zone {
    pub fn utc() -> Zone {
        Zone {
            at: vec![],
            offset: vec![],
            initial: 0,
        }
    }

    /// Loads a zone by its IANA name; `""` and `"UTC"` are UTC, `"Local"` is `/etc/localtime`.
    pub fn load(name: &str) -> Result<Zone, String> {
        if name.is_empty() || name == "UTC" {
            return Ok(Zone::utc());
        }
        let path = if name == "Local" {
            std::path::PathBuf::from("/etc/localtime")
        } else {
            if name.starts_with('/') || name.split('/').any(|p| p == ".." || p.is_empty()) {
                return Err(format!("invalid location {name:?}"));
            }
            let dir = std::env::var_os("ZONEINFO")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| "/usr/share/zoneinfo".into());
            dir.join(name)
        };
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("unknown time zone {name:?} ({}: {e})", path.display()))?;
        parse_tzif(&bytes).ok_or_else(|| format!("{}: not a TZif file", path.display()))
    }

    /// The offset (seconds east of UTC) in effect at a Unix instant.
    pub fn offset_at(&self, unix: i64) -> i32 {
        match self.at.partition_point(|t| *t <= unix) {
            0 => self.initial,
            n => self.offset[n - 1],
        }
    }

    /// The Unix instant of a wall-clock time in this zone (`local` as if it were UTC). In a gap or
    /// an overlap the offset in effect just before the change is used, as Go does.
    pub fn to_unix(&self, local: i64) -> i64 {
        let guess = local.saturating_sub(self.offset_at(local) as i64);
        let off = self.offset_at(guess) as i64;
        let u = local.saturating_sub(off);
        if self.offset_at(u) as i64 == off {
            u
        } else {
            guess
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_york_offsets_from_the_system_database() {
        let Ok(z) = Zone::load("America/New_York") else {
            return; // no tzdata installed
        };
        // 2023-05-26 12:34:56 EDT (UTC-4) = 16:34:56 UTC
        assert_eq!(z.to_unix(1_685_104_496), 1_685_104_496 + 4 * 3600);
        // 2023-01-15 12:00:00 EST (UTC-5)
        assert_eq!(z.to_unix(1_673_784_000), 1_673_784_000 + 5 * 3600);
        assert!(Zone::load("../etc/passwd").is_err());
        assert!(Zone::load("No/Such_Zone").is_err());
        assert_eq!(Zone::load("UTC").unwrap().to_unix(5), 5);
    }

    #[test]
    fn garbage_is_not_a_zone() {
        assert!(parse_tzif(b"").is_none());
        assert!(parse_tzif(b"TZif2\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\xff\xff\xff\xff").is_none());
    }
}
