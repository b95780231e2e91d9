//! The closed catalogue of query functions: their parameters, how a call's arguments are checked, and what
//! each function does to series.
//!
//! Every function takes one series argument first; the other arguments are numbers or quoted strings
//! and become typed fields of [`Function`], so later stages never re-check them. Functions that act
//! on time (the `timeshift` family) or add series (`anomalies`) are carried out by the evaluator; here
//! they are the identity on the series they receive.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use crate::anomalies::{AlertWindow, Algorithm, AnomalyParams, Direction, Seasonality};
use crate::ast::Expr;
use crate::interval::Grid;
use crate::series::{Point, Series, SeriesSet, median};

#[derive(Debug, Clone, PartialEq)]
pub enum Function {
    /// `timeshift(q, seconds)`: negative seconds show the past at the current times.
    Timeshift {
        seconds: i64,
    },
    /// `hour_before(q)`, a shift of one hour.
    HourBefore,
    /// `day_before(q)`, a shift of one day.
    DayBefore,
    /// `week_before(q)`, a shift of seven days.
    WeekBefore,
    /// `month_before(q)`, a shift of 28 days.
    MonthBefore,
    /// `top(q, limit, 'reducer', 'order')`, or with `shorthand` the `top5_mean(q)` / `bottom10_min(q)` form.
    /// `limit` is one of 5, 10, 25, 50, 100 for `top()` and one of 5, 10, 15, 20 for the shorthand.
    Top {
        limit: u32,
        reducer: TopReducer,
        order: TopOrder,
        shorthand: bool,
    },
    Abs,
    Log2,
    Log10,
    /// Running sum over the visible window.
    Cumsum,
    /// Running sum of value × seconds since the previous point (the first point counts one interval).
    Integral,
    /// Change per second between consecutive points.
    Derivative,
    /// Change between consecutive points.
    Diff,
    /// Value per second of the bucket: value / interval.
    PerSecond,
    /// Value per minute of the bucket: value × 60 / interval.
    PerMinute,
    /// Value per hour of the bucket: value × 3600 / interval.
    PerHour,
    /// Every bucket of the window without a value gets 0.
    DefaultZero,
    /// One series: how many series are non-zero at each time.
    CountNonzero,
    /// One series: how many series have a value at each time.
    CountNotNull,
    ClampMin(f64),
    ClampMax(f64),
    /// Values below the threshold are removed.
    CutoffMin(f64),
    /// Values above the threshold are removed.
    CutoffMax(f64),
    /// Exponentially weighted moving average with span 3, 5, 10 or 20 (`ewma_10`).
    Ewma(u32),
    /// Trailing rolling median over 3, 5, 7 or 9 points (`median_5`).
    Median(u32),
    /// `anomalies(q, 'algorithm', bounds, named args...)`; only ever the outermost function of a query.
    Anomalies(AnomalyParams),
}

/// How `top()` scores a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopReducer {
    Mean,
    Min,
    Max,
    Sum,
    Last,
    /// Square root of the sum of squares.
    L2norm,
    /// Signed area under the curve: the sum of value × interval.
    Area,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopOrder {
    Desc,
    Asc,
}

impl Function {
    /// How far this function moves the data it reads, in seconds (negative is the past).
    pub fn time_shift(&self) -> Option<i64> {
        match self {
            Function::Timeshift { seconds } => Some(*seconds),
            Function::HourBefore => Some(-3600),
            Function::DayBefore => Some(-86_400),
            Function::WeekBefore => Some(-7 * 86_400),
            Function::MonthBefore => Some(-28 * 86_400),
            _ => None,
        }
    }

