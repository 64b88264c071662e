//! The expression subset accepted in `if:` and `router` routes' `expr:`.
//!
//! Stanza evaluates these with expr-lang; ferrotel parses the common forms once, at config time,
//! with this grammar (anything else is a config error naming the expression):
//!
//! ```text
//! expr    = or
//! or      = and ( ("or" | "||") and )*
//! and     = unary ( ("and" | "&&") unary )*
//! unary   = ("not" | "!") unary | cmp
//! cmp     = operand [ op operand ]          op: == != < <= > >= matches contains startsWith endsWith in
//! operand = "(" expr ")" | string | number | true | false | nil | list | field
//! list    = "[" [ operand ("," operand)* ] "]"
//! field   = body | body.a.b | body["a.b"] | attributes.k | attributes["k"] | resource.k | timestamp
//!           | severity_text | severity   (also with a leading `$`)
//! ```
//! A bare field is true when it exists and is not `false`, `nil` or "". `matches` takes a regex literal
//! (compiled once). Comparisons of numbers are numeric; otherwise values compare as text.

use regex::Regex;
use serde_json::Value;

use super::entry::{as_text, Entry, Field};

#[derive(Debug, Clone)]
pub enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Operand, Op, Operand),
    Matches(Operand, Regex),
    Truthy(Operand),
}

#[derive(Debug, Clone)]
pub enum Operand {
    Lit(Value),
    Field(Field),
    Severity,
    SeverityText,
    Timestamp,
    List(Vec<Operand>),
    Group(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    StartsWith,
    EndsWith,
    In,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Num(f64),
    Ident(String),
    Sym(&'static str),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'\'' || c == b'`' {
            let q = c;
            let mut t = String::new();
            i += 1;
            let mut chars = s[i..].char_indices();
            let mut closed = false;
            while let Some((off, ch)) = chars.next() {
                if ch as u32 == q as u32 {
                    i += off + 1;
                    closed = true;
                    break;
                }
                if ch == '\\' && q != b'`' {
                    match chars.next() {
                        Some((_, 'n')) => t.push('\n'),
                        Some((_, 't')) => t.push('\t'),
                        Some((_, e)) => {
                            // Regex escapes such as \d stay as written.
                            if e != '"' && e != '\'' && e != '\\' {
                                t.push('\\');
                            }
                            t.push(e)
                        }
                        None => break,
                    }
                } else {
                    t.push(ch);
                }
            }
            if !closed {
                return Err("unterminated string".into());
            }
            out.push(Tok::Str(t));
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(
                s[start..i]
                    .parse()
                    .map_err(|_| format!("bad number {}", &s[start..i]))?,
            ));
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            // A field path: identifiers joined by `.` and `["…"]` subscripts.
            let start = i;
            i += 1;
            while i < b.len() {
                if b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.' {
                    i += 1;
                } else if b[i] == b'[' && b.get(i + 1).is_some_and(|c| *c == b'"' || *c == b'\'') {
                    let q = b[i + 1];
                    let close = s[i + 2..].find(q as char).ok_or("unterminated subscript")?;
                    i = i + 2 + close + 1;
                    if b.get(i) != Some(&b']') {
                        return Err("expected ]".into());
                    }
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let sym = ["==", "!=", "<=", ">=", "&&", "||"]
                .into_iter()
                .find(|t| *t == two);
            if let Some(t) = sym {
                out.push(Tok::Sym(t));
                i += 2;
            } else {
                let t = match c {
                    b'<' => "<",
                    b'>' => ">",
                    b'!' => "!",
                    b'(' => "(",
                    b')' => ")",
                    b'[' => "[",
                    b']' => "]",
                    b',' => ",",
                    _ => return Err(format!("unexpected character {:?}", c as char)),
                };
                out.push(Tok::Sym(t));
                i += 1;
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(i)) if i == w)
    }
    fn is_sym(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(s)) if *s == w)
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.is_word("or") || self.is_sym("||") {
            self.pos += 1;
            l = Expr::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        while self.is_word("and") || self.is_sym("&&") {
            self.pos += 1;
            l = Expr::And(Box::new(l), Box::new(self.unary()?));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.is_word("not") || self.is_sym("!") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.operand()?;
        let op = match self.peek() {
            Some(Tok::Sym("==")) => Op::Eq,
            Some(Tok::Sym("!=")) => Op::Ne,
            Some(Tok::Sym("<")) => Op::Lt,
            Some(Tok::Sym("<=")) => Op::Le,
            Some(Tok::Sym(">")) => Op::Gt,
            Some(Tok::Sym(">=")) => Op::Ge,
            Some(Tok::Ident(w)) if w == "contains" => Op::Contains,
            Some(Tok::Ident(w)) if w == "startsWith" => Op::StartsWith,
            Some(Tok::Ident(w)) if w == "endsWith" => Op::EndsWith,
            Some(Tok::Ident(w)) if w == "in" => Op::In,
            Some(Tok::Ident(w)) if w == "matches" => {
                self.pos += 1;
                let Some(Tok::Str(re)) = self.next() else {
                    return Err("`matches` needs a string literal".into());
                };
                let re = Regex::new(&re).map_err(|e| format!("invalid regex {re:?}: {e}"))?;
                return Ok(Expr::Matches(l, re));
            }
            _ => {
                if let Operand::Group(e) = l {
                    return Ok(*e);
                }
                return Ok(Expr::Truthy(l));
            }
        };
        self.pos += 1;
        let r = self.operand()?;
        Ok(Expr::Cmp(l, op, r))
    }
    fn operand(&mut self) -> Result<Operand, String> {
        match self.next() {
            Some(Tok::Sym("(")) => {
                let e = self.or()?;
                if self.next() != Some(Tok::Sym(")")) {
                    return Err("expected )".into());
                }
                Ok(Operand::Group(Box::new(e)))
            }
            Some(Tok::Sym("[")) => {
                let mut v = Vec::new();
                if self.is_sym("]") {
                    self.pos += 1;
                    return Ok(Operand::List(v));
                }
                loop {
                    v.push(self.operand()?);
                    match self.next() {
                        Some(Tok::Sym(",")) => {}
                        Some(Tok::Sym("]")) => return Ok(Operand::List(v)),
                        _ => return Err("expected , or ]".into()),
                    }
                }
            }
            Some(Tok::Str(s)) => Ok(Operand::Lit(Value::String(s))),
            Some(Tok::Num(n)) => Ok(Operand::Lit(if n.fract() == 0.0 && n.abs() < 9e15 {
                Value::from(n as i64)
            } else {
                Value::from(n)
            })),
            Some(Tok::Ident(w)) => match w.trim_start_matches('$') {
                "true" => Ok(Operand::Lit(Value::Bool(true))),
                "false" => Ok(Operand::Lit(Value::Bool(false))),
                "nil" | "null" => Ok(Operand::Lit(Value::Null)),
                "severity" => Ok(Operand::Severity),
                "severity_text" => Ok(Operand::SeverityText),
                "timestamp" => Ok(Operand::Timestamp),
                _ => Field::parse(&w).map(Operand::Field),
            },
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("unexpected end of expression".into()),
        }
    }
}

/// Parses an expression; the error says what was wrong, the caller adds the key path.
pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.pos]));
    }
    Ok(e)
}

