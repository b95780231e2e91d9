//! The parser: query text to a [`QueryList`], or a v2 formula to an [`Expr`], with Datadog's error messages.
//!
//! Grammar (API reference §3.2):
//!
//! ```text
//! multi     := expr (',' expr)*
//! expr      := term (('+' | '-' | '*' | '/') term)*       # usual precedence, left associative
//! term      := number | '-' term | '(' expr ')' | func '(' args ')' | query | name (formulas only)
//! query     := [space_agg ':'] metric '{' scope '}' ['by' '{' key (',' key)* '}'] modifier*
//! scope     := '*' | filter (',' filter)* | boolean expression of AND, OR, NOT, IN, NOT IN, ( )
//! filter    := ['!'] key ':' value | ['!'] tag | '$var' | '$var.value' | key ':$var[.value]'
//! modifier  := '.as_count()' | '.as_rate()' | '.rollup(' method [',' seconds] ')'
//!            | '.fill(' null|zero|linear|last [',' seconds] ')' | '.weighted()'
//! args      := arg (',' arg)*    arg := expr | 'string' | "string" | name '=' (string | number)
//! ```
//!
//! Syntax errors read like Datadog's, which come from a PEG parser: the rule that failed, the next
//! 20 characters, and a 1-based line and column. A function name is checked only once its
//! arguments parsed, so `anomalies(q, basic, 2)` fails inside the arguments first, as it does there:
//! `basic` reads as a metric name and its missing `{` fails rule `scope_expr`.

use crate::ast::{
    BinOp, Expr, Fill, FillMethod, MetricQuery, Modifiers, QueryItem, QueryList, Rollup, RollupMethod,
    SpaceAgg, TypeModifier,
};
use crate::functions::{self, Arg, ArgValue, Function};
use crate::lexer::{Lexeme, Lexer, Token};
use crate::scope::{BoolExpr, Filter, Matcher, Pattern, Scope, TemplateVariable};

/// Parses a classic query string: one or more comma-separated expressions.
pub fn parse(text: &str) -> Result<QueryList, ParseError> {
    let mut parser = Parser::new(text, None);
    let mut items = Vec::new();
    loop {
        let expr = parser.item()?;
        items.push(QueryItem {
            query_index: items.len(),
            expr,
        });
        if !parser.eat(',') {
            break;
        }
    }
    parser.expect_end()?;
    Ok(QueryList { items })
}

/// Parses a v2 formula (`a * 1000`, `(a / b) * 100`, `anomalies(a, 'basic', 2)`), where bare
/// identifiers are the names of the request's queries.
pub fn parse_formula(text: &str, names: &[&str]) -> Result<Expr, ParseError> {
    let mut parser = Parser::new(text, Some(names));
    let expr = parser.item()?;
    parser.expect_end()?;
    Ok(expr)
}

/// Why a query did not parse. `Display` prints `message`, which is Datadog's text: for syntax errors
/// `unable to parse <query>: Rule '<rule>' didn't match at '<next 20 chars>' (line L, column C).`
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    /// Byte offset into the query.
    pub offset: usize,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The grammar rule that failed, for syntax errors; `None` when the syntax was fine but the
    /// meaning was not (an unknown function, mixed scope syntax, a bad argument).
    pub rule: Option<&'static str>,
}

/// Deeper nesting is refused so that no input can exhaust the stack.
const MAX_DEPTH: usize = 64;

const MIXED_SCOPE: &str = "'AND' and 'OR' cannot be mixed with ','";

impl ParseError {
    fn new(
        text: &str,
        offset: usize,
        rule: Option<&'static str>,
        message: impl FnOnce(usize, usize) -> String,
    ) -> Self {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let column = before[line_start..].chars().count() + 1;
        ParseError {
            message: message(line, column),
            offset,
            line,
            column,
            rule,
        }
    }

    fn syntax(text: &str, offset: usize, rule: &'static str) -> Self {
        ParseError::new(text, offset, Some(rule), |line, column| {
            let excerpt: String = text.get(offset..).unwrap_or_default().chars().take(20).collect();
            format!(
                "unable to parse {text}: Rule '{rule}' didn't match at '{excerpt}' (line {line}, column {column})."
            )
        })
    }

