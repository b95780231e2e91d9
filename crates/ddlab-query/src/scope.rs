//! Scopes, the tag filters in braces (`{host:a,!env:dev}`, `{env:prod AND NOT host IN (a, b)}`), and matching them.
//!
//! A series' tags are `key:value` or bare `value` strings. Matching is exact and case-sensitive
//! except for `*` wildcards, which stand for any run of characters (`web*`, `*-1`, `we*b`).
//! Template variables (`$env`, `$env.value`, `service:$svc.value`) stay unresolved until
//! [`Scope::substitute`] replaces them; an unresolved variable matches every series, the way a
//! dashboard variable set to `*` does.

use std::collections::HashMap;
use std::fmt;

/// The filter of one metric query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `{*}`: every series.
    All,
    /// `{a,b,!c}`: every filter must hold. Never empty.
    List(Vec<Filter>),
    /// The keyword syntax (`AND`, `OR`, `NOT`, `IN`, `NOT IN`, parentheses).
    Boolean(BoolExpr),
}

/// One filter: a matcher, possibly negated with `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub negated: bool,
    pub matcher: Matcher,
}

/// What a single filter word selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// `*`: any series.
    Any,
    /// `key:value`, where the value may contain `*` wildcards.
    Tag { key: String, value: Pattern },
    /// A tag without a key (`prod`, `web*`), matched against whole tags.
    Bare(Pattern),
    /// A template variable, replaced by [`Scope::substitute`].
    Variable(TemplateVariable),
}

/// `$name`, `$name.value`, `key:$name` or `key:$name.value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateVariable {
    pub name: String,
    /// The tag key written before the variable, if any (`service` in `service:$svc.value`).
    pub key: Option<String>,
    /// Whether `.value` was written: the variable then stands for its value alone, without its prefix.
    pub value_only: bool,
}

/// The keyword form of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoolExpr {
    Filter(Filter),
    Not(Box<BoolExpr>),
    /// Two or more operands.
    And(Vec<BoolExpr>),
    /// Two or more operands.
    Or(Vec<BoolExpr>),
    /// `key IN (a, b)` or, negated, `key NOT IN (a, b)`.
    In {
        key: String,
        values: Vec<Pattern>,
        negated: bool,
    },
}

/// A tag value or whole tag with optional `*` wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Scope {
    /// Whether a series with these tags (`"host:a"`, `"role"`) is selected.
    pub fn matches(&self, tags: &[impl AsRef<str>]) -> bool {
        let tags: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
        match self {
            Scope::All => true,
            Scope::List(filters) => filters.iter().all(|filter| filter.matches(&tags)),
            Scope::Boolean(expr) => expr.matches(&tags),
        }
    }

    /// Replaces template variables by the tags they stand for.
    ///
    /// `vars` maps a variable's name to its current selection written as a tag: `"env:prod"` for a
    /// variable with prefix `env`, `"prod"` for one without a prefix, or `"*"` for all values.
    /// `$env` becomes that tag, `$env.value` and `key:$env[.value]` use the part after the first `:`.
    /// Variables missing from `vars` are kept.
    pub fn substitute(&self, vars: &HashMap<String, String>) -> Scope {
        match self {
            Scope::All => Scope::All,
            Scope::List(filters) => {
                let filters: Vec<Filter> = filters
                    .iter()
                    .map(|filter| filter.substitute(vars))
                    .filter(|filter| filter.negated || filter.matcher != Matcher::Any)
                    .collect();
                if filters.is_empty() {
                    Scope::All
                } else {
                    Scope::List(filters)
                }
            }
            Scope::Boolean(expr) => Scope::Boolean(expr.substitute(vars)),
        }
    }

    /// This scope narrowed to one group of a `by {...}` query: `tags` are the group's `key:value` tags.
    pub fn with_tags(&self, tags: &[String]) -> Scope {
        let extra = tags.iter().map(|tag| Filter {
            negated: false,
            matcher: Matcher::from_tag(tag),
        });
        match self {
            Scope::All if tags.is_empty() => Scope::All,
            Scope::All => Scope::List(extra.collect()),
            Scope::List(filters) => {
                let mut filters = filters.clone();
                for filter in extra {
                    if !filters.contains(&filter) {
                        filters.push(filter);
                    }
                }
                Scope::List(filters)
            }
            Scope::Boolean(_) if tags.is_empty() => self.clone(),
            Scope::Boolean(expr) => {
                let mut operands = match expr {
                    BoolExpr::And(operands) => operands.clone(),
                    other => vec![other.clone()],
                };
                operands.extend(extra.map(BoolExpr::Filter));
                Scope::Boolean(BoolExpr::And(operands))
            }
        }
    }
}

impl Filter {
    fn matches(&self, tags: &[&str]) -> bool {
        self.matcher.matches(tags) != self.negated
    }

    fn substitute(&self, vars: &HashMap<String, String>) -> Filter {
        Filter {
            negated: self.negated,
            matcher: self.matcher.substitute(vars),
        }
    }
}

