//! A recursive-descent parser for OTTL statements and conditions.
//!
//! The grammar (otelcol-contrib `pkg/ottl`), lowest binding first:
//!
//! ```text
//! statement   := editor ( "where" condition )?
//! editor      := LOWER_IDENT "(" arguments? ")"
//! condition   := or
//! or          := and ( "or" and )*
//! and         := not ( "and" not )*
//! not         := "not" not | compare
//! compare     := sum ( ("==" | "!=" | "<" | "<=" | ">" | ">=") sum )?
//! sum         := product ( ("+" | "-") product )*
//! product     := unary ( ("*" | "/") unary )*
//! unary       := "-" unary | primary
//! primary     := "(" condition ")" | literal | list | map | ENUM | converter | path
//! literal     := STRING | INT | FLOAT | BYTES ("0x" hex) | "true" | "false" | "nil"
//! list        := "[" ( condition ( "," condition )* )? "]"
//! map         := "{" ( STRING ":" condition ( "," STRING ":" condition )* )? "}"
//! converter   := UPPER_IDENT "(" arguments? ")" key*
//! path        := IDENT ( "." IDENT )* key*
//! key         := "[" ( STRING | INT | condition ) "]"
//! arguments   := argument ( "," argument )*
//! argument    := ( IDENT "=" )? condition
//! ENUM        := an identifier of upper-case letters, digits and "_" not followed by "("
//! ```
//!
//! Types are not checked here: the compiler ([`super::compile`]) checks that a condition is boolean,
//! that editors get paths where they write, and every function's arguments.

use super::ast::*;

/// A syntax error: the column (1-based, in characters) and what was expected there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bytes(Vec<u8>),
    Op(&'static str),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Str(s) => format!("string \"{s}\""),
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(x) => format!("number {x}"),
            Tok::Bytes(_) => "bytes literal".into(),
            Tok::Op(o) => format!("\"{o}\""),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// Nesting limit, so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 64;

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |column: usize, message: String| ParseError { column, message };
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let Some(&c) = chars.get(i) else {
                    return Err(err(
                        col,
                        "unterminated string: expected a closing '\"'".into(),
                    ));
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err(err(
                                col,
                                "unterminated string: expected a closing '\"'".into(),
                            ));
                        };
                        i += 1;
                        match e {
                            'n' => s.push('\n'),
                            't' => s.push('\t'),
                            'r' => s.push('\r'),
                            '"' => s.push('"'),
                            '\\' => s.push('\\'),
                            '/' => s.push('/'),
                            'u' => {
                                let hex: String = chars.iter().skip(i).take(4).collect();
                                let cp =
                                    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                                match (hex.len(), cp) {
                                    (4, Some(ch)) => {
                                        s.push(ch);
                                        i += 4;
                                    }
                                    _ => {
                                        return Err(err(
                                            i,
                                            "expected 4 hex digits after \\u".into(),
                                        ))
                                    }
                                }
                            }
                            // Unknown escapes are kept as written, so that regexes like "\d" work.
                            other => {
                                s.push('\\');
                                s.push(other);
                            }
                        }
                    }
                    c => s.push(c),
                }
            }
            out.push((Tok::Str(s), col));
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            if c == '0' && matches!(chars.get(i + 1), Some('x') | Some('X')) {
                i += 2;
                let hs = i;
                while i < chars.len() && chars[i].is_ascii_hexdigit() {
                    i += 1;
                }
                let hex: String = chars[hs..i].iter().collect();
                if hex.is_empty() || hex.len() % 2 != 0 {
                    return Err(err(
                        col,
                        "expected an even number of hex digits after 0x".into(),
                    ));
                }
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|j| u8::from_str_radix(&hex[j..j + 2], 16).unwrap_or(0))
                    .collect();
                out.push((Tok::Bytes(bytes), col));
                continue;
            }
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let mut float = false;
            if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if matches!(chars.get(i), Some('e') | Some('E')) {
                let save = i;
                i += 1;
                if matches!(chars.get(i), Some('+') | Some('-')) {
                    i += 1;
                }
                if chars.get(i).is_some_and(|c| c.is_ascii_digit()) {
                    float = true;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    i = save;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let tok = if float {
                // As Go's strconv.ParseFloat: a literal beyond f64's range is an error, not ±Inf.
                Tok::Float(
                    text.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| err(col, format!("number {text} out of range")))?,
                )
            } else {
                Tok::Int(
                    text.parse()
                        .map_err(|_| err(col, format!("integer {text} out of range")))?,
                )
            };
            out.push((tok, col));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), col));
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let op = match two.as_str() {
            "==" => Some("=="),
            "!=" => Some("!="),
            "<=" => Some("<="),
            ">=" => Some(">="),
            _ => None,
        };
        if let Some(op) = op {
            out.push((Tok::Op(op), col));
            i += 2;
            continue;
        }
        let op = match c {
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            '{' => "{",
            '}' => "}",
            ',' => ",",
            '.' => ".",
            ':' => ":",
            '=' => "=",
            '<' => "<",
            '>' => ">",
            '+' => "+",
            '-' => "-",
            '*' => "*",
            '/' => "/",
            _ => return Err(err(col, format!("unexpected character {c:?}"))),
        };
        out.push((Tok::Op(op), col));
        i += 1;
    }
    out.push((Tok::Eof, chars.len() + 1));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
}

