//! The syntax tree of a parsed query and its canonical text form.
//!
//! `Display` writes the canonical form: single spaces around binary operators, `by {a,b}`, modifiers
//! in the order type, fill, rollup, weighted, and `, ` between arguments. Parsing that text gives the
//! same tree back.

use std::collections::HashMap;
use std::fmt;

use crate::functions::Function;
use crate::scope::Scope;

/// The comma-separated queries of one request (`q1, q2`), in order.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryList {
    pub items: Vec<QueryItem>,
}

/// One comma-separated query; `query_index` is its position in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryItem {
    pub query_index: usize,
    pub expr: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Query(MetricQuery),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Neg(Box<Expr>),
    /// A function call. Every function takes exactly one series argument, in `args`; its other
    /// parameters are typed fields of [`Function`].
    Call {
        func: Function,
        args: Vec<Expr>,
    },
    /// A named query of a v2 formula (`a` in `a * 1000`).
    Ref(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// `[space_agg:]metric{scope} [by {keys}] modifiers`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub space_agg: Option<SpaceAgg>,
    pub metric: String,
    pub scope: Scope,
    /// Tag keys of `by {...}`, in the order written.
    pub group_by: Vec<String>,
    pub modifiers: Modifiers,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modifiers {
    pub type_modifier: Option<TypeModifier>,
    pub rollup: Option<Rollup>,
    pub fill: Option<Fill>,
    /// `.weighted()`.
    pub weighted: bool,
}

/// `.as_count()` or `.as_rate()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeModifier {
    AsCount,
    AsRate,
}

/// `.rollup(method[, seconds])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollup {
    pub method: RollupMethod,
    /// Bucket width; never zero. The evaluator raises it to the automatic interval when smaller.
    pub seconds: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollupMethod {
    Avg,
    Sum,
    Min,
    Max,
    Count,
}

/// `.fill(method[, limit])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub method: FillMethod,
    /// The largest gap, in seconds, that is filled: at most 600, 300 when not written.
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillMethod {
    Null,
    Zero,
    Linear,
    Last,
}

/// The space aggregator before `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpaceAgg {
    Avg,
    Sum,
    Min,
    Max,
    Count,
    /// `p50`, `p95`, ...: a percentile from 1 to 99, meant for distributions.
    Percentile(u8),
}

impl QueryList {
    /// The list with every template variable replaced; see [`Scope::substitute`].
    pub fn substitute(&self, vars: &HashMap<String, String>) -> QueryList {
        let items = self
            .items
            .iter()
            .map(|item| QueryItem {
                query_index: item.query_index,
                expr: item.expr.substitute(vars),
            })
            .collect();
        QueryList { items }
    }
}

impl Expr {
    /// The expression with every template variable in its scopes replaced; see [`Scope::substitute`].
    pub fn substitute(&self, vars: &HashMap<String, String>) -> Expr {
        match self {
            Expr::Number(_) | Expr::Ref(_) => self.clone(),
            Expr::Query(query) => Expr::Query(MetricQuery {
                scope: query.scope.substitute(vars),
                ..query.clone()
            }),
            Expr::Binary { op, lhs, rhs } => Expr::Binary {
                op: *op,
                lhs: Box::new(lhs.substitute(vars)),
                rhs: Box::new(rhs.substitute(vars)),
            },
            Expr::Neg(inner) => Expr::Neg(Box::new(inner.substitute(vars))),
            Expr::Call { func, args } => Expr::Call {
                func: func.clone(),
                args: args.iter().map(|arg| arg.substitute(vars)).collect(),
            },
        }
    }

    /// Every metric query in the expression, left to right.
    pub fn queries(&self) -> Vec<&MetricQuery> {
        let mut found = Vec::new();
        self.visit(&mut |expr| {
            if let Expr::Query(query) = expr {
                found.push(query);
            }
        });
        found
    }

    /// Whether the expression reads any series: a metric query or a named query.
    pub(crate) fn reads_series(&self) -> bool {
        let mut found = false;
        self.visit(&mut |expr| found |= matches!(expr, Expr::Query(_) | Expr::Ref(_)));
        found
    }

