//! Downtimes: which monitors they target and which monitor groups their scope mutes.
//!
//! A downtime applies to a monitor when it names the monitor's id, or when the monitor carries **all** of
//! its `monitor_tags` (`*` = every monitor, also those created later). Within such a monitor it mutes the
//! groups whose tags satisfy its scope: v1 gives a list of `key:value` items that must all hold, v2 a string
//! in event-search syntax (`env:prod AND service:(web OR api) -host:db-*`, `*` for everything).
//!
//! The tags a group is matched with are its group tags (`host:web-1` for a `by {host}` monitor) plus the
//! literal `key:value` filters of the monitor query's scope, so a downtime scoped `host:lab` mutes the
//! ungrouped monitor `avg(last_5m):avg:my_metric{host:lab} > 800`. For an ungrouped monitor whose data came
//! from one host, `host:<that host>` is added as well (see `state`).

use std::fmt;

/// What a downtime targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorTarget {
    Id(i64),
    /// All of these monitor tags; `["*"]` is every monitor.
    Tags(Vec<String>),
}

/// A parsed downtime scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DowntimeScope {
    expr: Expr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    All,
    /// `key:value` with `*` wildcards in the value.
    Term {
        key: String,
        values: Vec<String>,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Why a scope does not parse; the messages are Datadog's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScopeError(pub String);

impl MonitorTarget {
    pub fn matches(&self, monitor_id: i64, monitor_tags: &[String]) -> bool {
        match self {
            MonitorTarget::Id(id) => *id == monitor_id,
            MonitorTarget::Tags(tags) => tags
                .iter()
                .all(|wanted| wanted == "*" || monitor_tags.iter().any(|t| t == wanted)),
        }
    }
}

impl DowntimeScope {
    /// The v1 form: items that must all hold, each `key:value` or `*`. A comma string is split first.
    pub fn v1(items: &[String]) -> Result<DowntimeScope, ScopeError> {
        let mut terms = Vec::new();
        for item in items.iter().flat_map(|i| i.split(',')).map(str::trim) {
            if item.is_empty() {
                continue;
            }
            if item == "*" {
                continue;
            }
            let (key, value) = item
                .split_once(':')
                .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !k.contains(char::is_whitespace))
                .ok_or_else(|| ScopeError("Invalid scope parameter".to_owned()))?;
            terms.push(Expr::Term {
                key: key.to_owned(),
                values: vec![value.to_owned()],
            });
        }
        Ok(DowntimeScope {
            expr: match terms.len() {
                0 => Expr::All,
                1 => terms.remove(0),
                _ => Expr::And(terms),
            },
        })
    }

    /// The v2 form: event-search syntax.
    pub fn v2(text: &str) -> Result<DowntimeScope, ScopeError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        };
        parser.skip_spaces();
        if parser.at_end() {
            return Err(ScopeError(
                "The scope is empty: use * to mute every group".to_owned(),
            ));
        }
        let expr = parser.or()?;
        parser.skip_spaces();
        if !parser.at_end() {
            return Err(ScopeError(format!(
                "Invalid scope {text:?}: unexpected {:?} at character {}",
                parser.chars[parser.pos],
                parser.pos + 1
            )));
        }
        if matches!(expr, Expr::Or(_)) {
            return Err(ScopeError(
                "A scope cannot have OR at its top level: put the alternatives in parentheses under a key, e.g. service:(web OR api)"
                    .to_owned(),
            ));
        }
        Ok(DowntimeScope { expr })
    }

    /// Whether a group with these tags is muted.
    pub fn matches(&self, tags: &[String]) -> bool {
        self.expr.matches(tags)
    }

    /// Whether the scope is `*`.
    pub fn is_all(&self) -> bool {
        self.expr == Expr::All
    }

    /// The v1 list form of the scope when it is a conjunction of plain terms (`["env:prod", "host:a"]`).
    pub fn v1_items(&self) -> Vec<String> {
        match &self.expr {
            Expr::All => vec!["*".to_owned()],
            Expr::Term { .. } => vec![self.expr.to_string()],
            Expr::And(terms) => terms.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        }
    }

    /// Whether every term names the `host` key only (v1 `downtime_type` 1).
    pub fn host_only(&self) -> bool {
        fn walk(expr: &Expr) -> bool {
            match expr {
                Expr::All => false,
                Expr::Term { key, .. } => key == "host",
                Expr::Not(inner) => walk(inner),
                Expr::And(items) | Expr::Or(items) => items.iter().all(walk),
            }
        }
        walk(&self.expr)
    }
}

