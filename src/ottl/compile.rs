//! The compile step: a parsed statement or condition becomes a tree of resolved paths, literals and
//! function closures, checked against its context and the function table. Nothing is parsed, looked up
//! by name or compiled (regexes) per item.

use std::borrow::Cow;
use std::sync::Arc;

use super::ast::{self, CmpOp, Expr, Key, MathOp};
use super::context::{self, Container, ContextKind, Ctx, Field, KeyRef};
use super::funcs;
use super::value::{compare, Owned, Value};

/// A compiled key.
pub enum CKey {
    Lit(KeyRef<'static>),
    Expr(Box<CExpr>),
}

impl CKey {
    fn eval<'a>(&'a self, ctx: &'a Ctx<'_>) -> Result<KeyRef<'a>, String> {
        match self {
            CKey::Lit(KeyRef::Str(s)) => Ok(KeyRef::Str(Cow::Borrowed(s))),
            CKey::Lit(KeyRef::Int(i)) => Ok(KeyRef::Int(*i)),
            CKey::Expr(e) => match e.eval(ctx)? {
                Value::Str(s) => Ok(KeyRef::Str(Cow::Owned(s.into_owned()))),
                Value::Int(i) => Ok(KeyRef::Int(i)),
                v => Err(format!(
                    "a key must be a string or an int, got {}",
                    v.type_name()
                )),
            },
        }
    }
}

/// A resolved path: a field and the keys below it.
pub struct CPath {
    pub field: Field,
    pub keys: Vec<CKey>,
    /// The keys when all are literal, so that writing needs no allocation for them.
    lit_keys: Option<Vec<KeyRef<'static>>>,
    pub text: String,
}

impl CPath {
    pub fn get<'a>(&'a self, ctx: &'a Ctx<'_>) -> Result<Value<'a>, String> {
        let mut v = ctx.get(self.field);
        for k in &self.keys {
            let k = k.eval(ctx)?;
            v = context::index(v, &k)?;
        }
        Ok(v)
    }

    fn keys_for_write(&self, ctx: &Ctx<'_>) -> Result<Cow<'_, [KeyRef<'static>]>, String> {
        if let Some(k) = &self.lit_keys {
            return Ok(Cow::Borrowed(k));
        }
        let mut out = Vec::with_capacity(self.keys.len());
        for k in &self.keys {
            out.push(match k.eval(ctx)? {
                KeyRef::Str(s) => KeyRef::Str(Cow::Owned(s.into_owned())),
                KeyRef::Int(i) => KeyRef::Int(i),
            });
        }
        Ok(Cow::Owned(out))
    }

    /// Writes `v` at the path. Writing nil does nothing, as in otelcol.
    pub fn set(&self, ctx: &mut Ctx<'_>, v: Owned) -> Result<(), String> {
        if matches!(v, Value::Nil) {
            return Ok(());
        }
        if self.keys.is_empty() {
            return ctx.set(self.field, v);
        }
        let keys = self.keys_for_write(ctx)?;
        if self.field == Field::SpanTraceStateKey {
            let Some(KeyRef::Str(k)) = keys.first() else {
                return Err("trace_state must be indexed with a string key".into());
            };
            let Value::Str(v) = v else {
                return Err(format!(
                    "trace_state values must be strings, got {}",
                    v.type_name()
                ));
            };
            return match ctx.span.as_deref_mut() {
                Some(span) => context::set_trace_state_member(&mut span.trace_state, k, &v),
                None => Ok(()),
            };
        }
        let Some(c) = ctx.container_mut(self.field) else {
            return Err(format!("{} cannot be indexed", self.text));
        };
        if let Some(slot) = context::reach(c, &keys)? {
            *slot = v.into_any();
        }
        Ok(())
    }

    /// The map at the path, for editors that change maps in place; `None` if the value there is not a
    /// map.
    pub fn map_mut<'c>(
        &self,
        ctx: &'c mut Ctx<'_>,
    ) -> Result<Option<&'c mut Vec<opentelemetry_proto::tonic::common::v1::KeyValue>>, String> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Av;
        let keys = self.keys_for_write(ctx)?.into_owned();
        // Checked by reading first, so that an editor that only removes does not create a key.
        if !keys.is_empty() && !matches!(self.get(ctx)?, Value::Map(_)) {
            return Ok(None);
        }
        let Some(c) = ctx.container_mut(self.field) else {
            return Ok(None);
        };
        if keys.is_empty() {
            return Ok(match c {
                Container::Map(m) => Some(m),
                Container::Any(a) => match &mut a.value {
                    Some(Av::KvlistValue(m)) => Some(&mut m.values),
                    _ => None,
                },
            });
        }
        Ok(match context::reach(c, &keys)? {
            Some(a) => match &mut a.value {
                Some(Av::KvlistValue(m)) => Some(&mut m.values),
                _ => None,
            },
            None => None,
        })
    }
}

