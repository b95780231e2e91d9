//! Metric monitor queries: `time_aggr(time_window):<metric expression> <comparator> <threshold>`.
//!
//! The metric expression in the middle is the ordinary query language of `ddlab-query`; this module reads
//! the parts around it, including the change form `change(avg(last_5m),last_1h):…` and the cumulative
//! `current_1d` windows. Errors carry the byte offset into the query.

use std::fmt;
use std::time::Duration;

/// A parsed metric monitor query.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorQuery {
    pub time_aggregation: TimeAggregation,
    /// `change`/`pct_change` around the aggregation, with the timeshift it compares against.
    pub change: Option<Change>,
    /// The evaluation window, e.g. 300 s for `last_5m`.
    pub window: Duration,
    /// The window as written, e.g. `last_5m`.
    pub window_text: String,
    /// Whether the window is cumulative (`current_1h`, `current_1d`, …) rather than rolling.
    pub cumulative: bool,
    /// The metric expression between `:` and the comparator.
    pub expression: ddlab_query::Expr,
    pub expression_text: String,
    pub comparator: Comparator,
    pub threshold: f64,
}

/// How the points of the window are reduced to one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeAggregation {
    Avg,
    Sum,
    Min,
    Max,
    /// `percentile(pNN)`, with NN as a fraction (0.95).
    Percentile(f64),
}

/// The change form's comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub percent: bool,
    /// How far back the compared value lies, e.g. 3600 s for `1h_ago` or `last_1h`.
    pub shift: Duration,
}

/// The comparison of the reduced value with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Above,
    AboveOrEqual,
    Below,
    BelowOrEqual,
    Equal,
    NotEqual,
}

/// Why a monitor query does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid monitor query at character {}: {message}", offset + 1)]
pub struct MonitorQueryError {
    pub message: String,
    /// Byte offset into the query text.
    pub offset: usize,
}

impl MonitorQuery {
    pub fn parse(text: &str) -> Result<Self, MonitorQueryError> {
        let err = |offset: usize, message: String| MonitorQueryError { message, offset };
        let (head, head_end) = split_head(text).ok_or_else(|| {
            err(
                0,
                "expected time_aggr(time_window): before the metric query, e.g. avg(last_5m):".to_owned(),
            )
        })?;
        let (time_aggregation, change, window_text) = parse_head(head).map_err(|m| err(0, m))?;
        let (window, cumulative) = window(window_text)
            .ok_or_else(|| err(0, format!("invalid time window {window_text:?}: use last_#m, last_#h, last_#d, last_#w or current_1h/1d/1w/1mo")))?;
        let body = &text[head_end..];
        let (op_at, op_len, comparator) = find_comparator(body).ok_or_else(|| {
            err(
                text.len(),
                "expected a comparator (>, >=, <, <=, ==, !=) and a threshold".to_owned(),
            )
        })?;
        let expression_text = body[..op_at].trim();
        let threshold_text = body[op_at + op_len..].trim();
        let threshold = threshold_text
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite())
            .ok_or_else(|| {
                err(
                    head_end + op_at + op_len,
                    format!("the threshold {threshold_text:?} is not a number"),
                )
            })?;
        let expression_at = head_end + (body.len() - body.trim_start().len());
        let expression =
            parse_expression(expression_text).map_err(|e| err(expression_at + e.offset, e.message))?;
        Ok(Self {
            time_aggregation,
            change,
            window,
            window_text: window_text.to_owned(),
            cumulative,
            expression,
            expression_text: expression_text.to_owned(),
            comparator,
            threshold,
        })
    }

    /// The metric names the expression reads.
    pub fn metrics(&self) -> Vec<&str> {
        self.expression
            .queries()
            .into_iter()
            .map(|q| q.metric.as_str())
            .collect()
    }

    /// Whether `value` is on the alerting side of `threshold` for this comparator.
    pub fn breaches(&self, value: f64, threshold: f64) -> bool {
        self.comparator.holds(value, threshold)
    }
}

impl Comparator {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::AboveOrEqual => value >= threshold,
            Self::Below => value < threshold,
            Self::BelowOrEqual => value <= threshold,
            Self::Equal => value == threshold,
            Self::NotEqual => value != threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Self::Above => ">",
            Self::AboveOrEqual => ">=",
            Self::Below => "<",
            Self::BelowOrEqual => "<=",
            Self::Equal => "==",
            Self::NotEqual => "!=",
        }
    }
}

impl fmt::Display for Comparator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl fmt::Display for TimeAggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Avg => f.write_str("avg"),
            Self::Sum => f.write_str("sum"),
            Self::Min => f.write_str("min"),
            Self::Max => f.write_str("max"),
            Self::Percentile(p) => write!(f, "percentile(p{})", p * 100.0),
        }
    }
}