    /// Writes the call with `write_arg` writing each series argument.
    pub(crate) fn write_call(
        &self,
        f: &mut fmt::Formatter<'_>,
        args: &[Expr],
        write_arg: &dyn Fn(&mut fmt::Formatter<'_>, &Expr) -> fmt::Result,
    ) -> fmt::Result {
        match self {
            Function::Top {
                limit,
                reducer,
                order,
                shorthand: true,
            } => {
                let direction = if *order == TopOrder::Desc { "top" } else { "bottom" };
                write!(f, "{direction}{limit}_{}(", reducer.name())?;
            }
            Function::Ewma(span) => write!(f, "ewma_{span}(")?,
            Function::Median(span) => write!(f, "median_{span}(")?,
            _ => write!(f, "{}(", self.name())?,
        }
        for (index, arg) in args.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write_arg(f, arg)?;
        }
        match self {
            Function::Timeshift { seconds } => write!(f, ", {seconds}")?,
            Function::Top {
                limit,
                reducer,
                order,
                shorthand: false,
            } => {
                let order = if *order == TopOrder::Desc { "desc" } else { "asc" };
                write!(f, ", {limit}, '{}', '{order}'", reducer.name())?;
            }
            Function::ClampMin(n)
            | Function::ClampMax(n)
            | Function::CutoffMin(n)
            | Function::CutoffMax(n) => {
                write!(f, ", {n}")?;
            }
            Function::Anomalies(params) => write!(f, ", {params}")?,
            _ => {}
        }
        f.write_str(")")
    }

    fn name(&self) -> &'static str {
        match self {
            Function::Timeshift { .. } => "timeshift",
            Function::HourBefore => "hour_before",
            Function::DayBefore => "day_before",
            Function::WeekBefore => "week_before",
            Function::MonthBefore => "month_before",
            Function::Top { .. } => "top",
            Function::Abs => "abs",
            Function::Log2 => "log2",
            Function::Log10 => "log10",
            Function::Cumsum => "cumsum",
            Function::Integral => "integral",
            Function::Derivative => "derivative",
            Function::Diff => "diff",
            Function::PerSecond => "per_second",
            Function::PerMinute => "per_minute",
            Function::PerHour => "per_hour",
            Function::DefaultZero => "default_zero",
            Function::CountNonzero => "count_nonzero",
            Function::CountNotNull => "count_not_null",
            Function::ClampMin(_) => "clamp_min",
            Function::ClampMax(_) => "clamp_max",
            Function::CutoffMin(_) => "cutoff_min",
            Function::CutoffMax(_) => "cutoff_max",
            Function::Ewma(_) => "ewma",
            Function::Median(_) => "median",
            Function::Anomalies(_) => "anomalies",
        }
    }
}

impl TopReducer {
    fn from_name(name: &str) -> Option<TopReducer> {
        Some(match name {
            "mean" => TopReducer::Mean,
            "min" => TopReducer::Min,
            "max" => TopReducer::Max,
            "sum" => TopReducer::Sum,
            "last" => TopReducer::Last,
            "l2norm" => TopReducer::L2norm,
            "area" => TopReducer::Area,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TopReducer::Mean => "mean",
            TopReducer::Min => "min",
            TopReducer::Max => "max",
            TopReducer::Sum => "sum",
            TopReducer::Last => "last",
            TopReducer::L2norm => "l2norm",
            TopReducer::Area => "area",
        }
    }

    /// The score of one series, or `None` when it has no values.
    fn score(self, points: &[Point], interval: i64) -> Option<f64> {
        let values: Vec<f64> = points.iter().filter_map(|&(_, v)| v).collect();
        let last = *values.last()?;
        let sum: f64 = values.iter().sum();
        Some(match self {
            TopReducer::Mean => sum / values.len() as f64,
            TopReducer::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            TopReducer::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            TopReducer::Sum => sum,
            TopReducer::Last => last,
            TopReducer::L2norm => values.iter().map(|v| v * v).sum::<f64>().sqrt(),
            TopReducer::Area => sum * interval as f64,
        })
    }
}

/// One argument of a call as written, before the function is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub(crate) offset: usize,
    pub(crate) value: ArgValue,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArgValue {
    Expr(Expr),
    Str(String),
    /// `name=value`; the value is a string or an expression.
    Named {
        name: String,
        value: Box<Arg>,
    },
}

/// Why a call's arguments were refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgError {
    pub(crate) offset: usize,
    pub(crate) message: String,
}