/// A converter: a closure over its compiled arguments.
pub type ConvFn = Box<dyn Fn(&Ctx<'_>) -> Result<Owned, String> + Send + Sync>;
/// An editor: a closure that changes the item.
pub type EditFn = Box<dyn Fn(&mut Ctx<'_>) -> Result<(), String> + Send + Sync>;

pub enum CExpr {
    Lit(Owned),
    Path(CPath),
    Conv(ConvFn, Vec<CKey>),
    List(Vec<CExpr>),
    Map(Vec<(String, CExpr)>),
    Math(MathOp, Box<CExpr>, Box<CExpr>),
    Cmp(CmpOp, Box<CExpr>, Box<CExpr>),
    And(Box<CExpr>, Box<CExpr>),
    Or(Box<CExpr>, Box<CExpr>),
    Not(Box<CExpr>),
}

impl CExpr {
    pub fn eval<'a>(&'a self, ctx: &'a Ctx<'_>) -> Result<Value<'a>, String> {
        match self {
            CExpr::Lit(v) => Ok(v.reborrow()),
            CExpr::Path(p) => p.get(ctx),
            CExpr::Conv(f, keys) => {
                let mut v = f(ctx)?;
                for k in keys {
                    let k = k.eval(ctx)?;
                    v = context::index(v, &k)?.into_owned();
                }
                Ok(v)
            }
            CExpr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for e in items {
                    out.push(e.eval(ctx)?.into_any());
                }
                Ok(Value::List(Cow::Owned(out)))
            }
            CExpr::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                for (k, e) in entries {
                    out.push(opentelemetry_proto::tonic::common::v1::KeyValue {
                        key: k.clone(),
                        value: Some(e.eval(ctx)?.into_any()),
                        ..Default::default()
                    });
                }
                Ok(Value::Map(Cow::Owned(out)))
            }
            CExpr::Math(op, a, b) => math(*op, a.eval(ctx)?, b.eval(ctx)?),
            CExpr::Cmp(..) | CExpr::And(..) | CExpr::Or(..) | CExpr::Not(..) => {
                Ok(Value::Bool(self.test(ctx)?))
            }
        }
    }

    /// Evaluates a condition.
    pub fn test(&self, ctx: &Ctx<'_>) -> Result<bool, String> {
        match self {
            CExpr::Cmp(op, a, b) => Ok(compare(*op, &a.eval(ctx)?, &b.eval(ctx)?)),
            CExpr::And(a, b) => Ok(a.test(ctx)? && b.test(ctx)?),
            CExpr::Or(a, b) => Ok(a.test(ctx)? || b.test(ctx)?),
            CExpr::Not(a) => Ok(!a.test(ctx)?),
            e => match e.eval(ctx)? {
                Value::Bool(b) => Ok(b),
                v => Err(format!("expected a boolean, got {}", v.type_name())),
            },
        }
    }

    pub fn literal(&self) -> Option<&Owned> {
        match self {
            CExpr::Lit(v) => Some(v),
            _ => None,
        }
    }

    /// Adds to `out` the first key of every path on `field` (`attributes["k"]` → `k`); `false` when
    /// one of them is not a literal string (the whole map, or a computed key) or a converter is
    /// called, so that every key may be read.
    pub fn literal_keys_of(&self, field: Field, out: &mut Vec<String>) -> bool {
        let keys = |keys: &[CKey], out: &mut Vec<String>| {
            keys.iter().all(|k| match k {
                CKey::Lit(_) => true,
                CKey::Expr(e) => e.literal_keys_of(field, out),
            })
        };
        match self {
            CExpr::Lit(_) => true,
            CExpr::Path(p) => {
                if p.field == field {
                    match p.keys.first() {
                        Some(CKey::Lit(KeyRef::Str(k))) => out.push(k.to_string()),
                        _ => return false,
                    }
                }
                keys(&p.keys, out)
            }
            CExpr::Conv(..) => false,
            CExpr::List(items) => items.iter().all(|e| e.literal_keys_of(field, out)),
            CExpr::Map(entries) => entries.iter().all(|(_, e)| e.literal_keys_of(field, out)),
            CExpr::Math(_, a, b) | CExpr::Cmp(_, a, b) | CExpr::And(a, b) | CExpr::Or(a, b) => {
                a.literal_keys_of(field, out) && b.literal_keys_of(field, out)
            }
            CExpr::Not(a) => a.literal_keys_of(field, out),
        }
    }

    /// Adds to `out` the fields the expression reads through its paths (computed keys included);
    /// `false` when it calls a converter, whose reads are not known from outside (it may read the
    /// item directly, as `IsRootSpan` does).
    pub fn fields_read(&self, out: &mut Vec<Field>) -> bool {
        let keys = |keys: &[CKey], out: &mut Vec<Field>| {
            keys.iter().all(|k| match k {
                CKey::Lit(_) => true,
                CKey::Expr(e) => e.fields_read(out),
            })
        };
        match self {
            CExpr::Lit(_) => true,
            CExpr::Path(p) => {
                out.push(p.field);
                keys(&p.keys, out)
            }
            CExpr::Conv(..) => false,
            CExpr::List(items) => items.iter().all(|e| e.fields_read(out)),
            CExpr::Map(entries) => entries.iter().all(|(_, e)| e.fields_read(out)),
            CExpr::Math(_, a, b) | CExpr::Cmp(_, a, b) | CExpr::And(a, b) | CExpr::Or(a, b) => {
                a.fields_read(out) && b.fields_read(out)
            }
            CExpr::Not(a) => a.fields_read(out),
        }
    }
}