/// Finds the `…):` that ends the head, matching parentheses; returns the head and where the body starts.
fn split_head(text: &str) -> Option<(&str, usize)> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return text[i + 1..].starts_with(':').then(|| (&text[..=i], i + 2));
                }
            }
            '{' | ':' if depth == 0 => return None,
            _ => {}
        }
    }
    None
}

/// `avg(last_5m)`, `percentile(p95)(last_5m)` style heads and `change(avg(last_5m),last_1h)`.
fn parse_head(head: &str) -> Result<(TimeAggregation, Option<Change>, &str), String> {
    let head = head.trim();
    let (name, inner) = call(head).ok_or_else(|| format!("expected name(window), got {head:?}"))?;
    if let Some(percent) = match name {
        "change" => Some(false),
        "pct_change" => Some(true),
        _ => None,
    } {
        let (aggregation, shift) = split_top_level_comma(inner).ok_or_else(|| {
            format!("{name}() takes an aggregation and a timeshift, e.g. {name}(avg(last_5m),last_5m)")
        })?;
        let (time_aggregation, window_text) = parse_aggregation(aggregation)?;
        let shift = shift.trim();
        // `1h_ago` and `last_1h` both name a shift of one hour.
        let core = shift
            .strip_suffix("_ago")
            .or_else(|| shift.strip_prefix("last_"))
            .unwrap_or(shift);
        let shift_duration = window(&format!("last_{core}"))
            .map(|(d, _)| d)
            .ok_or_else(|| format!("invalid timeshift {shift:?}: use e.g. 5m_ago, 1h_ago or last_1h"))?;
        return Ok((
            time_aggregation,
            Some(Change {
                percent,
                shift: shift_duration,
            }),
            window_text,
        ));
    }
    let (aggregation, window_text) = parse_aggregation(head)?;
    Ok((aggregation, None, window_text))
}

/// `avg(last_5m)`: a time aggregation and its window, never a change form. Reading a nested
/// `change(change(…))` is refused here rather than recursed into, so no query can exhaust the stack.
fn parse_aggregation(head: &str) -> Result<(TimeAggregation, &str), String> {
    let head = head.trim();
    let (name, inner) = call(head).ok_or_else(|| format!("expected name(window), got {head:?}"))?;
    let aggregation = match name {
        "change" | "pct_change" => {
            return Err(
                "change() compares a plain aggregation such as avg(last_5m), not another change()".to_owned(),
            );
        }
        "avg" => TimeAggregation::Avg,
        "sum" => TimeAggregation::Sum,
        "min" => TimeAggregation::Min,
        "max" => TimeAggregation::Max,
        "percentile" => {
            // `percentile(p95)(last_5m)` is not valid at this level; the form is `percentile(p95)` applied
            // through the window: Datadog writes it `percentile(last_5m):p95:…`, so accept only the window.
            return Err(
                "percentile monitors need a distribution metric, which ddlab does not store".to_owned(),
            );
        }
        other => {
            return Err(format!(
                "unknown time aggregation {other:?}: use avg, sum, min, max, change or pct_change"
            ));
        }
    };
    Ok((aggregation, inner.trim()))
}

fn call(text: &str) -> Option<(&str, &str)> {
    let open = text.find('(')?;
    let inner = text[open + 1..].strip_suffix(')')?;
    Some((text[..open].trim(), inner))
}

fn split_top_level_comma(text: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => return Some((&text[..i], &text[i + 1..])),
            _ => {}
        }
    }
    None
}

/// `last_5m` → (300 s, rolling); `current_1d` → (86400 s, cumulative). Limits follow Datadog's.
fn window(text: &str) -> Option<(Duration, bool)> {
    let (rest, cumulative) = match text.strip_prefix("last_") {
        Some(rest) => (rest, false),
        None => (text.strip_prefix("current_")?, true),
    };
    if cumulative {
        let seconds = match rest {
            "1h" => 3600,
            "1d" => 86_400,
            "1w" => 7 * 86_400,
            "1mo" => 30 * 86_400,
            _ => return None,
        };
        return Some((Duration::from_secs(seconds), true));
    }
    let unit_at = rest.find(|c: char| !c.is_ascii_digit())?;
    let count: u64 = rest[..unit_at].parse().ok()?;
    let (unit, max) = match &rest[unit_at..] {
        "m" => (60, 10_080),
        "h" => (3600, 168),
        "d" => (86_400, 7),
        "w" => (7 * 86_400, 1),
        _ => return None,
    };
    (1..=max)
        .contains(&count)
        .then(|| (Duration::from_secs(count * unit), false))
}