/// Names Datadog knows that this catalogue does not implement, so the error can say so.
const UNSUPPORTED: &[&str] = &[
    "outliers",
    "forecast",
    "robust_trend",
    "trend_line",
    "piecewise_constant",
    "moving_rollup",
    "monotonic_diff",
    "dt",
    "pow",
    "throughput",
    "rollup",
    "top_offset",
    "exclude_null",
    "timeshift_by",
];

/// Checks a call written `name(args)` at `offset` and turns it into a function and its series arguments.
pub(crate) fn resolve(name: &str, offset: usize, args: Vec<Arg>) -> Result<(Function, Vec<Expr>), ArgError> {
    let fail = |message: String| Err(ArgError { offset, message });
    if UNSUPPORTED.contains(&name) {
        return fail(format!("function '{name}' is not supported"));
    }
    let Some(kind) = Kind::from_name(name) else {
        return fail(format!("unknown function '{name}'"));
    };
    let mut args = args.into_iter();
    let series = match args.next() {
        Some(Arg {
            value: ArgValue::Expr(expr),
            ..
        }) if expr.reads_series() => expr,
        Some(arg) => {
            return Err(error(
                arg.offset,
                format!("{name}() expects a query as its first argument"),
            ));
        }
        None => return fail(format!("{name}() expects a query as its first argument")),
    };
    let params: Vec<Arg> = args.collect();
    let func = match kind {
        Kind::Simple(func) => {
            expect_count(name, offset, &params, 0)?;
            func
        }
        Kind::Threshold(make) => {
            expect_count(name, offset, &params, 1)?;
            make(number(name, &params[0])?)
        }
        Kind::Timeshift => {
            expect_count(name, offset, &params, 1)?;
            let seconds = number(name, &params[0])?;
            if seconds.fract() != 0.0 || seconds.abs() > MAX_SHIFT_SECONDS {
                return Err(error(
                    params[0].offset,
                    format!("{name}() expects a whole number of seconds"),
                ));
            }
            Function::Timeshift {
                seconds: seconds as i64,
            }
        }
        Kind::Top => {
            expect_count(name, offset, &params, 3)?;
            let limit = number(name, &params[0])?;
            let limit = [5, 10, 25, 50, 100]
                .into_iter()
                .find(|&n| f64::from(n) == limit)
                .ok_or_else(|| {
                    error(
                        params[0].offset,
                        "top() limit must be one of 5, 10, 25, 50, 100".into(),
                    )
                })?;
            let reducer = string(name, &params[1])?;
            let reducer = TopReducer::from_name(reducer).ok_or_else(|| {
                error(
                    params[1].offset,
                    format!("top() cannot rank by '{reducer}': expected one of {REDUCERS}"),
                )
            })?;
            let order = match string(name, &params[2])? {
                "desc" => TopOrder::Desc,
                "asc" => TopOrder::Asc,
                other => {
                    return Err(error(
                        params[2].offset,
                        format!("top() order must be 'desc' or 'asc', not '{other}'"),
                    ));
                }
            };
            Function::Top {
                limit,
                reducer,
                order,
                shorthand: false,
            }
        }
        Kind::TopShorthand {
            limit,
            reducer,
            order,
        } => {
            expect_count(name, offset, &params, 0)?;
            Function::Top {
                limit,
                reducer,
                order,
                shorthand: true,
            }
        }
        Kind::Anomalies => Function::Anomalies(anomaly_params(offset, params)?),
    };
    Ok((func, vec![series]))
}

/// The largest shift accepted, a hundred years: more is certainly a typo.
const MAX_SHIFT_SECONDS: f64 = 100.0 * 365.0 * 86_400.0;

const REDUCERS: &str = "'mean', 'min', 'max', 'sum', 'last', 'l2norm', 'area'";

/// The shape of a function's parameters, decided from its name alone.
enum Kind {
    Simple(Function),
    Threshold(fn(f64) -> Function),
    Timeshift,
    Top,
    TopShorthand {
        limit: u32,
        reducer: TopReducer,
        order: TopOrder,
    },
    Anomalies,
}

