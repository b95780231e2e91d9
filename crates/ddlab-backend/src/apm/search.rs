//! The span search syntax of `filter.query`, parsed into the store's [`SpanFilter`].
//!
//! ```text
//! query   = or
//! or      = and ("OR" and)*
//! and     = unary (["AND"] unary)*                  adjacent terms are ANDed
//! unary   = ("NOT" | "-") unary | "(" or ")" | term
//! term    = key ":" values | "*" | text              text alone matches the resource (`*text*`)
//! values  = value | "(" value ("OR" value)* ")"      service:(flask OR mysql)
//! value   = word | "quoted words" | *wild?cards* | >N | >=N | <N | <=N | [A TO B]
//! ```
//!
//! Keys: `service`, `resource_name` (or `resource`), `operation_name` (or `name`), `env`, `version`,
//! `host`, `type`, `trace_id`, `span_id`, `parent_id`, `status` (`error` or `ok`), `@duration` (numbers in
//! nanoseconds, or with a unit: `ns`, `us`, `ms`, `s`, `m`, `h`), and any other key as a span tag or metric
//! (`@http.status_code:500`, `@db.rows:>10`, `http.method:GET`). `key:*` asks that the key be set.

use ddlab_store::{SpanField, SpanFilter, SpanMatch};

/// Parses `query`; an empty query or `*` matches every span.
pub(crate) fn parse(query: &str) -> Result<SpanFilter, String> {
    let tokens = tokenize(query)?;
    if tokens.is_empty() {
        return Ok(SpanFilter::All);
    }
    let mut parser = Parser { tokens, at: 0 };
    let filter = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(filter),
        Some(token) => Err(format!("unexpected {} in the query", token.describe())),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Not,
    And,
    Or,
    /// `key:` — the value follows as the next tokens.
    Key(String),
    /// A word, with whether it was quoted (quoted words are never keywords or wildcards).
    Word(String, bool),
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Open => "'('".to_owned(),
            Token::Close => "')'".to_owned(),
            Token::Not => "NOT".to_owned(),
            Token::And => "AND".to_owned(),
            Token::Or => "OR".to_owned(),
            Token::Key(key) => format!("'{key}:'"),
            Token::Word(word, _) => format!("{word:?}"),
        }
    }
}

fn tokenize(query: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '-' if tokens.last().is_none_or(|t| !matches!(t, Token::Key(_))) => {
                chars.next();
                tokens.push(Token::Not);
            }
            '"' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a quoted value is not closed".to_owned()),
                        Some('"') => break,
                        Some('\\') => word.extend(chars.next()),
                        Some(other) => word.push(other),
                    }
                }
                tokens.push(Token::Word(word, true));
            }
            '[' => {
                // A range is one word: `[100 TO 200]`.
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a range [A TO B] is not closed".to_owned()),
                        Some(']') => {
                            word.push(']');
                            break;
                        }
                        Some(other) => word.push(other),
                    }
                }
                tokens.push(Token::Word(word, false));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    if c == ':' && !matches!(tokens.last(), Some(Token::Key(_))) && !word.is_empty() {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if chars.peek() == Some(&':') && !word.is_empty() {
                    chars.next();
                    tokens.push(Token::Key(word));
                    continue;
                }
                tokens.push(match word.as_str() {
                    "AND" => Token::And,
                    "OR" => Token::Or,
                    "NOT" => Token::Not,
                    _ => Token::Word(word, false),
                });
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<SpanFilter, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            SpanFilter::Or(parts)
        })
    }

    fn and(&mut self) -> Result<SpanFilter, String> {
        let mut parts = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Token::And) => {
                    self.at += 1;
                    parts.push(self.unary()?);
                }
                Some(Token::Or | Token::Close) | None => break,
                Some(_) => parts.push(self.unary()?),
            }
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            SpanFilter::And(parts)
        })
    }

    fn unary(&mut self) -> Result<SpanFilter, String> {
        match self.next() {
            Some(Token::Not) => Ok(SpanFilter::Not(Box::new(self.unary()?))),
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("a '(' is not closed".to_owned()),
                }
            }
            Some(Token::Key(key)) => self.values(&key),
            Some(Token::Word(word, quoted)) => Ok(free_text(&word, quoted)),
            Some(other) => Err(format!("unexpected {} in the query", other.describe())),
            None => Err("the query ends where a term was expected".to_owned()),
        }
    }

    /// The value(s) after `key:`.
    fn values(&mut self, key: &str) -> Result<SpanFilter, String> {
        let field = field(key)?;
        match self.next() {
            Some(Token::Word(word, quoted)) => value(&field, &word, quoted),
            Some(Token::Open) => {
                let mut alternatives = Vec::new();
                loop {
                    match self.next() {
                        Some(Token::Word(word, quoted)) => alternatives.push(value(&field, &word, quoted)?),
                        Some(Token::Or) => {}
                        Some(Token::Close) => break,
                        _ => return Err(format!("the values of '{key}:' are not closed with ')'")),
                    }
                }
                Ok(SpanFilter::Or(alternatives))
            }
            _ => Err(format!("'{key}:' needs a value")),
        }
    }
}