/// The last comparator outside braces, parentheses and quotes: (byte offset, length, comparator).
fn find_comparator(body: &str) -> Option<(usize, usize, Comparator)> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'(' | b'{' | b'[') => depth += 1,
            (None, b')' | b'}' | b']') => depth = depth.saturating_sub(1),
            (None, b'>' | b'<' | b'=' | b'!') if depth == 0 => {
                let two = bytes.get(i + 1) == Some(&b'=');
                let comparator = match (b, two) {
                    (b'>', true) => Some(Comparator::AboveOrEqual),
                    (b'>', false) => Some(Comparator::Above),
                    (b'<', true) => Some(Comparator::BelowOrEqual),
                    (b'<', false) => Some(Comparator::Below),
                    (b'=', true) => Some(Comparator::Equal),
                    (b'!', true) => Some(Comparator::NotEqual),
                    _ => None,
                };
                if let Some(comparator) = comparator {
                    let len = if two { 2 } else { 1 };
                    found = Some((i, len, comparator));
                    i += len;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The metric expression: exactly one query (a comma would make it a multi-query, which monitors refuse).
fn parse_expression(text: &str) -> Result<ddlab_query::Expr, MonitorQueryError> {
    let parsed = ddlab_query::parse(text).map_err(|err| MonitorQueryError {
        message: err.to_string(),
        offset: err.offset,
    })?;
    let mut items = parsed.items.into_iter();
    match (items.next(), items.next()) {
        (Some(item), None) => Ok(item.expr),
        _ => Err(MonitorQueryError {
            message: "a monitor watches exactly one metric expression".to_owned(),
            offset: 0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_inside_a_change_is_an_error_not_a_stack_overflow() {
        let text = format!(
            "{}avg(last_5m){}:avg:m{{*}} > 1",
            "change(".repeat(20_000),
            ",last_5m)".repeat(20_000)
        );
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || MonitorQuery::parse(&text).map(|_| ()).map_err(|e| e.to_string()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            parsed,
            Err(
                "invalid monitor query at character 1: change() compares a plain aggregation such as \
                 avg(last_5m), not another change()"
                    .to_owned()
            )
        );
    }

    fn check(text: &str, expected: &str) {
        let actual = match MonitorQuery::parse(text) {
            Ok(q) => format!(
                "{}({}) change={:?} [{}] {} {}",
                q.time_aggregation,
                q.window.as_secs(),
                q.change.map(|c| (c.percent, c.shift.as_secs())),
                q.expression_text,
                q.comparator,
                q.threshold
            ),
            Err(err) => format!("error: {err}"),
        };
        assert_eq!(actual, expected, "{text}");
    }

    #[test]
    fn exercise_monitor() {
        check(
            "avg(last_5m):avg:my_metric{host:lab} > 800",
            "avg(300) change=None [avg:my_metric{host:lab}] > 800",
        );
        check(
            "avg(last_5m):avg:my_metric{host:lab} >= 800",
            "avg(300) change=None [avg:my_metric{host:lab}] >= 800",
        );
    }

    #[test]
    fn other_forms() {
        check(
            "max(last_1h):sum:a{*} by {host} < -2.5",
            "max(3600) change=None [sum:a{*} by {host}] < -2.5",
        );
        check(
            "sum(current_1d):sum:a{*}.as_count() != 0",
            "sum(86400) change=None [sum:a{*}.as_count()] != 0",
        );
        check(
            "pct_change(avg(last_5m),last_1h):avg:a{*} > 50",
            "avg(300) change=Some((true, 3600)) [avg:a{*}] > 50",
        );
        check(
            "avg(last_1h):anomalies(avg:a{*}, 'basic', 2, direction='above', alert_window='last_5m') >= 1",
            "avg(3600) change=None [anomalies(avg:a{*}, 'basic', 2, direction='above', alert_window='last_5m')] >= 1",
        );
        check(
            "avg(last_5m):(avg:a{*} / avg:b{*}) * 100 > 90",
            "avg(300) change=None [(avg:a{*} / avg:b{*}) * 100] > 90",
        );
    }

    #[test]
    fn errors() {
        check(
            "avg:my_metric{*} > 800",
            "error: invalid monitor query at character 1: expected time_aggr(time_window): before the metric query, e.g. avg(last_5m):",
        );
        check(
            "avg(last_5m):avg:my_metric{*}",
            "error: invalid monitor query at character 30: expected a comparator (>, >=, <, <=, ==, !=) and a threshold",
        );
        check(
            "avg(last_5m):avg:my_metric{*} > high",
            "error: invalid monitor query at character 32: the threshold \"high\" is not a number",
        );
        check(
            "avg(last_90000m):avg:a{*} > 1",
            "error: invalid monitor query at character 1: invalid time window \"last_90000m\": use last_#m, last_#h, last_#d, last_#w or current_1h/1d/1w/1mo",
        );
        check(
            "median(last_5m):avg:a{*} > 1",
            "error: invalid monitor query at character 1: unknown time aggregation \"median\": use avg, sum, min, max, change or pct_change",
        );
    }

    #[test]
    fn comparators() {
        assert!(Comparator::Above.holds(801.0, 800.0));
        assert!(!Comparator::Above.holds(800.0, 800.0));
        assert!(Comparator::AboveOrEqual.holds(800.0, 800.0));
        assert!(Comparator::Below.holds(1.0, 2.0));
    }
}
