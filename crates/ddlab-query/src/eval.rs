//! Evaluation: parsed queries, a time window and a data source in; Datadog-shaped series out.
//!
//! Each query of a list (or each v2 formula) is evaluated on its own grid of epoch-aligned buckets:
//!
//! 1. **Interval**: the automatic interval of the window (see [`auto_interval`]), raised to the
//!    requested interval, to any `.rollup(_, seconds)` in the query and to what `anomalies()` needs.
//! 2. **Time aggregation** of every stored series into buckets ([`metric`]): gauges average, counts sum,
//!    `.as_rate()` divides counts by the bucket width, `.rollup(method)` overrides the method.
//! 3. **Space aggregation** across the series of each `by {...}` group, after aligning them
//!    (interpolation, `.fill()`, counts as zeros).
//! 4. **Functions**, innermost first; the `timeshift` family reads data from another time instead.
//! 5. **Arithmetic**: grouped operands join on identical `tag_set`; a missing point gives `None`.
//!
//! A plain query is sparse: only buckets with data appear. `None` points appear for arithmetic
//! holes and, with an explicit `.rollup()`, for every empty bucket of the window.
//!
//! [`auto_interval`]: crate::auto_interval

mod metric;

use std::fmt;

use crate::anomalies::AnomalyParams;
use crate::ast::{BinOp, Expr, Leaf, MetricQuery, QueryList, SpaceAgg, write_expr};
use crate::functions::{self, Function, TopOrder, TopReducer};
use crate::interval::{Grid, auto_interval};
use crate::scope::Scope;
use crate::series::{Point, Series, SeriesSet};

/// Where series come from: the backend implements it over its store.
pub trait Source {
    /// Every stored series of `metric` matching `scope` (see [`RawSeries::matches`]), with its points
    /// in `[from, to]` (epoch seconds, inclusive).
    fn fetch(&self, metric: &str, scope: &Scope, from: i64, to: i64) -> Result<Vec<RawSeries>, SourceError>;
}

/// One stored series: a metric's points for one combination of host and tags.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    /// `key:value` or bare tags, without the host.
    pub tags: Vec<String>,
    pub host: Option<String>,
    pub kind: MetricKind,
    /// The submission interval of counts and rates, in seconds.
    pub interval: Option<u32>,
    /// `(epoch seconds, value)`, sorted by time.
    pub points: Vec<(i64, f64)>,
}

/// The metric type, which decides how points combine within a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    Count,
    Rate,
    /// Not assigned; treated as a gauge.
    Unknown,
}

/// Why the source could not answer.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SourceError(Box<dyn std::error::Error + Send + Sync>);

/// The time window of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Epoch seconds, inclusive.
    pub from: i64,
    /// Epoch seconds, inclusive.
    pub to: i64,
    /// A requested bucket width in seconds (v2 `interval`); it is raised to the automatic interval.
    pub interval: Option<u32>,
}

/// A named query of a v2 request (`"name": "a", "query": "avg:app.latency{*} by {env}"`).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedQuery {
    pub name: String,
    pub expr: Expr,
}

/// A v2 formula over named queries, parsed with [`parse_formula`](crate::parse_formula).
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    pub expr: Expr,
    pub limit: Option<Limit>,
}

/// A v2 formula's `limit`: keep the `count` series with the highest (or lowest) mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub count: usize,
    pub order: TopOrder,
}

/// One series of a response; the HTTP layer turns it into Datadog's JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesResult {
    /// The comma-separated query (v1) or formula (v2) this series belongs to.
    pub query_index: usize,
    /// The metric name, or the parenthesised formula of metric names for arithmetic (`(a.hits / b.total)`).
    pub metric: String,
    /// The metric name for a plain query, the call for functions (`abs(system.load.1)`), the formula
    /// for arithmetic; anomaly bands append `" lower"` / `" upper"`.
    pub display_name: String,
    /// The query of this one series: group tags substituted into the scope, `by` removed.
    pub expression: String,
    /// The scope of the first query with this series' group tags added (`env:prod,host:a`), `*` if none.
    pub scope: String,
    /// The group tags (`["host:a"]`), empty when ungrouped.
    pub tag_set: Vec<String>,
    /// The space aggregator written in the query; `None` when it had none (avg was used).
    pub aggr: Option<SpaceAgg>,
    /// Bucket width in seconds.
    pub interval: u32,
    /// `(bucket start in epoch seconds, value)`, sorted by time.
    pub points: Vec<(i64, Option<f64>)>,
    pub kind: SeriesKind,
}

