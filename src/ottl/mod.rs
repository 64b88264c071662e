//! OTTL, the OpenTelemetry Transformation Language of otelcol-contrib's `pkg/ottl`, shared by every
//! component that takes statements or conditions (`filter`, `transform`).
//!
//! - [`parser`]: text → typed tree ([`ast`]), with the grammar in its doc comment; errors carry a column.
//! - [`compile`]: tree → resolved paths, literals and function closures, checked against a context
//!   ([`context`]) and the function table ([`funcs`]) once, at config validation.
//! - [`context`]: the contexts, their paths, and reading and writing one item ([`context::Ctx`]).
//! - [`value`]: runtime values and OTTL's typed comparison.
//! - [`exec`]: walking decoded OTLP data context by context.
//!
//! What otelcol has and ferrotel does not yet is listed in `docs/ottl.md`; naming it is a config error
//! saying "not supported by ferrotel yet".

pub mod ast;
pub mod compile;
pub mod context;
pub mod exec;
pub mod funcs;
pub mod metric_funcs;
pub mod parser;
pub mod tz;
pub mod value;

pub use compile::{Condition, ErrorMode, Statement};
pub use context::{ContextKind, Ctx};
pub use parser::{parse_condition, parse_statement, ParseError};

use compile::Compiler;

/// Parses and compiles one statement in a context. The error names the column and what was expected.
pub fn compile_statement(text: &str, context: ContextKind) -> Result<Statement, String> {
    let st = parse_statement(text).map_err(|e| e.to_string())?;
    compile::statement(&Compiler::new(context), &st)
        .map_err(|e| format!("column {}: {}", e.column, e.message))
}

/// Parses and compiles one condition in a context, with a component's extra converters.
pub fn compile_condition_with(
    text: &str,
    context: ContextKind,
    extra: &[(&'static str, funcs::ConvFactory)],
) -> Result<Condition, String> {
    let e = parse_condition(text).map_err(|e| e.to_string())?;
    let cp = Compiler { context, extra };
    let expr = cp
        .condition(&e)
        .map_err(|e| format!("column {}: {}", e.column, e.message))?;
    Ok(Condition {
        text: text.to_string(),
        context,
        expr,
    })
}

pub fn compile_condition(text: &str, context: ContextKind) -> Result<Condition, String> {
    compile_condition_with(text, context, &[])
}

/// The context of a path-prefixed statement (`set(span.name, "x")` runs in `span`).
pub fn infer_statement(text: &str, allowed: &[ContextKind]) -> Result<ContextKind, String> {
    let st = parse_statement(text).map_err(|e| e.to_string())?;
    let call = ast::Expr::Call(st.editor.clone());
    let mut exprs = vec![&call];
    if let Some(c) = &st.condition {
        exprs.push(c);
    }
    // Metric-only editors run in the metric context.
    if funcs::EDITORS[14..]
        .iter()
        .any(|(n, ..)| *n == st.editor.name)
    {
        return Ok(ContextKind::Metric);
    }
    compile::infer(&exprs, allowed)
}

/// The context of a path-prefixed condition.
pub fn infer_condition(text: &str, allowed: &[ContextKind]) -> Result<ContextKind, String> {
    let e = parse_condition(text).map_err(|e| e.to_string())?;
    compile::infer(&[&e], allowed)
}

/// Contexts each signal has, from the top.
pub fn contexts_of(signal: crate::signal::SignalKind) -> &'static [ContextKind] {
    use crate::signal::SignalKind::*;
    use ContextKind::*;
    match signal {
        Traces => &[Resource, Scope, Span, SpanEvent],
        Metrics => &[Resource, Scope, Metric, DataPoint],
        Logs => &[Resource, Scope, Log],
    }
}

#[cfg(test)]
mod tests;