fn is_enum_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

impl Parser {
    fn new(src: &str) -> Result<Self, ParseError> {
        Ok(Parser {
            toks: lex(src)?,
            pos: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].0
    }
    fn col(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }
    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }
    fn expected(&self, what: &str) -> ParseError {
        ParseError {
            column: self.col(),
            message: format!("expected {what}, found {}", self.peek().describe()),
        }
    }
    fn expect_op(&mut self, op: &str) -> Result<(), ParseError> {
        if self.is_op(op) {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(&format!("\"{op}\"")))
        }
    }
    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                column: self.col(),
                message: format!("expression nested more than {MAX_DEPTH} levels deep"),
            });
        }
        Ok(())
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let col = self.col();
        let name = match self.peek() {
            Tok::Ident(s) if s.chars().next().is_some_and(|c| c.is_lowercase()) => s.clone(),
            Tok::Ident(s) => {
                return Err(ParseError {
                    column: col,
                    message: format!(
                        "expected an editor (a lower-case function such as set), found {s:?}; converters cannot be statements"
                    ),
                })
            }
            _ => return Err(self.expected("an editor call such as set(...)")),
        };
        self.bump();
        if !self.is_op("(") {
            return Err(self.expected("\"(\" after the editor name"));
        }
        let editor = self.call_rest(name, col)?;
        if !editor.keys.is_empty() {
            return Err(ParseError {
                column: col,
                message: "an editor's result cannot be indexed".into(),
            });
        }
        let condition = if self.is_word("where") {
            self.bump();
            Some(self.or()?)
        } else {
            None
        };
        if *self.peek() != Tok::Eof {
            return Err(self.expected(if condition.is_some() {
                "end of statement or an operator"
            } else {
                "\"where\" or end of statement"
            }));
        }
        Ok(Statement { editor, condition })
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let mut l = self.and()?;
        while self.is_word("or") {
            self.bump();
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        self.depth -= 1;
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut l = self.not()?;
        while self.is_word("and") {
            self.bump();
            let r = self.not()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Expr, ParseError> {
        if self.is_word("not") {
            self.bump();
            self.enter()?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e)));
        }
        self.compare()
    }
    fn compare(&mut self) -> Result<Expr, ParseError> {
        let l = self.sum()?;
        let op = match self.peek() {
            Tok::Op("==") => CmpOp::Eq,
            Tok::Op("!=") => CmpOp::Ne,
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::Le,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::Ge,
            _ => return Ok(l),
        };
        self.bump();
        let r = self.sum()?;
        Ok(Expr::Compare(op, Box::new(l), Box::new(r)))
    }
    fn sum(&mut self) -> Result<Expr, ParseError> {
        let mut l = self.product()?;
        loop {
            let op = match self.peek() {
                Tok::Op("+") => MathOp::Add,
                Tok::Op("-") => MathOp::Sub,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.product()?;
            l = Expr::Math(op, Box::new(l), Box::new(r));
        }
    }
    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Op("*") => MathOp::Mul,
                Tok::Op("/") => MathOp::Div,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.unary()?;
            l = Expr::Math(op, Box::new(l), Box::new(r));
        }
    }
    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.is_op("-") {
            let col = self.col();
            self.bump();
            return match self.bump() {
                Tok::Int(i) => Ok(Expr::Int(i.saturating_neg())),
                Tok::Float(x) => Ok(Expr::Float(-x)),
                _ => Err(ParseError {
                    column: col + 1,
                    message: "expected a number after \"-\"".into(),
                }),
            };
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let col = self.col();
        match self.peek().clone() {
            Tok::Op("(") => {
                self.bump();
                let e = self.or()?;
                self.expect_op(")")?;
                Ok(e)
            }
            Tok::Op("[") => {
                self.bump();
                self.enter()?;
                let mut items = Vec::new();
                if !self.is_op("]") {
                    loop {
                        items.push(self.or()?);
                        if self.is_op(",") {
                            self.bump();
                            continue;
                        }
                        break;
                    }
                }
                self.expect_op("]")?;
                self.depth -= 1;
                Ok(Expr::List(items))
            }
            Tok::Op("{") => {
                self.bump();
                self.enter()?;
                let mut entries = Vec::new();
                if !self.is_op("}") {
                    loop {
                        let k = match self.peek().clone() {
                            Tok::Str(s) => {
                                self.bump();
                                s
                            }
                            _ => return Err(self.expected("a string key in the map literal")),
                        };
                        self.expect_op(":")?;
                        entries.push((k, self.or()?));
                        if self.is_op(",") {
                            self.bump();
                            continue;
                        }
                        break;
                    }
                }
                self.expect_op("}")?;
                self.depth -= 1;
                Ok(Expr::Map(entries))
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Expr::Str(s))
            }
            Tok::Int(i) => {
                self.bump();
                Ok(Expr::Int(i))
            }
            Tok::Float(x) => {
                self.bump();
                Ok(Expr::Float(x))
            }
            Tok::Bytes(b) => {
                self.bump();
                Ok(Expr::Bytes(b))
            }
            Tok::Ident(name) => {
                self.bump();
                match name.as_str() {
                    "true" => return Ok(Expr::Bool(true)),
                    "false" => return Ok(Expr::Bool(false)),
                    "nil" => return Ok(Expr::Nil),
                    _ => {}
                }
                if self.is_op("(") {
                    if !name.chars().next().is_some_and(|c| c.is_uppercase()) {
                        return Err(ParseError {
                            column: col,
                            message: format!(
                                "editor {name:?} cannot be used as a value; only converters (capitalized) return values"
                            ),
                        });
                    }
                    return Ok(Expr::Call(self.call_rest(name, col)?));
                }
                if is_enum_name(&name) && !self.is_op(".") && !self.is_op("[") {
                    return Ok(Expr::Enum(name, col));
                }
                let mut fields = vec![name];
                while self.is_op(".") {
                    self.bump();
                    match self.peek().clone() {
                        Tok::Ident(s) => {
                            self.bump();
                            fields.push(s)
                        }
                        _ => return Err(self.expected("a field name after \".\"")),
                    }
                }
                let keys = self.keys()?;
                Ok(Expr::Path(Path {
                    fields,
                    keys,
                    column: col,
                }))
            }
            _ => Err(self.expected("a value (literal, path, enum or converter)")),
        }
    }

    fn keys(&mut self) -> Result<Vec<Key>, ParseError> {
        let mut keys = Vec::new();
        while self.is_op("[") {
            self.bump();
            let k = match (self.peek().clone(), self.peek_at(1)) {
                (Tok::Str(s), Tok::Op("]")) => {
                    self.bump();
                    Key::Str(s)
                }
                (Tok::Int(i), Tok::Op("]")) => {
                    self.bump();
                    Key::Int(i)
                }
                _ => {
                    self.enter()?;
                    let e = self.or()?;
                    self.depth -= 1;
                    Key::Expr(Box::new(e))
                }
            };
            self.expect_op("]")?;
            keys.push(k);
        }
        Ok(keys)
    }

    fn call_rest(&mut self, name: String, column: usize) -> Result<Call, ParseError> {
        self.expect_op("(")?;
        self.enter()?;
        let mut args = Vec::new();
        if !self.is_op(")") {
            loop {
                let named = match (self.peek(), self.peek_at(1)) {
                    (Tok::Ident(n), Tok::Op("=")) => Some(n.clone()),
                    _ => None,
                };
                if named.is_some() {
                    self.bump();
                    self.bump();
                } else if args.iter().any(|a: &Arg| a.name.is_some()) {
                    return Err(self.expected("a named argument (positional arguments come first)"));
                }
                let value = self.or()?;
                args.push(Arg { name: named, value });
                if self.is_op(",") {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        if !self.is_op(")") {
            return Err(self.expected("\",\" or \")\" in the argument list"));
        }
        self.bump();
        self.depth -= 1;
        let keys = self.keys()?;
        Ok(Call {
            name,
            args,
            keys,
            column,
        })
    }
}

/// Parses one statement (`set(attributes["a"], 1) where name == "x"`).
pub fn parse_statement(src: &str) -> Result<Statement, ParseError> {
    Parser::new(src)?.statement()
}

/// Parses one condition (a boolean expression, as `where` takes and `filter` uses).
pub fn parse_condition(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(src)?;
    let e = p.or()?;
    if *p.peek() != Tok::Eof {
        return Err(p.expected("end of condition or an operator (and, or, ==, ...)"));
    }
    Ok(e)
}