    /// Calls `f` on this node and every node below it, parents first.
    pub(crate) fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Number(_) | Expr::Query(_) | Expr::Ref(_) => {}
            Expr::Binary { lhs, rhs, .. } => {
                lhs.visit(f);
                rhs.visit(f);
            }
            Expr::Neg(inner) => inner.visit(f),
            Expr::Call { args, .. } => args.iter().for_each(|arg| arg.visit(f)),
        }
    }

    /// The height of the tree: 1 for a leaf.
    pub(crate) fn height(&self) -> usize {
        1 + match self {
            Expr::Number(_) | Expr::Query(_) | Expr::Ref(_) => 0,
            Expr::Binary { lhs, rhs, .. } => lhs.height().max(rhs.height()),
            Expr::Neg(inner) => inner.height(),
            Expr::Call { args, .. } => args.iter().map(Expr::height).max().unwrap_or(0),
        }
    }
}

impl BinOp {
    pub(crate) fn symbol(self) -> char {
        match self {
            BinOp::Add => '+',
            BinOp::Sub => '-',
            BinOp::Mul => '*',
            BinOp::Div => '/',
        }
    }

    fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
        }
    }

    /// Applies the operator; division by zero and overflow give no value.
    pub(crate) fn apply(self, lhs: f64, rhs: f64) -> Option<f64> {
        let value = match self {
            BinOp::Add => lhs + rhs,
            BinOp::Sub => lhs - rhs,
            BinOp::Mul => lhs * rhs,
            BinOp::Div if rhs == 0.0 => return None,
            BinOp::Div => lhs / rhs,
        };
        value.is_finite().then_some(value)
    }
}

impl RollupMethod {
    pub(crate) fn from_name(name: &str) -> Option<RollupMethod> {
        Some(match name {
            "avg" => RollupMethod::Avg,
            "sum" => RollupMethod::Sum,
            "min" => RollupMethod::Min,
            "max" => RollupMethod::Max,
            "count" => RollupMethod::Count,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            RollupMethod::Avg => "avg",
            RollupMethod::Sum => "sum",
            RollupMethod::Min => "min",
            RollupMethod::Max => "max",
            RollupMethod::Count => "count",
        }
    }
}

impl FillMethod {
    pub(crate) fn from_name(name: &str) -> Option<FillMethod> {
        Some(match name {
            "null" => FillMethod::Null,
            "zero" => FillMethod::Zero,
            "linear" => FillMethod::Linear,
            "last" => FillMethod::Last,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            FillMethod::Null => "null",
            FillMethod::Zero => "zero",
            FillMethod::Linear => "linear",
            FillMethod::Last => "last",
        }
    }
}

impl Fill {
    /// The default and largest fill limit, in seconds.
    pub const DEFAULT_LIMIT: u32 = 300;
    pub const MAX_LIMIT: u32 = 600;

    pub fn limit_seconds(&self) -> u32 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT)
    }
}

impl SpaceAgg {
    pub(crate) fn from_name(name: &str) -> Option<SpaceAgg> {
        Some(match name {
            "avg" => SpaceAgg::Avg,
            "sum" => SpaceAgg::Sum,
            "min" => SpaceAgg::Min,
            "max" => SpaceAgg::Max,
            "count" => SpaceAgg::Count,
            _ => {
                let digits = name.strip_prefix('p')?;
                if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let percentile: u8 = digits.parse().ok()?;
                return (1..=99)
                    .contains(&percentile)
                    .then_some(SpaceAgg::Percentile(percentile));
            }
        })
    }
}

impl fmt::Display for SpaceAgg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpaceAgg::Avg => f.write_str("avg"),
            SpaceAgg::Sum => f.write_str("sum"),
            SpaceAgg::Min => f.write_str("min"),
            SpaceAgg::Max => f.write_str("max"),
            SpaceAgg::Count => f.write_str("count"),
            SpaceAgg::Percentile(p) => write!(f, "p{p}"),
        }
    }
}

impl fmt::Display for QueryList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, item) in self.items.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", item.expr)?;
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self, &|f, leaf| match leaf {
            Leaf::Query(query) => write!(f, "{query}"),
            Leaf::Ref(name) => f.write_str(name),
        })
    }
}

impl fmt::Display for MetricQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(agg) = self.space_agg {
            write!(f, "{agg}:")?;
        }
        write!(f, "{}{{{}}}", self.metric, self.scope)?;
        if !self.group_by.is_empty() {
            write!(f, " by {{{}}}", self.group_by.join(","))?;
        }
        write!(f, "{}", self.modifiers)
    }
}