impl Kind {
    fn from_name(name: &str) -> Option<Kind> {
        let simple = match name {
            "hour_before" => Function::HourBefore,
            "day_before" => Function::DayBefore,
            "week_before" => Function::WeekBefore,
            "month_before" => Function::MonthBefore,
            "abs" => Function::Abs,
            "log2" => Function::Log2,
            "log10" => Function::Log10,
            "cumsum" => Function::Cumsum,
            "integral" => Function::Integral,
            "derivative" => Function::Derivative,
            "diff" => Function::Diff,
            "per_second" => Function::PerSecond,
            "per_minute" => Function::PerMinute,
            "per_hour" => Function::PerHour,
            "default_zero" => Function::DefaultZero,
            "count_nonzero" => Function::CountNonzero,
            "count_not_null" => Function::CountNotNull,
            "ewma_3" | "ewma_5" | "ewma_10" | "ewma_20" => Function::Ewma(span(name)?),
            "median_3" | "median_5" | "median_7" | "median_9" => Function::Median(span(name)?),
            "clamp_min" => return Some(Kind::Threshold(Function::ClampMin)),
            "clamp_max" => return Some(Kind::Threshold(Function::ClampMax)),
            "cutoff_min" => return Some(Kind::Threshold(Function::CutoffMin)),
            "cutoff_max" => return Some(Kind::Threshold(Function::CutoffMax)),
            "timeshift" => return Some(Kind::Timeshift),
            "top" => return Some(Kind::Top),
            "anomalies" => return Some(Kind::Anomalies),
            _ => return Kind::top_shorthand(name),
        };
        Some(Kind::Simple(simple))
    }

    /// `top5`, `top10_max`, `bottom20_mean`, ...
    fn top_shorthand(name: &str) -> Option<Kind> {
        let (order, rest) = match name.strip_prefix("top") {
            Some(rest) => (TopOrder::Desc, rest),
            None => (TopOrder::Asc, name.strip_prefix("bottom")?),
        };
        let (limit, reducer) = match rest.split_once('_') {
            Some((limit, reducer)) => (limit, TopReducer::from_name(reducer)?),
            None => (rest, TopReducer::Mean),
        };
        let limit = match limit {
            "5" => 5,
            "10" => 10,
            "15" => 15,
            "20" => 20,
            _ => return None,
        };
        Some(Kind::TopShorthand {
            limit,
            reducer,
            order,
        })
    }
}

fn span(name: &str) -> Option<u32> {
    name.rsplit_once('_')?.1.parse().ok()
}

fn error(offset: usize, message: String) -> ArgError {
    ArgError { offset, message }
}

fn expect_count(name: &str, offset: usize, params: &[Arg], expected: usize) -> Result<(), ArgError> {
    if let Some(named) = params
        .iter()
        .find(|arg| matches!(arg.value, ArgValue::Named { .. }))
    {
        return Err(error(named.offset, format!("{name}() takes no named arguments")));
    }
    if params.len() == expected {
        return Ok(());
    }
    let (total, given) = (expected + 1, params.len() + 1);
    let plural = if total == 1 { "" } else { "s" };
    Err(error(
        params.get(expected).map_or(offset, |arg| arg.offset),
        format!("{name}() expects {total} argument{plural}, got {given}"),
    ))
}

/// A numeric argument: a literal, possibly negated.
fn number(name: &str, arg: &Arg) -> Result<f64, ArgError> {
    let ArgValue::Expr(expr) = &arg.value else {
        return Err(error(arg.offset, format!("{name}() expects a number here")));
    };
    literal(expr).ok_or_else(|| error(arg.offset, format!("{name}() expects a number here")))
}

fn literal(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Number(value) => Some(*value),
        Expr::Neg(inner) => literal(inner).map(|value| -value),
        _ => None,
    }
}

fn string<'a>(name: &str, arg: &'a Arg) -> Result<&'a str, ArgError> {
    match &arg.value {
        ArgValue::Str(text) => Ok(text),
        _ => Err(error(
            arg.offset,
            format!("{name}() expects a quoted string here"),
        )),
    }
}

