//! Datadog's classic metric query language: parsing, evaluation, rollups, functions and anomalies.
//!
//! ```text
//! "avg:system.cpu.user{env:prod} by {host}"  --parse-->  QueryList (ast)
//!        QueryList + Window + &dyn Source     --evaluate-->  Vec<SeriesResult>
//! ```
//!
//! - [`parse`] reads the classic `q` strings of `/api/v1/query`, dashboards and monitors
//!   (comma-separated, each with a `query_index`); [`parse_formula`] reads v2 formulas over named
//!   queries. Errors are [`ParseError`]s whose text is Datadog's.
//! - [`evaluate`] and [`evaluate_formulas`] read stored series through the [`Source`] trait and
//!   return [`SeriesResult`]s, which the HTTP layer turns into Datadog's JSON.
//! - [`outside_band`] turns an `anomalies()` result into the 0/1 series an anomaly monitor averages.
//!
//! The reference for every behaviour is `reference/datadog-api.md` §3; where Datadog's behaviour is
//! unknown, the module that decides says what it chose.
//!
//! **Invariant:** this crate does no IO, reads no clock and draws no randomness: the window, the data
//! and `now` (through the window) are always given, so every result is reproducible.

mod anomalies;
mod ast;
mod eval;
mod functions;
mod interval;
mod lexer;
mod parse;
mod scope;
mod series;

pub use anomalies::{
    AGILE_LEVEL_POINTS, AlertWindow, Algorithm, AnomalyParams, BASIC_MIN_POINTS, BASIC_WINDOW, Direction,
    RESIDUAL_WINDOW, ROBUST_SEASONS, SEASONS_REQUIRED, Seasonality, WindowUnit, outside_band,
};
pub use ast::{
    BinOp, Expr, Fill, FillMethod, MetricQuery, Modifiers, QueryItem, QueryList, Rollup, RollupMethod,
    SpaceAgg, TypeModifier,
};
pub use eval::{
    EvalError, Formula, Limit, MetricKind, NamedQuery, RawSeries, SeriesKind, SeriesResult, Source,
    SourceError, Window, evaluate, evaluate_formulas,
};
pub use functions::{Function, TopOrder, TopReducer};
pub use interval::{INTERVAL_LADDER, MAX_POINTS, auto_interval};
pub use parse::{ParseError, parse, parse_formula};
pub use scope::{BoolExpr, Filter, Matcher, Pattern, Scope, TemplateVariable};
