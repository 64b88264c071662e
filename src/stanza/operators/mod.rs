//! Operator pipelines: parsing `operators:` (with `id`, `type`, `output`, `on_error`, `if`), and running
//! entries through them. Each operator's output defaults to the next operator; the last one's to the
//! receiver.

mod container;
mod parsers;
mod recombine;
mod transform;

use std::collections::HashMap;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value as Yaml};

use super::entry::Entry;
use super::expr::{self, Expr};

/// What an operator does with one entry. `out` receives `(slot, entry)`: slot 0 is the operator's
/// `output`; the router uses one slot per route and the last for `default`.
pub trait Operator: Send {
    /// On error the entry comes back with the message, for `on_error` to send or drop it.
    #[allow(clippy::result_large_err)]
    fn process(&mut self, e: Entry, out: &mut Vec<(usize, Entry)>) -> Result<(), (String, Entry)>;
    /// Passes on entries held back longer than the operator's flush period (all of them if `force`).
    fn flush(&mut self, _now: Instant, _force: bool, _out: &mut Vec<(usize, Entry)>) {}
    /// The smallest file offset among entries held back from reader `reader`.
    fn held_min_offset(&self, _reader: u64) -> Option<u64> {
        None
    }
    /// How many output slots it has (router: routes + default).
    fn slots(&self) -> usize {
        1
    }
}

/// Operators that change an entry in place and pass it on.
pub trait Transform: Send {
    fn apply(&self, e: &mut Entry) -> Result<(), String>;
}

struct Simple<T: Transform>(T);