fn anomaly_params(offset: usize, params: Vec<Arg>) -> Result<AnomalyParams, ArgError> {
    let positional = params
        .iter()
        .take_while(|arg| !matches!(arg.value, ArgValue::Named { .. }))
        .count();
    if positional != 2 {
        return Err(error(
            params
                .get(2)
                .filter(|_| positional > 2)
                .map_or(offset, |arg| arg.offset),
            "anomalies() expects a query, a quoted algorithm and bounds, then named arguments".into(),
        ));
    }
    let algorithm = match &params[0].value {
        ArgValue::Str(name) => Algorithm::from_name(name).ok_or_else(|| {
            error(
                params[0].offset,
                format!("unknown anomaly algorithm '{name}': expected 'basic', 'agile' or 'robust'"),
            )
        })?,
        _ => {
            return Err(error(
                params[0].offset,
                "anomalies() expects the algorithm as a quoted string: 'basic', 'agile' or 'robust'".into(),
            ));
        }
    };
    let bounds = number("anomalies", &params[1])?;
    if bounds <= 0.0 {
        return Err(error(
            params[1].offset,
            "anomalies() bounds must be positive".into(),
        ));
    }
    let mut result = AnomalyParams::new(algorithm, bounds);
    let mut seen = BTreeSet::new();
    for arg in &params[2..] {
        let ArgValue::Named { name, value } = &arg.value else {
            return Err(error(
                arg.offset,
                "anomalies() takes positional arguments before named ones".into(),
            ));
        };
        if !seen.insert(name.as_str()) {
            return Err(error(
                arg.offset,
                format!("anomalies() argument '{name}' is given twice"),
            ));
        }
        let invalid = |expected: &str| error(value.offset, format!("anomalies() {name} must be {expected}"));
        match name.as_str() {
            "direction" => {
                let text = string("anomalies", value)?;
                result.direction =
                    Some(Direction::from_name(text).ok_or_else(|| invalid("'above', 'below' or 'both'"))?);
            }
            "alert_window" => {
                let text = string("anomalies", value)?;
                result.alert_window =
                    Some(AlertWindow::parse(text).ok_or_else(|| invalid("a window such as 'last_15m'"))?);
            }
            "interval" => {
                let seconds = number("anomalies", value)?;
                if seconds < 1.0 || seconds.fract() != 0.0 || seconds > f64::from(u32::MAX) {
                    return Err(invalid("a positive whole number of seconds"));
                }
                result.interval = Some(seconds as u32);
            }
            "count_default_zero" => {
                result.count_default_zero = Some(match string("anomalies", value)? {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("'true' or 'false'")),
                });
            }
            "seasonality" => {
                let text = string("anomalies", value)?;
                result.seasonality = Some(
                    Seasonality::from_name(text).ok_or_else(|| invalid("'hourly', 'daily' or 'weekly'"))?,
                );
            }
            "timezone" => {
                let text = string("anomalies", value)?;
                if text.is_empty() || (text.contains('\'') && text.contains('"')) {
                    return Err(invalid("a time zone name"));
                }
                result.timezone = Some(text.to_owned());
            }
            other => {
                return Err(error(
                    arg.offset,
                    format!("unknown anomalies() argument '{other}'"),
                ));
            }
        }
    }
    Ok(result)
}