/// What a series of a response is.
///
/// A query whose outermost function is `anomalies()` gives, for each of its series, the series itself
/// (`Value`) followed by its band: `AnomalyLower` then `AnomalyUpper`, with the same `tag_set`, the
/// same timestamps, and `display_name` suffixed `" lower"` / `" upper"`. A band point is `None`
/// where the algorithm had too little history. The `anomalies` module documents the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    Value,
    AnomalyLower,
    AnomalyUpper,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(
        "invalid time window: from {from} and to {to} must be in order and within 2^40 seconds of the epoch"
    )]
    InvalidWindow { from: i64, to: i64 },
    #[error("the query shifts time too far")]
    TimeOutOfRange,
    #[error("formula refers to unknown query '{0}'")]
    UnknownQuery(String),
    #[error("invalid expression `{0}`: {1}")]
    InvalidExpression(String, &'static str),
    #[error("reading series failed: {0}")]
    Source(#[from] SourceError),
}

/// Evaluates every query of a list over the window.
pub fn evaluate(
    queries: &QueryList,
    source: &dyn Source,
    window: Window,
) -> Result<Vec<SeriesResult>, EvalError> {
    let evaluator = Evaluator::new(source, &[], window)?;
    let mut results = Vec::new();
    for item in &queries.items {
        results.extend(evaluator.item(&item.expr, item.query_index, None)?);
    }
    Ok(results)
}

/// Evaluates a v2 request: one result group per formula (`query_index` = formula index), or per
/// named query when there are no formulas.
pub fn evaluate_formulas(
    queries: &[NamedQuery],
    formulas: &[Formula],
    source: &dyn Source,
    window: Window,
) -> Result<Vec<SeriesResult>, EvalError> {
    let evaluator = Evaluator::new(source, queries, window)?;
    let mut results = Vec::new();
    if formulas.is_empty() {
        for (index, query) in queries.iter().enumerate() {
            results.extend(evaluator.item(&query.expr, index, None)?);
        }
    }
    for (index, formula) in formulas.iter().enumerate() {
        results.extend(evaluator.item(&formula.expr, index, formula.limit)?);
    }
    Ok(results)
}

impl RawSeries {
    /// The tags with `host:<host>` added: what scopes and `by {host}` see.
    pub fn tags_with_host(&self) -> Vec<String> {
        let mut tags = self.tags.clone();
        if let Some(host) = &self.host {
            let tag = format!("host:{host}");
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }

    /// Whether the scope selects this series, host included.
    pub fn matches(&self, scope: &Scope) -> bool {
        scope.matches(&self.tags_with_host())
    }
}

impl SourceError {
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SourceError {
        SourceError(error.into())
    }
}

/// Times further from the epoch than this (about 34,000 years) are refused.
const MAX_ABS_TIME: i64 = 1 << 40;

struct Evaluator<'a> {
    source: &'a dyn Source,
    named: &'a [NamedQuery],
    window: Window,
}

/// The grid being evaluated and how far the data read is shifted from it: a bucket at `t` shows data
/// stored at `t + offset`.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    grid: Grid,
    offset: i64,
}

enum Operand {
    Scalar(Option<f64>),
    Series(SeriesSet),
}

/// A series of the result and, for `anomalies()`, its band.
struct Line {
    series: Series,
    band: Option<(Vec<Point>, Vec<Point>)>,
}

impl<'a> Evaluator<'a> {
    fn new(source: &'a dyn Source, named: &'a [NamedQuery], window: Window) -> Result<Self, EvalError> {
        let in_range = |t: i64| (-MAX_ABS_TIME..=MAX_ABS_TIME).contains(&t);
        if window.from > window.to || !in_range(window.from) || !in_range(window.to) {
            return Err(EvalError::InvalidWindow {
                from: window.from,
                to: window.to,
            });
        }
        Ok(Evaluator {
            source,
            named,
            window,
        })
    }

