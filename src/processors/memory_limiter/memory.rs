//! Reading the process's resident memory and the memory available to it, from `/proc` and cgroupfs.

use std::path::Path;

/// Resident set size of this process in bytes (`/proc/self/statm`, else `VmRSS` in
/// `/proc/self/status`); `None` where neither can be read.
pub fn rss_bytes() -> Option<u64> {
    if let Some(pages) = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
    {
        return Some(pages * page_size());
    }
    status_kib("/proc/self/status", "VmRSS:").map(|k| k * 1024)
}

fn status_kib(path: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The page size, from the auxiliary vector the kernel gave the process (`AT_PAGESZ`).
pub fn page_size() -> u64 {
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        const AT_PAGESZ: u64 = 6;
        let Ok(aux) = std::fs::read("/proc/self/auxv") else {
            return 4096;
        };
        for pair in aux.chunks_exact(16) {
            let key = u64::from_ne_bytes(pair[..8].try_into().unwrap_or_default());
            let val = u64::from_ne_bytes(pair[8..].try_into().unwrap_or_default());
            if key == AT_PAGESZ && val > 0 {
                return val;
            }
        }
        4096
    })
}

/// Total physical memory (`MemTotal` in `/proc/meminfo`).
pub fn total_memory() -> Option<u64> {
    status_kib("/proc/meminfo", "MemTotal:").map(|k| k * 1024)
}

/// The memory this process may use: its cgroup's limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`) when there is one below total memory, else total memory.
pub fn available_memory() -> Option<u64> {
    let total = total_memory();
    let cgroup = cgroup_limit(
        &std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        Path::new("/sys/fs/cgroup"),
    );
    match (cgroup, total) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    }
}

/// The cgroup memory limit for the process whose `/proc/self/cgroup` is `proc_cgroup`, looked up
/// under `root` (normally `/sys/fs/cgroup`).
pub fn cgroup_limit(proc_cgroup: &str, root: &Path) -> Option<u64> {
    let read = |p: &Path| -> Option<u64> {
        let s = std::fs::read_to_string(p).ok()?;
        let s = s.trim();
        if s == "max" {
            return None;
        }
        let v: u64 = s.parse().ok()?;
        // cgroup v1 writes "no limit" as a huge page-aligned number.
        (v < (1 << 62)).then_some(v)
    };
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if id == "0" && controllers.is_empty() {
            // cgroup v2: the process's own group, else the namespace root (inside a container).
            for dir in [root.join(rel), root.to_path_buf()] {
                if dir.join("memory.max").exists() {
                    return read(&dir.join("memory.max"));
                }
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            for dir in [root.join("memory").join(rel), root.join("memory")] {
                if dir.join("memory.limit_in_bytes").exists() {
                    return read(&dir.join("memory.limit_in_bytes"));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let rss = rss_bytes().unwrap();
        assert!(rss > 1 << 20 && rss < 1 << 40, "{rss}");
        assert!(page_size().is_power_of_two());
        assert!(available_memory().unwrap() > 1 << 20);
    }

    #[test]
    fn cgroup_v2_and_v1_limits() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("app.slice")).unwrap();
        std::fs::write(root.join("app.slice/memory.max"), "536870912\n").unwrap();
        assert_eq!(cgroup_limit("0::/app.slice\n", root), Some(512 << 20));
        std::fs::write(root.join("app.slice/memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_limit("0::/app.slice\n", root), None);

        std::fs::create_dir_all(root.join("memory/docker/abc")).unwrap();
        std::fs::write(
            root.join("memory/docker/abc/memory.limit_in_bytes"),
            "268435456",
        )
        .unwrap();
        assert_eq!(
            cgroup_limit("12:cpu,cpuacct:/docker/abc\n7:memory:/docker/abc\n", root),
            Some(256 << 20)
        );
        std::fs::write(
            root.join("memory/docker/abc/memory.limit_in_bytes"),
            "9223372036854771712",
        )
        .unwrap();
        assert_eq!(cgroup_limit("7:memory:/docker/abc\n", root), None);
    }
}