/// Applies a function to the series it received; `grid` is the window being evaluated.
pub(crate) fn apply(func: &Function, set: SeriesSet, grid: &Grid) -> SeriesSet {
    let interval = grid.interval() as f64;
    match func {
        Function::Timeshift { .. }
        | Function::HourBefore
        | Function::DayBefore
        | Function::WeekBefore
        | Function::MonthBefore
        | Function::Anomalies(_) => set,
        Function::Top {
            limit,
            reducer,
            order,
            ..
        } => top(set, *limit as usize, *reducer, *order, grid.interval()),
        Function::CountNonzero => count_across(set, |v| v != 0.0),
        Function::CountNotNull => count_across(set, |_| true),
        Function::Abs => map_values(set, |v| Some(v.abs())),
        Function::Log2 => map_values(set, |v| (v > 0.0).then(|| v.log2())),
        Function::Log10 => map_values(set, |v| (v > 0.0).then(|| v.log10())),
        Function::PerSecond => map_values(set, |v| Some(v / interval)),
        Function::PerMinute => map_values(set, |v| Some(v * 60.0 / interval)),
        Function::PerHour => map_values(set, |v| Some(v * 3600.0 / interval)),
        Function::ClampMin(n) => map_values(set, |v| Some(v.max(*n))),
        Function::ClampMax(n) => map_values(set, |v| Some(v.min(*n))),
        Function::CutoffMin(n) => map_values(set, |v| (v >= *n).then_some(v)),
        Function::CutoffMax(n) => map_values(set, |v| (v <= *n).then_some(v)),
        Function::Cumsum => map_points(set, |points| {
            let mut total = 0.0;
            each_value(points, |_, v| {
                total += v;
                Some(total)
            })
        }),
        Function::Integral => map_points(set, |points| {
            let (mut total, mut previous) = (0.0, None);
            each_value(points, |t, v| {
                total += v * previous.map_or(interval, |p: i64| (t - p) as f64);
                previous = Some(t);
                Some(total)
            })
        }),
        Function::Derivative => map_points(set, |points| consecutive(points, |dv, dt| dv / dt as f64)),
        Function::Diff => map_points(set, |points| consecutive(points, |dv, _| dv)),
        Function::DefaultZero => map_points(set, |points| {
            let value_at = |t| {
                points
                    .binary_search_by_key(&t, |&(at, _)| at)
                    .ok()
                    .and_then(|i| points[i].1)
            };
            grid.buckets()
                .map(|t| (t, Some(value_at(t).unwrap_or(0.0))))
                .collect()
        }),
        Function::Ewma(span) => {
            let alpha = 2.0 / (f64::from(*span) + 1.0);
            map_points(set, |points| {
                let mut average: Option<f64> = None;
                each_value(points, |_, v| {
                    let next = average.map_or(v, |a| alpha * v + (1.0 - alpha) * a);
                    average = Some(next);
                    Some(next)
                })
            })
        }
        Function::Median(span) => map_points(set, |points| {
            let mut window = VecDeque::with_capacity(*span as usize + 1);
            each_value(points, |_, v| {
                window.push_back(v);
                if window.len() > *span as usize {
                    window.pop_front();
                }
                median(window.iter().copied().collect())
            })
        }),
    }
}

/// Keeps the `limit` best series by `reducer`; series without values rank last, ties keep tag order.
pub(crate) fn top(
    mut set: SeriesSet,
    limit: usize,
    reducer: TopReducer,
    order: TopOrder,
    interval: i64,
) -> SeriesSet {
    let mut scored: Vec<(Option<f64>, Series)> = set
        .series
        .into_iter()
        .map(|series| (reducer.score(&series.points, interval), series))
        .collect();
    scored.sort_by(|(a, _), (b, _)| match (a, b) {
        (Some(a), Some(b)) if order == TopOrder::Desc => b.total_cmp(a),
        (Some(a), Some(b)) => a.total_cmp(b),
        (a, b) => b.is_some().cmp(&a.is_some()),
    });
    set.series = scored.into_iter().take(limit).map(|(_, series)| series).collect();
    set
}

fn map_values(set: SeriesSet, f: impl Fn(f64) -> Option<f64>) -> SeriesSet {
    map_points(set, |points| {
        points.iter().map(|&(t, v)| (t, v.and_then(&f))).collect()
    })
}

fn map_points(mut set: SeriesSet, mut f: impl FnMut(&[Point]) -> Vec<Point>) -> SeriesSet {
    for series in &mut set.series {
        series.points = f(&series.points);
    }
    set
}