impl fmt::Display for Modifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.type_modifier {
            Some(TypeModifier::AsCount) => f.write_str(".as_count()")?,
            Some(TypeModifier::AsRate) => f.write_str(".as_rate()")?,
            None => {}
        }
        if let Some(fill) = self.fill {
            write!(f, ".fill({}", fill.method.name())?;
            if let Some(limit) = fill.limit {
                write!(f, ", {limit}")?;
            }
            f.write_str(")")?;
        }
        if let Some(rollup) = self.rollup {
            write!(f, ".rollup({}", rollup.method.name())?;
            if let Some(seconds) = rollup.seconds {
                write!(f, ", {seconds}")?;
            }
            f.write_str(")")?;
        }
        if self.weighted {
            f.write_str(".weighted()")?;
        }
        Ok(())
    }
}

/// A leaf that reads series, handed to the writer of [`write_expr`].
pub(crate) enum Leaf<'a> {
    Query(&'a MetricQuery),
    Ref(&'a str),
}

/// Writes an expression with the fewest parentheses that keep its meaning, letting `leaf` write the
/// queries and named queries (the canonical form writes them as they are; labels write metric names).
pub(crate) fn write_expr(
    f: &mut fmt::Formatter<'_>,
    expr: &Expr,
    leaf: &dyn Fn(&mut fmt::Formatter<'_>, Leaf<'_>) -> fmt::Result,
) -> fmt::Result {
    match expr {
        Expr::Number(value) => write!(f, "{value}"),
        Expr::Query(query) => leaf(f, Leaf::Query(query)),
        Expr::Ref(name) => leaf(f, Leaf::Ref(name)),
        Expr::Neg(inner) => {
            f.write_str("-")?;
            write_operand(f, inner, 3, leaf)
        }
        Expr::Binary { op, lhs, rhs } => {
            write_operand(f, lhs, op.precedence(), leaf)?;
            write!(f, " {} ", op.symbol())?;
            // The right operand of `-` and `/` needs parentheses at equal precedence: a - (b - c).
            write_operand(f, rhs, op.precedence() + 1, leaf)
        }
        Expr::Call { func, args } => func.write_call(f, args, &|f, arg| write_expr(f, arg, leaf)),
    }
}

fn write_operand(
    f: &mut fmt::Formatter<'_>,
    expr: &Expr,
    min_precedence: u8,
    leaf: &dyn Fn(&mut fmt::Formatter<'_>, Leaf<'_>) -> fmt::Result,
) -> fmt::Result {
    let precedence = match expr {
        Expr::Binary { op, .. } => op.precedence(),
        // A negative literal reads as a number, but `--x` and `a - -1` read badly and `-` before a
        // negation must not fuse with it.
        Expr::Neg(_) => 3,
        _ => 4,
    };
    if precedence < min_precedence {
        f.write_str("(")?;
        write_expr(f, expr, leaf)?;
        f.write_str(")")
    } else {
        write_expr(f, expr, leaf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    /// Parsing the canonical form gives the same tree back.
    fn check(input: &str, canonical: &str) {
        let list = parse(input).unwrap();
        assert_eq!(list.to_string(), canonical, "canonical form of {input}");
        assert_eq!(parse(canonical).unwrap(), list, "reparsing {canonical}");
    }

    #[test]
    fn canonical_forms() {
        check("avg:my_metric{host:h}", "avg:my_metric{host:h}");
        check(
            "sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()",
            "sum:trace.flask.request.hits{service:flask,env:lab} by {resource_name}.as_count()",
        );
        check(
            "avg:m{*}.rollup(sum,3600).fill(zero,60).as_rate()",
            "avg:m{*}.as_rate().fill(zero, 60).rollup(sum, 3600)",
        );
        check("m{a:b}by{host,env}.weighted()", "m{a:b} by {host,env}.weighted()");
        check("a{*}-(b{*}-c{*})", "a{*} - (b{*} - c{*})");
        check("(a{*}-b{*})-c{*}", "a{*} - b{*} - c{*}");
        check("a{*}/(b{*}*2)", "a{*} / (b{*} * 2)");
        check("(a{*}+1)*2", "(a{*} + 1) * 2");
        check("-(a{*}+1)", "-(a{*} + 1)");
        check("a{*} - -1", "a{*} - -1");
        check("- - a{*}", "--a{*}");
        check("a{*} * 1e3, b{*} / 0.25", "a{*} * 1000, b{*} / 0.25");
        check("m{host IN (a,b)}", "m{host IN (a, b)}");
    }

    #[test]
    fn substitution_reaches_every_query() {
        let vars: HashMap<String, String> = [("env".to_owned(), "env:prod".to_owned())].into();
        let list = parse("abs(a{$env}) + b{x,$env}, c{$env.value}")
            .unwrap()
            .substitute(&vars);
        assert_eq!(list.to_string(), "abs(a{env:prod}) + b{x,env:prod}, c{prod}");
    }
}