fn math(op: MathOp, a: Value, b: Value) -> Result<Owned, String> {
    use Value::*;
    let bad = |a: &Value, b: &Value| {
        Err(format!(
            "cannot apply {} to {} and {}",
            op.as_str(),
            a.type_name(),
            b.type_name()
        ))
    };
    Ok(match (&a, &b) {
        (Int(x), Int(y)) => Int(match op {
            MathOp::Add => x.wrapping_add(*y),
            MathOp::Sub => x.wrapping_sub(*y),
            MathOp::Mul => x.wrapping_mul(*y),
            MathOp::Div => {
                if *y == 0 {
                    return Err("division by zero".into());
                }
                x.wrapping_div(*y)
            }
        }),
        (Double(x), Double(y)) => Double(match op {
            MathOp::Add => x + y,
            MathOp::Sub => x - y,
            MathOp::Mul => x * y,
            MathOp::Div => {
                if *y == 0.0 {
                    return Err("division by zero".into());
                }
                x / y
            }
        }),
        (Time(x), Duration(y)) if matches!(op, MathOp::Add | MathOp::Sub) => {
            Time(if op == MathOp::Add {
                x.saturating_add(*y)
            } else {
                x.saturating_sub(*y)
            })
        }
        (Time(x), Time(y)) if op == MathOp::Sub => Duration(x.saturating_sub(*y)),
        (Duration(x), Duration(y)) if matches!(op, MathOp::Add | MathOp::Sub) => {
            Duration(if op == MathOp::Add {
                x.saturating_add(*y)
            } else {
                x.saturating_sub(*y)
            })
        }
        _ => return bad(&a, &b),
    })
}

