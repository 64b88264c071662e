//! The module graph of `src/` has no import cycles, except inside one component's folder.
//!
//! A unit is a component folder (`receivers/otlp`, `processors/batch`, `connectors/routing`, …) or any
//! other module file (`pipeline/graph.rs`, `config/duration.rs`, `component.rs`, …). A `crate::a::b::C`
//! path names the longest unit prefix of `a::b::C`. Test code (`tests.rs`, after `#[cfg(test)]`) and
//! comments are not counted. The registry (`components.rs`) imports every component; a component that
//! imported it would close a cycle, and this test names it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const COMPONENT_KINDS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "connectors",
];

fn unit_of(parts: &[String]) -> Option<String> {
    let first = parts.first()?;
    if matches!(first.as_str(), "main" | "lib" | "bin") {
        return None;
    }
    if COMPONENT_KINDS.contains(&first.as_str()) && parts.len() >= 2 {
        return Some(parts[..2].join("::"));
    }
    Some(parts.join("::"))
}

fn collect(dir: &Path, root: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, root, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let name = parts.last().cloned().unwrap_or_default();
            if name == "tests" || name.ends_with("_tests") {
                continue;
            }
            if name == "mod" {
                parts.pop();
            }
            if let Some(u) = unit_of(&parts) {
                files.push((u, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
}

/// Source without comments and without the `#[cfg(test)]` module at the end of a file.
fn code_of(src: &str) -> String {
    let src = match src.find("#[cfg(test)]") {
        Some(i) => &src[..i],
        None => src,
    };
    src.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path written after `crate::`, with `use crate::a::{b, c::d}` expanded.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let base: Vec<String> = rest[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if rest[end..].starts_with('{') {
            let close = rest[end..].find('}').map(|j| end + j).unwrap_or(rest.len());
            for item in rest[end + 1..close].split([',', '{', '}']) {
                let item = item.trim();
                if item.is_empty() {
                    continue;
                }
                let mut p = base.clone();
                p.extend(
                    item.split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty()),
                );
                out.push(p);
            }
        }
        out.push(base);
    }
    out
}

#[test]
fn no_import_cycles_between_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let units: BTreeSet<String> = files.iter().map(|(u, _)| u.clone()).collect();
    let resolve = |parts: &[String]| -> Option<String> {
        (1..=parts.len())
            .rev()
            .map(|k| parts[..k].join("::"))
            .find(|c| units.contains(c))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (unit, src) in &files {
        for p in crate_paths(&code_of(src)) {
            if let Some(t) = resolve(&p) {
                if &t != unit {
                    edges.entry(unit.clone()).or_default().insert(t);
                }
            }
        }
    }
    assert!(
        edges.values().any(|t| !t.is_empty()),
        "found no crate:: imports at all; the scan is broken"
    );

    // A cycle exists iff some unit reaches itself; report each offending edge once.
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = edges
            .get(from)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        while let Some(n) = stack.pop() {
            if seen.insert(n.clone()) {
                stack.extend(edges.get(&n).into_iter().flatten().cloned());
            }
        }
        seen
    };
    let mut cycles = Vec::new();
    for (a, targets) in &edges {
        for b in targets {
            if reach(b).contains(a) {
                cycles.push(format!("{a} -> {b}"));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles among src/ modules (each edge lies on a cycle):\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn the_scan_sees_a_cycle() {
    let paths = crate_paths(
        "use crate::component::{Host, StartError};\nlet x = crate::net::split_host_port(a);",
    );
    assert!(paths.contains(&vec!["component".to_string(), "Host".to_string()]));
    assert!(paths.contains(&vec!["net".to_string(), "split_host_port".to_string()]));
    assert_eq!(
        unit_of(&["receivers".into(), "otlp".into(), "grpc".into()]),
        Some("receivers::otlp".into())
    );
}