    /// The results of one top-level expression.
    fn item(
        &self,
        expr: &Expr,
        query_index: usize,
        limit: Option<Limit>,
    ) -> Result<Vec<SeriesResult>, EvalError> {
        let interval = self.interval_for(expr);
        let grid = Grid::new(self.window.from, self.window.to, interval);
        let (value_expr, anomalies) = match expr {
            Expr::Call {
                func: Function::Anomalies(params),
                args,
            } if args.len() == 1 => (&args[0], Some(params)),
            _ => (expr, None),
        };
        let eval_grid = anomalies.map_or(grid, |params| grid.extended_back(params.history(grid.interval())));
        let set = self.series_of(
            value_expr,
            Ctx {
                grid: eval_grid,
                offset: 0,
            },
        )?;
        let aggr = set.aggr;
        let mut lines: Vec<Line> = set
            .series
            .into_iter()
            .map(|series| line(series, anomalies, &eval_grid, &grid))
            .collect();
        if let Some(limit) = limit {
            lines = ranked(lines, limit, grid.interval());
        }
        let metric = self.metric_name(value_expr);
        let display_name = self.show(|f| self.write_label(f, value_expr));
        let mut results = Vec::new();
        for Line { series, band } in lines {
            let result = SeriesResult {
                query_index,
                metric: metric.clone(),
                display_name: display_name.clone(),
                expression: self.show(|f| self.write_expression(f, expr, &series.tag_set, false)),
                scope: self.scope_of(expr, &series.tag_set),
                tag_set: series.tag_set,
                aggr,
                interval,
                points: finite(series.points),
                kind: SeriesKind::Value,
            };
            if let Some((lower, upper)) = band {
                let band_result = |points, kind, suffix| SeriesResult {
                    display_name: format!("{display_name} {suffix}"),
                    points: finite(points),
                    kind,
                    ..result.clone()
                };
                let lower = band_result(lower, SeriesKind::AnomalyLower, "lower");
                let upper = band_result(upper, SeriesKind::AnomalyUpper, "upper");
                results.extend([result, lower, upper]);
            } else {
                results.push(result);
            }
        }
        Ok(results)
    }

    /// The bucket width of an expression: automatic, raised by the request, rollups and anomalies().
    fn interval_for(&self, expr: &Expr) -> u32 {
        let mut interval =
            auto_interval(self.window.from, self.window.to).max(self.window.interval.unwrap_or(1));
        let mut raise = |expr: &Expr| match expr {
            Expr::Query(query) => {
                interval = interval.max(
                    query
                        .modifiers
                        .rollup
                        .and_then(|rollup| rollup.seconds)
                        .unwrap_or(1),
                );
            }
            Expr::Call {
                func: Function::Anomalies(params),
                ..
            } => interval = interval.max(params.min_interval()),
            _ => {}
        };
        expr.visit(&mut |node| {
            raise(node);
            if let Expr::Ref(name) = node
                && let Some(named) = self.find(name)
            {
                named.expr.visit(&mut raise);
            }
        });
        interval
    }

