//! Stanza: the operators of otelcol's log receivers (`filelog`'s `operators:`), with Stanza's field
//! syntax and an expression subset for `if:` and `router`.
//!
//! - [`entry`]: the entry operators work on, fields (`body.x`, `attributes["k"]`), OTLP conversion.
//! - [`expr`]: the `if:`/`expr:` language subset (its grammar is documented there).
//! - [`time`], [`severity`]: `timestamp:` and `severity:` blocks.
//! - [`operators`]: the operators and the pipeline that runs them.

pub mod entry;
pub mod expr;
pub mod operators;
pub mod severity;
pub mod time;

pub use entry::{Entry, Field};
pub use operators::Pipeline;
