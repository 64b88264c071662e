//! `include`/`exclude` globs as otelcol's (doublestar): `*`, `?`, `[abc]`, `[!a-z]`, `{a,b}` within a
//! path segment, and `**` for any number of directories.

use std::path::{Path, PathBuf};

use regex::Regex;

#[derive(Debug, Clone)]
enum Seg {
    Lit(String),
    Pat(Regex),
    Any,
}

#[derive(Debug, Clone)]
pub struct Glob {
    /// The directory the walk starts in (the literal prefix).
    root: PathBuf,
    segs: Vec<Seg>,
    whole: Regex,
}

fn seg_regex(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut depth = 0;
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                out.push('[');
                if matches!(chars.peek(), Some('!') | Some('^')) {
                    chars.next();
                    out.push('^');
                }
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    if c == '\\' || c == '[' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                if !closed {
                    return Err(format!("invalid pattern {s:?}: unclosed ["));
                }
                out.push(']');
            }
            '{' => {
                depth += 1;
                out.push_str("(?:");
            }
            '}' if depth > 0 => {
                depth -= 1;
                out.push(')');
            }
            ',' if depth > 0 => out.push('|'),
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    if depth != 0 {
        return Err(format!("invalid pattern {s:?}: unclosed {{"));
    }
    Ok(out)
}

fn is_literal(s: &str) -> bool {
    !s.contains(['*', '?', '[', '{', '\\'])
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("empty pattern".into());
        }
        let abs = pattern.starts_with('/');
        let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
        let mut root = PathBuf::from(if abs { "/" } else { "." });
        let mut segs = Vec::new();
        let mut whole = String::from("^");
        let mut literal_prefix = true;
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if *p == "**" {
                literal_prefix = false;
                segs.push(Seg::Any);
                whole.push_str(if last { "(?:/.*)?" } else { "(?:/[^/]+)*" });
                continue;
            }
            if literal_prefix && is_literal(p) && !last {
                root.push(p);
            } else {
                literal_prefix = false;
                segs.push(if is_literal(p) {
                    Seg::Lit(p.to_string())
                } else {
                    Seg::Pat(
                        Regex::new(&format!("^{}$", seg_regex(p)?))
                            .map_err(|e| format!("invalid pattern {pattern:?}: {e}"))?,
                    )
                });
            }
            whole.push('/');
            whole.push_str(&seg_regex(p)?);
        }
        whole.push('$');
        Ok(Glob {
            root,
            segs,
            whole: Regex::new(&whole).map_err(|e| format!("invalid pattern {pattern:?}: {e}"))?,
        })
    }

    /// Whether an absolute (or `./`-relative) path matches the whole pattern.
    pub fn matches(&self, path: &Path) -> bool {
        let s = path.to_string_lossy();
        let s = s
            .strip_prefix('.')
            .filter(|r| r.starts_with('/'))
            .unwrap_or(&s);
        self.whole.is_match(s)
    }

    /// Regular files matching the pattern (symlinks followed), sorted.
    pub fn walk(&self, out: &mut Vec<PathBuf>) {
        walk(&self.root, &self.segs, out, 0);
    }
}

fn walk(dir: &Path, segs: &[Seg], out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 64 {
        return;
    }
    let Some((seg, rest)) = segs.split_first() else {
        if std::fs::metadata(dir).is_ok_and(|m| m.is_file()) {
            out.push(dir.to_path_buf());
        }
        return;
    };
    match seg {
        Seg::Lit(name) => walk(&dir.join(name), rest, out, depth + 1),
        Seg::Pat(re) => {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            let mut names: Vec<_> = rd.flatten().map(|e| e.file_name()).collect();
            names.sort();
            for n in names {
                if re.is_match(&n.to_string_lossy()) {
                    walk(&dir.join(&n), rest, out, depth + 1);
                }
            }
        }
        Seg::Any => {
            // Zero directories, then one more level with `**` still in force.
            walk(dir, rest, out, depth + 1);
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            let mut dirs: Vec<_> = rd
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            dirs.sort();
            for d in dirs {
                walk(&d, segs, out, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_and_matches() {
        let t = tempfile::tempdir().unwrap();
        let b = t.path();
        for f in ["a/x.log", "a/b/c/y.log", "a/b/z.txt", "ns_pod_1/c/0.log"] {
            let p = b.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        }
        let g = Glob::new(&format!("{}/a/**/*.log", b.display())).unwrap();
        let mut out = Vec::new();
        g.walk(&mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(g.matches(&b.join("a/b/c/y.log")));
        assert!(!g.matches(&b.join("a/b/z.txt")));
        let g = Glob::new(&format!("{}/*/*/*.{{log,txt}}", b.display())).unwrap();
        let mut out = Vec::new();
        g.walk(&mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(Glob::new("/x/[ab").is_err());
    }
}