impl fmt::Display for DowntimeScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)
    }
}

impl Expr {
    fn matches(&self, tags: &[String]) -> bool {
        match self {
            Expr::All => true,
            Expr::Term { key, values } => tags.iter().any(|tag| {
                tag.split_once(':')
                    .is_some_and(|(k, v)| k == key && values.iter().any(|p| glob(p, v)))
            }),
            Expr::Not(inner) => !inner.matches(tags),
            Expr::And(items) => items.iter().all(|e| e.matches(tags)),
            Expr::Or(items) => items.iter().any(|e| e.matches(tags)),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All => f.write_str("*"),
            Expr::Term { key, values } if values.len() == 1 => write!(f, "{key}:{}", values[0]),
            Expr::Term { key, values } => write!(f, "{key}:({})", values.join(" OR ")),
            Expr::Not(inner) => write!(f, "-{inner}"),
            Expr::And(items) => {
                let parts: Vec<String> = items.iter().map(|e| paren(e, true)).collect();
                f.write_str(&parts.join(" AND "))
            }
            Expr::Or(items) => {
                let parts: Vec<String> = items.iter().map(|e| paren(e, false)).collect();
                f.write_str(&parts.join(" OR "))
            }
        }
    }
}

fn paren(expr: &Expr, in_and: bool) -> String {
    match expr {
        Expr::Or(_) if in_and => format!("({expr})"),
        Expr::And(_) if !in_and => format!("({expr})"),
        _ => expr.to_string(),
    }
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// The keyword `word` (followed by a space or parenthesis) at the current position, consumed if there.
    fn keyword(&mut self, word: &str) -> bool {
        let len = word.len();
        let matches = self.chars.len() >= self.pos + len
            && self.chars[self.pos..self.pos + len]
                .iter()
                .copied()
                .eq(word.chars())
            && self
                .chars
                .get(self.pos + len)
                .is_none_or(|c| c.is_whitespace() || *c == '(');
        if matches {
            self.pos += len;
        }
        matches
    }

    fn or(&mut self) -> Result<Expr, ScopeError> {
        let mut items = vec![self.and()?];
        loop {
            self.skip_spaces();
            if !self.keyword("OR") {
                break;
            }
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ScopeError> {
        let mut items = vec![self.unary()?];
        loop {
            self.skip_spaces();
            if self.at_end() || self.peek() == Some(')') {
                break;
            }
            let save = self.pos;
            if self.keyword("OR") {
                self.pos = save;
                break;
            }
            self.keyword("AND");
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, ScopeError> {
        self.skip_spaces();
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some('-') {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.atom()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, ScopeError> {
        self.skip_spaces();
        match self.peek() {
            None => Err(ScopeError(
                "Invalid scope: it ends where a term was expected".to_owned(),
            )),
            Some('(') => {
                self.depth += 1;
                if self.depth > 2 {
                    return Err(ScopeError(
                        "Invalid scope: at most 2 levels of parentheses are allowed".to_owned(),
                    ));
                }
                self.pos += 1;
                let inner = self.or()?;
                self.skip_spaces();
                if self.peek() != Some(')') {
                    return Err(ScopeError(format!(
                        "Invalid scope: missing ')' at character {}",
                        self.pos + 1
                    )));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(_) => self.term(),
        }
    }

    fn term(&mut self) -> Result<Expr, ScopeError> {
        let word = self.word();
        if word == "*" {
            return Ok(Expr::All);
        }
        let Some((key, value)) = word.split_once(':') else {
            return Err(ScopeError("All values must have a key".to_owned()));
        };
        if key.is_empty() {
            return Err(ScopeError("All values must have a key".to_owned()));
        }
        if value.contains('?') || key.contains('?') {
            return Err(ScopeError(
                "Invalid scope: ? wildcards are not supported".to_owned(),
            ));
        }
        if !value.is_empty() {
            return Ok(Expr::Term {
                key: key.to_owned(),
                values: vec![value.to_owned()],
            });
        }
        // `key:(a OR b)`.
        if self.peek() != Some('(') {
            return Err(ScopeError(format!("Invalid scope: {key}: has no value")));
        }
        self.pos += 1;
        let mut values = Vec::new();
        loop {
            self.skip_spaces();
            let value = self.word();
            if value.is_empty() {
                return Err(ScopeError(format!("Invalid scope: {key}:( needs values")));
            }
            values.push(value);
            self.skip_spaces();
            if self.peek() == Some(')') {
                self.pos += 1;
                break;
            }
            if !self.keyword("OR") {
                return Err(ScopeError(format!(
                    "Invalid scope: expected OR or ')' at character {}",
                    self.pos + 1
                )));
            }
        }
        Ok(Expr::Term {
            key: key.to_owned(),
            values,
        })
    }

    /// A run of characters up to a space or parenthesis.
    fn word(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && c != '(' && c != ')')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn v2_scopes_match_group_tags() {
        let cases: &[(&str, &[&str], bool)] = &[
            ("*", &["host:a"], true),
            ("host:lab", &["host:lab"], true),
            ("host:lab", &["host:lab2"], false),
            ("host:web-*", &["host:web-1", "env:prod"], true),
            (
                "env:prod AND service:(checkout OR cart)",
                &["env:prod", "service:cart"],
                true,
            ),
            (
                "env:prod AND service:(checkout OR cart)",
                &["env:prod", "service:web"],
                false,
            ),
            ("env:prod service:web", &["env:prod", "service:web"], true),
            ("env:prod -host:db-*", &["env:prod", "host:db-1"], false),
            ("env:prod -host:db-*", &["env:prod", "host:web-1"], true),
            ("env:prod AND NOT host:a", &["env:prod"], true),
            (
                "(env:prod OR env:staging) AND host:a",
                &["env:staging", "host:a"],
                true,
            ),
        ];
        for (scope, group, expected) in cases {
            let parsed = DowntimeScope::v2(scope).unwrap();
            assert_eq!(parsed.matches(&tags(group)), *expected, "{scope} vs {group:?}");
        }
    }

    #[test]
    fn v2_scope_errors() {
        let err = |s: &str| DowntimeScope::v2(s).unwrap_err().to_string();
        assert_eq!(err("prod"), "All values must have a key");
        assert_eq!(
            err("env:a OR env:b"),
            "A scope cannot have OR at its top level: put the alternatives in parentheses under a key, e.g. service:(web OR api)"
        );
        assert_eq!(err("host:a?"), "Invalid scope: ? wildcards are not supported");
        assert_eq!(
            err("((( env:a )))"),
            "Invalid scope: at most 2 levels of parentheses are allowed"
        );
        assert_eq!(
            err("env:a )"),
            "Invalid scope \"env:a )\": unexpected ')' at character 7"
        );
    }

    #[test]
    fn v1_scopes_are_conjunctions() {
        let scope = DowntimeScope::v1(&tags(&["env:prod", "host:a"])).unwrap();
        assert!(scope.matches(&tags(&["host:a", "env:prod", "role:db"])));
        assert!(!scope.matches(&tags(&["host:a"])));
        assert_eq!(scope.v1_items(), ["env:prod", "host:a"]);
        assert!(DowntimeScope::v1(&tags(&["*"])).unwrap().is_all());
        // datadogpy sends a comma string.
        let scope = DowntimeScope::v1(&tags(&["env:prod,host:a"])).unwrap();
        assert_eq!(scope.to_string(), "env:prod AND host:a");
        assert_eq!(
            DowntimeScope::v1(&tags(&["nokey"])).unwrap_err().to_string(),
            "Invalid scope parameter"
        );
        assert!(DowntimeScope::v1(&tags(&["host:a"])).unwrap().host_only());
        assert!(!scope.host_only());
    }

    #[test]
    fn targets_by_id_or_all_tags() {
        let monitor_tags = tags(&["team:a", "exercise:ddlab"]);
        assert!(MonitorTarget::Id(7).matches(7, &[]));
        assert!(!MonitorTarget::Id(7).matches(8, &monitor_tags));
        assert!(MonitorTarget::Tags(tags(&["*"])).matches(1, &[]));
        assert!(MonitorTarget::Tags(tags(&["team:a", "exercise:ddlab"])).matches(1, &monitor_tags));
        assert!(!MonitorTarget::Tags(tags(&["team:a", "team:b"])).matches(1, &monitor_tags));
    }
}