/// A word without a key: `*` is everything, anything else matches the resource.
fn free_text(word: &str, quoted: bool) -> SpanFilter {
    if !quoted && word == "*" {
        return SpanFilter::All;
    }
    SpanFilter::Field(SpanField::Resource, SpanMatch::Wildcard(format!("*{word}*")))
}

fn field(key: &str) -> Result<SpanField, String> {
    Ok(match key {
        "service" => SpanField::Service,
        "resource_name" | "resource" => SpanField::Resource,
        "operation_name" | "name" => SpanField::Name,
        "env" => SpanField::Env,
        "version" => SpanField::Version,
        "host" => SpanField::Host,
        "type" | "span.type" => SpanField::Type,
        "trace_id" => SpanField::TraceId,
        "span_id" => SpanField::SpanId,
        "parent_id" => SpanField::ParentId,
        "status" => SpanField::Status,
        "@duration" | "duration" => SpanField::Duration,
        other => {
            let name = other.strip_prefix('@').unwrap_or(other);
            if name.is_empty() || name.contains('"') {
                return Err(format!("invalid attribute name {other:?}"));
            }
            SpanField::Attribute(name.to_owned())
        }
    })
}

fn value(field: &SpanField, word: &str, quoted: bool) -> Result<SpanFilter, String> {
    let matcher = if quoted {
        SpanMatch::Equals(word.to_owned())
    } else if word == "*" {
        SpanMatch::Exists
    } else if let Some(range) = range(field, word)? {
        range
    } else if word.contains(['*', '?']) {
        SpanMatch::Wildcard(word.to_owned())
    } else if *field == SpanField::Duration {
        SpanMatch::Equals(format!("{}", number(field, word)?))
    } else {
        SpanMatch::Equals(word.to_owned())
    };
    if *field == SpanField::Status
        && let SpanMatch::Equals(text) = &matcher
        && !text.eq_ignore_ascii_case("error")
        && !text.eq_ignore_ascii_case("ok")
    {
        return Err(format!("status must be error or ok, not {text:?}"));
    }
    Ok(SpanFilter::Field(field.clone(), matcher))
}

/// `>N`, `>=N`, `<N`, `<=N` or `[A TO B]`, or `None` for other values.
fn range(field: &SpanField, word: &str) -> Result<Option<SpanMatch>, String> {
    for (prefix, low, inclusive) in [
        (">=", true, true),
        ("<=", false, true),
        (">", true, false),
        ("<", false, false),
    ] {
        if let Some(rest) = word.strip_prefix(prefix) {
            let bound = Some((number(field, rest)?, inclusive));
            return Ok(Some(if low {
                SpanMatch::Range {
                    low: bound,
                    high: None,
                }
            } else {
                SpanMatch::Range {
                    low: None,
                    high: bound,
                }
            }));
        }
    }
    if let Some(inner) = word.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
        let (a, b) = inner
            .split_once(" TO ")
            .ok_or_else(|| format!("invalid range {word:?}: expected [A TO B]"))?;
        let bound = |text: &str| -> Result<Option<(f64, bool)>, String> {
            let text = text.trim();
            if text == "*" {
                Ok(None)
            } else {
                Ok(Some((number(field, text)?, true)))
            }
        };
        return Ok(Some(SpanMatch::Range {
            low: bound(a)?,
            high: bound(b)?,
        }));
    }
    Ok(None)
}