impl Matcher {
    /// The matcher for a literal tag: `key:value` or a bare tag.
    pub(crate) fn from_tag(tag: &str) -> Matcher {
        match tag.split_once(':') {
            Some((key, value)) => Matcher::Tag {
                key: key.to_owned(),
                value: Pattern::new(value),
            },
            None => Matcher::Bare(Pattern::new(tag)),
        }
    }

    fn matches(&self, tags: &[&str]) -> bool {
        match self {
            Matcher::Any | Matcher::Variable(_) => true,
            Matcher::Tag { key, value } => tags.iter().any(|tag| {
                tag.split_once(':')
                    .is_some_and(|(k, v)| k == key && value.matches(v))
            }),
            Matcher::Bare(pattern) => tags.iter().any(|tag| pattern.matches(tag)),
        }
    }

    fn substitute(&self, vars: &HashMap<String, String>) -> Matcher {
        let Matcher::Variable(var) = self else {
            return self.clone();
        };
        let Some(selection) = vars.get(&var.name) else {
            return self.clone();
        };
        let value = selection
            .split_once(':')
            .map_or(selection.as_str(), |(_, value)| value);
        match &var.key {
            Some(key) => Matcher::Tag {
                key: key.clone(),
                value: Pattern::new(value),
            },
            None if selection == "*" => Matcher::Any,
            None if var.value_only => Matcher::Bare(Pattern::new(value)),
            None => Matcher::from_tag(selection),
        }
    }
}

impl BoolExpr {
    fn matches(&self, tags: &[&str]) -> bool {
        match self {
            BoolExpr::Filter(filter) => filter.matches(tags),
            BoolExpr::Not(inner) => !inner.matches(tags),
            BoolExpr::And(operands) => operands.iter().all(|operand| operand.matches(tags)),
            BoolExpr::Or(operands) => operands.iter().any(|operand| operand.matches(tags)),
            BoolExpr::In { key, values, negated } => {
                let found = tags.iter().any(|tag| {
                    tag.split_once(':')
                        .is_some_and(|(k, v)| k == key && values.iter().any(|value| value.matches(v)))
                });
                found != *negated
            }
        }
    }

    fn substitute(&self, vars: &HashMap<String, String>) -> BoolExpr {
        match self {
            BoolExpr::Filter(filter) => BoolExpr::Filter(filter.substitute(vars)),
            BoolExpr::Not(inner) => BoolExpr::Not(Box::new(inner.substitute(vars))),
            BoolExpr::And(operands) => BoolExpr::And(operands.iter().map(|o| o.substitute(vars)).collect()),
            BoolExpr::Or(operands) => BoolExpr::Or(operands.iter().map(|o| o.substitute(vars)).collect()),
            BoolExpr::In { .. } => self.clone(),
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            BoolExpr::Or(_) => 0,
            BoolExpr::And(_) => 1,
            BoolExpr::Not(_) | BoolExpr::Filter(_) | BoolExpr::In { .. } => 2,
        }
    }

    fn fmt_operand(&self, f: &mut fmt::Formatter<'_>, min_precedence: u8) -> fmt::Result {
        if self.precedence() < min_precedence {
            write!(f, "({self})")
        } else {
            write!(f, "{self}")
        }
    }
}

impl Pattern {
    pub(crate) fn new(text: impl Into<String>) -> Pattern {
        Pattern(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Glob match where `*` stands for any run of characters.
    pub fn matches(&self, text: &str) -> bool {
        let mut parts = self.0.split('*');
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
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("*"),
            Scope::List(filters) => {
                for (index, filter) in filters.iter().enumerate() {
                    if index > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{filter}")?;
                }
                Ok(())
            }
            Scope::Boolean(expr) => write!(f, "{expr}"),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_str("!")?;
        }
        write!(f, "{}", self.matcher)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Any => f.write_str("*"),
            Matcher::Tag { key, value } => write!(f, "{key}:{value}"),
            Matcher::Bare(pattern) => write!(f, "{pattern}"),
            Matcher::Variable(var) => write!(f, "{var}"),
        }
    }
}

impl fmt::Display for TemplateVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(key) = &self.key {
            write!(f, "{key}:")?;
        }
        write!(f, "${}", self.name)?;
        if self.value_only {
            f.write_str(".value")?;
        }
        Ok(())
    }
}