    fn find(&self, name: &str) -> Option<&'a NamedQuery> {
        self.named.iter().find(|query| query.name == name)
    }

    /// An expression that must give series (not a plain number).
    fn series_of(&self, expr: &Expr, ctx: Ctx) -> Result<SeriesSet, EvalError> {
        match self.eval(expr, ctx)? {
            Operand::Series(set) => Ok(set),
            Operand::Scalar(_) => Err(EvalError::InvalidExpression(
                expr.to_string(),
                "it reads no metric",
            )),
        }
    }

    fn eval(&self, expr: &Expr, ctx: Ctx) -> Result<Operand, EvalError> {
        Ok(match expr {
            Expr::Number(value) => Operand::Scalar(value.is_finite().then_some(*value)),
            Expr::Neg(inner) => match self.eval(inner, ctx)? {
                Operand::Scalar(value) => Operand::Scalar(value.map(|v| -v)),
                Operand::Series(set) => Operand::Series(map_values(set, |v| Some(-v))),
            },
            Expr::Query(query) => {
                Operand::Series(metric::evaluate(query, self.source, &ctx.grid, ctx.offset)?)
            }
            Expr::Ref(name) => {
                let named = self
                    .find(name)
                    .ok_or_else(|| EvalError::UnknownQuery(name.clone()))?;
                // A named query cannot refer to other named queries: that keeps evaluation finite.
                let inner = Evaluator { named: &[], ..*self };
                inner.eval(&named.expr, ctx)?
            }
            Expr::Binary { op, lhs, rhs } => arithmetic(*op, self.eval(lhs, ctx)?, self.eval(rhs, ctx)?),
            Expr::Call { func, args } => {
                let [arg] = args.as_slice() else {
                    return Err(EvalError::InvalidExpression(
                        expr.to_string(),
                        "a function takes one query",
                    ));
                };
                let ctx = match func.time_shift() {
                    Some(shift) => {
                        let offset = ctx.offset.checked_add(shift).ok_or(EvalError::TimeOutOfRange)?;
                        Ctx { offset, ..ctx }
                    }
                    None => ctx,
                };
                Operand::Series(functions::apply(func, self.series_of(arg, ctx)?, &ctx.grid))
            }
        })
    }

    /// The metric name when the expression reads one query without arithmetic, else its label.
    fn metric_name(&self, expr: &Expr) -> String {
        let mut metrics = Vec::new();
        let mut arithmetic = false;
        let mut note = |node: &Expr| match node {
            Expr::Query(query) => metrics.push(query.metric.clone()),
            Expr::Binary { .. } => arithmetic = true,
            _ => {}
        };
        expr.visit(&mut |node| {
            note(node);
            if let Expr::Ref(name) = node
                && let Some(named) = self.find(name)
            {
                named.expr.visit(&mut note);
            }
        });
        match metrics.as_slice() {
            [metric] if !arithmetic => metric.clone(),
            _ => self.show(|f| self.write_label(f, expr)),
        }
    }

    fn show(&self, write: impl Fn(&mut fmt::Formatter<'_>) -> fmt::Result) -> String {
        Show(write).to_string()
    }

    /// Writes the expression with metric names for queries; arithmetic at the top is parenthesised.
    fn write_label(&self, f: &mut fmt::Formatter<'_>, expr: &Expr) -> fmt::Result {
        let wrap = matches!(expr, Expr::Binary { .. });
        if wrap {
            f.write_str("(")?;
        }
        write_expr(f, expr, &|f, leaf| match leaf {
            Leaf::Query(query) => f.write_str(&query.metric),
            Leaf::Ref(name) => match self.find(name) {
                Some(named) => Evaluator { named: &[], ..*self }.write_label(f, &named.expr),
                None => f.write_str(name),
            },
        })?;
        if wrap {
            f.write_str(")")?;
        }
        Ok(())
    }

    /// Writes the expression of one series: grouped queries are narrowed to its group tags. A
    /// `nested` expression (a named query inside a formula) is parenthesised if it is arithmetic.
    fn write_expression(
        &self,
        f: &mut fmt::Formatter<'_>,
        expr: &Expr,
        tag_set: &[String],
        nested: bool,
    ) -> fmt::Result {
        let wrap = nested && matches!(expr, Expr::Binary { .. });
        if wrap {
            f.write_str("(")?;
        }
        write_expr(f, expr, &|f, leaf| match leaf {
            Leaf::Query(query) => write!(f, "{}", narrowed(query, tag_set)),
            Leaf::Ref(name) => match self.find(name) {
                Some(named) => {
                    Evaluator { named: &[], ..*self }.write_expression(f, &named.expr, tag_set, true)
                }
                None => f.write_str(name),
            },
        })?;
        if wrap {
            f.write_str(")")?;
        }
        Ok(())
    }

    /// The `scope` of a series: its first query's scope narrowed to the group.
    fn scope_of(&self, expr: &Expr, tag_set: &[String]) -> String {
        let mut first: Option<&MetricQuery> = None;
        expr.visit(&mut |node| {
            if first.is_some() {
                return;
            }
            match node {
                Expr::Query(query) => first = Some(query),
                Expr::Ref(name) => {
                    first = self
                        .find(name)
                        .and_then(|named| named.expr.queries().first().copied())
                }
                _ => {}
            }
        });
        first.map_or_else(
            || "*".to_owned(),
            |query| narrowed(query, tag_set).scope.to_string(),
        )
    }
}

/// The query as it reads for one group: its scope narrowed by the group's tags for its keys.
fn narrowed(query: &MetricQuery, tag_set: &[String]) -> MetricQuery {
    if query.group_by.is_empty() {
        return query.clone();
    }
    let tags: Vec<String> = tag_set
        .iter()
        .filter(|tag| {
            tag.split_once(':')
                .is_some_and(|(key, _)| query.group_by.iter().any(|k| k == key))
        })
        .cloned()
        .collect();
    MetricQuery {
        scope: query.scope.with_tags(&tags),
        group_by: Vec::new(),
        ..query.clone()
    }
}