/// What `error_mode` does with an error while a statement or condition runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorMode {
    /// The error fails the request (otelcol's default).
    #[default]
    Propagate,
    /// The error is logged and the statement skipped for this item.
    Ignore,
    /// The statement is skipped for this item without a log.
    Silent,
}

/// A compiled statement: its editor and optional `where` condition.
pub struct Statement {
    pub text: String,
    pub context: ContextKind,
    pub editor: EditFn,
    pub condition: Option<CExpr>,
}

impl Statement {
    /// Runs the statement on one item.
    pub fn execute(&self, ctx: &mut Ctx<'_>) -> Result<(), String> {
        if let Some(c) = &self.condition {
            if !c.test(ctx).map_err(|e| format!("{}: {e}", self.text))? {
                return Ok(());
            }
        }
        (self.editor)(ctx).map_err(|e| format!("{}: {e}", self.text))
    }
}

/// A compiled condition (a `where` clause on its own, as `filter` uses).
pub struct Condition {
    pub text: String,
    pub context: ContextKind,
    pub expr: CExpr,
}

impl Condition {
    pub fn test(&self, ctx: &Ctx<'_>) -> Result<bool, String> {
        self.expr
            .test(ctx)
            .map_err(|e| format!("{}: {e}", self.text))
    }
}

/// A compile error, with the column of the part that is wrong.
#[derive(Debug, Clone)]
pub struct CompileError {
    pub column: usize,
    pub message: String,
}

impl CompileError {
    pub fn new(column: usize, message: impl Into<String>) -> Self {
        CompileError {
            column,
            message: message.into(),
        }
    }
}

/// Compiles expressions for one context. `filter` adds its own converters through `extra`.
pub struct Compiler<'e> {
    pub context: ContextKind,
    pub extra: &'e [(&'static str, funcs::ConvFactory)],
}

