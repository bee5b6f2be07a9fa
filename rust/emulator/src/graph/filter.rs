//! A small OData `$filter` tokenizer, parser and evaluator covering what the module and the
//! common scripts send: `eq`, `ne`, `in (…)`, `startswith`, `endswith`, `not`, `and`, `or`,
//! parentheses and `collection/any(x:x eq '…')`. String comparisons are case-insensitive, as in
//! Entra ID.

/// Type of a filterable property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropType {
    /// `Edm.String`: quoted literals.
    Str,
    /// `Edm.Guid`: unquoted GUID literals only.
    Guid,
    /// `Collection(Edm.String)`: only through `any()`.
    StrCollection,
}

/// The filterable properties of an entity set (canonical names).
pub struct Schema {
    pub props: &'static [(&'static str, PropType)],
}

impl Schema {
    fn lookup(&self, name: &str) -> Option<(&'static str, PropType)> {
        self.props
            .iter()
            .copied()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

/// A value read from a record.
pub enum FieldValue<'a> {
    Str(&'a str),
    Coll(Vec<&'a str>),
    Null,
}

/// Something a filter can be evaluated against.
pub trait Record {
    /// The value of a property named by its canonical schema name.
    fn field(&self, prop: &str) -> FieldValue<'_>;
}

/// Any parse or type error: Graph answers `400 BadRequest "Invalid filter clause"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidFilter;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Guid(String),
    Num(String),
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
}

fn tokenize(input: &str) -> Result<Vec<Tok>, InvalidFilter> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(InvalidFilter),
                        Some('\'') => {
                            if chars.peek() == Some(&'\'') {
                                chars.next();
                                s.push('\'');
                            } else {
                                break;
                            }
                        }
                        Some(ch) => s.push(ch),
                    }
                }
                out.push(Tok::Str(s));
            }
            '(' | ')' | ',' | '/' | ':' => {
                chars.next();
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    ',' => Tok::Comma,
                    '/' => Tok::Slash,
                    _ => Tok::Colon,
                });
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '$' | '@') => {
                let mut w = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_alphanumeric() || matches!(ch, '_' | '-' | '.' | '$' | '@') {
                        w.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(if crate::util::is_guid(&w) {
                    Tok::Guid(w)
                } else if w.parse::<f64>().is_ok() {
                    Tok::Num(w)
                } else {
                    Tok::Ident(w)
                });
            }
            _ => return Err(InvalidFilter),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Guid(String),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Prop(&'static str),
    /// The lambda variable of the enclosing `any()`.
    Var,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Eq(Operand, Lit),
    Ne(Operand, Lit),
    In(Operand, Vec<Lit>),
    StartsWith(Operand, String),
    EndsWith(Operand, String),
    Any(&'static str, Box<Expr>),
}

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
    /// Uses `ne`, `not` or `endswith` (advanced queries: need `ConsistencyLevel: eventual` and
    /// `$count=true`).
    pub advanced: bool,
}

const MAX_DEPTH: usize = 64;

struct Parser<'s> {
    toks: Vec<Tok>,
    pos: usize,
    schema: &'s Schema,
    var: Option<String>,
    advanced: bool,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// Consumes `t`. A `)` missing at the very end of the input is tolerated (the way a naive
    /// string-built filter gets cut off), so an unescaped quote injection such as
    /// `displayName eq 'x' or startswith(displayName,''` is evaluated rather than rejected.
    fn expect(&mut self, t: Tok) -> Result<(), InvalidFilter> {
        if t == Tok::RParen && self.peek().is_none() {
            return Ok(());
        }
        if self.next() == Some(t) {
            Ok(())
        } else {
            Err(InvalidFilter)
        }
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w == kw)
    }

    fn or(&mut self) -> Result<Expr, InvalidFilter> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(InvalidFilter);
        }
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.next();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, InvalidFilter> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.next();
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, InvalidFilter> {
        if self.peek_keyword("not") {
            self.next();
            self.advanced = true;
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(InvalidFilter);
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    /// An operand name: the lambda variable or a schema property.
    fn operand(&self, name: &str) -> Result<(Operand, PropType), InvalidFilter> {
        if self.var.as_deref() == Some(name) {
            return Ok((Operand::Var, PropType::Str));
        }
        let (canonical, ty) = self.schema.lookup(name).ok_or(InvalidFilter)?;
        Ok((Operand::Prop(canonical), ty))
    }

    fn literal(&mut self, ty: PropType) -> Result<Lit, InvalidFilter> {
        match (self.next(), ty) {
            (Some(Tok::Str(s)), PropType::Str) => Ok(Lit::Str(s)),
            (Some(Tok::Guid(g)), PropType::Guid) => Ok(Lit::Guid(g)),
            (Some(Tok::Ident(w)), PropType::Str | PropType::Guid) if w == "null" => Ok(Lit::Null),
            _ => Err(InvalidFilter),
        }
    }

    fn primary(&mut self) -> Result<Expr, InvalidFilter> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                self.expect(Tok::RParen)?;
                Ok(e)
            }
            Some(Tok::Ident(name)) => {
                let func = name.to_ascii_lowercase();
                if (func == "startswith" || func == "endswith") && self.peek() == Some(&Tok::LParen)
                {
                    self.next();
                    let Some(Tok::Ident(prop)) = self.next() else {
                        return Err(InvalidFilter);
                    };
                    let (op, ty) = self.operand(&prop)?;
                    if ty != PropType::Str {
                        return Err(InvalidFilter);
                    }
                    self.expect(Tok::Comma)?;
                    let Some(Tok::Str(s)) = self.next() else {
                        return Err(InvalidFilter);
                    };
                    self.expect(Tok::RParen)?;
                    return Ok(if func == "startswith" {
                        Expr::StartsWith(op, s)
                    } else {
                        self.advanced = true;
                        Expr::EndsWith(op, s)
                    });
                }
                let (op, ty) = self.operand(&name)?;
                if ty == PropType::StrCollection {
                    return self.lambda(op);
                }
                match self.next() {
                    Some(Tok::Ident(kw)) if kw == "eq" => Ok(Expr::Eq(op, self.literal(ty)?)),
                    Some(Tok::Ident(kw)) if kw == "ne" => {
                        self.advanced = true;
                        Ok(Expr::Ne(op, self.literal(ty)?))
                    }
                    Some(Tok::Ident(kw)) if kw == "in" => {
                        self.expect(Tok::LParen)?;
                        let mut lits = vec![self.literal(ty)?];
                        while self.peek() == Some(&Tok::Comma) {
                            self.next();
                            lits.push(self.literal(ty)?);
                        }
                        self.expect(Tok::RParen)?;
                        Ok(Expr::In(op, lits))
                    }
                    _ => Err(InvalidFilter),
                }
            }
            _ => Err(InvalidFilter),
        }
    }

    /// `prop/any(x: <expr over x>)`
    fn lambda(&mut self, op: Operand) -> Result<Expr, InvalidFilter> {
        let Operand::Prop(prop) = op else {
            return Err(InvalidFilter);
        };
        if self.var.is_some() {
            return Err(InvalidFilter);
        }
        self.expect(Tok::Slash)?;
        match self.next() {
            Some(Tok::Ident(w)) if w == "any" => {}
            _ => return Err(InvalidFilter),
        }
        self.expect(Tok::LParen)?;
        let Some(Tok::Ident(var)) = self.next() else {
            return Err(InvalidFilter);
        };
        if self.schema.lookup(&var).is_some() {
            return Err(InvalidFilter);
        }
        self.expect(Tok::Colon)?;
        self.var = Some(var);
        let body = self.or()?;
        self.var = None;
        self.expect(Tok::RParen)?;
        Ok(Expr::Any(prop, Box::new(body)))
    }
}

