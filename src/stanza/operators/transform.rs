//! Transformers: add, remove, move, copy, retain, flatten, regex_replace, unquote, assign_keys,
//! severity_parser, time_parser, trace_parser, scope_name_parser, filter, router, noop.

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_yaml::Mapping;

use super::{parse_cfg, BuildError, Operator, Transform};
use crate::stanza::entry::{as_text, Entry, Field, Root};
use crate::stanza::expr::{self, Expr};
use crate::stanza::severity::SeverityConfig;
use crate::stanza::time::{TimeConfig, TimeParser};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

pub struct Noop;
impl Transform for Noop {
    fn apply(&self, _e: &mut Entry) -> Result<(), String> {
        Ok(())
    }
}

pub struct Add(Field, Value);
impl Transform for Add {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        e.set(&self.0, self.1.clone())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddCfg {
    field: Field,
    value: serde_yaml::Value,
}

pub fn add(m: &Mapping, at: &str) -> Result<Add, BuildError> {
    let c: AddCfg = parse_cfg(m, at)?;
    let v = serde_json::to_value(&c.value).map_err(|e| (format!("{at}::value"), e.to_string()))?;
    if v.as_str().is_some_and(|s| s.starts_with("EXPR(")) {
        return Err((
            format!("{at}::value"),
            "EXPR(...) values are not supported by ferrotel; use a literal".into(),
        ));
    }
    Ok(Add(c.field, v))
}

pub struct Remove(Field);
impl Transform for Remove {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        e.delete(&self.0)
            .map(|_| ())
            .ok_or_else(|| format!("{} does not exist", self.0))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldCfg {
    field: Field,
}

pub fn remove(m: &Mapping, at: &str) -> Result<Remove, BuildError> {
    Ok(Remove(parse_cfg::<FieldCfg>(m, at)?.field))
}

pub struct Move {
    from: Field,
    to: Field,
    copy: bool,
}
impl Transform for Move {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let v = if self.copy {
            e.get(&self.from).cloned()
        } else {
            e.delete(&self.from)
        }
        .ok_or_else(|| format!("{} does not exist", self.from))?;
        e.set(&self.to, v)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromTo {
    from: Field,
    to: Field,
}

pub fn mv(m: &Mapping, at: &str, copy: bool) -> Result<Move, BuildError> {
    let c: FromTo = parse_cfg(m, at)?;
    Ok(Move {
        from: c.from,
        to: c.to,
        copy,
    })
}

/// Keeps only the listed fields of each root named in `fields`; roots not named are untouched.
pub struct Retain(Vec<Field>);
impl Transform for Retain {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        for root in [Root::Body, Root::Attributes, Root::Resource] {
            let keep: Vec<&Field> = self.0.iter().filter(|f| f.root == root).collect();
            if keep.is_empty() {
                continue;
            }
            let mut fresh = Entry::default();
            for f in &keep {
                if let Some(v) = e.get(f) {
                    fresh.set(f, v.clone())?;
                }
            }
            match root {
                Root::Body => e.body = fresh.body,
                Root::Attributes => e.attributes = fresh.attributes,
                Root::Resource => e.resource = fresh.resource,
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldsCfg {
    fields: Vec<Field>,
}

pub fn retain(m: &Mapping, at: &str) -> Result<Retain, BuildError> {
    let c: FieldsCfg = parse_cfg(m, at)?;
    if c.fields.is_empty() {
        return Err((
            format!("{at}::fields"),
            "must name at least one field".into(),
        ));
    }
    Ok(Retain(c.fields))
}

/// Lifts a nested map's keys into its parent (`body.x.y` becomes `body.y`).
pub struct Flatten(Field);
impl Transform for Flatten {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let Some(Value::Object(m)) = e.get(&self.0).cloned() else {
            return Err(format!("{} is not a map", self.0));
        };
        e.delete(&self.0);
        let mut parent = self.0.clone();
        parent.path.pop();
        for (k, v) in m {
            let mut f = parent.clone();
            f.path.push(k);
            e.set(&f, v)?;
        }
        Ok(())
    }
}

pub fn flatten(m: &Mapping, at: &str) -> Result<Flatten, BuildError> {
    let f = parse_cfg::<FieldCfg>(m, at)?.field;
    if f.path.is_empty() {
        return Err((
            format!("{at}::field"),
            "must name a nested field, e.g. body.nested".into(),
        ));
    }
    Ok(Flatten(f))
}

pub struct RegexReplace {
    field: Field,
    re: Regex,
    with: String,
}
impl Transform for RegexReplace {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let Some(Value::String(s)) = e.get(&self.field) else {
            return Err(format!("{} is not a string", self.field));
        };
        let new = self.re.replace_all(s, self.with.as_str()).into_owned();
        e.set(&self.field, Value::String(new))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegexReplaceCfg {
    #[serde(default = "Field::body")]
    field: Field,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    regex_name: Option<String>,
    #[serde(default)]
    replace_with: String,
}

pub fn regex_replace(m: &Mapping, at: &str) -> Result<RegexReplace, BuildError> {
    let c: RegexReplaceCfg = parse_cfg(m, at)?;
    let re = match (c.regex, c.regex_name.as_deref()) {
        (Some(r), None) => r,
        (None, Some("ansi_control_sequences")) => r"\x1b[\[\]][0-9;?]*[a-zA-Z]".to_string(),
        (None, Some(n)) => {
            return Err((
                format!("{at}::regex_name"),
                format!("unknown regex_name {n:?} (ansi_control_sequences)"),
            ))
        }
        _ => {
            return Err((
                format!("{at}::regex"),
                "exactly one of regex and regex_name is required".into(),
            ))
        }
    };
    // Go's `$1`/`${name}` in replace_with are the regex crate's syntax too.
    Ok(RegexReplace {
        field: c.field,
        re: Regex::new(&re).map_err(|e| (format!("{at}::regex"), e.to_string()))?,
        with: c.replace_with,
    })
}

pub struct Unquote(Field);
impl Transform for Unquote {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let Some(Value::String(s)) = e.get(&self.0) else {
            return Err(format!("{} is not a string", self.0));
        };
        let u = unquote_str(s).ok_or_else(|| format!("{} is not a quoted string", self.0))?;
        e.set(&self.0, Value::String(u))
    }
}

/// Go's strconv.Unquote for "…" (with escapes), '…' and `…`.
pub fn unquote_str(s: &str) -> Option<String> {
    let q = s.chars().next()?;
    if s.len() < 2 || !s.ends_with(q) || !matches!(q, '"' | '\'' | '`') {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    if q == '`' {
        return Some(inner.to_string());
    }
    if q == '"' {
        return serde_json::from_str(s).ok();
    }
    Some(inner.replace("\\'", "'"))
}

pub fn unquote(m: &Mapping, at: &str) -> Result<Unquote, BuildError> {
    Ok(Unquote(parse_cfg::<FieldCfg>(m, at)?.field))
}

pub struct AssignKeys {
    field: Field,
    keys: Vec<String>,
}
impl Transform for AssignKeys {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let Some(Value::Array(a)) = e.get(&self.field) else {
            return Err(format!("{} is not a list", self.field));
        };
        if a.len() != self.keys.len() {
            return Err(format!(
                "{} has {} values but {} keys are given",
                self.field,
                a.len(),
                self.keys.len()
            ));
        }
        let m: Map<String, Value> = self.keys.iter().cloned().zip(a.iter().cloned()).collect();
        e.set(&self.field, Value::Object(m))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignKeysCfg {
    field: Field,
    keys: Vec<String>,
}

pub fn assign_keys(m: &Mapping, at: &str) -> Result<AssignKeys, BuildError> {
    let c: AssignKeysCfg = parse_cfg(m, at)?;
    Ok(AssignKeys {
        field: c.field,
        keys: c.keys,
    })
}

pub struct Sev(crate::stanza::severity::SeverityParser);
impl Transform for Sev {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        self.0.apply(e)
    }
}

pub fn severity_parser(m: &Mapping, at: &str) -> Result<(Sev, Vec<String>), BuildError> {
    // As otelcol: the operator (unlike a parser's `severity` block) needs `parse_from`.
    if !m.contains_key("parse_from") {
        return Err((
            format!("{at}::parse_from"),
            "missing required key \"parse_from\"".into(),
        ));
    }
    let c: SeverityConfig = parse_cfg(m, at)?;
    Ok((Sev(c.build().map_err(|e| (at.to_string(), e))?), vec![]))
}

pub struct Time(TimeParser);
impl Transform for Time {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        self.0.apply(e)
    }
}

pub fn time_parser(m: &Mapping, at: &str) -> Result<(Time, Vec<String>), BuildError> {
    let c: TimeConfig = parse_cfg(m, at)?;
    Ok((
        Time(c.build().map_err(|e| (at.to_string(), e))?),
        c.warnings(),
    ))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseFrom {
    pub parse_from: Field,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceCfg {
    #[serde(default)]
    pub trace_id: Option<ParseFrom>,
    #[serde(default)]
    pub span_id: Option<ParseFrom>,
    #[serde(default)]
    pub trace_flags: Option<ParseFrom>,
}

pub struct TraceParser {
    trace_id: Field,
    span_id: Field,
    flags: Field,
}

fn hex(s: &str, len: usize) -> Result<Vec<u8>, String> {
    if s.len() != len * 2 {
        return Err(format!("{s:?} is not {len} hex bytes"));
    }
    (0..len)
        .map(|i| {
            u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).map_err(|_| format!("{s:?} is not hex"))
        })
        .collect()
}

impl TraceCfg {
    pub fn build(&self) -> TraceParser {
        let f = |o: &Option<ParseFrom>, d: &str| {
            o.as_ref()
                .map(|p| p.parse_from.clone())
                .unwrap_or_else(|| Field::attr(d))
        };
        TraceParser {
            trace_id: f(&self.trace_id, "trace_id"),
            span_id: f(&self.span_id, "span_id"),
            flags: f(&self.trace_flags, "trace_flags"),
        }
    }
}

impl Transform for TraceParser {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        if let Some(v) = e.get(&self.trace_id) {
            e.trace_id = hex(&as_text(v), 16)?;
        }
        if let Some(v) = e.get(&self.span_id) {
            e.span_id = hex(&as_text(v), 8)?;
        }
        if let Some(v) = e.get(&self.flags) {
            let b = hex(&as_text(v), 1)?;
            e.trace_flags = b[0] as u32;
        }
        Ok(())
    }
}

pub fn trace_parser(m: &Mapping, at: &str) -> Result<TraceParser, BuildError> {
    Ok(parse_cfg::<TraceCfg>(m, at)?.build())
}

pub struct ScopeName(pub Field);
impl Transform for ScopeName {
    fn apply(&self, e: &mut Entry) -> Result<(), String> {
        let v = e
            .get(&self.0)
            .ok_or_else(|| format!("{} does not exist", self.0))?;
        e.scope_name = as_text(v);
        Ok(())
    }
}

pub fn scope_name_parser(m: &Mapping, at: &str) -> Result<ScopeName, BuildError> {
    Ok(ScopeName(parse_cfg::<ParseFrom>(m, at)?.parse_from))
}

pub struct Filter {
    expr: Expr,
    drop_ratio: f64,
    seen: u64,
}

impl Operator for Filter {
    fn process(&mut self, e: Entry, out: &mut Vec<(usize, Entry)>) -> Result<(), (String, Entry)> {
        if self.expr.eval(&e) {
            // Deterministic instead of random: drops `drop_ratio` of the matching entries evenly.
            self.seen += 1;
            let before = ((self.seen - 1) as f64 * self.drop_ratio).floor();
            let now = (self.seen as f64 * self.drop_ratio).floor();
            if now > before {
                return Ok(());
            }
        }
        out.push((0, e));
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterCfg {
    expr: String,
    #[serde(default = "one")]
    drop_ratio: f64,
}
fn one() -> f64 {
    1.0
}

pub fn filter(m: &Mapping, at: &str) -> Result<Filter, BuildError> {
    let c: FilterCfg = parse_cfg(m, at)?;
    if !(0.0..=1.0).contains(&c.drop_ratio) {
        return Err((
            format!("{at}::drop_ratio"),
            "must be between 0 and 1".into(),
        ));
    }
    Ok(Filter {
        expr: expr::parse(&c.expr)
            .map_err(|e| (format!("{at}::expr"), format!("{:?}: {e}", c.expr)))?,
        drop_ratio: c.drop_ratio,
        seen: 0,
    })
}

pub struct Router {
    routes: Vec<(Expr, Map<String, Value>)>,
}

impl Operator for Router {
    fn process(
        &mut self,
        mut e: Entry,
        out: &mut Vec<(usize, Entry)>,
    ) -> Result<(), (String, Entry)> {
        for (i, (x, attrs)) in self.routes.iter().enumerate() {
            if x.eval(&e) {
                for (k, v) in attrs {
                    e.attributes.insert(k.clone(), v.clone());
                }
                out.push((i, e));
                return Ok(());
            }
        }
        out.push((self.routes.len(), e));
        Ok(())
    }
    fn slots(&self) -> usize {
        self.routes.len() + 1
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteCfg {
    expr: String,
    #[serde(default)]
    output: Option<OneOrMany>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouterCfg {
    #[serde(default)]
    routes: Vec<RouteCfg>,
    #[serde(default)]
    default: Option<OneOrMany>,
}

/// Each route's outputs, then `default`'s.
pub type RouteOutputs = Vec<Option<Vec<String>>>;

pub fn router(m: &Mapping, at: &str) -> Result<(Router, RouteOutputs), BuildError> {
    let c: RouterCfg = parse_cfg(m, at)?;
    let mut routes = Vec::new();
    let mut outs = Vec::new();
    for (i, r) in c.routes.into_iter().enumerate() {
        let x = expr::parse(&r.expr).map_err(|e| {
            (
                format!("{at}::routes::{i}::expr"),
                format!("{:?}: {e}", r.expr),
            )
        })?;
        let Some(o) = r.output else {
            return Err((
                format!("{at}::routes::{i}::output"),
                "missing required key `output`".into(),
            ));
        };
        routes.push((x, r.attributes));
        outs.push(Some(o.list()));
    }
    outs.push(c.default.map(OneOrMany::list));
    Ok((Router { routes }, outs))
}

#[cfg(test)]
mod tests {
    use super::super::tests::run;

    #[test]
    fn transformers() {
        let out = run(
            r#"
- type: json_parser
  parse_to: body
- type: move
  from: body.msg
  to: attributes["message.text"]
- type: copy
  from: body.nested
  to: resource.n
- type: flatten
  field: body.nested
- type: add
  field: attributes.env
  value: prod
- type: remove
  field: body.drop
- type: regex_replace
  field: attributes["message.text"]
  regex: '\d+'
  replace_with: N
- type: unquote
  field: body.q
- type: assign_keys
  field: body.arr
  keys: [a, b]
- type: retain
  fields: [body.inner, body.q, body.arr]
- type: filter
  expr: 'attributes.env != "prod"'
"#,
            &[r#"{"msg":"id 42","nested":{"inner":1},"drop":true,"q":"\"hi\"","arr":[1,2]}"#],
        );
        assert_eq!(out.len(), 1);
        let e = &out[0];
        assert_eq!(e.attributes["message.text"], "id N");
        assert_eq!(e.body["inner"], 1);
        assert_eq!(e.body["q"], "hi");
        assert_eq!(e.body["arr"]["b"], 2);
        assert!(e.body.get("drop").is_none());
        assert_eq!(e.resource["n"]["inner"], 1);
        assert_eq!(e.attributes["env"], "prod");
    }
}