impl Compiler<'_> {
    pub fn new(context: ContextKind) -> Compiler<'static> {
        Compiler {
            context,
            extra: &[],
        }
    }

    pub fn path(&self, p: &ast::Path) -> Result<CPath, CompileError> {
        let fields: Vec<&str> = p.fields.iter().map(String::as_str).collect();
        let (ctx, rest) = match fields.split_first() {
            Some((first, rest))
                if !rest.is_empty() || *first == "resource" || *first == "scope" =>
            {
                match ContextKind::parse(first) {
                    Some(c) if !rest.is_empty() => (c, rest),
                    _ => (self.context, fields.as_slice()),
                }
            }
            _ => (self.context, fields.as_slice()),
        };
        if !self.context.can_see(ctx) {
            return Err(CompileError::new(
                p.column,
                format!(
                    "path {p} names the {ctx} context, which statements in the {} context cannot reach",
                    self.context
                ),
            ));
        }
        let Some(field) = context::resolve(ctx, rest) else {
            let msg = if context::unsupported(ctx, rest) {
                format!("path {p} is not supported by ferrotel yet")
            } else {
                format!("unknown path {p} in the {ctx} context")
            };
            return Err(CompileError::new(p.column, msg));
        };
        // `trace_state` is a string; `trace_state["key"]` reads and writes one of its members.
        let field = if field == Field::SpanTraceState && !p.keys.is_empty() {
            if p.keys.len() > 1 {
                return Err(CompileError::new(
                    p.column,
                    format!("path {p}: trace_state takes one key"),
                ));
            }
            Field::SpanTraceStateKey
        } else {
            field
        };
        if !p.keys.is_empty() && !field.indexable() {
            return Err(CompileError::new(
                p.column,
                format!("path {p}: {} cannot be indexed", p.fields.join(".")),
            ));
        }
        let keys = self.keys(&p.keys, p.column)?;
        let lit_keys = keys
            .iter()
            .map(|k| match k {
                CKey::Lit(k) => Some(k.clone()),
                CKey::Expr(_) => None,
            })
            .collect();
        Ok(CPath {
            field,
            keys,
            lit_keys,
            text: p.to_string(),
        })
    }

    fn keys(&self, keys: &[Key], column: usize) -> Result<Vec<CKey>, CompileError> {
        keys.iter()
            .map(|k| {
                Ok(match k {
                    Key::Str(s) => CKey::Lit(KeyRef::Str(Cow::Owned(s.clone()))),
                    Key::Int(i) => CKey::Lit(KeyRef::Int(*i)),
                    Key::Expr(e) => {
                        let c = self.expr(e)?;
                        match c {
                            CExpr::Lit(Value::Str(s)) => {
                                CKey::Lit(KeyRef::Str(Cow::Owned(s.into_owned())))
                            }
                            CExpr::Lit(Value::Int(i)) => CKey::Lit(KeyRef::Int(i)),
                            CExpr::Lit(v) => {
                                return Err(CompileError::new(
                                    column,
                                    format!(
                                        "a key must be a string or an int, got {}",
                                        v.type_name()
                                    ),
                                ))
                            }
                            c => CKey::Expr(Box::new(c)),
                        }
                    }
                })
            })
            .collect()
    }

    pub fn expr(&self, e: &Expr) -> Result<CExpr, CompileError> {
        Ok(match e {
            Expr::Nil => CExpr::Lit(Value::Nil),
            Expr::Bool(b) => CExpr::Lit(Value::Bool(*b)),
            Expr::Int(i) => CExpr::Lit(Value::Int(*i)),
            Expr::Float(x) => CExpr::Lit(Value::Double(*x)),
            Expr::Str(s) => CExpr::Lit(Value::Str(Cow::Owned(s.clone()))),
            Expr::Bytes(b) => CExpr::Lit(Value::Bytes(Cow::Owned(b.clone()))),
            Expr::Enum(name, col) => match funcs::enum_value(name) {
                Some(v) => CExpr::Lit(Value::Int(v)),
                None => return Err(CompileError::new(*col, format!("unknown enum {name}"))),
            },
            Expr::List(items) => {
                let items = items
                    .iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(lits) = items
                    .iter()
                    .map(|e| e.literal())
                    .collect::<Option<Vec<_>>>()
                {
                    CExpr::Lit(Value::List(Cow::Owned(
                        lits.iter().map(|v| v.to_any()).collect(),
                    )))
                } else {
                    CExpr::List(items)
                }
            }
            Expr::Map(entries) => {
                let entries = entries
                    .iter()
                    .map(|(k, e)| Ok((k.clone(), self.expr(e)?)))
                    .collect::<Result<Vec<_>, CompileError>>()?;
                if entries.iter().all(|(_, e)| e.literal().is_some()) {
                    CExpr::Lit(Value::Map(Cow::Owned(
                        entries
                            .iter()
                            .map(|(k, e)| opentelemetry_proto::tonic::common::v1::KeyValue {
                                key: k.clone(),
                                value: e.literal().map(|v| v.to_any()),
                                ..Default::default()
                            })
                            .collect(),
                    )))
                } else {
                    CExpr::Map(entries)
                }
            }
            Expr::Path(p) => CExpr::Path(self.path(p)?),
            Expr::Call(c) => {
                if c.name.chars().next().is_some_and(|ch| ch.is_lowercase()) {
                    return Err(CompileError::new(
                        c.column,
                        format!("editor {} cannot be used as a value", c.name),
                    ));
                }
                let f = funcs::converter(self, c)?;
                CExpr::Conv(f, self.keys(&c.keys, c.column)?)
            }
            Expr::Math(op, a, b) => {
                CExpr::Math(*op, Box::new(self.expr(a)?), Box::new(self.expr(b)?))
            }
            Expr::Compare(op, a, b) => {
                CExpr::Cmp(*op, Box::new(self.expr(a)?), Box::new(self.expr(b)?))
            }
            Expr::And(a, b) => {
                CExpr::And(Box::new(self.condition(a)?), Box::new(self.condition(b)?))
            }
            Expr::Or(a, b) => CExpr::Or(Box::new(self.condition(a)?), Box::new(self.condition(b)?)),
            Expr::Not(a) => CExpr::Not(Box::new(self.condition(a)?)),
        })
    }

    /// Compiles a boolean expression: a comparison, `and`/`or`/`not`, `true`/`false`, or a converter.
    pub fn condition(&self, e: &Expr) -> Result<CExpr, CompileError> {
        match e {
            Expr::Compare(..)
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Not(..)
            | Expr::Bool(_)
            | Expr::Call(_) => self.expr(e),
            Expr::Path(p) => Err(CompileError::new(
                p.column,
                format!(
                    "expected a boolean expression, found path {p}; compare it, e.g. {p} == true"
                ),
            )),
            other => Err(CompileError::new(
                column_of(other),
                format!("expected a boolean expression, found {other}"),
            )),
        }
    }
}