/// A number; for `@duration` an optional unit turns it into nanoseconds.
fn number(field: &SpanField, text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (digits, scale) = if *field == SpanField::Duration {
        let split = text
            .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let scale = match unit {
            "" | "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" | "min" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(format!(
                    "unknown duration unit {other:?}: use ns, us, ms, s, m or h"
                ));
            }
        };
        (digits, scale)
    } else {
        (text, 1.0)
    };
    digits
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
        .map(|n| n * scale)
        .ok_or_else(|| format!("expected a number, found {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, expected: &str) {
        let got = match parse(query) {
            Ok(filter) => format!("{filter:?}"),
            Err(err) => format!("error: {err}"),
        };
        assert_eq!(got, expected, "{query}");
    }

    #[test]
    fn queries_parse_into_filters() {
        check("", "All");
        check("*", "All");
        check("service:flask", "Field(Service, Equals(\"flask\"))");
        check(
            "service:flask env:lab",
            "And([Field(Service, Equals(\"flask\")), Field(Env, Equals(\"lab\"))])",
        );
        check(
            r#"resource_name:"GET /api/apm" status:error"#,
            "And([Field(Resource, Equals(\"GET /api/apm\")), Field(Status, Equals(\"error\"))])",
        );
        check(
            "@duration:>100ms",
            "Field(Duration, Range { low: Some((100000000.0, false)), high: None })",
        );
        check(
            "@duration:[1ms TO 2s]",
            "Field(Duration, Range { low: Some((1000000.0, true)), high: Some((2000000000.0, true)) })",
        );
        check("@duration:1500", "Field(Duration, Equals(\"1500\"))");
        check(
            "@http.status_code:>=500",
            "Field(Attribute(\"http.status_code\"), Range { low: Some((500.0, true)), high: None })",
        );
        check("@http.url:*", "Field(Attribute(\"http.url\"), Exists)");
        check("resource_name:GET*", "Field(Resource, Wildcard(\"GET*\"))");
        check(
            "service:(flask OR mysql)",
            "Or([Field(Service, Equals(\"flask\")), Field(Service, Equals(\"mysql\"))])",
        );
        check("-service:flask", "Not(Field(Service, Equals(\"flask\")))");
        check(
            "NOT status:ok AND (env:lab OR env:dev)",
            "And([Not(Field(Status, Equals(\"ok\"))), Or([Field(Env, Equals(\"lab\")), Field(Env, Equals(\"dev\"))])])",
        );
        check("trace_id:123", "Field(TraceId, Equals(\"123\"))");
        check("@db.rows:-1", "Field(Attribute(\"db.rows\"), Equals(\"-1\"))");
        check("apm", "Field(Resource, Wildcard(\"*apm*\"))");
        check(
            "http.method:GET",
            "Field(Attribute(\"http.method\"), Equals(\"GET\"))",
        );
    }

    #[test]
    fn bad_queries_say_why() {
        check("service:", "error: 'service:' needs a value");
        check("status:warn", "error: status must be error or ok, not \"warn\"");
        check(
            "@duration:>10y",
            "error: unknown duration unit \"y\": use ns, us, ms, s, m or h",
        );
        check("(service:a", "error: a '(' is not closed");
        check("service:a)", "error: unexpected ')' in the query");
        check("resource_name:\"GET /", "error: a quoted value is not closed");
        check("@duration:[1 TO", "error: a range [A TO B] is not closed");
        check("@x:[1 2]", "error: invalid range \"[1 2]\": expected [A TO B]");
        check("service:a OR", "error: the query ends where a term was expected");
        check("@x:>abc", "error: expected a number, found \"abc\"");
    }
}