struct Show<F>(F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Display for Show<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// A result series trimmed to the window, with its band when the query is `anomalies()`.
fn line(series: Series, anomalies: Option<&AnomalyParams>, eval_grid: &Grid, grid: &Grid) -> Line {
    let trim = |points: Vec<Point>| -> Vec<Point> {
        points.into_iter().filter(|&(t, _)| grid.contains(t)).collect()
    };
    let Some(params) = anomalies else {
        return Line {
            band: None,
            series: Series {
                points: trim(series.points),
                ..series
            },
        };
    };
    let points = if params.count_default_zero() && series.count_like {
        eval_grid
            .buckets()
            .map(|t| (t, Some(series.value_at(t).unwrap_or(0.0))))
            .collect()
    } else {
        series.points
    };
    let bands = params.bands(&points, eval_grid.interval());
    let lower = points
        .iter()
        .zip(&bands)
        .map(|(&(t, _), &(lo, _))| (t, lo))
        .collect();
    let upper = points
        .iter()
        .zip(&bands)
        .map(|(&(t, _), &(_, hi))| (t, hi))
        .collect();
    Line {
        band: Some((trim(lower), trim(upper))),
        series: Series {
            points: trim(points),
            ..series
        },
    }
}

/// The `limit` of a v2 formula: the best lines by mean, like `top()`.
fn ranked(lines: Vec<Line>, limit: Limit, interval: i64) -> Vec<Line> {
    let set = SeriesSet {
        series: lines.iter().map(|line| line.series.clone()).collect(),
        aggr: None,
    };
    let kept = functions::top(set, limit.count, TopReducer::Mean, limit.order, interval);
    let mut lines: Vec<Option<Line>> = lines.into_iter().map(Some).collect();
    kept.series
        .iter()
        .filter_map(|series| {
            lines
                .iter_mut()
                .find(|line| line.as_ref().is_some_and(|l| l.series.tag_set == series.tag_set))?
                .take()
        })
        .collect()
}

/// JSON has no NaN or infinity: such values become `None`.
fn finite(points: Vec<Point>) -> Vec<Point> {
    points
        .into_iter()
        .map(|(t, v)| (t, v.filter(|v| v.is_finite())))
        .collect()
}

fn map_values(mut set: SeriesSet, f: impl Fn(f64) -> Option<f64>) -> SeriesSet {
    for series in &mut set.series {
        for point in &mut series.points {
            point.1 = point.1.and_then(&f);
        }
    }
    set
}

fn arithmetic(op: BinOp, lhs: Operand, rhs: Operand) -> Operand {
    match (lhs, rhs) {
        (Operand::Scalar(a), Operand::Scalar(b)) => {
            Operand::Scalar(a.zip(b).and_then(|(a, b)| op.apply(a, b)))
        }
        (Operand::Series(set), Operand::Scalar(c)) => {
            Operand::Series(map_values(set, |v| c.and_then(|c| op.apply(v, c))))
        }
        (Operand::Scalar(c), Operand::Series(set)) => {
            Operand::Series(map_values(set, |v| c.and_then(|c| op.apply(c, v))))
        }
        (Operand::Series(lhs), Operand::Series(rhs)) => Operand::Series(join(op, lhs, rhs)),
    }
}

/// Series ⊕ series: an ungrouped single series applies to every series of the other side, otherwise
/// series pair up by identical `tag_set` and unpaired series are dropped.
fn join(op: BinOp, lhs: SeriesSet, rhs: SeriesSet) -> SeriesSet {
    let aggr = lhs.aggr.or(rhs.aggr);
    let single = |set: &SeriesSet| match set.series.as_slice() {
        [only] if only.tag_set.is_empty() => Some(only.clone()),
        _ => None,
    };
    let series = match (single(&lhs), single(&rhs)) {
        (_, Some(r)) => lhs
            .series
            .iter()
            .map(|l| combine(op, l, &r, &l.tag_set))
            .collect(),
        (Some(l), None) => rhs
            .series
            .iter()
            .map(|r| combine(op, &l, r, &r.tag_set))
            .collect(),
        (None, None) => lhs
            .series
            .iter()
            .filter_map(|l| {
                let r = rhs.series.iter().find(|r| r.tag_set == l.tag_set)?;
                Some(combine(op, l, r, &l.tag_set))
            })
            .collect(),
    };
    SeriesSet { series, aggr }
}

/// Point by point over the union of both sides' times; a side without a point there counts as 0 if
/// it is count-like and is missing otherwise.
fn combine(op: BinOp, lhs: &Series, rhs: &Series, tag_set: &[String]) -> Series {
    let mut times: Vec<i64> = lhs.points.iter().chain(&rhs.points).map(|&(t, _)| t).collect();
    times.sort_unstable();
    times.dedup();
    let side = |series: &Series, t: i64| match series.points.binary_search_by_key(&t, |&(at, _)| at) {
        Ok(index) => series.points[index].1,
        Err(_) if series.count_like => Some(0.0),
        Err(_) => None,
    };
    let points = times
        .into_iter()
        .map(|t| {
            (
                t,
                side(lhs, t).zip(side(rhs, t)).and_then(|(l, r)| op.apply(l, r)),
            )
        })
        .collect();
    Series {
        tag_set: tag_set.to_vec(),
        points,
        count_like: lhs.count_like && rhs.count_like,
    }
}

#[cfg(test)]
mod tests;