/// The column of the first part of an expression that has one.
pub fn column_of(e: &Expr) -> usize {
    match e {
        Expr::Path(p) => p.column,
        Expr::Call(c) => c.column,
        Expr::Enum(_, c) => *c,
        Expr::Math(_, a, _) | Expr::Compare(_, a, _) | Expr::And(a, _) | Expr::Or(a, _) => {
            column_of(a)
        }
        Expr::Not(a) => column_of(a),
        _ => 1,
    }
}

/// The contexts named by path prefixes (`span.name` names `span`) in an expression.
pub fn prefixes(e: &Expr, out: &mut Vec<ContextKind>) {
    let mut path = |p: &ast::Path| {
        if p.fields.len() > 1 {
            if let Some(c) = ContextKind::parse(&p.fields[0]) {
                out.push(c);
            }
        }
        for k in &p.keys {
            if let Key::Expr(e) = k {
                prefixes(e, out);
            }
        }
    };
    match e {
        Expr::Path(p) => path(p),
        Expr::Call(c) => {
            for a in &c.args {
                prefixes(&a.value, out);
            }
            for k in &c.keys {
                if let Key::Expr(e) = k {
                    prefixes(e, out);
                }
            }
        }
        Expr::List(items) => items.iter().for_each(|e| prefixes(e, out)),
        Expr::Map(entries) => entries.iter().for_each(|(_, e)| prefixes(e, out)),
        Expr::Math(_, a, b) | Expr::Compare(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
            prefixes(a, out);
            prefixes(b, out);
        }
        Expr::Not(a) => prefixes(a, out),
        _ => {}
    }
}

/// Infers the context of statements or conditions from their path prefixes, as otelcol ≥ 0.120: the
/// deepest context named, which must see every other one named. `allowed` are the contexts of the
/// signal.
pub fn infer(exprs: &[&Expr], allowed: &[ContextKind]) -> Result<ContextKind, String> {
    let mut named = Vec::new();
    for e in exprs {
        prefixes(e, &mut named);
    }
    let Some(deepest) = named.iter().copied().max_by_key(|c| c.depth()) else {
        return Err("cannot infer the context: prefix every path with its context (e.g. span.attributes[\"k\"], resource.attributes[\"k\"])".into());
    };
    let mut chosen = deepest;
    // span and spanevent/metric and datapoint: the deeper one sees the other.
    for c in &named {
        if !chosen.can_see(*c) {
            return Err(format!(
                "paths name both the {chosen} and the {c} context, which cannot be used together"
            ));
        }
    }
    if !allowed.contains(&chosen) {
        if let Some(a) = allowed.iter().find(|a| a.can_see(chosen)) {
            chosen = *a;
        } else {
            return Err(format!(
                "the {chosen} context is not available for this signal"
            ));
        }
    }
    Ok(chosen)
}

/// Compiles a statement in a context.
pub fn statement(compiler: &Compiler<'_>, st: &ast::Statement) -> Result<Statement, CompileError> {
    let editor = funcs::editor(compiler, &st.editor)?;
    let condition = st
        .condition
        .as_ref()
        .map(|c| compiler.condition(c))
        .transpose()?;
    Ok(Statement {
        text: st.to_string(),
        context: compiler.context,
        editor,
        condition,
    })
}

/// Shared compiled statements, as processors keep them.
pub type Statements = Arc<Vec<Statement>>;