fn value_of(o: &Operand, e: &Entry) -> Value {
    match o {
        Operand::Lit(v) => v.clone(),
        Operand::Field(f) => e.get(f).cloned().unwrap_or(Value::Null),
        Operand::Severity => Value::from(e.severity),
        Operand::SeverityText => Value::from(e.severity_text.clone()),
        Operand::Timestamp => Value::from(e.timestamp),
        Operand::List(l) => Value::Array(l.iter().map(|o| value_of(o, e)).collect()),
        Operand::Group(x) => Value::Bool(x.eval(e)),
    }
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false)) && v.as_str() != Some("")
}

fn eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

impl Expr {
    pub fn eval(&self, e: &Entry) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(e) || b.eval(e),
            Expr::And(a, b) => a.eval(e) && b.eval(e),
            Expr::Not(a) => !a.eval(e),
            Expr::Truthy(o) => truthy(&value_of(o, e)),
            Expr::Matches(o, re) => match value_of(o, e) {
                Value::Null => false,
                v => re.is_match(&as_text(&v)),
            },
            Expr::Cmp(l, op, r) => {
                let (a, b) = (value_of(l, e), value_of(r, e));
                match op {
                    Op::Eq => eq(&a, &b),
                    Op::Ne => !eq(&a, &b),
                    Op::In => b.as_array().is_some_and(|l| l.iter().any(|x| eq(&a, x))),
                    Op::Contains => as_text(&a).contains(&as_text(&b)),
                    Op::StartsWith => as_text(&a).starts_with(&as_text(&b)),
                    Op::EndsWith => as_text(&a).ends_with(&as_text(&b)),
                    Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                        let ord = match (a.as_f64(), b.as_f64()) {
                            (Some(x), Some(y)) => x.partial_cmp(&y),
                            _ if a.is_null() || b.is_null() => None,
                            _ => Some(as_text(&a).cmp(&as_text(&b))),
                        };
                        let Some(ord) = ord else { return false };
                        match op {
                            Op::Lt => ord.is_lt(),
                            Op::Le => ord.is_le(),
                            Op::Gt => ord.is_gt(),
                            _ => ord.is_ge(),
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_forms() {
        let mut e = Entry::new(Value::String("GET /health 200".into()));
        e.attributes.insert("level".into(), Value::from("error"));
        e.attributes.insert("code".into(), Value::from(503));
        assert!(parse(r#"body matches "^GET \\S+""#).unwrap().eval(&e));
        assert!(
            parse(r#"attributes.level == "error" and attributes["code"] >= 500"#)
                .unwrap()
                .eval(&e)
        );
        assert!(
            parse(r#"attributes.level == "info" or not (attributes.code < 500)"#)
                .unwrap()
                .eval(&e)
        );
        assert!(parse(r#"attributes.level in ["warn", "error"]"#)
            .unwrap()
            .eval(&e));
        assert!(!parse("attributes.missing").unwrap().eval(&e));
        assert!(parse("attributes.missing == nil").unwrap().eval(&e));
        assert!(parse(r#"body contains "health" && $body startsWith 'GET'"#)
            .unwrap()
            .eval(&e));
        assert!(parse("body ==").is_err());
        assert!(parse(r#"body matches "(""#).is_err());
    }
}