/// Parses a `$filter` value against a schema.
pub fn parse(input: &str, schema: &Schema) -> Result<Filter, InvalidFilter> {
    let toks = tokenize(input)?;
    if toks.is_empty() {
        return Err(InvalidFilter);
    }
    let mut p = Parser {
        toks,
        pos: 0,
        schema,
        var: None,
        advanced: false,
        depth: 0,
    };
    let expr = p.or()?;
    if p.pos != p.toks.len() {
        return Err(InvalidFilter);
    }
    Ok(Filter {
        expr,
        advanced: p.advanced,
    })
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

fn lit_matches(value: Option<&str>, lit: &Lit) -> bool {
    match (value, lit) {
        (None, Lit::Null) => true,
        (Some(v), Lit::Str(s) | Lit::Guid(s)) => fold(v) == fold(s),
        _ => false,
    }
}

impl Filter {
    pub fn matches(&self, r: &dyn Record) -> bool {
        eval(&self.expr, r, None)
    }
}

fn scalar<'a>(op: &Operand, r: &'a dyn Record, var: Option<&'a str>) -> Option<&'a str> {
    match op {
        Operand::Var => var,
        Operand::Prop(p) => match r.field(p) {
            FieldValue::Str(s) => Some(s),
            FieldValue::Coll(_) | FieldValue::Null => None,
        },
    }
}

fn eval(e: &Expr, r: &dyn Record, var: Option<&str>) -> bool {
    match e {
        Expr::And(a, b) => eval(a, r, var) && eval(b, r, var),
        Expr::Or(a, b) => eval(a, r, var) || eval(b, r, var),
        Expr::Not(a) => !eval(a, r, var),
        Expr::Eq(op, lit) => lit_matches(scalar(op, r, var), lit),
        Expr::Ne(op, lit) => !lit_matches(scalar(op, r, var), lit),
        Expr::In(op, lits) => {
            let v = scalar(op, r, var);
            lits.iter().any(|l| lit_matches(v, l))
        }
        Expr::StartsWith(op, s) => {
            scalar(op, r, var).is_some_and(|v| fold(v).starts_with(&fold(s)))
        }
        Expr::EndsWith(op, s) => scalar(op, r, var).is_some_and(|v| fold(v).ends_with(&fold(s))),
        Expr::Any(prop, body) => match r.field(prop) {
            FieldValue::Coll(items) => items.iter().any(|item| eval(body, r, Some(item))),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: Schema = Schema {
        props: &[
            ("id", PropType::Str),
            ("displayName", PropType::Str),
            ("alternativeNames", PropType::StrCollection),
            ("resourceId", PropType::Guid),
        ],
    };

    struct Rec {
        name: &'static str,
        alt: Vec<&'static str>,
    }

    impl Record for Rec {
        fn field(&self, prop: &str) -> FieldValue<'_> {
            match prop {
                "displayName" => FieldValue::Str(self.name),
                "id" => FieldValue::Str("x"),
                "resourceId" => FieldValue::Str("c0a80001-0000-4000-8000-000000000003"),
                "alternativeNames" => FieldValue::Coll(self.alt.clone()),
                _ => FieldValue::Null,
            }
        }
    }

    fn m(f: &str, r: &Rec) -> bool {
        parse(f, &SCHEMA).unwrap().matches(r)
    }

    #[test]
    fn escaping_and_injection() {
        let obrien = Rec {
            name: "O'Brien-func",
            alt: vec![],
        };
        let other = Rec {
            name: "alpha",
            alt: vec![],
        };
        assert!(m("displayName eq 'O''Brien-func'", &obrien));
        assert_eq!(
            parse("displayName eq 'O'Brien-func'", &SCHEMA).unwrap_err(),
            InvalidFilter
        );
        // Unescaped injection widens the query …
        assert!(m(
            "displayName eq 'x' or startswith(displayName,'a')",
            &other
        ));
        assert!(m(
            "displayName eq 'x' or startswith(displayName,'a'",
            &other
        ));
        assert!(m(
            "displayName eq 'x' or startswith(displayName,''",
            &obrien
        ));
        // … escaped, it is one literal that matches nothing.
        assert!(!m(
            "displayName eq 'x'' or startswith(displayName,''a'",
            &other
        ));
    }

    #[test]
    fn operators() {
        let r = Rec {
            name: "Alpha",
            alt: vec!["isExplicit=True", "/subscriptions/s/rg/x"],
        };
        assert!(m("displayName eq 'alpha'", &r));
        assert!(m(
            "startswith(displayName,'al') and not (displayName eq 'beta')",
            &r
        ));
        assert!(m("displayName in ('a', 'Alpha')", &r));
        assert!(m(
            "alternativeNames/any(x:x eq '/subscriptions/s/rg/x')",
            &r
        ));
        assert!(!m(
            "alternativeNames/any(x:x eq '/subscriptions/s/rg/y')",
            &r
        ));
        assert!(m("resourceId eq c0a80001-0000-4000-8000-000000000003", &r));
        assert!(parse("displayName ne 'a'", &SCHEMA).unwrap().advanced);
        assert!(
            parse("endswith(displayName,'a')", &SCHEMA)
                .unwrap()
                .advanced
        );
        assert!(
            !parse("displayName eq 'a' or id eq 'b'", &SCHEMA)
                .unwrap()
                .advanced
        );
    }

    #[test]
    fn rejects() {
        for f in [
            "resourceId eq 'c0a80001-0000-4000-8000-000000000003'",
            "displayName eq c0a80001-0000-4000-8000-000000000003",
            "principalDisplayName eq 'x'",
            "displayName eq",
            "displayName eq 'x' extra",
            "alternativeNames eq 'x'",
            "displayName gt 'x'",
            "",
            "displayName eq 'x')",
        ] {
            assert!(parse(f, &SCHEMA).is_err(), "{f}");
        }
        let deep = "(".repeat(500) + "displayName eq 'x'" + &")".repeat(500);
        assert!(parse(&deep, &SCHEMA).is_err());
    }
}
