//! The process metrics otelcol reports (`otelcol_process_uptime`, `otelcol_process_cpu_seconds`,
//! `otelcol_process_memory_rss`), read from `/proc` when metrics are scraped.

use std::time::Instant;

/// One reading of the process's resource use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub uptime_seconds: f64,
    /// User + system CPU time.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
}

/// Clock ticks per second in `/proc/<pid>/stat` (USER_HZ, fixed at 100 by the Linux ABI).
const USER_HZ: f64 = 100.0;

/// Reads the current process's stats; fields `/proc` does not offer (another OS) read as zero.
pub fn read(started: Instant) -> ProcessStats {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    ProcessStats {
        uptime_seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds(&stat).unwrap_or(0.0),
        rss_bytes: rss_bytes(&status).unwrap_or(0),
    }
}

/// utime + stime from `/proc/self/stat`. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted after its closing `)`.
fn cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// `VmRSS` from `/proc/self/status` (in kB there).
fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 12345 1000000 500 18446744073709551615";
        assert_eq!(cpu_seconds(stat), Some(3.0));
    }

    #[test]
    fn parses_rss() {
        let status = "Name:\tferrotel\nVmPeak:\t  100 kB\nVmRSS:\t    2048 kB\nThreads: 4\n";
        assert_eq!(rss_bytes(status), Some(2048 * 1024));
    }

    #[test]
    fn reads_this_process() {
        let s = read(Instant::now());
        if cfg!(target_os = "linux") {
            assert!(s.rss_bytes > 0);
        }
    }
}