impl<T: Transform> Operator for Simple<T> {
    fn process(
        &mut self,
        mut e: Entry,
        out: &mut Vec<(usize, Entry)>,
    ) -> Result<(), (String, Entry)> {
        match self.0.apply(&mut e) {
            Ok(()) => {
                out.push((0, e));
                Ok(())
            }
            Err(m) => Err((m, e)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum OnError {
    Send,
    SendQuiet,
    Drop,
    DropQuiet,
}

struct Node {
    id: String,
    op: Box<dyn Operator>,
    /// Per slot: node indices to send to (`usize::MAX`: out of the pipeline).
    outputs: Vec<Vec<usize>>,
    on_error: OnError,
    cond: Option<Expr>,
}

/// A built operator pipeline. Not shared: the receiver owns one and runs it on its reading thread.
pub struct Pipeline {
    nodes: Vec<Node>,
    scratch: Vec<(usize, Entry)>,
    /// The work list of [`Pipeline::run`], kept so that running an entry allocates nothing.
    work: Vec<(usize, Entry)>,
    pub errors: u64,
}

const END: usize = usize::MAX;

/// A config error inside `operators:`: the key path below `operators` and the message.
pub type BuildError = (String, String);

pub(crate) fn parse_cfg<T: DeserializeOwned>(m: &Mapping, at: &str) -> Result<T, BuildError> {
    crate::config::parse(&Yaml::Mapping(m.clone()), "").map_err(|e| (join(at, &e.path), e.message))
}

fn join(at: &str, p: &str) -> String {
    if p.is_empty() {
        at.to_string()
    } else {
        format!("{at}::{p}")
    }
}

fn take_str(m: &mut Mapping, k: &str, at: &str) -> Result<Option<String>, BuildError> {
    match m.remove(k) {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => Ok(Some(s)),
        Some(other) => Err((
            format!("{at}::{k}"),
            format!("expected a string, got {other:?}"),
        )),
    }
}

fn take_outputs(m: &mut Mapping, k: &str, at: &str) -> Result<Option<Vec<String>>, BuildError> {
    match m.remove(k) {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => Ok(Some(vec![s])),
        Some(Yaml::Sequence(s)) => s
            .into_iter()
            .map(|v| match v {
                Yaml::String(s) => Ok(s),
                o => Err((
                    format!("{at}::{k}"),
                    format!("expected operator ids, got {o:?}"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(o) => Err((
            format!("{at}::{k}"),
            format!("expected an operator id, got {o:?}"),
        )),
    }
}

/// Builds one operator of `kind` from its remaining keys. Returns the operator, extra output lists
/// (for the router's routes), and warnings.
type Built = (Box<dyn Operator>, Vec<Option<Vec<String>>>, Vec<String>);

fn build_op(kind: &str, m: Mapping, at: &str) -> Result<Built, BuildError> {
    let simple = |t: Box<dyn Operator>| Ok((t, vec![], vec![]));
    match kind {
        "noop" => {
            let _: transform::Empty = parse_cfg(&m, at)?;
            simple(Box::new(Simple(transform::Noop)))
        }
        "add" => simple(Box::new(Simple(transform::add(&m, at)?))),
        "remove" => simple(Box::new(Simple(transform::remove(&m, at)?))),
        "move" => simple(Box::new(Simple(transform::mv(&m, at, false)?))),
        "copy" => simple(Box::new(Simple(transform::mv(&m, at, true)?))),
        "retain" => simple(Box::new(Simple(transform::retain(&m, at)?))),
        "flatten" => simple(Box::new(Simple(transform::flatten(&m, at)?))),
        "regex_replace" => simple(Box::new(Simple(transform::regex_replace(&m, at)?))),
        "unquote" => simple(Box::new(Simple(transform::unquote(&m, at)?))),
        "assign_keys" => simple(Box::new(Simple(transform::assign_keys(&m, at)?))),
        "severity_parser" => {
            let (t, w) = transform::severity_parser(&m, at)?;
            Ok((Box::new(Simple(t)), vec![], w))
        }
        "time_parser" => {
            let (t, w) = transform::time_parser(&m, at)?;
            Ok((Box::new(Simple(t)), vec![], w))
        }
        "trace_parser" => simple(Box::new(Simple(transform::trace_parser(&m, at)?))),
        "scope_name_parser" => simple(Box::new(Simple(transform::scope_name_parser(&m, at)?))),
        "filter" => simple(Box::new(transform::filter(&m, at)?)),
        "router" => {
            let (r, outs) = transform::router(&m, at)?;
            Ok((Box::new(r), outs, vec![]))
        }
        "json_parser" | "json_array_parser" | "regex_parser" | "key_value_parser" | "csv_parser"
        | "syslog_parser" => {
            let (p, w) = parsers::build(kind, m, at)?;
            Ok((Box::new(Simple(p)), vec![], w))
        }
        "recombine" => simple(Box::new(recombine::build(&m, at)?)),
        "container" => {
            let (c, w) = container::build(m, at)?;
            Ok((Box::new(c), vec![], w))
        }
        other => Err((
            format!("{at}::type"),
            format!("unknown operator type {other:?}; see docs/components/receivers/filelog.md for the list"),
        )),
    }
}

impl Pipeline {
    /// Builds `operators:` (a YAML list). Errors name the key path below `at`.
    pub fn build(ops: &[Yaml], at: &str) -> Result<(Pipeline, Vec<String>), Vec<BuildError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        struct Pending {
            id: String,
            op: Box<dyn Operator>,
            output: Option<Vec<String>>,
            extra: Vec<Option<Vec<String>>>,
            on_error: OnError,
            cond: Option<Expr>,
            at: String,
        }
        let mut pending = Vec::new();
        for (i, v) in ops.iter().enumerate() {
            let at = format!("{at}::{i}");
            let Yaml::Mapping(m) = v else {
                errors.push((at, "an operator must be a map with a `type`".into()));
                continue;
            };
            let mut m = m.clone();
            let r = (|| {
                let kind = take_str(&mut m, "type", &at)?.ok_or_else(|| {
                    (
                        format!("{at}::type"),
                        "missing required key `type`".to_string(),
                    )
                })?;
                let id = take_str(&mut m, "id", &at)?.unwrap_or_else(|| kind.clone());
                let output = take_outputs(&mut m, "output", &at)?;
                let on_error = match take_str(&mut m, "on_error", &at)?.as_deref() {
                    None | Some("send") => OnError::Send,
                    Some("send_quiet") => OnError::SendQuiet,
                    Some("drop") => OnError::Drop,
                    Some("drop_quiet") => OnError::DropQuiet,
                    Some(o) => {
                        return Err((
                            format!("{at}::on_error"),
                            format!("invalid value {o:?} (send, send_quiet, drop, drop_quiet)"),
                        ))
                    }
                };
                let cond = match take_str(&mut m, "if", &at)? {
                    Some(s) => Some(
                        expr::parse(&s)
                            .map_err(|e| (format!("{at}::if"), format!("{s:?}: {e}")))?,
                    ),
                    None => None,
                };
                // otelcol's operators ignore keys they do not know: ferrotel warns and goes on.
                let (op, extra, w) = loop {
                    match build_op(&kind, m.clone(), &at) {
                        Err((p, msg)) if msg.starts_with("unknown key ") => {
                            let key = p.strip_prefix(&format!("{at}::")).unwrap_or_default();
                            if key.contains("::") || m.remove(key).is_none() {
                                break Err((p, msg));
                            }
                            warnings.push(format!(
                                "{p}: ignored: not an option ferrotel implements for a {kind} operator (otelcol ignores keys an operator does not know)"
                            ));
                        }
                        r => break r,
                    }
                }?;
                warnings.extend(w.into_iter().map(|w| format!("{at}: {w}")));
                Ok(Pending {
                    id,
                    op,
                    output,
                    extra,
                    on_error,
                    cond,
                    at: at.clone(),
                })
            })();
            match r {
                Ok(p) => pending.push(p),
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (i, p) in pending.iter().enumerate() {
            if ids.insert(p.id.clone(), i).is_some() {
                errors.push((
                    format!("{}::id", p.at),
                    format!("duplicate operator id {:?}", p.id),
                ));
            }
        }
        let n = pending.len();
        let resolve = |outs: &Option<Vec<String>>,
                       i: usize,
                       key: &str,
                       at: &str,
                       errors: &mut Vec<BuildError>|
         -> Vec<usize> {
            match outs {
                None => vec![if i + 1 < n { i + 1 } else { END }],
                Some(list) => list
                    .iter()
                    .filter_map(|o| match ids.get(o) {
                        Some(j) => Some(*j),
                        None => {
                            errors.push((
                                format!("{at}::{key}"),
                                format!("operator {o:?} does not exist"),
                            ));
                            None
                        }
                    })
                    .collect(),
            }
        };
        let mut nodes = Vec::new();
        for (i, p) in pending.into_iter().enumerate() {
            let mut outputs = Vec::new();
            if p.extra.is_empty() {
                outputs.push(resolve(&p.output, i, "output", &p.at, &mut errors));
            } else {
                // Router: one slot per route, then `default` (none: dropped, as Stanza's router).
                let last = p.extra.len() - 1;
                for (r, o) in p.extra.iter().enumerate() {
                    if r == last {
                        outputs.push(match o {
                            None => vec![],
                            Some(_) => resolve(o, i, "default", &p.at, &mut errors),
                        });
                    } else {
                        outputs.push(resolve(
                            o,
                            i,
                            &format!("routes::{r}::output"),
                            &p.at,
                            &mut errors,
                        ));
                    }
                }
            }
            // Outputs must point forward, so an entry can never loop.
            for o in outputs.iter().flatten() {
                if *o != END && *o <= i {
                    errors.push((
                        format!("{}::output", p.at),
                        "an operator's output must come after it in the list (no loops)".into(),
                    ));
                }
            }
            nodes.push(Node {
                id: p.id,
                op: p.op,
                outputs,
                on_error: p.on_error,
                cond: p.cond,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok((
            Pipeline {
                nodes,
                scratch: Vec::new(),
                work: Vec::new(),
                errors: 0,
            },
            warnings,
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Runs one entry through the operators; what leaves the pipeline is appended to `emitted`.
    pub fn process(&mut self, e: Entry, emitted: &mut Vec<Entry>) {
        if self.nodes.is_empty() {
            emitted.push(e);
            return;
        }
        self.run(0, e, emitted);
    }

    fn run(&mut self, start: usize, e: Entry, emitted: &mut Vec<Entry>) {
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        work.push((start, e));
        while let Some((i, e)) = work.pop() {
            if i == END {
                emitted.push(e);
                continue;
            }
            let Some(node) = self.nodes.get_mut(i) else {
                emitted.push(e);
                continue;
            };
            let mut out = std::mem::take(&mut self.scratch);
            if node.cond.as_ref().is_some_and(|c| !c.eval(&e)) {
                out.push((0, e));
                // An operator skipped by `if` passes the entry to its default output.
                if node.outputs.len() > 1 {
                    let (_, e) = out.pop().expect("just pushed");
                    out.push((node.outputs.len() - 1, e));
                }
            } else if let Err((msg, e)) = node.op.process(e, &mut out) {
                self.errors += 1;
                if matches!(node.on_error, OnError::Send | OnError::Drop) {
                    tracing::warn!(operator = %node.id, error = %msg, "operator failed on an entry");
                }
                if matches!(node.on_error, OnError::Send | OnError::SendQuiet) {
                    out.push((0, e));
                }
            }
            // Pushed in reverse so entries leave in the order they were produced.
            for (slot, e) in out.drain(..).rev() {
                let Some(targets) = node.outputs.get(slot) else {
                    continue;
                };
                match targets.as_slice() {
                    [] => {}
                    [one] => work.push((*one, e)),
                    many => {
                        for t in many.iter().rev() {
                            work.push((*t, e.clone()));
                        }
                    }
                }
            }
            self.scratch = out;
        }
        self.work = work;
    }

    /// Passes on entries that stateful operators (recombine, container partial lines) held longer than
    /// their flush period, or all of them if `force`.
    pub fn flush(&mut self, now: Instant, force: bool, emitted: &mut Vec<Entry>) {
        for i in 0..self.nodes.len() {
            let mut out = Vec::new();
            self.nodes[i].op.flush(now, force, &mut out);
            for (slot, e) in out {
                let targets = self.nodes[i].outputs.get(slot).cloned().unwrap_or_default();
                for t in targets {
                    self.run(t, e.clone(), emitted);
                }
            }
        }
    }

    /// The smallest file offset of reader `reader` among entries still held by operators.
    pub fn held_min_offset(&self, reader: u64) -> Option<u64> {
        self.nodes
            .iter()
            .filter_map(|n| n.op.held_min_offset(reader))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    pub(crate) fn run(yaml: &str, bodies: &[&str]) -> Vec<Entry> {
        let ops: Vec<Yaml> = serde_yaml::from_str(yaml).unwrap();
        let (mut p, _) = Pipeline::build(&ops, "operators").unwrap_or_else(|e| panic!("{e:?}"));
        let mut out = Vec::new();
        for b in bodies {
            let mut e = Entry::new(Value::String(b.to_string()));
            e.attributes.insert(
                "log.file.path".into(),
                Value::from("/var/log/pods/ns1_pod-a_0123abcd-45/app/2.log"),
            );
            p.process(e, &mut out);
        }
        p.flush(Instant::now(), true, &mut out);
        out
    }

    #[test]
    fn router_outputs_and_errors() {
        let out = run(
            r#"
- type: router
  routes:
    - expr: 'body matches "^\\{"'
      output: json
  default: kv
- id: json
  type: json_parser
  output: sev
- id: kv
  type: key_value_parser
- id: sev
  type: severity_parser
  parse_from: attributes.level
  if: attributes.level != nil
"#,
            &[
                r#"{"level":"error","msg":"x"}"#,
                "level=warn a=1",
                "{bad json",
            ],
        );
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].severity, 17);
        assert_eq!(out[0].attributes["msg"], "x");
        assert_eq!(out[1].attributes["a"], "1");
        assert_eq!(out[2].body, "{bad json");
        let errs = Pipeline::build(
            &serde_yaml::from_str::<Vec<Yaml>>("[{type: nope}, {type: move, from: body}]").unwrap(),
            "ops",
        )
        .err()
        .unwrap();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].0, "ops::0::type");
    }
}