    fn semantic(text: &str, offset: usize, message: String) -> Self {
        ParseError::new(text, offset, None, |_, _| message)
    }
}

struct Parser<'a> {
    text: &'a str,
    lexer: Lexer<'a>,
    /// The query names of a formula; `None` for classic queries.
    names: Option<&'a [&'a str]>,
    depth: usize,
    /// How many calls' arguments are being parsed.
    call_depth: usize,
    inside_anomalies: bool,
    /// Offsets of the `anomalies()` calls of the current item that are not inside another call.
    anomalies: Vec<usize>,
}

/// Scope syntax seen so far, to refuse mixing `,` with `AND`/`OR`.
#[derive(Default)]
struct ScopeSyntax {
    keyword: Option<usize>,
    comma: Option<usize>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, names: Option<&'a [&'a str]>) -> Self {
        Parser {
            text,
            lexer: Lexer::new(text),
            names,
            depth: 0,
            call_depth: 0,
            inside_anomalies: false,
            anomalies: Vec::new(),
        }
    }

    fn syntax(&self, offset: usize, rule: &'static str) -> ParseError {
        ParseError::syntax(self.text, offset, rule)
    }

    fn semantic(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::semantic(self.text, offset, message.into())
    }

    /// Consumes the punctuation `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        let found = self.lexer.peek_expr().token == Token::Punct(c);
        if found {
            self.lexer.next_expr();
        }
        found
    }

    fn expect(&mut self, c: char, rule: &'static str) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.syntax(self.lexer.offset(), rule))
        }
    }

    fn expect_end(&mut self) -> Result<(), ParseError> {
        let lexeme = self.lexer.next_expr();
        if lexeme.token == Token::Eof {
            Ok(())
        } else {
            Err(self.syntax(lexeme.start, "expression"))
        }
    }

    fn enter(&mut self, offset: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.too_deep(offset));
        }
        Ok(())
    }

    fn too_deep(&self, offset: usize) -> ParseError {
        self.semantic(
            offset,
            format!("query is nested more than {MAX_DEPTH} levels deep"),
        )
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// One comma-separated query or a formula: an expression that reads series, with `anomalies()`
    /// only as its outermost function.
    fn item(&mut self) -> Result<Expr, ParseError> {
        let start = self.lexer.offset();
        self.anomalies.clear();
        let expr = self.expr()?;
        if !expr.reads_series() {
            let what = if self.names.is_some() {
                "a query name"
            } else {
                "a metric query"
            };
            return Err(self.semantic(start, format!("expression must contain {what}")));
        }
        let root_is_anomalies = matches!(
            expr,
            Expr::Call {
                func: Function::Anomalies(_),
                ..
            }
        );
        if let Some(&offset) = self.anomalies.first().filter(|_| !root_is_anomalies) {
            return Err(self.semantic(offset, "anomalies() must be the outermost function of a query"));
        }
        Ok(expr)
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.product()?;
        loop {
            let lexeme = self.lexer.peek_expr();
            let op = match lexeme.token {
                Token::Punct('+') => BinOp::Add,
                Token::Punct('-') => BinOp::Sub,
                _ => return Ok(lhs),
            };
            self.lexer.next_expr();
            let rhs = self.product()?;
            lhs = self.binary(op, lhs, rhs, lexeme.start)?;
        }
    }

    fn product(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let lexeme = self.lexer.peek_expr();
            let op = match lexeme.token {
                Token::Punct('*') => BinOp::Mul,
                Token::Punct('/') => BinOp::Div,
                _ => return Ok(lhs),
            };
            self.lexer.next_expr();
            let rhs = self.unary()?;
            lhs = self.binary(op, lhs, rhs, lexeme.start)?;
        }
    }

    fn binary(&self, op: BinOp, lhs: Expr, rhs: Expr, offset: usize) -> Result<Expr, ParseError> {
        let expr = Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        if expr.height() > MAX_DEPTH {
            return Err(self.too_deep(offset));
        }
        Ok(expr)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let lexeme = self.lexer.peek_expr();
        if lexeme.token != Token::Punct('-') {
            return self.term();
        }
        self.lexer.next_expr();
        self.enter(lexeme.start)?;
        let inner = self.unary()?;
        self.leave();
        Ok(Expr::Neg(Box::new(inner)))
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let lexeme = self.lexer.peek_expr();
        match lexeme.token {
            Token::Number(value) => {
                self.lexer.next_expr();
                Ok(Expr::Number(value))
            }
            Token::Punct('(') => {
                self.lexer.next_expr();
                self.enter(lexeme.start)?;
                let inner = self.expr()?;
                self.leave();
                self.expect(')', "expression")?;
                Ok(inner)
            }
            Token::Ident(name) if self.lexer.peek2_expr().token == Token::Punct('(') => {
                self.call(name, lexeme.start)
            }
            Token::Ident(name) => match self.names {
                Some(names) if names.contains(&name) => {
                    self.lexer.next_expr();
                    Ok(Expr::Ref(name.to_owned()))
                }
                Some(_) => {
                    Err(self.semantic(lexeme.start, format!("formula refers to unknown query '{name}'")))
                }
                None => Ok(Expr::Query(self.query()?)),
            },
            _ => Err(self.syntax(lexeme.start, "term")),
        }
    }

    fn call(&mut self, name: &str, offset: usize) -> Result<Expr, ParseError> {
        self.lexer.next_expr();
        self.lexer.next_expr();
        self.enter(offset)?;
        let outer_inside_anomalies = self.inside_anomalies;
        self.inside_anomalies |= name == "anomalies";
        self.call_depth += 1;
        let args = self.args()?;
        self.call_depth -= 1;
        self.inside_anomalies = outer_inside_anomalies;
        self.leave();
        let (func, args) = functions::resolve(name, offset, args)
            .map_err(|error| self.semantic(error.offset, error.message))?;
        match func {
            Function::Anomalies(_) if self.call_depth > 0 => {
                return Err(self.semantic(offset, "anomalies() must be the outermost function of a query"));
            }
            Function::Anomalies(_) => self.anomalies.push(offset),
            Function::Cumsum | Function::Integral if self.inside_anomalies => {
                return Err(self.semantic(offset, format!("{name}() cannot be used inside anomalies()")));
            }
            _ => {}
        }
        Ok(Expr::Call { func, args })
    }

    fn args(&mut self) -> Result<Vec<Arg>, ParseError> {
        let mut args = Vec::new();
        if self.eat(')') {
            return Ok(args);
        }
        loop {
            args.push(self.arg()?);
            let lexeme = self.lexer.next_expr();
            match lexeme.token {
                Token::Punct(',') => {}
                Token::Punct(')') => return Ok(args),
                _ => return Err(self.syntax(lexeme.start, "args")),
            }
        }
    }

    fn arg(&mut self) -> Result<Arg, ParseError> {
        let lexeme = self.lexer.peek_expr();
        let value = match lexeme.token {
            Token::Str(text) => {
                self.lexer.next_expr();
                ArgValue::Str(text.to_owned())
            }
            Token::Ident(name) if self.lexer.peek2_expr().token == Token::Punct('=') => {
                self.lexer.next_expr();
                self.lexer.next_expr();
                let value_lexeme = self.lexer.peek_expr();
                let value = match value_lexeme.token {
                    Token::Str(text) => {
                        self.lexer.next_expr();
                        ArgValue::Str(text.to_owned())
                    }
                    Token::Number(_) | Token::Punct('-') => ArgValue::Expr(self.unary()?),
                    _ => return Err(self.syntax(value_lexeme.start, "string")),
                };
                let value = Box::new(Arg {
                    offset: value_lexeme.start,
                    value,
                });
                ArgValue::Named {
                    name: name.to_owned(),
                    value,
                }
            }
            _ => ArgValue::Expr(self.expr()?),
        };
        Ok(Arg {
            offset: lexeme.start,
            value,
        })
    }

    fn query(&mut self) -> Result<MetricQuery, ParseError> {
        let first = self.lexer.next_expr();
        let Token::Ident(first_name) = first.token else {
            return Err(self.syntax(first.start, "metric"));
        };
        let (space_agg, metric) = match SpaceAgg::from_name(first_name) {
            Some(agg) if self.eat(':') => {
                let lexeme = self.lexer.next_expr();
                let Token::Ident(metric) = lexeme.token else {
                    return Err(self.syntax(lexeme.start, "metric"));
                };
                (Some(agg), metric)
            }
            _ => (None, first_name),
        };
        self.expect('{', "scope_expr")?;
        let scope = self.scope()?;
        let group_by = match self.lexer.peek_expr().token {
            Token::Ident("by") => {
                self.lexer.next_expr();
                self.group_by()?
            }
            _ => Vec::new(),
        };
        let modifiers = self.modifiers()?;
        Ok(MetricQuery {
            space_agg,
            metric: metric.to_owned(),
            scope,
            group_by,
            modifiers,
        })
    }

    /// The scope after `{`, through the closing `}`.
    fn scope(&mut self) -> Result<Scope, ParseError> {
        if self.lexer.peek_scope().token == Token::Word("*")
            && self.lexer.peek2_scope().token == Token::Punct('}')
        {
            self.lexer.next_scope();
            self.lexer.next_scope();
            return Ok(Scope::All);
        }
        let mut syntax = ScopeSyntax::default();
        let mut elements = vec![self.scope_or(&mut syntax)?];
        loop {
            let lexeme = self.lexer.next_scope();
            match lexeme.token {
                Token::Punct(',') => {
                    syntax.comma.get_or_insert(lexeme.start);
                    elements.push(self.scope_or(&mut syntax)?);
                }
                Token::Punct('}') => break,
                _ => return Err(self.syntax(lexeme.start, "scope_expr")),
            }
        }
        if let (Some(keyword), Some(comma)) = (syntax.keyword, syntax.comma) {
            return Err(self.semantic(keyword.max(comma), MIXED_SCOPE));
        }
        let simple = syntax.keyword.is_none() && elements.iter().all(|e| matches!(e, BoolExpr::Filter(_)));
        Ok(if simple {
            Scope::List(
                elements
                    .into_iter()
                    .filter_map(|e| match e {
                        BoolExpr::Filter(filter) => Some(filter),
                        _ => None,
                    })
                    .collect(),
            )
        } else if elements.len() == 1 {
            Scope::Boolean(elements.remove(0))
        } else {
            Scope::Boolean(BoolExpr::And(elements))
        })
    }

    fn scope_or(&mut self, syntax: &mut ScopeSyntax) -> Result<BoolExpr, ParseError> {
        let mut operands = vec![self.scope_and(syntax)?];
        while let lexeme @ Lexeme {
            token: Token::Word("OR"),
            ..
        } = self.lexer.peek_scope()
        {
            self.lexer.next_scope();
            syntax.keyword.get_or_insert(lexeme.start);
            operands.push(self.scope_and(syntax)?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            BoolExpr::Or(operands)
        })
    }

    fn scope_and(&mut self, syntax: &mut ScopeSyntax) -> Result<BoolExpr, ParseError> {
        let mut operands = vec![self.scope_not(syntax)?];
        while let lexeme @ Lexeme {
            token: Token::Word("AND"),
            ..
        } = self.lexer.peek_scope()
        {
            self.lexer.next_scope();
            syntax.keyword.get_or_insert(lexeme.start);
            operands.push(self.scope_not(syntax)?);
        }
        Ok(if operands.len() == 1 {
            operands.remove(0)
        } else {
            BoolExpr::And(operands)
        })
    }

    fn scope_not(&mut self, syntax: &mut ScopeSyntax) -> Result<BoolExpr, ParseError> {
        let lexeme = self.lexer.peek_scope();
        match lexeme.token {
            Token::Word("NOT") => {
                self.lexer.next_scope();
                self.enter(lexeme.start)?;
                let inner = self.scope_not(syntax)?;
                self.leave();
                Ok(BoolExpr::Not(Box::new(inner)))
            }
            Token::Punct('!') => {
                self.lexer.next_scope();
                Ok(match self.scope_primary(syntax)? {
                    BoolExpr::Filter(Filter { negated, matcher }) => BoolExpr::Filter(Filter {
                        negated: !negated,
                        matcher,
                    }),
                    other => BoolExpr::Not(Box::new(other)),
                })
            }
            _ => self.scope_primary(syntax),
        }
    }

    fn scope_primary(&mut self, syntax: &mut ScopeSyntax) -> Result<BoolExpr, ParseError> {
        let lexeme = self.lexer.next_scope();
        match lexeme.token {
            Token::Punct('(') => {
                self.enter(lexeme.start)?;
                let inner = self.scope_or(syntax)?;
                self.leave();
                let close = self.lexer.next_scope();
                if close.token != Token::Punct(')') {
                    return Err(self.syntax(close.start, "scope_expr"));
                }
                Ok(inner)
            }
            Token::Word(word) if !is_keyword(word) => {
                let negated = match (self.lexer.peek_scope().token, self.lexer.peek2_scope().token) {
                    (Token::Word("IN"), _) => false,
                    (Token::Word("NOT"), Token::Word("IN")) => true,
                    _ => return Ok(BoolExpr::Filter(self.filter(word, lexeme.start)?)),
                };
                if !is_key(word) {
                    return Err(self.syntax(lexeme.start, "scope_expr"));
                }
                self.lexer.next_scope();
                if negated {
                    self.lexer.next_scope();
                }
                let values = self.in_values()?;
                Ok(BoolExpr::In {
                    key: word.to_owned(),
                    values,
                    negated,
                })
            }
            _ => Err(self.syntax(lexeme.start, "scope_expr")),
        }
    }

    /// `(a, b*, c)` after `IN`.
    fn in_values(&mut self) -> Result<Vec<Pattern>, ParseError> {
        let open = self.lexer.next_scope();
        if open.token != Token::Punct('(') {
            return Err(self.syntax(open.start, "scope_expr"));
        }
        let mut values = Vec::new();
        loop {
            let value = self.lexer.next_scope();
            match value.token {
                Token::Word(word) if !is_keyword(word) => values.push(Pattern::new(word)),
                _ => return Err(self.syntax(value.start, "scope_expr")),
            }
            let next = self.lexer.next_scope();
            match next.token {
                Token::Punct(',') => {}
                Token::Punct(')') => return Ok(values),
                _ => return Err(self.syntax(next.start, "scope_expr")),
            }
        }
    }

    /// One filter word: `*`, `key:value`, a bare tag or a template variable.
    fn filter(&self, word: &str, offset: usize) -> Result<Filter, ParseError> {
        let invalid = || self.syntax(offset, "scope_expr");
        let matcher = if word == "*" {
            Matcher::Any
        } else if let Some(variable) = word.strip_prefix('$') {
            Matcher::Variable(template_variable(variable, None).ok_or_else(invalid)?)
        } else if let Some((key, value)) = word.split_once(':') {
            if !is_key(key) || value.is_empty() {
                return Err(invalid());
            }
            match value.strip_prefix('$') {
                Some(variable) => {
                    Matcher::Variable(template_variable(variable, Some(key)).ok_or_else(invalid)?)
                }
                None => Matcher::Tag {
                    key: key.to_owned(),
                    value: Pattern::new(value),
                },
            }
        } else {
            Matcher::Bare(Pattern::new(word))
        };
        Ok(Filter {
            negated: false,
            matcher,
        })
    }

    /// The keys of `by {...}`, after `by`.
    fn group_by(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect('{', "group_by")?;
        let mut keys = Vec::new();
        loop {
            let key = self.lexer.next_scope();
            match key.token {
                Token::Word(word) if is_key(word) && !is_keyword(word) => keys.push(word.to_owned()),
                _ => return Err(self.syntax(key.start, "group_by")),
            }
            let next = self.lexer.next_scope();
            match next.token {
                Token::Punct(',') => {}
                Token::Punct('}') => return Ok(keys),
                _ => return Err(self.syntax(next.start, "group_by")),
            }
        }
    }

    fn modifiers(&mut self) -> Result<Modifiers, ParseError> {
        let mut modifiers = Modifiers::default();
        while self.eat('.') {
            let lexeme = self.lexer.next_expr();
            let Token::Ident(name) = lexeme.token else {
                return Err(self.syntax(lexeme.start, "modifier"));
            };
            self.expect('(', "modifier")?;
            let duplicate = || self.semantic(lexeme.start, format!("the .{name}() modifier is given twice"));
            match name {
                "as_count" | "as_rate" => {
                    if modifiers.type_modifier.is_some() {
                        return Err(
                            self.semantic(lexeme.start, "only one of .as_count() and .as_rate() may be used")
                        );
                    }
                    let modifier = if name == "as_count" {
                        TypeModifier::AsCount
                    } else {
                        TypeModifier::AsRate
                    };
                    modifiers.type_modifier = Some(modifier);
                }
                "weighted" if modifiers.weighted => return Err(duplicate()),
                "weighted" => modifiers.weighted = true,
                "rollup" if modifiers.rollup.is_some() => return Err(duplicate()),
                "rollup" => {
                    let (method, seconds) =
                        self.method_and_seconds(RollupMethod::from_name, "rollup", u32::MAX)?;
                    modifiers.rollup = Some(Rollup { method, seconds });
                }
                "fill" if modifiers.fill.is_some() => return Err(duplicate()),
                "fill" => {
                    let (method, limit) =
                        self.method_and_seconds(FillMethod::from_name, "fill", Fill::MAX_LIMIT)?;
                    modifiers.fill = Some(Fill { method, limit });
                }
                _ => return Err(self.syntax(lexeme.start, "modifier")),
            }
            if matches!(name, "as_count" | "as_rate" | "weighted") {
                self.expect(')', "modifier")?;
            }
        }
        Ok(modifiers)
    }

    /// `method[, seconds])` of `.rollup(` and `.fill(`, through the `)`.
    fn method_and_seconds<M>(
        &mut self,
        method_from_name: fn(&str) -> Option<M>,
        modifier: &str,
        max_seconds: u32,
    ) -> Result<(M, Option<u32>), ParseError> {
        let lexeme = self.lexer.next_expr();
        let Token::Ident(name) = lexeme.token else {
            return Err(self.syntax(lexeme.start, "modifier"));
        };
        let method = method_from_name(name)
            .ok_or_else(|| self.semantic(lexeme.start, format!("unknown .{modifier}() method '{name}'")))?;
        let seconds = if self.eat(',') {
            let number = self.lexer.next_expr();
            let Token::Number(value) = number.token else {
                return Err(self.syntax(number.start, "modifier"));
            };
            if value < 1.0 || value.fract() != 0.0 || value > f64::from(max_seconds) {
                return Err(self.semantic(
                    number.start,
                    format!(".{modifier}() seconds must be a whole number from 1 to {max_seconds}"),
                ));
            }
            Some(value as u32)
        } else {
            None
        };
        self.expect(')', "modifier")?;
        Ok((method, seconds))
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(word, "AND" | "OR" | "NOT" | "IN")
}

/// A tag key: no wildcard, variable or separator characters.
fn is_key(word: &str) -> bool {
    !word.is_empty() && !word.contains(['*', '$', ':', '!', '\'', '"'])
}

/// `name` or `name.value` after `$`.
fn template_variable(text: &str, key: Option<&str>) -> Option<TemplateVariable> {
    let (name, value_only) = match text.strip_suffix(".value") {
        Some(name) => (name, true),
        None => (text, false),
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then(|| TemplateVariable {
        name: name.to_owned(),
        key: key.map(str::to_owned),
        value_only,
    })
}

#[cfg(test)]
pub(crate) mod tests;
