//! The typed syntax tree of OTTL, and its printer (`Display` prints a form that parses back to the
//! same tree).

use std::fmt;

/// A statement: an editor call with an optional `where` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub editor: Call,
    pub condition: Option<Expr>,
}

/// A function call: `name(args)` and, for converters, optional keys on the result (`ParseJSON(body)["a"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
    pub keys: Vec<Key>,
    /// Column (1-based) where the call starts, for error messages.
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<String>,
    pub value: Expr,
}

/// An index on a path or a converter result: `["key"]` or `[0]`, or a computed key.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Str(String),
    Int(i64),
    Expr(Box<Expr>),
}

/// A path: dotted field names (the first may name a context) and keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub fields: Vec<String>,
    pub keys: Vec<Key>,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Expr>),
    Map(Vec<(String, Expr)>),
    Enum(String, usize),
    Path(Path),
    Call(Call),
    Math(MathOp, Box<Expr>, Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

impl MathOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MathOp::Add => "+",
            MathOp::Sub => "-",
            MathOp::Mul => "*",
            MathOp::Div => "/",
        }
    }
}

pub(crate) fn quote(s: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        match self {
            Key::Str(s) => quote(s, f)?,
            Key::Int(i) => write!(f, "{i}")?,
            Key::Expr(e) => write!(f, "{e}")?,
        }
        f.write_str("]")
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fields.join("."))?;
        for k in &self.keys {
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if let Some(n) = &a.name {
                write!(f, "{n} = ")?;
            }
            write!(f, "{}", a.value)?;
        }
        f.write_str(")")?;
        for k in &self.keys {
            write!(f, "{k}")?;
        }
        Ok(())
    }
}

impl Expr {
    /// Binding strength, for printing the fewest parentheses that keep the tree.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(..) => 1,
            Expr::And(..) => 2,
            Expr::Not(..) => 3,
            Expr::Compare(..) => 4,
            Expr::Math(MathOp::Add | MathOp::Sub, ..) => 5,
            Expr::Math(..) => 6,
            _ => 7,
        }
    }
}

fn child(f: &mut fmt::Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if e.precedence() < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Nil => f.write_str("nil"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Float(x) => {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{x:.1}")
                } else {
                    write!(f, "{x:?}")
                }
            }
            Expr::Str(s) => quote(s, f),
            Expr::Bytes(b) => {
                f.write_str("0x")?;
                for x in b {
                    write!(f, "{x:02x}")?;
                }
                Ok(())
            }
            Expr::List(items) => {
                f.write_str("[")?;
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str("]")
            }
            Expr::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, e)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    quote(k, f)?;
                    write!(f, ": {e}")?;
                }
                f.write_str("}")
            }
            Expr::Enum(s, _) => f.write_str(s),
            Expr::Path(p) => write!(f, "{p}"),
            Expr::Call(c) => write!(f, "{c}"),
            Expr::Math(op, a, b) => {
                let p = self.precedence();
                child(f, a, p)?;
                write!(f, " {} ", op.as_str())?;
                // Left-associative: a right operand of the same strength needs parentheses.
                child(f, b, p + 1)
            }
            Expr::Compare(op, a, b) => {
                child(f, a, 5)?;
                write!(f, " {} ", op.as_str())?;
                child(f, b, 5)
            }
            Expr::And(a, b) => {
                child(f, a, 2)?;
                f.write_str(" and ")?;
                child(f, b, 3)
            }
            Expr::Or(a, b) => {
                child(f, a, 1)?;
                f.write_str(" or ")?;
                child(f, b, 2)
            }
            Expr::Not(e) => {
                f.write_str("not ")?;
                child(f, e, 3)
            }
        }
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.editor)?;
        if let Some(c) = &self.condition {
            write!(f, " where {c}")?;
        }
        Ok(())
    }
}