/// Maps each point that has a value with `f(time, value)`, oldest first; points without a value stay empty.
fn each_value(points: &[Point], mut f: impl FnMut(i64, f64) -> Option<f64>) -> Vec<Point> {
    points
        .iter()
        .map(|&(t, v)| (t, v.and_then(|v| f(t, v))))
        .collect()
}

/// `f(value change, seconds)` between each point with a value and the previous one; the first gets none.
fn consecutive(points: &[Point], f: impl Fn(f64, i64) -> f64) -> Vec<Point> {
    let mut previous: Option<(i64, f64)> = None;
    each_value(points, |t, v| {
        let change = previous.map(|(pt, pv)| f(v - pv, t - pt));
        previous = Some((t, v));
        change
    })
}

/// One series counting, at each time, the series whose value passes `keep`.
fn count_across(set: SeriesSet, keep: impl Fn(f64) -> bool) -> SeriesSet {
    let mut times: Vec<i64> = set
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|&(t, _)| t))
        .collect();
    times.sort_unstable();
    times.dedup();
    if times.is_empty() {
        return SeriesSet {
            series: Vec::new(),
            aggr: set.aggr,
        };
    }
    let points = times
        .iter()
        .map(|&t| {
            let count = set
                .series
                .iter()
                .filter(|s| s.value_at(t).is_some_and(&keep))
                .count();
            (t, Some(count as f64))
        })
        .collect();
    SeriesSet {
        series: vec![Series {
            tag_set: Vec::new(),
            points,
            count_like: false,
        }],
        aggr: set.aggr,
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    /// Applies the outermost function of `query` to the given series (one per line of `input`:
    /// `tag: v v v`, values at t = 0, 10, 20, ..., `-` for none) on a grid of 10-second buckets.
    fn check(query: &str, input: &str, expect: Expect) {
        let list = crate::parse(query).unwrap();
        let Expr::Call { func, .. } = &list.items[0].expr else {
            panic!("{query} is not a call")
        };
        let series = input
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let (tag, values) = line.split_once(':').unwrap();
                let points = values
                    .split_whitespace()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let t = i as i64 * 10;
                        match v {
                            "." => None,
                            "-" => Some((t, None)),
                            v => Some((t, Some(v.parse().unwrap()))),
                        }
                    })
                    .collect();
                let tag_set = if tag.trim().is_empty() {
                    vec![]
                } else {
                    vec![tag.trim().to_owned()]
                };
                Series {
                    tag_set,
                    points,
                    count_like: false,
                }
            })
            .collect();
        let grid = Grid::new(0, 50, 10);
        let out = apply(func, SeriesSet { series, aggr: None }, &grid);
        let text: Vec<String> = out
            .series
            .iter()
            .map(|s| {
                let values: Vec<String> = s
                    .points
                    .iter()
                    .map(|(t, v)| {
                        v.map_or(format!("{t}:-"), |v| {
                            format!("{t}:{}", (v * 1000.0).round() / 1000.0)
                        })
                    })
                    .collect();
                format!("{}| {}", s.tag_set.join(","), values.join(" "))
            })
            .collect();
        expect.assert_eq(&text.join("\n"));
    }

    #[test]
    fn pointwise() {
        check("abs(m{*})", ":-1 2 - -3", expect!["| 0:1 10:2 20:- 30:3"]);
        check("log10(m{*})", ":100 0 -1 1", expect!["| 0:2 10:- 20:- 30:0"]);
        check("log2(m{*})", ":8", expect!["| 0:3"]);
        check("per_second(m{*})", ":20 5", expect!["| 0:2 10:0.5"]);
        check("per_minute(m{*})", ":20", expect!["| 0:120"]);
        check("per_hour(m{*})", ":1", expect!["| 0:360"]);
        check("clamp_min(m{*}, 2)", ":1 3", expect!["| 0:2 10:3"]);
        check("clamp_max(m{*}, -1)", ":1 -3", expect!["| 0:-1 10:-3"]);
        check("cutoff_min(m{*}, 2)", ":1 3 2", expect!["| 0:- 10:3 20:2"]);
        check("cutoff_max(m{*}, 2)", ":1 3 2", expect!["| 0:1 10:- 20:2"]);
    }

    #[test]
    fn sequential() {
        check("cumsum(m{*})", ":1 2 - 3", expect!["| 0:1 10:3 20:- 30:6"]);
        check("integral(m{*})", ":1 2 . 3", expect!["| 0:10 10:30 30:90"]);
        check("derivative(m{*})", ":1 3 . 7", expect!["| 0:- 10:0.2 30:0.2"]);
        check("diff(m{*})", ":1 3 - 7", expect!["| 0:- 10:2 20:- 30:4"]);
        check("ewma_3(m{*})", ":2 4 4", expect!["| 0:2 10:3 20:3.5"]);
        check(
            "median_3(m{*})",
            ":1 9 2 3 100",
            expect!["| 0:1 10:5 20:2 30:3 40:3"],
        );
        check(
            "default_zero(m{*})",
            ":. 2 - . 3",
            expect!["| 0:0 10:2 20:0 30:0 40:3 50:0"],
        );
    }

    #[test]
    fn across_series() {
        let input = "a: 1 1 1\nb: 5 0 -\nc: 3 . 9\nd: - - -";
        check(
            "top(m{*}, 5, 'mean', 'desc')",
            input,
            expect![[r#"
            c| 0:3 20:9
            b| 0:5 10:0 20:-
            a| 0:1 10:1 20:1
            d| 0:- 10:- 20:-"#]],
        );
        check(
            "top(m{*}, 5, 'max', 'asc')",
            input,
            expect![[r#"
            a| 0:1 10:1 20:1
            b| 0:5 10:0 20:-
            c| 0:3 20:9
            d| 0:- 10:- 20:-"#]],
        );
        check(
            "top5_last(m{*})",
            input,
            expect![[r#"
            c| 0:3 20:9
            a| 0:1 10:1 20:1
            b| 0:5 10:0 20:-
            d| 0:- 10:- 20:-"#]],
        );
        check(
            "bottom5(m{*})",
            input,
            expect![[r#"
            a| 0:1 10:1 20:1
            b| 0:5 10:0 20:-
            c| 0:3 20:9
            d| 0:- 10:- 20:-"#]],
        );
        check(
            "top(m{*}, 5, 'l2norm', 'desc')",
            "a: 3 4\nb: 6",
            expect![[r#"
            b| 0:6
            a| 0:3 10:4"#]],
        );
        check(
            "top(m{*}, 5, 'area', 'desc')",
            "a: -1 -1\nb: 0.5",
            expect![[r#"
            b| 0:0.5
            a| 0:-1 10:-1"#]],
        );
        check(
            "top(m{*}, 5, 'sum', 'desc')",
            "a: 1 1 1\nb: 2",
            expect![[r#"
            a| 0:1 10:1 20:1
            b| 0:2"#]],
        );
        check(
            "top(m{*}, 5, 'min', 'desc')",
            "a: 1 5\nb: 2 2",
            expect![[r#"
            b| 0:2 10:2
            a| 0:1 10:5"#]],
        );
        check("count_nonzero(m{*})", input, expect!["| 0:3 10:1 20:2"]);
        check("count_not_null(m{*})", input, expect!["| 0:3 10:2 20:2"]);
        check("count_not_null(m{*})", "", expect![""]);
    }

    #[test]
    fn time_functions_are_the_identity_here() {
        check("timeshift(m{*}, -60)", ":1 2", expect!["| 0:1 10:2"]);
        check("anomalies(m{*}, 'basic', 2)", ":1 2", expect!["| 0:1 10:2"]);
        let shifts: Vec<Option<i64>> = ["hour_before", "day_before", "week_before", "month_before", "abs"]
            .iter()
            .map(
                |name| match &crate::parse(&format!("{name}(m{{*}})")).unwrap().items[0].expr {
                    Expr::Call { func, .. } => func.time_shift(),
                    other => panic!("{other}"),
                },
            )
            .collect();
        assert_eq!(
            shifts,
            [Some(-3600), Some(-86_400), Some(-604_800), Some(-2_419_200), None]
        );
    }
}
