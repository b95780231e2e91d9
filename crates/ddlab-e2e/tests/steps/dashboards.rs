//! Steps about the Timeboard: its graphs and the three queries the exercise asks for.

use cucumber::then;
use ddlab_query::{BoolExpr, Expr, Filter, Function, Matcher, Scope};
use serde_json::Value;

use super::Lab;

#[then(expr = "the Timeboard has {int} graphs")]
fn graph_count(lab: &mut Lab, expected: usize) {
    let widgets = widgets(lab.payload());
    assert_eq!(
        widgets.len(),
        expected,
        "the Timeboard has {} graphs, the exercise asks for {expected}: my_metric over the host, a database \
         metric with anomalies, and my_metric rolled up per hour",
        widgets.len()
    );
}

#[then(expr = "the Timeboard's layout is {string}")]
fn layout(lab: &mut Lab, expected: String) {
    let payload = lab.payload();
    // The legacy /api/v1/dash body has `graphs` and is a timeboard, which is an ordered layout.
    let layout = payload["layout_type"]
        .as_str()
        .or_else(|| payload.get("graphs").map(|_| "ordered"));
    assert_eq!(
        layout,
        Some(expected.as_str()),
        "a Timeboard is a dashboard with layout_type {expected:?}"
    );
}

#[then(expr = "a graph queries {string} scoped to the host")]
fn scoped_to_host(lab: &mut Lab, metric: String) {
    let queries = queries(lab.payload());
    let found = queries.iter().any(|q| {
        facts(q)
            .iter()
            .any(|f| f.metric == metric && !f.in_function && f.rollup.is_none() && f.host_scoped)
    });
    assert!(
        found,
        "no graph shows {metric} scoped to one host with {{host:<hostname>}}; the graphs query {queries:?}"
    );
}

#[then(expr = "a graph applies anomalies with a quoted algorithm to a {string} metric")]
fn anomalies(lab: &mut Lab, prefix: String) {
    let queries = queries(lab.payload());
    let mut errors = Vec::new();
    let found = queries.iter().any(|q| match ddlab_query::parse(q) {
        Ok(_) => facts(q)
            .iter()
            .any(|f| f.metric.starts_with(&prefix) && f.in_anomalies),
        Err(err) => {
            errors.push(format!("{q}: {err}"));
            false
        }
    });
    assert!(
        found,
        "no graph applies anomalies(<query>, 'basic'|'agile'|'robust', <bounds>) to a {prefix}* metric; the \
         algorithm must be quoted{}",
        if errors.is_empty() {
            String::new()
        } else {
            format!("\n{}", errors.join("\n"))
        }
    );
}

#[then(expr = "a graph rolls {string} up with {string} over {int} seconds")]
fn rollup(lab: &mut Lab, metric: String, method: String, seconds: u32) {
    let queries = queries(lab.payload());
    let found = queries.iter().any(|q| {
        facts(q)
            .iter()
            .any(|f| f.metric == metric && f.rollup == Some((method.clone(), Some(seconds))))
    });
    assert!(
        found,
        "no graph applies .rollup({method}, {seconds}) to {metric} (the window is in seconds: one hour is 3600); \
         the graphs query {queries:?}"
    );
}

/// Every query string of a dashboard payload: new (`widgets[].definition.requests[]`), legacy Timeboard
/// (`graphs[].definition.requests[]`), group widgets, and formula requests (`queries[].query`).
pub(crate) fn queries(payload: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for widget in widgets(payload) {
        collect(&widget["definition"], &mut found);
    }
    found
}

fn widgets(payload: &Value) -> Vec<&Value> {
    payload["widgets"]
        .as_array()
        .or_else(|| payload["graphs"].as_array())
        .map(|w| w.iter().collect())
        .unwrap_or_default()
}

fn collect(definition: &Value, found: &mut Vec<String>) {
    for request in definition["requests"].as_array().into_iter().flatten() {
        if let Some(q) = request["q"].as_str() {
            found.push(q.to_owned());
        }
        for query in request["queries"].as_array().into_iter().flatten() {
            if let Some(q) = query["query"].as_str() {
                found.push(q.to_owned());
            }
        }
    }
    for inner in definition["widgets"].as_array().into_iter().flatten() {
        collect(&inner["definition"], found);
    }
}

/// What a graph's query does to each metric it reads.
#[derive(Debug)]
struct Facts {
    metric: String,
    /// Inside a function call, and whether that function is `anomalies`.
    in_function: bool,
    in_anomalies: bool,
    rollup: Option<(String, Option<u32>)>,
    /// The scope pins one concrete host (`host:name` without wildcards).
    host_scoped: bool,
}

fn facts(query: &str) -> Vec<Facts> {
    let Ok(parsed) = ddlab_query::parse(query) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for item in &parsed.items {
        collect_facts(&item.expr, None, &mut found);
    }
    found
}

fn collect_facts(expr: &Expr, function: Option<&Function>, found: &mut Vec<Facts>) {
    match expr {
        Expr::Query(q) => found.push(Facts {
            metric: q.metric.clone(),
            in_function: function.is_some(),
            in_anomalies: matches!(function, Some(Function::Anomalies(_))),
            rollup: q
                .modifiers
                .rollup
                .as_ref()
                .map(|r| (r.method.name().to_owned(), r.seconds)),
            host_scoped: pins_host(&q.scope),
        }),
        Expr::Call { func, args } => args.iter().for_each(|arg| collect_facts(arg, Some(func), found)),
        Expr::Binary { lhs, rhs, .. } => {
            collect_facts(lhs, function, found);
            collect_facts(rhs, function, found);
        }
        Expr::Neg(inner) => collect_facts(inner, function, found),
        Expr::Number(_) | Expr::Ref(_) => {}
    }
}

/// Whether every series the scope selects carries one given `host:` tag.
fn pins_host(scope: &Scope) -> bool {
    let pins = |filter: &Filter| {
        !filter.negated
            && matches!(&filter.matcher, Matcher::Tag { key, value } if key == "host" && !value.as_str().contains('*'))
    };
    match scope {
        Scope::All => false,
        Scope::List(filters) => filters.iter().any(pins),
        Scope::Boolean(BoolExpr::Filter(filter)) => pins(filter),
        Scope::Boolean(BoolExpr::And(terms)) => {
            terms.iter().any(|t| matches!(t, BoolExpr::Filter(f) if pins(f)))
        }
        Scope::Boolean(_) => false,
    }
}