impl fmt::Display for BoolExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoolExpr::Filter(filter) => write!(f, "{filter}"),
            BoolExpr::Not(inner) => {
                f.write_str("NOT ")?;
                inner.fmt_operand(f, 2)
            }
            BoolExpr::And(operands) | BoolExpr::Or(operands) => {
                let (separator, min) = if matches!(self, BoolExpr::And(_)) {
                    (" AND ", 2)
                } else {
                    (" OR ", 1)
                };
                for (index, operand) in operands.iter().enumerate() {
                    if index > 0 {
                        f.write_str(separator)?;
                    }
                    operand.fmt_operand(f, min)?;
                }
                Ok(())
            }
            BoolExpr::In { key, values, negated } => {
                write!(f, "{key} {}IN (", if *negated { "NOT " } else { "" })?;
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Expr;
    use crate::parse;

    fn scope_of(query: &str) -> Scope {
        let list = parse(&format!("avg:m{{{query}}}")).unwrap();
        match &list.items[0].expr {
            Expr::Query(q) => q.scope.clone(),
            other => panic!("not a query: {other}"),
        }
    }

    /// Each case: a scope, then for each tag set whether it matches.
    fn check(scope: &str, cases: &[(&[&str], bool)]) {
        let parsed = scope_of(scope);
        for (tags, expected) in cases {
            assert_eq!(parsed.matches(tags), *expected, "{{{scope}}} against {tags:?}");
        }
    }

    #[test]
    fn symbolic_filters() {
        check("*", &[(&[], true), (&["host:a"], true)]);
        check(
            "host:a",
            &[
                (&["host:a"], true),
                (&["host:ab"], false),
                (&["host:b", "host:a"], true),
                (&[], false),
            ],
        );
        check(
            "host:a,env:prod",
            &[(&["host:a", "env:prod"], true), (&["host:a"], false)],
        );
        check(
            "!host:a",
            &[(&["host:a"], false), (&["host:b"], true), (&[], true)],
        );
        check(
            "env:prod,!host:a",
            &[(&["env:prod", "host:b"], true), (&["env:prod", "host:a"], false)],
        );
        check(
            "role",
            &[(&["role"], true), (&["role:db"], false), (&["roles"], false)],
        );
        check("!role", &[(&["role"], false), (&["other"], true)]);
        check("host:a:b", &[(&["host:a:b"], true), (&["host:a"], false)]);
    }

    #[test]
    fn wildcards() {
        check(
            "host:web*",
            &[
                (&["host:web-1"], true),
                (&["host:web"], true),
                (&["host:db-1"], false),
            ],
        );
        check("host:*-1", &[(&["host:web-1"], true), (&["host:web-2"], false)]);
        check(
            "host:w*b-*1",
            &[
                (&["host:web-1"], true),
                (&["host:wb-11"], true),
                (&["host:web-2"], false),
            ],
        );
        check("host:*", &[(&["host:x"], true), (&["env:x"], false)]);
        check("!host:web*", &[(&["host:web-1"], false), (&["host:db"], true)]);
        check(
            "web*",
            &[(&["web-1"], true), (&["webhook:x"], true), (&["db"], false)],
        );
        check(
            "host:a*a",
            &[(&["host:a"], false), (&["host:aa"], true), (&["host:aba"], true)],
        );
    }

    #[test]
    fn keyword_filters() {
        check(
            "host:a OR host:b",
            &[(&["host:a"], true), (&["host:b"], true), (&["host:c"], false)],
        );
        check(
            "env:prod AND NOT host:a",
            &[(&["env:prod", "host:b"], true), (&["env:prod", "host:a"], false)],
        );
        check(
            "host IN (a, b*)",
            &[
                (&["host:a"], true),
                (&["host:bc"], true),
                (&["host:c"], false),
                (&[], false),
            ],
        );
        check(
            "host NOT IN (a, b)",
            &[(&["host:a"], false), (&["host:c"], true), (&[], true)],
        );
        check(
            "(host:a OR host:b) AND env:prod",
            &[
                (&["host:a", "env:prod"], true),
                (&["host:b"], false),
                (&["host:c", "env:prod"], false),
            ],
        );
        check(
            "host:a OR host:b AND env:prod",
            &[(&["host:a"], true), (&["host:b"], false)],
        );
        check(
            "NOT (host:a OR host:b)",
            &[(&["host:a"], false), (&["host:c"], true)],
        );
        check(
            "!host:a AND env:prod",
            &[(&["host:a", "env:prod"], false), (&["host:b", "env:prod"], true)],
        );
    }

    #[test]
    fn template_variables() {
        let vars: HashMap<String, String> = [("env", "env:prod"), ("host", "host:web*"), ("all", "*")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let cases = [
            ("$env", "env:prod"),
            ("service:web,$env", "service:web,env:prod"),
            ("$env.value", "prod"),
            ("host:$host.value", "host:web*"),
            ("$all", "*"),
            ("service:web,$all", "service:web"),
            ("!$all", "!*"),
            ("$missing,$env", "$missing,env:prod"),
            ("$env AND NOT $host", "env:prod AND NOT host:web*"),
        ];
        for (scope, expected) in cases {
            assert_eq!(scope_of(scope).substitute(&vars).to_string(), expected, "{scope}");
        }
        assert!(scope_of("$unset").matches(&["any:thing"]));
        assert!(!scope_of("$env").substitute(&vars).matches(&["env:dev"]));
    }

    #[test]
    fn narrowing_to_a_group() {
        let tags = vec!["host:a".to_owned()];
        let cases = [
            ("*", "host:a"),
            ("env:prod", "env:prod,host:a"),
            ("host:a", "host:a"),
            ("env:prod OR env:dev", "(env:prod OR env:dev) AND host:a"),
            ("env:prod AND role:db", "env:prod AND role:db AND host:a"),
        ];
        for (scope, expected) in cases {
            assert_eq!(scope_of(scope).with_tags(&tags).to_string(), expected, "{scope}");
        }
        assert_eq!(scope_of("*").with_tags(&[]).to_string(), "*");
    }
}
